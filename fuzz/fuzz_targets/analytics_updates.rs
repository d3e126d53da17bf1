//! Untrusted zone layouts and tracks -> zone analytics (`CameraAnalytics`).
//!
//! The input bytes are read as a program (a missing byte reads as 0): the frame size, the
//! `[analytics]` settings, up to 6 zones (3 to 10 vertices each, mostly on a coarse grid so that
//! polygons repeat vertices, fold back and cross themselves; sometimes any `f64`: NaN,
//! infinities, out of the frame), up to 4 lines, the epoch; then a sequence of updates (time
//! steps of zero, a few ms, seconds, minutes, hours, backwards, or any `i64`; tracks with ids
//! from a small set or any `u32`, boxes on the frame or any `f32` bit pattern: NaN, infinities,
//! inverted, huge) and `finish` calls. Set-up errors and out-of-order updates are fine; a panic
//! is not. Every record produced is checked against invariants of the model (`lib.rs`):
//! structure (each close emits the published zones in config order, the lines, the camera),
//! suppression (all figures `null`), k-anonymity, dwell figures (histogram sums to the count,
//! bounces and engaged within it, p50 <= p90 <= max, mean <= max), occupancy (mean and now
//! within max), queue and transition consistency, finite non-negative numbers, and, while times
//! stay within about 68 years of the epoch (f64 seconds resolve 1e-6 s there), observed time
//! within the window length and windows aligned to their length.
#![no_main]

use aisle_analytics::{CameraAnalytics, TrackPoint};
use aisle_config::{AnalyticsConfig, Anchor, LineConfig, LineSide, ZoneConfig};
use aisle_types::metrics::{MetricRecord, Period, ZoneKind, DWELL_HISTOGRAM_LEN};
use aisle_types::{Appearance, BBox, MediaTime, APPEARANCE_DIM};
use libfuzzer_sys::fuzz_target;

const CAM: &str = "cam";

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn done(&self) -> bool {
        self.0.is_empty()
    }
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut b = [0u8; N];
        for x in b.iter_mut() {
            *x = self.u8();
        }
        b
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.bytes())
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.bytes())
    }
    fn i64(&mut self) -> i64 {
        i64::from_le_bytes(self.bytes())
    }
    fn f32(&mut self) -> f32 {
        f32::from_le_bytes(self.bytes())
    }
    fn f64(&mut self) -> f64 {
        f64::from_le_bytes(self.bytes())
    }
    /// A duration setting, seconds: mostly plausible, sometimes any `f64`.
    fn seconds(&mut self) -> f64 {
        match self.u8() % 8 {
            0 => 0.0,
            1 => 0.5,
            2 => 1.0,
            3 => 3.0,
            4 => 10.0,
            5 => f64::from(self.u8()) / 16.0,
            6 => f64::from(self.u16()),
            _ => self.f64(),
        }
    }
    /// A normalised coordinate: on a 1/16 grid (slightly past the frame at the ends), or any.
    fn coord(&mut self) -> f64 {
        let b = self.u8();
        if b < 240 {
            f64::from(b % 18) / 16.0 - 1.0 / 16.0
        } else {
            self.f64()
        }
    }
    fn anchor(&mut self) -> Anchor {
        [Anchor::BottomCentre, Anchor::Centre, Anchor::TopCentre][usize::from(self.u8() % 3)]
    }
    fn camera(&mut self) -> String {
        if self.u8() % 8 == 0 { "other" } else { CAM }.to_string()
    }
}

fn settings(inp: &mut Input) -> AnalyticsConfig {
    const WINDOWS: [u32; 8] = [1, 2, 5, 10, 15, 60, 3600, 7];
    const REPORTS: [u32; 8] = [1, 2, 3, 15, 60, 24, 0, 7];
    let window_s = WINDOWS[usize::from(inp.u8() % 8)];
    let report_window_s = window_s.saturating_mul(REPORTS[usize::from(inp.u8() % 8)]);
    AnalyticsConfig {
        window_s,
        report_window_s,
        min_visit_s: inp.seconds(),
        bounce_s: inp.seconds(),
        engaged_s: inp.seconds(),
        reentry_gap_s: inp.seconds(),
        lost_grace_s: inp.seconds(),
        min_visitors: u32::from(inp.u8() % 8),
        staff_share: match inp.u8() % 4 {
            0 => 0.5,
            1 => 1.0,
            2 => f64::from(inp.u8()) / 200.0,
            _ => inp.f64(),
        },
        heatmap_cols: u32::from(inp.u8() % 66),
        heatmap_rows: u32::from(inp.u8() % 66),
    }
}

