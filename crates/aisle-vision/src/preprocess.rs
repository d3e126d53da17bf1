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
//! 4. **Colour of the channels** (`input.color`): `rgb` writes R, G, B; `bgr` writes output
//!    channel `c` from colour `2 - c`; `gray` writes one channel, interpolated from the 8-bit
//!    gray value of each tap, [`rgb_to_gray`] (OpenCV's `COLOR_RGB2GRAY` of the step-1 RGB).
//! 5. **Normalisation.** `out = (value - mean[c]) / std[c]` per tensor channel `c`, written NHWC
//!    or NCHW. Padding is `(pad[c] - mean[c]) / std[c]`.
//!
//! Half-precision tensors (`aisle-gpu` writes them for engines with `f16` inputs) are these `f32`
//! values rounded to the nearest `f16`, ties to even (`half::f16::from_f32`).
//!
//! [`CpuPreprocessor::crops`] is the reference of the batched crop-and-resize (person and face
//! crops of one frame): the same steps with a box's origin and scale instead of the geometry.

use aisle_infer::{InputColor, InputLayout, InputSpec, ResizeMode};
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

/// The 8-bit colour of pixel `(x, y)` as the taps read it: RGB, or gray in `[0]`.
#[inline]
fn tap_colour(frame: &Nv12Frame, x: usize, y: usize, color: InputColor) -> [u8; 3] {
    let uv = (y / 2) * frame.uv_stride + (x / 2) * 2;
    let rgb = yuv_to_rgb(
        frame.y[y * frame.y_stride + x],
        frame.uv[uv],
        frame.uv[uv + 1],
    );
    match color {
        InputColor::Gray => [rgb_to_gray(rgb), 0, 0],
        InputColor::Rgb | InputColor::Bgr => rgb,
    }
}

/// The checks of a crop call: a valid frame, a non-empty crop size and an output buffer of
/// `n` crops; the error names the sizes.
fn check_crops(frame: &Nv12Frame, spec: &CropSpec, n: usize, out_len: usize) -> Result<(), String> {
    frame.validate().map_err(|e| e.to_string())?;
    let (w, h) = (spec.width, spec.height);
    if w == 0 || h == 0 {
        return Err(format!("crop size {w}x{h} is empty"));
    }
    if out_len != n * spec.item_len() {
        return Err(format!(
            "output buffer holds {out_len} values, {n} crops of {w}x{h}x{} need {}",
            spec.color.channels(),
            n * spec.item_len()
        ));
    }
    Ok(())
}

/// One output pixel `(ox, oy)` of a crop: the bilinear interpolation of the taps `xs = (x0, x1,
/// fx)` and `ys` (step 3 of the module docs, each tap's colour converted where it is read: a
/// crop reads a small part of the frame), normalised, written to `dst` in the spec's layout.
fn crop_pixel(
    frame: &Nv12Frame,
    spec: &CropSpec,
    xs: (usize, usize, f32),
    ys: (usize, usize, f32),
    (ox, oy): (usize, usize),
    dst: &mut [f32],
) {
    let (w, h) = (spec.width as usize, spec.height as usize);
    let n = spec.color.channels();
    let bgr = spec.color == InputColor::Bgr;
    let ((x0, x1, fx), (y0, y1, fy)) = (xs, ys);
    let taps =
        [(x0, y0), (x1, y0), (x0, y1), (x1, y1)].map(|(x, y)| tap_colour(frame, x, y, spec.color));
    for c in 0..n {
        let src_c = if bgr { 2 - c } else { c };
        let [p00, p10, p01, p11] = taps.map(|t| f32::from(t[src_c]));
        let top = p00 + (p10 - p00) * fx;
        let bottom = p01 + (p11 - p01) * fx;
        let value = top + (bottom - top) * fy;
        let idx = match spec.layout {
            InputLayout::Nhwc => (oy * w + ox) * n + c,
            InputLayout::Nchw => c * w * h + oy * w + ox,
        };
        dst[idx] = (value - spec.mean[c]) / spec.std[c];
    }
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

    /// Batched crop-and-resize of `boxes` (frame pixels) into `out`, exactly as
    /// [`CpuPreprocessor::crops`] (the face pipeline's crops).
    fn crops(
        &mut self,
        frame: &Nv12Frame,
        boxes: &[[f32; 4]],
        spec: &CropSpec,
        out: &mut [f32],
    ) -> Result<(), String>;
}

