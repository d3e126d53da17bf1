//! The face stage of `aisle run` (`[faces]`): per frame, a per-second budget of face analyses
//! shared round-robin by the shoppers in view; each analysis runs on the shopper's upper body
//! and hands the analytics one [`FaceSample`] (head pose, smoothed expression).
//!
//! Nothing here runs, and no face model is loaded, unless `[faces] attention` or `emotion` is
//! on ([`FaceStage::new`] returns `None`). Faces, crops and landmarks live only in this stage's
//! buffers, overwritten by the next analysis; what leaves it is a head pose and seven
//! probabilities per track, which the analytics turns into per-zone aggregates.
//!
//! **Budget**: `samples_per_second` tokens per second (at most one second's worth banked); each
//! analysis spends one. **Order**: eligible tracks (the analytics' `face_eligible`: known, not
//! staff, not in a staff zone: staff are excluded before any face of theirs is looked at), the
//! longest since their last attempt first (never tried first, then by id).
//!
//! **One analysis** of a track with box `b`: face detection on the square of side
//! `max(b.w, 0.35 b.h)` centred on the box horizontally, its top `0.1 side` above the box (head
//! and shoulders); the best face whose centre lies in the square's upper 70 %; then the gates:
//! face height >= `min_face_px`, detector score >= `min_score`, sharpness of its 64 x 64 gray
//! crop >= `min_sharpness`, mesh presence >= 0.5, `|yaw| <= max_yaw_deg`,
//! `|pitch| <= max_pitch_deg`; then (emotion on) the expression, smoothed per track
//! (`smoothing` x newest + the rest x previous). A sample stands for the time since the track's
//! previous attempt (at most 2 s).

use std::collections::BTreeMap;

use aisle_analytics::{CameraAnalytics, FaceSample, TrackPoint, MAX_SAMPLE_INTERVAL_S};
use aisle_config::{Config, FacesConfig};
use aisle_infer::{Acceleration, Manifest, OrtEngine, OrtRuntime};
use aisle_types::{BBox, Nv12Frame};
use aisle_vision::face::{self, square};
use aisle_vision::{
    CpuPreprocessor, CropSpec, ExpressionClassifier, FaceDetector, FaceGeometry, FaceMesher,
    FaceOptions, Preprocessor,
};
use anyhow::{Context, Result};

/// Gray crop of a face for the sharpness gate.
const SHARP_SIDE: u32 = 64;

/// Why analyses did not give a sample (for the log and the tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaceStats {
    pub attempts: u64,
    pub no_face: u64,
    pub too_small: u64,
    pub low_score: u64,
    pub blurred: u64,
    pub no_mesh: u64,
    pub turned_away: u64,
    pub samples: u64,
}

#[derive(Debug, Clone, Copy)]
struct TrackFace {
    last_attempt: f64,
    smoothed: Option<[f32; 7]>,
}

pub struct FaceStage {
    cfg: FacesConfig,
    pre: CpuPreprocessor,
    det: FaceDetector,
    mesh: FaceMesher,
    expr: Option<ExpressionClassifier>,
    geometry: FaceGeometry,
    sharp: CropSpec,
    sharp_buf: Vec<f32>,
    tracks: BTreeMap<u32, TrackFace>,
    tokens: f64,
    last_frame: Option<f64>,
    samples: Vec<FaceSample>,
    order: Vec<(f64, u32)>,
    pub stats: FaceStats,
}

impl FaceStage {
    /// The face models of `config` on the CPU, or `None` when `[faces]` is off (then no face
    /// model is loaded or run).
    ///
    /// # Errors
    /// A face model or the face geometry missing or not loading, named with the fix.
    pub fn new(config: &Config, rt: &OrtRuntime, manifest: &Manifest) -> Result<Option<Self>> {
        let cfg = config.faces.clone();
        if !cfg.enabled() {
            return Ok(None);
        }
        let dir = config.models_dir();
        let load = |name: &str| -> Result<(aisle_infer::ModelSpec, Box<OrtEngine>)> {
            let spec = manifest.get(name)?.clone();
            let engine =
                OrtEngine::load(rt, &spec, &dir, 1, Acceleration::Cpu).with_context(|| {
                    format!("[faces] needs model `{name}`: run `scripts/fetch-models.sh {name}`")
                })?;
            Ok((spec, Box::new(engine)))
        };
        let opts = FaceOptions::default();
        let (spec, engine) = load("blazeface")?;
        let det = FaceDetector::new(spec, engine, opts)?;
        let (spec, engine) = load("face_mesh")?;
        let geometry_file = spec
            .geometry
            .as_ref()
            .map(|g| g.file.clone())
            .context("the face_mesh model has no geometry in the manifest")?;
        let mesh = FaceMesher::new(spec, engine, opts)?;
        let geometry = FaceGeometry::load(&dir.join(geometry_file))?;
        let expr = if cfg.emotion {
            let (spec, engine) = load(&cfg.expression_model)?;
            Some(ExpressionClassifier::new(spec, engine).with_context(|| {
                format!("faces.expression_model = \"{}\"", cfg.expression_model)
            })?)
        } else {
            None
        };
        Ok(Some(Self {
            sharp: CropSpec {
                width: SHARP_SIDE,
                height: SHARP_SIDE,
                layout: aisle_infer::InputLayout::Nhwc,
                color: aisle_infer::InputColor::Gray,
                mean: [127.5; 3],
                std: [127.5; 3],
            },
            sharp_buf: vec![0.0; (SHARP_SIDE * SHARP_SIDE) as usize],
            tokens: cfg.samples_per_second,
            cfg,
            pre: CpuPreprocessor::default(),
            det,
            mesh,
            expr,
            geometry,
            tracks: BTreeMap::new(),
            last_frame: None,
            samples: Vec::new(),
            order: Vec::new(),
            stats: FaceStats::default(),
        }))
    }

