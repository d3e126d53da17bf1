//! Aisle's shared vocabulary: geometry, media time, decoded frames and detections.
//!
//! This crate does no I/O and has no heavy dependencies, so every other crate (including the
//! `aisle-fleet` crate that must never see pixels) can depend on it.

mod frame;
mod geometry;
mod time;

pub use frame::{FrameError, Nv12Frame};
pub use geometry::{BBox, Detection};
pub use time::MediaTime;
