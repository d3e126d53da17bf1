//! Faces: detection, the 468-point mesh, head pose and expression, from square crops of a frame.
//!
//! Every step is defined here exactly; `scripts/reference_faces.py` implements the same steps
//! independently in numpy, and `tests/faces.rs` holds the two together on the sample photos
//! (`tests/golden/faces.json`).
//!
//! 1. **Face detection** ([`FaceDetector`], BlazeFace full-range) on a square *region* of the
//!    frame (frame pixels; parts outside the frame repeat its edge pixels): the region is cropped
//!    to the model's 192 x 192 input ([`Preprocessor::crops`], RGB, `(v - 127.5) / 127.5`).
//!    Anchors: per stride `s` of the manifest, a `g x g` grid (`g = 192 / s`), row by row,
//!    `anchors_per_cell` anchors per cell at the cell centre `((c + 0.5) / g, (r + 0.5) / g)`.
//!    Per anchor `i` with score `sigmoid(clamp(logit, -100, 100)) >= min_score`, with the
//!    regressors `r` divided by 192: box centre `(ax + r0, ay + r1)`, size `(r2, r3)`, key point
//!    `k` (right eye, left eye, nose tip, mouth, right ear, left ear) at
//!    `(ax + r[4 + 2k], ay + r[5 + 2k])`, all in `[0, 1]` of the region (f64).
//!    **Weighted non-maximum suppression** (MediaPipe's): candidates by falling score (ties by
//!    anchor index); the best one and every remaining candidate whose box overlaps it with
//!    IoU > `nms_iou` form a cluster; the face is the score-weighted mean of the cluster's boxes
//!    and key points, with the best score; repeat on the rest, up to `max_faces`. Boxes and key
//!    points go back to frame pixels as `region.x1 + u * side`.
//! 2. **Face mesh** ([`FaceMesher`]) on an upright crop, as MediaPipe makes it: the square of
//!    side `mesh_scale x max(w, h)` of the face box, centred on it, turned by the angle of the
//!    eye line `atan2(left.y - right.y, left.x - right.x)` (the detector's two eye key points,
//!    f64, rounded to f32) so that the eyes lie level in the crop
//!    ([`CpuPreprocessor::rotated_crop`]: 192 x 192, RGB, `v / 255`). The model was trained on
//!    such crops: on an axis-aligned crop of a head tilted by 30 degrees it reads 12 degrees too
//!    little roll. The 468 `(x, y, z)` come in crop pixels and go back to the frame by
//!    [`RotatedSquare::to_frame`]; `Z = z * side / 192` (frame pixels, growing away from the
//!    camera). Presence: `sigmoid` of the second output.
//! 3. **Head pose** ([`head_pose`]): the rotation of the weighted least-squares similarity that
//!    maps MediaPipe's canonical face (the manifest's `geometry`; centimetres, `y` up, `z`
//!    towards the viewer) onto the mesh with `y` and `z` negated, over the canonical face's
//!    Procrustes landmarks and weights, by Horn's closed-form quaternion method (the eigenvector
//!    of the largest eigenvalue of the symmetric 4 x 4 matrix of the weighted cross-covariance).
//!    Angles of `R = Ry(yaw) Rx(pitch) Rz(roll)`, in degrees (see [`HeadPose`]).
//! 4. **Expression** ([`ExpressionClassifier`]) on the upright square of side `max(w, h)` of the
//!    face box (the mesh crop's rule at scale 1, [`upright_square`]): face-api's
//!    FaceExpressionNet (112 x 112 RGB, raw 0..255) or mini-Xception (64 x 64 gray,
//!    `(v - 127.5) / 127.5`); probabilities reordered to [`EXPRESSIONS`].
//! 5. **Sharpness** ([`sharpness`]): the variance of the 4-neighbour Laplacian over the interior
//!    of a 64 x 64 gray face crop, in 0..255 units (a blur gate).

use std::path::Path;

use aisle_infer::{Decoder, Engine, InputColor, ModelSpec, OutputTensor, TensorView};
use aisle_types::{BBox, Nv12Frame};
use serde::Deserialize;

