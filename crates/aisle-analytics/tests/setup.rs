//! `new` defends itself: every bad zone, line or setting is an error naming its path.

mod common;

use aisle_analytics::{AnalyticsError, CameraAnalytics};
use aisle_config::{AnalyticsConfig, LineConfig, ZoneConfig};
use aisle_types::metrics::ZoneKind;
use common::*;

fn err(zones: &[ZoneConfig], lines: &[LineConfig], s: &AnalyticsConfig) -> (String, String) {
    match CameraAnalytics::new(CAM, W, H, zones, lines, s, EPOCH_MS) {
        Err(AnalyticsError::Invalid { path, value, .. }) => (path, value),
        Err(e) => panic!("unexpected {e}"),
        Ok(_) => panic!("accepted"),
    }
}

fn zone_err(bad: ZoneConfig) -> String {
    // Index 2 in the full list; entry 0 is another camera's (skipped even though invalid).
    let mut other = rect("x", ZoneKind::Aisle, 0.0, 0.0, 0.0, 0.0);
    other.camera = "other".into();
    let ok = rect("ok", ZoneKind::Aisle, 0.1, 0.1, 0.2, 0.2);
    err(&[other, ok, bad], &[], &settings(5)).0
}

fn poly(points: &[[f64; 2]]) -> ZoneConfig {
    ZoneConfig {
        polygon: points.to_vec(),
        ..rect("bad", ZoneKind::Display, 0.0, 0.0, 1.0, 1.0)
    }
}

#[test]
fn bad_zones_name_their_path() {
    assert_eq!(
        zone_err(poly(&[[0.1, 0.1], [0.2, 0.2]])),
        "zones[2].polygon"
    );
    assert_eq!(
        zone_err(poly(&[[0.1, 0.1], [0.5, 0.1], [0.5, 0.5], [0.1, 1.2]])),
        "zones[2].polygon[3]"
    );
    assert_eq!(
        zone_err(poly(&[[0.1, 0.1], [f64::NAN, 0.1], [0.5, 0.5]])),
        "zones[2].polygon[1]"
    );
    // Zero area (collinear) and near-zero area.
    assert_eq!(
        zone_err(poly(&[[0.1, 0.1], [0.5, 0.5], [0.9, 0.9]])),
        "zones[2].polygon"
    );
    assert_eq!(
        zone_err(poly(&[[0.1, 0.1], [0.5, 0.1], [0.5, 0.100_001]])),
        "zones[2].polygon"
    );
    // A bow tie.
    let (path, value) = {
        let mut other = rect("x", ZoneKind::Aisle, 0.0, 0.0, 0.0, 0.0);
        other.camera = "other".into();
        err(
            &[
                other,
                rect("ok", ZoneKind::Aisle, 0.1, 0.1, 0.2, 0.2),
                poly(&[[0.1, 0.1], [0.5, 0.5], [0.5, 0.1], [0.1, 0.5]]),
            ],
            &[],
            &settings(5),
        )
    };
    assert_eq!(path, "zones[2].polygon");
    assert!(value.contains("edges"), "{value}");
    // Duplicate names on the camera.
    let dup = rect("ok", ZoneKind::Display, 0.5, 0.5, 0.6, 0.6);
    assert_eq!(zone_err(dup), "zones[2].name");
    // The same name on another camera is fine.
    let mut elsewhere = rect("ok", ZoneKind::Display, 0.5, 0.5, 0.6, 0.6);
    elsewhere.camera = "other".into();
    CameraAnalytics::new(
        CAM,
        W,
        H,
        &[rect("ok", ZoneKind::Aisle, 0.1, 0.1, 0.2, 0.2), elsewhere],
        &[],
        &settings(5),
        EPOCH_MS,
    )
    .unwrap();
}

#[test]
fn too_many_zones_or_lines() {
    let zones: Vec<_> = (0..65)
        .map(|i| rect(&format!("z{i}"), ZoneKind::Aisle, 0.1, 0.1, 0.2, 0.2))
        .collect();
    assert_eq!(err(&zones, &[], &settings(5)).0, "zones[64]");
    assert!(CameraAnalytics::new(CAM, W, H, &zones[..64], &[], &settings(5), EPOCH_MS).is_ok());
    let lines: Vec<_> = (0..33)
        .map(|i| line(&format!("l{i}"), [0.1, 0.1], [0.2, 0.2], Default::default()))
        .collect();
    assert_eq!(err(&[], &lines, &settings(5)).0, "lines[32]");
}

#[test]
fn bad_lines_name_their_path() {
    let l = |from, to| line("door", from, to, Default::default());
    assert_eq!(
        err(&[], &[l([0.1, 0.1], [0.1, 0.1])], &settings(5)).0,
        "lines[0].to"
    );
    assert_eq!(
        err(&[], &[l([-0.1, 0.1], [0.5, 0.1])], &settings(5)).0,
        "lines[0].from"
    );
    assert_eq!(
        err(&[], &[l([0.1, 0.1], [0.5, f64::INFINITY])], &settings(5)).0,
        "lines[0].to"
    );
    assert_eq!(
        err(
            &[],
            &[l([0.1, 0.1], [0.5, 0.1]), l([0.1, 0.2], [0.5, 0.2])],
            &settings(5)
        )
        .0,
        "lines[1].name"
    );
}

#[test]
fn bad_settings_and_frames_name_their_path() {
    let s = |f: fn(&mut AnalyticsConfig)| {
        let mut s = AnalyticsConfig::default();
        f(&mut s);
        err(&[], &[], &s).0
    };
    assert_eq!(s(|s| s.window_s = 0), "analytics.window_s");
    assert_eq!(s(|s| s.window_s = 7), "analytics.window_s");
    assert_eq!(s(|s| s.report_window_s = 90), "analytics.report_window_s");
    assert_eq!(s(|s| s.report_window_s = 4200), "analytics.report_window_s");
    assert_eq!(s(|s| s.bounce_s = -1.0), "analytics.bounce_s");
    assert_eq!(s(|s| s.engaged_s = f64::NAN), "analytics.engaged_s");
    assert_eq!(
        s(|s| s.reentry_gap_s = f64::INFINITY),
        "analytics.reentry_gap_s"
    );
    assert_eq!(s(|s| s.lost_grace_s = -0.5), "analytics.lost_grace_s");
    assert_eq!(s(|s| s.staff_share = 0.0), "analytics.staff_share");
    assert_eq!(s(|s| s.staff_share = 1.5), "analytics.staff_share");
    assert_eq!(s(|s| s.heatmap_cols = 0), "analytics.heatmap_cols");
    assert_eq!(s(|s| s.heatmap_rows = 65), "analytics.heatmap_rows");
    let e = CameraAnalytics::new(CAM, 0, H, &[], &[], &settings(5), EPOCH_MS)
        .err()
        .unwrap();
    assert!(e.to_string().contains("frame_width"), "{e}");
    let e = CameraAnalytics::new(CAM, W, 0, &[], &[], &settings(5), EPOCH_MS)
        .err()
        .unwrap();
    assert!(e.to_string().contains("frame_height"), "{e}");
    let ok = AnalyticsConfig {
        window_s: 1,
        report_window_s: 86_400,
        staff_share: 1.0,
        heatmap_cols: 64,
        heatmap_rows: 64,
        ..Default::default()
    };
    let a = CameraAnalytics::new(CAM, W, H, &[], &[], &ok, EPOCH_MS).unwrap();
    assert_eq!(a.camera(), CAM);
}
