//! Counting lines: direction convention and hysteresis.

mod common;

use aisle_config::LineSide;
use aisle_types::metrics::Period;
use common::*;

/// A horizontal line drawn left to right across the middle: walking from `from` to `to`, the
/// left-hand side is the top of the image (image y points down).
fn door(in_side: LineSide) -> aisle_config::LineConfig {
    line("door", [0.1, 0.5], [0.9, 0.5], in_side)
}

fn walk_up_then_down(sim: &mut Sim) {
    // Bottom to top (into the left side), then back down.
    sim.add(1, |ms| {
        let y = match ms {
            0..10_000 => 0.8 - 0.6 * ms as f64 / 10_000.0,
            10_000..20_000 => 0.2 + 0.6 * (ms - 10_000) as f64 / 10_000.0,
            _ => return None,
        };
        Some([0.5, y])
    });
}

#[test]
fn crossing_into_the_in_side_counts_in_and_back_counts_out() {
    let mut sim = Sim::new(&[], &[door(LineSide::Left)], &settings(1));
    walk_up_then_down(&mut sim);
    sim.run(0, 60_000);
    let l = sim.line("door", Period::Window, 0);
    assert!(!l.header.suppressed);
    assert_eq!((l.crossings_in, l.crossings_out), (Some(1), Some(1)));

    // Upwards is the left side: with `in_side = right`, up is out.
    let mut sim = Sim::new(&[], &[door(LineSide::Right)], &settings(1));
    sim.add(1, |ms| {
        (ms < 10_000).then(|| [0.5, 0.8 - 0.6 * ms as f64 / 10_000.0])
    });
    sim.run(0, 60_000);
    let l = sim.line("door", Period::Window, 0);
    assert_eq!((l.crossings_in, l.crossings_out), (Some(0), Some(1)));
}

#[test]
fn jitter_on_the_line_is_not_a_crossing() {
    let mut sim = Sim::new(&[], &[door(LineSide::Left)], &settings(1));
    // Standing on the line, the foot point jumping 8 px either side (margin: 10 px).
    sim.add(1, |ms| {
        (ms < 30_000).then_some([0.5, if (ms / 100) % 2 == 0 { 0.492 } else { 0.508 }])
    });
    // Approaching from below, then jittering on the line: still no crossing.
    sim.add(2, |ms| match ms {
        0..5_000 => Some([0.3, 0.7]),
        5_000..30_000 => Some([0.3, if (ms / 100) % 2 == 0 { 0.495 } else { 0.505 }]),
        _ => None,
    });
    sim.run(0, 60_000);
    let l = sim.line("door", Period::Window, 0);
    assert_eq!((l.crossings_in, l.crossings_out), (Some(0), Some(0)));
}

#[test]
fn walking_around_the_end_of_the_line_is_not_a_crossing() {
    let mut sim = Sim::new(
        &[],
        &[line("door", [0.1, 0.5], [0.5, 0.5], LineSide::Left)],
        &settings(1),
    );
    sim.add(1, |ms| {
        (ms < 10_000).then(|| [0.7, 0.8 - 0.6 * ms as f64 / 10_000.0])
    });
    sim.run(0, 60_000);
    let l = sim.line("door", Period::Window, 0);
    assert_eq!((l.crossings_in, l.crossings_out), (Some(0), Some(0)));
}

#[test]
fn line_records_need_k_distinct_crossers() {
    let mut sim = Sim::new(&[], &[door(LineSide::Left)], &settings(2));
    walk_up_then_down(&mut sim);
    sim.run(0, 60_000);
    let l = sim.line("door", Period::Window, 0);
    assert!(l.header.suppressed);
    assert_eq!((l.crossings_in, l.crossings_out), (None, None));
}
