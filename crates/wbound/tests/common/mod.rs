//! Helpers shared by the integration tests: a compact builder of ONNX models written with the
//! crate's own prost messages (`wbound::onnx::proto`), and a small seeded random generator.
//!
//! ```ignore
//! let mut m = OnnxBuilder::new("x", &[3, 8, 8]); // input x: [N, 3, 8, 8], N symbolic
//! let w = m.init_f32("conv.weight", &[4, 3, 3, 3], &rng.vec(108, 0.3));
//! let y = m.op("Conv", &["x", &w], vec![attr_ints("pads", &[1, 1, 1, 1])]);
//! m.output(&y);
//! let model = wbound::Model::from_bytes(&m.to_bytes())?;
//! ```

// Each test file uses its own subset of these helpers.
#![allow(dead_code)]

use prost::Message;
use wbound::onnx::proto::{
    attribute_type, data_type, AttributeProto, Dimension, GraphProto, ModelProto, NodeProto, OperatorSetIdProto,
    TensorProto, TensorShapeProto, TensorTypeProto, TypeProto, ValueInfoProto,
};

/// Builds one ONNX model: initializers, nodes (in the order added), one graph input with a
/// symbolic batch dimension and one graph output.
#[derive(Debug, Clone)]
pub struct OnnxBuilder {
    /// Default-domain opset written into the model (13 unless changed).
    pub opset: i64,
    pub graph: GraphProto,
    input: String,
    next: usize,
}

impl OnnxBuilder {
    /// A model whose only input `name` has shape `[N, dims...]`, `N` symbolic.
    pub fn new(name: &str, dims: &[i64]) -> OnnxBuilder {
        let batch = Dimension { dim_value: None, dim_param: Some("N".into()) };
        let fixed = dims.iter().map(|&d| Dimension { dim_value: Some(d), dim_param: None });
        let dims = std::iter::once(batch).chain(fixed).collect();
        let input = value_info(name, Some(TensorShapeProto { dim: dims }));
        OnnxBuilder {
            opset: 13,
            graph: GraphProto { name: "test".into(), input: vec![input], ..Default::default() },
            input: name.to_string(),
            next: 0,
        }
    }

    /// Sets the default-domain opset.
    pub fn opset(mut self, version: i64) -> OnnxBuilder {
        self.opset = version;
        self
    }

    /// Declares the graph input as integers (token ids) of ONNX element type `elem_type`.
    pub fn integer_input(mut self, elem_type: i32) -> OnnxBuilder {
        if let Some(tt) = self.graph.input[0].r#type.as_mut().and_then(|t| t.tensor_type.as_mut()) {
            tt.elem_type = elem_type;
        }
        self
    }

    /// The graph input's name.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// Adds a float32 initializer (stored as little-endian `raw_data`) and returns its name.
    pub fn init_f32(&mut self, name: &str, dims: &[i64], data: &[f32]) -> String {
        self.graph.initializer.push(f32_tensor(name, dims, data));
        name.to_string()
    }

    /// Adds an int64 initializer (shapes, axes, indices) and returns its name.
    pub fn init_i64(&mut self, name: &str, dims: &[i64], data: &[i64]) -> String {
        self.graph.initializer.push(i64_tensor(name, dims, data));
        name.to_string()
    }

    /// Adds a node with explicit node and output names.
    pub fn node(&mut self, op_type: &str, name: &str, inputs: &[&str], outputs: &[&str], attrs: Vec<AttributeProto>) {
        self.graph.node.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.iter().map(|s| s.to_string()).collect(),
            name: name.to_string(),
            op_type: op_type.to_string(),
            domain: String::new(),
            attribute: attrs,
        });
    }

    /// Adds a node named `<op>_<n>` with one output of the same name, which it returns.
    pub fn op(&mut self, op_type: &str, inputs: &[&str], attrs: Vec<AttributeProto>) -> String {
        let name = format!("{op_type}_{}", self.next);
        self.next += 1;
        self.node(op_type, &name, inputs, &[&name], attrs);
        name
    }

    /// Declares the graph output (a float tensor of unspecified shape).
    pub fn output(&mut self, name: &str) {
        self.graph.output.push(value_info(name, None));
    }

    /// The model message.
    pub fn model(&self) -> ModelProto {
        ModelProto {
            ir_version: 8,
            opset_import: vec![OperatorSetIdProto { domain: String::new(), version: self.opset }],
            producer_name: "wbound-tests".into(),
            producer_version: "0".into(),
            graph: Some(self.graph.clone()),
        }
    }

    /// The serialised `.onnx` bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.model().encode_to_vec()
    }
}

fn value_info(name: &str, shape: Option<TensorShapeProto>) -> ValueInfoProto {
    let tensor_type = TensorTypeProto { elem_type: data_type::FLOAT, shape };
    ValueInfoProto { name: name.into(), r#type: Some(TypeProto { tensor_type: Some(tensor_type) }) }
}

/// A float32 tensor with its data in `raw_data`.
pub fn f32_tensor(name: &str, dims: &[i64], data: &[f32]) -> TensorProto {
    assert_eq!(dims.iter().product::<i64>() as usize, data.len(), "tensor '{name}'");
    TensorProto {
        dims: dims.to_vec(),
        data_type: data_type::FLOAT,
        name: name.into(),
        raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

/// An int64 tensor with its data in `int64_data`.
pub fn i64_tensor(name: &str, dims: &[i64], data: &[i64]) -> TensorProto {
    assert_eq!(dims.iter().product::<i64>() as usize, data.len(), "tensor '{name}'");
    TensorProto {
        dims: dims.to_vec(),
        data_type: data_type::INT64,
        name: name.into(),
        int64_data: data.to_vec(),
        ..Default::default()
    }
}

fn attr(name: &str, ty: i32) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: ty, ..Default::default() }
}

/// An `INT` attribute.
pub fn attr_int(name: &str, v: i64) -> AttributeProto {
    AttributeProto { i: v, ..attr(name, attribute_type::INT) }
}

/// An `INTS` attribute.
pub fn attr_ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto { ints: v.to_vec(), ..attr(name, attribute_type::INTS) }
}

/// A `FLOAT` attribute.
pub fn attr_float(name: &str, v: f32) -> AttributeProto {
    AttributeProto { f: v, ..attr(name, attribute_type::FLOAT) }
}

/// A `FLOATS` attribute.
pub fn attr_floats(name: &str, v: &[f32]) -> AttributeProto {
    AttributeProto { floats: v.to_vec(), ..attr(name, attribute_type::FLOATS) }
}

/// A `STRING` attribute.
pub fn attr_str(name: &str, v: &str) -> AttributeProto {
    AttributeProto { s: v.as_bytes().to_vec(), ..attr(name, attribute_type::STRING) }
}

/// A `TENSOR` attribute (the `value` of a `Constant` node).
pub fn attr_tensor(name: &str, t: TensorProto) -> AttributeProto {
    AttributeProto { t: Some(t), ..attr(name, attribute_type::TENSOR) }
}

/// SplitMix64: a tiny seeded generator, so that tests need no extra crate and are reproducible.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[lo, hi)`.
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        let u = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        lo + (hi - lo) * u
    }

    /// `n` values uniform in `[-scale, scale)`.
    pub fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.uniform(-scale, scale)).collect()
    }
}
