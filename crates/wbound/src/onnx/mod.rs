//! ONNX import: protobuf bytes → [`Graph`](crate::graph::Graph).
//!
//! The schema subset lives in [`proto`] (hand-written prost messages, no `protoc` needed),
//! tensors are decoded in [`tensor`], and each supported op has an import function in `ops`
//! that checks its attributes, infers its output shape and adds a node. An op outside
//! [`SUPPORTED_OPS`] is an error naming the op type and the node.
//!
//! Both tf2onnx exports (NHWC input followed by a `Transpose`, Dense as `MatMul` + `Add`) and
//! `torch.onnx.export` graphs (NCHW, `Gemm`, `Conv` with bias) import to the same ops.
//!
//! [`write`] goes the other way for the sequential models wbound trains itself (`wbound bench`).

mod attr;
mod import;
mod ops;
pub mod proto;
pub mod tensor;
pub mod write;

pub use ops::SUPPORTED_OPS;

use crate::error::{Error, Result};
use crate::graph::Graph;
use prost::Message;

/// Decodes an ONNX model from its bytes and builds its graph.
pub fn graph_from_bytes(bytes: &[u8]) -> Result<Graph> {
    let model = proto::ModelProto::decode(bytes)
        .map_err(|e| Error::OnnxFormat(format!("protobuf decoding failed ({e}); is this an .onnx file?")))?;
    import::build(&model)
}
