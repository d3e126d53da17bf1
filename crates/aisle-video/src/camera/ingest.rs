//! The I/O shell around [`CameraStateMachine`]: one tokio task per camera that owns the RTSP
//! session ([`RtspSource`]) and the decoder, feeds the machine events read from a [`Clock`],
//! and carries out its actions. All decisions (when to connect, back off, drop, re-anchor)
//! are the machine's; this module only moves bytes and time.
//!
//! Decoded frames are thinned to the analysis rate ([`RateDecimator`]) and handed over through a
//! bounded [`FrameQueue`]: when analysis falls behind, the **oldest** frame is dropped and counted
//! (`dropped_by_queue`), so analysis always works on the freshest video and memory stays fixed.
//! State changes, outages and decoder errors are kept as [`IngestReport`]s (bounded too).

use std::collections::VecDeque;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use aisle_types::Nv12Frame;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use super::{
    CameraAction, CameraEvent, CameraId, CameraStateMachine, CameraStats, CameraTimings, Clock,
    ConnectFailure, FrameQueue, OutageReport, RateDecimator, StateKind,
};
use crate::rtsp::{RtspError, RtspOptions, RtspSource};
use crate::source::Codec;
use crate::Decoder;

/// How many reports are kept for [`CameraIngest::drain_reports`] (oldest dropped first).
const REPORT_CAPACITY: usize = 256;

/// Everything one camera's ingest needs.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// The RTSP session: camera id, URL, transport, credentials, connect/frame timeouts.
    pub rtsp: RtspOptions,
    pub timings: CameraTimings,
    /// Frames analysed per second; `None` analyses every decoded frame.
    pub analysis_fps: Option<u32>,
    /// Capacity of the hand-off queue to analysis.
    pub queue_capacity: NonZeroUsize,
    /// Seed of the backoff jitter (give each camera its own).
    pub seed: u64,
}

impl IngestOptions {
    pub fn new(rtsp: RtspOptions) -> Self {
        Self {
            rtsp,
            timings: CameraTimings::default(),
            analysis_fps: None,
            queue_capacity: NonZeroUsize::new(4).expect("non-zero"),
            seed: 0x5eed,
        }
    }
}

/// A decoded frame selected for analysis.
#[derive(Debug, Clone)]
pub struct IngestFrame {
    pub camera: CameraId,
    /// `pts` is local monotonic time in RTP ticks: it keeps increasing across reconnects.
    pub frame: Nv12Frame,
    /// Wall-clock time of the frame (for labelling analytics windows).
    pub wall: SystemTime,
}

/// Something an operator (or the fleet link) should hear about.
#[derive(Debug, Clone, PartialEq)]
pub enum IngestReport {
    StateChange {
        from: StateKind,
        to: StateKind,
        reason: String,
    },
    Outage(OutageReport),
    /// Connecting failed; `message` names the camera (never its password).
    ConnectFailed {
        kind: ConnectFailure,
        message: String,
    },
    DecoderError {
        message: String,
    },
    FormatChanged {
        codec: Codec,
    },
}

struct Shared {
    frames: Mutex<FrameQueue<IngestFrame>>,
    frame_ready: Notify,
    stats: Mutex<CameraStats>,
    reports: Mutex<VecDeque<IngestReport>>,
    /// Set when the task has ended: no frame will be queued any more.
    finished: AtomicBool,
}

/// Poisoning cannot leave these values inconsistent (each update is a single assignment or
/// push), so a poisoned lock is used as is.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running camera ingest. Dropping it stops the task.
pub struct CameraIngest {
    camera: CameraId,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for CameraIngest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CameraIngest")
            .field("camera", &self.camera)
            .finish_non_exhaustive()
    }
}

impl CameraIngest {
    /// Starts the camera's task on the current tokio runtime.
    ///
    /// # Panics
    /// Outside a tokio runtime (as `tokio::spawn` does).
    pub fn spawn(opts: IngestOptions, clock: Arc<dyn Clock>) -> Result<Self, super::CameraError> {
        let camera = CameraId::new(&opts.rtsp.camera);
        let machine = CameraStateMachine::new(camera.clone(), opts.timings.clone(), opts.seed)?;
        let shared = Arc::new(Shared {
            frames: Mutex::new(FrameQueue::new(opts.queue_capacity)),
            frame_ready: Notify::new(),
            stats: Mutex::new(machine.stats().clone()),
            reports: Mutex::new(VecDeque::with_capacity(REPORT_CAPACITY)),
            finished: AtomicBool::new(false),
        });
        let (stop, stop_rx) = watch::channel(false);
        let shell = Shell {
            opts,
            clock,
            machine,
            shared: shared.clone(),
            session: None,
            decoder: None,
            decimator: None,
            wake: None,
        };
        let task = tokio::spawn(shell.run(stop_rx));
        Ok(Self {
            camera,
            shared,
            stop,
            task: Some(task),
        })
    }

