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
        if !plane_fits(y.len(), y_stride, w, h)
            || !plane_fits(u.len(), u_stride, cw, ch)
            || !plane_fits(v.len(), v_stride, cw, ch)
        {
            return Err(FrameError(format!(
                "I420 planes (Y {} / stride {y_stride}, U {} / {u_stride}, V {} / {v_stride}) cannot hold {w}x{h}",
                y.len(),
                u.len(),
                v.len()
            )));
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
            y: pack(y, y_stride, w, h),
            y_stride: w,
            uv,
            uv_stride: 2 * cw,
        })
    }

    /// Builds a tightly packed NV12 frame from NV12 planes (Y, interleaved UV) with strides.
    pub fn from_nv12(
        width: u32,
        height: u32,
        pts: MediaTime,
        index: u64,
        (y, y_stride): (&[u8], usize),
        (uv, uv_stride): (&[u8], usize),
    ) -> Result<Self, FrameError> {
        let (w, h) = (width as usize, height as usize);
        let (cw2, ch) = (2 * w.div_ceil(2), h.div_ceil(2));
        if !plane_fits(y.len(), y_stride, w, h) || !plane_fits(uv.len(), uv_stride, cw2, ch) {
            return Err(FrameError(format!(
                "NV12 planes (Y {} / stride {y_stride}, UV {} / {uv_stride}) cannot hold {w}x{h}",
                y.len(),
                uv.len()
            )));
        }
        Ok(Self {
            width,
            height,
            pts,
            index,
            y: pack(y, y_stride, w, h),
            y_stride: w,
            uv: pack(uv, uv_stride, cw2, ch),
            uv_stride: cw2,
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

/// Whether a plane of `len` bytes with `stride` holds `w x h` bytes (and is not empty).
fn plane_fits(len: usize, stride: usize, w: usize, h: usize) -> bool {
    w > 0 && h > 0 && stride >= w && len >= stride * (h - 1) + w
}

/// The first `w` bytes of each of the `h` rows, packed; the caller checked [`plane_fits`].
fn pack(plane: &[u8], stride: usize, w: usize, h: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(w * h);
    for row in 0..h {
        out.extend_from_slice(&plane[row * stride..][..w]);
    }
    out
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

    #[test]
    fn nv12_planes_are_packed_and_checked() {
        // 3x3 with strides 4 (Y) and 6 (UV: 2 pairs = 4 bytes used).
        let y: Vec<u8> = (0..12).collect();
        let uv: Vec<u8> = (100..112).collect();
        let t = MediaTime::new(0, 1).unwrap();
        let f = Nv12Frame::from_nv12(3, 3, t, 0, (&y, 4), (&uv, 6)).unwrap();
        f.validate().unwrap();
        assert_eq!(f.y, vec![0, 1, 2, 4, 5, 6, 8, 9, 10]);
        assert_eq!(f.uv, vec![100, 101, 102, 103, 106, 107, 108, 109]);
        assert!(Nv12Frame::from_nv12(3, 0, t, 0, (&y, 4), (&uv, 6)).is_err());
        assert!(Nv12Frame::from_nv12(3, 3, t, 0, (&y[..10], 4), (&uv, 6)).is_err());
    }
}
