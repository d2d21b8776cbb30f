//! Squared norms of per-sample weight gradients without building them.
//!
//! The gradient of a dense map `y = a · W` (`a: T × K`, one row per position) for the cotangent
//! `δ: T × N` is `aᵀ δ`, and `‖aᵀ δ‖² = Σ_{t,t'} (a_t·a_t')(δ_t·δ_t')`: two `T × T` Gram matrices
//! instead of a `K × N` gradient. That wins when `T` is small against `K` and `N` — always for a
//! dense layer on one sample (`T = 1`: `‖a‖² ‖δ‖²`), and for late convolutions on small maps.

use super::gemm::{gemm, Product, Strides};
use super::lanes::dot64;

/// Multiply-adds of the Gram route for `m` rows, to compare with materialising (`m·T·K·N`).
pub fn cost(t: usize, k: usize, n: usize, m: usize) -> usize {
    t * t * k + m * t * t * n
}

/// Adds `scale · ‖aᵀ δ_r‖²` to `out[r]` for the `m` cotangents `δ_r` (each `t × n` with layout
/// `ld`, the `r`-th starting at `r · block` in `dys`). `a` is `t × k` with layout `la`.
/// `scratch` needs `2 t²` floats.
#[allow(clippy::too_many_arguments)]
pub fn add_sq_norms(
    t: usize,
    k: usize,
    a: &[f32],
    la: Strides,
    n: usize,
    dys: &[f32],
    ld: Strides,
    block: usize,
    scale: f64,
    scratch: &mut [f32],
    out: &mut [f64],
) {
    let (ga, gd) = scratch[..2 * t * t].split_at_mut(t * t);
    matrix(t, k, a, la, ga);
    for (r, o) in out.iter_mut().enumerate() {
        matrix(t, n, &dys[r * block..], ld, gd);
        *o += scale * dot64(ga, gd);
    }
}

/// `g = a · aᵀ` (`t × t`, row-major) for `a: t × k`: the upper tiles mirrored where
/// [`syrk`](super::syrk) takes the shape, else the full product (the same bits either way).
fn matrix(t: usize, k: usize, a: &[f32], la: Strides, g: &mut [f32]) {
    if !super::syrk::gram(t, k, a, la, g) {
        gemm(Product {
            m: t,
            k,
            n: t,
            alpha: 1.0,
            a,
            la,
            b: a,
            lb: la.t(),
            beta: 0.0,
            c: g,
            lc: Strides::row_major(t),
        });
    }
}
