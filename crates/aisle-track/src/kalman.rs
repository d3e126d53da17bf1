//! A constant-velocity Kalman filter for one box, in continuous time.
//!
//! The state is the box centre, width and height, each with its own velocity (pixels per
//! second): `[cx, cy, w, h, vcx, vcy, vw, vh]`. The motion and measurement models are the ones of
//! DeepSORT/ByteTrack (noise proportional to the box size, so near and far people are filtered
//! alike), written for a variable time step so that a decimated or jittery frame rate is handled
//! exactly. Because the transition, the measurement and both noises are diagonal per coordinate,
//! the 8x8 covariance stays block-diagonal: it is kept as four independent 2x2 blocks
//! `(position, velocity)`, which is exact and costs a few dozen flops per step.

use aisle_types::BBox;

/// Noise model, as fractions of the box size (width for `cx` and `w`, height for `cy` and `h`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KalmanConfig {
    /// Standard deviation of a measured coordinate.
    pub measurement: f32,
    /// Standard deviation of the position random walk, per square-root second.
    pub process_position: f32,
    /// Standard deviation of the velocity random walk, per square-root second.
    pub process_velocity: f32,
    /// Initial standard deviation of a new track's velocity, per second.
    pub initial_velocity: f32,
}

impl Default for KalmanConfig {
    /// DeepSORT's weights (1/20 of the size for positions, 1/160 for velocities, per frame at
    /// 30 fps), converted to per-second rates.
    fn default() -> Self {
        Self {
            measurement: 1.0 / 20.0,
            process_position: (1.0 / 20.0) * 30f32.sqrt(),
            process_velocity: (1.0 / 160.0) * 30.0 * 30f32.sqrt(),
            initial_velocity: 10.0 / 160.0 * 30.0,
        }
    }
}

/// One coordinate: position, velocity and their 2x2 covariance.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
struct Axis {
    p: f32,
    v: f32,
    /// Covariance `[[pp, pv], [pv, vv]]`.
    pp: f32,
    pv: f32,
    vv: f32,
}

impl Axis {
    fn predict(&mut self, dt: f32, q_pos: f32, q_vel: f32) {
        self.p += self.v * dt;
        let pp = self.pp + dt * (2.0 * self.pv + dt * self.vv);
        let pv = self.pv + dt * self.vv;
        self.pp = pp + q_pos * dt;
        self.pv = pv;
        self.vv += q_vel * dt;
    }

    fn update(&mut self, z: f32, r: f32) {
        let s = self.pp + r;
        if s <= 0.0 || !s.is_finite() {
            return;
        }
        let k0 = self.pp / s;
        let k1 = self.pv / s;
        let y = z - self.p;
        self.p += k0 * y;
        self.v += k1 * y;
        let pp = (1.0 - k0) * self.pp;
        let pv = (1.0 - k0) * self.pv;
        let vv = self.vv - k1 * self.pv;
        self.pp = pp;
        self.pv = pv;
        self.vv = vv;
    }

    /// Squared Mahalanobis contribution of a measurement.
    fn mahalanobis2(&self, z: f32, r: f32) -> f32 {
        let d = z - self.p;
        d * d / (self.pp + r).max(f32::MIN_POSITIVE)
    }
}

/// The filter state of one tracked box.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct KalmanBox {
    axes: [Axis; 4],
}

const MIN_SIZE: f32 = 1.0;

fn measure(b: &BBox) -> [f32; 4] {
    [
        (b.x1 + b.x2) * 0.5,
        (b.y1 + b.y2) * 0.5,
        b.width().max(MIN_SIZE),
        b.height().max(MIN_SIZE),
    ]
}

impl KalmanBox {
    /// A filter started at a first observation, with zero velocity of large uncertainty.
    pub fn new(b: &BBox, cfg: &KalmanConfig) -> Self {
        let z = measure(b);
        let scale = [z[2], z[3], z[2], z[3]];
        let mut axes = [Axis::default(); 4];
        for (i, a) in axes.iter_mut().enumerate() {
            let sp = 2.0 * cfg.measurement * scale[i];
            let sv = cfg.initial_velocity * scale[i];
            *a = Axis {
                p: z[i],
                v: 0.0,
                pp: sp * sp,
                pv: 0.0,
                vv: sv * sv,
            };
        }
        Self { axes }
    }

    fn scales(&self) -> [f32; 4] {
        let w = self.axes[2].p.max(MIN_SIZE);
        let h = self.axes[3].p.max(MIN_SIZE);
        [w, h, w, h]
    }

