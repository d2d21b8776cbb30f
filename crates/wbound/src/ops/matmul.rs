//! `MatMul` of two computed values (attention's `q · kᵀ` and `p · v`), batched over leading axes
//! with numpy broadcasting: `C[b] = A[b] · B[b]` with `A[b]: m × k`, `B[b]: k × n`.
//!
//! Both operands receive cotangents: `dA[b] = dC[b] · B[b]ᵀ`, `dB[b] = A[b]ᵀ · dC[b]`, summed over
//! the batches an operand is broadcast to. A product with a constant right operand is a dense
//! layer ([`Linear`](super::Linear)), whose weight is a parameter.

use super::gemm::{gemm, Product, Strides};

/// A batched product of the node's two dynamic inputs.
#[derive(Debug, Clone)]
pub struct MatMul {
    pub m: usize,
    pub k: usize,
    pub n: usize,
    /// Per output batch: the offsets (in values) of its `A` and `B` matrices.
    pub a_off: Vec<usize>,
    pub b_off: Vec<usize>,
}

impl MatMul {
    fn batches(&self) -> usize {
        self.a_off.len()
    }

    pub(crate) fn forward_macs(&self) -> usize {
        self.batches() * self.m * self.k * self.n
    }

    pub(crate) fn forward(&self, a: &[f32], b: &[f32], y: &mut [f32]) {
        let (m, k, n) = (self.m, self.k, self.n);
        for (bi, (&ao, &bo)) in self.a_off.iter().zip(&self.b_off).enumerate() {
            let c = &mut y[bi * m * n..(bi + 1) * m * n];
            let (la, lb) = (Strides::row_major(k), Strides::row_major(n));
            gemm(Product { m, k, n, alpha: 1.0, a: &a[ao..], la, b: &b[bo..], lb, beta: 0.0, c, lc: lb });
        }
    }

    /// Adds the cotangents of input `input` (0: `A`, 1: `B`) for `m` rows of `dy`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn backward(&self, a: &[f32], b: &[f32], input: usize, rows: usize, dy: &[f32], dx: &mut [f32]) {
        let (m, k, n) = (self.m, self.k, self.n);
        let (out_len, in_len) = (self.batches() * m * n, if input == 0 { a.len() } else { b.len() });
        for r in 0..rows {
            let dyr = &dy[r * out_len..(r + 1) * out_len];
            let dxr = &mut dx[r * in_len..(r + 1) * in_len];
            for (bi, (&ao, &bo)) in self.a_off.iter().zip(&self.b_off).enumerate() {
                let dc = &dyr[bi * m * n..];
                if input == 0 {
                    // dA = dC · Bᵀ: [m, n] · [n, k].
                    let (la, lb, lc) = (Strides::row_major(n), Strides::row_major(n).t(), Strides::row_major(k));
                    let (b, c) = (&b[bo..], &mut dxr[ao..]);
                    gemm(Product { m, k: n, n: k, alpha: 1.0, a: dc, la, b, lb, beta: 1.0, c, lc });
                } else {
                    // dB = Aᵀ · dC: [k, m] · [m, n].
                    let (la, lb) = (Strides::row_major(k).t(), Strides::row_major(n));
                    let (a, c) = (&a[ao..], &mut dxr[bo..]);
                    gemm(Product { m: k, k: m, n, alpha: 1.0, a, la, b: dc, lb, beta: 1.0, c, lc: lb });
                }
            }
        }
    }
}
