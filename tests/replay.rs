//! `aisle replay`: MOTChallenge detections -> tracker -> zone analytics -> metric records (JSON
//! lines), checked against the schema and, on a hand-made sequence, figure by figure.

mod records;

use std::path::Path;
use std::process::{Command, Output};

use aisle_types::metrics::{MetricRecord, Period};
use records::Printed;

fn aisle(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aisle"))
        .args(args)
        .output()
        .expect("aisle runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn replay(dir: &Path, config: &str, det: &str, camera: &str, size: (u32, u32)) -> Output {
    let cfg = dir.join("aisle.toml");
    std::fs::write(&cfg, config).unwrap();
    let det_path = dir.join("det.txt");
    std::fs::write(&det_path, det).unwrap();
    let (w, h) = (size.0.to_string(), size.1.to_string());
    aisle(&[
        "replay",
        "--config",
        cfg.to_str().unwrap(),
        "--det",
        det_path.to_str().unwrap(),
        "--camera",
        camera,
        "--fps",
        "10",
        "--width",
        &w,
        "--height",
        &h,
        "--start",
        "2026-01-01T00:00:00Z",
    ])
}

/// Six people walk left to right across a 1280x720 view, one after the other, each visible for
/// 3 s (30 frames at 10 fps, 33 px per frame): through `start` (x < 0.3, where they appear),
/// `middle` (0.4 <= x < 0.6, crossed in ~0.8 s) and over the line `gate` at x = 0.5. The last
/// two walk lower in the image, through `kerb` (y >= 0.9): too few for k = 5.
fn walkers() -> String {
    let mut det = String::new();
    for k in 0..6u32 {
        let first = 1 + 50 * k;
        let (y1, h) = if k >= 4 {
            (400.0, 300.0)
        } else {
            (300.0, 300.0)
        };
        for i in 0..30u32 {
            let x1 = 100.0 + f64::from(i) * 33.3;
            det.push_str(&format!(
                "{},-1,{x1:.1},{y1:.1},100.0,{h:.1},0.9,-1,-1,-1\n",
                first + i
            ));
        }
    }
    det
}

const WALKERS_CONFIG: &str = r#"
[[cameras]]
id = "door"
url = "rtsp://127.0.0.1/replayed"

[analytics]
window_s = 60
min_visitors = 5
# A visit ends once its person has been out of the zone this long (hysteresis on the border);
# the last walker leaves `middle` 1.2 s before the input ends: their visit must be closed too.
reentry_gap_s = 0.5

[[zones]]
camera = "door"
name = "start"
kind = "entrance"
polygon = [[0.0, 0.0], [0.3, 0.0], [0.3, 1.0], [0.0, 1.0]]

[[zones]]
camera = "door"
name = "middle"
kind = "aisle"
polygon = [[0.4, 0.0], [0.6, 0.0], [0.6, 1.0], [0.4, 1.0]]

[[zones]]
camera = "door"
name = "kerb"
kind = "aisle"
polygon = [[0.0, 0.9], [1.0, 0.9], [1.0, 1.0], [0.0, 1.0]]

[[lines]]
camera = "door"
name = "gate"
from = [0.5, 0.0]
to = [0.5, 1.0]
"#;

fn windows<'a>(recs: &'a [Printed], subject: &str) -> Vec<&'a MetricRecord> {
    recs.iter()
        .map(|p| &p.record)
        .filter(|r| r.subject() == subject && r.header().period == Period::Window)
        .collect()
}

