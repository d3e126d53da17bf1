//! Payloads of the device-wide topics that are not metric records: `health` (periodic) and
//! `<camera>/<zone>/live` (occupancy now). Typed, serialised as JSON, each with a JSON Schema
//! generated from the types (`docs/mqtt/`).
//!
//! Nothing here describes a person: health is about cameras, stages, the spool and the link;
//! `live` is a zone's head count.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::link::state::LinkCounters;
use crate::spool::SpoolStats;

/// `schema` of [`Health`] payloads.
pub const HEALTH_SCHEMA: &str = "aisle.health.v1";
/// `schema` of [`Live`] payloads.
pub const LIVE_SCHEMA: &str = "aisle.live.v1";

/// The retained message on `status`: the birth (`online`, with what the device runs), the Last
/// Will (`offline`) and the clean shutdown (`stopped`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Status {
    pub state: StatusState,
    /// Birth: firmware version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Birth: the camera ids the device runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cameras: Option<Vec<String>>,
    /// Birth: the models it runs (names in the model manifest, e.g. `centernet`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<String>>,
    /// Birth, when commands are on: the hash of the configuration in effect (as on `config`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_hash: Option<String>,
    /// Birth, with `[faces]` on: what face analysis runs, and how shoppers are informed of
    /// emotion recognition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub faces: Option<FacesStatus>,
}

/// What face analysis a device runs (`[faces]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FacesStatus {
    pub attention: bool,
    pub emotion: bool,
    /// `[faces] shoppers_informed`: how shoppers are informed of emotion recognition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shoppers_informed: Option<String>,
}

/// The device's state on `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatusState {
    /// Connected and running (the birth message).
    Online,
    /// Gone without a clean shutdown (the Last Will, published by the broker).
    Offline,
    /// Shut down cleanly.
    Stopped,
}

impl Status {
    /// A status with only `state`.
    pub fn only(state: StatusState) -> Self {
        Self {
            state,
            version: None,
            cameras: None,
            models: None,
            config_hash: None,
            faces: None,
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_else(|_| br#"{"state":"online"}"#.to_vec())
    }
}

/// A command that takes no arguments (`ping`, `config/get`, `restart`): an empty payload or
/// `{}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArguments {}

/// The periodic `health` message (not retained; QoS 0, message expiry of two intervals).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// Always [`HEALTH_SCHEMA`].
    pub schema: String,
    /// When the report was made, RFC 3339 UTC.
    pub at: String,
    /// Firmware version.
    pub version: String,
    /// Seconds since the process started.
    pub uptime_s: f64,
    /// Seconds covered by the interval figures (since the previous report).
    pub interval_s: f64,
    pub cameras: Vec<CameraHealth>,
    pub spool: SpoolHealth,
    pub link: LinkHealth,
}

/// What a camera pipeline is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CameraState {
    /// Opening the source, loading models.
    Starting,
    /// Frames flow.
    Running,
    /// The source was lost; reconnecting.
    Reconnecting,
    /// A file source reached its end.
    Ended,
    /// Stopped on an error (`error` says which).
    Failed,
}

/// One camera pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CameraHealth {
    pub camera: String,
    pub state: CameraState,
    /// Frames analysed per second over the interval.
    pub fps: f64,
    /// Since start: frames decoded.
    pub frames_decoded: u64,
    /// Since start: frames analysed (detection, tracking, analytics).
    pub frames_analysed: u64,
    /// Since start: frames lost to decoding errors.
    pub frames_dropped: u64,
    /// Since start: times the source was lost.
    pub outages: u64,
    /// People tracked in the latest analysed frame.
    pub tracks: u32,
    /// Per stage over the interval, milliseconds per analysed frame.
    pub latency_ms: StageLatencies,
    /// The latest error, if the camera failed or is reconnecting.
    pub error: Option<String>,
}

/// Mean and maximum of a stage's time per frame over the interval; `None` without frames.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Latency {
    pub mean: f64,
    pub max: f64,
}

/// The stages of a camera pipeline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StageLatencies {
    /// Reading and decoding a frame (waiting for the source included).
    pub decode: Option<Latency>,
    /// Frame to model input.
    pub preprocess: Option<Latency>,
    /// The detector model.
    pub infer: Option<Latency>,
    /// Decoding the model output (boxes, NMS).
    pub postprocess: Option<Latency>,
    /// The tracker.
    pub track: Option<Latency>,
    /// The zone analytics.
    pub analytics: Option<Latency>,
}

