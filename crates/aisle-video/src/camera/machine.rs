//! [`CameraStateMachine`]: one camera's connection, keyframe gating, watchdog, backoff,
//! timestamp mapping and outage accounting, as a pure function of the events and times the
//! shell feeds it (see the module documentation of [`super`] for the states and the shell's
//! loop).

use std::sync::Arc;
use std::time::Duration;

use crate::source::{AccessUnit, Codec, StreamInfo};

use super::clock::{Clock, Stamp};
use super::params::{ParameterSets, Resolution};
use super::rtp::{MappedTime, RtpUnwrapper, TimeMapper};
use super::stats::{CameraStats, StateKind};
use super::timings::{Backoff, CameraTimings};

/// A camera's name, as used in every message and action. Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CameraId(Arc<str>);

impl CameraId {
    pub fn new(name: impl AsRef<str>) -> Self {
        Self(Arc::from(name.as_ref()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for CameraId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for CameraId {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

/// Errors building a camera state machine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CameraError {
    #[error("camera \"{camera}\": invalid timings: {detail}; fix the camera's timing settings")]
    InvalidTimings { camera: CameraId, detail: String },
}

/// Where a camera's ingest stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CameraState {
    /// Not running: initially and after [`CameraEvent::Stop`].
    Stopped,
    /// A `Connect` was issued; waiting for the RTSP session to start playing.
    Connecting,
    /// Connected; access units are dropped until parameter sets and a keyframe arrive.
    WaitingForKeyframe,
    /// Access units go to the decoder.
    Streaming,
    /// Waiting until `until` (monotonic) before reconnect attempt number `attempt`.
    BackingOff { until: Duration, attempt: u32 },
    /// The camera refused our credentials (or codec); like `BackingOff` with a longer floor.
    FailedAuth { until: Duration, attempt: u32 },
}

impl CameraState {
    pub fn kind(&self) -> StateKind {
        match self {
            CameraState::Stopped => StateKind::Stopped,
            CameraState::Connecting => StateKind::Connecting,
            CameraState::WaitingForKeyframe => StateKind::WaitingForKeyframe,
            CameraState::Streaming => StateKind::Streaming,
            CameraState::BackingOff { .. } => StateKind::BackingOff,
            CameraState::FailedAuth { .. } => StateKind::FailedAuth,
        }
    }

    /// Whether the shell holds (or is opening) a session in this state.
    pub fn has_session(&self) -> bool {
        matches!(
            self,
            CameraState::Connecting | CameraState::WaitingForKeyframe | CameraState::Streaming
        )
    }
}

impl std::fmt::Display for CameraState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CameraState::BackingOff { until, attempt }
            | CameraState::FailedAuth { until, attempt } => {
                write!(f, "{} (retry {attempt} at {until:?})", self.kind())
            }
            _ => write!(f, "{}", self.kind()),
        }
    }
}

/// Why a connection attempt failed, as the shell classifies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectFailure {
    /// RTSP 401/403 after sending credentials (RFC 7826 §19.4.1, §19.4.3).
    Auth,
    /// No route, refused, DNS failure, TCP/TLS timeout.
    Unreachable,
    /// The server answered something we cannot use (bad SDP, RTSP error status, bad RTP).
    Protocol,
    /// The stream's codec is one this build cannot decode.
    UnsupportedCodec,
}

impl std::fmt::Display for ConnectFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ConnectFailure::Auth => "authentication failed",
            ConnectFailure::Unreachable => "unreachable",
            ConnectFailure::Protocol => "protocol error",
            ConnectFailure::UnsupportedCodec => "unsupported codec",
        })
    }
}

/// What the shell tells the state machine.
#[derive(Debug, Clone, PartialEq)]
pub enum CameraEvent {
    /// Begin (or, after `Stop`, resume) ingest.
    Start,
    /// The shell began the connection for the last `Connect` (restarts the connect timeout).
    ConnectStarted,
    /// The RTSP session plays. `parameter_sets`: NAL units (no start codes) from the SDP
    /// (`sprop-parameter-sets`, RFC 6184 §8.1; `sprop-vps/sps/pps`, RFC 7798), if any.
    ConnectSucceeded {
        info: StreamInfo,
        parameter_sets: Vec<Vec<u8>>,
    },
    ConnectFailed {
        kind: ConnectFailure,
        message: String,
    },
    /// One access unit (Annex B bytes) with its 32-bit RTP timestamp (RFC 3550 §5.1) and the
    /// RTP clock rate from the SDP (`a=rtpmap`, 90000 for video). `au.pts`/`au.dts` are
    /// ignored (they are recomputed), `au.is_sync` is honoured.
    AccessUnitReceived {
        au: AccessUnit,
        rtp_timestamp: u32,
        clock_rate: u32,
    },
    /// The decoder rejected an access unit: wait for the next keyframe.
    DecoderError { message: String },
    /// The server ended the session (RTSP TEARDOWN, EOF, RTCP BYE).
    StreamEnded,
    /// The session failed after it was established (socket error, bad packets).
    StreamError { message: String },
    /// A `ScheduleWake` came due (early or spurious ticks are harmless).
    Tick,
    /// Stop ingest; disconnect.
    Stop,
}

