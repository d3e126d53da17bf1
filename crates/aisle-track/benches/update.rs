//! Cost of one `Tracker::update` in steady state with 10, 50 and 200 people in view.
//!
//! `cargo bench -p aisle-track --bench update`. People walk closed loops (ellipses with their own
//! size, speed and phase) in a 1920x1080 frame at 10 fps, so the sequence repeats seamlessly and
//! the tracker stays in steady state however long criterion runs. Detections get box jitter, 5 %
//! misses, low scores now and then, and a false positive every other frame. The IoU-greedy
//! baseline is measured on the same frames for comparison.

use aisle_track::baseline::{GreedyConfig, GreedyTracker};
use aisle_track::{Tracker, TrackerConfig};
use aisle_types::{Appearance, BBox, Detection, MediaTime, APPEARANCE_DIM, COLOURS};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use std::hint::black_box;

const PERIOD: usize = 600;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32
    }
    fn normal(&mut self) -> f32 {
        // Sum of uniforms: close enough to a Gaussian for jitter.
        (0..4).map(|_| self.next()).sum::<f32>() - 2.0
    }
}

/// Per frame, a colour descriptor per detection: each walker wears its own colours (from its
/// index, which `frames` keeps in `class_id`: walker + 1), false positives (class 0) are grey.
fn descriptors(frames: &[Vec<Detection>]) -> Vec<Vec<Appearance>> {
    let look = |w: usize| {
        let mut c = [0.05f32; APPEARANCE_DIM];
        c[w % COLOURS] += 1.0;
        c[COLOURS + (w / COLOURS) % COLOURS] += 1.0;
        Appearance::from_counts(&c)
    };
    let grey = look(1 + COLOURS);
    frames
        .iter()
        .map(|f| {
            f.iter()
                .map(|d| match d.class_id {
                    0 => grey,
                    w => look(w as usize - 1),
                })
                .collect()
        })
        .collect()
}

fn frames(people: usize) -> Vec<Vec<Detection>> {
    let mut rng = Rng(0x5eed ^ people as u64);
    let walkers: Vec<[f32; 6]> = (0..people)
        .map(|_| {
            let cx = 150.0 + rng.next() * 1620.0;
            let cy = 250.0 + rng.next() * 650.0;
            let rx = 40.0 + rng.next() * 200.0;
            let ry = 20.0 + rng.next() * 100.0;
            let phase = rng.next() * std::f32::consts::TAU;
            let h = 110.0 + (cy / 1080.0) * 140.0;
            [cx, cy, rx, ry, phase, h]
        })
        .collect();
    (0..PERIOD)
        .map(|f| {
            let a = f as f32 / PERIOD as f32 * std::f32::consts::TAU;
            let mut dets = Vec::new();
            for (wi, w) in walkers.iter().enumerate() {
                if rng.next() < 0.05 {
                    continue;
                }
                let [cx, cy, rx, ry, phase, h] = *w;
                let x = cx + rx * (a + phase).cos();
                let y = cy + ry * (a + phase).sin();
                let ww = h * 0.4;
                let j = |s: f32, r: &mut Rng| s * 0.03 * r.normal();
                let b = BBox::new(
                    x - ww / 2.0 + j(ww, &mut rng),
                    y - h / 2.0 + j(h, &mut rng),
                    x + ww / 2.0 + j(ww, &mut rng),
                    y + h / 2.0 + j(h, &mut rng),
                );
                let score = if rng.next() < 0.15 {
                    0.2 + 0.25 * rng.next()
                } else {
                    0.6 + 0.35 * rng.next()
                };
                dets.push(Detection {
                    bbox: b,
                    score,
                    // The tracker ignores classes; the walker's index gives its colours.
                    class_id: wi as u32 + 1,
                });
            }
            if f % 2 == 0 {
                let x = rng.next() * 1800.0;
                let y = rng.next() * 900.0;
                dets.push(Detection {
                    bbox: BBox::new(x, y, x + 50.0, y + 130.0),
                    score: 0.1 + 0.5 * rng.next(),
                    class_id: 0,
                });
            }
            dets
        })
        .collect()
}

fn bench_update(c: &mut Criterion) {
    let mut g = c.benchmark_group("tracker_update");
    for people in [10usize, 50, 200] {
        let seq = frames(people);
        let mut tracker = Tracker::new(TrackerConfig::default()).unwrap();
        let mut tick = 0i64;
        // Warm up to steady state: every walker tracked.
        for f in &seq {
            tracker
                .update(
                    f,
                    MediaTime {
                        ticks: tick,
                        timescale: 10,
                    },
                )
                .unwrap();
            tick += 1;
        }
        g.bench_with_input(BenchmarkId::new("aisle", people), &seq, |b, seq| {
            b.iter(|| {
                let f = &seq[tick as usize % PERIOD];
                let out = tracker
                    .update(
                        black_box(f),
                        MediaTime {
                            ticks: tick,
                            timescale: 10,
                        },
                    )
                    .unwrap();
                tick += 1;
                black_box(out.len())
            })
        });
        // The same with a colour descriptor per detection (appearance gate and re-id).
        let apps = descriptors(&seq);
        let mut tracker = Tracker::new(TrackerConfig::default()).unwrap();
        let mut tick = 0i64;
        for (f, a) in seq.iter().zip(&apps) {
            tracker
                .update_with_appearance(
                    f,
                    a,
                    MediaTime {
                        ticks: tick,
                        timescale: 10,
                    },
                )
                .unwrap();
            tick += 1;
        }
        g.bench_with_input(
            BenchmarkId::new("aisle+appearance", people),
            &(&seq, &apps),
            |b, (seq, apps)| {
                b.iter(|| {
                    let k = tick as usize % PERIOD;
                    let out = tracker
                        .update_with_appearance(
                            black_box(&seq[k]),
                            black_box(&apps[k]),
                            MediaTime {
                                ticks: tick,
                                timescale: 10,
                            },
                        )
                        .unwrap();
                    tick += 1;
                    black_box(out.len())
                })
            },
        );
        let mut greedy = GreedyTracker::new(GreedyConfig::default());
        let mut gtick = 0i64;
        for f in &seq {
            greedy.update(
                f,
                MediaTime {
                    ticks: gtick,
                    timescale: 10,
                },
            );
            gtick += 1;
        }
        g.bench_with_input(BenchmarkId::new("greedy", people), &seq, |b, seq| {
            b.iter(|| {
                let f = &seq[gtick as usize % PERIOD];
                let out = greedy.update(
                    black_box(f),
                    MediaTime {
                        ticks: gtick,
                        timescale: 10,
                    },
                );
                gtick += 1;
                black_box(out.len())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_update);
criterion_main!(benches);
