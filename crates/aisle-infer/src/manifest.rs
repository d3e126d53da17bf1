//! The model manifest (`models/manifest.toml`): what each model is, where it comes from, and
//! exactly how its input is prepared and its output decoded.
//!
//! The manifest is compiled into the binary ([`Manifest::builtin`]) so an appliance needs no
//! extra file; a config may point at another one. The set-up scripts read the same file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The repository's manifest, as built into this binary.
pub const BUILTIN_MANIFEST: &str = include_str!("../../../models/manifest.toml");

/// A manifest that cannot be read or is inconsistent.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read model manifest {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("model manifest {origin}: {message}")]
    Parse { origin: String, message: String },
    #[error("model manifest {origin}: model `{model}`: {message}")]
    Invalid {
        origin: String,
        model: String,
        message: String,
    },
    #[error("no model `{name}` in the model manifest; known models: {known}")]
    UnknownModel { name: String, known: String },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    schema: u32,
    #[serde(default)]
    classes: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    models: BTreeMap<String, RawModel>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    role: String,
    #[serde(default)]
    description: String,
    file: String,
    licence: String,
    converter: String,
    source: Source,
    input: InputSpec,
    output: OutputSpec,
    #[serde(default)]
    geometry: Option<Geometry>,
}

/// `face_mesh` only: the canonical face that head pose is measured against, extracted by
/// `scripts/fetch-models.sh` from `path` (in the source package) into `file` beside the model.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Geometry {
    pub path: String,
    pub file: String,
}

/// The registry package a model is converted from.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    pub registry: String,
    pub package: String,
    pub version: String,
    pub path: String,
}

/// Memory layout of the input tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputLayout {
    /// `[1, height, width, channels]`
    Nhwc,
    /// `[1, channels, height, width]`
    Nchw,
}

/// The colours of the input tensor's channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputColor {
    /// Three channels, red first (the default).
    #[default]
    Rgb,
    /// Three channels, blue first; `mean`, `std` and `pad` stay per tensor channel.
    Bgr,
    /// One channel of 8-bit luma computed from RGB as OpenCV's `COLOR_RGB2GRAY` does,
    /// `(4899 R + 9617 G + 1868 B + 8192) >> 14`; only `mean[0]`, `std[0]` and `pad[0]` apply.
    Gray,
}

impl InputColor {
    /// Channels of the tensor: 3, or 1 for gray.
    pub fn channels(self) -> usize {
        match self {
            InputColor::Rgb | InputColor::Bgr => 3,
            InputColor::Gray => 1,
        }
    }
}

/// How a frame is fitted into the model input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResizeMode {
    /// Scale each axis independently to fill the input (aspect ratio not kept).
    Stretch,
    /// Scale uniformly to fit, centre, fill the rest with `pad`.
    Letterbox,
}

/// Element type of the input tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputDType {
    Float32,
}

/// The model input and its normalisation: `value = (pixel - mean[c]) / std[c]` with pixels of
/// tensor channel `c` in 0..=255 (see [`InputColor`] for which colour each channel holds).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    pub name: String,
    pub layout: InputLayout,
    pub width: u32,
    pub height: u32,
    pub dtype: InputDType,
    pub resize: ResizeMode,
    /// `rgb` (default), `bgr` or `gray`.
    #[serde(default)]
    pub color: InputColor,
    #[serde(default)]
    pub pad: [u8; 3],
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl InputSpec {
    /// The tensor shape the model expects.
    pub fn shape(&self) -> [usize; 4] {
        let (w, h, c) = (self.width as usize, self.height as usize, self.channels());
        match self.layout {
            InputLayout::Nhwc => [1, h, w, c],
            InputLayout::Nchw => [1, c, h, w],
        }
    }

    /// Channels of the tensor (3, or 1 for gray).
    pub fn channels(&self) -> usize {
        self.color.channels()
    }

    pub fn len(&self) -> usize {
        self.shape().iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The output decoder and its parameters.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    pub decoder: Decoder,
    /// Name of a list under `[classes]`.
    pub classes: String,
    /// `nanodet_gfl`: feature strides, e.g. `[8, 16, 32]`.
    #[serde(default)]
    pub strides: Vec<u32>,
    /// `nanodet_gfl`: the largest distance bin (bins are `0..=reg_max`).
    #[serde(default)]
    pub reg_max: u32,
    /// `blazeface`: anchors per grid cell at each of `strides`.
    #[serde(default)]
    pub anchors_per_cell: Vec<u32>,
}

/// Known output decoders (implemented in `aisle-vision`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decoder {
    /// `[1, K, 6]` rows of `x1, y1, x2, y2, score, class` in input pixels.
    Centernet,
    /// Per stride: class probabilities `[1, g*g, C]` and GFL distance bins `[1, g*g, 4*(reg_max+1)]`.
    NanodetGfl,
    /// MediaPipe BlazeFace: per anchor 16 regressors (box centre offset and size, 6 key points)
    /// and a score logit; anchors on a grid per stride, `anchors_per_cell` each.
    Blazeface,
    /// MediaPipe face mesh: 468 x (x, y, z) in input pixels and a face-presence logit.
    FaceMesh,
    /// Class probabilities `[1, C]` (already a softmax).
    Softmax,
}

