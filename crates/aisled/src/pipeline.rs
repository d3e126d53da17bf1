//! Wiring: config -> ONNX Runtime -> model manifest -> detector.

use std::path::Path;

use aisle_config::{Config, GpuPolicy};
use aisle_infer::{Acceleration, Manifest, OrtEngine};
use aisle_vision::{Detector, DetectorOptions};
use anyhow::{Context, Result};

/// The config file, or the defaults when none is given.
pub fn load_config(path: Option<&Path>) -> Result<Config> {
    match path {
        Some(p) => Ok(Config::load(p)?),
        None => Ok(Config::default()),
    }
}

/// The configured manifest, or the one built into the binary.
pub fn load_manifest(config: &Config) -> Result<Manifest> {
    Ok(match &config.models.manifest {
        Some(p) => Manifest::load(p)?,
        None => Manifest::builtin()?,
    })
}

pub fn acceleration(policy: GpuPolicy) -> Acceleration {
    match policy {
        GpuPolicy::Off => Acceleration::Cpu,
        GpuPolicy::Preferred => Acceleration::GpuPreferred,
        GpuPolicy::Required => Acceleration::GpuRequired,
    }
}

/// Builds the configured person detector; `model` overrides `detector.model`.
pub fn build_detector(config: &Config, model: Option<&str>) -> Result<Detector> {
    let manifest = load_manifest(config)?;
    let name = model.unwrap_or(&config.detector.model);
    let spec = manifest.get(name)?.clone();
    let (lib, origin) = config.ort_library();
    let rt = aisle_infer::load_onnxruntime(&lib, origin)?;
    let engine = OrtEngine::load(
        rt,
        &spec,
        &config.models_dir(),
        config.runtime.threads,
        acceleration(config.runtime.gpu),
    )?;
    let d = &config.detector;
    let opts = DetectorOptions {
        score_threshold: d.score_threshold,
        nms_iou: d.nms_iou,
        classes: d.classes.clone(),
        max_detections: d.max_detections,
    };
    Detector::new(spec, Box::new(engine), opts)
        .with_context(|| format!("setting up detector `{name}`"))
}
