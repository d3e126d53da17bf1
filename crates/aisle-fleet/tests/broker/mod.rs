//! A real `mosquitto` per test on a free loopback port, and a subscriber that records what it
//! receives. The broker must be installed (`scripts/setup.sh` installs Debian's `mosquitto`):
//! the tests fail, not skip, without it.
#![allow(dead_code)] // each test binary uses a different subset

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use rumqttc::v5::mqttbytes::v5::{ConnectProperties, Filter, Packet, Publish};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{Client, Event, MqttOptions};

/// How long any wait in these tests may take before it fails.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// Polls `cond` every 10 ms until it holds; panics with `what` after [`TIMEOUT`].
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn mosquitto_binary() -> PathBuf {
    let candidates = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")]);
    for dir in candidates {
        let bin = dir.join("mosquitto");
        if bin.is_file() {
            return bin;
        }
    }
    panic!(
        "the MQTT tests need the `mosquitto` broker, which is not installed: run scripts/setup.sh \
         (as root; it installs Debian's mosquitto and mosquitto-clients)"
    );
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral loopback port")
        .port()
}

/// TLS on the broker's listener: its certificate and key, the CA its clients' certificates
/// must come from, and whether a client certificate is required (mutual TLS).
#[derive(Debug, Clone)]
pub struct BrokerTls {
    pub ca_file: PathBuf,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub require_certificate: bool,
}

/// How a broker is set up beyond its port: TLS, and users (then anonymous clients are refused).
#[derive(Debug, Clone, Default)]
pub struct BrokerOptions {
    pub tls: Option<BrokerTls>,
    /// User names and passwords (`mosquitto_passwd -b`); empty: anonymous clients allowed.
    pub users: Vec<(String, String)>,
}

/// A running mosquitto; killed on drop.
pub struct Mosquitto {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
    persistent: bool,
    options: BrokerOptions,
}

impl Mosquitto {
    /// A broker on a free port, without persistence.
    pub fn start() -> Self {
        Self::start_on(free_port(), false)
    }

    /// A broker on `port`. `persistent`: sessions, subscriptions and queued messages survive a
    /// [`Mosquitto::stop`] and restart (saved in the broker's own temporary directory).
    pub fn start_on(port: u16, persistent: bool) -> Self {
        Self::start_with(port, persistent, BrokerOptions::default())
    }

    /// A broker on a free port with `options` (TLS, users), without persistence.
    pub fn start_secured(options: BrokerOptions) -> Self {
        Self::start_with(free_port(), false, options)
    }

    fn start_with(port: u16, persistent: bool, options: BrokerOptions) -> Self {
        let dir = tempfile::tempdir().expect("broker dir");
        let mut broker = Self {
            child: None,
            port,
            dir,
            persistent,
            options,
        };
        broker.restart();
        broker
    }

