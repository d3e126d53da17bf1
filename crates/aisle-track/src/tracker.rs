//! The production tracker: ByteTrack association with OC-SORT's observation-centric recovery.
//!
//! Each [`Tracker::update`] takes one frame's person detections and its timestamp and:
//! 1. predicts every track to the frame time with a constant-velocity Kalman filter
//!    ([`KalmanBox`], continuous time, so decimated or irregular frame rates are exact);
//! 2. associates **high-score** detections with confirmed and lost tracks by optimal assignment
//!    on IoU (fused with the detection score), plus OC-SORT's *observation-centric momentum*
//!    term that prefers detections in the direction the track was last observed moving;
//! 3. associates the remaining confirmed tracks, and tracks lost for at most
//!    [`TrackerConfig::max_lost_s`], with **low-score** detections (ByteTrack's second stage,
//!    which takes only tracks matched in the previous frame: partly occluded people score low
//!    for seconds, and are still the same people);
//! 4. *observation-centric recovery*: tracks still unmatched are tried against the remaining
//!    high-score detections by IoU with their **last observed** box, which recovers people who
//!    stood still behind a passer-by while the filter's prediction drifted;
//! 5. matches tentative tracks, starts new tentative tracks from unmatched confident detections,
//!    and ages tracks through the lifecycle below.
//!
//! When a track is re-found after missed frames, its filter is re-run along a straight virtual
//! trajectory between the last and the new observation (OC-SORT *observation-centric
//! re-update*), so the velocity it carries forward is the one actually observed.
//!
//! ## Hidden feet
//! A detector boxes what it sees: a shopper standing behind somebody nearer the camera is boxed
//! down to where the nearer person's body starts, and the bottom of that box is not where their
//! feet are. Zone membership is decided at the feet, so such a shopper would seem to stand
//! farther back, in the zone behind the one they are in. The tracker therefore learns how tall
//! people appear at each height of the image (a least-squares line of box height on bottom
//! edge, over confident detections whose feet are visible: under a camera looking down at a
//! flat floor, image height grows linearly with how low the feet are) and each track's stature
//! against that line. When a matched detection's feet are covered by a detection or track
//! clearly nearer the camera, and the box is more than 15 % shorter than the person's height
//! from their head down, the reported box reaches down to the estimated feet
//! ([`Track::feet_estimated`]). The filter itself is updated with the detection as it is, so
//! association is unchanged.
//!
//! ## Lifecycle
//! `Tentative` (new) -> `Confirmed` after [`TrackerConfig::confirm_hits`] consecutive matches
//! (a tentative track missed once is removed); `Confirmed` -> `Lost` when unmatched; `Lost` ->
//! `Confirmed` when re-found, or `Removed` after [`TrackerConfig::max_lost_s`] without a match.
//! Removed tracks are reported once, in [`Tracker::removed`], for the update that removed them.
//! A lost track is still *reported* ([`Track::is_reported`], [`Track::coasting`]) for
//! [`TrackerConfig::coast_s`] after its last match, at its predicted box.
//!
//! ## Capacity
//! At most [`MAX_TRACKS`] (256) live tracks and [`MAX_DETECTIONS`] (512) detections per frame.
//! Detections beyond 512 are dropped lowest score first; a new track when all 256 slots are live
//! evicts the lost track unseen for longest, and when no track is lost the new detection is not
//! tracked. Both are counted in [`TrackerStats`]. After construction, `update` allocates nothing
//! (except, once, if a single frame brings more than 512 valid detections).
//!
//! ## Privacy
//! [`TrackId`]s are ephemeral: per tracker (one per camera), counting from 1 at start. They are
//! used on the device to aggregate visits and never leave it.

use crate::assign::Assigner;
use crate::kalman::{KalmanBox, KalmanConfig};
use aisle_types::{region_bbox, Appearance, BBox, Detection, MediaTime, REGIONS};
use heapless::Deque;

/// Live tracks per tracker (camera).
pub const MAX_TRACKS: usize = 256;
/// Detections considered per frame.
pub const MAX_DETECTIONS: usize = 512;
/// Observations kept per track for the momentum direction.
const HISTORY: usize = 4;

/// An ephemeral, per-camera track identifier (never published).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrackId(pub u32);

impl std::fmt::Display for TrackId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackState {
    /// Started from one detection; not yet trusted.
    Tentative,
    /// Matched in enough consecutive frames; matched or briefly missed.
    Confirmed,
    /// Confirmed before, unmatched now; kept (predicted) for re-identification.
    Lost,
}

/// One track as seen after an update.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Track {
    pub id: TrackId,
    pub state: TrackState,
    /// The filtered box (after the update when matched; the prediction when not).
    pub bbox: BBox,
    /// Score of the last matched detection.
    pub score: f32,
    /// Whether a detection was matched to this track in the latest update.
    pub matched: bool,
    /// Matched detections over the track's life.
    pub hits: u32,
    pub first_seen: MediaTime,
    pub last_seen: MediaTime,
    /// Index of the matched detection in the latest `update` input (when `matched`).
    pub detection: Option<u32>,
    /// Lost in this frame, but for at most [`TrackerConfig::coast_s`] since its last match:
    /// still reported, at its predicted box (a detector misses a visible person now and then).
    pub coasting: bool,
    /// The matched detection's feet were hidden by somebody nearer the camera, and `bbox`
    /// reaches down to where the person's feet are estimated to be (module documentation,
    /// "Hidden feet").
    pub feet_estimated: bool,
    /// The track's clothing colours (the moving average of its clean, confident views; one
    /// view right after its birth), when it has any. For on-device use only, like the id.
    pub appearance: Option<Appearance>,
}

impl Track {
    /// A confirmed track matched in the latest frame: a person observed now. The zone
    /// analytics count these (they bridge gaps themselves, `docs/analytics.md`).
    pub fn is_active(&self) -> bool {
        self.state == TrackState::Confirmed && self.matched
    }

    /// An active track, or one coasting through a short miss ([`TrackerConfig::coast_s`]): what
    /// the tracker reports as its output (`aisle track`, MOT evaluation).
    pub fn is_reported(&self) -> bool {
        self.is_active() || self.coasting
    }
}

