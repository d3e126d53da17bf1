//! Cost of one `CameraAnalytics::update` in steady state with 10, 50 and 200 people in view,
//! and, separately, of the update that closes a 60 s window.
//!
//! `cargo bench -p aisle-analytics --bench update`. A 1920x1080 camera over a small store: 16
//! zones (an entrance, four aisles drawn in perspective with two displays each overlapping
//! them, a queue, a checkout and a staff stockroom), two counting lines (door and exit) and the
//! default settings (60 s windows, 15 min reports, k = 5, 16x9 heatmap), at 10 fps.
//!
//! Shoppers come in through the door at the bottom edge, walk to one to four displays (pausing
//! at each), queue, pay and leave through the exit at the bottom edge, then stay away for a few
//! seconds and come back as a new track id; every 20th person is staff walking between the
//! stockroom and an aisle. Every person's round takes a divisor of 360 s and starts at their own
//! phase, so the scene repeats every 360 s (3600 frames) up to track ids and times, which are
//! shifted on the way: the frames are computed once and the analytics stay in steady state
//! however long criterion runs. Boxes get a deterministic jitter of about 1.5 % of their height.
//!
//! `analytics_update` times runs of updates between window boundaries; the updates at a
//! boundary (which close a window and build its records) run untimed there and are measured on
//! their own: `analytics_window_close` is an update that closes a 60 s window (one update plus
//! the window's records), `analytics_report_close` one that closes a 15 min report window too
//! (every 15th close; its records carry exact percentiles over up to 8192 visits per zone).

use aisle_analytics::{CameraAnalytics, TrackPoint};
use aisle_config::{AnalyticsConfig, LineConfig, LineSide, ZoneConfig};
use aisle_types::metrics::{MetricRecord, ZoneKind};
use aisle_types::{BBox, MediaTime};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode};
use std::hint::black_box;
use std::time::{Duration, Instant};

const W: f64 = 1920.0;
const H: f64 = 1080.0;
const FPS: i64 = 10;
/// The scene repeats every `PERIOD_S` seconds (a multiple of the 60 s window).
const PERIOD_S: i64 = 360;
const PERIOD: i64 = PERIOD_S * FPS;
/// Updates per 60 s window.
const WINDOW_TICKS: i64 = 60 * FPS;
/// Round lengths (seconds): divisors of `PERIOD_S`.
const ROUNDS_S: [i64; 5] = [60, 72, 90, 120, 180];
/// The default report window, seconds.
const REPORT_S: i64 = 900;
/// 2026-11-25T19:44:00Z: on a minute, so window boundaries fall on multiples of 600 ticks.
const EPOCH_MS: i64 = 1_795_635_840_000;
const CAM: &str = "store";

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.next()
    }
}

/// A stateless hash of (person, tick) for the box jitter: uniform in [-1, 1).
fn jitter(p: usize, tick: i64, k: u64) -> f64 {
    let mut z = ((p as u64) << 40) ^ (tick as u64) ^ (k << 60);
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 52) as f64 - 1.0
}

fn zone(name: &str, kind: ZoneKind, polygon: Vec<[f64; 2]>, capacity: Option<u32>) -> ZoneConfig {
    ZoneConfig {
        camera: CAM.into(),
        name: name.into(),
        kind,
        polygon,
        anchor: Default::default(),
        capacity,
        attention_target: None,
    }
}

fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> Vec<[f64; 2]> {
    vec![[x0, y0], [x1, y0], [x1, y1], [x0, y1]]
}

/// Aisle centre lines (normalised x at the bottom end).
const AISLES: [f64; 4] = [0.18, 0.35, 0.52, 0.69];
/// Aisles run from y = 0.12 (far) to 0.78 (near).
const AISLE_TOP: f64 = 0.12;
const AISLE_BOTTOM: f64 = 0.78;

