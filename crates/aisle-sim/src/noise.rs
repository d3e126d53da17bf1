//! The detector noise model: what a decent person detector on a ceiling camera outputs for the
//! true boxes (jitter, misses, scores, false positives, merges, NMS).

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Distribution, Poisson, StandardNormal};

use aisle_types::Appearance;

use crate::appearance::{mix, AppearanceModel, Layer, Owner, Painter};
use crate::camera::Projector;
use crate::geom::{Bx, V2};
use crate::SimError;

/// A non-person the detector fires on now and then at a fixed place (a mannequin, a poster
/// with a person on it). It does not occlude anyone and has no ground truth.
#[derive(Debug, Clone, PartialEq)]
pub struct StaticFalsePositive {
    pub name: String,
    /// Floor position (metres); the object is an upright cylinder there.
    pub floor: [f64; 2],
    /// Bottom and top of the object above the floor, metres.
    pub bottom_m: f64,
    pub top_m: f64,
    pub width_m: f64,
    /// Chance per frame of a detection while it is in plain view.
    pub detect_prob: f64,
    pub score_mean: f64,
    pub score_sigma: f64,
}

/// How the simulated detector turns true boxes into detections.
///
/// The defaults model a decent person detector (a CenterNet/YOLO-class model at ~10 fps) on a
/// ceiling CCTV camera; see the field docs for each value. [`NoiseModel::perfect`] is the
/// noiseless detector (every visible person, exact box, no false positives), and
/// [`NoiseModel::preset`] also has the product's two detectors as measured on real video.
#[derive(Debug, Clone, PartialEq)]
pub struct NoiseModel {
    /// Standard deviation of each box edge's error, as a fraction of the box width (left and
    /// right edges) or height (top and bottom edges). Default 0.03 (a 300 px tall person's top
    /// and bottom edges move by about 9 px; mean IoU with the truth about 0.9).
    pub jitter_sigma: f64,
    /// Frame-to-frame correlation of each edge error (AR(1) coefficient; the marginal sigma
    /// stays `jitter_sigma`). Detector errors follow a person's pose and appearance, which
    /// change little in 0.1 s. Default 0.7.
    pub jitter_correlation: f64,
    /// Detectors key on heads and shoulders: misses, scores and extra jitter depend on the
    /// *detectability* `d = (1 - head_weight) x visibility + head_weight x head_visibility`,
    /// where `head_visibility` is the visible fraction of the top third of the person's box.
    /// A person whose legs are hidden behind someone nearer (the usual occlusion from a
    /// ceiling camera) stays detectable; one whose head is hidden mostly is not. Default 0.5;
    /// 0 makes everything below depend on plain visibility.
    pub head_weight: f64,
    /// Occluded people's boxes are noisier: sigma x (1 + gain x (1 - d)). Default 1.0.
    pub occluded_jitter_gain: f64,
    /// How far an occluded person's box moves from the full-body truth box towards the bounding
    /// box of the visible part (0 = the detector predicts the full body, 1 = only what it
    /// sees; detectors trained on full-body boxes mostly extrapolate). Default 0.3.
    pub occluded_box_shrink: f64,
    /// Miss probability of a fully visible, large person. Default 0.05.
    pub miss_prob: f64,
    /// Occlusion misses: a logistic in detectability, `1 / (1 + exp((d - mid) / width))`, raises
    /// the miss probability towards 1 as detectability falls. Defaults mid 0.35, width 0.07: a
    /// person half detectable is missed ~15 % of the time, a third ~60 %, a fifth ~90 %.
    /// `miss_visibility_mid = 0` disables occlusion misses.
    pub miss_visibility_mid: f64,
    pub miss_visibility_width: f64,
    /// Misses come in short bursts: P(miss) = persistence x (missed last frame) +
    /// (1 - persistence) x p, which keeps the long-run rate at p. Default 0.3.
    pub miss_persistence: f64,
    /// Boxes shorter than this (pixels) are missed more, linearly up to always at 0 px.
    /// Default 40 (the standard store's smallest people are ~100 px tall).
    pub small_box_height_px: f64,
    /// Mean confidence of a fully visible person. Default 0.83.
    pub score_visible_mean: f64,
    /// Mean confidence of a badly occluded person. Default 0.30 (so a ByteTrack-style
    /// tracker's low-score association stage matters).
    pub score_occluded_mean: f64,
    /// The mean score ramps (smoothstep) from `score_occluded_mean` at this detectability or
    /// less to `score_visible_mean` at `score_visible_visibility` or more. Defaults 0.3 and
    /// 0.85 (0.47 at d = 0.5, 0.73 at d = 0.7).
    pub score_occluded_visibility: f64,
    pub score_visible_visibility: f64,
    /// Per-detection score noise (sd). Default 0.07.
    pub score_sigma: f64,
    /// A per-person constant added to all their scores (sd), e.g. dark clothes. Default 0.04.
    pub score_person_sigma: f64,
    /// Mean number of random false positives per frame (Poisson), person-sized boxes at random
    /// floor points (30 % of them upper-body shaped). Default 0.3.
    pub false_positives_per_frame: f64,
    /// Random false positives score `min + span x Beta(2, 5)`. Defaults 0.1 and 0.6 (mean
    /// 0.27, 95th percentile ~0.45, at most 0.7).
    pub false_positive_score_min: f64,
    pub false_positive_score_span: f64,
    /// Chance per detected person of a second, upper-body box with a low score (an NMS
    /// leftover). Default 0.01.
    pub duplicate_prob: f64,
    /// Two detected people whose true boxes overlap by more than `merge_iou` come out as one
    /// box (between the nearer one's box and the union) with probability `merge_prob` per
    /// frame. Defaults 0.5 and 0.1.
    pub merge_iou: f64,
    pub merge_prob: f64,
    /// The detector's NMS: of two outputs overlapping by more than this IoU the lower score
    /// goes. Default 0.7; 1 disables.
    pub nms_iou: f64,
    /// Persistent false positives. Default: a mannequin beside the cosmetics display (detected
    /// in half the frames, score ~0.35) and a poster of a person on the back wall between the
    /// bakery and wine displays (30 %, score ~0.25), in standard store coordinates. A tracker
    /// that keeps tracks alive on low-score detections will hold on to them unless it
    /// suppresses static low-score tracks.
    pub static_false_positives: Vec<StaticFalsePositive>,
}

