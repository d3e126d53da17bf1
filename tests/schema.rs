//! The committed JSON Schema of the metric records (`docs/schema/metrics-v1.schema.json`) is the
//! one generated from the Rust types, and `aisle schema` prints it.
//!
//! Subscribers validate against the committed file: changing it is allowed only with a schema
//! version bump or an additive change (a new optional field, a new record type).

mod records;

use std::process::Command;

const REGENERATE: &str = "cargo run -p aisled -- schema > docs/schema/metrics-v1.schema.json";

#[test]
fn committed_schema_equals_the_generated_one() {
    let path = records::schema_path();
    let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}; generate it with `{REGENERATE}`",
            path.display()
        )
    });
    let generated = aisle_types::metrics::metrics_json_schema();
    assert!(
        committed == generated,
        "{} differs from aisle_types::metrics::metrics_json_schema(): the metric record types \
         changed. Regenerate it with `{REGENERATE}`, which is allowed only with a schema \
         version bump (aisle.metrics.v2, a new file) or an additive change (new optional \
         fields or record types) that v1 subscribers can ignore.",
        records::SCHEMA_FILE
    );
}

#[test]
fn aisle_schema_prints_the_generated_schema() {
    for args in [&["schema"][..], &["schema", "metrics"][..]] {
        let o = Command::new(env!("CARGO_BIN_EXE_aisle"))
            .args(args)
            .output()
            .expect("aisle runs");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(
            String::from_utf8(o.stdout).unwrap(),
            aisle_types::metrics::metrics_json_schema()
        );
    }
}

#[test]
fn the_schema_accepts_a_record_and_refuses_a_broken_one() {
    let v = records::validator();
    let header = aisle_types::metrics::RecordHeader::new(
        "front",
        "door",
        aisle_types::metrics::Period::Window,
        1_767_225_600,
        60,
        60.0,
        5,
        false,
    );
    let good = aisle_types::metrics::MetricRecord::Line(aisle_types::metrics::LineRecord {
        header,
        line: "door".into(),
        crossings_in: Some(7),
        crossings_out: Some(3),
    });
    let mut json = serde_json::to_value(&good).unwrap();
    assert!(v.is_valid(&json), "{json}");
    json["crossings_in"] = serde_json::json!("seven");
    assert!(!v.is_valid(&json));
    json["crossings_in"] = serde_json::json!(7);
    json["type"] = serde_json::json!("person");
    assert!(!v.is_valid(&json));

    // A record replayed from the spool carries `"historical": true` (inserted into the stored
    // JSON by aisle_fleet::mark_historical) and is still valid; any other value is not.
    json["type"] = serde_json::json!("line");
    assert!(v.is_valid(&json));
    let replayed = aisle_fleet::mark_historical(&serde_json::to_vec(&good).unwrap()).unwrap();
    let replayed: serde_json::Value = serde_json::from_slice(&replayed).unwrap();
    assert_eq!(replayed["historical"], serde_json::json!(true));
    assert!(v.is_valid(&replayed), "{replayed}");
    let back: aisle_types::metrics::MetricRecord = serde_json::from_value(replayed).unwrap();
    assert!(back.header().historical);
    json["historical"] = serde_json::json!("yes");
    assert!(!v.is_valid(&json));
}

/// The committed schemas of the other MQTT payloads (`docs/mqtt/schemas/`) are the ones generated
/// from the types, file for file, and `aisle schema mqtt --out` writes exactly them.
#[test]
fn committed_mqtt_schemas_equal_the_generated_ones() {
    let dir = records::schema_path()
        .parent()
        .unwrap()
        .join("../mqtt/schemas");
    let regenerate = "cargo run -p aisled -- schema mqtt --out docs/mqtt/schemas";
    let generated = aisle_fleet::payload::mqtt_schemas();
    let mut committed: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}; generate with `{regenerate}`", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    committed.sort();
    let mut names: Vec<String> = generated.iter().map(|(n, _)| n.to_string()).collect();
    names.sort();
    assert_eq!(
        committed, names,
        "files in docs/mqtt/schemas; `{regenerate}`"
    );
    for (name, text) in &generated {
        let on_disk = std::fs::read_to_string(dir.join(name)).unwrap();
        assert!(
            &on_disk == text,
            "docs/mqtt/schemas/{name} differs from the types: the payload changed. Regenerate \
             with `{regenerate}` (a v1 payload may only gain optional fields)"
        );
    }
    let out = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_aisle"))
        .args(["schema", "mqtt", "--out"])
        .arg(out.path())
        .output()
        .expect("aisle runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for (name, text) in &generated {
        assert_eq!(
            &std::fs::read_to_string(out.path().join(name)).unwrap(),
            text
        );
    }
    let o = Command::new(env!("CARGO_BIN_EXE_aisle"))
        .args(["schema", "mqtt"])
        .output()
        .expect("aisle runs");
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--out"));
}

/// `docs/mqtt/asyncapi.yaml` refers to every schema file, and every file it refers to exists.
#[test]
fn the_asyncapi_document_refers_to_every_schema() {
    let docs = records::schema_path().parent().unwrap().join("..");
    let api = std::fs::read_to_string(docs.join("mqtt/asyncapi.yaml")).expect("asyncapi.yaml");
    assert!(api.contains("asyncapi: 3.0.0"));
    let refs: Vec<&str> = api
        .lines()
        .filter_map(|l| l.trim().strip_prefix("$ref: '"))
        .filter_map(|r| r.strip_suffix('\''))
        .filter(|r| !r.starts_with('#'))
        .collect();
    for r in &refs {
        let path = docs.join("mqtt").join(r);
        assert!(
            path.is_file(),
            "asyncapi.yaml refers to {r}, which is missing"
        );
    }
    for (name, _) in aisle_fleet::payload::mqtt_schemas() {
        assert!(
            refs.contains(&format!("./schemas/{name}").as_str()),
            "asyncapi.yaml does not refer to schemas/{name}"
        );
    }
    assert!(refs.contains(&"../schema/metrics-v1.schema.json"));
    // Every internal reference names a component or channel that is defined.
    for r in api
        .lines()
        .filter_map(|l| l.trim().strip_prefix("$ref: '#/"))
        .filter_map(|r| r.strip_suffix('\''))
    {
        let name = r.rsplit('/').next().unwrap();
        assert!(
            api.contains(&format!("\n    {name}:\n")) || api.contains(&format!("\n  {name}:\n")),
            "asyncapi.yaml: #/{r} is not defined"
        );
    }
}
