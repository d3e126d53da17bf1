//! Zone analytics: tracks -> zone visits and line crossings -> windowed aggregates -> private
//! metric records (`aisle_types::metrics`, schema v1).
//!
//! [`CameraAnalytics`] is a pure state machine for one camera: feed it, frame by frame, the
//! confirmed tracks the tracker saw in that frame ([`TrackPoint`]) with the frame's media time;
//! it returns, whenever a window closes, the window's records. No I/O, no clock reads: the wall
//! clock that labels windows is `epoch_unix_ms + media time`, fixed at construction.
//!
//! Everything that leaves this crate is an aggregate that passed the privacy rules (k-anonymity,
//! staff exclusion); track ids, boxes and times of individuals never do.
//!
//! # The model
//!
//! **Setup.** [`CameraAnalytics::new`] keeps the zones and lines of its camera, checks them
//! (errors name the path in the full config list, e.g. `zones[3].polygon`) and converts them to
//! pixels. Every buffer is allocated there: an update that closes no window allocates nothing.
//!
//! **Persons.** A fixed table of 256 slots (`persons.rs`). A person is one shopper as the
//! analytics sees them: normally one track id. A person not seen in an update is *lost*: they
//! keep their place (zones, occupancy, line sides) for `lost_grace_s` after their last sighting;
//! seen again, everything goes on; past it, their open visits close at the last sighting (or at
//! a pending exit) and the slot is freed. *Stitching* repairs id switches: a new id whose box
//! keeps 2 % away from every frame border continues the nearest lost person (within grace) whose
//! last box is near (centre distance below 0.5 + 0.6 x seconds since they vanished of the larger
//! height, at most 2.5 heights: a walking pace; height ratio in [0.67, 1.5]).
//! Tracks beyond the table, invalid boxes and repeated ids in one update are ignored and counted
//! in [`AnalyticsStats`].
//!
//! **Time.** Updates come in media time order (`TimeWentBack` otherwise, state untouched). The
//! state after an update holds until the next one (sample and hold): the time in between is
//! integrated into occupancy, person-seconds, heatmap and staff time, split exactly at window
//! boundaries. A gap of more than 2 s between updates is an outage: neither integrated nor
//! observed. Windows are `[k * window_s, (k + 1) * window_s)` Unix seconds (report windows the
//! same with `report_window_s`); a window without observed time emits nothing.
//!
//! **Decisions at updates.** Whatever an update decides (visits opened or closed, crossings,
//! transitions, staff status) counts in the window holding that update's time; the integrals of
//! the time before it are done first, so a window closed by an update never sees that update's
//! observations.
//!
//! **Visits** (`engine.rs`; state in `persons.rs`, per-window sums in `zones.rs`; per person
//! and non-staff zone, with hysteresis): the anchor inside
//! opens a visit (starting at `first_seen` for a person created in this update, else now),
//! which is *confirmed* once the person is seen inside `min_visit_s` after its start (an
//! unconfirmed visit counts nowhere: a box brushing the zone); leaving starts a pending exit;
//! back inside within `reentry_gap_s` the visit goes on; once out for `reentry_gap_s` it closes
//! with exit = the first instant seen outside. Entries count at confirmation, dwell figures at
//! closing; `in_progress` counts visits open at the window end (a pending one's time so far ends
//! at its exit). Visitors: distinct persons inside on a confirmed visit at any moment of the
//! window, kept as bitsets over slots; a freed slot's bits are folded into "departed" counts
//! first, so a reused slot never merges two people.
//!
//! **Occupancy**: persons whose anchor is inside at the update (lost persons: last seen inside),
//! without hysteresis; integrated over time, max over the window, `now` at its end.
//!
//! **Transitions** (between confirmed visits): when a visit to A closes at exit t, the person's next visit start at or
//! after t (already open, since exits are confirmed late, or the next one to open) to zones
//! other than A counts A -> B for each B starting at that first instant; a next start in A
//! itself ends the wait without a count; visits open before t never count; a person who leaves
//! the table first makes none.
//!
//! **Lines** (`lines.rs`): per person and line a settled side; it changes when the anchor is at
//! least 1 % of the frame height on the other side, and that change is a crossing when the path
//! from the last settled position cuts the segment. Left = the left hand walking from `from` to
//! `to` in image coordinates (y down): the top of the image for a line drawn left to right.
//!
//! **Staff**: a person is staff while their time with an anchor in a staff zone is at least 1 s
//! and more than `staff_share` of their time seen; someone only ever seen inside staff zones is
//! staff from the first frame until that rule can decide. Staff contribute nothing while staff
//! (occupancy, visitors, entries, dwell of visits closed then, transitions, crossings,
//! heatmap). Staff zones publish nothing and take no visits (they are no transition target).
//!
//! **Privacy**: a zone record with `0 < visitors < min_visitors`, a line record with
//! `0 < distinct crossers < k` and a camera record with `0 < visitors < k` are suppressed (all
//! figures `null`); heatmap cells with `0 < persons < k` are `null`. Nobody is not suppressed.
//!
//! **Records** (`records.rs`) on each window close: zone records (config order, non-staff),
//! line records, the camera record; then, when a report window closes too, the same with
//! `Period::Report` (exact percentiles up to 8192 visits per zone; a short window keeps 512,
//! beyond that percentiles come from the histogram and `exact` is false).

