//! Synthetic stores with ground truth: shoppers walking a store under a ceiling camera, what a
//! person detector reports for them frame by frame, and the true tracks and zone visits. Used to
//! evaluate the tracker (MOTChallenge-style sequences) and, later, the zone analytics (dwell,
//! occupancy, paths, queues).
//!
//! [`simulate`] runs a [`Scenario`] and returns a [`SimOutput`]: per frame the detections
//! (`aisle_types::Detection`, class 0) and the truth boxes ([`TruthBox`]: shopper id, clipped
//! full-body box, visibility, floor position), plus [`Visit`]s and [`ZoneEvent`]s per shopper
//! and zone and the [`StoreLayout`] (zones with floor and image polygons, camera), and per
//! detection its appearance descriptor ([`SimFrame::appearance`]).
//! [`Scenario::standard`] has four scenarios; [`to_motchallenge_gt`] / [`to_motchallenge_det`]
//! export a sequence (`cargo run --release -p aisle-sim --example simstats -- --out DIR` writes
//! all four and prints their statistics).
//!
//! # Model
//!
//! **Store** ([`FloorPlan::standard`]): 12 m x 12 m, four gondolas with aisles running away from
//! the camera, a front and a back cross-aisle, seven displays (two endcaps facing the door, two
//! along the back wall, one on a wall, two on gondola sides) with the floor in front of each as a
//! `display` zone, an entrance, a single queue along the right wall feeding two tills
//! (`queue`, `checkout`). Shoppers walk a waypoint graph along the aisle centre lines (checked
//! not to cross shelves), leaving it only for display stands, tills and the queue.
//!
//! **Shoppers** ([`ShopperModel`], [`DwellModel`], [`CheckoutModel`]): Poisson arrivals through
//! the door (outside the camera's view); each draws a speed (0.8-1.4 m/s), a height (normal
//! 1.72 m, sd 0.09, clamped to 1.5-1.95) and width (0.40-0.52 m), a list of displays (Poisson,
//! mean 3, weighted by attraction) and short browsing stops along the aisles (Poisson, mean 1.5,
//! 1-5 s), visited in a noisy nearest-first order; then the checkout with probability 0.6
//! (leaving without paying when the queue is full) and out through the door. Walkers accelerate
//! and brake at 0.8 m/s^2, round corners, keep to the right of the centre line with an
//! Ornstein-Uhlenbeck wander (lateral offset at most 0.3 m), and slow down behind a slower
//! walker ahead in the same direction (oncoming walkers pass each other; nobody else avoids
//! anybody). Dwell at a display: 20 % bounces of 0.5-2 s, otherwise lognormal with median 8 s
//! and log-sd 0.8 (p90 ~22 s), times the display's `dwell_scale`. Service at a till: lognormal,
//! median 15 s (12 s in busy and crowded). Standing people sway by a few centimetres. The store
//! is simulated for 240 s before the first frame so it is not empty at the start.
//!
//! **Camera** ([`Camera`]): pinhole without distortion, 1280x720, 100 degree horizontal field of
//! view, 3.4 m up on the middle of the front wall, tilted 32 degrees down. A person is an upright
//! cylinder; their box is the bounding box of its projection, so far people are smaller (about
//! 90 px tall at the back wall, 250 px 2 m in; nearer ones are cut by the bottom edge).
//! People are ordered by floor distance to the camera; a person's *visibility* is the fraction of
//! their unclipped box that is inside the image and not covered by nearer people's boxes (shelves
//! do not occlude). Truth holds every shopper with visibility > 0.
//!
//! **Detector** ([`NoiseModel`], defaults): box edges jitter with sd 3 % of the box width or
//! height, AR(1)-correlated frame to frame (0.7), more for occluded people; a person is missed
//! with probability 5 % when fully visible, rising steeply as their *detectability* (the mean of
//! visibility and the visibility of the top third of their box: heads and shoulders matter most)
//! falls below 0.5 (logistic, midpoint 0.35; mostly missed below 0.3), with short miss bursts;
//! scores ~0.83 (sd ~0.08) for visible people falling to ~0.3 for barely visible ones, so a
//! ByteTrack-style second stage matters; an occluded person's box shifts 30 % of the way towards
//! the box of their visible part; boxes under 40 px are missed more; 0.3 random false positives
//! per frame at person-like places with scores mostly 0.1-0.5; a mannequin (detected half the
//! time, score ~0.35) and a poster (30 %, ~0.25) as persistent false positives; 1 % upper-body
//! duplicates; two people overlapping by IoU > 0.5 merge into one box 10 % of the time; NMS at
//! IoU 0.7; detections ordered by score. [`NoiseModel::perfect`] reports exactly the truth, and
//! [`NoiseModel::preset`] `centernet` / `nanodet` are the product's two person detectors with
//! their occlusion response measured on real video (both key on the whole body, not the head;
//! CenterNet misses half-hidden people far more often).
//!
//! **Zones**: a shopper is in a zone in a frame when their floor position (foot centre) is in
//! the zone's floor polygon. A [`Visit`] runs from the first frame inside to the first frame
//! outside again (`dwell_s` is the difference); visits open at the first or last frame are
//! flagged and have no Enter or Exit [`ZoneEvent`]. Visits are not debounced, but the standard
//! store keeps walking lanes and standing spots away from zone borders, so a shopper does not
//! flicker in and out of a zone.
//!
//! **Appearance** ([`AppearanceModel`]): every detection carries the colour descriptor the
//! device's extractor would read from it (`aisle_types::Appearance`: colour-name histograms of
//! the torso and legs regions of the box). Shoppers wear a top and trousers with main colours
//! drawn from store-crowd palettes (mostly black, grey, blue and white) and a purity of 25-90 %
//! (the rest shading and trim). A region is painted like the camera sees it: nearer people cover
//! farther ones, each visible person contributes the garment at that height of their body (hair,
//! top, trousers) plus 25 % (torso) or 40 % (legs) background between arms and legs, the floor
//! fills the rest; a person's colours drift slowly with pose and light (log-normal weights,
//! sd 0.3, AR(1) 0.95 per frame), and small regions give noisy histograms (Dirichlet sampling,
//! concentration = area / 25 px, clamped to 12-200). Merged boxes mix both people; upper-body
//! duplicates, the mannequin and the poster have their own looks; random false positives are
//! background with a patch of colour. The defaults are calibrated on real video: on the sample
//! video `vtest.mp4` (`cargo run --release -p aisled --example appearance_calibration`) the
//! extractor's distance between views of the same person 2 s apart has median 0.16 and 90th
//! percentile 0.26 (CenterNet detections; 0.18 / 0.32 with NanoDet) and between two people
//! median 0.45, and the share of different-people pairs closer than 95 % of same-person pairs
//! is 19 % (24 % NanoDet); the simulated moderate store gives 0.17 / 0.28, 0.40 and 22 %
//! (`cargo run --release -p aisle-sim --example appearance_stats`). The simulation is slightly
//! optimistic on the overall separation (ROC AUC 0.95 against 0.93 measured).
//!
//! **Determinism**: everything is drawn from ChaCha8 streams seeded by `Scenario::seed` (stream 1
//! for the world, stream 2 for the detector, stream 3 for appearance), so the same scenario gives
//! bit-identical output on every platform, and changing the noise or appearance model leaves the
//! shoppers' movements (and, for appearance, the detections) alone.
//!
//! # Standard scenarios
//!
//! People in view (truth boxes per frame) and `simulate` time (release build, 2-core VM):
//!
//! | scenario | arrivals/min | length | in view: min / mean / max | share with visibility < 0.5 | time |
//! |---|---|---|---|---|---|
//! | quiet | 1.2 | 180 s | 1 / 1.9 / 3 | 4 % | 3 ms |
//! | moderate | 6 | 240 s | 8 / 10.9 / 15 | 14 % | 20 ms |
//! | busy | 12.5 | 240 s | 19 / 24.0 / 28 | 37 % | 54 ms |
//! | crowded | 17 | 180 s | 26 / 33.3 / 40 | 44 % | 61 ms |
//!
//! How hard the default detector makes tracking (moderate, 2026-11, IDF1 / HOTA with ground
//! truth of visibility >= 0.25 and hypotheses matched to less visible people ignored): a plain
//! ByteTrack (Kalman + IoU, two score stages, 3 s buffer) reaches about 0.60-0.65 / 0.60; with a
//! detector whose only flaw is missing occluded people, 0.80 / 0.84; with
//! [`NoiseModel::perfect`], 0.97 / 0.98. The gap is the occlusions: shoppers stand at displays
//! while others walk past in front of them.
//!
//! # Limitations
//!
//! Shelves and fixtures do not occlude; no lens distortion; no groups, children or staff;
//! people crossing each other's paths do not sidestep; one camera.

