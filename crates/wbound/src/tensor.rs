//! The ids, weight tensors and parameter roles that the model graph and its operators share.
//!
//! Kept apart from [`graph`](crate::graph) and [`ops`](crate::ops) so that neither imports the
//! other: a graph holds operators, and operators read tensors by id.

use std::fmt;

/// Index of a value in [`Graph::values`](crate::graph::Graph::values).
pub type ValueId = usize;
/// Index of a tensor in [`Graph::tensors`](crate::graph::Graph::tensors).
pub type TensorId = usize;

/// What a weight tensor is, which decides whether DeepFool may move it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A trainable parameter. `layer` is the node index of the layer it belongs to (the first
    /// node that reads it).
    Trainable { layer: usize },
    /// A float constant (a rescaling by 1/255, an attention mask, ...): not moved by default, but
    /// a parameter glob may select it.
    Constant,
    /// BatchNormalization's running mean or variance: never moved.
    Statistic,
}

/// Why a tensor got its [`Role`]: the rule of README "Which weights are parameters" that decided,
/// so that `inspect` can show every decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The weight or bias of a layer (MatMul, Gemm, Conv, normalisation, PRelu, recurrent,
    /// embedding): a parameter by its use, whatever its name.
    LayerWeight,
    /// The constant operand of an `Add` right after a MatMul, Gemm or Conv: that layer's bias.
    LayerBias,
    /// An operand of element-wise arithmetic, or a tensor fed into the graph as a value, whose name
    /// is a framework's parameter name (not one an exporter generates): a parameter.
    ParameterName,
    /// An operand of element-wise arithmetic whose name an exporter generated (`onnx::Mul_12`,
    /// `val_3`, a `Constant` node's output, a tf2onnx op path): a constant.
    ExporterName,
    /// Computed from constants when the model was imported (shape arithmetic, masks): a constant.
    Folded,
    /// A scalar the importer made (an epsilon): a constant.
    Internal,
    /// BatchNormalization's running mean or variance.
    Statistic,
}

impl Reason {
    /// One phrase for `inspect`.
    pub fn describe(self) -> &'static str {
        match self {
            Reason::LayerWeight => "weight of a layer",
            Reason::LayerBias => "bias added after a layer",
            Reason::ParameterName => "operand with a parameter's name",
            Reason::ExporterName => "operand with an exporter-generated name",
            Reason::Folded => "computed from constants at import",
            Reason::Internal => "importer constant",
            Reason::Statistic => "BatchNormalization running statistic",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// A float tensor stored in the model.
#[derive(Debug, Clone)]
pub struct Tensor {
    /// The ONNX initializer's (or constant's) name.
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its values, row-major.
    pub data: Vec<f32>,
    /// Whether DeepFool may move it.
    pub role: Role,
    /// The rule that gave it its role.
    pub reason: Reason,
}
