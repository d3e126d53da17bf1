//! [`GpuPreprocessor`]: NV12 frame -> model input tensor on the device, with the `nv12_to_tensor`
//! kernel of `kernels/preprocess.cu` (bit-exact with `aisle-vision`'s CPU reference), and many
//! boxes of one frame -> one batch tensor with `crop_resize_batch` (person and face crops).
//!
//! Entry points (each `*_crops_*` twin does the same for a batch of boxes, [`CropSpec`]):
//! - [`GpuPreprocessor::run_host`]: a frame decoded on the CPU ([`HostNv12`]). Its rows are
//!   packed into a reused pinned (page-locked) staging buffer, copied to a pooled device buffer,
//!   preprocessed into a pooled device tensor, and copied back through a second pinned buffer
//!   into the caller's slice.
//! - [`GpuPreprocessor::run_device`]: a frame already on the device ([`DeviceNv12`]: pitch-linear
//!   Y and UV planes, as NVDEC hands them over): no upload.
//!   [`GpuPreprocessor::enqueue_device`] leaves the tensor on the device for an engine that
//!   reads device memory.
//!
//! The host path is the device path after an upload: both launch the kernel through one
//! function with the same geometry.
//!
//! **Geometry.** [`geometry()`] is the CPU reference's `geometry()` (`aisle-vision`'s
//! `preprocess.rs`, step 2 of its module docs) restated over this crate's [`TensorSpec`], so
//! that this crate does not depend on `aisle-vision` (which depends on it). The two are held
//! equal by `tests/host_side.rs` over thousands of frame and input sizes.
//!
//! **Memory.** Device buffers come from two [`BufferPool`]s (frames, tensors) bounded by
//! [`POOL_MAX_BUFFERS`] and [`POOL_MAX_BYTES`] each; in steady state (one frame size, one model)
//! a frame costs no allocation. The pinned staging buffers grow to the largest frame and tensor
//! seen and are kept: pinned memory is expensive to allocate (`cuMemHostAlloc` maps and locks
//! pages) and is what lets the copies run at full DMA speed. The upload buffer is write-combined
//! (the CPU only writes it); the download buffer is not (the CPU reads it, and reads from
//! write-combined memory are uncached).
//!
//! **Output.** RGB, BGR or gray channels ([`Color`]), NCHW or NHWC, `f32` or `half::f16`
//! ([`TensorElement`]: the element type of the output slice picks the kernel's `dtype`). f16
//! values are the f32 results rounded to nearest, ties to even (for engines with half-precision
//! inputs).
//!
//! Every call on the host path and [`run_device`](GpuPreprocessor::run_device) returns after
//! the stream has finished its work, so the frame and the caller's slice are free again.

use std::sync::Arc;

use cudarc::driver::sys::CUdeviceptr;
use cudarc::driver::{
    CudaFunction, CudaSlice, CudaView, DeviceRepr, DeviceSlice, DriverError, LaunchConfig,
    PinnedHostSlice, PushKernelArg, ValidAsZeroBits,
};

use crate::pool::{BufferPool, PoolStats};
use crate::{Gpu, GpuError, KernelCache, PREPROCESS_CU};

/// Most free buffers each pool (frames, tensors) keeps.
pub const POOL_MAX_BUFFERS: usize = 4;
/// Most bytes of free buffers each pool keeps: four 1080p frames (3.1 MB each) or four 640x640
/// tensors (4.9 MB each) fit, so a few cameras and models never reallocate; on a Jetson the
/// device memory is the system's, so the pools stay small.
pub const POOL_MAX_BYTES: usize = 64 << 20;
/// Largest frame or model input side accepted, in pixels (the kernel indexes with `int`).
pub const MAX_SIDE: u32 = 16384;
/// Block shape of the launches (`BLOCK_THREADS` = 16 x 16); see kernels/README.md.
pub const BLOCK: (u32, u32) = (16, 16);

/// Most boxes one crop call takes.
pub const MAX_CROPS: usize = 4096;

/// Order of the tensor's dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `[n, c, h, w]`.
    Nchw,
    /// `[n, h, w, c]`.
    Nhwc,
}

/// How the frame is fitted to the model input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resize {
    /// Scaled to the whole input, aspect ratio not kept.
    Stretch,
    /// Scaled to fit, centred, the rest filled with the pad colour.
    Letterbox,
}

/// Colours of the tensor's channels (the manifest's `input.color`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Color {
    /// Three channels, red first.
    Rgb,
    /// Three channels, blue first; `mean`, `std` and `pad` stay per output channel.
    Bgr,
    /// One channel: OpenCV's `COLOR_RGB2GRAY` of each tap's RGB; `mean[0]`, `std[0]`, `pad[0]`.
    Gray,
}

impl Color {
    /// Channels of the tensor: 3, or 1 for gray.
    pub fn channels(self) -> usize {
        match self {
            Color::Rgb | Color::Bgr => 3,
            Color::Gray => 1,
        }
    }

    /// The kernels' `color` argument (`AISLE_COLOR_*`).
    fn flag(self) -> i32 {
        match self {
            Color::Rgb => 0,
            Color::Bgr => 1,
            Color::Gray => 2,
        }
    }
}

