//! Test scenes: actors walking along scripted paths at 10 fps through a 1000 x 1000 frame.
#![allow(dead_code)]

use aisle_analytics::{CameraAnalytics, TrackPoint};
use aisle_config::{AnalyticsConfig, LineConfig, LineSide, ZoneConfig};
use aisle_types::metrics::{
    rfc3339_utc, CameraRecord, LineRecord, MetricRecord, Period, ZoneKind, ZoneRecord,
};
use aisle_types::{Appearance, BBox, MediaTime};

/// 2026-11-25T19:44:00Z, on a minute.
pub const EPOCH_MS: i64 = 1_795_635_840_000;
pub const W: u32 = 1000;
pub const H: u32 = 1000;
pub const CAM: &str = "cam";

pub fn at(ms: i64) -> MediaTime {
    MediaTime::new(ms, 1000).unwrap()
}

/// A track whose bottom centre stands at normalised `(x, y)`; box 40 x 100 px.
pub fn track(id: u32, x: f64, y: f64, first_seen_ms: i64) -> TrackPoint {
    let (px, py) = ((x * f64::from(W)) as f32, (y * f64::from(H)) as f32);
    TrackPoint {
        id,
        bbox: BBox::new(px - 20.0, py - 100.0, px + 20.0, py),
        first_seen: at(first_seen_ms),
        appearance: None,
    }
}

pub fn rect(name: &str, kind: ZoneKind, x0: f64, y0: f64, x1: f64, y1: f64) -> ZoneConfig {
    ZoneConfig {
        camera: CAM.into(),
        name: name.into(),
        kind,
        polygon: vec![[x0, y0], [x1, y0], [x1, y1], [x0, y1]],
        anchor: Default::default(),
        capacity: None,
        attention_target: None,
    }
}

pub fn line(name: &str, from: [f64; 2], to: [f64; 2], in_side: LineSide) -> LineConfig {
    LineConfig {
        camera: CAM.into(),
        name: name.into(),
        from,
        to,
        in_side,
        anchor: Default::default(),
    }
}

/// The defaults with k = `k`, and the hysteresis and grace times the tests' timings are written
/// for (3 s each, no minimum visit), pinned so that tuning the defaults does not change what the
/// tests check.
pub fn settings(k: u32) -> AnalyticsConfig {
    AnalyticsConfig {
        min_visitors: k,
        min_visit_s: 0.0,
        reentry_gap_s: 3.0,
        lost_grace_s: 3.0,
        ..Default::default()
    }
}

pub type Path = Box<dyn Fn(i64) -> Option<[f64; 2]>>;

pub struct Actor {
    pub id: u32,
    pub path: Path,
    pub first_seen: Option<i64>,
    /// The clothing colours the tracker reports for the actor's track.
    pub appearance: Option<Appearance>,
}

/// Colours as the tracker would describe them: all of the torso one colour class and the legs
/// another (`aisle_types::COLOUR_NAMES` indices).
pub fn clothes(top: usize, legs: usize) -> Appearance {
    let mut c = [0.0; aisle_types::APPEARANCE_DIM];
    c[top] = 1.0;
    c[aisle_types::COLOURS + legs] = 1.0;
    Appearance::from_counts(&c)
}

pub struct Sim {
    pub a: CameraAnalytics,
    pub out: Vec<MetricRecord>,
    pub actors: Vec<Actor>,
    pub epoch_ms: i64,
}

impl Sim {
    pub fn new(zones: &[ZoneConfig], lines: &[LineConfig], s: &AnalyticsConfig) -> Self {
        Self::with_epoch(zones, lines, s, EPOCH_MS)
    }

    pub fn with_epoch(
        zones: &[ZoneConfig],
        lines: &[LineConfig],
        s: &AnalyticsConfig,
        epoch_ms: i64,
    ) -> Self {
        Self {
            a: CameraAnalytics::new(CAM, W, H, zones, lines, s, epoch_ms).unwrap(),
            out: Vec::new(),
            actors: Vec::new(),
            epoch_ms,
        }
    }

    /// An actor at `path(ms)` (normalised foot point) while it returns `Some`.
    pub fn add(&mut self, id: u32, path: impl Fn(i64) -> Option<[f64; 2]> + 'static) {
        self.actors.push(Actor {
            id,
            path: Box::new(path),
            first_seen: None,
            appearance: None,
        });
    }

    pub fn tracks(&mut self, ms: i64) -> Vec<TrackPoint> {
        let mut v = Vec::new();
        for a in self.actors.iter_mut() {
            if let Some(p) = (a.path)(ms) {
                let first = *a.first_seen.get_or_insert(ms);
                let mut t = track(a.id, p[0], p[1], first);
                t.appearance = a.appearance;
                v.push(t);
            }
        }
        v
    }

    pub fn step(&mut self, ms: i64) {
        let tracks = self.tracks(ms);
        self.a.update(at(ms), &tracks, &mut self.out).unwrap();
    }

    /// Updates every 100 ms in `[from_ms, to_ms]`.
    pub fn run(&mut self, from_ms: i64, to_ms: i64) {
        let mut ms = from_ms;
        while ms <= to_ms {
            self.step(ms);
            ms += 100;
        }
    }

    pub fn finish(&mut self, ms: i64) {
        self.a.finish(at(ms), &mut self.out);
    }

    /// Window start (RFC 3339) `offset_s` after the minute of the epoch.
    pub fn start(&self, offset_s: i64) -> String {
        rfc3339_utc(self.epoch_ms.div_euclid(60_000) * 60 + offset_s)
    }

    pub fn zone(&self, name: &str, period: Period, offset_s: i64) -> &ZoneRecord {
        let start = self.start(offset_s);
        self.out
            .iter()
            .find_map(|r| match r {
                MetricRecord::Zone(z)
                    if z.zone == name
                        && z.header.period == period
                        && z.header.window.start == start =>
                {
                    Some(z)
                }
                _ => None,
            })
            .unwrap_or_else(|| {
                panic!(
                    "no {period:?} record of zone {name} at {start}: {:#?}",
                    self.out
                )
            })
    }

    pub fn line(&self, name: &str, period: Period, offset_s: i64) -> &LineRecord {
        let start = self.start(offset_s);
        self.out
            .iter()
            .find_map(|r| match r {
                MetricRecord::Line(l)
                    if l.line == name
                        && l.header.period == period
                        && l.header.window.start == start =>
                {
                    Some(l)
                }
                _ => None,
            })
            .unwrap_or_else(|| panic!("no record of line {name} at {start}"))
    }

    pub fn camera(&self, period: Period, offset_s: i64) -> &CameraRecord {
        let start = self.start(offset_s);
        self.out
            .iter()
            .find_map(|r| match r {
                MetricRecord::Camera(c)
                    if c.header.period == period && c.header.window.start == start =>
                {
                    Some(c)
                }
                _ => None,
            })
            .unwrap_or_else(|| panic!("no camera record at {start}"))
    }
}

pub fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

#[track_caller]
pub fn assert_close(a: f64, b: f64) {
    assert!(close(a, b), "{a} != {b}");
}