/// The CPU reference preprocessor. Keeps its scratch buffers between frames.
#[derive(Debug, Default)]
pub struct CpuPreprocessor {
    rgb: Vec<u8>,
    gray: Vec<u8>,
    xs: Vec<(usize, usize, f32)>,
    ys: Vec<(usize, usize, f32)>,
    row: Vec<f32>,
}

/// OpenCV's `COLOR_RGB2GRAY` for 8-bit pixels: `(4899 R + 9617 G + 1868 B + 8192) >> 14`
/// (BT.601 luma weights in 14-bit fixed point; the result is within 0..=255).
#[inline]
pub fn rgb_to_gray(rgb: [u8; 3]) -> u8 {
    let [r, g, b] = rgb.map(u32::from);
    ((4899 * r + 9617 * g + 1868 * b + 8192) >> 14) as u8
}

/// A batch of crops of one frame (see [`CpuPreprocessor::crops`]): every box is stretched to
/// `width x height` and normalised `(value - mean[c]) / std[c]`.
#[derive(Debug, Clone, PartialEq)]
pub struct CropSpec {
    pub width: u32,
    pub height: u32,
    /// `[n, c, h, w]` or `[n, h, w, c]`.
    pub layout: InputLayout,
    pub color: InputColor,
    /// Per tensor channel (only `[0]` for gray).
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl CropSpec {
    /// Values of one batch item: `channels * width * height`.
    pub fn item_len(&self) -> usize {
        self.color.channels() * self.width as usize * self.height as usize
    }
}

/// One bilinear tap along an axis of the crop definition: `u` clamped to `[0, n_src - 1]`
/// (NaN -> 0), `i0 = floor(u)`, `i1 = min(i0 + 1, n_src - 1)`, `f = u - i0`.
fn crop_tap(u: f32, n_src: usize) -> (usize, usize, f32) {
    let u = if u >= 0.0 { u } else { 0.0 }; // NaN -> 0
    let hi = (n_src - 1) as f32;
    let u = if u > hi { hi } else { u };
    let i0 = u.floor();
    let f = u - i0;
    let i0 = i0 as usize;
    (i0, (i0 + 1).min(n_src - 1), f)
}

impl CpuPreprocessor {
    /// The 8-bit image the taps read for `color`, and its values per pixel: packed RGB (3) or
    /// gray (1).
    fn source(&mut self, frame: &Nv12Frame, color: InputColor) -> (&[u8], usize) {
        nv12_to_rgb(frame, &mut self.rgb);
        match color {
            InputColor::Rgb | InputColor::Bgr => (&self.rgb, 3),
            InputColor::Gray => {
                self.gray.clear();
                self.gray.extend(
                    self.rgb
                        .chunks_exact(3)
                        .map(|p| rgb_to_gray([p[0], p[1], p[2]])),
                );
                (&self.gray, 1)
            }
        }
    }