    pub fn camera(&self) -> &CameraId {
        &self.camera
    }

    /// The next frame for analysis, waiting for one; `None` once the ingest has stopped and
    /// the queue is empty.
    pub async fn next_frame(&self) -> Option<IngestFrame> {
        loop {
            let notified = self.shared.frame_ready.notified();
            if let Some(f) = lock(&self.shared.frames).pop() {
                return Some(f);
            }
            if self.shared.finished.load(Ordering::Acquire) {
                return None;
            }
            notified.await;
        }
    }

    /// The next frame for analysis if one is queued.
    pub fn try_next_frame(&self) -> Option<IngestFrame> {
        lock(&self.shared.frames).pop()
    }

    /// A snapshot of the camera's counters and state.
    pub fn stats(&self) -> CameraStats {
        lock(&self.shared.stats).clone()
    }

    /// Reports since the last call (at most the newest 256).
    pub fn drain_reports(&self) -> Vec<IngestReport> {
        lock(&self.shared.reports).drain(..).collect()
    }

    /// Asks the task to stop (tearing the session down) without waiting; readers of
    /// [`CameraIngest::next_frame`] get `None` once the queue is empty.
    pub fn shutdown(&self) {
        let _ = self.stop.send(true);
    }

    /// Stops the task (tearing the session down) and waits for it.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for CameraIngest {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

struct Shell {
    opts: IngestOptions,
    clock: Arc<dyn Clock>,
    machine: CameraStateMachine,
    shared: Arc<Shared>,
    session: Option<RtspSource>,
    decoder: Option<(Codec, Box<dyn Decoder>)>,
    decimator: Option<RateDecimator>,
    wake: Option<Duration>,
}

impl Shell {
    async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut actions = self.machine.handle(self.clock.stamp(), CameraEvent::Start);
        loop {
            let mut connect = false;
            let mut follow_up = None;
            for action in actions.drain(..) {
                match action {
                    CameraAction::Connect { .. } => connect = true,
                    other => {
                        if let Some(ev) = self.execute(other) {
                            follow_up = Some(ev);
                        }
                    }
                }
            }
            self.publish_stats();
            if self.machine.state() == super::CameraState::Stopped && *stop.borrow() {
                break;
            }
            let event = if let Some(ev) = follow_up {
                ev
            } else if connect {
                let started = self
                    .machine
                    .handle(self.clock.stamp(), CameraEvent::ConnectStarted);
                for a in started {
                    self.execute(a);
                }
                tokio::select! {
                    biased;
                    _ = stop.changed() => CameraEvent::Stop,
                    result = RtspSource::connect(self.opts.rtsp.clone()) => self.connected(result),
                }
            } else {
                self.next_event(&mut stop).await
            };
            actions = self.machine.handle(self.clock.stamp(), event);
        }
        // Nothing more will be queued: wake any waiting reader.
        self.shared.finished.store(true, Ordering::Release);
        self.shared.frame_ready.notify_waiters();
    }

    /// Turns the outcome of a connection attempt into the machine's event.
    fn connected(&mut self, result: Result<RtspSource, RtspError>) -> CameraEvent {
        match result {
            Ok(source) => {
                let info = source.info().clone();
                self.session = Some(source);
                if self.decimator.is_none() {
                    self.decimator = self.opts.analysis_fps.map(RateDecimator::new);
                }
                CameraEvent::ConnectSucceeded {
                    info,
                    parameter_sets: Vec::new(),
                }
            }
            Err(e) => {
                let kind = match &e {
                    RtspError::Auth { .. } => ConnectFailure::Auth,
                    RtspError::UnsupportedCodec { .. } => ConnectFailure::UnsupportedCodec,
                    RtspError::Unreachable { .. } | RtspError::Timeout { .. } => {
                        ConnectFailure::Unreachable
                    }
                    _ => ConnectFailure::Protocol,
                };
                let message = e.to_string();
                tracing::warn!(camera = %self.opts.rtsp.camera, "{message}");
                self.report(IngestReport::ConnectFailed {
                    kind,
                    message: message.clone(),
                });
                CameraEvent::ConnectFailed { kind, message }
            }
        }
    }

