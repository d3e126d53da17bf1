//! Windows on the wall clock, report windows, partial windows, outages, time order.

mod common;

use aisle_analytics::{AnalyticsError, CameraAnalytics};
use aisle_config::AnalyticsConfig;
use aisle_types::metrics::{MetricRecord, Period, ZoneKind};
use common::*;

fn shelf() -> aisle_config::ZoneConfig {
    rect("shelf", ZoneKind::Display, 0.2, 0.4, 0.4, 0.8)
}

#[test]
fn empty_windows_give_zeros_not_suppressed() {
    let mut sim = Sim::new(&[shelf()], &[], &settings(5));
    sim.run(0, 120_000);
    for offset in [0, 60] {
        let z = sim.zone("shelf", Period::Window, offset);
        assert!(!z.header.suppressed);
        assert_close(z.header.window.observed_s, 60.0);
        assert_eq!((z.visitors, z.entries), (Some(0), Some(0)));
        let occ = z.occupancy.as_ref().unwrap();
        assert_eq!(
            (occ.person_seconds, occ.mean, occ.max, occ.now),
            (0.0, 0.0, 0, 0)
        );
        let d = z.dwell.as_ref().unwrap();
        assert_eq!((d.count, d.p50_s, d.in_progress), (0, None, 0));
        assert_eq!(d.histogram, vec![0; 12]);
        let cam = sim.camera(Period::Window, offset);
        assert!(!cam.header.suppressed);
        assert_eq!(cam.visitors, Some(0));
        let heat = cam.heatmap.as_ref().unwrap();
        assert_eq!((heat.cols, heat.rows), (16, 9));
        assert!(heat.person_seconds.iter().all(|c| *c == Some(0.0)));
    }
    assert_eq!(sim.a.stats().records_suppressed, 0);
}

#[test]
fn windows_align_to_the_minute_and_the_first_one_is_partial() {
    // Media time 0 is 15 s past the minute.
    let mut sim = Sim::with_epoch(&[shelf()], &[], &settings(1), EPOCH_MS + 15_000);
    sim.run(0, 110_000);
    let first = sim.zone("shelf", Period::Window, 0);
    assert_eq!(first.header.window.start, "2026-11-25T19:44:00Z");
    assert_eq!(first.header.window.end, "2026-11-25T19:45:00Z");
    assert_eq!(first.header.id, "cam/shelf/window/1795635840");
    assert_close(first.header.window.observed_s, 45.0);
    let second = sim.zone("shelf", Period::Window, 60);
    assert_close(second.header.window.observed_s, 60.0);
    // The third window (from 105 s media = 2 min wall) has not closed.
    let windows = sim
        .out
        .iter()
        .filter(|r| r.header().period == Period::Window)
        .count();
    assert_eq!(windows, 4);
    // finish: the open window is emitted, partial.
    sim.finish(110_000);
    let third = sim.zone("shelf", Period::Window, 120);
    assert_close(third.header.window.observed_s, 5.0);
}

#[test]
fn outages_are_not_observed() {
    let mut sim = Sim::new(&[shelf()], &[], &settings(1));
    sim.add(1, |ms| {
        Some(if ms < 30_000 { [0.3, 0.6] } else { [0.6, 0.6] })
    });
    sim.run(0, 19_900);
    sim.run(25_000, 60_000); // 5.1 s without frames
    let z = sim.zone("shelf", Period::Window, 0);
    assert_close(z.header.window.observed_s, 19.9 + 35.0);
    assert_close(z.occupancy.as_ref().unwrap().person_seconds, 19.9 + 5.0);
    assert_eq!(sim.a.stats().outages, 1);
    // A long outage skips whole windows: they are not emitted.
    sim.run(600_000, 660_000);
    let starts: Vec<_> = sim
        .out
        .iter()
        .filter(|r| r.subject() == "shelf" && r.header().period == Period::Window)
        .map(|r| r.header().window.start.clone())
        .collect();
    assert_eq!(starts, [sim.start(0), sim.start(600)]);
}

/// numpy.percentile(x, q) with the default linear method.
fn numpy_percentile(x: &[f64], q: f64) -> f64 {
    let mut s = x.to_vec();
    s.sort_by(f64::total_cmp);
    let r = q / 100.0 * (s.len() - 1) as f64;
    let (lo, hi) = (r.floor() as usize, r.ceil() as usize);
    s[lo] + (s[hi] - s[lo]) * (r - lo as f64)
}