mod appearance;
mod camera;
mod geom;
mod layout;
mod noise;
mod scenario;
mod sim;
mod world;

pub use appearance::AppearanceModel;
pub use camera::Camera;
pub use geom::Rect;
pub use layout::{
    BrowseSpan, CheckoutSpec, DisplaySpec, FloorPlan, StoreLayout, Zone, ZoneKind, ZoneSpec,
};
pub use noise::{NoiseModel, StaticFalsePositive, NOISE_PRESETS};
pub use scenario::{CheckoutModel, DwellModel, Scenario, ShopperModel};
pub use sim::{
    simulate, to_motchallenge_det, to_motchallenge_gt, SimFrame, SimOutput, TruthBox, Visit,
    ZoneEvent, ZoneEventKind, TIMESCALE,
};

/// Why a scenario cannot be simulated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimError {
    /// A parameter is out of range or inconsistent.
    #[error("scenario `{scenario}`: `{field}` = {value} is invalid: {reason}")]
    InvalidParameter {
        scenario: String,
        /// The parameter's path in [`Scenario`], e.g. `noise.miss_prob` or `floor.edges[3]`.
        field: String,
        value: String,
        reason: String,
    },
}

impl SimError {
    /// `Ok` when `v` is finite and in `[lo, hi]`; otherwise the error naming `field` and `v`.
    pub(crate) fn check_range(
        scenario: &str,
        field: &str,
        v: f64,
        lo: f64,
        hi: f64,
    ) -> Result<(), Self> {
        if v.is_finite() && v >= lo && v <= hi {
            Ok(())
        } else {
            Err(Self::invalid(
                scenario,
                field.to_string(),
                v.to_string(),
                &format!("must be in [{lo}, {hi}]"),
            ))
        }
    }

    pub(crate) fn invalid(scenario: &str, field: String, value: String, reason: &str) -> Self {
        SimError::InvalidParameter {
            scenario: scenario.to_string(),
            field,
            value,
            reason: reason.to_string(),
        }
    }
}