use crate::preprocess::{CpuPreprocessor, CropSpec, Preprocessor, RotatedSquare};

/// The seven expression classes, in the order Aisle reports them (face-api's order; the metric
/// records' `EXPRESSION_CLASSES`).
pub use aisle_types::metrics::EXPRESSION_CLASSES as EXPRESSIONS;

/// Landmarks of the face mesh.
pub const MESH_POINTS: usize = 468;

/// Errors of the face pipeline; each names the model.
#[derive(Debug, thiserror::Error)]
pub enum FaceError {
    #[error("model `{model}` cannot be used as {wanted}: its decoder is {decoder:?}")]
    WrongModel {
        model: String,
        wanted: &'static str,
        decoder: Decoder,
    },
    #[error("model `{model}`: {message}")]
    Model { model: String, message: String },
    #[error("model `{model}`: cropping the frame failed: {message}")]
    Crop { model: String, message: String },
    #[error(transparent)]
    Infer(#[from] aisle_infer::InferError),
    #[error("face geometry {path}: {message}")]
    Geometry { path: String, message: String },
}

/// Thresholds of the face pipeline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceOptions {
    /// Lowest detector score kept (after the sigmoid).
    pub min_score: f32,
    /// Candidates overlapping the best one more than this (IoU) are merged into it.
    pub nms_iou: f32,
    /// Most faces per region.
    pub max_faces: usize,
    /// The mesh crop's side over the face box's longer side.
    pub mesh_scale: f32,
}

impl Default for FaceOptions {
    fn default() -> Self {
        Self {
            min_score: 0.5,
            nms_iou: 0.3,
            max_faces: 32,
            mesh_scale: 1.5,
        }
    }
}

/// One detected face, in frame pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Face {
    pub score: f32,
    pub bbox: BBox,
    /// Right eye, left eye, nose tip, mouth, right ear, left ear (the person's right and left).
    pub keypoints: [[f32; 2]; 6],
}

/// The square of side `scale x` the longer side of the face box, centred on it and turned by
/// the angle of the eye line `atan2(left.y - right.y, left.x - right.x)` (the detector's two eye
/// key points, f64, rounded to f32) so that the eyes lie level in the crop.
pub fn upright_square(face: &Face, scale: f32) -> RotatedSquare {
    let b = &face.bbox;
    let [r, l] = [face.keypoints[0], face.keypoints[1]];
    let angle = (f64::from(l[1]) - f64::from(r[1])).atan2(f64::from(l[0]) - f64::from(r[0]));
    RotatedSquare {
        cx: (b.x1 + b.x2) / 2.0,
        cy: (b.y1 + b.y2) / 2.0,
        side: scale * b.width().max(b.height()),
        angle: angle as f32,
    }
}

/// The square box of side `side` centred on `(cx, cy)`, as a crop box.
pub fn square(cx: f32, cy: f32, side: f32) -> [f32; 4] {
    [
        cx - side / 2.0,
        cy - side / 2.0,
        cx + side / 2.0,
        cy + side / 2.0,
    ]
}

/// The square of side `scale x` the longer side of `b`, centred on it.
pub fn square_around(b: &BBox, scale: f32) -> [f32; 4] {
    let side = scale * b.width().max(b.height());
    square((b.x1 + b.x2) / 2.0, (b.y1 + b.y2) / 2.0, side)
}

fn sigmoid(x: f32) -> f64 {
    let x = f64::from(x).clamp(-100.0, 100.0);
    1.0 / (1.0 + (-x).exp())
}

fn iou(a: &[f64; 4], b: &[f64; 4]) -> f64 {
    let ix = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let iy = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = ix * iy;
    let union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    if union <= 0.0 {
        0.0
    } else {
        inter / union
    }
}

fn output<'a>(
    outs: &'a [OutputTensor],
    model: &str,
    what: &str,
    pick: impl Fn(&OutputTensor) -> bool,
) -> Result<&'a OutputTensor, FaceError> {
    outs.iter()
        .find(|o| pick(o))
        .ok_or_else(|| FaceError::Model {
            model: model.to_string(),
            message: format!(
                "no {what} among the outputs {:?}",
                outs.iter()
                    .map(|o| (o.name.as_str(), o.shape.clone()))
                    .collect::<Vec<_>>()
            ),
        })
}

