//! The CUDA preprocessing kernels (`kernels/preprocess.cu`), compiled as host C++ under
//! `kernels/host_emulation.h`, against the CPU reference (`aisle_vision::CpuPreprocessor`) on real
//! frames of the sample video: every value must be bit-identical (`f32::to_bits`).
//!
//! The kernels are built at test time with the system C++ compiler (`$CXX`, else `c++`) into a
//! temporary shared library (`kernels/host_driver.cpp` exports C launch wrappers) and loaded with
//! `libloading`. The emulation runs the kernels' threads one by one, with the launch geometry the
//! device uses, so this checks the kernels' arithmetic and indexing; that NVRTC compiles the same
//! source to IEEE operations without FMA contraction is the device half (see kernels/README.md).
//!
//! `crop_resize_batch` is held to `CpuPreprocessor::crops`, tied to the frame-level reference by
//! [`crop_of_the_whole_frame_is_the_stretch_preprocessing`]. Gray and BGR channels are checked
//! against the reference's `color`; f16 outputs against the f32 reference rounded by
//! `half::f16::from_f32`, and the kernels' conversion itself over a sweep of f32 bit patterns.

use std::ffi::{c_int, c_longlong, c_uint, c_void};
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use aisle_infer::manifest::InputDType;
use aisle_infer::{InputColor, InputLayout, InputSpec, Manifest, ResizeMode};
use aisle_types::Nv12Frame;
use aisle_video::VideoFile;
use aisle_vision::preprocess::geometry;
use aisle_vision::{CpuPreprocessor, CropSpec, Preprocessor};

// ---------------------------------------------------------------------------------------------
// The host build of the kernels

/// `aisle_host_nv12_to_tensor` in kernels/host_driver.cpp.
type Nv12Fn = unsafe extern "C" fn(
    *const u8,   // y_plane
    c_int,       // y_pitch
    *const u8,   // uv_plane
    c_int,       // uv_pitch
    c_int,       // frame_w
    c_int,       // frame_h
    *mut c_void, // out (f32 or f16)
    c_int,       // out_w
    c_int,       // out_h
    c_int,       // px
    c_int,       // py
    c_int,       // cw
    c_int,       // ch
    f32,         // sx
    f32,         // sy
    c_int,       // layout
    c_int,       // color
    c_int,       // dtype
    *const f32,  // mean[3]
    *const f32,  // std[3]
    *const f32,  // pad[3]
    c_uint,      // block_x
    c_uint,      // block_y
);

/// `aisle_host_crop_resize_batch` in kernels/host_driver.cpp.
type CropFn = unsafe extern "C" fn(
    *const u8,   // y_plane
    c_int,       // y_pitch
    *const u8,   // uv_plane
    c_int,       // uv_pitch
    c_int,       // frame_w
    c_int,       // frame_h
    *const f32,  // boxes (x1, y1, x2, y2) * n
    c_int,       // n_boxes
    *mut c_void, // out (f32 or f16)
    c_int,       // out_w
    c_int,       // out_h
    c_int,       // layout
    c_int,       // color
    c_int,       // dtype
    *const f32,  // mean[3]
    *const f32,  // std[3]
    c_uint,      // block_x
    c_uint,      // block_y
    c_uint,      // grid_z
);

/// `aisle_host_f16_bits` in kernels/host_driver.cpp.
type F16Fn = unsafe extern "C" fn(*const f32, *mut u16, c_longlong);

/// The kernels' `layout`, `color` and `dtype` constants (`AISLE_LAYOUT_*`, `AISLE_COLOR_*`,
/// `AISLE_DTYPE_*`).
const LAYOUT_NCHW: c_int = 0;
const LAYOUT_NHWC: c_int = 1;
const DTYPE_F32: c_int = 0;
const DTYPE_F16: c_int = 1;

fn color_flag(color: InputColor) -> c_int {
    match color {
        InputColor::Rgb => 0,
        InputColor::Bgr => 1,
        InputColor::Gray => 2,
    }
}

/// The ABI version `host_driver.cpp` reports.
const HOST_ABI_VERSION: c_int = 2;