fn zones(inp: &mut Input) -> Vec<ZoneConfig> {
    (0..inp.u8() % 7)
        .map(|_| {
            let camera = inp.camera();
            let name = format!("z{}", inp.u8() % 8);
            let kind = ZoneKind::ALL[usize::from(inp.u8()) % ZoneKind::ALL.len()];
            let anchor = inp.anchor();
            let capacity = match inp.u8() % 4 {
                0 => None,
                1 => Some(0),
                _ => Some(u32::from(inp.u8())),
            };
            let polygon = (0..inp.u8() % 11)
                .map(|_| [inp.coord(), inp.coord()])
                .collect();
            // Any point, also outside the image and on non-display zones (both refused).
            let attention_target = (inp.u8() % 4 == 0).then(|| [inp.coord(), inp.coord()]);
            ZoneConfig {
                camera,
                name,
                kind,
                polygon,
                anchor,
                capacity,
                attention_target,
            }
        })
        .collect()
}

fn lines(inp: &mut Input) -> Vec<LineConfig> {
    (0..inp.u8() % 5)
        .map(|_| LineConfig {
            camera: inp.camera(),
            name: format!("l{}", inp.u8() % 4),
            from: [inp.coord(), inp.coord()],
            to: [inp.coord(), inp.coord()],
            in_side: if inp.u8() % 2 == 0 {
                LineSide::Left
            } else {
                LineSide::Right
            },
            anchor: inp.anchor(),
        })
        .collect()
}

/// A box: on the frame (grid), or any bit pattern.
fn bbox(inp: &mut Input, w: f32, h: f32) -> BBox {
    if inp.u8() % 8 == 0 {
        BBox {
            x1: inp.f32(),
            y1: inp.f32(),
            x2: inp.f32(),
            y2: inp.f32(),
        }
    } else {
        let (x, y) = (
            f32::from(inp.u8()) / 240.0 * w,
            f32::from(inp.u8()) / 240.0 * h,
        );
        let (bw, bh) = (f32::from(inp.u8()) / 4.0, f32::from(inp.u8()));
        BBox::new(x - bw / 2.0, y - bh, x + bw / 2.0, y)
    }
}

/// What the checks need to know about the set-up.
struct Expect {
    k: u32,
    window_s: u32,
    report_window_s: u32,
    /// Published (non-staff) zones of the camera in config order: name, kind, capacity.
    zones: Vec<(String, ZoneKind, Option<u32>)>,
    lines: Vec<String>,
    heatmap: (u32, u32),
}

impl Expect {
    fn new(z: &[ZoneConfig], l: &[LineConfig], s: &AnalyticsConfig) -> Self {
        Self {
            k: s.min_visitors,
            window_s: s.window_s,
            report_window_s: s.report_window_s,
            zones: z
                .iter()
                .filter(|z| z.camera == CAM && z.kind != ZoneKind::Staff)
                .map(|z| (z.name.clone(), z.kind, z.capacity))
                .collect(),
            lines: l
                .iter()
                .filter(|l| l.camera == CAM)
                .map(|l| l.name.clone())
                .collect(),
            heatmap: (s.heatmap_cols, s.heatmap_rows),
        }
    }
}

fn finite_nonneg(x: f64, what: &str) {
    assert!(x.is_finite() && x >= 0.0, "{what} = {x}");
}

/// Records not past `tol` above `max` (figures are rounded to the millisecond).
fn at_most(x: f64, max: f64, what: &str) {
    assert!(x <= max + 1e-3 + max.abs() * 1e-9, "{what}: {x} > {max}");
}

