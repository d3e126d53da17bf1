//! The MQTT link over TLS, mutual TLS and with a user name and password, against a real
//! `mosquitto` (one per test, on a free loopback port) with certificates made per test by
//! `rcgen`: records arrive when the broker accepts the device; when it refuses it (no client
//! certificate, wrong password, a server certificate from another CA), the link never connects,
//! says why in its status and keeps the records spooled.

mod broker;
mod pki;

use std::path::Path;
use std::time::Duration;

use aisle_fleet::link::client_options;
use aisle_fleet::topics::Topics;
use aisle_fleet::{
    FileSetting, Link, LinkConfig, LinkHandle, MqttSecurity, SecurityFiles, Spool, SpoolOptions,
};
use aisle_types::metrics::{LineRecord, MetricRecord, Period, RecordHeader};
use broker::{json, wait_until, BrokerOptions, BrokerTls, Mosquitto, Subscriber};
use pki::Ca;

const BASE: &str = "aisle/v1/s1/dev1";

fn record(k: i64) -> MetricRecord {
    MetricRecord::Line(LineRecord {
        header: RecordHeader::new(
            "cam1",
            "door",
            Period::Window,
            1_764_099_840 + 60 * k,
            60,
            60.0,
            5,
            false,
        ),
        line: "door".into(),
        crossings_in: Some(k as u32),
        crossings_out: Some(1),
    })
}

fn spawn(port: u16, dir: &Path, security: MqttSecurity) -> LinkHandle {
    let config = LinkConfig {
        host: "127.0.0.1".into(),
        port,
        client_id: format!("aisle-tls-test-{}", broker::free_port()),
        keep_alive: Duration::from_secs(5),
        topics: Topics::new("s1", "dev1").unwrap(),
        metrics_expiry_s: 600,
        version: "9.9.9-test".into(),
        cameras: vec!["cam1".into()],
        models: Vec::new(),
        faces: None,
        reconnect_min: Duration::from_millis(50),
        reconnect_max: Duration::from_millis(200),
        shutdown_timeout: Duration::from_secs(5),
        security,
    };
    let (spool, _) = Spool::open(dir, SpoolOptions::with_max_bytes(1 << 20)).unwrap();
    Link::spawn(config, spool).unwrap()
}

/// TLS with `ca` as the trust anchor, and the client certificate `client` if any.
fn tls(ca: &Path, client: Option<&pki::Leaf>) -> MqttSecurity {
    MqttSecurity::load(&SecurityFiles {
        tls: true,
        ca_file: Some(FileSetting::new("mqtt.ca_file", ca)),
        client_cert_file: client.map(|c| FileSetting::new("mqtt.client_cert_file", &c.cert_file)),
        client_key_file: client.map(|c| FileSetting::new("mqtt.client_key_file", &c.key_file)),
        credentials_file: None,
    })
    .unwrap()
}

fn tls_broker(ca: &Ca, require_certificate: bool, users: &[(&str, &str)]) -> Mosquitto {
    let server = ca.server();
    Mosquitto::start_secured(BrokerOptions {
        tls: Some(BrokerTls {
            ca_file: ca.cert_file.clone(),
            cert_file: server.cert_file,
            key_file: server.key_file,
            require_certificate,
        }),
        users: users
            .iter()
            .map(|(u, p)| (u.to_string(), p.to_string()))
            .collect(),
    })
}

/// Publishes a record, waits for its PUBACK and checks that a subscriber connected with
/// `sub_security` receives it.
fn delivers(link: &LinkHandle, port: u16, sub_security: &MqttSecurity) {
    wait_until("the link to connect", || link.status().connected);
    assert_eq!(link.status().last_error, None);
    let r = record(1);
    link.publish_record(&r).unwrap();
    wait_until("the PUBACK", || {
        let s = link.status();
        s.counters.records_acked == 1 && s.spool.entries == 0
    });
    let opts = client_options(
        &format!("tls-sub-{}", broker::free_port()),
        "127.0.0.1",
        port,
        sub_security,
    );
    let mut sub = Subscriber::connect_with(opts, &format!("{BASE}/#"));
    let mut missing = vec![
        format!("{BASE}/cam1/door/metrics"),
        format!("{BASE}/status"),
    ];
    sub.wait_for("the retained record and birth (any order)", |p| {
        missing.retain(|t| t != broker::topic(p));
        missing.is_empty()
    });
    let m = sub
        .seen
        .iter()
        .find(|p| broker::topic(p).ends_with("/metrics"))
        .unwrap();
    assert_eq!(json(m)["id"], r.header().id);
}

/// The link does not get through: it reports why, never connects, and keeps `record` spooled.
fn refused(link: &LinkHandle, why: &[&str]) {
    link.publish_record(&record(1)).unwrap();
    // Several attempts (the back-off is at most 200 ms here), each refused.
    wait_until("three refused attempts", || {
        link.status().connection_errors >= 3
    });
    let s = link.status();
    assert!(!s.connected);
    assert_eq!(s.counters.connections, 0, "{s:?}");
    assert_eq!(s.spool.entries, 1, "the record stays spooled");
    let error = s.last_error.unwrap().to_lowercase();
    assert!(
        why.iter().any(|w| error.contains(w)),
        "{error:?} names none of {why:?}"
    );
}

#[test]
fn tls_with_a_ca_file_delivers_records() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "site");
    let broker = tls_broker(&ca, false, &[]);
    let spool = tempfile::tempdir().unwrap();
    let security = tls(&ca.cert_file, None);
    assert!(!security.has_client_certificate());
    let link = spawn(broker.port, spool.path(), security.clone());
    delivers(&link, broker.port, &security);
    link.shutdown();
}

