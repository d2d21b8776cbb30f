//! The exact GELU as torch.onnx writes it below opset 20 — `Div(x, √2)`, `Erf`, `Add(1)`,
//! `Mul(x, ·)`, `Mul(·, 0.5)` — as one node: `y = x · (erf(x / c₀) + c₁) · c₂` with the three
//! constants read from their tensors (found by the importer's pattern pass, `onnx::fuse`).
//!
//! It computes what the five nodes compute, bit for bit: the same operations on each value, and
//! backward the cotangents those nodes' passes leave — the element-wise nodes' zero-cotangent
//! selects, the two additions into `x` in the engine's order (the product's, then the
//! quotient's), and, where a glob selects one of the constants, its gradient folded over the
//! values in order. What it saves is the memory traffic of four intermediate tensors and of ten
//! passes over `m` cotangent rows of them (the transformers' MLP activations, four times as wide
//! as their residual stream).

use super::binary::add_where_nonzero as add;
use super::{GradSink, Weights};
use crate::tensor::TensorId;
use std::f32::consts::FRAC_2_SQRT_PI;

/// The fused GELU of one sample's `len` values.
#[derive(Debug, Clone)]
pub struct ErfGelu {
    /// The divisor `c₀` (√2), the addend `c₁` (1) and the factor `c₂` (0.5): one-value tensors.
    pub constants: [TensorId; 3],
    pub len: usize,
}

/// The values and cotangents of one element through the chain, for an output cotangent `dy`.
struct Chain {
    /// `erf(x / c₀) + c₁` and `x · (erf(x / c₀) + c₁)`.
    sum: f32,
    product: f32,
    /// The cotangents of the product, of the sum and of the quotient `x / c₀`.
    d_product: f32,
    d_sum: f32,
    d_quotient: f32,
}

impl ErfGelu {
    pub(crate) fn tensors(&self) -> Vec<TensorId> {
        self.constants.to_vec()
    }

    fn values(&self, w: &Weights) -> [f32; 3] {
        self.constants.map(|t| w.get(t)[0])
    }

    /// The values of the chain that do not depend on the cotangent: `erf(x / c₀) + c₁` and the
    /// erf's derivative `2/√π · e^(−(x / c₀)²)`.
    fn sum_and_slope(c: [f32; 3], x: f32) -> (f32, f32) {
        let quotient = x / c[0];
        (libm::erff(quotient) + c[1], FRAC_2_SQRT_PI * (-quotient * quotient).exp())
    }

    fn chain(c: [f32; 3], x: f32, (sum, slope): (f32, f32), dy: f32) -> Chain {
        let d_product = add(0.0, dy, c[2]);
        let d_sum = add(0.0, d_product, x);
        let d_erf = add(0.0, d_sum, 1.0);
        let d_quotient = 0.0 + d_erf * slope;
        Chain { sum, product: x * sum, d_product, d_sum, d_quotient }
    }

    /// Scratch floats of the backward pass: the sums and slopes of every value.
    pub(crate) fn scratch_len(&self) -> usize {
        2 * self.len
    }

    pub(crate) fn forward(&self, w: &Weights, x: &[f32], y: &mut [f32]) {
        let c = self.values(w);
        for (o, &v) in y.iter_mut().zip(x) {
            *o = v * (libm::erff(v / c[0]) + c[1]) * c[2];
        }
    }

    /// Adds to `dx` the input's cotangents for `m` cotangent rows `dy` of the output: the
    /// product's share (`∂ = erf(x / c₀) + c₁`), then the quotient's (`∂ = 1 / c₀`).
    /// The erf and its derivative are computed once for all rows (in `scratch`, of
    /// [`ErfGelu::scratch_len`]).
    pub(crate) fn backward(&self, w: &Weights, x: &[f32], m: usize, dy: &[f32], dx: &mut [f32], scratch: &mut [f32]) {
        let c = self.values(w);
        let inv = 1.0 / c[0];
        let (sums, slopes) = scratch[..2 * self.len].split_at_mut(self.len);
        for ((s, p), &v) in sums.iter_mut().zip(slopes.iter_mut()).zip(x) {
            (*s, *p) = Self::sum_and_slope(c, v);
        }
        for (dyr, dxr) in dy.chunks_exact(self.len).zip(dx.chunks_exact_mut(self.len)).take(m) {
            for ((o, &d), ((&v, &sum), &slope)) in dxr.iter_mut().zip(dyr).zip(x.iter().zip(&*sums).zip(&*slopes)) {
                let ch = Self::chain(c, v, (sum, slope), d);
                *o = add(add(*o, ch.d_product, ch.sum), ch.d_quotient, inv);
            }
        }
    }

