//! Privacy: k-anonymity, heatmap cells, staff exclusion, nothing individual in the JSON.

mod common;

use aisle_types::metrics::{MetricRecord, Period, ZoneKind};
use common::*;

fn shelf() -> aisle_config::ZoneConfig {
    rect("shelf", ZoneKind::Display, 0.2, 0.4, 0.4, 0.8)
}

fn visitors(n: u32) -> Sim {
    let mut sim = Sim::new(&[shelf()], &[], &settings(5));
    for i in 0..n {
        let x = 0.22 + 0.04 * f64::from(i);
        sim.add(i + 1, move |ms| (ms < 20_000).then_some([x, 0.6]));
    }
    sim.run(0, 60_000);
    sim
}

#[test]
fn four_visitors_are_suppressed_five_are_published() {
    let sim = visitors(4);
    let z = sim.zone("shelf", Period::Window, 0);
    assert!(z.header.suppressed);
    assert_eq!(z.header.min_visitors, 5);
    assert_eq!(
        (z.visitors, z.entries, z.bounces, z.engaged, z.utilisation),
        (None, None, None, None, None)
    );
    assert!(z.occupancy.is_none() && z.dwell.is_none() && z.transitions.is_none());
    let cam = sim.camera(Period::Window, 0);
    assert!(cam.header.suppressed);
    assert!(cam.visitors.is_none() && cam.person_seconds.is_none() && cam.heatmap.is_none());
    // Window and report records of the zone and the camera.
    assert_eq!(sim.a.stats().records_suppressed, 4);

    let sim = visitors(5);
    let z = sim.zone("shelf", Period::Window, 0);
    assert!(!z.header.suppressed);
    assert_eq!(z.visitors, Some(5));
    assert_eq!(z.dwell.as_ref().unwrap().count, 5);
    assert_eq!(sim.camera(Period::Window, 0).visitors, Some(5));
    assert_eq!(sim.a.stats().records_suppressed, 0);
}

#[test]
fn heatmap_cells_with_too_few_people_are_null() {
    let mut sim = Sim::new(&[], &[], &settings(2));
    // Cells of a 16 x 9 grid over 1000 x 1000: (0.1, 0.3) -> col 1, row 2; (0.7, 0.7) -> col 11,
    // row 6.
    sim.add(1, |ms| (ms < 10_000).then_some([0.1, 0.3]));
    sim.add(2, |ms| (ms < 20_000).then_some([0.11, 0.31]));
    sim.add(3, |ms| (ms < 30_000).then_some([0.7, 0.7]));
    sim.run(0, 60_000);
    let cam = sim.camera(Period::Window, 0);
    assert_eq!(cam.visitors, Some(3));
    // Seen 10 + 20 + 30 s, and each held in view for the 3 s lost grace after vanishing (as
    // in the zones: hidden is not gone).
    assert_close(cam.person_seconds.unwrap(), 60.0 + 3.0 * 3.0);
    let heat = cam.heatmap.as_ref().unwrap();
    assert_eq!(heat.person_seconds.len(), 144);
    assert_close(heat.person_seconds[2 * 16 + 1].unwrap(), 30.0 + 2.0 * 3.0);
    assert_eq!(heat.person_seconds[6 * 16 + 11], None);
    let zeros = heat
        .person_seconds
        .iter()
        .filter(|c| **c == Some(0.0))
        .count();
    assert_eq!(zeros, 142);
}

#[test]
fn staff_contribute_nothing_and_customers_passing_a_staff_zone_still_count() {
    let zones = [
        rect("display", ZoneKind::Display, 0.1, 0.1, 0.5, 0.5),
        // A staff counter inside the display's floor area.
        rect("counter", ZoneKind::Staff, 0.1, 0.1, 0.3, 0.3),
    ];
    let mut sim = Sim::new(&zones, &[], &settings(1));
    sim.add(1, |_| Some([0.2, 0.2]));
    sim.run(0, 60_000);
    let z = sim.zone("display", Period::Window, 0);
    assert_eq!((z.visitors, z.entries), (Some(0), Some(0)));
    assert_eq!(z.occupancy.as_ref().unwrap().person_seconds, 0.0);
    assert_eq!(z.dwell.as_ref().unwrap().in_progress, 0);
    let cam = sim.camera(Period::Window, 0);
    assert_eq!((cam.visitors, cam.person_seconds), (Some(0), Some(0.0)));
    assert!(cam
        .heatmap
        .as_ref()
        .unwrap()
        .person_seconds
        .iter()
        .all(|c| *c == Some(0.0)));
    assert_eq!(sim.a.stats().staff_tracks, 1);
    // Staff zones publish nothing.
    assert!(sim.out.iter().all(|r| r.subject() != "counter"));

    // A customer crossing the counter for 1.5 s.
    let mut sim = Sim::new(&zones, &[], &settings(1));
    sim.add(2, |ms| match ms {
        0..10_000 => Some([0.4, 0.4]),
        10_000..11_500 => Some([0.2, 0.2]),
        11_500..20_000 => Some([0.4, 0.4]),
        _ => None,
    });
    sim.run(0, 60_000);
    let z = sim.zone("display", Period::Window, 0);
    assert_eq!((z.visitors, z.entries), (Some(1), Some(1)));
    assert_close(z.occupancy.as_ref().unwrap().person_seconds, 23.0);
    assert_eq!(sim.camera(Period::Window, 0).visitors, Some(1));
    assert_eq!(sim.a.stats().staff_tracks, 0);
}

#[test]
fn records_carry_no_track_id_and_no_id_field_but_the_record_id() {
    let zones = [shelf(), rect("q", ZoneKind::Queue, 0.6, 0.4, 0.9, 0.8)];
    let lines = [line("door", [0.1, 0.9], [0.9, 0.9], Default::default())];
    let mut sim = Sim::new(&zones, &lines, &settings(1));
    sim.add(987_654_321, |ms| match ms {
        0..10_000 => Some([0.3, 0.6]),
        10_000..30_000 => Some([0.7, 0.6]),
        30_000..40_000 => Some([0.7, 0.95]),
        _ => None,
    });
    sim.add(123_456_789, |ms| (ms < 50_000).then_some([0.75, 0.6]));
    sim.run(0, 60_000);
    sim.finish(60_000);
    assert!(sim.out.len() >= 8);
    fn keys(v: &serde_json::Value, depth: usize, found: &mut Vec<(usize, String)>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    found.push((depth, k.clone()));
                    keys(v, depth + 1, found);
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| keys(v, depth + 1, found)),
            _ => {}
        }
    }
    for r in &sim.out {
        let json = serde_json::to_string(r).unwrap();
        assert!(
            !json.contains("987654321") && !json.contains("123456789"),
            "{json}"
        );
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let mut found = Vec::new();
        keys(&v, 0, &mut found);
        for (depth, k) in found {
            if k.to_lowercase().contains("id") {
                assert_eq!((depth, k.as_str()), (0, "id"), "{json}");
            }
        }
        let back: MetricRecord = serde_json::from_value(v).unwrap();
        assert_eq!(back.header(), r.header());
    }
    // The queue figures are there.
    let q = sim.zone("q", Period::Window, 0).queue.clone().unwrap();
    assert_eq!(q.length_max, 2);
    assert!(q.wait_mean_s.is_some() && q.wait_estimate_s.is_some());
}