impl Layout {
    /// The kernels' `layout` argument (`AISLE_LAYOUT_*`).
    fn flag(self) -> i32 {
        match self {
            Layout::Nchw => 0,
            Layout::Nhwc => 1,
        }
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for half::f16 {}
}

/// An element type the kernels write: `f32` or `half::f16` (sealed: any bit pattern of either is
/// a valid value, which the copies back rely on).
pub trait TensorElement:
    sealed::Sealed + DeviceRepr + ValidAsZeroBits + Copy + Default + Unpin + Send + Sync + 'static
{
    /// The kernels' `dtype` argument (`AISLE_DTYPE_*`).
    const DTYPE: i32;
}

impl TensorElement for f32 {
    const DTYPE: i32 = 0;
}

impl TensorElement for half::f16 {
    const DTYPE: i32 = 1;
}

/// A model input as the kernel sees it (`aisle_infer::InputSpec` without the names and dtype).
#[derive(Debug, Clone, PartialEq)]
pub struct TensorSpec {
    /// Input width in pixels.
    pub width: u32,
    /// Input height in pixels.
    pub height: u32,
    /// NCHW or NHWC.
    pub layout: Layout,
    /// Stretch or letterbox.
    pub resize: Resize,
    /// RGB, BGR or gray.
    pub color: Color,
    /// Per output channel: `out = (value - mean) / std`, values 0..=255.
    pub mean: [f32; 3],
    /// Per output channel.
    pub std: [f32; 3],
    /// Letterbox colour per output channel, 0..=255.
    pub pad: [u8; 3],
}

impl TensorSpec {
    /// Number of values in the tensor: `channels * width * height`.
    pub fn len(&self) -> usize {
        self.color.channels() * self.width as usize * self.height as usize
    }

    /// `true` when the input has no pixels.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A batch of crops (`crop_resize_batch`): every box `(x1, y1, x2, y2)` in frame pixels is
/// stretched to `width x height`; the CPU reference is `aisle_vision`'s `CpuPreprocessor::crops`.
#[derive(Debug, Clone, PartialEq)]
pub struct CropSpec {
    /// Crop width in pixels.
    pub width: u32,
    /// Crop height in pixels.
    pub height: u32,
    /// `[n, c, h, w]` or `[n, h, w, c]`.
    pub layout: Layout,
    /// RGB, BGR or gray.
    pub color: Color,
    /// Per output channel: `out = (value - mean) / std`, values 0..=255.
    pub mean: [f32; 3],
    /// Per output channel.
    pub std: [f32; 3],
}

impl CropSpec {
    /// Values of one batch item: `channels * width * height`.
    pub fn item_len(&self) -> usize {
        self.color.channels() * self.width as usize * self.height as usize
    }
}

/// The content region of the model input and the frame pixels per content pixel; see
/// kernels/README.md.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Geometry {
    /// Left padding of the content region, in model-input pixels.
    pub px: usize,
    /// Top padding.
    pub py: usize,
    /// Content width in model-input pixels.
    pub cw: usize,
    /// Content height.
    pub ch: usize,
    /// Frame pixels per content pixel, horizontally.
    pub sx: f32,
    /// Vertically.
    pub sy: f32,
}

/// The geometry of a `frame_w x frame_h` frame in the model input `spec`: exactly the CPU
/// reference's `aisle_vision::preprocess::geometry` (same f32 operations in the same order).
pub fn geometry(frame_w: usize, frame_h: usize, spec: &TensorSpec) -> Geometry {
    let (w, h) = (spec.width as usize, spec.height as usize);
    let (fw, fh) = (frame_w as f32, frame_h as f32);
    match spec.resize {
        Resize::Stretch => Geometry {
            px: 0,
            py: 0,
            cw: w,
            ch: h,
            sx: fw / w as f32,
            sy: fh / h as f32,
        },
        Resize::Letterbox => {
            let s = (w as f32 / fw).min(h as f32 / fh);
            let cw = ((fw * s).round() as usize).clamp(1, w);
            let ch = ((fh * s).round() as usize).clamp(1, h);
            Geometry {
                px: (w - cw) / 2,
                py: (h - ch) / 2,
                cw,
                ch,
                sx: fw / cw as f32,
                sy: fh / ch as f32,
            }
        }
    }
}

/// The launch configuration of `nv12_to_tensor` for a `w x h` output: [`BLOCK`] blocks covering
/// it.
pub fn launch_config(out_w: u32, out_h: u32) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (out_w.div_ceil(BLOCK.0), out_h.div_ceil(BLOCK.1), 1),
        block_dim: (BLOCK.0, BLOCK.1, 1),
        shared_mem_bytes: 0,
    }
}

/// Bytes of a `w x h` NV12 frame with packed rows: `w * h` luma, `2 * ceil(w / 2) * ceil(h / 2)`
/// chroma.
pub fn nv12_packed_len(width: u32, height: u32) -> usize {
    let (w, h) = (width as usize, height as usize);
    w * h + 2 * w.div_ceil(2) * h.div_ceil(2)
}