use aisle_config::{AnalyticsConfig, LineConfig, ZoneConfig};
use aisle_types::metrics::MetricRecord;
use aisle_types::{BBox, MediaTime};

mod bits;
mod engine;
mod faces;
mod heatmap;
mod lines;
mod percentile;
mod persons;
mod records;
mod setup;
mod window;
mod zones;

pub use faces::{FaceSample, FaceSettings, MAX_SAMPLE_INTERVAL_S};
pub use persons::MAX_PERSONS;
pub use setup::{MAX_LINES, MAX_ZONES};
pub use zones::{REPORT_SAMPLES, WINDOW_SAMPLES};

/// One confirmed track as seen in the current frame (matched to a detection in this frame).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackPoint {
    /// The tracker's ephemeral id (never leaves this crate).
    pub id: u32,
    /// Box in pixels of the frame.
    pub bbox: BBox,
    /// When the tracker first saw this track (a track that appears inside a zone entered it
    /// then, not when it was confirmed).
    pub first_seen: MediaTime,
    /// The tracker's clothing colours for the track (`aisle_track::Track::appearance`), when
    /// known: a person who vanished is not continued by a new track that looks clearly
    /// different.
    pub appearance: Option<aisle_types::Appearance>,
}

/// Why the analytics cannot be set up or cannot take an update.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AnalyticsError {
    /// A setting, zone or line is invalid; `path` is e.g. `zones[2].polygon[3]`.
    #[error("camera `{camera}`: `{path}` = {value}: {reason}")]
    Invalid {
        camera: String,
        path: String,
        value: String,
        reason: String,
    },
    /// Updates must come in media time order; the update was ignored.
    #[error(
        "camera `{camera}`: frame at {at} is before the previous frame at {previous}; ignored"
    )]
    TimeWentBack {
        camera: String,
        at: MediaTime,
        previous: MediaTime,
    },
}

/// Counters of what the analytics did with its input (for `health`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AnalyticsStats {
    pub frames: u64,
    /// Updates refused because their time went back.
    pub frames_out_of_order: u64,
    /// Tracks beyond the fixed capacity (ignored, counted per update).
    pub tracks_over_capacity: u64,
    /// Tracks with a non-finite or inverted box (ignored, counted per update).
    pub tracks_invalid: u64,
    /// Repeated track ids within one update (the first wins; counted per repeat).
    pub tracks_duplicate: u64,
    /// New track ids that continued a person lost nearby (id switches repaired).
    pub stitches: u64,
    /// Gaps of more than 2 s between updates (not integrated, not observed).
    pub outages: u64,
    /// Customer visits closed (counted in the figures).
    pub visits_closed: u64,
    /// Persons classified as staff (by the share rule) and excluded.
    pub staff_tracks: u64,
    pub records_suppressed: u64,
    /// Face samples counted, and dropped because their person was staff, in a staff zone or
    /// unknown (`[faces]` on).
    pub face_samples: u64,
    pub face_samples_excluded: u64,
    /// Shoppers beyond the 256 a zone's face figures tell apart per period (counted once more
    /// each).
    pub face_visitors_saturated: u64,
}

/// One zone's occupancy right now; see [`CameraAnalytics::live`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveOccupancy<'a> {
    pub zone: &'a str,
    pub kind: aisle_types::metrics::ZoneKind,
    /// Customers in the zone (lost ones within their grace time included, as in the records).
    pub occupancy: u32,
    /// The zone's configured capacity, if any.
    pub capacity: Option<u32>,
}

/// The analytics of one camera.
pub struct CameraAnalytics {
    engine: engine::Engine,
    faces: Option<faces::FaceAgg>,
}

impl CameraAnalytics {
    /// Sets up the zones and lines of `camera` (entries of other cameras are skipped) for frames
    /// of `frame_width` x `frame_height` pixels; media time 0 is `epoch_unix_ms` on the wall
    /// clock.
    pub fn new(
        camera: &str,
        frame_width: u32,
        frame_height: u32,
        zones: &[ZoneConfig],
        lines: &[LineConfig],
        settings: &AnalyticsConfig,
        epoch_unix_ms: i64,
    ) -> Result<Self, AnalyticsError> {
        Ok(Self {
            engine: engine::Engine::new(
                camera,
                frame_width,
                frame_height,
                zones,
                lines,
                settings,
                epoch_unix_ms,
            )?,
            faces: None,
        })
    }

