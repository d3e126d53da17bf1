//! Validation of MQTT payloads against the committed JSON Schemas of the API
//! (`docs/mqtt/schemas/`, `docs/schema/metrics-v1.schema.json`, referred to by
//! `docs/mqtt/asyncapi.yaml`), by topic. Shared by the broker tests of aisle-fleet and the
//! end-to-end tests of aisled.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::OnceLock;

fn docs() -> PathBuf {
    // Both crates/aisle-fleet and crates/aisled are two levels below the repository root.
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs")
}

fn validator(file: &str) -> &'static jsonschema::Validator {
    static CACHE: OnceLock<std::sync::Mutex<HashMap<String, &'static jsonschema::Validator>>> =
        OnceLock::new();
    let mut cache = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    cache.entry(file.to_string()).or_insert_with(|| {
        let path = docs().join(file);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let schema: serde_json::Value = serde_json::from_str(&text).expect("a JSON schema");
        Box::leak(Box::new(
            jsonschema::validator_for(&schema).expect("a valid JSON Schema"),
        ))
    })
}

/// The schema file of what the device publishes on `topic` (`aisle/v1/<site>/<device>/...`).
pub fn schema_of(topic: &str) -> &'static str {
    let levels: Vec<&str> = topic.split('/').collect();
    assert!(
        levels.len() >= 5 && levels[0] == "aisle" && levels[1] == "v1",
        "not a device topic: {topic}"
    );
    match (levels.len(), *levels.last().unwrap()) {
        (5, "status") => "mqtt/schemas/status.schema.json",
        (5, "config") => "mqtt/schemas/config.schema.json",
        (5, "health") => "mqtt/schemas/health.schema.json",
        (7, "metrics") => "schema/metrics-v1.schema.json",
        (7, "live") => "mqtt/schemas/live.schema.json",
        _ => panic!("a topic the API does not define: {topic}"),
    }
}

fn check(file: &str, what: &str, payload: &[u8]) {
    let value: serde_json::Value = serde_json::from_slice(payload).unwrap_or_else(|e| {
        panic!(
            "{what}: not JSON ({e}): {}",
            String::from_utf8_lossy(payload)
        )
    });
    let errors: Vec<String> = validator(file)
        .iter_errors(&value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} does not validate against docs/{file}: {errors:?}\n{value}"
    );
}

/// Asserts that a message the device published on `topic` validates against its schema.
/// Requests on `cmd/...` are skipped: they are the test's own (some deliberately malformed),
/// not the device's.
pub fn validate(topic: &str, payload: &[u8]) {
    if topic.split('/').nth(4) == Some("cmd") {
        return;
    }
    check(schema_of(topic), topic, payload);
}

/// Asserts that a command reply validates against its schema.
pub fn validate_reply(payload: &[u8]) {
    check(
        "mqtt/schemas/cmd-reply.schema.json",
        "a command reply",
        payload,
    );
}
