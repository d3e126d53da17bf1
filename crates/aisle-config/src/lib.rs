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
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            cache_dir: None,
            ort_library: None,
            threads: 2,
            gpu: GpuPolicy::default(),
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
        if self.runtime.threads == 0 || self.runtime.threads > 256 {
            return Err(invalid(
                "runtime.threads",
                self.runtime.threads.to_string(),
                "must be between 1 and 256",
            ));
        }
        Ok(())
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
    fn missing_file_names_the_path() {
        let msg = Config::load(Path::new("/nonexistent/aisle.toml"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("/nonexistent/aisle.toml"), "{msg}");
    }
}