/// The on-disk spool of metric records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SpoolHealth {
    /// Records waiting for the broker's acknowledgement.
    pub pending: u64,
    /// Disk used.
    pub bytes: u64,
    /// The bound (`mqtt.spool_max_bytes`).
    pub max_bytes: u64,
    /// Since start: records appended, acknowledged.
    pub appended: u64,
    pub acked: u64,
    /// Since start: oldest records deleted unsent because the spool was full.
    pub evicted: u64,
    pub evicted_bytes: u64,
    /// At start: damaged regions skipped and torn tails repaired (after a power cut).
    pub corrupt_regions: u64,
    pub torn_tails_repaired: u64,
}

impl SpoolHealth {
    /// From the spool's statistics and its bound.
    pub fn new(stats: &SpoolStats, max_bytes: u64) -> Self {
        Self {
            pending: stats.entries as u64,
            bytes: stats.bytes,
            max_bytes,
            appended: stats.appended,
            acked: stats.acked,
            evicted: stats.evicted_entries,
            evicted_bytes: stats.evicted_bytes,
            corrupt_regions: stats.corrupt_regions,
            torn_tails_repaired: stats.torn_tails_repaired,
        }
    }
}

/// The MQTT link.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkHealth {
    pub connected: bool,
    /// Since start: connections accepted by the broker.
    pub connections: u64,
    /// Since start: records sent (replays included), of them replayed, acknowledged, refused.
    pub records_sent: u64,
    pub records_replayed: u64,
    pub records_acked: u64,
    pub records_refused: u64,
}

impl LinkHealth {
    pub fn new(connected: bool, c: &LinkCounters) -> Self {
        Self {
            connected,
            connections: c.connections,
            records_sent: c.records_sent,
            records_replayed: c.records_replayed,
            records_acked: c.records_acked,
            records_refused: c.records_refused,
        }
    }
}

/// `<camera>/<zone>/live`: the zone's occupancy now (retained, QoS 0, short message expiry),
/// published when it changes (at most once a second per zone) and on every reconnect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Live {
    /// Always [`LIVE_SCHEMA`].
    pub schema: String,
    pub camera: String,
    pub zone: String,
    pub zone_kind: aisle_types::metrics::ZoneKind,
    /// Customers in the zone now.
    pub occupancy: u32,
    /// The zone's configured capacity, if any.
    pub capacity: Option<u32>,
    /// When the count was taken, RFC 3339 UTC with milliseconds.
    pub at: String,
}

/// The JSON Schemas of every MQTT payload but the metric records (`aisle_types::metrics`,
/// `docs/schema/metrics-v1.schema.json`), as (file name under `docs/mqtt/schemas/`, schema).
pub fn mqtt_schemas() -> Vec<(&'static str, String)> {
    use crate::command::{ConfigMessage, ConfigSetRequest, Reply, ZonesSetRequest};
    vec![
        ("status.schema.json", json_schema::<Status>()),
        ("config.schema.json", json_schema::<ConfigMessage>()),
        ("health.schema.json", json_schema::<Health>()),
        ("live.schema.json", json_schema::<Live>()),
        ("cmd-no-arguments.schema.json", json_schema::<NoArguments>()),
        (
            "cmd-config-set.schema.json",
            json_schema::<ConfigSetRequest>(),
        ),
        (
            "cmd-zones-set.schema.json",
            json_schema::<ZonesSetRequest>(),
        ),
        ("cmd-reply.schema.json", json_schema::<Reply>()),
    ]
}

/// The JSON Schema of payload type `T`, pretty-printed with a final newline.
pub fn json_schema<T: JsonSchema>() -> String {
    let schema = schemars::schema_for!(T);
    let mut s = serde_json::to_string_pretty(&schema).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_round_trips_and_its_schema_validates_it() {
        let h = Health {
            schema: HEALTH_SCHEMA.into(),
            at: "2026-11-25T23:00:00Z".into(),
            version: "0.1.0".into(),
            uptime_s: 12.5,
            interval_s: 10.0,
            cameras: vec![CameraHealth {
                camera: "front".into(),
                state: CameraState::Running,
                fps: 9.9,
                frames_decoded: 250,
                frames_analysed: 100,
                frames_dropped: 0,
                outages: 1,
                tracks: 3,
                latency_ms: StageLatencies {
                    infer: Some(Latency {
                        mean: 21.0,
                        max: 30.5,
                    }),
                    ..StageLatencies::default()
                },
                error: None,
            }],
            spool: SpoolHealth::default(),
            link: LinkHealth::default(),
        };
        let json = serde_json::to_value(&h).unwrap();
        let back: Health = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back, h);
        assert_eq!(json["cameras"][0]["state"], "running");
        let schema: serde_json::Value = serde_json::from_str(&json_schema::<Health>()).unwrap();
        assert_eq!(schema["title"], "Health");
        assert!(schema["required"]
            .as_array()
            .unwrap()
            .contains(&"spool".into()));
    }
}
