//! Scenario parameters, the standard scenarios and their validation.

use crate::appearance::AppearanceModel;
use crate::camera::Camera;
use crate::layout::FloorPlan;
use crate::noise::NoiseModel;
use crate::SimError;

/// Who the shoppers are and how they move.
#[derive(Debug, Clone, PartialEq)]
pub struct ShopperModel {
    /// Preferred walking speed, uniform in `[min, max]` m/s per shopper. Defaults 0.8 and 1.4.
    pub speed_min_mps: f64,
    pub speed_max_mps: f64,
    /// Body height: normal(mean, sd) clamped to `[min, max]` metres. Defaults 1.72, 0.09, 1.5,
    /// 1.95.
    pub height_mean_m: f64,
    pub height_sd_m: f64,
    pub height_min_m: f64,
    pub height_max_m: f64,
    /// Body width (shoulders), uniform in `[min, max]` metres. Defaults 0.40 and 0.52.
    pub width_min_m: f64,
    pub width_max_m: f64,
    /// Mean number of displays on a shopper's list (Poisson, at most every display once).
    pub displays_mean: f64,
    /// Mean number of short browsing stops at shelves along the aisles (Poisson).
    pub browse_stops_mean: f64,
    /// A browsing stop lasts uniform `[min, max]` seconds. Defaults 1 and 4.
    pub browse_pause_min_s: f64,
    pub browse_pause_max_s: f64,
    /// Chance a shopper goes to the checkout before leaving.
    pub checkout_prob: f64,
    /// Sideways wander while walking: an Ornstein-Uhlenbeck offset with this stationary sd
    /// (metres, 2 s time constant) on top of a per-shopper keep-right lane offset, both
    /// bounded by the floor plan's `lane_half_width_m`. Default 0.08.
    pub wander_sd_m: f64,
}

impl Default for ShopperModel {
    fn default() -> Self {
        Self {
            speed_min_mps: 0.8,
            speed_max_mps: 1.4,
            height_mean_m: 1.72,
            height_sd_m: 0.09,
            height_min_m: 1.5,
            height_max_m: 1.95,
            width_min_m: 0.40,
            width_max_m: 0.52,
            displays_mean: 3.0,
            browse_stops_mean: 1.5,
            browse_pause_min_s: 1.0,
            browse_pause_max_s: 5.0,
            checkout_prob: 0.6,
            wander_sd_m: 0.08,
        }
    }
}

/// Time spent at a display: a mixture of quick bounces and lognormal engaged visits, scaled by
/// the display's `dwell_scale`.
#[derive(Debug, Clone, PartialEq)]
pub struct DwellModel {
    /// Share of quick bounces, uniform in `[bounce_min_s, bounce_max_s]`. Default 0.2, 0.5-2 s.
    pub bounce_prob: f64,
    pub bounce_min_s: f64,
    pub bounce_max_s: f64,
    /// The other visits are lognormal with this median (s) and log-space sd. Defaults 8 s and
    /// 0.8 (p90 ~22 s, p99 ~50 s).
    pub median_s: f64,
    pub log_sigma: f64,
    /// Upper bound on any dwell, seconds. Default 180.
    pub max_s: f64,
}

impl Default for DwellModel {
    fn default() -> Self {
        Self {
            bounce_prob: 0.2,
            bounce_min_s: 0.5,
            bounce_max_s: 2.0,
            median_s: 8.0,
            log_sigma: 0.8,
            max_s: 180.0,
        }
    }
}

/// Tills and queueing.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckoutModel {
    /// Open tills (at most the floor plan's `till_spots`).
    pub tills: u32,
    /// Service time, lognormal: median seconds and log-space sd. Defaults 15 s and 0.4.
    pub service_median_s: f64,
    pub service_log_sigma: f64,
    /// Longest queue; a shopper who finds it full leaves without paying (at most what the
    /// queue line holds at the plan's slot spacing). Default 8.
    pub max_queue: u32,
}

impl Default for CheckoutModel {
    fn default() -> Self {
        Self {
            tills: 1,
            service_median_s: 15.0,
            service_log_sigma: 0.4,
            max_queue: 8,
        }
    }
}