impl Default for NoiseModel {
    fn default() -> Self {
        Self {
            jitter_sigma: 0.03,
            jitter_correlation: 0.7,
            head_weight: 0.5,
            occluded_jitter_gain: 1.0,
            occluded_box_shrink: 0.3,
            miss_prob: 0.05,
            miss_visibility_mid: 0.35,
            miss_visibility_width: 0.07,
            miss_persistence: 0.3,
            small_box_height_px: 40.0,
            score_visible_mean: 0.83,
            score_occluded_mean: 0.30,
            score_occluded_visibility: 0.3,
            score_visible_visibility: 0.85,
            score_sigma: 0.07,
            score_person_sigma: 0.04,
            false_positives_per_frame: 0.3,
            false_positive_score_min: 0.1,
            false_positive_score_span: 0.6,
            duplicate_prob: 0.01,
            merge_iou: 0.5,
            merge_prob: 0.1,
            nms_iou: 0.7,
            static_false_positives: vec![
                StaticFalsePositive {
                    name: "mannequin".into(),
                    floor: [0.35, 9.25],
                    bottom_m: 0.0,
                    top_m: 1.8,
                    width_m: 0.45,
                    detect_prob: 0.5,
                    score_mean: 0.35,
                    score_sigma: 0.08,
                },
                StaticFalsePositive {
                    name: "poster".into(),
                    floor: [5.5, 11.95],
                    bottom_m: 0.6,
                    top_m: 1.7,
                    width_m: 0.4,
                    detect_prob: 0.3,
                    score_mean: 0.25,
                    score_sigma: 0.06,
                },
            ],
        }
    }
}

/// Names of the noise models [`NoiseModel::preset`] knows.
pub const NOISE_PRESETS: [&str; 4] = ["default", "centernet", "nanodet", "perfect"];

