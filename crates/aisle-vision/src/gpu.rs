//! [`GpuPreprocess`]: the [`Preprocessor`] contract on the GPU, through
//! [`aisle_gpu::GpuPreprocessor`] (the `nv12_to_tensor` and `crop_resize_batch` kernels,
//! bit-exact with [`CpuPreprocessor`](crate::CpuPreprocessor)'s `run` and `crops`).
//!
//! This module only converts between this crate's types and `aisle-gpu`'s ([`InputSpec`] ->
//! [`TensorSpec`], [`Nv12Frame`] -> [`HostNv12`], [`Geometry`] -> [`InputMapping`]);
//! `aisle-gpu` does not depend on `aisle-vision`.

use aisle_gpu::{
    Color, DeviceNv12, Geometry, GpuError, GpuPreprocessor, HostNv12, KernelCache, Layout, Resize,
    TensorSpec,
};
use aisle_infer::{InputColor, InputLayout, InputSpec, ResizeMode};
use aisle_types::Nv12Frame;

use crate::preprocess::{CropSpec, InputMapping, Preprocessor};

fn layout(layout: InputLayout) -> Layout {
    match layout {
        InputLayout::Nchw => Layout::Nchw,
        InputLayout::Nhwc => Layout::Nhwc,
    }
}

fn color(color: InputColor) -> Color {
    match color {
        InputColor::Rgb => Color::Rgb,
        InputColor::Bgr => Color::Bgr,
        InputColor::Gray => Color::Gray,
    }
}

/// The kernel's description of a model input: the spec's layout, resize, colour, mean, std and
/// pad.
pub fn tensor_spec(spec: &InputSpec) -> TensorSpec {
    TensorSpec {
        width: spec.width,
        height: spec.height,
        layout: layout(spec.layout),
        resize: match spec.resize {
            ResizeMode::Stretch => Resize::Stretch,
            ResizeMode::Letterbox => Resize::Letterbox,
        },
        color: color(spec.color),
        mean: spec.mean,
        std: spec.std,
        pad: spec.pad,
    }
}

/// The kernel's description of a crop batch.
pub fn crop_spec(spec: &CropSpec) -> aisle_gpu::CropSpec {
    aisle_gpu::CropSpec {
        width: spec.width,
        height: spec.height,
        layout: layout(spec.layout),
        color: color(spec.color),
        mean: spec.mean,
        std: spec.std,
    }
}

/// A host frame view of `frame` for the GPU preprocessor.
pub fn host_nv12(frame: &Nv12Frame) -> HostNv12<'_> {
    HostNv12 {
        width: frame.width,
        height: frame.height,
        y: &frame.y,
        y_pitch: frame.y_stride,
        uv: &frame.uv,
        uv_pitch: frame.uv_stride,
    }
}

/// The box mapping of a geometry, as the CPU reference returns it.
pub fn input_mapping(g: &Geometry, frame_width: u32, frame_height: u32) -> InputMapping {
    InputMapping {
        scale_x: g.sx,
        scale_y: g.sy,
        pad_x: g.px as f32,
        pad_y: g.py as f32,
        frame_width,
        frame_height,
    }
}

/// [`Preprocessor`] on the GPU. Create it only where a GPU is wanted: [`GpuPreprocess::new`]
/// fails with the probe's message (what is missing and its fix) where there is none.
#[derive(Debug)]
pub struct GpuPreprocess {
    inner: GpuPreprocessor,
}

impl GpuPreprocess {
    /// Opens the GPU and loads the preprocessing kernel (built by NVRTC, cached in `cache`).
    ///
    /// # Errors
    /// [`GpuError::NotReady`] without a usable GPU; NVRTC or driver errors otherwise.
    pub fn new(cache: &KernelCache) -> Result<GpuPreprocess, GpuError> {
        Ok(GpuPreprocess {
            inner: GpuPreprocessor::new(cache)?,
        })
    }

    /// Wraps an existing GPU preprocessor.
    pub fn from_inner(inner: GpuPreprocessor) -> GpuPreprocess {
        GpuPreprocess { inner }
    }

    /// The `aisle-gpu` preprocessor (pool statistics, the device).
    pub fn inner(&self) -> &GpuPreprocessor {
        &self.inner
    }

    /// Preprocesses a frame already in device memory (e.g. from NVDEC) into `out`.
    ///
    /// # Errors
    /// As [`Preprocessor::run`], as a [`GpuError`].
    pub fn run_device(
        &mut self,
        frame: &DeviceNv12<'_>,
        spec: &InputSpec,
        out: &mut [f32],
    ) -> Result<InputMapping, GpuError> {
        let g = self.inner.run_device(frame, &tensor_spec(spec), out)?;
        Ok(input_mapping(&g, frame.width(), frame.height()))
    }

