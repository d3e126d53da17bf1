//! The MQTT topic tree (ARCHITECTURE.md, "MQTT (v5) topic tree"):
//!
//! ```text
//! aisle/v1/<site>/<device>/status                     retained birth; Last Will "offline"
//! aisle/v1/<site>/<device>/health                     periodic health
//! aisle/v1/<site>/<device>/config                     retained effective config
//! aisle/v1/<site>/<device>/cmd/<verb>                 commands (a verb may have several levels)
//! aisle/v1/<site>/<device>/<camera>/<subject>/metrics QoS 1, retained latest, message expiry
//! aisle/v1/<site>/<device>/<camera>/<zone>/live       retained occupancy now
//! ```
//!
//! Every name is one topic level: not empty, without `/`, the wildcards `+` and `#`, or NUL. A
//! camera may not be called `status`, `health`, `config` or `cmd`: `cmd/<x>/metrics` would fall
//! under the device's own command subscription `cmd/#`, and the other three would make
//! wildcard subscriptions such as `<base>/+/#` ambiguous to read.

use aisle_types::metrics::MetricRecord;

/// First levels of every topic: product and API version.
pub const ROOT: &str = "aisle/v1";

/// Level names a camera may not take (the device-wide topics).
pub const RESERVED_CAMERA_NAMES: [&str; 4] = ["status", "health", "config", "cmd"];

/// Longest topic name MQTT can carry (a UTF-8 string with a 16-bit length).
pub const MAX_TOPIC_BYTES: usize = u16::MAX as usize;

/// A name that cannot be a topic level; `what` says which name (`site`, `camera`, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    #[error("{what} is empty: a topic level needs at least one character")]
    Empty { what: &'static str },
    #[error("{what} {name:?} contains {found:?}, which cannot be part of an MQTT topic level")]
    Forbidden {
        what: &'static str,
        name: String,
        found: char,
    },
    #[error("camera {name:?} is reserved for a device-wide topic; rename the camera")]
    ReservedCamera { name: String },
    #[error("topic is {bytes} bytes long, more than MQTT's {MAX_TOPIC_BYTES}")]
    TooLong { bytes: usize },
}

/// Checks that `name` can be one topic level: not empty, no `/`, `+`, `#` or NUL.
pub fn check_level(what: &'static str, name: &str) -> Result<(), TopicError> {
    if name.is_empty() {
        return Err(TopicError::Empty { what });
    }
    if let Some(found) = name.chars().find(|c| matches!(c, '/' | '+' | '#' | '\0')) {
        return Err(TopicError::Forbidden {
            what,
            name: name.to_string(),
            found,
        });
    }
    Ok(())
}

fn check_camera(camera: &str) -> Result<(), TopicError> {
    check_level("camera", camera)?;
    if RESERVED_CAMERA_NAMES.contains(&camera) {
        return Err(TopicError::ReservedCamera {
            name: camera.to_string(),
        });
    }
    Ok(())
}

fn checked_len(topic: String) -> Result<String, TopicError> {
    if topic.len() > MAX_TOPIC_BYTES {
        return Err(TopicError::TooLong { bytes: topic.len() });
    }
    Ok(topic)
}

/// The topics of one device, `aisle/v1/<site>/<device>/...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    base: String,
}

impl Topics {
    /// The tree of device `device` at site `site`; both must be topic levels.
    pub fn new(site: &str, device: &str) -> Result<Self, TopicError> {
        check_level("site", site)?;
        check_level("device", device)?;
        Ok(Self {
            base: checked_len(format!("{ROOT}/{site}/{device}"))?,
        })
    }

    /// `aisle/v1/<site>/<device>`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Retained birth (`online`, `stopped`) and the Last Will (`offline`).
    pub fn status(&self) -> String {
        format!("{}/status", self.base)
    }

    /// Periodic health.
    pub fn health(&self) -> String {
        format!("{}/health", self.base)
    }

    /// Retained effective configuration.
    pub fn config(&self) -> String {
        format!("{}/config", self.base)
    }

    /// The command topic of `verb`; a verb may have several levels (`config/set`), each checked.
    pub fn cmd(&self, verb: &str) -> Result<String, TopicError> {
        for level in verb.split('/') {
            check_level("command verb", level)?;
        }
        checked_len(format!("{}/cmd/{verb}", self.base))
    }