    /// Starts the (stopped) broker again on the same port and with the same state directory.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "broker already running");
        let conf = self.dir.path().join("mosquitto.conf");
        let mut text = format!(
            "listener {} 127.0.0.1\nuser root\nlog_dest stderr\nlog_type error\n",
            self.port
        );
        if let Some(tls) = &self.options.tls {
            text.push_str(&format!(
                "cafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate {}\n",
                tls.ca_file.display(),
                tls.cert_file.display(),
                tls.key_file.display(),
                tls.require_certificate
            ));
        }
        if self.options.users.is_empty() {
            text.push_str("allow_anonymous true\n");
        } else {
            let passwd = self.dir.path().join("passwd");
            for (k, (user, pass)) in self.options.users.iter().enumerate() {
                let mut cmd = Command::new("mosquitto_passwd");
                if k == 0 {
                    cmd.arg("-c");
                }
                let st = cmd
                    .arg("-b")
                    .arg(&passwd)
                    .args([user, pass])
                    .stdout(Stdio::null())
                    .status()
                    .expect("mosquitto_passwd (Debian's mosquitto package) runs");
                assert!(st.success(), "mosquitto_passwd failed: {st}");
            }
            text.push_str(&format!(
                "allow_anonymous false\npassword_file {}\n",
                passwd.display()
            ));
        }
        // `user root`: a broker started as root keeps root (otherwise it becomes `mosquitto`
        // and cannot write its persistence file into our temporary directory); no effect when
        // started as another user.
        if self.persistent {
            text.push_str(&format!(
                "persistence true\npersistence_location {}/\n",
                self.dir.path().display()
            ));
        } else {
            text.push_str("persistence false\n");
        }
        std::fs::write(&conf, text).expect("write mosquitto.conf");
        let child = Command::new(mosquitto_binary())
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn mosquitto");
        self.child = Some(child);
        let port = self.port;
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().expect("try_wait") {
                panic!("mosquitto exited at start ({status}); port {port} taken?");
            }
            assert!(
                Instant::now() < deadline,
                "mosquitto did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops the broker (SIGTERM, so a persistent one saves its state) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = child.id().to_string();
            let _ = Command::new("kill").args(["-TERM", &pid]).status();
            let _ = child.wait();
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A subscriber on `filter` (subscribed with QoS 2, so a message arrives with the QoS it was
/// published with, and retain-as-published, so the retain flag is the publisher's).
pub struct Subscriber {
    _client: Client,
    rx: mpsc::Receiver<Publish>,
    /// Everything received so far.
    pub seen: Vec<Publish>,
    closed: Arc<AtomicBool>,
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::Relaxed);
    }
}

impl Subscriber {
    /// Connects (retrying until [`TIMEOUT`]) and waits for the SUBACK. `session`: a client id
    /// with a persistent session (clean start off, one hour expiry) that is resumed after a
    /// broker restart.
    pub fn connect(port: u16, filter: &str, session: Option<&str>) -> Self {
        let id = session.map_or_else(|| format!("test-sub-{}", free_port()), str::to_string);
        let mut opts = MqttOptions::new(id, "127.0.0.1", port);
        if session.is_some() {
            opts.set_clean_start(false);
            opts.set_connect_properties(ConnectProperties::new());
            opts.set_session_expiry_interval(Some(3600));
        }
        Self::connect_with(opts, filter)
    }

    /// A subscriber with the client options `opts` (e.g. TLS and credentials).
    pub fn connect_with(mut opts: MqttOptions, filter: &str) -> Self {
        opts.set_keep_alive(Duration::from_secs(5));
        let (client, mut conn) = Client::new(opts, 16);
        let mut f = Filter::new(filter, QoS::ExactlyOnce);
        f.preserve_retain = true;
        client.subscribe_many([f]).expect("queue subscribe");
        let (tx, rx) = mpsc::channel();
        let (subacked_tx, subacked_rx) = mpsc::channel();
        let closed = Arc::new(AtomicBool::new(false));
        let closed_in_thread = Arc::clone(&closed);
        std::thread::spawn(move || loop {
            match conn.recv() {
                Ok(Ok(Event::Incoming(Packet::Publish(p)))) => {
                    if tx.send(p).is_err() {
                        return;
                    }
                }
                Ok(Ok(Event::Incoming(Packet::SubAck(_)))) => {
                    let _ = subacked_tx.send(());
                }
                Ok(Ok(_)) => {}
                // Broker down: retry (bounded by the test's own timeouts and its end).
                Ok(Err(_)) => {
                    if closed_in_thread.load(Ordering::Relaxed) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(_) => return,
            }
        });
        subacked_rx
            .recv_timeout(TIMEOUT)
            .expect("SUBACK from the broker");
        Self {
            _client: client,
            rx,
            seen: Vec::new(),
            closed,
        }
    }

    /// Waits for the next message matching `pred` (keeping every message in `seen`).
    pub fn wait_for(&mut self, what: &str, pred: impl FnMut(&Publish) -> bool) -> Publish {
        self.wait_for_within(what, TIMEOUT, pred)
    }

    /// [`wait_for`](Self::wait_for) with its own time limit.
    pub fn wait_for_within(
        &mut self,
        what: &str,
        limit: Duration,
        mut pred: impl FnMut(&Publish) -> bool,
    ) -> Publish {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(p) => {
                    self.seen.push(p.clone());
                    if pred(&p) {
                        return p;
                    }
                }
                Err(_) => panic!(
                    "timed out waiting for {what}; received: {:#?}",
                    self.seen.iter().map(describe).collect::<Vec<_>>()
                ),
            }
        }
    }
}

pub fn topic(p: &Publish) -> &str {
    std::str::from_utf8(&p.topic).expect("UTF-8 topic")
}

pub fn json(p: &Publish) -> serde_json::Value {
    serde_json::from_slice(&p.payload).expect("JSON payload")
}

fn describe(p: &Publish) -> String {
    format!(
        "{} qos={:?} retain={} {}",
        topic(p),
        p.qos,
        p.retain,
        String::from_utf8_lossy(&p.payload)
    )
}