/// Checks one close's records: `recs` is everything one period emitted, in order.
fn check_close(recs: &[MetricRecord], e: &Expect, sane: bool) {
    let n = e.zones.len() + e.lines.len() + 1;
    assert_eq!(
        recs.len(),
        n,
        "a close emits every zone, every line and the camera"
    );
    let h0 = recs[n - 1].header();
    let period = h0.period;
    let length = match period {
        Period::Window => e.window_s,
        Period::Report => e.report_window_s,
    };
    // Everyone counted in a zone is counted by the camera (the camera holds people lost within
    // grace like the zones do).
    let zone_max = recs
        .iter()
        .filter_map(|r| match r {
            MetricRecord::Zone(z) => z.visitors,
            _ => None,
        })
        .max()
        .unwrap_or(0);
    if let MetricRecord::Camera(c) = &recs[n - 1] {
        if zone_max > 0 {
            let cam = c.visitors.expect("a zone is published, so the camera is too");
            assert!(cam >= zone_max, "camera visitors {cam} < zone visitors {zone_max}");
        }
    }
    for (i, r) in recs.iter().enumerate() {
        let h = r.header();
        assert_eq!(h.camera, CAM);
        assert_eq!(h.period, period);
        assert_eq!(h.window, h0.window, "one close, one window");
        assert_eq!(h.min_visitors, e.k);
        assert_eq!(h.window.length_s, length);
        finite_nonneg(h.window.observed_s, "observed_s");
        if sane {
            assert!(
                h.window.observed_s <= f64::from(length) + 1e-6,
                "observed {} s of a {length} s window",
                h.window.observed_s
            );
            let start: i64 =
                h.id.rsplit('/')
                    .next()
                    .unwrap()
                    .parse()
                    .expect("id ends in the start");
            assert_eq!(
                start.rem_euclid(i64::from(length)),
                0,
                "window {start} not aligned"
            );
        }
        let suppressed = h.suppressed;
        // k-anonymity: suppressed only for 0 < n < k, so never with k <= 1.
        assert!(!suppressed || e.k >= 2);
        match r {
            MetricRecord::Faces(f) => panic!("a faces record without [faces]: {f:?}"),
            MetricRecord::Zone(z) => {
                let (name, kind, capacity) = &e.zones.get(i).expect("zones come first");
                assert_eq!(&z.zone, name);
                assert_eq!(z.zone_kind, *kind);
                if suppressed {
                    assert!(
                        z.visitors.is_none()
                            && z.entries.is_none()
                            && z.occupancy.is_none()
                            && z.dwell.is_none()
                            && z.bounces.is_none()
                            && z.engaged.is_none()
                            && z.transitions.is_none()
                            && z.utilisation.is_none()
                            && z.queue.is_none(),
                        "suppressed zone record with figures: {z:?}"
                    );
                    continue;
                }
                let visitors = z.visitors.expect("visitors");
                assert!(
                    visitors == 0 || visitors >= e.k,
                    "{visitors} visitors published at k {}",
                    e.k
                );
                let entries = z.entries.expect("entries");
                // An entry is a confirmed visit: its person is a visitor of that window.
                assert!(
                    entries == 0 || visitors > 0,
                    "{entries} entries, no visitor"
                );
                let o = z.occupancy.as_ref().expect("occupancy");
                finite_nonneg(o.person_seconds, "person_seconds");
                finite_nonneg(o.mean, "occupancy mean");
                assert!(
                    o.mean <= f64::from(o.max) + 1e-6,
                    "mean {} > max {}",
                    o.mean,
                    o.max
                );
                assert!(o.now <= o.max, "now {} > max {}", o.now, o.max);
                let d = z.dwell.as_ref().expect("dwell");
                assert_eq!(d.histogram.len(), DWELL_HISTOGRAM_LEN);
                assert_eq!(
                    d.histogram.iter().map(|&c| u64::from(c)).sum::<u64>(),
                    u64::from(d.count)
                );
                finite_nonneg(d.sum_s, "dwell sum");
                finite_nonneg(d.in_progress_s, "in_progress_s");
                let (bounces, engaged) = (z.bounces.expect("bounces"), z.engaged.expect("engaged"));
                assert!(bounces <= d.count && engaged <= d.count);
                if d.count == 0 {
                    assert!(
                        d.mean_s.is_none()
                            && d.p50_s.is_none()
                            && d.p90_s.is_none()
                            && d.max_s.is_none()
                    );
                    assert!(d.exact);
                } else {
                    let (mean, p50, p90, max) = (
                        d.mean_s.unwrap(),
                        d.p50_s.unwrap(),
                        d.p90_s.unwrap(),
                        d.max_s.unwrap(),
                    );
                    for (x, what) in [(mean, "mean"), (p50, "p50"), (p90, "p90"), (max, "max")] {
                        finite_nonneg(x, what);
                    }
                    at_most(p50, p90, "p50 <= p90");
                    at_most(p90, max, "p90 <= max");
                    at_most(mean, max, "mean <= max");
                }
                for t in z.transitions.as_ref().expect("transitions") {
                    assert!(t.count > 0);
                    assert_ne!(&t.to, name, "a transition to the zone itself");
                    assert!(
                        e.zones.iter().any(|(n, _, _)| *n == t.to),
                        "transition to {}",
                        t.to
                    );
                }
                let with_capacity = capacity.is_some_and(|c| c > 0);
                assert_eq!(z.utilisation.is_some(), with_capacity);
                if let Some(u) = z.utilisation {
                    finite_nonneg(u, "utilisation");
                }
                assert_eq!(z.queue.is_some(), *kind == ZoneKind::Queue);
                if let Some(q) = &z.queue {
                    assert_eq!((q.length_max, q.length_now), (o.max, o.now));
                    assert_eq!(q.length_mean, o.mean);
                    assert_eq!(q.wait_mean_s, d.mean_s);
                    if let Some(w) = q.wait_estimate_s {
                        finite_nonneg(w, "wait estimate");
                    }
                }
            }
            MetricRecord::Line(l) => {
                let j = i.checked_sub(e.zones.len()).expect("lines after zones");
                assert_eq!(l.line, e.lines[j]);
                assert_eq!(suppressed, l.crossings_in.is_none());
                assert_eq!(suppressed, l.crossings_out.is_none());
            }
            MetricRecord::Camera(c) => {
                assert_eq!(i, n - 1, "the camera record comes last");
                if suppressed {
                    assert!(
                        c.visitors.is_none() && c.person_seconds.is_none() && c.heatmap.is_none()
                    );
                    continue;
                }
                let visitors = c.visitors.expect("visitors");
                assert!(visitors == 0 || visitors >= e.k);
                finite_nonneg(
                    c.person_seconds.expect("person_seconds"),
                    "camera person_seconds",
                );
                let hm = c.heatmap.as_ref().expect("heatmap");
                assert_eq!((hm.cols, hm.rows), e.heatmap);
                assert_eq!(
                    hm.person_seconds.len() as u64,
                    u64::from(hm.cols) * u64::from(hm.rows)
                );
                for cell in hm.person_seconds.iter().flatten() {
                    finite_nonneg(*cell, "heatmap cell");
                }
            }
        }
    }
}