/// Why the shell is asked to tear down its session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisconnectReason {
    Stopped,
    /// No access unit for `silent_for` (the stall watchdog).
    Stalled {
        silent_for: Duration,
    },
    /// Access units came, but no decodable keyframe within `waited`.
    KeyframeTimeout {
        waited: Duration,
    },
    /// The connection did not succeed within `waited`.
    ConnectTimeout {
        waited: Duration,
    },
    StreamEnded,
    StreamError {
        message: String,
    },
    ConnectFailed {
        kind: ConnectFailure,
        message: String,
    },
    /// A session reported in a state that has none (a late `ConnectSucceeded`).
    UnexpectedSession,
}

impl std::fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DisconnectReason::Stopped => f.write_str("stopped"),
            DisconnectReason::Stalled { silent_for } => {
                write!(f, "stalled: no access unit for {silent_for:?}")
            }
            DisconnectReason::KeyframeTimeout { waited } => {
                write!(f, "no decodable keyframe within {waited:?}")
            }
            DisconnectReason::ConnectTimeout { waited } => {
                write!(f, "connection not established within {waited:?}")
            }
            DisconnectReason::StreamEnded => f.write_str("the server ended the stream"),
            DisconnectReason::StreamError { message } => write!(f, "stream error: {message}"),
            DisconnectReason::ConnectFailed { kind, message } => {
                write!(f, "connection failed ({kind}): {message}")
            }
            DisconnectReason::UnexpectedSession => {
                f.write_str("a session was reported while none was wanted")
            }
        }
    }
}

/// Why an access unit was not passed on for decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// A keyframe, but SPS/PPS (and VPS for H.265) have not all been seen in this session.
    WaitingForParameterSets,
    /// Not a keyframe, and decoding has not (re)started.
    WaitingForKeyframe,
    /// Arrived outside a session (late from a session already torn down).
    NotConnected,
    /// The clock rate was 0.
    InvalidClockRate,
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DropReason::WaitingForParameterSets => "waiting for parameter sets",
            DropReason::WaitingForKeyframe => "waiting for a keyframe",
            DropReason::NotConnected => "not connected",
            DropReason::InvalidClockRate => "RTP clock rate is 0",
        })
    }
}

/// A period without decodable video, reported when video resumes (or at `Stop`).
#[derive(Debug, Clone, PartialEq)]
pub struct OutageReport {
    pub camera: CameraId,
    /// The last access unit decoded before the outage (or the `Start`, if none was since).
    pub start: Stamp,
    /// The first decodable keyframe after it (or the `Stop`).
    pub end: Stamp,
    pub duration: Duration,
    /// `round(duration * fps) - 1` frames (those strictly between `start` and `end`), with the
    /// SDP/stream frame rate or else the measured one; `None` when no rate is known.
    pub frames_lost: Option<u64>,
    /// What began the outage.
    pub cause: String,
}

/// What the shell must do. Every action names its camera.
#[derive(Debug, Clone, PartialEq)]
pub enum CameraAction {
    /// Open the RTSP session (DESCRIBE, SETUP, PLAY) and report the outcome.
    Connect {
        camera: CameraId,
    },
    /// Tear down the current session, if any (idempotent).
    Disconnect {
        camera: CameraId,
        reason: DisconnectReason,
    },
    /// Decode this access unit. `au.pts`/`au.dts` are set to `time.pts` (local monotonic time
    /// in RTP ticks); `keyframe` says decoding may start here. The first `Decode` after every
    /// (re)connect and decoder error is a keyframe with its parameter sets in front.
    Decode {
        camera: CameraId,
        au: AccessUnit,
        time: MappedTime,
        keyframe: bool,
    },
    /// The access unit was not decoded (counted in the stats).
    DropAccessUnit {
        camera: CameraId,
        index: u64,
        reason: DropReason,
    },
    /// The SPS (or VPS) differs from the one the decoder was set up with: recreate the decoder
    /// before the `Decode` that follows (a keyframe carrying the new parameter sets).
    FormatChanged {
        camera: CameraId,
        codec: Codec,
        from: Option<Resolution>,
        to: Option<Resolution>,
    },
    ReportStateChange {
        camera: CameraId,
        from: CameraState,
        to: CameraState,
        at: Stamp,
        reason: String,
    },
    ReportOutage(OutageReport),
    /// Deliver [`CameraEvent::Tick`] at (or soon after) monotonic time `at`; replaces any wake
    /// scheduled earlier for this camera.
    ScheduleWake {
        camera: CameraId,
        at: Duration,
    },
}

