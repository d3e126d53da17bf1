//! Per-face cost of each stage of the face pipeline (`aisle_vision::face`) on the astronaut
//! portrait (512 x 512): face detection on a 192 x 192 crop of the region, the face mesh on its
//! upright crop, the head-pose fit, both expression models, and the sharpness of the gray crop.
//! ONNX Runtime on the CPU, 2 threads; crops by the CPU reference.
//!
//! Run: `make bench` (or `cargo bench -p aisled --bench faces`) after `make models media`.

#[path = "../../../tests/common/mod.rs"]
mod common;

use std::time::Duration;

use aisle_config::Config;
use aisle_infer::{Acceleration, Manifest, OrtEngine};
use aisle_vision::face::{self, square};
use aisle_vision::{
    CpuPreprocessor, ExpressionClassifier, FaceDetector, FaceGeometry, FaceMesher, FaceOptions,
};
use criterion::{criterion_group, criterion_main, Criterion};

fn stages(c: &mut Criterion) {
    let frame = aisle_video::read_y4m(&common::media("faces/astronaut.y4m"))
        .unwrap()
        .remove(0);
    let config = Config::default();
    let rt = aisle_infer::load_onnxruntime(&common::ort_library(), "bench").unwrap();
    let manifest = Manifest::builtin().unwrap();
    let spec = |n: &str| manifest.get(n).unwrap().clone();
    let engine = |n: &str| {
        Box::new(OrtEngine::load(rt, &spec(n), &config.models_dir(), 2, Acceleration::Cpu).unwrap())
    };
    let opts = FaceOptions::default();
    let mut pre = CpuPreprocessor::default();
    let mut det = FaceDetector::new(spec("blazeface"), engine("blazeface"), opts).unwrap();
    let mut mesher = FaceMesher::new(spec("face_mesh"), engine("face_mesh"), opts).unwrap();
    let mut faceapi =
        ExpressionClassifier::new(spec("faceapi_expression"), engine("faceapi_expression"))
            .unwrap();
    let mut fer =
        ExpressionClassifier::new(spec("mini_xception"), engine("mini_xception")).unwrap();
    let geometry_file = spec("face_mesh").geometry.unwrap().file;
    let geometry = FaceGeometry::load(&config.models_dir().join(geometry_file)).unwrap();

    let region = square(256.0, 256.0, 512.0);
    let f = det.detect(&mut pre, &frame, region).unwrap()[0];
    let m = mesher.mesh(&mut pre, &frame, &f).unwrap();

    let mut g = c.benchmark_group("face");
    g.sample_size(30).measurement_time(Duration::from_secs(5));
    g.bench_function("detect_blazeface", |b| {
        b.iter(|| det.detect(&mut pre, &frame, region).unwrap())
    });
    g.bench_function("mesh_468", |b| {
        b.iter(|| mesher.mesh(&mut pre, &frame, &f).unwrap())
    });
    g.bench_function("head_pose_fit", |b| {
        b.iter(|| face::head_pose(&m.landmarks, &geometry).unwrap())
    });
    g.bench_function("expression_faceapi", |b| {
        b.iter(|| faceapi.classify(&mut pre, &frame, &f).unwrap())
    });
    g.bench_function("expression_mini_xception", |b| {
        b.iter(|| fer.classify(&mut pre, &frame, &f).unwrap())
    });
    let (mean, std) = fer.normalisation();
    let crop = fer.last_input().to_vec();
    g.bench_function("sharpness_64x64", |b| {
        b.iter(|| face::sharpness(&crop, 64, 64, mean, std))
    });
    g.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