/// An NV12 frame in host memory: `y` holds `height` rows of `width` luma bytes, `y_pitch` bytes
/// apart; `uv` holds `ceil(height / 2)` rows of `ceil(width / 2)` interleaved (U, V) pairs,
/// `uv_pitch` bytes apart (as `aisle_types::Nv12Frame`).
#[derive(Debug, Clone, Copy)]
pub struct HostNv12<'a> {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Luma plane.
    pub y: &'a [u8],
    /// Bytes from one luma row to the next.
    pub y_pitch: usize,
    /// Interleaved chroma plane.
    pub uv: &'a [u8],
    /// Bytes from one chroma row to the next.
    pub uv_pitch: usize,
}

/// One plane of a [`DeviceNv12`].
#[derive(Debug)]
enum Plane<'a> {
    /// A cudarc view (its length is known and checked).
    View(CudaView<'a, u8>),
    /// A raw device pointer (NVDEC's mapped surface); validity is the caller's promise.
    Raw(CUdeviceptr),
}

/// An NV12 frame in device memory: pitch-linear Y and UV planes (the layout NVDEC's
/// `cuvidMapVideoFrame` hands over: Y at `ptr`, UV at `ptr + pitch * surface_height`, both with
/// the surface pitch). Plane sizes follow [`HostNv12`].
#[derive(Debug)]
pub struct DeviceNv12<'a> {
    width: u32,
    height: u32,
    y: Plane<'a>,
    y_pitch: usize,
    uv: Plane<'a>,
    uv_pitch: usize,
}

impl<'a> DeviceNv12<'a> {
    /// A frame over two cudarc views (e.g. `slice.as_view()` or `slice.slice(a..b)` of one
    /// allocation).
    ///
    /// # Errors
    /// [`GpuError::InvalidFrame`] when the size is empty or too large or a view is too short
    /// for its plane.
    pub fn new(
        width: u32,
        height: u32,
        y: CudaView<'a, u8>,
        y_pitch: usize,
        uv: CudaView<'a, u8>,
        uv_pitch: usize,
    ) -> Result<DeviceNv12<'a>, GpuError> {
        check_planes(
            width,
            height,
            Some(y.len()),
            y_pitch,
            Some(uv.len()),
            uv_pitch,
        )
        .map_err(|detail| frame_error(width, height, detail))?;
        Ok(DeviceNv12 {
            width,
            height,
            y: Plane::View(y),
            y_pitch,
            uv: Plane::View(uv),
            uv_pitch,
        })
    }

    /// A frame over raw device pointers, e.g. a surface mapped by NVDEC.
    ///
    /// # Safety
    /// Until the work enqueued with this frame has finished (every `GpuPreprocessor::run_*`
    /// call except [`GpuPreprocessor::enqueue_device`] waits for that before returning):
    /// 1. `y` and `uv` are device addresses in the context of the [`Gpu`] the frame is given to,
    ///    readable for `y_pitch * (height - 1) + width` and
    ///    `uv_pitch * (ceil(height / 2) - 1) + 2 * ceil(width / 2)` bytes respectively;
    /// 2. nothing writes or frees that memory (e.g. the NVDEC surface stays mapped).
    ///
    /// # Errors
    /// [`GpuError::InvalidFrame`] when the size is empty or too large or a pitch is shorter
    /// than its row.
    pub unsafe fn from_raw(
        width: u32,
        height: u32,
        y: CUdeviceptr,
        y_pitch: usize,
        uv: CUdeviceptr,
        uv_pitch: usize,
    ) -> Result<DeviceNv12<'a>, GpuError> {
        check_planes(width, height, None, y_pitch, None, uv_pitch)
            .map_err(|detail| frame_error(width, height, detail))?;
        Ok(DeviceNv12 {
            width,
            height,
            y: Plane::Raw(y),
            y_pitch,
            uv: Plane::Raw(uv),
            uv_pitch,
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }
}

fn frame_error(width: u32, height: u32, detail: String) -> GpuError {
    GpuError::InvalidFrame {
        width,
        height,
        detail,
    }
}

/// The checks of `Nv12Frame::validate`, plus the kernel's `int` range. `None` lengths (raw
/// pointers) skip the length checks.
fn check_planes(
    width: u32,
    height: u32,
    y_len: Option<usize>,
    y_pitch: usize,
    uv_len: Option<usize>,
    uv_pitch: usize,
) -> Result<(), String> {
    if width == 0 || height == 0 {
        return Err(format!("the frame has an empty size {width}x{height}"));
    }
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(format!(
            "the frame is larger than {MAX_SIDE} pixels on a side"
        ));
    }
    let (w, h) = (width as usize, height as usize);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    if y_pitch < w || y_pitch > i32::MAX as usize {
        return Err(format!(
            "luma pitch {y_pitch} is not within {w}..={}",
            i32::MAX
        ));
    }
    if uv_pitch < 2 * cw || uv_pitch > i32::MAX as usize {
        return Err(format!(
            "chroma pitch {uv_pitch} is not within {}..={}",
            2 * cw,
            i32::MAX
        ));
    }
    if let Some(len) = y_len {
        if len < y_pitch * (h - 1) + w {
            return Err(format!(
                "luma plane of {len} bytes with pitch {y_pitch} cannot hold {w}x{h}"
            ));
        }
    }
    if let Some(len) = uv_len {
        if len < uv_pitch * (ch - 1) + 2 * cw {
            return Err(format!(
                "chroma plane of {len} bytes with pitch {uv_pitch} cannot hold {cw}x{ch} UV pairs"
            ));
        }
    }
    Ok(())
}