    /// The filter the device subscribes to for its commands, `<base>/cmd/#`.
    pub fn cmd_filter(&self) -> String {
        format!("{}/cmd/#", self.base)
    }

    /// Metric records of zone or line `subject` (or `camera`, the camera-wide record).
    pub fn metrics(&self, camera: &str, subject: &str) -> Result<String, TopicError> {
        check_camera(camera)?;
        check_level("subject", subject)?;
        checked_len(format!("{}/{camera}/{subject}/metrics", self.base))
    }

    /// Live occupancy of `zone`.
    pub fn live(&self, camera: &str, zone: &str) -> Result<String, TopicError> {
        check_camera(camera)?;
        check_level("zone", zone)?;
        checked_len(format!("{}/{camera}/{zone}/live", self.base))
    }

    /// The `metrics` topic of a record: its camera and subject.
    pub fn record(&self, record: &MetricRecord) -> Result<String, TopicError> {
        self.metrics(&record.header().camera, record.subject())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tree() {
        let t = Topics::new("store-12", "aisle-a").unwrap();
        assert_eq!(t.base(), "aisle/v1/store-12/aisle-a");
        assert_eq!(t.status(), "aisle/v1/store-12/aisle-a/status");
        assert_eq!(t.health(), "aisle/v1/store-12/aisle-a/health");
        assert_eq!(t.config(), "aisle/v1/store-12/aisle-a/config");
        assert_eq!(t.cmd("ping").unwrap(), "aisle/v1/store-12/aisle-a/cmd/ping");
        assert_eq!(
            t.cmd("config/set").unwrap(),
            "aisle/v1/store-12/aisle-a/cmd/config/set"
        );
        assert_eq!(t.cmd_filter(), "aisle/v1/store-12/aisle-a/cmd/#");
        assert_eq!(
            t.metrics("entrance-1", "doorway").unwrap(),
            "aisle/v1/store-12/aisle-a/entrance-1/doorway/metrics"
        );
        assert_eq!(
            t.live("entrance-1", "doorway").unwrap(),
            "aisle/v1/store-12/aisle-a/entrance-1/doorway/live"
        );
    }

    #[test]
    fn bad_levels_are_named() {
        assert_eq!(
            Topics::new("", "d"),
            Err(TopicError::Empty { what: "site" })
        );
        for (bad, found) in [("a/b", '/'), ("+", '+'), ("x#", '#'), ("n\0", '\0')] {
            assert_eq!(
                Topics::new("s", bad),
                Err(TopicError::Forbidden {
                    what: "device",
                    name: bad.into(),
                    found
                })
            );
        }
        let t = Topics::new("s", "d").unwrap();
        assert!(matches!(
            t.metrics("cam", "a+b"),
            Err(TopicError::Forbidden {
                what: "subject",
                ..
            })
        ));
        assert!(matches!(
            t.live("", "z"),
            Err(TopicError::Empty { what: "camera" })
        ));
        assert!(matches!(
            t.cmd("config//set"),
            Err(TopicError::Empty {
                what: "command verb"
            })
        ));
        for reserved in RESERVED_CAMERA_NAMES {
            assert!(matches!(
                t.metrics(reserved, "z"),
                Err(TopicError::ReservedCamera { .. })
            ));
        }
        // Anything else printable is a valid level, including spaces and non-ASCII.
        assert!(t.metrics("Caméra 1", "zone $1").is_ok());
        let long = "x".repeat(MAX_TOPIC_BYTES);
        assert!(matches!(
            t.metrics("c", &long),
            Err(TopicError::TooLong { .. })
        ));
        assert!(TopicError::Empty { what: "site" }
            .to_string()
            .contains("site is empty"));
    }

    #[test]
    fn a_record_goes_to_its_camera_and_subject() {
        use aisle_types::metrics::{LineRecord, Period, RecordHeader};
        let record = MetricRecord::Line(LineRecord {
            header: RecordHeader::new(
                "cam1",
                "door",
                Period::Window,
                1_764_099_840,
                60,
                60.0,
                5,
                false,
            ),
            line: "door".into(),
            crossings_in: Some(1),
            crossings_out: Some(2),
        });
        let t = Topics::new("s", "d").unwrap();
        assert_eq!(t.record(&record).unwrap(), "aisle/v1/s/d/cam1/door/metrics");
    }
}