impl CameraAction {
    pub fn camera(&self) -> &CameraId {
        match self {
            CameraAction::Connect { camera }
            | CameraAction::Disconnect { camera, .. }
            | CameraAction::Decode { camera, .. }
            | CameraAction::DropAccessUnit { camera, .. }
            | CameraAction::FormatChanged { camera, .. }
            | CameraAction::ReportStateChange { camera, .. }
            | CameraAction::ScheduleWake { camera, .. } => camera,
            CameraAction::ReportOutage(r) => &r.camera,
        }
    }
}

impl std::fmt::Display for CameraAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "camera \"{}\": ", self.camera())?;
        match self {
            CameraAction::Connect { .. } => f.write_str("connect"),
            CameraAction::Disconnect { reason, .. } => write!(f, "disconnect: {reason}"),
            CameraAction::Decode {
                au, time, keyframe, ..
            } => write!(
                f,
                "decode access unit {}{} (pts {})",
                au.index,
                if *keyframe { " (keyframe)" } else { "" },
                time.pts
            ),
            CameraAction::DropAccessUnit { index, reason, .. } => {
                write!(f, "drop access unit {index}: {reason}")
            }
            CameraAction::FormatChanged {
                codec, from, to, ..
            } => {
                let show =
                    |r: &Option<Resolution>| r.map_or("unknown size".to_owned(), |r| r.to_string());
                write!(
                    f,
                    "{codec} format changed from {} to {}: recreate the decoder",
                    show(from),
                    show(to)
                )
            }
            CameraAction::ReportStateChange {
                from, to, reason, ..
            } => {
                write!(f, "{from} -> {to}: {reason}")
            }
            CameraAction::ReportOutage(r) => {
                write!(f, "outage of {:?} ({})", r.duration, r.cause)?;
                match r.frames_lost {
                    Some(n) => write!(f, ", about {n} frames lost"),
                    None => Ok(()),
                }
            }
            CameraAction::ScheduleWake { at, .. } => write!(f, "wake at {at:?}"),
        }
    }
}

/// One connected session's bookkeeping.
#[derive(Debug)]
struct Session {
    connected_at: Duration,
    last_au: Option<Duration>,
    waiting_since: Duration,
    streaming_since: Option<Duration>,
    clock_rate: u32,
    unwrapper: RtpUnwrapper,
    mapper: Option<TimeMapper>,
    first_ext: Option<i64>,
    max_ext: i64,
    au_count: u64,
}

impl Session {
    fn new(now: Duration) -> Self {
        Self {
            connected_at: now,
            last_au: None,
            waiting_since: now,
            streaming_since: None,
            clock_rate: 0,
            unwrapper: RtpUnwrapper::new(),
            mapper: None,
            first_ext: None,
            max_ext: 0,
            au_count: 0,
        }
    }

    /// Start of the current silence: the last access unit, or the connection.
    fn silent_since(&self) -> Duration {
        self.last_au.unwrap_or(self.connected_at)
    }
}

/// The ingest state machine of one camera. See the [module documentation](super).
#[derive(Debug)]
pub struct CameraStateMachine {
    id: CameraId,
    timings: CameraTimings,
    backoff: Backoff,
    state: CameraState,
    /// Consecutive failures: the backoff attempt number.
    failures: u32,
    connect_deadline: Duration,
    session: Option<Session>,
    params: ParameterSets,
    /// Format key (VPS + SPS bytes) the decoder was last set up with.
    decoder_format: Option<Vec<u8>>,
    decoder_resolution: Option<Resolution>,
    nominal_fps: Option<f64>,
    measured_fps: Option<f64>,
    started_at: Option<Stamp>,
    /// The last access unit passed on for decoding: where an outage starts.
    last_decoded: Option<Stamp>,
    outage: Option<(Stamp, String)>,
    scheduled: Option<Duration>,
    stats: CameraStats,
}

impl CameraStateMachine {
    /// A stopped machine; send [`CameraEvent::Start`] to begin. `seed` drives the backoff
    /// jitter (derive it from the camera name and the process start for spread, fix it in
    /// tests for determinism).
    pub fn new(
        id: impl Into<CameraId>,
        timings: CameraTimings,
        seed: u64,
    ) -> Result<Self, CameraError> {
        let id = id.into();
        let problems = timings.problems();
        if !problems.is_empty() {
            return Err(CameraError::InvalidTimings {
                camera: id,
                detail: problems.join("; "),
            });
        }
        Ok(Self {
            backoff: Backoff::new(
                timings.backoff_base,
                timings.backoff_cap,
                timings.jitter,
                seed,
            ),
            stats: CameraStats::new(id.as_str()),
            id,
            timings,
            state: CameraState::Stopped,
            failures: 0,
            connect_deadline: Duration::ZERO,
            session: None,
            params: ParameterSets::new(Codec::H264),
            decoder_format: None,
            decoder_resolution: None,
            nominal_fps: None,
            measured_fps: None,
            started_at: None,
            last_decoded: None,
            outage: None,
            scheduled: None,
        })
    }

