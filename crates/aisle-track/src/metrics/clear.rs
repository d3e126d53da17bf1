//! CLEAR MOT events, replayed exactly as py-motmetrics 1.4.0's `MOTAccumulator.update`
//! (`max_switch_time = inf`), then summarised as its `metrics.py` does.

use std::collections::{HashMap, HashSet};

use super::{clear_distance, lsa, FramePairs};

pub(super) struct Clear {
    pub matches: u64,
    pub switches: u64,
    pub false_positives: u64,
    pub misses: u64,
    pub distance_sum: f64,
    pub num_gt: u64,
    pub num_hyp: u64,
    pub num_gt_ids: u64,
    pub fragmentations: u64,
    pub mostly_tracked: u64,
    pub partially_tracked: u64,
    pub mostly_lost: u64,
    pub transfers: u64,
    pub ascends: u64,
    pub migrates: u64,
}

/// Per ground-truth id: frames seen, frames matched, and the fragmentation state machine.
#[derive(Default)]
struct ObjectHistory {
    seen: u64,
    tracked: u64,
    /// Tracked at least once so far.
    started: bool,
    /// A miss run after a tracked frame is pending (counted once the object is tracked again,
    /// since motmetrics only looks between the first and the last tracked frame).
    pending_gap: bool,
    fragmentations: u64,
}

pub(super) fn evaluate(frames: &FramePairs<'_>) -> Clear {
    let mut c = Clear {
        matches: 0,
        switches: 0,
        false_positives: 0,
        misses: 0,
        distance_sum: 0.0,
        num_gt: 0,
        num_hyp: 0,
        num_gt_ids: 0,
        fragmentations: 0,
        mostly_tracked: 0,
        partially_tracked: 0,
        mostly_lost: 0,
        transfers: 0,
        ascends: 0,
        migrates: 0,
    };
    // motmetrics' accumulator state: `m` (object -> hypothesis of its last match), `res_m`
    // (hypothesis -> object of its last match), `last_match` and `hypHistory` (only
    // membership matters with an unbounded switch time).
    let mut m: HashMap<u64, u64> = HashMap::new();
    let mut res_m: HashMap<u64, u64> = HashMap::new();
    let mut matched_objects: HashSet<u64> = HashSet::new();
    let mut matched_hyps: HashSet<u64> = HashSet::new();
    let mut history: HashMap<u64, ObjectHistory> = HashMap::new();

    let mut dist: Vec<Option<f64>> = Vec::new();
    let mut gt_done: Vec<bool> = Vec::new();
    let mut hyp_done: Vec<bool> = Vec::new();
    for f in &frames.frames {
        let (no, nh) = (f.gt.len(), f.hyp.len());
        c.num_gt += no as u64;
        c.num_hyp += nh as u64;
        dist.clear();
        dist.extend(f.iou.iter().map(|&iou| clear_distance(iou)));
        gt_done.clear();
        gt_done.resize(no, false);
        hyp_done.clear();
        hyp_done.resize(nh, false);

        if no > 0 && nh > 0 {
            // 1. Carry forward last matches that are still within the threshold. As in
            //    motmetrics, `m` is never cleared, so an object may reclaim a hypothesis that has
            //    since been matched to another object; objects are visited in input order.
            for i in 0..no {
                let o = f.gt[i].id;
                let Some(&hprev) = m.get(&o) else { continue };
                let Some(j) = (0..nh).find(|&j| !hyp_done[j] && f.hyp[j].id == hprev) else {
                    continue;
                };
                if let Some(d) = dist[i * nh + j] {
                    gt_done[i] = true;
                    hyp_done[j] = true;
                    c.matches += 1;
                    c.distance_sum += d;
                    matched_objects.insert(o);
                    matched_hyps.insert(hprev);
                    history.entry(o).or_default().tracked_now();
                }
            }
            // 2. Maximum-cardinality, minimum-distance assignment of the rest.
            let rows: Vec<usize> = (0..no).filter(|&i| !gt_done[i]).collect();
            let cols: Vec<usize> = (0..nh).filter(|&j| !hyp_done[j]).collect();
            let sub: Vec<Option<f64>> = rows
                .iter()
                .flat_map(|&i| cols.iter().map(move |&j| (i, j)))
                .map(|(i, j)| dist[i * nh + j])
                .collect();
            for (r, k) in lsa::solve_partial(&sub, rows.len(), cols.len()) {
                let (i, j) = (rows[r], cols[k]);
                let Some(d) = dist[i * nh + j] else { continue };
                let (o, h) = (f.gt[i].id, f.hyp[j].id);
                let is_switch = m.get(&o).is_some_and(|&prev| prev != h);
                if is_switch && !matched_hyps.contains(&h) {
                    c.ascends += 1;
                }
                if res_m.get(&h).is_some_and(|&prev| prev != o) {
                    if !matched_objects.contains(&o) {
                        c.migrates += 1;
                    }
                    c.transfers += 1;
                }
                matched_hyps.insert(h);
                matched_objects.insert(o);
                if is_switch {
                    c.switches += 1;
                } else {
                    c.matches += 1;
                }
                c.distance_sum += d;
                gt_done[i] = true;
                hyp_done[j] = true;
                m.insert(o, h);
                res_m.insert(h, o);
                history.entry(o).or_default().tracked_now();
            }
        }
        // 3. Unmatched objects are misses, 4. unmatched hypotheses false positives.
        for (b, done) in f.gt.iter().zip(&gt_done) {
            let h = history.entry(b.id).or_default();
            h.seen += 1;
            if !done {
                c.misses += 1;
                h.missed_now();
            }
        }
        c.false_positives += hyp_done.iter().filter(|d| !**d).count() as u64;
    }

    c.num_gt_ids = history.len() as u64;
    for h in history.values() {
        c.fragmentations += h.fragmentations;
        // motmetrics: `tracked.div(obj_frequencies)`, thresholds 0.8 and 0.2.
        let ratio = h.tracked as f64 / h.seen as f64;
        if ratio >= 0.8 {
            c.mostly_tracked += 1;
        } else if ratio >= 0.2 {
            c.partially_tracked += 1;
        } else {
            c.mostly_lost += 1;
        }
    }
    c
}

impl ObjectHistory {
    fn tracked_now(&mut self) {
        self.tracked += 1;
        if self.pending_gap {
            self.fragmentations += 1;
            self.pending_gap = false;
        }
        self.started = true;
    }

    fn missed_now(&mut self) {
        if self.started {
            self.pending_gap = true;
        }
    }
}