struct HostKernels {
    /// Keeps the functions below valid (never unloaded: the fixture is a static).
    _lib: libloading::Library,
    nv12_to_tensor: Nv12Fn,
    crop_resize_batch: CropFn,
    f16_bits: F16Fn,
}

/// An element type the kernels write: f32, or f16 as its bits.
trait Element: Copy {
    const DTYPE: c_int;
    /// What unwritten elements hold (so that they fail comparisons).
    const UNWRITTEN: Self;
}

impl Element for f32 {
    const DTYPE: c_int = DTYPE_F32;
    const UNWRITTEN: f32 = f32::NAN;
}

impl Element for u16 {
    const DTYPE: c_int = DTYPE_F16;
    const UNWRITTEN: u16 = 0x7e55; // a NaN no conversion produces from a finite value
}

fn kernels_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("kernels")
}

/// Runs the C++ compiler with the host-emulation flags; panics naming the compiler if it is
/// missing and with its diagnostics if the build fails.
fn cxx(args: &[std::ffi::OsString]) {
    let compiler = std::env::var_os("CXX")
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "c++".into());
    let output = Command::new(&compiler)
        .args([
            "-std=c++17",
            "-O2",
            "-ffp-contract=off",
            "-fno-fast-math",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-include",
        ])
        .arg(kernels_dir().join("host_emulation.h"))
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run the C++ compiler `{}` ({e}): the kernel parity test builds \
                 kernels/preprocess.cu for the host; install Debian's g++ (apt-get install g++) \
                 or set CXX",
                compiler.to_string_lossy()
            )
        });
    assert!(
        output.status.success(),
        "`{} ... {:?}` failed ({}):\n{}",
        compiler.to_string_lossy(),
        args,
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

fn build_host_kernels() -> HostKernels {
    let dir = tempfile::tempdir().expect("temporary directory");
    let so = dir.path().join("libaisle_kernels_host.so");
    // The kernel file on its own, as the README states it compiles...
    cxx(&[
        "-fsyntax-only".into(),
        "-x".into(),
        "c++".into(),
        kernels_dir().join("preprocess.cu").into(),
    ]);
    // ...and the shared library (host_driver.cpp includes preprocess.cu).
    cxx(&[
        "-fPIC".into(),
        "-shared".into(),
        kernels_dir().join("host_driver.cpp").into(),
        "-o".into(),
        so.clone().into(),
    ]);
    // SAFETY: the library is the one just built from our sources; its initialisers are trivial.
    let lib = unsafe { libloading::Library::new(&so) }.expect("host kernel library loads");
    // SAFETY: the symbol types are those of host_driver.cpp (checked by its ABI version).
    unsafe {
        let version = *lib
            .get::<unsafe extern "C" fn() -> c_int>(b"aisle_host_abi_version\0")
            .expect("aisle_host_abi_version");
        assert_eq!(
            version(),
            HOST_ABI_VERSION,
            "host_driver.cpp changed: update the signatures in this test"
        );
        let nv12_to_tensor = *lib
            .get::<Nv12Fn>(b"aisle_host_nv12_to_tensor\0")
            .expect("aisle_host_nv12_to_tensor");
        let crop_resize_batch = *lib
            .get::<CropFn>(b"aisle_host_crop_resize_batch\0")
            .expect("aisle_host_crop_resize_batch");
        let f16_bits = *lib
            .get::<F16Fn>(b"aisle_host_f16_bits\0")
            .expect("aisle_host_f16_bits");
        HostKernels {
            _lib: lib,
            nv12_to_tensor,
            crop_resize_batch,
            f16_bits,
        }
    }
    // `dir` (and the .so file) is removed here; the mapping stays.
}

fn cint(v: usize) -> c_int {
    c_int::try_from(v).expect("fits a C int")
}

fn layout_flag(layout: InputLayout) -> c_int {
    match layout {
        InputLayout::Nchw => LAYOUT_NCHW,
        InputLayout::Nhwc => LAYOUT_NHWC,
    }
}

impl HostKernels {
    /// `nv12_to_tensor` on the host with the spec's layout and colour, writing `T`; unwritten
    /// values stay [`Element::UNWRITTEN`] (and so fail the comparison).
    fn nv12_to_tensor<T: Element>(
        &self,
        frame: &Nv12Frame,
        spec: &InputSpec,
        block: (u32, u32),
    ) -> Vec<T> {
        frame.validate().expect("valid test frame");
        let g = geometry(frame.width as usize, frame.height as usize, spec);
        let mut out = vec![T::UNWRITTEN; spec.len()];
        let pad = spec.pad.map(f32::from);
        // SAFETY: the planes hold the frame (validated above), `out` holds the tensor of `T`
        // (the kernel's `dtype`) and the arrays hold 3 values each, as the kernel reads them.
        unsafe {
            (self.nv12_to_tensor)(
                frame.y.as_ptr(),
                cint(frame.y_stride),
                frame.uv.as_ptr(),
                cint(frame.uv_stride),
                cint(frame.width as usize),
                cint(frame.height as usize),
                out.as_mut_ptr().cast(),
                cint(spec.width as usize),
                cint(spec.height as usize),
                cint(g.px),
                cint(g.py),
                cint(g.cw),
                cint(g.ch),
                g.sx,
                g.sy,
                layout_flag(spec.layout),
                color_flag(spec.color),
                T::DTYPE,
                spec.mean.as_ptr(),
                spec.std.as_ptr(),
                pad.as_ptr(),
                block.0,
                block.1,
            );
        }
        out
    }

    /// `crop_resize_batch` on the host.
    fn crop_resize_batch<T: Element>(
        &self,
        frame: &Nv12Frame,
        boxes: &[[f32; 4]],
        crop: &CropSpec,
        block: (u32, u32),
        grid_z: u32,
    ) -> Vec<T> {
        frame.validate().expect("valid test frame");
        let flat: Vec<f32> = boxes.iter().flatten().copied().collect();
        let mut out = vec![T::UNWRITTEN; boxes.len() * crop.item_len()];
        // SAFETY: as in `nv12_to_tensor`; `flat` holds 4 values per box, `out` the whole batch.
        unsafe {
            (self.crop_resize_batch)(
                frame.y.as_ptr(),
                cint(frame.y_stride),
                frame.uv.as_ptr(),
                cint(frame.uv_stride),
                cint(frame.width as usize),
                cint(frame.height as usize),
                flat.as_ptr(),
                cint(boxes.len()),
                out.as_mut_ptr().cast(),
                cint(crop.width as usize),
                cint(crop.height as usize),
                layout_flag(crop.layout),
                color_flag(crop.color),
                T::DTYPE,
                crop.mean.as_ptr(),
                crop.std.as_ptr(),
                block.0,
                block.1,
                grid_z,
            );
        }
        out
    }

    /// The kernels' f32 -> f16 conversion.
    fn f16_bits(&self, values: &[f32]) -> Vec<u16> {
        let mut out = vec![0u16; values.len()];
        let n = c_longlong::try_from(values.len()).expect("fits");
        // SAFETY: both buffers hold `n` elements.
        unsafe { (self.f16_bits)(values.as_ptr(), out.as_mut_ptr(), n) };
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Fixture: the host library and real frames, built once for all tests of this file

struct Fixture {
    kernels: HostKernels,
    /// Frames spread over the sample video (768x576).
    frames: Vec<Nv12Frame>,
}

fn cache_dir() -> PathBuf {
    match std::env::var_os("AISLE_CACHE") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/aisle"),
    }
}

/// Five frames spread over `vtest.mp4` (first, last and three between).
fn sample_frames() -> Vec<Nv12Frame> {
    let path = cache_dir().join("media/vtest.mp4");
    assert!(
        path.is_file(),
        "{} is missing: run scripts/fetch-media.sh (or make test)",
        path.display()
    );
    let mut video = VideoFile::open(&path).expect("sample video opens");
    let n = video.info().frame_count.expect("MP4 knows its frame count");
    assert!(n >= 5, "{}: only {n} frames", path.display());
    let wanted: Vec<u64> = (0..5).map(|k| k * (n - 1) / 4).collect();
    let mut frames = Vec::new();
    for frame in video.frames() {
        let frame = frame.expect("sample video decodes");
        if wanted.contains(&frame.index) {
            frames.push(frame);
            if frames.len() == wanted.len() {
                break;
            }
        }
    }
    assert_eq!(
        frames.len(),
        wanted.len(),
        "frames {wanted:?} of {}",
        path.display()
    );
    frames
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| Fixture {
        kernels: build_host_kernels(),
        frames: sample_frames(),
    })
}

/// A `w x h` region of `f` at `(x0, y0)` (both even, so chroma stays aligned) copied into planes
/// with `extra` bytes of junk at the end of every row: odd sizes, tiny frames, stride != width.
fn sub_frame(f: &Nv12Frame, x0: usize, y0: usize, w: usize, h: usize, extra: usize) -> Nv12Frame {
    assert!(x0.is_multiple_of(2) && y0.is_multiple_of(2));
    assert!(x0 + w <= f.width as usize && y0 + h <= f.height as usize);
    let uv_row = 2 * w.div_ceil(2);
    let (y_stride, uv_stride) = (w + extra, uv_row + extra);
    let mut y = vec![0xA5u8; y_stride * h];
    let mut uv = vec![0x5Au8; uv_stride * h.div_ceil(2)];
    for r in 0..h {
        let src = &f.y[(y0 + r) * f.y_stride + x0..][..w];
        y[r * y_stride..][..w].copy_from_slice(src);
    }
    for r in 0..h.div_ceil(2) {
        let src = &f.uv[(y0 / 2 + r) * f.uv_stride + x0..][..uv_row];
        uv[r * uv_stride..][..uv_row].copy_from_slice(src);
    }
    Nv12Frame {
        width: w as u32,
        height: h as u32,
        pts: f.pts,
        index: f.index,
        y,
        y_stride,
        uv,
        uv_stride,
    }
}

// ---------------------------------------------------------------------------------------------
// Comparison

/// Asserts bit equality; the message gives the count, the largest absolute difference and the
/// first differing position.
fn assert_bit_exact(label: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{label}: lengths");
    let mut differing = 0usize;
    let mut max_diff = 0f32;
    let mut first = None;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        if g.to_bits() != w.to_bits() {
            differing += 1;
            let d = (g - w).abs();
            max_diff = if d.is_nan() {
                f32::NAN
            } else {
                max_diff.max(d)
            };
            first.get_or_insert((i, *g, *w));
        }
    }
    if let Some((i, g, w)) = first {
        panic!(
            "{label}: {differing} of {} values differ from the reference (max |diff| {max_diff:e}); \
             first at index {i}: kernel {g:e}, reference {w:e}",
            got.len()
        );
    }
}

