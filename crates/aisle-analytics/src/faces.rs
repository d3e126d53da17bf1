//! Face-derived aggregates: per customer zone and window, the faces analysed of shoppers
//! standing in it (expression distribution and valence) and, for display zones, attention.
//!
//! Input: [`FaceSample`]s of the current frame from the face pipeline (`aisled`), after the
//! frame's [`crate::CameraAnalytics::update`]. A sample of a person who is staff, or stands in
//! a staff zone, or is unknown to the person table, is dropped here too (the pipeline already
//! asks [`crate::CameraAnalytics::face_eligible`] before analysing a face).
//!
//! - **Zones of a sample**: the customer zones the person occupies at the update (the
//!   occupancy rule: anchor inside; lost persons where they were last seen).
//! - **Emotion** (with emotion on): per zone, the number of samples with an expression, the sum
//!   of each class probability and of the valence (`EXPRESSION_VALENCE`).
//! - **Attention** (display zones): the person faces the display when the direction of their
//!   face in the image, `(sin yaw, cos yaw)` (x right, y down: a face turned to the camera faces
//!   down the image, towards it), is within `attention_cone_deg` of the direction from the face
//!   to the zone's attention target, and they stand in the zone or within 1.5 box heights of the
//!   target. Each such sample adds its `interval_s` (at most 2 s) to the zone's attention
//!   seconds, and the person to its lookers.
//! - **Distinct shoppers** are (slot, track id) pairs: a new person in a reused slot has a new
//!   track id. At most [`crate::MAX_PERSONS`] per zone and period are told apart; beyond that
//!   the count saturates (counted in `AnalyticsStats::face_visitors_saturated`).
//!
//! Records: one [`FacesRecord`] per camera and period, with the window span of the camera
//! record the engine emitted for the same period (a period with no observed time emits none);
//! per zone, suppressed when `0 < visitors_sampled < min_visitors`.

use aisle_types::metrics::{
    rfc3339_utc, Attention, Emotion, FacesRecord, MetricRecord, Period, RecordHeader, ZoneFaces,
    ZoneKind, EXPRESSION_VALENCE,
};

use crate::engine::Engine;
use crate::persons::MAX_PERSONS;
use crate::setup::Zone;

/// Longest time one sample stands for, seconds.
pub const MAX_SAMPLE_INTERVAL_S: f64 = 2.0;

/// One analysed face of a track in the current frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceSample {
    /// The tracker's id (never leaves the crate).
    pub track_id: u32,
    /// Seconds this sample stands for: since the pipeline's previous attempt on this track
    /// (capped at [`MAX_SAMPLE_INTERVAL_S`]).
    pub interval_s: f64,
    /// Head pose in degrees (`aisle_vision::HeadPose`: yaw > 0 turned to the image's right,
    /// pitch > 0 looking down).
    pub yaw_deg: f32,
    pub pitch_deg: f32,
    /// Centre of the face, frame pixels.
    pub face: [f32; 2],
    /// Expression probabilities in `EXPRESSION_CLASSES` order (emotion on).
    pub expression: Option<[f32; 7]>,
}

/// What [`crate::CameraAnalytics::with_faces`] sets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceSettings {
    /// Emotion figures are published (off: attention only).
    pub emotion: bool,
    /// Half-angle of the attention cone, degrees.
    pub attention_cone_deg: f32,
}

#[derive(Debug, Clone)]
struct ZoneAcc {
    samples: u32,
    who: Vec<(u16, u32)>,
    emo_samples: u32,
    prob: [f64; 7],
    valence: f64,
    attention_s: f64,
    looked: Vec<(u16, u32)>,
}

impl ZoneAcc {
    fn new() -> Self {
        Self {
            samples: 0,
            who: Vec::with_capacity(MAX_PERSONS),
            emo_samples: 0,
            prob: [0.0; 7],
            valence: 0.0,
            attention_s: 0.0,
            looked: Vec::with_capacity(MAX_PERSONS),
        }
    }

    fn clear(&mut self) {
        self.samples = 0;
        self.who.clear();
        self.emo_samples = 0;
        self.prob = [0.0; 7];
        self.valence = 0.0;
        self.attention_s = 0.0;
        self.looked.clear();
    }
}

/// Inserts `p` unless present; `false` when the set is full.
fn insert(set: &mut Vec<(u16, u32)>, p: (u16, u32)) -> bool {
    if set.contains(&p) {
        return true;
    }
    if set.len() == MAX_PERSONS {
        return false;
    }
    set.push(p);
    true
}

