//! The pinhole camera: floor metres to image pixels and back.

use crate::geom::{clip_polygon, Bx, V2};

/// A pinhole camera without lens distortion, looking at the floor plane `z = 0`.
///
/// World axes: `x` along the store's width, `y` into the store (away from the front wall), `z`
/// up, all in metres. The image has `x` to the right and `y` down, pixel edges at integers, the
/// principal point at the image centre and square pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Camera {
    /// Optical centre `[x, y, z]` in metres (`z` = mounting height).
    pub position_m: [f64; 3],
    /// Heading of the optical axis in the floor plane, degrees clockwise from `+y`
    /// (0 = looking straight into the store).
    pub yaw_deg: f64,
    /// Tilt of the optical axis below the horizontal, degrees (0 = horizontal, 90 = straight down).
    pub pitch_deg: f64,
    /// Horizontal field of view, degrees.
    pub hfov_deg: f64,
    pub image_width: u32,
    pub image_height: u32,
}

impl Default for Camera {
    /// The standard store's camera: 1280x720 with a 100 degree horizontal field of view (a
    /// typical 2.8 mm CCTV lens, without its distortion), 3.4 m up on the middle of the front
    /// wall, tilted 32 degrees down. It sees the floor from about 1.9 m into the store to the
    /// back wall 12 m away, the whole width from 4 m in; people at the back wall are about
    /// 90 px tall, people 2 m in about 250 px (nearer ones are cut by the bottom edge).
    fn default() -> Self {
        Self {
            position_m: [6.0, 0.0, 3.4],
            yaw_deg: 0.0,
            pitch_deg: 32.0,
            hfov_deg: 100.0,
            image_width: 1280,
            image_height: 720,
        }
    }
}

/// Points nearer the camera plane than this (metres of depth) are not projected.
pub(crate) const NEAR_M: f64 = 0.05;

/// Precomputed camera basis.
#[derive(Debug, Clone)]
pub(crate) struct Projector {
    c: [f64; 3],
    fwd: [f64; 3],
    right: [f64; 3],
    down: [f64; 3],
    f: f64,
    cx: f64,
    cy: f64,
    pub w: f64,
    pub h: f64,
}

