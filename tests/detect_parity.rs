//! Detection parity with the Python reference (`scripts/reference_detect.py`), on fixed frames
//! of the real sample video, for both person detectors.
//!
//! Checked per frame: the preprocessed input tensor (sum of values, relative 1e-6: decoding and
//! preprocessing agree), the person count (exactly), and every box (within 1e-3 of the frame
//! size per coordinate, i.e. 1e-3 of the model input size after scaling; scores within 1e-3).

mod common;

use std::collections::BTreeMap;

use aisle_config::Config;
use aisle_infer::{Acceleration, Manifest, OrtEngine};
use aisle_video::VideoFile;
use aisle_vision::{Detector, DetectorOptions};
use serde::Deserialize;

#[derive(Deserialize)]
struct Golden {
    model: String,
    score_threshold: f32,
    nms_iou: f32,
    classes: Vec<String>,
    frames: Vec<GoldenFrame>,
}

#[derive(Deserialize)]
struct GoldenFrame {
    index: u64,
    input_sum: f64,
    count: usize,
    boxes: Vec<[f32; 5]>,
}

fn detector(golden: &Golden) -> Detector {
    let config = Config::default();
    let lib = common::ort_library();
    let rt = aisle_infer::load_onnxruntime(&lib, "test").expect("ONNX Runtime loads");
    let manifest = Manifest::builtin().unwrap();
    let spec = manifest.get(&golden.model).unwrap().clone();
    common::model_file(&spec.file);
    let engine = OrtEngine::load(rt, &spec, &config.models_dir(), 2, Acceleration::Cpu)
        .expect("model loads");
    let opts = DetectorOptions {
        score_threshold: golden.score_threshold,
        nms_iou: golden.nms_iou,
        classes: golden.classes.clone(),
        max_detections: 100,
    };
    Detector::new(spec, Box::new(engine), opts).unwrap()
}

fn parity(model: &str) {
    let path = common::repo_root().join(format!("tests/golden/detect_{model}.json"));
    let golden: Golden = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let wanted: BTreeMap<u64, &GoldenFrame> = golden.frames.iter().map(|f| (f.index, f)).collect();
    let mut det = detector(&golden);
    let mut video = VideoFile::open(common::media("vtest.mp4")).unwrap();
    let (fw, fh) = (video.info().width as f32, video.info().height as f32);
    let (tol_x, tol_y) = (1e-3 * fw, 1e-3 * fh);
    let mut seen = 0;
    let mut worst = 0f32;
    for frame in video.frames() {
        let frame = frame.unwrap();
        let Some(g) = wanted.get(&frame.index) else {
            continue;
        };
        let dets = det.detect(&frame).unwrap();
        let sum: f64 = det.input_tensor().iter().map(|v| f64::from(*v)).sum();
        assert!(
            (sum - g.input_sum).abs() <= 1e-6 * g.input_sum.abs().max(1.0),
            "{model} frame {}: input tensor sum {sum} differs from the reference's {}",
            frame.index,
            g.input_sum
        );
        assert_eq!(
            dets.len(),
            g.count,
            "{model} frame {}: person count",
            frame.index
        );
        // Pair each reference box with the nearest detection (order of near-equal scores may differ).
        let mut used = vec![false; dets.len()];
        for gb in &g.boxes {
            let (best, err) = dets
                .iter()
                .enumerate()
                .filter(|(i, _)| !used[*i])
                .map(|(i, d)| {
                    let e = [
                        (d.bbox.x1 - gb[0]).abs() / tol_x,
                        (d.bbox.y1 - gb[1]).abs() / tol_y,
                        (d.bbox.x2 - gb[2]).abs() / tol_x,
                        (d.bbox.y2 - gb[3]).abs() / tol_y,
                        (d.score - gb[4]).abs() / 1e-3,
                    ];
                    (i, e.into_iter().fold(0f32, f32::max))
                })
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .unwrap();
            assert!(
                err <= 1.0,
                "{model} frame {}: reference box {gb:?} has no match within tolerance (closest {:?}, {err:.2}x the tolerance)",
                frame.index,
                dets[best]
            );
            used[best] = true;
            worst = worst.max(err);
        }
        seen += 1;
    }
    assert_eq!(
        seen,
        wanted.len(),
        "{model}: not every golden frame was found in the video"
    );
    eprintln!("{model}: {seen} frames match; worst box error {worst:.4} of the tolerance");
}

#[test]
fn centernet_matches_the_python_reference() {
    parity("centernet");
}

#[test]
fn nanodet_matches_the_python_reference() {
    parity("nanodet");
}