fn spec(
    w: u32,
    h: u32,
    layout: InputLayout,
    resize: ResizeMode,
    pad: [u8; 3],
    mean: [f32; 3],
    std: [f32; 3],
) -> InputSpec {
    InputSpec {
        name: "test".into(),
        layout,
        width: w,
        height: h,
        dtype: InputDType::Float32,
        color: aisle_infer::InputColor::Rgb,
        resize,
        pad,
        mean,
        std,
    }
}

const IMAGENET_MEAN: [f32; 3] = [123.675, 116.28, 103.53];
const IMAGENET_STD: [f32; 3] = [58.395, 57.12, 57.375];

/// Every input spec of the built-in manifest, then synthetic ones: both layouts, both resize
/// modes, padding left/right and top/bottom, odd and 1x1 outputs, upscaling, mean/std not 0/1.
fn specs() -> Vec<(String, InputSpec)> {
    use InputLayout::{Nchw, Nhwc};
    use ResizeMode::{Letterbox, Stretch};
    let manifest = Manifest::builtin().expect("built-in manifest parses");
    let mut out: Vec<(String, InputSpec)> = manifest
        .models
        .values()
        .map(|m| (format!("manifest {}", m.name), m.input.clone()))
        .collect();
    assert!(!out.is_empty(), "the built-in manifest has models");
    let synthetic = [
        spec(97, 61, Nchw, Stretch, [0; 3], IMAGENET_MEAN, IMAGENET_STD),
        spec(97, 61, Nhwc, Letterbox, [114; 3], [127.5; 3], [127.5; 3]),
        // Wide: content 67x50 in the middle, bars left and right.
        spec(
            200,
            50,
            Nchw,
            Letterbox,
            [0, 128, 255],
            [10.0, 20.5, 30.25],
            [2.0, 3.0, 0.5],
        ),
        // Tall: bars top and bottom.
        spec(
            61,
            97,
            Nhwc,
            Letterbox,
            [255, 0, 7],
            IMAGENET_MEAN,
            IMAGENET_STD,
        ),
        spec(1, 1, Nchw, Letterbox, [1, 2, 3], [0.0; 3], [255.0; 3]),
        spec(1, 1, Nhwc, Stretch, [0; 3], [0.0; 3], [1.0; 3]),
        // Upscaling (x1.35 / x1.3).
        spec(
            1037,
            749,
            Nhwc,
            Stretch,
            [0; 3],
            [0.5, -3.0, 7.0],
            [1.0, 0.1, 3.0],
        ),
        spec(320, 320, Nchw, Letterbox, [114; 3], [0.0; 3], [255.0; 3]),
    ];
    for s in synthetic {
        let label = format!("{}x{} {:?} {:?}", s.width, s.height, s.layout, s.resize);
        out.push((label, s));
    }
    out
}

