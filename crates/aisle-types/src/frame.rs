//! Decoded frames as every decoder backend hands them on: NV12 (8-bit 4:2:0, Y plane then
//! interleaved UV plane), the native output of NVDEC and of the Jetson V4L2 decoder.

use crate::MediaTime;

/// Why a frame's planes do not describe a valid NV12 image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError(pub String);

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FrameError {}

/// A CPU-resident NV12 frame.
///
/// The chroma plane has `ceil(height / 2)` rows of `ceil(width / 2)` interleaved (U, V) pairs.
/// Luma sample `(x, y)` pairs with chroma sample `(x / 2, y / 2)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nv12Frame {
    pub width: u32,
    pub height: u32,
    /// Presentation time.
    pub pts: MediaTime,
    /// Position in presentation order, from 0.
    pub index: u64,
    pub y: Vec<u8>,
    pub y_stride: usize,
    pub uv: Vec<u8>,
    pub uv_stride: usize,
}

impl Nv12Frame {
    /// Checks that strides and plane sizes can hold a `width x height` image.
    pub fn validate(&self) -> Result<(), FrameError> {
        let (w, h) = (self.width as usize, self.height as usize);
        if w == 0 || h == 0 {
            return Err(FrameError(format!("frame has an empty size {w}x{h}")));
        }
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        if self.y_stride < w || self.y.len() < self.y_stride * (h - 1) + w {
            return Err(FrameError(format!(
                "luma plane of {} bytes with stride {} cannot hold {w}x{h}",
                self.y.len(),
                self.y_stride
            )));
        }
        if self.uv_stride < 2 * cw || self.uv.len() < self.uv_stride * (ch - 1) + 2 * cw {
            return Err(FrameError(format!(
                "chroma plane of {} bytes with stride {} cannot hold {cw}x{ch} UV pairs",
                self.uv.len(),
                self.uv_stride
            )));
        }
        Ok(())
    }

    /// Builds a tightly packed NV12 frame from I420 planes (Y, U, V with their strides).
    #[allow(clippy::too_many_arguments)]
    pub fn from_i420(
        width: u32,
        height: u32,
        pts: MediaTime,
        index: u64,
        (y, y_stride): (&[u8], usize),
        (u, u_stride): (&[u8], usize),
        (v, v_stride): (&[u8], usize),
    ) -> Result<Self, FrameError> {
        let (w, h) = (width as usize, height as usize);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let plane_ok = |len: usize, stride: usize, pw: usize, ph: usize| {
            pw > 0 && ph > 0 && stride >= pw && len >= stride * (ph - 1) + pw
        };
        if !plane_ok(y.len(), y_stride, w, h)
            || !plane_ok(u.len(), u_stride, cw, ch)
            || !plane_ok(v.len(), v_stride, cw, ch)
        {
            return Err(FrameError(format!(
                "I420 planes (Y {} / stride {y_stride}, U {} / {u_stride}, V {} / {v_stride}) cannot hold {w}x{h}",
                y.len(),
                u.len(),
                v.len()
            )));
        }
        let mut yp = Vec::with_capacity(w * h);
        for row in 0..h {
            yp.extend_from_slice(&y[row * y_stride..row * y_stride + w]);
        }
        let mut uv = Vec::with_capacity(2 * cw * ch);
        for row in 0..ch {
            let (ur, vr) = (&u[row * u_stride..][..cw], &v[row * v_stride..][..cw]);
            for (a, b) in ur.iter().zip(vr) {
                uv.push(*a);
                uv.push(*b);
            }
        }
        Ok(Self {
            width,
            height,
            pts,
            index,
            y: yp,
            y_stride: w,
            uv,
            uv_stride: 2 * cw,
        })
    }

    /// Luma at `(x, y)`; caller keeps coordinates in range.
    #[inline]
    pub fn luma(&self, x: usize, y: usize) -> u8 {
        self.y[y * self.y_stride + x]
    }

    /// `(U, V)` for luma position `(x, y)`; caller keeps coordinates in range.
    #[inline]
    pub fn chroma(&self, x: usize, y: usize) -> (u8, u8) {
        let i = (y / 2) * self.uv_stride + (x / 2) * 2;
        (self.uv[i], self.uv[i + 1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i420_to_nv12_interleaves_and_validates() {
        let y: Vec<u8> = (0..15).collect(); // 3x5 with stride 3
        let u = [100u8, 101, 102, 103, 104, 105]; // 2x3
        let v = [200u8, 201, 202, 203, 204, 205];
        let t = MediaTime::new(0, 1).unwrap();
        let f = Nv12Frame::from_i420(3, 5, t, 0, (&y, 3), (&u, 2), (&v, 2)).unwrap();
        f.validate().unwrap();
        assert_eq!(
            f.uv,
            vec![100, 200, 101, 201, 102, 202, 103, 203, 104, 204, 105, 205]
        );
        assert_eq!(f.chroma(2, 4), (105, 205));
        assert_eq!(f.luma(2, 4), 14);
        let err = Nv12Frame::from_i420(4, 5, t, 0, (&y, 3), (&u, 2), (&v, 2)).unwrap_err();
        assert!(err.0.contains("4x5"), "{err}");
    }
}