/// A model with its input buffer: crop, run.
struct Stage {
    spec: ModelSpec,
    engine: Box<dyn Engine>,
    crop: CropSpec,
    shape: Vec<usize>,
    input: Vec<f32>,
    outputs: Vec<OutputTensor>,
}

impl Stage {
    fn new(
        spec: ModelSpec,
        engine: Box<dyn Engine>,
        decoder: Decoder,
        wanted: &'static str,
    ) -> Result<Self, FaceError> {
        if spec.output.decoder != decoder {
            return Err(FaceError::WrongModel {
                model: spec.name.clone(),
                wanted,
                decoder: spec.output.decoder,
            });
        }
        let i = &spec.input;
        let crop = CropSpec {
            width: i.width,
            height: i.height,
            layout: i.layout,
            color: i.color,
            mean: i.mean,
            std: i.std,
        };
        Ok(Self {
            shape: i.shape().to_vec(),
            input: vec![0.0; i.len()],
            crop,
            spec,
            engine,
            outputs: Vec::new(),
        })
    }

    /// Crops the upright square `sq` (on the CPU: the GPU kernel crops axis-aligned only) and
    /// runs the model.
    fn run_upright(
        &mut self,
        pre: &mut CpuPreprocessor,
        frame: &Nv12Frame,
        sq: &RotatedSquare,
    ) -> Result<(), FaceError> {
        pre.rotated_crop(frame, sq, &self.crop, &mut self.input)
            .map_err(|message| self.crop_error(message))?;
        self.infer()
    }

    fn crop_error(&self, message: String) -> FaceError {
        FaceError::Crop {
            model: self.spec.name.clone(),
            message,
        }
    }

    /// Runs the model on the crop in `input`.
    fn infer(&mut self) -> Result<(), FaceError> {
        let input = TensorView {
            shape: &self.shape,
            data: &self.input,
        };
        self.engine.run(input, &mut self.outputs)?;
        Ok(())
    }

    fn run(
        &mut self,
        pre: &mut dyn Preprocessor,
        frame: &Nv12Frame,
        b: [f32; 4],
    ) -> Result<(), FaceError> {
        pre.crops(frame, &[b], &self.crop, &mut self.input)
            .map_err(|message| self.crop_error(message))?;
        self.infer()
    }
}

/// A decoded anchor: score, anchor index, box and key points in `[0, 1]` of the region.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    score: f64,
    anchor: usize,
    bbox: [f64; 4],
    keypoints: [[f64; 2]; 6],
}

/// BlazeFace on square regions of a frame (step 1 of the module docs).
pub struct FaceDetector {
    stage: Stage,
    anchors: Vec<(f64, f64)>,
    opts: FaceOptions,
    cands: Vec<Candidate>,
}

impl FaceDetector {
    /// # Errors
    /// A model whose decoder is not `blazeface`.
    pub fn new(
        spec: ModelSpec,
        engine: Box<dyn Engine>,
        opts: FaceOptions,
    ) -> Result<Self, FaceError> {
        let stage = Stage::new(spec, engine, Decoder::Blazeface, "a face detector")?;
        let size = stage.spec.input.width;
        let mut anchors = Vec::new();
        let o = &stage.spec.output;
        for (&s, &k) in o.strides.iter().zip(&o.anchors_per_cell) {
            let g = size / s;
            for r in 0..g {
                for c in 0..g {
                    let a = (
                        (f64::from(c) + 0.5) / f64::from(g),
                        (f64::from(r) + 0.5) / f64::from(g),
                    );
                    anchors.extend(std::iter::repeat_n(a, k as usize));
                }
            }
        }
        Ok(Self {
            stage,
            anchors,
            opts,
            cands: Vec::new(),
        })
    }