#[test]
fn replay_counts_people_walking_through_zones_and_over_a_line() {
    let dir = tempfile::tempdir().unwrap();
    let o = replay(dir.path(), WALKERS_CONFIG, &walkers(), "door", (1280, 720));
    assert!(o.status.success(), "{}", stderr(&o));
    let stdout = String::from_utf8(o.stdout.clone()).unwrap();
    let recs = records::parse(&stdout);
    records::assert_headers(&recs, "door");
    assert!(!recs.is_empty(), "no records; stderr:\n{}", stderr(&o));

    // One 60 s window, partial: the input is 280 frames, 28.0 s.
    for subject in ["start", "middle", "kerb", "gate", "camera"] {
        let w = windows(&recs, subject);
        assert_eq!(w.len(), 1, "{subject}: {w:?}");
        let h = w[0].header();
        assert_eq!(h.window.start, "2026-01-01T00:00:00Z");
        assert_eq!(h.window.end, "2026-01-01T00:01:00Z");
        assert!(
            (h.window.observed_s - 28.0).abs() < 0.15,
            "{subject}: observed {}",
            h.window.observed_s
        );
        assert_eq!(h.min_visitors, 5);
        // And the report window (15 min) that holds it.
        let reports: Vec<_> = recs
            .iter()
            .filter(|p| p.record.subject() == subject && p.record.header().period == Period::Report)
            .collect();
        assert_eq!(reports.len(), 1, "{subject}");
        assert_eq!(
            reports[0].record.header().window.end,
            "2026-01-01T00:15:00Z"
        );
    }

    let MetricRecord::Zone(middle) = windows(&recs, "middle")[0] else {
        panic!("middle is a zone record")
    };
    assert!(!middle.header.suppressed, "{middle:?}");
    assert_eq!(middle.visitors, Some(6));
    assert_eq!(middle.entries, Some(6));
    let dwell = middle.dwell.as_ref().expect("dwell");
    assert_eq!(dwell.count, 6);
    // 256 px at 333 px/s: about 0.8 s each, all bounces (< 2 s).
    let p50 = dwell.p50_s.expect("p50");
    assert!((0.5..=1.2).contains(&p50), "p50 {p50}");
    assert_eq!(middle.bounces, Some(6));
    assert_eq!(middle.engaged, Some(0));
    assert_eq!(dwell.in_progress, 0);

    let MetricRecord::Zone(start) = windows(&recs, "start")[0] else {
        panic!("start is a zone record")
    };
    assert_eq!(start.visitors, Some(6));
    let to_middle: u32 = start
        .transitions
        .as_ref()
        .expect("transitions")
        .iter()
        .filter(|t| t.to == "middle")
        .map(|t| t.count)
        .sum();
    assert_eq!(to_middle, 6, "{start:?}");

    // Two visitors only: k-anonymity suppresses every figure.
    let MetricRecord::Zone(kerb) = windows(&recs, "kerb")[0] else {
        panic!("kerb is a zone record")
    };
    assert!(kerb.header.suppressed, "{kerb:?}");
    assert_eq!(kerb.visitors, None);

    let MetricRecord::Line(gate) = windows(&recs, "gate")[0] else {
        panic!("gate is a line record")
    };
    // Walking from `from` (top) to `to` (bottom), left is the image's +x side (the view as a
    // map): people walking right cross towards the left side, `in` by default.
    assert_eq!((gate.crossings_in, gate.crossings_out), (Some(6), Some(0)));

    let MetricRecord::Camera(camera) = windows(&recs, "camera")[0] else {
        panic!("camera is a camera record")
    };
    assert_eq!(camera.visitors, Some(6));

    // Replays are reproducible: the same input gives the same bytes.
    let again = replay(dir.path(), WALKERS_CONFIG, &walkers(), "door", (1280, 720));
    assert_eq!(String::from_utf8(again.stdout).unwrap(), stdout);
}

