//! Per-frame cost of each pipeline stage on the real sample video (768x576 H.264, 10 fps),
//! for both person detectors: decode (openh264, CPU), preprocess (CPU reference), inference
//! (ONNX Runtime, CPU, 2 threads) and postprocess (decode + NMS).
//!
//! Run: `make bench` (or `cargo bench -p aisled --bench pipeline`) after `make models media`.

#[path = "../../../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use aisle_config::Config;
use aisle_infer::{Acceleration, Manifest, OrtEngine};
use aisle_types::Nv12Frame;
use aisle_video::VideoFile;
use aisle_vision::{Detector, DetectorOptions};
use criterion::{criterion_group, criterion_main, Criterion};

fn sample_frame(index: u64) -> Nv12Frame {
    let mut video = VideoFile::open(common::media("vtest.mp4")).expect("sample video opens");
    video
        .frames()
        .map(|f| f.expect("sample video decodes"))
        .find(|f| f.index == index)
        .expect("frame exists")
}

fn decode(c: &mut Criterion) {
    let path = common::media("vtest.mp4");
    c.bench_function("decode/openh264_768x576", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut video = VideoFile::open(&path).unwrap();
            let mut frames = video.frames();
            let mut done = 0;
            while done < iters {
                let t = Instant::now();
                match frames.next() {
                    Some(f) => {
                        std::hint::black_box(f.unwrap());
                        total += t.elapsed();
                        done += 1;
                    }
                    None => {
                        drop(frames);
                        video = VideoFile::open(&path).unwrap();
                        frames = video.frames();
                    }
                }
            }
            total
        })
    });
}

fn detector_stages(c: &mut Criterion) {
    let frame = sample_frame(100);
    let config = Config::default();
    let rt = aisle_infer::load_onnxruntime(&common::ort_library(), "bench").unwrap();
    let manifest = Manifest::builtin().unwrap();
    for name in ["centernet", "nanodet"] {
        let spec = manifest.get(name).unwrap().clone();
        let engine =
            OrtEngine::load(rt, &spec, &config.models_dir(), 2, Acceleration::Cpu).unwrap();
        let opts = DetectorOptions {
            score_threshold: 0.3,
            nms_iou: 0.5,
            classes: vec!["person".into()],
            max_detections: 100,
        };
        let mut det = Detector::new(spec, Box::new(engine), opts).unwrap();
        let mut group = c.benchmark_group(name);
        group
            .sample_size(20)
            .measurement_time(Duration::from_secs(6));
        group.bench_function("preprocess", |b| b.iter(|| det.preprocess(&frame).unwrap()));
        det.preprocess(&frame).unwrap();
        group.bench_function("inference", |b| b.iter(|| det.infer().unwrap()));
        det.infer().unwrap();
        let mut out = Vec::new();
        group.bench_function("postprocess", |b| {
            b.iter(|| det.postprocess(&mut out).unwrap())
        });
        group.finish();
    }
}

criterion_group!(benches, decode, detector_stages);
criterion_main!(benches);