    /// Crops `boxes` (frame pixels) of a frame in host memory into the batch `out`, as
    /// [`CpuPreprocessor::crops`](crate::CpuPreprocessor::crops).
    ///
    /// # Errors
    /// Invalid frame, crop size, box count or output length; CUDA failures.
    pub fn crops(
        &mut self,
        frame: &Nv12Frame,
        boxes: &[[f32; 4]],
        spec: &CropSpec,
        out: &mut [f32],
    ) -> Result<(), GpuError> {
        self.inner
            .run_crops_host(&host_nv12(frame), boxes, &crop_spec(spec), out)
    }
}

impl Preprocessor for GpuPreprocess {
    fn crops(
        &mut self,
        frame: &Nv12Frame,
        boxes: &[[f32; 4]],
        spec: &CropSpec,
        out: &mut [f32],
    ) -> Result<(), String> {
        GpuPreprocess::crops(self, frame, boxes, spec, out).map_err(|e| e.to_string())
    }

    fn run(
        &mut self,
        frame: &Nv12Frame,
        spec: &InputSpec,
        out: &mut [f32],
    ) -> Result<InputMapping, String> {
        let g = self
            .inner
            .run_host(&host_nv12(frame), &tensor_spec(spec), out)
            .map_err(|e| e.to_string())?;
        Ok(input_mapping(&g, frame.width, frame.height))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preprocess::{geometry, CpuPreprocessor};
    use aisle_infer::manifest::InputDType;

    fn spec(w: u32, h: u32, layout: InputLayout, resize: ResizeMode) -> InputSpec {
        InputSpec {
            name: "in".into(),
            layout,
            width: w,
            height: h,
            dtype: InputDType::Float32,
            color: aisle_infer::InputColor::Rgb,
            resize,
            pad: [114, 0, 255],
            mean: [1.0, 2.0, 3.0],
            std: [4.0, 5.0, 6.0],
        }
    }

    /// The conversions keep everything the kernel uses, and the mapping built from the GPU
    /// side's geometry is the CPU reference's.
    #[test]
    fn conversions_match_the_reference() {
        for layout in [InputLayout::Nchw, InputLayout::Nhwc] {
            for resize in [ResizeMode::Stretch, ResizeMode::Letterbox] {
                let s = spec(97, 61, layout, resize);
                let t = tensor_spec(&s);
                assert_eq!((t.width, t.height, t.len()), (97, 61, s.len()));
                assert_eq!((t.mean, t.std, t.pad), (s.mean, s.std, s.pad));
                assert_eq!(t.color, Color::Rgb);
                let frame = Nv12Frame {
                    width: 33,
                    height: 20,
                    pts: aisle_types::MediaTime::new(0, 1).unwrap(),
                    index: 0,
                    y: vec![100; 40 * 20],
                    y_stride: 40,
                    uv: vec![128; 40 * 10],
                    uv_stride: 40,
                };
                let mut out = vec![0f32; s.len()];
                let want = CpuPreprocessor::default()
                    .run(&frame, &s, &mut out)
                    .unwrap();
                let g = aisle_gpu::geometry(33, 20, &t);
                let r = geometry(33, 20, &s);
                assert_eq!(
                    (g.px, g.py, g.cw, g.ch, g.sx.to_bits(), g.sy.to_bits()),
                    (r.px, r.py, r.cw, r.ch, r.sx.to_bits(), r.sy.to_bits())
                );
                assert_eq!(input_mapping(&g, 33, 20), want);
                let h = host_nv12(&frame);
                assert_eq!((h.y_pitch, h.uv_pitch, h.y.len()), (40, 40, 800));
            }
        }
    }

    /// Without a GPU (this machine, CI) creating one is an error naming what is missing, never
    /// a panic.
    #[test]
    fn new_without_a_gpu_is_a_clear_error() {
        if aisle_gpu::probe().is_ready() {
            return; // a GPU machine: tests/gpu_device.rs in aisle-gpu covers it
        }
        let dir = std::env::temp_dir().join("aisle-vision-gpu-test-kernels");
        let err = GpuPreprocess::new(&KernelCache::new(dir)).unwrap_err();
        assert!(matches!(err, GpuError::NotReady(_)), "{err:?}");
        assert!(err.to_string().starts_with("GPU not usable: "), "{err}");
    }
}