fn dot3(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

impl Projector {
    pub fn new(cam: &Camera) -> Self {
        let yaw = cam.yaw_deg.to_radians();
        let pitch = cam.pitch_deg.to_radians();
        let (sy, cyaw) = yaw.sin_cos();
        let (sp, cp) = pitch.sin_cos();
        let fwd = [sy * cp, cyaw * cp, -sp];
        let right = [cyaw, -sy, 0.0];
        // down = fwd x right
        let down = [
            fwd[1] * right[2] - fwd[2] * right[1],
            fwd[2] * right[0] - fwd[0] * right[2],
            fwd[0] * right[1] - fwd[1] * right[0],
        ];
        let w = f64::from(cam.image_width);
        let h = f64::from(cam.image_height);
        Self {
            c: cam.position_m,
            fwd,
            right,
            down,
            f: (w * 0.5) / (cam.hfov_deg.to_radians() * 0.5).tan(),
            cx: w * 0.5,
            cy: h * 0.5,
            w,
            h,
        }
    }

    /// Camera coordinates `[right, down, depth]` of a world point.
    pub fn to_cam(&self, p: [f64; 3]) -> [f64; 3] {
        let d = [p[0] - self.c[0], p[1] - self.c[1], p[2] - self.c[2]];
        [dot3(d, self.right), dot3(d, self.down), dot3(d, self.fwd)]
    }

    pub fn cam_to_image(&self, q: [f64; 3]) -> [f64; 2] {
        [
            self.cx + self.f * q[0] / q[2],
            self.cy + self.f * q[1] / q[2],
        ]
    }

    pub fn project(&self, p: [f64; 3]) -> Option<[f64; 2]> {
        let q = self.to_cam(p);
        (q[2] >= NEAR_M).then(|| self.cam_to_image(q))
    }

    /// The ray through pixel `(u, v)` meets the floor, if it points downwards.
    pub fn image_to_floor(&self, u: f64, v: f64) -> Option<[f64; 2]> {
        let a = (u - self.cx) / self.f;
        let b = (v - self.cy) / self.f;
        let dir = [
            self.fwd[0] + a * self.right[0] + b * self.down[0],
            self.fwd[1] + a * self.right[1] + b * self.down[1],
            self.fwd[2] + a * self.right[2] + b * self.down[2],
        ];
        if dir[2] >= -1e-9 {
            return None;
        }
        let t = -self.c[2] / dir[2];
        Some([self.c[0] + t * dir[0], self.c[1] + t * dir[1]])
    }

    /// Horizontal distance from the camera to a floor point (the depth order of people).
    pub fn ground_distance(&self, p: V2) -> f64 {
        V2::new(p.x - self.c[0], p.y - self.c[1]).len()
    }

    /// The unclipped image box of an upright cylinder standing on the floor at `foot`, from
    /// `z0` to `z1` metres, `width` across; `None` when any part is behind the near plane.
    pub fn cylinder_box(&self, foot: V2, z0: f64, z1: f64, width: f64) -> Option<Bx> {
        const K: usize = 8;
        let r = width * 0.5;
        let mut bx = Bx {
            x1: f64::INFINITY,
            y1: f64::INFINITY,
            x2: f64::NEG_INFINITY,
            y2: f64::NEG_INFINITY,
        };
        for k in 0..K {
            let ang = std::f64::consts::TAU * (k as f64) / (K as f64);
            let (s, c) = ang.sin_cos();
            let px = foot.x + r * c;
            let py = foot.y + r * s;
            for z in [z0, z1] {
                let [u, v] = self.project([px, py, z])?;
                bx.x1 = bx.x1.min(u);
                bx.y1 = bx.y1.min(v);
                bx.x2 = bx.x2.max(u);
                bx.y2 = bx.y2.max(v);
            }
        }
        Some(bx)
    }

    /// A floor polygon in image pixels, clipped to the near plane and to the image; empty
    /// when none of it is in view.
    pub fn floor_polygon_to_image(&self, poly: &[[f64; 2]]) -> Vec<[f64; 2]> {
        let cam: Vec<[f64; 3]> = poly
            .iter()
            .map(|p| self.to_cam([p[0], p[1], 0.0]))
            .collect();
        let cam = clip_polygon(&cam, |q| q[2] - NEAR_M);
        if cam.len() < 3 {
            return Vec::new();
        }
        let img: Vec<[f64; 2]> = cam.iter().map(|q| self.cam_to_image(*q)).collect();
        let (w, h) = (self.w, self.h);
        let img = clip_polygon(&img, |p| p[0]);
        let img = clip_polygon(&img, |p| w - p[0]);
        let img = clip_polygon(&img, |p| p[1]);
        let img = clip_polygon(&img, |p| h - p[1]);
        if img.len() < 3 {
            Vec::new()
        } else {
            img
        }
    }
}

impl Camera {
    /// Focal length in pixels.
    pub fn focal_px(&self) -> f64 {
        Projector::new(self).f
    }

    /// Image position of a world point `[x, y, z]` (metres); `None` behind the camera. The
    /// result may lie outside the image.
    pub fn project(&self, p: [f64; 3]) -> Option<[f64; 2]> {
        Projector::new(self).project(p)
    }

    /// The floor point seen at image pixel `(u, v)`; `None` at or above the horizon.
    pub fn image_to_floor(&self, u: f64, v: f64) -> Option<[f64; 2]> {
        Projector::new(self).image_to_floor(u, v)
    }

    /// Where the bottom centre of the (unclipped) box of a person standing at floor point
    /// `foot` appears in the image: across, the middle of the box (feet and head, so it leans
    /// with the converging verticals of a tilted camera); down, the near edge of the footprint.
    /// It is the point a zone drawn around a standing person's feet should hold. `None` when
    /// the person is behind the camera.
    pub fn box_bottom_centre(
        &self,
        foot: [f64; 2],
        height_m: f64,
        width_m: f64,
    ) -> Option<[f64; 2]> {
        let b = Projector::new(self).cylinder_box(V2::from_arr(foot), 0.0, height_m, width_m)?;
        Some([(b.x1 + b.x2) / 2.0, b.y2])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projection_round_trips_through_the_floor() {
        let cam = Camera::default();
        let p = Projector::new(&cam);
        for (x, y) in [(6.0, 6.0), (1.0, 9.0), (10.0, 4.0), (3.0, 11.5)] {
            let [u, v] = p.project([x, y, 0.0]).expect("in front");
            let back = p.image_to_floor(u, v).expect("below horizon");
            assert!((back[0] - x).abs() < 1e-9 && (back[1] - y).abs() < 1e-9);
        }
        // The optical axis lands in the image centre; a point straight ahead on the centre line
        // projects to the centre column.
        let [u, _] = p.project([6.0, 8.0, 0.0]).expect("in front");
        assert!((u - 640.0).abs() < 1e-9);
        // A level camera's upper half looks above the horizon: no floor there.
        let level = Projector::new(&Camera {
            pitch_deg: 0.0,
            ..Camera::default()
        });
        assert!(level.image_to_floor(640.0, 100.0).is_none());
        assert!(level.image_to_floor(640.0, 600.0).is_some());
    }
}
