//! The host side of the GPU preprocessor, without a GPU (runs in every `make test`): its geometry
//! is the CPU reference's, frame views are validated before anything reaches CUDA, and opening
//! it where there is no GPU is an error naming what is missing, never a panic. (The buffer
//! pool's rules are unit tests in `src/pool.rs`; the device itself is `tests/gpu_device.rs`.)

use aisle_gpu::preprocess::{launch_config, nv12_packed_len, MAX_SIDE};
use aisle_gpu::{geometry, DeviceNv12, GpuError, GpuPreprocessor, KernelCache, Resize};
use aisle_infer::manifest::InputDType;
use aisle_infer::{InputLayout, InputSpec, Manifest, ResizeMode};
use aisle_vision::gpu::tensor_spec;

fn spec(w: u32, h: u32, resize: ResizeMode) -> InputSpec {
    InputSpec {
        name: "in".into(),
        layout: InputLayout::Nchw,
        width: w,
        height: h,
        dtype: InputDType::Float32,
        color: aisle_infer::InputColor::Rgb,
        resize,
        pad: [114; 3],
        mean: [0.0; 3],
        std: [1.0; 3],
    }
}

/// `aisle_gpu::geometry` equals `aisle_vision::preprocess::geometry` bit for bit, for every
/// frame size from 1x1 up in a sweep, real camera sizes and every manifest input, both modes.
#[test]
fn geometry_is_the_reference_geometry() {
    let mut inputs: Vec<(u32, u32)> = vec![(1, 1), (2, 3), (97, 61), (61, 97), (320, 320)];
    inputs.extend((1..40).map(|k| (16 * k, 9 * k + 7)));
    let manifest = Manifest::builtin().expect("built-in manifest");
    inputs.extend(
        manifest
            .models
            .values()
            .map(|m| (m.input.width, m.input.height)),
    );
    let mut frames: Vec<(usize, usize)> = Vec::new();
    for w in (1..200).step_by(7) {
        for h in (1..200).step_by(11) {
            frames.push((w, h));
        }
    }
    frames.extend([
        (768, 576),
        (767, 575),
        (1280, 720),
        (1920, 1080),
        (2560, 1440),
        (3840, 2160),
        (4096, 2160),
        (1, 16384),
        (16384, 1),
    ]);
    let mut checked = 0;
    for &(iw, ih) in &inputs {
        for resize in [ResizeMode::Stretch, ResizeMode::Letterbox] {
            let s = spec(iw, ih, resize);
            let t = tensor_spec(&s);
            assert_eq!(
                t.resize,
                match resize {
                    ResizeMode::Stretch => Resize::Stretch,
                    ResizeMode::Letterbox => Resize::Letterbox,
                }
            );
            for &(fw, fh) in &frames {
                let g = geometry(fw, fh, &t);
                let r = aisle_vision::preprocess::geometry(fw, fh, &s);
                assert_eq!(
                    (g.px, g.py, g.cw, g.ch, g.sx.to_bits(), g.sy.to_bits()),
                    (r.px, r.py, r.cw, r.ch, r.sx.to_bits(), r.sy.to_bits()),
                    "frame {fw}x{fh} -> {iw}x{ih} {resize:?}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 20_000, "{checked}");
}

#[test]
fn launch_covers_the_output_and_packing_is_nv12() {
    let c = launch_config(97, 61);
    assert_eq!(c.block_dim, (16, 16, 1));
    assert_eq!(c.grid_dim, (7, 4, 1));
    assert_eq!(c.block_dim.0 * c.block_dim.1, aisle_gpu::BLOCK_THREADS);
    assert_eq!(nv12_packed_len(768, 576), 768 * 576 * 3 / 2);
    // Odd sizes: a half chroma pair per row, a half chroma row.
    assert_eq!(nv12_packed_len(3, 3), 9 + 2 * 2 * 2);
    assert_eq!(nv12_packed_len(1, 1), 1 + 2);
}

/// Frame views are checked before anything reaches CUDA (no GPU needed: a raw frame is only
/// described here, never launched).
#[test]
fn device_frames_are_validated() {
    let make = |w, h, yp, uvp| {
        // SAFETY: the frame is never given to a preprocessor, so the pointers are never used.
        unsafe { DeviceNv12::from_raw(w, h, 0x1000, yp, 0x2000, uvp) }
    };
    assert!(make(768, 576, 1024, 1024).is_ok());
    assert!(make(767, 575, 767, 768).is_ok());
    for (w, h, yp, uvp, want) in [
        (0, 576, 1024, 1024, "empty size 0x576"),
        (768, 576, 767, 1024, "luma pitch 767"),
        (767, 576, 768, 767, "chroma pitch 767 is not within 768"),
        (MAX_SIDE + 1, 4, 1 << 20, 1 << 20, "larger than 16384"),
        (8, 8, 1 << 31, 8, "luma pitch 2147483648"),
    ] {
        let e = make(w, h, yp, uvp).unwrap_err();
        assert!(matches!(e, GpuError::InvalidFrame { .. }), "{e:?}");
        let msg = e.to_string();
        assert!(
            msg.contains(&format!("NV12 frame {w}x{h}: ")) && msg.contains(want),
            "{msg}"
        );
    }
}

/// On a machine without a GPU (CI, this development VM) `GpuPreprocessor::new` returns the
/// probe's message as `NotReady`; it must not panic inside cudarc.
#[test]
fn new_without_a_gpu_is_a_clear_error() {
    let status = aisle_gpu::probe();
    if status.is_ready() {
        return; // a GPU is present: tests/gpu_device.rs covers it
    }
    let dir = tempfile::tempdir().unwrap();
    let err = GpuPreprocessor::new(&KernelCache::new(dir.path())).unwrap_err();
    match &err {
        GpuError::NotReady(msg) => assert_eq!(msg, &status.to_string()),
        other => panic!("expected NotReady, got {other:?}"),
    }
    // Nothing was compiled or cached: the probe failed first.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// The parameters of kernel `name` in kernels/preprocess.cu, as "type name".
fn kernel_params(name: &str) -> Vec<String> {
    let src = aisle_gpu::PREPROCESS_CU;
    let start = src
        .find(&format!("extern \"C\" __global__ void {name}("))
        .unwrap_or_else(|| panic!("{name} is declared"));
    let params = &src[start..];
    let params = &params[params.find('(').unwrap() + 1..params.find(')').unwrap()];
    params
        .split(',')
        .map(|p| {
            let p = p.replace("__restrict__", "");
            let words: Vec<&str> = p.split_whitespace().collect();
            let (ty, name) = words.split_at(words.len() - 1);
            format!("{} {}", ty.join(" "), name[0])
        })
        .collect()
}

/// The parameters of `nv12_to_tensor` and `crop_resize_batch` in kernels/preprocess.cu, in
/// order, as `GpuPreprocessor`'s launches push them (src/preprocess.rs, `launch` and
/// `launch_crops`): pointers as device pointers, `int` as `i32`, `float` as `f32`. A change of a
/// kernel's signature fails here, without a GPU, instead of as garbage on the device.
#[test]
fn launch_arguments_follow_the_kernel_signature() {
    let frame = [
        "const unsigned char* y_plane",
        "int y_pitch",
        "const unsigned char* uv_plane",
        "int uv_pitch",
        "int frame_w",
        "int frame_h",
    ];
    let norm = [
        "float mean0",
        "float mean1",
        "float mean2",
        "float std0",
        "float std1",
        "float std2",
    ];
    let mut want: Vec<&str> = frame.to_vec();
    want.extend([
        "void* out",
        "int out_w",
        "int out_h",
        "int px",
        "int py",
        "int cw",
        "int ch",
        "float sx",
        "float sy",
        "int layout",
        "int color",
        "int dtype",
    ]);
    want.extend(norm);
    want.extend(["float pad0", "float pad1", "float pad2"]);
    assert_eq!(kernel_params("nv12_to_tensor"), want);

    let mut want: Vec<&str> = frame.to_vec();
    want.extend([
        "const float* boxes",
        "int n_boxes",
        "void* out",
        "int out_w",
        "int out_h",
        "int layout",
        "int color",
        "int dtype",
    ]);
    want.extend(norm);
    assert_eq!(kernel_params("crop_resize_batch"), want);
}
