//! The daemon side of `aisle run` under systemd: readiness and status notifications, the
//! watchdog, and the signals that stop it or reload its configuration.
//!
//! - Notifications follow `sd_notify(3)`: one datagram per message on the `AF_UNIX` socket named
//!   by `NOTIFY_SOCKET` (a path, or `@name` for an abstract socket). Without `NOTIFY_SOCKET`
//!   nothing is sent. Messages: `READY=1` once every camera has opened its source and loaded its
//!   models and the MQTT link is set up; `STATUS=<text>` when the camera states change;
//!   `STOPPING=1` on SIGTERM/SIGINT; `WATCHDOG=1` (below).
//! - The watchdog (`sd_watchdog_enabled(3)`): with `WATCHDOG_USEC` set (and `WATCHDOG_PID`
//!   unset or this process's pid), `WATCHDOG=1` is sent every `WATCHDOG_USEC / 2`, but only
//!   when every camera that is still running has advanced since the previous check. Each
//!   camera thread bumps its [`Beat`] once per iteration of its frame loop (a frame read, a
//!   frame analysed, a wait for a frame's time or for a reconnecting camera's next frame): a
//!   thread stuck inside decode, inference, tracking or analytics stops its beat, the pings
//!   stop, and systemd restarts the service. A camera whose ingest is reconnecting counts as
//!   alive while its reconnect state machine is in a connecting / backing-off / waiting state
//!   (each bounded by its own timeouts); a camera that has ended (end of file, error) no
//!   longer counts. Inference runs on each camera's thread, so its beat covers the inference
//!   loop too. Before `READY=1` (models loading, TensorRT engines building) the pings are sent
//!   unconditionally: `TimeoutStartSec=` bounds the start-up instead.
//! - Signals (`signal_hook::flag`: the handlers only set atomic flags; this module's thread
//!   acts on them every 100 ms): SIGTERM and SIGINT ask every camera to stop at its next frame
//!   boundary (`aisle run` then closes the open windows, flushes the MQTT spool and publishes
//!   the retained `stopped` status); a second SIGINT ends the process at once (Ctrl-C twice).
//!   SIGHUP reloads the configuration file through [`supervisor::reload_file`], the same
//!   checks as the MQTT `config/set` command.

use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aisle_config::Config;
use aisle_fleet::payload::CameraState;
use anyhow::{Context, Result};

use crate::health::Board;
use crate::supervisor::{self, Shared};

/// The `sd_notify` socket of `NOTIFY_SOCKET`, or nothing.
#[derive(Debug)]
pub struct Notifier {
    target: Option<(UnixDatagram, SocketAddr, String)>,
}

impl Notifier {
    /// From `NOTIFY_SOCKET`; a value that cannot be used is logged and notifications are off.
    pub fn from_env() -> Self {
        let Some(value) = std::env::var_os("NOTIFY_SOCKET") else {
            return Self { target: None };
        };
        let name = value.to_string_lossy().into_owned();
        match Self::open(&name) {
            Ok(target) => Self {
                target: Some(target),
            },
            Err(e) => {
                tracing::warn!("NOTIFY_SOCKET={name:?}: {e:#}; no systemd notifications");
                Self { target: None }
            }
        }
    }

    fn open(name: &str) -> Result<(UnixDatagram, SocketAddr, String)> {
        let addr = if let Some(abstract_name) = name.strip_prefix('@') {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(abstract_name.as_bytes())
                .context("not a usable abstract socket name")?
        } else if name.starts_with('/') {
            SocketAddr::from_pathname(name).context("not a usable socket path")?
        } else {
            anyhow::bail!("neither an absolute path nor an abstract name (@...)");
        };
        let sock = UnixDatagram::unbound().context("cannot create a datagram socket")?;
        Ok((sock, addr, name.to_string()))
    }

    /// Whether notifications are sent at all.
    pub fn enabled(&self) -> bool {
        self.target.is_some()
    }

