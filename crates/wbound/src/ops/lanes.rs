//! Reductions written with independent lanes so that the compiler vectorises them (a plain
//! `iter().sum()` over floats is a serial chain), in a fixed order so results are reproducible.

const LANES: usize = 8;

/// Which dual norm of the gradients to accumulate: sums of squares (l2, the square root is
/// taken at the end), sums of absolute values (l1) or maxima (l∞).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DualNorm {
    L1,
    L2,
    Linf,
}

impl DualNorm {
    /// Folds the gradient block `g` into the accumulator `acc`.
    pub fn add(self, acc: &mut f64, g: &[f32]) {
        match self {
            DualNorm::L2 => *acc += dot64(g, g),
            DualNorm::L1 => *acc += sum_abs64(g),
            DualNorm::Linf => *acc = acc.max(f64::from(max_abs(g))),
        }
    }
}

/// `Σ a_i b_i` accumulated in f64.
pub fn dot64(a: &[f32], b: &[f32]) -> f64 {
    let mut acc = [0f64; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f64 = ca.remainder().iter().zip(cb.remainder()).map(|(&x, &y)| f64::from(x) * f64::from(y)).sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..LANES {
            acc[l] += f64::from(x[l]) * f64::from(y[l]);
        }
    }
    acc.iter().sum::<f64>() + tail
}

/// `Σ |a_i|` accumulated in f64.
pub fn sum_abs64(a: &[f32]) -> f64 {
    let mut acc = [0f64; LANES];
    let c = a.chunks_exact(LANES);
    let tail: f64 = c.remainder().iter().map(|&x| f64::from(x.abs())).sum();
    for x in c {
        for l in 0..LANES {
            acc[l] += f64::from(x[l].abs());
        }
    }
    acc.iter().sum::<f64>() + tail
}

/// `max |a_i|` (0 for an empty slice).
pub fn max_abs(a: &[f32]) -> f32 {
    a.iter().fold(0.0f32, |m, &x| m.max(x.abs()))
}

/// `Σ a_i b_i` in f32 with independent lanes.
#[inline(always)]
pub fn dot32(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(&x, &y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..LANES {
            acc[l] += x[l] * y[l];
        }
    }
    acc.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reductions_match_their_definitions() {
        let a: Vec<f32> = (0..37).map(|i| (i as f32 * 0.3).sin()).collect();
        let b: Vec<f32> = (0..37).map(|i| (i as f32 * 0.7).cos()).collect();
        let want: f64 = a.iter().zip(&b).map(|(&x, &y)| f64::from(x) * f64::from(y)).sum();
        assert!((dot64(&a, &b) - want).abs() < 1e-12);
        assert!((f64::from(dot32(&a, &b)) - want).abs() < 1e-5);
        assert!((sum_abs64(&a) - a.iter().map(|x| f64::from(x.abs())).sum::<f64>()).abs() < 1e-12);
        assert_eq!(max_abs(&[1.0, -3.0, 2.0]), 3.0);
    }
}
