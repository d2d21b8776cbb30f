//! ONNX import: protobuf bytes → [`Graph`] (wbound's own graph).
//!
//! The schema subset lives in [`proto`] (hand-written prost messages, no `protoc` needed),
//! tensors are decoded in [`tensor`]. The driver (`import`) checks every node against the op
//! registry (`ops`: one table per op family, one file each) and fails once, listing every
//! unsupported op type ([`supported_ops`] is derived from the registry); then each node's importer
//! adds nodes, views or constants to the parsing context (`builder`), and whatever depends on
//! constants alone is folded.
//!
//! Both tf2onnx exports (NHWC input followed by a `Transpose`, Dense as `MatMul` + `Add`) and
//! `torch.onnx.export` graphs (NCHW, `Gemm`, `Conv` with bias) import to the same ops.
//!
//! [`write`](mod@write) goes the other way for the sequential models wbound trains itself (`wbound bench`).

mod attr;
mod builder;
pub mod external;
mod fuse;
mod import;
mod ops;
pub mod proto;
pub(crate) mod shapes;
pub mod tensor;
pub mod weights;
pub mod write;

pub use builder::exporter_name;

/// Every ONNX op type wbound imports (default domain), sorted; derived from the op registry.
pub fn supported_ops() -> Vec<&'static str> {
    ops::supported()
}

/// Whether wbound imports the default-domain op type `op`.
pub fn is_supported(op: &str) -> bool {
    ops::importer(op).is_some()
}

use crate::error::{Error, Result};
use crate::graph::Graph;
use prost::Message;

/// Decodes an ONNX model from its bytes and builds its graph.
pub fn graph_from_bytes(bytes: &[u8]) -> Result<Graph> {
    import::build(&decode(bytes)?)
}

/// Decodes an ONNX model from its bytes.
pub fn decode(bytes: &[u8]) -> Result<proto::ModelProto> {
    proto::ModelProto::decode(bytes)
        .map_err(|e| Error::OnnxFormat(format!("protobuf decoding failed ({e}); is this an .onnx file?")))
}

/// Reads an `.onnx` file, with the tensors it keeps in files beside it ([`external`]).
pub fn read(path: &std::path::Path) -> Result<proto::ModelProto> {
    Ok(read_file(path)?.0)
}

/// The bytes of an `.onnx` file, with the tensors it keeps in files beside it read in (the file's
/// own bytes when it has none).
pub fn read_bytes(path: &std::path::Path) -> Result<Vec<u8>> {
    let (model, bytes) = read_file(path)?;
    Ok(bytes.unwrap_or_else(|| model.encode_to_vec()))
}

/// The decoded model of an `.onnx` file with its external data read in, and the file's bytes when
/// they already hold everything (no external data).
fn read_file(path: &std::path::Path) -> Result<(proto::ModelProto, Option<Vec<u8>>)> {
    let bytes = std::fs::read(path).map_err(|cause| Error::Io { path: path.to_path_buf(), cause })?;
    let mut model = decode(&bytes).map_err(|e| e.in_file(path))?;
    if !external::has_external(&model) {
        return Ok((model, Some(bytes)));
    }
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    external::inline(&mut model, dir).map_err(|e| e.in_file(path))?;
    Ok((model, None))
}

/// Builds the graph of a decoded model.
pub fn graph_from_proto(model: &proto::ModelProto) -> Result<Graph> {
    import::build(model)
}

/// The ONNX bytes of `bytes` with the initializers named in `weights` replaced
/// ([`weights::apply`]).
pub fn with_weights(bytes: &[u8], weights: &weights::WeightSet) -> Result<Vec<u8>> {
    let mut model = decode(bytes)?;
    weights::apply(&mut model, weights)?;
    Ok(model.encode_to_vec())
}

/// Decodes an ONNX model, replaces its initializers named in `weights` ([`weights::apply`]) and
/// builds its graph.
pub fn graph_with_weights(model: &proto::ModelProto, weights: &weights::WeightSet) -> Result<Graph> {
    let mut model = model.clone();
    weights::apply(&mut model, weights)?;
    import::build(&model)
}

/// What an ONNX file holds, read without building the graph, so that a model with unsupported ops
/// can still be described.
#[derive(Debug, Clone)]
pub struct Summary {
    pub producer: String,
    /// The default-domain opset.
    pub opset: Option<i64>,
    /// Nodes per op type (`domain:op` outside the default domain).
    pub op_counts: std::collections::BTreeMap<String, usize>,
    /// Every op type wbound cannot import, with its count and first node.
    pub unsupported: Vec<crate::UnsupportedOp>,
    /// The name and value count of every float initializer.
    pub float_initializers: Vec<(String, usize)>,
}

/// Decodes an ONNX model and lists its ops.
pub fn summarize(bytes: &[u8]) -> Result<Summary> {
    let model = proto::ModelProto::decode(bytes)
        .map_err(|e| Error::OnnxFormat(format!("protobuf decoding failed ({e}); is this an .onnx file?")))?;
    let graph = model.graph.as_ref().ok_or_else(|| Error::OnnxFormat("the file holds no graph".into()))?;
    let mut op_counts = std::collections::BTreeMap::new();
    for node in &graph.node {
        let default_domain = node.domain.is_empty() || node.domain == "ai.onnx";
        let op = if default_domain { node.op_type.clone() } else { format!("{}:{}", node.domain, node.op_type) };
        *op_counts.entry(op).or_insert(0) += 1;
    }
    let opset = model.opset_import.iter().find(|o| o.domain.is_empty() || o.domain == "ai.onnx").map(|o| o.version);
    let unsupported = import::unsupported_ops(graph, opset.unwrap_or(0));
    let float_initializers = graph
        .initializer
        .iter()
        .filter(|t| proto::data_type::is_float(t.data_type))
        .map(|t| (t.name.clone(), t.dims.iter().map(|&d| d.max(0) as usize).product()))
        .collect();
    let producer = format!("{} {}", model.producer_name, model.producer_version).trim().to_string();
    Ok(Summary { producer, opset, op_counts, unsupported, float_initializers })
}
