//! Zone visits: dwell, hysteresis against flicker, occlusion grace, stitching.

mod common;

use aisle_types::metrics::{dwell_bucket, Period, ZoneKind};
use aisle_types::Appearance;
use common::*;

fn shelf() -> aisle_config::ZoneConfig {
    rect("shelf", ZoneKind::Display, 0.2, 0.4, 0.4, 0.8)
}

const IN: [f64; 2] = [0.3, 0.6];
const OUT: [f64; 2] = [0.6, 0.6];

#[test]
fn one_visit_gives_dwell_entries_visitors_and_occupancy() {
    let mut sim = Sim::new(&[shelf()], &[], &settings(1));
    sim.add(7, |ms| match ms {
        0..5_000 => Some([0.1, 0.6]),
        5_000..15_000 => Some(IN),
        15_000..30_000 => Some(OUT),
        _ => None,
    });
    sim.run(0, 60_000);
    let z = sim.zone("shelf", Period::Window, 0);
    assert!(!z.header.suppressed);
    assert_close(z.header.window.observed_s, 60.0);
    assert_eq!(z.header.window.length_s, 60);
    assert_eq!(z.visitors, Some(1));
    assert_eq!(z.entries, Some(1));
    let occ = z.occupancy.as_ref().unwrap();
    assert_close(occ.person_seconds, 10.0);
    assert_close(occ.mean, 10.0 / 60.0);
    assert_eq!((occ.max, occ.now), (1, 0));
    let d = z.dwell.as_ref().unwrap();
    assert_eq!(d.count, 1);
    assert_close(d.sum_s, 10.0);
    assert_close(d.max_s.unwrap(), 10.0);
    assert_close(d.p50_s.unwrap(), 10.0);
    assert_close(d.p90_s.unwrap(), 10.0);
    assert!(d.exact);
    assert_eq!(d.histogram.iter().sum::<u32>(), 1);
    assert_eq!(d.histogram[dwell_bucket(10.0)], 1);
    assert_eq!((d.in_progress, d.in_progress_s), (0, 0.0));
    assert_eq!((z.bounces, z.engaged), (Some(0), Some(1)));
    assert_eq!(z.transitions.as_deref(), Some(&[][..]));
    assert_eq!(z.utilisation, None);
    assert_eq!(z.queue, None);
    let cam = sim.camera(Period::Window, 0);
    assert_eq!(cam.visitors, Some(1));
    // In view for 30 s, then held for the 3 s lost grace.
    assert_close(cam.person_seconds.unwrap(), 30.0 + 3.0);
    assert_eq!(sim.a.stats().visits_closed, 1);
    // The epoch is 14 min into a 15 min report window: it closes with the first short window,
    // after it.
    let ids: Vec<&str> = sim.out.iter().map(|r| r.header().id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "cam/shelf/window/1795635840",
            "cam/camera/window/1795635840",
            "cam/shelf/report/1795635000",
            "cam/camera/report/1795635000"
        ]
    );
    let rep = sim.zone("shelf", Period::Report, -840);
    assert_close(rep.header.window.observed_s, 60.0);
    assert_eq!(rep.header.window.length_s, 900);
    assert_eq!(rep.dwell.as_ref().unwrap().count, 1);
}

#[test]
fn occupancy_and_now_at_window_end_with_capacity() {
    let mut z = shelf();
    z.capacity = Some(4);
    let mut sim = Sim::new(&[z], &[], &settings(1));
    sim.add(1, |ms| (ms >= 30_000).then_some(IN));
    sim.add(2, |ms| (ms >= 45_000).then_some(IN));
    sim.run(0, 60_000);
    let z = sim.zone("shelf", Period::Window, 0);
    let occ = z.occupancy.as_ref().unwrap();
    assert_close(occ.person_seconds, 30.0 + 15.0);
    assert_eq!((occ.max, occ.now), (2, 2));
    assert_close(z.utilisation.unwrap(), 45.0 / 60.0 / 4.0);
    let d = z.dwell.as_ref().unwrap();
    assert_eq!((d.count, d.in_progress), (0, 2));
    assert_close(d.in_progress_s, 30.0 + 15.0);
    assert_eq!((d.p50_s, d.mean_s, d.max_s), (None, None, None));
    assert_eq!(z.entries, Some(2));
}

