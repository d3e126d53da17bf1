//! `aisle run`: the whole pipeline on the cameras of the config, metric records out.
//!
//! Per camera (one thread each): frames from the camera (`rtsp://`, through the same resilient
//! ingest as `aisle detect`) or from a video file, `--fps` of them per second chosen evenly by
//! timestamp -> person detector (kept down to the tracker's `low_score`, which its second
//! association stage needs) -> appearance descriptors -> tracker -> the confirmed tracks matched
//! in the frame -> `aisle_analytics::CameraAnalytics` -> one JSON line per metric record on
//! standard output as each window closes. At the end of a file (or of `--max-seconds`) the open
//! windows are closed as partial ones.
//!
//! Wall clock of the windows: for a camera, the wall-clock time of its first frame less that
//! frame's media time; for a file, `--start` (default: now) is media time 0, so that a fixed
//! `--start` gives the same records on every run. `--realtime` paces a file at its own frame
//! rate (as a camera would deliver it), `--loop` plays it again and again with media time going
//! on (demos, soak tests).
//!
//! With `[mqtt]`, the MQTT link takes commands (`crate::supervisor`): the configuration lives
//! behind a shared handle; each camera checks it between frames and rebuilds its analytics
//! when its zones, lines or `[analytics]` changed; `restart` ends the run with
//! [`supervisor::RESTART_EXIT_CODE`].
//!
//! As a daemon (`crate::daemon`, one thread beside the cameras): `sd_notify` READY once every
//! camera has loaded its models and opened its source, STATUS with the camera states, WATCHDOG
//! pings gated on every camera's heartbeat, SIGTERM/SIGINT stop every camera at its next frame
//! (windows closed as at the end of a file, spool flushed, `stopped`, exit 0), SIGHUP reloads
//! the config file through the `config/set` checks.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use crate::daemon;
use crate::health::{Board, LivePublisher, Stage};
use crate::supervisor::{self, Shared};
use aisle_analytics::{AnalyticsError, CameraAnalytics, TrackPoint};
use aisle_config::{CameraConfig, Config};
use aisle_fleet::embedded::EmbeddedBroker;
use aisle_track::{Tracker, TrackerConfig};
use aisle_types::metrics::MetricRecord;
use aisle_types::{MediaTime, Nv12Frame};
use aisle_video::camera::{unix_ms, CameraIngest, IngestOptions, RateDecimator, SystemClock};
use aisle_video::{redact_url, RtspCredentials, RtspOptions, RtspTransport, VideoFile};
use aisle_vision::{AppearanceExtractor, Detector, StageTimes};
use anyhow::{bail, Context, Result};
use clap::Args;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Only this camera of the config (repeatable; default: every `[[cameras]]` entry).
    #[arg(long = "camera", value_name = "ID")]
    cameras: Vec<String>,
    /// Frames analysed per second of video (evenly chosen by timestamp).
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=60))]
    fps: u32,
    /// Wall-clock time of the start of video files (media time 0), RFC 3339
    /// (`2026-01-01T09:00:00Z`) or `now` (default). Cameras use the real clock.
    #[arg(long, value_name = "RFC3339|now")]
    start: Option<String>,
    /// Stop each camera after this many seconds of video (from its first frame).
    #[arg(long, value_name = "S")]
    max_seconds: Option<f64>,
    /// Video files: analyse frames no faster than their timestamps (as a camera delivers them).
    #[arg(long)]
    realtime: bool,
    /// Video files: start again at the end, media time going on (until `--max-seconds`, a
    /// `restart` command, SIGTERM or Ctrl-C).
    #[arg(long = "loop")]
    loop_files: bool,
    /// Publish to an MQTT broker started inside this process on 127.0.0.1:PORT (default 1883),
    /// as site `demo`, device `demo`, when the config has no `[mqtt]` section (with one, it
    /// must say `broker = "embedded"`). Watch it with `aisle watch`.
    #[arg(long, value_name = "PORT", num_args = 0..=1, default_missing_value = "1883")]
    embedded_broker: Option<u16>,
}

/// What one camera did, for the closing log line.
#[derive(Debug, Default)]
struct CameraSummary {
    frames: u64,
    decoded: u64,
    decode_errors: u64,
    tracks: usize,
    records: u64,
    wall_s: f64,
}

