//! A weight tensor entering the graph as a value: a ViT's class token concatenated with the
//! patches, a parameter reshaped or broadcast before it is used, a constant operand of an op that
//! reads computed values. `y = t`; its gradient is the output's cotangent row itself.

use super::{GradSink, Weights};
use crate::tensor::TensorId;

/// Copies tensor `tensor` into the node's output.
#[derive(Debug, Clone)]
pub struct Source {
    pub tensor: TensorId,
}

impl Source {
    pub(crate) fn forward(&self, w: &Weights, y: &mut [f32]) {
        y.copy_from_slice(w.get(self.tensor));
    }

    pub(crate) fn param_grad(&self, w: &Weights, dy: &[f32], sink: &mut GradSink) {
        if w.is_selected(self.tensor) {
            sink(self.tensor, 0, dy);
        }
    }
}