    /// The face samples of `frame` (media time `now`, seconds) for the tracks `points` seen in
    /// it, which `analytics` has just been updated with.
    pub fn frame(
        &mut self,
        frame: &Nv12Frame,
        now: f64,
        points: &[TrackPoint],
        analytics: &CameraAnalytics,
    ) -> &[FaceSample] {
        self.samples.clear();
        let rate = self.cfg.samples_per_second;
        let dt = self.last_frame.map_or(0.0, |t| (now - t).max(0.0));
        self.last_frame = Some(now);
        self.tokens = (self.tokens + rate * dt).min(rate.max(1.0));
        // Forget tracks not seen for a while.
        self.tracks
            .retain(|_, t| now - t.last_attempt <= 10.0 * MAX_SAMPLE_INTERVAL_S);
        self.order.clear();
        for p in points.iter().filter(|p| analytics.face_eligible(p.id)) {
            let last = self
                .tracks
                .get(&p.id)
                .map_or(f64::NEG_INFINITY, |t| t.last_attempt);
            self.order.push((last, p.id));
        }
        self.order
            .sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let order = std::mem::take(&mut self.order);
        for &(last, id) in &order {
            if self.tokens < 1.0 {
                break;
            }
            self.tokens -= 1.0;
            let Some(p) = points.iter().find(|p| p.id == id) else {
                continue;
            };
            let interval = if last.is_finite() {
                (now - last).min(MAX_SAMPLE_INTERVAL_S)
            } else {
                MAX_SAMPLE_INTERVAL_S.min(1.0 / rate)
            };
            let entry = self.tracks.entry(id).or_insert(TrackFace {
                last_attempt: now,
                smoothed: None,
            });
            entry.last_attempt = now;
            let smoothed = entry.smoothed;
            match self.analyse(frame, &p.bbox) {
                Ok(Some((pose, centre, expression))) => {
                    let expression = expression.map(|e| match smoothed {
                        Some(prev) => {
                            let a = self.cfg.smoothing;
                            std::array::from_fn(|i| a * e[i] + (1.0 - a) * prev[i])
                        }
                        None => e,
                    });
                    if let Some(t) = self.tracks.get_mut(&id) {
                        t.smoothed = expression.or(t.smoothed);
                    }
                    self.stats.samples += 1;
                    self.samples.push(FaceSample {
                        track_id: id,
                        interval_s: interval,
                        yaw_deg: pose.yaw,
                        pitch_deg: pose.pitch,
                        face: centre,
                        expression,
                    });
                }
                Ok(None) => {}
                Err(e) => tracing::warn!("face analysis of a track failed: {e:#}"),
            }
        }
        self.order = order;
        &self.samples
    }

    /// One analysis (see the module docs): the head pose, the face centre and the expression,
    /// or `None` when no face passed the gates.
    #[allow(clippy::type_complexity)]
    fn analyse(
        &mut self,
        frame: &Nv12Frame,
        b: &BBox,
    ) -> Result<Option<(face::HeadPose, [f32; 2], Option<[f32; 7]>)>> {
        self.stats.attempts += 1;
        let side = b.width().max(0.35 * b.height());
        let cx = (b.x1 + b.x2) / 2.0;
        let region = square(cx, b.y1 - 0.1 * side + side / 2.0, side);
        let faces = self.det.detect(&mut self.pre, frame, region)?;
        let upper = region[1] + 0.7 * side;
        let Some(f) = faces
            .into_iter()
            .filter(|f| (f.bbox.y1 + f.bbox.y2) / 2.0 <= upper)
            .max_by(|a, b| a.score.total_cmp(&b.score))
        else {
            self.stats.no_face += 1;
            return Ok(None);
        };
        let c = &self.cfg;
        if f.bbox.height() < c.min_face_px {
            self.stats.too_small += 1;
            return Ok(None);
        }
        if f.score < c.min_score {
            self.stats.low_score += 1;
            return Ok(None);
        }
        let crop = face::square_around(&f.bbox, 1.0);
        Preprocessor::crops(
            &mut self.pre,
            frame,
            &[crop],
            &self.sharp,
            &mut self.sharp_buf,
        )
        .map_err(anyhow::Error::msg)?;
        let side = SHARP_SIDE as usize;
        if face::sharpness(&self.sharp_buf, side, side, 127.5, 127.5) < c.min_sharpness {
            self.stats.blurred += 1;
            return Ok(None);
        }
        let m = self.mesh.mesh(&mut self.pre, frame, &f)?;
        let Some(pose) = (m.presence >= 0.5)
            .then(|| face::head_pose(&m.landmarks, &self.geometry))
            .flatten()
        else {
            self.stats.no_mesh += 1;
            return Ok(None);
        };
        if pose.yaw.abs() > c.max_yaw_deg || pose.pitch.abs() > c.max_pitch_deg {
            self.stats.turned_away += 1;
            return Ok(None);
        }
        let expression = match self.expr.as_mut() {
            Some(e) => Some(e.classify(&mut self.pre, frame, &f)?),
            None => None,
        };
        let centre = [(f.bbox.x1 + f.bbox.x2) / 2.0, (f.bbox.y1 + f.bbox.y2) / 2.0];
        Ok(Some((pose, centre, expression)))
    }
}