/// Everything that defines a simulated sequence. Same scenario (seed included), same output.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub seed: u64,
    /// Recorded store time, seconds.
    pub duration_s: f64,
    /// Frames per second of the recorded sequence (the product analyses ~10 fps).
    pub fps: f64,
    /// Store time simulated before the first frame so the store is not empty at the start.
    pub warmup_s: f64,
    /// Poisson arrival rate of shoppers through the door, per minute.
    pub arrivals_per_min: f64,
    pub shoppers: ShopperModel,
    pub dwell: DwellModel,
    pub checkout: CheckoutModel,
    pub floor: FloorPlan,
    pub camera: Camera,
    pub noise: NoiseModel,
    /// What the appearance descriptors of the detections read.
    pub appearance: AppearanceModel,
}

/// Frames per recorded sequence at most (an hour at 120 fps).
const MAX_FRAMES: f64 = 432_000.0;

impl Scenario {
    /// A scenario with the standard store, camera and detector and the given traffic.
    pub fn new(name: &str, seed: u64, duration_s: f64, arrivals_per_min: f64) -> Self {
        Self {
            name: name.to_string(),
            seed,
            duration_s,
            fps: 10.0,
            warmup_s: 240.0,
            arrivals_per_min,
            shoppers: ShopperModel::default(),
            dwell: DwellModel::default(),
            checkout: CheckoutModel::default(),
            floor: FloorPlan::standard(),
            camera: Camera::default(),
            noise: NoiseModel::default(),
            appearance: AppearanceModel::default(),
        }
    }

    /// The standard scenarios, quiet to crowded: "quiet" (1-3 people in view, 3 min),
    /// "moderate" (~8-15, 4 min), "busy" (~20-25, 4 min), "crowded" (~30-40, 3 min). All use the
    /// standard store, camera and default detector noise at 10 fps.
    pub fn standard() -> Vec<Scenario> {
        let mut quiet = Scenario::new("quiet", 2, 180.0, 1.2);
        quiet.shoppers.displays_mean = 2.0;
        quiet.checkout.tills = 1;

        let mut moderate = Scenario::new("moderate", 8, 240.0, 6.0);
        moderate.checkout.tills = 2;

        let mut busy = Scenario::new("busy", 2, 240.0, 12.5);
        busy.checkout.tills = 2;
        busy.checkout.service_median_s = 12.0;

        let mut crowded = Scenario::new("crowded", 9, 180.0, 17.0);
        crowded.shoppers.displays_mean = 3.0;
        crowded.checkout.tills = 2;
        crowded.checkout.service_median_s = 12.0;

        vec![quiet, moderate, busy, crowded]
    }

    /// One of [`Scenario::standard`] by name.
    pub fn by_name(name: &str) -> Option<Scenario> {
        Self::standard().into_iter().find(|s| s.name == name)
    }

