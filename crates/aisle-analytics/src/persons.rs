//! The fixed-capacity person table: one slot per person (a shopper as analytics sees them,
//! normally one track id; see stitching), with their per-zone visit and per-line side state.

use aisle_config::Anchor;
use aisle_types::BBox;

/// Persons per camera (slots of the table and bits of a [`crate::bits::SlotSet`]).
pub const MAX_PERSONS: usize = 256;

/// Where a slot stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SlotState {
    Free,
    /// Seen in the latest update.
    Seen,
    /// Not seen in the latest update; kept (zones, lines) within `lost_grace_s` of `last_seen`.
    Lost,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Person {
    pub state: SlotState,
    pub track_id: u32,
    /// The latest box seen.
    pub bbox: BBox,
    pub last_seen: f64,
    /// Index of the track that claimed this person in the current update (`u32::MAX`: none).
    pub claim: u32,
    /// Created (not stitched) in the current update: visits opened now start at `first_seen`.
    pub created_now: bool,
    pub first_seen: f64,
    /// Seconds seen with an anchor in a staff zone, and seen at all (sample-and-hold).
    pub staff_time: f64,
    pub total_time: f64,
    /// The anchor is in a staff zone (as of the latest sighting).
    pub in_staff_zone: bool,
    /// Ever seen with the anchor outside every staff zone.
    pub seen_outside_staff: bool,
    /// Excluded from customer figures as of the latest update.
    pub staff: bool,
    /// Counted in `AnalyticsStats::staff_tracks` already.
    pub counted_staff: bool,

    /// Heatmap cell of the bottom-centre anchor (latest sighting).
    pub cell: u16,
    /// The tracker's clothing colours for the person, as of the latest sighting that had them.
    pub appearance: Option<aisle_types::Appearance>,
}

impl Person {
    pub const FREE: Person = Person {
        state: SlotState::Free,
        track_id: 0,
        bbox: BBox {
            x1: 0.0,
            y1: 0.0,
            x2: 0.0,
            y2: 0.0,
        },
        last_seen: 0.0,
        claim: u32::MAX,
        created_now: false,
        first_seen: 0.0,
        staff_time: 0.0,
        total_time: 0.0,
        in_staff_zone: false,
        seen_outside_staff: false,
        staff: false,
        counted_staff: false,
        cell: 0,
        appearance: None,
    };

    /// Seen in this update as track `i` of the input, at `t`.
    pub fn seen(&mut self, i: usize, tr: &crate::TrackPoint, t: f64) {
        self.claim = i as u32;
        self.state = SlotState::Seen;
        self.bbox = tr.bbox;
        self.last_seen = t;
        if tr.appearance.is_some() {
            self.appearance = tr.appearance;
        }
    }
}

/// One person's state in one zone.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Visit {
    /// A visit is open (possibly pending exit).
    pub open: bool,
    /// The anchor was inside at the latest sighting.
    pub inside: bool,
    pub start: f64,
    /// Pending exit: when the anchor left (NaN: inside).
    pub outside_since: f64,
    /// A closed visit whose transition waits for the person's next visit start: its exit time
    /// (NaN: none).
    pub transition_from: f64,
    /// The person has been inside for `min_visit_s` since the start: a visit, not a box
    /// brushing the zone. Only confirmed visits count (entries, visitors, dwell, transitions).
    pub confirmed: bool,
}

impl Visit {
    pub const NONE: Visit = Visit {
        open: false,
        inside: false,
        start: 0.0,
        outside_since: f64::NAN,
        transition_from: f64::NAN,
        confirmed: false,
    };

    pub fn pending_exit(&self) -> bool {
        self.open && !self.outside_since.is_nan()
    }

    /// When the visit ends if it closes now: the pending exit, else `last_seen`.
    pub fn exit_at(&self, last_seen: f64) -> f64 {
        if self.pending_exit() {
            self.outside_since
        } else {
            last_seen
        }
    }
}

/// The point of `bbox` that stands for the person.
pub(crate) fn anchor_point(bbox: &BBox, anchor: Anchor) -> [f64; 2] {
    let cx = (f64::from(bbox.x1) + f64::from(bbox.x2)) * 0.5;
    match anchor {
        Anchor::BottomCentre => [cx, f64::from(bbox.y2)],
        Anchor::Centre => [cx, (f64::from(bbox.y1) + f64::from(bbox.y2)) * 0.5],
        Anchor::TopCentre => [cx, f64::from(bbox.y1)],
    }
}

