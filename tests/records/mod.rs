//! Shared checks of the metric records that `aisle run` and `aisle replay` print: every line
//! parses as a record of schema v1, validates against the committed JSON Schema
//! (`docs/schema/metrics-v1.schema.json`) and carries no track id.
#![allow(dead_code)]

use std::path::PathBuf;

use aisle_types::metrics::MetricRecord;
use serde_json::Value;

pub const SCHEMA_FILE: &str = "docs/schema/metrics-v1.schema.json";

pub fn schema_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(SCHEMA_FILE)
}

/// A validator of the committed schema.
pub fn validator() -> jsonschema::Validator {
    let path = schema_path();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let schema: Value = serde_json::from_str(&text).expect("the schema is JSON");
    jsonschema::validator_for(&schema).expect("the schema is a valid JSON Schema")
}

/// One printed record: the JSON as printed and the typed record.
pub struct Printed {
    pub json: Value,
    pub record: MetricRecord,
}

/// Parses every line of `stdout` and checks it against the schema and the privacy rule.
pub fn parse(stdout: &str) -> Vec<Printed> {
    let v = validator();
    stdout
        .lines()
        .enumerate()
        .map(|(n, line)| {
            let json: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("line {}: not JSON ({e}): {line}", n + 1));
            let errors: Vec<String> = v.iter_errors(&json).map(|e| e.to_string()).collect();
            assert!(
                errors.is_empty(),
                "line {} does not validate against {SCHEMA_FILE}: {errors:?}\n{line}",
                n + 1
            );
            assert_no_track_ids(&json, "");
            let record: MetricRecord = serde_json::from_value(json.clone())
                .unwrap_or_else(|e| panic!("line {}: not a MetricRecord ({e}): {line}", n + 1));
            Printed { json, record }
        })
        .collect()
}

/// No key anywhere names a track, a person or a box: only the record's own `id` (its stable
/// `camera/subject/period/start`) is an id.
pub fn assert_no_track_ids(v: &Value, path: &str) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = format!("{path}/{k}");
                let key = k.to_ascii_lowercase();
                let suspicious = key.contains("track")
                    || key.contains("person_id")
                    || key.contains("bbox")
                    || (key.ends_with("id") && p != "/id")
                    || key.ends_with("_ids");
                assert!(!suspicious, "record field {p} looks like an individual's");
                assert_no_track_ids(x, &p);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                assert_no_track_ids(x, &format!("{path}/{i}"));
            }
        }
        _ => {}
    }
}

/// The Unix seconds of an RFC 3339 UTC time as the records print it (`2026-01-01T00:01:00Z`).
pub fn unix_s(rfc3339: &str) -> i64 {
    let n = |r: std::ops::Range<usize>| -> i64 { rfc3339[r].parse().expect("digits") };
    assert!(rfc3339.len() == 20 && rfc3339.ends_with('Z'), "{rfc3339}");
    let (y, m, d) = (n(0..4), n(5..7), n(8..10));
    let (hh, mm, ss) = (n(11..13), n(14..16), n(17..19));
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + hh * 3600 + mm * 60 + ss
}

/// Checks what every record of a run must satisfy: the stable id
/// `<camera>/<subject>/<period>/<start unix s>`, windows aligned to multiples of their length,
/// and ids unique.
pub fn assert_headers(records: &[Printed], camera: &str) {
    let mut ids = std::collections::BTreeSet::new();
    for p in records {
        let h = p.record.header();
        assert_eq!(h.schema, "aisle.metrics.v1");
        assert_eq!(h.camera, camera);
        let start = unix_s(&h.window.start);
        let end = unix_s(&h.window.end);
        assert_eq!(end - start, i64::from(h.window.length_s), "{}", h.id);
        assert_eq!(
            start % i64::from(h.window.length_s),
            0,
            "unaligned: {}",
            h.id
        );
        assert!(
            h.window.observed_s >= 0.0
                && h.window.observed_s <= f64::from(h.window.length_s) + 1e-6,
            "{}: observed_s {}",
            h.id,
            h.window.observed_s
        );
        let want = format!(
            "{camera}/{}/{}/{start}",
            p.record.subject(),
            h.period.as_str()
        );
        assert_eq!(h.id, want);
        assert!(ids.insert(h.id.clone()), "duplicate record id {}", h.id);
        if h.suppressed {
            assert_suppressed(p);
        }
    }
}

/// A suppressed record carries no figure.
fn assert_suppressed(p: &Printed) {
    match &p.record {
        MetricRecord::Zone(z) => assert!(
            z.visitors.is_none()
                && z.entries.is_none()
                && z.occupancy.is_none()
                && z.dwell.is_none(),
            "suppressed but has figures: {}",
            p.json
        ),
        MetricRecord::Line(l) => assert!(
            l.crossings_in.is_none() && l.crossings_out.is_none(),
            "suppressed but has figures: {}",
            p.json
        ),
        MetricRecord::Camera(c) => assert!(
            c.visitors.is_none() && c.person_seconds.is_none(),
            "suppressed but has figures: {}",
            p.json
        ),
        // A faces record is never suppressed as a whole: its zones are, one by one.
        MetricRecord::Faces(_) => panic!("a faces record is suppressed as a whole: {}", p.json),
    }
}