/// 16 zones: entrance, 4 aisles (trapezoids), 8 displays overlapping the aisles, queue,
/// checkout, stockroom (staff).
fn zones() -> Vec<ZoneConfig> {
    let mut z = vec![zone(
        "entrance",
        ZoneKind::Entrance,
        rect(0.0, 0.82, 0.24, 1.0),
        None,
    )];
    for (i, &x) in AISLES.iter().enumerate() {
        z.push(zone(
            &format!("aisle-{}", i + 1),
            ZoneKind::Aisle,
            vec![
                [x - 0.05, AISLE_TOP],
                [x + 0.05, AISLE_TOP],
                [x + 0.07, AISLE_BOTTOM],
                [x - 0.07, AISLE_BOTTOM],
            ],
            Some(8),
        ));
    }
    for (i, &x) in AISLES.iter().enumerate() {
        // One display on the left shelf far up the aisle, one on the right shelf nearer; each
        // sticks out of its aisle a little.
        z.push(zone(
            &format!("display-{}a", i + 1),
            ZoneKind::Display,
            vec![
                [x - 0.065, 0.20],
                [x - 0.005, 0.21],
                [x - 0.005, 0.40],
                [x - 0.07, 0.40],
            ],
            Some(3),
        ));
        z.push(zone(
            &format!("display-{}b", i + 1),
            ZoneKind::Display,
            vec![
                [x + 0.005, 0.50],
                [x + 0.075, 0.50],
                [x + 0.08, 0.70],
                [x + 0.005, 0.69],
            ],
            Some(3),
        ));
    }
    z.push(zone(
        "queue",
        ZoneKind::Queue,
        rect(0.80, 0.56, 0.92, 0.86),
        Some(6),
    ));
    z.push(zone(
        "checkout",
        ZoneKind::Checkout,
        rect(0.80, 0.40, 0.92, 0.56),
        Some(2),
    ));
    z.push(zone(
        "stockroom",
        ZoneKind::Staff,
        rect(0.86, 0.02, 0.99, 0.30),
        None,
    ));
    assert_eq!(z.len(), 16);
    z
}

fn lines() -> Vec<LineConfig> {
    let line = |name: &str, from, to| LineConfig {
        camera: CAM.into(),
        name: name.into(),
        from,
        to,
        in_side: LineSide::Left,
        anchor: Default::default(),
    };
    vec![
        line("door", [0.0, 0.9], [0.24, 0.9]),
        line("exit", [0.78, 0.93], [1.0, 0.93]),
    ]
}

/// One person's round: waypoints (normalised foot point, pause there in seconds), walked at
/// `speed` px/s, then out of view until the round ends.
struct Round {
    points: Vec<([f64; 2], f64)>,
    speed: f64,
    length_s: i64,
    phase_ticks: i64,
}

impl Round {
    fn walk_s(&self) -> f64 {
        self.points
            .windows(2)
            .map(|w| dist(w[0].0, w[1].0) / self.speed)
            .sum()
    }

    /// The foot point `s` seconds into the round; `None` while out of view.
    fn at(&self, mut s: f64) -> Option<[f64; 2]> {
        for w in self.points.windows(2) {
            let (a, pause) = w[0];
            if s < pause {
                return Some(a);
            }
            s -= pause;
            let d = dist(a, w[1].0) / self.speed;
            if s < d {
                let f = s / d;
                return Some([a[0] + (w[1].0[0] - a[0]) * f, a[1] + (w[1].0[1] - a[1]) * f]);
            }
            s -= d;
        }
        let (last, pause) = *self.points.last()?;
        (s < pause).then_some(last)
    }
}

fn dist(a: [f64; 2], b: [f64; 2]) -> f64 {
    (((a[0] - b[0]) * W).powi(2) + ((a[1] - b[1]) * H).powi(2)).sqrt()
}

