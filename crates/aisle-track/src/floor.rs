//! Floor calibration: where on the floor (in metres) a person seen in the image stands.
//!
//! A [`FloorCalibration`] describes a fixed pinhole camera looking down at a flat floor: its
//! mounting height, its tilt below the horizontal, its horizontal field of view and the image
//! size (square pixels, principal point at the image centre, no lens distortion). Floor
//! coordinates are camera-centred: `x` metres to the right of the camera, `y` metres ahead of it
//! along the floor. Only distances between floor points matter to the tracker, so the camera's
//! position and heading in the store are not needed.
//!
//! With it the tracker knows, for every box, the floor point under the person (from the bottom
//! edge, or from the top edge and the person's height when the feet are hidden), how tall the
//! person is in metres, and which of two people is nearer the camera.

use std::fmt;

/// Why a floor calibration cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("floor calibration `{field}` = {value} is invalid: {why}")]
pub struct FloorError {
    /// The parameter at fault (`height_m`, `tilt_deg`, `hfov_deg`, `image_width`,
    /// `image_height`).
    pub field: &'static str,
    pub value: String,
    pub why: &'static str,
}

/// A camera's floor calibration (see the module documentation).
#[derive(Clone, Copy, PartialEq)]
pub struct FloorCalibration {
    height_m: f64,
    tilt_deg: f64,
    hfov_deg: f64,
    width: u32,
    height: u32,
    // Derived.
    f: f64,
    cx: f64,
    cy: f64,
    /// sin and cos of the tilt.
    st: f64,
    ct: f64,
}

impl fmt::Debug for FloorCalibration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FloorCalibration")
            .field("height_m", &self.height_m)
            .field("tilt_deg", &self.tilt_deg)
            .field("hfov_deg", &self.hfov_deg)
            .field("image_width", &self.width)
            .field("image_height", &self.height)
            .finish()
    }
}

/// A floor point in metres (camera-centred: `x` right, `y` ahead).
pub type FloorPoint = [f32; 2];

impl FloorCalibration {
    /// A camera `height_m` metres above the floor (0.5..=30), tilted `tilt_deg` below the
    /// horizontal (5..=90), with a horizontal field of view of `hfov_deg` (10..=170), giving
    /// `image_width` x `image_height` pixel frames.
    pub fn from_camera(
        height_m: f64,
        tilt_deg: f64,
        hfov_deg: f64,
        image_width: u32,
        image_height: u32,
    ) -> Result<Self, FloorError> {
        let range = |field: &'static str, v: f64, lo: f64, hi: f64, why: &'static str| {
            if v.is_finite() && (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err(FloorError {
                    field,
                    value: v.to_string(),
                    why,
                })
            }
        };
        range(
            "height_m",
            height_m,
            0.5,
            30.0,
            "must be a camera height in metres in [0.5, 30]",
        )?;
        range(
            "tilt_deg",
            tilt_deg,
            5.0,
            90.0,
            "must be a tilt below the horizontal in degrees in [5, 90]",
        )?;
        range(
            "hfov_deg",
            hfov_deg,
            10.0,
            170.0,
            "must be a horizontal field of view in degrees in [10, 170]",
        )?;
        for (field, v) in [("image_width", image_width), ("image_height", image_height)] {
            if !(16..=16384).contains(&v) {
                return Err(FloorError {
                    field,
                    value: v.to_string(),
                    why: "must be a frame size in pixels in [16, 16384]",
                });
            }
        }
        let w = f64::from(image_width);
        let (st, ct) = tilt_deg.to_radians().sin_cos();
        Ok(Self {
            height_m,
            tilt_deg,
            hfov_deg,
            width: image_width,
            height: image_height,
            f: (w * 0.5) / (hfov_deg.to_radians() * 0.5).tan(),
            cx: w * 0.5,
            cy: f64::from(image_height) * 0.5,
            st,
            ct,
        })
    }

    pub fn height_m(&self) -> f64 {
        self.height_m
    }
    pub fn tilt_deg(&self) -> f64 {
        self.tilt_deg
    }
    pub fn hfov_deg(&self) -> f64 {
        self.hfov_deg
    }
    pub fn image_size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// The direction of the ray through pixel `(u, v)` in camera-centred floor axes
    /// (`x` right, `y` ahead, `z` up).
    fn ray(&self, u: f64, v: f64) -> [f64; 3] {
        let a = (u - self.cx) / self.f;
        let b = (v - self.cy) / self.f;
        // Optical axis (0, ct, -st); image down = (0, -st, -ct) (forward x right).
        [a, self.ct - b * self.st, -self.st - b * self.ct]
    }