/// One period's accumulators (per zone of the camera, staff zones unused).
#[derive(Debug, Clone)]
struct PeriodFaces {
    /// Window index of the period (in its own length), `None` before the first sample time.
    index: Option<i64>,
    zones: Vec<ZoneAcc>,
}

pub(crate) struct FaceAgg {
    pub settings: FaceSettings,
    window: PeriodFaces,
    report: PeriodFaces,
    pub saturated: u64,
}

/// Whether a sample at `face` with head `yaw_deg` faces `target` within `cone_deg`.
pub(crate) fn faces_target(face: [f32; 2], yaw_deg: f32, target: [f64; 2], cone_deg: f32) -> bool {
    let yaw = f64::from(yaw_deg).to_radians();
    let (fx, fy) = (yaw.sin(), yaw.cos());
    let (vx, vy) = (
        target[0] - f64::from(face[0]),
        target[1] - f64::from(face[1]),
    );
    let n = (vx * vx + vy * vy).sqrt();
    if n == 0.0 {
        return true;
    }
    let cos = (fx * vx + fy * vy) / n;
    cos >= f64::from(cone_deg).to_radians().cos()
}

impl FaceAgg {
    pub fn new(settings: FaceSettings, zones: usize) -> Self {
        let period = || PeriodFaces {
            index: None,
            zones: (0..zones).map(|_| ZoneAcc::new()).collect(),
        };
        Self {
            settings,
            window: period(),
            report: period(),
            saturated: 0,
        }
    }

    /// Adds one sample of the person in `slot` (track `id`, box height `height`, anchor
    /// `anchor`) who occupies the zones `occupies[z]`, in window `k` / report window `rk`.
    #[allow(clippy::too_many_arguments)]
    pub fn add(
        &mut self,
        zones: &[Zone],
        occupies: impl Fn(usize) -> bool,
        slot: usize,
        height: f64,
        anchor: [f64; 2],
        s: &FaceSample,
        k: i64,
        rk: i64,
    ) {
        let who = (slot as u16, s.track_id);
        let interval = s.interval_s.clamp(0.0, MAX_SAMPLE_INTERVAL_S);
        let cone = self.settings.attention_cone_deg;
        let emotion = self.settings.emotion;
        let mut saturated = 0;
        for (period, index) in [(&mut self.window, k), (&mut self.report, rk)] {
            period.index.get_or_insert(index);
            for (z, (zone, acc)) in zones.iter().zip(&mut period.zones).enumerate() {
                if zone.kind == ZoneKind::Staff {
                    continue;
                }
                let inside = occupies(z);
                if inside {
                    acc.samples += 1;
                    saturated += u64::from(!insert(&mut acc.who, who));
                    if let (true, Some(p)) = (emotion, s.expression) {
                        acc.emo_samples += 1;
                        for (sum, v) in acc.prob.iter_mut().zip(p) {
                            *sum += f64::from(v);
                        }
                        acc.valence += p
                            .iter()
                            .zip(EXPRESSION_VALENCE)
                            .map(|(v, w)| f64::from(*v) * w)
                            .sum::<f64>();
                    }
                }
                if zone.kind == ZoneKind::Display {
                    let t = zone.attention_target;
                    let near = ((t[0] - anchor[0]).powi(2) + (t[1] - anchor[1]).powi(2)).sqrt()
                        <= 1.5 * height;
                    if (inside || near) && faces_target(s.face, s.yaw_deg, t, cone) {
                        acc.attention_s += interval;
                        saturated += u64::from(!insert(&mut acc.looked, who));
                    }
                }
            }
        }
        self.saturated += saturated;
    }

    /// Sets the current window `k` and report window `rk` of periods that have none yet (so
    /// that every observed period gets a record, with zeros when no face was analysed).
    pub fn observe(&mut self, k: i64, rk: i64) {
        self.window.index.get_or_insert(k);
        self.report.index.get_or_insert(rk);
    }