pub fn run(config_path: Option<&Path>, args: &RunArgs) -> Result<ExitCode> {
    process_start();
    // First: a SIGHUP or SIGTERM during start-up must not kill the process (crate::daemon).
    let signals = daemon::Signals::install()?;
    let notifier = daemon::Notifier::from_env();
    let watchdog = daemon::watchdog_interval(
        std::env::var("WATCHDOG_USEC").ok().as_deref(),
        std::env::var("WATCHDOG_PID").ok().as_deref(),
        std::process::id(),
    )
    .unwrap_or_else(|e| {
        tracing::error!("{e:#}: no watchdog pings");
        None
    });
    if let (Some(interval), false) = (watchdog, notifier.enabled()) {
        tracing::warn!(
            "WATCHDOG_USEC is set but NOTIFY_SOCKET is not: the {:.1} s watchdog pings go nowhere",
            interval.as_secs_f64()
        );
    }
    let Some(path) = config_path else {
        bail!("aisle run needs --config FILE (with [[cameras]], [[zones]] and [[lines]])");
    };
    let mut config = crate::pipeline::load_config(Some(path))?;
    if let Some(port) = args.embedded_broker {
        use_embedded_broker(&mut config, path, port)?;
    }
    if let Some(s) = args.max_seconds {
        if !(s.is_finite() && s > 0.0) {
            bail!("--max-seconds {s} must be a positive number of seconds");
        }
    }
    let start_ms = match &args.start {
        Some(s) => parse_start(s)?,
        None => unix_ms(SystemTime::now()),
    };
    let cameras = select_cameras(&config, path, &args.cameras)?;
    // Every camera's zones and lines are checked before any model is loaded or video opened
    // (the frame size only scales normalised coordinates: a nominal one does for the check).
    for cam in &cameras {
        new_analytics(&config, path, &cam.id, 1920, 1080, 0)?;
    }
    let tracker = crate::pipeline::tracker_config(&config);
    let (link, commands, broker) = match open_link(&config)? {
        (Some((link, queue)), broker) => (Some(link), Some(queue), broker),
        (None, broker) => (None, None, broker),
    };
    let out = Arc::new(Sink {
        out: Mutex::new(std::io::stdout()),
        link,
    });
    let cameras: Vec<CameraConfig> = cameras.into_iter().cloned().collect();
    let camera_ids: Vec<String> = cameras.iter().map(|c| c.id.clone()).collect();
    let shared = Shared::new(config.clone());
    let board = Board::new(&camera_ids, env!("CARGO_PKG_VERSION"));
    let heartbeats = daemon::Heartbeats::new(&camera_ids);
    let unknown_beat = daemon::Beat::default();
    let adjust = |c: &mut Config| -> Result<()> {
        match args.embedded_broker {
            Some(port) => use_embedded_broker(c, path, port),
            None => Ok(()),
        }
    };
    let results: Vec<(String, Result<CameraSummary>)> = std::thread::scope(|s| {
        // The health reporter: every mqtt.health_interval_s while the cameras run.
        let reporter = match (out.link.as_ref(), config.mqtt.as_ref()) {
            (Some(link), Some(m)) => {
                let board = &board;
                let interval = std::time::Duration::from_secs(u64::from(m.health_interval_s));
                let max = m.spool_max_bytes;
                std::thread::Builder::new()
                    .name("aisle-health".into())
                    .spawn_scoped(s, move || board.report_every(link, interval, max))
                    .map_err(|e| tracing::error!("cannot start the health thread: {e}"))
                    .ok()
            }
            _ => None,
        };
        // The command thread: config/set, zones/set and restart from the MQTT link.
        let commander = match (commands, out.link.as_ref()) {
            (Some(queue), Some(link)) => {
                let (shared, ids) = (&shared, &camera_ids);
                std::thread::Builder::new()
                    .name("aisle-commands".into())
                    .spawn_scoped(s, move || {
                        supervisor::supervise(queue, shared, path, link, ids)
                    })
                    .map_err(|e| tracing::error!("cannot start the command thread: {e}"))
                    .ok()
            }
            _ => None,
        };
        // sd_notify (READY, STATUS, STOPPING, WATCHDOG) and the signals (stop, reload).
        let daemon = {
            let d = daemon::Daemon {
                notifier: &notifier,
                watchdog,
                signals: &signals,
                shared: &shared,
                board: &board,
                heartbeats: &heartbeats,
                path,
                link: out.link.as_ref(),
                cameras: &camera_ids,
                adjust: &adjust,
            };
            std::thread::Builder::new()
                .name("aisle-daemon".into())
                .spawn_scoped(s, move || d.run())
                .map_err(|e| tracing::error!("cannot start the daemon thread: {e}"))
                .ok()
        };
        let handles: Vec<_> = cameras
            .iter()
            .map(|cam| {
                let (shared, out, board) = (&shared, Arc::clone(&out), &board);
                let beat = heartbeats.of(&cam.id).unwrap_or(&unknown_beat);
                let id = cam.id.clone();
                let handle = std::thread::Builder::new()
                    .name(format!("camera-{id}"))
                    .spawn_scoped(s, move || {
                        let r = run_camera(
                            shared, path, cam, args, start_ms, tracker, &out, board, beat,
                        );
                        beat.ended();
                        board.update(&cam.id, |c| match &r {
                            Ok(_) => c.state = aisle_fleet::payload::CameraState::Ended,
                            Err(e) => {
                                c.state = aisle_fleet::payload::CameraState::Failed;
                                c.error = Some(format!("{e:#}"));
                            }
                        });
                        r
                    });
                (id, handle)
            })
            .collect();
        let results = handles
            .into_iter()
            .map(|(id, h)| {
                let r = match h {
                    Ok(h) => h
                        .join()
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("its thread panicked"))),
                    Err(e) => Err(anyhow::Error::new(e).context("cannot start a thread")),
                };
                (id, r)
            })
            .collect();
        shared.finish();
        if let Some(c) = commander {
            let _ = c.join();
        }
        if let Some(d) = daemon {
            let _ = d.join();
        }
        board.finish();
        if let Some(r) = reporter {
            let _ = r.join();
        }
        results
    });
    // Every camera is done: let the link deliver what is spooled, then say `stopped`.
    if let Some(link) = Arc::into_inner(out).and_then(|sink| sink.link) {
        close_link(link);
    }
    if let Some(broker) = broker {
        broker.close();
    }
    let mut failed = None;
    let mut decode_errors = 0;
    for (id, r) in results {
        match r {
            Ok(s) => {
                tracing::info!(
                    camera = %id,
                    frames = s.frames,
                    decoded = s.decoded,
                    fps = format!("{:.1}", s.frames as f64 / s.wall_s.max(1e-9)),
                    tracks = s.tracks,
                    records = s.records,
                    "camera done: {} frames analysed in {:.1} s ({:.1} fps), {} tracks, {} records",
                    s.frames,
                    s.wall_s,
                    s.frames as f64 / s.wall_s.max(1e-9),
                    s.tracks,
                    s.records,
                );
                decode_errors += s.decode_errors;
            }
            Err(e) => {
                if failed.is_none() {
                    failed = Some(e.context(format!("camera `{id}`")));
                } else {
                    tracing::error!(camera = %id, "{e:#}");
                }
            }
        }
    }
    if let Some(e) = failed {
        return Err(e);
    }
    if shared.restart_requested() {
        tracing::warn!(
            "exiting with status {} for a restart (requested over MQTT)",
            supervisor::RESTART_EXIT_CODE
        );
        return Ok(ExitCode::from(supervisor::RESTART_EXIT_CODE));
    }
    if decode_errors > 0 {
        tracing::warn!("{decode_errors} decoding error(s): see the warnings above");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// `--embedded-broker PORT`: `[mqtt]` becomes the embedded broker on `port` (site and device
/// `demo`) when the config has none; a config that names another broker is an error.
fn use_embedded_broker(config: &mut Config, path: &Path, port: u16) -> Result<()> {
    if port == 0 {
        bail!("--embedded-broker 0: the port must be in 1..=65535");
    }
    match &mut config.mqtt {
        None => {
            config.mqtt = Some(aisle_config::MqttConfig::embedded("demo", "demo", port));
        }
        Some(m) if m.is_embedded() => m.embedded_port = Some(port),
        Some(m) => bail!(
            "--embedded-broker: {} already publishes to mqtt.broker = {:?}; remove the flag or set broker = \"embedded\"",
            path.display(),
            m.broker
        ),
    }
    Ok(())
}

/// The cameras to run: `wanted` ones (in config order) or all; errors name the config file.
fn select_cameras<'c>(
    config: &'c Config,
    path: &Path,
    wanted: &[String],
) -> Result<Vec<&'c CameraConfig>> {
    if config.cameras.is_empty() {
        bail!(
            "{} has no cameras: add a [[cameras]] entry (id and url: rtsp://... or a video file)",
            path.display()
        );
    }
    for id in wanted {
        if config.camera(id).is_none() {
            let known: Vec<&str> = config.cameras.iter().map(|c| c.id.as_str()).collect();
            bail!(
                "no camera `{id}` in {} (cameras: {})",
                path.display(),
                known.join(", ")
            );
        }
    }
    Ok(config
        .cameras
        .iter()
        .filter(|c| wanted.is_empty() || wanted.contains(&c.id))
        .collect())
}