/// Thresholds and timings; defaults are ByteTrack's and OC-SORT's published ones, with times in
/// seconds instead of frames.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackerConfig {
    /// Detections at or above this score take part in the first association.
    pub high_score: f32,
    /// Detections below this score are ignored; between `low_score` and `high_score` they only
    /// extend existing confirmed tracks.
    pub low_score: f32,
    /// An unmatched detection starts a track only at or above this score.
    pub new_track_score: f32,
    /// First stage: minimum IoU between prediction and detection.
    pub match_iou: f32,
    /// Second stage (low-score detections): minimum IoU.
    pub low_match_iou: f32,
    /// Tentative tracks and observation-centric recovery: minimum IoU.
    pub recovery_iou: f32,
    /// Multiply IoU by the detection score in the first stage (ByteTrack's score fusion).
    pub fuse_score: bool,
    /// Weight of the observation-centric momentum (direction consistency) cost.
    pub momentum_weight: f32,
    /// Observations back used for a track's direction of motion.
    pub momentum_span: usize,
    /// Consecutive matches that confirm a tentative track.
    pub confirm_hits: u32,
    /// Seconds a lost track is kept for re-identification.
    pub max_lost_s: f64,
    /// Seconds after its last match that a lost track is still reported (coasting, at its
    /// predicted box): detectors miss visible people in single frames. 0 reports matched
    /// tracks only.
    pub coast_s: f64,
    /// Seconds a lost track is kept when it was standing still when last seen (shoppers at a
    /// display or in a queue hidden by people in front of them for a while).
    pub max_lost_still_s: f64,
    /// Seconds a lost track is kept when it was last seen touching the frame edge (it most
    /// likely left the view; a new person entering there must not inherit its id). Needs
    /// [`Tracker::set_frame_size`].
    pub max_lost_at_edge_s: f64,
    /// A box within this many pixels of the frame border touches the edge.
    pub edge_margin_px: f32,
    /// Appearance (when detections come with descriptors, [`Tracker::update_with_appearance`]):
    /// weight of the descriptor distance in the first association stage's cost. 0 ignores
    /// appearance entirely.
    pub appearance_weight: f32,
    /// A track whose appearance is established is never matched to an unoccluded detection
    /// whose descriptor is farther than this (Hellinger distance, 0..1): the neighbour in a
    /// crossing does not take over its id.
    pub appearance_gate: f32,
    /// The same for a detection partly covered by a nearer person, compared on the regions that
    /// show it (fewer pixels, noisier colours: a looser limit; 1 turns this gate off).
    pub appearance_gate_partial: f32,
    /// Re-identification: a lost track takes a confident detection that no track matched when
    /// their descriptors (the regions not covered by a nearer person) are within this distance
    /// and the detection is where the person could have walked to.
    pub reid_distance: f32,
    /// How far a hidden person may have walked, in heights of their box per second (1.0: a
    /// 1.7 m person at 1.7 m/s).
    pub reid_speed: f32,
    /// Seconds a lost track with an established appearance is kept for re-identification
    /// (after `max_lost_s` or `max_lost_still_s` it is matched only by re-identification).
    pub max_lost_reid_s: f64,
    /// Share of a track's descriptor kept at each clean observation (exponential moving
    /// average; BoT-SORT's 0.9).
    pub appearance_momentum: f32,
    pub kalman: KalmanConfig,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self {
            high_score: 0.5,
            low_score: 0.1,
            new_track_score: 0.6,
            match_iou: 0.3,
            low_match_iou: 0.5,
            recovery_iou: 0.3,
            fuse_score: true,
            momentum_weight: 0.2,
            momentum_span: 3,
            confirm_hits: 2,
            max_lost_s: 3.0,
            coast_s: 0.2,
            max_lost_still_s: 10.0,
            max_lost_at_edge_s: 0.5,
            edge_margin_px: 4.0,
            appearance_weight: 0.5,
            appearance_gate: 0.3,
            appearance_gate_partial: 0.35,
            reid_distance: 0.25,
            reid_speed: 1.0,
            max_lost_reid_s: 20.0,
            appearance_momentum: 0.9,
            kalman: KalmanConfig::default(),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TrackError {
    #[error("tracker setting `{field}` = {value} is invalid: {why}")]
    InvalidConfig {
        field: &'static str,
        value: String,
        why: &'static str,
    },
    #[error("frame time {now} is not after the previous frame time {previous}: frames must be given in time order")]
    TimeNotIncreasing { previous: MediaTime, now: MediaTime },
    #[error("{descriptors} appearance descriptors for {detections} detections: give one per detection, or none")]
    AppearanceCount {
        detections: usize,
        descriptors: usize,
    },
}

impl TrackerConfig {
    pub fn validate(&self) -> Result<(), TrackError> {
        let unit = |field: &'static str, v: f32| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(TrackError::InvalidConfig {
                    field,
                    value: v.to_string(),
                    why: "must be in [0, 1]",
                })
            }
        };
        unit("high_score", self.high_score)?;
        unit("low_score", self.low_score)?;
        unit("new_track_score", self.new_track_score)?;
        unit("match_iou", self.match_iou)?;
        unit("low_match_iou", self.low_match_iou)?;
        unit("recovery_iou", self.recovery_iou)?;
        unit("appearance_gate", self.appearance_gate)?;
        unit("appearance_gate_partial", self.appearance_gate_partial)?;
        unit("reid_distance", self.reid_distance)?;
        unit("appearance_momentum", self.appearance_momentum)?;
        for (field, v) in [
            ("appearance_weight", self.appearance_weight),
            ("reid_speed", self.reid_speed),
        ] {
            if !(v.is_finite() && (0.0..=100.0).contains(&v)) {
                return Err(TrackError::InvalidConfig {
                    field,
                    value: v.to_string(),
                    why: "must be a finite number in [0, 100]",
                });
            }
        }
        if !(self.max_lost_reid_s.is_finite() && (0.0..=3600.0).contains(&self.max_lost_reid_s)) {
            return Err(TrackError::InvalidConfig {
                field: "max_lost_reid_s",
                value: self.max_lost_reid_s.to_string(),
                why: "must be a finite number of seconds in [0, 3600]",
            });
        }
        if self.low_score > self.high_score {
            return Err(TrackError::InvalidConfig {
                field: "low_score",
                value: self.low_score.to_string(),
                why: "must not exceed high_score",
            });
        }
        if !(self.momentum_weight.is_finite() && self.momentum_weight >= 0.0) {
            return Err(TrackError::InvalidConfig {
                field: "momentum_weight",
                value: self.momentum_weight.to_string(),
                why: "must be a finite number >= 0",
            });
        }
        if self.momentum_span == 0 || self.momentum_span >= HISTORY {
            return Err(TrackError::InvalidConfig {
                field: "momentum_span",
                value: self.momentum_span.to_string(),
                why: "must be 1, 2 or 3",
            });
        }
        if self.confirm_hits == 0 {
            return Err(TrackError::InvalidConfig {
                field: "confirm_hits",
                value: "0".into(),
                why: "must be at least 1",
            });
        }
        if !(self.max_lost_s.is_finite() && self.max_lost_s >= 0.0) {
            return Err(TrackError::InvalidConfig {
                field: "max_lost_s",
                value: self.max_lost_s.to_string(),
                why: "must be a finite number of seconds >= 0",
            });
        }
        if !(self.coast_s.is_finite() && (0.0..=10.0).contains(&self.coast_s)) {
            return Err(TrackError::InvalidConfig {
                field: "coast_s",
                value: self.coast_s.to_string(),
                why: "must be a finite number of seconds in [0, 10]",
            });
        }
        if !(self.max_lost_still_s.is_finite() && self.max_lost_still_s >= 0.0) {
            return Err(TrackError::InvalidConfig {
                field: "max_lost_still_s",
                value: self.max_lost_still_s.to_string(),
                why: "must be a finite number of seconds >= 0",
            });
        }
        if !(self.max_lost_at_edge_s.is_finite() && self.max_lost_at_edge_s >= 0.0) {
            return Err(TrackError::InvalidConfig {
                field: "max_lost_at_edge_s",
                value: self.max_lost_at_edge_s.to_string(),
                why: "must be a finite number of seconds >= 0",
            });
        }
        if !(self.edge_margin_px.is_finite() && self.edge_margin_px >= 0.0) {
            return Err(TrackError::InvalidConfig {
                field: "edge_margin_px",
                value: self.edge_margin_px.to_string(),
                why: "must be a finite number of pixels >= 0",
            });
        }
        let k = &self.kalman;
        for (field, v) in [
            ("kalman.measurement", k.measurement),
            ("kalman.process_position", k.process_position),
            ("kalman.process_velocity", k.process_velocity),
            ("kalman.initial_velocity", k.initial_velocity),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(TrackError::InvalidConfig {
                    field,
                    value: v.to_string(),
                    why: "must be a finite number > 0",
                });
            }
        }
        Ok(())
    }
}

/// Counters since the tracker was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrackerStats {
    pub updates: u64,
    pub tracks_started: u64,
    pub tracks_confirmed: u64,
    pub tracks_removed: u64,
    /// Detections with a non-finite or empty box or a non-finite score.
    pub invalid_detections: u64,
    /// Valid detections beyond [`MAX_DETECTIONS`] in one frame.
    pub detections_over_capacity: u64,
    /// Lost tracks evicted to make room for a new one.
    pub lost_tracks_evicted: u64,
    /// New tracks not started because all slots held live, non-lost tracks.
    pub tracks_refused: u64,
    /// Tentative tracks recognised as a lost track by appearance and merged into it.
    pub reidentified_at_birth: u64,
    /// Pairs of tracks on the same person merged into the older one.
    pub duplicates_merged: u64,
}

#[derive(Debug, Clone, Copy)]
struct Observation {
    time: f64,
    bbox: BBox,
}

#[derive(Debug, Clone)]
struct Slot {
    track: Track,
    kf: KalmanBox,
    /// Filter state right after the last observation (for the re-update).
    kf_at_obs: KalmanBox,
    /// Predictions since the last observation.
    missed: u32,
    /// Consecutive matches (for confirmation).
    streak: u32,
    history: Deque<Observation, HISTORY>,
    /// Lost for longer than the motion-based stages wait: only re-identification applies.
    reid_only: bool,
    /// Moving average of the descriptors of clean observations.
    app: Option<Appearance>,
    /// Clean observations averaged into `app`.
    app_n: u32,
    /// The person's height relative to the camera's usual height at their feet: a moving
    /// average over observations with visible feet, once the perspective is known.
    stature: Option<f32>,
}

/// Two tracks whose boxes overlap this much, one matched and one not, are one person.
const DUPLICATE_IOU: f32 = 0.8;

/// A track's box covers a detection's region when its bottom edge is lower by this share of
/// the detection's height (clearly nearer the camera, not the same person).
const NEARER_BY: f32 = 0.1;

/// Clean observations after which a track's appearance is trusted for gating and re-id.
const APPEARANCE_ESTABLISHED: u32 = 3;

impl Slot {
    fn established(&self) -> Option<&Appearance> {
        self.app
            .as_ref()
            .filter(|_| self.app_n >= APPEARANCE_ESTABLISHED)
    }
}

/// A detection as an association stage sees it.
struct Obs<'a> {
    d: &'a Detection,
    app: Option<&'a Appearance>,
    /// Nothing detected nearer the camera overlaps it: its descriptor shows this person.
    clean: bool,
}

impl Slot {
    fn last_obs(&self) -> Option<&Observation> {
        self.history.back()
    }

    /// Unit direction of recent observed motion, when the track moved enough to have one.
    fn direction(&self, span: usize) -> Option<(f32, f32)> {
        let n = self.history.len();
        if n < 2 {
            return None;
        }
        let back = span.min(n - 1);
        let a = self.history.iter().nth(n - 1 - back)?;
        let b = self.history.back()?;
        let (ax, ay) = centre(&a.bbox);
        let (bx, by) = centre(&b.bbox);
        let (dx, dy) = (bx - ax, by - ay);
        let len = (dx * dx + dy * dy).sqrt();
        // Below a tenth of the box height the direction is detector jitter, not motion.
        if len < 0.1 * b.bbox.height().max(1.0) {
            return None;
        }
        Some((dx / len, dy / len))
    }
}

fn centre(b: &BBox) -> (f32, f32) {
    ((b.x1 + b.x2) * 0.5, (b.y1 + b.y2) * 0.5)
}

/// Measurement noise scale from the detection score: confident detections are trusted more
/// (the NSA Kalman filter of GIAOTracker/StrongSORT, `R * (1 - score)`), normalised so that a
/// typical confident detection (0.8) keeps the base noise.
fn nsa(score: f32) -> f32 {
    ((1.0 - score.clamp(0.0, 0.99)) / 0.2).max(0.05)
}

fn touches_edge(b: &BBox, w: f32, h: f32, margin: f32) -> bool {
    b.x1 <= margin || b.y1 <= margin || b.x2 >= w - margin || b.y2 >= h - margin
}

/// Share of a box's feet region ([`feet_region`]) that a nearer box must cover to hide the feet.
const FEET_COVERED: f32 = 0.3;

/// A box with hidden feet is extended when it is shorter than the person's estimated height
/// by more than this share: less is the estimate's own error (a box as tall as expected is the
/// whole person, seen over the shoulder of somebody nearer).
const FEET_SHORT_BY: f32 = 0.15;

/// Share of a track's stature kept at each observation with visible feet.
const STATURE_MOMENTUM: f32 = 0.8;

/// Observations with visible feet before the camera's perspective is trusted.
const PERSPECTIVE_MIN_SAMPLES: f64 = 50.0;

/// A band a quarter of the box height straddling its bottom edge (from 15 % above it to 10 %
/// below), the middle half of its width:
/// where the feet are, or where the legs go on behind somebody nearer when the box stops
/// where that person's body starts.
fn feet_region(b: &BBox) -> BBox {
    BBox::new(
        b.x1 + 0.25 * b.width(),
        b.y2 - 0.15 * b.height(),
        b.x2 - 0.25 * b.width(),
        b.y2 + 0.1 * b.height(),
    )
}

/// How tall people appear in the image where they stand: a least-squares line of box height
/// on bottom edge over confident detections with visible feet. Under a camera looking down at
/// a flat floor, a person's height in pixels grows linearly with how low their feet are in
/// the image; individual people differ from the line by their stature.
#[derive(Debug, Clone, Copy, Default)]
struct Perspective {
    n: f64,
    sx: f64,
    sy: f64,
    sxx: f64,
    sxy: f64,
}