    /// Batched crop-and-resize, the reference of the GPU kernel `crop_resize_batch`: box `b` =
    /// `(x1, y1, x2, y2)` in frame pixels (continuous coordinates: pixel `i` covers `[i, i + 1)`)
    /// is stretched to `spec.width x spec.height` and written as batch item `b` of `out`
    /// (`boxes.len() * spec.item_len()` values). In f32, in this order:
    /// `sx = (x2 - x1) / width`, `u = (x1 + (ox + 0.5) * sx) - 0.5` (likewise `v`), clamped to
    /// the frame (NaN -> 0) and interpolated as in [`Preprocessor::run`] (step 3 of the module
    /// docs), then normalised. Parts of a box outside the frame repeat the edge pixels, a
    /// zero-width box samples the column `x1 - 0.5`, `x2 < x1` mirrors; the box `[0, 0, W, H]` is
    /// exactly the `stretch` preprocessing.
    ///
    /// # Errors
    /// An invalid frame, an empty crop size or a wrong output length, named in the message.
    pub fn crops(
        &mut self,
        frame: &Nv12Frame,
        boxes: &[[f32; 4]],
        spec: &CropSpec,
        out: &mut [f32],
    ) -> Result<(), String> {
        check_crops(frame, spec, boxes.len(), out.len())?;
        let (w, h) = (spec.width as usize, spec.height as usize);
        let item = spec.item_len();
        let (fw, fh) = (frame.width as usize, frame.height as usize);
        for (&[x1, y1, x2, y2], dst) in boxes.iter().zip(out.chunks_exact_mut(item)) {
            let sx = (x2 - x1) / w as f32;
            let sy = (y2 - y1) / h as f32;
            for oy in 0..h {
                let (y0, y1i, fy) = crop_tap((y1 + (oy as f32 + 0.5) * sy) - 0.5, fh);
                for ox in 0..w {
                    let (x0, x1i, fx) = crop_tap((x1 + (ox as f32 + 0.5) * sx) - 0.5, fw);
                    crop_pixel(frame, spec, (x0, x1i, fx), (y0, y1i, fy), (ox, oy), dst);
                }
            }
        }
        Ok(())
    }
}

/// A square crop turned by an angle (see [`CpuPreprocessor::rotated_crop`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RotatedSquare {
    /// Centre, frame pixels (continuous coordinates).
    pub cx: f32,
    pub cy: f32,
    /// Side length, frame pixels.
    pub side: f32,
    /// Radians; the crop's x axis points along `(cos, sin)` in the frame (`y` down), so a
    /// positive angle turns the crop clockwise as seen.
    pub angle: f32,
}

impl RotatedSquare {
    /// `(cos, sin)` of the angle as the crop uses them: computed in f64, rounded to f32.
    pub fn cos_sin(&self) -> (f32, f32) {
        let a = f64::from(self.angle);
        (a.cos() as f32, a.sin() as f32)
    }

    /// The frame position of crop position `(x, y)` given in output pixels of an `n x n` crop.
    pub fn to_frame(&self, x: f32, y: f32, n: f32) -> (f32, f32) {
        let (c, s) = self.cos_sin();
        let k = self.side / n;
        let dx = x * k - self.side * 0.5;
        let dy = y * k - self.side * 0.5;
        (self.cx + (dx * c - dy * s), self.cy + (dx * s + dy * c))
    }
}

impl CpuPreprocessor {
    /// A square crop turned by `sq.angle` about its centre, resized to `spec.width x
    /// spec.height` (MediaPipe's upright face crop). In f32, in this order: `sx = side / width`,
    /// `dx = (ox + 0.5) * sx - side * 0.5` (likewise `dy` with `sy`), `(c, s)` =
    /// [`RotatedSquare::cos_sin`], `u = (cx + (dx * c - dy * s)) - 0.5`,
    /// `v = (cy + (dx * s + dy * c)) - 0.5`; then clamped taps (NaN -> 0) and bilinear
    /// interpolation of the four neighbours as [`CpuPreprocessor::crops`], and normalisation.
    ///
    /// # Errors
    /// An invalid frame, an empty crop size or a wrong output length, named in the message.
    pub fn rotated_crop(
        &mut self,
        frame: &Nv12Frame,
        sq: &RotatedSquare,
        spec: &CropSpec,
        out: &mut [f32],
    ) -> Result<(), String> {
        check_crops(frame, spec, 1, out.len())?;
        let (w, h) = (spec.width as usize, spec.height as usize);
        let (fw, fh) = (frame.width as usize, frame.height as usize);
        let sx = sq.side / w as f32;
        let sy = sq.side / h as f32;
        let (c, s) = sq.cos_sin();
        let half = sq.side * 0.5;
        for oy in 0..h {
            let dy = (oy as f32 + 0.5) * sy - half;
            for ox in 0..w {
                let dx = (ox as f32 + 0.5) * sx - half;
                let (x0, x1i, fx) = crop_tap((sq.cx + (dx * c - dy * s)) - 0.5, fw);
                let (y0, y1i, fy) = crop_tap((sq.cy + (dx * s + dy * c)) - 0.5, fh);
                crop_pixel(frame, spec, (x0, x1i, fx), (y0, y1i, fy), (ox, oy), out);
            }
        }
        Ok(())
    }
}

