//! The MQTT link against a real `mosquitto` (one per test, on a free loopback port): topics,
//! QoS 1, retain, message expiry, the spool emptied by PUBACKs, replay after a broker outage,
//! the Last Will of a killed device and `stopped` on clean shutdown.

mod broker;
mod schemas;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use aisle_fleet::topics::Topics;
use aisle_fleet::{Link, LinkConfig, LinkHandle, Spool, SpoolOptions};
use aisle_types::metrics::{LineRecord, MetricRecord, Period, RecordHeader};
use broker::{json, topic, wait_until, Mosquitto, Subscriber};
use rumqttc::v5::mqttbytes::QoS;

const EXPIRY_S: u32 = 600;
const CHILD_ENV: &str = "AISLE_FLEET_LINK_CHILD";

fn config(port: u16) -> LinkConfig {
    LinkConfig {
        host: "127.0.0.1".into(),
        port,
        client_id: format!("aisle-test-{port}"),
        keep_alive: Duration::from_secs(5),
        topics: Topics::new("s1", "dev1").unwrap(),
        metrics_expiry_s: EXPIRY_S,
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

/// Window `k` (minutes from a fixed start) of line `line` on `camera`.
fn record(camera: &str, line: &str, k: i64) -> MetricRecord {
    MetricRecord::Line(LineRecord {
        header: RecordHeader::new(
            camera,
            line,
            Period::Window,
            1_764_099_840 + 60 * k,
            60,
            60.0,
            5,
            false,
        ),
        line: line.into(),
        crossings_in: Some(k as u32),
        crossings_out: Some(1),
    })
}

fn spawn(port: u16, dir: &std::path::Path) -> LinkHandle {
    let (spool, _) = Spool::open(dir, SpoolOptions::with_max_bytes(1 << 20)).unwrap();
    Link::spawn(config(port), spool).unwrap()
}

const BASE: &str = "aisle/v1/s1/dev1";

#[test]
fn records_arrive_retained_qos1_with_expiry_and_the_spool_empties() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let link = spawn(broker.port, dir.path());
    wait_until("the link to connect", || link.status().connected);
    let records = [record("cam1", "door", 0), record("cam2", "exit", 0)];
    for r in &records {
        link.publish_record(r).unwrap();
    }
    wait_until("PUBACKs for both records", || {
        let s = link.status();
        s.counters.records_acked == 2 && s.spool.entries == 0
    });

    // A subscriber that comes afterwards sees the retained birth and the latest metrics.
    let mut sub = Subscriber::connect(broker.port, &format!("{BASE}/#"), None);
    let birth = sub.wait_for("birth", |p| topic(p) == format!("{BASE}/status"));
    assert!(birth.retain);
    assert_eq!(birth.qos, QoS::AtLeastOnce);
    assert_eq!(
        json(&birth),
        serde_json::json!({"state": "online", "version": "9.9.9-test", "cameras": ["cam1", "cam2"]})
    );
    for (r, path) in records.iter().zip(["cam1/door", "cam2/exit"]) {
        let want = format!("{BASE}/{path}/metrics");
        let m = sub.wait_for(&want, |p| topic(p) == want);
        assert!(m.retain, "{want} retained");
        assert_eq!(m.qos, QoS::AtLeastOnce, "{want} QoS 1");
        let expiry = m
            .properties
            .as_ref()
            .and_then(|p| p.message_expiry_interval)
            .expect("message expiry");
        assert!(expiry > 0 && expiry <= EXPIRY_S, "{expiry}");
        // Published live: the record as serialised, without `historical`.
        assert_eq!(&m.payload[..], &serde_json::to_vec(r).unwrap()[..]);
    }

    // Clean shutdown: the retained `stopped`, and the spool is empty on disk.
    link.shutdown();
    let stopped = sub.wait_for("stopped", |p| {
        topic(p) == format!("{BASE}/status") && json(p)["state"] == "stopped"
    });
    assert_eq!(stopped.qos, QoS::AtLeastOnce);
    // Birth, metrics and stopped validate against the API's schemas.
    for p in &sub.seen {
        schemas::validate(topic(p), &p.payload);
    }
    let mut late = Subscriber::connect(broker.port, &format!("{BASE}/status"), None);
    let status = late.wait_for("retained status", |_| true);
    assert!(status.retain);
    assert_eq!(json(&status), serde_json::json!({"state": "stopped"}));
    let (spool, _) = Spool::open(dir.path(), SpoolOptions::with_max_bytes(1 << 20)).unwrap();
    assert!(spool.is_empty());
    assert_eq!(spool.next_seq().0, 2);
}

#[test]
fn records_from_a_broker_outage_are_replayed_in_order_as_historical() {
    let mut broker = Mosquitto::start_on(broker::free_port(), true);
    let dir = tempfile::tempdir().unwrap();
    // A persistent session: messages published while the subscriber is away are queued.
    let mut sub = Subscriber::connect(
        broker.port,
        &format!("{BASE}/+/+/metrics"),
        Some("outage-sub"),
    );
    let link = spawn(broker.port, dir.path());
    wait_until("the link to connect", || link.status().connected);
    link.publish_record(&record("cam1", "door", 0)).unwrap();
    let live = sub.wait_for("the live record", |_| true);
    assert_eq!(json(&live).get("historical"), None);
    wait_until("its PUBACK", || link.status().spool.entries == 0);

    broker.stop();
    wait_until("the link to notice the outage", || !link.status().connected);
    let outage: Vec<MetricRecord> = (1..=5)
        .map(|k| record(if k % 2 == 0 { "cam2" } else { "cam1" }, "door", k))
        .collect();
    for r in &outage {
        link.publish_record(r).unwrap();
    }
    assert_eq!(
        link.status().spool.entries,
        5,
        "spooled while the broker is down"
    );

    broker.restart();
    let mut got = Vec::new();
    for k in 1..=5 {
        let p = sub.wait_for(&format!("replayed record {k}"), |_| true);
        got.push(json(&p));
    }
    let ids: Vec<&str> = got.iter().map(|v| v["id"].as_str().unwrap()).collect();
    let want: Vec<&str> = outage.iter().map(|r| r.header().id.as_str()).collect();
    assert_eq!(ids, want, "in order, with their stable ids");
    for v in &got {
        assert_eq!(v["historical"], true, "{v}");
    }
    wait_until("the spool to drain", || link.status().spool.entries == 0);
    assert!(link.status().counters.connections >= 2);

    // After the replay, new records are live again.
    link.publish_record(&record("cam1", "door", 6)).unwrap();
    let after = sub.wait_for("a live record after the outage", |_| true);
    assert_eq!(json(&after)["id"], record("cam1", "door", 6).header().id);
    assert_eq!(json(&after).get("historical"), None);
    // Live and replayed (historical) records alike validate against the metrics schema.
    for p in &sub.seen {
        schemas::validate(topic(p), &p.payload);
    }
    link.shutdown();
}

#[test]
fn records_spooled_before_start_are_replayed_as_historical() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    // A previous run left two unacknowledged records (e.g. it crashed before the PUBACK).
    let records = [record("cam1", "door", 0), record("cam1", "door", 1)];
    {
        let (mut spool, _) =
            Spool::open(dir.path(), SpoolOptions::with_max_bytes(1 << 20)).unwrap();
        for r in &records {
            let t = Topics::new("s1", "dev1").unwrap().record(r).unwrap();
            spool.append(&t, &serde_json::to_vec(r).unwrap()).unwrap();
        }
    }
    let link = spawn(broker.port, dir.path());
    wait_until("the replay to be acknowledged", || {
        let s = link.status();
        s.counters.records_acked == 2 && s.spool.entries == 0
    });
    assert_eq!(link.status().counters.records_replayed, 2);
    // The retained latest is the newer window, marked historical.
    let mut sub = Subscriber::connect(broker.port, &format!("{BASE}/cam1/door/metrics"), None);
    let m = sub.wait_for("the retained record", |_| true);
    assert!(m.retain);
    assert_eq!(json(&m)["id"], records[1].header().id);
    assert_eq!(json(&m)["historical"], true);
    link.shutdown();
}

