//! Aisle's configuration file (TOML): loading, defaults and validation.
//!
//! Every key is optional; [`Config::default`] is what an empty file means. Unknown keys are
//! errors (`deny_unknown_fields`), and every error names the file and the path of the bad value
//! (for example `detector.score_threshold`), so a typo never silently falls back to a default.
//! The reference for operators is `docs/config.md`.

use std::path::{Path, PathBuf};

use aisle_types::polygon;
use serde::{Deserialize, Serialize};

mod commands;
mod persist;

pub use commands::{CommandMode, CommandsConfig};
pub use persist::write_file_atomically;

/// A `[[zones]]` or `[[lines]]` entry as `Config::subject_problem` checks it.
struct Subject<'a> {
    camera: &'a str,
    name: &'a str,
    /// `zones` or `lines`, for the limit's message.
    what: &'static str,
    max: usize,
}

/// The environment variable that moves the cache (models, media, ONNX Runtime library).
pub const CACHE_ENV: &str = "AISLE_CACHE";
/// The environment variable `ort` itself honours for the ONNX Runtime library.
pub const ORT_ENV: &str = "ORT_DYLIB_PATH";
/// The directory of credential files that systemd's `LoadCredential=` sets up.
pub const CREDENTIALS_DIR_ENV: &str = "CREDENTIALS_DIRECTORY";
/// The durable state directory that systemd's `StateDirectory=` sets up (the MQTT spool).
pub const STATE_DIR_ENV: &str = "STATE_DIRECTORY";

/// Most `[[zones]]` one camera may have.
pub const MAX_ZONES_PER_CAMERA: usize = 64;
/// Most `[[lines]]` one camera may have.
pub const MAX_LINES_PER_CAMERA: usize = 32;
/// Most vertices of a zone polygon.
pub const MAX_POLYGON_VERTICES: usize = 64;
/// Smallest zone area, as a share of the image (normalised units: 1% x 1%).
pub const MIN_ZONE_AREA: f64 = 1e-4;
/// Shortest counting line, in normalised image units.
pub const MIN_LINE_LENGTH: f64 = 0.01;
/// The subject name that zones and lines may not take: the camera-wide record uses it.
pub const RESERVED_SUBJECT_NAME: &str = "camera";
/// The subject of the camera's faces record (`[faces]`), also reserved.
pub const FACES_SUBJECT_NAME: &str = "faces";

/// A configuration that could not be read or is invalid.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {origin}: {message}")]
    Parse { origin: String, message: String },
    #[error("config file {origin}: `{key}` = {value}: {reason}")]
    Invalid {
        origin: String,
        key: &'static str,
        value: String,
        reason: String,
    },
    /// A bad value whose path is built at run time, e.g. `zones[2].polygon[3]` or
    /// `lines[0].to`; the same form as [`ConfigError::Invalid`].
    #[error("config file {origin}: `{path}` = {value}: {reason}")]
    At {
        origin: String,
        path: String,
        value: String,
        reason: String,
    },
    /// A bad `[[cameras]]` entry; `key` is e.g. `cameras[1].url`. Never contains a password.
    #[error("config file {origin}: camera `{camera}`: `{key}` = {value}: {reason}")]
    Camera {
        origin: String,
        camera: String,
        key: String,
        value: String,
        reason: String,
    },
    /// A camera's credentials cannot be resolved. Never contains the secret itself.
    #[error("camera `{camera}`: credentials: {detail}")]
    Credentials { camera: String, detail: String },
    /// The command token (`commands.token_file`) cannot be read. Never contains the token.
    #[error("`commands.token_file` = {file:?}: {detail}")]
    CommandToken { file: String, detail: String },
}

impl ConfigError {
    /// The path of the bad value in the configuration (`zones[1].polygon[2]`,
    /// `analytics.window_s`, `cameras[0].url`), when the error is about one value.
    pub fn path(&self) -> Option<String> {
        match self {
            ConfigError::Invalid { key, .. } => Some((*key).to_string()),
            ConfigError::At { path, .. } => Some(path.clone()),
            ConfigError::Camera { key, .. } => Some(key.clone()),
            ConfigError::CommandToken { .. } => Some("commands.token_file".into()),
            ConfigError::Read { .. }
            | ConfigError::Parse { .. }
            | ConfigError::Credentials { .. } => None,
        }
    }
}

/// How the GPU is used. `required` never falls back to the CPU silently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum GpuPolicy {
    /// Fail at start-up when a GPU backend cannot be used.
    Required,
    /// Use the GPU when present, otherwise the CPU (with a warning).
    #[default]
    Preferred,
    /// CPU only.
    Off,
}

impl GpuPolicy {
    pub fn as_str(&self) -> &'static str {
        match self {
            GpuPolicy::Required => "required",
            GpuPolicy::Preferred => "preferred",
            GpuPolicy::Off => "off",
        }
    }
}

/// The whole configuration file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub runtime: RuntimeConfig,
    pub models: ModelsConfig,
    pub detector: DetectorConfig,
    pub tracker: TrackerSection,
    /// `[[cameras]]`: the video inputs, in order.
    pub cameras: Vec<CameraConfig>,
    /// `[analytics]`: windows, visit thresholds, privacy.
    pub analytics: AnalyticsConfig,
    /// `[[zones]]`: polygons in a camera's image, in order.
    pub zones: Vec<ZoneConfig>,
    /// `[[lines]]`: counting lines in a camera's image, in order.
    pub lines: Vec<LineConfig>,
    /// `[mqtt]`: the link to the broker. `None` (no section): nothing is published.
    pub mqtt: Option<MqttConfig>,
    /// `[commands]`: which MQTT commands the device accepts and the token they must carry.
    pub commands: CommandsConfig,
    /// `[faces]`: attention (head pose) and emotion from shoppers' faces; off by default.
    pub faces: FacesConfig,
}

/// `[faces]`: attention to displays (head pose) and emotion, computed on the device from faces
/// that never leave it (docs/privacy.md). Both are off by default: then no face model runs.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FacesConfig {
    /// Which display zone each shopper faces, from their head pose (runs the face detector and
    /// the face mesh on shoppers' upper bodies).
    pub attention: bool,
    /// Emotion recognition on shoppers' faces (adds the expression model). The EU AI Act
    /// requires informing the people exposed to it: `shoppers_informed` must say how.
    pub emotion: bool,
    /// How and since when shoppers are informed of emotion recognition, e.g. "signs at both
    /// entrances since 2026-11-20". Required (non-empty) with `emotion = true`; the device
    /// reports it in its status.
    pub shoppers_informed: Option<String>,
    /// Face analyses per second per camera, shared round-robin by the shoppers in view: a crowd
    /// lowers each shopper's sampling rate, never the frame rate.
    pub samples_per_second: f64,
    /// The emotion model (a manifest model of role `emotion`).
    pub expression_model: String,
    /// Quality gates: a face counts only when its box is at least this many pixels high, ...
    pub min_face_px: f32,
    /// ... the face detector's score is at least this, ...
    pub min_score: f32,
    /// ... it is turned at most this far from the camera (degrees of yaw and pitch), ...
    pub max_yaw_deg: f32,
    pub max_pitch_deg: f32,
    /// ... and its gray crop is this sharp (variance of the Laplacian, 0..255 units).
    pub min_sharpness: f64,
    /// A shopper faces a display when the direction of their face is within this angle of the
    /// direction to the display zone, degrees.
    pub attention_cone_deg: f32,
    /// Weight of the newest sample in a shopper's smoothed expression (1: no smoothing).
    pub smoothing: f32,
}

impl Default for FacesConfig {
    fn default() -> Self {
        Self {
            attention: false,
            emotion: false,
            shoppers_informed: None,
            samples_per_second: 4.0,
            expression_model: "faceapi_expression".into(),
            min_face_px: 24.0,
            min_score: 0.6,
            max_yaw_deg: 45.0,
            max_pitch_deg: 35.0,
            min_sharpness: 20.0,
            attention_cone_deg: 30.0,
            smoothing: 0.5,
        }
    }
}

impl FacesConfig {
    /// Whether any face model runs.
    pub fn enabled(&self) -> bool {
        self.attention || self.emotion
    }
}

/// `[mqtt]`: the broker, the names in the topic tree (`aisle/v1/<site>/<device>/...`) and the
/// durable spool of metric records.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    /// `mqtt://host[:port]` (default port 1883), `mqtts://host[:port]` (8883, TLS), or
    /// `embedded`: an MQTT broker inside `aisle run`, on 127.0.0.1:`embedded_port` only.
    pub broker: String,
    /// Port of the embedded broker (only with `broker = "embedded"`; default 1883).
    #[serde(default)]
    pub embedded_port: Option<u16>,
    /// PEM file of the CA certificate(s) that sign the broker's certificate (only with
    /// `mqtts://`). Default: the system's trust store.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// PEM file of the device's client certificate (chain) for mutual TLS; needs
    /// `client_key_file` (only with `mqtts://`).
    #[serde(default)]
    pub client_cert_file: Option<PathBuf>,
    /// PEM file of the private key of `client_cert_file` (PKCS#8, PKCS#1 or SEC1).
    #[serde(default)]
    pub client_key_file: Option<PathBuf>,
    /// File holding the MQTT user name and password: one line `user:password`, or the lines
    /// `username=...` and `password=...`.
    #[serde(default)]
    pub credentials_file: Option<PathBuf>,
    /// Site name, a topic level: a-z 0-9 _ -.
    pub site: String,
    /// Device name, a topic level: a-z 0-9 _ -.
    pub device: String,
    /// MQTT client id. Default `aisle-<device>`.
    #[serde(default)]
    pub client_id: Option<String>,
    /// Keep-alive interval in seconds (5..=3600, default 30): how soon the broker notices a dead
    /// device and publishes its Last Will.
    #[serde(default = "default_keep_alive_s")]
    pub keep_alive_s: u16,
    /// Directory of the spool. Default `$STATE_DIRECTORY/spool`, else `<cache_dir>/spool`.
    #[serde(default)]
    pub spool_dir: Option<PathBuf>,
    /// Most bytes the spool may use on disk (>= 64 KiB, default 64 MiB); when full, the oldest
    /// records are evicted and counted.
    #[serde(default = "default_spool_max_bytes")]
    pub spool_max_bytes: u64,
    /// MQTT 5 message expiry of the retained `metrics` messages, in seconds (1..=2^32-1, default
    /// 86400): a zone whose camera went away stops showing stale figures after this.
    #[serde(default = "default_metrics_expiry_s")]
    pub metrics_expiry_s: u32,
    /// Seconds between two `health` reports (5..=3600, default 30).
    #[serde(default = "default_health_interval_s")]
    pub health_interval_s: u32,
}

fn default_health_interval_s() -> u32 {
    30
}
fn default_keep_alive_s() -> u16 {
    30
}
fn default_spool_max_bytes() -> u64 {
    64 << 20
}
fn default_metrics_expiry_s() -> u32 {
    86_400
}

/// Smallest accepted `mqtt.spool_max_bytes`.
pub const MIN_SPOOL_MAX_BYTES: u64 = 64 << 10;

/// Where `mqtt.broker` points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerAddr {
    /// `mqtts://`.
    pub tls: bool,
    pub host: String,
    pub port: u16,
}

impl BrokerAddr {
    /// Parses `mqtt://host[:port]` or `mqtts://host[:port]` (an IPv6 host in brackets); the
    /// error says what is wrong.
    pub fn parse(url: &str) -> Result<Self, String> {
        let (tls, rest) = if let Some(r) = url.strip_prefix("mqtt://") {
            (false, r)
        } else if let Some(r) = url.strip_prefix("mqtts://") {
            (true, r)
        } else {
            return Err("must start with mqtt:// or mqtts://".into());
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '@', '?', '#']) {
            return Err(
                "only host and port: no path, query or credentials (credentials come from a file)"
                    .into(),
            );
        }
        let default_port = if tls { 8883 } else { 1883 };
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (host, after) = v6
                .split_once(']')
                .ok_or("an IPv6 host needs its closing `]`")?;
            match after {
                "" => (host, None),
                p => (
                    host,
                    Some(p.strip_prefix(':').ok_or("expected `:port` after `]`")?),
                ),
            }
        } else {
            match rest.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (rest, None),
            }
        };
        if host.is_empty() {
            return Err("the host is empty".into());
        }
        let port = match port {
            None => default_port,
            Some(p) => match p.parse::<u16>() {
                Ok(p) if p > 0 => p,
                _ => return Err(format!("port {p:?} is not in 1..=65535")),
            },
        };
        Ok(Self {
            tls,
            host: host.to_string(),
            port,
        })
    }
}

/// The value of `mqtt.broker` that selects the embedded broker.
pub const EMBEDDED_BROKER: &str = "embedded";
/// Default port of the embedded broker.
pub const DEFAULT_EMBEDDED_PORT: u16 = 1883;

impl MqttConfig {
    /// The broker address (valid after [`Config::validate`]); the embedded broker is
    /// `127.0.0.1:<embedded_port>`, without TLS.
    pub fn broker_addr(&self) -> Result<BrokerAddr, String> {
        if self.is_embedded() {
            return Ok(BrokerAddr {
                tls: false,
                host: "127.0.0.1".into(),
                port: self.embedded_port(),
            });
        }
        BrokerAddr::parse(&self.broker)
    }