impl Perspective {
    fn add(&mut self, bottom: f32, height: f32) {
        let (x, y) = (f64::from(bottom), f64::from(height));
        self.n += 1.0;
        self.sx += x;
        self.sy += y;
        self.sxx += x * x;
        self.sxy += x * y;
    }

    /// Height = `a + b * bottom`, once enough samples spread over the image.
    fn line(&self) -> Option<(f64, f64)> {
        let den = self.n * self.sxx - self.sx * self.sx;
        if self.n < PERSPECTIVE_MIN_SAMPLES || den.abs() <= 1e-9 * self.n * self.n {
            return None;
        }
        let b = (self.n * self.sxy - self.sx * self.sy) / den;
        let a = (self.sy - b * self.sx) / self.n;
        Some((a, b))
    }

    /// The stature of a person seen `height` tall with their feet at `bottom`: their height
    /// against the line's there. `None` while the line is not known.
    fn stature(&self, height: f32, bottom: f32) -> Option<f32> {
        let (a, b) = self.line()?;
        let usual = a + b * f64::from(bottom);
        (usual > 1.0).then(|| (f64::from(height) / usual) as f32)
    }

    /// Height of a person of stature `r` whose head is at `top`: solves
    /// `h = r (a + b (top + h))`. `None` while the line is not known.
    fn height_from_top(&self, top: f32, r: f32) -> Option<f32> {
        let (a, b) = self.line()?;
        let r = f64::from(r);
        let den = 1.0 - r * b;
        if den <= 0.05 {
            return None;
        }
        let h = r * (a + b * f64::from(top)) / den;
        (h.is_finite() && h > 1.0).then_some(h as f32)
    }
}

/// Whether track `s` (confirmed, or missed for at most two frames) is clearly nearer the camera
/// than detection box `a` (bottom edge lower by [`NEARER_BY`] of its height) and covers more than
/// `limit` of `region` (a part of `a`).
fn hides(s: &Slot, a: &BBox, region: &BBox, limit: f32) -> bool {
    let b = &s.track.bbox;
    s.track.state != TrackState::Tentative
        && s.missed <= 2
        && b.y2 > a.y2 + NEARER_BY * a.height()
        && intersection(region, b) > limit
}

fn intersection(a: &BBox, b: &BBox) -> f32 {
    let ix = (a.x2.min(b.x2) - a.x1.max(b.x1)).max(0.0);
    let iy = (a.y2.min(b.y2) - a.y1.max(b.y1)).max(0.0);
    ix * iy
}

fn last_seen_at_edge(s: &Slot, frame: Option<(f32, f32)>, cfg: &TrackerConfig) -> bool {
    match (frame, s.last_obs()) {
        (Some((w, h)), Some(o)) => touches_edge(&o.bbox, w, h, cfg.edge_margin_px),
        _ => false,
    }
}

/// Whether a lost track can wait for re-identification: its appearance is established, the
/// frame has descriptors, and it was not last seen leaving the view.
fn can_reid(s: &Slot, frame: Option<(f32, f32)>, cfg: &TrackerConfig, use_app: bool) -> bool {
    use_app && s.established().is_some() && !last_seen_at_edge(s, frame, cfg)
}

/// Seconds a lost track is kept on motion alone: short when last seen at the frame edge, long
/// when the person stood still.
fn base_keep_s(s: &Slot, frame: Option<(f32, f32)>, cfg: &TrackerConfig) -> f64 {
    if last_seen_at_edge(s, frame, cfg) {
        cfg.max_lost_at_edge_s.min(cfg.max_lost_s)
    } else if s.history.len() >= 2 && s.direction(cfg.momentum_span).is_none() {
        cfg.max_lost_still_s.max(cfg.max_lost_s)
    } else {
        cfg.max_lost_s
    }
}

/// The appearance distance between a track and a detection for the motion stages: `None` when
/// the pair is refused (an established track and a detection whose visible regions look like
/// somebody else), else the distance (0 when either side has no descriptor).
fn appearance_check(cfg: &TrackerConfig, s: &Slot, o: &Obs) -> Option<f32> {
    if cfg.appearance_weight <= 0.0 {
        return Some(0.0);
    }
    let (Some(track), Some(det)) = (s.app.as_ref(), o.app) else {
        return Some(0.0);
    };
    let dist = track.distance(det).unwrap_or(0.0);
    // A detection partly covered by a nearer person is compared on the regions that show it
    // (its descriptor lacks the others), against a looser limit: fewer pixels, noisier colours.
    let gate = if o.clean {
        cfg.appearance_gate
    } else {
        cfg.appearance_gate_partial
    };
    if s.established().is_some() && dist > gate {
        None
    } else {
        Some(dist)
    }
}

/// Re-identification cost: the descriptor distance plus a little for distance walked; infinite
/// unless the detection is confident, looks alike (on the regions not covered by a nearer
/// person) and is within reach.
fn reid_cost(cfg: &TrackerConfig, s: &Slot, o: &Obs, now: f64) -> f32 {
    let (Some(track), Some(det), Some(last)) = (s.established(), o.app, s.last_obs()) else {
        return f32::INFINITY;
    };
    if o.d.score < cfg.new_track_score {
        return f32::INFINITY;
    }
    let Some(dist) = track.distance(det) else {
        return f32::INFINITY;
    };
    if dist > cfg.reid_distance {
        return f32::INFINITY;
    }
    match reach_used(cfg, last, &o.d.bbox, now) {
        Some(used) => dist + 0.1 * used,
        None => f32::INFINITY,
    }
}

/// How much of the distance a hidden person could have walked since `last` lies between it
/// and `b` (0..1), or `None` when `b` is out of reach or of an implausible size.
fn reach_used(cfg: &TrackerConfig, last: &Observation, b: &BBox, now: f64) -> Option<f32> {
    let h = last.bbox.height().max(1.0);
    let ratio = b.height() / h;
    if !(0.5..=2.0).contains(&ratio) {
        return None;
    }
    let (ax, ay) = centre(&last.bbox);
    let (bx, by) = centre(b);
    let walked = ((bx - ax).powi(2) + (by - ay).powi(2)).sqrt() / h;
    let reach = 0.5 + cfg.reid_speed * (now - last.time).max(0.0) as f32;
    (walked <= reach).then_some(walked / reach)
}

fn within_reach(cfg: &TrackerConfig, last: &Observation, b: &BBox, now: f64) -> bool {
    reach_used(cfg, last, b, now).is_some()
}

/// Whether the younger of two tracks was born while the older went unobserved, and the older
/// was not observed again until (at most) this frame, `a` being the one matched in it.
fn never_seen_together(a: &Slot, b: &Slot) -> bool {
    let t = |m: MediaTime| m.as_secs_f64();
    if b.track.first_seen < a.track.first_seen {
        // b older and unmatched now: last seen before a was born.
        t(b.track.last_seen) < t(a.track.first_seen)
    } else {
        // a older: its observation before this frame came before b was born.
        let n = a.history.len();
        n < 2
            || a.history
                .iter()
                .nth(n - 2)
                .is_some_and(|o| o.time < t(b.track.first_seen))
    }
}

fn lerp_box(a: &BBox, b: &BBox, t: f32) -> BBox {
    let l = |x: f32, y: f32| x + (y - x) * t;
    BBox::new(l(a.x1, b.x1), l(a.y1, b.y1), l(a.x2, b.x2), l(a.y2, b.y2))
}

/// Momentum term in `[-0.5, 0.5]`: positive when the detection lies in the track's direction.
fn momentum(dir: Option<(f32, f32)>, from: &BBox, to: &BBox) -> f32 {
    let Some((ux, uy)) = dir else { return 0.0 };
    let (ax, ay) = centre(from);
    let (bx, by) = centre(to);
    let (dx, dy) = (bx - ax, by - ay);
    let len = (dx * dx + dy * dy).sqrt();
    if len < 1e-3 {
        return 0.0;
    }
    let cos = ((ux * dx + uy * dy) / len).clamp(-1.0, 1.0);
    (std::f32::consts::FRAC_PI_2 - cos.acos()) / std::f32::consts::PI
}

/// Which detections an association stage takes.
#[derive(Debug, Clone, Copy)]
enum Pool {
    High,
    Low,
}

/// The multi-object tracker of one camera.
pub struct Tracker {
    cfg: TrackerConfig,
    slots: heapless::Vec<Slot, MAX_TRACKS>,
    /// Frame width and height, when known.
    frame: Option<(f32, f32)>,
    next_id: u32,
    last_time: Option<MediaTime>,
    stats: TrackerStats,
    assigner: Assigner,
    // Per-frame scratch, allocated once.
    candidates: Vec<u32>,
    high: Vec<u32>,
    low: Vec<u32>,
    det_used: Vec<bool>,
    /// Per input detection: nothing nearer the camera overlaps it.
    det_clean: Vec<bool>,
    /// Per input detection: its descriptor without the regions covered by a nearer detection.
    det_app: Vec<Appearance>,
    /// Per input detection: its feet are covered by a detection or track nearer the camera.
    det_feet_hidden: Vec<bool>,
    /// The camera's perspective: how tall people appear where they stand.
    perspective: Perspective,
    pool: Vec<u32>,
    slot_matched: Vec<bool>,
    out: heapless::Vec<Track, MAX_TRACKS>,
    removed: heapless::Vec<TrackId, MAX_TRACKS>,
}

