//! HOTA (Luiten et al., IJCV 2020) exactly as TrackEval's `metrics/hota.py` computes it for
//! one sequence, checked against the PyPI `sn-trackeval` 0.4.0 copy of that file.

use std::collections::{BTreeMap, HashMap};

use super::{lsa, FramePairs};

/// Number of localisation thresholds: `alpha = 0.05, 0.10, ..., 0.95`.
pub const HOTA_ALPHAS: usize = 19;

/// The thresholds bit for bit as TrackEval's `np.arange(0.05, 0.99, 0.05)` (numpy fills an
/// arange as `start + i * (a[1] - a[0])`), since IoUs are compared with them.
pub fn hota_alphas() -> [f64; HOTA_ALPHAS] {
    let start = 0.05f64;
    let second = start + 0.05;
    let delta = second - start;
    let mut a = [0.0; HOTA_ALPHAS];
    for (i, x) in a.iter_mut().enumerate() {
        *x = match i {
            0 => start,
            1 => second,
            _ => start + i as f64 * delta,
        };
    }
    a
}

pub(super) struct Hota {
    pub hota: f64,
    pub deta: f64,
    pub assa: f64,
    pub detre: f64,
    pub detpr: f64,
    pub assre: f64,
    pub asspr: f64,
    pub loca: f64,
    pub hota_alpha: [f64; HOTA_ALPHAS],
    pub deta_alpha: [f64; HOTA_ALPHAS],
    pub assa_alpha: [f64; HOTA_ALPHAS],
}

fn mean(a: &[f64; HOTA_ALPHAS]) -> f64 {
    a.iter().sum::<f64>() / HOTA_ALPHAS as f64
}

/// Dense indices for the ids of one side, in ascending id order (TrackEval relabels ids so).
fn dense_ids(ids: impl Iterator<Item = u64>) -> HashMap<u64, usize> {
    let mut v: Vec<u64> = ids.collect();
    v.sort_unstable();
    v.dedup();
    v.into_iter().enumerate().map(|(k, id)| (id, k)).collect()
}