/// The analytics of `camera`; a setup error names the config file and the bad entry's path.
pub fn new_analytics(
    config: &Config,
    path: &Path,
    camera: &str,
    width: u32,
    height: u32,
    epoch_unix_ms: i64,
) -> Result<CameraAnalytics> {
    let analytics = CameraAnalytics::new(
        camera,
        width,
        height,
        &config.zones,
        &config.lines,
        &config.analytics,
        epoch_unix_ms,
    )
    .with_context(|| format!("config file {}: analytics set-up", path.display()))?;
    let f = &config.faces;
    Ok(if f.enabled() {
        analytics.with_faces(aisle_analytics::FaceSettings {
            emotion: f.emotion,
            attention_cone_deg: f.attention_cone_deg,
        })
    } else {
        analytics
    })
}

/// The MQTT link and the queue of the commands it receives.
type LinkWithCommands = (aisle_fleet::LinkHandle, aisle_fleet::CommandQueue);

/// When the process started (`ping` reports the uptime from it).
fn process_start() -> Instant {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *START.get_or_init(Instant::now)
}

/// The MQTT link of `[mqtt]` (spool opened, connecting in the background) with its command
/// queue, or `None`. With `broker = "embedded"` the embedded broker is started first, on
/// 127.0.0.1 only.
fn open_link(config: &Config) -> Result<(Option<LinkWithCommands>, Option<EmbeddedBroker>)> {
    let started = process_start();
    let Some(link_config) =
        aisle_fleet::LinkConfig::from_config(config, env!("CARGO_PKG_VERSION"))?
    else {
        return Ok((None, None));
    };
    let (Some(m), Some(dir)) = (&config.mqtt, config.spool_dir()) else {
        return Ok((None, None));
    };
    let broker = if m.is_embedded() {
        // Lives until the process exits; the link below connects to it like to any broker.
        let broker = aisle_fleet::embedded::EmbeddedBroker::start(m.embedded_port())?;
        tracing::info!(
            "embedded MQTT broker on {}: `aisle watch --broker mqtt://{}` shows the metrics",
            broker.addr(),
            broker.addr()
        );
        Some(broker)
    } else {
        None
    };
    let (spool, recovery) = aisle_fleet::Spool::open(
        &dir,
        aisle_fleet::SpoolOptions::with_max_bytes(m.spool_max_bytes),
    )
    .with_context(|| format!("opening the MQTT spool {}", dir.display()))?;
    tracing::info!(spool = %dir.display(), ?recovery, "MQTT spool opened");
    let authorizer = aisle_fleet::command::Authorizer::from_config(config)?;
    if authorizer.mode == aisle_config::CommandMode::All && config.commands.token_file.is_none() {
        tracing::warn!("[commands] mode = \"all\" without token_file: anyone who may publish to cmd/# on the broker can reconfigure this device; restrict it with broker ACLs or set commands.token_file");
    }
    let setup = aisle_fleet::CommandSetup {
        authorizer,
        config: aisle_fleet::command::EffectiveConfig::new(config),
        started,
    };
    Ok((
        Some(aisle_fleet::Link::spawn_with_commands(
            link_config,
            spool,
            setup,
        )?),
        broker,
    ))
}