/// The frame and model-input sizes a call is about, for its errors.
#[derive(Debug, Clone, Copy)]
struct Job {
    frame: (u32, u32),
    input: (u32, u32),
}

impl Job {
    fn new(width: u32, height: u32, input: (u32, u32)) -> Self {
        Self {
            frame: (width, height),
            input,
        }
    }

    fn input_error(self, detail: impl Into<String>) -> GpuError {
        GpuError::PreprocessInput {
            frame_w: self.frame.0,
            frame_h: self.frame.1,
            input_w: self.input.0,
            input_h: self.input.1,
            detail: detail.into(),
        }
    }

    fn cuda(self, call: &'static str) -> impl Fn(DriverError) -> GpuError {
        move |e| GpuError::PreprocessCuda {
            call,
            frame_w: self.frame.0,
            frame_h: self.frame.1,
            input_w: self.input.0,
            input_h: self.input.1,
            error: format!("{:?}", e.0),
        }
    }

    /// Checks the model input or crop size.
    fn check_size(self) -> Result<(), GpuError> {
        let (w, h) = self.input;
        if w == 0 || h == 0 {
            return Err(self.input_error("the model input has an empty size"));
        }
        if w > MAX_SIDE || h > MAX_SIDE {
            return Err(self.input_error(format!(
                "the model input is larger than {MAX_SIDE} pixels on a side"
            )));
        }
        Ok(())
    }

    /// Checks the size and the output length against `want` values.
    fn check_len(self, len: usize, want: usize) -> Result<(), GpuError> {
        self.check_size()?;
        if len != want {
            return Err(self.input_error(format!(
                "output buffer holds {len} values, the model input needs {want}"
            )));
        }
        Ok(())
    }

    /// Checks a crop batch: size, box count and output length.
    fn check_crops(self, spec: &CropSpec, n_boxes: usize, len: usize) -> Result<(), GpuError> {
        self.check_size()?;
        if n_boxes > MAX_CROPS {
            return Err(self.input_error(format!(
                "{n_boxes} boxes in one call, more than {MAX_CROPS}"
            )));
        }
        let want = n_boxes * spec.item_len();
        if len != want {
            return Err(self.input_error(format!(
                "output buffer holds {len} values, {n_boxes} crops need {want}"
            )));
        }
        Ok(())
    }
}

/// The frame arguments every kernel starts with (`y_plane, y_pitch, uv_plane, uv_pitch,
/// frame_w, frame_h`), their integers checked to fit an `int`.
struct FrameArgs<'f, 'a> {
    frame: &'f DeviceNv12<'a>,
    ints: [i32; 4],
}

impl<'f, 'a> FrameArgs<'f, 'a> {
    fn new(frame: &'f DeviceNv12<'a>, job: Job) -> Result<Self, GpuError> {
        let int = |v: usize| i32::try_from(v).map_err(|_| job.input_error("size exceeds int"));
        Ok(Self {
            frame,
            ints: [
                int(frame.y_pitch)?,
                int(frame.uv_pitch)?,
                int(frame.width as usize)?,
                int(frame.height as usize)?,
            ],
        })
    }

    /// Pushes them, in the kernels' order.
    fn push<'b>(&'b self, args: &mut cudarc::driver::LaunchArgs<'b>) {
        let [y_pitch, uv_pitch, w, h] = &self.ints;
        match &self.frame.y {
            Plane::View(v) => args.arg(v),
            Plane::Raw(p) => args.arg(p),
        };
        args.arg(y_pitch);
        match &self.frame.uv {
            Plane::View(v) => args.arg(v),
            Plane::Raw(p) => args.arg(p),
        };
        args.arg(uv_pitch).arg(w).arg(h);
    }
}

/// Pinned host memory that grows to the largest request and is kept.
#[derive(Debug)]
struct Staging<T> {
    buffer: Option<PinnedHostSlice<T>>,
    /// `cuMemHostAlloc` flags.
    flags: u32,
}

impl<T: cudarc::driver::DeviceRepr + cudarc::driver::ValidAsZeroBits> Staging<T> {
    fn new(flags: u32) -> Staging<T> {
        Staging {
            buffer: None,
            flags,
        }
    }

    /// The first `len` elements, after growing the buffer (zero-filled) when it is shorter.
    fn prefix_mut(&mut self, gpu: &Gpu, len: usize) -> Result<&mut [T], DriverError> {
        if self.buffer.as_ref().is_none_or(|b| b.len() < len) {
            self.buffer = None; // free the old one first
                                // SAFETY: the memory is uninitialised after this call; it is zero-filled below
                                // before any reference to it is formed.
            let mut fresh = unsafe { gpu.context().alloc_pinned_with_flags::<T>(len, self.flags) }?;
            let ptr = fresh.as_mut_ptr()?;
            // SAFETY: `ptr` is the start of the `len` elements just allocated (aligned, not
            // aliased); all-zero bits are a valid `T` (`ValidAsZeroBits`).
            unsafe { std::ptr::write_bytes(ptr, 0, len) };
            self.buffer = Some(fresh);
        }
        let Some(buffer) = self.buffer.as_mut() else {
            unreachable!("allocated above");
        };
        Ok(&mut buffer.as_mut_slice()?[..len])
    }

