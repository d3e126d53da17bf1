//! NV12 frame -> model input tensor, with exactly defined sampling.
//!
//! This CPU implementation is the *reference*: the CUDA kernels of `aisle-gpu` and the Python
//! reference (`scripts/reference_detect.py`) compute the same numbers, and tests compare them.
//! All arithmetic is `f32` in the order written below.
//!
//! 1. **Colour.** Each source pixel `(x, y)` is converted to 8-bit RGB from luma `Y(x, y)` and
//!    chroma `U, V(x / 2, y / 2)` (nearest chroma sample, no chroma interpolation) with the
//!    ITU-R BT.601 limited-range integer formula:
//!    `c = Y - 16, d = U - 128, e = V - 128`,
//!    `R = clamp((298c + 409e + 128) >> 8)`, `G = clamp((298c - 100d - 208e + 128) >> 8)`,
//!    `B = clamp((298c + 516d + 128) >> 8)`, clamped to 0..=255 (arithmetic shift).
//! 2. **Geometry.** For `stretch`, the content region is the whole `w x h` input and
//!    `sx = W / w`, `sy = H / h` (f32 divisions of the frame size `W x H`). For `letterbox`,
//!    `s = min(w / W, h / H)`, content size `cw = round(W * s)`, `ch = round(H * s)` (at least 1),
//!    offsets `px = (w - cw) / 2`, `py = (h - ch) / 2` (integer division), and `sx = W / cw`,
//!    `sy = H / ch`. Pixels outside the content region take the `pad` colour.
//! 3. **Sampling.** Output pixel `(ox, oy)` in the content region samples source position
//!    `u = ((ox - px) + 0.5) * sx - 0.5`, `v = ((oy - py) + 0.5) * sy - 0.5` (pixel centres,
//!    as OpenCV's `INTER_LINEAR`), clamped to `[0, W - 1] x [0, H - 1]`. With `x0 = floor(u)`,
//!    `x1 = min(x0 + 1, W - 1)`, `fx = u - x0` (likewise `y0, y1, fy`), each channel is
//!    `top = p00 + (p10 - p00) * fx`, `bottom = p01 + (p11 - p01) * fx`,
//!    `value = top + (bottom - top) * fy`, where `pXY` is the RGB value at `(xX, yY)`.
//! 4. **Normalisation.** `out = (value - mean[c]) / std[c]`, written NHWC or NCHW.

use aisle_infer::{InputLayout, InputSpec, ResizeMode};
use aisle_types::{BBox, Nv12Frame};

/// How model-input coordinates map back to frame coordinates:
/// `frame_x = (input_x - pad_x) * scale_x`, `frame_y = (input_y - pad_y) * scale_y`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InputMapping {
    pub scale_x: f32,
    pub scale_y: f32,
    pub pad_x: f32,
    pub pad_y: f32,
    pub frame_width: u32,
    pub frame_height: u32,
}

impl InputMapping {
    /// Maps a box from model-input pixels to frame pixels, clamped to the frame.
    pub fn to_frame(&self, b: &BBox) -> BBox {
        BBox::new(
            (b.x1 - self.pad_x) * self.scale_x,
            (b.y1 - self.pad_y) * self.scale_y,
            (b.x2 - self.pad_x) * self.scale_x,
            (b.y2 - self.pad_y) * self.scale_y,
        )
        .clamp(self.frame_width as f32, self.frame_height as f32)
    }
}

/// The content region of the model input and the scale from it to the frame (step 2 of the
/// module docs). GPU launchers pass these to their kernels, so both sides use one computation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Geometry {
    /// Left and top padding of the content region, in model-input pixels.
    pub px: usize,
    pub py: usize,
    /// Content width and height, in model-input pixels.
    pub cw: usize,
    pub ch: usize,
    /// Frame pixels per content pixel, horizontally and vertically.
    pub sx: f32,
    pub sy: f32,
}