/// How long the end of a run waits for the broker to take what is still spooled.
const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Waits (bounded) until the spool is empty while connected, then shuts the link down (retained
/// `stopped`). What is still spooled stays on disk and is replayed by the next start.
fn close_link(link: aisle_fleet::LinkHandle) {
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    loop {
        let st = link.status();
        if st.spool.entries == 0 || Instant::now() >= deadline {
            if st.spool.entries > 0 {
                tracing::warn!(
                    entries = st.spool.entries,
                    connected = st.connected,
                    "records still spooled at exit; they are published on the next start"
                );
            }
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    link.shutdown();
}

/// Where records go: JSON lines on `out`, and the MQTT link when `[mqtt]` is configured.
pub struct Sink<W> {
    pub out: Mutex<W>,
    pub link: Option<aisle_fleet::LinkHandle>,
}

impl<W: Write> Sink<W> {
    pub fn lines(out: W) -> Self {
        Self {
            out: Mutex::new(out),
            link: None,
        }
    }
}

/// Hands `records` to the MQTT link (when there is one: each is durable in its spool when this
/// returns), then writes them as JSON lines (one write and flush per batch, so that the lines of
/// several cameras never interleave) and clears them.
pub fn emit(sink: &Sink<impl Write>, records: &mut Vec<MetricRecord>) -> Result<u64> {
    if records.is_empty() {
        return Ok(0);
    }
    // Durable in the MQTT spool before anything else (published as soon as the broker takes it).
    if let Some(link) = &sink.link {
        for r in records.iter() {
            link.publish_record(r)
                .with_context(|| format!("record {}: MQTT link", r.header().id))?;
        }
    }
    let out = &sink.out;
    let mut buf = Vec::with_capacity(1024 * records.len());
    for r in records.iter() {
        serde_json::to_writer(&mut buf, r)?;
        buf.push(b'\n');
    }
    let n = records.len() as u64;
    records.clear();
    let mut out = out.lock().unwrap_or_else(|e| e.into_inner());
    out.write_all(&buf)?;
    out.flush()?;
    Ok(n)
}

/// Where a camera's frames come from.
enum Source {
    File(Box<VideoFile>),
    Camera {
        runtime: tokio::runtime::Runtime,
        ingest: CameraIngest,
    },
}

/// The per-frame work shared by files and cameras: detector -> appearance -> tracker ->
/// analytics.
struct Analysis<'a> {
    detector: Detector,
    /// `[faces]` on: the face stage (`None`: no face model is loaded or run).
    faces: Option<crate::faces::FaceStage>,
    extractor: AppearanceExtractor,
    tracker: Tracker,
    analytics: Option<CameraAnalytics>,
    /// The configuration the analytics was built from, and its generation in `shared`.
    config: Arc<Config>,
    generation: u64,
    shared: &'a Shared,
    /// Frame size and epoch of the analytics (to rebuild it on a configuration change).
    geometry: Option<(u32, u32, i64)>,
    path: &'a Path,
    camera: &'a str,
    dets: Vec<aisle_types::Detection>,
    appearance: Vec<aisle_types::Appearance>,
    points: Vec<TrackPoint>,
    records: Vec<MetricRecord>,
    times: StageTimes,
    track_ids: BTreeSet<u32>,
    frames: u64,
    emitted: u64,
    last: Option<MediaTime>,
    /// Health counters of the run, and when the previous frame's analysis ended (the time
    /// from then to the next frame is reading and decoding it).
    board: &'a Board,
    frame_done: Option<Instant>,
    live: LivePublisher,
    /// Test-only fault injection (`AISLE_TEST_FREEZE_AFTER_S`): when the analytics stage of
    /// this camera freezes.
    freeze_at: Option<Instant>,
}

impl Analysis<'_> {
    /// Sets up the analytics for frames of `width` x `height` with media time 0 at
    /// `epoch_unix_ms`.
    fn start_analytics(&mut self, width: u32, height: u32, epoch_unix_ms: i64) -> Result<()> {
        self.analytics = Some(new_analytics(
            &self.config,
            self.path,
            self.camera,
            width,
            height,
            epoch_unix_ms,
        )?);
        self.geometry = Some((width, height, epoch_unix_ms));
        Ok(())
    }

    /// Between frames: when the shared configuration changed and this camera's zones, lines or
    /// `[analytics]` with it, closes the open windows (emitting them) and starts new analytics
    /// on the new layout. A camera whose layout did not change keeps its analytics.
    fn follow_config(&mut self, out: &Sink<impl Write>) -> Result<()> {
        if self.shared.generation() == self.generation {
            return Ok(());
        }
        let (generation, new) = self.shared.snapshot();
        self.generation = generation;
        let same = supervisor::camera_layout(&self.config, self.camera)
            == supervisor::camera_layout(&new, self.camera);
        let old = std::mem::replace(&mut self.config, new);
        if same {
            return Ok(());
        }
        let Some((w, h, epoch)) = self.geometry else {
            return Ok(()); // not set up yet: the first frame sets up from the new config
        };
        let fresh = match new_analytics(&self.config, self.path, self.camera, w, h, epoch) {
            Ok(a) => a,
            Err(e) => {
                // Checked before it was applied; should it still fail, keep counting.
                tracing::error!(camera = self.camera, "{e:#}; keeping the previous zones");
                self.config = old;
                return Ok(());
            }
        };
        if let (Some(a), Some(last)) = (self.analytics.as_mut(), self.last) {
            a.finish(last, &mut self.records);
            self.emitted += emit(out, &mut self.records)?;
        }
        self.analytics = Some(fresh);
        self.live.reset();
        tracing::info!(camera = self.camera, "new zones and lines in effect");
        Ok(())
    }

    fn frame(&mut self, frame: &Nv12Frame, out: &Sink<impl Write>) -> Result<()> {
        let started = Instant::now();
        let decode = self.frame_done.map(|t| started.duration_since(t));
        self.follow_config(out)?;
        self.detector
            .detect_timed(frame, &mut self.dets, &mut self.times)
            .with_context(|| format!("detecting people in frame {}", frame.index))?;
        self.extractor
            .describe_all(frame, &self.dets, &mut self.appearance);
        let tracked = Instant::now();
        let tracks =
            match self
                .tracker
                .update_with_appearance(&self.dets, &self.appearance, frame.pts)
            {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(camera = self.camera, "frame {} skipped: {e}", frame.index);
                    return Ok(());
                }
            };
        self.points.clear();
        for t in tracks.iter().filter(|t| t.is_active()) {
            self.track_ids.insert(t.id.0);
            self.points.push(TrackPoint {
                id: t.id.0,
                bbox: t.bbox,
                first_seen: t.first_seen,
                appearance: t.appearance,
            });
        }
        self.frames += 1;
        self.last = Some(frame.pts);
        let analysed = Instant::now();
        let track = analysed.duration_since(tracked);
        if self.freeze_at.is_some_and(|at| Instant::now() >= at) {
            freeze(self.camera);
        }
        if let Some(analytics) = self.analytics.as_mut() {
            match analytics.update(frame.pts, &self.points, &mut self.records) {
                Ok(()) => {}
                Err(e @ AnalyticsError::TimeWentBack { .. }) => {
                    tracing::warn!(camera = self.camera, "{e}")
                }
                Err(e) => return Err(e.into()),
            }
            if let Some(fs) = self.faces.as_mut() {
                let samples = fs.frame(frame, frame.pts.as_secs_f64(), &self.points, analytics);
                analytics.face_samples(samples);
            }
            if let Some(link) = &out.link {
                self.live.publish(analytics, link);
            }
        }
        let done = Instant::now();
        let times = [
            (Stage::Preprocess, self.times.preprocess),
            (Stage::Infer, self.times.infer),
            (Stage::Postprocess, self.times.postprocess),
            (Stage::Track, track),
            (Stage::Analytics, done.duration_since(analysed)),
        ];
        let people = u32::try_from(self.points.len()).unwrap_or(u32::MAX);
        self.board.update(self.camera, |c| {
            c.analysed(people, &times);
            if let Some(d) = decode {
                c.stage(Stage::Decode, d);
            }
        });
        self.emitted += emit(out, &mut self.records)?;
        self.frame_done = Some(Instant::now());
        Ok(())
    }

    /// Closes the open windows at `end` (not before the last analysed frame).
    fn finish(&mut self, end: Option<MediaTime>, out: &Sink<impl Write>) -> Result<()> {
        let at = match (end, self.last) {
            (Some(e), Some(l)) if e.as_secs_f64() >= l.as_secs_f64() => e,
            (_, Some(l)) => l,
            (Some(e), None) => e,
            (None, None) => return Ok(()),
        };
        if let Some(a) = self.analytics.as_mut() {
            a.finish(at, &mut self.records);
        }
        self.emitted += emit(out, &mut self.records)?;
        Ok(())
    }
}