/// Launch shapes the host emulation cycles through: the reference 16x16, and shapes that do not
/// divide the output (the kernels' bounds checks must hold).
const BLOCKS: [(u32, u32); 4] = [(16, 16), (32, 8), (7, 3), (1, 64)];

/// `values` rounded to f16 by the independent implementation (`half`), as bits.
fn half_bits(values: &[f32]) -> Vec<u16> {
    values
        .iter()
        .map(|&v| half::f16::from_f32(v).to_bits())
        .collect()
}

/// Runs the reference and the kernel on one frame and spec (its layout and colour) and compares
/// them, f32 bit for bit; every `F16_EVERY`th call also the f16 output.
fn check_nv12(kernels: &HostKernels, label: &str, frame: &Nv12Frame, spec: &InputSpec, k: usize) {
    let mut want = vec![0f32; spec.len()];
    let mapping = CpuPreprocessor::default()
        .run(frame, spec, &mut want)
        .expect("reference runs");
    let g = geometry(frame.width as usize, frame.height as usize, spec);
    assert_eq!(
        (mapping.scale_x.to_bits(), mapping.scale_y.to_bits()),
        (g.sx.to_bits(), g.sy.to_bits()),
        "{label}: geometry scales"
    );
    assert_eq!(
        (mapping.pad_x, mapping.pad_y),
        (g.px as f32, g.py as f32),
        "{label}: geometry offsets"
    );
    let block = BLOCKS[k % BLOCKS.len()];
    let what = format!(
        "nv12_to_tensor {:?}, {label}, frame {} ({}x{}), block {block:?}",
        spec.color, frame.index, frame.width, frame.height
    );
    let got: Vec<f32> = kernels.nv12_to_tensor(frame, spec, block);
    assert_bit_exact(&what, &got, &want);
    if k.is_multiple_of(F16_EVERY) {
        let got16: Vec<u16> = kernels.nv12_to_tensor(frame, spec, block);
        assert_eq!(got16, half_bits(&want), "{what}, f16");
    }
}