#[test]
fn mutual_tls_is_accepted_and_a_client_without_a_certificate_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "site");
    let broker = tls_broker(&ca, true, &[]);
    let device = ca.client("dev1");
    let security = tls(&ca.cert_file, Some(&device));
    assert!(security.has_client_certificate());

    let spool = tempfile::tempdir().unwrap();
    let link = spawn(broker.port, spool.path(), security.clone());
    delivers(&link, broker.port, &security);
    link.shutdown();

    let spool = tempfile::tempdir().unwrap();
    let anonymous = spawn(broker.port, spool.path(), tls(&ca.cert_file, None));
    // mosquitto ends the handshake with an alert (TLS 1.3: after it, at the first read).
    refused(
        &anonymous,
        &[
            "certificate",
            "tls",
            "connection",
            "reset",
            "eof",
            "closed",
            "i/o",
        ],
    );
    anonymous.shutdown();
    let (spool, _) = Spool::open(spool.path(), SpoolOptions::with_max_bytes(1 << 20)).unwrap();
    assert_eq!(spool.len(), 1, "kept on disk for the next start");
}

#[test]
fn a_user_name_and_password_from_a_file_are_accepted_and_a_wrong_one_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "site");
    let broker = tls_broker(&ca, false, &[("dev1", "right:pass word")]);
    let creds = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        MqttSecurity::load(&SecurityFiles {
            tls: true,
            ca_file: Some(FileSetting::new("mqtt.ca_file", &ca.cert_file)),
            credentials_file: Some(FileSetting::new("mqtt.credentials_file", path)),
            ..SecurityFiles::default()
        })
        .unwrap()
    };
    let good = creds("good", "username=dev1\npassword=right:pass word\n");
    let spool = tempfile::tempdir().unwrap();
    let link = spawn(broker.port, spool.path(), good.clone());
    delivers(&link, broker.port, &good);
    link.shutdown();

    // The one-line form, with the wrong password.
    let spool = tempfile::tempdir().unwrap();
    let wrong = spawn(broker.port, spool.path(), creds("wrong", "dev1:wrong\n"));
    refused(&wrong, &["notauthorized", "badusernamepassword", "refused"]);
    wrong.shutdown();

    // No credentials at all.
    let spool = tempfile::tempdir().unwrap();
    let anonymous = spawn(broker.port, spool.path(), tls(&ca.cert_file, None));
    refused(
        &anonymous,
        &["notauthorized", "badusernamepassword", "refused"],
    );
    anonymous.shutdown();
}

#[test]
fn a_server_certificate_from_another_ca_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "site");
    let other = Ca::new(dir.path(), "other");
    let broker = tls_broker(&ca, false, &[]);
    let spool = tempfile::tempdir().unwrap();
    let link = spawn(broker.port, spool.path(), tls(&other.cert_file, None));
    refused(&link, &["unknownissuer", "certificate"]);
    link.shutdown();
}

#[test]
fn from_config_loads_the_files_and_names_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "site");
    let device = ca.client("dev1");
    std::fs::write(dir.path().join("mqtt-login"), "dev1:pw\n").unwrap();
    let text = |extra: &str| {
        format!(
            "[runtime]\ncredentials_dir = \"{}\"\n[mqtt]\nbroker = \"mqtts://127.0.0.1:8883\"\nsite = \"s1\"\ndevice = \"dev1\"\n{extra}",
            dir.path().display()
        )
    };
    let good = text(&format!(
        "ca_file = \"{}\"\nclient_cert_file = \"{}\"\nclient_key_file = \"{}\"\ncredentials_file = \"mqtt-login\"\n",
        ca.cert_file.display(),
        device.cert_file.display(),
        device.key_file.display(),
    ));
    let config = aisle_config::Config::parse(&good, "t.toml").unwrap();
    let link = LinkConfig::from_config(&config, "1").unwrap().unwrap();
    assert!(link.security.has_client_certificate());
    assert_eq!(link.security.credentials.as_ref().unwrap().username, "dev1");
    assert!(!format!("{:?}", link.security).contains("pw"));

    let missing = dir.path().join("missing.pem");
    let other = Ca::new(dir.path(), "other").client("x");
    for (extra, key, path) in [
        (
            format!("ca_file = \"{}\"\n", missing.display()),
            "mqtt.ca_file",
            missing.clone(),
        ),
        (
            format!("ca_file = \"{}\"\n", device.key_file.display()),
            "mqtt.ca_file",
            device.key_file.clone(),
        ),
        (
            format!(
                "client_cert_file = \"{}\"\nclient_key_file = \"{}\"\n",
                device.cert_file.display(),
                other.key_file.display()
            ),
            "mqtt.client_key_file",
            other.key_file.clone(),
        ),
        (
            format!(
                "client_cert_file = \"{}\"\nclient_key_file = \"{}\"\n",
                device.cert_file.display(),
                device.cert_file.display()
            ),
            "mqtt.client_key_file",
            device.cert_file.clone(),
        ),
        (
            "credentials_file = \"absent\"\n".to_string(),
            "mqtt.credentials_file",
            dir.path().join("absent"),
        ),
    ] {
        let config = aisle_config::Config::parse(&text(&extra), "t.toml").unwrap();
        let err = LinkConfig::from_config(&config, "1")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(key) && err.contains(&path.display().to_string()),
            "{extra}: {err}"
        );
        let body = std::fs::read_to_string(&path).unwrap_or_default();
        let secret = body.lines().nth(1).unwrap_or("no such file");
        assert!(!err.contains(secret), "no file content in errors: {err}");
    }
}
