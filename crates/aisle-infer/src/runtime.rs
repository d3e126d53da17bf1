//! Finding and loading the ONNX Runtime shared library (`libonnxruntime.so`) at run time.
//!
//! Nothing of ONNX Runtime is linked at build time (`ort`'s `load-dynamic`): the library is
//! chosen by the config (`runtime.ort_library`), `ORT_DYLIB_PATH`, or the cache default that
//! `scripts/setup.sh` fills from the pinned `onnxruntime` PyPI wheel. A process loads one
//! library once; every error says which path was tried, where that path came from, and what
//! to run.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use crate::engine::InferError;

/// The ONNX Runtime API level this build needs (ONNX Runtime 1.20 or newer).
pub const MIN_ORT_MINOR: u32 = 20;

/// The loaded ONNX Runtime: its path, build description and environment.
#[derive(Debug)]
pub struct OrtRuntime {
    pub path: PathBuf,
    /// `ort::info()`: git branch and build flags of the library.
    pub build_info: String,
    /// The version, when the library's real file name carries it (`libonnxruntime.so.1.31.1`).
    pub version: Option<String>,
    pub(crate) env: ort::environment::Environment,
}

static LOADED: OnceLock<OrtRuntime> = OnceLock::new();
static LOADING: Mutex<()> = Mutex::new(());

/// What to tell a user whose ONNX Runtime library is missing or unusable.
pub fn ort_fix_hint() -> String {
    format!(
        "run `scripts/setup.sh` (installs ONNX Runtime from the pinned onnxruntime wheel into \
         $AISLE_CACHE/lib), or point ORT_DYLIB_PATH / runtime.ort_library at a \
         libonnxruntime.so of version 1.{MIN_ORT_MINOR} or newer"
    )
}

/// Loads ONNX Runtime from `path` (once per process) and returns it.
///
/// `origin` says where `path` came from, for error messages. Loading a second, different
/// path in the same process is an error rather than a silent no-op.
pub fn load_onnxruntime(path: &Path, origin: &str) -> Result<&'static OrtRuntime, InferError> {
    let _guard = LOADING.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(rt) = LOADED.get() {
        if rt.path == path {
            return Ok(rt);
        }
        return Err(InferError::Library {
            path: path.to_path_buf(),
            origin: origin.to_string(),
            message: format!(
                "ONNX Runtime is already loaded from {} in this process",
                rt.path.display()
            ),
        });
    }
    let fail = |message: String| InferError::Library {
        path: path.to_path_buf(),
        origin: origin.to_string(),
        message: format!("{message}; {}", ort_fix_hint()),
    };
    match std::fs::metadata(path) {
        Err(e) => return Err(fail(format!("cannot use it: {e}"))),
        Ok(m) if !m.is_file() => return Err(fail("it is not a file".into())),
        Ok(_) => {}
    }
    let builder = ort::init_from(path).map_err(|e| fail(e.to_string()))?;
    let env = builder
        .with_name("aisle")
        .build()
        .map_err(|e| fail(format!("creating the ONNX Runtime environment failed: {e}")))?;
    let rt = OrtRuntime {
        path: path.to_path_buf(),
        build_info: ort::info().to_string(),
        version: version_from_file_name(path),
        env,
    };
    tracing::info!(path = %path.display(), info = %rt.build_info, "loaded ONNX Runtime");
    Ok(LOADED.get_or_init(|| rt))
}

/// `1.31.1` from a path that resolves to `.../libonnxruntime.so.1.31.1`.
fn version_from_file_name(path: &Path) -> Option<String> {
    let real = std::fs::canonicalize(path).ok()?;
    let name = real.file_name()?.to_str()?;
    let v = name.strip_prefix("libonnxruntime.so.")?;
    (v.split('.').count() == 3 && v.split('.').all(|p| p.parse::<u32>().is_ok()))
        .then(|| v.to_string())
}

/// Execution providers that the loaded library was built with, of those Aisle can use.
pub fn available_gpu_providers() -> Vec<&'static str> {
    use ort::ep::ExecutionProvider;
    let mut out = Vec::new();
    if ort::ep::TensorRT::is_available().unwrap_or(false) {
        out.push("TensorRT");
    }
    if ort::ep::CUDA::is_available().unwrap_or(false) {
        out.push("CUDA");
    }
    out
}
