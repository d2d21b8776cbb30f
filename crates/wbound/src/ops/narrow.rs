//! Products with at most 16 columns (`n ≤ 16`) computed without packing, on CPUs with AVX-512,
//! with exactly the arithmetic of matrixmultiply's AVX-512 kernel, so the bits do not change.
//!
//! matrixmultiply packs every `a` it multiplies; with few columns (a convolution's forward pass
//! over a 4×4…1×1 map, the backward of 9 cotangent rows through it) packing the weight costs more
//! than the product. Its kernel computes each value of `c`, for every block of 256 consecutive
//! `p` (its `KC`), as a fused multiply-add chain `ab = fma(a[i, p], b[p, j], ab)` from zero in
//! `p` order, and then, for `alpha == 1`, `c = ab` (first block, `beta == 0`),
//! `c = c·beta + ab` (first block) or `c = c + ab` (later blocks), whichever kernel (full or
//! edge tile) ran. The two routes here do the same operations in the same order:
//! - `a`'s rows contiguous (`W · cols`, a convolution's forward pass): lanes over the columns of a
//!   row of `c`, one broadcast of `a[i, p]` per fused multiply-add;
//! - `a`'s columns contiguous (`Wᵀ · δ`, a convolution's backward): lanes over 16 rows of `c`,
//!   `a` read along its columns (the weight's rows: strided reads of `a[i..i + 16, p]` over a
//!   weight of megabytes miss the TLB on every load).

use super::gemm::{Product, KC};

/// The smallest `a` (values) taken here: below it packing is cheap and matrixmultiply faster
/// (the 8×8 CNN's products were 11% slower here).
const LARGE_A: usize = 1 << 16;

/// Computes `p` (which the caller has checked against its slices) when it has at most 16
/// columns, an `a` of at least [`LARGE_A`] values, `alpha == 1`, contiguous rows of `b` and `c`, one of `a`'s strides 1, and the CPU has
/// AVX-512; `false` (nothing written) otherwise.
pub(super) fn product(p: &mut Product) -> bool {
    let eligible = p.alpha == 1.0
        && p.n <= 16
        && p.k > 0
        && p.m * p.k >= LARGE_A
        && p.lb.cs == 1
        && p.lc.cs == 1
        && (p.la.cs == 1 || p.la.rs == 1);
    if !eligible {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F, the only feature the functions are compiled for; the
        // caller checked that every index of the product lies inside the three slices.
        unsafe {
            if p.la.cs == 1 {
                by_columns(p)
            } else {
                by_rows16(p)
            }
        }
        return true;
    }
    false
}

/// The blocks of `KC` values of `p` in `0..k`.
fn blocks(k: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..k).step_by(KC).map(move |p0| (p0, (p0 + KC).min(k)))
}

/// Rows of `c` at a time on the row route (independent chains to hide the latency).
const ROWS: usize = 8;

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn by_columns(p: &mut Product) {
    use std::arch::x86_64::*;
    let Product { m, k, n, a, la, b, lb, beta, ref mut c, lc, .. } = *p;
    let mask: __mmask16 = ((1u32 << n) - 1) as u16;
    let (a, b, c) = (a.as_ptr(), b.as_ptr(), c.as_mut_ptr());
    let mut i = 0;
    while i < m {
        let rows = ROWS.min(m - i);
        for (l, (p0, p1)) in blocks(k).enumerate() {
            let mut acc = [_mm512_setzero_ps(); ROWS];
            if rows == ROWS {
                for q in p0..p1 {
                    let bv = _mm512_maskz_loadu_ps(mask, b.add(q * lb.rs));
                    for (r, acc) in acc.iter_mut().enumerate() {
                        *acc = _mm512_fmadd_ps(_mm512_set1_ps(*a.add((i + r) * la.rs + q)), bv, *acc);
                    }
                }
            } else {
                for q in p0..p1 {
                    let bv = _mm512_maskz_loadu_ps(mask, b.add(q * lb.rs));
                    for (r, acc) in acc.iter_mut().enumerate().take(rows) {
                        *acc = _mm512_fmadd_ps(_mm512_set1_ps(*a.add((i + r) * la.rs + q)), bv, *acc);
                    }
                }
            }
            for (r, &ab) in acc.iter().enumerate().take(rows) {
                let cp = c.add((i + r) * lc.rs);
                let v = if l == 0 && beta == 0.0 {
                    ab
                } else {
                    let old = _mm512_maskz_loadu_ps(mask, cp);
                    let old = if l == 0 { _mm512_mul_ps(old, _mm512_set1_ps(beta)) } else { old };
                    _mm512_add_ps(old, ab)
                };
                _mm512_mask_storeu_ps(cp, mask, v);
            }
        }
        i += rows;
    }
}

