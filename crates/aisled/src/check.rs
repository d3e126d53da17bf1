//! `aisle check`: probe every configured part and print each with its fix.
//!
//! Exit status 0 when nothing failed (warnings allowed), 1 otherwise.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use aisle_config::GpuPolicy;
use aisle_infer::OrtEngine;
use anyhow::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Ok,
    Warn,
    Fail,
}

struct Report {
    failed: bool,
    out: std::io::StdoutLock<'static>,
    /// The first write error (e.g. a closed pipe); reported once at the end.
    error: Option<std::io::Error>,
}

impl Report {
    fn line(&mut self, status: Status, what: &str, detail: &str, fix: Option<&str>) {
        let tag = match status {
            Status::Ok => "ok  ",
            Status::Warn => "warn",
            Status::Fail => {
                self.failed = true;
                "FAIL"
            }
        };
        let mut text = format!("[{tag}] {what}: {detail}\n");
        if let Some(fix) = fix.filter(|_| status != Status::Ok) {
            text.push_str(&format!("       fix: {fix}\n"));
        }
        if self.error.is_none() {
            if let Err(e) = self.out.write_all(text.as_bytes()) {
                self.error = Some(e);
            }
        }
    }
}

/// The hardware video decoder's two paths: NVDEC through the Video Codec SDK (`nvcuvid`: Thor and
/// discrete GPUs), or the V4L2 memory-to-memory decoder of the Jetson Multimedia API (Orin: the
/// `/dev/v4l2-nvdec` node, reached through the libv4l2 plugin `libnvv4l2`), which has no
/// nvcuvid (docs/appliance.md, ../shared/reference/platform.md).
const NVCUVID: &[&str] = &["libnvcuvid.so.1", "libnvcuvid.so"];
const V4L2_NVDEC_NODE: &str = "/dev/v4l2-nvdec";
const V4L2_NVDEC_PLUGIN: &[&str] = &["libnvv4l2.so", "libv4l2_nvvideocodec.so"];

/// The decoder line of `aisle check` from what was found: either path is enough.
fn decoder_line(
    nvcuvid: Option<&Path>,
    v4l2_node: bool,
    v4l2_plugin: Option<&Path>,
    gpu: GpuPolicy,
) -> (Status, String) {
    if let Some(lib) = nvcuvid {
        return (
            Status::Ok,
            format!("NVDEC through the Video Codec SDK ({})", lib.display()),
        );
    }
    if v4l2_node || v4l2_plugin.is_some() {
        let mut found = Vec::new();
        if v4l2_node {
            found.push(V4L2_NVDEC_NODE.to_string());
        }
        if let Some(p) = v4l2_plugin {
            found.push(p.display().to_string());
        }
        return (
            Status::Ok,
            format!("NVDEC through V4L2 (Jetson Orin): {}", found.join(", ")),
        );
    }
    let status = match gpu {
        GpuPolicy::Required => Status::Fail,
        GpuPolicy::Preferred => Status::Warn,
        GpuPolicy::Off => Status::Ok,
    };
    let mut detail = format!(
        "neither {} (Video Codec SDK) nor {V4L2_NVDEC_NODE} / {} (V4L2, Jetson Orin) found",
        NVCUVID[0], V4L2_NVDEC_PLUGIN[0]
    );
    if gpu == GpuPolicy::Off {
        detail.push_str(" (not used: runtime.gpu = \"off\")");
    }
    (status, detail)
}

/// GPU libraries the GPU backends load at run time, with what provides them.
const GPU_LIBRARIES: &[(&str, &[&str], &str)] = &[
    ("CUDA driver", &["libcuda.so.1", "libcuda.so"], "install the NVIDIA driver (JetPack on Jetson)"),
    (
        "NVRTC (CUDA kernels)",
        &["libnvrtc.so.12", "libnvrtc.so"],
        "install the CUDA toolkit's NVRTC (JetPack: cuda-nvrtc; elsewhere: pip nvidia-cuda-nvrtc-cu12) and add it to LD_LIBRARY_PATH",
    ),
    ("TensorRT", &["libnvinfer.so.10", "libnvinfer.so.8", "libnvinfer.so"], "install TensorRT (JetPack: tensorrt-core)"),
];