    pub fn id(&self) -> &CameraId {
        &self.id
    }

    pub fn state(&self) -> CameraState {
        self.state
    }

    pub fn timings(&self) -> &CameraTimings {
        &self.timings
    }

    pub fn stats(&self) -> &CameraStats {
        &self.stats
    }

    /// Consecutive failures so far (the next backoff's attempt number less one).
    pub fn consecutive_failures(&self) -> u32 {
        self.failures
    }

    /// Frames the decoder produced (the shell reports them).
    pub fn record_decoded(&mut self, frames: u64) {
        self.stats.decoded += frames;
    }

    /// Frames analysed (the shell reports them).
    pub fn record_analysed(&mut self, frames: u64) {
        self.stats.analysed += frames;
    }

    /// Frames the analysis queue dropped (the shell reports them).
    pub fn record_queue_drops(&mut self, frames: u64) {
        self.stats.dropped_by_queue += frames;
    }

    /// When the machine next needs a [`CameraEvent::Tick`] (monotonic), if ever.
    pub fn next_wake(&self) -> Option<Duration> {
        match self.state {
            CameraState::Stopped => None,
            CameraState::Connecting => Some(self.connect_deadline),
            CameraState::WaitingForKeyframe => self.session.as_ref().map(|s| {
                (s.silent_since() + self.timings.stall_timeout)
                    .min(s.waiting_since + self.timings.keyframe_timeout)
            }),
            CameraState::Streaming => self
                .session
                .as_ref()
                .map(|s| s.silent_since() + self.timings.stall_timeout),
            CameraState::BackingOff { until, .. } | CameraState::FailedAuth { until, .. } => {
                Some(until)
            }
        }
    }

    /// [`Self::handle`] with the time read from `clock`.
    pub fn handle_now<C: Clock + ?Sized>(
        &mut self,
        clock: &C,
        event: CameraEvent,
    ) -> Vec<CameraAction> {
        self.handle(clock.stamp(), event)
    }

    /// Processes one event that happened at `now`; returns what the shell must do, in order.
    pub fn handle(&mut self, now: Stamp, event: CameraEvent) -> Vec<CameraAction> {
        let mut out = Vec::new();
        let before = self.state;
        match event {
            CameraEvent::Start => self.on_start(now, &mut out),
            CameraEvent::ConnectStarted => {
                if self.state == CameraState::Connecting {
                    self.connect_deadline = now.mono + self.timings.connect_timeout;
                }
            }
            CameraEvent::ConnectSucceeded {
                info,
                parameter_sets,
            } => self.on_connected(now, &info, &parameter_sets, &mut out),
            CameraEvent::ConnectFailed { kind, message } => {
                if self.state == CameraState::Connecting {
                    self.fail(
                        now,
                        DisconnectReason::ConnectFailed { kind, message },
                        &mut out,
                    );
                } else {
                    tracing::debug!(camera = %self.id, %kind, %message, "late connect failure ignored");
                }
            }
            CameraEvent::AccessUnitReceived {
                au,
                rtp_timestamp,
                clock_rate,
            } => self.on_access_unit(now, au, rtp_timestamp, clock_rate, &mut out),
            CameraEvent::DecoderError { message } => self.on_decoder_error(now, &message, &mut out),
            CameraEvent::StreamEnded => {
                if self.state.has_session() {
                    self.fail(now, DisconnectReason::StreamEnded, &mut out);
                }
            }
            CameraEvent::StreamError { message } => {
                if self.state.has_session() {
                    self.fail(now, DisconnectReason::StreamError { message }, &mut out);
                }
            }
            CameraEvent::Tick => self.on_tick(now, &mut out),
            CameraEvent::Stop => self.on_stop(now, &mut out),
        }
        let state_changed = before != self.state;
        self.sync_wake(now, state_changed, &mut out);
        out
    }

    /// Emits `ScheduleWake` when the next deadline moved, except when it only moved later
    /// within one state (an access unit pushing the stall deadline back): the wake already
    /// scheduled then comes first and its tick reschedules, so streaming costs no timer
    /// updates.
    fn sync_wake(&mut self, now: Stamp, state_changed: bool, out: &mut Vec<CameraAction>) {
        match (self.next_wake(), self.scheduled) {
            (None, _) => self.scheduled = None,
            (Some(want), Some(s)) if s == want && s > now.mono => {}
            (Some(want), Some(s)) if !state_changed && s > now.mono && s <= want => {}
            (Some(want), _) => {
                self.scheduled = Some(want);
                out.push(CameraAction::ScheduleWake {
                    camera: self.id.clone(),
                    at: want,
                });
            }
        }
    }

