//! The preprocessing kernels on a real GPU ([`GpuPreprocessor`]) against the CPU reference
//! (`aisle_vision::CpuPreprocessor`'s `run` and `crops`) on real frames of the sample video,
//! bit-exact (`f32::to_bits`; f16 outputs against the reference rounded by `half`), and the
//! frame kernel's throughput against the device's memory bandwidth.
//!
//! Every test needs an NVIDIA GPU, the CUDA 12.x driver and NVRTC 12.x, so all are ignored in
//! `make test`; on a GPU machine (after `scripts/setup.sh` and `scripts/fetch-media.sh`):
//!
//! ```text
//! make test-gpu
//! # = LD_LIBRARY_PATH=<venv nvrtc lib> cargo test -p aisle-gpu --test gpu_device -- --ignored --nocapture --test-threads 1
//! ```
//!
//! The throughput test (`throughput_against_memory_bandwidth`) prints its table; it times the
//! kernel with CUDA events, so the host build's optimisation level does not matter.

// The throughput table is this test's report.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use aisle_gpu::cudarc::driver::sys::CUevent_flags;
use aisle_gpu::cudarc::driver::{CudaSlice, DevicePtr};
use aisle_gpu::preprocess::nv12_packed_len;
use aisle_gpu::{
    Color, DeviceNv12, Gpu, GpuError, GpuPreprocessor, KernelCache, Layout, Resize, TensorSpec,
    MAX_CROPS,
};
use aisle_infer::manifest::InputDType;
use aisle_infer::{InputColor, InputLayout, InputSpec, Manifest, ResizeMode};
use aisle_types::Nv12Frame;
use aisle_video::VideoFile;
use aisle_vision::gpu::{crop_spec, host_nv12, tensor_spec, GpuPreprocess};
use aisle_vision::{CpuPreprocessor, CropSpec, Preprocessor};

// ---------------------------------------------------------------------------------------------
// Fixture

struct Fixture {
    pre: Mutex<GpuPreprocessor>,
    frames: Vec<Nv12Frame>,
    _cache: tempfile::TempDir,
}

fn cache_dir() -> PathBuf {
    match std::env::var_os("AISLE_CACHE") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/aisle"),
    }
}

/// Five frames spread over `vtest.mp4` (as tests/kernel_parity.rs).
fn sample_frames() -> Vec<Nv12Frame> {
    let path = cache_dir().join("media/vtest.mp4");
    assert!(
        path.is_file(),
        "{} is missing: run scripts/fetch-media.sh",
        path.display()
    );
    let mut video = VideoFile::open(&path).expect("sample video opens");
    let n = video.info().frame_count.expect("MP4 knows its frame count");
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
    assert_eq!(frames.len(), wanted.len());
    frames
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let status = aisle_gpu::probe();
        assert!(status.is_ready(), "these tests need a GPU: {status}");
        let cache = tempfile::tempdir().expect("temporary kernel cache");
        let pre = GpuPreprocessor::new(&KernelCache::new(cache.path())).expect("GPU preprocessor");
        Fixture {
            pre: Mutex::new(pre),
            frames: sample_frames(),
            _cache: cache,
        }
    })
}