    fn capacity(&self) -> usize {
        self.buffer.as_ref().map_or(0, PinnedHostSlice::len)
    }
}

/// NV12 -> model tensor on the GPU; see the module documentation.
pub struct GpuPreprocessor {
    gpu: Arc<Gpu>,
    kernel: CudaFunction,
    crop_kernel: CudaFunction,
    frames: BufferPool<CudaSlice<u8>>,
    /// Output tensors of the copying entry points, as bytes (f32 or f16).
    tensors: BufferPool<CudaSlice<u8>>,
    /// Boxes of crop calls, grown to the largest batch and kept.
    boxes: Option<CudaSlice<f32>>,
    upload: Staging<u8>,
    download: Staging<u8>,
}

impl std::fmt::Debug for GpuPreprocessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuPreprocessor")
            .field("device", &self.gpu.device().name)
            .field("frame_pool", &self.frames.stats())
            .field("tensor_pool", &self.tensors.stats())
            .finish_non_exhaustive()
    }
}

/// The view of `out` as bytes, for copying device results into it.
fn as_bytes_mut<T: TensorElement>(out: &mut [T]) -> &mut [u8] {
    // SAFETY: `T` is f32 or f16 (sealed): no padding, every bit pattern valid, and the byte
    // slice covers exactly the memory of `out`, which it borrows mutably.
    unsafe { std::slice::from_raw_parts_mut(out.as_mut_ptr().cast::<u8>(), size_of_val(out)) }
}

impl GpuPreprocessor {
    /// Opens the GPU ([`Gpu::new`]) and loads the kernels (compiled by NVRTC for this device, or
    /// taken from `cache`).
    ///
    /// # Errors
    /// [`GpuError::NotReady`] with [`probe()`](crate::probe())'s message (what is missing and the
    /// fix) on a machine without a usable GPU; NVRTC and driver errors otherwise.
    pub fn new(cache: &KernelCache) -> Result<GpuPreprocessor, GpuError> {
        GpuPreprocessor::with_gpu(Arc::new(Gpu::new()?), cache)
    }

    /// As [`new`](Self::new) on an open [`Gpu`] (shared with other users of the device).
    ///
    /// # Errors
    /// NVRTC errors ([`GpuError::Compile`], ...) and driver errors (loading the module, finding
    /// the kernels).
    pub fn with_gpu(gpu: Arc<Gpu>, cache: &KernelCache) -> Result<GpuPreprocessor, GpuError> {
        let cached = cache.get_or_compile(PREPROCESS_CU, "preprocess.cu", &gpu.arch(), &[])?;
        if let Some(warning) = &cached.warning {
            tracing::warn!("kernel cache {}: {warning}", cache.dir().display());
        }
        let module = gpu.load(&cached.build)?;
        let function = |name: &'static str, call: &'static str| {
            module.load_function(name).map_err(|e| GpuError::Driver {
                call,
                error: format!("{:?}", e.0),
            })
        };
        let kernel = function("nv12_to_tensor", "cuModuleGetFunction(nv12_to_tensor)")?;
        let crop_kernel = function(
            "crop_resize_batch",
            "cuModuleGetFunction(crop_resize_batch)",
        )?;
        tracing::debug!(
            "GPU preprocessor on {} ({}, kernel cache {})",
            gpu.device(),
            if cached.hit {
                "cached build"
            } else {
                "compiled"
            },
            cache.dir().display()
        );
        Ok(GpuPreprocessor {
            gpu,
            kernel,
            crop_kernel,
            frames: BufferPool::new(POOL_MAX_BUFFERS, POOL_MAX_BYTES),
            tensors: BufferPool::new(POOL_MAX_BUFFERS, POOL_MAX_BYTES),
            boxes: None,
            upload: Staging::new(cudarc::driver::sys::CU_MEMHOSTALLOC_WRITECOMBINED),
            download: Staging::new(0),
        })
    }

    /// The GPU this runs on.
    pub fn gpu(&self) -> &Arc<Gpu> {
        &self.gpu
    }

    /// Counters of the frame and tensor buffer pools.
    pub fn pool_stats(&self) -> (PoolStats, PoolStats) {
        (self.frames.stats(), self.tensors.stats())
    }

    /// Bytes of pinned staging held (upload, download).
    pub fn staging_bytes(&self) -> (usize, usize) {
        (self.upload.capacity(), self.download.capacity())
    }

    /// Preprocesses a frame in host memory into `out` (length `spec.len()`, `f32` or
    /// `half::f16`); returns the geometry used (for mapping boxes back to the frame).
    ///
    /// # Errors
    /// [`GpuError::PreprocessInput`] for an invalid frame, model input or output length;
    /// [`GpuError::PreprocessCuda`] naming the CUDA call that failed.
    pub fn run_host<T: TensorElement>(
        &mut self,
        frame: &HostNv12<'_>,
        spec: &TensorSpec,
        out: &mut [T],
    ) -> Result<Geometry, GpuError> {
        let job = Job::new(frame.width, frame.height, (spec.width, spec.height));
        job.check_len(out.len(), spec.len())?;
        self.with_upload(frame, job, |this, planes| {
            this.run_device_checked(planes, spec, out, job)
        })
    }

