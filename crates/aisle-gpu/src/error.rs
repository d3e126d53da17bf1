//! Errors of the GPU host side. Each names what failed (library, NVRTC call, source name, arch)
//! and, where there is one, the fix.

use std::path::PathBuf;

/// File name of the NVRTC library that the CUDA 12.x bindings load.
pub const NVRTC_LIB: &str = "libnvrtc.so.12";
/// File name of the CUDA driver library.
pub const CUDA_DRIVER_LIB: &str = "libcuda.so.1";

/// How to make NVRTC loadable; part of every "NVRTC missing" message.
pub const NVRTC_FIX: &str = "install the CUDA 12.6 NVRTC (JetPack 6: the cuda-nvrtc-12-6 package; \
     on a development machine or CI: `scripts/setup.sh --venv`, which pins the \
     nvidia-cuda-nvrtc-cu12==12.6.85 wheel) or set LD_LIBRARY_PATH to the directory holding \
     libnvrtc.so.12 before the process starts";

/// Everything that can go wrong on the GPU host side.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    /// `libnvrtc.so.12` could not be loaded.
    #[error("{NVRTC_LIB} not found: {NVRTC_FIX}")]
    NvrtcMissing,

    /// NVRTC loaded but lacks a function this crate calls (an NVRTC older than CUDA 11.1).
    #[error("the loaded NVRTC has no `{symbol}`: it is too old; {NVRTC_FIX}")]
    NvrtcSymbolMissing {
        /// The missing C symbol.
        symbol: &'static str,
    },

    /// An NVRTC call other than the compilation itself failed.
    #[error("NVRTC {call} failed for `{name}`: {error}")]
    Nvrtc {
        /// The NVRTC function.
        call: &'static str,
        /// Source name given to [`compile()`](crate::compile()).
        name: String,
        /// NVRTC's result code.
        error: String,
    },

    /// NVRTC rejected the source or options; `log` is NVRTC's program log.
    #[error("NVRTC could not compile `{name}` for {arch}:\n{log}")]
    Compile {
        /// Source name given to [`compile()`](crate::compile()) (appears in the log's diagnostics).
        name: String,
        /// Target architecture (`sm_87`, `compute_87`, ...).
        arch: String,
        /// NVRTC's program log (compiler diagnostics).
        log: String,
    },

    /// The architecture string is not `sm_XY` / `compute_XY`.
    #[error("bad GPU architecture `{arch}`: expected sm_XY (CUBIN + PTX, e.g. sm_87 for Orin, sm_72 for Xavier) or compute_XY (PTX only)")]
    InvalidArch {
        /// What was given.
        arch: String,
    },

    /// The source, its name or an option contains a NUL byte.
    #[error("`{name}`: {what} contains a NUL byte")]
    NulByte {
        /// Source name.
        name: String,
        /// "source", "name" or "option `...`".
        what: String,
    },

    /// The CUDA driver library could not be loaded.
    #[error("{CUDA_DRIVER_LIB} not found: no NVIDIA driver here (on Jetson it comes with JetPack / L4T)")]
    DriverMissing,

    /// A CUDA driver call failed.
    #[error("CUDA driver {call} failed: {error}")]
    Driver {
        /// The driver function.
        call: &'static str,
        /// The CUDA error name (e.g. `CUDA_ERROR_NO_DEVICE`).
        error: String,
    },

    /// [`Gpu::new`](crate::Gpu::new) was called while [`probe()`](crate::probe()) is not `Ready`.
    #[error("GPU not usable: {0}")]
    NotReady(String),

    /// A kernel build cannot be loaded on the device.
    #[error("kernel `{name}` ({arch}) cannot be loaded on a device of compute capability {major}.{minor}: compile it for sm_{major}{minor}")]
    ArchMismatch {
        /// Source name of the build.
        name: String,
        /// The build's architecture.
        arch: String,
        /// Device compute capability, major.
        major: i32,
        /// Device compute capability, minor.
        minor: i32,
    },

    /// An NV12 frame's size, pitches or planes are unusable.
    #[error("NV12 frame {width}x{height}: {detail}")]
    InvalidFrame {
        /// Frame width.
        width: u32,
        /// Frame height.
        height: u32,
        /// What is wrong.
        detail: String,
    },

    /// Preprocessing cannot run: the frame, the model input or the output buffer is unusable.
    #[error("preprocessing a {frame_w}x{frame_h} frame into a {input_w}x{input_h} model input: {detail}")]
    PreprocessInput {
        /// Frame width.
        frame_w: u32,
        /// Frame height.
        frame_h: u32,
        /// Model input width.
        input_w: u32,
        /// Model input height.
        input_h: u32,
        /// What is wrong.
        detail: String,
    },

    /// A CUDA call made while preprocessing failed.
    #[error("preprocessing a {frame_w}x{frame_h} frame into a {input_w}x{input_h} model input: CUDA {call} failed: {error}")]
    PreprocessCuda {
        /// The driver call (and what it was for).
        call: &'static str,
        /// Frame width.
        frame_w: u32,
        /// Frame height.
        frame_h: u32,
        /// Model input width.
        input_w: u32,
        /// Model input height.
        input_h: u32,
        /// The CUDA error name (e.g. `CUDA_ERROR_OUT_OF_MEMORY`).
        error: String,
    },

    /// A kernel cache file could not be read or written (only for explicit cache operations;
    /// [`KernelCache::get_or_compile`](crate::KernelCache::get_or_compile) degrades to a warning).
    #[error("kernel cache {path}: {source}")]
    CacheIo {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}
