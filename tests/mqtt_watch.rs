//! `aisle watch` against a real mosquitto: retained statuses and records published by a test
//! client show up in the printed table (plain text: stdout is not a terminal), malformed
//! messages are counted, filters by site apply, TLS with a client certificate uses the same
//! loading code as the link, and an unreachable broker is a clear failure.

#[path = "../crates/aisle-fleet/tests/broker/mod.rs"]
mod broker;
#[path = "../crates/aisle-fleet/tests/pki/mod.rs"]
mod pki;

use std::process::{Command, Output};

use broker::{free_port, BrokerOptions, BrokerTls, Mosquitto, TIMEOUT};
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{Client, Event, MqttOptions};

const ZONE: &str = r#"{"type":"zone","schema":"aisle.metrics.v1","id":"cam1/door/window/1767225600","camera":"cam1","period":"window","window":{"start":"2026-01-01T00:00:00Z","end":"2026-01-01T00:01:00Z","length_s":60,"observed_s":60.0},"suppressed":false,"min_visitors":5,"zone":"door","zone_kind":"entrance","visitors":8,"entries":13,"occupancy":{"person_seconds":100.4,"mean":1.67,"max":4,"now":2},"dwell":{"count":7,"sum_s":70.0,"mean_s":10.0,"p50_s":8.25,"p90_s":21.5,"max_s":30.0,"exact":true,"histogram":[],"in_progress":1,"in_progress_s":3.0},"bounces":2,"engaged":5}"#;

/// Publishes `messages` retained at QoS 1 with `opts` and waits for every PUBACK.
fn publish_retained(opts: MqttOptions, messages: &[(&str, &[u8])]) {
    let (client, mut conn) = Client::new(opts, 16);
    for (topic, payload) in messages {
        client
            .publish(*topic, QoS::AtLeastOnce, true, payload.to_vec())
            .unwrap();
    }
    let mut acked = 0;
    while acked < messages.len() {
        match conn.recv_timeout(TIMEOUT) {
            Ok(Ok(Event::Incoming(Packet::PubAck(_)))) => acked += 1,
            Ok(Ok(_)) => {}
            other => panic!("publishing: {other:?}"),
        }
    }
}

fn watch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aisle"))
        .arg("watch")
        .args(args)
        .output()
        .expect("aisle watch runs")
}

fn stdout(o: &Output) -> String {
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        o.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

fn plain(port: u16) -> MqttOptions {
    MqttOptions::new(format!("pub-{}", free_port()), "127.0.0.1", port)
}

#[test]
fn watch_once_shows_the_zone_figures_and_the_device_state() {
    let broker = Mosquitto::start();
    publish_retained(
        plain(broker.port),
        &[
            (
                "aisle/v1/s1/dev1/status",
                br#"{"state":"online","version":"0.1.0","cameras":["cam1"]}"#,
            ),
            ("aisle/v1/s1/dev1/cam1/door/metrics", ZONE.as_bytes()),
            ("aisle/v1/s1/dev1/cam1/broken/metrics", b"not json"),
            ("aisle/v1/s2/dev9/status", br#"{"state":"offline"}"#),
        ],
    );
    let url = format!("mqtt://127.0.0.1:{}", broker.port);
    let out = stdout(&watch(&["--broker", &url, "--once"]));
    assert!(out.contains("device s1/dev1: online (0.1.0)"), "{out}");
    assert!(out.contains("device s2/dev9: offline"), "{out}");
    let row: Vec<&str> = out
        .lines()
        .find(|l| l.contains(" door "))
        .unwrap_or_else(|| panic!("no door row: {out}"))
        .split_whitespace()
        .collect();
    assert_eq!(
        row,
        [
            "s1/dev1",
            "cam1",
            "door",
            "window",
            "8",
            "2",
            "1.67",
            "4",
            "8.2s",
            "21.5s",
            "2",
            "5",
            "01-01",
            "00:01:00Z"
        ],
        "{out}"
    );
    assert!(out.contains("1 malformed"), "{out}");
    assert_eq!(
        out.matches("aisle watch:").count(),
        1,
        "--once prints one table: {out}"
    );

    // Only site s2, for a second.
    let out = stdout(&watch(&["--broker", &url, "--site", "s2", "--for", "1"]));
    assert!(out.contains("device s2/dev9: offline"), "{out}");
    assert!(!out.contains("s1/dev1"), "{out}");
}

#[test]
fn watch_over_mutual_tls_with_the_links_loading_code() {
    let dir = tempfile::tempdir().unwrap();
    let ca = pki::Ca::new(dir.path(), "site");
    let server = ca.server();
    let broker = Mosquitto::start_secured(BrokerOptions {
        tls: Some(BrokerTls {
            ca_file: ca.cert_file.clone(),
            cert_file: server.cert_file,
            key_file: server.key_file,
            require_certificate: true,
        }),
        users: vec![("ops".into(), "pw".into())],
    });
    let client = ca.client("ops");
    let files = aisle_fleet::SecurityFiles {
        tls: true,
        ca_file: Some(aisle_fleet::FileSetting::new("ca", &ca.cert_file)),
        client_cert_file: Some(aisle_fleet::FileSetting::new("cert", &client.cert_file)),
        client_key_file: Some(aisle_fleet::FileSetting::new("key", &client.key_file)),
        credentials_file: None,
    };
    let mut security = aisle_fleet::MqttSecurity::load(&files).unwrap();
    security.credentials = Some(aisle_fleet::Credentials {
        username: "ops".into(),
        password: "pw".into(),
    });
    publish_retained(
        aisle_fleet::link::client_options("tls-pub", "127.0.0.1", broker.port, &security),
        &[("aisle/v1/s1/dev1/cam1/door/metrics", ZONE.as_bytes())],
    );
    let creds = dir.path().join("login");
    std::fs::write(&creds, "ops:pw\n").unwrap();
    let url = format!("mqtts://127.0.0.1:{}", broker.port);
    let [ca_file, cert, key, login] = [&ca.cert_file, &client.cert_file, &client.key_file, &creds]
        .map(|p| p.display().to_string());
    let out = stdout(&watch(&[
        "--broker",
        &url,
        "--ca-file",
        &ca_file,
        "--cert-file",
        &cert,
        "--key-file",
        &key,
        "--credentials-file",
        &login,
        "--once",
    ]));
    assert!(
        out.lines()
            .any(|l| l.contains(" door ") && l.contains("21.5s")),
        "{out}"
    );

    // Without the client certificate the broker refuses the handshake: a clear failure.
    let o = watch(&[
        "--broker",
        &url,
        "--ca-file",
        &ca_file,
        "--credentials-file",
        &login,
        "--for",
        "2",
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("cannot reach the MQTT broker"), "{err}");

    // A missing file is named with its flag.
    let o = watch(&[
        "--broker",
        &url,
        "--ca-file",
        "/nonexistent/ca.pem",
        "--once",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("--ca-file") && err.contains("/nonexistent/ca.pem"),
        "{err}"
    );
}

#[test]
fn watch_without_a_broker_fails_clearly() {
    let url = format!("mqtt://127.0.0.1:{}", free_port());
    let o = watch(&["--broker", &url, "--for", "1"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("cannot reach the MQTT broker") && err.contains(&url),
        "{err}"
    );
}