/// How often [`check_nv12`] also checks the f16 output.
const F16_EVERY: usize = 3;

/// `s` with another colour.
fn with_color(s: &InputSpec, color: InputColor) -> InputSpec {
    InputSpec { color, ..s.clone() }
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
fn kernel_source_is_device_clean() {
    let src = std::fs::read_to_string(kernels_dir().join("preprocess.cu")).unwrap();
    // NVRTC compiles it with no include path: nothing may be included.
    let includes: Vec<&str> = src
        .lines()
        .filter(|l| l.trim_start().starts_with("#include"))
        .collect();
    assert!(includes.is_empty(), "preprocess.cu includes {includes:?}");
    for entry in ["nv12_to_tensor", "crop_resize_batch"] {
        assert!(
            src.contains(&format!("extern \"C\" __global__ void {entry}(")),
            "entry point {entry} is not `extern \"C\" __global__`"
        );
    }
}

#[test]
fn nv12_to_tensor_matches_the_reference_on_real_frames() {
    let fx = fixture();
    let specs = specs();
    let mut k = 0;
    for frame in &fx.frames {
        for (label, s) in &specs {
            check_nv12(&fx.kernels, label, frame, s, k);
            k += 1;
        }
        // Identity size: every output pixel is a source pixel.
        let (w, h) = (frame.width, frame.height);
        let s = spec(
            w,
            h,
            InputLayout::Nchw,
            ResizeMode::Stretch,
            [0; 3],
            [0.0; 3],
            [1.0; 3],
        );
        check_nv12(&fx.kernels, "identity", frame, &s, k);
        k += 1;
    }
    // The comparison is not vacuous: a manifest input of a real frame has many distinct values.
    let (label, s) = &specs[0];
    let out: Vec<f32> = fx.kernels.nv12_to_tensor(&fx.frames[1], s, (16, 16));
    let mut distinct: Vec<u32> = out.iter().map(|v| v.to_bits()).collect();
    distinct.sort_unstable();
    distinct.dedup();
    assert!(
        distinct.len() > 1000,
        "{label}: only {} distinct values",
        distinct.len()
    );
}

#[test]
fn nv12_to_tensor_matches_on_odd_strided_and_tiny_frames() {
    let fx = fixture();
    let f = &fx.frames[2];
    let (w, h) = (f.width as usize, f.height as usize);
    // Same planes, one column and one row less: odd size, stride != width, a half chroma pair.
    let mut trimmed = f.clone();
    trimmed.width -= 1;
    trimmed.height -= 1;
    let frames = [
        trimmed,
        sub_frame(f, 2, 4, 321, 203, 13),
        sub_frame(f, w - 98, h - 62, 97, 61, 1),
        sub_frame(f, 400, 300, 3, 2, 5),
        sub_frame(f, 100, 100, 2, 5, 0),
        sub_frame(f, 500, 200, 1, 1, 3),
    ];
    let specs = specs();
    let mut k = 0;
    for frame in &frames {
        for (label, s) in &specs {
            check_nv12(&fx.kernels, label, frame, s, k);
            k += 1;
        }
    }
}

/// BGR and gray channels on real frames, every spec, f32 and (every third) f16.
#[test]
fn nv12_to_tensor_bgr_and_gray_match_the_reference() {
    let fx = fixture();
    let mut k = 0;
    for frame in [&fx.frames[3], &fx.frames[0]] {
        for (label, s) in specs() {
            for color in [InputColor::Bgr, InputColor::Gray] {
                check_nv12(&fx.kernels, &label, frame, &with_color(&s, color), k);
                k += 1;
            }
        }
    }
    // Odd, strided frame.
    let f = sub_frame(&fx.frames[2], 6, 8, 201, 133, 11);
    for (label, s) in specs() {
        check_nv12(
            &fx.kernels,
            &label,
            &f,
            &with_color(&s, InputColor::Gray),
            0,
        );
    }
}

/// Every f16 output of the kernels, on every spec and colour of one frame.
#[test]
fn f16_outputs_are_the_reference_rounded_to_nearest_even() {
    let fx = fixture();
    let frame = &fx.frames[4];
    for (k, (label, s)) in specs().iter().enumerate() {
        for color in [InputColor::Rgb, InputColor::Bgr, InputColor::Gray] {
            let s = with_color(s, color);
            let mut want = vec![0f32; s.len()];
            CpuPreprocessor::default()
                .run(frame, &s, &mut want)
                .expect("reference runs");
            let got: Vec<u16> = fx
                .kernels
                .nv12_to_tensor(frame, &s, BLOCKS[k % BLOCKS.len()]);
            assert_eq!(
                got,
                half_bits(&want),
                "nv12_to_tensor f16 {color:?}, {label}"
            );
        }
    }
}

/// The kernels' own f32 -> f16 rounding against `half` over a sweep of bit patterns: every
/// 4099th pattern of all 2^32, and every pattern around the edges (zero, subnormal halves, the
/// smallest normal half, 65504 to infinity). NaNs stay NaN, with their sign.
#[test]
fn f16_conversion_matches_half_everywhere() {
    let fx = fixture();
    let mut bits: Vec<u32> = (0..=u32::MAX).step_by(4099).collect();
    for edge in [
        0x0000_0000u32, // zero
        0x3300_0000,    // 2^-25: the tie between 0 and the smallest subnormal
        0x3380_0000,    // 2^-24: the smallest subnormal
        0x3880_0000,    // 2^-14: the smallest normal half
        0x477f_e000,    // 65504: the largest half
        0x477f_f000,    // 65520: rounds to infinity
        0x7f80_0000,    // infinity
    ] {
        bits.extend(edge.saturating_sub(5000)..edge.saturating_add(5000));
    }
    let values: Vec<f32> = bits
        .iter()
        .flat_map(|&b| [f32::from_bits(b), f32::from_bits(b ^ 0x8000_0000)])
        .collect();
    let got = fx.kernels.f16_bits(&values);
    let mut checked = 0usize;
    for (v, g) in values.iter().zip(&got) {
        let g16 = half::f16::from_bits(*g);
        if v.is_nan() {
            assert!(g16.is_nan(), "{:#010x}: NaN became {g:#06x}", v.to_bits());
            assert_eq!(g16.is_sign_negative(), v.is_sign_negative());
            continue;
        }
        let want = half::f16::from_f32(*v).to_bits();
        assert_eq!(
            *g,
            want,
            "f32 {v:e} ({:#010x}): kernel {g:#06x}, half {want:#06x}",
            v.to_bits()
        );
        checked += 1;
    }
    assert!(checked > 2_000_000, "only {checked} finite values checked");
}

/// Boxes for a `w x h` frame: ordinary, fractional, partly and wholly outside, 1-2 px, zero
/// width, inverted, larger than the frame, and non-finite.
fn crop_boxes(w: f32, h: f32) -> Vec<[f32; 4]> {
    vec![
        [0.0, 0.0, w, h],
        [100.3, 50.7, 180.9, 300.2],
        [-20.0, -10.0, 60.0, 90.0],
        [w - 68.0, h - 76.0, w + 32.0, h + 44.0],
        [w + 10.0, h + 5.0, w + 60.0, h + 65.0],
        [10.0, 10.0, 11.0, 11.0],
        [333.5, 222.25, 335.5, 224.25],
        [0.0, 0.0, 1.0, 2.0],
        [50.0, 50.0, 50.0, 80.0],
        [300.0, 200.0, 250.0, 150.0],
        [-w, -h, 2.0 * w, 2.0 * h],
        [f32::NAN, 10.0, 20.0, f32::NAN],
        [f32::NEG_INFINITY, 0.0, 30.0, f32::INFINITY],
    ]
}

fn crop(
    (w, h): (u32, u32),
    layout: InputLayout,
    color: InputColor,
    mean: [f32; 3],
    std: [f32; 3],
) -> CropSpec {
    CropSpec {
        width: w,
        height: h,
        layout,
        color,
        mean,
        std,
    }
}

fn cpu_crops(frame: &Nv12Frame, boxes: &[[f32; 4]], spec: &CropSpec) -> Vec<f32> {
    let mut out = vec![0f32; boxes.len() * spec.item_len()];
    CpuPreprocessor::default()
        .crops(frame, boxes, spec, &mut out)
        .expect("reference crops");
    out
}

#[test]
fn crop_resize_batch_matches_its_reference() {
    let fx = fixture();
    let cases = [
        crop(
            (64, 128),
            InputLayout::Nchw,
            InputColor::Rgb,
            IMAGENET_MEAN,
            IMAGENET_STD,
        ),
        crop(
            (112, 112),
            InputLayout::Nhwc,
            InputColor::Bgr,
            [127.5; 3],
            [128.0; 3],
        ),
        crop(
            (48, 48),
            InputLayout::Nchw,
            InputColor::Gray,
            [0.0; 3],
            [255.0; 3],
        ),
        crop(
            (7, 5),
            InputLayout::Nhwc,
            InputColor::Gray,
            [0.0; 3],
            [1.0; 3],
        ),
        crop(
            (7, 5),
            InputLayout::Nchw,
            InputColor::Rgb,
            [0.0; 3],
            [1.0; 3],
        ),
    ];
    // (block, grid.z): one z-slice per box, fewer slices than boxes (the stride loop), more.
    let launches = [((16, 16), 0), ((8, 4), 1), ((32, 8), 3), ((5, 7), 64)];
    let mut k = 0;
    for frame in [&fx.frames[0], &fx.frames[4]] {
        let boxes = crop_boxes(frame.width as f32, frame.height as f32);
        for c in &cases {
            let want = cpu_crops(frame, &boxes, c);
            let (block, z) = launches[k % launches.len()];
            let grid_z = if z == 0 { boxes.len() as u32 } else { z };
            let got: Vec<f32> = fx
                .kernels
                .crop_resize_batch(frame, &boxes, c, block, grid_z);
            let per_box = c.item_len();
            for (b, bx) in boxes.iter().enumerate() {
                assert_bit_exact(
                    &format!(
                        "crop_resize_batch, frame {}, box {b} {bx:?} -> {}x{} {:?} {:?}, \
                         block {block:?}, grid.z {grid_z}",
                        frame.index, c.width, c.height, c.layout, c.color
                    ),
                    &got[b * per_box..][..per_box],
                    &want[b * per_box..][..per_box],
                );
            }
            let got16: Vec<u16> = fx
                .kernels
                .crop_resize_batch(frame, &boxes, c, block, grid_z);
            assert_eq!(got16, half_bits(&want), "crop_resize_batch f16, case {k}");
            k += 1;
        }
    }
    // Odd-sized, strided frame.
    let f = sub_frame(&fx.frames[2], 6, 8, 201, 133, 11);
    let boxes = crop_boxes(f.width as f32, f.height as f32);
    let c = crop(
        (33, 17),
        InputLayout::Nhwc,
        InputColor::Rgb,
        [1.0, 2.0, 3.0],
        [4.0, 5.0, 6.0],
    );
    let got: Vec<f32> = fx.kernels.crop_resize_batch(&f, &boxes, &c, (16, 16), 2);
    assert_bit_exact(
        "crop_resize_batch, 201x133 strided frame",
        &got,
        &cpu_crops(&f, &boxes, &c),
    );
}

/// Ties the crop definition to the frame-level reference: cropping the whole frame `[0, 0, W, H]`
/// to `w x h` is exactly the stretch preprocessing (the same `u`, since `0 + t == t`).
#[test]
fn crop_of_the_whole_frame_is_the_stretch_preprocessing() {
    let fx = fixture();
    let frame = &fx.frames[1];
    let whole = [[0.0, 0.0, frame.width as f32, frame.height as f32]];
    for (k, (label, s)) in specs().iter().enumerate() {
        if s.resize != ResizeMode::Stretch {
            continue;
        }
        let mut want = vec![0f32; s.len()];
        CpuPreprocessor::default()
            .run(frame, s, &mut want)
            .expect("reference runs");
        let c = crop((s.width, s.height), s.layout, s.color, s.mean, s.std);
        assert_bit_exact(
            &format!("reference crop of the whole frame, {label}"),
            &cpu_crops(frame, &whole, &c),
            &want,
        );
        let got: Vec<f32> =
            fx.kernels
                .crop_resize_batch(frame, &whole, &c, BLOCKS[k % BLOCKS.len()], 1);
        assert_bit_exact(
            &format!("crop_resize_batch of the whole frame, {label}"),
            &got,
            &want,
        );
    }
}
