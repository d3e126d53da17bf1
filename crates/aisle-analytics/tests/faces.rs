//! Face figures (`[faces]`) on a synthetic scene: shoppers standing at a display, facing it or
//! not, with known expressions; a staff member behind the counter whose face samples must count
//! nowhere; k-anonymity per zone; and records that carry aggregates only.

mod common;

use aisle_analytics::{CameraAnalytics, FaceSample, FaceSettings, TrackPoint};
use aisle_types::metrics::{FacesRecord, MetricRecord, ZoneKind, EXPRESSION_CLASSES};
use common::*;

/// Shelf (display) across the top of the frame, its display at (0.5, 0.05); a staff counter at
/// the bottom right.
fn analytics(k: u32, emotion: bool) -> CameraAnalytics {
    let mut shelf = rect("shelf", ZoneKind::Display, 0.1, 0.2, 0.9, 0.5);
    shelf.attention_target = Some([0.5, 0.05]);
    let zones = vec![shelf, rect("counter", ZoneKind::Staff, 0.7, 0.7, 1.0, 1.0)];
    CameraAnalytics::new(CAM, W, H, &zones, &[], &settings(k), EPOCH_MS)
        .unwrap()
        .with_faces(FaceSettings {
            emotion,
            attention_cone_deg: 30.0,
        })
}

/// Track ids and face coordinates that no count can equal, to find them in the JSON.
const ID0: u32 = 987_650;
const STAFF: u32 = 987_699;

/// `n` shoppers at the shelf (x spread, y 0.4) and a staff member at the counter; every 0.2 s
/// a face sample of each. Shopper `i` faces the display when `looks(i)` (a geometry test: a
/// display up the image has shoppers turn their backs to the camera, whose faces the detector
/// would not find), else the camera; expression one-hot: happy for even i, sad for odd.
fn run(
    a: &mut CameraAnalytics,
    n: u32,
    looks: impl Fn(u32) -> bool,
    seconds: i64,
) -> Vec<MetricRecord> {
    let mut out = Vec::new();
    let mut tracks: Vec<TrackPoint> = Vec::new();
    let mut samples: Vec<FaceSample> = Vec::new();
    for step in 0..=(seconds * 5) {
        let ms = step * 200;
        tracks.clear();
        samples.clear();
        for i in 0..n {
            let x = 0.15 + 0.1 * f64::from(i);
            tracks.push(track(ID0 + i, x, 0.4, 0));
            let happy = i % 2 == 0;
            let mut p = [0.0f32; 7];
            p[if happy { 1 } else { 2 }] = 1.0;
            let face = [(x * 1000.0) as f32 + 0.123_4, 312.345_6];
            // Facing (sin yaw, cos yaw) in the image: towards the display at (500, 50).
            let towards = (500.0 - f64::from(face[0])).atan2(50.0 - f64::from(face[1]));
            samples.push(FaceSample {
                track_id: ID0 + i,
                interval_s: 0.2,
                yaw_deg: if looks(i) {
                    towards.to_degrees() as f32
                } else {
                    0.0
                },
                pitch_deg: 0.0,
                face,
                expression: Some(p),
            });
        }
        tracks.push(track(STAFF, 0.85, 0.9, 0));
        samples.push(FaceSample {
            track_id: STAFF,
            interval_s: 0.2,
            yaw_deg: 180.0,
            pitch_deg: 0.0,
            face: [850.123_4, 812.345_6],
            expression: Some([0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]), // angry
        });
        // Ids unknown to the table are dropped too.
        samples.push(FaceSample {
            track_id: 123_456_789,
            ..samples[0]
        });
        a.update(at(ms), &tracks, &mut out).unwrap();
        for s in &samples {
            // The pipeline asks first; the analytics drops what it should not get anyway.
            let _ = a.face_eligible(s.track_id);
        }
        a.face_samples(&samples);
    }
    a.finish(at(seconds * 1000), &mut out);
    out
}

fn faces_of(out: &[MetricRecord]) -> Vec<&FacesRecord> {
    out.iter()
        .filter_map(|r| match r {
            MetricRecord::Faces(f) => Some(f),
            _ => None,
        })
        .collect()
}