impl Preprocessor for CpuPreprocessor {
    fn crops(
        &mut self,
        frame: &Nv12Frame,
        boxes: &[[f32; 4]],
        spec: &CropSpec,
        out: &mut [f32],
    ) -> Result<(), String> {
        CpuPreprocessor::crops(self, frame, boxes, spec, out)
    }

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
        let n = spec.channels();
        let bgr = spec.color == InputColor::Bgr;
        let g = geometry(fw, fh, spec);
        axis_taps(g.cw, g.sx, fw, &mut self.xs);
        axis_taps(g.ch, g.sy, fh, &mut self.ys);
        let mut row = std::mem::take(&mut self.row);
        let xs = std::mem::take(&mut self.xs);
        let ys = std::mem::take(&mut self.ys);
        let (img, per_px) = self.source(frame, spec.color);

        let pad: [f32; 3] =
            std::array::from_fn(|c| (f32::from(spec.pad[c]) - spec.mean[c]) / spec.std[c]);
        let plane = w * h;
        // One output row at a time, as interleaved channel values, then normalised and scattered.
        row.resize(w * n, 0.0);
        for oy in 0..h {
            let in_rows = oy >= g.py && oy < g.py + g.ch;
            for ox in 0..w {
                let inside = in_rows && ox >= g.px && ox < g.px + g.cw;
                if !inside {
                    for c in 0..n {
                        row[ox * n + c] = f32::NAN; // marks padding
                    }
                    continue;
                }
                let (y0, y1, fy) = ys[oy - g.py];
                let (x0, x1, fx) = xs[ox - g.px];
                let r0 = &img[y0 * fw * per_px..][..fw * per_px];
                let r1 = &img[y1 * fw * per_px..][..fw * per_px];
                for c in 0..n {
                    let sc = if bgr { 2 - c } else { c };
                    let p00 = f32::from(r0[x0 * per_px + sc]);
                    let p10 = f32::from(r0[x1 * per_px + sc]);
                    let p01 = f32::from(r1[x0 * per_px + sc]);
                    let p11 = f32::from(r1[x1 * per_px + sc]);
                    let top = p00 + (p10 - p00) * fx;
                    let bottom = p01 + (p11 - p01) * fx;
                    row[ox * n + c] = top + (bottom - top) * fy;
                }
            }
            for ox in 0..w {
                for c in 0..n {
                    let v = row[ox * n + c];
                    let value = if v.is_nan() {
                        pad[c]
                    } else {
                        (v - spec.mean[c]) / spec.std[c]
                    };
                    let idx = match spec.layout {
                        InputLayout::Nhwc => (oy * w + ox) * n + c,
                        InputLayout::Nchw => c * plane + oy * w + ox,
                    };
                    out[idx] = value;
                }
            }
        }
        self.row = row;
        self.xs = xs;
        self.ys = ys;
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
            color: aisle_infer::InputColor::Rgb,
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

    /// A colourful frame: luma ramps, chroma varying in both directions.
    fn colour_frame(w: u32, h: u32) -> Nv12Frame {
        let mut f = gray_frame(w, h, |x, y| (16 + (x * 7 + y * 3) % 220) as u8);
        let cw = (w as usize).div_ceil(2);
        for (i, v) in f.uv.iter_mut().enumerate() {
            let (cx, cy) = ((i / 2) % cw, (i / 2) / cw);
            *v = if i % 2 == 0 {
                (40 + cx * 13 + cy * 5) as u8
            } else {
                (200 - cx * 9 - cy * 7) as u8
            };
        }
        f
    }

    #[test]
    fn rgb_to_gray_is_opencv_fixed_point() {
        assert_eq!(rgb_to_gray([0, 0, 0]), 0);
        assert_eq!(rgb_to_gray([255, 255, 255]), 255);
        // cv2.cvtColor(np.uint8([[[r, g, b]]]), cv2.COLOR_RGB2GRAY)
        assert_eq!(rgb_to_gray([255, 0, 0]), 76);
        assert_eq!(rgb_to_gray([0, 255, 0]), 150);
        assert_eq!(rgb_to_gray([0, 0, 255]), 29);
        assert_eq!(rgb_to_gray([10, 200, 30]), 124);
    }