#[test]
fn a_box_flickering_on_the_border_is_one_visit() {
    let mut sim = Sim::new(&[shelf()], &[], &settings(1));
    sim.add(1, |ms| match ms {
        0..2_000 => Some(IN),
        // In and out every frame for 10 s: the foot point straddles the border x = 0.4.
        2_000..12_000 => Some(if (ms / 100) % 2 == 0 {
            [0.399, 0.6]
        } else {
            [0.401, 0.6]
        }),
        12_000..20_000 => Some(IN),
        20_000..25_000 => Some(OUT),
        _ => None,
    });
    sim.run(0, 60_000);
    let z = sim.zone("shelf", Period::Window, 0);
    assert_eq!(z.entries, Some(1));
    assert_eq!(z.visitors, Some(1));
    let d = z.dwell.as_ref().unwrap();
    assert_eq!(d.count, 1);
    assert_close(d.sum_s, 20.0);
    // Occupancy is the raw presence: 2 + 5 + 8 s.
    assert_close(z.occupancy.as_ref().unwrap().person_seconds, 15.0);
}

#[test]
fn a_short_gap_continues_the_visit_and_a_long_one_closes_it_at_last_sighting() {
    // Short: lost 10.0..12.0 (2 s < lost_grace_s 3 s).
    let mut sim = Sim::new(&[shelf()], &[], &settings(1));
    sim.add(1, |ms| match ms {
        5_000..10_000 | 12_000..20_000 => Some(IN),
        20_000..22_000 => Some(OUT),
        _ => None,
    });
    sim.run(0, 60_000);
    let z = sim.zone("shelf", Period::Window, 0);
    assert_eq!((z.entries, z.visitors), (Some(1), Some(1)));
    let d = z.dwell.as_ref().unwrap();
    assert_eq!(d.count, 1);
    assert_close(d.sum_s, 15.0);
    // The occluded person is still in the zone.
    assert_close(z.occupancy.as_ref().unwrap().person_seconds, 15.0);

    // Long: lost 10.0..14.0; the visit closes at the last sighting (9.9 s), the same id seen
    // again is a new person whose visit starts when they are seen again.
    let mut sim = Sim::new(&[shelf()], &[], &settings(1));
    sim.add(1, |ms| match ms {
        5_000..10_000 | 14_000..20_000 => Some(IN),
        20_000..22_000 => Some(OUT),
        _ => None,
    });
    sim.run(0, 60_000);
    let z = sim.zone("shelf", Period::Window, 0);
    assert_eq!(z.entries, Some(2));
    let d = z.dwell.as_ref().unwrap();
    assert_eq!(d.count, 2);
    assert_close(d.sum_s, 4.9 + 6.0);
    assert_close(d.max_s.unwrap(), 6.0);
    // Lost persons count until removed (the update at 13.0 s: more than 3 s after 9.9 s).
    assert_close(z.occupancy.as_ref().unwrap().person_seconds, 8.0 + 6.0);
}

#[test]
fn a_track_ending_inside_closes_there() {
    let mut sim = Sim::new(&[shelf()], &[], &settings(1));
    sim.add(1, |ms| (5_000..20_000).contains(&ms).then_some(IN));
    sim.run(0, 60_000);
    let z = sim.zone("shelf", Period::Window, 0);
    let d = z.dwell.as_ref().unwrap();
    assert_eq!((d.count, d.in_progress), (1, 0));
    assert_close(d.sum_s, 14.9);
    assert_eq!(sim.a.stats().visits_closed, 1);
}

#[test]
fn a_track_appearing_inside_entered_when_first_seen() {
    let mut sim = Sim::new(&[shelf()], &[], &settings(1));
    // Confirmed at 5 s, but the tracker first saw it at 4.2 s.
    sim.add(1, |ms| (5_000..15_000).contains(&ms).then_some(IN));
    sim.actors[0].first_seen = Some(4_200);
    sim.run(0, 60_000);
    let d = sim.zone("shelf", Period::Window, 0).dwell.clone().unwrap();
    assert_eq!(d.count, 1);
    assert_close(d.sum_s, 14.9 - 4.2);
}