#[test]
fn staff_count_nowhere_and_the_figures_are_the_shoppers() {
    let mut a = analytics(5, true);
    assert!(!a.face_eligible(STAFF), "unknown before the first update");
    let out = run(&mut a, 6, |i| i < 3, 59);
    assert!(!a.face_eligible(STAFF), "staff are never eligible");
    assert!(a.face_eligible(ID0));
    let faces = faces_of(&out);
    let window: Vec<_> = faces
        .iter()
        .filter(|f| f.header.period == aisle_types::metrics::Period::Window)
        .collect();
    assert_eq!(window.len(), 1, "{faces:?}");
    let f = window[0];
    assert!(f.emotion_enabled);
    // Staff zones publish nothing, faces included.
    assert_eq!(f.zones.len(), 1);
    let z = &f.zones[0];
    assert_eq!(
        (z.zone.as_str(), z.zone_kind, z.suppressed),
        ("shelf", ZoneKind::Display, false)
    );
    assert_eq!(z.visitors_sampled, Some(6));
    let samples = z.faces_sampled.unwrap();
    assert_eq!(samples, 6 * (59 * 5 + 1));
    let e = z.emotion.as_ref().unwrap();
    assert_eq!(e.samples, samples);
    // Three happy, three sad shoppers; the staff member's anger counts nowhere.
    let d = &e.distribution;
    assert_eq!(d.len(), EXPRESSION_CLASSES.len());
    assert!(
        (d[1] - 0.5).abs() < 1e-9 && (d[2] - 0.5).abs() < 1e-9 && d[3] == 0.0,
        "{d:?}"
    );
    assert!(e.valence_mean.unwrap().abs() < 1e-9);
    // Three of the six faced the display, every sample: 3 x 0.2 s x 296 samples.
    let att = z.attention.as_ref().unwrap();
    assert_eq!(att.visitors_looked, 3);
    assert!(
        (att.seconds - 3.0 * 0.2 * f64::from(59 * 5 + 1)).abs() < 1e-6,
        "{att:?}"
    );
    assert_eq!(att.share, Some(0.5));
    let stats = a.stats();
    assert!(stats.face_samples_excluded >= 2 * (59 * 5 + 1), "{stats:?}");
    assert_eq!(stats.face_samples, u64::from(samples));
}

#[test]
fn too_few_shoppers_sampled_suppress_the_zone() {
    let mut a = analytics(5, true);
    let out = run(&mut a, 3, |_| true, 30);
    let f = faces_of(&out)[0];
    let z = &f.zones[0];
    assert!(z.suppressed);
    assert!(z.faces_sampled.is_none() && z.visitors_sampled.is_none());
    assert!(z.emotion.is_none() && z.attention.is_none());
}

#[test]
fn attention_only_publishes_no_emotion() {
    let mut a = analytics(5, false);
    let out = run(&mut a, 6, |_| true, 30);
    let f = faces_of(&out)[0];
    assert!(!f.emotion_enabled);
    assert!(f.zones[0].emotion.is_none());
    assert_eq!(f.zones[0].attention.as_ref().unwrap().visitors_looked, 6);
}

#[test]
fn faces_records_hold_aggregates_only() {
    let mut a = analytics(5, true);
    let out = run(&mut a, 7, |i| i % 2 == 0, 125);
    let faces = faces_of(&out);
    // Two whole minutes and the partial third, plus the report window.
    assert!(faces.len() >= 4, "{}", faces.len());
    for f in faces {
        let json = serde_json::to_string(f).unwrap();
        for needle in [
            "98765",
            "123456789",
            "312.34",
            "850.12",
            "track",
            "\"id\":9",
        ] {
            assert!(!json.contains(needle), "{needle} in {json}");
        }
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        for k in &keys {
            assert!(
                [
                    "schema",
                    "id",
                    "camera",
                    "period",
                    "window",
                    "suppressed",
                    "min_visitors",
                    "emotion_enabled",
                    "zones",
                    "historical"
                ]
                .contains(k),
                "unexpected key {k} in {json}"
            );
        }
        for z in v["zones"].as_array().unwrap() {
            for k in z.as_object().unwrap().keys() {
                assert!(
                    [
                        "zone",
                        "zone_kind",
                        "suppressed",
                        "faces_sampled",
                        "visitors_sampled",
                        "emotion",
                        "attention"
                    ]
                    .contains(&k.as_str()),
                    "unexpected zone key {k} in {json}"
                );
            }
        }
    }
}