    /// Faces in the square `region` (frame pixels) of `frame`, best first.
    ///
    /// # Errors
    /// Crop, inference or output-shape failures, naming the model.
    pub fn detect(
        &mut self,
        pre: &mut dyn Preprocessor,
        frame: &Nv12Frame,
        region: [f32; 4],
    ) -> Result<Vec<Face>, FaceError> {
        self.stage.run(pre, frame, region)?;
        let model = self.stage.spec.name.as_str();
        let n = self.anchors.len();
        let reg = output(
            &self.stage.outputs,
            model,
            "regressor output [1, N, 16]",
            |o| o.data.len() == n * 16,
        )?;
        let logit = output(&self.stage.outputs, model, "score output [1, N, 1]", |o| {
            o.data.len() == n
        })?;
        let size = f64::from(self.stage.spec.input.width);
        self.cands.clear();
        for (i, &(ax, ay)) in self.anchors.iter().enumerate() {
            let score = sigmoid(logit.data[i]);
            if score < f64::from(self.opts.min_score) {
                continue;
            }
            let r: [f64; 16] = std::array::from_fn(|j| f64::from(reg.data[i * 16 + j]) / size);
            let (cx, cy, w, h) = (ax + r[0], ay + r[1], r[2], r[3]);
            let bx = [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0];
            let keypoints = std::array::from_fn(|k| [ax + r[4 + 2 * k], ay + r[5 + 2 * k]]);
            self.cands.push(Candidate {
                score,
                anchor: i,
                bbox: bx,
                keypoints,
            });
        }
        self.cands
            .sort_by(|a, b| b.score.total_cmp(&a.score).then(a.anchor.cmp(&b.anchor)));
        let side = f64::from(region[2] - region[0]);
        let (rx, ry) = (f64::from(region[0]), f64::from(region[1]));
        let mut faces = Vec::new();
        let thr = f64::from(self.opts.nms_iou);
        while !self.cands.is_empty() && faces.len() < self.opts.max_faces {
            let top = self.cands[0];
            let (mut wsum, mut b, mut k) = (0.0, [0.0f64; 4], [[0.0f64; 2]; 6]);
            for c in self.cands.iter().filter(|c| iou(&top.bbox, &c.bbox) > thr) {
                wsum += c.score;
                for (bj, cj) in b.iter_mut().zip(&c.bbox) {
                    *bj += c.score * cj;
                }
                for (kk, ck) in k.iter_mut().zip(&c.keypoints) {
                    kk[0] += c.score * ck[0];
                    kk[1] += c.score * ck[1];
                }
            }
            self.cands.retain(|c| iou(&top.bbox, &c.bbox) <= thr);
            let fx = |u: f64| (rx + u / wsum * side) as f32;
            let fy = |v: f64| (ry + v / wsum * side) as f32;
            faces.push(Face {
                score: top.score as f32,
                bbox: BBox::new(fx(b[0]), fy(b[1]), fx(b[2]), fy(b[3])),
                keypoints: k.map(|p| [fx(p[0]), fy(p[1])]),
            });
        }
        Ok(faces)
    }
}

/// The face mesh of one face, in frame pixels (step 2 of the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct Mesh {
    /// 468 `(x, y, z)`; `z` in pixels of the same scale, growing away from the camera.
    pub landmarks: Vec<[f32; 3]>,
    /// Probability that the crop shows a face.
    pub presence: f32,
}

/// The MediaPipe face mesh on a face's crop (step 2 of the module docs).
pub struct FaceMesher {
    stage: Stage,
    scale: f32,
}

impl FaceMesher {
    /// # Errors
    /// A model whose decoder is not `face_mesh`.
    pub fn new(
        spec: ModelSpec,
        engine: Box<dyn Engine>,
        opts: FaceOptions,
    ) -> Result<Self, FaceError> {
        Ok(Self {
            stage: Stage::new(spec, engine, Decoder::FaceMesh, "a face mesh")?,
            scale: opts.mesh_scale,
        })
    }

    /// The upright square crop of `face` that the mesh model sees (step 2 of the module docs).
    pub fn crop_of(&self, face: &Face) -> RotatedSquare {
        upright_square(face, self.scale)
    }