    fn transition(
        &mut self,
        now: Stamp,
        to: CameraState,
        reason: String,
        out: &mut Vec<CameraAction>,
    ) {
        let from = self.state;
        if from == to {
            return;
        }
        tracing::info!(camera = %self.id, %from, %to, %reason, "camera state change");
        self.state = to;
        self.stats.state = to.kind();
        self.stats.state_since_ms = u64::try_from(now.mono.as_millis()).unwrap_or(u64::MAX);
        self.stats.state_since_unix_ms = now.unix_ms();
        out.push(CameraAction::ReportStateChange {
            camera: self.id.clone(),
            from,
            to,
            at: now,
            reason,
        });
    }

    fn connect(&mut self, now: Stamp, reconnect: bool, out: &mut Vec<CameraAction>) {
        self.stats.connect_attempts += 1;
        if reconnect {
            self.stats.reconnect_attempts += 1;
        }
        self.connect_deadline = now.mono + self.timings.connect_timeout;
        let reason = if reconnect {
            format!("reconnect attempt {}", self.failures)
        } else {
            "started".to_owned()
        };
        self.transition(now, CameraState::Connecting, reason, out);
        out.push(CameraAction::Connect {
            camera: self.id.clone(),
        });
    }

    fn on_start(&mut self, now: Stamp, out: &mut Vec<CameraAction>) {
        if self.state != CameraState::Stopped {
            return;
        }
        self.started_at = Some(now);
        self.last_decoded = None;
        self.outage = None;
        self.failures = 0;
        self.connect(now, false, out);
    }

    fn on_stop(&mut self, now: Stamp, out: &mut Vec<CameraAction>) {
        if self.state == CameraState::Stopped {
            return;
        }
        if self.state.has_session() {
            out.push(CameraAction::Disconnect {
                camera: self.id.clone(),
                reason: DisconnectReason::Stopped,
            });
        }
        self.close_outage(now, out);
        self.session = None;
        self.transition(now, CameraState::Stopped, "stopped".to_owned(), out);
    }

    fn on_connected(
        &mut self,
        now: Stamp,
        info: &StreamInfo,
        parameter_sets: &[Vec<u8>],
        out: &mut Vec<CameraAction>,
    ) {
        if self.state != CameraState::Connecting {
            tracing::warn!(camera = %self.id, state = %self.state, "session reported while none was wanted; disconnecting it");
            out.push(CameraAction::Disconnect {
                camera: self.id.clone(),
                reason: DisconnectReason::UnexpectedSession,
            });
            return;
        }
        self.session = Some(Session::new(now.mono));
        self.params.set_codec(info.codec);
        self.params.clear();
        for nal in parameter_sets {
            self.params.insert(nal);
        }
        if let Some(fps) = info.nominal_fps.filter(|f| f.is_finite() && *f > 0.0) {
            self.nominal_fps = Some(fps);
        }
        let reason = format!("connected: {} {}x{}", info.codec, info.width, info.height);
        self.transition(now, CameraState::WaitingForKeyframe, reason, out);
    }

    fn on_decoder_error(&mut self, now: Stamp, message: &str, out: &mut Vec<CameraAction>) {
        if !matches!(
            self.state,
            CameraState::Streaming | CameraState::WaitingForKeyframe
        ) {
            return;
        }
        self.stats.decoder_errors += 1;
        if self.state == CameraState::Streaming {
            if let Some(s) = self.session.as_mut() {
                s.waiting_since = now.mono;
            }
            let reason = format!("decoder error: {message}");
            self.transition(now, CameraState::WaitingForKeyframe, reason, out);
        }
    }

    fn on_tick(&mut self, now: Stamp, out: &mut Vec<CameraAction>) {
        let t = &self.timings;
        match self.state {
            CameraState::Stopped => {}
            CameraState::Connecting => {
                if now.mono >= self.connect_deadline {
                    let waited = t.connect_timeout;
                    self.fail(now, DisconnectReason::ConnectTimeout { waited }, out);
                }
            }
            CameraState::WaitingForKeyframe | CameraState::Streaming => {
                let Some(s) = self.session.as_ref() else {
                    return;
                };
                let silent_for = now.mono.saturating_sub(s.silent_since());
                let waited = now.mono.saturating_sub(s.waiting_since);
                if silent_for >= t.stall_timeout {
                    self.fail(now, DisconnectReason::Stalled { silent_for }, out);
                } else if self.state == CameraState::WaitingForKeyframe
                    && waited >= t.keyframe_timeout
                {
                    self.fail(now, DisconnectReason::KeyframeTimeout { waited }, out);
                }
            }
            CameraState::BackingOff { until, .. } | CameraState::FailedAuth { until, .. } => {
                if now.mono >= until {
                    self.connect(now, true, out);
                }
            }
        }
    }

