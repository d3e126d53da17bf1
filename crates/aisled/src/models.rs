//! `aisle models prepare`: the first-boot work of `aisle-prepare.service`, before the daemon.
//!
//! 1. The config file parses and validates (every error names the file and the bad value).
//! 2. Every model of the manifest that is present is checked against the SHA-256 that the
//!    set-up recorded when it converted and numerically checked it (`onnx_sha256` in
//!    `<model>.check.json` next to it; the manifest pins the source package, the check file
//!    pins the converted bytes). The detector's model must be present and match; a missing
//!    other model is reported and skipped.
//! 3. ONNX Runtime loads the detector (on the CPU: it parses and its input matches the
//!    manifest).
//! 4. With a usable GPU (`aisle_gpu::probe`) and `runtime.gpu` not `off`: the CUDA
//!    preprocessing kernels are compiled by NVRTC into the kernel cache
//!    (`<cache_dir>/kernels`, which the daemon then loads without compiling), and the detector
//!    is loaded once with the TensorRT/CUDA execution providers, which builds its TensorRT
//!    engines into `<cache_dir>/engines/<ONNX Runtime version>-<L4T release>` (the daemon's
//!    engine cache: its first start then deserialises them instead of building them), and a
//!    broken GPU set-up fails here rather than in the daemon. Without a GPU these steps are skipped and
//!    reported; with `runtime.gpu = "required"` a missing GPU fails.
//!
//! Exit status 0 when nothing failed (skipped steps allowed), 1 otherwise. Each line is
//! `[ok  ]`, `[skip]` or `[FAIL]`, then what and why.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use aisle_config::{Config, GpuPolicy};
use aisle_infer::{Acceleration, Engine, OrtEngine};
use anyhow::Result;
use clap::{Args, Subcommand};
use sha2::{Digest, Sha256};

#[derive(Debug, Args)]
pub struct ModelsArgs {
    #[command(subcommand)]
    command: ModelsCommand,
}

#[derive(Debug, Subcommand)]
enum ModelsCommand {
    /// First-boot preparation: check the config, verify the model files' checksums, and build
    /// the CUDA kernels (and load the models on the GPU) when a GPU is present.
    Prepare,
}