/// Rows of `c` per pass on the column route: their accumulators (`n × CHUNK` floats, at most
/// 64 KiB) stay in cache, and each of `a`'s columns is read 4 KiB at a time.
const CHUNK: usize = 1024;

/// `a`'s columns are contiguous (`a` is a row-major weight read transposed): for each `p`, the
/// `CHUNK` values `a[i.., p]` are one contiguous run, multiplied into the `n` columns' accumulators
/// (each value's chain still runs over `p` in order).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn by_rows16(p: &mut Product) {
    use std::arch::x86_64::*;
    let Product { m, k, n, a, la, b, lb, beta, ref mut c, lc, .. } = *p;
    let (a, b, c) = (a.as_ptr(), b.as_ptr(), c.as_mut_ptr());
    // Floats between two columns' accumulators: the rows of one pass and a line more, so that
    // the `n` runs do not start at the same offset in a 4 KiB page (loads would wait on stores
    // to other columns), and a small product zeroes only what it uses.
    let stride = CHUNK.min(m).next_multiple_of(16) + 16;
    let mut acc = vec![0.0f32; n * stride];
    let acc = acc.as_mut_ptr();
    for i0 in (0..m).step_by(CHUNK) {
        let len = CHUNK.min(m - i0);
        let lines = len.div_ceil(16);
        let last: __mmask16 = if len % 16 == 0 { 0xffff } else { ((1u32 << (len % 16)) - 1) as u16 };
        for (l, (p0, p1)) in blocks(k).enumerate() {
            std::ptr::write_bytes(acc, 0, n * stride);
            for q in p0..p1 {
                let (aq, bq) = (a.add(i0 + q * la.cs), b.add(q * lb.rs));
                let mut bs = [_mm512_setzero_ps(); 16];
                for (j, v) in bs.iter_mut().enumerate().take(n) {
                    *v = _mm512_set1_ps(*bq.add(j));
                }
                for t in 0..lines {
                    let mask = if t + 1 == lines { last } else { 0xffff };
                    let av = _mm512_maskz_loadu_ps(mask, aq.add(16 * t));
                    for (j, &bv) in bs.iter().enumerate().take(n) {
                        let at = acc.add(j * stride + 16 * t);
                        _mm512_storeu_ps(at, _mm512_fmadd_ps(av, bv, _mm512_loadu_ps(at)));
                    }
                }
            }
            for r in 0..len {
                let cr = c.add((i0 + r) * lc.rs);
                for j in 0..n {
                    let ab = *acc.add(j * stride + r);
                    let cv = cr.add(j);
                    *cv = if l == 0 && beta == 0.0 {
                        ab
                    } else if l == 0 {
                        *cv * beta + ab
                    } else {
                        *cv + ab
                    };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::gemm::Strides;
    use super::*;

    /// matrixmultiply's result of `p`, bit for bit.
    fn packed(p: &mut Product) {
        // SAFETY: the buffers hold the matrices at these strides.
        unsafe {
            matrixmultiply::sgemm(
                p.m,
                p.k,
                p.n,
                p.alpha,
                p.a.as_ptr(),
                p.la.rs as isize,
                p.la.cs as isize,
                p.b.as_ptr(),
                p.lb.rs as isize,
                p.lb.cs as isize,
                p.beta,
                p.c.as_mut_ptr(),
                p.lc.rs as isize,
                p.lc.cs as isize,
            )
        }
    }

    #[test]
    fn equals_matrixmultiply_bit_for_bit() {
        for &(m, k, n) in &[(128, 512, 1), (257, 300, 5), (64, 1100, 16), (37, 2000, 4), (512, 4608, 1), (200, 513, 9)]
        {
            let a: Vec<f32> = (0..m * k).map(|v| ((v * 7919) % 1013) as f32 / 97.0 - 5.0).collect();
            let b: Vec<f32> = (0..k * n).map(|v| ((v * 104729) % 997) as f32 / 89.0 - 5.5).collect();
            for la in [Strides::row_major(k), Strides::col_major(m)] {
                for beta in [0.0, 1.0, 0.37] {
                    let init: Vec<f32> = (0..m * n).map(|v| (v as f32 * 0.31).sin()).collect();
                    let lb = Strides::row_major(n);
                    let mut want = init.clone();
                    packed(&mut Product { m, k, n, alpha: 1.0, a: &a, la, b: &b, lb, beta, c: &mut want, lc: lb });
                    let mut got = init.clone();
                    let mut p = Product { m, k, n, alpha: 1.0, a: &a, la, b: &b, lb, beta, c: &mut got, lc: lb };
                    if !product(&mut p) {
                        return; // no AVX-512 here
                    }
                    let same = got.iter().zip(&want).all(|(x, y)| x.to_bits() == y.to_bits());
                    assert!(same, "{m}x{k}x{n} la {la:?} beta {beta}");
                }
            }
        }
    }
}
