//! ONNX export of sequential classifiers (the benchmark's MLPs and CNNs): a [`Sequential`]
//! description plus its weights by name → `ModelProto` bytes that wbound, onnxruntime or any
//! other ONNX tool reads.
//!
//! Layers map to standard ops (opset 13): [`Layer::Dense`] → `Gemm` (weight `[in, out]`, bias
//! `[out]`), [`Layer::Conv`] → `Conv` (weight `[out, in, k, k]`, bias `[out]`, "same" padding,
//! stride 1), [`Layer::Relu`] → `Relu`, [`Layer::MaxPool`] → `MaxPool` (window = stride),
//! [`Layer::Flatten`] → `Flatten` (axis 1). The input is `[N, <sample shape>]` with a symbolic
//! batch axis; the output is the logits `[N, classes]`.

use std::collections::HashMap;

use prost::Message;

use super::proto::{
    attribute_type, data_type, AttributeProto, Dimension, GraphProto, ModelProto, NodeProto, OperatorSetIdProto,
    TensorProto, TensorShapeProto, TensorTypeProto, TypeProto, ValueInfoProto,
};
use crate::error::{Error, Result};

/// One layer of a [`Sequential`] model; parametrised layers name their tensors
/// `<name>.weight` and `<name>.bias`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layer {
    /// `y = x · W + b`, `W: [inputs, outputs]`.
    Dense {
        name: String,
        inputs: usize,
        outputs: usize,
    },
    /// A square `kernel × kernel` convolution with "same" padding (odd kernels), stride 1.
    Conv {
        name: String,
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
    },
    Relu,
    /// Max pooling over `size × size` windows with stride `size`.
    MaxPool {
        size: usize,
    },
    /// `[N, ...] → [N, product]`.
    Flatten,
}

impl Layer {
    /// The layer's parameter tensors: `(name, shape)`, weight first.
    pub fn params(&self) -> Vec<(String, Vec<usize>)> {
        match self {
            Layer::Dense { name, inputs, outputs } => {
                vec![(format!("{name}.weight"), vec![*inputs, *outputs]), (format!("{name}.bias"), vec![*outputs])]
            }
            Layer::Conv { name, in_channels, out_channels, kernel } => vec![
                (format!("{name}.weight"), vec![*out_channels, *in_channels, *kernel, *kernel]),
                (format!("{name}.bias"), vec![*out_channels]),
            ],
            Layer::Relu | Layer::MaxPool { .. } | Layer::Flatten => Vec::new(),
        }
    }
}

/// A feed-forward classifier: layers applied in order to an input of `input_shape` per sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequential {
    /// One sample's shape (`[features]` or `[channels, height, width]`).
    pub input_shape: Vec<usize>,
    pub layers: Vec<Layer>,
    /// Number of logits.
    pub classes: usize,
}

impl Sequential {
    /// Every parameter tensor `(name, shape)`, in layer order.
    pub fn params(&self) -> Vec<(String, Vec<usize>)> {
        self.layers.iter().flat_map(Layer::params).collect()
    }

    /// The ONNX model with the given weights (every tensor of [`Sequential::params`], by name,
    /// with its exact number of values).
    pub fn to_onnx(&self, weights: &HashMap<String, Vec<f32>>) -> Result<Vec<u8>> {
        let mut graph = GraphProto { name: "wbound_sequential".into(), ..Default::default() };
        for (name, shape) in self.params() {
            let data = weights.get(&name).ok_or_else(|| Error::Config(format!("no weights given for '{name}'")))?;
            if data.len() != shape.iter().product::<usize>() {
                return Err(Error::Config(format!(
                    "'{name}' has {} values; its shape {shape:?} needs {}",
                    data.len(),
                    shape.iter().product::<usize>()
                )));
            }
            graph.initializer.push(TensorProto {
                dims: shape.iter().map(|&d| d as i64).collect(),
                data_type: data_type::FLOAT,
                name,
                raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
                ..Default::default()
            });
        }
        let mut current = "input".to_string();
        graph.input.push(value_info(&current, &self.input_shape));
        for (i, layer) in self.layers.iter().enumerate() {
            let out = format!("t{i}");
            let mut inputs = vec![current.clone()];
            inputs.extend(layer.params().into_iter().map(|(n, _)| n));
            let (op, attribute) = match layer {
                Layer::Dense { .. } => ("Gemm", Vec::new()),
                Layer::Conv { kernel, .. } => {
                    let (k, p) = (*kernel as i64, (*kernel / 2) as i64);
                    ("Conv", vec![ints("kernel_shape", &[k, k]), ints("pads", &[p, p, p, p])])
                }
                Layer::Relu => ("Relu", Vec::new()),
                Layer::MaxPool { size } => {
                    let s = *size as i64;
                    ("MaxPool", vec![ints("kernel_shape", &[s, s]), ints("strides", &[s, s])])
                }
                Layer::Flatten => ("Flatten", Vec::new()),
            };
            graph.node.push(NodeProto {
                input: inputs,
                output: vec![out.clone()],
                name: format!("{op}_{i}"),
                op_type: op.into(),
                attribute,
                ..Default::default()
            });
            current = out;
        }
        let logits = "logits".to_string();
        graph.node.push(NodeProto {
            input: vec![current],
            output: vec![logits.clone()],
            name: "output".into(),
            op_type: "Identity".into(),
            ..Default::default()
        });
        graph.output.push(value_info(&logits, &[self.classes]));
        let model = ModelProto {
            ir_version: 8,
            opset_import: vec![OperatorSetIdProto { domain: String::new(), version: 13 }],
            producer_name: "wbound".into(),
            producer_version: env!("CARGO_PKG_VERSION").into(),
            graph: Some(graph),
        };
        Ok(model.encode_to_vec())
    }
}

fn ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: attribute_type::INTS, ints: v.to_vec(), ..Default::default() }
}

/// A float tensor `[N, dims...]` with a symbolic batch axis.
fn value_info(name: &str, dims: &[usize]) -> ValueInfoProto {
    let batch = Dimension { dim_value: None, dim_param: Some("N".into()) };
    let fixed = dims.iter().map(|&d| Dimension { dim_value: Some(d as i64), dim_param: None });
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type: data_type::FLOAT,
                shape: Some(TensorShapeProto { dim: std::iter::once(batch).chain(fixed).collect() }),
            }),
        }),
    }
}
