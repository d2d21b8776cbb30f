//! The operators of the model graph, one small file per operator family.
//!
//! Every operator works on one sample at a time: its input and output buffers hold one sample's
//! tensor (the ONNX shape with a batch dimension of 1), row-major. Each one provides
//!
//! - `forward`: the output from the inputs and the current weights;
//! - `backward`: for `m` cotangent rows of the output at once (`m` × output length, row-major),
//!   adds the cotangents of one dynamic input (`m` × input length) — DeepFool needs the gradients
//!   of all `C − 1` logit differences, so they travel through the graph together;
//! - `param_grad`: for one cotangent row, the gradient with respect to each of its weight tensors
//!   that the caller selects;
//! - optionally `grad_norms`: the norms of those gradients for all rows at once, without
//!   materialising them (dense layers: `‖δ aᵀ‖² = ‖δ‖²‖a‖²`) or in one batched product.
//!
//! The operators never allocate on the hot path: buffers are sized once by the engine's plan.

pub mod activation;
pub mod batchnorm;
pub mod binary;
pub mod conv;
pub mod embedding;
pub mod gelu;
pub mod gemm;
pub mod gram;
pub mod lanes;
pub mod layer_norm;
pub mod linear;
pub mod matmul;
mod narrow;
pub mod pool;
pub mod reduce;
pub mod remap;
#[cfg(test)]
pub(crate) mod sequence;
pub mod softmax;
pub mod source;
mod syrk;

pub use activation::{Activation, ActivationKind};
pub use batchnorm::BatchNorm;
pub use binary::{Binary, BinaryKind, Operand};
pub use conv::Conv;
pub use embedding::{Embedding, Indices};
pub use gelu::ErfGelu;
pub use layer_norm::LayerNorm;
pub use linear::{Bias, Linear, WeightLayout};
pub use matmul::MatMul;
pub use pool::{Pool, PoolKind};
pub use reduce::{Reduce, ReduceKind};
pub use remap::{Entry, Remap};
pub use softmax::Softmax;
pub use source::Source;

use crate::tensor::TensorId;
pub use lanes::DualNorm;

/// Read access to the weight tensors during a pass: the selected tensors come from the calling
/// worker's own copy (which DeepFool moves), the others from the model.
pub struct Weights<'a> {
    pub(crate) tensors: &'a [crate::tensor::Tensor],
    pub(crate) offsets: &'a [Option<usize>],
    pub(crate) flat: &'a [f32],
}

impl<'a> Weights<'a> {
    /// A view of the graph's `tensors` where those with an offset in `offsets` are read from
    /// `flat` instead (a [`Selection`](crate::engine::Selection)'s layout).
    pub fn new(tensors: &'a [crate::tensor::Tensor], offsets: &'a [Option<usize>], flat: &'a [f32]) -> Weights<'a> {
        Weights { tensors, offsets, flat }
    }

    /// The current values of tensor `id`.
    pub fn get(&self, id: TensorId) -> &'a [f32] {
        let len = self.tensors[id].data.len();
        match self.offsets[id] {
            Some(off) => &self.flat[off..off + len],
            None => &self.tensors[id].data,
        }
    }

    /// Whether tensor `id` is among the weights that DeepFool moves.
    pub fn is_selected(&self, id: TensorId) -> bool {
        self.offsets[id].is_some()
    }
}

/// Per-node memory kept from the forward pass for the backward pass (im2col columns, max-pool
/// routes), sized by [`Op::aux_len`].
#[derive(Default, Clone)]
pub struct Aux {
    pub f: Vec<f32>,
    pub i: Vec<u32>,
}

/// Everything one backward or gradient call reads.
pub struct Pass<'a> {
    pub weights: &'a Weights<'a>,
    pub inputs: &'a [&'a [f32]],
    pub output: &'a [f32],
    pub aux: &'a Aux,
}

/// What [`Op::grad_norms`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Norms {
    /// Nothing: the caller takes the rows' gradients one at a time.
    Skipped,
    /// Folded every row's norm into the output.
    Folded,
    /// Folded them, and left every row's weight gradient in the `keep` buffer (see
    /// [`Op::kept_len`]) for [`Op::param_grad`] to copy instead of computing it again.
    FoldedKept,
}

