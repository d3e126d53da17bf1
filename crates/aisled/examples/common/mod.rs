//! Set-up shared by the study examples (not an example itself).

use aisle_config::Config;
use aisle_infer::{Acceleration, Manifest, OrtEngine};
use aisle_vision::{Detector, DetectorOptions};
use anyhow::{Context, Result};

/// The detector `model` of the built-in manifest on ONNX Runtime's CPU path with `threads`
/// intra-op threads, keeping detections down to `score_threshold`; NMS, classes and the cap as
/// `config.detector` says.
pub fn cpu_detector(
    config: &Config,
    model: &str,
    threads: usize,
    score_threshold: f32,
) -> Result<Detector> {
    let manifest = Manifest::builtin()?;
    let spec = manifest.get(model)?.clone();
    let (lib, origin) = config.ort_library();
    let rt = aisle_infer::load_onnxruntime(&lib, origin)?;
    let engine = OrtEngine::load(rt, &spec, &config.models_dir(), threads, Acceleration::Cpu)?;
    let d = &config.detector;
    let opts = DetectorOptions {
        score_threshold,
        nms_iou: d.nms_iou,
        classes: d.classes.clone(),
        max_detections: d.max_detections,
    };
    Detector::new(spec, Box::new(engine), opts)
        .with_context(|| format!("setting up detector `{model}`"))
}
