//! Per-camera counters ([`CameraStats`]), kept by the state machine and serialisable for
//! health reports and metrics.

use serde::{Deserialize, Serialize};

/// The kind of a [`super::CameraState`], without its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateKind {
    Stopped,
    Connecting,
    WaitingForKeyframe,
    Streaming,
    BackingOff,
    FailedAuth,
}

impl std::fmt::Display for StateKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StateKind::Stopped => "stopped",
            StateKind::Connecting => "connecting",
            StateKind::WaitingForKeyframe => "waiting for keyframe",
            StateKind::Streaming => "streaming",
            StateKind::BackingOff => "backing off",
            StateKind::FailedAuth => "failed authentication",
        })
    }
}

/// Counters of one camera since its state machine was created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CameraStats {
    pub camera: String,
    /// Current state.
    pub state: StateKind,
    /// Monotonic time (ms since the clock's origin) the current state was entered.
    pub state_since_ms: u64,
    /// Wall-clock time (ms since the Unix epoch) the current state was entered.
    pub state_since_unix_ms: i64,
    /// Access units handed to the state machine.
    pub access_units_received: u64,
    /// Access units dropped while waiting for parameter sets and a keyframe.
    pub dropped_before_keyframe: u64,
    /// Access units dropped for other reasons (arriving outside a session, clock rate 0).
    pub dropped_other: u64,
    /// Access units passed on for decoding (`Decode` actions).
    pub decode_requested: u64,
    /// Frames the decoder produced (reported by the shell).
    pub decoded: u64,
    /// Frames analysed (reported by the shell).
    pub analysed: u64,
    /// Frames dropped by the analysis queue (reported by the shell).
    pub dropped_by_queue: u64,
    /// Decoder errors reported by the shell.
    pub decoder_errors: u64,
    /// Outages ended (by recovery or stop).
    pub outages: u64,
    /// Sum of the durations of ended outages, in ms.
    pub downtime_ms: u64,
    /// Start (monotonic ms) of the outage in progress, if any.
    pub outage_since_ms: Option<u64>,
    /// `Connect` actions issued.
    pub connect_attempts: u64,
    /// `Connect` actions issued after a failure or a lost stream.
    pub reconnect_attempts: u64,
    /// Connection failures, of any kind (timeouts included).
    pub connect_failures: u64,
    /// Authentication failures.
    pub auth_failures: u64,
    /// Sessions ended by the stall watchdog.
    pub stalls: u64,
    /// Parameter-set (format) changes reported.
    pub format_changes: u64,
    /// Times the RTP-to-local mapping was re-anchored after a jump or drift.
    pub reanchors: u64,
}

impl CameraStats {
    pub fn new(camera: &str) -> Self {
        Self {
            camera: camera.to_owned(),
            state: StateKind::Stopped,
            state_since_ms: 0,
            state_since_unix_ms: 0,
            access_units_received: 0,
            dropped_before_keyframe: 0,
            dropped_other: 0,
            decode_requested: 0,
            decoded: 0,
            analysed: 0,
            dropped_by_queue: 0,
            decoder_errors: 0,
            outages: 0,
            downtime_ms: 0,
            outage_since_ms: None,
            connect_attempts: 0,
            reconnect_attempts: 0,
            connect_failures: 0,
            auth_failures: 0,
            stalls: 0,
            format_changes: 0,
            reanchors: 0,
        }
    }
}
