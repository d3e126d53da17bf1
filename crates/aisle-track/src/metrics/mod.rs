//! Multi-object tracking metrics for one sequence: CLEAR MOT (MOTA, MOTP, ID switches,
//! fragmentations, mostly tracked/lost), the identity metrics (IDF1, IDP, IDR) and HOTA.
//!
//! The definitions follow the two reference implementations exactly, so that numbers are
//! comparable with published MOTChallenge results; `tests/metrics_crosscheck.rs` holds them to
//! 1e-6 on the fixtures of `tests/fixtures/mot/` (golden values from
//! `scripts/motmetrics_reference.py`):
//!
//! - CLEAR MOT and identity metrics: py-motmetrics 1.4.0 with `distance = 1 - IoU` and
//!   `max_iou = 0.5` (`mm.utils.compare_to_groundtruth(gt, hyp, 'iou', distth=0.5)`). A pair
//!   may match when its IoU is at least 0.5. Per frame, a ground-truth object keeps the
//!   hypothesis it was last matched to while that pair is still within the threshold; the rest
//!   are matched by a maximum-cardinality, minimum-distance assignment. A match whose object was
//!   last matched to another hypothesis is an ID switch (however long ago). MOTP is
//!   motmetrics' *distance*: the mean `1 - IoU` over matches (lower is better).
//!   IDF1 comes from the global one-to-one matching of ground-truth ids to hypothesis ids that
//!   maximises the number of frames in which the pair overlaps with IoU >= 0.5.
//! - HOTA: py-motmetrics 1.4.0 has no HOTA, so it follows TrackEval's `metrics/hota.py` (the
//!   implementation of the HOTA paper's authors, used by the MOTChallenge server), checked
//!   against the PyPI `sn-trackeval` 0.4.0 copy of it: per frame a Hungarian matching maximising
//!   `global alignment score x IoU`, localisation thresholds `alpha = 0.05, 0.10, ..., 0.95`,
//!   `HOTA(alpha) = sqrt(DetA(alpha) AssA(alpha))`, and the reported HOTA, DetA, AssA, ... are the
//!   means over the 19 thresholds.
//! - Ground truth the tracker is not expected to report (MOTChallenge's distractor classes; in
//!   the synthetic store, people mostly hidden by others): [`remove_ignored`] applies TrackEval's
//!   MOTChallenge pre-processing before [`evaluate`], so a tracker box on such a person is
//!   neither a match nor a false positive. [`evaluate`] alone pre-processes nothing (see
//!   `motchallenge` for which ground-truth rows are read at all).
//!
//! Ratios whose denominator is zero follow the references: motmetrics' plain division gives
//! NaN or infinity (MOTP without a single match is NaN), TrackEval returns 0 for HOTA when
//! either side is empty. Assignment ties (equal total cost) may be broken differently from
//! scipy; the metrics of the cross-check fixtures do not depend on such ties.

mod clear;
mod hota;
mod identity;
mod lsa;

use std::collections::BTreeMap;

use aisle_types::BBox;

pub use hota::{hota_alphas, HOTA_ALPHAS};

/// One box of one object (ground truth) or one track (tracker output) in one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MotBox {
    pub id: u64,
    pub bbox: BBox,
}

/// Ground truth or tracker output for one sequence: boxes per frame. Frame numbers need not
/// be contiguous; a frame missing from one side has no boxes there. An id should appear at
/// most once per frame (`motchallenge` rejects files where it does).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct MotSequence {
    pub frames: BTreeMap<u32, Vec<MotBox>>,
}

impl MotSequence {
    pub fn push(&mut self, frame: u32, id: u64, bbox: BBox) {
        self.frames
            .entry(frame)
            .or_default()
            .push(MotBox { id, bbox });
    }

    /// Number of boxes over all frames.
    pub fn num_boxes(&self) -> usize {
        self.frames.values().map(Vec::len).sum()
    }

    /// The boxes of `frame` (empty when the frame has none).
    pub fn frame(&self, frame: u32) -> &[MotBox] {
        self.frames.get(&frame).map_or(&[], Vec::as_slice)
    }
}