    /// The mesh of `face` (frame pixels). The crop is turned, which the GPU crop kernel does
    /// not do: it is cut on the CPU (a 192 x 192 crop, well under a millisecond).
    ///
    /// # Errors
    /// Crop, inference or output-shape failures, naming the model.
    pub fn mesh(
        &mut self,
        pre: &mut CpuPreprocessor,
        frame: &Nv12Frame,
        face: &Face,
    ) -> Result<Mesh, FaceError> {
        let sq = self.crop_of(face);
        self.stage.run_upright(pre, frame, &sq)?;
        let model = self.stage.spec.name.as_str();
        let pts = output(&self.stage.outputs, model, "landmark output [1404]", |o| {
            o.data.len() == MESH_POINTS * 3
        })?;
        let presence = output(&self.stage.outputs, model, "presence output [1]", |o| {
            o.data.len() == 1
        })?;
        let n = self.stage.spec.input.width as f32;
        let k = sq.side / n;
        let landmarks = pts
            .data
            .chunks_exact(3)
            .map(|p| {
                let (x, y) = sq.to_frame(p[0], p[1], n);
                [x, y, p[2] * k]
            })
            .collect();
        Ok(Mesh {
            landmarks,
            presence: sigmoid(presence.data[0]) as f32,
        })
    }
}

/// MediaPipe's canonical face: what [`head_pose`] fits to a mesh.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct FaceGeometry {
    /// 468 `(x, y, z)` in centimetres, `y` up, `z` towards the viewer.
    pub vertices: Vec<[f64; 3]>,
    /// `(landmark, weight)` of the rigid fit.
    pub procrustes: Vec<(usize, f64)>,
}

impl FaceGeometry {
    /// Reads the JSON that `scripts/fetch-models.sh` extracts (the manifest's `geometry.file`).
    ///
    /// # Errors
    /// Unreadable or malformed files, named with the path and the fix.
    pub fn load(path: &Path) -> Result<Self, FaceError> {
        let err = |message: String| FaceError::Geometry {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| err(format!("{e}: run `scripts/fetch-models.sh face_mesh`")))?;
        let g: FaceGeometry = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
        if g.vertices.len() != MESH_POINTS {
            return Err(err(format!(
                "{} vertices, expected {MESH_POINTS}",
                g.vertices.len()
            )));
        }
        if g.procrustes.len() < 3
            || g.procrustes
                .iter()
                .any(|&(i, w)| i >= MESH_POINTS || !(w.is_finite() && w >= 0.0))
            || g.procrustes.iter().map(|p| p.1).sum::<f64>() <= 0.0
        {
            return Err(err(
                "the Procrustes landmarks must be at least 3 mesh indices with finite, \
                 non-negative weights of positive sum"
                    .into(),
            ));
        }
        Ok(g)
    }
}

/// Head orientation in degrees, from `R = Ry(yaw) Rx(pitch) Rz(roll)` in camera axes (`x` to
/// the image's right, `y` up, `z` towards the camera); all zero for a face looking straight into
/// the camera, upright.
///
/// - `yaw > 0`: the face turned towards the image's right (the person's left);
/// - `pitch > 0`: the face tilted forward, looking down;
/// - `roll > 0`: the head tilted counter-clockwise in the image (its top towards the image's
///   left).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeadPose {
    pub yaw: f32,
    pub pitch: f32,
    pub roll: f32,
}

