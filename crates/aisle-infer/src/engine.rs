//! The [`Engine`] trait (tensors in, raw outputs out) and its ONNX Runtime implementation.
//!
//! Engines know nothing of pixels or boxes: preprocessing and decoding are `aisle-vision`'s.
//! Output buffers are reused between runs so the steady state does not allocate per frame
//! beyond what ONNX Runtime itself does.

use std::path::{Path, PathBuf};

use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::TensorRef;

use crate::manifest::ModelSpec;
use crate::runtime::OrtRuntime;

/// Errors of the inference layer; each names the model or library and the fix.
#[derive(Debug, thiserror::Error)]
pub enum InferError {
    #[error("ONNX Runtime library {path} (from {origin}): {message}")]
    Library {
        path: PathBuf,
        origin: String,
        message: String,
    },
    #[error("model `{model}` not found at {path}; run `scripts/fetch-models.sh {model}` (or `make models`) to fetch and convert it")]
    ModelMissing { model: String, path: PathBuf },
    #[error("model `{model}` at {path} cannot be loaded: {message}; delete the file and run `scripts/fetch-models.sh {model}` to convert it again")]
    ModelLoad {
        model: String,
        path: PathBuf,
        message: String,
    },
    #[error("model `{model}` at {path} does not match the manifest: {message}; delete the file and run `scripts/fetch-models.sh {model}`")]
    ModelMismatch {
        model: String,
        path: PathBuf,
        message: String,
    },
    #[error("model `{model}`: {message}")]
    Run { model: String, message: String },
    #[error("GPU required (runtime.gpu = \"required\") but {0}")]
    GpuRequired(String),
}

/// A borrowed input tensor (`f32`, row-major).
#[derive(Debug, Clone, Copy)]
pub struct TensorView<'a> {
    pub shape: &'a [usize],
    pub data: &'a [f32],
}

/// One raw model output, row-major.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutputTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// Runs one model. Implementations: [`OrtEngine`] (ONNX Runtime: CPU, CUDA, TensorRT).
pub trait Engine: Send {
    /// Which backend runs the model, e.g. `onnxruntime/cpu`.
    fn backend(&self) -> &str;

    /// Runs the model on `input`; `outputs` is resized to the model's outputs, in the
    /// model's output order, reusing its buffers.
    fn run(
        &mut self,
        input: TensorView<'_>,
        outputs: &mut Vec<OutputTensor>,
    ) -> Result<(), InferError>;
}

/// Where an [`OrtEngine`] should run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acceleration {
    /// CPU only.
    Cpu,
    /// TensorRT then CUDA when the library has them, else CPU with a warning.
    GpuPreferred,
    /// TensorRT or CUDA, or fail.
    GpuRequired,
}

/// A model loaded into ONNX Runtime.
pub struct OrtEngine {
    model: String,
    session: Session,
    input_name: String,
    backend: String,
}

