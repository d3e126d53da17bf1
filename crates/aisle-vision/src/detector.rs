//! A person (or any COCO class) detector: preprocess -> engine -> decode -> NMS, with the
//! model's declared input and output decoder taken from the manifest.

use std::time::{Duration, Instant};

use aisle_infer::{Decoder, Engine, InferError, ModelSpec, OutputTensor, TensorView};
use aisle_types::{Detection, Nv12Frame};

use crate::decode::{self, DecodeParams};
use crate::nms::nms;
use crate::preprocess::{CpuPreprocessor, InputMapping, Preprocessor};

/// Errors of the detection pipeline; each names the model and, where relevant, the frame.
#[derive(Debug, thiserror::Error)]
pub enum VisionError {
    #[error("model `{model}` has no class `{class}` (its classes include: {sample})")]
    UnknownClass {
        model: String,
        class: String,
        sample: String,
    },
    #[error("frame {frame}: preprocessing for model `{model}` failed: {message}")]
    Preprocess {
        model: String,
        frame: u64,
        message: String,
    },
    #[error("frame {frame}: {source}")]
    Infer {
        frame: u64,
        #[source]
        source: InferError,
    },
    #[error("frame {frame}: decoding the outputs of model `{model}` failed: {message}")]
    Decode {
        model: String,
        frame: u64,
        message: String,
    },
    #[error("model `{model}` is not an object detector (its role is {role}): choose a person_detector model of the manifest")]
    NotADetector { model: String, role: String },
}

/// Thresholds and filters applied after the model.
#[derive(Debug, Clone)]
pub struct DetectorOptions {
    pub score_threshold: f32,
    pub nms_iou: f32,
    pub classes: Vec<String>,
    pub max_detections: usize,
}

/// Time spent in each stage of the last call.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StageTimes {
    pub preprocess: Duration,
    pub infer: Duration,
    pub postprocess: Duration,
}

/// Detector over one model. Buffers are kept between frames.
pub struct Detector {
    spec: ModelSpec,
    engine: Box<dyn Engine>,
    pre: Box<dyn Preprocessor>,
    opts: DetectorOptions,
    keep: Vec<u32>,
    input: Vec<f32>,
    shape: [usize; 4],
    outputs: Vec<OutputTensor>,
    mapping: Option<InputMapping>,
    frame_index: u64,
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector")
            .field("model", &self.spec.name)
            .field("backend", &self.engine.backend())
            .finish_non_exhaustive()
    }
}

impl Detector {
    /// A detector using the CPU reference preprocessor.
    pub fn new(
        spec: ModelSpec,
        engine: Box<dyn Engine>,
        opts: DetectorOptions,
    ) -> Result<Self, VisionError> {
        Self::with_preprocessor(spec, engine, Box::new(CpuPreprocessor::default()), opts)
    }

    pub fn with_preprocessor(
        spec: ModelSpec,
        engine: Box<dyn Engine>,
        pre: Box<dyn Preprocessor>,
        opts: DetectorOptions,
    ) -> Result<Self, VisionError> {
        let keep = opts
            .classes
            .iter()
            .map(|c| {
                spec.class_id(c).ok_or_else(|| VisionError::UnknownClass {
                    model: spec.name.clone(),
                    class: c.clone(),
                    sample: spec
                        .classes
                        .iter()
                        .take(8)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", "),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if !matches!(
            spec.output.decoder,
            Decoder::Centernet | Decoder::NanodetGfl
        ) {
            return Err(VisionError::NotADetector {
                model: spec.name.clone(),
                role: spec.role.clone(),
            });
        }
        let shape = spec.input.shape();
        Ok(Self {
            input: vec![0.0; spec.input.len()],
            shape,
            spec,
            engine,
            pre,
            opts,
            keep,
            outputs: Vec::new(),
            mapping: None,
            frame_index: 0,
        })
    }

    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    pub fn backend(&self) -> &str {
        self.engine.backend()
    }

    /// The last preprocessed input tensor.
    pub fn input_tensor(&self) -> &[f32] {
        &self.input
    }

    /// Stage 1: frame -> input tensor.
    pub fn preprocess(&mut self, frame: &Nv12Frame) -> Result<(), VisionError> {
        self.frame_index = frame.index;
        let mapping = self
            .pre
            .run(frame, &self.spec.input, &mut self.input)
            .map_err(|message| VisionError::Preprocess {
                model: self.spec.name.clone(),
                frame: frame.index,
                message,
            })?;
        self.mapping = Some(mapping);
        Ok(())
    }

    /// Stage 2: input tensor -> raw outputs.
    pub fn infer(&mut self) -> Result<(), VisionError> {
        let input = TensorView {
            shape: &self.shape,
            data: &self.input,
        };
        self.engine
            .run(input, &mut self.outputs)
            .map_err(|source| VisionError::Infer {
                frame: self.frame_index,
                source,
            })
    }

    /// Stage 3: raw outputs -> detections in frame pixels, after class filter and NMS.
    pub fn postprocess(&self, out: &mut Vec<Detection>) -> Result<(), VisionError> {
        out.clear();
        let err = |message: String| VisionError::Decode {
            model: self.spec.name.clone(),
            frame: self.frame_index,
            message,
        };
        let mapping = self
            .mapping
            .ok_or_else(|| err("no frame was preprocessed".into()))?;
        let params = DecodeParams {
            score_threshold: self.opts.score_threshold,
            keep: &self.keep,
            num_classes: self.spec.classes.len(),
        };
        match self.spec.output.decoder {
            Decoder::Centernet => decode::centernet(&self.outputs, &params, out),
            Decoder::NanodetGfl => decode::nanodet_gfl(
                &self.outputs,
                &self.spec.input,
                &self.spec.output,
                &params,
                out,
            ),
            d @ (Decoder::Blazeface | Decoder::FaceMesh | Decoder::Softmax) => Err(format!(
                "decoder {d:?} is not an object detector's (role {})",
                self.spec.role
            )),
        }
        .map_err(err)?;
        for d in out.iter_mut() {
            d.bbox = mapping.to_frame(&d.bbox);
        }
        out.retain(|d| d.bbox.area() > 0.0);
        nms(out, self.opts.nms_iou, self.opts.max_detections);
        Ok(())
    }

    /// All three stages; `times` receives how long each took.
    pub fn detect_timed(
        &mut self,
        frame: &Nv12Frame,
        out: &mut Vec<Detection>,
        times: &mut StageTimes,
    ) -> Result<(), VisionError> {
        let t0 = Instant::now();
        self.preprocess(frame)?;
        let t1 = Instant::now();
        self.infer()?;
        let t2 = Instant::now();
        self.postprocess(out)?;
        let t3 = Instant::now();
        *times = StageTimes {
            preprocess: t1 - t0,
            infer: t2 - t1,
            postprocess: t3 - t2,
        };
        Ok(())
    }

    /// Detections for one frame.
    pub fn detect(&mut self, frame: &Nv12Frame) -> Result<Vec<Detection>, VisionError> {
        let mut out = Vec::new();
        let mut times = StageTimes::default();
        self.detect_timed(frame, &mut out, &mut times)?;
        Ok(out)
    }
}
