//! A real metric record through the spool and back, marked historical at replay.

use aisle_fleet::{mark_historical, Spool, SpoolOptions};
use aisle_types::metrics::{LineRecord, MetricRecord, Period, RecordHeader};

fn record() -> MetricRecord {
    MetricRecord::Line(LineRecord {
        header: RecordHeader::new(
            "cam1",
            "door",
            Period::Window,
            1_764_099_840,
            60,
            59.5,
            5,
            false,
        ),
        line: "door".into(),
        crossings_in: Some(12),
        crossings_out: Some(9),
    })
}

#[test]
fn a_replayed_record_keeps_its_id_and_says_historical() {
    let dir = tempfile::tempdir().unwrap();
    let json = serde_json::to_vec(&record()).unwrap();
    {
        let (mut spool, _) = Spool::open(dir.path(), SpoolOptions::default()).unwrap();
        spool
            .append("aisle/v1/s/d/cam1/door/metrics", &json)
            .unwrap();
    }
    let (spool, rec) = Spool::open(dir.path(), SpoolOptions::default()).unwrap();
    assert_eq!(rec.entries, 1);
    let entry = spool.pending().next().unwrap().unwrap();
    assert_eq!(entry.payload, json);
    let replayed = mark_historical(&entry.payload).unwrap();
    let value: serde_json::Value = serde_json::from_slice(&replayed).unwrap();
    assert_eq!(value["historical"], serde_json::Value::Bool(true));
    assert_eq!(value["id"], "cam1/door/window/1764099840");
    // Everything else is byte for byte the original record.
    let mut original: serde_json::Value = serde_json::from_slice(&json).unwrap();
    original
        .as_object_mut()
        .unwrap()
        .insert("historical".into(), true.into());
    assert_eq!(value, original);
    // Subscribers that parse with aisle-types read it as the same record, flagged historical
    // (`RecordHeader::historical`, an optional field of schema v1).
    let typed: MetricRecord = serde_json::from_slice(&replayed).unwrap();
    assert!(typed.header().historical);
    let mut live: MetricRecord = serde_json::from_slice(&entry.payload).unwrap();
    assert_eq!(live, record());
    live.header_mut().historical = true;
    assert_eq!(typed, live);
}
