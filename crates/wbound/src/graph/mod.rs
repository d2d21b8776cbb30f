//! wbound's model graph: a typed, per-sample DAG of [`Op`]s over named values, plus the table of
//! weight tensors.
//!
//! Every value has a static shape: the ONNX shape with the batch dimension set to 1, because a
//! classifier in inference mode treats samples independently and the engine runs one sample at a
//! time. Reshape-like ONNX ops (`Reshape`, `Flatten`, `Squeeze`, `Unsqueeze`, `Identity`,
//! `Dropout`) are not nodes: their output is a new value over the same buffer.

use crate::ops::Op;
pub use crate::tensor::{Reason, Role, Tensor, TensorId, ValueId};

/// A value flowing through the graph (one sample's tensor).
#[derive(Debug, Clone)]
pub struct Value {
    /// The ONNX value's name.
    pub name: String,
    /// Its shape for one sample (batch axis 1).
    pub shape: Vec<usize>,
    /// The storage it lives in; reshaped views share their source's buffer.
    pub buffer: usize,
}

impl Value {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the value has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One operator call.
#[derive(Debug, Clone)]
pub struct Node {
    /// The ONNX node name (or a generated one).
    pub name: String,
    /// The ONNX op type it came from (`Gemm`, `MatMul`, `Conv`, ...).
    pub op_type: String,
    /// What it computes.
    pub op: Op,
    /// Dynamic inputs, in the order the op refers to them.
    pub inputs: Vec<ValueId>,
    /// The value it computes.
    pub output: ValueId,
}

/// A classifier graph ready for the engine.
#[derive(Debug, Clone)]
pub struct Graph {
    /// Every value, the input first.
    pub values: Vec<Value>,
    /// Length (elements) of each buffer.
    pub buffers: Vec<usize>,
    /// Nodes in topological order.
    pub nodes: Vec<Node>,
    /// The weight and constant tensors the nodes read.
    pub tensors: Vec<Tensor>,
    /// The graph input (one sample).
    pub input: ValueId,
    /// The logits (or probabilities).
    pub output: ValueId,
    /// The input's ONNX shape, the batch dimension included (as 1).
    pub input_shape: Vec<usize>,
    /// The input holds integers (token ids), stored as exact floats.
    pub integer_input: bool,
    /// Embedding tables whose indices come from the input: `(rows, tensor name)`; every input
    /// value must be a whole number in `0..rows` for each.
    pub index_tables: Vec<(usize, String)>,
}

impl Graph {
    /// Number of output classes (elements of the output value).
    pub fn num_classes(&self) -> usize {
        self.values[self.output].len()
    }

    /// The buffer a value lives in.
    pub fn buffer_of(&self, v: ValueId) -> usize {
        self.values[v].buffer
    }

    /// Which tensors each node reads, and how many nodes read each tensor.
    pub fn tensor_uses(&self) -> Vec<usize> {
        let mut uses = vec![0; self.tensors.len()];
        for node in &self.nodes {
            for t in node.op.tensors() {
                uses[t] += 1;
            }
        }
        uses
    }
}
