//! The face pipeline (`aisle_vision::face`) against the Python reference
//! (`scripts/reference_faces.py`, golden `tests/golden/faces.json`) on the sample photos, and its
//! head pose on faces of known orientation.
//!
//! Parity, per photo: the same number of faces; per face, the box and key points within 1e-3 of
//! the photo's longer side, the detector score and mesh presence within 1e-3, every 7th landmark
//! within 1e-3 of the face size and all of them through their sums, the head pose within 0.05
//! degrees, both models' seven expression probabilities within 1e-3, the crop's sharpness
//! within 1e-3 relative.
//!
//! Orientation: the astronaut portrait rotated in the image plane by known angles must read as
//! the same face with the roll changed by that angle, yaw and pitch unchanged (each within 10
//! degrees); and the unrotated portrait reads as near-frontal.

mod common;

use aisle_config::Config;
use aisle_infer::{Acceleration, Manifest, ModelSpec, OrtEngine};
use aisle_types::{BBox, Nv12Frame};
use aisle_vision::face::{self, square};
use aisle_vision::{
    CpuPreprocessor, ExpressionClassifier, Face, FaceDetector, FaceGeometry, FaceMesher,
    FaceOptions, HeadPose,
};
use serde::Deserialize;

#[derive(Deserialize)]
struct Golden {
    rules: Rules,
    tolerance: Tolerance,
    photos: Vec<Photo>,
}

#[derive(Deserialize)]
struct Rules {
    min_face_score: f32,
    nms_iou: f32,
    max_faces: usize,
    mesh_scale: f32,
    landmark_stride: usize,
}

#[derive(Deserialize)]
struct Tolerance {
    #[serde(rename = "box")]
    bbox: f64,
    score: f64,
    landmark: f64,
    prob: f64,
    angle_deg: f64,
    sharpness: f64,
}

#[derive(Deserialize)]
struct Photo {
    name: String,
    width: u32,
    height: u32,
    faces: Vec<GoldenFace>,
}

#[derive(Deserialize)]
struct GoldenFace {
    score: f64,
    #[serde(rename = "box")]
    bbox: [f64; 4],
    keypoints: Vec<[f64; 2]>,
    presence: f64,
    landmarks: Vec<[f64; 3]>,
    landmark_sums: [f64; 3],
    pose: [f64; 3],
    faceapi: Vec<f64>,
    mini_xception: Vec<f64>,
    sharpness: f64,
}

struct Pipeline {
    pre: CpuPreprocessor,
    det: FaceDetector,
    mesh: FaceMesher,
    faceapi: ExpressionClassifier,
    fer: ExpressionClassifier,
    geometry: FaceGeometry,
}

fn engine(spec: &ModelSpec) -> Box<OrtEngine> {
    let lib = common::ort_library();
    let rt = aisle_infer::load_onnxruntime(&lib, "test").expect("ONNX Runtime loads");
    common::model_file(&spec.file);
    Box::new(
        OrtEngine::load(
            rt,
            spec,
            &Config::default().models_dir(),
            2,
            Acceleration::Cpu,
        )
        .expect("model loads"),
    )
}

fn pipeline(opts: FaceOptions) -> Pipeline {
    let m = Manifest::builtin().unwrap();
    let spec = |n: &str| m.get(n).unwrap().clone();
    let geometry_file = spec("face_mesh").geometry.unwrap().file;
    Pipeline {
        pre: CpuPreprocessor::default(),
        det: FaceDetector::new(spec("blazeface"), engine(&spec("blazeface")), opts).unwrap(),
        mesh: FaceMesher::new(spec("face_mesh"), engine(&spec("face_mesh")), opts).unwrap(),
        faceapi: ExpressionClassifier::new(
            spec("faceapi_expression"),
            engine(&spec("faceapi_expression")),
        )
        .unwrap(),
        fer: ExpressionClassifier::new(spec("mini_xception"), engine(&spec("mini_xception")))
            .unwrap(),
        geometry: FaceGeometry::load(&common::model_file(&geometry_file)).unwrap(),
    }
}

