//! Per-camera live ingest logic, free of I/O: a [`CameraStateMachine`] per camera that an
//! RTSP shell drives with events stamped by an injected [`Clock`], and that answers with
//! [`CameraAction`]s for the shell to carry out. No sockets, threads, timers or sleeps here,
//! so every path — reconnect storms, stalls, 13-hour RTP wraps — is tested by feeding events
//! with a [`ManualClock`].
//!
//! # States
//!
//! ```text
//!             Start                ConnectSucceeded            keyframe + SPS/PPS(+VPS)
//!   Stopped ────────► Connecting ───────────────► WaitingForKeyframe ──────────────► Streaming
//!      ▲                 │   ▲                        │      ▲                         │
//!      │ Stop            │   │ Tick at `until`        │      └── DecoderError, ────────┤
//!      │ (from any       │   │                        │          SPS change without    │
//!      │  state)         │   │                        │          a keyframe            │
//!      │                 ▼   │                        ▼                                ▼
//!      │          BackingOff{until, attempt} ◄── stall (no AU for stall_timeout), keyframe
//!      │          FailedAuth{until, attempt} ◄── timeout, StreamEnded, StreamError,
//!      │           (auth: floor + backoff)       ConnectFailed, connect timeout
//! ```
//!
//! - **Connecting**: a `Connect` was issued (RTSP DESCRIBE / SETUP / PLAY, RFC 2326 §10 and
//!   RFC 7826 §13). `ConnectSucceeded` moves on; `ConnectFailed` or `connect_timeout` backs off.
//! - **WaitingForKeyframe**: connected, but a join in the middle of a GOP gives pictures that
//!   reference frames we never had. Access units are dropped (`DropAccessUnit`) until one is a
//!   keyframe (`is_sync`, or an IDR / IRAP slice found in its NAL units) *and* SPS and PPS (and
//!   VPS for H.265) have been seen in this session, in band or in the SDP. That keyframe is
//!   passed on with the parameter sets written in front if it lacks them, so the first frame a
//!   decoder sees after every (re)connect or decoder error is a decodable keyframe.
//! - **Streaming**: every access unit becomes a `Decode`. A keyframe whose SPS/VPS differs
//!   from the one the decoder was set up with is preceded by `FormatChanged` (recreate the
//!   decoder). The stall watchdog ends the session when no access unit arrived for
//!   `stall_timeout` (a camera may keep its TCP connection open and send nothing; RTSP
//!   keep-alives, RFC 7826 §10.5, do not prove that media flows).
//! - **BackingOff / FailedAuth**: reconnect at `until`, after a capped exponential backoff with
//!   seeded jitter ([`Backoff`]); a rejected password (RTSP 401, RFC 7826 §19.4.1) or an
//!   unsupported codec adds `auth_floor`, so a misconfigured camera is retried about once a
//!   minute, never in a tight loop. A session that streamed for `stable_after` resets the
//!   backoff to its first step.
//!
//! Every exit from a state with a session emits `Disconnect` (idempotent for the shell). An
//! *outage* starts at the last access unit decoded before a session is lost (or at `Start` if
//! none was) and ends at the first decodable keyframe after it; `ReportOutage` gives its start,
//! end, duration and an estimate of the frames lost.
//!
//! # Time
//!
//! RTP timestamps (RFC 3550 §5.1) are 32-bit media-clock counts from a random start; they are
//! unwrapped to `i64` ([`RtpUnwrapper`]) and anchored to the local monotonic clock at the
//! first access unit of each session ([`TimeMapper`], re-anchored on jumps beyond
//! `reanchor_threshold`), which also gives the wall-clock time used to label analytics
//! windows. `Decode` carries the access unit with `pts` = the mapped local time in RTP ticks.
//!
//! # The shell's loop
//!
//! ```text
//! let mut m = CameraStateMachine::new("aisle-3", CameraTimings::default(), seed)?;
//! let mut actions = m.handle(clock.stamp(), CameraEvent::Start);
//! loop {
//!     for a in actions.drain(..) { match a {
//!         Connect { .. }                => spawn RTSP connect; its outcome becomes ConnectSucceeded / ConnectFailed
//!         Disconnect { .. }             => drop the RTSP session, if any
//!         Decode { au, keyframe, .. }   => decoder.decode(&au); Err -> DecoderError; frames -> m.record_decoded(n),
//!                                          then RateDecimator::keep(pts) -> FrameQueue::push (evicted -> m.record_queue_drops(1))
//!         FormatChanged { .. }          => recreate the decoder (before the next Decode)
//!         ScheduleWake { at, .. }       => (re)arm this camera's one timer for `at`
//!         ReportStateChange/ReportOutage/DropAccessUnit => log, metrics, MQTT
//!     }}
//!     let event = next of { RTSP access unit -> AccessUnitReceived, session end/error, timer -> Tick, stop };
//!     actions = m.handle(clock.stamp(), event);
//! }
//! ```
//!
//! [`RateDecimator`] picks the frames to analyse at a lower rate and [`FrameQueue`] bounds the
//! hand-off to analysis; [`CameraStats`] holds the counters.

mod clock;
mod decimate;
mod ingest;
mod machine;
mod params;
mod rng;
mod rtp;
mod stats;
mod timings;

pub use clock::{unix_ms, Clock, ManualClock, Stamp, SystemClock};
pub use decimate::{FrameQueue, RateDecimator};
pub use ingest::{CameraIngest, IngestFrame, IngestOptions, IngestReport};
pub use machine::{
    CameraAction, CameraError, CameraEvent, CameraId, CameraState, CameraStateMachine,
    ConnectFailure, DisconnectReason, DropReason, OutageReport,
};
pub use params::{AuScan, ParameterSets, Resolution};
pub use rng::SplitMix64;
pub use rtp::{MappedTime, RtpUnwrapper, TimeMapper};
pub use stats::{CameraStats, StateKind};
pub use timings::{Backoff, CameraTimings, Jitter};
