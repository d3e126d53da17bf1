//! Steady state allocates nothing: an update that closes no window makes no heap allocation.
//! (One test in this file: the counting allocator is per thread, but keep it alone anyway.)

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use aisle_analytics::{CameraAnalytics, TrackPoint};
use aisle_types::metrics::{MetricRecord, ZoneKind};
use common::*;

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.with(|a| a.set(a.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.with(|a| a.set(a.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> u64 {
    ALLOCS.with(|a| a.get())
}

/// Person `i` at time `ms`: walks a loop through the zones; every 20 s a person leaves and a new
/// id comes in at the border.
fn position(i: u32, ms: i64) -> (u32, [f64; 2]) {
    let generation = (ms + i64::from(i) * 1_000) / 20_000;
    let id = i + 100 * generation as u32;
    let phase = ((ms + i64::from(i) * 1_700) % 20_000) as f64 / 20_000.0;
    let angle = phase * std::f64::consts::TAU;
    let r = 0.3 + 0.02 * f64::from(i % 5);
    let x = (0.5 + r * angle.cos()).clamp(0.0, 1.0);
    let y = (0.5 + 0.4 * angle.sin()).clamp(0.0, 1.0);
    (id, [x, y])
}

#[test]
fn steady_state_updates_do_not_allocate() {
    let zones = [
        rect("left", ZoneKind::Aisle, 0.1, 0.1, 0.45, 0.95),
        rect("shelf", ZoneKind::Display, 0.15, 0.4, 0.35, 0.6),
        rect("right", ZoneKind::Queue, 0.55, 0.1, 0.9, 0.95),
        rect("staff", ZoneKind::Staff, 0.45, 0.85, 0.55, 0.95),
    ];
    let lines = [line("mid", [0.5, 0.0], [0.5, 1.0], Default::default())];
    let mut a = CameraAnalytics::new(CAM, W, H, &zones, &lines, &settings(5), EPOCH_MS).unwrap();
    let mut out: Vec<MetricRecord> = Vec::new();
    let mut tracks: Vec<TrackPoint> = Vec::with_capacity(64);
    let mut checked = 0;
    let mut closes = 0;
    let mut live_total = 0u32;
    // Warm-up minute, then two minutes measured.
    for step in 0..1_800i64 {
        let ms = step * 100;
        tracks.clear();
        for i in 0..20 {
            let (id, p) = position(i, ms);
            tracks.push(track(id, p[0], p[1], ms));
        }
        let before_len = out.len();
        let before = allocs();
        a.update(at(ms), &tracks, &mut out).unwrap();
        // What the `live` topic reads after each update.
        live_total += a.live().map(|l| l.occupancy).sum::<u32>();
        let n = allocs() - before;
        if out.len() != before_len {
            closes += 1;
            out.clear();
            continue;
        }
        if ms >= 60_000 {
            assert_eq!(n, 0, "update at {ms} ms allocated {n} times");
            checked += 1;
        }
    }
    assert!(checked > 1_000);
    assert_eq!(closes, 2);
    assert!(live_total > 0);
    let st = a.stats();
    assert!(st.visits_closed > 20, "{st:?}");
    assert_eq!(st.tracks_over_capacity, 0);
    // The allocator does count.
    let before = allocs();
    let v = std::hint::black_box(vec![1u8; 10]);
    assert_eq!(allocs() - before, 1);
    drop(v);
}
