//! Identity metrics (IDF1, IDP, IDR): py-motmetrics' `id_global_assignment`.
//!
//! motmetrics solves a `(n_gt + n_hyp)²` min-cost problem over false positives plus false
//! negatives. Its cost for a pair is `frames(o) + frames(h) - 2 overlaps(o, h)` and for an
//! unmatched id its frame count, so the optimum is the one-to-one id matching with the most
//! overlapping frames (IoU >= 0.5); that maximum, IDTP, is unique even when the matching is
//! not, and is what is computed here on the smaller `n_gt x n_hyp` problem.

use std::collections::{BTreeMap, BTreeSet};

use super::{clear_distance, lsa, FramePairs};

pub(super) struct Identity {
    pub idtp: u64,
    pub num_hyp_ids: u64,
}

pub(super) fn evaluate(frames: &FramePairs<'_>) -> Identity {
    let mut hyp_ids = BTreeSet::new();
    // (gt id, hyp id) -> frames in which the pair is within the CLEAR threshold.
    let mut overlaps: BTreeMap<(u64, u64), u64> = BTreeMap::new();
    for f in &frames.frames {
        hyp_ids.extend(f.hyp.iter().map(|b| b.id));
        for (i, g) in f.gt.iter().enumerate() {
            for (j, h) in f.hyp.iter().enumerate() {
                if clear_distance(f.iou(i, j)).is_some() {
                    *overlaps.entry((g.id, h.id)).or_default() += 1;
                }
            }
        }
    }
    let num_hyp_ids = hyp_ids.len() as u64;
    // Only ids with at least one overlap can contribute; solve on those.
    let rows: Vec<u64> = overlaps
        .keys()
        .map(|k| k.0)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let cols: Vec<u64> = overlaps
        .keys()
        .map(|k| k.1)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let col_index: BTreeMap<u64, usize> = cols.iter().enumerate().map(|(k, &h)| (h, k)).collect();
    let row_index: BTreeMap<u64, usize> = rows.iter().enumerate().map(|(k, &o)| (o, k)).collect();
    let mut cost = vec![0.0f64; rows.len() * cols.len()];
    for (&(o, h), &n) in &overlaps {
        cost[row_index[&o] * cols.len() + col_index[&h]] = -(n as f64);
    }
    let idtp = lsa::solve(&cost, rows.len(), cols.len())
        .into_iter()
        .map(|(r, c)| overlaps.get(&(rows[r], cols[c])).copied().unwrap_or(0))
        .sum();
    Identity { idtp, num_hyp_ids }
}