    /// Advance the state by `dt` seconds.
    pub fn predict(&mut self, dt: f32, cfg: &KalmanConfig) {
        if !(dt > 0.0 && dt.is_finite()) {
            return;
        }
        let s = self.scales();
        for (a, scale) in self.axes.iter_mut().zip(s) {
            let qp = cfg.process_position * scale;
            let qv = cfg.process_velocity * scale;
            a.predict(dt, qp * qp, qv * qv);
        }
        // A shrinking box must not invert: keep sizes positive.
        for a in &mut self.axes[2..] {
            if a.p < MIN_SIZE {
                a.p = MIN_SIZE;
                a.v = a.v.max(0.0);
            }
        }
    }

    /// Set the width and height velocities to zero (for boxes predicted without observations).
    pub fn freeze_size(&mut self) {
        for a in &mut self.axes[2..] {
            a.v = 0.0;
        }
    }

    /// Correct the state with an observed box.
    pub fn update(&mut self, b: &BBox, cfg: &KalmanConfig) {
        self.update_weighted(b, 1.0, cfg);
    }

    /// Correct the state with an observed box whose measurement variance is scaled by
    /// `noise_scale` (> 1: trust it less).
    pub fn update_weighted(&mut self, b: &BBox, noise_scale: f32, cfg: &KalmanConfig) {
        let z = measure(b);
        let s = self.scales();
        let k = if noise_scale.is_finite() && noise_scale > 0.0 {
            noise_scale
        } else {
            1.0
        };
        for ((a, z), scale) in self.axes.iter_mut().zip(z).zip(s) {
            let r = cfg.measurement * scale;
            a.update(z, r * r * k);
        }
    }

    /// Squared Mahalanobis distance of a box from the predicted state (4 degrees of freedom).
    pub fn mahalanobis2(&self, b: &BBox, cfg: &KalmanConfig) -> f32 {
        let z = measure(b);
        let s = self.scales();
        let mut d = 0.0;
        for ((a, z), scale) in self.axes.iter().zip(z).zip(s) {
            let r = cfg.measurement * scale;
            d += a.mahalanobis2(z, r * r);
        }
        d
    }

    /// The current box estimate.
    pub fn bbox(&self) -> BBox {
        let [cx, cy, w, h] = [
            self.axes[0].p,
            self.axes[1].p,
            self.axes[2].p.max(MIN_SIZE),
            self.axes[3].p.max(MIN_SIZE),
        ];
        BBox::new(cx - w * 0.5, cy - h * 0.5, cx + w * 0.5, cy + h * 0.5)
    }

    /// Velocity of the box centre in pixels per second.
    pub fn velocity(&self) -> (f32, f32) {
        (self.axes[0].v, self.axes[1].v)
    }

    pub fn is_finite(&self) -> bool {
        self.axes
            .iter()
            .all(|a| a.p.is_finite() && a.v.is_finite() && a.pp.is_finite() && a.vv.is_finite())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converges_on_constant_velocity_motion() {
        let cfg = KalmanConfig::default();
        let mut kf = KalmanBox::new(&BBox::new(100.0, 100.0, 140.0, 220.0), &cfg);
        // 50 px/s to the right, observed at 10 Hz.
        for i in 1..=40 {
            kf.predict(0.1, &cfg);
            let x = 100.0 + 5.0 * i as f32;
            kf.update(&BBox::new(x, 100.0, x + 40.0, 220.0), &cfg);
        }
        let (vx, vy) = kf.velocity();
        assert!((vx - 50.0).abs() < 2.0, "vx {vx}");
        assert!(vy.abs() < 1.0, "vy {vy}");
        kf.predict(0.5, &cfg);
        let b = kf.bbox();
        assert!((b.x1 - 325.0).abs() < 2.0, "predicted x1 {}", b.x1);
        assert!((b.width() - 40.0).abs() < 0.5);
    }

    #[test]
    fn uncertainty_grows_with_prediction_and_mahalanobis_reflects_it() {
        let cfg = KalmanConfig::default();
        let b = BBox::new(0.0, 0.0, 50.0, 150.0);
        let mut kf = KalmanBox::new(&b, &cfg);
        kf.update(&b, &cfg);
        let far = BBox::new(30.0, 0.0, 80.0, 150.0);
        let d_now = kf.mahalanobis2(&far, &cfg);
        kf.predict(2.0, &cfg);
        let d_later = kf.mahalanobis2(&far, &cfg);
        assert!(d_later < d_now, "{d_later} < {d_now}");
    }

    #[test]
    fn bad_time_steps_are_ignored() {
        let cfg = KalmanConfig::default();
        let b = BBox::new(0.0, 0.0, 50.0, 150.0);
        let mut kf = KalmanBox::new(&b, &cfg);
        let before = kf;
        kf.predict(f32::NAN, &cfg);
        kf.predict(-1.0, &cfg);
        assert_eq!(kf, before);
    }
}