/// Child mode for the Last Will test: runs a link until it is killed.
#[test]
fn link_child_process() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (port, dir) = spec.split_once(':').expect("port:dir");
    let link = spawn(port.parse().unwrap(), dir.as_ref());
    wait_until("the child's link to connect", || link.status().connected);
    let mut out = std::io::stdout().lock();
    // libtest printed "test link_child_process ... " without a newline: end that line first.
    writeln!(out, "\nconnected")
        .and_then(|()| out.flush())
        .unwrap();
    // Wait to be killed (the parent holds our stdin open).
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    panic!("the parent was meant to kill this process");
}

/// This test binary again, running only `link_child_process`: a device on `port` with its spool
/// in `dir`.
fn spawn_device(port: u16, dir: &std::path::Path) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "link_child_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, format!("{port}:{}", dir.display()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn a_killed_device_leaves_the_retained_last_will_offline() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let mut sub = Subscriber::connect(broker.port, &format!("{BASE}/status"), None);
    let mut child = spawn_device(broker.port, dir.path());
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    loop {
        let line = lines.next().expect("child output").unwrap();
        if line == "connected" {
            break;
        }
    }
    let online = sub.wait_for("online", |p| json(p)["state"] == "online");
    assert_eq!(json(&online)["version"], "9.9.9-test");
    child.kill().unwrap(); // SIGKILL: no DISCONNECT, no `stopped`
    child.wait().unwrap();
    let will = sub.wait_for("the Last Will", |p| json(p)["state"] != "online");
    assert_eq!(json(&will), serde_json::json!({"state": "offline"}));
    assert_eq!(will.qos, QoS::AtLeastOnce);
    let mut late = Subscriber::connect(broker.port, &format!("{BASE}/status"), None);
    let retained = late.wait_for("retained status", |_| true);
    assert!(retained.retain);
    assert_eq!(json(&retained), serde_json::json!({"state": "offline"}));

    // The device comes back: its birth replaces the Last Will.
    let mut again = spawn_device(broker.port, dir.path());
    let back = sub.wait_for("online again", |p| json(p)["state"] == "online");
    assert!(back.retain);
    again.kill().unwrap();
    again.wait().unwrap();
    for p in sub.seen.iter().chain(&late.seen) {
        schemas::validate(topic(p), &p.payload);
    }
}