/// Splits what one call appended into closes (each ends with the camera record) and checks them.
fn check(out: &mut Vec<MetricRecord>, e: &Expect, sane: bool) {
    let n = e.zones.len() + e.lines.len() + 1;
    assert_eq!(out.len() % n, 0, "records of a partial close");
    for close in out.chunks(n) {
        check_close(close, e, sane);
    }
    out.clear();
}

/// Media times within 2^31 s (68 years) of the epoch, the epoch within 1970..2109: f64 seconds
/// resolve well under 1e-6 s there.
fn sane_time(t: &MediaTime) -> bool {
    t.timescale != 0 && (t.ticks / i64::from(t.timescale)).unsigned_abs() < 1 << 31
}

fuzz_target!(|data: &[u8]| {
    let mut inp = Input(data);
    let (w, h) = (u32::from(inp.u16() % 4096), u32::from(inp.u16() % 4096));
    let s = settings(&mut inp);
    let z = zones(&mut inp);
    let l = lines(&mut inp);
    let epoch_ms = match inp.u8() % 4 {
        0 => 1_795_635_840_000,
        1 => 0,
        2 => i64::from(inp.u32()) * 1000,
        _ => inp.i64(),
    };
    let Ok(mut a) = CameraAnalytics::new(CAM, w, h, &z, &l, &s, epoch_ms) else {
        return;
    };
    assert_eq!(a.camera(), CAM);
    let e = Expect::new(&z, &l, &s);
    let timescale = match inp.u8() % 8 {
        0 => 1,
        1 => 10,
        2 => 90_000,
        3 => 0,
        4 => inp.u32(),
        _ => 1000,
    };
    let mut sane = (0..1i64 << 42).contains(&epoch_ms) && timescale != 0;
    let ts = i64::from(timescale.max(1));
    let mut ticks = 0i64;
    let (fw, fh) = (w as f32, h as f32);
    let mut tracks: Vec<TrackPoint> = Vec::new();
    let mut out = Vec::new();
    let mut last_ok: Option<MediaTime> = None;
    while !inp.done() {
        let op = inp.u8();
        let step = match op % 16 {
            0 => 0,
            1 => -i64::from(inp.u8()) * ts / 100,
            2 => i64::from(inp.u8()) * ts,
            3 => i64::from(inp.u16()) * ts,
            4 => i64::from(inp.u32()) * ts,
            5 => inp.i64(),
            _ => i64::from(inp.u8()) * ts / 100,
        };
        ticks = ticks.saturating_add(step);
        let at = MediaTime { ticks, timescale };
        sane &= sane_time(&at);
        if op / 16 == 15 {
            // After an update, the end of input moves the time on (never back).
            last_ok = last_ok.map(|p| p.max(at));
            a.finish(at, &mut out);
            check(&mut out, &e, sane);
            continue;
        }
        tracks.clear();
        for _ in 0..inp.u8() % 16 {
            let id = if inp.u8() % 4 == 0 {
                inp.u32()
            } else {
                u32::from(inp.u8() % 24)
            };
            let bbox = bbox(&mut inp, fw, fh);
            let first_seen = match inp.u8() % 4 {
                0 => at,
                1 => MediaTime {
                    ticks: ticks.saturating_sub(i64::from(inp.u8()) * ts),
                    timescale,
                },
                2 => MediaTime {
                    ticks: inp.i64(),
                    timescale,
                },
                _ => MediaTime {
                    ticks: ticks.saturating_add(i64::from(inp.u8())),
                    timescale,
                },
            };
            // Colours: none, arbitrary bins (also negative or not finite), or empty.
            let appearance = match inp.u8() % 3 {
                0 => None,
                1 => {
                    let mut c = [0.0f32; APPEARANCE_DIM];
                    for v in c.iter_mut() {
                        *v = inp.f32();
                    }
                    Some(Appearance::from_counts(&c))
                }
                _ => Some(Appearance::default()),
            };
            tracks.push(TrackPoint {
                id,
                bbox,
                first_seen,
                appearance,
            });
        }
        let before = a.stats();
        match a.update(at, &tracks, &mut out) {
            Ok(()) => {
                assert!(last_ok.is_none_or(|p| p <= at));
                last_ok = Some(at);
                assert_eq!(a.stats().frames, before.frames + 1);
            }
            Err(_) => {
                assert!(
                    last_ok.is_some_and(|p| at < p),
                    "refused an update in order"
                );
                assert!(out.is_empty(), "a refused update emitted records");
                assert_eq!(
                    a.stats().frames_out_of_order,
                    before.frames_out_of_order + 1
                );
            }
        }
        check(&mut out, &e, sane);
    }
    let at = MediaTime {
        ticks: ticks.saturating_add(ts * 3600),
        timescale,
    };
    sane &= sane_time(&at);
    a.finish(at, &mut out);
    check(&mut out, &e, sane);
});