/// Every metric of one evaluation. Names follow py-motmetrics (`num_switches` is
/// `id_switches`, `num_objects` is `num_gt`, ...) and TrackEval for the HOTA family.
#[derive(Debug, Clone, PartialEq)]
pub struct MotMetrics {
    /// `1 - (misses + false_positives + id_switches) / num_gt`.
    pub mota: f64,
    /// Mean distance `1 - IoU` over matches (motmetrics' MOTP; lower is better).
    pub motp: f64,
    pub idf1: f64,
    pub idp: f64,
    pub idr: f64,
    /// HOTA, DetA, AssA, DetRe, DetPr, AssRe, AssPr, LocA: means over [`HOTA_ALPHAS`].
    pub hota: f64,
    pub deta: f64,
    pub assa: f64,
    pub detre: f64,
    pub detpr: f64,
    pub assre: f64,
    pub asspr: f64,
    pub loca: f64,
    /// HOTA, DetA and AssA at each threshold of [`HOTA_ALPHAS`].
    pub hota_alpha: [f64; HOTA_ALPHAS],
    pub deta_alpha: [f64; HOTA_ALPHAS],
    pub assa_alpha: [f64; HOTA_ALPHAS],
    pub id_switches: u64,
    /// Interruptions of a ground-truth trajectory: tracked, then missed, then tracked again.
    pub fragmentations: u64,
    pub false_positives: u64,
    pub misses: u64,
    /// Matches that are not ID switches (motmetrics' `num_matches`).
    pub matches: u64,
    /// `matches + id_switches`.
    pub detections: u64,
    /// Ground-truth boxes over all frames (motmetrics' `num_objects`).
    pub num_gt: u64,
    /// Distinct ground-truth ids (motmetrics' `num_unique_objects`).
    pub num_gt_ids: u64,
    /// Tracker boxes over all frames (motmetrics' `num_predictions`).
    pub num_hyp: u64,
    /// Distinct tracker ids.
    pub num_hyp_ids: u64,
    /// Frames with at least one box on either side.
    pub num_frames: u64,
    /// Ground-truth ids matched in >= 80 %, in [20 %, 80 %), in < 20 % of their frames.
    pub mostly_tracked: u64,
    pub partially_tracked: u64,
    pub mostly_lost: u64,
    /// `detections / (detections + false_positives)`, `detections / num_gt`.
    pub precision: f64,
    pub recall: f64,
    pub idtp: u64,
    pub idfp: u64,
    pub idfn: u64,
    /// motmetrics' extra switch categories: a tracker id taken over from another object
    /// (`num_transfer`), a switch to a brand-new tracker id (`num_ascend`), a transfer to an
    /// object never matched before (`num_migrate`).
    pub transfers: u64,
    pub ascends: u64,
    pub migrates: u64,
}

/// Evaluates `hyp` (tracker output) against `gt` (ground truth): CLEAR MOT and identity
/// metrics at IoU >= 0.5 exactly as py-motmetrics (distance `1 - IoU`, `max_iou = 0.5`), HOTA
/// as TrackEval (19 thresholds). Never panics; empty inputs give the references' NaN/0 values.
pub fn evaluate(gt: &MotSequence, hyp: &MotSequence) -> MotMetrics {
    let frames = FramePairs::new(gt, hyp);
    let clear = clear::evaluate(&frames);
    let id = identity::evaluate(&frames);
    let h = hota::evaluate(&frames);

    let num_gt = clear.num_gt;
    let num_hyp = clear.num_hyp;
    let detections = clear.matches + clear.switches;
    // Saturating: only an id repeated within a frame (invalid input) could make IDTP exceed them.
    let idfn = num_gt.saturating_sub(id.idtp);
    let idfp = num_hyp.saturating_sub(id.idtp);
    MotMetrics {
        mota: 1.0
            - div(
                (clear.misses + clear.switches + clear.false_positives) as f64,
                num_gt as f64,
            ),
        motp: div(clear.distance_sum, detections as f64),
        idf1: div(2.0 * id.idtp as f64, (num_gt + num_hyp) as f64),
        idp: div(id.idtp as f64, (id.idtp + idfp) as f64),
        idr: div(id.idtp as f64, (id.idtp + idfn) as f64),
        hota: h.hota,
        deta: h.deta,
        assa: h.assa,
        detre: h.detre,
        detpr: h.detpr,
        assre: h.assre,
        asspr: h.asspr,
        loca: h.loca,
        hota_alpha: h.hota_alpha,
        deta_alpha: h.deta_alpha,
        assa_alpha: h.assa_alpha,
        id_switches: clear.switches,
        fragmentations: clear.fragmentations,
        false_positives: clear.false_positives,
        misses: clear.misses,
        matches: clear.matches,
        detections,
        num_gt,
        num_gt_ids: clear.num_gt_ids,
        num_hyp,
        num_hyp_ids: id.num_hyp_ids,
        num_frames: frames.frames.len() as u64,
        mostly_tracked: clear.mostly_tracked,
        partially_tracked: clear.partially_tracked,
        mostly_lost: clear.mostly_lost,
        precision: div(
            detections as f64,
            (detections + clear.false_positives) as f64,
        ),
        recall: div(detections as f64, num_gt as f64),
        idtp: id.idtp,
        idfp,
        idfn,
        transfers: clear.transfers,
        ascends: clear.ascends,
        migrates: clear.migrates,
    }
}

