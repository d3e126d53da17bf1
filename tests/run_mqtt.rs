//! `aisle run` with `[mqtt]`: the sample video through the whole pipeline to a real mosquitto
//! broker. Every record printed is also published (QoS 1, retained) on its metrics topic, the
//! device's retained status goes `online` then `stopped`, and the spool is empty at the end.
//! The same with the embedded broker (`broker = "embedded"`) and a subscriber during the run.
//! Commands reconfigure the running pipeline (the sample video looped) without a restart, and
//! the change survives a restart.

#[path = "../crates/aisle-fleet/tests/broker/mod.rs"]
mod broker;
mod common;
#[path = "../crates/aisle-fleet/tests/requester/mod.rs"]
mod requester;
#[path = "../crates/aisle-fleet/tests/schemas/mod.rs"]
mod schemas;

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aisle_fleet::command::{ErrorCode, MAX_COMMAND_BYTES, RESTART_EXIT_CODE};
use broker::{json, topic, Mosquitto, Subscriber};
use requester::Requester;
use rumqttc::v5::mqttbytes::QoS;

/// `examples/vtest.toml` with `[mqtt]` (site `demo`, device `box1`, spool in `dir`) made of
/// `broker` and the `extra` lines, written to `dir/site.toml`; `short_windows`: 5 s windows and
/// 60 s report windows.
fn vtest_with_mqtt(
    dir: &std::path::Path,
    broker: &str,
    extra: &str,
    short_windows: bool,
) -> std::path::PathBuf {
    let mut example = std::fs::read_to_string(common::repo_root().join("examples/vtest.toml"))
        .expect("examples/vtest.toml");
    if short_windows {
        example = example.replacen("window_s = 60", "window_s = 5\nreport_window_s = 60", 1);
    }
    let config = dir.join("site.toml");
    std::fs::write(
        &config,
        format!(
            "{example}\n[mqtt]\n{broker}\nsite = \"demo\"\ndevice = \"box1\"\nspool_dir = \"{}\"\n{extra}",
            dir.join("spool").display()
        ),
    )
    .unwrap();
    config
}

#[test]
fn run_publishes_every_record_to_the_broker_and_ends_stopped() {
    common::media("vtest.mp4");
    common::model_file("human_nanodet.onnx");
    common::ort_library();
    let broker = Mosquitto::start();
    let mut sub = Subscriber::connect(broker.port, "aisle/v1/#", None);
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let mqtt = format!("broker = \"mqtt://127.0.0.1:{}\"", broker.port);
    let config = vtest_with_mqtt(dir.path(), &mqtt, "", false);
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
    let birth = sub
        .seen
        .iter()
        .find(|p| topic(p) == "aisle/v1/demo/box1/status")
        .unwrap();
    assert_eq!(json(birth)["models"], serde_json::json!(["nanodet"]));
    assert_eq!(json(birth)["cameras"], serde_json::json!(["vtest"]));
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
    // Every message of the run validates against the API's schemas (docs/mqtt/asyncapi.yaml).
    for p in &sub.seen {
        schemas::validate(topic(p), &p.payload);
    }
    // Everything was acknowledged by the broker: nothing left to replay.
    for p in &sub.seen {
        schemas::validate(topic(p), &p.payload);
    }
    let (spool, _) = aisle_fleet::Spool::open(&spool, aisle_fleet::SpoolOptions::default())
        .expect("the spool reopens");
    assert_eq!(spool.len(), 0, "entries left in the spool");
}

/// `payload` validates against the JSON Schema of `T` (generated from the type).
fn assert_valid<T: schemars::JsonSchema>(what: &str, payload: &serde_json::Value) {
    let schema: serde_json::Value =
        serde_json::from_str(&aisle_fleet::payload::json_schema::<T>()).unwrap();
    let v = jsonschema::validator_for(&schema).expect("a valid schema");
    let errors: Vec<String> = v.iter_errors(payload).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{what} {payload}: {errors:?}");
}