fn shopper(rng: &mut Rng) -> Round {
    let mut pts: Vec<([f64; 2], f64)> = Vec::new();
    let door_x = rng.range(0.04, 0.20);
    pts.push(([door_x, 0.99], 0.0));
    pts.push(([door_x + rng.range(-0.02, 0.02), 0.84], 0.0));
    let displays = 1 + (rng.next() * 4.0) as usize;
    let mut pauses = Vec::new();
    for _ in 0..displays {
        let a = (rng.next() * 4.0) as usize;
        let x = AISLES[a];
        let far = rng.next() < 0.5;
        pts.push(([x + rng.range(-0.02, 0.02), 0.80], 0.0));
        let target = if far {
            [x - 0.035 + rng.range(-0.01, 0.01), rng.range(0.24, 0.37)]
        } else {
            [x + 0.04 + rng.range(-0.01, 0.01), rng.range(0.53, 0.67)]
        };
        pauses.push(pts.len());
        pts.push((target, 0.0));
        pts.push(([x + rng.range(-0.02, 0.02), 0.80], 0.0));
    }
    // Queue: a slow shuffle up the queue zone, then the till, then out through the exit.
    let qx = rng.range(0.83, 0.89);
    pts.push(([qx, 0.84], 0.0));
    pauses.push(pts.len());
    pts.push(([qx, 0.70], 0.0));
    pauses.push(pts.len());
    pts.push(([qx, 0.60], 0.0));
    pauses.push(pts.len());
    pts.push(([qx, 0.48], 0.0));
    pts.push(([0.96, 0.48], 0.0));
    pts.push(([0.96, 0.99], 0.0));
    let speed = rng.range(90.0, 150.0);
    let mut round = Round {
        points: pts,
        speed,
        length_s: 0,
        phase_ticks: 0,
    };
    // The shortest round that leaves at least 1 s at each stop and 3 s out of view.
    let walk = round.walk_s();
    let least = walk + pauses.len() as f64 + 3.0;
    let length_s = ROUNDS_S
        .iter()
        .copied()
        .find(|&r| r as f64 >= least)
        .unwrap_or(PERIOD_S);
    // Share the slack between the stops and the time away.
    let mut weights: Vec<f64> = pauses.iter().map(|_| rng.range(0.2, 1.0)).collect();
    weights.push(rng.range(0.05, 0.3));
    let total: f64 = weights.iter().sum();
    let slack = length_s as f64 - least;
    for (&i, w) in pauses.iter().zip(&weights) {
        round.points[i].1 = 1.0 + slack * w / total;
    }
    round.length_s = length_s;
    round.phase_ticks = (rng.next() * (length_s * FPS) as f64) as i64;
    round
}

/// Staff: from the stockroom to an aisle and back, mostly in the stockroom; in view all round
/// (the new id of each round starts where the last one ended: a stitch).
fn staff(rng: &mut Rng) -> Round {
    let home = [rng.range(0.89, 0.96), rng.range(0.12, 0.26)];
    let x = AISLES[(rng.next() * 4.0) as usize];
    let pts = vec![
        (home, 40.0),
        ([0.80, 0.30], 0.0),
        ([x, 0.30], 10.0),
        ([0.80, 0.30], 0.0),
        (home, 0.0),
    ];
    let mut round = Round {
        points: pts,
        speed: 100.0,
        length_s: 0,
        phase_ticks: 0,
    };
    let least = round.walk_s() + 50.0;
    let length_s = ROUNDS_S
        .iter()
        .copied()
        .find(|&r| r as f64 >= least)
        .unwrap_or(PERIOD_S);
    let last = round.points.len() - 1;
    round.points[last].1 = length_s as f64 - least + 0.05;
    round.length_s = length_s;
    round.phase_ticks = (rng.next() * (length_s * FPS) as f64) as i64;
    round
}

struct Scene {
    analytics: CameraAnalytics,
    /// The tracks of each frame of the current period.
    frames: Vec<Vec<TrackPoint>>,
    /// Per track of `frames`: how much its id grows from one period to the next.
    id_step: Vec<Vec<u32>>,
    tick: i64,
    /// The period `frames` hold.
    period: i64,
    out: Vec<MetricRecord>,
}

impl Scene {
    fn new(people: usize) -> Self {
        let mut rng = Rng(0x5eed_0000 ^ people as u64);
        let rounds: Vec<Round> = (0..people)
            .map(|p| {
                if p % 20 == 19 {
                    staff(&mut rng)
                } else {
                    shopper(&mut rng)
                }
            })
            .collect();
        let mut frames = Vec::with_capacity(PERIOD as usize);
        let mut id_step = Vec::with_capacity(PERIOD as usize);
        for tick in 0..PERIOD {
            let mut tracks = Vec::new();
            let mut steps = Vec::new();
            for (p, r) in rounds.iter().enumerate() {
                let len = r.length_s * FPS;
                let local = (tick + r.phase_ticks) % len;
                let round_no = (tick + r.phase_ticks) / len;
                let Some([x, y]) = r.at(local as f64 / FPS as f64) else {
                    continue;
                };
                let (fx, fy) = (x * W, y * H);
                let h = 120.0 + 130.0 * y;
                let (j0, j1, j2, j3) = (
                    jitter(p, tick, 0),
                    jitter(p, tick, 1),
                    jitter(p, tick, 2),
                    jitter(p, tick, 3),
                );
                let e = 0.015 * h;
                let bbox = BBox::new(
                    (fx - 0.2 * h + e * j0) as f32,
                    (fy - h + e * j1) as f32,
                    (fx + 0.2 * h + e * j2) as f32,
                    (fy + e * j3).min(H - 1.0) as f32,
                );
                tracks.push(TrackPoint {
                    id: (round_no as u32)
                        .wrapping_mul(people as u32)
                        .wrapping_add(p as u32 + 1),
                    bbox,
                    first_seen: MediaTime {
                        ticks: tick - local,
                        timescale: FPS as u32,
                    },
                    appearance: None,
                });
                steps.push(((PERIOD / len) as u32).wrapping_mul(people as u32));
            }
            frames.push(tracks);
            id_step.push(steps);
        }
        let analytics = CameraAnalytics::new(
            CAM,
            W as u32,
            H as u32,
            &zones(),
            &lines(),
            &AnalyticsConfig::default(),
            EPOCH_MS,
        )
        .expect("valid layout");
        let mut scene = Self {
            analytics,
            frames,
            id_step,
            tick: 0,
            period: 0,
            out: Vec::new(),
        };
        // Warm up: one whole period, so every zone has visits, lines crossings and the person
        // table its steady population.
        for _ in 0..PERIOD {
            scene.step();
        }
        scene.out.clear();
        scene
    }