#[test]
fn report_percentiles_are_exact_and_histograms_add_up() {
    let s = AnalyticsConfig {
        min_visitors: 1,
        report_window_s: 300,
        min_visit_s: 0.0,
        ..Default::default()
    };
    // On a quarter hour: the report window starts with the run.
    let mut sim = Sim::with_epoch(&[shelf()], &[], &s, EPOCH_MS - 840_000);
    let mut expected = Vec::new();
    for i in 0..30i64 {
        let enter = 5_000 + 9_000 * i;
        let dwell_ms = 500 + (i * 37 % 80) * 100;
        expected.push(dwell_ms as f64 / 1000.0);
        sim.add(i as u32 + 1, move |ms| {
            if ms < enter - 1_000 || ms >= enter + dwell_ms + 1_000 {
                None
            } else if ms < enter {
                // Comes in at the right edge of the frame (a new person, not an id switch).
                Some([0.99, 0.6])
            } else if ms < enter + dwell_ms {
                Some([0.3, 0.6])
            } else {
                Some([0.6, 0.6])
            }
        });
    }
    sim.run(0, 300_000);
    let rep = sim.zone("shelf", Period::Report, 0);
    assert_eq!(rep.header.window.length_s, 300);
    assert_close(rep.header.window.observed_s, 300.0);
    let d = rep.dwell.as_ref().unwrap();
    assert_eq!(d.count, 30);
    assert!(d.exact);
    assert_close(d.p50_s.unwrap(), numpy_percentile(&expected, 50.0));
    assert_close(d.p90_s.unwrap(), numpy_percentile(&expected, 90.0));
    assert_close(d.sum_s, expected.iter().sum());
    assert_close(
        d.max_s.unwrap(),
        expected.iter().cloned().fold(0.0, f64::max),
    );
    assert_eq!(d.histogram.iter().sum::<u32>(), d.count);
    assert_eq!(rep.visitors, Some(30));
    assert_eq!(rep.entries, Some(30));
    let bounces = expected.iter().filter(|&&x| x < 2.0).count() as u32;
    let engaged = expected.iter().filter(|&&x| x >= 5.0).count() as u32;
    assert_eq!((rep.bounces, rep.engaged), (Some(bounces), Some(engaged)));
    // The five short windows add up to the report window.
    let mut count = 0;
    let mut hist = vec![0u32; 12];
    for w in 0..5 {
        let z = sim.zone("shelf", Period::Window, w * 60);
        let d = z.dwell.as_ref().unwrap();
        assert_eq!(d.histogram.iter().sum::<u32>(), d.count);
        count += d.count;
        for (h, x) in hist.iter_mut().zip(&d.histogram) {
            *h += x;
        }
    }
    assert_eq!(count, 30);
    assert_eq!(hist, rep.dwell.as_ref().unwrap().histogram);
    // Records come window first, then the report, per close.
    let last: Vec<_> = sim.out[sim.out.len() - 4..]
        .iter()
        .map(|r| (r.subject().to_string(), r.header().period))
        .collect();
    assert_eq!(
        last,
        [
            ("shelf".to_string(), Period::Window),
            ("camera".to_string(), Period::Window),
            ("shelf".to_string(), Period::Report),
            ("camera".to_string(), Period::Report)
        ]
    );
}

#[test]
fn finish_reports_open_visits_in_progress() {
    let mut sim = Sim::new(&[shelf()], &[], &settings(1));
    sim.add(1, |ms| (ms >= 5_000).then_some([0.3, 0.6]));
    sim.run(0, 29_900);
    sim.finish(30_000);
    let z = sim.zone("shelf", Period::Window, 0);
    assert_close(z.header.window.observed_s, 30.0);
    let d = z.dwell.as_ref().unwrap();
    assert_eq!((d.count, d.in_progress), (0, 1));
    assert_close(d.in_progress_s, 25.0);
    assert_eq!(z.occupancy.as_ref().unwrap().now, 1);
    let rep = sim.zone("shelf", Period::Report, -840);
    assert_close(rep.header.window.observed_s, 30.0);
    assert_eq!(rep.dwell.as_ref().unwrap().in_progress, 1);
    // Nothing is emitted twice.
    let n = sim.out.len();
    sim.finish(30_000);
    assert_eq!(sim.out.len(), n);
}

#[test]
fn time_going_back_is_an_error_and_changes_nothing() {
    let zones = [shelf()];
    let mk = || CameraAnalytics::new(CAM, W, H, &zones, &[], &settings(1), EPOCH_MS).unwrap();
    let (mut a, mut b) = (mk(), mk());
    let (mut out_a, mut out_b) = (Vec::<MetricRecord>::new(), Vec::new());
    let tr = |ms: i64| [track(1, if ms < 20_000 { 0.3 } else { 0.6 }, 0.6, 0)];
    for i in 0..=600 {
        let ms = i * 100;
        a.update(at(ms), &tr(ms), &mut out_a).unwrap();
        if ms == 10_000 {
            let err = a
                .update(at(9_000), &[track(2, 0.3, 0.6, 0)], &mut out_a)
                .unwrap_err();
            assert!(matches!(err, AnalyticsError::TimeWentBack { .. }), "{err}");
            assert!(err.to_string().contains("cam"), "{err}");
        }
        b.update(at(ms), &tr(ms), &mut out_b).unwrap();
    }
    assert_eq!(out_a, out_b);
    assert_eq!(a.stats().frames_out_of_order, 1);
    assert_eq!(a.stats().frames, b.stats().frames);
    // The same instant again is fine.
    a.update(at(60_000), &[], &mut out_a).unwrap();
}

#[test]
fn a_visitor_counts_in_the_windows_they_were_inside_not_in_the_one_their_exit_was_confirmed() {
    // Inside from 40 s to 58.5 s, then out of the zone (still in view): the exit is confirmed
    // reentry_gap_s (3 s) later, in the next window, where they were never inside.
    let mut sim = Sim::new(&[shelf()], &[], &settings(1));
    sim.add(1, |ms| match ms {
        40_000..58_500 => Some([0.3, 0.6]),
        58_500..90_000 => Some([0.7, 0.6]),
        _ => None,
    });
    sim.run(0, 120_000);
    let first = sim.zone("shelf", Period::Window, 0);
    assert_eq!((first.visitors, first.entries), (Some(1), Some(1)));
    let second = sim.zone("shelf", Period::Window, 60);
    assert_eq!(second.visitors, Some(0));
    let d = second.dwell.as_ref().unwrap();
    assert_eq!(
        d.count, 1,
        "the visit is closed (and counted) when its exit is confirmed"
    );
    assert_close(d.sum_s, 18.5);
}
