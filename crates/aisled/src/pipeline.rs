//! Wiring: config -> ONNX Runtime -> model manifest -> preprocessor -> detector.

use std::path::Path;

use aisle_config::{Config, GpuPolicy};
use aisle_gpu::{GpuError, GpuStatus, KernelCache};
use aisle_infer::{Acceleration, Manifest, OrtEngine};
use aisle_video::{redact_url, RtspCredentials, RtspTransport};
use aisle_vision::{CpuPreprocessor, Detector, DetectorOptions, GpuPreprocess, Preprocessor};
use anyhow::{bail, Context, Result};

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

/// Where preprocessing runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreprocessBackend {
    /// `aisle_vision::CpuPreprocessor` (the reference).
    Cpu,
    /// `aisle_vision::GpuPreprocess` (CUDA kernel, bit-exact with the reference).
    Gpu,
}

/// Chooses the preprocessor for `policy`: `off` -> CPU without touching the GPU; `preferred`
/// -> GPU when `probe()` is ready and `open_gpu()` succeeds, else CPU with a warning naming
/// why; `required` -> GPU, or an error with the probe's message (what `aisle check` prints)
/// or the error of `open_gpu()`. `probe` and `open_gpu` are parameters so that the choice is
/// tested without a GPU.
pub fn select_preprocessor(
    policy: GpuPolicy,
    probe: impl FnOnce() -> GpuStatus,
    open_gpu: impl FnOnce() -> Result<Box<dyn Preprocessor>, GpuError>,
) -> Result<(Box<dyn Preprocessor>, PreprocessBackend)> {
    let cpu = || -> (Box<dyn Preprocessor>, PreprocessBackend) {
        (Box::new(CpuPreprocessor::default()), PreprocessBackend::Cpu)
    };
    if policy == GpuPolicy::Off {
        return Ok(cpu());
    }
    let status = probe();
    if !status.is_ready() {
        if policy == GpuPolicy::Required {
            bail!("runtime.gpu = \"required\" but GPU preprocessing is not available: {status}");
        }
        tracing::warn!("GPU preprocessing not available, preprocessing on the CPU: {status}");
        return Ok(cpu());
    }
    match open_gpu() {
        Ok(pre) => {
            tracing::info!("preprocessing on the GPU: {status}");
            Ok((pre, PreprocessBackend::Gpu))
        }
        Err(e) if policy == GpuPolicy::Required => Err(anyhow::Error::new(e).context(format!(
            "runtime.gpu = \"required\" but the GPU preprocessor could not be set up ({status})"
        ))),
        Err(e) => {
            tracing::warn!(
                "the GPU preprocessor could not be set up ({e}); preprocessing on the CPU"
            );
            Ok(cpu())
        }
    }
}

/// The kernel cache: `<cache_dir>/kernels`.
pub fn kernel_cache(config: &Config) -> KernelCache {
    KernelCache::new(config.cache_dir().join("kernels"))
}

/// Where the TensorRT execution provider keeps its engines: `<cache_dir>/engines/<key>`, the key
/// naming what ONNX Runtime's own engine names do not: its version and, on a Jetson, the L4T
/// release (`/etc/nv_tegra_release`, which fixes the TensorRT version). An update of either
/// starts an empty directory instead of loading stale engines. `aisle models prepare` fills it.
pub fn engine_cache_dir(config: &Config, rt: &aisle_infer::OrtRuntime) -> std::path::PathBuf {
    let l4t = std::fs::read_to_string("/etc/nv_tegra_release").ok();
    config
        .cache_dir()
        .join("engines")
        .join(engine_cache_key(rt.version.as_deref(), l4t.as_deref()))
}

