//! Metric records, schema v1: what leaves `aisle-analytics` (and, through `aisle-fleet`, the
//! device). Aggregates only: no track id, coordinate or timestamp of an individual appears in a
//! record, and every record computed from fewer than `min_visitors` distinct visitors is
//! suppressed (its figures are `null`, `suppressed` is `true`).
//!
//! Roll-ups: consumers add windows up into hours and days. Every figure is additive (counts,
//! sums, person-seconds, histogram bucket counts) except the ones that are marked as derived
//! (`mean`, `max`, `p50`, `p90`), which consumers recompute from the additive ones (a mean from
//! sum / count, percentiles from the summed histogram). The device also publishes a longer
//! report window (default 15 min) whose percentiles are exact.
//!
//! The JSON Schema of these types is generated with `schemars` (`aisle schema metrics`, and the
//! golden `docs/schema/metrics-v1.schema.json` that a test keeps equal to the generated one).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The `schema` field of every record of this version.
pub const METRICS_SCHEMA: &str = "aisle.metrics.v1";

/// Upper bounds (seconds, exclusive) of the fixed dwell histogram buckets; a last bucket holds
/// everything from the last bound up. Fixed for schema v1 so that every device's histograms
/// add up. The first bound is the default bounce threshold, the second the default engaged one.
pub const DWELL_BUCKETS_S: [f64; 11] = [
    2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0,
];

/// Number of dwell histogram buckets (`DWELL_BUCKETS_S.len() + 1`).
pub const DWELL_HISTOGRAM_LEN: usize = DWELL_BUCKETS_S.len() + 1;

/// The histogram bucket of a dwell time (negative and non-finite values go to the first and
/// last bucket respectively).
pub fn dwell_bucket(dwell_s: f64) -> usize {
    if dwell_s.is_nan() {
        return DWELL_BUCKETS_S.len();
    }
    DWELL_BUCKETS_S
        .iter()
        .position(|&b| dwell_s < b)
        .unwrap_or(DWELL_BUCKETS_S.len())
}

/// What a zone is for; the analytics report different figures per kind.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ZoneKind {
    /// The floor in front of a display (dwell, attention).
    Display,
    /// A walkway (paths, occupancy).
    Aisle,
    /// Where shoppers come in and go out (store traffic).
    Entrance,
    /// The line in front of tills (queue length, wait).
    Queue,
    /// Where shoppers stand at a till (service time).
    Checkout,
    /// Staff-only area: tracks that spend most of their time in staff zones are excluded from
    /// customer metrics; staff zones themselves publish nothing.
    Staff,
}

impl ZoneKind {
    pub const ALL: [ZoneKind; 6] = [
        ZoneKind::Display,
        ZoneKind::Aisle,
        ZoneKind::Entrance,
        ZoneKind::Queue,
        ZoneKind::Checkout,
        ZoneKind::Staff,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ZoneKind::Display => "display",
            ZoneKind::Aisle => "aisle",
            ZoneKind::Entrance => "entrance",
            ZoneKind::Queue => "queue",
            ZoneKind::Checkout => "checkout",
            ZoneKind::Staff => "staff",
        }
    }
}

impl std::fmt::Display for ZoneKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which aggregation period a record covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// The short window (default 60 s) for live dashboards and roll-ups.
    Window,
    /// The long report window (default 15 min) with exact percentiles.
    Report,
}

impl Period {
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Window => "window",
            Period::Report => "report",
        }
    }
}

/// The time a record covers: `[start, end)`, aligned to multiples of its length since the Unix
/// epoch (a 60 s window starts on the wall-clock minute).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowSpan {
    /// Start, RFC 3339 UTC (`2026-11-25T19:44:00Z`).
    pub start: String,
    /// End (exclusive), RFC 3339 UTC.
    pub end: String,
    /// `end - start` in seconds.
    pub length_s: u32,
    /// Seconds of the window the camera was actually analysed (less than `length_s` for the
    /// first and last window of a run and across outages).
    pub observed_s: f64,
}

