//! Strided matrix products over the `matrixmultiply` crate (measured faster here than the `gemm`
//! crate on these per-sample sizes), with plain loops for matrix–vector products and, for at most
//! 16 columns, unpacked AVX-512 loops with the kernel's own arithmetic (`narrow`).

/// Where the elements of a matrix stand in its slice: element `(i, j)` is at `i * rs + j * cs`.
#[derive(Clone, Copy, Debug)]
pub struct Strides {
    pub rs: usize,
    pub cs: usize,
}

impl Strides {
    /// Row-major with `cols` columns.
    pub fn row_major(cols: usize) -> Strides {
        Strides { rs: cols, cs: 1 }
    }

    /// Column-major with `rows` rows (the transpose of a row-major `cols × rows` matrix).
    pub fn col_major(rows: usize) -> Strides {
        Strides { rs: 1, cs: rows }
    }

    /// The same storage read as the transposed matrix.
    pub fn t(self) -> Strides {
        Strides { rs: self.cs, cs: self.rs }
    }

    /// Values from the first element to one past the last of a `rows × cols` matrix.
    pub(super) fn span(self, rows: usize, cols: usize) -> usize {
        if rows == 0 || cols == 0 {
            0
        } else {
            (rows - 1) * self.rs + (cols - 1) * self.cs + 1
        }
    }
}

/// matrixmultiply's `KC` for f32 (`archparam::S_KC`): the length of one fused multiply-add
/// chain, which the routes that reproduce its bits (`narrow`, `syrk`) keep.
pub(super) const KC: usize = 256;

/// The operands of one product `c = beta·c + alpha·a·b` with `a: m×k`, `b: k×n`, `c: m×n`, each
/// matrix read through its [`Strides`] (`la`, `lb`, `lc`). With `beta == 0`, `c` is only written.
#[derive(Debug)]
pub struct Product<'a> {
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub alpha: f32,
    pub a: &'a [f32],
    pub la: Strides,
    pub b: &'a [f32],
    pub lb: Strides,
    pub beta: f32,
    pub c: &'a mut [f32],
    pub lc: Strides,
}

/// Computes the product `p` describes.
///
/// # Panics
/// If a matrix's strides reach past the end of its slice (a bug in the caller, never user input).
pub fn gemm(mut p: Product) {
    let (m, k, n) = (p.m, p.k, p.n);
    assert!(p.la.span(m, k) <= p.a.len(), "gemm: lhs out of bounds");
    assert!(p.lb.span(k, n) <= p.b.len(), "gemm: rhs out of bounds");
    assert!(p.lc.span(m, n) <= p.c.len(), "gemm: output out of bounds");
    if m == 0 || n == 0 {
        return;
    }
    // Matrix–vector and outer products (a dense layer on one sample, its weight gradient), and a
    // few rows against a large `b` (the cotangent rows through a large dense layer), lose more to
    // packing `b` than they gain from the blocked kernel.
    let few_rows = m <= FEW_ROWS && k * n >= LARGE_B;
    if (m == 1 || k == 1 || few_rows) && by_rows(&mut p) {
        return;
    }
    // Few columns against a large `a` (a convolution over a small map): no packing of `a`, the
    // same bits as the kernel below.
    if super::narrow::product(&mut p) {
        return;
    }
    let Product { alpha, a, la, b, lb, beta, c, lc, .. } = p;
    // SAFETY: the asserts above keep every index the product touches inside the three slices,
    // and `c` does not overlap `a` or `b` (it is borrowed mutably).
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            alpha,
            a.as_ptr(),
            la.rs as isize,
            la.cs as isize,
            b.as_ptr(),
            lb.rs as isize,
            lb.cs as isize,
            beta,
            c.as_mut_ptr(),
            lc.rs as isize,
            lc.cs as isize,
        );
    }
}

/// [`gemm`] computing every row of `c` exactly as a one-row product would (so a row's bits do not
/// depend on how many rows are computed together), reading each row or column of `b` once for all
/// rows: the batched first forward pass of dense layers.
pub fn gemm_by_rows(mut p: Product) {
    if !by_rows(&mut p) {
        gemm(p);
    }
}