/// Eigenvalues and eigenvectors (columns) of a symmetric 4 x 4 matrix, by cyclic Jacobi
/// rotations.
fn symmetric_eigen4(mut a: [[f64; 4]; 4]) -> ([f64; 4], [[f64; 4]; 4]) {
    let mut v = [[0.0; 4]; 4];
    for (i, row) in v.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    for _sweep in 0..64 {
        let off: f64 = (0..4)
            .flat_map(|i| (0..4).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i][j] * a[i][j])
            .sum();
        let scale: f64 = (0..4).map(|i| a[i][i] * a[i][i]).sum::<f64>().max(1e-300);
        if off <= 1e-30 * scale {
            break;
        }
        for p in 0..3 {
            for q in p + 1..4 {
                if a[p][q] == 0.0 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for row in a.iter_mut() {
                    let (akp, akq) = (row[p], row[q]);
                    row[p] = c * akp - s * akq;
                    row[q] = s * akp + c * akq;
                }
                let (rp, rq) = (a[p], a[q]);
                for k in 0..4 {
                    a[p][k] = c * rp[k] - s * rq[k];
                    a[q][k] = s * rp[k] + c * rq[k];
                }
                for row in v.iter_mut() {
                    let (vkp, vkq) = (row[p], row[q]);
                    row[p] = c * vkp - s * vkq;
                    row[q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ([a[0][0], a[1][1], a[2][2], a[3][3]], v)
}

/// The rotation that best maps points `a` onto points `b` with weights `w` (Horn 1987: the unit
/// quaternion of the largest eigenvalue of the symmetric matrix built from the weighted
/// cross-covariance of the centred points). `None` for degenerate input.
pub fn fit_rotation(a: &[[f64; 3]], b: &[[f64; 3]], w: &[f64]) -> Option<[[f64; 3]; 3]> {
    let wsum: f64 = w.iter().sum();
    if a.len() != b.len() || a.len() != w.len() || wsum.is_nan() || wsum <= 0.0 {
        return None;
    }
    let centre = |p: &[[f64; 3]]| -> [f64; 3] {
        std::array::from_fn(|k| p.iter().zip(w).map(|(x, wi)| wi * x[k]).sum::<f64>() / wsum)
    };
    let (ca, cb) = (centre(a), centre(b));
    let mut s = [[0.0f64; 3]; 3];
    for ((pa, pb), wi) in a.iter().zip(b).zip(w) {
        for i in 0..3 {
            for j in 0..3 {
                s[i][j] += wi / wsum * (pa[i] - ca[i]) * (pb[j] - cb[j]);
            }
        }
    }
    let [[sxx, sxy, sxz], [syx, syy, syz], [szx, szy, szz]] = s;
    let n = [
        [sxx + syy + szz, syz - szy, szx - sxz, sxy - syx],
        [syz - szy, sxx - syy - szz, sxy + syx, szx + sxz],
        [szx - sxz, sxy + syx, -sxx + syy - szz, syz + szy],
        [sxy - syx, szx + sxz, syz + szy, -sxx - syy + szz],
    ];
    if n.iter().flatten().any(|x| !x.is_finite()) {
        return None;
    }
    let (vals, vecs) = symmetric_eigen4(n);
    let best = (0..4).max_by(|&i, &j| vals[i].total_cmp(&vals[j]))?;
    let q: [f64; 4] = std::array::from_fn(|k| vecs[k][best]);
    let norm = q.iter().map(|x| x * x).sum::<f64>().sqrt();
    if norm.is_nan() || norm <= 0.0 {
        return None;
    }
    let [q0, qx, qy, qz] = q.map(|x| x / norm);
    Some([
        [
            q0 * q0 + qx * qx - qy * qy - qz * qz,
            2.0 * (qx * qy - q0 * qz),
            2.0 * (qx * qz + q0 * qy),
        ],
        [
            2.0 * (qy * qx + q0 * qz),
            q0 * q0 - qx * qx + qy * qy - qz * qz,
            2.0 * (qy * qz - q0 * qx),
        ],
        [
            2.0 * (qz * qx - q0 * qy),
            2.0 * (qz * qy + q0 * qx),
            q0 * q0 - qx * qx - qy * qy + qz * qz,
        ],
    ])
}

/// `(yaw, pitch, roll)` in degrees of `R = Ry(yaw) Rx(pitch) Rz(roll)`.
pub fn euler_degrees(r: &[[f64; 3]; 3]) -> HeadPose {
    let pitch = (-r[1][2]).clamp(-1.0, 1.0).asin();
    let yaw = r[0][2].atan2(r[2][2]);
    let roll = r[1][0].atan2(r[1][1]);
    HeadPose {
        yaw: yaw.to_degrees() as f32,
        pitch: pitch.to_degrees() as f32,
        roll: roll.to_degrees() as f32,
    }
}

/// The head pose of a mesh (step 3 of the module docs); `None` for a degenerate mesh.
pub fn head_pose(landmarks: &[[f32; 3]], g: &FaceGeometry) -> Option<HeadPose> {
    if landmarks.len() != MESH_POINTS {
        return None;
    }
    let a: Vec<[f64; 3]> = g.procrustes.iter().map(|&(i, _)| g.vertices[i]).collect();
    let b: Vec<[f64; 3]> = g
        .procrustes
        .iter()
        .map(|&(i, _)| {
            let p = landmarks[i];
            [f64::from(p[0]), -f64::from(p[1]), -f64::from(p[2])]
        })
        .collect();
    let w: Vec<f64> = g.procrustes.iter().map(|p| p.1).collect();
    fit_rotation(&a, &b, &w).map(|r| euler_degrees(&r))
}

/// An emotion model on a face's crop (step 4 of the module docs).
pub struct ExpressionClassifier {
    stage: Stage,
    /// Output index of each of [`EXPRESSIONS`].
    order: [usize; 7],
}

impl ExpressionClassifier {
    /// # Errors
    /// A model whose decoder is not `softmax` or whose classes are not the seven expressions.
    pub fn new(spec: ModelSpec, engine: Box<dyn Engine>) -> Result<Self, FaceError> {
        let stage = Stage::new(spec, engine, Decoder::Softmax, "an expression classifier")?;
        let classes = &stage.spec.classes;
        let mut order = [0; 7];
        for (slot, name) in order.iter_mut().zip(EXPRESSIONS) {
            *slot = classes
                .iter()
                .position(|c| c == name)
                .filter(|_| classes.len() == 7)
                .ok_or_else(|| FaceError::Model {
                    model: stage.spec.name.clone(),
                    message: format!(
                        "classes {classes:?} are not the seven expressions {EXPRESSIONS:?}"
                    ),
                })?;
        }
        Ok(Self { stage, order })
    }

    /// The model's input colour (gray crops also give [`sharpness`]).
    pub fn color(&self) -> InputColor {
        self.stage.crop.color
    }

    /// Probabilities of [`EXPRESSIONS`] for `face` (frame pixels), on its upright crop.
    ///
    /// # Errors
    /// Crop, inference or output-shape failures, naming the model.
    pub fn classify(
        &mut self,
        pre: &mut CpuPreprocessor,
        frame: &Nv12Frame,
        face: &Face,
    ) -> Result<[f32; 7], FaceError> {
        self.stage
            .run_upright(pre, frame, &upright_square(face, 1.0))?;
        let model = self.stage.spec.name.as_str();
        let p = output(&self.stage.outputs, model, "probabilities [1, 7]", |o| {
            o.data.len() == 7
        })?;
        Ok(self.order.map(|i| p.data[i]))
    }

    /// The last crop given to the model (for [`sharpness`] of a gray crop).
    pub fn last_input(&self) -> &[f32] {
        &self.stage.input
    }

    /// The normalisation of the model's input: `(mean, std)` of channel 0.
    pub fn normalisation(&self) -> (f32, f32) {
        (self.stage.crop.mean[0], self.stage.crop.std[0])
    }
}

/// Variance of the 4-neighbour Laplacian over the interior of a `width x height` gray crop
/// normalised as `(v - mean) / std` (step 5 of the module docs), in 0..255 units.
pub fn sharpness(crop: &[f32], width: usize, height: usize, mean: f32, std: f32) -> f64 {
    if width < 3 || height < 3 || crop.len() != width * height {
        return 0.0;
    }
    let g = |x: usize, y: usize| f64::from(crop[y * width + x]) * f64::from(std) + f64::from(mean);
    let (mut sum, mut sum2, mut n) = (0.0, 0.0, 0.0);
    for y in 1..height - 1 {
        for x in 1..width - 1 {
            let l = g(x - 1, y) + g(x + 1, y) + g(x, y - 1) + g(x, y + 1) - 4.0 * g(x, y);
            sum += l;
            sum2 += l * l;
            n += 1.0;
        }
    }
    let mean_l = sum / n;
    (sum2 / n - mean_l * mean_l).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rot(yaw: f64, pitch: f64, roll: f64) -> [[f64; 3]; 3] {
        let (y, p, r) = (yaw.to_radians(), pitch.to_radians(), roll.to_radians());
        let ry = [
            [y.cos(), 0.0, y.sin()],
            [0.0, 1.0, 0.0],
            [-y.sin(), 0.0, y.cos()],
        ];
        let rx = [
            [1.0, 0.0, 0.0],
            [0.0, p.cos(), -p.sin()],
            [0.0, p.sin(), p.cos()],
        ];
        let rz = [
            [r.cos(), -r.sin(), 0.0],
            [r.sin(), r.cos(), 0.0],
            [0.0, 0.0, 1.0],
        ];
        mul(&mul(&ry, &rx), &rz)
    }

    fn mul(a: &[[f64; 3]; 3], b: &[[f64; 3]; 3]) -> [[f64; 3]; 3] {
        std::array::from_fn(|i| std::array::from_fn(|j| (0..3).map(|k| a[i][k] * b[k][j]).sum()))
    }

    fn apply(r: &[[f64; 3]; 3], p: &[f64; 3]) -> [f64; 3] {
        std::array::from_fn(|i| (0..3).map(|k| r[i][k] * p[k]).sum())
    }

    #[test]
    fn euler_angles_round_trip() {
        for &(y, p, r) in &[
            (0.0, 0.0, 0.0),
            (30.0, -10.0, 5.0),
            (-60.0, 25.0, -40.0),
            (89.0, 0.0, 10.0),
        ] {
            let e = euler_degrees(&rot(y, p, r));
            assert!((f64::from(e.yaw) - y).abs() < 1e-4, "{e:?} vs {y}");
            assert!((f64::from(e.pitch) - p).abs() < 1e-4, "{e:?} vs {p}");
            assert!((f64::from(e.roll) - r).abs() < 1e-4, "{e:?} vs {r}");
        }
    }

    #[test]
    fn rotation_fit_recovers_a_similarity_transform() {
        // An irregular point cloud, rotated, scaled, shifted, with small noise.
        let a: Vec<[f64; 3]> = (0..40)
            .map(|i| {
                let t = f64::from(i);
                [
                    (t * 0.7).sin() * 5.0,
                    (t * 1.3).cos() * 4.0,
                    (t * 0.31).sin() * 2.0 + t * 0.05,
                ]
            })
            .collect();
        let w: Vec<f64> = (0..40).map(|i| 1.0 + f64::from(i % 3)).collect();
        for &(y, p, r) in &[(20.0, -15.0, 8.0), (-45.0, 30.0, -25.0), (170.0, 10.0, 0.0)] {
            let rr = rot(y, p, r);
            let b: Vec<[f64; 3]> = a
                .iter()
                .enumerate()
                .map(|(i, x)| {
                    let q = apply(&rr, x);
                    let n = 0.01 * (f64::from(i as u32) * 2.1).sin();
                    [
                        3.0 * q[0] + 100.0 + n,
                        3.0 * q[1] - 50.0,
                        3.0 * q[2] + 7.0 - n,
                    ]
                })
                .collect();
            let got = euler_degrees(&fit_rotation(&a, &b, &w).unwrap());
            let want = euler_degrees(&rr);
            for (g, w) in [
                (got.yaw, want.yaw),
                (got.pitch, want.pitch),
                (got.roll, want.roll),
            ] {
                assert!((g - w).abs() < 0.05, "{got:?} vs {want:?}");
            }
        }
        assert!(fit_rotation(&a, &a[..3], &w).is_none());
        assert!(fit_rotation(&a, &a, &vec![0.0; 40]).is_none());
    }

    #[test]
    fn sharpness_of_flat_and_textured_crops() {
        let flat = vec![0.2f32; 64 * 64];
        assert_eq!(sharpness(&flat, 64, 64, 127.5, 127.5), 0.0);
        let checker: Vec<f32> = (0..64 * 64)
            .map(|i| {
                if (i % 64 + i / 64) % 2 == 0 {
                    1.0
                } else {
                    -1.0
                }
            })
            .collect();
        // Every interior Laplacian is +-8 x 127.5.
        let s = sharpness(&checker, 64, 64, 127.5, 127.5);
        assert!((s - (8.0f64 * 127.5).powi(2)).abs() < 1e-6, "{s}");
        assert_eq!(sharpness(&flat, 2, 2, 0.0, 1.0), 0.0);
    }
}