impl std::fmt::Debug for Tracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracker")
            .field("tracks", &self.slots.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Tracker {
    pub fn new(cfg: TrackerConfig) -> Result<Self, TrackError> {
        cfg.validate()?;
        Ok(Self {
            cfg,
            slots: heapless::Vec::new(),
            frame: None,
            next_id: 1,
            last_time: None,
            stats: TrackerStats::default(),
            assigner: Assigner::new(MAX_TRACKS, MAX_DETECTIONS),
            candidates: Vec::with_capacity(MAX_DETECTIONS),
            high: Vec::with_capacity(MAX_DETECTIONS),
            low: Vec::with_capacity(MAX_DETECTIONS),
            det_used: Vec::with_capacity(MAX_DETECTIONS),
            det_clean: Vec::with_capacity(MAX_DETECTIONS),
            det_app: Vec::with_capacity(MAX_DETECTIONS),
            det_feet_hidden: Vec::with_capacity(MAX_DETECTIONS),
            perspective: Perspective::default(),
            pool: Vec::with_capacity(MAX_TRACKS),
            slot_matched: Vec::with_capacity(MAX_TRACKS),
            out: heapless::Vec::new(),
            removed: heapless::Vec::new(),
        })
    }

    pub fn config(&self) -> &TrackerConfig {
        &self.cfg
    }

    pub fn stats(&self) -> TrackerStats {
        self.stats
    }

    /// Tracks after the latest update (tentative, confirmed and lost), in creation order.
    pub fn tracks(&self) -> &[Track] {
        &self.out
    }

    /// Tracks removed by the latest update (they no longer appear in [`Tracker::tracks`]).
    pub fn removed(&self) -> &[TrackId] {
        &self.removed
    }

    /// The size of the camera's frames in pixels. With it, tracks that leave the view are ended
    /// sooner ([`TrackerConfig::max_lost_at_edge_s`]); without it, edges are not known.
    pub fn set_frame_size(&mut self, width: u32, height: u32) {
        self.frame = (width > 0 && height > 0).then_some((width as f32, height as f32));
    }

    /// Forget every track (e.g. after a camera reconnect with a long gap); ids keep counting.
    pub fn reset(&mut self) {
        for s in &self.slots {
            let _ = self.removed.push(s.track.id);
        }
        self.slots.clear();
        self.out.clear();
        self.last_time = None;
    }

    /// Advance to the frame at `time` with its detections; returns the tracks (see
    /// [`Tracker::tracks`]). Frames must come in increasing time order; an out-of-order frame is
    /// refused with an error and changes nothing.
    pub fn update(
        &mut self,
        detections: &[Detection],
        time: MediaTime,
    ) -> Result<&[Track], TrackError> {
        self.update_with_appearance(detections, &[], time)
    }

    /// [`Tracker::update`] with an appearance descriptor per detection (`appearance[i]` belongs
    /// to `detections[i]`; an empty slice means none). Descriptors keep ids apart in crossings
    /// and re-identify people after occlusions of up to [`TrackerConfig::max_lost_reid_s`].
    pub fn update_with_appearance(
        &mut self,
        detections: &[Detection],
        appearance: &[Appearance],
        time: MediaTime,
    ) -> Result<&[Track], TrackError> {
        if !appearance.is_empty() && appearance.len() != detections.len() {
            return Err(TrackError::AppearanceCount {
                detections: detections.len(),
                descriptors: appearance.len(),
            });
        }
        if let Some(prev) = self.last_time {
            if time <= prev {
                return Err(TrackError::TimeNotIncreasing {
                    previous: prev,
                    now: time,
                });
            }
        }
        let dt = self
            .last_time
            .map_or(0.0, |p| (time.as_secs_f64() - p.as_secs_f64()) as f32);
        let first_frame = self.last_time.is_none();
        self.last_time = Some(time);
        self.stats.updates += 1;
        self.removed.clear();
        let now = time.as_secs_f64();
        let cfg = self.cfg;

        // Valid candidates, best first when over capacity.
        self.candidates.clear();
        for (i, d) in detections.iter().enumerate() {
            let ok = d.bbox.is_finite()
                && d.score.is_finite()
                && d.bbox.width() > 0.0
                && d.bbox.height() > 0.0;
            if !ok {
                self.stats.invalid_detections += 1;
            } else if d.score >= cfg.low_score {
                self.candidates.push(i as u32);
            }
        }
        if self.candidates.len() > MAX_DETECTIONS {
            self.candidates.sort_unstable_by(|&a, &b| {
                detections[b as usize]
                    .score
                    .total_cmp(&detections[a as usize].score)
            });
            self.stats.detections_over_capacity += (self.candidates.len() - MAX_DETECTIONS) as u64;
            self.candidates.truncate(MAX_DETECTIONS);
        }
        self.high.clear();
        self.low.clear();
        for &i in &self.candidates {
            if detections[i as usize].score >= cfg.high_score {
                self.high.push(i);
            } else {
                self.low.push(i);
            }
        }
        self.det_used.clear();
        self.det_used
            .resize(detections.len().max(self.det_used.len()), false);
        // (`det_used` is indexed by input index; it only grows for frames with more detections
        // than ever before.)
        // Which regions of each descriptor show the person: a region covered by more than a
        // quarter by a detection nearer the camera (lower bottom edge) shows the neighbour, and
        // a box cut by the frame edge shows other parts of the body than a whole view. A
        // detection with both regions usable is clean (it may update its track's appearance).
        self.det_clean.clear();
        self.det_clean
            .resize(detections.len().max(self.det_clean.len()), false);
        self.det_app.clear();
        self.det_app.resize(
            detections.len().max(self.det_app.len()),
            Appearance::default(),
        );
        if !appearance.is_empty() {
            for &i in &self.candidates {
                let i = i as usize;
                let a = detections[i].bbox;
                let cut = self
                    .frame
                    .is_some_and(|(w, h)| touches_edge(&a, w, h, cfg.edge_margin_px));
                let mut app = if cut {
                    Appearance::default()
                } else {
                    appearance[i]
                };
                for r in 0..REGIONS {
                    if !app.region_present(r) {
                        continue;
                    }
                    let region = region_bbox(&a, r);
                    let area = region.area();
                    let covered = self.candidates.iter().any(|&j| {
                        let b = &detections[j as usize].bbox;
                        j as usize != i && b.y2 > a.y2 && intersection(&region, b) > 0.25 * area
                    });
                    if covered {
                        app.clear_region(r);
                    }
                }
                self.det_clean[i] = (0..REGIONS).all(|r| app.region_present(r));
                self.det_app[i] = app;
            }
        }

        let use_app = !appearance.is_empty() && cfg.appearance_weight > 0.0;

        // 1. Predict.
        for s in self.slots.iter_mut() {
            if s.missed > 0 {
                // As ByteTrack: an unobserved box keeps its size. (Boxes of people becoming
                // hidden shrink to their visible part; extrapolating that makes them vanish.)
                s.kf.freeze_size();
            }
            s.kf.predict(dt, &cfg.kalman);
            s.reid_only = s.track.state == TrackState::Lost
                && can_reid(s, self.frame, &cfg, use_app)
                && now - s.track.last_seen.as_secs_f64() > base_keep_s(s, self.frame, &cfg);
            s.track.bbox = s.kf.bbox();
            s.track.matched = false;
            s.track.detection = None;
        }
        self.slot_matched.clear();
        self.slot_matched.resize(self.slots.len(), false);

        // Tracks hide people too: a region covered by more than a quarter by the predicted box
        // of a track clearly nearer the camera (bottom edge lower by a tenth of the box height;
        // confirmed, or lost for at most two frames) shows that person even when the detector
        // missed them in this frame, so it is left out like one covered by a detection.
        if !appearance.is_empty() {
            for &i in &self.candidates {
                let i = i as usize;
                if !self.det_clean[i] {
                    continue;
                }
                let a = detections[i].bbox;
                let app = &mut self.det_app[i];
                for r in 0..REGIONS {
                    if !app.region_present(r) {
                        continue;
                    }
                    let region = region_bbox(&a, r);
                    let area = region.area();
                    let covered = self
                        .slots
                        .iter()
                        .any(|s| hides(s, &a, &region, 0.25 * area));
                    if covered {
                        app.clear_region(r);
                    }
                }
                self.det_clean[i] = (0..REGIONS).all(|r| app.region_present(r));
            }
        }

        // Whose feet are hidden: the band around a box's bottom edge (`feet_region`) covered by
        // more than FEET_COVERED by a detection or track box clearly nearer the camera. Such a
        // detection's bottom edge is where the nearer person's body hides the legs, not where
        // the feet are.
        self.det_feet_hidden.clear();
        self.det_feet_hidden
            .resize(detections.len().max(self.det_feet_hidden.len()), false);
        for &i in &self.candidates {
            let a = detections[i as usize].bbox;
            let feet = feet_region(&a);
            let limit = FEET_COVERED * feet.area();
            let nearer = |b: &BBox| b.y2 > a.y2 + NEARER_BY * a.height();
            let by_detection = self.candidates.iter().any(|&j| {
                let b = &detections[j as usize].bbox;
                j != i && nearer(b) && intersection(&feet, b) > limit
            });
            self.det_feet_hidden[i as usize] =
                by_detection || self.slots.iter().any(|s| hides(s, &a, &feet, limit));
        }

        // 2. High-score detections against confirmed and lost tracks.
        let gate = 1.0 - cfg.match_iou;
        self.associate(
            Pool::High,
            |s, _| s.track.state != TrackState::Tentative && !s.reid_only,
            gate,
            |s, o| {
                let d = o.d;
                let iou = s.track.bbox.iou(&d.bbox);
                if iou < cfg.match_iou {
                    return f32::INFINITY;
                }
                let Some(dist) = appearance_check(&cfg, s, o) else {
                    return f32::INFINITY;
                };
                let fused = if cfg.fuse_score { iou * d.score } else { iou };
                let m = match s.last_obs() {
                    Some(ob) => momentum(s.direction(cfg.momentum_span), &ob.bbox, &d.bbox),
                    None => 0.0,
                };
                // Within the gate, rank by fused IoU, momentum and appearance; the gate itself
                // is on IoU.
                ((1.0 - fused) - cfg.momentum_weight * m * d.score + cfg.appearance_weight * dist)
                    .clamp(0.0, gate)
            },
            detections,
            appearance,
            time,
        );

        // 3. Low-score detections against the remaining confirmed and lost tracks (ByteTrack
        // takes only tracks matched in the previous frame; a person walking behind another
        // scores low for seconds, and their track must not lose them after one miss), up to
        // `max_lost_s` after the last match.
        self.associate(
            Pool::Low,
            |s, matched| {
                s.track.state != TrackState::Tentative
                    && !s.reid_only
                    && !matched
                    && now - s.track.last_seen.as_secs_f64() <= cfg.max_lost_s
            },
            1.0 - cfg.low_match_iou,
            |s, o| match appearance_check(&cfg, s, o) {
                Some(_) => 1.0 - s.track.bbox.iou(&o.d.bbox),
                None => f32::INFINITY,
            },
            detections,
            appearance,
            time,
        );

        // 4. Observation-centric recovery: last observed boxes against remaining high detections.
        self.associate(
            Pool::High,
            |s, matched| s.track.state != TrackState::Tentative && !matched && !s.reid_only,
            1.0 - cfg.recovery_iou,
            |s, o| match (s.last_obs(), appearance_check(&cfg, s, o)) {
                (Some(ob), Some(_)) => 1.0 - ob.bbox.iou(&o.d.bbox),
                _ => f32::INFINITY,
            },
            detections,
            appearance,
            time,
        );

        // 4b. Re-identification: lost tracks against confident, unoccluded detections by
        // appearance, where the person could have walked to since last seen.
        if use_app {
            self.associate(
                Pool::High,
                |s, matched| {
                    s.track.state == TrackState::Lost && !matched && s.established().is_some()
                },
                cfg.reid_distance + 0.1,
                |s, o| reid_cost(&cfg, s, o, now),
                detections,
                appearance,
                time,
            );
        }

        // 5. Tentative tracks against the remaining high detections.
        let gate = 1.0 - cfg.recovery_iou;
        self.associate(
            Pool::High,
            |s, _| s.track.state == TrackState::Tentative,
            gate,
            |s, o| {
                let d = o.d;
                let iou = s.track.bbox.iou(&d.bbox);
                if iou < cfg.recovery_iou {
                    return f32::INFINITY;
                }
                let fused = if cfg.fuse_score { iou * d.score } else { iou };
                (1.0 - fused).min(gate)
            },
            detections,
            appearance,
            time,
        );

        // 5b. Re-identification at birth: a tentative track about to be confirmed that looks
        // like a track lost nearby is that person seen again (their detection was refused or
        // missed while occluded); the old track takes the detection and the new one is dropped.
        if use_app {
            self.reid_at_birth(detections, appearance, time);
        }

        // 5c. Duplicates: a matched track and an unmatched one on the same box (a second track
        // born for a person whose old track missed a frame) become one, under the older id.
        if use_app {
            self.merge_duplicates(detections, appearance, time);
        }

        // 6. Lifecycle of unmatched tracks.
        for (k, s) in self.slots.iter_mut().enumerate() {
            if self.slot_matched[k] {
                if s.track.state == TrackState::Tentative && s.streak >= cfg.confirm_hits {
                    s.track.state = TrackState::Confirmed;
                    self.stats.tracks_confirmed += 1;
                }
                continue;
            }
            s.missed += 1;
            s.streak = 0;
            if s.track.state == TrackState::Confirmed {
                s.track.state = TrackState::Lost;
            }
        }
        // Remove: tentative tracks missed once, lost tracks past their time, broken filters.
        // (ByteTrack also drops lost tracks overlapping a tracked one; in a store that deletes
        // the person hidden behind a passer-by, so it is not done here.)
        let mut k = 0;
        while k < self.slots.len() {
            let s = &self.slots[k];
            let base = base_keep_s(s, self.frame, &cfg);
            // With an established appearance (and not last seen leaving the view), a lost
            // track waits longer for re-identification; its prediction no longer matters.
            let reid = can_reid(s, self.frame, &cfg, use_app);
            let keep_s = if reid {
                base.max(cfg.max_lost_reid_s)
            } else {
                base
            };
            let gone = !reid
                && self.frame.is_some_and(|(w, h)| {
                    let b = s.kf.bbox();
                    b.x2 <= 0.0 || b.y2 <= 0.0 || b.x1 >= w || b.y1 >= h
                });
            let expired = (s.track.state == TrackState::Tentative && !self.slot_matched[k])
                || (s.track.state == TrackState::Lost
                    && (now - s.track.last_seen.as_secs_f64() > keep_s
                        || gone
                        || !s.kf.is_finite()));
            if expired {
                let _ = self.removed.push(self.slots[k].track.id);
                self.stats.tracks_removed += 1;
                self.slots.swap_remove(k);
                self.slot_matched.swap_remove(k);
            } else {
                k += 1;
            }
        }

        // 7. New tracks from confident unmatched detections.
        self.high.retain(|&i| !self.det_used[i as usize]);
        for hi in 0..self.high.len() {
            let di = self.high[hi] as usize;
            let d = &detections[di];
            if d.score < cfg.new_track_score {
                continue;
            }
            if self.slots.is_full() {
                // Evict the lost track unseen for longest, if any.
                let victim = self
                    .slots
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| s.track.state == TrackState::Lost)
                    .min_by(|a, b| a.1.track.last_seen.cmp(&b.1.track.last_seen))
                    .map(|(k, _)| k);
                match victim {
                    Some(k) => {
                        let _ = self.removed.push(self.slots[k].track.id);
                        self.stats.tracks_removed += 1;
                        self.stats.lost_tracks_evicted += 1;
                        self.slots.swap_remove(k);
                    }
                    None => {
                        self.stats.tracks_refused += 1;
                        continue;
                    }
                }
            }
            let kf = KalmanBox::new(&d.bbox, &cfg.kalman);
            let mut history = Deque::new();
            let _ = history.push_back(Observation {
                time: now,
                bbox: d.bbox,
            });
            let app = appearance
                .get(di)
                .filter(|a| self.det_clean[di] && !a.is_empty())
                .copied();
            let id = TrackId(self.next_id);
            self.next_id = self.next_id.wrapping_add(1).max(1);
            let state = if first_frame || cfg.confirm_hits <= 1 {
                self.stats.tracks_confirmed += 1;
                TrackState::Confirmed
            } else {
                TrackState::Tentative
            };
            self.stats.tracks_started += 1;
            let slot = Slot {
                track: Track {
                    id,
                    state,
                    bbox: kf.bbox(),
                    score: d.score,
                    matched: true,
                    hits: 1,
                    first_seen: time,
                    last_seen: time,
                    detection: Some(di as u32),
                    coasting: false,
                    feet_estimated: false,
                    appearance: None,
                },
                kf,
                kf_at_obs: kf,
                missed: 0,
                streak: 1,
                history,
                app,
                app_n: u32::from(app.is_some()),
                stature: None,
                reid_only: false,
            };
            // Cannot fail: a slot was freed above when full.
            let _ = self.slots.push(slot);
        }

        // Hidden feet: learn how tall people appear from the detections that show them whole,
        // and report a person whose feet are hidden down to their estimated feet.
        for s in self.slots.iter_mut() {
            s.track.feet_estimated = false;
            let Some(di) = s.track.detection.filter(|_| s.track.matched) else {
                continue;
            };
            let d = &detections[di as usize];
            let cut = self
                .frame
                .is_some_and(|(w, h)| touches_edge(&d.bbox, w, h, cfg.edge_margin_px));
            if cut {
                continue;
            }
            if !self.det_feet_hidden[di as usize] {
                let h = d.bbox.height();
                if let Some(now) = self.perspective.stature(h, d.bbox.y2) {
                    s.stature = Some(s.stature.map_or(now, |old| {
                        STATURE_MOMENTUM * old + (1.0 - STATURE_MOMENTUM) * now
                    }));
                }
                if d.score >= cfg.new_track_score {
                    self.perspective.add(d.bbox.y2, h);
                }
            } else if let Some(r) = s.stature {
                let b = &mut s.track.bbox;
                if let Some(h) = self.perspective.height_from_top(b.y1, r) {
                    let mut y2 = b.y1 + h;
                    if let Some((_, fh)) = self.frame {
                        y2 = y2.min(fh);
                    }
                    if y2 > b.y2 + FEET_SHORT_BY * h {
                        b.y2 = y2;
                        s.track.feet_estimated = true;
                    }
                }
            }
        }

        self.out.clear();
        for s in self.slots.iter_mut() {
            s.track.appearance = s.app;
            // (A microsecond of slack: frame times are rational, seconds are floats.)
            s.track.coasting = s.track.state == TrackState::Lost
                && now - s.track.last_seen.as_secs_f64() <= cfg.coast_s + 1e-6;
            let _ = self.out.push(s.track);
        }
        Ok(&self.out)
    }

    /// Step 5b of `update`: tentative tracks due for confirmation against unmatched,
    /// established tracks by appearance (their averaged clean views, so less noisy than one
    /// detection) and reach.
    fn reid_at_birth(
        &mut self,
        detections: &[Detection],
        appearance: &[Appearance],
        time: MediaTime,
    ) {
        let now = time.as_secs_f64();
        let cfg = self.cfg;
        for k in 0..self.slots.len() {
            let s = &self.slots[k];
            let (Some(app), Some(di)) = (s.app, s.track.detection) else {
                continue;
            };
            if !self.slot_matched[k]
                || s.track.state != TrackState::Tentative
                || s.streak < cfg.confirm_hits
            {
                continue;
            }
            let d = &detections[di as usize];
            let mut best: Option<(usize, f32)> = None;
            for (j, o) in self.slots.iter().enumerate() {
                if self.slot_matched[j] || o.track.state == TrackState::Tentative {
                    continue;
                }
                let (Some(old), Some(last)) = (o.established(), o.last_obs()) else {
                    continue;
                };
                let Some(dist) = old.distance(&app) else {
                    continue;
                };
                // Born where the old track was just lost: likely the same person, whose
                // detection the gate refused; the gate's looser distance applies.
                let here = now - last.time <= 1.0 && last.bbox.iou(&d.bbox) >= cfg.recovery_iou;
                let limit = if here {
                    cfg.appearance_gate.max(cfg.reid_distance)
                } else {
                    cfg.reid_distance
                };
                if dist > limit || !within_reach(&cfg, last, &d.bbox, now) {
                    continue;
                }
                if best.is_none_or(|(_, b)| dist < b) {
                    best = Some((j, dist));
                }
            }
            let Some((j, _)) = best else { continue };
            // The old track takes the detection; the tentative one, unmatched, is removed
            // by the lifecycle step.
            self.slot_matched[k] = false;
            self.slots[k].track.matched = false;
            self.slots[k].track.detection = None;
            let pool = [j as u32];
            let dets = [di];
            Self::apply_matches(
                &mut self.slots,
                (&mut self.slot_matched, &mut self.det_used),
                &[(0, 0)],
                &pool,
                &dets,
                (detections, appearance, &self.det_clean),
                time,
                &cfg,
            );
            self.stats.reidentified_at_birth += 1;
        }
    }

    /// Step 5c of `update`: pairs of a matched, confirmed track and an unmatched, non-tentative
    /// one whose boxes overlap by IoU >= [`DUPLICATE_IOU`] (and whose appearances, when both
    /// are known, do not differ by more than the gate) are one person tracked twice. The older
    /// track keeps the detection; the younger is removed (marked tentative and unmatched, which
    /// the lifecycle step removes). ByteTrack drops such duplicates too, but by time only;
    /// people standing close behind each other have boxes of different sizes and stay apart.
    fn merge_duplicates(
        &mut self,
        detections: &[Detection],
        appearance: &[Appearance],
        time: MediaTime,
    ) {
        let cfg = self.cfg;
        for a in 0..self.slots.len() {
            let sa = &self.slots[a];
            if !self.slot_matched[a] || sa.track.state != TrackState::Confirmed {
                continue;
            }
            let Some(di) = sa.track.detection else {
                continue;
            };
            let mut dup = None;
            for (b, sb) in self.slots.iter().enumerate() {
                if b == a || self.slot_matched[b] || sb.track.state == TrackState::Tentative {
                    continue;
                }
                if sa.track.bbox.iou(&sb.track.bbox) < DUPLICATE_IOU {
                    continue;
                }
                // Two tracks both observed while the younger lived are two people (one walking
                // in front of the other, hidden, one): a duplicate is born while the older
                // track goes unobserved.
                if !never_seen_together(sa, sb) {
                    continue;
                }
                // Only with positive evidence: both look alike.
                let alike = match (sa.app.as_ref(), sb.established()) {
                    (Some(x), Some(y)) => x.distance(y).is_some_and(|d| d <= cfg.reid_distance),
                    _ => false,
                };
                if !alike {
                    continue;
                }
                dup = Some(b);
                break;
            }
            let Some(b) = dup else { continue };
            self.stats.duplicates_merged += 1;
            let older_is_b = self.slots[b].track.first_seen < self.slots[a].track.first_seen;
            let drop = if older_is_b {
                // The older track takes the detection.
                self.slot_matched[a] = false;
                let pool = [b as u32];
                let dets = [di];
                Self::apply_matches(
                    &mut self.slots,
                    (&mut self.slot_matched, &mut self.det_used),
                    &[(0, 0)],
                    &pool,
                    &dets,
                    (detections, appearance, &self.det_clean),
                    time,
                    &cfg,
                );
                a
            } else {
                b
            };
            let s = &mut self.slots[drop];
            s.track.state = TrackState::Tentative;
            s.track.matched = false;
            s.track.detection = None;
            self.slot_matched[drop] = false;
        }
    }

    /// One association stage: the tracks chosen by `take` (given the slot and whether it was
    /// matched earlier in this frame) against the still unused detections of `which`, by optimal
    /// assignment on `cost` (pairs costing more than `max_cost` are not admissible).
    #[allow(clippy::too_many_arguments)]
    fn associate(
        &mut self,
        which: Pool,
        take: impl Fn(&Slot, bool) -> bool,
        max_cost: f32,
        cost: impl Fn(&Slot, &Obs) -> f32,
        detections: &[Detection],
        appearance: &[Appearance],
        time: MediaTime,
    ) {
        let Self {
            slots,
            pool,
            high,
            low,
            assigner,
            slot_matched,
            det_used,
            det_clean,
            det_app,
            cfg,
            ..
        } = self;
        let dets = match which {
            Pool::High => high,
            Pool::Low => low,
        };
        dets.retain(|&i| !det_used[i as usize]);
        pool.clear();
        for (k, s) in slots.iter().enumerate() {
            if take(s, slot_matched[k]) {
                pool.push(k as u32);
            }
        }
        let obs = |i: usize| Obs {
            d: &detections[i],
            app: det_app.get(i).filter(|a| !a.is_empty()),
            clean: det_clean[i],
        };
        let matches = assigner.solve(pool.len(), dets.len(), max_cost, |r, c| {
            cost(&slots[pool[r] as usize], &obs(dets[c] as usize))
        });
        Self::apply_matches(
            slots,
            (slot_matched, det_used),
            matches,
            pool,
            dets,
            (detections, appearance, det_clean),
            time,
            cfg,
        );
    }

    /// Kalman update (with the observation-centric re-update after a gap) for matched pairs,
    /// marking the slots (`marks.0`) and detections (`marks.1`) as used.
    #[allow(clippy::too_many_arguments)]
    fn apply_matches(
        slots: &mut heapless::Vec<Slot, MAX_TRACKS>,
        marks: (&mut [bool], &mut [bool]),
        matches: &[(u32, u32)],
        pool: &[u32],
        dets: &[u32],
        input: (&[Detection], &[Appearance], &[bool]),
        time: MediaTime,
        cfg: &TrackerConfig,
    ) {
        let (detections, appearance, det_clean) = input;
        let now = time.as_secs_f64();
        let (slot_matched, det_used) = marks;
        for &(r, c) in matches {
            let k = pool[r as usize] as usize;
            let di = dets[c as usize] as usize;
            slot_matched[k] = true;
            det_used[di] = true;
            let s = &mut slots[k];
            let d = &detections[di];
            match (s.missed, s.last_obs().copied()) {
                (missed, Some(last)) if missed > 0 => {
                    // Re-run the filter from the last observation along a straight line to this
                    // one, one virtual observation per missed frame.
                    let steps = missed + 1;
                    let step_dt = ((now - last.time) / f64::from(steps)) as f32;
                    s.kf = s.kf_at_obs;
                    for k in 1..=steps {
                        s.kf.predict(step_dt, &cfg.kalman);
                        let virt = lerp_box(&last.bbox, &d.bbox, k as f32 / steps as f32);
                        s.kf.update(&virt, &cfg.kalman);
                    }
                }
                _ => s.kf.update_weighted(&d.bbox, nsa(d.score), &cfg.kalman),
            }
            s.kf_at_obs = s.kf;
            s.missed = 0;
            s.streak += 1;
            if s.history.is_full() {
                s.history.pop_front();
            }
            let _ = s.history.push_back(Observation {
                time: now,
                bbox: d.bbox,
            });
            let t = &mut s.track;
            t.bbox = s.kf.bbox();
            t.score = d.score;
            t.matched = true;
            t.hits += 1;
            t.detection = Some(di as u32);
            t.last_seen = time;
            if t.state == TrackState::Lost {
                t.state = TrackState::Confirmed;
            }
            s.reid_only = false;
            // Only confident, unoccluded views update the appearance.
            if let Some(a) = appearance.get(di) {
                if det_clean[di] && d.score >= cfg.new_track_score && !a.is_empty() {
                    match &mut s.app {
                        Some(cur) => cur.blend(a, 1.0 - cfg.appearance_momentum),
                        None => s.app = Some(*a),
                    }
                    s.app_n = s.app_n.saturating_add(1);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(i: i64) -> MediaTime {
        // 10 frames per second.
        MediaTime::new(i, 10).unwrap()
    }

    fn person(cx: f32, cy: f32, score: f32) -> Detection {
        Detection {
            bbox: BBox::new(cx - 20.0, cy - 60.0, cx + 20.0, cy + 60.0),
            score,
            class_id: 0,
        }
    }

    fn active(tr: &Tracker) -> Vec<(TrackId, BBox)> {
        tr.tracks()
            .iter()
            .filter(|t| t.is_active())
            .map(|t| (t.id, t.bbox))
            .collect()
    }

    /// A camera where people appear `0.5 * feet_y - 50` pixels tall; a person of stature `r`
    /// standing with their feet at (`cx`, `feet`).
    fn standing(cx: f32, feet: f32, r: f32, score: f32) -> Detection {
        let h = r * (0.5 * feet - 50.0);
        Detection {
            bbox: BBox::new(cx - 0.2 * h, feet - h, cx + 0.2 * h, feet),
            score,
            class_id: 0,
        }
    }

    #[test]
    fn hidden_feet_are_put_where_the_persons_height_says() {
        let mut tr = Tracker::new(TrackerConfig::default()).unwrap();
        tr.set_frame_size(1280, 720);
        // Walkers far apart at several depths teach the tracker the camera's perspective;
        // the shopper (10 % taller than usual) stands at x 600 with feet at y 400.
        let walkers = |i: i64| -> Vec<Detection> {
            [(300.0, 1.0), (450.0, 0.95), (650.0, 1.05)]
                .iter()
                .enumerate()
                .map(|(k, &(feet, r))| standing([100.0, 300.0, 1000.0][k] + i as f32, feet, r, 0.9))
                .collect()
        };
        let shopper = standing(600.0, 400.0, 1.1, 0.9);
        let top = shopper.bbox.y1;
        for i in 0..40 {
            let mut d = walkers(i);
            d.push(shopper.clone());
            tr.update(&d, t(i)).unwrap();
        }
        let id = |tr: &Tracker| {
            tr.tracks()
                .iter()
                .find(|t| {
                    t.is_active()
                        && ((t.bbox.x1 + t.bbox.x2) / 2.0 - 600.0).abs() < 30.0
                        && (t.bbox.y1 - top).abs() < 20.0
                })
                .copied()
                .unwrap()
        };
        let before = id(&tr);
        assert!(!before.feet_estimated);
        assert!((before.bbox.y2 - 400.0).abs() < 1.0, "{:?}", before.bbox);
        // Somebody nearer stands in front: the detector boxes the shopper only down to y 330.
        let nearer = standing(610.0, 560.0, 1.0, 0.9);
        for i in 40..50 {
            let mut d = walkers(i);
            let mut cut = shopper.clone();
            cut.bbox.y2 = 330.0;
            d.push(cut);
            d.push(nearer.clone());
            tr.update(&d, t(i)).unwrap();
            let s = id(&tr);
            assert_eq!(s.id, before.id);
            if i >= 43 {
                assert!(s.feet_estimated, "frame {i}: {s:?}");
                assert!((s.bbox.y2 - 400.0).abs() < 6.0, "frame {i}: {:?}", s.bbox);
                assert!((s.bbox.y1 - top).abs() < 3.0, "frame {i}: {:?}", s.bbox);
            }
        }
        // Seen whole over the nearer person's shoulder, the box is left as it is.
        for i in 50..60 {
            let mut d = walkers(i);
            d.push(shopper.clone());
            d.push(nearer.clone());
            tr.update(&d, t(i)).unwrap();
            let s = id(&tr);
            if i >= 55 {
                assert!(!s.feet_estimated, "frame {i}: {s:?}");
                assert!((s.bbox.y2 - 400.0).abs() < 2.0, "frame {i}: {:?}", s.bbox);
            }
        }
    }

    #[test]
    fn perspective_line_and_heights_from_the_top() {
        let mut p = Perspective::default();
        assert_eq!(p.line(), None);
        // Nothing is estimated before the line is known.
        assert_eq!(p.stature(120.0, 300.0), None);
        assert_eq!(p.height_from_top(100.0, 1.0), None);
        for k in 0..60 {
            let y2 = 200.0 + 8.0 * k as f32;
            p.add(y2, 0.5 * y2 - 50.0);
        }
        let (a, b) = p.line().unwrap();
        assert!((a + 50.0).abs() < 1e-6 && (b - 0.5).abs() < 1e-9, "{a} {b}");
        let st = p.stature(165.0, 400.0).unwrap();
        assert!((st - 1.1).abs() < 1e-6, "{st}");
        // Head at 235: h = 1.1 (0.5 (235 + h) - 50) gives h = 165, feet at 400.
        let h = p.height_from_top(235.0, st).unwrap();
        assert!((h - 165.0).abs() < 1e-3, "{h}");
        // Same detections at one height only: no line.
        let mut flat = Perspective::default();
        for _ in 0..60 {
            flat.add(300.0, 100.0);
        }
        assert_eq!(flat.line(), None);
    }

    #[test]
    fn crossing_people_keep_their_ids() {
        let mut tr = Tracker::new(TrackerConfig::default()).unwrap();
        // A walks right, B walks left, on the same row: they overlap fully mid-way, where B is
        // hidden (not detected) behind A for 5 frames.
        let mut ids = None;
        for i in 0..60 {
            let ax = 100.0 + 8.0 * i as f32;
            let bx = 580.0 - 8.0 * i as f32;
            let mut dets = vec![person(ax, 300.0, 0.9)];
            if !(28..33).contains(&i) {
                dets.push(person(bx, 302.0, 0.85));
            }
            tr.update(&dets, t(i)).unwrap();
            let act = active(&tr);
            if i == 5 {
                assert_eq!(act.len(), 2);
                let a = act
                    .iter()
                    .min_by(|p, q| p.1.x1.total_cmp(&q.1.x1))
                    .unwrap()
                    .0;
                let b = act
                    .iter()
                    .max_by(|p, q| p.1.x1.total_cmp(&q.1.x1))
                    .unwrap()
                    .0;
                ids = Some((a, b));
            }
            if i == 59 {
                let (a, b) = ids.unwrap();
                let now_a = act
                    .iter()
                    .max_by(|p, q| p.1.x1.total_cmp(&q.1.x1))
                    .unwrap()
                    .0;
                let now_b = act
                    .iter()
                    .min_by(|p, q| p.1.x1.total_cmp(&q.1.x1))
                    .unwrap()
                    .0;
                assert_eq!((now_a, now_b), (a, b), "ids swapped after the crossing");
            }
        }
        assert_eq!(tr.stats().tracks_started, 2);
    }

    #[test]
    fn occluded_standing_person_is_recovered_after_two_seconds() {
        let mut tr = Tracker::new(TrackerConfig::default()).unwrap();
        // Walks in, stops at a display, is hidden for 2 s, is seen again standing there.
        let mut id = None;
        for i in 0..80 {
            let x = if i < 20 {
                100.0 + 10.0 * i as f32
            } else {
                300.0
            };
            let dets = if (40..60).contains(&i) {
                vec![]
            } else {
                vec![person(x, 300.0, 0.8)]
            };
            tr.update(&dets, t(i)).unwrap();
            if i == 10 {
                id = Some(active(&tr)[0].0);
            }
            if (40..60).contains(&i) {
                assert!(active(&tr).is_empty());
                assert_eq!(tr.tracks()[0].state, TrackState::Lost);
            }
        }
        let act = active(&tr);
        assert_eq!(act.len(), 1);
        assert_eq!(Some(act[0].0), id, "the same person got a new id");
        assert_eq!(tr.stats().tracks_started, 1);
    }

    #[test]
    fn low_score_detections_extend_tracks_but_never_start_them() {
        let mut tr = Tracker::new(TrackerConfig::default()).unwrap();
        for i in 0..5 {
            tr.update(&[person(200.0 + 5.0 * i as f32, 300.0, 0.9)], t(i))
                .unwrap();
        }
        let id = active(&tr)[0].0;
        // Partly occluded now: scores drop to 0.3 for a second.
        for i in 5..15 {
            tr.update(&[person(200.0 + 5.0 * i as f32, 300.0, 0.3)], t(i))
                .unwrap();
            assert_eq!(active(&tr), vec![(id, active(&tr)[0].1)]);
        }
        // A low-score detection far away does not start a track.
        tr.update(
            &[person(200.0 + 75.0, 300.0, 0.9), person(900.0, 300.0, 0.45)],
            t(15),
        )
        .unwrap();
        assert_eq!(tr.tracks().len(), 1);
        assert_eq!(tr.stats().tracks_started, 1);
    }

    #[test]
    fn lifecycle_tentative_confirmed_lost_removed() {
        let mut tr = Tracker::new(TrackerConfig {
            max_lost_s: 1.0,
            ..Default::default()
        })
        .unwrap();
        tr.update(&[], t(0)).unwrap();
        // One-frame false positive: tentative, then removed.
        tr.update(&[person(500.0, 300.0, 0.7)], t(1)).unwrap();
        assert_eq!(tr.tracks()[0].state, TrackState::Tentative);
        assert!(!tr.tracks()[0].is_active());
        let fp = tr.tracks()[0].id;
        tr.update(&[], t(2)).unwrap();
        assert!(tr.tracks().is_empty());
        assert_eq!(tr.removed(), &[fp]);
        // A real person walking: confirmed on the second hit.
        tr.update(&[person(100.0, 300.0, 0.9)], t(3)).unwrap();
        tr.update(&[person(120.0, 300.0, 0.9)], t(4)).unwrap();
        let id = tr.tracks()[0].id;
        assert_ne!(id, fp);
        assert!(tr.tracks()[0].is_active());
        // Leaves: lost for up to a second, then removed and reported once.
        for i in 5..=14 {
            tr.update(&[], t(i)).unwrap();
            assert_eq!(tr.tracks()[0].state, TrackState::Lost, "frame {i}");
        }
        tr.update(&[], t(15)).unwrap();
        assert!(tr.tracks().is_empty());
        assert_eq!(tr.removed(), &[id]);
        tr.update(&[], t(16)).unwrap();
        assert!(tr.removed().is_empty());
    }

    #[test]
    fn a_missed_frame_is_coasted_through_for_coast_s_only() {
        let mut tr = Tracker::new(TrackerConfig::default()).unwrap();
        for i in 0..5 {
            tr.update(&[person(100.0 + 10.0 * i as f32, 300.0, 0.9)], t(i))
                .unwrap();
        }
        let id = tr.tracks()[0].id;
        // Missed for 0.1 and 0.2 s: still reported, at the predicted box (walking on).
        for i in 5..=6 {
            tr.update(&[], t(i)).unwrap();
            let tk = tr.tracks()[0];
            assert_eq!(tk.state, TrackState::Lost);
            assert!(
                tk.coasting && tk.is_reported() && !tk.is_active(),
                "frame {i}"
            );
            assert_eq!(tk.detection, None);
            let (cx, _) = centre(&tk.bbox);
            assert!(cx > 140.0 + 10.0 * (i - 5) as f32, "frame {i}: centre {cx}");
        }
        // 0.3 s: no longer reported, though kept for re-identification.
        tr.update(&[], t(7)).unwrap();
        let tk = tr.tracks()[0];
        assert!(!tk.coasting && !tk.is_reported());
        // Found again: matched, same id.
        tr.update(&[person(180.0, 300.0, 0.9)], t(8)).unwrap();
        let tk = tr.tracks()[0];
        assert_eq!(tk.id, id);
        assert!(tk.matched && !tk.coasting && tk.is_active() && tk.is_reported());

        // coast_s = 0: only matched tracks are reported.
        let mut tr = Tracker::new(TrackerConfig {
            coast_s: 0.0,
            ..Default::default()
        })
        .unwrap();
        for i in 0..3 {
            tr.update(&[person(100.0, 300.0, 0.9)], t(i)).unwrap();
        }
        tr.update(&[], t(3)).unwrap();
        assert!(!tr.tracks()[0].is_reported());
        // A tentative track missed is removed, never coasted.
        tr.update(&[person(600.0, 300.0, 0.9)], t(4)).unwrap();
        tr.update(&[], t(5)).unwrap();
        assert!(tr.tracks().iter().all(|tk| !tk.coasting));
    }

    #[test]
    fn a_standing_person_is_kept_longer_than_a_walking_one() {
        let cfg = TrackerConfig {
            max_lost_s: 1.0,
            max_lost_still_s: 4.0,
            ..Default::default()
        };
        let mut tr = Tracker::new(cfg).unwrap();
        // A stands at x = 200, B walks right; both are hidden from frame 10 on.
        for i in 0..10 {
            let dets = [
                person(200.0, 300.0, 0.9),
                person(400.0 + 15.0 * i as f32, 300.0, 0.9),
            ];
            tr.update(&dets, t(i)).unwrap();
        }
        let standing = tr.tracks().iter().find(|t| t.bbox.x1 < 300.0).unwrap().id;
        for i in 10..=20 {
            tr.update(&[], t(i)).unwrap();
        }
        // B is gone after 1 s; A is still kept (lost) ...
        assert_eq!(
            tr.tracks().iter().map(|t| t.id).collect::<Vec<_>>(),
            vec![standing]
        );
        for i in 21..50 {
            tr.update(&[], t(i)).unwrap();
        }
        // ... and found again where they stood 4 s after being hidden.
        tr.update(&[person(201.0, 300.0, 0.8)], t(50)).unwrap();
        assert_eq!(active(&tr).first().map(|a| a.0), Some(standing));
        // After 4 s, a standing track is removed too.
        for i in 51..=91 {
            tr.update(&[], t(i)).unwrap();
        }
        assert!(tr.tracks().is_empty());
    }

    #[test]
    fn a_person_leaving_at_the_edge_does_not_hand_the_id_to_one_entering() {
        let mut tr = Tracker::new(TrackerConfig::default()).unwrap();
        tr.set_frame_size(640, 480);
        // Walks out of the left edge.
        for i in 0..10 {
            tr.update(
                &[person(100.0 - 10.0 * i as f32, 300.0, 0.9).clamp_box(640.0, 480.0)],
                t(i),
            )
            .unwrap();
        }
        let leaving = tr.tracks()[0].id;
        // Gone for 1 s, then someone enters at the same place.
        for i in 10..20 {
            tr.update(&[], t(i)).unwrap();
        }
        assert!(tr.tracks().is_empty(), "a track that left the view lingers");
        tr.update(&[person(15.0, 300.0, 0.9).clamp_box(640.0, 480.0)], t(20))
            .unwrap();
        tr.update(&[person(25.0, 300.0, 0.9).clamp_box(640.0, 480.0)], t(21))
            .unwrap();
        assert_ne!(active(&tr)[0].0, leaving);
        // Without the frame size the old track would have been recovered (lost for < 3 s).
        let mut blind = Tracker::new(TrackerConfig::default()).unwrap();
        for i in 0..10 {
            blind
                .update(
                    &[person(100.0 - 10.0 * i as f32, 300.0, 0.9).clamp_box(640.0, 480.0)],
                    t(i),
                )
                .unwrap();
        }
        for i in 10..20 {
            blind.update(&[], t(i)).unwrap();
        }
        assert_eq!(blind.tracks().len(), 1);
    }

    trait ClampBox {
        fn clamp_box(self, w: f32, h: f32) -> Self;
    }
    impl ClampBox for Detection {
        fn clamp_box(mut self, w: f32, h: f32) -> Self {
            self.bbox = self.bbox.clamp(w, h);
            self
        }
    }

    #[test]
    fn out_of_order_frames_are_refused_without_changing_state() {
        let mut tr = Tracker::new(TrackerConfig::default()).unwrap();
        tr.update(&[person(100.0, 300.0, 0.9)], t(5)).unwrap();
        let before = tr.tracks().to_vec();
        let err = tr.update(&[person(400.0, 300.0, 0.9)], t(5)).unwrap_err();
        assert!(err.to_string().contains("0.500s"), "{err}");
        assert!(matches!(
            tr.update(&[], t(4)),
            Err(TrackError::TimeNotIncreasing { .. })
        ));
        assert_eq!(tr.tracks(), &before[..]);
    }

    #[test]
    fn invalid_detections_are_counted_and_ignored() {
        let mut tr = Tracker::new(TrackerConfig::default()).unwrap();
        let bad = [
            Detection {
                bbox: BBox::new(f32::NAN, 0.0, 10.0, 10.0),
                score: 0.9,
                class_id: 0,
            },
            Detection {
                bbox: BBox::new(10.0, 10.0, 10.0, 50.0),
                score: 0.9,
                class_id: 0,
            },
            Detection {
                bbox: BBox::new(0.0, 0.0, 10.0, 10.0),
                score: f32::INFINITY,
                class_id: 0,
            },
            person(300.0, 300.0, 0.9),
        ];
        tr.update(&bad, t(0)).unwrap();
        assert_eq!(tr.stats().invalid_detections, 3);
        assert_eq!(tr.tracks().len(), 1);
    }

    #[test]
    fn capacity_overflow_refuses_then_evicts_the_oldest_lost_track() {
        let mut tr = Tracker::new(TrackerConfig::default()).unwrap();
        let grid = |n: usize, off: f32| -> Vec<Detection> {
            (0..n)
                .map(|k| {
                    person(
                        off + 50.0 * (k % 40) as f32,
                        100.0 + 150.0 * (k / 40) as f32,
                        0.9,
                    )
                })
                .collect()
        };
        tr.update(&grid(300, 0.0), t(0)).unwrap();
        assert_eq!(tr.tracks().len(), MAX_TRACKS);
        assert_eq!(tr.stats().tracks_refused, 300 - MAX_TRACKS as u64);
        // Everyone disappears (lost), and 10 new people appear elsewhere: the oldest lost go.
        let newcomers: Vec<Detection> = (0..10)
            .map(|k| person(5000.0 + 60.0 * k as f32, 5000.0, 0.9))
            .collect();
        tr.update(&newcomers, t(1)).unwrap();
        assert_eq!(tr.tracks().len(), MAX_TRACKS);
        assert_eq!(tr.stats().lost_tracks_evicted, 10);
        assert_eq!(tr.removed().len(), 10);
    }

    #[test]
    fn config_errors_name_the_setting() {
        let e = Tracker::new(TrackerConfig {
            low_score: 0.7,
            high_score: 0.5,
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.to_string().contains("low_score"), "{e}");
        let e = Tracker::new(TrackerConfig {
            max_lost_s: f64::NAN,
            ..Default::default()
        })
        .unwrap_err();
        assert!(
            e.to_string().contains("max_lost_s") && e.to_string().contains("NaN"),
            "{e}"
        );
        let e = Tracker::new(TrackerConfig {
            match_iou: 1.5,
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.to_string().contains("`match_iou` = 1.5"), "{e}");
    }

    fn colours(torso: usize, legs: usize) -> Appearance {
        let mut c = [0.02f32; aisle_types::APPEARANCE_DIM];
        c[torso] = 1.0;
        c[aisle_types::COLOURS + legs] = 1.0;
        Appearance::from_counts(&c)
    }

    #[test]
    fn appearance_reidentifies_a_person_hidden_longer_than_motion_waits() {
        // A walks right for 3 s, is hidden for 6 s (twice max_lost_s), and reappears 1.5 box
        // heights further on. Meanwhile B, dressed differently, appears where A was lost.
        let red_blue = colours(3, 6);
        let green_black = colours(5, 0);
        let run = |with_app: bool| {
            let mut tr = Tracker::new(TrackerConfig::default()).unwrap();
            tr.set_frame_size(1920, 1080);
            let mut a_ids = Vec::new();
            let mut b_ids = Vec::new();
            for i in 0..130i64 {
                let mut dets = Vec::new();
                let mut apps = Vec::new();
                let a_visible = !(30..90).contains(&i);
                let ax = if i < 30 {
                    400.0 + 6.0 * i as f32
                } else {
                    760.0
                };
                if a_visible {
                    dets.push(person(ax, 500.0, 0.85));
                    apps.push(red_blue);
                }
                if i >= 40 {
                    dets.push(person(580.0, 500.0, 0.85));
                    apps.push(green_black);
                }
                let apps = if with_app { apps } else { Vec::new() };
                tr.update_with_appearance(&dets, &apps, t(i)).unwrap();
                for tk in tr.tracks().iter().filter(|t| t.is_active()) {
                    match tk.detection.map(|d| dets[d as usize].bbox.x1 < 700.0) {
                        Some(true) if i >= 40 => b_ids.push(tk.id),
                        Some(_) => a_ids.push(tk.id),
                        None => {}
                    }
                }
            }
            a_ids.dedup();
            b_ids.dedup();
            (a_ids, b_ids)
        };
        let (a, b) = run(true);
        assert_eq!(a.len(), 1, "A keeps one id with appearance: {a:?}");
        assert_eq!(b.len(), 1, "B has one id: {b:?}");
        assert_ne!(a[0], b[0]);
        let (a, _) = run(false);
        assert_eq!(
            a.len(),
            2,
            "on motion alone A comes back with a new id: {a:?}"
        );
    }

    #[test]
    fn the_gate_keeps_a_differently_dressed_person_off_a_track() {
        // A stands still; at frame 20 A leaves instantly and C, dressed differently, stands in
        // exactly the same place: C must get a new id rather than A's.
        let mut tr = Tracker::new(TrackerConfig::default()).unwrap();
        tr.set_frame_size(1920, 1080);
        let mut ids = Vec::new();
        for i in 0..40i64 {
            let app = if i < 20 { colours(3, 6) } else { colours(2, 5) };
            let out = tr
                .update_with_appearance(&[person(600.0, 500.0, 0.9)], &[app], t(i))
                .unwrap();
            ids.extend(out.iter().filter(|t| t.is_active()).map(|t| t.id));
        }
        ids.dedup();
        assert_eq!(ids.len(), 2, "{ids:?}");
    }

    #[test]
    fn a_descriptor_count_that_does_not_match_the_detections_is_refused() {
        let mut tr = Tracker::new(TrackerConfig::default()).unwrap();
        let dets = [person(100.0, 100.0, 0.9), person(300.0, 100.0, 0.9)];
        let err = tr
            .update_with_appearance(&dets, &[colours(0, 0)], t(0))
            .unwrap_err();
        assert_eq!(
            err,
            TrackError::AppearanceCount {
                detections: 2,
                descriptors: 1
            }
        );
        assert!(err
            .to_string()
            .contains("1 appearance descriptors for 2 detections"));
        // Nothing changed: the same frame time is still accepted.
        assert_eq!(tr.update(&dets, t(0)).unwrap().len(), 2);
        assert_eq!(tr.stats().updates, 1);
    }

    #[test]
    fn appearance_settings_are_validated() {
        for (cfg, field) in [
            (
                TrackerConfig {
                    appearance_gate: 1.5,
                    ..TrackerConfig::default()
                },
                "appearance_gate",
            ),
            (
                TrackerConfig {
                    coast_s: f64::NAN,
                    ..TrackerConfig::default()
                },
                "coast_s",
            ),
            (
                TrackerConfig {
                    appearance_gate_partial: 1.5,
                    ..TrackerConfig::default()
                },
                "appearance_gate_partial",
            ),
            (
                TrackerConfig {
                    reid_distance: -0.1,
                    ..TrackerConfig::default()
                },
                "reid_distance",
            ),
            (
                TrackerConfig {
                    appearance_weight: f32::NAN,
                    ..TrackerConfig::default()
                },
                "appearance_weight",
            ),
            (
                TrackerConfig {
                    max_lost_reid_s: -1.0,
                    ..TrackerConfig::default()
                },
                "max_lost_reid_s",
            ),
        ] {
            match Tracker::new(cfg) {
                Err(TrackError::InvalidConfig { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }
}