impl std::fmt::Debug for OrtEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrtEngine")
            .field("model", &self.model)
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl OrtEngine {
    /// Loads `spec`'s model from `models_dir` and checks its input against the manifest.
    pub fn load(
        rt: &OrtRuntime,
        spec: &ModelSpec,
        models_dir: &Path,
        threads: usize,
        accel: Acceleration,
    ) -> Result<Self, InferError> {
        Self::load_with_engine_cache(rt, spec, models_dir, threads, accel, None)
    }

    /// [`load`](Self::load), keeping the TensorRT engines (and TensorRT's timing cache) that the
    /// TensorRT execution provider builds in `engine_cache` (created if missing), so that the
    /// next load with the same model, TensorRT and GPU deserialises them instead of building
    /// them again (minutes on a Jetson). ONNX Runtime names each engine after the model's
    /// subgraph hash and the GPU's compute capability; the caller keys the directory on what
    /// ONNX Runtime does not (its own version, the TensorRT release). Unused on the CPU and with
    /// the CUDA provider alone.
    pub fn load_with_engine_cache(
        rt: &OrtRuntime,
        spec: &ModelSpec,
        models_dir: &Path,
        threads: usize,
        accel: Acceleration,
        engine_cache: Option<&Path>,
    ) -> Result<Self, InferError> {
        let path = spec.path_in(models_dir);
        if !path.is_file() {
            return Err(InferError::ModelMissing {
                model: spec.name.clone(),
                path,
            });
        }
        let load_err = |message: String| InferError::ModelLoad {
            model: spec.name.clone(),
            path: path.clone(),
            message,
        };
        let gpu = crate::runtime::available_gpu_providers();
        let backend = match accel {
            Acceleration::Cpu => "onnxruntime/cpu".to_string(),
            Acceleration::GpuPreferred | Acceleration::GpuRequired if !gpu.is_empty() => {
                format!("onnxruntime/{}", gpu.join("+").to_lowercase())
            }
            Acceleration::GpuPreferred => {
                tracing::warn!(
                    model = %spec.name,
                    library = %rt.path.display(),
                    "ONNX Runtime has no TensorRT or CUDA execution provider; running on the CPU"
                );
                "onnxruntime/cpu".to_string()
            }
            Acceleration::GpuRequired => {
                return Err(InferError::GpuRequired(format!(
                    "the ONNX Runtime library {} has neither the TensorRT nor the CUDA execution \
                     provider (a CPU-only build); install a GPU build of ONNX Runtime or set \
                     runtime.gpu = \"preferred\"",
                    rt.path.display()
                )))
            }
        };
        let mut builder = Session::builder(&rt.env)
            .map_err(|e| load_err(e.to_string()))?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(|e| load_err(e.to_string()))?
            .with_intra_threads(threads)
            .map_err(|e| load_err(e.to_string()))?
            // Spinning worker threads cost throughput on small machines (measured ~8 % on 2 cores).
            .with_intra_op_spinning(false)
            .map_err(|e| load_err(e.to_string()))?
            .with_inter_op_spinning(false)
            .map_err(|e| load_err(e.to_string()))?;
        if accel != Acceleration::Cpu && !gpu.is_empty() {
            let mut eps = Vec::new();
            let required = accel == Acceleration::GpuRequired;
            if gpu.contains(&"TensorRT") {
                let mut ep = ort::ep::TensorRT::default().with_fp16(true);
                if let Some(dir) = engine_cache {
                    match std::fs::create_dir_all(dir) {
                        Ok(()) => {
                            let dir = dir.display().to_string();
                            ep = ep
                                .with_engine_cache(true)
                                .with_engine_cache_path(&dir)
                                .with_timing_cache(true)
                                .with_timing_cache_path(&dir);
                        }
                        Err(e) => tracing::warn!(
                            model = %spec.name,
                            "TensorRT engine cache {}: {e}; engines are built in memory only",
                            dir.display()
                        ),
                    }
                }
                eps.push(if required {
                    ep.build().error_on_failure()
                } else {
                    ep.build()
                });
            }
            if gpu.contains(&"CUDA") {
                let ep = ort::ep::CUDA::default();
                eps.push(if required {
                    ep.build().error_on_failure()
                } else {
                    ep.build()
                });
            }
            builder = builder
                .with_execution_providers(eps)
                .map_err(|e| load_err(e.to_string()))?;
        }
        let session = builder
            .commit_from_file(&path)
            .map_err(|e| load_err(e.to_string()))?;
        let engine = Self {
            model: spec.name.clone(),
            session,
            input_name: spec.input.name.clone(),
            backend,
        };
        engine.check_against(spec, &path)?;
        Ok(engine)
    }

    /// The model's declared input must be the manifest's, with a compatible shape.
    fn check_against(&self, spec: &ModelSpec, path: &Path) -> Result<(), InferError> {
        let mismatch = |message: String| InferError::ModelMismatch {
            model: spec.name.clone(),
            path: path.to_path_buf(),
            message,
        };
        let inputs = self.session.inputs();
        let Some(input) = inputs.iter().find(|i| i.name() == spec.input.name) else {
            let names: Vec<&str> = inputs.iter().map(|i| i.name()).collect();
            return Err(mismatch(format!(
                "it has no input `{}` (inputs: {names:?})",
                spec.input.name
            )));
        };
        if inputs.len() != 1 {
            return Err(mismatch(format!(
                "it has {} inputs, expected 1",
                inputs.len()
            )));
        }
        if let Some(shape) = input.dtype().tensor_shape() {
            let want = spec.input.shape();
            let dims: Vec<i64> = shape.iter().copied().collect();
            let ok = dims.len() == want.len()
                && dims
                    .iter()
                    .zip(want)
                    .all(|(d, w)| *d < 0 || *d as usize == w);
            if !ok {
                return Err(mismatch(format!(
                    "input `{}` has shape {dims:?}, the manifest says {want:?}",
                    spec.input.name
                )));
            }
        }
        if self.session.outputs().is_empty() {
            return Err(mismatch("it has no outputs".into()));
        }
        Ok(())
    }

    /// Names of the model's outputs, in order.
    pub fn output_names(&self) -> Vec<String> {
        self.session
            .outputs()
            .iter()
            .map(|o| o.name().to_string())
            .collect()
    }
}

impl Engine for OrtEngine {
    fn backend(&self) -> &str {
        &self.backend
    }

    fn run(
        &mut self,
        input: TensorView<'_>,
        outputs: &mut Vec<OutputTensor>,
    ) -> Result<(), InferError> {
        let model = &self.model;
        let run_err = |message: String| InferError::Run {
            model: model.clone(),
            message,
        };
        if input.shape.iter().product::<usize>() != input.data.len() {
            return Err(run_err(format!(
                "input of {} values does not fill shape {:?}",
                input.data.len(),
                input.shape
            )));
        }
        let tensor = TensorRef::from_array_view((input.shape.to_vec(), input.data))
            .map_err(|e| run_err(format!("cannot wrap the input tensor: {e}")))?;
        let results = self
            .session
            .run(ort::inputs![self.input_name.as_str() => tensor])
            .map_err(|e| run_err(e.to_string()))?;
        outputs.resize_with(results.len(), OutputTensor::default);
        for (slot, (name, value)) in outputs.iter_mut().zip(results.iter()) {
            let (shape, data) = value
                .try_extract_tensor::<f32>()
                .map_err(|e| run_err(format!("output `{name}` is not an f32 tensor: {e}")))?;
            if slot.name != name {
                slot.name.clear();
                slot.name.push_str(name);
            }
            slot.shape.clear();
            slot.shape
                .extend(shape.iter().map(|d| (*d).max(0) as usize));
            slot.data.clear();
            slot.data.extend_from_slice(data);
        }
        Ok(())
    }
}
