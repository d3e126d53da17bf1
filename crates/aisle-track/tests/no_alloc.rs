//! The tracker allocates nothing per frame in steady state: proven with a counting global
//! allocator over hundreds of frames in which people come and go, are missed, occluded (low
//! scores) and joined by false positives.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use aisle_track::{Tracker, TrackerConfig};
use aisle_types::{Appearance, BBox, Detection, MediaTime, APPEARANCE_DIM, COLOURS};

struct Counting;

// Per thread: only the measured thread's allocations count (the test harness's own threads
// allocate too, e.g. to report a test running for over 60 s on a loaded machine).
thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count_one() {
    if COUNTING.with(Cell::get) {
        ALLOCATIONS.with(|a| a.set(a.get() + 1));
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// `people` walkers on loops, each present in view for part of a 400-frame period, so tracks
/// are created, lost and removed all the time.
fn sequence(people: usize, seed: u64) -> Vec<Vec<Detection>> {
    let mut rng = Rng(seed);
    let walkers: Vec<[f32; 7]> = (0..people)
        .map(|_| {
            [
                150.0 + rng.next() * 1600.0,
                250.0 + rng.next() * 600.0,
                30.0 + rng.next() * 150.0,
                20.0 + rng.next() * 80.0,
                rng.next() * std::f32::consts::TAU,
                rng.next() * 400.0,         // enters at
                100.0 + rng.next() * 250.0, // stays for
            ]
        })
        .collect();
    (0..400)
        .map(|f| {
            let a = f as f32 / 400.0 * std::f32::consts::TAU;
            let mut dets = Vec::new();
            for w in &walkers {
                let [cx, cy, rx, ry, ph, enter, stay] = *w;
                let since = (f as f32 - enter).rem_euclid(400.0);
                if since > stay || rng.next() < 0.07 {
                    continue;
                }
                let (x, y) = (cx + rx * (a + ph).cos(), cy + ry * (a + ph).sin());
                let h = 100.0 + y / 8.0;
                let jit = |r: &mut Rng| (r.next() - 0.5) * 0.08 * h;
                let b = BBox::new(
                    x - 0.2 * h + jit(&mut rng),
                    y - 0.5 * h + jit(&mut rng),
                    x + 0.2 * h,
                    y + 0.5 * h,
                );
                let score = if rng.next() < 0.2 {
                    0.15 + 0.3 * rng.next()
                } else {
                    0.6 + 0.35 * rng.next()
                };
                dets.push(Detection {
                    bbox: b,
                    score,
                    class_id: 0,
                });
            }
            for _ in 0..(rng.next() * 3.0) as usize {
                let (x, y) = (rng.next() * 1800.0, rng.next() * 900.0);
                dets.push(Detection {
                    bbox: BBox::new(x, y, x + 45.0, y + 120.0),
                    score: 0.1 + 0.6 * rng.next(),
                    class_id: 0,
                });
            }
            dets
        })
        .collect()
}

/// A colour descriptor per detection (torso and legs colours from the detection's rank).
fn descriptors(frame: &[Detection]) -> Vec<Appearance> {
    (0..frame.len())
        .map(|i| {
            let mut c = [0.1f32; APPEARANCE_DIM];
            c[i % COLOURS] += 2.0;
            c[COLOURS + (i / COLOURS) % COLOURS] += 2.0;
            Appearance::from_counts(&c)
        })
        .collect()
}

#[test]
fn steady_state_updates_do_not_allocate() {
    for (people, with_appearance) in [
        (10usize, false),
        (50, false),
        (200, false),
        (10, true),
        (50, true),
        (200, true),
    ] {
        let seq = sequence(people, 7 + people as u64);
        let apps: Vec<Vec<Appearance>> = seq
            .iter()
            .map(|f| {
                if with_appearance {
                    descriptors(f)
                } else {
                    Vec::new()
                }
            })
            .collect();
        let max_dets = seq.iter().map(Vec::len).max().unwrap();
        assert!(max_dets < aisle_track::tracker::MAX_DETECTIONS);
        let mut tracker = Tracker::new(TrackerConfig::default()).unwrap();
        // Warm-up: one pass over the sequence (scratch buffers reach their working size).
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
        let before = tracker.stats();
        let mut active_max = 0;
        ALLOCATIONS.with(|a| a.set(0));
        COUNTING.with(|c| c.set(true));
        for _ in 0..3 {
            for (f, a) in seq.iter().zip(&apps) {
                let tracks = tracker
                    .update_with_appearance(
                        f,
                        a,
                        MediaTime {
                            ticks: tick,
                            timescale: 10,
                        },
                    )
                    .unwrap();
                active_max = active_max.max(tracks.iter().filter(|t| t.is_active()).count());
                tick += 1;
            }
        }
        COUNTING.with(|c| c.set(false));
        let n = ALLOCATIONS.with(Cell::get);
        let after = tracker.stats();
        // The run really exercised the tracker: many people tracked, tracks born and removed.
        assert!(
            active_max >= people / 2,
            "{people} people: at most {active_max} active tracks"
        );
        assert!(
            after.tracks_started > before.tracks_started,
            "{people} people: no track started"
        );
        assert!(
            after.tracks_removed > before.tracks_removed,
            "{people} people: no track removed"
        );
        assert_eq!(
            n, 0,
            "{people} people (appearance: {with_appearance}): {n} heap allocations in 1200 steady-state updates"
        );
    }
}
