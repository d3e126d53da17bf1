//! `aisle run` as a systemd `Type=notify` daemon (docs/appliance.md, "Daemon contract"), driven
//! through a fake `NOTIFY_SOCKET` (a datagram socket this test binds) on the sample video played
//! in real time and looped, publishing to a real mosquitto broker:
//!
//! - `READY=1` after start-up, `WATCHDOG=1` pings while frames flow, and no more pings once a
//!   stage is frozen (the test-only fault injection `AISLE_TEST_FREEZE_AFTER_S`);
//! - SIGTERM: `STOPPING=1`, the open windows closed as partial records (printed and published),
//!   every record acknowledged by the broker (the spool is empty), the retained status
//!   `stopped`, exit status 0; `WATCHDOG_PID` naming another process turns the pings off;
//! - SIGHUP: a changed zone in the config file takes effect without a restart; an invalid file
//!   is refused with an error naming the file and the bad value, and the run goes on;
//! - under systemd (`INVOCATION_ID`) log lines start with their journal priority (`<6>`), without
//!   timestamp or colour.
//!
//! Waits are generous (minutes) and never assert that something was fast: the machine that runs
//! them may be loaded.

#[path = "../crates/aisle-fleet/tests/broker/mod.rs"]
mod broker;
mod common;

use std::io::BufRead;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use broker::{json, topic, Mosquitto, Subscriber};

/// Limit of every wait for the device (start-up loads models: slow on a loaded machine).
const LIMIT: Duration = Duration::from_secs(180);

/// Polls `cond` every 50 ms until it holds; fails with `what` after `limit`.
fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The notification socket: every datagram received is kept, in order.
struct NotifySocket {
    path: PathBuf,
    messages: Arc<Mutex<Vec<String>>>,
}

impl NotifySocket {
    /// The device, started with this socket as its `NOTIFY_SOCKET` and `env` besides.
    fn start_device(&self, config: &Path, env: &[(&str, &str)]) -> Device {
        let socket = self.path.to_str().expect("a UTF-8 temporary path");
        let mut all = vec![("NOTIFY_SOCKET", socket)];
        all.extend_from_slice(env);
        Device::start(config, &all)
    }

    fn bind(dir: &Path) -> Self {
        let path = dir.join("notify.sock");
        let sock = UnixDatagram::bind(&path).expect("bind the notify socket");
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&messages);
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 4096];
            loop {
                match sock.recv(&mut buf) {
                    Ok(n) => {
                        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                        sink.lock().unwrap().push(text);
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) =>
                    {
                        // Stop with the test: the Arc is only ours and the reader's.
                        if Arc::strong_count(&sink) == 1 {
                            return;
                        }
                    }
                    Err(_) => return,
                }
            }
        });
        Self { path, messages }
    }

    /// The messages received so far.
    fn all(&self) -> Vec<String> {
        self.messages.lock().unwrap().clone()
    }

    /// How many messages so far have the assignment `line` (e.g. `WATCHDOG=1`).
    fn count(&self, line: &str) -> usize {
        self.all()
            .iter()
            .filter(|m| m.lines().any(|l| l == line))
            .count()
    }

    /// Index of the first message with `line`.
    fn position(&self, line: &str) -> Option<usize> {
        self.all().iter().position(|m| m.lines().any(|l| l == line))
    }
}

/// `aisle run` in the background with its stdout (records) and stderr (log) collected.
struct Device {
    child: Child,
    out: Arc<Mutex<Vec<String>>>,
    err: Arc<Mutex<Vec<String>>>,
}