/// Callback receiving `(tensor, offset, gradient)` for each selected weight tensor of a node: the
/// gradient of the tensor's values `offset..offset + gradient.len()` (the whole tensor, offset 0,
/// except for the sparse rows of an [`Embedding`]). One call per tensor and range: the blocks a
/// node emits never overlap.
pub type GradSink<'s> = dyn FnMut(TensorId, usize, &[f32]) + 's;

/// The dynamic inputs of a node, as slices of the activation buffers (most nodes read one or two).
pub type Inputs<'a> = smallvec::SmallVec<[&'a [f32]; 4]>;

/// One operator of the graph.
#[derive(Debug, Clone)]
pub enum Op {
    Linear(Linear),
    Conv(Conv),
    Pool(Pool),
    BatchNorm(BatchNorm),
    LayerNorm(LayerNorm),
    ErfGelu(ErfGelu),
    Activation(Activation),
    Softmax(Softmax),
    Remap(Remap),
    Binary(Binary),
    Source(Source),
    MatMul(MatMul),
    Reduce(Reduce),
    Embedding(Embedding),
}

impl Op {
    /// The weight tensors this operator reads.
    pub fn tensors(&self) -> Vec<TensorId> {
        match self {
            Op::Linear(o) => o.tensors(),
            Op::Conv(o) => o.tensors(),
            Op::BatchNorm(o) => o.tensors(),
            Op::LayerNorm(o) => o.tensors(),
            Op::ErfGelu(o) => o.tensors(),
            Op::Binary(o) => o.tensors(),
            Op::Source(o) => vec![o.tensor],
            Op::Embedding(o) => vec![o.table],
            Op::Pool(_) | Op::Activation(_) | Op::Softmax(_) | Op::Remap(_) | Op::MatMul(_) | Op::Reduce(_) => {
                Vec::new()
            }
        }
    }

    /// Whether [`Op::param_grad`] emits the whole of every selected tensor it reads (not only
    /// some rows, as an [`Embedding`] does).
    pub fn dense_gradients(&self) -> bool {
        !matches!(self, Op::Embedding(_))
    }

    /// Whether the gradient of a weight tensor this operator reads depends on the current values
    /// of a weight tensor (a learned divisor: `∂(a / b)/∂b = −a / b²`).
    pub fn gradient_reads_weights(&self) -> bool {
        // The fused GELU's constants' gradients read the constants (a divisor among them).
        matches!(self, Op::Binary(o) if o.kind == BinaryKind::Div && matches!(o.operands[1], Operand::Tensor(_)))
            || matches!(self, Op::ErfGelu(_))
    }

    /// Whether the output depends differentiably on dynamic input `input` (an embedding's
    /// indices do not).
    pub fn differentiable(&self, input: usize) -> bool {
        let _ = input;
        !matches!(self, Op::Embedding(_))
    }

    /// Tensors the operator reads that are never differentiable (BatchNormalization's running
    /// statistics).
    pub fn statistics(&self) -> Vec<TensorId> {
        match self {
            Op::BatchNorm(o) => vec![o.mean, o.var],
            _ => Vec::new(),
        }
    }

    /// Lengths of the float and index parts of this node's [`Aux`].
    pub fn aux_len(&self) -> (usize, usize) {
        match self {
            Op::Conv(o) => (o.cols_len(), 0),
            Op::Pool(o) => (0, o.route_len()),
            Op::Reduce(o) => (0, o.route_len()),
            Op::Embedding(o) => (0, o.aux_len()),
            Op::LayerNorm(o) => (o.aux_len(), 0),
            _ => (0, 0),
        }
    }

    /// Floats of the buffer in which [`Op::grad_norms`] may keep the weight gradients of `rows`
    /// rows (0: it never keeps them).
    pub fn kept_len(&self, rows: usize) -> usize {
        match self {
            Op::Conv(o) => o.kept_len(rows),
            _ => 0,
        }
    }