/// The geometry of a `frame_w x frame_h` frame in the model input described by `spec`.
pub fn geometry(frame_w: usize, frame_h: usize, spec: &InputSpec) -> Geometry {
    let (w, h) = (spec.width as usize, spec.height as usize);
    let (fw, fh) = (frame_w as f32, frame_h as f32);
    match spec.resize {
        ResizeMode::Stretch => Geometry {
            px: 0,
            py: 0,
            cw: w,
            ch: h,
            sx: fw / w as f32,
            sy: fh / h as f32,
        },
        ResizeMode::Letterbox => {
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

/// Source sample positions along one axis: `(i0, i1, frac)` per output position.
fn axis_taps(n_out: usize, scale: f32, n_src: usize, taps: &mut Vec<(usize, usize, f32)>) {
    taps.clear();
    let max = (n_src - 1) as f32;
    for o in 0..n_out {
        let u = ((o as f32 + 0.5) * scale - 0.5).clamp(0.0, max);
        let i0 = u.floor();
        let f = u - i0;
        let i0 = i0 as usize;
        taps.push((i0, (i0 + 1).min(n_src - 1), f));
    }
}

/// BT.601 limited-range YUV -> RGB for one pixel (see the module docs).
#[inline]
pub fn yuv_to_rgb(y: u8, u: u8, v: u8) -> [u8; 3] {
    let c = i32::from(y) - 16;
    let d = i32::from(u) - 128;
    let e = i32::from(v) - 128;
    let clamp = |x: i32| x.clamp(0, 255) as u8;
    [
        clamp((298 * c + 409 * e + 128) >> 8),
        clamp((298 * c - 100 * d - 208 * e + 128) >> 8),
        clamp((298 * c + 516 * d + 128) >> 8),
    ]
}

/// Converts a whole NV12 frame to packed RGB8 (the colour step of the reference).
pub fn nv12_to_rgb(frame: &Nv12Frame, rgb: &mut Vec<u8>) {
    let (w, h) = (frame.width as usize, frame.height as usize);
    rgb.resize(w * h * 3, 0);
    for y in 0..h {
        let yrow = &frame.y[y * frame.y_stride..][..w];
        let uvrow = &frame.uv[(y / 2) * frame.uv_stride..][..2 * w.div_ceil(2)];
        let out = &mut rgb[y * w * 3..][..w * 3];
        for x in 0..w {
            let p = yuv_to_rgb(yrow[x], uvrow[(x / 2) * 2], uvrow[(x / 2) * 2 + 1]);
            out[x * 3..x * 3 + 3].copy_from_slice(&p);
        }
    }
}

/// Turns frames into model input tensors. Implementations: [`CpuPreprocessor`] (reference);
/// GPU backends implement the same contract.
pub trait Preprocessor: Send {
    /// Fills `out` (length `spec.len()`) from `frame` and returns the coordinate mapping.
    fn run(
        &mut self,
        frame: &Nv12Frame,
        spec: &InputSpec,
        out: &mut [f32],
    ) -> Result<InputMapping, String>;
}

/// The CPU reference preprocessor. Keeps its scratch buffers between frames.
#[derive(Debug, Default)]
pub struct CpuPreprocessor {
    rgb: Vec<u8>,
    xs: Vec<(usize, usize, f32)>,
    ys: Vec<(usize, usize, f32)>,
    row: Vec<f32>,
}

impl Preprocessor for CpuPreprocessor {
    fn run(
        &mut self,
        frame: &Nv12Frame,
        spec: &InputSpec,
        out: &mut [f32],
    ) -> Result<InputMapping, String> {
        frame.validate().map_err(|e| e.to_string())?;
        if out.len() != spec.len() {
            return Err(format!(
                "output buffer holds {} values, the model input needs {}",
                out.len(),
                spec.len()
            ));
        }
        let (fw, fh) = (frame.width as usize, frame.height as usize);
        let (w, h) = (spec.width as usize, spec.height as usize);
        let g = geometry(fw, fh, spec);
        nv12_to_rgb(frame, &mut self.rgb);
        axis_taps(g.cw, g.sx, fw, &mut self.xs);
        axis_taps(g.ch, g.sy, fh, &mut self.ys);

        let pad: [f32; 3] =
            std::array::from_fn(|c| (f32::from(spec.pad[c]) - spec.mean[c]) / spec.std[c]);
        let plane = w * h;
        // One output row at a time, as interleaved RGB values, then normalised and scattered.
        self.row.resize(w * 3, 0.0);
        for oy in 0..h {
            let row = &mut self.row;
            let in_rows = oy >= g.py && oy < g.py + g.ch;
            for ox in 0..w {
                let inside = in_rows && ox >= g.px && ox < g.px + g.cw;
                if !inside {
                    for c in 0..3 {
                        row[ox * 3 + c] = f32::NAN; // marks padding
                    }
                    continue;
                }
                let (y0, y1, fy) = self.ys[oy - g.py];
                let (x0, x1, fx) = self.xs[ox - g.px];
                let r0 = &self.rgb[y0 * fw * 3..][..fw * 3];
                let r1 = &self.rgb[y1 * fw * 3..][..fw * 3];
                for c in 0..3 {
                    let p00 = f32::from(r0[x0 * 3 + c]);
                    let p10 = f32::from(r0[x1 * 3 + c]);
                    let p01 = f32::from(r1[x0 * 3 + c]);
                    let p11 = f32::from(r1[x1 * 3 + c]);
                    let top = p00 + (p10 - p00) * fx;
                    let bottom = p01 + (p11 - p01) * fx;
                    row[ox * 3 + c] = top + (bottom - top) * fy;
                }
            }
            for ox in 0..w {
                for c in 0..3 {
                    let v = row[ox * 3 + c];
                    let n = if v.is_nan() {
                        pad[c]
                    } else {
                        (v - spec.mean[c]) / spec.std[c]
                    };
                    let idx = match spec.layout {
                        InputLayout::Nhwc => (oy * w + ox) * 3 + c,
                        InputLayout::Nchw => c * plane + oy * w + ox,
                    };
                    out[idx] = n;
                }
            }
        }
        Ok(InputMapping {
            scale_x: g.sx,
            scale_y: g.sy,
            pad_x: g.px as f32,
            pad_y: g.py as f32,
            frame_width: frame.width,
            frame_height: frame.height,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aisle_infer::manifest::InputDType;
    use aisle_types::MediaTime;

    fn spec(w: u32, h: u32, layout: InputLayout, resize: ResizeMode) -> InputSpec {
        InputSpec {
            name: "in".into(),
            layout,
            width: w,
            height: h,
            dtype: InputDType::Float32,
            resize,
            pad: [114, 114, 114],
            mean: [0.0; 3],
            std: [1.0; 3],
        }
    }

    fn gray_frame(w: u32, h: u32, f: impl Fn(usize, usize) -> u8) -> Nv12Frame {
        let (wu, hu) = (w as usize, h as usize);
        let mut y = vec![0u8; wu * hu];
        for r in 0..hu {
            for c in 0..wu {
                y[r * wu + c] = f(c, r);
            }
        }
        let uv = vec![128u8; 2 * wu.div_ceil(2) * hu.div_ceil(2)];
        Nv12Frame {
            width: w,
            height: h,
            pts: MediaTime::new(0, 1).unwrap(),
            index: 0,
            y,
            y_stride: wu,
            uv,
            uv_stride: 2 * wu.div_ceil(2),
        }
    }

    #[test]
    fn bt601_reference_values() {
        assert_eq!(yuv_to_rgb(16, 128, 128), [0, 0, 0]);
        assert_eq!(yuv_to_rgb(235, 128, 128), [255, 255, 255]);
        assert_eq!(yuv_to_rgb(126, 128, 128), [128, 128, 128]);
        // 100% red in BT.601 limited range: Y=81, U=90, V=240.
        let [r, g, b] = yuv_to_rgb(81, 90, 240);
        assert!(r >= 254 && g <= 1 && b <= 1, "{r} {g} {b}");
    }

    #[test]
    fn identity_size_reproduces_the_pixels() {
        let f = gray_frame(8, 6, |x, y| (16 + x * 20 + y) as u8);
        let s = spec(8, 6, InputLayout::Nchw, ResizeMode::Stretch);
        let mut out = vec![0.0; s.len()];
        let m = CpuPreprocessor::default().run(&f, &s, &mut out).unwrap();
        assert_eq!((m.scale_x, m.scale_y), (1.0, 1.0));
        for y in 0..6 {
            for x in 0..8 {
                let want = f32::from(yuv_to_rgb(f.luma(x, y), 128, 128)[0]);
                assert_eq!(out[y * 8 + x], want, "at {x},{y}");
                assert_eq!(out[2 * 48 + y * 8 + x], want, "blue at {x},{y}");
            }
        }
    }

    #[test]
    fn downscale_by_two_averages_pixel_pairs() {
        // Horizontal ramp; halving samples exactly between two source pixels.
        let f = gray_frame(8, 2, |x, _| (16 + 10 * x) as u8);
        let s = spec(4, 1, InputLayout::Nhwc, ResizeMode::Stretch);
        let mut out = vec![0.0; s.len()];
        CpuPreprocessor::default().run(&f, &s, &mut out).unwrap();
        for ox in 0..4 {
            let a = f32::from(yuv_to_rgb(f.luma(2 * ox, 0), 128, 128)[0]);
            let b = f32::from(yuv_to_rgb(f.luma(2 * ox + 1, 0), 128, 128)[0]);
            assert!(
                (out[ox * 3] - (a + b) / 2.0).abs() < 1e-4,
                "{ox}: {} vs {}",
                out[ox * 3],
                (a + b) / 2.0
            );
        }
    }

    #[test]
    fn letterbox_pads_and_maps_back() {
        let f = gray_frame(200, 100, |_, _| 235);
        let mut s = spec(64, 64, InputLayout::Nhwc, ResizeMode::Letterbox);
        s.mean = [127.5; 3];
        s.std = [127.5; 3];
        let mut out = vec![0.0; s.len()];
        let m = CpuPreprocessor::default().run(&f, &s, &mut out).unwrap();
        // 200x100 into 64x64: content 64x32 at y offset 16.
        assert_eq!((m.pad_x, m.pad_y), (0.0, 16.0));
        let pad = (114.0 - 127.5) / 127.5;
        assert!((out[0] - pad).abs() < 1e-6); // row 0 is padding
        assert!((out[(20 * 64 + 5) * 3] - 1.0).abs() < 1e-6); // white content
        assert!((out[(48 * 64 + 5) * 3] - pad).abs() < 1e-6); // row 48 is padding again
        let b = m.to_frame(&BBox::new(0.0, 16.0, 64.0, 48.0));
        assert_eq!(b, BBox::new(0.0, 0.0, 200.0, 100.0));
    }

    #[test]
    fn odd_frame_sizes_and_bad_buffers() {
        let f = gray_frame(7, 5, |x, y| (x * 30 + y) as u8);
        let s = spec(3, 3, InputLayout::Nchw, ResizeMode::Stretch);
        let mut out = vec![0.0; s.len()];
        CpuPreprocessor::default().run(&f, &s, &mut out).unwrap();
        assert!(out.iter().all(|v| v.is_finite()));
        let mut short = vec![0.0; 5];
        assert!(CpuPreprocessor::default().run(&f, &s, &mut short).is_err());
        let mut broken = f.clone();
        broken.uv.truncate(3);
        assert!(CpuPreprocessor::default()
            .run(&broken, &s, &mut out)
            .is_err());
    }
}