    /// Checks every parameter; the error names the field and its value.
    pub fn validate(&self) -> Result<(), SimError> {
        let sc = self.name.as_str();
        let check =
            |field: &str, v: f64, lo: f64, hi: f64| SimError::check_range(sc, field, v, lo, hi);
        let positive = |field: &str, v: f64, hi: f64| -> Result<(), SimError> {
            if v.is_finite() && v > 0.0 && v <= hi {
                Ok(())
            } else {
                Err(SimError::invalid(
                    sc,
                    field.into(),
                    v.to_string(),
                    &format!("must be in (0, {hi}]"),
                ))
            }
        };
        positive("fps", self.fps, 240.0)?;
        positive("duration_s", self.duration_s, 86_400.0)?;
        if self.duration_s * self.fps > MAX_FRAMES {
            return Err(SimError::invalid(
                sc,
                "duration_s".into(),
                self.duration_s.to_string(),
                &format!("gives more than {MAX_FRAMES} frames at {} fps", self.fps),
            ));
        }
        if self.duration_s * self.fps < 1.0 {
            return Err(SimError::invalid(
                sc,
                "duration_s".into(),
                self.duration_s.to_string(),
                &format!("gives no frame at {} fps", self.fps),
            ));
        }
        check("warmup_s", self.warmup_s, 0.0, 3600.0)?;
        check("arrivals_per_min", self.arrivals_per_min, 0.0, 120.0)?;

        let s = &self.shoppers;
        positive("shoppers.speed_min_mps", s.speed_min_mps, 3.0)?;
        check(
            "shoppers.speed_max_mps",
            s.speed_max_mps,
            s.speed_min_mps,
            3.0,
        )?;
        check("shoppers.height_min_m", s.height_min_m, 0.5, 2.5)?;
        check("shoppers.height_max_m", s.height_max_m, s.height_min_m, 2.5)?;
        check(
            "shoppers.height_mean_m",
            s.height_mean_m,
            s.height_min_m,
            s.height_max_m,
        )?;
        check("shoppers.height_sd_m", s.height_sd_m, 0.0, 1.0)?;
        check("shoppers.width_min_m", s.width_min_m, 0.1, 1.5)?;
        check("shoppers.width_max_m", s.width_max_m, s.width_min_m, 1.5)?;
        check("shoppers.displays_mean", s.displays_mean, 0.0, 50.0)?;
        check("shoppers.browse_stops_mean", s.browse_stops_mean, 0.0, 50.0)?;
        check(
            "shoppers.browse_pause_min_s",
            s.browse_pause_min_s,
            0.0,
            600.0,
        )?;
        check(
            "shoppers.browse_pause_max_s",
            s.browse_pause_max_s,
            s.browse_pause_min_s,
            600.0,
        )?;
        check("shoppers.checkout_prob", s.checkout_prob, 0.0, 1.0)?;
        check("shoppers.wander_sd_m", s.wander_sd_m, 0.0, 1.0)?;

        let d = &self.dwell;
        check("dwell.bounce_prob", d.bounce_prob, 0.0, 1.0)?;
        check("dwell.bounce_min_s", d.bounce_min_s, 0.0, 3600.0)?;
        check("dwell.bounce_max_s", d.bounce_max_s, d.bounce_min_s, 3600.0)?;
        positive("dwell.median_s", d.median_s, 3600.0)?;
        check("dwell.log_sigma", d.log_sigma, 0.0, 3.0)?;
        positive("dwell.max_s", d.max_s, 3600.0)?;

        let c = &self.checkout;
        let spots = self.floor.checkout.till_spots.len();
        if c.tills == 0 || c.tills as usize > spots {
            return Err(SimError::invalid(
                sc,
                "checkout.tills".into(),
                c.tills.to_string(),
                &format!("must be in [1, {spots}] (the floor plan's till spots)"),
            ));
        }
        positive("checkout.service_median_s", c.service_median_s, 3600.0)?;
        check("checkout.service_log_sigma", c.service_log_sigma, 0.0, 3.0)?;

        self.floor.validate(sc)?;
        let cap = self.floor.queue_capacity();
        if c.max_queue as usize > cap {
            return Err(SimError::invalid(
                sc,
                "checkout.max_queue".into(),
                c.max_queue.to_string(),
                &format!("must be at most {cap} (what the floor plan's queue line holds)"),
            ));
        }

        let cam = &self.camera;
        for (i, v) in cam.position_m.iter().enumerate() {
            check(&format!("camera.position_m[{i}]"), *v, -1e4, 1e4)?;
        }
        check("camera.position_m[2]", cam.position_m[2], 0.5, 100.0)?;
        check("camera.yaw_deg", cam.yaw_deg, -360.0, 360.0)?;
        check("camera.pitch_deg", cam.pitch_deg, 1.0, 90.0)?;
        check("camera.hfov_deg", cam.hfov_deg, 10.0, 170.0)?;
        for (field, v) in [
            ("camera.image_width", cam.image_width),
            ("camera.image_height", cam.image_height),
        ] {
            if !(16..=8192).contains(&v) {
                return Err(SimError::invalid(
                    sc,
                    field.into(),
                    v.to_string(),
                    "must be in [16, 8192] pixels",
                ));
            }
        }

        self.noise.validate(sc)?;
        self.appearance.validate(sc)
    }
}