pub(super) fn evaluate(frames: &FramePairs<'_>) -> Hota {
    let eps = f64::EPSILON;
    let alphas = hota_alphas();
    let zero = [0.0; HOTA_ALPHAS];
    let num_gt_dets: usize = frames.frames.iter().map(|f| f.gt.len()).sum();
    let num_hyp_dets: usize = frames.frames.iter().map(|f| f.hyp.len()).sum();
    if num_gt_dets == 0 || num_hyp_dets == 0 {
        // TrackEval returns before computing the final fields: everything 0 but LocA = 1.
        return Hota {
            hota: 0.0,
            deta: 0.0,
            assa: 0.0,
            detre: 0.0,
            detpr: 0.0,
            assre: 0.0,
            asspr: 0.0,
            loca: 1.0,
            hota_alpha: zero,
            deta_alpha: zero,
            assa_alpha: zero,
        };
    }
    let gt_index = dense_ids(frames.frames.iter().flat_map(|f| f.gt.iter().map(|b| b.id)));
    let hyp_index = dense_ids(
        frames
            .frames
            .iter()
            .flat_map(|f| f.hyp.iter().map(|b| b.id)),
    );
    let gt_of =
        |f: &super::FramePair<'_>| -> Vec<usize> { f.gt.iter().map(|b| gt_index[&b.id]).collect() };
    let hyp_of = |f: &super::FramePair<'_>| -> Vec<usize> {
        f.hyp.iter().map(|b| hyp_index[&b.id]).collect()
    };

    // Pass 1: global alignment between ids, from per-frame normalised similarities.
    let mut potential: BTreeMap<(usize, usize), f64> = BTreeMap::new();
    let mut gt_count = vec![0.0f64; gt_index.len()];
    let mut hyp_count = vec![0.0f64; hyp_index.len()];
    for f in &frames.frames {
        let (g, h) = (gt_of(f), hyp_of(f));
        let nh = h.len();
        let row_sum: Vec<f64> = (0..g.len())
            .map(|i| (0..nh).map(|j| f.iou(i, j)).sum())
            .collect();
        let col_sum: Vec<f64> = (0..nh)
            .map(|j| (0..g.len()).map(|i| f.iou(i, j)).sum())
            .collect();
        for (i, &gi) in g.iter().enumerate() {
            for (j, &hj) in h.iter().enumerate() {
                let sim = f.iou(i, j);
                let denom = col_sum[j] + row_sum[i] - sim;
                if denom > eps && sim != 0.0 {
                    *potential.entry((gi, hj)).or_default() += sim / denom;
                }
            }
        }
        g.iter().for_each(|&gi| gt_count[gi] += 1.0);
        h.iter().for_each(|&hj| hyp_count[hj] += 1.0);
    }
    let alignment = |gi: usize, hj: usize| -> f64 {
        potential
            .get(&(gi, hj))
            .map_or(0.0, |&p| p / (gt_count[gi] + hyp_count[hj] - p))
    };

    // Pass 2: per frame, match maximising alignment x IoU; count per threshold.
    let mut tp = [0.0f64; HOTA_ALPHAS];
    let mut fn_ = [0.0f64; HOTA_ALPHAS];
    let mut fp = [0.0f64; HOTA_ALPHAS];
    let mut loc = [0.0f64; HOTA_ALPHAS];
    // Ordered maps: sums run in a fixed (row-major, like numpy's) order, so results are repeatable.
    let mut matches: BTreeMap<(usize, usize), [u32; HOTA_ALPHAS]> = BTreeMap::new();
    let mut cost = Vec::new();
    for f in &frames.frames {
        let (g, h) = (gt_of(f), hyp_of(f));
        if g.is_empty() || h.is_empty() {
            for a in 0..HOTA_ALPHAS {
                fp[a] += h.len() as f64;
                fn_[a] += g.len() as f64;
            }
            continue;
        }
        cost.clear();
        for (i, &gi) in g.iter().enumerate() {
            for (j, &hj) in h.iter().enumerate() {
                cost.push(-(alignment(gi, hj) * f.iou(i, j)));
            }
        }
        let pairs = lsa::solve(&cost, g.len(), h.len());
        for (a, &alpha) in alphas.iter().enumerate() {
            let mut n = 0usize;
            for &(i, j) in &pairs {
                let sim = f.iou(i, j);
                if sim >= alpha - eps {
                    n += 1;
                    loc[a] += sim;
                    matches.entry((g[i], h[j])).or_insert([0; HOTA_ALPHAS])[a] += 1;
                }
            }
            tp[a] += n as f64;
            fn_[a] += (g.len() - n) as f64;
            fp[a] += (h.len() - n) as f64;
        }
    }

    let mut r = Hota {
        hota: 0.0,
        deta: 0.0,
        assa: 0.0,
        detre: 0.0,
        detpr: 0.0,
        assre: 0.0,
        asspr: 0.0,
        loca: 0.0,
        hota_alpha: zero,
        deta_alpha: zero,
        assa_alpha: zero,
    };
    let (mut detre, mut detpr, mut assre, mut asspr, mut loca) = (zero, zero, zero, zero, zero);
    for a in 0..HOTA_ALPHAS {
        let (mut ass_a, mut ass_re, mut ass_pr) = (0.0f64, 0.0f64, 0.0f64);
        for (&(gi, hj), counts) in &matches {
            let mc = counts[a] as f64;
            if mc == 0.0 {
                continue;
            }
            let (gc, hc) = (gt_count[gi], hyp_count[hj]);
            ass_a += mc * (mc / (gc + hc - mc).max(1.0));
            ass_re += mc * (mc / gc.max(1.0));
            ass_pr += mc * (mc / hc.max(1.0));
        }
        let tp_norm = tp[a].max(1.0);
        r.assa_alpha[a] = ass_a / tp_norm;
        assre[a] = ass_re / tp_norm;
        asspr[a] = ass_pr / tp_norm;
        loca[a] = loc[a].max(1e-10) / tp[a].max(1e-10);
        detre[a] = tp[a] / (tp[a] + fn_[a]).max(1.0);
        detpr[a] = tp[a] / (tp[a] + fp[a]).max(1.0);
        r.deta_alpha[a] = tp[a] / (tp[a] + fn_[a] + fp[a]).max(1.0);
        r.hota_alpha[a] = (r.deta_alpha[a] * r.assa_alpha[a]).sqrt();
    }
    r.hota = mean(&r.hota_alpha);
    r.deta = mean(&r.deta_alpha);
    r.assa = mean(&r.assa_alpha);
    r.detre = mean(&detre);
    r.detpr = mean(&detpr);
    r.assre = mean(&assre);
    r.asspr = mean(&asspr);
    r.loca = mean(&loca);
    r
}