/// Usable input: finite, `x1 <= x2`, `y1 <= y2`.
pub(crate) fn bbox_valid(b: &BBox) -> bool {
    b.is_finite() && b.x2 >= b.x1 && b.y2 >= b.y1
}

/// The box keeps a 2 % margin from every frame border (a person appearing there cannot have
/// come in through the border).
pub(crate) fn away_from_border(b: &BBox, w: f64, h: f64) -> bool {
    let (mx, my) = (0.02 * w, 0.02 * h);
    f64::from(b.x1) > mx
        && f64::from(b.y1) > my
        && f64::from(b.x2) < w - mx
        && f64::from(b.y2) < h - my
}

/// How far a vanished person may have moved, in body heights: a base for box noise plus a
/// walking pace (about 1 m/s, a body height per 1.7 s) for the time they were out of sight.
const STITCH_BASE_HEIGHTS: f64 = 0.5;
const STITCH_HEIGHTS_PER_S: f64 = 0.6;
const STITCH_MAX_HEIGHTS: f64 = 2.5;
/// A new track whose clothing colours differ from the vanished person's by more than this
/// (Hellinger distance, 0..1) is somebody else. Loose, because a new track has seen the person
/// once or a few times: one person's views 2 s apart differ by more than 0.28 one time in ten,
/// two strangers' by more than 0.40 half the time (the synthetic store, `docs/tracking.md`).
pub(crate) const STITCH_MAX_COLOUR_DISTANCE: f32 = 0.4;

/// Distance between box centres if `new` plausibly continues `old` after `gap_s` seconds out
/// of sight (centre distance below `0.5 + 0.6 * gap_s` of the larger height, at most 2.5,
/// height ratio within [0.67, 1.5]); else `None`.
pub(crate) fn stitch_distance(old: &BBox, new: &BBox, gap_s: f64) -> Option<f64> {
    let (ho, hn) = (f64::from(old.height()), f64::from(new.height()));
    if ho <= 0.0 || hn <= 0.0 {
        return None;
    }
    let ratio = hn / ho;
    if !(0.67..=1.5).contains(&ratio) {
        return None;
    }
    let c = |b: &BBox| {
        [
            (f64::from(b.x1) + f64::from(b.x2)) * 0.5,
            (f64::from(b.y1) + f64::from(b.y2)) * 0.5,
        ]
    };
    let (a, b) = (c(old), c(new));
    let d = ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
    let reach =
        (STITCH_BASE_HEIGHTS + STITCH_HEIGHTS_PER_S * gap_s.max(0.0)).min(STITCH_MAX_HEIGHTS);
    (d < reach * ho.max(hn)).then_some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_and_checks() {
        let b = BBox::new(10.0, 20.0, 30.0, 100.0);
        assert_eq!(anchor_point(&b, Anchor::BottomCentre), [20.0, 100.0]);
        assert_eq!(anchor_point(&b, Anchor::Centre), [20.0, 60.0]);
        assert_eq!(anchor_point(&b, Anchor::TopCentre), [20.0, 20.0]);
        assert!(bbox_valid(&b));
        assert!(!bbox_valid(&BBox::new(30.0, 20.0, 10.0, 100.0)));
        assert!(!bbox_valid(&BBox::new(f32::NAN, 20.0, 10.0, 100.0)));
        let mid = BBox::new(100.0, 100.0, 120.0, 180.0);
        assert!(away_from_border(&mid, 1000.0, 1000.0));
        assert!(!away_from_border(&mid, 1000.0, 182.0));
        assert!(!away_from_border(&b, 1000.0, 1000.0));
        let near = BBox::new(15.0, 25.0, 35.0, 105.0);
        assert!(stitch_distance(&b, &near, 0.4).is_some());
        let far = BBox::new(200.0, 20.0, 220.0, 100.0);
        assert!(stitch_distance(&b, &far, 0.4).is_none());
        let tiny = BBox::new(10.0, 80.0, 30.0, 100.0);
        assert!(stitch_distance(&b, &tiny, 0.4).is_none());
    }
}
