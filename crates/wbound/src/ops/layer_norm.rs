//! `LayerNormalization` (opset 17: PyTorch's `nn.LayerNorm`, the transformers' and ConvNeXt's
//! norm) as one node: `y = (x − μ) / √(σ² + ε) · γ + β` over each of `groups` runs of `len`
//! values, `γ` and `β` (optional) one value per position of a run.
//!
//! It computes exactly what the nine-node decomposition computes — mean (a sum in order, then
//! `/ len`), centred value, square, variance, `+ ε`, square root, quotient, scale, bias — value
//! for value and bit for bit, backward included: each cotangent is the one the decomposed nodes'
//! backward passes leave, in the same order (the zero-cotangent selects of the element-wise
//! nodes, the per-run folds of the broadcast statistics, the two additions of the square's
//! backward, the mean's share added last). What it saves is memory traffic: the decomposition
//! keeps eight intermediate tensors and runs sixteen passes over `m` cotangent rows of them;
//! here a run's cotangents stay in a `len`-value scratch, and the forward pass keeps only each
//! run's mean and standard deviation (the centred and normalised values are recomputed, with the
//! same bits).

use super::binary::add_where_nonzero;
use super::{GradSink, Weights};
use crate::tensor::TensorId;

/// A layer normalisation over the last axes of one sample.
#[derive(Debug, Clone)]
pub struct LayerNorm {
    /// `γ`, `len` values.
    pub scale: TensorId,
    /// `β`, `len` values.
    pub bias: Option<TensorId>,
    pub epsilon: f32,
    /// Runs normalised on their own (the product of the axes before `axis`).
    pub groups: usize,
    /// Values per run (the product of the axes from `axis` on).
    pub len: usize,
}

impl LayerNorm {
    pub(crate) fn tensors(&self) -> Vec<TensorId> {
        let mut t = vec![self.scale];
        t.extend(self.bias);
        t
    }

    /// Floats kept from the forward pass: each run's mean, then each run's standard deviation.
    pub(crate) fn aux_len(&self) -> usize {
        2 * self.groups
    }

    /// A run's centred values, their `∂/∂σ` and their cotangents (backward), or one tensor's
    /// gradient (`param_grad`).
    pub(crate) fn scratch_len(&self) -> usize {
        3 * self.len
    }

    /// The cotangent of the scaled value `x̂ · γ` given the output's: the bias's node passes it on.
    fn scaled_cotangent(&self, d: f32) -> f32 {
        if self.bias.is_some() {
            add_where_nonzero(0.0, d, 1.0)
        } else {
            d
        }
    }

    pub(crate) fn forward(&self, w: &Weights, x: &[f32], y: &mut [f32], aux: &mut [f32]) {
        let (len, area) = (self.len, self.len as f32);
        let gamma = w.get(self.scale);
        let beta = self.bias.map(|b| w.get(b));
        let (means, sds) = aux.split_at_mut(self.groups);
        for (j, (xs, ys)) in x.chunks_exact(len).zip(y.chunks_exact_mut(len)).enumerate() {
            let mut sum = 0.0f32;
            xs.iter().for_each(|&v| sum += v);
            let mean = sum / area;
            let mut squares = 0.0f32;
            xs.iter().for_each(|&v| squares += (v - mean) * (v - mean));
            let sd = (squares / area + self.epsilon).sqrt();
            (means[j], sds[j]) = (mean, sd);
            for (i, (o, &v)) in ys.iter_mut().zip(xs).enumerate() {
                let scaled = (v - mean) / sd * gamma[i];
                *o = match beta {
                    Some(b) => scaled + b[i],
                    None => scaled,
                };
            }
        }
    }