    /// `[mqtt]` with the embedded broker on `port` and every other key at its default (what
    /// `aisle run --embedded-broker` uses when the config has no `[mqtt]`).
    pub fn embedded(site: &str, device: &str, port: u16) -> Self {
        Self {
            broker: EMBEDDED_BROKER.into(),
            embedded_port: Some(port),
            ca_file: None,
            client_cert_file: None,
            client_key_file: None,
            credentials_file: None,
            site: site.into(),
            device: device.into(),
            client_id: None,
            keep_alive_s: default_keep_alive_s(),
            spool_dir: None,
            spool_max_bytes: default_spool_max_bytes(),
            health_interval_s: default_health_interval_s(),
            metrics_expiry_s: default_metrics_expiry_s(),
        }
    }

    /// `broker = "embedded"`: `aisle run` starts its own broker on loopback.
    pub fn is_embedded(&self) -> bool {
        self.broker == EMBEDDED_BROKER
    }

    /// `embedded_port`, else 1883.
    pub fn embedded_port(&self) -> u16 {
        self.embedded_port.unwrap_or(DEFAULT_EMBEDDED_PORT)
    }

    /// `client_id`, else `aisle-<device>`.
    pub fn client_id(&self) -> String {
        self.client_id
            .clone()
            .unwrap_or_else(|| format!("aisle-{}", self.device))
    }
}

pub use aisle_types::metrics::ZoneKind;

/// Which point of a person's box decides whether they are in a zone or crossed a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Anchor {
    /// Bottom centre of the box: where the feet stand (floor zones; the default).
    #[default]
    #[serde(alias = "bottom_center")]
    BottomCentre,
    /// Centre of the box (zones drawn on the body's height, e.g. a counter seen from the side).
    #[serde(alias = "center")]
    Centre,
    /// Top centre (head; overhead cameras where feet are hidden).
    #[serde(alias = "top_center")]
    TopCentre,
}

/// `[analytics]`: how tracks become visits and windows, and the privacy rules.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnalyticsConfig {
    /// Length of a metrics window, seconds; windows are aligned to multiples of it since the
    /// Unix epoch (60: on the wall-clock minute). Must divide 3600.
    pub window_s: u32,
    /// Length of the report window (exact percentiles), seconds; a multiple of `window_s`
    /// that divides 86400.
    pub report_window_s: u32,
    /// A person must stay in a zone this long for a visit to count (a box brushing the zone's
    /// border is no visit; the visit then counts from when they entered), seconds.
    pub min_visit_s: f64,
    /// A visit shorter than this is a bounce, seconds.
    pub bounce_s: f64,
    /// A visit at least this long is engaged, seconds.
    pub engaged_s: f64,
    /// A person who leaves a zone and comes back within this time continues the same visit
    /// (hysteresis against flicker on the border), seconds.
    pub reentry_gap_s: f64,
    /// A lost track (occluded, missed) keeps its place in its zones for at most this long;
    /// when it is found again within it the visit goes on, seconds.
    pub lost_grace_s: f64,
    /// k-anonymity: figures from fewer distinct visitors are suppressed.
    pub min_visitors: u32,
    /// A track that spends more than this share of its time in `staff` zones is staff and is
    /// excluded from customer metrics.
    pub staff_share: f64,
    /// Columns and rows of the per-camera footfall heatmap.
    pub heatmap_cols: u32,
    pub heatmap_rows: u32,
}

impl Config {
    fn validate_faces(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid = |key: &'static str, value: String, reason: &str| ConfigError::Invalid {
            origin: origin.to_string(),
            key,
            value,
            reason: reason.to_string(),
        };
        let f = &self.faces;
        if f.emotion
            && f.shoppers_informed
                .as_deref()
                .is_none_or(|s| s.trim().is_empty())
        {
            return Err(invalid(
                "faces.shoppers_informed",
                format!("{:?}", f.shoppers_informed.as_deref().unwrap_or("")),
                "emotion recognition (faces.emotion = true) requires saying how shoppers are \
                 informed of it (EU AI Act, Art. 50(3)), e.g. \"signs at both entrances since \
                 2026-11-20\"; see docs/privacy.md",
            ));
        }
        if !(f.samples_per_second.is_finite()
            && f.samples_per_second > 0.0
            && f.samples_per_second <= 100.0)
        {
            return Err(invalid(
                "faces.samples_per_second",
                f.samples_per_second.to_string(),
                "must be in (0, 100]",
            ));
        }
        if f.expression_model.trim().is_empty() {
            return Err(invalid(
                "faces.expression_model",
                "\"\"".into(),
                "name an emotion model of the manifest, e.g. \"faceapi_expression\"",
            ));
        }
        for (key, v, lo, hi) in [
            ("faces.min_face_px", f.min_face_px, 1.0, 4096.0),
            ("faces.min_score", f.min_score, 0.0, 1.0),
            ("faces.max_yaw_deg", f.max_yaw_deg, 0.0, 90.0),
            ("faces.max_pitch_deg", f.max_pitch_deg, 0.0, 90.0),
            ("faces.attention_cone_deg", f.attention_cone_deg, 1.0, 90.0),
            ("faces.smoothing", f.smoothing, 0.01, 1.0),
        ] {
            if !(v.is_finite() && (lo..=hi).contains(&v)) {
                return Err(invalid(
                    key,
                    v.to_string(),
                    &format!("must be in [{lo}, {hi}]"),
                ));
            }
        }
        if !(f.min_sharpness.is_finite() && f.min_sharpness >= 0.0) {
            return Err(invalid(
                "faces.min_sharpness",
                f.min_sharpness.to_string(),
                "must be 0 or more",
            ));
        }
        Ok(())
    }
}

impl Default for AnalyticsConfig {
    fn default() -> Self {
        Self {
            window_s: 60,
            report_window_s: 900,
            min_visit_s: 0.5,
            bounce_s: 2.0,
            engaged_s: 5.0,
            reentry_gap_s: 6.0,
            lost_grace_s: 10.0,
            min_visitors: 5,
            staff_share: 0.5,
            heatmap_cols: 16,
            heatmap_rows: 9,
        }
    }
}

/// One `[[zones]]` entry: a polygon in one camera's image.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneConfig {
    /// The `[[cameras]]` id the zone is drawn on.
    pub camera: String,
    /// 1-64 characters of `a-z`, `0-9`, `_`, `-`, unique per camera across zones and lines
    /// (it names the MQTT topic); `camera` is reserved.
    pub name: String,
    pub kind: ZoneKind,
    /// Vertices `[x, y]` in normalised image coordinates (0..1, origin top left), 3 to
    /// [`MAX_POLYGON_VERTICES`], no vertex repeating the one before, not self-intersecting,
    /// with an area of at least [`MIN_ZONE_AREA`].
    pub polygon: Vec<[f64; 2]>,
    /// The point of a person's box tested against the polygon (default `bottom_centre`).
    #[serde(default)]
    pub anchor: Anchor,
    /// People the zone holds comfortably (at least 1); gives `utilisation` in the records.
    #[serde(default)]
    pub capacity: Option<u32>,
    /// `display` zones, with `[faces] attention`: the point `[x, y]` (normalised image
    /// coordinates) of the display itself, that shoppers face when they look at it (default:
    /// the polygon's centroid).
    #[serde(default)]
    pub attention_target: Option<[f64; 2]>,
}

/// Which side of a line, walking from `from` to `to`, is "in".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LineSide {
    #[default]
    Left,
    Right,
}

/// One `[[lines]]` entry: a counting line (segment) in one camera's image.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LineConfig {
    /// The `[[cameras]]` id the line is drawn on.
    pub camera: String,
    /// Same rules as a zone name: unique per camera across zones and lines.
    pub name: String,
    /// End points, normalised image coordinates (0..1), at least [`MIN_LINE_LENGTH`] apart.
    pub from: [f64; 2],
    pub to: [f64; 2],
    /// Crossing towards this side (seen walking from `from` to `to`; image y points down) is
    /// counted as `in`, the other way as `out` (default `left`).
    #[serde(default)]
    pub in_side: LineSide,
    #[serde(default)]
    pub anchor: Anchor,
}

/// How RTP travels from an RTSP camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CameraTransport {
    /// Interleaved on the RTSP TCP connection (default; works through NAT and firewalls).
    #[default]
    Tcp,
    /// RTP over UDP (LAN only).
    Udp,
}

impl CameraTransport {
    pub fn as_str(&self) -> &'static str {
        match self {
            CameraTransport::Tcp => "tcp",
            CameraTransport::Udp => "udp",
        }
    }
}

/// One `[[cameras]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CameraConfig {
    /// Unique name of the camera: 1-64 characters of `a-z`, `0-9`, `_`, `-`.
    pub id: String,
    /// `rtsp://host[:port]/path` (a user name may be given, a password never), or a video file
    /// path (replaying a recording as a camera).
    pub url: String,
    /// `tcp` (default) or `udp`; ignored for files.
    #[serde(default)]
    pub transport: CameraTransport,
    /// Name of a file in the credentials directory holding `user:password`.
    #[serde(default)]
    pub credentials: Option<String>,
}

impl CameraConfig {
    /// True when `url` is an `rtsp://` URL (else it is a file path).
    pub fn is_rtsp(&self) -> bool {
        self.url.starts_with("rtsp://")
    }

    /// The environment variables consulted for this camera's credentials when no
    /// `credentials` file is named: `AISLE_CAMERA_<ID>_USER` and `AISLE_CAMERA_<ID>_PASSWORD`,
    /// `<ID>` being the id in upper case with `-` replaced by `_`.
    pub fn credential_env_vars(&self) -> (String, String) {
        let id: String = self
            .id
            .chars()
            .map(|c| {
                if c == '-' {
                    '_'
                } else {
                    c.to_ascii_uppercase()
                }
            })
            .collect();
        (
            format!("AISLE_CAMERA_{id}_USER"),
            format!("AISLE_CAMERA_{id}_PASSWORD"),
        )
    }
}

/// A camera's user name and password. `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct CameraCredentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for CameraCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CameraCredentials")
            .field("username", &self.username)
            .field("password", &"***")
            .finish()
    }
}

/// `[runtime]`: where things live and which hardware to use.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// Cache of models, media and libraries. Default: `$AISLE_CACHE`, else `~/.cache/aisle`.
    pub cache_dir: Option<PathBuf>,
    /// ONNX Runtime shared library. Default: `$ORT_DYLIB_PATH`, else
    /// `<cache_dir>/lib/libonnxruntime.so` (installed by `scripts/setup.sh`).
    pub ort_library: Option<PathBuf>,
    /// CPU threads for inference (ONNX Runtime intra-op threads). Default 2.
    pub threads: usize,
    /// `required`, `preferred` (default) or `off`.
    pub gpu: GpuPolicy,
    /// Directory of camera credential files (`<name>` containing `user:password`). Default:
    /// `$CREDENTIALS_DIRECTORY` (set by systemd's `LoadCredential=`).
    pub credentials_dir: Option<PathBuf>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            cache_dir: None,
            ort_library: None,
            threads: 2,
            gpu: GpuPolicy::default(),
            credentials_dir: None,
        }
    }
}

/// `[models]`: where converted models and their manifest are.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelsConfig {
    /// Directory of converted `.onnx` files. Default: `<cache_dir>/models`.
    pub dir: Option<PathBuf>,
    /// A model manifest to use instead of the one built into the binary.
    pub manifest: Option<PathBuf>,
}

/// `[detector]`: the person detector.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectorConfig {
    /// Manifest name of the detector: `nanodet` (default) or `centernet`.
    pub model: String,
    /// Minimum score of a kept detection, in (0, 1]. Default 0.3.
    pub score_threshold: f32,
    /// Boxes of the same class overlapping more than this IoU are merged by NMS, in (0, 1]. Default 0.5.
    pub nms_iou: f32,
    /// Class names to keep (from the model's class list). Default `["person"]`.
    pub classes: Vec<String>,
    /// At most this many detections per frame, after NMS. Default 100.
    pub max_detections: usize,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            model: "nanodet".into(),
            score_threshold: 0.3,
            nms_iou: 0.5,
            classes: vec!["person".into()],
            max_detections: 100,
        }
    }
}