impl NoiseModel {
    /// A named detector model: `default` ([`NoiseModel::default`], the generic decent detector
    /// the acceptance figures use), `perfect` ([`NoiseModel::perfect`]), or one of the product's
    /// two person detectors, `centernet` and `nanodet`, whose response to occlusion was measured
    /// on real video (`cargo run --release -p aisled --example occlusion_calibration -- --model
    /// NAME --step 2 --targets 200`: people the detector finds alone in the sample video, covered
    /// by another person pasted in front of them, 2000 edits per detector; docs/tracking.md,
    /// "The product's detectors"). Measured: how occlusion misses and scores depend on
    /// visibility (both detectors key on the whole body, not the head: `head_weight` ~0), the
    /// score of a fully visible person, and how far an occluded person's box moves towards their
    /// visible part. Not measured (no ground truth on real video), so left at the defaults: box
    /// jitter, misses of fully visible people, false positives, merges.
    pub fn preset(name: &str) -> Option<Self> {
        match name {
            "default" => Some(Self::default()),
            "perfect" => Some(Self::perfect()),
            // CenterNet MobileNetV3 at 512x512: half-hidden people are found about half the
            // time; a fully visible person scores ~0.6.
            "centernet" => Some(Self {
                head_weight: 0.1,
                miss_visibility_mid: 0.40,
                miss_visibility_width: 0.095,
                occluded_box_shrink: 0.56,
                score_visible_mean: 0.61,
                score_occluded_mean: 0.28,
                score_occluded_visibility: 0.40,
                score_visible_visibility: 1.0,
                score_sigma: 0.076,
                ..Self::default()
            }),
            // NanoDet-m at 416x416: finds most half-hidden people; a fully visible person
            // scores ~0.7, with more spread.
            "nanodet" => Some(Self {
                head_weight: 0.1,
                miss_visibility_mid: 0.24,
                miss_visibility_width: 0.105,
                occluded_box_shrink: 0.37,
                score_visible_mean: 0.69,
                score_occluded_mean: 0.20,
                score_occluded_visibility: 0.15,
                score_visible_visibility: 1.0,
                score_sigma: 0.12,
                ..Self::default()
            }),
            _ => None,
        }
    }

    /// A perfect detector: every person with any visible part, exactly their (clipped) truth
    /// box, score 0.9; nothing else.
    pub fn perfect() -> Self {
        Self {
            jitter_sigma: 0.0,
            jitter_correlation: 0.0,
            head_weight: 0.0,
            occluded_jitter_gain: 0.0,
            occluded_box_shrink: 0.0,
            miss_prob: 0.0,
            miss_visibility_mid: 0.0,
            miss_visibility_width: 0.07,
            miss_persistence: 0.0,
            small_box_height_px: 0.0,
            score_visible_mean: 0.9,
            score_occluded_mean: 0.9,
            score_occluded_visibility: 0.3,
            score_visible_visibility: 0.85,
            score_sigma: 0.0,
            score_person_sigma: 0.0,
            false_positives_per_frame: 0.0,
            false_positive_score_min: 0.1,
            false_positive_score_span: 0.6,
            duplicate_prob: 0.0,
            merge_iou: 0.5,
            merge_prob: 0.0,
            nms_iou: 1.0,
            static_false_positives: Vec::new(),
        }
    }

    pub(crate) fn validate(&self, scenario: &str) -> Result<(), SimError> {
        let check = |field: &str, v: f64, lo: f64, hi: f64| {
            SimError::check_range(scenario, &format!("noise.{field}"), v, lo, hi)
        };
        check("jitter_sigma", self.jitter_sigma, 0.0, 0.5)?;
        check("jitter_correlation", self.jitter_correlation, 0.0, 0.99)?;
        check("head_weight", self.head_weight, 0.0, 1.0)?;
        check("occluded_jitter_gain", self.occluded_jitter_gain, 0.0, 10.0)?;
        check("occluded_box_shrink", self.occluded_box_shrink, 0.0, 1.0)?;
        check("miss_prob", self.miss_prob, 0.0, 1.0)?;
        check("miss_visibility_mid", self.miss_visibility_mid, 0.0, 1.0)?;
        check(
            "miss_visibility_width",
            self.miss_visibility_width,
            0.001,
            1.0,
        )?;
        check("miss_persistence", self.miss_persistence, 0.0, 0.99)?;
        check(
            "small_box_height_px",
            self.small_box_height_px,
            0.0,
            10_000.0,
        )?;
        check("score_visible_mean", self.score_visible_mean, 0.0, 1.0)?;
        check("score_occluded_mean", self.score_occluded_mean, 0.0, 1.0)?;
        check(
            "score_occluded_visibility",
            self.score_occluded_visibility,
            0.0,
            1.0,
        )?;
        check(
            "score_visible_visibility",
            self.score_visible_visibility,
            0.0,
            1.0,
        )?;
        if self.score_visible_visibility <= self.score_occluded_visibility {
            return Err(SimError::invalid(
                scenario,
                "noise.score_visible_visibility".into(),
                self.score_visible_visibility.to_string(),
                "must be greater than noise.score_occluded_visibility",
            ));
        }
        check("score_sigma", self.score_sigma, 0.0, 1.0)?;
        check("score_person_sigma", self.score_person_sigma, 0.0, 1.0)?;
        check(
            "false_positives_per_frame",
            self.false_positives_per_frame,
            0.0,
            100.0,
        )?;
        check(
            "false_positive_score_min",
            self.false_positive_score_min,
            0.0,
            1.0,
        )?;
        check(
            "false_positive_score_span",
            self.false_positive_score_span,
            0.0,
            1.0,
        )?;
        check("duplicate_prob", self.duplicate_prob, 0.0, 1.0)?;
        check("merge_iou", self.merge_iou, 0.0, 1.0)?;
        check("merge_prob", self.merge_prob, 0.0, 1.0)?;
        check("nms_iou", self.nms_iou, 0.0, 1.0)?;
        for (i, s) in self.static_false_positives.iter().enumerate() {
            let f = |k: &str| format!("static_false_positives[{i}].{k}");
            check(&f("floor[0]"), s.floor[0], -1e4, 1e4)?;
            check(&f("floor[1]"), s.floor[1], -1e4, 1e4)?;
            check(&f("bottom_m"), s.bottom_m, 0.0, 10.0)?;
            check(&f("top_m"), s.top_m, s.bottom_m + 0.05, 10.0)?;
            check(&f("width_m"), s.width_m, 0.05, 5.0)?;
            check(&f("detect_prob"), s.detect_prob, 0.0, 1.0)?;
            check(&f("score_mean"), s.score_mean, 0.0, 1.0)?;
            check(&f("score_sigma"), s.score_sigma, 0.0, 1.0)?;
        }
        Ok(())
    }