fn photo(name: &str) -> Nv12Frame {
    let path = common::media(&format!("faces/{name}.y4m"));
    aisle_video::read_y4m(&path).unwrap().remove(0)
}

/// The square around the whole frame (the reference's detection region for a photo).
fn whole(f: &Nv12Frame) -> [f32; 4] {
    let (w, h) = (f.width as f32, f.height as f32);
    square(w / 2.0, h / 2.0, w.max(h))
}

fn max_diff(a: impl IntoIterator<Item = f64>, b: impl IntoIterator<Item = f64>) -> f64 {
    a.into_iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

fn check(what: &str, diff: f64, tol: f64) {
    assert!(
        diff <= tol,
        "{what}: differs from the reference by {diff:e} (tolerance {tol})"
    );
}

#[test]
fn faces_match_the_python_reference_on_the_sample_photos() {
    let path = common::repo_root().join("tests/golden/faces.json");
    let golden: Golden = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let r = &golden.rules;
    let opts = FaceOptions {
        min_score: r.min_face_score,
        nms_iou: r.nms_iou,
        max_faces: r.max_faces,
        mesh_scale: r.mesh_scale,
    };
    assert_eq!(
        opts,
        FaceOptions::default(),
        "the golden's rules are the defaults"
    );
    let t = &golden.tolerance;
    let mut p = pipeline(opts);
    let mut total = 0;
    for g in &golden.photos {
        let frame = photo(&g.name);
        assert_eq!(
            (frame.width, frame.height),
            (g.width, g.height),
            "{}",
            g.name
        );
        let faces = p.det.detect(&mut p.pre, &frame, whole(&frame)).unwrap();
        assert_eq!(faces.len(), g.faces.len(), "{}: faces found", g.name);
        let scale = f64::from(g.width.max(g.height));
        for (i, (f, gf)) in faces.iter().zip(&g.faces).enumerate() {
            let at = format!("{} face {i}", g.name);
            let b = [f.bbox.x1, f.bbox.y1, f.bbox.x2, f.bbox.y2].map(f64::from);
            check(&format!("{at} box"), max_diff(b, gf.bbox) / scale, t.bbox);
            let kp = f.keypoints.iter().flatten().map(|v| f64::from(*v));
            check(
                &format!("{at} key points"),
                max_diff(kp, gf.keypoints.iter().flatten().copied()) / scale,
                t.bbox,
            );
            check(
                &format!("{at} score"),
                (f64::from(f.score) - gf.score).abs(),
                t.score,
            );

            let m = p.mesh.mesh(&mut p.pre, &frame, f).unwrap();
            check(
                &format!("{at} presence"),
                (f64::from(m.presence) - gf.presence).abs(),
                t.score,
            );
            let side = (gf.bbox[2] - gf.bbox[0]).max(gf.bbox[3] - gf.bbox[1]);
            let ours = m
                .landmarks
                .iter()
                .step_by(r.landmark_stride)
                .flatten()
                .map(|v| f64::from(*v));
            check(
                &format!("{at} landmarks"),
                max_diff(ours, gf.landmarks.iter().flatten().copied()) / side,
                t.landmark,
            );
            let sums: [f64; 3] =
                std::array::from_fn(|k| m.landmarks.iter().map(|l| f64::from(l[k])).sum());
            // 468 landmarks: their sum may drift by 468 x the per-landmark tolerance at most.
            check(
                &format!("{at} landmark sums"),
                max_diff(sums, gf.landmark_sums) / side / 468.0,
                t.landmark,
            );
            let pose = face::head_pose(&m.landmarks, &p.geometry).unwrap();
            check(
                &format!("{at} head pose"),
                max_diff([pose.yaw, pose.pitch, pose.roll].map(f64::from), gf.pose),
                t.angle_deg,
            );
            let e = p.faceapi.classify(&mut p.pre, &frame, f).unwrap();
            check(
                &format!("{at} faceapi"),
                max_diff(e.map(f64::from), reorder(&gf.faceapi, &FACEAPI)),
                t.prob,
            );
            let x = p.fer.classify(&mut p.pre, &frame, f).unwrap();
            check(
                &format!("{at} mini_xception"),
                max_diff(x.map(f64::from), reorder(&gf.mini_xception, &FER)),
                t.prob,
            );
            let (mean, std) = p.fer.normalisation();
            let s = face::sharpness(p.fer.last_input(), 64, 64, mean, std);
            check(
                &format!("{at} sharpness"),
                (s - gf.sharpness).abs() / gf.sharpness.max(1.0),
                t.sharpness,
            );
            total += 1;
        }
    }
    assert!(total >= 20, "only {total} faces in the sample photos");
}

/// The golden keeps each model's own output order; these map it to `face::EXPRESSIONS`.
const FACEAPI: [usize; 7] = [0, 1, 2, 3, 4, 5, 6];
/// mini-Xception: angry, disgusted, fearful, happy, sad, surprised, neutral.
const FER: [usize; 7] = [6, 3, 4, 0, 2, 1, 5];

fn reorder(p: &[f64], order: &[usize; 7]) -> [f64; 7] {
    order.map(|i| p[i])
}

/// RGB of a frame by the preprocessing contract (BT.601 integer colour).
fn rgb_of(f: &Nv12Frame) -> Vec<u8> {
    let mut rgb = Vec::new();
    aisle_vision::preprocess::nv12_to_rgb(f, &mut rgb);
    rgb
}

/// Limited-range BT.601 NV12 of an RGB image (the inverse of the contract's colour, rounded).
fn nv12_of(rgb: &[u8], w: usize, h: usize) -> Nv12Frame {
    let yv = |p: &[u8]| {
        let [r, g, b] = [p[0], p[1], p[2]].map(f32::from);
        (16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0).round() as u8
    };
    let y: Vec<u8> = rgb.chunks_exact(3).map(yv).collect();
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let mut uv = vec![0u8; 2 * cw * ch];
    for cy in 0..ch {
        for cx in 0..cw {
            let (mut r, mut g, mut b, mut n) = (0.0f32, 0.0f32, 0.0f32, 0.0f32);
            for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                let (x, yy) = (2 * cx + dx, 2 * cy + dy);
                if x < w && yy < h {
                    let p = &rgb[(yy * w + x) * 3..][..3];
                    r += f32::from(p[0]);
                    g += f32::from(p[1]);
                    b += f32::from(p[2]);
                    n += 1.0;
                }
            }
            let (r, g, b) = (r / n, g / n, b / n);
            uv[(cy * cw + cx) * 2] =
                (128.0 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255.0).round() as u8;
            uv[(cy * cw + cx) * 2 + 1] =
                (128.0 + (112.0 * r - 93.786 * g - 18.214 * b) / 255.0).round() as u8;
        }
    }
    Nv12Frame {
        width: w as u32,
        height: h as u32,
        pts: aisle_types::MediaTime::new(0, 1).unwrap(),
        index: 0,
        y,
        y_stride: w,
        uv,
        uv_stride: 2 * cw,
    }
}