    /// Ends the session (or attempt) and backs off.
    fn fail(&mut self, now: Stamp, reason: DisconnectReason, out: &mut Vec<CameraAction>) {
        let stable = self
            .session
            .as_ref()
            .and_then(|s| s.streaming_since)
            .is_some_and(|since| now.mono.saturating_sub(since) >= self.timings.stable_after);
        if stable {
            self.failures = 0;
        }
        self.failures = self.failures.saturating_add(1);
        let long_floor = match &reason {
            DisconnectReason::ConnectFailed { kind, .. } => {
                self.stats.connect_failures += 1;
                if *kind == ConnectFailure::Auth {
                    self.stats.auth_failures += 1;
                }
                matches!(
                    kind,
                    ConnectFailure::Auth | ConnectFailure::UnsupportedCodec
                )
            }
            DisconnectReason::ConnectTimeout { .. } => {
                self.stats.connect_failures += 1;
                false
            }
            DisconnectReason::Stalled { .. } => {
                self.stats.stalls += 1;
                false
            }
            _ => false,
        };
        out.push(CameraAction::Disconnect {
            camera: self.id.clone(),
            reason: reason.clone(),
        });
        if self.outage.is_none() {
            let start = self.last_decoded.or(self.started_at).unwrap_or(now);
            self.stats.outage_since_ms =
                Some(u64::try_from(start.mono.as_millis()).unwrap_or(u64::MAX));
            self.outage = Some((start, reason.to_string()));
        }
        self.session = None;
        let mut delay = self.backoff.delay(self.failures);
        if long_floor {
            delay += self.timings.auth_floor;
        }
        let until = now.mono + delay;
        let attempt = self.failures;
        let to = match &reason {
            DisconnectReason::ConnectFailed {
                kind: ConnectFailure::Auth,
                ..
            } => CameraState::FailedAuth { until, attempt },
            _ => CameraState::BackingOff { until, attempt },
        };
        self.transition(now, to, format!("{reason}; retrying in {delay:?}"), out);
    }

    fn close_outage(&mut self, now: Stamp, out: &mut Vec<CameraAction>) {
        let Some((start, cause)) = self.outage.take() else {
            return;
        };
        self.stats.outage_since_ms = None;
        let duration = now.mono.saturating_sub(start.mono);
        let frames_lost = self
            .nominal_fps
            .or(self.measured_fps)
            .map(|fps| ((duration.as_secs_f64() * fps).round() as u64).saturating_sub(1));
        self.stats.outages += 1;
        self.stats.downtime_ms += u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        tracing::warn!(camera = %self.id, ?duration, ?frames_lost, %cause, "camera outage ended");
        out.push(CameraAction::ReportOutage(OutageReport {
            camera: self.id.clone(),
            start,
            end: now,
            duration,
            frames_lost,
            cause,
        }));
    }

    fn drop_au(&mut self, index: u64, reason: DropReason, out: &mut Vec<CameraAction>) {
        match reason {
            DropReason::WaitingForKeyframe | DropReason::WaitingForParameterSets => {
                self.stats.dropped_before_keyframe += 1
            }
            DropReason::NotConnected | DropReason::InvalidClockRate => {
                self.stats.dropped_other += 1
            }
        }
        out.push(CameraAction::DropAccessUnit {
            camera: self.id.clone(),
            index,
            reason,
        });
    }

