//! Bad input is counted, never a panic.

mod common;

use aisle_analytics::{TrackPoint, MAX_PERSONS};
use aisle_types::metrics::{Period, ZoneKind};
use aisle_types::BBox;
use common::*;

#[test]
fn invalid_duplicate_and_over_capacity_tracks_are_counted() {
    let zones = [rect("floor", ZoneKind::Aisle, 0.0, 0.0, 1.0, 1.0)];
    let mut sim = Sim::new(&zones, &[], &settings(1));
    let mut out = Vec::new();
    for i in 0..100 {
        let ms = i * 100;
        let mut tracks: Vec<TrackPoint> = (0..300u32)
            .map(|id| {
                let x = 0.05 + 0.9 * f64::from(id % 20) / 20.0;
                let y = 0.2 + 0.7 * f64::from(id / 20) / 15.0;
                track(id, x, y, 0)
            })
            .collect();
        tracks.push(TrackPoint {
            id: 1000,
            bbox: BBox::new(f32::NAN, 0.0, 10.0, 10.0),
            first_seen: at(0),
            appearance: None,
        });
        tracks.push(TrackPoint {
            id: 1001,
            bbox: BBox::new(50.0, 0.0, 10.0, 10.0),
            first_seen: at(0),
            appearance: None,
        });
        tracks.push(track(5, 0.5, 0.5, 0)); // a repeated id
        sim.a.update(at(ms), &tracks, &mut out).unwrap();
    }
    let st = sim.a.stats();
    assert_eq!(st.frames, 100);
    assert_eq!(st.tracks_invalid, 200);
    assert_eq!(st.tracks_duplicate, 100);
    assert_eq!(st.tracks_over_capacity, 100 * (300 - MAX_PERSONS as u64));
    sim.out = out;
    sim.finish(10_000);
    let z = sim.zone("floor", Period::Window, 0);
    assert_eq!(z.visitors, Some(MAX_PERSONS as u32));
    assert_eq!(z.occupancy.as_ref().unwrap().max, MAX_PERSONS as u32);
}

#[test]
fn slots_are_reused_without_merging_people() {
    // 600 people one after the other, each seen for 1 s: far more than the table holds.
    let zones = [rect("floor", ZoneKind::Aisle, 0.0, 0.0, 1.0, 1.0)];
    let s = aisle_config::AnalyticsConfig {
        lost_grace_s: 2.95,
        ..settings(1)
    };
    let mut sim = Sim::new(&zones, &[], &s);
    for i in 0..600u32 {
        let from = i64::from(i) * 100;
        // Entering at the border: never stitched.
        sim.add(i, move |ms| {
            (from..from + 1_000).contains(&ms).then_some([0.01, 0.5])
        });
    }
    sim.run(0, 120_000);
    let a = sim.zone("floor", Period::Window, 0);
    let b = sim.zone("floor", Period::Window, 60);
    // Seen for 0.9 s, then kept for the grace: removed 3.9 s after appearing. Those who
    // appeared from 56.2 s on (38 people) still had their visit open in the second window.
    assert_eq!(a.visitors.unwrap(), 600);
    assert_eq!(b.visitors.unwrap(), 38);
    assert_eq!(a.entries.unwrap() + b.entries.unwrap(), 600);
    assert_eq!(
        sim.camera(Period::Window, 0).visitors,
        Some(a.visitors.unwrap())
    );
    assert_eq!(sim.a.stats().stitches, 0);
}