    /// Detectability from visibility and head visibility (see [`NoiseModel::head_weight`]).
    pub fn detectability(&self, visibility: f64, head_visibility: f64) -> f64 {
        ((1.0 - self.head_weight) * visibility + self.head_weight * head_visibility).clamp(0.0, 1.0)
    }

    /// Probability that a person with this detectability and image box height is missed,
    /// before burst persistence.
    pub fn miss_probability(&self, detectability: f64, box_height_px: f64) -> f64 {
        let mut p = self.miss_prob;
        if self.miss_visibility_mid > 0.0 {
            let s = 1.0
                / (1.0
                    + ((detectability - self.miss_visibility_mid) / self.miss_visibility_width)
                        .exp());
            p += (1.0 - p) * s;
        }
        if self.small_box_height_px > 0.0 && box_height_px < self.small_box_height_px {
            p += (1.0 - p) * (1.0 - box_height_px / self.small_box_height_px);
        }
        p.clamp(0.0, 1.0)
    }

    /// Mean detection score at this detectability (before per-person and per-frame noise).
    pub fn mean_score(&self, detectability: f64) -> f64 {
        let t = ((detectability - self.score_occluded_visibility)
            / (self.score_visible_visibility - self.score_occluded_visibility))
            .clamp(0.0, 1.0);
        let s = t * t * (3.0 - 2.0 * t);
        self.score_occluded_mean + (self.score_visible_mean - self.score_occluded_mean) * s
    }
}

/// One person as the camera sees them this frame.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PersonView {
    /// Internal shopper index (stable across frames).
    pub key: usize,
    /// The unclipped full-body box.
    pub full: Bx,
    pub clipped: Bx,
    pub visible_bb: Bx,
    pub visibility: f64,
    pub head_visibility: f64,
}

#[derive(Debug, Clone, Copy, Default)]
struct PersonNoise {
    edges: [f64; 4],
    missed_last: bool,
    score_bias: f64,
    initialised: bool,
}

/// Per-person detector state and the detector's random stream.
pub(crate) struct Detector {
    rng: ChaCha8Rng,
    people: Vec<PersonNoise>,
    statics: Vec<PersonNoise>,
}

struct Cand {
    bx: Bx,
    score: f64,
    app: Appearance,
    /// Index into the frame's person list for true positives.
    person: Option<usize>,
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    StandardNormal.sample(rng)
}

impl Detector {
    pub fn new(rng: ChaCha8Rng) -> Self {
        Self {
            rng,
            people: Vec::new(),
            statics: Vec::new(),
        }
    }

    fn state(&mut self, key: usize, m: &NoiseModel) -> PersonNoise {
        if key >= self.people.len() {
            self.people.resize(key + 1, PersonNoise::default());
        }
        let mut st = self.people[key];
        if !st.initialised {
            st.initialised = true;
            for e in &mut st.edges {
                *e = normal(&mut self.rng);
            }
            st.score_bias = normal(&mut self.rng) * m.score_person_sigma;
        }
        st
    }

