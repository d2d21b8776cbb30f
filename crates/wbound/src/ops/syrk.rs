//! Gram matrices `g = a · aᵀ` on CPUs with AVX-512, computing only the tiles that reach the upper
//! triangle and mirroring them, with exactly the arithmetic of matrixmultiply's AVX-512 kernel,
//! so every value has the bits the full product gives.
//!
//! The gradient norms of a dense layer over `t` positions need two `t × t` Gram matrices per
//! cotangent row (`ops::gram`): on a transformer they are 17% of a step (ViT-tiny: 65 tokens,
//! `k` = 192…768, 9 rows per layer). matrixmultiply computes every value of `c`, for every block
//! of 256 consecutive `p` (its `KC`), as a fused multiply-add chain `ab = fma(a[i, p], b[p, j], ab)`
//! from zero in `p` order, then `c = ab` (first block, `beta == 0`) or `c = c + ab` (later
//! blocks), whatever its tiling. `g[i, j]` and `g[j, i]` multiply the same pairs in the same
//! order (a product of two floats does not depend on their order), so they have the same bits,
//! and half the matrix suffices. Each block of `a` is copied once, transposed (`p` major), into a
//! per-thread buffer that serves as both operands; a tile is 12 rows × 32 columns (24
//! accumulators, column edges as masked lanes), starting at the tile's first row so that it
//! covers the diagonal.

use super::gemm::{Strides, KC};
use std::cell::RefCell;

/// Rows of a tile.
const MR: usize = 12;
/// Columns of a tile: two vectors of 16 lanes.
const NR: usize = 32;

thread_local! {
    /// The current block of `a`, transposed: `a[j, p0 + q]` at `q · t + j`.
    static BLOCK: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Writes `g = a · aᵀ` (`t × t`, row-major) for `a: t × k` read through `la`, with the bits of
/// matrixmultiply's product, when `t > 16`, `k > 1` (the shapes [`gemm`](super::gemm::gemm)
/// gives matrixmultiply) and the CPU has AVX-512; `false` (nothing written) otherwise.
///
/// # Panics
/// If `a` or `g` is too short for the shapes (a bug in the caller, never user input).
pub(super) fn gram(t: usize, k: usize, a: &[f32], la: Strides, g: &mut [f32]) -> bool {
    if t <= 16 || k <= 1 {
        return false;
    }
    assert!(la.span(t, k) <= a.len(), "gram: a out of bounds");
    assert!(g.len() >= t * t, "gram: g too short");
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx512f") {
        BLOCK.with_borrow_mut(|buf| {
            buf.resize(KC.min(k) * t, 0.0);
            // SAFETY: the CPU has AVX-512F, the only feature the function is compiled for; the
            // asserts keep every index inside `a` and `g`.
            unsafe { upper(t, k, a, la, g, buf) };
        });
        // The lower triangle from the upper (the values computed there already have these bits).
        for i in 0..t {
            for j in i + 1..t {
                g[j * t + i] = g[i * t + j];
            }
        }
        return true;
    }
    false
}

/// The tiles of `g` that reach its upper triangle, block by block.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn upper(t: usize, k: usize, a: &[f32], la: Strides, g: &mut [f32], buf: &mut [f32]) {
    for (l, p0) in (0..k).step_by(KC).enumerate() {
        let kc = KC.min(k - p0);
        // Sixteen rows of `a` at a time, so that each `p` writes one run of 16 values.
        for j0 in (0..t).step_by(16) {
            let rows = 16.min(t - j0);
            for q in 0..kc {
                let src = a.as_ptr().add(j0 * la.rs + (p0 + q) * la.cs);
                let dst = buf.as_mut_ptr().add(q * t + j0);
                for j in 0..rows {
                    *dst.add(j) = *src.add(j * la.rs);
                }
            }
        }
        let (b, c) = (buf.as_ptr(), g.as_mut_ptr());
        let mut i0 = 0;
        while i0 < t {
            let rows = MR.min(t - i0);
            let mut j0 = i0;
            while j0 < t {
                let cols = NR.min(t - j0);
                let at = Tile { a: b.add(i0), b: b.add(j0), c: c.add(i0 * t + j0), t, kc, cols, first: l == 0 };
                tile(rows, &at);
                j0 += NR;
            }
            i0 += MR;
        }
    }
}

/// One tile of the block: `a` and `b` point at its first row's and first column's values in the
/// transposed block (consecutive `p` are `t` apart), `c` at its first value (rows `t` apart).
#[derive(Clone, Copy)]
struct Tile {
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    t: usize,
    kc: usize,
    /// Valid columns (1..=32).
    cols: usize,
    /// The first block of `p`: `c = ab`, else `c = c + ab`.
    first: bool,
}