    /// Emits, for one output cotangent row, the gradient of each selected constant, in the
    /// nodes' order (divisor, addend, factor), each folded over the values in order.
    pub(crate) fn param_grad(&self, w: &Weights, x: &[f32], dy: &[f32], sink: &mut GradSink) {
        if !self.constants.iter().any(|&t| w.is_selected(t)) {
            return;
        }
        let c = self.values(w);
        let mut g = [0.0f32; 3];
        for (&v, &d) in x.iter().zip(dy) {
            let ch = Self::chain(c, v, Self::sum_and_slope(c, v), d);
            g[0] = add(g[0], ch.d_quotient, -v / (c[0] * c[0]));
            g[1] = add(g[1], ch.d_sum, 1.0);
            g[2] = add(g[2], d, ch.product);
        }
        for (k, &t) in self.constants.iter().enumerate() {
            if w.is_selected(t) {
                sink(t, 0, &g[k..k + 1]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::shapes::gather_map;
    use crate::ops::sequence::fused_keeps_the_bits;
    use crate::ops::{Activation, ActivationKind, Binary, BinaryKind, Op, Operand};
    use crate::tensor::{Reason, Role, Tensor};
    use proptest::prelude::*;

    /// The five nodes torch.onnx writes (tensors 0, 1, 2: c₀, c₁, c₂), with the commutative
    /// operands on either side.
    fn decomposition(n: usize, swap: [bool; 3]) -> Vec<(Op, Vec<usize>)> {
        let scalar = gather_map(&[], &[n]);
        let with = |kind, t: usize, swap: bool| {
            let (operands, maps) = if swap {
                ([Operand::Tensor(t), Operand::Input(0)], [scalar.clone(), None])
            } else {
                ([Operand::Input(0), Operand::Tensor(t)], [None, scalar.clone()])
            };
            Op::Binary(Binary::new(kind, operands, maps, n))
        };
        let product = Op::Binary(Binary::new(BinaryKind::Mul, [Operand::Input(0), Operand::Input(1)], [None, None], n));
        vec![
            (with(BinaryKind::Div, 0, false), vec![0]),
            (Op::Activation(Activation { kind: ActivationKind::Erf }), vec![1]),
            (with(BinaryKind::Add, 1, swap[0]), vec![2]),
            (product, if swap[1] { vec![3, 0] } else { vec![0, 3] }),
            (with(BinaryKind::Mul, 2, swap[2]), vec![4]),
        ]
    }

    fn value(i: usize, seed: u32) -> f32 {
        match (i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) % 13 {
            0 => 0.0,
            1 => -0.0,
            v => v as f32 * 0.41 - 2.6,
        }
    }

    proptest! {
        /// The fused GELU gives the five nodes' bits: output, input cotangents added onto
        /// earlier ones (zero cotangents of both signs), and the gradients of whichever
        /// constants are selected, in the same order.
        #[test]
        fn fused_equals_the_decomposition(
            n in 1usize..40, m in 1usize..4, seed: u32, swap: [bool; 3], selected: [bool; 3],
        ) {
            let tensor = |name: &str, v: f32| Tensor {
                name: name.into(),
                shape: vec![],
                data: vec![v],
                role: Role::Constant,
                reason: Reason::ExporterName,
            };
            let tensors = [tensor("c0", std::f32::consts::SQRT_2), tensor("c1", 1.0), tensor("c2", 0.5)];
            let flat = [std::f32::consts::SQRT_2, 1.0, 0.5];
            let offsets = [0, 1, 2].map(|k| selected[k].then_some(k));
            let w = Weights::new(&tensors, &offsets, &flat);
            let x: Vec<f32> = (0..n).map(|i| value(i, seed)).collect();
            let dy: Vec<f32> = (0..m * n).map(|i| value(i + 1000, seed)).collect();
            let start: Vec<f32> = (0..m * n).map(|i| value(i + 2000, seed)).collect();
            let fused = Op::ErfGelu(ErfGelu { constants: [0, 1, 2], len: n });
            fused_keeps_the_bits(&decomposition(n, swap), fused, &w, &x, m, &dy, &start)?;
        }
    }
}