/// `rgb` rotated by `deg` (counter-clockwise as seen) about its centre, bilinear, edges repeated.
fn rotate(rgb: &[u8], w: usize, h: usize, deg: f64) -> Vec<u8> {
    let (c, s) = (deg.to_radians().cos(), deg.to_radians().sin());
    let (cx, cy) = ((w as f64 - 1.0) / 2.0, (h as f64 - 1.0) / 2.0);
    let mut out = vec![0u8; rgb.len()];
    for y in 0..h {
        for x in 0..w {
            // Inverse map: output pixel -> source (image y grows downwards).
            let (dx, dy) = (x as f64 - cx, y as f64 - cy);
            let sx = (cx + c * dx - s * dy).clamp(0.0, w as f64 - 1.0);
            let sy = (cy + s * dx + c * dy).clamp(0.0, h as f64 - 1.0);
            let (x0, y0) = (sx.floor() as usize, sy.floor() as usize);
            let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
            let (fx, fy) = (sx - x0 as f64, sy - y0 as f64);
            for k in 0..3 {
                let p = |xx: usize, yy: usize| f64::from(rgb[(yy * w + xx) * 3 + k]);
                let top = p(x0, y0) + (p(x1, y0) - p(x0, y0)) * fx;
                let bottom = p(x0, y1) + (p(x1, y1) - p(x0, y1)) * fx;
                out[(y * w + x) * 3 + k] = (top + (bottom - top) * fy).round() as u8;
            }
        }
    }
    out
}

