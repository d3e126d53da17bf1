//! Zone-to-zone transitions.

mod common;

use aisle_types::metrics::{Period, Transition, ZoneKind};
use common::*;

fn zones() -> Vec<aisle_config::ZoneConfig> {
    vec![
        rect("aisle", ZoneKind::Aisle, 0.1, 0.3, 0.6, 0.9),
        // A display inside the aisle.
        rect("display", ZoneKind::Display, 0.3, 0.5, 0.5, 0.7),
        rect("till", ZoneKind::Checkout, 0.7, 0.3, 0.95, 0.9),
    ]
}

const AISLE: [f64; 2] = [0.2, 0.4];
const DISPLAY: [f64; 2] = [0.4, 0.6];
const TILL: [f64; 2] = [0.8, 0.6];
const NOWHERE: [f64; 2] = [0.65, 0.2];

fn transitions(sim: &Sim, zone: &str) -> Vec<(String, u32)> {
    sim.zone(zone, Period::Window, 0)
        .transitions
        .clone()
        .unwrap()
        .into_iter()
        .map(|Transition { to, count }| (to, count))
        .collect()
}

#[test]
fn entering_a_display_inside_an_aisle_is_not_a_transition_from_the_aisle() {
    let mut sim = Sim::new(&zones(), &[], &settings(1));
    sim.add(1, |ms| match ms {
        0..5_000 => Some(AISLE),
        5_000..15_000 => Some(DISPLAY),
        15_000..25_000 => Some(AISLE),
        25_000..40_000 => Some(TILL),
        _ => None,
    });
    sim.run(0, 60_000);
    // aisle -> till (the aisle closes at 25 s, the till opens then).
    assert_eq!(transitions(&sim, "aisle"), [("till".to_string(), 1)]);
    // display -> till: the display's next visit start after it closed is the till (the aisle
    // was open all along, so it is not one).
    assert_eq!(transitions(&sim, "display"), [("till".to_string(), 1)]);
    assert_eq!(transitions(&sim, "till"), []);
    assert_eq!(sim.zone("aisle", Period::Window, 0).entries, Some(1));
}

#[test]
fn a_person_who_vanishes_makes_no_transition() {
    let mut sim = Sim::new(&zones(), &[], &settings(1));
    // Ends inside the display.
    sim.add(1, |ms| (0..10_000).contains(&ms).then_some(DISPLAY));
    // Leaves the till for no zone and is gone.
    sim.add(2, |ms| match ms {
        0..10_000 => Some(TILL),
        10_000..20_000 => Some(NOWHERE),
        _ => None,
    });
    sim.run(0, 60_000);
    for z in ["aisle", "display", "till"] {
        assert_eq!(transitions(&sim, z), [], "{z}");
    }
    assert_eq!(
        sim.zone("till", Period::Window, 0)
            .dwell
            .as_ref()
            .unwrap()
            .count,
        1
    );
}

#[test]
fn coming_back_to_the_same_zone_ends_the_wait_and_a_gap_between_zones_is_fine() {
    let mut sim = Sim::new(&zones(), &[], &settings(1));
    sim.add(1, |ms| match ms {
        0..5_000 => Some(TILL),
        5_000..10_000 => Some(NOWHERE), // the till visit closes at 8 s
        10_000..15_000 => Some(TILL),   // back: a new till visit, no transition
        15_000..25_000 => Some(NOWHERE),
        25_000..30_000 => Some(AISLE), // till -> aisle, 10 s later
        _ => Some(NOWHERE),
    });
    sim.run(0, 60_000);
    assert_eq!(transitions(&sim, "till"), [("aisle".to_string(), 1)]);
    assert_eq!(sim.zone("till", Period::Window, 0).entries, Some(2));
}

#[test]
fn zones_entered_at_the_same_instant_each_count() {
    let mut sim = Sim::new(&zones(), &[], &settings(1));
    sim.add(1, |ms| match ms {
        0..5_000 => Some(TILL),
        // Straight into the display, which is inside the aisle: both open at 5 s.
        5_000..20_000 => Some(DISPLAY),
        _ => Some(NOWHERE),
    });
    sim.run(0, 60_000);
    assert_eq!(
        transitions(&sim, "till"),
        [("aisle".to_string(), 1), ("display".to_string(), 1)]
    );
}

#[test]
fn a_border_crossed_with_a_jittering_foot_point_is_one_transition() {
    // Two adjacent zones: the end of an aisle and the back aisle it opens into.
    let zones = [
        rect("aisle-end", ZoneKind::Aisle, 0.1, 0.3, 0.5, 0.9),
        rect("back", ZoneKind::Aisle, 0.5, 0.3, 0.9, 0.9),
    ];
    let mut sim = Sim::new(&zones, &[], &settings(1));
    sim.add(1, |ms| match ms {
        0..10_000 => Some([0.3, 0.6]),
        // At the border the foot point flickers: into the back aisle, back, and across for
        // good at 11 s. The back aisle's visit began at 10 s, before the aisle's last exit.
        10_000..10_500 => Some([0.52, 0.6]),
        10_500..11_000 => Some([0.48, 0.6]),
        11_000..30_000 => Some([0.7, 0.6]),
        _ => None,
    });
    sim.run(0, 60_000);
    assert_eq!(transitions(&sim, "aisle-end"), [("back".to_string(), 1)]);
    assert_eq!(sim.zone("back", Period::Window, 0).entries, Some(1));
    assert_eq!(sim.zone("aisle-end", Period::Window, 0).entries, Some(1));
}

#[test]
fn leaving_an_aisle_and_a_display_in_it_together_is_no_transition_between_them() {
    // The display was entered after the aisle and before the aisle's exit, but the person left
    // both: the display is not where they went.
    let mut sim = Sim::new(&zones(), &[], &settings(1));
    sim.add(1, |ms| match ms {
        0..5_000 => Some(AISLE),
        5_000..15_000 => Some(DISPLAY),
        15_000..30_000 => Some(NOWHERE),
        _ => None,
    });
    sim.run(0, 60_000);
    assert_eq!(transitions(&sim, "aisle"), []);
    assert_eq!(transitions(&sim, "display"), []);
}