/// Health every 5 s and the live occupancy of every zone while the clip plays in real time;
/// each validates against its schema; live counts are retained for a late subscriber.
#[test]
fn run_reports_health_and_live_occupancy() {
    use aisle_fleet::payload::{Health, Live};
    common::media("vtest.mp4");
    common::model_file("human_nanodet.onnx");
    common::ort_library();
    let broker = Mosquitto::start();
    let mut sub = Subscriber::connect(broker.port, "aisle/v1/#", None);
    let dir = tempfile::tempdir().unwrap();
    let mqtt = format!("broker = \"mqtt://127.0.0.1:{}\"", broker.port);
    let config = vtest_with_mqtt(dir.path(), &mqtt, "health_interval_s = 5\n", false);
    let o = Command::new(env!("CARGO_BIN_EXE_aisle"))
        .args(["run", "--config"])
        .arg(&config)
        .args(["--realtime", "--max-seconds", "12"])
        .output()
        .expect("aisle runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    sub.wait_for("the retained `stopped` status", |p| {
        topic(p) == "aisle/v1/demo/box1/status" && json(p)["state"] == "stopped"
    });

    let health: Vec<_> = sub
        .seen
        .iter()
        .filter(|p| topic(p) == "aisle/v1/demo/box1/health")
        .collect();
    assert!(
        !health.is_empty(),
        "no health report in 12 s at 5 s intervals"
    );
    for p in &health {
        assert_eq!(p.qos, QoS::AtMostOnce);
        assert!(!p.retain, "health is not retained");
        let expiry = p
            .properties
            .as_ref()
            .and_then(|x| x.message_expiry_interval);
        assert_eq!(expiry, Some(10), "two intervals");
        assert_valid::<Health>("health", &json(p));
    }
    let h = json(health.last().unwrap());
    let cam = &h["cameras"][0];
    assert_eq!(cam["camera"], "vtest");
    assert_eq!(cam["state"], "running", "{h}");
    assert!(cam["frames_analysed"].as_u64().unwrap() > 10, "{h}");
    assert!(cam["frames_decoded"].as_u64().unwrap() >= cam["frames_analysed"].as_u64().unwrap());
    assert!(cam["fps"].as_f64().unwrap() > 1.0, "{h}");
    assert!(
        cam["latency_ms"]["infer"]["mean"].as_f64().unwrap() > 0.0,
        "{h}"
    );
    assert!(
        cam["latency_ms"]["decode"]["max"].as_f64().unwrap() > 0.0,
        "{h}"
    );
    assert_eq!(h["link"]["connected"], true);
    assert_eq!(h["spool"]["max_bytes"], 64 << 20);
    assert!(h["uptime_s"].as_f64().unwrap() >= 5.0);

    let live: Vec<_> = sub
        .seen
        .iter()
        .filter(|p| topic(p).ends_with("/live"))
        .collect();
    let mut zones = std::collections::BTreeSet::new();
    let mut someone = false;
    for p in &live {
        assert!(p.retain, "live occupancy is retained");
        let v = json(p);
        assert_valid::<Live>("live", &v);
        let zone = v["zone"].as_str().unwrap();
        assert_eq!(topic(p), format!("aisle/v1/demo/box1/vtest/{zone}/live"));
        zones.insert(zone.to_string());
        someone |= v["occupancy"].as_u64().unwrap() > 0;
    }
    assert!(zones.contains("walkway_centre"), "{zones:?}");
    assert!(someone, "people walk the pavement of the clip");
    // A subscriber arriving later gets each zone's latest count, retained.
    let mut late = Subscriber::connect(broker.port, "aisle/v1/demo/box1/vtest/+/live", None);
    let mut retained = std::collections::BTreeSet::new();
    while retained != zones {
        let p = late.wait_for("a retained live count of every zone", |p| p.retain);
        retained.insert(json(&p)["zone"].as_str().unwrap().to_string());
    }
    for p in sub.seen.iter().chain(&late.seen) {
        schemas::validate(topic(p), &p.payload);
    }
}

const TOKEN: &str = "e2e-command-token-0123456789";
const BASE: &str = "aisle/v1/demo/box1";