// The camera's inputs (config, arguments, clock) and outputs (records, health) are distinct;
// bundling them in a struct would only rename them.
#[allow(clippy::too_many_arguments)]
fn run_camera(
    shared: &Shared,
    path: &Path,
    cam: &CameraConfig,
    args: &RunArgs,
    start_ms: i64,
    tracker_cfg: TrackerConfig,
    out: &Sink<impl Write>,
    board: &Board,
    beat: &daemon::Beat,
) -> Result<CameraSummary> {
    let (generation, snapshot) = shared.snapshot();
    let config: &Config = &snapshot;
    let url = crate::pipeline::camera_url(config, &cam.url);
    let source = if cam.is_rtsp() {
        let transport = match cam.transport {
            aisle_config::CameraTransport::Tcp => RtspTransport::Tcp,
            aisle_config::CameraTransport::Udp => RtspTransport::Udp,
        };
        let credentials = config.camera_credentials(cam)?.map(|c| RtspCredentials {
            username: c.username,
            password: c.password,
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        let rtsp = RtspOptions {
            transport,
            credentials,
            ..RtspOptions::new(cam.id.clone(), url.clone())
        };
        let mut opts = IngestOptions::new(rtsp);
        opts.analysis_fps = Some(args.fps);
        let ingest = {
            let _guard = runtime.enter();
            CameraIngest::spawn(opts, Arc::new(SystemClock::new()))?
        };
        tracing::info!(camera = %cam.id, url = %redact_url(&url), "camera over {transport}, {} fps analysed", args.fps);
        Source::Camera { runtime, ingest }
    } else {
        let video = VideoFile::open(&url).with_context(|| format!("opening {url}"))?;
        tracing::info!(
            camera = %cam.id,
            "{url}: {}x{}, {} frames, {} fps analysed",
            video.info().width,
            video.info().height,
            video.info().frame_count.map_or("?".into(), |n| n.to_string()),
            args.fps
        );
        Source::File(Box::new(video))
    };
    if cam.is_rtsp() && (args.loop_files || args.realtime) {
        tracing::warn!(camera = %cam.id, "--loop and --realtime apply to video files only");
    }
    let mut tracker = Tracker::new(tracker_cfg).context("tracker settings (config [tracker])")?;
    if let Source::File(v) = &source {
        tracker.set_frame_size(v.info().width, v.info().height);
    }
    // The tracker's second stage extends tracks with detections down to its `low_score`.
    let threshold = tracker_cfg.low_score.min(config.detector.score_threshold);
    let detector = crate::pipeline::build_detector_with_threshold(config, None, Some(threshold))?;
    let faces = if config.faces.enabled() {
        let (lib, origin) = config.ort_library();
        let rt = aisle_infer::load_onnxruntime(&lib, origin)?;
        let manifest = crate::pipeline::load_manifest(config)?;
        let stage = crate::faces::FaceStage::new(config, rt, &manifest)?;
        tracing::info!(
            camera = %cam.id,
            emotion = config.faces.emotion,
            "faces on: {} face analyses per second",
            config.faces.samples_per_second
        );
        stage
    } else {
        None
    };
    let mut a = Analysis {
        detector,
        faces,
        extractor: AppearanceExtractor::new(),
        tracker,
        analytics: None,
        config: Arc::clone(&snapshot),
        generation,
        shared,
        geometry: None,
        path,
        camera: &cam.id,
        dets: Vec::new(),
        appearance: Vec::new(),
        points: Vec::new(),
        records: Vec::new(),
        times: StageTimes::default(),
        track_ids: BTreeSet::new(),
        frames: 0,
        emitted: 0,
        last: None,
        board,
        frame_done: None,
        live: LivePublisher::default(),
        freeze_at: test_freeze(cam, config)?,
    };
    let started = Instant::now();
    let mut summary = CameraSummary::default();
    let limit = args.max_seconds;
    let mut first_pts: Option<MediaTime> = None;
    let past_limit = |first: MediaTime, t: MediaTime| {
        limit.is_some_and(|s| t.as_secs_f64() - first.as_secs_f64() >= s)
    };
    let mut end = None;
    match source {
        Source::File(mut video) => {
            // Files: the analytics can be set up now (size known, epoch from --start).
            a.start_analytics(video.info().width, video.info().height, start_ms)?;
            beat.ready();
            let mut keep = RateDecimator::new(args.fps);
            // End of the video: the last decoded frame plus one frame interval.
            let mut prev: Option<MediaTime> = None;
            // --loop: media time of the start of this pass; --realtime: wall clock of media 0.
            let mut offset_s = 0.0;
            let mut wall_zero: Option<Instant> = None;
            'passes: loop {
                let mut decoded_this_pass = 0u64;
                for frame in video.frames() {
                    beat.beat();
                    let mut frame = match frame {
                        Ok(f) => f,
                        Err(e) => {
                            tracing::warn!(camera = %cam.id, "{e}");
                            summary.decode_errors += 1;
                            board.update(&cam.id, |c| c.frames_dropped += 1);
                            continue;
                        }
                    };
                    summary.decoded += 1;
                    board.update(&cam.id, |c| c.frames_decoded += 1);
                    decoded_this_pass += 1;
                    if offset_s > 0.0 {
                        frame.pts = add_secs(frame.pts, offset_s);
                    }
                    let first = *first_pts.get_or_insert(frame.pts);
                    if past_limit(first, frame.pts) || shared.stopping() {
                        end = Some(frame.pts);
                        break 'passes;
                    }
                    let step = prev.map(|p| frame.pts.as_secs_f64() - p.as_secs_f64());
                    prev = Some(frame.pts);
                    end = Some(match step.filter(|s| *s > 0.0) {
                        Some(s) => add_secs(frame.pts, s),
                        None => frame.pts,
                    });
                    if !keep.keep(frame.pts) {
                        continue;
                    }
                    if args.realtime {
                        // Wait for the frame's time, in short sleeps that notice a stop.
                        let zero = *wall_zero.get_or_insert_with(Instant::now);
                        let due = frame.pts.as_secs_f64() - first.as_secs_f64();
                        loop {
                            let ahead = due - zero.elapsed().as_secs_f64();
                            if ahead <= 0.0 || shared.stopping() {
                                break;
                            }
                            beat.beat();
                            std::thread::sleep(std::time::Duration::from_secs_f64(ahead.min(0.2)));
                        }
                    }
                    a.frame(&frame, out)?;
                }
                if !args.loop_files || decoded_this_pass == 0 || shared.stopping() {
                    break;
                }
                // The next pass starts where this one ended.
                offset_s = end.map_or(0.0, |e: MediaTime| e.as_secs_f64());
                *video = VideoFile::open(&url).with_context(|| format!("opening {url} again"))?;
                tracing::info!(camera = %cam.id, "{url}: looping at {offset_s:.1} s of media time");
            }
        }
        Source::Camera { runtime, ingest } => {
            beat.ready();
            let mut received = 0;
            loop {
                if shared.stopping() {
                    break;
                }
                // Bounded waits, so that a camera that is down still sees a stop request.
                let next = runtime.block_on(async {
                    tokio::time::timeout(std::time::Duration::from_millis(500), ingest.next_frame())
                        .await
                });
                let st = ingest.stats();
                board.update(&cam.id, |c| camera_counters(c, &st, first_pts.is_some()));
                // Alive: a frame came, the ingest took data, or it is reconnecting (each of its
                // reconnect states ends on its own timeout). Streaming without data is a stall.
                let reconnecting = !matches!(st.state, aisle_video::camera::StateKind::Streaming);
                if matches!(next, Ok(Some(_)))
                    || reconnecting
                    || st.access_units_received != received
                {
                    beat.beat();
                }
                received = st.access_units_received;
                let f = match next {
                    Ok(Some(f)) => f,
                    Ok(None) => break,
                    Err(_) => continue,
                };
                summary.decoded += 1;
                let frame = f.frame;
                let first = match first_pts {
                    Some(p) => p,
                    None => {
                        // Media time 0 of this camera on the wall clock: the first frame's
                        // wall-clock time less its media time.
                        let epoch =
                            unix_ms(f.wall) - (frame.pts.as_secs_f64() * 1e3).round() as i64;
                        a.follow_config(out)?;
                        a.start_analytics(frame.width, frame.height, epoch)?;
                        a.tracker.set_frame_size(frame.width, frame.height);
                        *first_pts.insert(frame.pts)
                    }
                };
                end = Some(frame.pts);
                if past_limit(first, frame.pts) {
                    break;
                }
                a.frame(&frame, out)?;
            }
            let stats = ingest.stats();
            tracing::info!(
                camera = %cam.id,
                "{} frames decoded, {} outages ({} ms down), {} reconnects, {} decoder errors",
                stats.decoded, stats.outages, stats.downtime_ms, stats.reconnect_attempts, stats.decoder_errors
            );
            summary.decoded = stats.decoded;
            runtime.block_on(ingest.stop());
        }
    }
    a.finish(end, out)?;
    if let Some(fs) = &a.faces {
        let s = fs.stats;
        tracing::info!(
            camera = %cam.id,
            "faces: {} analyses, {} samples; no face {}, too small {}, low score {}, blurred {}, no mesh {}, turned away {}",
            s.attempts, s.samples, s.no_face, s.too_small, s.low_score, s.blurred, s.no_mesh, s.turned_away
        );
    }
    summary.frames = a.frames;
    summary.tracks = a.track_ids.len();
    summary.records = a.emitted;
    summary.wall_s = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Test-only fault injection: with `AISLE_TEST_FREEZE_AFTER_S=<seconds>` in the environment, the
/// analytics stage of the run's first camera hangs for good once that many seconds have passed
/// since the camera started (a stuck stage, for the watchdog test in tests/daemon_notify.rs).
/// Not a command-line option on purpose: it must never be used in production.
const TEST_FREEZE_ENV: &str = "AISLE_TEST_FREEZE_AFTER_S";

fn test_freeze(cam: &CameraConfig, config: &Config) -> Result<Option<Instant>> {
    let Some(value) = std::env::var_os(TEST_FREEZE_ENV) else {
        return Ok(None);
    };
    if config.cameras.first().map(|c| &c.id) != Some(&cam.id) {
        return Ok(None);
    }
    let text = value.to_string_lossy();
    let secs: f64 = text
        .trim()
        .parse()
        .ok()
        .filter(|s: &f64| s.is_finite() && *s >= 0.0)
        .with_context(|| format!("{TEST_FREEZE_ENV}={text:?} is not a number of seconds"))?;
    tracing::warn!(camera = %cam.id, "{TEST_FREEZE_ENV}: test-only fault injection, the analytics stage freezes after {secs} s");
    Ok(Some(
        Instant::now() + std::time::Duration::from_secs_f64(secs),
    ))
}

/// The frozen stage of [`TEST_FREEZE_ENV`]: never returns.
fn freeze(camera: &str) -> ! {
    tracing::warn!(
        camera,
        "{TEST_FREEZE_ENV}: the analytics stage is frozen now"
    );
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}

/// A camera's health counters from its ingest's: decoded frames, drops (decoder errors and
/// frames the analysis queue dropped), outages (ended and in progress) and the state.
fn camera_counters(
    c: &mut crate::health::CameraCounters,
    st: &aisle_video::camera::CameraStats,
    had_frames: bool,
) {
    use aisle_fleet::payload::CameraState;
    use aisle_video::camera::StateKind;
    c.frames_decoded = st.decoded;
    c.frames_dropped = st.decoder_errors + st.dropped_by_queue;
    c.outages = st.outages + u64::from(st.outage_since_ms.is_some());
    match st.state {
        StateKind::Streaming => {}
        StateKind::FailedAuth => {
            c.state = CameraState::Failed;
            c.error = Some("the camera refused the credentials".into());
        }
        StateKind::Stopped => {}
        StateKind::Connecting | StateKind::WaitingForKeyframe | StateKind::BackingOff => {
            c.state = if had_frames {
                CameraState::Reconnecting
            } else {
                CameraState::Starting
            };
        }
    }
}

/// `t` plus `s` seconds, in `t`'s timescale.
fn add_secs(t: MediaTime, s: f64) -> MediaTime {
    MediaTime {
        ticks: t.ticks + (s * f64::from(t.timescale)).round() as i64,
        timescale: t.timescale,
    }
}

/// `now` or an RFC 3339 time (`2026-01-01T09:00:00Z`, `2026-01-01T10:00:00.5+01:00`) as Unix
/// milliseconds.
pub fn parse_start(s: &str) -> Result<i64> {
    if s == "now" {
        return Ok(unix_ms(SystemTime::now()));
    }
    parse_rfc3339_ms(s).with_context(|| {
        format!("--start {s:?} is not `now` or an RFC 3339 time such as 2026-01-01T09:00:00Z")
    })
}

fn parse_rfc3339_ms(s: &str) -> Result<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Result<i64> {
        let t = s.get(r).context("too short")?;
        if !t.bytes().all(|c| c.is_ascii_digit()) {
            bail!("{t:?} is not a number");
        }
        Ok(t.parse()?)
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        bail!("expected YYYY-MM-DDTHH:MM:SS");
    }
    if b[13] != b':' || b[16] != b':' {
        bail!("expected HH:MM:SS");
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) {
        bail!("no such date");
    }
    if h > 23 || mi > 59 || sec > 60 {
        bail!("no such time of day");
    }
    let mut i = 19;
    let mut ms = 0i64;
    if b.get(i) == Some(&b'.') {
        let j = s[i + 1..]
            .find(|c: char| !c.is_ascii_digit())
            .map_or(s.len(), |k| i + 1 + k);
        let frac = &s[i + 1..j];
        if frac.is_empty() {
            bail!("empty fraction of a second");
        }
        let digits: String = frac.chars().chain("000".chars()).take(3).collect();
        ms = digits.parse()?;
        i = j;
    }
    let offset_min = match &s[i..] {
        "Z" | "z" => 0,
        z if z.len() == 6 && matches!(z.as_bytes()[0], b'+' | b'-') && z.as_bytes()[3] == b':' => {
            let (oh, om) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            if oh > 23 || om > 59 {
                bail!("bad UTC offset");
            }
            let m = oh * 60 + om;
            if z.starts_with('-') {
                -m
            } else {
                m
            }
        }
        _ => bail!("expected `Z` or a UTC offset `+HH:MM` at the end"),
    };
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset_min * 60;
    Ok(secs * 1000 + ms)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_start_times() {
        assert_eq!(parse_start("1970-01-01T00:00:00Z").unwrap(), 0);
        assert_eq!(
            parse_start("2026-01-01T00:00:00Z").unwrap(),
            1_767_225_600_000
        );
        assert_eq!(
            parse_start("2026-11-25T19:44:00.25Z").unwrap(),
            1_795_635_840_250
        );
        assert_eq!(
            parse_start("2026-01-01T01:00:00+01:00").unwrap(),
            1_767_225_600_000
        );
        assert_eq!(
            parse_start("2000-02-29T00:00:00Z").unwrap(),
            951_782_400_000
        );
        for bad in [
            "2026-02-30T00:00:00Z",
            "2026-01-01",
            "2026-01-01T00:00:00",
            "2026-01-01T24:00:00Z",
            "yesterday",
            "2026-01-01T00:00:00.Z",
        ] {
            let e = parse_start(bad).unwrap_err();
            assert!(format!("{e:#}").contains(bad), "{e:#}");
        }
        let now = unix_ms(SystemTime::now());
        assert!((parse_start("now").unwrap() - now).abs() < 60_000);
    }

    #[test]
    fn the_embedded_broker_flag() {
        let path = Path::new("site.toml");
        let mut c = Config::parse("", "t").unwrap();
        use_embedded_broker(&mut c, path, 18830).unwrap();
        let m = c.mqtt.as_ref().unwrap();
        assert!(m.is_embedded() && m.site == "demo" && m.device == "demo");
        assert_eq!(m.broker_addr().unwrap().port, 18830);
        c.validate("t").unwrap();
        let mut c = Config::parse(
            "[mqtt]\nbroker = \"mqtt://10.0.0.2\"\nsite = \"s\"\ndevice = \"d\"\n",
            "t",
        )
        .unwrap();
        let e = use_embedded_broker(&mut c, path, 1883)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("site.toml") && e.contains("mqtt://10.0.0.2"),
            "{e}"
        );
        assert!(use_embedded_broker(&mut c, path, 0).is_err());
    }
}