/// A `w x h` region of `f` at even `(x0, y0)` in planes with `extra` junk bytes per row.
fn sub_frame(f: &Nv12Frame, x0: usize, y0: usize, w: usize, h: usize, extra: usize) -> Nv12Frame {
    let uv_row = 2 * w.div_ceil(2);
    let (y_stride, uv_stride) = (w + extra, uv_row + extra);
    let mut y = vec![0xA5u8; y_stride * h];
    let mut uv = vec![0x5Au8; uv_stride * h.div_ceil(2)];
    for r in 0..h {
        y[r * y_stride..][..w].copy_from_slice(&f.y[(y0 + r) * f.y_stride + x0..][..w]);
    }
    for r in 0..h.div_ceil(2) {
        uv[r * uv_stride..][..uv_row]
            .copy_from_slice(&f.uv[(y0 / 2 + r) * f.uv_stride + x0..][..uv_row]);
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

fn assert_bit_exact(label: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{label}: lengths");
    let differing: Vec<usize> = (0..got.len())
        .filter(|&i| got[i].to_bits() != want[i].to_bits())
        .collect();
    if let Some(&i) = differing.first() {
        panic!(
            "{label}: {} of {} values differ from the reference; first at {i}: GPU {:e}, \
             reference {:e}",
            differing.len(),
            got.len(),
            got[i],
            want[i]
        );
    }
}

fn spec(w: u32, h: u32, layout: InputLayout, resize: ResizeMode, pad: [u8; 3]) -> InputSpec {
    InputSpec {
        name: "test".into(),
        layout,
        width: w,
        height: h,
        dtype: InputDType::Float32,
        color: aisle_infer::InputColor::Rgb,
        resize,
        pad,
        mean: [123.675, 116.28, 103.53],
        std: [58.395, 57.12, 57.375],
    }
}

/// The built-in manifest's inputs, then both layouts x both resize modes at odd sizes, bars
/// either way, 1x1 and upscaling.
fn specs() -> Vec<(String, InputSpec)> {
    use InputLayout::{Nchw, Nhwc};
    use ResizeMode::{Letterbox, Stretch};
    let manifest = Manifest::builtin().expect("built-in manifest parses");
    let mut out: Vec<(String, InputSpec)> = manifest
        .models
        .values()
        .map(|m| (format!("manifest {}", m.name), m.input.clone()))
        .collect();
    for s in [
        spec(97, 61, Nchw, Stretch, [0; 3]),
        spec(97, 61, Nhwc, Stretch, [0; 3]),
        spec(97, 61, Nchw, Letterbox, [114; 3]),
        spec(97, 61, Nhwc, Letterbox, [0, 128, 255]),
        spec(200, 50, Nchw, Letterbox, [1, 2, 3]),
        spec(61, 97, Nhwc, Letterbox, [255, 0, 7]),
        spec(1, 1, Nchw, Letterbox, [1, 2, 3]),
        spec(1037, 749, Nhwc, Stretch, [0; 3]),
        spec(640, 640, Nchw, Letterbox, [114; 3]),
    ] {
        let label = format!("{}x{} {:?} {:?}", s.width, s.height, s.layout, s.resize);
        out.push((label, s));
    }
    out
}

fn reference(frame: &Nv12Frame, spec: &InputSpec) -> Vec<f32> {
    let mut want = vec![0f32; spec.len()];
    CpuPreprocessor::default()
        .run(frame, spec, &mut want)
        .expect("reference runs");
    want
}

/// Host path: every spec on `frame` equals the reference.
fn check_host(pre: &mut GpuPreprocessor, what: &str, frame: &Nv12Frame) {
    for (label, s) in specs() {
        let want = reference(frame, &s);
        let mut got = vec![f32::NAN; s.len()];
        pre.run_host(&host_nv12(frame), &tensor_spec(&s), &mut got)
            .unwrap_or_else(|e| panic!("{what}, {label}: {e}"));
        assert_bit_exact(
            &format!(
                "{what} {}x{} (frame {}), {label}",
                frame.width, frame.height, frame.index
            ),
            &got,
            &want,
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
#[ignore = "needs an NVIDIA GPU: cargo test -p aisle-gpu --test gpu_device -- --ignored"]
fn host_frames_match_the_reference() {
    let fx = fixture();
    let mut pre = fx.pre.lock().unwrap();
    for frame in &fx.frames {
        check_host(&mut pre, "sample frame", frame);
    }
    // Steady state: one frame size, one spec -> each pool missed once per size, then hit.
    let (frames, tensors) = pre.pool_stats();
    assert!(
        frames.hits > 0 && tensors.hits > 0,
        "{frames:?} {tensors:?}"
    );
}

#[test]
#[ignore = "needs an NVIDIA GPU: cargo test -p aisle-gpu --test gpu_device -- --ignored"]
fn odd_strided_and_tiny_frames_match_the_reference() {
    let fx = fixture();
    let mut pre = fx.pre.lock().unwrap();
    let f = &fx.frames[2];
    let (w, h) = (f.width as usize, f.height as usize);
    let mut trimmed = f.clone();
    trimmed.width -= 1;
    trimmed.height -= 1;
    for frame in [
        trimmed,
        sub_frame(f, 2, 4, 321, 203, 13),
        sub_frame(f, w - 98, h - 62, 97, 61, 1),
        sub_frame(f, 400, 300, 3, 2, 5),
        sub_frame(f, 500, 200, 1, 1, 3),
    ] {
        check_host(&mut pre, "odd/strided", &frame);
    }
}

/// `values` rounded to f16 by `half`, as bits.
fn half_bits(values: &[f32]) -> Vec<u16> {
    values
        .iter()
        .map(|&v| half::f16::from_f32(v).to_bits())
        .collect()
}

fn bits16(values: &[half::f16]) -> Vec<u16> {
    values.iter().map(|v| v.to_bits()).collect()
}

/// BGR and gray channels equal the reference's; f16 outputs are the reference rounded to
/// nearest even, for every colour.
#[test]
#[ignore = "needs an NVIDIA GPU: cargo test -p aisle-gpu --test gpu_device -- --ignored"]
fn colours_and_f16_match_the_reference() {
    let fx = fixture();
    let mut pre = fx.pre.lock().unwrap();
    let frame = &fx.frames[3];
    for (label, s) in specs() {
        for color in [InputColor::Rgb, InputColor::Bgr, InputColor::Gray] {
            let s = InputSpec { color, ..s.clone() };
            let want = reference(frame, &s);
            let t = tensor_spec(&s);
            let mut got = vec![f32::NAN; s.len()];
            pre.run_host(&host_nv12(frame), &t, &mut got).unwrap();
            assert_bit_exact(&format!("{color:?}, {label}"), &got, &want);
            let mut got16 = vec![half::f16::NAN; s.len()];
            pre.run_host(&host_nv12(frame), &t, &mut got16).unwrap();
            assert_eq!(bits16(&got16), half_bits(&want), "f16 {color:?}, {label}");
        }
    }
}

/// Boxes for a `w x h` frame: ordinary, fractional, partly and wholly outside, tiny, zero
/// width, inverted and non-finite (as tests/kernel_parity.rs).
fn crop_boxes(w: f32, h: f32) -> Vec<[f32; 4]> {
    vec![
        [0.0, 0.0, w, h],
        [100.3, 50.7, 180.9, 300.2],
        [-20.0, -10.0, 60.0, 90.0],
        [w - 68.0, h - 76.0, w + 32.0, h + 44.0],
        [w + 10.0, h + 5.0, w + 60.0, h + 65.0],
        [10.0, 10.0, 11.0, 11.0],
        [50.0, 50.0, 50.0, 80.0],
        [300.0, 200.0, 250.0, 150.0],
        [f32::NAN, 10.0, 20.0, f32::NAN],
        [f32::NEG_INFINITY, 0.0, 30.0, f32::INFINITY],
    ]
}

/// Batched crops on the host path, the device path and left on the device equal
/// `CpuPreprocessor::crops`, in f32 and f16; a batch over `MAX_CROPS` is an error.
#[test]
#[ignore = "needs an NVIDIA GPU: cargo test -p aisle-gpu --test gpu_device -- --ignored"]
fn crops_match_the_reference() {
    let fx = fixture();
    let mut pre = fx.pre.lock().unwrap();
    let stream = pre.gpu().stream().clone();
    let crop = |w, h, layout, color| CropSpec {
        width: w,
        height: h,
        layout,
        color,
        mean: [123.675, 116.28, 103.53],
        std: [58.395, 57.12, 57.375],
    };
    let cases = [
        crop(64, 128, InputLayout::Nchw, InputColor::Rgb),
        crop(112, 112, InputLayout::Nhwc, InputColor::Bgr),
        crop(48, 48, InputLayout::Nchw, InputColor::Gray),
    ];
    for frame in [&fx.frames[0], &sub_frame(&fx.frames[2], 6, 8, 201, 133, 11)] {
        let boxes = crop_boxes(frame.width as f32, frame.height as f32);
        for c in &cases {
            let label = format!(
                "{}x{} frame, crops {}x{} {:?} {:?}",
                frame.width, frame.height, c.width, c.height, c.layout, c.color
            );
            let n = boxes.len() * c.item_len();
            let mut want = vec![0f32; n];
            CpuPreprocessor::default()
                .crops(frame, &boxes, c, &mut want)
                .unwrap();
            let k = crop_spec(c);
            let mut got = vec![f32::NAN; n];
            pre.run_crops_host(&host_nv12(frame), &boxes, &k, &mut got)
                .unwrap();
            assert_bit_exact(&format!("host crops, {label}"), &got, &want);
            let mut got16 = vec![half::f16::NAN; n];
            pre.run_crops_host(&host_nv12(frame), &boxes, &k, &mut got16)
                .unwrap();
            assert_eq!(bits16(&got16), half_bits(&want), "f16 crops, {label}");

            let y = stream.clone_htod(&frame.y).unwrap();
            let uv = stream.clone_htod(&frame.uv).unwrap();
            let dev = DeviceNv12::new(
                frame.width,
                frame.height,
                y.as_view(),
                frame.y_stride,
                uv.as_view(),
                frame.uv_stride,
            )
            .unwrap();
            let mut got = vec![f32::NAN; n];
            pre.run_crops_device(&dev, &boxes, &k, &mut got).unwrap();
            assert_bit_exact(&format!("device crops, {label}"), &got, &want);
            let mut out: CudaSlice<half::f16> = stream.alloc_zeros(n).unwrap();
            pre.enqueue_crops_device(&dev, &boxes, &k, &mut out)
                .unwrap();
            let got16 = stream.clone_dtoh(&out).unwrap();
            assert_eq!(
                bits16(&got16),
                half_bits(&want),
                "device f16 crops, {label}"
            );
        }
    }
    let k = crop_spec(&cases[0]);
    let frame = &fx.frames[0];
    let mut none: Vec<f32> = Vec::new();
    pre.run_crops_host(&host_nv12(frame), &[], &k, &mut none)
        .unwrap();
    let many = vec![[0.0, 0.0, 10.0, 10.0]; MAX_CROPS + 1];
    let mut out = vec![0f32; many.len() * k.item_len()];
    let e = pre
        .run_crops_host(&host_nv12(frame), &many, &k, &mut out)
        .unwrap_err();
    assert!(e.to_string().contains("more than"), "{e}");
}

/// The device path (views, raw NVDEC-like surface, device-resident output) equals the host
/// path, which equals the reference.
#[test]
#[ignore = "needs an NVIDIA GPU: cargo test -p aisle-gpu --test gpu_device -- --ignored"]
fn device_frames_match_the_host_path() {
    let fx = fixture();
    let mut pre = fx.pre.lock().unwrap();
    let gpu = pre.gpu().clone();
    let stream = gpu.stream().clone();
    let f = sub_frame(&fx.frames[1], 0, 0, 767, 575, 9); // odd size, pitch != width
    let (w, h) = (f.width, f.height);
    for (label, s) in specs() {
        let t = tensor_spec(&s);
        let mut host = vec![f32::NAN; s.len()];
        let g_host = pre.run_host(&host_nv12(&f), &t, &mut host).unwrap();
        assert_bit_exact(&format!("host, {label}"), &host, &reference(&f, &s));

        // Two allocations, the frame's own pitches.
        let y = stream.clone_htod(&f.y).unwrap();
        let uv = stream.clone_htod(&f.uv).unwrap();
        let frame =
            DeviceNv12::new(w, h, y.as_view(), f.y_stride, uv.as_view(), f.uv_stride).unwrap();
        let mut got = vec![f32::NAN; s.len()];
        let g_dev = pre.run_device(&frame, &t, &mut got).unwrap();
        assert_eq!(g_dev, g_host, "{label}: geometry");
        assert_bit_exact(&format!("device views, {label}"), &got, &host);

        // One NVDEC-like surface: pitch 1024, UV at pitch * surface height (aligned up to 16).
        let (pitch, surface_h) = (1024usize, (h as usize).next_multiple_of(16));
        let mut surface = vec![0xEEu8; pitch * surface_h * 3 / 2];
        for r in 0..h as usize {
            surface[r * pitch..][..w as usize]
                .copy_from_slice(&f.y[r * f.y_stride..][..w as usize]);
        }
        let uv_row = 2 * (w as usize).div_ceil(2);
        for r in 0..(h as usize).div_ceil(2) {
            surface[(surface_h + r) * pitch..][..uv_row]
                .copy_from_slice(&f.uv[r * f.uv_stride..][..uv_row]);
        }
        let dev_surface = stream.clone_htod(&surface).unwrap();
        let mut got = vec![f32::NAN; s.len()];
        {
            let (base, _sync) = dev_surface.device_ptr(&stream);
            // SAFETY: `dev_surface` holds both planes at these offsets and pitches and lives
            // (unwritten) until `run_device` has returned, which waits for the device.
            let frame = unsafe {
                DeviceNv12::from_raw(w, h, base, pitch, base + (pitch * surface_h) as u64, pitch)
            }
            .unwrap();
            pre.run_device(&frame, &t, &mut got).unwrap();
        }
        assert_bit_exact(&format!("raw surface, {label}"), &got, &host);

        // Output left on the device.
        let mut out: CudaSlice<f32> = stream.alloc_zeros(s.len()).unwrap();
        pre.enqueue_device(&frame, &t, &mut out).unwrap();
        let got = stream.clone_dtoh(&out).unwrap();
        assert_bit_exact(&format!("device output, {label}"), &got, &host);
    }
}

/// Through the `Preprocessor` trait (what the pipeline uses): same tensor and mapping as the CPU
/// reference; wrong output lengths and bad frames are errors naming the sizes.
#[test]
#[ignore = "needs an NVIDIA GPU: cargo test -p aisle-gpu --test gpu_device -- --ignored"]
fn preprocessor_trait_matches_and_errors_name_the_sizes() {
    let fx = fixture();
    let cache = tempfile::tempdir().unwrap();
    let inner = GpuPreprocessor::with_gpu(
        fx.pre.lock().unwrap().gpu().clone(),
        &KernelCache::new(cache.path()),
    )
    .unwrap();
    let mut gpu = GpuPreprocess::from_inner(inner);
    let frame = &fx.frames[0];
    for (label, s) in specs() {
        let mut want = vec![0f32; s.len()];
        let m_cpu = CpuPreprocessor::default()
            .run(frame, &s, &mut want)
            .unwrap();
        let mut got = vec![f32::NAN; s.len()];
        let m_gpu = gpu.run(frame, &s, &mut got).unwrap();
        assert_eq!(m_gpu, m_cpu, "{label}: mapping");
        assert_bit_exact(&format!("trait, {label}"), &got, &want);
    }
    let s = &specs()[0].1;
    let mut short = vec![0f32; s.len() - 1];
    let e = gpu.run(frame, s, &mut short).unwrap_err();
    assert!(
        e.contains("768x576 frame") && e.contains("output buffer holds"),
        "{e}"
    );
    let mut bad = frame.clone();
    bad.y.truncate(100);
    let e = gpu.run(&bad, s, &mut vec![0f32; s.len()]).unwrap_err();
    assert!(e.contains("luma plane"), "{e}");
}

/// Kernel-only throughput (CUDA events around back-to-back launches, frame and tensor on the
/// device) and the host path's per-frame time, in GB/s of compulsory traffic (the NV12 frame read
/// once + the f32 tensor written once) against the device's peak memory bandwidth.
#[test]
#[ignore = "needs an NVIDIA GPU: cargo test -p aisle-gpu --test gpu_device -- --ignored"]
fn throughput_against_memory_bandwidth() {
    let fx = fixture();
    let mut pre = fx.pre.lock().unwrap();
    let gpu: Arc<Gpu> = pre.gpu().clone();
    let stream = gpu.stream().clone();
    let peak = gpu.peak_memory_bandwidth();
    println!("device: {}", gpu.summary());
    match peak {
        Some(p) => println!("peak memory bandwidth: {:.1} GB/s", p / 1e9),
        None => println!(
            "peak memory bandwidth: not reported by the driver (memory clock / bus width \
             attributes are 0): no ratio"
        ),
    }
    let tspec = |w, h, layout, resize| TensorSpec {
        width: w,
        height: h,
        layout,
        resize,
        color: Color::Rgb,
        mean: [123.675, 116.28, 103.53],
        std: [58.395, 57.12, 57.375],
        pad: [114; 3],
    };
    let cases = [
        ((768, 576), tspec(512, 512, Layout::Nchw, Resize::Stretch)),
        (
            (1920, 1080),
            tspec(640, 640, Layout::Nchw, Resize::Letterbox),
        ),
        (
            (3840, 2160),
            tspec(640, 640, Layout::Nchw, Resize::Letterbox),
        ),
        (
            (1920, 1080),
            tspec(1920, 1080, Layout::Nhwc, Resize::Stretch),
        ),
    ];
    println!(
        "{:>11} -> {:>17} | {:>9} {:>8} {:>7} | {:>10} {:>8}",
        "frame", "input", "kernel us", "GB/s", "of peak", "host ms", "GB/s"
    );
    for ((fw, fh), t) in cases {
        // A synthetic frame (gradients) of the size, on the device with packed rows.
        let frame_len = nv12_packed_len(fw, fh);
        let bytes: Vec<u8> = (0..frame_len).map(|i| (i * 7 % 251) as u8).collect();
        let y_len = (fw * fh) as usize;
        let uv_row = 2 * (fw as usize).div_ceil(2);
        let dev = stream.clone_htod(&bytes).unwrap();
        let frame = DeviceNv12::new(
            fw,
            fh,
            dev.slice(0..y_len),
            fw as usize,
            dev.slice(y_len..),
            uv_row,
        )
        .unwrap();
        let mut out: CudaSlice<f32> = stream.alloc_zeros(t.len()).unwrap();
        let traffic = (frame_len + t.len() * 4) as f64;
        for _ in 0..10 {
            pre.enqueue_device(&frame, &t, &mut out).unwrap();
        }
        let iters = 200;
        let start = gpu
            .context()
            .new_event(Some(CUevent_flags::CU_EVENT_DEFAULT))
            .unwrap();
        let end = gpu
            .context()
            .new_event(Some(CUevent_flags::CU_EVENT_DEFAULT))
            .unwrap();
        start.record(&stream).unwrap();
        for _ in 0..iters {
            pre.enqueue_device(&frame, &t, &mut out).unwrap();
        }
        end.record(&stream).unwrap();
        end.synchronize().unwrap();
        let kernel_s = f64::from(start.elapsed_ms(&end).unwrap()) / 1e3 / f64::from(iters);
        let kernel_gbs = traffic / kernel_s / 1e9;
        let ratio = peak.map_or("-".to_string(), |p| {
            format!("{:.0} %", 100.0 * traffic / kernel_s / p)
        });

        // Host path: pack + upload + kernel + download per frame (wall clock).
        let host = aisle_gpu::HostNv12 {
            width: fw,
            height: fh,
            y: &bytes[..y_len],
            y_pitch: fw as usize,
            uv: &bytes[y_len..],
            uv_pitch: uv_row,
        };
        let mut host_out = vec![0f32; t.len()];
        pre.run_host(&host, &t, &mut host_out).unwrap();
        let n = 30;
        let t0 = Instant::now();
        for _ in 0..n {
            pre.run_host(&host, &t, &mut host_out).unwrap();
        }
        let host_s = t0.elapsed().as_secs_f64() / f64::from(n);
        println!(
            "{:>11} -> {:>17} | {:>9.1} {:>8.1} {:>7} | {:>10.3} {:>8.1}",
            format!("{fw}x{fh}"),
            format!("{}x{} {:?}", t.width, t.height, t.layout),
            kernel_s * 1e6,
            kernel_gbs,
            ratio,
            host_s * 1e3,
            traffic / host_s / 1e9
        );
        assert!(kernel_gbs > 0.0);
    }
    let (frames, tensors) = pre.pool_stats();
    println!("pools: frames {frames:?}, tensors {tensors:?}");
}

/// Sanity of the error type on a GPU machine: a wrong output length is `PreprocessInput`.
#[test]
#[ignore = "needs an NVIDIA GPU: cargo test -p aisle-gpu --test gpu_device -- --ignored"]
fn wrong_output_length_is_an_input_error() {
    let fx = fixture();
    let mut pre = fx.pre.lock().unwrap();
    let s = tensor_spec(&specs()[0].1);
    let e = pre
        .run_host(&host_nv12(&fx.frames[0]), &s, &mut [0f32; 3])
        .unwrap_err();
    assert!(matches!(e, GpuError::PreprocessInput { .. }), "{e:?}");
}