    /// Scratch floats `backward` (of `rows` cotangent rows) and `param_grad` may need, for an
    /// output of `out_len` values.
    pub fn scratch_len(&self, rows: usize, out_len: usize) -> usize {
        match self {
            Op::Activation(o) => o.scratch_len(out_len),
            Op::Conv(o) => o.scratch_len(rows),
            Op::Linear(o) => o.scratch_len(),
            Op::BatchNorm(o) => 2 * o.channels,
            Op::Binary(o) => o.scratch_len(),
            Op::Embedding(o) => o.scratch_len(),
            Op::LayerNorm(o) => o.scratch_len(),
            Op::ErfGelu(o) => o.scratch_len(),
            _ => 0,
        }
    }

    /// Multiply-adds of one forward pass, which is also the cost of one row's backward pass or
    /// weight gradient (matrix products only: the element-wise ops are memory-bound and cheap).
    pub fn forward_macs(&self) -> usize {
        match self {
            Op::Linear(o) => o.rows * o.k * o.n,
            Op::Conv(o) => o.forward_macs(),
            Op::MatMul(o) => o.forward_macs(),
            _ => 0,
        }
    }

    /// Multiply-adds of the gradient norms of `m` rows along the route [`Op::grad_norms`] takes.
    pub fn norm_macs(&self, m: usize, q: DualNorm) -> usize {
        let direct = m * self.forward_macs();
        let gram = match self {
            Op::Linear(o) => gram::cost(o.rows, o.k, o.n, m),
            Op::Conv(o) => o.group * gram::cost(o.t(), o.kdim(), o.cout / o.group, m),
            _ => usize::MAX,
        };
        if q == DualNorm::L2 {
            direct.min(gram)
        } else {
            direct
        }
    }

    /// Multiply-adds of the chosen row's weight gradient: none where the batched norms keep every
    /// row's gradient (ungrouped convolutions on the materialised route), else one forward pass.
    pub fn gradient_macs(&self, m: usize, q: DualNorm) -> usize {
        match self {
            Op::Conv(o) if o.group == 1 && !o.norms_by_gram(m, q) => 0,
            _ => self.forward_macs(),
        }
    }

    /// Computes the output of the node for one sample, keeping in `aux_f` / `aux_i` (of
    /// [`Op::aux_len`]) what the backward pass needs.
    pub fn forward(&self, w: &Weights, inputs: &[&[f32]], out: &mut [f32], aux_f: &mut [f32], aux_i: &mut [u32]) {
        match self {
            Op::Linear(o) => o.forward(w, inputs[0], out, 1),
            Op::Conv(o) => o.forward(w, inputs[0], out, aux_f),
            Op::Pool(o) => o.forward(inputs[0], out, aux_i),
            Op::BatchNorm(o) => o.forward(w, inputs[0], out),
            Op::LayerNorm(o) => o.forward(w, inputs[0], out, aux_f),
            Op::ErfGelu(o) => o.forward(w, inputs[0], out),
            Op::Activation(o) => o.forward(inputs[0], out),
            Op::Softmax(o) => o.forward(inputs[0], out),
            Op::Remap(o) => o.forward(inputs, out),
            Op::Binary(o) => o.forward(w, inputs, out),
            Op::Source(o) => o.forward(w, out),
            Op::MatMul(o) => o.forward(inputs[0], inputs[1], out),
            Op::Reduce(o) => o.forward(inputs[0], out, aux_i),
            Op::Embedding(o) => o.forward(w, inputs, out, aux_i),
        }
    }

    /// Computes the output of `samples` samples stored one after another in one pass, when the
    /// operator gains from it (dense layers read their weight once), with each sample's bits equal
    /// to those of [`Op::forward`]; `false` (nothing done) for the others.
    pub fn forward_samples(&self, w: &Weights, inputs: &[&[f32]], out: &mut [f32], samples: usize) -> bool {
        match self {
            Op::Linear(o) if o.rows == 1 => {
                o.forward(w, inputs[0], out, samples);
                true
            }
            _ => false,
        }
    }

