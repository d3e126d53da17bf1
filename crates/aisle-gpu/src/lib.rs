//! Aisle's GPU host side: the CUDA driver and NVRTC loaded at run time through
//! [cudarc](https://docs.rs/cudarc) (`dynamic-loading`), so this crate builds and its tests run on
//! machines without CUDA.
//!
//! - [`probe()`]: what the GPU path can do here ([`GpuStatus`]), with the fix for what is missing.
//!   Never panics, also without `libcuda`/`libnvrtc` (cudarc would: see `src/loader.rs`).
//! - [`compile()`]: NVRTC compilation of a `.cu` source to PTX + CUBIN for an architecture
//!   (`sm_87` Orin, `sm_72` Xavier), with the per-kernel registers and spills of `ptxas -v`
//!   ([`KernelResources`]). No GPU needed. Always `--fmad=false` ([`BASE_OPTIONS`]): the kernels
//!   are bit-exact with the CPU reference.
//! - [`KernelCache`]: builds stored under a state directory, keyed by architecture, NVRTC version
//!   and source hash; a read-only directory degrades to in-memory compilation with a warning.
//! - [`Gpu`]: a context and stream, created only when [`probe()`] is ready.
//! - [`GpuPreprocessor`]: NV12 frame -> model tensor with the `nv12_to_tensor` kernel, bit-exact
//!   with `aisle-vision`'s CPU reference: frames in host memory ([`HostNv12`], through reused
//!   pinned staging) or already on the device ([`DeviceNv12`], pitch-linear planes as NVDEC
//!   hands them over), device buffers from a bounded [`BufferPool`]. `aisle-vision`'s
//!   `GpuPreprocess` puts it behind the `Preprocessor` trait.
//!
//! GPU tests and the throughput benchmark are `#[ignore]`d (`tests/gpu_device.rs`); on a GPU
//! machine `make test-gpu` runs them.
//!
//! The NVRTC library is found by name (`libnvrtc.so.12`) through the dynamic loader: on Jetson
//! it is JetPack's; in development and CI the `nvidia-cuda-nvrtc-cu12==12.6.85` wheel of the
//! project venv (`scripts/setup.sh`), put on `LD_LIBRARY_PATH` by `make test`.

/// The cudarc this crate is built on (device slices, raw device pointers for [`DeviceNv12`]).
pub use cudarc;

pub mod cache;
pub mod compile;
pub mod context;
pub mod error;
pub(crate) mod loader;
pub mod pool;
pub mod preprocess;
pub mod probe;

pub use cache::{CachedBuild, KernelCache};
pub use compile::{
    compile, extern_c_kernels, nvrtc_version, parse_ptxas_log, KernelBuild, KernelResources,
    BASE_OPTIONS,
};
pub use context::Gpu;
pub use error::GpuError;
pub use pool::{BufferPool, PoolStats};
pub use preprocess::{
    geometry, Color, CropSpec, DeviceNv12, Geometry, GpuPreprocessor, HostNv12, Layout, Resize,
    TensorElement, TensorSpec, MAX_CROPS,
};
pub use probe::{probe, DeviceInfo, GpuStatus};

/// Threads per block the preprocessing kernels are launched with.
pub const BLOCK_THREADS: u32 = 256;

/// Most registers per thread a preprocessing kernel may use (checked for sm_87 and sm_72 by
/// `tests/nvrtc_build.rs`).
///
/// Both Orin (sm_87) and Xavier (sm_72) have 64 K 32-bit registers per SM. At 64 registers a
/// 256-thread block takes 16 K registers, so 4 blocks (1024 threads, 32 warps) stay resident per
/// SM: 2/3 of Orin's 48-warp limit and 1/2 of Xavier's 64. The kernels are memory-bound
/// (gather from NV12, write a float tensor), and 32 resident warps hide the memory latency;
/// above 64 registers residency drops to 3 blocks and below, and a spill to local memory costs
/// more than the registers it saves.
pub const REGISTER_BUDGET: u32 = 64;

/// `kernels/preprocess.cu`: NV12 frame -> model tensor (`nv12_to_tensor`) and batched
/// crop-and-resize (`crop_resize_batch`), bit-exact with `aisle-vision`'s CPU reference.
pub const PREPROCESS_CU: &str = include_str!("../kernels/preprocess.cu");

/// The CUDA sources of the crate's kernels, as (file name, source); each is compiled by
/// `tests/nvrtc_build.rs` for every architecture in [`TARGET_ARCHES`] and checked against
/// [`REGISTER_BUDGET`].
pub const KERNEL_SOURCES: &[(&str, &str)] = &[("preprocess.cu", PREPROCESS_CU)];

/// The architectures whose register and spill budget CI checks: Orin (sm_87, JetPack 6, CUDA
/// 12.6: the target) and Xavier (sm_72). Xavier's JetPack 5 ships CUDA 11.4, whose driver cannot
/// load what NVRTC 12.6 emits: there the kernels must be compiled by the device's own NVRTC
/// (which [`KernelCache`] does), and this check only keeps them within budget on Volta.
pub const TARGET_ARCHES: &[&str] = &["sm_87", "sm_72"];
