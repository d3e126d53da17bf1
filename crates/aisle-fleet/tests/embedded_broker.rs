//! The link against the embedded broker (`rumqttd`, feature `embedded-broker`): everything the
//! link relies on from a broker, checked for real: QoS 1 PUBACKs that empty the spool, retained
//! birth and metrics for late subscribers, the MQTT 5 message expiry, the Last Will of a client
//! that vanishes, and `stopped` at shutdown. Also: a taken port is a clear error.

mod broker;

use std::time::Duration;

use aisle_fleet::embedded::EmbeddedBroker;
use aisle_fleet::topics::Topics;
use aisle_fleet::{Link, LinkConfig, Spool, SpoolOptions};
use aisle_types::metrics::{LineRecord, MetricRecord, Period, RecordHeader};
use broker::{free_port, json, topic, wait_until, Subscriber};
use rumqttc::v5::mqttbytes::v5::{LastWill, Packet};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{Client, Event, MqttOptions};

const BASE: &str = "aisle/v1/s1/dev1";

fn record(camera: &str, k: i64) -> MetricRecord {
    MetricRecord::Line(LineRecord {
        header: RecordHeader::new(
            camera,
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

fn config(port: u16) -> LinkConfig {
    LinkConfig {
        host: "127.0.0.1".into(),
        port,
        client_id: format!("aisle-embedded-{port}"),
        keep_alive: Duration::from_secs(5),
        topics: Topics::new("s1", "dev1").unwrap(),
        metrics_expiry_s: 600,
        version: "9.9.9-test".into(),
        cameras: vec!["cam1".into(), "cam2".into()],
        models: Vec::new(),
        faces: None,
        reconnect_min: Duration::from_millis(50),
        reconnect_max: Duration::from_millis(200),
        shutdown_timeout: Duration::from_secs(5),
        security: Default::default(),
    }
}

#[test]
fn the_link_works_against_the_embedded_broker() {
    let port = free_port();
    let broker = EmbeddedBroker::start(port).unwrap();
    assert_eq!(broker.addr().to_string(), format!("127.0.0.1:{port}"));
    let dir = tempfile::tempdir().unwrap();
    let (spool, _) = Spool::open(dir.path(), SpoolOptions::with_max_bytes(1 << 20)).unwrap();
    let link = Link::spawn(config(port), spool).unwrap();
    wait_until("the link to connect", || link.status().connected);
    let records = [record("cam1", 0), record("cam2", 0)];
    for r in &records {
        link.publish_record(r).unwrap();
    }
    wait_until("PUBACKs for both records", || {
        let s = link.status();
        s.counters.records_acked == 2 && s.spool.entries == 0
    });

    // A late subscriber gets the retained birth and the latest metrics (in any order), with
    // their expiry.
    let mut sub = Subscriber::connect(port, &format!("{BASE}/#"), None);
    let status = format!("{BASE}/status");
    let mut missing: Vec<String> = vec![
        status.clone(),
        format!("{BASE}/cam1/door/metrics"),
        format!("{BASE}/cam2/door/metrics"),
    ];
    sub.wait_for("the retained birth and metrics", |p| {
        missing.retain(|t| t != topic(p));
        missing.is_empty()
    });
    let find = |t: &str| sub.seen.iter().find(|p| topic(p) == t).unwrap().clone();
    let birth = find(&status);
    assert_eq!(json(&birth)["state"], "online");
    assert!(birth.retain);
    // rumqttd forwards at the subscription's QoS (2 here), where MQTT 5 says the lower of it
    // and the publication's (1): at least once either way.
    assert_ne!(birth.qos, QoS::AtMostOnce);
    for (r, camera) in records.iter().zip(["cam1", "cam2"]) {
        let want = format!("{BASE}/{camera}/door/metrics");
        let m = find(&want);
        assert_eq!(&m.payload[..], &serde_json::to_vec(r).unwrap()[..]);
        assert_ne!(m.qos, QoS::AtMostOnce);
        assert!(m.retain, "{want}: retained");
        let expiry = m
            .properties
            .as_ref()
            .and_then(|p| p.message_expiry_interval);
        assert!(expiry.is_some_and(|e| e > 0 && e <= 600), "{expiry:?}");
    }
    // Live: a new record reaches the connected subscriber.
    link.publish_record(&record("cam1", 1)).unwrap();
    let live = sub.wait_for("a live record", |p| {
        topic(p) == format!("{BASE}/cam1/door/metrics")
            && json(p)["id"] == record("cam1", 1).header().id
    });
    assert_eq!(json(&live).get("historical"), None);
    assert_ne!(live.qos, QoS::AtMostOnce);

    link.shutdown();
    sub.wait_for("stopped", |p| {
        topic(p) == format!("{BASE}/status") && json(p)["state"] == "stopped"
    });
    let mut late = Subscriber::connect(port, &format!("{BASE}/status"), None);
    let retained = late.wait_for("the retained status", |_| true);
    assert_eq!(json(&retained), serde_json::json!({"state": "stopped"}));
}

#[test]
fn a_vanished_client_leaves_its_retained_last_will() {
    let port = free_port();
    EmbeddedBroker::start(port).unwrap();
    let mut sub = Subscriber::connect(port, "aisle/v1/s9/+/status", None);
    // The link's Last Will, from a client whose connection just closes (no DISCONNECT), as
    // when the device loses power.
    let mut opts = MqttOptions::new("vanishing", "127.0.0.1", port);
    opts.set_keep_alive(Duration::from_secs(5));
    opts.set_last_will(LastWill::new(
        "aisle/v1/s9/d9/status",
        aisle_fleet::link::status_payload(aisle_fleet::payload::StatusState::Offline),
        QoS::AtLeastOnce,
        true,
        None,
    ));
    let (client, mut conn) = Client::new(opts, 8);
    loop {
        match conn.recv_timeout(broker::TIMEOUT) {
            Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => break,
            Ok(Ok(_)) => {}
            other => panic!("no CONNACK: {other:?}"),
        }
    }
    drop(conn);
    drop(client);
    let will = sub.wait_for("the Last Will", |_| true);
    assert_eq!(json(&will), serde_json::json!({"state": "offline"}));
    let mut late = Subscriber::connect(port, "aisle/v1/s9/+/status", None);
    let retained = late.wait_for("the retained Last Will", |_| true);
    assert_eq!(json(&retained)["state"], "offline");
}

#[test]
fn a_taken_port_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let err = EmbeddedBroker::start(port).unwrap_err().to_string();
    assert!(
        err.contains(&format!("127.0.0.1:{port}")) && err.contains("mqtt.embedded_port"),
        "{err}"
    );
}