    /// Adds to `dx` (`m` rows of input `input`'s length) the cotangents of dynamic input `input`
    /// given the `m` cotangent rows `dy` of the output.
    pub fn backward(&self, p: &Pass, input: usize, m: usize, dy: &[f32], dx: &mut [f32], scratch: &mut [f32]) {
        match self {
            Op::Linear(o) => o.backward(p.weights, m, dy, dx),
            Op::Conv(o) => o.backward(p.weights, m, dy, dx, scratch),
            Op::Pool(o) => o.backward(&p.aux.i, m, dy, dx),
            Op::BatchNorm(o) => o.backward(p.weights, m, dy, dx),
            Op::LayerNorm(o) => o.backward(p.weights, p.inputs[0], &p.aux.f, m, dy, dx, scratch),
            Op::ErfGelu(o) => o.backward(p.weights, p.inputs[0], m, dy, dx, scratch),
            Op::Activation(o) => o.backward(p.inputs[0], p.output, m, dy, dx, scratch),
            Op::Softmax(o) => o.backward(p.output, m, dy, dx),
            Op::Remap(o) => o.backward(input, m, dy, dx),
            Op::Binary(o) => o.backward(p.weights, p.inputs, input, m, dy, dx, scratch),
            Op::MatMul(o) => o.backward(p.inputs[0], p.inputs[1], input, m, dy, dx),
            Op::Reduce(o) => o.backward(&p.aux.i, m, dy, dx),
            Op::Source(_) | Op::Embedding(_) => {}
        }
    }

    /// Emits, for one cotangent row `dy` of the output, the gradient of every selected weight
    /// tensor of this node; `kept` is the row's weight gradient when [`Op::grad_norms`] kept it.
    pub fn param_grad(&self, p: &Pass, dy: &[f32], kept: Option<&[f32]>, scratch: &mut [f32], sink: &mut GradSink) {
        match self {
            Op::Linear(o) => o.param_grad(p.weights, p.inputs[0], dy, scratch, sink),
            Op::Conv(o) => o.param_grad(p.weights, &p.aux.f, dy, kept, scratch, sink),
            Op::BatchNorm(o) => o.param_grad(p.weights, p.inputs[0], dy, scratch, sink),
            Op::LayerNorm(o) => o.param_grad(p.weights, p.inputs[0], &p.aux.f, dy, scratch, sink),
            Op::ErfGelu(o) => o.param_grad(p.weights, p.inputs[0], dy, sink),
            Op::Binary(o) => o.param_grad(p.weights, p.inputs, dy, scratch, sink),
            Op::Source(o) => o.param_grad(p.weights, dy, sink),
            Op::Embedding(o) => o.param_grad(p.weights, &p.aux.i, dy, scratch, sink),
            Op::Pool(_) | Op::Activation(_) | Op::Softmax(_) | Op::Remap(_) | Op::MatMul(_) | Op::Reduce(_) => {}
        }
    }

    /// Folds, for all `m` rows at once, the `q`-norm of row `r`'s gradient over this node's
    /// selected tensors into `out[r]` (see [`DualNorm::add`]), when the operator has a faster way
    /// than one row at a time: the Gram form, or one batched product (whose gradients it may
    /// keep in `keep`). Returns [`Norms::Skipped`] (and leaves `out` alone) otherwise.
    #[allow(clippy::too_many_arguments)]
    pub fn grad_norms(
        &self,
        p: &Pass,
        m: usize,
        dy: &[f32],
        q: DualNorm,
        scratch: &mut [f32],
        keep: &mut [f32],
        out: &mut [f64],
    ) -> Norms {
        match self {
            Op::Linear(o) if q == DualNorm::L2 && o.gram_sq_norms(p.weights, p.inputs[0], m, dy, scratch, out) => {
                Norms::Folded
            }
            Op::Conv(o) => o.grad_norms(p.weights, &p.aux.f, m, dy, q, scratch, keep, out),
            _ => Norms::Skipped,
        }
    }
}