/// One model as the pipeline sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSpec {
    pub name: String,
    pub role: String,
    pub description: String,
    pub file: String,
    pub licence: String,
    pub converter: String,
    pub source: Source,
    pub input: InputSpec,
    pub output: OutputSpec,
    /// The resolved class list.
    pub classes: Vec<String>,
    /// `face_mesh`: the canonical face geometry.
    pub geometry: Option<Geometry>,
}

impl ModelSpec {
    /// Where the converted model is expected.
    pub fn path_in(&self, models_dir: &Path) -> PathBuf {
        models_dir.join(&self.file)
    }

    /// Index of a class name in the model's class list.
    pub fn class_id(&self, name: &str) -> Option<u32> {
        self.classes
            .iter()
            .position(|c| c == name)
            .map(|i| i as u32)
    }
}

/// A parsed, validated manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub models: BTreeMap<String, ModelSpec>,
}

impl Manifest {
    /// The manifest compiled into this binary.
    pub fn builtin() -> Result<Self, ManifestError> {
        Self::parse(BUILTIN_MANIFEST, "(built in)")
    }

    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    pub fn parse(text: &str, origin: &str) -> Result<Self, ManifestError> {
        let raw: RawManifest = toml::from_str(text).map_err(|e| ManifestError::Parse {
            origin: origin.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        if raw.schema != 1 {
            return Err(ManifestError::Parse {
                origin: origin.to_string(),
                message: format!(
                    "schema {} is not supported (this build reads schema 1)",
                    raw.schema
                ),
            });
        }
        let mut models = BTreeMap::new();
        for (name, m) in raw.models {
            let invalid = |message: String| ManifestError::Invalid {
                origin: origin.to_string(),
                model: name.clone(),
                message,
            };
            let classes = raw.classes.get(&m.output.classes).cloned().ok_or_else(|| {
                invalid(format!(
                    "output.classes = \"{}\" is not a list under [classes]",
                    m.output.classes
                ))
            })?;
            validate_model(&m, &classes).map_err(invalid)?;
            models.insert(
                name.clone(),
                ModelSpec {
                    name,
                    role: m.role,
                    description: m.description,
                    file: m.file,
                    licence: m.licence,
                    converter: m.converter,
                    source: m.source,
                    input: m.input,
                    output: m.output,
                    classes,
                    geometry: m.geometry,
                },
            );
        }
        Ok(Self { models })
    }

    pub fn get(&self, name: &str) -> Result<&ModelSpec, ManifestError> {
        self.models
            .get(name)
            .ok_or_else(|| ManifestError::UnknownModel {
                name: name.to_string(),
                known: self.models.keys().cloned().collect::<Vec<_>>().join(", "),
            })
    }

    /// Models with the given role, by name.
    pub fn with_role<'a>(&'a self, role: &'a str) -> impl Iterator<Item = &'a ModelSpec> + 'a {
        self.models.values().filter(move |m| m.role == role)
    }
}

fn validate_model(m: &RawModel, classes: &[String]) -> Result<(), String> {
    let i = &m.input;
    if i.width == 0 || i.height == 0 || i.width > 8192 || i.height > 8192 {
        return Err(format!(
            "input size {}x{} is out of range",
            i.width, i.height
        ));
    }
    if i.std.iter().any(|s| !s.is_finite() || *s == 0.0) || i.mean.iter().any(|v| !v.is_finite()) {
        return Err(format!(
            "input.mean {:?} / input.std {:?} must be finite with non-zero std",
            i.mean, i.std
        ));
    }
    if m.file.is_empty() || m.file.contains('/') {
        return Err(format!("file \"{}\" must be a plain file name", m.file));
    }
    if classes.is_empty() {
        return Err("class list is empty".into());
    }
    if m.geometry.is_some() != (m.output.decoder == Decoder::FaceMesh) {
        return Err("geometry is required for the face_mesh decoder and only there".into());
    }
    if let Some(g) = &m.geometry {
        if g.file.is_empty() || g.file.contains('/') {
            return Err(format!(
                "geometry.file \"{}\" must be a plain file name",
                g.file
            ));
        }
    }
    match m.output.decoder {
        Decoder::Centernet | Decoder::FaceMesh | Decoder::Softmax => {}
        Decoder::Blazeface => {
            let s = &m.output.strides;
            let a = &m.output.anchors_per_cell;
            if s.is_empty() || s.contains(&0) || a.len() != s.len() || a.contains(&0) {
                return Err(format!(
                    "blazeface needs non-zero output.strides and as many non-zero \
                     output.anchors_per_cell, got {s:?} and {a:?}"
                ));
            }
            if i.width != i.height || s.iter().any(|s| !i.width.is_multiple_of(*s)) {
                return Err(format!(
                    "blazeface input {}x{} must be square and a multiple of every stride {s:?}",
                    i.width, i.height
                ));
            }
        }
        Decoder::NanodetGfl => {
            if m.output.strides.is_empty() || m.output.strides.contains(&0) {
                return Err(format!(
                    "nanodet_gfl needs non-zero output.strides, got {:?}",
                    m.output.strides
                ));
            }
            if m.output.reg_max == 0 || m.output.reg_max > 64 {
                return Err(format!(
                    "output.reg_max {} is out of range 1..=64",
                    m.output.reg_max
                ));
            }
            for s in &m.output.strides {
                if !i.width.is_multiple_of(*s) || !i.height.is_multiple_of(*s) {
                    return Err(format!(
                        "input {}x{} is not a multiple of stride {s}",
                        i.width, i.height
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_manifest_has_both_person_detectors() {
        let m = Manifest::builtin().unwrap();
        let c = m.get("centernet").unwrap();
        assert_eq!(c.input.shape(), [1, 512, 512, 3]);
        assert_eq!(c.output.decoder, Decoder::Centernet);
        assert_eq!(c.class_id("person"), Some(0));
        assert_eq!(c.classes.len(), 80);
        let n = m.get("nanodet").unwrap();
        assert_eq!(n.input.shape(), [1, 3, 416, 416]);
        assert_eq!(n.output.strides, vec![8, 16, 32]);
        assert_eq!(m.with_role("person_detector").count(), 2);
    }

    #[test]
    fn builtin_manifest_has_the_face_models() {
        let m = Manifest::builtin().unwrap();
        let b = m.get("blazeface").unwrap();
        assert_eq!(b.input.shape(), [1, 192, 192, 3]);
        assert_eq!(b.output.decoder, Decoder::Blazeface);
        assert_eq!(
            (
                b.output.strides.as_slice(),
                b.output.anchors_per_cell.as_slice()
            ),
            (&[4][..], &[1][..])
        );
        let f = m.get("face_mesh").unwrap();
        assert_eq!(f.output.decoder, Decoder::FaceMesh);
        assert!(f.geometry.as_ref().unwrap().path.contains('!'));
        let e = m.get("faceapi_expression").unwrap();
        let x = m.get("mini_xception").unwrap();
        assert_eq!(e.classes.len(), 7);
        assert_eq!(x.input.shape(), [1, 64, 64, 1]);
        // The two emotion models name the same seven classes, in different orders.
        let mut a = e.classes.clone();
        let mut b = x.classes.clone();
        assert_ne!(a, b);
        a.sort();
        b.sort();
        assert_eq!(a, b);
        assert_eq!(m.with_role("emotion").count(), 2);
    }

    #[test]
    fn unknown_model_lists_the_known_ones() {
        let m = Manifest::builtin().unwrap();
        let msg = m.get("yolo").unwrap_err().to_string();
        assert!(
            msg.contains("yolo") && msg.contains("centernet") && msg.contains("nanodet"),
            "{msg}"
        );
    }

    fn with(replace: (&str, &str)) -> Result<Manifest, ManifestError> {
        let text = BUILTIN_MANIFEST.replace(replace.0, replace.1);
        assert_ne!(
            text, BUILTIN_MANIFEST,
            "replacement {replace:?} did not apply"
        );
        Manifest::parse(&text, "test.toml")
    }

    #[test]
    fn inconsistent_entries_are_rejected_with_the_model_name() {
        let msg = with((
            "classes = \"coco80\", strides",
            "classes = \"coco81\", strides",
        ))
        .unwrap_err()
        .to_string();
        assert!(msg.contains("nanodet") && msg.contains("coco81"), "{msg}");
        let msg = with((
            "std = [255.0, 255.0, 255.0] }\noutput = { decoder = \"nanodet_gfl\"",
            "std = [255.0, 0.0, 255.0] }\noutput = { decoder = \"nanodet_gfl\"",
        ))
        .unwrap_err()
        .to_string();
        assert!(msg.contains("nanodet") && msg.contains("std"), "{msg}");
        let msg = with(("decoder = \"centernet\"", "decoder = \"yolo\""))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("yolo") && msg.contains("test.toml"), "{msg}");
        let msg = with(("schema = 1", "schema = 2")).unwrap_err().to_string();
        assert!(msg.contains("schema 2"), "{msg}");
    }
}