    /// Emits the faces records of the periods before window `k` / report window `rk` of `now`
    /// (`None`: every period, at the end of input), with the spans of the camera records the
    /// engine `e` appended to `out` from `first` on (this update's records).
    pub fn close(
        &mut self,
        e: &Engine,
        out: &mut Vec<MetricRecord>,
        first: usize,
        now: Option<(i64, i64)>,
    ) {
        let (camera, zones, min_visitors) =
            (e.camera.as_str(), e.zones.as_slice(), e.s.min_visitors);
        let (k, rk) = (now.map(|n| n.0), now.map(|n| n.1));
        let lengths = (e.s.window_s, e.s.report_window_s);
        let emotion = self.settings.emotion;
        for (period, which, now, length) in [
            (&mut self.window, Period::Window, k, lengths.0),
            (&mut self.report, Period::Report, rk, lengths.1),
        ] {
            let Some(index) = period.index else {
                period.index = now;
                continue;
            };
            if now.is_some_and(|n| n <= index) {
                continue;
            }
            // The engine's camera record of this period holds its span (none: nothing observed).
            let start = index * i64::from(length);
            let start_text = rfc3339_utc(start);
            let new = &out[first.min(out.len())..];
            let observed = new.iter().find_map(|r| match r {
                MetricRecord::Camera(c)
                    if c.header.period == which && c.header.window.start == start_text =>
                {
                    Some(c.header.window.observed_s)
                }
                _ => None,
            });
            if let Some(observed) = observed {
                let zones_out = zones
                    .iter()
                    .zip(&period.zones)
                    .filter(|(z, _)| z.kind != ZoneKind::Staff)
                    .map(|(z, acc)| {
                        let visitors = zone_visitors(new, which, &start_text, &z.name);
                        zone_faces(z, acc, emotion, min_visitors, visitors)
                    })
                    .collect();
                out.push(MetricRecord::Faces(FacesRecord {
                    header: RecordHeader::new(
                        camera,
                        "faces",
                        which,
                        start,
                        length,
                        observed,
                        min_visitors,
                        false,
                    ),
                    emotion_enabled: emotion,
                    zones: zones_out,
                }));
            }
            period.zones.iter_mut().for_each(ZoneAcc::clear);
            period.index = now;
        }
    }
}

/// The visitors of zone `name` in the engine's zone record of the same period and start, when
/// published (not suppressed).
fn zone_visitors(new: &[MetricRecord], which: Period, start: &str, name: &str) -> Option<u32> {
    new.iter().find_map(|r| match r {
        MetricRecord::Zone(z)
            if z.header.period == which && z.zone == name && z.header.window.start == start =>
        {
            z.visitors
        }
        _ => None,
    })
}

fn zone_faces(
    z: &Zone,
    acc: &ZoneAcc,
    emotion: bool,
    min_visitors: u32,
    visitors: Option<u32>,
) -> ZoneFaces {
    let sampled = acc.who.len() as u32;
    let suppressed = sampled > 0 && sampled < min_visitors;
    let keep = |v| (!suppressed).then_some(v);
    let emotion = (emotion && !suppressed).then(|| {
        let n = acc.emo_samples;
        Emotion {
            samples: n,
            probability_sums: acc.prob.to_vec(),
            distribution: acc
                .prob
                .iter()
                .map(|p| if n > 0 { p / f64::from(n) } else { 0.0 })
                .collect(),
            valence_sum: acc.valence,
            valence_mean: (n > 0).then(|| acc.valence / f64::from(n)),
        }
    });
    let attention = (z.kind == ZoneKind::Display && !suppressed).then(|| {
        let looked = acc.looked.len() as u32;
        Attention {
            seconds: acc.attention_s,
            visitors_looked: looked,
            share: visitors
                .filter(|&v| v > 0)
                .map(|v| (f64::from(looked) / f64::from(v)).min(1.0)),
        }
    });
    ZoneFaces {
        zone: z.name.clone(),
        zone_kind: z.kind,
        suppressed,
        faces_sampled: keep(acc.samples),
        visitors_sampled: keep(sampled),
        emotion,
        attention,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facing_directions() {
        // A face turned to the camera faces down the image.
        assert!(faces_target([100.0, 100.0], 0.0, [100.0, 300.0], 30.0));
        assert!(!faces_target([100.0, 100.0], 0.0, [300.0, 100.0], 30.0));
        // Turned 90 degrees to the image's right.
        assert!(faces_target([100.0, 100.0], 90.0, [300.0, 110.0], 30.0));
        assert!(!faces_target([100.0, 100.0], -90.0, [300.0, 110.0], 30.0));
        // Within the cone, just.
        assert!(faces_target([0.0, 0.0], 25.0, [0.0, 100.0], 30.0));
        assert!(!faces_target([0.0, 0.0], 35.0, [0.0, 100.0], 30.0));
    }
}