pub fn run(config_path: Option<&Path>) -> Result<ExitCode> {
    let mut r = Report {
        failed: false,
        out: std::io::stdout().lock(),
        error: None,
    };
    let config = match crate::pipeline::load_config(config_path) {
        Ok(c) => {
            let from =
                config_path.map_or("built-in defaults".to_string(), |p| p.display().to_string());
            r.line(Status::Ok, "config", &from, None);
            c
        }
        Err(e) => {
            r.line(
                Status::Fail,
                "config",
                &format!("{e:#}"),
                Some("correct the file and run `aisle check` again"),
            );
            return Ok(ExitCode::FAILURE);
        }
    };
    let cache = config.cache_dir();
    let fix_cache = "run `scripts/setup.sh && scripts/fetch-models.sh` (or `make models`)";
    if cache.is_dir() {
        r.line(Status::Ok, "cache", &cache.display().to_string(), None);
    } else {
        r.line(
            Status::Warn,
            "cache",
            &format!("{} does not exist", cache.display()),
            Some(fix_cache),
        );
    }

    // ONNX Runtime.
    let (lib, origin) = config.ort_library();
    let rt = match aisle_infer::load_onnxruntime(&lib, origin) {
        Ok(rt) => {
            let version = rt
                .version
                .as_deref()
                .map_or("version unknown".to_string(), |v| format!("version {v}"));
            r.line(
                Status::Ok,
                "ONNX Runtime",
                &format!("{} ({version})", lib.display()),
                None,
            );
            Some(rt)
        }
        Err(e) => {
            r.line(
                Status::Fail,
                "ONNX Runtime",
                &e.to_string(),
                Some("see above"),
            );
            None
        }
    };
    let gpu = config.runtime.gpu;
    if rt.is_some() {
        let eps = aisle_infer::runtime::available_gpu_providers();
        let (status, detail) = match (eps.is_empty(), gpu) {
            (false, _) => (
                Status::Ok,
                format!("execution providers: {}", eps.join(", ")),
            ),
            (true, GpuPolicy::Required) => (
                Status::Fail,
                "no TensorRT or CUDA execution provider (CPU-only build)".into(),
            ),
            (true, GpuPolicy::Preferred) => (
                Status::Warn,
                "no TensorRT or CUDA execution provider: inference runs on the CPU".into(),
            ),
            (true, GpuPolicy::Off) => (Status::Ok, "CPU inference (runtime.gpu = \"off\")".into()),
        };
        r.line(status, "inference acceleration", &detail, Some("install an ONNX Runtime built with TensorRT/CUDA (JetPack: meta-tegra-community onnxruntime) and point runtime.ort_library at it"));
    }

    // CUDA kernels (preprocessing): driver, device, NVRTC.
    let status = aisle_gpu::probe();
    let (st, detail) = match (status.is_ready(), gpu) {
        (true, _) => (Status::Ok, status.to_string()),
        (false, GpuPolicy::Required) => (Status::Fail, status.to_string()),
        (false, GpuPolicy::Preferred) => (
            Status::Warn,
            format!("{status}; preprocessing runs on the CPU"),
        ),
        (false, GpuPolicy::Off) => (
            Status::Ok,
            "CPU preprocessing (runtime.gpu = \"off\")".into(),
        ),
    };
    r.line(st, "GPU (CUDA kernels)", &detail, None);

    // Models.
    let manifest = match crate::pipeline::load_manifest(&config) {
        Ok(m) => {
            let from = config
                .models
                .manifest
                .as_ref()
                .map_or("built in".to_string(), |p| p.display().to_string());
            r.line(
                Status::Ok,
                "model manifest",
                &format!("{from}, {} models", m.models.len()),
                None,
            );
            Some(m)
        }
        Err(e) => {
            r.line(
                Status::Fail,
                "model manifest",
                &format!("{e:#}"),
                Some("correct the manifest"),
            );
            None
        }
    };
    let models_dir = config.models_dir();
    for spec in manifest.iter().flat_map(|m| m.models.values()) {
        let what = format!("model {}", spec.name);
        let path = spec.path_in(&models_dir);
        let fix = format!("run `scripts/fetch-models.sh {}`", spec.name);
        if !path.is_file() {
            let status = if spec.name == config.detector.model
                || crate::models::face_model_needed(&config, &spec.name)
            {
                Status::Fail
            } else {
                Status::Warn
            };
            r.line(
                status,
                &what,
                &format!("{} is missing", path.display()),
                Some(&fix),
            );
            continue;
        }
        let verified = verification(&path);
        match rt.map(|rt| OrtEngine::load(rt, spec, &models_dir, 1, aisle_infer::Acceleration::Cpu))
        {
            Some(Ok(_)) => {
                let (status, note) = match &verified {
                    Ok(note) => (Status::Ok, note.clone()),
                    Err(note) => (Status::Warn, note.clone()),
                };
                r.line(
                    status,
                    &what,
                    &format!(
                        "{} loads, input matches the manifest; {note}",
                        path.display()
                    ),
                    Some(&fix),
                );
            }
            Some(Err(e)) => r.line(Status::Fail, &what, &e.to_string(), Some(&fix)),
            None => r.line(
                Status::Warn,
                &what,
                &format!("{} present, not loaded (no ONNX Runtime)", path.display()),
                None,
            ),
        }
    }
    if let Some(m) = &manifest {
        if let Err(e) = m.get(&config.detector.model) {
            r.line(
                Status::Fail,
                "detector.model",
                &e.to_string(),
                Some("name a model of the manifest"),
            );
        }
    }

    // MQTT commands: the mode and the token file (aisle run refuses to start without it).
    if config.mqtt.is_some() {
        let mode = config.commands.mode;
        match (config.command_token(), &config.commands.token_file) {
            (Err(e), _) => r.line(
                Status::Fail,
                "MQTT commands",
                &e.to_string(),
                Some("create the token file (one line, 16+ characters, mode 0600) or remove commands.token_file"),
            ),
            (Ok(_), Some(file)) => r.line(
                Status::Ok,
                "MQTT commands",
                &format!("mode {}, token from {file}", mode.as_str()),
                None,
            ),
            (Ok(_), None) if mode == aisle_config::CommandMode::All => r.line(
                Status::Warn,
                "MQTT commands",
                "mode all without a token: whoever may publish on cmd/# can reconfigure the device",
                Some("set commands.token_file, or restrict cmd/# with the broker's ACLs"),
            ),
            (Ok(_), None) => r.line(
                Status::Ok,
                "MQTT commands",
                &format!("mode {}, no token", mode.as_str()),
                None,
            ),
        }
    }

    // The hardware decoder: nvcuvid or V4L2 NVDEC, whichever the platform has.
    let nvcuvid = NVCUVID.iter().find_map(|n| find_library(n));
    let plugin = V4L2_NVDEC_PLUGIN.iter().find_map(|n| find_library(n));
    let (status, detail) = decoder_line(
        nvcuvid.as_deref(),
        Path::new(V4L2_NVDEC_NODE).exists(),
        plugin.as_deref(),
        gpu,
    );
    r.line(
        status,
        "NVDEC (hardware video decoder)",
        &detail,
        Some("Jetson Orin: JetPack's multimedia packages (nvidia-l4t-multimedia; Yocto: tegra-libraries-multimedia) and access to /dev/v4l2-nvdec; Thor and discrete GPUs: the NVIDIA driver's libnvcuvid"),
    );

    // GPU libraries (loaded at run time by the GPU backends).
    for (what, names, fix) in GPU_LIBRARIES {
        match names.iter().find_map(|n| find_library(n)) {
            Some(p) => r.line(Status::Ok, what, &p.display().to_string(), None),
            None => {
                let status = match gpu {
                    GpuPolicy::Required => Status::Fail,
                    GpuPolicy::Preferred => Status::Warn,
                    GpuPolicy::Off => Status::Ok,
                };
                let detail = format!(
                    "{} not found{}",
                    names[0],
                    if gpu == GpuPolicy::Off {
                        " (not used: runtime.gpu = \"off\")"
                    } else {
                        ""
                    }
                );
                r.line(status, what, &detail, Some(fix));
            }
        }
    }
    if let Some(e) = r.error {
        return Err(e.into());
    }
    Ok(if r.failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// What the set-up's numeric check recorded for a converted model (`<file>.check.json`).
fn verification(model: &Path) -> Result<String, String> {
    let mut stamp = model.as_os_str().to_owned();
    stamp.push(".check.json");
    let stamp = PathBuf::from(stamp);
    let text = std::fs::read_to_string(&stamp)
        .map_err(|_| format!("no numeric check recorded ({} missing)", stamp.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not valid JSON: {e}", stamp.display()))?;
    match v.get("result").and_then(|r| r.as_str()) {
        Some("pass") | Some("ok") | Some("passed") => Ok("numeric check passed".into()),
        Some(other) => Err(format!(
            "numeric check result `{other}` in {}",
            stamp.display()
        )),
        None => Err(format!("{} has no result", stamp.display())),
    }
}

/// Looks a shared library up the way the dynamic loader would: `LD_LIBRARY_PATH`, the
/// loader cache (`ldconfig -p`), then the usual CUDA/Jetson directories.
fn find_library(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("LD_LIBRARY_PATH")
        .map(|v| std::env::split_paths(&v).collect())
        .unwrap_or_default();
    dirs.extend(
        [
            "/usr/lib/x86_64-linux-gnu",
            "/usr/lib/aarch64-linux-gnu",
            "/usr/lib/aarch64-linux-gnu/tegra",
            "/usr/local/cuda/lib64",
            "/usr/local/cuda/targets/aarch64-linux/lib",
            "/usr/lib64",
            "/usr/lib",
        ]
        .map(PathBuf::from),
    );
    if let Some(p) = dirs.iter().map(|d| d.join(name)).find(|p| p.exists()) {
        return Some(p);
    }
    let out = ["/sbin/ldconfig", "/usr/sbin/ldconfig", "ldconfig"]
        .iter()
        .find_map(|l| std::process::Command::new(l).arg("-p").output().ok())?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|line| {
            let (lhs, rhs) = line.trim().split_once(" => ")?;
            (lhs.split_whitespace().next()? == name).then(|| PathBuf::from(rhs.trim()))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn either_decoder_path_is_enough() {
        let lib = Path::new("/usr/lib/libnvcuvid.so.1");
        let (st, d) = decoder_line(Some(lib), false, None, GpuPolicy::Required);
        assert_eq!(st, Status::Ok);
        assert!(d.contains("Video Codec SDK"), "{d}");
        // Orin: no nvcuvid, the V4L2 decoder node.
        let (st, d) = decoder_line(None, true, None, GpuPolicy::Required);
        assert_eq!(st, Status::Ok);
        assert!(d.contains("V4L2") && d.contains("/dev/v4l2-nvdec"), "{d}");
        let plugin = Path::new("/usr/lib/aarch64-linux-gnu/tegra/libnvv4l2.so");
        let (st, d) = decoder_line(None, false, Some(plugin), GpuPolicy::Required);
        assert_eq!(st, Status::Ok);
        assert!(d.contains("libnvv4l2.so"), "{d}");
        // Neither: fails only when the GPU is required.
        assert_eq!(
            decoder_line(None, false, None, GpuPolicy::Required).0,
            Status::Fail
        );
        assert_eq!(
            decoder_line(None, false, None, GpuPolicy::Preferred).0,
            Status::Warn
        );
        let (st, d) = decoder_line(None, false, None, GpuPolicy::Off);
        assert_eq!(st, Status::Ok);
        assert!(d.contains("not used"), "{d}");
    }
}