/// The synthetic store's `moderate` scenario (4 min, ~10 people at a time) with its own zones,
/// as the tracker sees it without appearance: every record parses and validates.
#[test]
fn replay_of_the_simulated_store_gives_valid_records() {
    let scenario = aisle_sim::Scenario::by_name("moderate").unwrap();
    let sim = aisle_sim::simulate(&scenario).unwrap();
    let (w, h) = (sim.image_width, sim.image_height);
    assert_eq!((w, h), (1280, 720));
    let mut config = String::from(
        "[[cameras]]\nid = \"store\"\nurl = \"rtsp://127.0.0.1/simulated\"\n\n[analytics]\nwindow_s = 60\n",
    );
    let mut zones = Vec::new();
    for z in &sim.layout.zones {
        let mut poly: Vec<[f64; 2]> = Vec::new();
        for p in &z.image {
            let q = [
                (f64::from(p[0]) / f64::from(w)).clamp(0.0, 1.0),
                (f64::from(p[1]) / f64::from(h)).clamp(0.0, 1.0),
            ];
            let q = [(q[0] * 1e4).round() / 1e4, (q[1] * 1e4).round() / 1e4];
            if poly.last() != Some(&q) && poly.first() != Some(&q) {
                poly.push(q);
            }
        }
        if poly.len() < 3 || area(&poly) < 1e-4 {
            continue;
        }
        let pts: Vec<String> = poly
            .iter()
            .map(|p| format!("[{}, {}]", p[0], p[1]))
            .collect();
        config.push_str(&format!(
            "\n[[zones]]\ncamera = \"store\"\nname = \"{}\"\nkind = \"{}\"\npolygon = [{}]\n",
            z.name,
            z.kind.as_str(),
            pts.join(", ")
        ));
        zones.push(z.name.clone());
    }
    assert!(zones.len() >= 5, "zones in view: {zones:?}");
    config.push_str(
        "\n[[lines]]\ncamera = \"store\"\nname = \"midline\"\nfrom = [0.0, 0.6]\nto = [1.0, 0.6]\n",
    );
    let dir = tempfile::tempdir().unwrap();
    let o = replay(
        dir.path(),
        &config,
        &aisle_sim::to_motchallenge_det(&sim),
        "store",
        (w, h),
    );
    assert!(o.status.success(), "{}\nconfig:\n{config}", stderr(&o));
    let recs = records::parse(&String::from_utf8(o.stdout).unwrap());
    records::assert_headers(&recs, "store");
    // 240 s: four full windows per zone, line and camera.
    for subject in zones
        .iter()
        .map(String::as_str)
        .chain(["midline", "camera"])
    {
        let starts: Vec<&str> = windows(&recs, subject)
            .iter()
            .map(|r| r.header().window.start.as_str())
            .collect();
        assert_eq!(
            starts,
            [
                "2026-01-01T00:00:00Z",
                "2026-01-01T00:01:00Z",
                "2026-01-01T00:02:00Z",
                "2026-01-01T00:03:00Z"
            ],
            "{subject}"
        );
    }
    // Someone is counted somewhere: the store is busy enough for k = 5.
    let published = recs
        .iter()
        .filter(
            |p| matches!(&p.record, MetricRecord::Zone(z) if z.visitors.is_some_and(|v| v >= 5)),
        )
        .count();
    assert!(published > 0, "no zone published figures");
}

fn area(p: &[[f64; 2]]) -> f64 {
    let mut a = 0.0;
    for i in 0..p.len() {
        let (x0, y0) = (p[i][0], p[i][1]);
        let (x1, y1) = (p[(i + 1) % p.len()][0], p[(i + 1) % p.len()][1]);
        a += x0 * y1 - x1 * y0;
    }
    (a / 2.0).abs()
}

#[test]
fn replay_errors_name_the_camera_and_the_zone() {
    let dir = tempfile::tempdir().unwrap();
    let o = replay(
        dir.path(),
        WALKERS_CONFIG,
        &walkers(),
        "nowhere",
        (1280, 720),
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("nowhere") && err.contains("door"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    let bad = WALKERS_CONFIG.replace(
        "polygon = [[0.4, 0.0], [0.6, 0.0], [0.6, 1.0], [0.4, 1.0]]",
        "polygon = [[0.4, 0.0], [0.6, 0.0]]",
    );
    let o = replay(dir.path(), &bad, &walkers(), "door", (1280, 720));
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("zones[1].polygon"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