#[test]
fn a_new_id_next_to_a_vanished_person_continues_them() {
    let mut sim = Sim::new(&[shelf()], &[], &settings(1));
    sim.add(1, |ms| (5_000..10_000).contains(&ms).then_some(IN));
    // The tracker switched ids after a short occlusion, a few pixels away.
    sim.add(2, |ms| match ms {
        11_000..20_000 => Some([0.31, 0.61]),
        20_000..25_000 => Some(OUT),
        _ => None,
    });
    sim.run(0, 60_000);
    let z = sim.zone("shelf", Period::Window, 0);
    assert_eq!((z.visitors, z.entries), (Some(1), Some(1)));
    let d = z.dwell.as_ref().unwrap();
    assert_eq!(d.count, 1);
    assert_close(d.sum_s, 15.0);
    assert_eq!(sim.camera(Period::Window, 0).visitors, Some(1));
    assert_eq!(sim.a.stats().stitches, 1);
}

#[test]
fn a_new_id_that_looks_clearly_different_is_a_new_person() {
    // As above, but the tracker saw the two tracks' clothes: a black top and blue trousers, and
    // then a red top and grey trousers. Somebody else stepped in where the first person vanished.
    let run = |second: Appearance| {
        let mut sim = Sim::new(&[shelf()], &[], &settings(1));
        sim.add(1, |ms| (5_000..10_000).contains(&ms).then_some(IN));
        sim.actors[0].appearance = Some(clothes(0, 6));
        sim.add(2, |ms| match ms {
            11_000..20_000 => Some([0.31, 0.61]),
            20_000..25_000 => Some(OUT),
            _ => None,
        });
        sim.actors[1].appearance = Some(second);
        sim.run(0, 60_000);
        let stitches = sim.a.stats().stitches;
        (stitches, sim.zone("shelf", Period::Window, 0).visitors)
    };
    assert_eq!(run(clothes(3, 1)), (0, Some(2)));
    // The same clothes, seen a little differently: the same person.
    let mut similar = [0.0; aisle_types::APPEARANCE_DIM];
    similar[0] = 0.8;
    similar[1] = 0.2;
    similar[aisle_types::COLOURS + 6] = 0.9;
    similar[aisle_types::COLOURS] = 0.1;
    assert_eq!(run(Appearance::from_counts(&similar)), (1, Some(1)));
}

#[test]
fn a_new_id_at_the_frame_border_or_far_away_is_a_new_person() {
    let mut sim = Sim::new(&[shelf()], &[], &settings(1));
    sim.add(1, |ms| (5_000..10_000).contains(&ms).then_some(IN));
    // Far away.
    sim.add(2, |ms| (11_000..20_000).contains(&ms).then_some([0.8, 0.6]));
    // At the bottom border, right where 1 vanished... but touching the frame edge.
    sim.add(3, |ms| {
        (11_000..12_000).contains(&ms).then_some([0.3, 0.995])
    });
    sim.run(0, 60_000);
    assert_eq!(sim.a.stats().stitches, 0);
    assert_eq!(sim.camera(Period::Window, 0).visitors, Some(3));
}

#[test]
fn a_box_brushing_a_zone_for_less_than_min_visit_s_is_no_visit() {
    let zones = [rect("shelf", ZoneKind::Display, 0.2, 0.4, 0.4, 0.8)];
    let s = aisle_config::AnalyticsConfig {
        min_visit_s: 1.0,
        ..settings(1)
    };
    let mut sim = Sim::new(&zones, &[], &s);
    // Person 1 brushes the shelf for 0.5 s; person 2 stands in it for 4 s (from 20 s).
    sim.add(1, |ms| match ms {
        0..5_000 => Some([0.5, 0.6]),
        5_000..5_500 => Some([0.3, 0.6]),
        5_500..15_000 => Some([0.5, 0.6]),
        _ => None,
    });
    sim.add(2, |ms| match ms {
        15_000..20_000 => Some([0.5, 0.6]),
        20_000..24_000 => Some([0.3, 0.6]),
        24_000..40_000 => Some([0.5, 0.6]),
        _ => None,
    });
    sim.run(0, 60_000);
    let z = sim.zone("shelf", Period::Window, 0);
    assert_eq!((z.visitors, z.entries), (Some(1), Some(1)));
    let d = z.dwell.as_ref().unwrap();
    assert_eq!(d.count, 1);
    // Counted from when they entered, not from when the visit was confirmed.
    assert_close(d.sum_s, 4.0);
    // Occupancy is presence: both people's time inside.
    assert_close(z.occupancy.as_ref().unwrap().person_seconds, 4.5);
}
