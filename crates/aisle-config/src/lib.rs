//! Aisle's configuration file (TOML): loading, defaults and validation.
//!
//! Every key is optional; [`Config::default`] is what an empty file means. Unknown keys are
//! errors (`deny_unknown_fields`), and every error names the file and the path of the bad value
//! (for example `detector.score_threshold`), so a typo never silently falls back to a default.
//! The reference for operators is `docs/config.md`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The environment variable that moves the cache (models, media, ONNX Runtime library).
pub const CACHE_ENV: &str = "AISLE_CACHE";
/// The environment variable `ort` itself honours for the ONNX Runtime library.
pub const ORT_ENV: &str = "ORT_DYLIB_PATH";
/// The directory of credential files that systemd's `LoadCredential=` sets up.
pub const CREDENTIALS_DIR_ENV: &str = "CREDENTIALS_DIRECTORY";

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
}

/// How the GPU is used. `required` never falls back to the CPU silently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
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
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub runtime: RuntimeConfig,
    pub models: ModelsConfig,
    pub detector: DetectorConfig,
    pub tracker: TrackerSection,
    /// `[[cameras]]`: the video inputs, in order.
    pub cameras: Vec<CameraConfig>,
}

/// How RTP travels from an RTSP camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
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
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
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
#[derive(Debug, Clone, Deserialize)]
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
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelsConfig {
    /// Directory of converted `.onnx` files. Default: `<cache_dir>/models`.
    pub dir: Option<PathBuf>,
    /// A model manifest to use instead of the one built into the binary.
    pub manifest: Option<PathBuf>,
}

/// `[detector]`: the person detector.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectorConfig {
    /// Manifest name of the detector: `centernet` (default) or `nanodet`.
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
            model: "centernet".into(),
            score_threshold: 0.3,
            nms_iou: 0.5,
            classes: vec!["person".into()],
            max_detections: 100,
        }
    }
}

/// `[tracker]`: thresholds of the multi-object tracker. A key left out keeps the tracker's
/// default (see `docs/config.md`); the values are checked here so that errors name the file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrackerSection {
    /// Detections at or above this score take part in the first association (default 0.5).
    pub high_score: Option<f32>,
    /// Detections below this score are ignored (default 0.1).
    pub low_score: Option<f32>,
    /// An unmatched detection starts a track at or above this score (default 0.6).
    pub new_track_score: Option<f32>,
    /// Minimum IoU between a track's predicted box and a confident detection (default 0.2).
    pub match_iou: Option<f32>,
    /// Minimum IoU for a low-score detection to extend a track (default 0.5).
    pub low_match_iou: Option<f32>,
    /// Minimum IoU for recovery from the last observed box and for new tracks (default 0.3).
    pub recovery_iou: Option<f32>,
    /// Consecutive matches that confirm a new track (default 2).
    pub confirm_hits: Option<u32>,
    /// Seconds a lost track is kept for re-identification (default 3).
    pub max_lost_s: Option<f64>,
    /// Seconds a lost track is kept when the person stood still when last seen (default 10).
    pub max_lost_still_s: Option<f64>,
    /// Weight of the appearance (clothing colour) distance in the first association stage;
    /// 0 tracks on motion alone (default 0.5).
    pub appearance_weight: Option<f32>,
    /// A track never takes an unoccluded detection whose colours differ by more than this
    /// (Hellinger distance 0..1, default 0.3).
    pub appearance_gate: Option<f32>,
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
        self.validate_cameras(origin)
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
            let id_ok = !cam.id.is_empty()
                && cam.id.len() <= 64
                && cam.id.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'
                });
            if !id_ok {
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
                let ok = !name.is_empty()
                    && name != "."
                    && name != ".."
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"_-.@".contains(&b));
                if !ok {
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
        assert_eq!(c.detector.model, "centernet");
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
}
