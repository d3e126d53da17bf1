//! Aisle's shared vocabulary: geometry, media time, decoded frames, detections, appearance descriptors and the metric records (schema v1).
//!
//! This crate does no I/O and has no heavy dependencies, so every other crate (including the
//! `aisle-fleet` crate that must never see pixels) can depend on it.

mod appearance;
mod frame;
mod geometry;
pub mod metrics;
pub mod polygon;
mod time;

pub use appearance::{
    region_bbox, Appearance, APPEARANCE_DIM, COLOURS, COLOUR_NAMES, REGIONS, REGION_BOUNDS,
};
pub use frame::{FrameError, Nv12Frame};
pub use geometry::{BBox, Detection};
pub use time::MediaTime;