/// TrackEval's MOTChallenge pre-processing: removes from `hyp` the tracker boxes that cover a
/// ground-truth box the tracker is not expected to report (`ignored`: MOTChallenge's distractor
/// classes, or in the synthetic store a person mostly hidden behind others), so that such a box
/// counts neither as a match nor as a false positive. Per frame, every ground-truth box
/// (`others`, the boxes that are not ignored, and `ignored`) is matched to the tracker boxes by a
/// Hungarian assignment maximising IoU, where pairs under IoU 0.5 (less a float epsilon) score
/// 0 and do not match; a tracker box matched to an `ignored` box is removed. `others` takes part
/// so that a tracker box on a visible person standing in front of a hidden one stays with the
/// visible person. Checked against TrackEval's `MotChallenge2DBox.get_preprocessed_seq_data`
/// by `tests/metrics_crosscheck.rs`.
pub fn remove_ignored(
    others: &MotSequence,
    ignored: &MotSequence,
    hyp: &MotSequence,
) -> MotSequence {
    let mut out = MotSequence::default();
    for (&frame, boxes) in &hyp.frames {
        let ign = ignored.frame(frame);
        if ign.is_empty() {
            out.frames.insert(frame, boxes.clone());
            continue;
        }
        let all: Vec<&MotBox> = others.frame(frame).iter().chain(ign).collect();
        let n_others = others.frame(frame).len();
        let (rows, cols) = (all.len(), boxes.len());
        // TrackEval: scores under 0.5 - eps are zeroed, then `linear_sum_assignment(-scores)`,
        // and only pairs with a score above eps count as matched.
        let score = |g: &MotBox, h: &MotBox| {
            let s = iou(&g.bbox, &h.bbox);
            if s < 0.5 - f64::EPSILON {
                0.0
            } else {
                s
            }
        };
        let cost: Vec<f64> = all
            .iter()
            .flat_map(|g| boxes.iter().map(move |h| -score(g, h)))
            .collect();
        let mut drop = vec![false; cols];
        for (r, c) in lsa::solve(&cost, rows, cols) {
            if r >= n_others && -cost[r * cols + c] > f64::EPSILON {
                drop[c] = true;
            }
        }
        let kept: Vec<MotBox> = boxes
            .iter()
            .zip(&drop)
            .filter(|(_, d)| !**d)
            .map(|(b, _)| *b)
            .collect();
        if !kept.is_empty() {
            out.frames.insert(frame, kept);
        }
    }
    out
}

/// Plain IEEE division, as motmetrics' `quiet_divide` (0/0 is NaN, x/0 is infinite).
fn div(a: f64, b: f64) -> f64 {
    a / b
}

/// IoU in `f64`, computed as py-motmetrics' `boxiou` and TrackEval's `_calculate_box_ious`
/// (same operations, so same rounding for boxes whose corners are exact in `f32`); 0 when
/// the boxes do not intersect or either is empty.
pub fn iou(a: &BBox, b: &BBox) -> f64 {
    let (ax1, ay1, ax2, ay2) = (a.x1 as f64, a.y1 as f64, a.x2 as f64, a.y2 as f64);
    let (bx1, by1, bx2, by2) = (b.x1 as f64, b.y1 as f64, b.x2 as f64, b.y2 as f64);
    let iw = (ax2.min(bx2) - ax1.max(bx1)).max(0.0);
    let ih = (ay2.min(by2) - ay1.max(by1)).max(0.0);
    let inter = iw * ih;
    let a_area = (ax2 - ax1).max(0.0) * (ay2 - ay1).max(0.0);
    let b_area = (bx2 - bx1).max(0.0) * (by2 - by1).max(0.0);
    let union = a_area + b_area - inter;
    // TrackEval zeroes the IoU of empty boxes; for boxes with an area both agree.
    if inter == 0.0 || a_area <= f64::EPSILON || b_area <= f64::EPSILON || union <= f64::EPSILON {
        0.0
    } else {
        inter / union
    }
}

/// One frame present on either side, with its IoU matrix (`gt.len() x hyp.len()`, row-major).
struct FramePair<'a> {
    gt: &'a [MotBox],
    hyp: &'a [MotBox],
    iou: Vec<f64>,
}

impl FramePair<'_> {
    fn iou(&self, i: usize, j: usize) -> f64 {
        self.iou[i * self.hyp.len() + j]
    }
}

/// The union of both sides' frames with at least one box, ascending.
struct FramePairs<'a> {
    frames: Vec<FramePair<'a>>,
}

impl<'a> FramePairs<'a> {
    fn new(gt: &'a MotSequence, hyp: &'a MotSequence) -> Self {
        let mut keys: Vec<u32> = gt
            .frames
            .iter()
            .chain(hyp.frames.iter())
            .filter(|(_, boxes)| !boxes.is_empty())
            .map(|(&f, _)| f)
            .collect();
        keys.sort_unstable();
        keys.dedup();
        let frames = keys
            .into_iter()
            .map(|f| {
                let (g, h) = (gt.frame(f), hyp.frame(f));
                let iou = g
                    .iter()
                    .flat_map(|a| h.iter().map(move |b| iou(&a.bbox, &b.bbox)))
                    .collect();
                FramePair { gt: g, hyp: h, iou }
            })
            .collect();
        FramePairs { frames }
    }
}

/// motmetrics' pairing rule: distance `1 - IoU` within `max_iou = 0.5`.
fn clear_distance(iou: f64) -> Option<f64> {
    let d = 1.0 - iou;
    (d <= 0.5).then_some(d)
}

#[cfg(test)]
mod tests;