/// `ort<version>-<L4T release>`, e.g. `ort1.20.1-R36.4.3`; `host` off a Jetson; only
/// `[A-Za-z0-9._-]`.
fn engine_cache_key(ort_version: Option<&str>, nv_tegra_release: Option<&str>) -> String {
    // "# R36 (release), REVISION: 4.3, GCID: ..., BOARD: generic, EABI: aarch64, DATE: ..."
    let l4t = nv_tegra_release
        .and_then(|text| {
            let line = text.lines().next()?;
            let major = line.split_whitespace().find(|w| w.starts_with('R'))?;
            let revision = line.split("REVISION:").nth(1)?.split(',').next()?.trim();
            Some(format!("{major}.{revision}"))
        })
        .unwrap_or_else(|| "host".to_string());
    let key = format!("ort{}-{l4t}", ort_version.unwrap_or("unknown"));
    key.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The preprocessor `runtime.gpu` asks for on this machine; see [`select_preprocessor`].
pub fn build_preprocessor(config: &Config) -> Result<(Box<dyn Preprocessor>, PreprocessBackend)> {
    select_preprocessor(config.runtime.gpu, aisle_gpu::probe, || {
        let pre = GpuPreprocess::new(&kernel_cache(config))?;
        Ok(Box::new(pre) as Box<dyn Preprocessor>)
    })
}

/// Builds the configured person detector; `model` overrides `detector.model`.
pub fn build_detector(config: &Config, model: Option<&str>) -> Result<Detector> {
    build_detector_with_threshold(config, model, None)
}

/// [`build_detector`] keeping detections down to `score_threshold` instead of
/// `detector.score_threshold` (the tracker's second association stage needs the low-score
/// ones: give it the tracker's `low_score`).
pub fn build_detector_with_threshold(
    config: &Config,
    model: Option<&str>,
    score_threshold: Option<f32>,
) -> Result<Detector> {
    let manifest = load_manifest(config)?;
    let name = model.unwrap_or(&config.detector.model);
    let spec = manifest.get(name)?.clone();
    let (pre, _) = build_preprocessor(config)?;
    let (lib, origin) = config.ort_library();
    let rt = aisle_infer::load_onnxruntime(&lib, origin)?;
    let engine = OrtEngine::load_with_engine_cache(
        rt,
        &spec,
        &config.models_dir(),
        config.runtime.threads,
        acceleration(config.runtime.gpu),
        Some(&engine_cache_dir(config, rt)),
    )?;
    let d = &config.detector;
    let opts = DetectorOptions {
        score_threshold: score_threshold.unwrap_or(d.score_threshold),
        nms_iou: d.nms_iou,
        classes: d.classes.clone(),
        max_detections: d.max_detections,
    };
    Detector::with_preprocessor(spec, Box::new(engine), pre, opts)
        .with_context(|| format!("setting up detector `{name}`"))
}

/// Where a camera's (or file's) video comes from: `(name for messages, url or path, transport,
/// credentials)`. With `camera`, its `[[cameras]]` entry gives the URL (unless `url` is given),
/// transport and credentials (from the credentials directory or environment, never the config);
/// `transport` overrides.
pub fn camera_source(
    config_path: Option<&Path>,
    camera: Option<&str>,
    url: Option<&str>,
    transport: Option<&str>,
) -> Result<(String, String, RtspTransport, Option<RtspCredentials>)> {
    let mut rtsp_transport = RtspTransport::Tcp;
    let mut credentials = None;
    let (name, url) = match camera {
        Some(id) => {
            let config = load_config(config_path)?;
            let Some(cam) = config.camera(id) else {
                let known: Vec<&str> = config.cameras.iter().map(|c| c.id.as_str()).collect();
                bail!(
                    "no camera `{id}` in the config{}",
                    if known.is_empty() {
                        " (it has no [[cameras]]; give --config FILE)".to_string()
                    } else {
                        format!(" (cameras: {})", known.join(", "))
                    }
                );
            };
            rtsp_transport = match cam.transport {
                aisle_config::CameraTransport::Tcp => RtspTransport::Tcp,
                aisle_config::CameraTransport::Udp => RtspTransport::Udp,
            };
            credentials = config.camera_credentials(cam)?.map(|c| RtspCredentials {
                username: c.username,
                password: c.password,
            });
            (
                id.to_string(),
                url.map_or_else(|| camera_url(&config, &cam.url), str::to_string),
            )
        }
        None => {
            let Some(url) = url else {
                bail!("give a URL or file, or --camera ID");
            };
            (redact_url(url), url.to_string())
        }
    };
    if let Some(t) = transport {
        rtsp_transport = t.parse().map_err(anyhow::Error::msg)?;
    }
    Ok((name, url, rtsp_transport, credentials))
}

/// The tracker settings: the tracker's defaults with the config's `[tracker]` keys applied.
pub fn tracker_config(config: &Config) -> aisle_track::TrackerConfig {
    let t = &config.tracker;
    let d = aisle_track::TrackerConfig::default();
    aisle_track::TrackerConfig {
        high_score: t.high_score.unwrap_or(d.high_score),
        low_score: t.low_score.unwrap_or(d.low_score),
        new_track_score: t.new_track_score.unwrap_or(d.new_track_score),
        match_iou: t.match_iou.unwrap_or(d.match_iou),
        low_match_iou: t.low_match_iou.unwrap_or(d.low_match_iou),
        recovery_iou: t.recovery_iou.unwrap_or(d.recovery_iou),
        confirm_hits: t.confirm_hits.unwrap_or(d.confirm_hits),
        max_lost_s: t.max_lost_s.unwrap_or(d.max_lost_s),
        coast_s: t.coast_s.unwrap_or(d.coast_s),
        max_lost_still_s: t.max_lost_still_s.unwrap_or(d.max_lost_still_s),
        appearance_weight: t.appearance_weight.unwrap_or(d.appearance_weight),
        appearance_gate: t.appearance_gate.unwrap_or(d.appearance_gate),
        appearance_gate_partial: t
            .appearance_gate_partial
            .unwrap_or(d.appearance_gate_partial),
        reid_distance: t.reid_distance.unwrap_or(d.reid_distance),
        reid_speed: t.reid_speed.unwrap_or(d.reid_speed),
        max_lost_reid_s: t.max_lost_reid_s.unwrap_or(d.max_lost_reid_s),
        appearance_momentum: t.appearance_momentum.unwrap_or(d.appearance_momentum),
        ..d
    }
}

/// A camera's `url` as given to the video input: an `rtsp://` URL unchanged; a file path with a
/// leading `~/` replaced by the home directory and a leading `$AISLE_CACHE` (or
/// `${AISLE_CACHE}`) by the cache directory (`runtime.cache_dir`, else the `AISLE_CACHE`
/// environment variable, else `~/.cache/aisle`), so that a config can name the sample media
/// wherever the cache is. Other paths are used as they are (relative ones from the current
/// directory).
pub fn camera_url(config: &Config, url: &str) -> String {
    if url.contains("://") {
        return url.to_string();
    }
    for var in ["$AISLE_CACHE", "${AISLE_CACHE}"] {
        if let Some(rest) = url.strip_prefix(var) {
            if rest.is_empty() || rest.starts_with('/') {
                return format!("{}{rest}", config.cache_dir().display());
            }
        }
    }
    if let Some(rest) = url.strip_prefix("~/") {
        if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
            return Path::new(&home).join(rest).display().to_string();
        }
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_cache_keys_name_onnx_runtime_and_the_l4t_release() {
        let release = "# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64, DATE: Wed Jan  8 01:49:37 UTC 2025\n";
        assert_eq!(
            engine_cache_key(Some("1.20.1"), Some(release)),
            "ort1.20.1-R36.4.3"
        );
        assert_eq!(engine_cache_key(Some("1.31.1"), None), "ort1.31.1-host");
        assert_eq!(engine_cache_key(None, Some("garbage")), "ortunknown-host");
        assert_eq!(engine_cache_key(Some("1/2 3"), None), "ort1_2_3-host");
    }
    use std::cell::Cell;

    fn no_gpu() -> Result<Box<dyn Preprocessor>, GpuError> {
        panic!("the GPU must not be opened here")
    }

    /// This machine's answer when it has no GPU, and a fixed one otherwise, so the test does
    /// the same everywhere.
    fn missing() -> GpuStatus {
        match aisle_gpu::probe() {
            s if !s.is_ready() => s,
            _ => GpuStatus::NoDriver,
        }
    }

    #[test]
    fn off_uses_the_cpu_without_probing() {
        let (_, backend) = select_preprocessor(
            GpuPolicy::Off,
            || panic!("`off` must not probe the GPU"),
            no_gpu,
        )
        .unwrap();
        assert_eq!(backend, PreprocessBackend::Cpu);
    }

    #[test]
    fn preferred_without_a_gpu_uses_the_cpu() {
        let (_, backend) = select_preprocessor(GpuPolicy::Preferred, missing, no_gpu).unwrap();
        assert_eq!(backend, PreprocessBackend::Cpu);
    }

    #[test]
    fn required_without_a_gpu_fails_with_the_probe_message() {
        let status = missing();
        let err = select_preprocessor(GpuPolicy::Required, missing, no_gpu)
            .err()
            .expect("required without a GPU is an error");
        let msg = format!("{err:#}");
        // The text `aisle check` prints for the GPU line.
        assert!(msg.contains(&status.to_string()), "{msg}");
        assert!(msg.contains("runtime.gpu = \"required\""), "{msg}");
    }

    #[test]
    fn a_ready_gpu_that_fails_to_open_falls_back_only_when_preferred() {
        let ready = || GpuStatus::Ready {
            device: aisle_gpu::DeviceInfo {
                name: "Orin".into(),
                compute_capability: (8, 7),
                memory_bytes: 8 << 30,
                driver_version: 12060,
                device_count: 1,
            },
            nvrtc: (12, 6),
        };
        let fail = || -> Result<Box<dyn Preprocessor>, GpuError> {
            Err(GpuError::Driver {
                call: "cuModuleLoadData",
                error: "CUDA_ERROR_INVALID_PTX".into(),
            })
        };
        let (_, backend) = select_preprocessor(GpuPolicy::Preferred, ready, fail).unwrap();
        assert_eq!(backend, PreprocessBackend::Cpu);
        let msg = format!(
            "{:#}",
            select_preprocessor(GpuPolicy::Required, ready, fail)
                .err()
                .unwrap()
        );
        assert!(msg.contains("CUDA_ERROR_INVALID_PTX"), "{msg}");

        // Ready and opened: the GPU preprocessor (a stand-in here) is used.
        let opened = Cell::new(false);
        let (_, backend) = select_preprocessor(GpuPolicy::Preferred, ready, || {
            opened.set(true);
            Ok(Box::new(CpuPreprocessor::default()) as Box<dyn Preprocessor>)
        })
        .unwrap();
        assert!(opened.get());
        assert_eq!(backend, PreprocessBackend::Gpu);
    }
}