impl WindowSpan {
    /// The span `[start_unix_s, start_unix_s + length_s)`.
    pub fn new(start_unix_s: i64, length_s: u32, observed_s: f64) -> Self {
        Self {
            start: rfc3339_utc(start_unix_s),
            end: rfc3339_utc(start_unix_s + i64::from(length_s)),
            length_s,
            observed_s,
        }
    }
}

/// What every record starts with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordHeader {
    /// Always [`METRICS_SCHEMA`].
    pub schema: String,
    /// Stable id: the same camera, subject, period and window start always give the same id,
    /// so subscribers can de-duplicate records replayed after an outage.
    /// Form: `<camera>/<subject>/<period>/<start unix seconds>`.
    pub id: String,
    pub camera: String,
    pub period: Period,
    pub window: WindowSpan,
    /// Fewer than `min_visitors` distinct visitors contributed: every figure is `null`.
    pub suppressed: bool,
    /// The k of k-anonymity this record was checked against.
    pub min_visitors: u32,
    /// `true` on a record published again from the device's spool after a broker outage or a
    /// restart: late data, to be de-duplicated by `id`. Absent (false) on live records.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub historical: bool,
}

impl RecordHeader {
    /// A header with the stable id of `camera`, `subject` (zone or line name, or `camera` for
    /// the camera-wide record), `period` and window start.
    // Every argument is a distinct field of the header; a builder would only rename them.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        camera: &str,
        subject: &str,
        period: Period,
        start_unix_s: i64,
        length_s: u32,
        observed_s: f64,
        min_visitors: u32,
        suppressed: bool,
    ) -> Self {
        Self {
            schema: METRICS_SCHEMA.to_string(),
            id: format!("{camera}/{subject}/{}/{start_unix_s}", period.as_str()),
            camera: camera.to_string(),
            period,
            window: WindowSpan::new(start_unix_s, length_s, observed_s),
            suppressed,
            min_visitors,
            historical: false,
        }
    }
}

/// How many people were in the zone, over the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Occupancy {
    /// Additive: the integral of the number of people over the observed time.
    pub person_seconds: f64,
    /// Derived: `person_seconds / observed_s`.
    pub mean: f64,
    /// The most people at once.
    pub max: u32,
    /// People in the zone at the end of the window.
    pub now: u32,
}

/// Time spent in the zone per visit, for visits that ended in the window (the figures), plus
/// the number of visits still in progress at its end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Dwell {
    /// Additive: visits that ended in the window.
    pub count: u32,
    /// Additive: their total dwell, seconds.
    pub sum_s: f64,
    /// Derived: `sum_s / count`; `null` when `count` is 0.
    pub mean_s: Option<f64>,
    /// Derived: median; `null` when `count` is 0.
    pub p50_s: Option<f64>,
    /// Derived: 90th percentile; `null` when `count` is 0.
    pub p90_s: Option<f64>,
    /// Derived: the longest; `null` when `count` is 0.
    pub max_s: Option<f64>,
    /// Whether the percentiles are exact (from every visit) or interpolated from the histogram
    /// (when more visits ended than the device keeps samples for).
    pub exact: bool,
    /// Additive: visits per bucket of `DWELL_BUCKETS_S` (upper bounds, seconds; the last bucket
    /// is open-ended). Sums to `count`.
    pub histogram: Vec<u32>,
    /// Visits in progress at the end of the window (not in the figures above).
    pub in_progress: u32,
    /// In progress visits' time in the zone so far, seconds.
    pub in_progress_s: f64,
}

/// Visits that left this zone for another one, by destination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Transition {
    /// The zone entered next (same camera).
    pub to: String,
    /// Additive.
    pub count: u32,
}

/// Queue figures (zones of kind `queue`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Queue {
    /// Derived: mean queue length (= occupancy mean).
    pub length_mean: f64,
    pub length_max: u32,
    /// Queue length at the end of the window.
    pub length_now: u32,
    /// Mean time in the queue of the people who left it in the window; `null` when nobody did.
    pub wait_mean_s: Option<f64>,
    /// Estimated wait for someone joining the queue at the end of the window (Little's law:
    /// length now / rate at which people left the queue over the report window); `null` when
    /// nobody left it yet.
    pub wait_estimate_s: Option<f64>,
}