    /// Where the ray through pixel `(u, v)` meets the horizontal plane `z_m` metres above the
    /// floor; `None` when it does not (at or above that plane's horizon, or non-finite input).
    pub fn image_to_plane(&self, u: f32, v: f32, z_m: f32) -> Option<FloorPoint> {
        let d = self.ray(f64::from(u), f64::from(v));
        let drop = self.height_m - f64::from(z_m);
        // The ray must point down towards the plane, and not too shallowly (beyond 200 m).
        if !(drop > 0.0 && d[2] < 0.0) {
            return None;
        }
        let t = drop / -d[2];
        let p = [t * d[0], t * d[1]];
        (p[0].is_finite() && p[1].is_finite() && p[1] > 0.0 && p[1] < 200.0 && p[0].abs() < 200.0)
            .then_some([p[0] as f32, p[1] as f32])
    }

    /// The floor point seen at pixel `(u, v)`.
    pub fn image_to_floor(&self, u: f32, v: f32) -> Option<FloorPoint> {
        self.image_to_plane(u, v, 0.0)
    }

    /// The image row at which a point `z_m` metres above floor point `p` appears; `None` behind
    /// the camera.
    pub fn row_of(&self, p: FloorPoint, z_m: f32) -> Option<f32> {
        let q = [
            f64::from(p[0]),
            f64::from(p[1]),
            f64::from(z_m) - self.height_m,
        ];
        // Camera coordinates: depth along the optical axis and down.
        let depth = q[1] * self.ct - q[2] * self.st;
        let down = -q[1] * self.st - q[2] * self.ct;
        (depth > 0.05).then(|| (self.cy + self.f * down / depth) as f32)
    }

    /// The height in metres of a person standing at floor point `p` whose head appears at image
    /// row `top` (the inverse of [`FloorCalibration::row_of`] in `z`); `None` when not finite or
    /// not between 0.3 and 3 m.
    pub fn height_at(&self, p: FloorPoint, top: f32) -> Option<f32> {
        // down/depth = k with depth = y*ct - z'*st and down = -y*st - z'*ct, z' = z - H.
        let k = (f64::from(top) - self.cy) / self.f;
        let y = f64::from(p[1]);
        // -y*st - z'*ct = k*(y*ct - z'*st)  =>  z' (k*st - ct) = k*y*ct + y*st
        let den = k * self.st - self.ct;
        if den.abs() < 1e-9 {
            return None;
        }
        let z = (k * y * self.ct + y * self.st) / den + self.height_m;
        (z.is_finite() && (0.3..=3.0).contains(&z)).then_some(z as f32)
    }
}

/// Distance between two floor points in metres.
pub fn floor_distance(a: FloorPoint, b: FloorPoint) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_and_floor_points_round_trip() {
        let c = FloorCalibration::from_camera(3.4, 32.0, 100.0, 1280, 720).unwrap();
        for p in [[0.0f32, 4.0], [-3.0, 8.0], [2.5, 11.0]] {
            let v = c.row_of(p, 0.0).unwrap();
            let u = 640.0
                + c.f as f32 * p[0] / {
                    let depth = f64::from(p[1]) * c.ct + c.height_m * c.st;
                    depth as f32
                };
            let back = c.image_to_floor(u, v).unwrap();
            assert!(floor_distance(back, p) < 1e-3, "{p:?} -> {back:?}");
            let top = c.row_of(p, 1.7).unwrap();
            assert!(top < v);
            let h = c.height_at(p, top).unwrap();
            assert!((h - 1.7).abs() < 1e-3, "{h}");
            let head_depth = f64::from(p[1]) * c.ct + (c.height_m - 1.7) * c.st;
            let head_u = 640.0 + (c.f * f64::from(p[0]) / head_depth) as f32;
            let head = c.image_to_plane(head_u, top, 1.7).unwrap();
            assert!(floor_distance(head, p) < 1e-2, "{head:?}");
        }
        // Above the horizon there is no floor; non-finite pixels give nothing.
        assert!(c.image_to_floor(640.0, -2000.0).is_none());
        assert!(c.image_to_floor(f32::NAN, 300.0).is_none());
        assert!(c.image_to_floor(640.0, f32::INFINITY).is_none());
    }

    #[test]
    fn degenerate_calibrations_are_refused_naming_the_value() {
        for (r, field) in [
            (
                FloorCalibration::from_camera(f64::NAN, 30.0, 90.0, 640, 480),
                "height_m",
            ),
            (
                FloorCalibration::from_camera(3.0, 0.0, 90.0, 640, 480),
                "tilt_deg",
            ),
            (
                FloorCalibration::from_camera(3.0, 30.0, 180.0, 640, 480),
                "hfov_deg",
            ),
            (
                FloorCalibration::from_camera(3.0, 30.0, 90.0, 0, 480),
                "image_width",
            ),
        ] {
            let e = r.unwrap_err();
            assert_eq!(e.field, field);
            assert!(e.to_string().contains(field), "{e}");
        }
    }
}