    fn on_access_unit(
        &mut self,
        now: Stamp,
        mut au: AccessUnit,
        rtp_timestamp: u32,
        clock_rate: u32,
        out: &mut Vec<CameraAction>,
    ) {
        self.stats.access_units_received += 1;
        if !matches!(
            self.state,
            CameraState::WaitingForKeyframe | CameraState::Streaming
        ) {
            return self.drop_au(au.index, DropReason::NotConnected, out);
        }
        if clock_rate == 0 {
            return self.drop_au(au.index, DropReason::InvalidClockRate, out);
        }
        let Some(session) = self.session.as_mut() else {
            return self.drop_au(au.index, DropReason::NotConnected, out);
        };
        session.last_au = Some(now.mono);

        // Timestamps: unwrap (RFC 3550 §5.1), map to local and wall-clock time.
        if session.clock_rate != clock_rate {
            session.clock_rate = clock_rate;
            session.unwrapper.reset();
            session.first_ext = None;
            session.au_count = 0;
            session.mapper = Some(TimeMapper::new(
                clock_rate,
                self.timings.reanchor_threshold,
                self.timings.reanchor_confirm,
            ));
        }
        let ext = session.unwrapper.unwrap(rtp_timestamp);
        let first = *session.first_ext.get_or_insert(ext);
        session.max_ext = if session.au_count == 0 {
            ext
        } else {
            session.max_ext.max(ext)
        };
        session.au_count += 1;
        if session.au_count >= 2 && session.max_ext > first {
            let span = (session.max_ext - first) as f64 / f64::from(clock_rate);
            self.measured_fps = Some((session.au_count - 1) as f64 / span);
        }
        let Some(mapper) = session.mapper.as_mut() else {
            return self.drop_au(au.index, DropReason::InvalidClockRate, out);
        };
        let time = mapper.map(ext, now);
        if time.reanchored {
            self.stats.reanchors += 1;
            tracing::info!(camera = %self.id, rtp_ticks = ext, "RTP timestamps jumped; re-anchored to the local clock");
        }

        let scan = self.params.observe(&au.data);
        let keyframe = scan.has_keyframe_slice || (au.is_sync && scan.has_picture);
        match self.state {
            CameraState::Streaming => {
                if scan.parameter_set_changed && !keyframe {
                    if let Some(s) = self.session.as_mut() {
                        s.waiting_since = now.mono;
                    }
                    let reason = "parameter sets changed outside a keyframe".to_owned();
                    self.transition(now, CameraState::WaitingForKeyframe, reason, out);
                    return self.drop_au(au.index, DropReason::WaitingForKeyframe, out);
                }
            }
            _ => {
                if !keyframe {
                    return self.drop_au(au.index, DropReason::WaitingForKeyframe, out);
                }
                if !self.params.complete() {
                    return self.drop_au(au.index, DropReason::WaitingForParameterSets, out);
                }
                if let Some(s) = self.session.as_mut() {
                    s.streaming_since.get_or_insert(now.mono);
                }
                let reason = "keyframe with parameter sets received".to_owned();
                self.transition(now, CameraState::Streaming, reason, out);
                self.close_outage(now, out);
                let in_band = scan.has_sps
                    && scan.has_pps
                    && (self.params.codec() == Codec::H264 || scan.has_vps);
                if !in_band {
                    au.data = self.params.prepend_to(&au.data);
                }
            }
        }
        if keyframe {
            let key = self.params.format_key();
            if self.decoder_format.as_ref().is_some_and(|old| *old != key) {
                self.stats.format_changes += 1;
                let to = self.params.resolution();
                tracing::info!(camera = %self.id, from = ?self.decoder_resolution, ?to, "stream format changed");
                out.push(CameraAction::FormatChanged {
                    camera: self.id.clone(),
                    codec: self.params.codec(),
                    from: self.decoder_resolution,
                    to,
                });
            }
            self.decoder_format = Some(key);
            self.decoder_resolution = self.params.resolution();
        }
        au.pts = time.pts;
        au.dts = time.pts;
        self.last_decoded = Some(now);
        self.stats.decode_requested += 1;
        out.push(CameraAction::Decode {
            camera: self.id.clone(),
            au,
            time,
            keyframe,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::camera::timings::Jitter;
    use crate::camera::ManualClock;
    use aisle_types::MediaTime;

    const KEY: &[u8] = &[
        0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1e, 0x80, 0, 0, 0, 1, 0x68, 0xce, 0, 0, 0, 1, 0x65, 0x88,
    ];
    const P: &[u8] = &[0, 0, 0, 1, 0x41, 0x9a];

    fn info(nominal_fps: Option<f64>) -> StreamInfo {
        StreamInfo {
            codec: Codec::H264,
            width: 640,
            height: 480,
            timescale: 90_000,
            frame_count: None,
            nominal_fps,
        }
    }

    fn au_event(data: &[u8], rtp: u32) -> CameraEvent {
        CameraEvent::AccessUnitReceived {
            au: AccessUnit {
                data: data.to_vec(),
                pts: MediaTime::new(0, 1).unwrap(),
                dts: MediaTime::new(0, 1).unwrap(),
                is_sync: false,
                index: 0,
            },
            rtp_timestamp: rtp,
            clock_rate: 90_000,
        }
    }

    fn machine(jitter: Jitter) -> (ManualClock, CameraStateMachine) {
        let t = CameraTimings {
            jitter,
            ..CameraTimings::default()
        };
        (
            ManualClock::at_2026(),
            CameraStateMachine::new("unit", t, 3).unwrap(),
        )
    }

    /// Connects and streams `frames` frames at 25 fps; returns the RTP timestamp reached.
    fn stream(
        c: &ManualClock,
        m: &mut CameraStateMachine,
        nominal: Option<f64>,
        frames: u32,
    ) -> u32 {
        m.handle_now(c, CameraEvent::Start);
        m.handle_now(
            c,
            CameraEvent::ConnectSucceeded {
                info: info(nominal),
                parameter_sets: vec![],
            },
        );
        let mut rtp = 0u32;
        for k in 0..frames {
            c.advance(Duration::from_millis(40));
            rtp = k * 3600;
            let out = m.handle_now(c, au_event(if k == 0 { KEY } else { P }, rtp));
            if k > 0 {
                // Streaming access units cost one action, no wake rescheduling.
                assert!(matches!(&out[..], [CameraAction::Decode { .. }]), "{out:?}");
            }
        }
        rtp
    }

    #[test]
    fn a_stable_session_resets_the_backoff() {
        let (c, mut m) = machine(Jitter::None);
        m.handle_now(&c, CameraEvent::Start);
        for _ in 0..4 {
            m.handle_now(
                &c,
                CameraEvent::ConnectFailed {
                    kind: ConnectFailure::Unreachable,
                    message: "down".into(),
                },
            );
            c.advance_to(m.next_wake().unwrap());
            m.handle_now(&c, CameraEvent::Tick);
        }
        assert_eq!(m.consecutive_failures(), 4);
        // A short session does not reset the count...
        m.handle_now(
            &c,
            CameraEvent::ConnectSucceeded {
                info: info(None),
                parameter_sets: vec![],
            },
        );
        c.advance(Duration::from_millis(40));
        m.handle_now(&c, au_event(KEY, 0));
        m.handle_now(&c, CameraEvent::StreamEnded);
        assert!(
            matches!(m.state(), CameraState::BackingOff { attempt: 5, until } if until == c.now() + Duration::from_secs(16))
        );
        // ...a session that streamed for `stable_after` does.
        c.advance_to(m.next_wake().unwrap());
        m.handle_now(&c, CameraEvent::Tick);
        m.handle_now(
            &c,
            CameraEvent::ConnectSucceeded {
                info: info(None),
                parameter_sets: vec![],
            },
        );
        for k in 0..25 * 61 {
            c.advance(Duration::from_millis(40));
            m.handle_now(&c, au_event(if k == 0 { KEY } else { P }, k * 3600));
        }
        m.handle_now(
            &c,
            CameraEvent::StreamError {
                message: "reset".into(),
            },
        );
        assert!(
            matches!(m.state(), CameraState::BackingOff { attempt: 1, until } if until == c.now() + Duration::from_secs(1))
        );
    }

    #[test]
    fn unsupported_codec_waits_the_long_floor_without_failed_auth() {
        let (c, mut m) = machine(Jitter::None);
        m.handle_now(&c, CameraEvent::Start);
        let out = m.handle_now(
            &c,
            CameraEvent::ConnectFailed {
                kind: ConnectFailure::UnsupportedCodec,
                message: "H.266".into(),
            },
        );
        assert!(
            matches!(m.state(), CameraState::BackingOff { until, .. } if until == Duration::from_secs(61))
        );
        assert!(out.iter().any(
            |a| matches!(a, CameraAction::ScheduleWake { at, .. } if *at == Duration::from_secs(61))
        ));
        assert!(out
            .iter()
            .any(|a| a.to_string().contains("unsupported codec")));
        assert_eq!(m.stats().auth_failures, 0);
    }

    #[test]
    fn stop_during_an_outage_reports_it_with_the_measured_rate() {
        let (c, mut m) = machine(Jitter::Equal);
        stream(&c, &mut m, None, 50);
        let last = c.now();
        m.handle_now(&c, CameraEvent::StreamEnded);
        c.advance(Duration::from_secs(4));
        let out = m.handle_now(&c, CameraEvent::Stop);
        let report = out
            .iter()
            .find_map(|a| match a {
                CameraAction::ReportOutage(r) => Some(r),
                _ => None,
            })
            .unwrap();
        assert_eq!(report.start.mono, last);
        assert_eq!(report.duration, Duration::from_secs(4));
        // 25 fps measured from the RTP timestamps: 100 intervals, 99 frames lost.
        assert_eq!(report.frames_lost, Some(99));
        // Stopped while backing off: nothing to disconnect.
        assert!(!out
            .iter()
            .any(|a| matches!(a, CameraAction::Disconnect { .. })));
        assert_eq!(m.stats().outages, 1);
        assert!(m.handle_now(&c, CameraEvent::Stop).is_empty());
    }

    #[test]
    fn outage_from_start_when_the_camera_never_answered() {
        let (c, mut m) = machine(Jitter::None);
        m.handle_now(&c, CameraEvent::Start);
        m.handle_now(
            &c,
            CameraEvent::ConnectFailed {
                kind: ConnectFailure::Unreachable,
                message: "no route".into(),
            },
        );
        c.advance_to(m.next_wake().unwrap());
        m.handle_now(&c, CameraEvent::Tick);
        m.handle_now(
            &c,
            CameraEvent::ConnectSucceeded {
                info: info(Some(25.0)),
                parameter_sets: vec![],
            },
        );
        let out = m.handle_now(&c, au_event(KEY, 7));
        let report = out
            .iter()
            .find_map(|a| match a {
                CameraAction::ReportOutage(r) => Some(r),
                _ => None,
            })
            .unwrap();
        assert_eq!(report.start.mono, Duration::ZERO);
        assert_eq!(report.duration, Duration::from_secs(1));
        assert_eq!(report.frames_lost, Some(24));
    }
}
