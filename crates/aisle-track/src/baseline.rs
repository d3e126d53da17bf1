//! A simple IoU-greedy tracker, kept as the reference the production tracker is compared with.
//!
//! Each frame, detections at or above `min_score` are matched to the tracks' last boxes greedily
//! by decreasing IoU (at least `min_iou`); unmatched detections start tracks; a track unmatched
//! for longer than `max_age_s` ends. No motion model, no low-score stage, no recovery: this is what
//! a first attempt at tracking usually looks like, and what the ID-switch comparison in
//! `aisle eval tracking` measures against.

use aisle_types::{BBox, Detection, MediaTime};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GreedyConfig {
    pub min_score: f32,
    pub min_iou: f32,
    pub max_age_s: f64,
}

impl Default for GreedyConfig {
    fn default() -> Self {
        Self {
            min_score: 0.5,
            min_iou: 0.3,
            max_age_s: 1.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GreedyTrack {
    pub id: u32,
    pub bbox: BBox,
    pub last_seen: f64,
    pub matched: bool,
}

/// The baseline tracker; allocates freely (it is a reference, not production code).
#[derive(Debug, Default)]
pub struct GreedyTracker {
    cfg: GreedyConfig,
    tracks: Vec<GreedyTrack>,
    next_id: u32,
}

impl GreedyTracker {
    pub fn new(cfg: GreedyConfig) -> Self {
        Self {
            cfg,
            tracks: Vec::new(),
            next_id: 1,
        }
    }

    /// Tracks matched in this frame are those with `matched == true`.
    pub fn update(&mut self, detections: &[Detection], time: MediaTime) -> &[GreedyTrack] {
        let now = time.as_secs_f64();
        let dets: Vec<&Detection> = detections
            .iter()
            .filter(|d| d.score >= self.cfg.min_score && d.bbox.is_finite() && d.bbox.area() > 0.0)
            .collect();
        let mut pairs = Vec::new();
        for (t, tr) in self.tracks.iter().enumerate() {
            for (j, d) in dets.iter().enumerate() {
                let iou = tr.bbox.iou(&d.bbox);
                if iou >= self.cfg.min_iou {
                    pairs.push((iou, t, j));
                }
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut t_used = vec![false; self.tracks.len()];
        let mut d_used = vec![false; dets.len()];
        for tr in &mut self.tracks {
            tr.matched = false;
        }
        for (_, t, j) in pairs {
            if t_used[t] || d_used[j] {
                continue;
            }
            t_used[t] = true;
            d_used[j] = true;
            let tr = &mut self.tracks[t];
            tr.bbox = dets[j].bbox;
            tr.last_seen = now;
            tr.matched = true;
        }
        let max_age = self.cfg.max_age_s;
        self.tracks.retain(|t| now - t.last_seen <= max_age);
        for (j, d) in dets.iter().enumerate() {
            if !d_used[j] {
                self.tracks.push(GreedyTrack {
                    id: self.next_id,
                    bbox: d.bbox,
                    last_seen: now,
                    matched: true,
                });
                self.next_id += 1;
            }
        }
        &self.tracks
    }
}