pub fn run(config_path: Option<&Path>, args: &ModelsArgs) -> Result<ExitCode> {
    match args.command {
        ModelsCommand::Prepare => prepare(config_path),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ok,
    Skip,
    Fail,
}

struct Lines {
    out: std::io::StdoutLock<'static>,
    failed: bool,
}

impl Lines {
    fn line(&mut self, outcome: Outcome, what: &str, detail: &str) -> Result<()> {
        let tag = match outcome {
            Outcome::Ok => "ok  ",
            Outcome::Skip => "skip",
            Outcome::Fail => {
                self.failed = true;
                "FAIL"
            }
        };
        writeln!(self.out, "[{tag}] {what}: {detail}")?;
        self.out.flush()?;
        Ok(())
    }
}

fn prepare(config_path: Option<&Path>) -> Result<ExitCode> {
    let mut r = Lines {
        out: std::io::stdout().lock(),
        failed: false,
    };
    let config = match crate::pipeline::load_config(config_path) {
        Ok(c) => {
            let from =
                config_path.map_or("built-in defaults".to_string(), |p| p.display().to_string());
            r.line(Outcome::Ok, "config", &from)?;
            c
        }
        Err(e) => {
            r.line(Outcome::Fail, "config", &format!("{e:#}"))?;
            return Ok(ExitCode::FAILURE);
        }
    };
    let manifest = match crate::pipeline::load_manifest(&config) {
        Ok(m) => m,
        Err(e) => {
            r.line(Outcome::Fail, "model manifest", &format!("{e:#}"))?;
            return Ok(ExitCode::FAILURE);
        }
    };
    let models_dir = config.models_dir();
    for spec in manifest.models.values() {
        let what = format!("model {}", spec.name);
        let needed = spec.name == config.detector.model || face_model_needed(&config, &spec.name);
        let path = spec.path_in(&models_dir);
        if !path.is_file() {
            let (outcome, why) = if needed {
                (Outcome::Fail, "needed by the detector or [faces]")
            } else {
                (Outcome::Skip, "not used by the detector or [faces]")
            };
            r.line(
                outcome,
                &what,
                &format!(
                    "{} is missing ({why}); run `scripts/fetch-models.sh {}`",
                    path.display(),
                    spec.name
                ),
            )?;
            continue;
        }
        match verify_checksum(&path) {
            Ok(sha) => r.line(
                Outcome::Ok,
                &what,
                &format!("{} matches its recorded SHA-256 {sha}", path.display()),
            )?,
            Err(e) => r.line(Outcome::Fail, &what, &e)?,
        }
    }
    let spec = match manifest.get(&config.detector.model) {
        Ok(s) => s.clone(),
        Err(e) => {
            r.line(Outcome::Fail, "detector.model", &e.to_string())?;
            return Ok(ExitCode::FAILURE);
        }
    };

    // ONNX Runtime: the detector loads on the CPU.
    let (lib, origin) = config.ort_library();
    let rt = match aisle_infer::load_onnxruntime(&lib, origin) {
        Ok(rt) => {
            r.line(Outcome::Ok, "ONNX Runtime", &lib.display().to_string())?;
            Some(rt)
        }
        Err(e) => {
            r.line(Outcome::Fail, "ONNX Runtime", &e.to_string())?;
            None
        }
    };
    if let Some(rt) = rt {
        match OrtEngine::load(rt, &spec, &models_dir, 1, Acceleration::Cpu) {
            Ok(_) => r.line(
                Outcome::Ok,
                "detector on the CPU",
                &format!("{} loads, input matches the manifest", spec.name),
            )?,
            Err(e) => r.line(Outcome::Fail, "detector on the CPU", &e.to_string())?,
        }
    }

    // The GPU path: CUDA kernels into the cache, the detector with the GPU providers.
    let gpu = config.runtime.gpu;
    if gpu == GpuPolicy::Off {
        r.line(
            Outcome::Skip,
            "CUDA kernels and TensorRT engines",
            "runtime.gpu = \"off\"",
        )?;
    } else {
        let status = aisle_gpu::probe();
        if !status.is_ready() {
            let outcome = if gpu == GpuPolicy::Required {
                Outcome::Fail
            } else {
                Outcome::Skip
            };
            r.line(
                outcome,
                "CUDA kernels and TensorRT engines",
                &format!("no usable GPU: {status}"),
            )?;
        } else {
            let cache = crate::pipeline::kernel_cache(&config);
            match aisle_vision::GpuPreprocess::new(&cache) {
                Ok(_) => r.line(
                    Outcome::Ok,
                    "CUDA kernels",
                    &format!("compiled or found in {}", cache.dir().display()),
                )?,
                Err(e) => r.line(Outcome::Fail, "CUDA kernels", &e.to_string())?,
            }
            let eps = aisle_infer::runtime::available_gpu_providers();
            match (rt, eps.is_empty()) {
                (Some(rt), false) => {
                    let accel = crate::pipeline::acceleration(gpu);
                    let engines = crate::pipeline::engine_cache_dir(&config, rt);
                    match OrtEngine::load_with_engine_cache(
                        rt,
                        &spec,
                        &models_dir,
                        1,
                        accel,
                        Some(&engines),
                    ) {
                        Ok(e) => r.line(
                            Outcome::Ok,
                            "detector on the GPU",
                            &format!(
                                "{} loads with {}; TensorRT engines (when TensorRT runs it) built or found in {}",
                                spec.name,
                                e.backend(),
                                engines.display()
                            ),
                        )?,
                        Err(e) => r.line(Outcome::Fail, "detector on the GPU", &e.to_string())?,
                    }
                }
                (Some(_), true) => {
                    let outcome = if gpu == GpuPolicy::Required {
                        Outcome::Fail
                    } else {
                        Outcome::Skip
                    };
                    r.line(
                        outcome,
                        "detector on the GPU",
                        &format!(
                            "{} has no TensorRT or CUDA execution provider",
                            lib.display()
                        ),
                    )?;
                }
                (None, _) => {}
            }
        }
    }
    Ok(if r.failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The model file's SHA-256 against `onnx_sha256` of `<model>.check.json` (written by the
/// set-up's conversion and numeric check); the error names both files and both hashes.
fn verify_checksum(model: &Path) -> Result<String, String> {
    let mut stamp = model.as_os_str().to_owned();
    stamp.push(".check.json");
    let stamp = std::path::PathBuf::from(stamp);
    let text = std::fs::read_to_string(&stamp).map_err(|e| {
        format!(
            "{}: {e}; no recorded checksum for {} (run scripts/fetch-models.sh again)",
            stamp.display(),
            model.display()
        )
    })?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not valid JSON: {e}", stamp.display()))?;
    let want = v
        .get("onnx_sha256")
        .and_then(|s| s.as_str())
        .ok_or_else(|| format!("{} has no `onnx_sha256`", stamp.display()))?
        .to_ascii_lowercase();
    let bytes = std::fs::read(model).map_err(|e| format!("{}: {e}", model.display()))?;
    let have: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if have != want {
        return Err(format!(
            "{} has SHA-256 {have}, but {} records {want}: the file changed since it was checked; run scripts/fetch-models.sh again",
            model.display(),
            stamp.display()
        ));
    }
    Ok(have)
}

/// Whether `[faces]` runs model `name` (the face detector and mesh, and with emotion on the
/// expression model).
pub fn face_model_needed(config: &Config, name: &str) -> bool {
    let f = &config.faces;
    f.enabled()
        && (name == "blazeface" || name == "face_mesh" || (f.emotion && name == f.expression_model))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_are_checked_against_the_recorded_one() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("m.onnx");
        std::fs::write(&model, b"abc").unwrap();
        let e = verify_checksum(&model).unwrap_err();
        assert!(e.contains("m.onnx.check.json"), "{e}");
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        std::fs::write(
            dir.path().join("m.onnx.check.json"),
            format!("{{\"onnx_sha256\": \"{abc}\", \"result\": \"pass\"}}"),
        )
        .unwrap();
        assert_eq!(verify_checksum(&model).unwrap(), abc);
        std::fs::write(&model, b"abd").unwrap();
        let e = verify_checksum(&model).unwrap_err();
        assert!(e.contains(abc) && e.contains("m.onnx"), "{e}");
    }
}