/// At most this many rows of `a` against a `b` of at least [`LARGE_B`] values go through
/// [`by_rows`] instead of the packed kernel.
const FEW_ROWS: usize = 16;
const LARGE_B: usize = 1 << 16;

/// [`by_rows_body`], compiled for AVX2 when the CPU has it (the same bits either way: the lanes
/// of the reductions are fixed, and no multiply-add is fused).
fn by_rows(p: &mut Product) -> bool {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, the only feature the function is compiled for.
        return unsafe { by_rows_avx2(p) };
    }
    by_rows_body(p)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn by_rows_avx2(p: &mut Product) -> bool {
    by_rows_body(p)
}

/// Rows of axpys (when `b`'s rows are contiguous) or of dot products (when its columns are);
/// `false` when the layouts allow neither.
#[inline(always)]
fn by_rows_body(p: &mut Product) -> bool {
    let Product { m, k, n, alpha, a, la, b, lb, beta, ref mut c, lc } = *p;
    if lb.cs == 1 && lc.cs == 1 {
        for i in 0..m {
            let y = &mut c[i * lc.rs..i * lc.rs + n];
            if beta == 0.0 {
                y.fill(0.0);
            } else if beta != 1.0 {
                y.iter_mut().for_each(|v| *v *= beta);
            }
        }
        for p in 0..k {
            let row = &b[p * lb.rs..p * lb.rs + n];
            for i in 0..m {
                let s = alpha * a[i * la.rs + p * la.cs];
                if s != 0.0 {
                    c[i * lc.rs..i * lc.rs + n].iter_mut().zip(row).for_each(|(v, &bv)| *v += s * bv);
                }
            }
        }
        return true;
    }
    if la.cs == 1 && lb.rs == 1 {
        for j in 0..n {
            let col = &b[j * lb.cs..j * lb.cs + k];
            for i in 0..m {
                let dot = super::lanes::dot32(&a[i * la.rs..i * la.rs + k], col);
                let dst = &mut c[i * lc.rs + j * lc.cs];
                *dst = if beta == 0.0 { alpha * dot } else { beta * *dst + alpha * dot };
            }
        }
        return true;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(m: usize, k: usize, n: usize, a: &[f32], la: Strides, b: &[f32], lb: Strides) -> Vec<f32> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                for p in 0..k {
                    c[i * n + j] += a[i * la.rs + p * la.cs] * b[p * lb.rs + j * lb.cs];
                }
            }
        }
        c
    }

    #[test]
    fn all_paths_agree_with_the_naive_product() {
        // (9, 64, 1100): a few rows against a large `b`, which skips the packed kernel.
        for &(m, k, n) in &[(1, 5, 3), (4, 5, 3), (1, 1, 1), (3, 7, 1), (70, 40, 30), (9, 64, 1100)] {
            let a: Vec<f32> = (0..m * k).map(|v| (v as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..k * n).map(|v| (v as f32 * 0.71).cos()).collect();
            for la in [Strides::row_major(k), Strides::col_major(m)] {
                for lb in [Strides::row_major(n), Strides::col_major(k)] {
                    let want = naive(m, k, n, &a, la, &b, lb);
                    let mut c = vec![1.0; m * n];
                    let lc = Strides::row_major(n);
                    gemm(Product { m, k, n, alpha: 2.0, a: &a, la, b: &b, lb, beta: 0.5, c: &mut c, lc });
                    for (got, w) in c.iter().zip(&want) {
                        assert!((got - (0.5 + 2.0 * w)).abs() < 1e-5, "{m}x{k}x{n}: {got} vs {w}");
                    }
                    // Row by row: each row's bits equal those of a one-row product.
                    let mut rows = vec![1.0; m * n];
                    gemm_by_rows(Product { m, k, n, alpha: 2.0, a: &a, la, b: &b, lb, beta: 0.5, c: &mut rows, lc });
                    for i in 0..m {
                        let mut one = vec![1.0; n];
                        let a = &a[i * la.rs..];
                        gemm(Product { m: 1, k, n, alpha: 2.0, a, la, b: &b, lb, beta: 0.5, c: &mut one, lc });
                        assert_eq!(&rows[i * n..(i + 1) * n], &one[..]);
                    }
                }
            }
        }
    }
}
