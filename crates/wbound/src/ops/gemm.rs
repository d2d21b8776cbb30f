//! Strided matrix products over the `matrixmultiply` crate (measured faster here than the `gemm`
//! crate on these per-sample sizes), with plain loops for matrix–vector products.

/// Where the elements of a matrix stand in its slice: element `(i, j)` is at `i * rs + j * cs`.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    pub rs: usize,
    pub cs: usize,
}

impl Layout {
    /// Row-major with `cols` columns.
    pub fn row_major(cols: usize) -> Layout {
        Layout { rs: cols, cs: 1 }
    }

    /// Column-major with `rows` rows (the transpose of a row-major `cols × rows` matrix).
    pub fn col_major(rows: usize) -> Layout {
        Layout { rs: 1, cs: rows }
    }

    /// The same storage read as the transposed matrix.
    pub fn t(self) -> Layout {
        Layout { rs: self.cs, cs: self.rs }
    }

    fn span(self, rows: usize, cols: usize) -> usize {
        if rows == 0 || cols == 0 {
            0
        } else {
            (rows - 1) * self.rs + (cols - 1) * self.cs + 1
        }
    }
}

/// `c = beta·c + alpha·a·b` with `a: m×k`, `b: k×n`, `c: m×n`. With `beta == 0`, `c` is only written.
///
/// # Panics
/// If a layout reaches past the end of its slice (a bug in the caller, never user input).
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: &[f32],
    la: Layout,
    b: &[f32],
    lb: Layout,
    beta: f32,
    c: &mut [f32],
    lc: Layout,
) {
    assert!(la.span(m, k) <= a.len(), "gemm: lhs out of bounds");
    assert!(lb.span(k, n) <= b.len(), "gemm: rhs out of bounds");
    assert!(lc.span(m, n) <= c.len(), "gemm: output out of bounds");
    if m == 0 || n == 0 {
        return;
    }
    // Matrix–vector and outer products (a dense layer on one sample, its weight gradient), and a
    // few rows against a large `b` (the cotangent rows through a large dense layer), lose more to
    // packing `b` than they gain from the blocked kernel.
    let few_rows = m <= FEW_ROWS && k * n >= LARGE_B;
    if (m == 1 || k == 1 || few_rows) && by_rows(m, k, n, alpha, a, la, b, lb, beta, c, lc) {
        return;
    }
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

/// `gemm` computing every row of `c` exactly as a one-row product would (so a row's bits do not
/// depend on how many rows are computed together), reading each row or column of `b` once for all
/// rows: the batched first forward pass of dense layers.
#[allow(clippy::too_many_arguments)]
pub fn gemm_by_rows(
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: &[f32],
    la: Layout,
    b: &[f32],
    lb: Layout,
    beta: f32,
    c: &mut [f32],
    lc: Layout,
) {
    if !by_rows(m, k, n, alpha, a, la, b, lb, beta, c, lc) {
        gemm(m, k, n, alpha, a, la, b, lb, beta, c, lc);
    }
}

/// At most this many rows of `a` against a `b` of at least [`LARGE_B`] values go through
/// [`by_rows`] instead of the packed kernel.
const FEW_ROWS: usize = 16;
const LARGE_B: usize = 1 << 16;

/// The operands of one product, for [`by_rows`].
struct Product<'a> {
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: &'a [f32],
    la: Layout,
    b: &'a [f32],
    lb: Layout,
    beta: f32,
    c: &'a mut [f32],
    lc: Layout,
}

/// [`by_rows_body`], compiled for AVX2 when the CPU has it (the same bits either way: the lanes
/// of the reductions are fixed, and no multiply-add is fused).
#[allow(clippy::too_many_arguments)]
fn by_rows(
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: &[f32],
    la: Layout,
    b: &[f32],
    lb: Layout,
    beta: f32,
    c: &mut [f32],
    lc: Layout,
) -> bool {
    let p = Product { m, k, n, alpha, a, la, b, lb, beta, c, lc };
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, the only feature the function is compiled for.
        return unsafe { by_rows_avx2(p) };
    }
    by_rows_body(p)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn by_rows_avx2(p: Product) -> bool {
    by_rows_body(p)
}

/// Rows of axpys (when `b`'s rows are contiguous) or of dot products (when its columns are);
/// `false` when the layouts allow neither.
#[inline(always)]
fn by_rows_body(p: Product) -> bool {
    let Product { m, k, n, alpha, a, la, b, lb, beta, c, lc } = p;
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

    fn naive(m: usize, k: usize, n: usize, a: &[f32], la: Layout, b: &[f32], lb: Layout) -> Vec<f32> {
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
            for la in [Layout::row_major(k), Layout::col_major(m)] {
                for lb in [Layout::row_major(n), Layout::col_major(k)] {
                    let want = naive(m, k, n, &a, la, &b, lb);
                    let mut c = vec![1.0; m * n];
                    gemm(m, k, n, 2.0, &a, la, &b, lb, 0.5, &mut c, Layout::row_major(n));
                    for (got, w) in c.iter().zip(&want) {
                        assert!((got - (0.5 + 2.0 * w)).abs() < 1e-5, "{m}x{k}x{n}: {got} vs {w}");
                    }
                    // Row by row: each row's bits equal those of a one-row product.
                    let mut rows = vec![1.0; m * n];
                    gemm_by_rows(m, k, n, 2.0, &a, la, &b, lb, 0.5, &mut rows, Layout::row_major(n));
                    for i in 0..m {
                        let mut one = vec![1.0; n];
                        gemm(1, k, n, 2.0, &a[i * la.rs..], la, &b, lb, 0.5, &mut one, Layout::row_major(n));
                        assert_eq!(&rows[i * n..(i + 1) * n], &one[..]);
                    }
                }
            }
        }
    }
}