fn pose_of(p: &mut Pipeline, frame: &Nv12Frame) -> (Face, HeadPose) {
    let faces = p.det.detect(&mut p.pre, frame, whole(frame)).unwrap();
    assert_eq!(faces.len(), 1, "one face in the portrait: {faces:?}");
    let m = p.mesh.mesh(&mut p.pre, frame, &faces[0]).unwrap();
    assert!(m.presence > 0.9, "mesh presence {}", m.presence);
    (
        faces[0],
        face::head_pose(&m.landmarks, &p.geometry).unwrap(),
    )
}

#[test]
fn head_pose_follows_known_rotations_of_the_portrait() {
    let mut p = pipeline(FaceOptions::default());
    let frame = photo("astronaut");
    let (w, h) = (frame.width as usize, frame.height as usize);
    let (_, base) = pose_of(&mut p, &frame);
    // The astronaut looks into the camera. MediaPipe's canonical face reads a level gaze as
    // looking down by about 10 degrees (the sample photos' faces average +12 degrees of pitch),
    // hence the wider bound on pitch.
    assert!(
        base.yaw.abs() < 10.0 && base.roll.abs() < 10.0 && base.pitch.abs() < 12.0,
        "the astronaut portrait is not near-frontal: {base:?}"
    );
    let rgb = rgb_of(&frame);
    let mut worst = 0.0f32;
    for deg in [-30.0, -20.0, -10.0, 10.0, 20.0, 30.0] {
        let rotated = nv12_of(&rotate(&rgb, w, h, deg), w, h);
        let (_, pose) = pose_of(&mut p, &rotated);
        // A counter-clockwise image rotation turns the head counter-clockwise: roll grows.
        let d_roll = pose.roll - base.roll - deg as f32;
        let d_yaw = pose.yaw - base.yaw;
        let d_pitch = pose.pitch - base.pitch;
        for (what, d) in [("roll", d_roll), ("yaw", d_yaw), ("pitch", d_pitch)] {
            assert!(
                d.abs() <= 10.0,
                "rotated {deg} deg: {what} off by {d} ({pose:?}, upright {base:?})"
            );
            worst = worst.max(d.abs());
        }
    }
    eprintln!("head pose on the rotated portrait: worst error {worst:.1} deg (upright {base:?})");
}

#[test]
fn a_face_box_outside_the_frame_is_cropped_with_repeated_edges() {
    // Crops reaching past the frame (a face at the border) still run every model.
    let mut p = pipeline(FaceOptions::default());
    let frame = photo("astronaut");
    let (f, _) = pose_of(&mut p, &frame);
    let shifted = BBox::new(
        f.bbox.x1 - 300.0,
        f.bbox.y1 - 300.0,
        f.bbox.x2 - 300.0,
        f.bbox.y2 - 300.0,
    );
    let moved = Face {
        bbox: shifted,
        keypoints: f.keypoints.map(|[x, y]| [x - 300.0, y - 300.0]),
        ..f
    };
    let m = p.mesh.mesh(&mut p.pre, &frame, &moved).unwrap();
    assert_eq!(m.landmarks.len(), face::MESH_POINTS);
    assert!(m.landmarks.iter().flatten().all(|v| v.is_finite()));
    let e = p.faceapi.classify(&mut p.pre, &frame, &moved).unwrap();
    assert!((e.iter().sum::<f32>() - 1.0).abs() < 1e-3, "{e:?}");
}