    /// Adds to `dx` the cotangents of the input for `m` cotangent rows `dy` of the output.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn backward(
        &self,
        w: &Weights,
        x: &[f32],
        aux: &[f32],
        m: usize,
        dy: &[f32],
        dx: &mut [f32],
        scratch: &mut [f32],
    ) {
        let (len, area) = (self.len, self.len as f32);
        let n = self.groups * len;
        let gamma = w.get(self.scale);
        let (means, sds) = aux.split_at(self.groups);
        let (centred, rest) = scratch[..3 * len].split_at_mut(len);
        let (slopes, d_centred) = rest.split_at_mut(len);
        for (j, xs) in x.chunks_exact(len).enumerate() {
            let (mean, sd) = (means[j], sds[j]);
            // What every row reads: the centred values and the quotient's ∂/∂σ = −(x − μ)/σ².
            for ((c, s), &v) in centred.iter_mut().zip(slopes.iter_mut()).zip(xs) {
                *c = v - mean;
                *s = -*c / (sd * sd);
            }
            let inv = 1.0 / sd;
            let rows = dy.chunks_exact(n).zip(dx.chunks_exact_mut(n)).take(m);
            for (dys, dxs) in rows.map(|(dyr, dxr)| (&dyr[j * len..(j + 1) * len], &mut dxr[j * len..(j + 1) * len])) {
                // The quotient's backward: onto the centred value (∂ = 1/σ) and, folded over the
                // run, onto σ.
                let mut d_sd = 0.0f32;
                for ((dc, &d), (&g, &slope)) in d_centred.iter_mut().zip(dys).zip(gamma.iter().zip(&*slopes)) {
                    let d_norm = add_where_nonzero(0.0, self.scaled_cotangent(d), g);
                    *dc = add_where_nonzero(0.0, d_norm, inv);
                    d_sd = add_where_nonzero(d_sd, d_norm, slope);
                }
                // √ (∂ = 0.5/σ), `+ ε`, then the variance's mean shares each square its part.
                let d_var = add_where_nonzero(0.0, 0.0 + d_sd * (0.5 / sd), 1.0);
                let d_square = 0.0 + d_var / area;
                // The square's two operands (both the centred value), then the difference's:
                // onto x, and folded over the run onto μ (∂ = −1).
                let mut d_mean = 0.0f32;
                for ((o, &dc), &c) in dxs.iter_mut().zip(&*d_centred).zip(&*centred) {
                    let dc = add_where_nonzero(add_where_nonzero(dc, d_square, c), d_square, c);
                    *o = add_where_nonzero(*o, dc, 1.0);
                    d_mean = add_where_nonzero(d_mean, dc, -1.0);
                }
                // The mean's share of each value comes last.
                let share = d_mean / area;
                dxs.iter_mut().for_each(|o| *o += share);
            }
        }
    }

    /// Emits, for one cotangent row `dy` of the output, the gradients of the selected `γ` and
    /// `β`, in that order (the decomposition's scale node comes before its bias node).
    pub(crate) fn param_grad(
        &self,
        w: &Weights,
        x: &[f32],
        aux: &[f32],
        dy: &[f32],
        scratch: &mut [f32],
        sink: &mut GradSink,
    ) {
        let len = self.len;
        let (means, sds) = aux.split_at(self.groups);
        let g = &mut scratch[..len];
        if w.is_selected(self.scale) {
            g.fill(0.0);
            for (j, (dys, xs)) in dy.chunks_exact(len).zip(x.chunks_exact(len)).enumerate() {
                let (mean, sd) = (means[j], sds[j]);
                for ((gi, &d), &v) in g.iter_mut().zip(dys).zip(xs) {
                    *gi = add_where_nonzero(*gi, self.scaled_cotangent(d), (v - mean) / sd);
                }
            }
            sink(self.scale, 0, g);
        }
        if let Some(bias) = self.bias.filter(|&b| w.is_selected(b)) {
            g.fill(0.0);
            for dys in dy.chunks_exact(len) {
                g.iter_mut().zip(dys).for_each(|(gi, &d)| *gi = add_where_nonzero(*gi, d, 1.0));
            }
            sink(bias, 0, g);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::shapes::gather_map;
    use crate::ops::sequence::fused_keeps_the_bits;
    use crate::ops::{Activation, ActivationKind, Binary, BinaryKind, Op, Operand, Pool};
    use crate::tensor::{Reason, Role, Tensor};
    use proptest::prelude::*;

    /// The nodes the importer wrote for a `LayerNormalization` before the fused node, each with
    /// its inputs (0: the layer's input, `k + 1`: node `k`'s output); tensors 0, 1, 2 are γ, β, ε.
    fn decomposition(c: usize, h: usize, bias: bool) -> Vec<(Op, Vec<usize>)> {
        let (full, reduced) = ([c, h], [c, 1]);
        let stat = || gather_map(&reduced, &full);
        let per_position = || gather_map(&[h], &full);
        let binary = |kind, operands, maps, len| Op::Binary(Binary::new(kind, operands, maps, len));
        let (i0, i1) = (Operand::Input(0), Operand::Input(1));
        let mut nodes = vec![
            (Op::Pool(Pool::mean_over(c, h)), vec![0]),
            (binary(BinaryKind::Sub, [i0, i1], [None, stat()], c * h), vec![0, 1]),
            (binary(BinaryKind::Mul, [i0, i1], [None, None], c * h), vec![2, 2]),
            (Op::Pool(Pool::mean_over(c, h)), vec![3]),
            (binary(BinaryKind::Add, [i0, Operand::Tensor(2)], [None, gather_map(&[], &reduced)], c), vec![4]),
            (Op::Activation(Activation { kind: ActivationKind::Sqrt }), vec![5]),
            (binary(BinaryKind::Div, [i0, i1], [None, stat()], c * h), vec![2, 6]),
            (binary(BinaryKind::Mul, [i0, Operand::Tensor(0)], [None, per_position()], c * h), vec![7]),
        ];
        if bias {
            nodes.push((binary(BinaryKind::Add, [i0, Operand::Tensor(1)], [None, per_position()], c * h), vec![8]));
        }
        nodes
    }

    fn value(i: usize, seed: u32) -> f32 {
        match (i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) % 13 {
            0 => 0.0,
            1 => -0.0,
            2 => 1.0,
            v => v as f32 * 0.29 - 1.7,
        }
    }

    proptest! {
        /// The fused node gives the decomposition's bits: output, input cotangents (added onto
        /// earlier ones, with zero cotangents of both signs and constant runs), and γ's and β's
        /// gradients in the same order.
        #[test]
        fn fused_equals_the_decomposition(c in 1usize..4, h in 1usize..10, m in 1usize..4, bias: bool, seed: u32, eps in 0usize..3) {
            let n = c * h;
            let tensor = |name: &str, data: Vec<f32>| Tensor {
                name: name.into(),
                shape: vec![data.len()],
                data,
                role: Role::Trainable { layer: 0 },
                reason: Reason::LayerWeight,
            };
            let epsilon = [0.0, 1e-5, 0.1][eps];
            let gamma: Vec<f32> = (0..h).map(|i| value(i + 300, seed)).collect();
            let beta: Vec<f32> = (0..h).map(|i| value(i + 400, seed)).collect();
            let tensors = [tensor("gamma", gamma.clone()), tensor("beta", beta.clone()), tensor("eps", vec![epsilon])];
            let flat: Vec<f32> = gamma.iter().chain(&beta).copied().collect();
            let offsets = [Some(0), Some(h), None];
            let w = Weights::new(&tensors, &offsets, &flat);
            let x: Vec<f32> = (0..n).map(|i| value(i, seed)).collect();
            let dy: Vec<f32> = (0..m * n).map(|i| value(i + 1000, seed)).collect();
            let start: Vec<f32> = (0..m * n).map(|i| value(i + 2000, seed)).collect();

            let fused = Op::LayerNorm(LayerNorm { scale: 0, bias: bias.then_some(1), epsilon, groups: c, len: h });
            fused_keeps_the_bits(&decomposition(c, h, bias), fused, &w, &x, m, &dy, &start)?;
        }
    }
}
