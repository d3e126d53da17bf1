//! Multi-object tracking for Aisle: detections in, tracks with ephemeral per-camera ids out.
//!
//! - [`tracker`]: the production tracker (ByteTrack two-stage association, constant-velocity
//!   Kalman filter, optimal assignment, OC-SORT observation-centric recovery). Pure state: no I/O,
//!   no clock reads, no heap allocation per frame once constructed.
//! - [`baseline`]: a simple IoU-greedy tracker kept as a reference for comparisons.
//! - [`metrics`]: MOTA, IDF1, HOTA, ID switches (cross-checked against py-motmetrics).
//! - [`motchallenge`]: MOTChallenge text files in and out.
//!
//! Track ids are per camera and per process run; they never leave the device.

pub mod assign;
pub mod baseline;
pub mod kalman;
pub mod metrics;
pub mod motchallenge;
pub mod tracker;

pub use tracker::{Track, TrackError, TrackId, TrackState, Tracker, TrackerConfig, TrackerStats};