    #[test]
    fn bgr_is_rgb_with_channels_reversed_and_gray_is_one_channel() {
        let f = colour_frame(23, 17);
        for layout in [InputLayout::Nchw, InputLayout::Nhwc] {
            for resize in [ResizeMode::Stretch, ResizeMode::Letterbox] {
                let mut rgb = spec(11, 9, layout, resize);
                rgb.mean = [1.0, 2.0, 3.0];
                rgb.std = [4.0, 5.0, 6.0];
                rgb.pad = [10, 20, 30];
                let mut bgr = rgb.clone();
                bgr.color = InputColor::Bgr;
                bgr.mean = [3.0, 2.0, 1.0];
                bgr.std = [6.0, 5.0, 4.0];
                bgr.pad = [30, 20, 10];
                let (mut a, mut b) = (vec![0.0; rgb.len()], vec![0.0; bgr.len()]);
                let mut p = CpuPreprocessor::default();
                p.run(&f, &rgb, &mut a).unwrap();
                p.run(&f, &bgr, &mut b).unwrap();
                let idx = |c: usize, i: usize| match layout {
                    InputLayout::Nchw => c * 99 + i,
                    InputLayout::Nhwc => i * 3 + c,
                };
                for i in 0..99 {
                    for c in 0..3 {
                        assert_eq!(a[idx(c, i)].to_bits(), b[idx(2 - c, i)].to_bits());
                    }
                }
                let mut gray = rgb.clone();
                gray.color = InputColor::Gray;
                assert_eq!(
                    gray.shape()[if layout == InputLayout::Nchw { 1 } else { 3 }],
                    1
                );
                let mut g = vec![f32::NAN; gray.len()];
                p.run(&f, &gray, &mut g).unwrap();
                assert_eq!(g.len(), 99);
                assert!(g.iter().all(|v| v.is_finite()));
            }
        }
        // At the identity size gray reads the gray of each pixel.
        let mut s = spec(23, 17, InputLayout::Nhwc, ResizeMode::Stretch);
        s.color = InputColor::Gray;
        let mut g = vec![0.0; s.len()];
        CpuPreprocessor::default().run(&f, &s, &mut g).unwrap();
        let mut rgb = Vec::new();
        nv12_to_rgb(&f, &mut rgb);
        for (i, v) in g.iter().enumerate() {
            let p = &rgb[i * 3..i * 3 + 3];
            assert_eq!(*v, f32::from(rgb_to_gray([p[0], p[1], p[2]])), "pixel {i}");
        }
    }

    #[test]
    fn crops_of_the_whole_frame_are_the_stretch_preprocessing() {
        let f = colour_frame(31, 19);
        let mut p = CpuPreprocessor::default();
        for color in [InputColor::Rgb, InputColor::Bgr, InputColor::Gray] {
            for layout in [InputLayout::Nchw, InputLayout::Nhwc] {
                let mut s = spec(13, 7, layout, ResizeMode::Stretch);
                s.color = color;
                s.mean = [5.0, 6.0, 7.0];
                s.std = [2.0, 3.0, 4.0];
                let mut want = vec![0.0; s.len()];
                p.run(&f, &s, &mut want).unwrap();
                let crop = CropSpec {
                    width: 13,
                    height: 7,
                    layout,
                    color,
                    mean: s.mean,
                    std: s.std,
                };
                let whole = [0.0, 0.0, 31.0, 19.0];
                let mut got = vec![f32::NAN; 2 * crop.item_len()];
                p.crops(&f, &[whole, whole], &crop, &mut got).unwrap();
                for half in got.chunks_exact(crop.item_len()) {
                    assert!(half
                        .iter()
                        .zip(&want)
                        .all(|(a, b)| a.to_bits() == b.to_bits()));
                }
            }
        }
        let crop = CropSpec {
            width: 4,
            height: 4,
            layout: InputLayout::Nchw,
            color: InputColor::Rgb,
            mean: [0.0; 3],
            std: [1.0; 3],
        };
        let mut out = vec![0.0; 48];
        let odd = [f32::NAN, f32::NEG_INFINITY, f32::INFINITY, 1e30];
        p.crops(&f, &[odd], &crop, &mut out).unwrap();
        assert!(out.iter().all(|v| v.is_finite()));
        let err = p.crops(&f, &[odd, odd], &crop, &mut out).unwrap_err();
        assert!(err.contains("2 crops of 4x4x3 need 96"), "{err}");
        let empty = CropSpec { width: 0, ..crop };
        assert!(p.crops(&f, &[], &empty, &mut []).is_err());
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