impl Device {
    fn start(config: &Path, env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_aisle"));
        cmd.args(["run", "--config"])
            .arg(config)
            .args(["--start", "2026-01-01T00:00:00Z", "--fps", "5"])
            .args(["--realtime", "--loop", "--max-seconds", "3600"])
            .env("AISLE_LOG", "info")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .env_remove("INVOCATION_ID")
            .env_remove("JOURNAL_STREAM")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("aisle runs");
        let out = Arc::new(Mutex::new(Vec::new()));
        let err = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        for (pipe, sink, echo) in [
            (
                Box::new(stdout) as Box<dyn std::io::Read + Send>,
                Arc::clone(&out),
                false,
            ),
            (Box::new(stderr), Arc::clone(&err), true),
        ] {
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(pipe).lines() {
                    let Ok(line) = line else { return };
                    if echo {
                        eprintln!("aisle: {line}");
                    }
                    sink.lock().unwrap().push(line);
                }
            });
        }
        Self { child, out, err }
    }

    fn records(&self) -> Vec<serde_json::Value> {
        self.out
            .lock()
            .unwrap()
            .iter()
            .map(|l| serde_json::from_str(l).expect("a JSON record"))
            .collect()
    }

    fn log_has(&self, needle: &str) -> bool {
        self.err.lock().unwrap().iter().any(|l| l.contains(needle))
    }

    fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs")
            .success();
        assert!(ok, "kill -{name} failed");
    }

    fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Waits (at most `limit`) for the process to end; its exit code.
    fn wait(&mut self, limit: Duration) -> Option<i32> {
        let mut code = None;
        wait_until("aisle run to exit", limit, || {
            match self.child.try_wait().unwrap() {
                Some(status) => {
                    code = Some(status.code());
                    true
                }
                None => false,
            }
        });
        code.flatten()
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `examples/vtest.toml` with 5 s windows (60 s report windows), written to `dir/site.toml`,
/// plus `[mqtt]` to the broker on `port` when given.
fn site_config(dir: &Path, port: Option<u16>) -> PathBuf {
    let example = std::fs::read_to_string(common::repo_root().join("examples/vtest.toml"))
        .expect("examples/vtest.toml");
    let mut text = example.replacen("window_s = 60", "window_s = 5\nreport_window_s = 60", 1);
    if let Some(port) = port {
        text.push_str(&format!(
            "\n[mqtt]\nbroker = \"mqtt://127.0.0.1:{port}\"\nsite = \"demo\"\ndevice = \"box1\"\nspool_dir = \"{}\"\n",
            dir.join("spool").display()
        ));
    }
    let config = dir.join("site.toml");
    std::fs::write(&config, text).unwrap();
    config
}

fn needs_media() {
    common::media("vtest.mp4");
    common::model_file("human_nanodet.onnx");
    common::ort_library();
}

#[test]
fn ready_then_watchdog_pings_that_stop_when_a_stage_freezes() {
    needs_media();
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let config = site_config(dir.path(), Some(broker.port));
    let notify = NotifySocket::bind(dir.path());
    // Pings every second; the analytics stage of the camera freezes 40 s after it started.
    let mut device = notify.start_device(
        &config,
        &[
            ("WATCHDOG_USEC", "2000000"),
            ("AISLE_TEST_FREEZE_AFTER_S", "40"),
        ],
    );
    wait_until("READY=1", LIMIT, || notify.count("READY=1") == 1);
    let ready = notify.position("READY=1").unwrap();
    let all = notify.all();
    assert!(
        all[ready].lines().any(|l| l.starts_with("STATUS=")),
        "READY=1 comes with a STATUS: {all:?}"
    );
    // Frames flow: pings keep coming (and the status says the camera runs).
    let pings_at_ready = notify.count("WATCHDOG=1");
    wait_until("three watchdog pings after READY", LIMIT, || {
        notify.count("WATCHDOG=1") >= pings_at_ready + 3
    });
    wait_until("STATUS=1 camera running", LIMIT, || {
        notify
            .all()
            .iter()
            .any(|m| m.contains("STATUS=1 camera running, 0 reconnecting"))
    });
    assert!(device.running());

    // The stage freezes: the pings stop for good (the process itself stays up).
    wait_until("the frozen analytics stage", LIMIT, || {
        device.log_has("the analytics stage is frozen now")
    });
    wait_until("the stalled camera to be reported", LIMIT, || {
        device.log_has("made no progress")
    });
    let pings = notify.count("WATCHDOG=1");
    // The absence of pings can only be watched over time: ten ping intervals (a slow machine
    // only makes pings rarer, so this cannot fail for speed).
    std::thread::sleep(Duration::from_secs(10));
    assert_eq!(
        notify.count("WATCHDOG=1"),
        pings,
        "no WATCHDOG=1 once a stage is stuck: {:?}",
        notify.all()
    );
    assert!(device.running(), "a stuck stage is for systemd to restart");
    assert_eq!(
        notify.count("STOPPING=1"),
        0,
        "nothing asked the device to stop"
    );
}

#[test]
fn sigterm_closes_the_windows_flushes_the_spool_and_ends_stopped() {
    needs_media();
    let broker = Mosquitto::start();
    let mut sub = Subscriber::connect(broker.port, "aisle/v1/#", None);
    let dir = tempfile::tempdir().unwrap();
    let config = site_config(dir.path(), Some(broker.port));
    let notify = NotifySocket::bind(dir.path());
    // WATCHDOG_PID names another process (systemd's rule: the pings are not ours to send).
    let mut device = notify.start_device(
        &config,
        &[("WATCHDOG_USEC", "2000000"), ("WATCHDOG_PID", "1")],
    );
    wait_until("READY=1", LIMIT, || notify.count("READY=1") == 1);
    wait_until("two closed windows", LIMIT, || device.records().len() >= 2);
    let before = device.records().len();
    device.signal("TERM");
    wait_until("STOPPING=1", LIMIT, || notify.count("STOPPING=1") == 1);
    assert_eq!(device.wait(LIMIT), Some(0), "a graceful stop exits 0");
    // The open windows were closed at the stop, as at the end of a file: partial records.
    let printed = device.records();
    let after = &printed[before..];
    assert!(!after.is_empty(), "no records at the stop");
    assert!(
        after.iter().any(|r| {
            r["window"]["observed_s"].as_f64().unwrap() < r["window"]["length_s"].as_f64().unwrap()
        }),
        "no partial window among the records of the stop: {after:#?}"
    );
    // Every printed record reached the broker, and the status is `stopped`.
    sub.wait_for_within("the retained `stopped` status", LIMIT, |p| {
        topic(p) == "aisle/v1/demo/box1/status" && json(p)["state"] == "stopped"
    });
    for rec in &printed {
        assert!(
            sub.seen
                .iter()
                .any(|p| topic(p).ends_with("/metrics") && json(p)["id"] == rec["id"]),
            "record {} not published",
            rec["id"]
        );
    }
    let (spool, _) = aisle_fleet::Spool::open(
        dir.path().join("spool"),
        aisle_fleet::SpoolOptions::default(),
    )
    .expect("the spool reopens");
    assert_eq!(spool.len(), 0, "records left unacknowledged in the spool");
    let mut late = Subscriber::connect(broker.port, "aisle/v1/demo/box1/status", None);
    let status = late.wait_for_within("the retained status", LIMIT, |_| true);
    assert!(status.retain);
    assert_eq!(json(&status)["state"], "stopped");
    assert_eq!(
        notify.count("WATCHDOG=1"),
        0,
        "WATCHDOG_PID named another process: {:?}",
        notify.all()
    );
}

#[test]
fn sighup_reloads_the_config_file_and_refuses_an_invalid_one() {
    needs_media();
    let dir = tempfile::tempdir().unwrap();
    let config = site_config(dir.path(), None);
    let original = std::fs::read_to_string(&config).unwrap();
    let notify = NotifySocket::bind(dir.path());
    let mut device = notify.start_device(&config, &[]);
    wait_until("READY=1", LIMIT, || notify.count("READY=1") == 1);
    wait_until("a first record", LIMIT, || !device.records().is_empty());

    // A renamed zone: its records appear under the new name, same process.
    let renamed = original.replace("\"walkway_left\"", "\"walkway_west\"");
    assert_ne!(renamed, original);
    std::fs::write(&config, &renamed).unwrap();
    device.signal("HUP");
    wait_until("records of the renamed zone", LIMIT, || {
        device.records().iter().any(|r| r["zone"] == "walkway_west")
    });
    assert!(device.running(), "SIGHUP must not end the process");

    // An invalid file: refused with the file and the bad value's path; the run goes on.
    let invalid = renamed.replacen(
        "[[0.0, 0.33], [0.30, 0.355]",
        "[[0.0, 0.33], [1.5, 0.355]",
        1,
    );
    assert_ne!(invalid, renamed);
    std::fs::write(&config, &invalid).unwrap();
    device.signal("HUP");
    let file = config.display().to_string();
    wait_until("the reload error", LIMIT, || {
        let err = device.err.lock().unwrap();
        err.iter().any(|l| {
            l.contains("reload refused") && l.contains(&file) && l.contains("zones[0].polygon[1]")
        })
    });
    let n = device.records().len();
    wait_until("more records on the previous configuration", LIMIT, || {
        device.records().len() > n
    });
    assert!(device.running());
    assert!(
        device.records()[n..]
            .iter()
            .all(|r| r["zone"] != "walkway_left"),
        "the refused file changed nothing"
    );

    device.signal("TERM");
    assert_eq!(device.wait(LIMIT), Some(0));
    assert_eq!(notify.count("STOPPING=1"), 1);
}

#[test]
fn under_systemd_log_lines_carry_journal_priorities() {
    needs_media();
    let dir = tempfile::tempdir().unwrap();
    let config = site_config(dir.path(), None);
    let log = |systemd: bool| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_aisle"));
        cmd.args(["run", "--config"])
            .arg(&config)
            .args(["--fps", "2", "--max-seconds", "2"])
            .env("AISLE_LOG", "info")
            .env_remove("JOURNAL_STREAM")
            .env_remove("INVOCATION_ID");
        if systemd {
            cmd.env("INVOCATION_ID", "0123456789abcdef0123456789abcdef");
        }
        let o = cmd.output().expect("aisle runs");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stderr).unwrap()
    };
    let journal = log(true);
    assert!(!journal.is_empty());
    for line in journal.lines() {
        assert!(
            ["<3>", "<4>", "<6>", "<7>"]
                .iter()
                .any(|p| line.starts_with(p)),
            "no priority prefix: {line:?}"
        );
        assert!(!line.contains("\u{1b}["), "no colour: {line:?}");
        assert!(!line.contains("Z  INFO"), "no timestamp: {line:?}");
    }
    assert!(
        journal.contains("<6> INFO aisle::run: camera done"),
        "{journal}"
    );
    // Elsewhere: the usual timestamped lines.
    let plain = log(false);
    assert!(plain.lines().all(|l| l.starts_with("20")), "{plain}");
}
