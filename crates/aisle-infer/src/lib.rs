//! Aisle's inference layer: the model manifest, the [`Engine`] trait and its ONNX Runtime backend.
//!
//! ONNX Runtime is loaded at run time (`ort` with `load-dynamic`), so this crate builds on any
//! machine; [`runtime::load_onnxruntime`] finds the library and explains how to get it when it
//! is missing or too old. Model adapters (decoders, NMS) live in `aisle-vision`.

pub mod engine;
pub mod manifest;
pub mod runtime;

pub use engine::{Acceleration, Engine, InferError, OrtEngine, OutputTensor, TensorView};
pub use manifest::{
    Decoder, InputColor, InputLayout, InputSpec, Manifest, ManifestError, ModelSpec, OutputSpec,
    ResizeMode,
};
pub use runtime::{load_onnxruntime, OrtRuntime};