/// The sample video's config with 5 s windows, `[mqtt]` on `port`, commands `all` with a token,
/// and a second camera on the same video without zones (`other`).
fn commands_config(dir: &std::path::Path, port: u16) -> std::path::PathBuf {
    let example = std::fs::read_to_string(common::repo_root().join("examples/vtest.toml"))
        .expect("examples/vtest.toml");
    let example = example.replacen("window_s = 60", "window_s = 5\nreport_window_s = 60", 1);
    let creds = dir.join("credentials");
    std::fs::create_dir_all(&creds).unwrap();
    std::fs::write(creds.join("cmd-token"), format!("{TOKEN}\n")).unwrap();
    let config = dir.join("site.toml");
    std::fs::write(
        &config,
        format!(
            "[runtime]\ncredentials_dir = \"{}\"\n\n{example}\n[[cameras]]\nid = \"other\"\nurl = \"$AISLE_CACHE/media/vtest.mp4\"\n\n[mqtt]\nbroker = \"mqtt://127.0.0.1:{port}\"\nsite = \"demo\"\ndevice = \"box1\"\nspool_dir = \"{}\"\n\n[commands]\nmode = \"all\"\ntoken_file = \"cmd-token\"\n",
            creds.display(),
            dir.join("spool").display()
        ),
    )
    .unwrap();
    config
}

/// `aisle run` in the background; its stdout lines are collected.
struct Device {
    child: std::process::Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Device {
    fn start(config: &std::path::Path, extra: &[&str]) -> Self {
        Self::start_at(config, "2026-01-01T00:00:00Z", extra)
    }

    /// With media time 0 at `start` (RFC 3339).
    fn start_at(config: &std::path::Path, start: &str, extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_aisle"))
            .args(["run", "--config"])
            .arg(config)
            .args(["--start", start, "--fps", "5"])
            .args(extra)
            .env("AISLE_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("aisle runs");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().unwrap();
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines() {
                let Ok(line) = line else { return };
                sink.lock().unwrap().push(line);
            }
        });
        Self { child, lines }
    }