/// Computes `tile`'s `rows` rows.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn tile(rows: usize, tile: &Tile) {
    macro_rules! dispatch {
        ($($r:literal)*) => {
            match (rows, tile.cols > 16) {
                $(($r, true) => kernel::<$r, 2>(tile),
                  ($r, false) => kernel::<$r, 1>(tile),)*
                _ => unreachable!("tile rows are 1..=MR"),
            }
        };
    }
    dispatch!(1 2 3 4 5 6 7 8 9 10 11 12)
}

/// `R` rows × `V` vectors of 16 columns: the chains over the block, then `c = ab` (first block)
/// or `c = c + ab`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn kernel<const R: usize, const V: usize>(tile: &Tile) {
    use std::arch::x86_64::*;
    let Tile { a, b, c, t, kc, cols, first } = *tile;
    let bits = |v: usize| {
        let n = cols.saturating_sub(16 * v).min(16);
        if n == 16 {
            0xffff
        } else {
            ((1u32 << n) - 1) as u16
        }
    };
    let masks: [__mmask16; 2] = [bits(0), bits(1)];
    let mut acc = [[_mm512_setzero_ps(); V]; R];
    for q in 0..kc {
        let (aq, bq) = (a.add(q * t), b.add(q * t));
        let mut bv = [_mm512_setzero_ps(); V];
        for (v, x) in bv.iter_mut().enumerate() {
            *x = _mm512_maskz_loadu_ps(masks[v], bq.add(16 * v));
        }
        for (r, row) in acc.iter_mut().enumerate() {
            let av = _mm512_set1_ps(*aq.add(r));
            for (x, &bx) in row.iter_mut().zip(&bv) {
                *x = _mm512_fmadd_ps(av, bx, *x);
            }
        }
    }
    for (r, row) in acc.iter().enumerate() {
        for (v, &ab) in row.iter().enumerate() {
            let cp = c.add(r * t + 16 * v);
            let out = if first { ab } else { _mm512_add_ps(_mm512_maskz_loadu_ps(masks[v], cp), ab) };
            _mm512_mask_storeu_ps(cp, masks[v], out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::gemm::{gemm, Product};
    use super::*;
    use proptest::prelude::*;

    /// Values with zeros of both signs, repeats and a wide range of magnitudes.
    fn values(len: usize, seed: u64) -> Vec<f32> {
        (0..len as u64)
            .map(|i| {
                let h = (i + 1).wrapping_mul(6364136223846793005).wrapping_add(seed.wrapping_mul(1442695040888963407));
                match h >> 60 {
                    0 => 0.0,
                    1 => -0.0,
                    _ => ((h >> 20) % 20011) as f32 / 997.0 - 10.0,
                }
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// The mirrored upper tiles equal the engine's full product (matrixmultiply, which `gemm`
        /// takes for these shapes) bit for bit, over several blocks of `KC`, for row- and
        /// column-major `a` inside a wider buffer.
        #[test]
        fn equals_the_full_product_bit_for_bit(t in 17usize..90, k in 2usize..700, col_major: bool, pad in 0usize..3, seed: u64) {
            let la = if col_major { Strides { rs: 1, cs: t + pad } } else { Strides { rs: k + pad, cs: 1 } };
            let a = values((t + pad) * (k + pad), seed);
            let mut want = vec![f32::NAN; t * t];
            let lc = Strides::row_major(t);
            gemm(Product { m: t, k, n: t, alpha: 1.0, a: &a, la, b: &a, lb: la.t(), beta: 0.0, c: &mut want, lc });
            let mut got = vec![f32::NAN; t * t];
            if !gram(t, k, &a, la, &mut got) {
                return Ok(()); // no AVX-512 here
            }
            for (i, (x, y)) in got.iter().zip(&want).enumerate() {
                prop_assert_eq!(x.to_bits(), y.to_bits(), "{}x{} value {}: {} vs {}", t, k, i, x, y);
            }
        }
    }

    #[test]
    fn leaves_what_gemm_computes_otherwise_to_gemm() {
        let a = vec![1.0f32; 64];
        let mut g = vec![0.0f32; 256];
        assert!(!gram(16, 4, &a, Strides::row_major(4), &mut g), "16 rows or fewer");
        assert!(!gram(20, 1, &a, Strides::row_major(1), &mut g), "k = 1");
        assert!(g.iter().all(|&v| v == 0.0), "nothing written");
    }
}
