//! Aisle's model adapters: frames in, detections out.
//!
//! - [`preprocess`]: NV12 frame -> model input tensor (resize/letterbox, normalise). The CPU
//!   implementation is the reference that GPU kernels must reproduce.
//! - [`gpu`]: [`GpuPreprocess`], the same contract run by `aisle-gpu`'s CUDA kernel.
//! - [`decode`]: raw model outputs -> boxes (CenterNet rows, NanoDet GFL distributions).
//! - [`nms`]: class-wise greedy non-maximum suppression.
//! - [`detector`]: the three put together around an [`aisle_infer::Engine`].
//! - [`appearance`]: a person's box in the frame -> [`aisle_types::Appearance`] (colour-name
//!   histograms of torso and legs) for the tracker.
//! - [`face`]: faces in a square region (BlazeFace), their 468-point mesh, head pose (a rigid fit
//!   of MediaPipe's canonical face) and expression probabilities.

pub mod appearance;
pub mod decode;
pub mod detector;
pub mod face;
pub mod gpu;
pub mod nms;
pub mod preprocess;

pub use appearance::{colour_class, AppearanceExtractor};
pub use detector::{Detector, DetectorOptions, StageTimes, VisionError};
pub use face::{
    head_pose, ExpressionClassifier, Face, FaceDetector, FaceError, FaceGeometry, FaceMesher,
    FaceOptions, HeadPose, Mesh, EXPRESSIONS,
};
pub use gpu::GpuPreprocess;
pub use preprocess::{CpuPreprocessor, CropSpec, InputMapping, Preprocessor, RotatedSquare};
