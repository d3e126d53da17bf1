//! `aisle run` with `[mqtt]`: the sample video through the whole pipeline to a real mosquitto
//! broker. Every record printed is also published (QoS 1, retained) on its metrics topic, the
//! device's retained status goes `online` then `stopped`, and the spool is empty at the end.
//! The same with the embedded broker (`broker = "embedded"`) and a subscriber during the run.

#[path = "../crates/aisle-fleet/tests/broker/mod.rs"]
mod broker;
mod common;

use std::process::Command;

use broker::{json, topic, Mosquitto, Subscriber};
use rumqttc::v5::mqttbytes::QoS;

#[test]
fn run_publishes_every_record_to_the_broker_and_ends_stopped() {
    common::media("vtest.mp4");
    common::model_file("human_centernet.onnx");
    common::ort_library();
    let broker = Mosquitto::start();
    let mut sub = Subscriber::connect(broker.port, "aisle/v1/#", None);
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let example = std::fs::read_to_string(common::repo_root().join("examples/vtest.toml"))
        .expect("examples/vtest.toml");
    let config = dir.path().join("site.toml");
    std::fs::write(
        &config,
        format!(
            "{example}\n[mqtt]\nbroker = \"mqtt://127.0.0.1:{}\"\nsite = \"demo\"\ndevice = \"box1\"\nspool_dir = \"{}\"\n",
            broker.port,
            spool.display()
        ),
    )
    .unwrap();
    // The first 30 s of the clip: one partial window and the report window.
    let o = Command::new(env!("CARGO_BIN_EXE_aisle"))
        .args(["run", "--config"])
        .arg(&config)
        .args(["--start", "2026-01-01T00:00:00Z", "--max-seconds", "30"])
        .output()
        .expect("aisle runs");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let printed: Vec<serde_json::Value> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON record"))
        .collect();
    assert!(printed.len() >= 12, "{} records", printed.len());

    sub.wait_for("the retained `stopped` status", |p| {
        topic(p) == "aisle/v1/demo/box1/status" && json(p)["state"] == "stopped"
    });
    let statuses: Vec<String> = sub
        .seen
        .iter()
        .filter(|p| topic(p) == "aisle/v1/demo/box1/status")
        .map(|p| json(p)["state"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        statuses.first().map(String::as_str),
        Some("online"),
        "{statuses:?}"
    );
    for rec in &printed {
        let subject = match rec["type"].as_str().unwrap() {
            "zone" => rec["zone"].as_str().unwrap(),
            "line" => rec["line"].as_str().unwrap(),
            _ => "camera",
        };
        let want = format!("aisle/v1/demo/box1/vtest/{subject}/metrics");
        let got = sub
            .seen
            .iter()
            .find(|p| topic(p) == want && json(p)["id"] == rec["id"])
            .unwrap_or_else(|| panic!("record {} not published on {want}", rec["id"]));
        assert_eq!(&json(got), rec, "published payload = printed record");
        assert_eq!(got.qos, QoS::AtLeastOnce);
        assert!(got.retain, "metrics are retained");
    }
    // Everything was acknowledged by the broker: nothing left to replay.
    let (spool, _) = aisle_fleet::Spool::open(&spool, aisle_fleet::SpoolOptions::default())
        .expect("the spool reopens");
    assert_eq!(spool.len(), 0, "entries left in the spool");
}

#[test]
fn run_with_the_embedded_broker_serves_a_subscriber() {
    common::media("vtest.mp4");
    common::model_file("human_centernet.onnx");
    common::ort_library();
    let port = broker::free_port();
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let example = std::fs::read_to_string(common::repo_root().join("examples/vtest.toml"))
        .expect("examples/vtest.toml");
    let config = dir.path().join("site.toml");
    std::fs::write(
        &config,
        format!(
            "{example}\n[mqtt]\nbroker = \"embedded\"\nembedded_port = {port}\nsite = \"demo\"\ndevice = \"box1\"\nspool_dir = \"{}\"\n",
            spool.display()
        ),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_aisle"))
        .args(["run", "--config"])
        .arg(&config)
        .args(["--start", "2026-01-01T00:00:00Z", "--max-seconds", "30"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("aisle runs");
    // Retries until the embedded broker listens (it starts before the models load).
    let mut sub = Subscriber::connect(port, "aisle/v1/#", None);
    // The records come as the windows close; the broker ends with the run.
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let online = sub.wait_for("the retained birth", |p| {
        topic(p) == "aisle/v1/demo/box1/status" && json(p)["state"] == "online"
    });
    // rumqttd forwards at the subscription's QoS (2 here): at least once either way.
    assert_ne!(online.qos, QoS::AtMostOnce);
    sub.wait_for("the `stopped` status", |p| {
        topic(p) == "aisle/v1/demo/box1/status" && json(p)["state"] == "stopped"
    });
    let printed: Vec<serde_json::Value> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("stdout is only JSON records"))
        .collect();
    assert!(printed.len() >= 12, "{} records", printed.len());
    for rec in &printed {
        assert!(
            sub.seen.iter().any(|p| topic(p).ends_with("/metrics")
                && json(p)["id"] == rec["id"]
                && p.qos != QoS::AtMostOnce),
            "record {} not received from the embedded broker",
            rec["id"]
        );
    }
    let (spool, _) = aisle_fleet::Spool::open(&spool, aisle_fleet::SpoolOptions::default())
        .expect("the spool reopens");
    assert_eq!(spool.len(), 0, "entries left in the spool");
}