    /// Turns on the face figures (`[faces]`): a [`aisle_types::metrics::FacesRecord`] per
    /// window and report window, from the samples given to [`Self::face_samples`].
    pub fn with_faces(mut self, settings: FaceSettings) -> Self {
        self.faces = Some(faces::FaceAgg::new(settings, self.engine.zones.len()));
        self
    }

    /// Whether a face of track `id` may be analysed: the person is known to the table as of the
    /// latest update, is not staff and does not stand in a staff zone. Staff are excluded
    /// before any face of theirs is looked at.
    pub fn face_eligible(&self, id: u32) -> bool {
        let e = &self.engine;
        e.find(id).is_some_and(|slot| {
            let p = &e.persons[slot];
            !p.staff && !p.in_staff_zone
        })
    }

    /// The analysed faces of the latest update's frame (after [`Self::update`]); samples of
    /// persons not [`Self::face_eligible`] are dropped and counted. Nothing without
    /// [`Self::with_faces`].
    pub fn face_samples(&mut self, samples: &[FaceSample]) {
        let e = &self.engine;
        let (Some(f), Some(last)) = (self.faces.as_mut(), e.last) else {
            return;
        };
        let k = window::window_index(e.epoch_unix_ms, last, e.s.window_s);
        let rk = e.report_index(k);
        let (mut counted, mut excluded) = (0, 0);
        for s in samples {
            let slot = e
                .find(s.track_id)
                .filter(|&slot| !e.persons[slot].staff && !e.persons[slot].in_staff_zone);
            let Some(slot) = slot else {
                excluded += 1;
                continue;
            };
            let p = &e.persons[slot];
            let anchor = [f64::from(p.bbox.x1 + p.bbox.x2) / 2.0, f64::from(p.bbox.y2)];
            let height = f64::from(p.bbox.height());
            f.add(
                &e.zones,
                |z| e.occupants[z].contains(slot),
                slot,
                height,
                anchor,
                s,
                k,
                rk,
            );
            counted += 1;
        }
        let saturated = f.saturated;
        let stats = &mut self.engine.stats;
        stats.face_samples += counted;
        stats.face_samples_excluded += excluded;
        stats.face_visitors_saturated = saturated;
    }

    /// One analysed frame at `at` with the confirmed tracks seen in it; appends the records of
    /// every window that closed at or before `at` to `out`.
    pub fn update(
        &mut self,
        at: MediaTime,
        tracks: &[TrackPoint],
        out: &mut Vec<MetricRecord>,
    ) -> Result<(), AnalyticsError> {
        let first = out.len();
        self.engine.update(at, tracks, out)?;
        if let Some(f) = self.faces.as_mut() {
            let e = &self.engine;
            let k = window::window_index(e.epoch_unix_ms, at, e.s.window_s);
            let rk = e.report_index(k);
            f.close(e, out, first, Some((k, rk)));
            f.observe(k, rk);
        }
        Ok(())
    }

    /// End of input at `at`: closes the open windows (partial: `observed_s` < length) with the
    /// visits still open reported as in progress, and appends their records.
    pub fn finish(&mut self, at: MediaTime, out: &mut Vec<MetricRecord>) {
        let first = out.len();
        self.engine.finish(at, out);
        if let Some(f) = self.faces.as_mut() {
            f.close(&self.engine, out, first, None);
        }
    }

    pub fn camera(&self) -> &str {
        &self.engine.camera
    }

    /// Occupancy of every customer zone as of the latest update (what the MQTT `live` topic
    /// publishes): the people the records' `occupancy.now` would count, staff excluded; staff
    /// zones are left out. Allocates nothing.
    pub fn live(&self) -> impl Iterator<Item = LiveOccupancy<'_>> + '_ {
        let e = &self.engine;
        e.zones
            .iter()
            .zip(&e.occupants)
            .filter(|(z, _)| !z.is_staff())
            .map(|(z, occupants)| LiveOccupancy {
                zone: &z.name,
                kind: z.kind,
                occupancy: occupants.len(),
                capacity: z.capacity,
            })
    }

    /// Wall-clock time of the latest update, unix milliseconds (`None` before the first).
    pub fn last_update_unix_ms(&self) -> Option<i64> {
        let e = &self.engine;
        e.last
            .map(|t| e.epoch_unix_ms + (t.as_secs_f64() * 1000.0).round() as i64)
    }

    pub fn stats(&self) -> AnalyticsStats {
        self.engine.stats
    }
}