    /// Sends `state` (`READY=1`, `STATUS=...`, newline-separated assignments); failures are
    /// logged, never fatal.
    pub fn notify(&self, state: &str) {
        if let Some((sock, addr, name)) = &self.target {
            if let Err(e) = sock.send_to_addr(state.as_bytes(), addr) {
                tracing::debug!("sd_notify {state:?} to {name}: {e}");
            }
        }
    }
}

/// The watchdog interval systemd asked for: half of `WATCHDOG_USEC`, when `WATCHDOG_PID` is
/// unset or names this process. Errors name the variable and its value.
pub fn watchdog_interval(
    usec: Option<&str>,
    pid: Option<&str>,
    own_pid: u32,
) -> Result<Option<Duration>> {
    let Some(usec) = usec else {
        return Ok(None);
    };
    if let Some(pid) = pid {
        let pid: u32 = pid
            .trim()
            .parse()
            .with_context(|| format!("WATCHDOG_PID={pid:?} is not a process id"))?;
        if pid != own_pid {
            return Ok(None); // meant for another process (e.g. a wrapper's child)
        }
    }
    let us: u64 = usec
        .trim()
        .parse()
        .ok()
        .filter(|&us| us > 0)
        .with_context(|| {
            format!("WATCHDOG_USEC={usec:?} is not a positive number of microseconds")
        })?;
    Ok(Some(Duration::from_micros(us / 2)))
}

/// One camera's heartbeat: bumped by its thread once per iteration of its frame loop.
#[derive(Debug, Default)]
pub struct Beat {
    beats: AtomicU64,
    ready: AtomicBool,
    ended: AtomicBool,
}

impl Beat {
    /// The camera's loop advanced.
    pub fn beat(&self) {
        self.beats.fetch_add(1, Ordering::Relaxed);
    }

    /// Source open, models loaded: the camera is about to read frames.
    pub fn ready(&self) {
        self.ready.store(true, Ordering::Release);
        self.beat();
    }

    /// The camera's thread is done (end of its video, a stop, or an error).
    pub fn ended(&self) {
        self.ended.store(true, Ordering::Release);
    }