    fn records(&self) -> Vec<serde_json::Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .map(|l| serde_json::from_str(l).expect("a JSON record"))
            .collect()
    }

    /// Waits for the process to end (at most `limit`); its exit code.
    fn wait(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(Instant::now() < deadline, "aisle run did not end");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn subject(rec: &serde_json::Value) -> &str {
    match rec["type"].as_str().unwrap() {
        "zone" => rec["zone"].as_str().unwrap(),
        "line" => rec["line"].as_str().unwrap(),
        _ => "camera",
    }
}

#[test]
fn commands_reconfigure_the_running_pipeline_and_the_change_survives_a_restart() {
    common::media("vtest.mp4");
    common::model_file("human_nanodet.onnx");
    common::ort_library();
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let config = commands_config(dir.path(), broker.port);
    let original = std::fs::read(&config).unwrap();
    let mut device = Device::start(&config, &["--loop", "--max-seconds", "3600"]);

    // A subscriber connecting after the device sees the retained birth (with the config hash)
    // and the retained config.
    let mut req = Requester::connect(broker.port, BASE);
    let pong = req.request_until_answered("ping", b"", Some(TOKEN));
    assert!(pong.ok, "{pong:?}");
    let hash0 = pong
        .config_hash
        .clone()
        .expect("ping gives the config hash");
    let mut late = Subscriber::connect(broker.port, &format!("{BASE}/+"), None);
    let birth = late.wait_for("the retained birth", |p| {
        topic(p) == format!("{BASE}/status")
    });
    assert!(birth.retain);
    assert_eq!(json(&birth)["state"], "online");
    assert_eq!(json(&birth)["config_hash"], hash0.as_str());
    let cfg = late.wait_for("the retained config", |p| {
        topic(p) == format!("{BASE}/config")
    });
    assert!(cfg.retain);
    assert_eq!(json(&cfg)["hash"], hash0.as_str());
    let current = json(&cfg)["config"].clone();
    assert_eq!(current["zones"][0]["name"], "walkway_left");
    assert_eq!(
        current["commands"]["token_file"], "cmd-token",
        "a file name, not the token"
    );
    assert!(!String::from_utf8_lossy(&cfg.payload).contains(TOKEN));
    let got = req.request("config/get", b"", Some(TOKEN));
    assert_eq!(got.config.as_ref(), Some(&current));

    // Refused requests: error replies, and nothing changes (hash, file).
    let code = |r: &aisle_fleet::command::Reply| r.error.as_ref().map(|e| e.code);
    let mut bad = current.clone();
    bad["zones"][1]["polygon"][2] = serde_json::json!([1.5, 0.5]);
    let payload = serde_json::to_vec(&serde_json::json!({ "config": bad })).unwrap();
    let r = req.request("config/set", &payload, Some(TOKEN));
    assert_eq!(code(&r), Some(ErrorCode::InvalidConfig), "{r:?}");
    assert_eq!(
        r.error.as_ref().unwrap().path.as_deref(),
        Some("zones[1].polygon[2]")
    );
    let r = req.request("config/set", b"{\"config\": [", Some(TOKEN));
    assert_eq!(code(&r), Some(ErrorCode::Malformed), "{r:?}");
    let r = req.request("self-destruct", b"{}", Some(TOKEN));
    assert_eq!(code(&r), Some(ErrorCode::UnknownVerb), "{r:?}");
    let big = vec![b' '; MAX_COMMAND_BYTES + 10];
    let r = req.request("config/set", &big, Some(TOKEN));
    assert_eq!(code(&r), Some(ErrorCode::TooLarge), "{r:?}");
    let mut renamed = current.clone();
    renamed["zones"][0]["name"] = "walkway_west".into();
    let payload = serde_json::to_vec(&serde_json::json!({ "config": renamed })).unwrap();
    let r = req.request("config/set", &payload, None);
    assert_eq!(code(&r), Some(ErrorCode::Unauthorized), "{r:?}");
    let r = req.request("config/set", &payload, Some("not-the-token-0123456789"));
    assert_eq!(code(&r), Some(ErrorCode::Unauthorized), "{r:?}");
    let mut moved = current.clone();
    moved["cameras"][0]["url"] = "/elsewhere.mp4".into();
    let r = req.request(
        "config/set",
        &serde_json::to_vec(&serde_json::json!({ "config": moved })).unwrap(),
        Some(TOKEN),
    );
    assert_eq!(code(&r), Some(ErrorCode::RestartRequired), "{r:?}");
    assert_eq!(r.error.unwrap().path.as_deref(), Some("cameras[0].url"));
    let pong = req.request("ping", b"", Some(TOKEN));
    assert_eq!(
        pong.config_hash.as_deref(),
        Some(hash0.as_str()),
        "unchanged"
    );
    assert_eq!(std::fs::read(&config).unwrap(), original, "file unchanged");

    // A valid change that cannot be persisted (a directory where the device writes its
    // temporary file) is refused: the old configuration stays in effect and on disk.
    let blocker = dir
        .path()
        .join(format!(".site.toml.tmp-{}", device.child.id()));
    std::fs::create_dir(&blocker).unwrap();
    let r = req.request("config/set", &payload, Some(TOKEN));
    assert_eq!(code(&r), Some(ErrorCode::PersistFailed), "{r:?}");
    std::fs::remove_dir(&blocker).unwrap();
    let pong = req.request("ping", b"", Some(TOKEN));
    assert_eq!(
        pong.config_hash.as_deref(),
        Some(hash0.as_str()),
        "unchanged"
    );
    assert_eq!(std::fs::read(&config).unwrap(), original, "file unchanged");

    // A valid change is applied while running: the renamed zone shows up in the next metrics.
    let mut sub = Subscriber::connect(broker.port, &format!("{BASE}/#"), None);
    let left = format!("{BASE}/vtest/walkway_left/metrics");
    sub.wait_for("a record of the zone before its renaming", |p| {
        topic(p) == left
    });
    let r = req.request("config/set", &payload, Some(TOKEN));
    assert!(r.ok, "{r:?}");
    assert_eq!(r.persisted, Some(true));
    let hash1 = r.config_hash.clone().unwrap();
    assert_ne!(hash1, hash0);
    let west = format!("{BASE}/vtest/walkway_west/metrics");
    sub.wait_for("a record of the renamed zone", |p| topic(p) == west);
    // The retained config and the birth were published again with the new hash (before or
    // after that record).
    let new_config = |p: &rumqttc::v5::mqttbytes::v5::Publish| {
        topic(p) == format!("{BASE}/config") && json(p)["hash"] == hash1.as_str()
    };
    if !sub.seen.iter().any(new_config) {
        sub.wait_for("the new retained config", new_config);
    }
    assert!(sub
        .seen
        .iter()
        .any(|p| topic(p) == format!("{BASE}/status") && json(p)["config_hash"] == hash1.as_str()));
    let persisted = aisle_config::Config::load(&config).expect("the persisted file loads");
    assert_eq!(persisted.zones[0].name, "walkway_west");
    assert_eq!(persisted.commands.token_file.as_deref(), Some("cmd-token"));
    // The process did not restart: the records printed so far include the old name and the
    // new one, and the old windows were closed (partial) before the switch.
    // (Records are durable in the spool, then published, then printed: wait for the print.)
    broker::wait_until("the renamed zone printed", || {
        device
            .records()
            .iter()
            .any(|r| subject(r) == "walkway_west")
    });
    assert!(device
        .records()
        .iter()
        .any(|r| subject(r) == "walkway_left"));

    // The changed camera closed its open windows at the switch (partial ones); the other
    // camera, whose layout did not change, kept its analytics: only full windows so far.
    let partial = |camera: &str| {
        device
            .records()
            .iter()
            .filter(|r| r["camera"] == camera && r["period"] == "window")
            .filter(|r| r["window"]["observed_s"].as_f64() < r["window"]["length_s"].as_f64())
            .count()
    };
    assert!(
        partial("vtest") > 0,
        "vtest's windows were closed at the switch"
    );
    assert_eq!(partial("other"), 0, "the other camera ran on untouched");
    assert!(device.records().iter().any(|r| r["camera"] == "other"));

    // restart: a reply, then a clean exit with the documented status and `stopped`.
    let r = req.request("restart", b"{}", Some(TOKEN));
    assert!(r.ok, "{r:?}");
    assert_eq!(r.restarting, Some(true));
    assert_eq!(
        device.wait(Duration::from_secs(60)),
        Some(i32::from(RESTART_EXIT_CODE))
    );
    sub.wait_for("stopped", |p| {
        topic(p) == format!("{BASE}/status") && json(p)["state"] == "stopped"
    });
    // Every message of the session validates against the API's schemas; replies were
    // validated as they came (requester::check_reply).
    for p in sub.seen.iter().chain(&late.seen) {
        schemas::validate(topic(p), &p.payload);
    }

    // After the restart the persisted file is read: the new hash and zone from the start.
    let mut again = Device::start(&config, &["--max-seconds", "12"]);
    let pong = req.request_until_answered("ping", b"", Some(TOKEN));
    assert_eq!(pong.config_hash.as_deref(), Some(hash1.as_str()));
    assert_eq!(again.wait(Duration::from_secs(300)), Some(0));
    let printed = again.records();
    assert!(printed.iter().any(|r| subject(r) == "walkway_west"));
    assert!(!printed.iter().any(|r| subject(r) == "walkway_left"));
}

/// The sample video with 5 s windows (and 60 s report windows), `[mqtt]` on `port` with health
/// every 5 s, and `extra` lines in `[mqtt]`.
fn outage_config(dir: &std::path::Path, port: u16, extra: &str) -> std::path::PathBuf {
    let broker = format!("broker = \"mqtt://127.0.0.1:{port}\"");
    vtest_with_mqtt(
        dir,
        &broker,
        &format!("health_interval_s = 5\n{extra}"),
        true,
    )
}

/// Window start (RFC 3339, sorts as time) of a record.
fn start_of(rec: &serde_json::Value) -> String {
    rec["window"]["start"].as_str().unwrap().to_string()
}

/// Ids of the 5 s window records printed from index `from` on whose window started after every
/// window printed before it: closed after that moment, so never published before it (a record
/// is published as soon as it is in the spool, and printed after that).
fn closed_after(printed: &[serde_json::Value], from: usize) -> Vec<String> {
    let windows = |r: &&serde_json::Value| r["period"] == "window";
    let Some(last) = printed[..from].iter().filter(windows).map(start_of).max() else {
        panic!("no window printed before index {from}: nothing to compare with");
    };
    printed[from..]
        .iter()
        .filter(windows)
        .filter(|r| start_of(r) > last)
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

/// A 60 s broker outage while windows keep closing, then a SIGKILL while records wait for their
/// PUBACK and a restart: after de-duplication by id every window printed arrives, per subject
/// and period in order of window, and those that waited in the spool come marked historical.
#[test]
fn outage_and_sigkill_lose_no_window() {
    common::media("vtest.mp4");
    common::model_file("human_nanodet.onnx");
    common::ort_library();
    let port = broker::free_port();
    let mut broker = Mosquitto::start_on(port, true);
    // A persistent session: it resumes after the broker's restart.
    let mut sub = Subscriber::connect(port, &format!("{BASE}/vtest/+/metrics"), Some("e2e-outage"));
    let dir = tempfile::tempdir().unwrap();
    let config = outage_config(dir.path(), port, "");
    let mut device = Device::start(&config, &["--realtime", "--loop", "--max-seconds", "3600"]);
    sub.wait_for("the first records", |_| true);
    broker::wait_until("a window printed", || {
        device.records().iter().any(|r| r["period"] == "window")
    });

    // Outage: 60 s with the broker down while windows close (and are printed, so durable in the
    // spool).
    broker.stop();
    let down = Instant::now();
    let before = device.records().len();
    let deadline = down + Duration::from_secs(180);
    loop {
        let ids = closed_after(&device.records(), before);
        let windows: std::collections::BTreeSet<&str> = ids
            .iter()
            .map(|id| id.rsplit('/').next().unwrap())
            .collect();
        if down.elapsed() >= Duration::from_secs(60) && windows.len() >= 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "windows stopped closing in the outage"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let during = closed_after(&device.records(), before);
    broker.restart();
    for id in &during {
        let p = sub.wait_for(&format!("{id} after the outage"), |p| {
            json(p)["id"] == id.as_str()
        });
        assert_eq!(json(&p)["historical"], true, "{id} waited in the spool");
    }

    // SIGKILL while records wait for their PUBACK (the broker down again, so some surely do),
    // then the broker back and a restart on the same spool (a new media epoch, so that the
    // second run's windows have ids of their own): the waiting records are replayed.
    broker.stop();
    let n = device.records().len();
    broker::wait_until("a window closed while the broker is down", || {
        !closed_after(&device.records(), n).is_empty()
    });
    device.child.kill().unwrap(); // SIGKILL
    device.child.wait().unwrap();
    let unacked = closed_after(&device.records(), n);
    assert!(!unacked.is_empty());
    broker.restart();
    let first_run = device.records();
    let mut again = Device::start_at(&config, "2026-01-01T05:00:00Z", &["--max-seconds", "6"]);
    for id in &unacked {
        let p = sub.wait_for(&format!("{id} after the kill"), |p| {
            json(p)["id"] == id.as_str()
        });
        assert_eq!(
            json(&p)["historical"],
            true,
            "{id} was replayed from the spool"
        );
    }
    assert_eq!(again.wait(Duration::from_secs(300)), Some(0));
    let second_run = again.records();
    for rec in first_run.iter().chain(&second_run) {
        let id = rec["id"].as_str().unwrap();
        if !sub.seen.iter().any(|p| json(p)["id"] == id) {
            sub.wait_for(&format!("record {id}"), |p| json(p)["id"] == id);
        }
    }
    // De-duplicated, in order of window per subject and period.
    let mut firsts: Vec<serde_json::Value> = Vec::new();
    for p in &sub.seen {
        schemas::validate(topic(p), &p.payload);
        let v = json(p);
        if !firsts.iter().any(|f| f["id"] == v["id"]) {
            firsts.push(v);
        }
    }
    for rec in first_run.iter().chain(&second_run) {
        assert!(
            firsts.iter().any(|f| f["id"] == rec["id"]),
            "{} lost",
            rec["id"]
        );
    }
    let mut by_key: std::collections::BTreeMap<(String, String, String), Vec<String>> =
        Default::default();
    for f in firsts
        .iter()
        .filter(|f| first_run.iter().any(|r| r["id"] == f["id"]))
    {
        let key = (
            f["camera"].as_str().unwrap().to_string(),
            subject(f).to_string(),
            f["period"].as_str().unwrap().to_string(),
        );
        by_key.entry(key).or_default().push(start_of(f));
    }
    assert!(!by_key.is_empty());
    for (key, starts) in &by_key {
        let mut sorted = starts.clone();
        sorted.sort();
        assert_eq!(starts, &sorted, "{key:?} arrived out of order");
    }
}

/// A spool that fills while the broker is away evicts the oldest records, and `health` counts
/// them once the broker is back: exactly the oldest printed records are missing.
#[test]
fn a_full_spool_evicts_the_oldest_and_health_counts_them() {
    common::media("vtest.mp4");
    common::model_file("human_nanodet.onnx");
    common::ort_library();
    let port = broker::free_port();
    let dir = tempfile::tempdir().unwrap();
    let config = outage_config(dir.path(), port, "spool_max_bytes = 65536\n");
    // No broker yet: every record stays in the 64 KiB spool.
    let mut device = Device::start(&config, &["--loop", "--max-seconds", "3600"]);
    let deadline = Instant::now() + Duration::from_secs(300);
    while device
        .records()
        .iter()
        .map(|r| r.to_string().len())
        .sum::<usize>()
        < 100_000
    {
        assert!(
            Instant::now() < deadline,
            "fewer records than the spool holds"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let broker = Mosquitto::start_on(port, false);
    let mut sub = Subscriber::connect(port, &format!("{BASE}/#"), None);
    // The link retries with a back-off that has grown to its 30 s cap while the broker was away.
    let health = sub.wait_for_within(
        "a health report with evictions, spool drained",
        Duration::from_secs(90),
        |p| {
            topic(p) == format!("{BASE}/health")
                && json(p)["spool"]["evicted"].as_u64() > Some(0)
                && json(p)["spool"]["pending"] == 0
        },
    );
    let evicted = json(&health)["spool"]["evicted"].as_u64().unwrap() as usize;
    let printed = device.records();
    device.child.kill().unwrap();
    let arrived = |id: &serde_json::Value| {
        sub.seen
            .iter()
            .any(|p| topic(p).ends_with("/metrics") && json(p)["id"] == *id)
    };
    // Retained messages: a record evicted from the spool never reached the broker; the first
    // records printed are the missing ones, all of them evicted.
    let missing: Vec<usize> = (0..printed.len())
        .filter(|&i| !arrived(&printed[i]["id"]))
        .collect();
    assert!(!missing.is_empty());
    assert_eq!(
        missing,
        (0..missing.len()).collect::<Vec<_>>(),
        "the oldest are missing"
    );
    assert_eq!(missing.len(), evicted, "health counts every evicted record");
    for p in &sub.seen {
        schemas::validate(topic(p), &p.payload);
    }
    drop(broker);
}

#[test]
fn run_with_the_embedded_broker_serves_a_subscriber() {
    common::media("vtest.mp4");
    common::model_file("human_nanodet.onnx");
    common::ort_library();
    let port = broker::free_port();
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let broker = format!("broker = \"embedded\"\nembedded_port = {port}");
    let config = vtest_with_mqtt(dir.path(), &broker, "", false);
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
    for p in &sub.seen {
        schemas::validate(topic(p), &p.payload);
    }
    let (spool, _) = aisle_fleet::Spool::open(&spool, aisle_fleet::SpoolOptions::default())
        .expect("the spool reopens");
    assert_eq!(spool.len(), 0, "entries left in the spool");
}