/// `[tracker]`: thresholds of the multi-object tracker. A key left out keeps the tracker's
/// default (see `docs/config.md`); the values are checked here so that errors name the file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrackerSection {
    /// Detections at or above this score take part in the first association (default 0.5).
    pub high_score: Option<f32>,
    /// Detections below this score are ignored (default 0.1).
    pub low_score: Option<f32>,
    /// An unmatched detection starts a track at or above this score (default 0.6).
    pub new_track_score: Option<f32>,
    /// Minimum IoU between a track's predicted box and a confident detection (default 0.3).
    pub match_iou: Option<f32>,
    /// Minimum IoU for a low-score detection to extend a track (default 0.5).
    pub low_match_iou: Option<f32>,
    /// Minimum IoU for recovery from the last observed box and for new tracks (default 0.3).
    pub recovery_iou: Option<f32>,
    /// Consecutive matches that confirm a new track (default 2).
    pub confirm_hits: Option<u32>,
    /// Seconds a lost track is kept for re-identification (default 3).
    pub max_lost_s: Option<f64>,
    /// Seconds after its last match that a lost track is still reported at its predicted box
    /// (default 0.2).
    pub coast_s: Option<f64>,
    /// Seconds a lost track is kept when the person stood still when last seen (default 10).
    pub max_lost_still_s: Option<f64>,
    /// Weight of the appearance (clothing colour) distance in the first association stage;
    /// 0 tracks on motion alone (default 0.5).
    pub appearance_weight: Option<f32>,
    /// A track never takes an unoccluded detection whose colours differ by more than this
    /// (Hellinger distance 0..1, default 0.3).
    pub appearance_gate: Option<f32>,
    /// The same for a detection partly covered by a nearer person, on the regions that show it
    /// (default 0.35).
    pub appearance_gate_partial: Option<f32>,
    /// Lost tracks are re-identified by detections whose colours differ by at most this
    /// (default 0.25).
    pub reid_distance: Option<f32>,
    /// How far a hidden person may walk, in body heights per second (default 1.0).
    pub reid_speed: Option<f32>,
    /// Seconds a lost track with a known appearance waits for re-identification (default 20).
    pub max_lost_reid_s: Option<f64>,
    /// Share of a track's appearance kept at each new clean view (default 0.9).
    pub appearance_momentum: Option<f32>,
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses and validates config text; `origin` names where it came from in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            origin: origin.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        config.validate(origin)?;
        Ok(config)
    }

    /// Checks value ranges that the types alone cannot express.
    pub fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid = |key: &'static str, value: String, reason: &str| ConfigError::Invalid {
            origin: origin.to_string(),
            key,
            value,
            reason: reason.to_string(),
        };
        let d = &self.detector;
        if !(d.score_threshold > 0.0 && d.score_threshold <= 1.0) {
            return Err(invalid(
                "detector.score_threshold",
                d.score_threshold.to_string(),
                "must be in (0, 1]",
            ));
        }
        if !(d.nms_iou > 0.0 && d.nms_iou <= 1.0) {
            return Err(invalid(
                "detector.nms_iou",
                d.nms_iou.to_string(),
                "must be in (0, 1]",
            ));
        }
        if d.classes.is_empty() {
            return Err(invalid(
                "detector.classes",
                "[]".into(),
                "name at least one class, e.g. [\"person\"]",
            ));
        }
        if d.max_detections == 0 {
            return Err(invalid(
                "detector.max_detections",
                "0".into(),
                "must be at least 1",
            ));
        }
        if d.model.trim().is_empty() {
            return Err(invalid(
                "detector.model",
                "\"\"".into(),
                "name a model of the manifest, e.g. \"centernet\"",
            ));
        }
        let t = &self.tracker;
        for (key, v) in [
            ("tracker.high_score", t.high_score),
            ("tracker.low_score", t.low_score),
            ("tracker.new_track_score", t.new_track_score),
            ("tracker.match_iou", t.match_iou),
            ("tracker.low_match_iou", t.low_match_iou),
            ("tracker.recovery_iou", t.recovery_iou),
            ("tracker.appearance_gate", t.appearance_gate),
            ("tracker.appearance_gate_partial", t.appearance_gate_partial),
            ("tracker.reid_distance", t.reid_distance),
            ("tracker.appearance_momentum", t.appearance_momentum),
        ] {
            if let Some(v) = v {
                if !(0.0..=1.0).contains(&v) {
                    return Err(invalid(key, v.to_string(), "must be in [0, 1]"));
                }
            }
        }
        if let (Some(lo), Some(hi)) = (t.low_score, t.high_score) {
            if lo > hi {
                return Err(invalid(
                    "tracker.low_score",
                    lo.to_string(),
                    "must not exceed tracker.high_score",
                ));
            }
        }
        if t.confirm_hits == Some(0) {
            return Err(invalid(
                "tracker.confirm_hits",
                "0".into(),
                "must be at least 1",
            ));
        }
        for (key, v) in [
            ("tracker.max_lost_s", t.max_lost_s),
            ("tracker.max_lost_still_s", t.max_lost_still_s),
            ("tracker.max_lost_reid_s", t.max_lost_reid_s),
        ] {
            if let Some(s) = v {
                if !(s.is_finite() && (0.0..=3600.0).contains(&s)) {
                    return Err(invalid(
                        key,
                        s.to_string(),
                        "must be between 0 and 3600 seconds",
                    ));
                }
            }
        }
        if let Some(c) = t.coast_s {
            if !(c.is_finite() && (0.0..=10.0).contains(&c)) {
                return Err(invalid(
                    "tracker.coast_s",
                    c.to_string(),
                    "must be between 0 and 10 seconds",
                ));
            }
        }
        for (key, v) in [
            ("tracker.appearance_weight", t.appearance_weight),
            ("tracker.reid_speed", t.reid_speed),
        ] {
            if let Some(v) = v {
                if !(v.is_finite() && (0.0..=100.0).contains(&v)) {
                    return Err(invalid(key, v.to_string(), "must be in [0, 100]"));
                }
            }
        }
        if self.runtime.threads == 0 || self.runtime.threads > 256 {
            return Err(invalid(
                "runtime.threads",
                self.runtime.threads.to_string(),
                "must be between 1 and 256",
            ));
        }
        self.validate_analytics(origin)?;
        self.validate_faces(origin)?;
        self.validate_mqtt(origin)?;
        self.commands.validate(origin)?;
        self.validate_cameras(origin)?;
        // (camera, name) -> the path of the zone or line that has it.
        let mut names = Names::new();
        self.validate_zones(origin, &mut names)?;
        self.validate_lines(origin, &mut names)
    }

    /// Checks `[mqtt]`: the broker URL, names that are topic levels, ranges.
    fn validate_mqtt(&self, origin: &str) -> Result<(), ConfigError> {
        let Some(m) = &self.mqtt else { return Ok(()) };
        let invalid = |key: &'static str, value: String, reason: String| ConfigError::Invalid {
            origin: origin.to_string(),
            key,
            value,
            reason,
        };
        let addr = match m.broker_addr() {
            Ok(a) => a,
            Err(reason) => {
                return Err(invalid(
                    "mqtt.broker",
                    format!("{:?}", m.broker),
                    format!("{reason}, or be \"{EMBEDDED_BROKER}\""),
                ))
            }
        };
        if let Some(port) = m.embedded_port {
            if !m.is_embedded() {
                return Err(invalid(
                    "mqtt.embedded_port",
                    port.to_string(),
                    format!("only with broker = \"{EMBEDDED_BROKER}\""),
                ));
            }
            if port == 0 {
                return Err(invalid(
                    "mqtt.embedded_port",
                    "0".into(),
                    "must be in 1..=65535".into(),
                ));
            }
        }
        let files = [
            ("mqtt.ca_file", &m.ca_file),
            ("mqtt.client_cert_file", &m.client_cert_file),
            ("mqtt.client_key_file", &m.client_key_file),
            ("mqtt.credentials_file", &m.credentials_file),
        ];
        for (key, file) in files {
            let Some(file) = file else { continue };
            let shown = format!("{:?}", file.display().to_string());
            if file.as_os_str().is_empty() {
                return Err(invalid(key, shown, "is empty: name a file".into()));
            }
            if m.is_embedded() {
                return Err(invalid(
                    key,
                    shown,
                    "the embedded broker is plain MQTT on loopback without authentication: remove this key, or point `mqtt.broker` at an external broker".into(),
                ));
            }
            if !addr.tls && key != "mqtt.credentials_file" {
                return Err(invalid(
                    key,
                    shown,
                    format!(
                        "TLS settings need an mqtts:// broker (mqtt.broker is {:?})",
                        m.broker
                    ),
                ));
            }
        }
        match (&m.client_cert_file, &m.client_key_file) {
            (Some(cert), None) => {
                return Err(invalid(
                    "mqtt.client_cert_file",
                    format!("{:?}", cert.display().to_string()),
                    "needs `mqtt.client_key_file` (the certificate's private key)".into(),
                ))
            }
            (None, Some(key)) => {
                return Err(invalid(
                    "mqtt.client_key_file",
                    format!("{:?}", key.display().to_string()),
                    "needs `mqtt.client_cert_file` (the certificate of this key)".into(),
                ))
            }
            _ => {}
        }
        for (key, v) in [("mqtt.site", &m.site), ("mqtt.device", &m.device)] {
            if !is_id(v) {
                return Err(invalid(
                    key,
                    format!("{v:?}"),
                    "must be 1 to 64 of a-z 0-9 _ - (it is a topic level)".into(),
                ));
            }
        }
        if let Some(id) = &m.client_id {
            if id.is_empty() || id.len() > 128 || id.chars().any(char::is_control) {
                return Err(invalid(
                    "mqtt.client_id",
                    format!("{id:?}"),
                    "must be 1 to 128 bytes without control characters".into(),
                ));
            }
        }
        if !(5..=3600).contains(&m.keep_alive_s) {
            return Err(invalid(
                "mqtt.keep_alive_s",
                m.keep_alive_s.to_string(),
                "must be between 5 and 3600".into(),
            ));
        }
        if m.spool_max_bytes < MIN_SPOOL_MAX_BYTES {
            return Err(invalid(
                "mqtt.spool_max_bytes",
                m.spool_max_bytes.to_string(),
                format!("must be at least {MIN_SPOOL_MAX_BYTES} (64 KiB)"),
            ));
        }
        if m.metrics_expiry_s == 0 {
            return Err(invalid(
                "mqtt.metrics_expiry_s",
                "0".into(),
                "must be at least 1 (seconds)".into(),
            ));
        }
        if !(5..=3600).contains(&m.health_interval_s) {
            return Err(invalid(
                "mqtt.health_interval_s",
                m.health_interval_s.to_string(),
                "must be within 5..=3600 (seconds)".into(),
            ));
        }
        Ok(())
    }

    /// Checks `[analytics]`: window lengths that tile the hour and the day, thresholds within
    /// an hour, the privacy settings and the heatmap grid.
    fn validate_analytics(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid = |key: &'static str, value: String, reason: String| ConfigError::Invalid {
            origin: origin.to_string(),
            key,
            value,
            reason,
        };
        let a = &self.analytics;
        if a.window_s == 0 || !3600u32.is_multiple_of(a.window_s) {
            return Err(invalid(
                "analytics.window_s",
                a.window_s.to_string(),
                "must be at least 1 and divide 3600 (e.g. 10, 15, 30, 60, 300), so that windows line up with the wall-clock hour".into(),
            ));
        }
        let r = a.report_window_s;
        if r == 0 || !r.is_multiple_of(a.window_s) || !86400u32.is_multiple_of(r) {
            return Err(invalid(
                "analytics.report_window_s",
                r.to_string(),
                format!(
                    "must be a multiple of analytics.window_s ({}) that divides 86400 (e.g. 300, 900, 3600), so that report windows line up with the wall-clock day",
                    a.window_s
                ),
            ));
        }
        for (key, v) in [
            ("analytics.bounce_s", a.bounce_s),
            ("analytics.engaged_s", a.engaged_s),
            ("analytics.reentry_gap_s", a.reentry_gap_s),
            ("analytics.lost_grace_s", a.lost_grace_s),
        ] {
            if !(v.is_finite() && (0.0..=3600.0).contains(&v)) {
                return Err(invalid(
                    key,
                    v.to_string(),
                    "must be between 0 and 3600 seconds".into(),
                ));
            }
        }
        if !(a.min_visit_s.is_finite() && (0.0..=60.0).contains(&a.min_visit_s)) {
            return Err(invalid(
                "analytics.min_visit_s",
                a.min_visit_s.to_string(),
                "must be between 0 and 60 seconds".to_string(),
            ));
        }
        if a.bounce_s > a.engaged_s {
            return Err(invalid(
                "analytics.bounce_s",
                a.bounce_s.to_string(),
                format!(
                    "must not exceed analytics.engaged_s ({}): a bounce is a visit too short to be engaged",
                    a.engaged_s
                ),
            ));
        }
        if !(1..=1000).contains(&a.min_visitors) {
            return Err(invalid(
                "analytics.min_visitors",
                a.min_visitors.to_string(),
                "must be between 1 and 1000".into(),
            ));
        }
        if !(a.staff_share > 0.0 && a.staff_share <= 1.0) {
            return Err(invalid(
                "analytics.staff_share",
                a.staff_share.to_string(),
                "must be in (0, 1]".into(),
            ));
        }
        for (key, v) in [
            ("analytics.heatmap_cols", a.heatmap_cols),
            ("analytics.heatmap_rows", a.heatmap_rows),
        ] {
            if !(1..=64).contains(&v) {
                return Err(invalid(
                    key,
                    v.to_string(),
                    "must be between 1 and 64".into(),
                ));
            }
        }
        Ok(())
    }

    /// Why `id` (the `camera` key of a zone or line) names no `[[cameras]]` entry, or `None`.
    fn camera_ref_problem(&self, id: &str) -> Option<String> {
        if self.camera(id).is_some() {
            return None;
        }
        if self.cameras.is_empty() {
            return Some(
                "no [[cameras]] are configured: add the camera this is drawn on first".into(),
            );
        }
        let known: Vec<String> = self.cameras.iter().map(|c| format!("`{}`", c.id)).collect();
        Some(format!(
            "no [[cameras]] entry has this id; known ids: {}",
            known.join(", ")
        ))
    }

    /// What zones and lines share: the camera exists and holds at most `max` of them, and the
    /// name is well formed and unique per camera. `Some((key, value, reason))` on a problem.
    fn subject_problem<'a>(
        &self,
        path: &str,
        s: &Subject<'a>,
        per_camera: &mut std::collections::HashMap<&'a str, usize>,
        names: &mut Names<'a>,
    ) -> Option<(&'static str, String, String)> {
        if let Some(reason) = self.camera_ref_problem(s.camera) {
            return Some(("camera", format!("{:?}", s.camera), reason));
        }
        let n = per_camera.entry(s.camera).or_default();
        *n += 1;
        if *n > s.max {
            return Some((
                "camera",
                format!("{:?}", s.camera),
                format!("camera `{}` has more than {} {}", s.camera, s.max, s.what),
            ));
        }
        subject_name_problem(names, s.camera, s.name, path)
            .map(|reason| ("name", format!("{:?}", s.name), reason))
    }

    /// Checks every `[[zones]]` entry: its camera, its name (shape, uniqueness per camera
    /// across zones and lines), the polygon (3-64 vertices in [0, 1], no repeated vertex, an
    /// area of at least [`MIN_ZONE_AREA`], not crossing itself) and the capacity.
    fn validate_zones<'a>(
        &'a self,
        origin: &str,
        names: &mut Names<'a>,
    ) -> Result<(), ConfigError> {
        let at = |path: String, value: String, reason: String| ConfigError::At {
            origin: origin.to_string(),
            path,
            value,
            reason,
        };
        let mut per_camera = std::collections::HashMap::<&str, usize>::new();
        for (i, z) in self.zones.iter().enumerate() {
            let path = format!("zones[{i}]");
            let subject = Subject {
                camera: &z.camera,
                name: &z.name,
                what: "zones",
                max: MAX_ZONES_PER_CAMERA,
            };
            if let Some((key, value, reason)) =
                self.subject_problem(&path, &subject, &mut per_camera, names)
            {
                return Err(at(format!("{path}.{key}"), value, reason));
            }
            let poly = &z.polygon;
            if !(3..=MAX_POLYGON_VERTICES).contains(&poly.len()) {
                return Err(at(
                    format!("{path}.polygon"),
                    fmt_points(poly),
                    format!(
                        "must have 3 to {MAX_POLYGON_VERTICES} vertices [x, y], has {}",
                        poly.len()
                    ),
                ));
            }
            for (j, &p) in poly.iter().enumerate() {
                if !point_in_unit_square(p) {
                    return Err(at(
                        format!("{path}.polygon[{j}]"),
                        fmt_point(p),
                        "coordinates must be finite and in [0, 1] (normalised: pixel x / image width, pixel y / image height, origin top left)".into(),
                    ));
                }
                let prev = poly[(j + poly.len() - 1) % poly.len()];
                if p == prev {
                    return Err(at(
                        format!("{path}.polygon[{j}]"),
                        fmt_point(p),
                        format!(
                            "repeats vertex {} (the one before it, cyclically); remove it",
                            (j + poly.len() - 1) % poly.len()
                        ),
                    ));
                }
            }
            // The triangle fan from vertex 0, unsigned, bounds every lobe of the polygon: when
            // even it is tiny, the vertices lie (nearly) on one line, whatever crosses.
            let fan: f64 = (1..poly.len() - 1)
                .map(|k| polygon::cross(poly[0], poly[k], poly[k + 1]).abs() / 2.0)
                .sum();
            let area = polygon::area(poly);
            let degenerate = format!(
                "the polygon is degenerate: its area is {} of the image (zero or nearly zero: vertices on one line, or a zone too small), at least {MIN_ZONE_AREA:e} (1% x 1%) is needed",
                fmt_small(area)
            );
            if fan < MIN_ZONE_AREA {
                return Err(at(format!("{path}.polygon"), fmt_points(poly), degenerate));
            }
            if let Some((e1, e2)) = polygon::self_intersection(poly) {
                let edge = |e: usize| {
                    format!(
                        "{} -> {}",
                        fmt_point(poly[e]),
                        fmt_point(poly[(e + 1) % poly.len()])
                    )
                };
                let adjacent = e2 == e1 + 1 || (e1 == 0 && e2 == poly.len() - 1);
                let ends = |e: usize| (poly[e], poly[(e + 1) % poly.len()]);
                let ((a, b), (c, d)) = (ends(e1), ends(e2));
                let proper = polygon::cross(a, b, c) * polygon::cross(a, b, d) < 0.0
                    && polygon::cross(c, d, a) * polygon::cross(c, d, b) < 0.0;
                let how = if adjacent {
                    "fold back onto each other"
                } else if proper {
                    "cross"
                } else {
                    "touch"
                };
                return Err(at(
                    format!("{path}.polygon"),
                    fmt_points(poly),
                    format!(
                        "edges {e1} and {e2} {how} (edge {e1}: {}, edge {e2}: {}; edge k runs from vertex k to the next): list the vertices in order around the zone",
                        edge(e1),
                        edge(e2)
                    ),
                ));
            }
            if area < MIN_ZONE_AREA {
                return Err(at(format!("{path}.polygon"), fmt_points(poly), degenerate));
            }
            if z.capacity == Some(0) {
                return Err(at(
                    format!("{path}.capacity"),
                    "0".into(),
                    "must be at least 1 (leave it out when unknown)".into(),
                ));
            }
            if let Some(t) = z.attention_target {
                if z.kind != ZoneKind::Display {
                    return Err(at(
                        format!("{path}.attention_target"),
                        format!("[{}, {}]", t[0], t[1]),
                        format!(
                            "only display zones take an attention target (this one is {})",
                            z.kind
                        ),
                    ));
                }
                if !t.iter().all(|v| v.is_finite() && (0.0..=1.0).contains(v)) {
                    return Err(at(
                        format!("{path}.attention_target"),
                        format!("[{}, {}]", t[0], t[1]),
                        "must be a point in normalised image coordinates (0..1)".into(),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Checks every `[[lines]]` entry: its camera, its name, the end points and the length.
    fn validate_lines<'a>(
        &'a self,
        origin: &str,
        names: &mut Names<'a>,
    ) -> Result<(), ConfigError> {
        let at = |path: String, value: String, reason: String| ConfigError::At {
            origin: origin.to_string(),
            path,
            value,
            reason,
        };
        let mut per_camera = std::collections::HashMap::<&str, usize>::new();
        for (i, l) in self.lines.iter().enumerate() {
            let path = format!("lines[{i}]");
            let subject = Subject {
                camera: &l.camera,
                name: &l.name,
                what: "lines",
                max: MAX_LINES_PER_CAMERA,
            };
            if let Some((key, value, reason)) =
                self.subject_problem(&path, &subject, &mut per_camera, names)
            {
                return Err(at(format!("{path}.{key}"), value, reason));
            }
            for (key, p) in [("from", l.from), ("to", l.to)] {
                if !point_in_unit_square(p) {
                    return Err(at(
                        format!("{path}.{key}"),
                        fmt_point(p),
                        "coordinates must be finite and in [0, 1] (normalised: pixel x / image width, pixel y / image height, origin top left)".into(),
                    ));
                }
            }
            let length = (l.to[0] - l.from[0]).hypot(l.to[1] - l.from[1]);
            if length < MIN_LINE_LENGTH {
                return Err(at(
                    path,
                    format!("from {} to {}", fmt_point(l.from), fmt_point(l.to)),
                    format!(
                        "the line is {length:.4} long (normalised), at least {MIN_LINE_LENGTH} is needed"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Checks every `[[cameras]]` entry: id syntax and uniqueness, URL form (no password in
    /// it), credentials name.
    fn validate_cameras(&self, origin: &str) -> Result<(), ConfigError> {
        let mut seen = std::collections::HashSet::new();
        for (i, cam) in self.cameras.iter().enumerate() {
            let err = |key: &str, value: String, reason: String| ConfigError::Camera {
                origin: origin.to_string(),
                camera: if cam.id.is_empty() {
                    format!("#{}", i + 1)
                } else {
                    cam.id.clone()
                },
                key: format!("cameras[{i}].{key}"),
                value,
                reason,
            };
            if !is_id(&cam.id) {
                return Err(err(
                    "id",
                    format!("{:?}", cam.id),
                    "must be 1-64 characters of a-z, 0-9, `_` and `-`".into(),
                ));
            }
            if !seen.insert(cam.id.as_str()) {
                return Err(err(
                    "id",
                    format!("{:?}", cam.id),
                    "another camera has the same id; ids must be unique".into(),
                ));
            }
            if let Some(reason) = url_problem(&cam.url) {
                return Err(err(
                    "url",
                    format!("{:?}", redact_userinfo(&cam.url)),
                    reason,
                ));
            }
            if let Some(name) = &cam.credentials {
                if !is_file_name(name) {
                    return Err(err(
                        "credentials",
                        format!("{name:?}"),
                        "must be a file name in the credentials directory (letters, digits, `_ - . @`), not a path".into(),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The camera with this id.
    pub fn camera(&self, id: &str) -> Option<&CameraConfig> {
        self.cameras.iter().find(|c| c.id == id)
    }

    /// The directory of credential files: `runtime.credentials_dir`, else
    /// `$CREDENTIALS_DIRECTORY`; `None` when neither is set.
    pub fn credentials_dir(&self) -> Option<PathBuf> {
        if let Some(dir) = &self.runtime.credentials_dir {
            return Some(expand_home(dir));
        }
        std::env::var_os(CREDENTIALS_DIR_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    }

    /// A camera's credentials: from the file named by its `credentials` key in the credentials
    /// directory, else from `AISLE_CAMERA_<ID>_USER` / `_PASSWORD`; `None` when it has neither.
    pub fn camera_credentials(
        &self,
        camera: &CameraConfig,
    ) -> Result<Option<CameraCredentials>, ConfigError> {
        self.camera_credentials_with(camera, |k| std::env::var(k).ok())
    }

    /// [`Config::camera_credentials`] with the environment given by `env` (for tests).
    pub fn camera_credentials_with(
        &self,
        camera: &CameraConfig,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<CameraCredentials>, ConfigError> {
        let fail = |detail: String| ConfigError::Credentials {
            camera: camera.id.clone(),
            detail,
        };
        if let Some(name) = &camera.credentials {
            let Some(dir) = self.credentials_dir() else {
                return Err(fail(format!(
                    "`credentials = \"{name}\"` needs a credentials directory: set `runtime.credentials_dir`, or run under systemd with `LoadCredential={name}:/path/to/file` (which sets ${CREDENTIALS_DIR_ENV})"
                )));
            };
            let path = dir.join(name);
            let text = std::fs::read_to_string(&path).map_err(|e| {
                fail(format!(
                    "cannot read {}: {e}; create it with one line `user:password` (mode 0600)",
                    path.display()
                ))
            })?;
            let line = text.lines().next().unwrap_or("").trim_end_matches('\r');
            return match line.split_once(':') {
                Some((user, pass)) if !user.is_empty() => Ok(Some(CameraCredentials {
                    username: user.to_string(),
                    password: pass.to_string(),
                })),
                _ => Err(fail(format!(
                    "{} must hold one line `user:password` (user not empty)",
                    path.display()
                ))),
            };
        }
        let (user_var, pass_var) = camera.credential_env_vars();
        match (env(&user_var), env(&pass_var)) {
            (Some(user), Some(password)) if !user.is_empty() => Ok(Some(CameraCredentials {
                username: user,
                password,
            })),
            (None, None) => Ok(None),
            _ => Err(fail(format!(
                "set both {user_var} (not empty) and {pass_var}, or neither"
            ))),
        }
    }

    /// The cache directory: config, else `$AISLE_CACHE`, else `$HOME/.cache/aisle`.
    pub fn cache_dir(&self) -> PathBuf {
        if let Some(dir) = &self.runtime.cache_dir {
            return expand_home(dir);
        }
        match std::env::var_os(CACHE_ENV) {
            Some(v) if !v.is_empty() => PathBuf::from(v),
            _ => home_dir().join(".cache").join("aisle"),
        }
    }

    /// The MQTT spool directory: `mqtt.spool_dir`, else `$STATE_DIRECTORY/spool`, else
    /// `<cache_dir>/spool`. `None` without an `[mqtt]` section.
    pub fn spool_dir(&self) -> Option<PathBuf> {
        let m = self.mqtt.as_ref()?;
        if let Some(dir) = &m.spool_dir {
            return Some(expand_home(dir));
        }
        Some(match std::env::var_os(STATE_DIR_ENV) {
            Some(v) if !v.is_empty() => PathBuf::from(v).join("spool"),
            _ => self.cache_dir().join("spool"),
        })
    }

    /// Where a file named by an `[mqtt]` key (`ca_file`, `client_cert_file`,
    /// `client_key_file`, `credentials_file`) is: an absolute path as it is, `~/...` in the home
    /// directory, any other relative path in the credentials directory
    /// ([`Config::credentials_dir`], i.e. `$CREDENTIALS_DIRECTORY` under systemd's
    /// `LoadCredential=`). `Err` says why a relative path cannot be resolved.
    pub fn mqtt_file(&self, key: &str, file: &Path) -> Result<PathBuf, String> {
        if file.is_absolute() || file.starts_with("~") {
            return Ok(expand_home(file));
        }
        match self.credentials_dir() {
            Some(dir) => Ok(dir.join(file)),
            None => Err(format!(
                "{key} = {:?} is a relative path, which names a file in the credentials directory, and none is set: give an absolute path, set `runtime.credentials_dir`, or run under systemd with `LoadCredential=` (which sets ${CREDENTIALS_DIR_ENV})",
                file.display().to_string()
            )),
        }
    }

    /// Where converted models are looked up.
    pub fn models_dir(&self) -> PathBuf {
        match &self.models.dir {
            Some(dir) => expand_home(dir),
            None => self.cache_dir().join("models"),
        }
    }

    /// The ONNX Runtime library to load and a description of where that choice came from.
    pub fn ort_library(&self) -> (PathBuf, &'static str) {
        if let Some(p) = &self.runtime.ort_library {
            return (expand_home(p), "runtime.ort_library in the config");
        }
        match std::env::var_os(ORT_ENV) {
            Some(v) if !v.is_empty() => {
                (PathBuf::from(v), "the ORT_DYLIB_PATH environment variable")
            }
            _ => (
                self.cache_dir().join("lib").join("libonnxruntime.so"),
                "the default location under the cache (installed by scripts/setup.sh)",
            ),
        }
    }
}

/// Whether `name` is a plain file name of the credentials directory: letters, digits and
/// `_ - . @`, not `.` or `..`.
fn is_file_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.@".contains(&b))
}

/// Whether `s` is 1-64 characters of `a-z`, `0-9`, `_` and `-` (camera ids, zone and line
/// names).
fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Zone and line names seen so far: (camera, name) -> path of the entry (`zones[0]`).
type Names<'a> = std::collections::HashMap<(&'a str, &'a str), String>;

/// Why `name`, of the zone or line at `path` on `camera`, is not usable: its shape, the
/// reserved name, or an earlier zone or line on the same camera with the same name (recorded in
/// `names` otherwise). `None` when it is fine.
fn subject_name_problem<'a>(
    names: &mut Names<'a>,
    camera: &'a str,
    name: &'a str,
    path: &str,
) -> Option<String> {
    if !is_id(name) {
        return Some("must be 1-64 characters of a-z, 0-9, `_` and `-`".into());
    }
    if name == RESERVED_SUBJECT_NAME || name == FACES_SUBJECT_NAME {
        return Some(format!(
            "`{name}` is reserved for a camera-wide record; choose another name"
        ));
    }
    if let Some(first) = names.get(&(camera, name)) {
        return Some(format!(
            "{first} on camera `{camera}` has the same name; zone and line names must be unique per camera (each names an MQTT topic)"
        ));
    }
    names.insert((camera, name), path.to_string());
    None
}

/// Whether both coordinates are finite and in [0, 1].
fn point_in_unit_square(p: [f64; 2]) -> bool {
    p.iter().all(|v| v.is_finite() && (0.0..=1.0).contains(v))
}

/// A point as TOML writes it: `[0.25, 1.0]`.
fn fmt_point(p: [f64; 2]) -> String {
    format!("[{:?}, {:?}]", p[0], p[1])
}

/// A small non-negative number, readable: `0`, `0.0123` or `5.0e-5`.
fn fmt_small(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v >= 1e-3 {
        format!("{v:.4}")
    } else {
        format!("{v:.1e}")
    }
}

/// A list of points as TOML writes it; past 16 points, the first 16 and the count.
fn fmt_points(ps: &[[f64; 2]]) -> String {
    const SHOWN: usize = 16;
    let inner: Vec<String> = ps.iter().take(SHOWN).map(|&p| fmt_point(p)).collect();
    if ps.len() > SHOWN {
        format!("[{}, ... ({} vertices)]", inner.join(", "), ps.len())
    } else {
        format!("[{}]", inner.join(", "))
    }
}

/// Why `url` is not a usable camera URL, or `None` when it is fine. Anything without `://` is a
/// file path.
fn url_problem(url: &str) -> Option<String> {
    if url.trim().is_empty() {
        return Some("give an rtsp:// URL or a video file path".into());
    }
    // Anything without a scheme is a file path.
    let (scheme, rest) = url.split_once("://")?;
    if scheme != "rtsp" {
        return Some(format!(
            "the scheme `{scheme}` is not supported: use rtsp://host[:port]/path or a file path"
        ));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let (userinfo, host) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    if userinfo.is_some_and(|u| u.contains(':')) {
        return Some(
            "the URL contains a password: remove `user:password@` and name a credentials file with `credentials = \"<name>\"` (or set AISLE_CAMERA_<ID>_USER / _PASSWORD)".into(),
        );
    }
    if host.is_empty() || host.starts_with(':') {
        return Some("the URL has no host: use rtsp://host[:port]/path".into());
    }
    None
}

/// `url` with whatever stands before the `@` of its authority replaced by `***`.
fn redact_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{scheme}://***{}", &rest[at..]),
        None => url.to_string(),
    }
}

fn home_dir() -> PathBuf {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/lib/aisle"))
}

/// Expands a leading `~/` to `$HOME/`.
fn expand_home(p: &Path) -> PathBuf {
    match p.strip_prefix("~") {
        Ok(rest) => home_dir().join(rest),
        Err(_) => p.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tracker_section_is_checked_with_the_key_named() {
        let c = super::Config::parse("[tracker]\nhigh_score = 0.6\nmax_lost_s = 5\n", "t.toml")
            .unwrap();
        assert_eq!(c.tracker.high_score, Some(0.6));
        assert_eq!(c.tracker.max_lost_s, Some(5.0));
        assert_eq!(c.tracker.low_score, None);
        let e = super::Config::parse("[tracker]\nlow_score = 1.5\n", "t.toml").unwrap_err();
        assert!(
            e.to_string().contains("tracker.low_score") && e.to_string().contains("1.5"),
            "{e}"
        );
        let e = super::Config::parse("[tracker]\nlow_score = 0.6\nhigh_score = 0.4\n", "t.toml")
            .unwrap_err();
        assert!(e.to_string().contains("must not exceed"), "{e}");
        let e = super::Config::parse("[tracker]\nmax_lost = 3\n", "t.toml").unwrap_err();
        assert!(e.to_string().contains("max_lost"), "{e}");
    }

    use super::*;

    #[test]
    fn empty_file_gives_defaults() {
        let c = Config::parse("", "test").unwrap();
        assert_eq!(c.detector.model, "nanodet");
        assert_eq!(c.detector.classes, vec!["person".to_string()]);
        assert_eq!(c.runtime.gpu, GpuPolicy::Preferred);
    }

    #[test]
    fn full_file_parses() {
        let c = Config::parse(
            r#"
            [runtime]
            cache_dir = "/tmp/x"
            ort_library = "/opt/ort/libonnxruntime.so"
            threads = 4
            gpu = "off"
            [models]
            dir = "/data/models"
            [detector]
            model = "nanodet"
            score_threshold = 0.4
            nms_iou = 0.6
            classes = ["person", "handbag"]
            max_detections = 50
            "#,
            "test",
        )
        .unwrap();
        assert_eq!(c.cache_dir(), PathBuf::from("/tmp/x"));
        assert_eq!(c.models_dir(), PathBuf::from("/data/models"));
        assert_eq!(
            c.ort_library().0,
            PathBuf::from("/opt/ort/libonnxruntime.so")
        );
        assert_eq!(c.runtime.gpu, GpuPolicy::Off);
        assert_eq!(c.detector.max_detections, 50);
    }

    #[test]
    fn unknown_key_names_the_key_and_line() {
        let err = Config::parse("[detector]\nscore_treshold = 0.2\n", "site.toml").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("site.toml"), "{msg}");
        assert!(msg.contains("score_treshold"), "{msg}");
        assert!(msg.contains("line 2"), "{msg}");
    }

    #[test]
    fn wrong_type_and_bad_enum_are_errors() {
        let msg = Config::parse("[runtime]\nthreads = \"two\"\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("threads"), "{msg}");
        let msg = Config::parse("[runtime]\ngpu = \"maybe\"\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("maybe"), "{msg}");
    }

    #[test]
    fn out_of_range_values_name_the_key_and_value() {
        let msg = Config::parse("[detector]\nscore_threshold = 1.5\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("detector.score_threshold") && msg.contains("1.5"),
            "{msg}"
        );
        let msg = Config::parse("[detector]\nclasses = []\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("detector.classes"), "{msg}");
        let msg = Config::parse("[runtime]\nthreads = 0\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("runtime.threads"), "{msg}");
        assert!(Config::parse("[detector]\nnms_iou = nan\n", "c.toml").is_err());
    }

    #[test]
    fn cameras_parse_with_defaults() {
        let c = Config::parse(
            r#"
            [runtime]
            credentials_dir = "/run/creds"
            [[cameras]]
            id = "entrance-1"
            url = "rtsp://10.0.0.5:554/stream1"
            credentials = "entrance"
            [[cameras]]
            id = "till_2"
            url = "rtsp://admin@cam.local/h264"
            transport = "udp"
            [[cameras]]
            id = "replay"
            url = "/var/lib/aisle/recording.mp4"
            "#,
            "site.toml",
        )
        .unwrap();
        assert_eq!(c.cameras.len(), 3);
        assert_eq!(c.cameras[0].transport, CameraTransport::Tcp);
        assert_eq!(c.cameras[0].credentials.as_deref(), Some("entrance"));
        assert!(c.cameras[0].is_rtsp());
        assert_eq!(c.cameras[1].transport, CameraTransport::Udp);
        assert!(!c.camera("replay").unwrap().is_rtsp());
        assert_eq!(c.credentials_dir(), Some(PathBuf::from("/run/creds")));
        assert_eq!(
            c.cameras[0].credential_env_vars(),
            (
                "AISLE_CAMERA_ENTRANCE_1_USER".to_string(),
                "AISLE_CAMERA_ENTRANCE_1_PASSWORD".to_string()
            )
        );
    }

    fn camera_error(toml: &str) -> String {
        Config::parse(toml, "site.toml").unwrap_err().to_string()
    }

    #[test]
    fn camera_errors_name_the_camera_and_key() {
        let msg = camera_error("[[cameras]]\nid = \"Door 1\"\nurl = \"rtsp://cam/x\"\n");
        assert!(
            msg.contains("cameras[0].id") && msg.contains("Door 1"),
            "{msg}"
        );
        let msg = camera_error(
            "[[cameras]]\nid = \"door\"\nurl = \"rtsp://a/x\"\n[[cameras]]\nid = \"door\"\nurl = \"rtsp://b/x\"\n",
        );
        assert!(
            msg.contains("cameras[1].id") && msg.contains("unique"),
            "{msg}"
        );
        let msg = camera_error("[[cameras]]\nid = \"door\"\nurl = \"http://cam/x\"\n");
        assert!(
            msg.contains("camera `door`") && msg.contains("cameras[0].url"),
            "{msg}"
        );
        let msg = camera_error("[[cameras]]\nid = \"door\"\nurl = \"rtsp:///x\"\n");
        assert!(msg.contains("no host"), "{msg}");
        let msg = camera_error("[[cameras]]\nid = \"door\"\nurl = \"\"\n");
        assert!(msg.contains("cameras[0].url"), "{msg}");
        let msg = camera_error(
            "[[cameras]]\nid = \"door\"\nurl = \"rtsp://a/x\"\ncredentials = \"../etc/passwd\"\n",
        );
        assert!(msg.contains("cameras[0].credentials"), "{msg}");
        let msg = camera_error(
            "[[cameras]]\nid = \"door\"\nurl = \"rtsp://a/x\"\ntransport = \"http\"\n",
        );
        assert!(msg.contains("http"), "{msg}");
        let msg = camera_error("[[cameras]]\nid = \"door\"\nurl = \"rtsp://a/x\"\nport = 1\n");
        assert!(msg.contains("port"), "{msg}");
        let msg = camera_error("[[cameras]]\nurl = \"rtsp://a/x\"\n");
        assert!(msg.contains("id"), "{msg}");
    }

    #[test]
    fn a_password_in_the_url_is_rejected_without_echoing_it() {
        let msg = camera_error(
            "[[cameras]]\nid = \"till-3\"\nurl = \"rtsp://admin:hunter2@10.0.0.7/live\"\n",
        );
        assert!(msg.contains("camera `till-3`"), "{msg}");
        assert!(msg.contains("password"), "{msg}");
        assert!(!msg.contains("hunter2"), "{msg}");
        assert!(msg.contains("rtsp://***@10.0.0.7/live"), "{msg}");
    }

    #[test]
    fn credentials_come_from_the_directory_or_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("door"), "admin:pa:ss\n").unwrap();
        std::fs::write(dir.path().join("broken"), "no colon here\n").unwrap();
        let mut c = Config::parse(
            "[[cameras]]\nid = \"door\"\nurl = \"rtsp://a/x\"\ncredentials = \"door\"\n\
             [[cameras]]\nid = \"side-2\"\nurl = \"rtsp://b/x\"\n\
             [[cameras]]\nid = \"bad\"\nurl = \"rtsp://c/x\"\ncredentials = \"broken\"\n\
             [[cameras]]\nid = \"gone\"\nurl = \"rtsp://d/x\"\ncredentials = \"missing\"\n",
            "site.toml",
        )
        .unwrap();
        c.runtime.credentials_dir = Some(dir.path().to_path_buf());
        let no_env = |_: &str| None;
        let door = c
            .camera_credentials_with(c.camera("door").unwrap(), no_env)
            .unwrap()
            .unwrap();
        assert_eq!(
            (door.username.as_str(), door.password.as_str()),
            ("admin", "pa:ss")
        );
        assert!(!format!("{door:?}").contains("pa:ss"));

        let side = c.camera("side-2").unwrap();
        assert_eq!(c.camera_credentials_with(side, no_env).unwrap(), None);
        let env = |k: &str| match k {
            "AISLE_CAMERA_SIDE_2_USER" => Some("viewer".to_string()),
            "AISLE_CAMERA_SIDE_2_PASSWORD" => Some("s3cret".to_string()),
            _ => None,
        };
        let side_creds = c.camera_credentials_with(side, env).unwrap().unwrap();
        assert_eq!(side_creds.username, "viewer");
        assert_eq!(side_creds.password, "s3cret");
        let half = |k: &str| (k == "AISLE_CAMERA_SIDE_2_USER").then(|| "viewer".to_string());
        let msg = c
            .camera_credentials_with(side, half)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("side-2") && msg.contains("AISLE_CAMERA_SIDE_2_PASSWORD"),
            "{msg}"
        );

        let msg = c
            .camera_credentials_with(c.camera("bad").unwrap(), no_env)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("camera `bad`") && msg.contains("user:password"),
            "{msg}"
        );
        assert!(!msg.contains("no colon here"), "{msg}");
        let msg = c
            .camera_credentials_with(c.camera("gone").unwrap(), no_env)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("camera `gone`") && msg.contains("missing"),
            "{msg}"
        );

        c.runtime.credentials_dir = None;
        if std::env::var_os(CREDENTIALS_DIR_ENV).is_none() {
            let msg = c
                .camera_credentials_with(c.camera("door").unwrap(), no_env)
                .unwrap_err()
                .to_string();
            assert!(
                msg.contains("LoadCredential") && msg.contains("runtime.credentials_dir"),
                "{msg}"
            );
        }
    }

    #[test]
    fn missing_file_names_the_path() {
        let msg = Config::load(Path::new("/nonexistent/aisle.toml"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("/nonexistent/aisle.toml"), "{msg}");
    }

    // ---- [analytics], [[zones]], [[lines]] ----

    const CAMS: &str = "[[cameras]]\nid = \"door\"\nurl = \"door.mp4\"\n\
                        [[cameras]]\nid = \"till\"\nurl = \"till.mp4\"\n";
    const SQUARE: &str = "[[0.1, 0.1], [0.4, 0.1], [0.4, 0.4], [0.1, 0.4]]";

    fn zone(camera: &str, name: &str, polygon: &str) -> String {
        format!(
            "[[zones]]\ncamera = \"{camera}\"\nname = \"{name}\"\nkind = \"aisle\"\npolygon = {polygon}\n"
        )
    }

    fn line(camera: &str, name: &str, from: &str, to: &str) -> String {
        format!("[[lines]]\ncamera = \"{camera}\"\nname = \"{name}\"\nfrom = {from}\nto = {to}\n")
    }

    /// The error text of `CAMS` followed by `rest`, which must be rejected.
    fn site_error(rest: &str) -> String {
        match Config::parse(&format!("{CAMS}{rest}"), "site.toml") {
            Ok(_) => panic!("accepted:\n{rest}"),
            Err(e) => e.to_string(),
        }
    }

    fn assert_has(msg: &str, parts: &[&str]) {
        for p in parts {
            assert!(msg.contains(p), "`{p}` missing from: {msg}");
        }
    }

    #[test]
    fn a_full_analytics_example_parses() {
        let c = Config::parse(
            r#"
            [analytics]
            window_s = 30
            report_window_s = 3600
            bounce_s = 1.5
            engaged_s = 10
            reentry_gap_s = 4.0
            lost_grace_s = 2.5
            min_visitors = 3
            staff_share = 0.6
            heatmap_cols = 32
            heatmap_rows = 18

            [[cameras]]
            id = "entrance-1"
            url = "rtsp://10.0.0.5/stream1"
            [[cameras]]
            id = "floor"
            url = "/var/lib/aisle/floor.mp4"

            [[zones]]
            camera = "entrance-1"
            name = "doorway"
            kind = "entrance"
            polygon = [[0.30, 0.55], [0.70, 0.55], [0.75, 0.95], [0.25, 0.95]]

            [[zones]]
            camera = "entrance-1"
            name = "promo-table"
            kind = "display"
            polygon = [[0.05, 0.40], [0.25, 0.40], [0.25, 0.70], [0.05, 0.70]]
            anchor = "centre"
            capacity = 6

            [[zones]]
            camera = "floor"
            name = "aisle_3"
            kind = "aisle"
            polygon = [[0, 0], [1, 0], [1, 0.3], [0.5, 0.5], [0, 0.3]]
            anchor = "top_centre"

            [[zones]]
            camera = "floor"
            name = "queue"
            kind = "queue"
            polygon = [[0.1, 0.6], [0.4, 0.6], [0.4, 1.0], [0.1, 1.0]]
            capacity = 8

            [[zones]]
            camera = "floor"
            name = "till-1"
            kind = "checkout"
            polygon = [[0.5, 0.6], [0.7, 0.6], [0.7, 0.9]]
            anchor = "bottom_center"

            [[zones]]
            camera = "floor"
            name = "back-office"
            kind = "staff"
            polygon = [[0.8, 0.1], [1.0, 0.1], [1.0, 0.5], [0.8, 0.5]]

            [[lines]]
            camera = "entrance-1"
            name = "door"
            from = [0.2, 0.8]
            to = [0.8, 0.8]
            in_side = "left"

            [[lines]]
            camera = "floor"
            name = "door"
            from = [0.5, 0.0]
            to = [0.5, 1.0]
            in_side = "right"
            anchor = "centre"
            "#,
            "site.toml",
        )
        .unwrap();
        let a = &c.analytics;
        assert_eq!((a.window_s, a.report_window_s), (30, 3600));
        assert_eq!((a.bounce_s, a.engaged_s), (1.5, 10.0));
        assert_eq!((a.reentry_gap_s, a.lost_grace_s), (4.0, 2.5));
        assert_eq!((a.min_visitors, a.staff_share), (3, 0.6));
        assert_eq!((a.heatmap_cols, a.heatmap_rows), (32, 18));
        let kinds: Vec<ZoneKind> = c.zones.iter().map(|z| z.kind).collect();
        assert_eq!(
            kinds,
            vec![
                ZoneKind::Entrance,
                ZoneKind::Display,
                ZoneKind::Aisle,
                ZoneKind::Queue,
                ZoneKind::Checkout,
                ZoneKind::Staff,
            ]
        );
        assert_eq!(c.zones[0].anchor, Anchor::BottomCentre);
        assert_eq!(c.zones[0].capacity, None);
        assert_eq!(c.zones[1].anchor, Anchor::Centre);
        assert_eq!(c.zones[1].capacity, Some(6));
        assert_eq!(c.zones[2].anchor, Anchor::TopCentre);
        assert_eq!(c.zones[2].polygon[0], [0.0, 0.0]);
        assert_eq!(c.zones[4].anchor, Anchor::BottomCentre);
        assert_eq!(c.lines.len(), 2);
        assert_eq!(c.lines[0].in_side, LineSide::Left);
        assert_eq!(c.lines[0].anchor, Anchor::BottomCentre);
        assert_eq!((c.lines[0].from, c.lines[0].to), ([0.2, 0.8], [0.8, 0.8]));
        assert_eq!(c.lines[1].in_side, LineSide::Right);
        assert_eq!(c.lines[1].anchor, Anchor::Centre);
    }

    #[test]
    fn analytics_defaults_when_absent_or_partial() {
        let c = Config::parse(CAMS, "site.toml").unwrap();
        assert_eq!(c.analytics, AnalyticsConfig::default());
        assert!(c.zones.is_empty() && c.lines.is_empty());
        let d = &c.analytics;
        assert_eq!((d.window_s, d.report_window_s), (60, 900));
        assert_eq!((d.bounce_s, d.engaged_s), (2.0, 5.0));
        assert_eq!((d.reentry_gap_s, d.lost_grace_s), (6.0, 10.0));
        assert_eq!((d.min_visitors, d.staff_share), (5, 0.5));
        assert_eq!((d.heatmap_cols, d.heatmap_rows), (16, 9));
        // The defaults pass their own validation.
        Config::default().validate("default").unwrap();
        let c = Config::parse("[analytics]\nwindow_s = 10\n", "site.toml").unwrap();
        assert_eq!(c.analytics.window_s, 10);
        assert_eq!(c.analytics.report_window_s, 900);
        assert_eq!(c.analytics.min_visitors, 5);
        // Edges of the ranges are accepted.
        Config::parse(
            "[analytics]\nwindow_s = 3600\nreport_window_s = 86400\nbounce_s = 0\nengaged_s = 3600\n\
             reentry_gap_s = 0\nlost_grace_s = 3600\nmin_visitors = 1000\nstaff_share = 1\n\
             heatmap_cols = 64\nheatmap_rows = 1\n",
            "site.toml",
        )
        .unwrap();
        Config::parse("[analytics]\nwindow_s = 1\nreport_window_s = 1\n", "t").unwrap();
    }

    #[test]
    fn analytics_errors_name_the_key_and_value() {
        let cases: &[(&str, &[&str])] = &[
            (
                "window_s = 0",
                &["analytics.window_s", "= 0", "divide 3600"],
            ),
            ("window_s = 7", &["analytics.window_s", "= 7"]),
            ("window_s = 7200", &["analytics.window_s", "7200"]),
            (
                "report_window_s = 90",
                &[
                    "analytics.report_window_s",
                    "90",
                    "multiple of analytics.window_s (60)",
                ],
            ),
            ("report_window_s = 0", &["analytics.report_window_s", "= 0"]),
            (
                "report_window_s = 50400",
                &["analytics.report_window_s", "50400", "86400"],
            ),
            (
                "window_s = 300\nreport_window_s = 60",
                &["analytics.report_window_s", "= 60"],
            ),
            ("bounce_s = -1", &["analytics.bounce_s", "-1", "3600"]),
            ("min_visit_s = 61", &["analytics.min_visit_s", "61", "60"]),
            ("engaged_s = 4000", &["analytics.engaged_s", "4000"]),
            ("reentry_gap_s = nan", &["analytics.reentry_gap_s", "NaN"]),
            ("lost_grace_s = inf", &["analytics.lost_grace_s", "inf"]),
            (
                "bounce_s = 6",
                &[
                    "analytics.bounce_s",
                    "= 6",
                    "must not exceed analytics.engaged_s (5)",
                ],
            ),
            ("min_visitors = 0", &["analytics.min_visitors", "= 0"]),
            ("min_visitors = 1001", &["analytics.min_visitors", "1001"]),
            (
                "staff_share = 0",
                &["analytics.staff_share", "= 0", "(0, 1]"],
            ),
            ("staff_share = 1.5", &["analytics.staff_share", "1.5"]),
            ("staff_share = nan", &["analytics.staff_share", "NaN"]),
            ("heatmap_cols = 0", &["analytics.heatmap_cols", "= 0"]),
            (
                "heatmap_rows = 65",
                &["analytics.heatmap_rows", "65", "1 and 64"],
            ),
            ("window = 60", &["window", "line 2"]),
            ("min_visitors = -3", &["min_visitors"]),
        ];
        for (body, parts) in cases {
            let msg = Config::parse(&format!("[analytics]\n{body}\n"), "site.toml")
                .unwrap_err()
                .to_string();
            assert_has(&msg, &["site.toml"]);
            assert_has(&msg, parts);
        }
    }

    #[test]
    fn a_zone_must_name_an_existing_camera() {
        let msg = site_error(&zone("nope", "a", SQUARE));
        assert_has(
            &msg,
            &[
                "site.toml",
                "zones[0].camera",
                "\"nope\"",
                "known ids: `door`, `till`",
            ],
        );
        let msg = Config::parse(&zone("door", "a", SQUARE), "site.toml")
            .unwrap_err()
            .to_string();
        assert_has(&msg, &["zones[0].camera", "\"door\"", "no [[cameras]]"]);
        let msg = site_error(&format!(
            "{}{}",
            zone("door", "a", SQUARE),
            zone("Door", "b", SQUARE)
        ));
        assert_has(&msg, &["zones[1].camera", "\"Door\""]);
        let msg = site_error(&line("gone", "a", "[0.1, 0.5]", "[0.9, 0.5]"));
        assert_has(&msg, &["lines[0].camera", "\"gone\"", "`door`, `till`"]);
    }

    #[test]
    fn zone_and_line_names_are_checked_and_unique_per_camera() {
        for bad in ["", "Till 1", "tïll", "a.b", "camera"] {
            let msg = site_error(&zone("door", bad, SQUARE));
            assert_has(&msg, &["zones[0].name", &format!("{bad:?}")]);
        }
        let long = "x".repeat(65);
        let msg = site_error(&zone("door", &long, SQUARE));
        assert_has(&msg, &["zones[0].name", "1-64 characters"]);
        Config::parse(
            &format!("{CAMS}{}", zone("door", &"x".repeat(64), SQUARE)),
            "t",
        )
        .unwrap();
        let msg = site_error(&zone("door", "faces", SQUARE));
        assert!(msg.contains("`faces` is reserved"), "{msg}");
        let msg = site_error(&zone("door", "camera", SQUARE));
        assert_has(&msg, &["reserved"]);
        let msg = site_error(&line("door", "camera", "[0.1, 0.5]", "[0.9, 0.5]"));
        assert_has(&msg, &["lines[0].name", "\"camera\"", "reserved"]);

        // Two zones with one name on one camera.
        let msg = site_error(&format!(
            "{}{}{}",
            zone("door", "a", SQUARE),
            zone("till", "b", SQUARE),
            zone("door", "a", SQUARE)
        ));
        assert_has(
            &msg,
            &["zones[2].name", "\"a\"", "zones[0]", "unique per camera"],
        );
        // A zone and a line with one name on one camera.
        let msg = site_error(&format!(
            "{}{}",
            line("door", "entry", "[0.1, 0.5]", "[0.9, 0.5]"),
            zone("door", "entry", SQUARE)
        ));
        assert_has(
            &msg,
            &["lines[0].name", "\"entry\"", "zones[0] on camera `door`"],
        );
        // Two lines.
        let msg = site_error(&format!(
            "{}{}",
            line("till", "x", "[0.1, 0.5]", "[0.9, 0.5]"),
            line("till", "x", "[0.1, 0.6]", "[0.9, 0.6]")
        ));
        assert_has(&msg, &["lines[1].name", "lines[0] on camera `till`"]);
        // The same name on different cameras is fine.
        Config::parse(
            &format!(
                "{CAMS}{}{}{}{}",
                zone("door", "a", SQUARE),
                zone("till", "a", SQUARE),
                line("door", "b", "[0.1, 0.5]", "[0.9, 0.5]"),
                line("till", "b", "[0.1, 0.5]", "[0.9, 0.5]")
            ),
            "t",
        )
        .unwrap();
    }

    #[test]
    fn polygon_vertices_are_counted_and_range_checked() {
        let msg = site_error(&zone("door", "a", "[[0.1, 0.1], [0.5, 0.5]]"));
        assert_has(
            &msg,
            &[
                "zones[0].polygon",
                "[[0.1, 0.1], [0.5, 0.5]]",
                "3 to 64 vertices",
                "has 2",
            ],
        );
        let msg = site_error(&zone("door", "a", "[]"));
        assert_has(&msg, &["zones[0].polygon", "has 0"]);
        // 65 vertices on a circle: too many; 64 are fine.
        let circle = |n: usize| {
            let pts: Vec<String> = (0..n)
                .map(|k| {
                    let t = k as f64 / n as f64 * std::f64::consts::TAU;
                    format!("[{}, {}]", 0.5 + 0.4 * t.cos(), 0.5 + 0.4 * t.sin())
                })
                .collect();
            format!("[{}]", pts.join(", "))
        };
        let msg = site_error(&zone("door", "a", &circle(65)));
        assert_has(&msg, &["zones[0].polygon", "has 65", "... (65 vertices)]"]);
        Config::parse(&format!("{CAMS}{}", zone("door", "a", &circle(64))), "t").unwrap();

        let poly = "[[0.1, 0.1], [0.5, 0.1], [0.5, 0.5], [1.2, 0.5], [0.1, 0.5]]";
        let msg = site_error(&format!(
            "{}{}{}",
            zone("door", "a", SQUARE),
            zone("door", "b", SQUARE),
            zone("door", "c", poly)
        ));
        assert_has(&msg, &["zones[2].polygon[3]", "[1.2, 0.5]", "[0, 1]"]);
        let msg = site_error(&zone("door", "a", "[[0.1, 0.1], [0.5, -0.1], [0.5, 0.5]]"));
        assert_has(&msg, &["zones[0].polygon[1]", "[0.5, -0.1]"]);
        let msg = site_error(&zone("door", "a", "[[0.1, 0.1], [0.5, 0.1], [nan, 0.5]]"));
        assert_has(&msg, &["zones[0].polygon[2]", "[NaN, 0.5]"]);
        let msg = site_error(&zone("door", "a", "[[0.1, 0.1], [0.5, 0.1], [0.5, inf]]"));
        assert_has(&msg, &["zones[0].polygon[2]", "inf"]);
        // A point that is not a pair is a type error.
        let msg = site_error(&zone("door", "a", "[[0.1, 0.1], [0.5], [0.5, 0.5]]"));
        assert_has(&msg, &["polygon"]);
        // A repeated vertex.
        let msg = site_error(&zone(
            "door",
            "a",
            "[[0.1, 0.1], [0.5, 0.1], [0.5, 0.1], [0.5, 0.5]]",
        ));
        assert_has(
            &msg,
            &["zones[0].polygon[2]", "[0.5, 0.1]", "repeats vertex 1"],
        );
        let msg = site_error(&zone(
            "door",
            "a",
            "[[0.1, 0.1], [0.5, 0.1], [0.5, 0.5], [0.1, 0.1]]",
        ));
        assert_has(&msg, &["zones[0].polygon[0]", "repeats vertex 3"]);
    }

    #[test]
    fn degenerate_and_self_intersecting_polygons_are_rejected() {
        // Collinear: zero area.
        let msg = site_error(&zone("door", "a", "[[0.1, 0.1], [0.5, 0.5], [0.9, 0.9]]"));
        assert_has(
            &msg,
            &["zones[0].polygon", "degenerate", "zero", "one line"],
        );
        // A sliver of 0.5 x 0.0001: area 5e-5.
        let msg = site_error(&zone(
            "door",
            "a",
            "[[0.1, 0.5], [0.6, 0.5], [0.6, 0.5001], [0.1, 0.5001]]",
        ));
        assert_has(&msg, &["zones[0].polygon", "degenerate", "5.0e-5"]);
        // 0.011 x 0.011 is enough.
        Config::parse(
            &format!(
                "{CAMS}{}",
                zone(
                    "door",
                    "a",
                    "[[0.5, 0.5], [0.511, 0.5], [0.511, 0.511], [0.5, 0.511]]"
                )
            ),
            "t",
        )
        .unwrap();
        // A bow tie: edges 0 and 2 cross.
        let msg = site_error(&format!(
            "{}{}",
            zone("door", "a", SQUARE),
            zone(
                "door",
                "b",
                "[[0.1, 0.1], [0.9, 0.9], [0.9, 0.1], [0.1, 0.9]]"
            )
        ));
        assert_has(
            &msg,
            &[
                "zones[1].polygon",
                "[[0.1, 0.1], [0.9, 0.9], [0.9, 0.1], [0.1, 0.9]]",
                "edges 0 and 2 cross",
                "[0.1, 0.1] -> [0.9, 0.9]",
            ],
        );
        // An unbalanced bow tie (non-zero net area) is caught too.
        let msg = site_error(&zone(
            "door",
            "a",
            "[[0.1, 0.1], [0.9, 0.5], [0.9, 0.1], [0.1, 0.9]]",
        ));
        assert_has(&msg, &["zones[0].polygon", "edges 0 and 2 cross"]);
        // A vertex touching a non-adjacent edge.
        let msg = site_error(&zone(
            "door",
            "a",
            "[[0.1, 0.1], [0.5, 0.1], [0.5, 0.5], [0.3, 0.1], [0.1, 0.5]]",
        ));
        assert_has(&msg, &["zones[0].polygon", "edges 0 and 2 touch"]);
        // A spike folding back onto the previous edge.
        let msg = site_error(&zone(
            "door",
            "a",
            "[[0.1, 0.1], [0.5, 0.1], [0.3, 0.1], [0.3, 0.5]]",
        ));
        assert_has(&msg, &["zones[0].polygon", "edges 0 and 1 fold back"]);
        // Concave but simple is fine, in either winding.
        for poly in [
            "[[0.1, 0.1], [0.5, 0.1], [0.5, 0.3], [0.3, 0.3], [0.3, 0.5], [0.1, 0.5]]",
            "[[0.1, 0.5], [0.3, 0.5], [0.3, 0.3], [0.5, 0.3], [0.5, 0.1], [0.1, 0.1]]",
        ] {
            Config::parse(&format!("{CAMS}{}", zone("door", "l", poly)), "t").unwrap();
        }
    }

    #[test]
    fn zone_capacity_kind_and_unknown_keys() {
        let msg = site_error(&format!("{}capacity = 0\n", zone("door", "a", SQUARE)));
        assert_has(&msg, &["zones[0].capacity", "= 0", "at least 1"]);
        let msg = site_error(&format!("{}capacity = -2\n", zone("door", "a", SQUARE)));
        assert_has(&msg, &["capacity"]);
        let c = Config::parse(
            &format!("{CAMS}{}capacity = 1\n", zone("door", "a", SQUARE)),
            "t",
        )
        .unwrap();
        assert_eq!(c.zones[0].capacity, Some(1));
        let msg = site_error(&format!("{}colour = \"red\"\n", zone("door", "a", SQUARE)));
        assert_has(&msg, &["site.toml", "colour"]);
        let msg = site_error(&format!(
            "[[zones]]\ncamera = \"door\"\nname = \"a\"\nkind = \"lobby\"\npolygon = {SQUARE}\n"
        ));
        assert_has(&msg, &["lobby"]);
        let msg = site_error(&format!(
            "[[zones]]\ncamera = \"door\"\nname = \"a\"\npolygon = {SQUARE}\n"
        ));
        assert_has(&msg, &["kind"]);
        let msg = site_error(&format!(
            "{}in_side = \"up\"\n",
            line("door", "a", "[0.1, 0.5]", "[0.9, 0.5]")
        ));
        assert_has(&msg, &["up"]);
        let msg = site_error(&format!(
            "{}polygon = {SQUARE}\n",
            line("door", "a", "[0.1, 0.5]", "[0.9, 0.5]")
        ));
        assert_has(&msg, &["polygon"]);
    }

    #[test]
    fn anchors_accept_both_spellings() {
        for (text, want) in [
            ("bottom_centre", Anchor::BottomCentre),
            ("bottom_center", Anchor::BottomCentre),
            ("centre", Anchor::Centre),
            ("center", Anchor::Centre),
            ("top_centre", Anchor::TopCentre),
            ("top_center", Anchor::TopCentre),
        ] {
            let c = Config::parse(
                &format!(
                    "{CAMS}{}anchor = \"{text}\"\n{}anchor = \"{text}\"\n",
                    zone("door", "z", SQUARE),
                    line("door", "l", "[0.1, 0.5]", "[0.9, 0.5]")
                ),
                "t",
            )
            .unwrap();
            assert_eq!(c.zones[0].anchor, want, "{text}");
            assert_eq!(c.lines[0].anchor, want, "{text}");
        }
        let msg = site_error(&format!("{}anchor = \"feet\"\n", zone("door", "z", SQUARE)));
        assert_has(&msg, &["feet"]);
    }

    #[test]
    fn line_end_points_and_length_are_checked() {
        let msg = site_error(&line("door", "a", "[0.1, 0.5]", "[1.5, 0.5]"));
        assert_has(&msg, &["site.toml", "lines[0].to", "[1.5, 0.5]", "[0, 1]"]);
        let msg = site_error(&format!(
            "{}{}",
            line("door", "a", "[0.1, 0.5]", "[0.9, 0.5]"),
            line("door", "b", "[nan, 0.5]", "[0.9, 0.5]")
        ));
        assert_has(&msg, &["lines[1].from", "[NaN, 0.5]"]);
        let msg = site_error(&line("door", "a", "[0.5, 0.5]", "[0.505, 0.5]"));
        assert_has(
            &msg,
            &[
                "`lines[0]`",
                "from [0.5, 0.5] to [0.505, 0.5]",
                "at least 0.01",
            ],
        );
        let msg = site_error(&line("door", "a", "[0.5, 0.5]", "[0.5, 0.5]"));
        assert_has(&msg, &["`lines[0]`", "at least 0.01"]);
        let msg = site_error(&line("door", "a", "[0.5, 0.5]", "[0.5]"));
        assert_has(&msg, &["to"]);
        Config::parse(
            &format!("{CAMS}{}", line("door", "a", "[0.0, 0.0]", "[0.0, 0.01]")),
            "t",
        )
        .unwrap();
    }

    #[test]
    fn zones_and_lines_per_camera_are_limited() {
        let square = |k: usize| {
            let x = (k % 8) as f64 * 0.1;
            let y = (k / 8) as f64 * 0.1;
            format!(
                "[[{x}, {y}], [{}, {y}], [{}, {}], [{x}, {}]]",
                x + 0.05,
                x + 0.05,
                y + 0.05,
                y + 0.05
            )
        };
        let mut ok = String::from(CAMS);
        for k in 0..MAX_ZONES_PER_CAMERA {
            ok += &zone("door", &format!("z{k}"), &square(k));
            ok += &zone("till", &format!("z{k}"), &square(k));
        }
        for k in 0..MAX_LINES_PER_CAMERA {
            ok += &line("door", &format!("l{k}"), "[0.1, 0.5]", "[0.9, 0.5]");
            ok += &line("till", &format!("l{k}"), "[0.1, 0.5]", "[0.9, 0.5]");
        }
        let c = Config::parse(&ok, "t").unwrap();
        assert_eq!((c.zones.len(), c.lines.len()), (128, 64));

        let too_many_zones = format!("{ok}{}", zone("till", "extra", SQUARE));
        let msg = Config::parse(&too_many_zones, "site.toml")
            .unwrap_err()
            .to_string();
        assert_has(
            &msg,
            &["zones[128].camera", "\"till\"", "more than 64 zones"],
        );
        let too_many_lines = format!("{ok}{}", line("door", "extra", "[0.1, 0.5]", "[0.9, 0.5]"));
        let msg = Config::parse(&too_many_lines, "site.toml")
            .unwrap_err()
            .to_string();
        assert_has(
            &msg,
            &["lines[64].camera", "\"door\"", "more than 32 lines"],
        );
    }

    #[test]
    fn validation_never_panics_on_odd_geometry() {
        // A small deterministic generator of awkward polygons and lines: values from a list
        // that includes the range ends, out-of-range and non-finite numbers.
        const VALUES: [f64; 12] = [
            0.0,
            1.0,
            0.5,
            0.25,
            0.5 + 1e-12,
            1e-300,
            -0.0,
            -1e-9,
            1.0 + 1e-9,
            f64::NAN,
            f64::INFINITY,
            f64::MAX,
        ];
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let base = Config::parse(CAMS, "t").unwrap();
        let (mut accepted, mut rejected) = (0, 0);
        for _ in 0..5000 {
            let mut c = base.clone();
            let len = next(8);
            let mut pick = || {
                if next(3) == 0 {
                    VALUES[next(VALUES.len())]
                } else {
                    next(11) as f64 / 10.0
                }
            };
            let polygon: Vec<[f64; 2]> = (0..len).map(|_| [pick(), pick()]).collect();
            let (from, to) = ([pick(), pick()], [pick(), pick()]);
            c.zones.push(ZoneConfig {
                camera: "door".into(),
                name: "z".into(),
                kind: ZoneKind::Aisle,
                polygon,
                anchor: Anchor::default(),
                capacity: None,
                attention_target: None,
            });
            c.lines.push(LineConfig {
                camera: "door".into(),
                name: "l".into(),
                from,
                to,
                in_side: LineSide::default(),
                anchor: Anchor::default(),
            });
            match c.validate("t") {
                Ok(()) => accepted += 1,
                Err(e) => {
                    assert!(!e.to_string().is_empty());
                    rejected += 1;
                }
            }
        }
        assert!(accepted > 0 && rejected > 0, "{accepted} {rejected}");
    }

    const MQTT: &str =
        "[mqtt]\nbroker = \"mqtt://127.0.0.1:1884\"\nsite = \"s1\"\ndevice = \"d1\"\n";

    #[test]
    fn mqtt_section_defaults_and_broker_urls() {
        let c = Config::parse("", "t").unwrap();
        assert!(c.mqtt.is_none() && c.spool_dir().is_none());
        let c = Config::parse(&format!("[runtime]\ncache_dir = \"/tmp/x\"\n{MQTT}"), "t").unwrap();
        let m = c.mqtt.as_ref().unwrap();
        assert_eq!(m.client_id(), "aisle-d1");
        assert_eq!(
            (m.keep_alive_s, m.spool_max_bytes, m.metrics_expiry_s),
            (30, 64 << 20, 86_400)
        );
        assert_eq!(
            m.broker_addr().unwrap(),
            BrokerAddr {
                tls: false,
                host: "127.0.0.1".into(),
                port: 1884
            }
        );
        if std::env::var_os(STATE_DIR_ENV).is_none() {
            assert_eq!(c.spool_dir().unwrap(), PathBuf::from("/tmp/x/spool"));
        }
        let a = BrokerAddr::parse("mqtts://broker.example").unwrap();
        assert_eq!(
            (a.tls, a.host.as_str(), a.port),
            (true, "broker.example", 8883)
        );
        let a = BrokerAddr::parse("mqtt://[::1]:99/").unwrap();
        assert_eq!((a.tls, a.host.as_str(), a.port), (false, "::1", 99));
        for bad in [
            "tcp://h",
            "mqtt://",
            "mqtt://h:0",
            "mqtt://h:x",
            "mqtt://u:p@h",
            "mqtt://h/t",
        ] {
            assert!(BrokerAddr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn mqtt_errors_name_the_key() {
        let cases = [
            ("broker = \"http://x\"", "`mqtt.broker`"),
            ("site = \"a/b\"", "`mqtt.site`"),
            ("device = \"+\"", "`mqtt.device`"),
            ("client_id = \"\"", "`mqtt.client_id`"),
            ("keep_alive_s = 2", "`mqtt.keep_alive_s`"),
            ("spool_max_bytes = 1000", "`mqtt.spool_max_bytes`"),
            ("metrics_expiry_s = 0", "`mqtt.metrics_expiry_s`"),
            ("health_interval_s = 4", "`mqtt.health_interval_s`"),
            ("health_interval_s = 3601", "`mqtt.health_interval_s`"),
        ];
        for (line, key) in cases {
            let name = line.split(' ').next().unwrap();
            let base: String = MQTT
                .lines()
                .filter(|l| !l.starts_with(&format!("{name} ")))
                .map(|l| format!("{l}\n"))
                .collect();
            let err = Config::parse(&format!("{base}{line}\n"), "t")
                .unwrap_err()
                .to_string();
            assert!(err.contains(key), "{line}: {err}");
        }
        let err = Config::parse(&format!("{MQTT}port = 1\n"), "t")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `port`"), "{err}");
        let err = Config::parse("[mqtt]\nsite = \"s\"\ndevice = \"d\"\n", "t")
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing field `broker`"), "{err}");
    }

    #[test]
    fn mqtt_tls_credentials_and_the_embedded_broker() {
        let tls = "[mqtt]\nbroker = \"mqtts://b.example\"\nsite = \"s1\"\ndevice = \"d1\"\n";
        let c = Config::parse(
            &format!(
                "{tls}ca_file = \"/etc/aisle/ca.pem\"\nclient_cert_file = \"dev.pem\"\n\
                 client_key_file = \"dev.key\"\ncredentials_file = \"mqtt\"\n\
                 [runtime]\ncredentials_dir = \"/run/creds\"\n"
            ),
            "t",
        )
        .unwrap();
        let m = c.mqtt.as_ref().unwrap();
        let file = |p: &Option<PathBuf>| c.mqtt_file("k", p.as_deref().unwrap()).unwrap();
        assert_eq!(file(&m.ca_file), PathBuf::from("/etc/aisle/ca.pem"));
        assert_eq!(
            file(&m.client_cert_file),
            PathBuf::from("/run/creds/dev.pem")
        );
        assert_eq!(file(&m.credentials_file), PathBuf::from("/run/creds/mqtt"));
        if std::env::var_os(CREDENTIALS_DIR_ENV).is_none() {
            let c = Config::parse(&format!("{tls}credentials_file = \"mqtt\"\n"), "t").unwrap();
            let err = c
                .mqtt_file("mqtt.credentials_file", Path::new("mqtt"))
                .unwrap_err();
            assert!(
                err.contains("mqtt.credentials_file") && err.contains("CREDENTIALS_DIRECTORY"),
                "{err}"
            );
        }
        // Plain MQTT may carry a user name and password (e.g. to a broker on the site's LAN).
        Config::parse(
            &format!("{MQTT}credentials_file = \"/etc/aisle/mqtt\"\n"),
            "t",
        )
        .unwrap();

        let c = Config::parse(
            "[mqtt]\nbroker = \"embedded\"\nsite = \"s\"\ndevice = \"d\"\n",
            "t",
        )
        .unwrap();
        let m = c.mqtt.as_ref().unwrap();
        assert!(m.is_embedded());
        assert_eq!(
            m.broker_addr().unwrap(),
            BrokerAddr {
                tls: false,
                host: "127.0.0.1".into(),
                port: 1883
            }
        );
        let c = Config::parse(
            "[mqtt]\nbroker = \"embedded\"\nembedded_port = 18830\nsite = \"s\"\ndevice = \"d\"\n",
            "t",
        )
        .unwrap();
        assert_eq!(c.mqtt.unwrap().broker_addr().unwrap().port, 18830);

        let embedded = "[mqtt]\nbroker = \"embedded\"\nsite = \"s\"\ndevice = \"d\"\n";
        let cases = [
            (
                format!("{MQTT}ca_file = \"/ca.pem\"\n"),
                "`mqtt.ca_file`",
                "mqtts://",
            ),
            (
                format!("{MQTT}client_cert_file = \"/c.pem\"\nclient_key_file = \"/k.pem\"\n"),
                "`mqtt.client_cert_file`",
                "mqtts://",
            ),
            (
                format!("{tls}client_cert_file = \"/c.pem\"\n"),
                "`mqtt.client_cert_file`",
                "client_key_file",
            ),
            (
                format!("{tls}client_key_file = \"/k.pem\"\n"),
                "`mqtt.client_key_file`",
                "client_cert_file",
            ),
            (format!("{tls}ca_file = \"\"\n"), "`mqtt.ca_file`", "empty"),
            (
                format!("{MQTT}embedded_port = 1884\n"),
                "`mqtt.embedded_port`",
                "embedded",
            ),
            (
                format!("{embedded}embedded_port = 0\n"),
                "`mqtt.embedded_port`",
                "65535",
            ),
            (
                format!("{embedded}credentials_file = \"/x\"\n"),
                "`mqtt.credentials_file`",
                "embedded broker",
            ),
            (
                "[mqtt]\nbroker = \"embeded\"\nsite = \"s\"\ndevice = \"d\"\n".to_string(),
                "`mqtt.broker`",
                "\"embedded\"",
            ),
        ];
        for (text, key, reason) in cases {
            let err = Config::parse(&text, "t").unwrap_err().to_string();
            assert!(err.contains(key) && err.contains(reason), "{text}: {err}");
        }
    }

    #[test]
    fn faces_are_off_by_default_and_emotion_needs_informed_shoppers() {
        let c = Config::default();
        assert!(!c.faces.enabled() && !c.faces.emotion && !c.faces.attention);
        let c = Config::parse("[faces]\nattention = true\n", "t").unwrap();
        assert!(c.faces.enabled() && !c.faces.emotion);
        for text in [
            "[faces]\nemotion = true\n",
            "[faces]\nemotion = true\nshoppers_informed = \"  \"\n",
        ] {
            let err = Config::parse(text, "site.toml").unwrap_err().to_string();
            assert!(
                err.contains("faces.shoppers_informed")
                    && err.contains("site.toml")
                    && err.contains("EU AI Act"),
                "{err}"
            );
        }
        let c = Config::parse(
            "[faces]\nemotion = true\nshoppers_informed = \"signs at the entrance since 2026-11-20\"\n",
            "t",
        )
        .unwrap();
        assert!(c.faces.enabled() && c.faces.emotion);
        for (text, key) in [
            (
                "[faces]\nsamples_per_second = 0\n",
                "faces.samples_per_second",
            ),
            ("[faces]\nmax_yaw_deg = 120\n", "faces.max_yaw_deg"),
            ("[faces]\nsmoothing = 0\n", "faces.smoothing"),
            (
                "[faces]\nexpression_model = \"\"\n",
                "faces.expression_model",
            ),
        ] {
            let err = Config::parse(text, "t").unwrap_err().to_string();
            assert!(err.contains(key), "{text}: {err}");
        }
        let err = Config::parse("[faces]\nemotions = true\n", "t")
            .unwrap_err()
            .to_string();
        assert!(err.contains("emotions"), "{err}");
    }

    #[test]
    fn the_examples_in_the_reference_parse() {
        let doc = include_str!("../../../docs/config.md");
        let mut blocks = 0;
        for (k, part) in doc.split("```toml\n").enumerate().skip(1) {
            let block = part.split("```").next().unwrap();
            if let Err(e) = Config::parse(block, "docs/config.md") {
                panic!("toml block {k} of docs/config.md: {e}");
            }
            blocks += 1;
        }
        assert!(blocks >= 2, "{blocks}");
        // The error examples are what the validation prints.
        let examples = [
            format!(
                "{CAMS}{}{}{}",
                zone("door", "a", SQUARE),
                zone("door", "b", SQUARE),
                zone(
                    "door",
                    "c",
                    "[[0.1, 0.1], [0.5, 0.1], [0.5, 0.5], [1.2, 0.5]]"
                )
            ),
            format!(
                "{CAMS}{}{}",
                zone("door", "a", SQUARE),
                zone(
                    "door",
                    "b",
                    "[[0.1, 0.1], [0.9, 0.9], [0.9, 0.1], [0.1, 0.9]]"
                )
            ),
        ];
        for text in examples {
            let msg = Config::parse(&text, "site.toml").unwrap_err().to_string();
            assert!(doc.contains(&msg), "docs/config.md lacks: {msg}");
        }
    }
}