    fn snapshot(&self) -> BeatSnapshot {
        BeatSnapshot {
            beats: self.beats.load(Ordering::Relaxed),
            ended: self.ended.load(Ordering::Acquire),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BeatSnapshot {
    beats: u64,
    ended: bool,
}

/// The heartbeats of every camera of the run.
#[derive(Debug)]
pub struct Heartbeats {
    cameras: Vec<(String, Beat)>,
}

impl Heartbeats {
    pub fn new(ids: &[String]) -> Self {
        Self {
            cameras: ids.iter().map(|id| (id.clone(), Beat::default())).collect(),
        }
    }

    /// Camera `id`'s beat (`None` for an id that is not one of the run's cameras).
    pub fn of(&self, id: &str) -> Option<&Beat> {
        self.cameras.iter().find(|(c, _)| c == id).map(|(_, b)| b)
    }

    /// Every camera is ready or has ended.
    fn all_started(&self) -> bool {
        self.cameras
            .iter()
            .all(|(_, b)| b.ready.load(Ordering::Acquire) || b.ended.load(Ordering::Acquire))
    }

    fn snapshot(&self) -> Vec<BeatSnapshot> {
        self.cameras.iter().map(|(_, b)| b.snapshot()).collect()
    }
}

/// The cameras (indices) that are still running and have not advanced from `before` to `now`.
fn stalled(before: &[BeatSnapshot], now: &[BeatSnapshot]) -> Vec<usize> {
    before
        .iter()
        .zip(now)
        .enumerate()
        .filter(|(_, (b, n))| !n.ended && b.beats == n.beats)
        .map(|(i, _)| i)
        .collect()
}

/// The flags the signal handlers set.
#[derive(Debug, Clone)]
pub struct Signals {
    pub stop: Arc<AtomicBool>,
    pub reload: Arc<AtomicBool>,
}

impl Signals {
    /// Installs the handlers: SIGTERM and SIGINT set `stop` (a second SIGINT terminates at
    /// once), SIGHUP sets `reload`. Call it first thing, so that a signal during start-up is
    /// not fatal.
    pub fn install() -> Result<Self> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        use signal_hook::flag;
        let s = Self {
            stop: Arc::new(AtomicBool::new(false)),
            reload: Arc::new(AtomicBool::new(false)),
        };
        // Registered before the flag handler: runs first, and only once `stop` is already set.
        flag::register_conditional_shutdown(SIGINT, 130, Arc::clone(&s.stop))
            .context("cannot install the SIGINT handler")?;
        flag::register(SIGINT, Arc::clone(&s.stop)).context("cannot install the SIGINT handler")?;
        flag::register(SIGTERM, Arc::clone(&s.stop))
            .context("cannot install the SIGTERM handler")?;
        flag::register(SIGHUP, Arc::clone(&s.reload))
            .context("cannot install the SIGHUP handler")?;
        Ok(s)
    }
}

/// `STATUS=` text from the camera states: `3 cameras running, 0 reconnecting` plus the
/// starting, ended and failed ones when there are any.
fn status_text(states: &[CameraState]) -> String {
    let count = |s: CameraState| states.iter().filter(|&&x| x == s).count();
    let plural = |n: usize| if n == 1 { "camera" } else { "cameras" };
    let running = count(CameraState::Running);
    let mut text = format!(
        "{running} {} running, {} reconnecting",
        plural(running),
        count(CameraState::Reconnecting)
    );
    for (state, word) in [
        (CameraState::Starting, "starting"),
        (CameraState::Failed, "failed"),
        (CameraState::Ended, "ended"),
    ] {
        let n = count(state);
        if n > 0 {
            text.push_str(&format!(", {n} {word}"));
        }
    }
    text
}

/// What the daemon thread works with.
pub struct Daemon<'a> {
    pub notifier: &'a Notifier,
    pub watchdog: Option<Duration>,
    pub signals: &'a Signals,
    pub shared: &'a Shared,
    pub board: &'a Board,
    pub heartbeats: &'a Heartbeats,
    pub path: &'a Path,
    pub link: Option<&'a aisle_fleet::LinkHandle>,
    pub cameras: &'a [String],
    /// Applies the command line's changes (`--embedded-broker`) to a reloaded file.
    pub adjust: &'a (dyn Fn(&mut Config) -> Result<()> + Sync),
}

impl Daemon<'_> {
    /// Runs until every camera is done ([`Shared::finish`]).
    pub fn run(&self) {
        let tick = Duration::from_millis(100);
        let mut ready = false;
        let mut stopping = false;
        let mut status = String::new();
        let mut next_ping = self.watchdog.map(|i| Instant::now() + i);
        let mut last = self.heartbeats.snapshot();
        let mut reported_stall = false;
        while !self.shared.finished() {
            if self.signals.stop.load(Ordering::Acquire) && !stopping {
                stopping = true;
                tracing::info!("stop requested (SIGTERM/SIGINT): every camera stops at its next frame, closes its windows, and the MQTT spool is flushed");
                self.notifier.notify(
                    "STOPPING=1\nSTATUS=stopping: closing windows, flushing the MQTT spool",
                );
                self.shared.request_stop();
            }
            if self.signals.reload.swap(false, Ordering::AcqRel) && !stopping {
                tracing::info!("SIGHUP: reloading {}", self.path.display());
                supervisor::reload_file(
                    self.shared,
                    self.path,
                    self.link,
                    self.cameras,
                    self.adjust,
                );
            }
            if !ready && !stopping && self.heartbeats.all_started() {
                ready = true;
                last = self.heartbeats.snapshot();
                status = status_text(&self.board.states());
                tracing::info!("ready: {status}");
                self.notifier.notify(&format!("READY=1\nSTATUS={status}"));
            }
            if ready && !stopping {
                let now = status_text(&self.board.states());
                if now != status {
                    status = now;
                    self.notifier.notify(&format!("STATUS={status}"));
                }
            }
            if let (Some(at), Some(interval)) = (next_ping, self.watchdog) {
                if Instant::now() >= at && !stopping {
                    next_ping = Some(Instant::now() + interval);
                    let now = self.heartbeats.snapshot();
                    let stuck = if ready {
                        stalled(&last, &now)
                    } else {
                        Vec::new()
                    };
                    last = now;
                    if stuck.is_empty() {
                        reported_stall = false;
                        self.notifier.notify("WATCHDOG=1");
                    } else if !reported_stall {
                        reported_stall = true;
                        let names: Vec<&str> = stuck
                            .iter()
                            .map(|&i| self.heartbeats.cameras[i].0.as_str())
                            .collect();
                        tracing::error!(
                            "camera(s) {} made no progress in {:.1} s (a stage is stuck): watchdog pings withheld, systemd will restart the service",
                            names.join(", "),
                            interval.as_secs_f64()
                        );
                    }
                }
            }
            std::thread::sleep(tick);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watchdog_settings() {
        assert_eq!(watchdog_interval(None, None, 7).unwrap(), None);
        assert_eq!(
            watchdog_interval(Some("30000000"), None, 7).unwrap(),
            Some(Duration::from_secs(15))
        );
        assert_eq!(
            watchdog_interval(Some("1000000"), Some("7"), 7).unwrap(),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            watchdog_interval(Some("1000000"), Some("8"), 7).unwrap(),
            None
        );
        let e = watchdog_interval(Some("soon"), None, 7)
            .unwrap_err()
            .to_string();
        assert!(e.contains("WATCHDOG_USEC") && e.contains("soon"), "{e}");
        assert!(watchdog_interval(Some("0"), None, 7).is_err());
        let e = watchdog_interval(Some("1"), Some("x"), 7)
            .unwrap_err()
            .to_string();
        assert!(e.contains("WATCHDOG_PID"), "{e}");
    }

    #[test]
    fn a_camera_that_did_not_advance_is_stalled_unless_it_ended() {
        let h = Heartbeats::new(&["a".into(), "b".into(), "c".into()]);
        let before = h.snapshot();
        h.of("a").unwrap().beat();
        h.of("c").unwrap().ended();
        assert_eq!(stalled(&before, &h.snapshot()), vec![1]);
        h.of("b").unwrap().beat();
        assert!(stalled(&before, &h.snapshot()).is_empty());
        assert!(h.of("zz").is_none());
        assert!(!h.all_started());
        h.of("a").unwrap().ready();
        h.of("b").unwrap().ready();
        assert!(h.all_started());
    }

    #[test]
    fn status_lines() {
        use CameraState::*;
        assert_eq!(
            status_text(&[Running, Running, Reconnecting]),
            "2 cameras running, 1 reconnecting"
        );
        assert_eq!(
            status_text(&[Running, Failed, Starting]),
            "1 camera running, 0 reconnecting, 1 starting, 1 failed"
        );
    }

    #[test]
    fn notifications_reach_a_path_and_an_abstract_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let server = UnixDatagram::bind(&path).unwrap();
        let (sock, addr, _) = Notifier::open(path.to_str().unwrap()).unwrap();
        let n = Notifier {
            target: Some((sock, addr, "t".into())),
        };
        n.notify("READY=1");
        let mut buf = [0u8; 64];
        let len = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"READY=1");

        use std::os::linux::net::SocketAddrExt;
        let name = format!("aisle-test-{}", std::process::id());
        let server =
            UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap())
                .unwrap();
        let (sock, addr, _) = Notifier::open(&format!("@{name}")).unwrap();
        let n = Notifier {
            target: Some((sock, addr, "t".into())),
        };
        n.notify("WATCHDOG=1");
        let len = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"WATCHDOG=1");
        assert!(Notifier::open("relative/path").is_err());
        // Without a socket nothing is sent, and nothing fails.
        Notifier { target: None }.notify("READY=1");
    }
}