/// One zone of one camera over one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ZoneRecord {
    #[serde(flatten)]
    pub header: RecordHeader,
    pub zone: String,
    pub zone_kind: ZoneKind,
    /// Additive per window only (a person present in two windows counts in both): distinct
    /// people who were in the zone during the window.
    pub visitors: Option<u32>,
    /// Additive: visits that started in the window.
    pub entries: Option<u32>,
    pub occupancy: Option<Occupancy>,
    pub dwell: Option<Dwell>,
    /// Additive: visits ended in the window that lasted less than the bounce threshold.
    pub bounces: Option<u32>,
    /// Additive: visits ended in the window that lasted at least the engaged threshold.
    pub engaged: Option<u32>,
    /// Additive: people whose next zone after this one was entered in the window, by zone.
    pub transitions: Option<Vec<Transition>>,
    /// Utilisation = occupancy mean / capacity, when the zone has a capacity.
    pub utilisation: Option<f64>,
    /// Queue zones only.
    pub queue: Option<Queue>,
}

/// One counting line of one camera over one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LineRecord {
    #[serde(flatten)]
    pub header: RecordHeader,
    pub line: String,
    /// Additive: crossings in the line's `in` direction.
    pub crossings_in: Option<u32>,
    /// Additive: crossings the other way.
    pub crossings_out: Option<u32>,
}

/// Where people were in the camera's view: occupancy-seconds per cell of a coarse grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Heatmap {
    pub cols: u32,
    pub rows: u32,
    /// Row-major (top row first), `cols * rows` cells; additive person-seconds, `null` for a
    /// cell fewer than `min_visitors` distinct people stood in.
    pub person_seconds: Vec<Option<f64>>,
}

/// Camera-wide figures over one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CameraRecord {
    #[serde(flatten)]
    pub header: RecordHeader,
    /// Distinct customers seen in the window (staff excluded).
    pub visitors: Option<u32>,
    /// Additive: person-seconds of customers in view.
    pub person_seconds: Option<f64>,
    pub heatmap: Option<Heatmap>,
}

/// The expression classes of face analysis, in the order of every expression array.
pub const EXPRESSION_CLASSES: [&str; 7] = [
    "neutral",
    "happy",
    "sad",
    "angry",
    "fearful",
    "disgusted",
    "surprised",
];

/// Valence of each of [`EXPRESSION_CLASSES`]: +1 happy, -1 sad, angry, fearful and disgusted,
/// 0 neutral and surprised (whose sign the face alone does not tell). A sample's valence is the
/// probability-weighted sum, in `[-1, 1]`.
pub const EXPRESSION_VALENCE: [f64; 7] = [0.0, 1.0, -1.0, -1.0, -1.0, -1.0, 0.0];

/// How shoppers' faces read, over the samples taken while they stood in a zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Emotion {
    /// Additive: samples with an expression reading.
    pub samples: u32,
    /// Additive: per class of `EXPRESSION_CLASSES`, the sum over samples of its probability.
    pub probability_sums: Vec<f64>,
    /// Derived: `probability_sums / samples` (a distribution over the seven classes).
    pub distribution: Vec<f64>,
    /// Additive: the sum of the samples' valence (`EXPRESSION_VALENCE`).
    pub valence_sum: f64,
    /// Derived: `valence_sum / samples`, in `[-1, 1]`; `null` without samples.
    pub valence_mean: Option<f64>,
}

/// How much shoppers faced a display (zones of kind `display`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Attention {
    /// Additive: estimated person-seconds spent facing the display (each face sample stands for
    /// the time since its shopper's previous sample, at most 2 s).
    pub seconds: f64,
    /// Distinct shoppers seen facing it.
    pub visitors_looked: u32,
    /// Derived: `visitors_looked` over the zone's `visitors` in the same window; `null` when
    /// the zone record has no visitors or is suppressed.
    pub share: Option<f64>,
}

/// Face-derived figures of one zone in a [`FacesRecord`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ZoneFaces {
    pub zone: String,
    pub zone_kind: ZoneKind,
    /// True when fewer than `min_visitors` distinct shoppers (but some) were sampled: every
    /// figure below is `null`.
    pub suppressed: bool,
    /// Additive: faces analysed of shoppers standing in the zone (quality gates passed).
    pub faces_sampled: Option<u32>,
    /// Distinct shoppers those faces belong to.
    pub visitors_sampled: Option<u32>,
    /// `null` when emotion recognition is off.
    pub emotion: Option<Emotion>,
    /// Display zones only.
    pub attention: Option<Attention>,
}