    /// Waits for the next access unit, timer or stop.
    async fn next_event(&mut self, stop: &mut watch::Receiver<bool>) -> CameraEvent {
        let sleep = self.wake.map(|at| at.saturating_sub(self.clock.now()));
        let clock_rate = self.session.as_ref().map_or(90_000, |s| s.info().timescale);
        tokio::select! {
            biased;
            _ = stop.changed() => CameraEvent::Stop,
            _ = tokio::time::sleep(sleep.unwrap_or_default()), if sleep.is_some() => {
                self.wake = None;
                CameraEvent::Tick
            }
            next = next_frame(&mut self.session), if self.session.is_some() => match next {
                Ok(Some(f)) => CameraEvent::AccessUnitReceived {
                    au: f.au,
                    rtp_timestamp: f.rtp_timestamp,
                    clock_rate,
                },
                Ok(None) => CameraEvent::StreamEnded,
                Err(e) => CameraEvent::StreamError { message: e.to_string() },
            },
        }
    }

    /// Carries out one action; returns an event to feed back (a decoder error).
    fn execute(&mut self, action: CameraAction) -> Option<CameraEvent> {
        match action {
            CameraAction::Connect { .. } => {}
            CameraAction::Disconnect { reason, .. } => {
                tracing::info!(camera = %self.opts.rtsp.camera, %reason, "disconnecting");
                self.session = None;
            }
            CameraAction::Decode { au, time, .. } => return self.decode(&au, time.wall),
            CameraAction::DropAccessUnit { .. } => {}
            CameraAction::FormatChanged { codec, .. } => {
                self.decoder = None;
                self.report(IngestReport::FormatChanged { codec });
            }
            CameraAction::ReportStateChange {
                from, to, reason, ..
            } => {
                tracing::info!(camera = %self.opts.rtsp.camera, from = %from, to = %to, %reason, "camera state");
                self.report(IngestReport::StateChange {
                    from: from.kind(),
                    to: to.kind(),
                    reason,
                });
            }
            CameraAction::ReportOutage(outage) => {
                tracing::warn!(
                    camera = %self.opts.rtsp.camera,
                    duration_s = outage.duration.as_secs_f64(),
                    frames_lost = outage.frames_lost,
                    cause = %outage.cause,
                    "video outage ended"
                );
                self.report(IngestReport::Outage(outage));
            }
            CameraAction::ScheduleWake { at, .. } => self.wake = Some(at),
        }
        None
    }

    fn decode(&mut self, au: &crate::AccessUnit, wall: SystemTime) -> Option<CameraEvent> {
        let codec = self.session.as_ref().map(|s| s.info().codec)?;
        if self.decoder.as_ref().is_none_or(|(c, _)| *c != codec) {
            match crate::file::cpu_decoder(codec, self.opts.rtsp.camera.clone()) {
                Ok(d) => self.decoder = Some((codec, d)),
                Err(e) => return Some(self.decoder_error(e.to_string())),
            }
        }
        let (_, decoder) = self.decoder.as_mut()?;
        let frames = match decoder.decode(au) {
            Ok(frames) => frames,
            Err(e) => return Some(self.decoder_error(e.to_string())),
        };
        self.machine.record_decoded(frames.len() as u64);
        for frame in frames {
            let keep = self.decimator.as_mut().is_none_or(|d| d.keep(frame.pts));
            if !keep {
                continue;
            }
            self.machine.record_analysed(1);
            let item = IngestFrame {
                camera: self.machine.id().clone(),
                frame,
                wall,
            };
            if lock(&self.shared.frames).push(item).is_some() {
                self.machine.record_queue_drops(1);
            }
            self.shared.frame_ready.notify_one();
        }
        None
    }

    fn decoder_error(&mut self, message: String) -> CameraEvent {
        tracing::warn!(camera = %self.opts.rtsp.camera, "{message}");
        self.decoder = None;
        self.report(IngestReport::DecoderError {
            message: message.clone(),
        });
        CameraEvent::DecoderError { message }
    }

    fn report(&self, r: IngestReport) {
        let mut reports = lock(&self.shared.reports);
        if reports.len() >= REPORT_CAPACITY {
            reports.pop_front();
        }
        reports.push_back(r);
    }

    fn publish_stats(&self) {
        *lock(&self.shared.stats) = self.machine.stats().clone();
    }
}

async fn next_frame(
    session: &mut Option<RtspSource>,
) -> Result<Option<crate::rtsp::RtspFrame>, RtspError> {
    match session {
        Some(s) => s.next().await,
        None => std::future::pending().await,
    }
}