    /// The next update closes a 60 s window.
    fn at_boundary(&self) -> bool {
        self.tick % WINDOW_TICKS == 0
    }

    /// The next update closes a 15 min report window too.
    fn at_report_boundary(&self) -> bool {
        (EPOCH_MS / 1000 * FPS + self.tick) % (REPORT_S * FPS) == 0
    }

    /// At a period start, moves the frames on to the new period (ids and first sightings);
    /// called untimed before a timed update that may start a period.
    fn prepare(&mut self) {
        let period = self.tick / PERIOD;
        if period > self.period {
            self.period = period;
            for (tracks, steps) in self.frames.iter_mut().zip(&self.id_step) {
                for (t, s) in tracks.iter_mut().zip(steps) {
                    t.id = t.id.wrapping_add(*s);
                    t.first_seen.ticks += PERIOD;
                }
            }
        }
    }

    /// The next update.
    fn step(&mut self) {
        self.prepare();
        let f = (self.tick % PERIOD) as usize;
        let at = MediaTime {
            ticks: self.tick,
            timescale: FPS as u32,
        };
        self.analytics
            .update(at, black_box(&self.frames[f]), &mut self.out)
            .expect("in order");
        self.tick += 1;
    }
}

fn bench_update(c: &mut Criterion) {
    let mut scenes: Vec<(usize, Scene)> = [10usize, 50, 200]
        .into_iter()
        .map(|n| (n, Scene::new(n)))
        .collect();

    let mut g = c.benchmark_group("analytics_update");
    for (people, scene) in scenes.iter_mut() {
        g.bench_function(BenchmarkId::from_parameter(*people), |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                let mut done = 0u64;
                while done < iters {
                    if scene.at_boundary() {
                        // Closes a window (and may start a period): not measured here.
                        scene.step();
                        scene.out.clear();
                        continue;
                    }
                    let to_boundary = (WINDOW_TICKS - scene.tick % WINDOW_TICKS) as u64;
                    let n = to_boundary.min(iters - done);
                    let start = Instant::now();
                    for _ in 0..n {
                        scene.step();
                    }
                    timed += start.elapsed();
                    done += n;
                }
                assert!(scene.out.is_empty(), "a timed update closed a window");
                timed
            })
        });
    }
    g.finish();

    // Each measured close needs a window (or a report window) of untimed updates before it:
    // few iterations.
    for (name, report, measure) in [
        ("analytics_window_close", false, Duration::from_millis(10)),
        ("analytics_report_close", true, Duration::from_millis(1)),
    ] {
        let mut g = c.benchmark_group(name);
        g.sampling_mode(SamplingMode::Flat)
            .sample_size(10)
            .warm_up_time(Duration::from_millis(1))
            .measurement_time(measure);
        for (people, scene) in scenes.iter_mut() {
            g.bench_function(BenchmarkId::from_parameter(*people), |b| {
                b.iter_custom(|iters| {
                    let mut timed = Duration::ZERO;
                    for _ in 0..iters {
                        while !scene.at_boundary() || scene.at_report_boundary() != report {
                            scene.step();
                            scene.out.clear();
                        }
                        scene.prepare();
                        let start = Instant::now();
                        scene.step();
                        timed += start.elapsed();
                        assert!(
                            !scene.out.is_empty(),
                            "the boundary update closed no window"
                        );
                        scene.out.clear();
                    }
                    timed
                })
            });
        }
        g.finish();
    }
}

criterion_group!(benches, bench_update);
criterion_main!(benches);