/// Faces of one camera over one window (only with `[faces]` on): per customer zone, what the
/// faces of shoppers standing there showed. Computed on the device from faces that never leave
/// it; aggregates only, k-anonymous per zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FacesRecord {
    #[serde(flatten)]
    pub header: RecordHeader,
    /// Whether emotion recognition is on (off: attention only).
    pub emotion_enabled: bool,
    pub zones: Vec<ZoneFaces>,
}

/// Any record; JSON objects carry `"type": "zone" | "line" | "camera" | "faces"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
// Records are built a few times a minute and moved into the spool; boxing the large variant
// would add an allocation per record for nothing.
#[allow(clippy::large_enum_variant)]
pub enum MetricRecord {
    Zone(ZoneRecord),
    Line(LineRecord),
    Camera(CameraRecord),
    Faces(FacesRecord),
}

impl MetricRecord {
    pub fn header(&self) -> &RecordHeader {
        match self {
            MetricRecord::Zone(r) => &r.header,
            MetricRecord::Line(r) => &r.header,
            MetricRecord::Camera(r) => &r.header,
            MetricRecord::Faces(r) => &r.header,
        }
    }

    pub fn header_mut(&mut self) -> &mut RecordHeader {
        match self {
            MetricRecord::Zone(r) => &mut r.header,
            MetricRecord::Line(r) => &mut r.header,
            MetricRecord::Camera(r) => &mut r.header,
            MetricRecord::Faces(r) => &mut r.header,
        }
    }

    /// The zone, line, `camera` or `faces` this record is about.
    pub fn subject(&self) -> &str {
        match self {
            MetricRecord::Zone(r) => &r.zone,
            MetricRecord::Line(r) => &r.line,
            MetricRecord::Camera(_) => "camera",
            MetricRecord::Faces(_) => "faces",
        }
    }
}

/// The JSON Schema (draft 2020-12) of [`MetricRecord`], pretty-printed.
pub fn metrics_json_schema() -> String {
    let schema = schemars::schema_for!(MetricRecord);
    let mut s = serde_json::to_string_pretty(&schema).unwrap_or_default();
    s.push('\n');
    s
}

/// `2026-11-25T19:44:00Z` for a Unix time in seconds (proleptic Gregorian, UTC).
pub fn rfc3339_utc(unix_s: i64) -> String {
    let days = unix_s.div_euclid(86_400);
    let secs = unix_s.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_known_instants() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_utc(1_795_635_840), "2026-11-25T19:44:00Z");
        assert_eq!(rfc3339_utc(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn buckets_are_half_open() {
        assert_eq!(dwell_bucket(0.0), 0);
        assert_eq!(dwell_bucket(1.99), 0);
        assert_eq!(dwell_bucket(2.0), 1);
        assert_eq!(dwell_bucket(5.0), 2);
        assert_eq!(dwell_bucket(1799.0), 10);
        assert_eq!(dwell_bucket(1800.0), 11);
        assert_eq!(dwell_bucket(f64::INFINITY), 11);
        assert_eq!(dwell_bucket(f64::NAN), 11);
        assert_eq!(dwell_bucket(-3.0), 0);
    }

    #[test]
    fn ids_are_stable_and_records_round_trip() {
        let h = RecordHeader::new(
            "front",
            "door",
            Period::Window,
            1_795_635_840,
            60,
            60.0,
            5,
            true,
        );
        assert_eq!(h.id, "front/door/window/1795635840");
        assert_eq!(h.window.end, "2026-11-25T19:45:00Z");
        let r = MetricRecord::Line(LineRecord {
            header: h,
            line: "door".into(),
            crossings_in: None,
            crossings_out: None,
        });
        let json = serde_json::to_string(&r).unwrap();
        assert!(
            json.starts_with(r#"{"type":"line","schema":"aisle.metrics.v1""#),
            "{json}"
        );
        let back: MetricRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
    }
}
