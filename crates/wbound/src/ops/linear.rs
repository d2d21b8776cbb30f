//! Dense layers: ONNX `MatMul` with a constant right operand and `Gemm`.
//!
//! `y = alpha · x · W (+ beta · b)` with `x: rows × k` (the sample's leading dimensions folded into
//! `rows`), `W: k × n` stored as `[k, n]` (MatMul, Gemm) or `[n, k]` (Gemm with `transB = 1`), and
//! `b` of length `n` or 1, broadcast over the rows.
//!
//! The gradient of row `δ: rows × n` is `∂W = alpha · xᵀ δ` and `∂b = beta · Σ_r δ_r`. Its squared
//! norm has the Gram form `alpha² Σ_{r,r'} (x_r·x_r')(δ_r·δ_r')`, which for one row (`rows = 1`,
//! the common per-sample case) is `alpha² ‖x‖² ‖δ‖²`: no `k × n` gradient is ever built.

use super::gemm::{gemm, gemm_by_rows, Product, Strides};
use super::gram;
use super::{GradSink, Weights};
use crate::tensor::TensorId;

/// How a dense weight is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightLayout {
    /// `[k, n]`: `y = x · W`.
    KN,
    /// `[n, k]`: `y = x · Wᵀ` (Gemm `transB = 1`, PyTorch's `nn.Linear`).
    NK,
}

/// The bias of a dense layer.
#[derive(Debug, Clone)]
pub struct Bias {
    pub tensor: TensorId,
    pub beta: f32,
    /// `true` when the bias has one value per output column, `false` for a single broadcast value.
    pub per_col: bool,
}

/// A dense layer.
#[derive(Debug, Clone)]
pub struct Linear {
    pub weight: TensorId,
    pub layout: WeightLayout,
    pub rows: usize,
    pub k: usize,
    pub n: usize,
    pub alpha: f32,
    pub bias: Option<Bias>,
}

impl Linear {
    fn w_strides(&self) -> Strides {
        match self.layout {
            WeightLayout::KN => Strides::row_major(self.n),
            WeightLayout::NK => Strides::col_major(self.k),
        }
    }

    pub(crate) fn tensors(&self) -> Vec<TensorId> {
        let mut t = vec![self.weight];
        t.extend(self.bias.as_ref().map(|b| b.tensor));
        t
    }

    pub(crate) fn scratch_len(&self) -> usize {
        self.k * self.n + self.n + 2 * self.rows * self.rows
    }

    /// `y = alpha · x · W (+ beta · b)` for `samples` samples stored one after another. With one
    /// row per sample every sample's output has the bits it would have alone, and `W` is read
    /// once for all of them.
    pub(crate) fn forward(&self, w: &Weights, x: &[f32], y: &mut [f32], samples: usize) {
        let (r, k, n) = (self.rows, self.k, self.n);
        let (la, lb, lc, alpha) = (Strides::row_major(k), self.w_strides(), Strides::row_major(n), self.alpha);
        let b = w.get(self.weight);
        if r == 1 {
            gemm_by_rows(Product { m: samples, k, n, alpha, a: x, la, b, lb, beta: 0.0, c: y, lc });
        } else {
            for (a, c) in x.chunks_exact(r * k).zip(y.chunks_exact_mut(r * n)).take(samples) {
                gemm(Product { m: r, k, n, alpha, a, la, b, lb, beta: 0.0, c, lc });
            }
        }
        if let Some(b) = &self.bias {
            let bv = w.get(b.tensor);
            for row in y[..samples * r * n].chunks_exact_mut(n) {
                if b.per_col {
                    row.iter_mut().zip(bv).for_each(|(v, &c)| *v += b.beta * c);
                } else {
                    row.iter_mut().for_each(|v| *v += b.beta * bv[0]);
                }
            }
        }
    }

    pub(crate) fn backward(&self, w: &Weights, m: usize, dy: &[f32], dx: &mut [f32]) {
        // dx = alpha · dy · Wᵀ, all m cotangent rows (each `rows × n`) in one product.
        let (k, n) = (self.k, self.n);
        let rows = m * self.rows;
        gemm(Product {
            m: rows,
            k: n,
            n: k,
            alpha: self.alpha,
            a: dy,
            la: Strides::row_major(n),
            b: w.get(self.weight),
            lb: self.w_strides().t(),
            beta: 1.0,
            c: dx,
            lc: Strides::row_major(k),
        });
    }

    pub(crate) fn param_grad(&self, w: &Weights, x: &[f32], dy: &[f32], scratch: &mut [f32], sink: &mut GradSink) {
        let (r, k, n) = (self.rows, self.k, self.n);
        if w.is_selected(self.weight) {
            let g = &mut scratch[..k * n];
            // ∂W = alpha · xᵀ · δ, written in the weight's own storage order.
            let (la, lb, lc) = (Strides::row_major(k).t(), Strides::row_major(n), self.w_strides());
            gemm(Product { m: k, k: r, n, alpha: self.alpha, a: x, la, b: dy, lb, beta: 0.0, c: g, lc });
            sink(self.weight, 0, g);
        }
        if let Some(b) = self.bias.as_ref().filter(|b| w.is_selected(b.tensor)) {
            let g = &mut scratch[k * n..k * n + n];
            g.fill(0.0);
            for row in dy.chunks_exact(n) {
                g.iter_mut().zip(row).for_each(|(a, &d)| *a += b.beta * d);
            }
            if b.per_col {
                sink(b.tensor, 0, g);
            } else {
                let total: f32 = g.iter().sum();
                sink(b.tensor, 0, &[total]);
            }
        }
    }

    pub(crate) fn gram_sq_norms(
        &self,
        w: &Weights,
        x: &[f32],
        m: usize,
        dy: &[f32],
        scratch: &mut [f32],
        out: &mut [f64],
    ) -> bool {
        let (r, k, n) = (self.rows, self.k, self.n);
        if gram::cost(r, k, n, m) >= m * r * k * n {
            return false;
        }
        if w.is_selected(self.weight) {
            let alpha2 = f64::from(self.alpha) * f64::from(self.alpha);
            let (ld, lx) = (Strides::row_major(n), Strides::row_major(k));
            gram::add_sq_norms(r, k, x, lx, n, dy, ld, r * n, alpha2, scratch, &mut out[..m]);
        }
        if let Some(b) = self.bias.as_ref().filter(|b| w.is_selected(b.tensor)) {
            let beta2 = f64::from(b.beta) * f64::from(b.beta);
            for (row, o) in dy.chunks_exact(r * n).zip(out.iter_mut()).take(m) {
                if b.per_col {
                    for j in 0..n {
                        let c: f64 = (0..r).map(|i| f64::from(row[i * n + j])).sum();
                        *o += beta2 * c * c;
                    }
                } else {
                    let c: f64 = row.iter().map(|&v| f64::from(v)).sum();
                    *o += beta2 * c * c;
                }
            }
        }
        true
    }
}