    fn advance_edges(&mut self, st: &mut PersonNoise, rho: f64) {
        let k = (1.0 - rho * rho).sqrt();
        for e in &mut st.edges {
            *e = rho * *e + k * normal(&mut self.rng);
        }
    }

    fn jittered(&self, base: &Bx, edges: &[f64; 4], sigma: f64) -> Bx {
        let (w, h) = (base.w(), base.h());
        Bx {
            x1: base.x1 + edges[0] * sigma * w,
            y1: base.y1 + edges[1] * sigma * h,
            x2: base.x2 + edges[2] * sigma * w,
            y2: base.y2 + edges[3] * sigma * h,
        }
    }

    /// Detections for one frame and, when `looks` is enabled, the appearance descriptor of
    /// each (same order). `people` must be in depth order, nearest first.
    #[allow(clippy::too_many_lines, clippy::too_many_arguments)]
    pub fn detect(
        &mut self,
        m: &NoiseModel,
        proj: &Projector,
        floor_w: f64,
        floor_d: f64,
        people: &[PersonView],
        statics: &[(Bx, Bx, f64)],
        looks: &AppearanceModel,
        painter: &mut Painter,
    ) -> (Vec<aisle_types::Detection>, Vec<Appearance>) {
        let (iw, ih) = (proj.w, proj.h);
        let mut cands: Vec<Cand> = Vec::with_capacity(people.len() + 4);
        let paint = looks.enabled;
        if paint {
            painter.advance(looks);
        }
        let layers: Vec<Layer> = people
            .iter()
            .map(|p| Layer {
                full: p.full,
                clipped: p.clipped,
                key: Owner::Person(p.key),
            })
            .collect();
        for (pi, p) in people.iter().enumerate() {
            let mut st = self.state(p.key, m);
            self.advance_edges(&mut st, m.jitter_correlation);
            let base = p.clipped.lerp(&p.visible_bb, m.occluded_box_shrink);
            let d = m.detectability(p.visibility, p.head_visibility);
            let p_miss = m.miss_probability(d, p.clipped.h());
            let p_eff = m.miss_persistence * f64::from(u8::from(st.missed_last))
                + (1.0 - m.miss_persistence) * p_miss;
            let u: f64 = self.rng.random();
            let score_noise = normal(&mut self.rng);
            let mut missed = u < p_eff;
            if !missed {
                let sigma = m.jitter_sigma * (1.0 + m.occluded_jitter_gain * (1.0 - d));
                let bx = self.jittered(&base, &st.edges, sigma).clamp(iw, ih);
                if bx.w() < 2.0 || bx.h() < 2.0 {
                    missed = true;
                } else {
                    let score = (m.mean_score(d) + st.score_bias + m.score_sigma * score_noise)
                        .clamp(0.01, 0.99);
                    let app = if paint {
                        painter.paint(looks, &bx, &layers)
                    } else {
                        Appearance::default()
                    };
                    cands.push(Cand {
                        bx,
                        score,
                        app,
                        person: Some(pi),
                    });
                    if m.duplicate_prob > 0.0 && self.rng.random::<f64>() < m.duplicate_prob {
                        let frac = self.rng.random_range(0.4..0.6);
                        let upper = Bx {
                            y2: bx.y1 + frac * bx.h(),
                            ..bx
                        };
                        let s = score * self.rng.random_range(0.2..0.5);
                        let app = if paint {
                            painter.paint(looks, &upper, &layers)
                        } else {
                            Appearance::default()
                        };
                        cands.push(Cand {
                            bx: upper,
                            score: s,
                            app,
                            person: None,
                        });
                    }
                }
            }
            st.missed_last = missed;
            self.people[p.key] = st;
        }

        // Merges of heavily overlapping people (the nearer one absorbs the farther one).
        if m.merge_prob > 0.0 {
            let mut gone = vec![false; cands.len()];
            for i in 0..cands.len() {
                let Some(pi) = cands[i].person else { continue };
                if gone[i] {
                    continue;
                }
                for j in (i + 1)..cands.len() {
                    let Some(pj) = cands[j].person else { continue };
                    if gone[j] || people[pi].clipped.iou(&people[pj].clipped) <= m.merge_iou {
                        continue;
                    }
                    if self.rng.random::<f64>() < m.merge_prob {
                        let (a, b) = (cands[i].bx, cands[j].bx);
                        cands[i].bx = a.lerp(&a.union(&b), 0.5);
                        cands[i].score = cands[i].score.max(cands[j].score);
                        cands[i].app = mix(&cands[i].app, &cands[j].app, 0.4);
                        gone[j] = true;
                        break;
                    }
                }
            }
            let mut k = 0;
            cands.retain(|_| {
                k += 1;
                !gone[k - 1]
            });
        }

        // Persistent false positives.
        if self.statics.len() < m.static_false_positives.len() {
            self.statics
                .resize(m.static_false_positives.len(), PersonNoise::default());
        }
        for (si, (s, (full, bx, vis))) in m.static_false_positives.iter().zip(statics).enumerate() {
            let mut st = self.statics[si];
            if !st.initialised {
                st.initialised = true;
                for e in &mut st.edges {
                    *e = normal(&mut self.rng);
                }
            }
            self.advance_edges(&mut st, m.jitter_correlation);
            self.statics[si] = st;
            if *vis <= 0.0 {
                continue;
            }
            let p_det = s.detect_prob * (1.0 - m.miss_probability(*vis, bx.h()));
            let u: f64 = self.rng.random();
            let sn = normal(&mut self.rng);
            if u < p_det {
                let b = self.jittered(bx, &st.edges, m.jitter_sigma).clamp(iw, ih);
                if b.w() >= 2.0 && b.h() >= 2.0 {
                    let app = if paint {
                        let layer = Layer {
                            full: *full,
                            clipped: *bx,
                            key: Owner::Static(si),
                        };
                        painter.paint(looks, &b, &[layer])
                    } else {
                        Appearance::default()
                    };
                    cands.push(Cand {
                        bx: b,
                        score: (s.score_mean + s.score_sigma * sn).clamp(0.01, 0.99),
                        app,
                        person: None,
                    });
                }
            }
        }

        // Random false positives.
        if m.false_positives_per_frame > 0.0 {
            let n = Poisson::new(m.false_positives_per_frame)
                .map(|d| d.sample(&mut self.rng))
                .unwrap_or(0.0) as usize;
            let beta = Beta::new(2.0, 5.0).ok();
            for _ in 0..n {
                for _try in 0..5 {
                    let fx = self.rng.random_range(0.0..1.0) * (floor_w - 0.6) + 0.3;
                    let fy = self.rng.random_range(0.0..1.0) * (floor_d - 0.6) + 0.3;
                    let h = self.rng.random_range(1.0..1.9);
                    let w = self.rng.random_range(0.3..0.6);
                    let upper = self.rng.random::<f64>() < 0.3;
                    let frac = self.rng.random_range(0.4..0.7);
                    let b: f64 = beta.as_ref().map_or(0.3, |d| d.sample(&mut self.rng));
                    let Some(full) = proj.cylinder_box(V2::new(fx, fy), 0.0, h, w) else {
                        continue;
                    };
                    let mut c = full.clamp(iw, ih);
                    if c.area() < 0.5 * full.area() || c.h() < 16.0 {
                        continue;
                    }
                    if upper {
                        c.y2 = c.y1 + frac * c.h();
                    }
                    let app = if paint {
                        painter.clutter(looks, &c)
                    } else {
                        Appearance::default()
                    };
                    cands.push(Cand {
                        bx: c,
                        score: (m.false_positive_score_min + m.false_positive_score_span * b)
                            .clamp(0.01, 0.99),
                        app,
                        person: None,
                    });
                    break;
                }
            }
        }

        // The detector's own NMS, then score order.
        let mut order: Vec<usize> = (0..cands.len()).collect();
        order.sort_by(|&a, &b| cands[b].score.total_cmp(&cands[a].score).then(a.cmp(&b)));
        let mut kept: Vec<usize> = Vec::with_capacity(order.len());
        for i in order {
            if m.nms_iou < 1.0
                && kept
                    .iter()
                    .any(|&k| cands[k].bx.iou(&cands[i].bx) > m.nms_iou)
            {
                continue;
            }
            kept.push(i);
        }
        let apps = if paint {
            kept.iter().map(|&i| cands[i].app).collect()
        } else {
            Vec::new()
        };
        let dets = kept
            .into_iter()
            .map(|i| aisle_types::Detection {
                bbox: cands[i].bx.to_bbox(),
                score: cands[i].score as f32,
                class_id: 0,
            })
            .collect();
        (dets, apps)
    }
}