    /// Crops `boxes` of a frame in host memory into the batch `out` (length
    /// `boxes.len() * spec.item_len()`), as [`run_host`](Self::run_host).
    ///
    /// # Errors
    /// As [`run_host`](Self::run_host); also more than [`MAX_CROPS`] boxes.
    pub fn run_crops_host<T: TensorElement>(
        &mut self,
        frame: &HostNv12<'_>,
        boxes: &[[f32; 4]],
        spec: &CropSpec,
        out: &mut [T],
    ) -> Result<(), GpuError> {
        let job = Job::new(frame.width, frame.height, (spec.width, spec.height));
        job.check_crops(spec, boxes.len(), out.len())?;
        self.with_upload(frame, job, |this, planes| {
            this.crops_device_checked(planes, boxes, spec, out, job)
        })
    }

    /// Uploads `frame` through the pinned staging buffer into a pooled device buffer and runs
    /// `work` on it; the buffer goes back to the pool when `work` succeeded (it synchronised).
    fn with_upload<R>(
        &mut self,
        frame: &HostNv12<'_>,
        job: Job,
        work: impl FnOnce(&mut Self, &DeviceNv12<'_>) -> Result<R, GpuError>,
    ) -> Result<R, GpuError> {
        check_planes(
            frame.width,
            frame.height,
            Some(frame.y.len()),
            frame.y_pitch,
            Some(frame.uv.len()),
            frame.uv_pitch,
        )
        .map_err(|d| job.input_error(d))?;

        // Pack the rows into pinned staging: Y (pitch w), then UV (pitch 2 * ceil(w / 2)).
        let (w, h) = (frame.width as usize, frame.height as usize);
        let uv_row = 2 * w.div_ceil(2);
        let y_len = w * h;
        let total = nv12_packed_len(frame.width, frame.height);
        let staging = self
            .upload
            .prefix_mut(&self.gpu, total)
            .map_err(job.cuda("cuMemHostAlloc (upload staging)"))?;
        let (y_dst, uv_dst) = staging.split_at_mut(y_len);
        for (r, row) in y_dst.chunks_exact_mut(w).enumerate() {
            row.copy_from_slice(&frame.y[r * frame.y_pitch..][..w]);
        }
        for (r, row) in uv_dst.chunks_exact_mut(uv_row).enumerate() {
            row.copy_from_slice(&frame.uv[r * frame.uv_pitch..][..uv_row]);
        }

        let stream = self.gpu.stream().clone();
        let mut device = match self.frames.take(total) {
            Some(b) => b,
            // SAFETY: uninitialised device memory; the copy below overwrites all of it before
            // the kernel reads any.
            None => unsafe { stream.alloc::<u8>(total) }
                .map_err(job.cuda("cuMemAlloc (frame buffer)"))?,
        };
        let staged: &[u8] = match self.upload.buffer.as_ref() {
            Some(b) => &b.as_slice().map_err(job.cuda("cuEventSynchronize"))?[..total],
            None => unreachable!("allocated by prefix_mut"),
        };
        stream
            .memcpy_htod(staged, &mut device)
            .map_err(job.cuda("cuMemcpyHtoDAsync"))?;

        let result = {
            let planes = DeviceNv12 {
                width: frame.width,
                height: frame.height,
                y: Plane::View(device.slice(0..y_len)),
                y_pitch: w,
                uv: Plane::View(device.slice(y_len..total)),
                uv_pitch: uv_row,
            };
            work(self, &planes)
        };
        if result.is_ok() {
            // `work` synchronised the stream: the buffer is idle.
            drop(self.frames.put(total, device));
        } else {
            // Do not let the next call refill the staging buffer under a pending copy; the
            // buffer is dropped (cudarc frees it in stream order).
            let _ = stream.synchronize();
        }
        result
    }

    /// Preprocesses a frame in device memory into `out` (length `spec.len()`), returning after
    /// the copy back has finished.
    ///
    /// # Errors
    /// As [`run_host`](Self::run_host).
    pub fn run_device<T: TensorElement>(
        &mut self,
        frame: &DeviceNv12<'_>,
        spec: &TensorSpec,
        out: &mut [T],
    ) -> Result<Geometry, GpuError> {
        let job = Job::new(frame.width, frame.height, (spec.width, spec.height));
        job.check_len(out.len(), spec.len())?;
        self.run_device_checked(frame, spec, out, job)
    }

    /// Crops `boxes` of a frame in device memory into `out`, returning after the copy back.
    ///
    /// # Errors
    /// As [`run_crops_host`](Self::run_crops_host).
    pub fn run_crops_device<T: TensorElement>(
        &mut self,
        frame: &DeviceNv12<'_>,
        boxes: &[[f32; 4]],
        spec: &CropSpec,
        out: &mut [T],
    ) -> Result<(), GpuError> {
        let job = Job::new(frame.width, frame.height, (spec.width, spec.height));
        job.check_crops(spec, boxes.len(), out.len())?;
        self.crops_device_checked(frame, boxes, spec, out, job)
    }

    fn run_device_checked<T: TensorElement>(
        &mut self,
        frame: &DeviceNv12<'_>,
        spec: &TensorSpec,
        out: &mut [T],
        job: Job,
    ) -> Result<Geometry, GpuError> {
        let mut geometry = None;
        self.download_into(out, job, |this, tensor| {
            geometry = Some(this.launch(frame, spec, tensor, T::DTYPE, job)?);
            Ok(())
        })?;
        Ok(geometry.expect("set by the launch"))
    }

    fn crops_device_checked<T: TensorElement>(
        &mut self,
        frame: &DeviceNv12<'_>,
        boxes: &[[f32; 4]],
        spec: &CropSpec,
        out: &mut [T],
        job: Job,
    ) -> Result<(), GpuError> {
        if boxes.is_empty() {
            return Ok(());
        }
        self.download_into(out, job, |this, tensor| {
            this.launch_crops(frame, boxes, spec, tensor, T::DTYPE, job)
        })
    }

    /// Runs `launch` into a pooled device tensor of `out`'s size in bytes, copies the result
    /// back through the pinned download buffer into `out` and waits for it.
    fn download_into<T: TensorElement>(
        &mut self,
        out: &mut [T],
        job: Job,
        launch: impl FnOnce(&mut Self, &mut CudaSlice<u8>) -> Result<(), GpuError>,
    ) -> Result<(), GpuError> {
        let bytes = size_of_val(out);
        let stream = self.gpu.stream().clone();
        let mut tensor = match self.tensors.take(bytes) {
            Some(t) => t,
            // SAFETY: uninitialised device memory; the kernels write every element (one thread
            // per output pixel, all its channels, padding included) before the copy reads it.
            None => unsafe { stream.alloc::<u8>(bytes) }
                .map_err(job.cuda("cuMemAlloc (tensor buffer)"))?,
        };
        launch(self, &mut tensor)?;
        let staging = self
            .download
            .prefix_mut(&self.gpu, bytes)
            .map_err(job.cuda("cuMemHostAlloc (download staging)"))?;
        stream
            .memcpy_dtoh(&tensor, staging)
            .map_err(job.cuda("cuMemcpyDtoHAsync"))?;
        stream
            .synchronize()
            .map_err(job.cuda("cuStreamSynchronize"))?;
        as_bytes_mut(out).copy_from_slice(staging);
        drop(self.tensors.put(bytes, tensor));
        Ok(())
    }

    /// Enqueues the preprocessing of a device frame into the device tensor `out` (length
    /// `spec.len()`) on [`Gpu::stream`] and returns without waiting: the tensor is ready for
    /// work enqueued after it on that stream (an engine reading device memory), or after
    /// `gpu().stream().synchronize()`.
    ///
    /// The frame's memory must stay valid until then: for views cudarc's stream tracking sees to
    /// it when the planes were allocated on another stream; for [`DeviceNv12::from_raw`] frames
    /// it is part of that function's safety contract.
    ///
    /// # Errors
    /// [`GpuError::PreprocessInput`] for an invalid model input or output length;
    /// [`GpuError::PreprocessCuda`] when the launch fails.
    pub fn enqueue_device<T: TensorElement>(
        &mut self,
        frame: &DeviceNv12<'_>,
        spec: &TensorSpec,
        out: &mut CudaSlice<T>,
    ) -> Result<Geometry, GpuError> {
        let job = Job::new(frame.width, frame.height, (spec.width, spec.height));
        job.check_len(out.len(), spec.len())?;
        self.launch(frame, spec, out, T::DTYPE, job)
    }

    /// Enqueues the crops of `boxes` of a device frame into the device batch `out` (length
    /// `boxes.len() * spec.item_len()`) and returns without waiting for the kernel, as
    /// [`enqueue_device`](Self::enqueue_device). The boxes are copied to the device before this
    /// returns.
    ///
    /// # Errors
    /// As [`run_crops_host`](Self::run_crops_host).
    pub fn enqueue_crops_device<T: TensorElement>(
        &mut self,
        frame: &DeviceNv12<'_>,
        boxes: &[[f32; 4]],
        spec: &CropSpec,
        out: &mut CudaSlice<T>,
    ) -> Result<(), GpuError> {
        let job = Job::new(frame.width, frame.height, (spec.width, spec.height));
        job.check_crops(spec, boxes.len(), out.len())?;
        if boxes.is_empty() {
            return Ok(());
        }
        self.launch_crops(frame, boxes, spec, out, T::DTYPE, job)
    }

    /// Checks that the planes of `frame` live in this preprocessor's context.
    fn check_context(&self, frame: &DeviceNv12<'_>, job: Job) -> Result<(), GpuError> {
        let ctx = self.gpu.context().cu_ctx();
        for plane in [&frame.y, &frame.uv] {
            if let Plane::View(v) = plane {
                if v.stream().context().cu_ctx() != ctx {
                    return Err(job
                        .input_error("the frame's planes were allocated in another CUDA context"));
                }
            }
        }
        Ok(())
    }

    /// Launches `nv12_to_tensor` (checked spec; `out` holds `spec.len()` elements of `dtype`).
    fn launch<B: DeviceRepr>(
        &self,
        frame: &DeviceNv12<'_>,
        spec: &TensorSpec,
        out: &mut CudaSlice<B>,
        dtype: i32,
        job: Job,
    ) -> Result<Geometry, GpuError> {
        self.check_context(frame, job)?;
        let g = geometry(frame.width as usize, frame.height as usize, spec);
        // Every value below fits an `int`: sides are at most MAX_SIDE, pitches were checked.
        let int = |v: usize| i32::try_from(v).map_err(|_| job.input_error("size exceeds int"));
        let frame_args = FrameArgs::new(frame, job)?;
        let (out_w, out_h) = (int(spec.width as usize)?, int(spec.height as usize)?);
        let (px, py, cw, ch) = (int(g.px)?, int(g.py)?, int(g.cw)?, int(g.ch)?);
        let (layout, color) = (spec.layout.flag(), spec.color.flag());
        let [m0, m1, m2] = spec.mean;
        let [s0, s1, s2] = spec.std;
        let [p0, p1, p2] = spec.pad.map(f32::from);

        let stream = self.gpu.stream();
        let mut args = stream.launch_builder(&self.kernel);
        frame_args.push(&mut args);
        args.arg(out).arg(&out_w).arg(&out_h);
        args.arg(&px)
            .arg(&py)
            .arg(&cw)
            .arg(&ch)
            .arg(&g.sx)
            .arg(&g.sy);
        args.arg(&layout).arg(&color).arg(&dtype);
        args.arg(&m0).arg(&m1).arg(&m2);
        args.arg(&s0).arg(&s1).arg(&s2);
        args.arg(&p0).arg(&p1).arg(&p2);
        // SAFETY: the arguments are those of `nv12_to_tensor` in kernels/preprocess.cu, in
        // order and with its types (pointers, `int`, `float`). The planes hold the frame
        // (checked by `DeviceNv12::new`, or promised by `from_raw`'s caller), and the kernel
        // reads only within them: sample positions are clamped to the frame. `out` holds
        // `spec.len()` elements of the `dtype` passed (checked by the callers: f32 or f16 slices
        // of that length, or a byte buffer of their size) and the kernel writes only indices
        // below that (bounds-checked threads, `channels * out_w * out_h` values).
        unsafe { args.launch(launch_config(spec.width, spec.height)) }
            .map_err(job.cuda("cuLaunchKernel(nv12_to_tensor)"))?;
        Ok(g)
    }

    /// Copies `boxes` to the device and launches `crop_resize_batch` (checked spec, 1 to
    /// [`MAX_CROPS`] boxes; `out` holds `boxes.len() * spec.item_len()` elements of `dtype`).
    fn launch_crops<B: DeviceRepr>(
        &mut self,
        frame: &DeviceNv12<'_>,
        boxes: &[[f32; 4]],
        spec: &CropSpec,
        out: &mut CudaSlice<B>,
        dtype: i32,
        job: Job,
    ) -> Result<(), GpuError> {
        self.check_context(frame, job)?;
        let int = |v: usize| i32::try_from(v).map_err(|_| job.input_error("size exceeds int"));
        let frame_args = FrameArgs::new(frame, job)?;
        let (out_w, out_h) = (int(spec.width as usize)?, int(spec.height as usize)?);
        let n_boxes = int(boxes.len())?;
        let (layout, color) = (spec.layout.flag(), spec.color.flag());
        let [m0, m1, m2] = spec.mean;
        let [s0, s1, s2] = spec.std;

        let stream = self.gpu.stream().clone();
        let values = 4 * boxes.len();
        if self.boxes.as_ref().is_none_or(|b| b.len() < values) {
            self.boxes = None; // freed in stream order
            self.boxes = Some(
                stream
                    .alloc_zeros::<f32>(values.next_power_of_two().max(256))
                    .map_err(job.cuda("cuMemAlloc (boxes)"))?,
            );
        }
        let Some(device_boxes) = self.boxes.as_mut() else {
            unreachable!("allocated above");
        };
        let flat: &[f32] = boxes.as_flattened();
        stream
            .memcpy_htod(flat, &mut device_boxes.slice_mut(0..values))
            .map_err(job.cuda("cuMemcpyHtoDAsync (boxes)"))?;

        let mut cfg = launch_config(spec.width, spec.height);
        // One z-slice per box up to the grid's limit; the kernel strides over the rest.
        cfg.grid_dim.2 = boxes.len().min(65535) as u32;
        let mut args = stream.launch_builder(&self.crop_kernel);
        frame_args.push(&mut args);
        args.arg(&*device_boxes).arg(&n_boxes);
        args.arg(out).arg(&out_w).arg(&out_h);
        args.arg(&layout).arg(&color).arg(&dtype);
        args.arg(&m0).arg(&m1).arg(&m2);
        args.arg(&s0).arg(&s1).arg(&s2);
        // SAFETY: the arguments are those of `crop_resize_batch` in kernels/preprocess.cu, in
        // order and with its types. The planes hold the frame (as in `launch`) and sample
        // positions are clamped to it; `device_boxes` holds at least `4 * n_boxes` floats, just
        // copied in stream order before the launch; `out` holds `n_boxes * item_len` elements of
        // `dtype` (checked by the callers) and the kernel writes only below that.
        unsafe { args.launch(cfg) }.map_err(job.cuda("cuLaunchKernel(crop_resize_batch)"))?;
        Ok(())
    }
}
