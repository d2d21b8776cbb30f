//! Element-wise activations: ONNX `Relu`, `LeakyRelu`, `Sigmoid`, `Tanh`, `Elu`, `Selu`, `Clip`
//! (ReLU6 in PyTorch exports), `Softplus`, `Softsign`, `HardSigmoid`, `HardSwish` (MobileNetV3),
//! `Erf` (PyTorch's exact GELU below opset 20) and `Gelu` (opset 20, exact or tanh approximation),
//! and the unary math of decomposed layers (LayerNorm exported below opset 17): `Sqrt`, `Pow` by a
//! constant exponent, `Exp`, `Log`, `Neg`, `Abs`, `Reciprocal`, and `Sin`, `Cos` (sinusoidal
//! position encodings).
//!
//! Each derivative is written from the input `x` or the output `y`, whichever is cheaper:
//! relu `[x > 0]`, leaky relu `x > 0 ? 1 : α`, sigmoid `y(1 − y)`, tanh `1 − y²`,
//! elu `x > 0 ? 1 : y + α`, selu `x > 0 ? γ : y + γα`, clip `min < x < max ? 1 : 0`,
//! softplus `σ(x)`, softsign `1 / (1 + |x|)²`, hard sigmoid `0 < αx + β < 1 ? α : 0`,
//! hard swish `x < −3 ? 0 : x > 3 ? 1 : (2x + 3) / 6`, erf `2/√π · e^(−x²)`,
//! gelu `Φ(x) + x φ(x)` (tanh form: the derivative of `x/2 · (1 + tanh(u))`, `u = √(2/π)(x + 0.044715x³)`),
//! sqrt `1 / (2y)`, pow `p·x^(p−1)`, exp `y`, log `1/x`, neg `−1`, abs `sign(x)`, reciprocal `−y²`,
//! sin `cos x`, cos `−sin x`.

use std::f32::consts::{FRAC_1_SQRT_2, FRAC_2_SQRT_PI};

/// `√(2/π)`, the tanh-GELU's scale.
const SQRT_2_OVER_PI: f32 = 0.797_884_6;
/// `1/√(2π)`, the normal density's factor.
const INV_SQRT_2PI: f32 = 0.398_942_3;

/// Which function an [`Activation`] applies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ActivationKind {
    Relu,
    LeakyRelu {
        alpha: f32,
    },
    Sigmoid,
    Tanh,
    Elu {
        alpha: f32,
    },
    Selu {
        alpha: f32,
        gamma: f32,
    },
    Clip {
        min: f32,
        max: f32,
    },
    Softplus,
    Softsign,
    HardSigmoid {
        alpha: f32,
        beta: f32,
    },
    HardSwish,
    Erf,
    /// `tanh`: the tanh approximation instead of the exact `x Φ(x)`.
    Gelu {
        tanh: bool,
    },
    Sqrt,
    Pow {
        exponent: f32,
    },
    Exp,
    Log,
    Neg,
    Abs,
    Reciprocal,
    Sin,
    Cos,
}

/// An element-wise activation.
#[derive(Debug, Clone)]
pub struct Activation {
    pub kind: ActivationKind,
}

impl Activation {
    fn apply(&self, x: f32) -> f32 {
        match self.kind {
            ActivationKind::Relu => x.max(0.0),
            ActivationKind::LeakyRelu { alpha } => {
                if x > 0.0 {
                    x
                } else {
                    alpha * x
                }
            }
            ActivationKind::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            ActivationKind::Tanh => x.tanh(),
            ActivationKind::Elu { alpha } => {
                if x > 0.0 {
                    x
                } else {
                    alpha * (x.exp() - 1.0)
                }
            }
            ActivationKind::Selu { alpha, gamma } => {
                if x > 0.0 {
                    gamma * x
                } else {
                    gamma * alpha * (x.exp() - 1.0)
                }
            }
            ActivationKind::Clip { min, max } => x.max(min).min(max),
            // ln(1 + eˣ) without overflow: x + ln(1 + e⁻ˣ) for large x.
            ActivationKind::Softplus => x.max(0.0) + (-x.abs()).exp().ln_1p(),
            ActivationKind::Softsign => x / (1.0 + x.abs()),
            ActivationKind::HardSigmoid { alpha, beta } => (alpha * x + beta).clamp(0.0, 1.0),
            ActivationKind::HardSwish => x * (x / 6.0 + 0.5).clamp(0.0, 1.0),
            ActivationKind::Erf => libm::erff(x),
            ActivationKind::Gelu { tanh: false } => 0.5 * x * (1.0 + libm::erff(x * FRAC_1_SQRT_2)),
            ActivationKind::Gelu { tanh: true } => {
                0.5 * x * (1.0 + (SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)).tanh())
            }
            ActivationKind::Sqrt => x.sqrt(),
            ActivationKind::Pow { exponent } => x.powf(exponent),
            ActivationKind::Exp => x.exp(),
            ActivationKind::Log => x.ln(),
            ActivationKind::Neg => -x,
            ActivationKind::Abs => x.abs(),
            ActivationKind::Reciprocal => 1.0 / x,
            ActivationKind::Sin => x.sin(),
            ActivationKind::Cos => x.cos(),
        }
    }

    pub(crate) fn forward(&self, x: &[f32], y: &mut [f32]) {
        y.iter_mut().zip(x).for_each(|(o, &v)| *o = self.apply(v));
    }

    /// Whether the derivative costs a transcendental function or a division, so that the
    /// backward of several rows computes it once; a select or a product is cheaper to redo per
    /// row than to store and read back.
    fn costly(&self) -> bool {
        use ActivationKind::*;
        matches!(
            self.kind,
            Sigmoid | Softplus | Softsign | HardSwish | Erf | Gelu { .. } | Sqrt | Pow { .. } | Log | Sin | Cos
        )
    }

    /// Scratch floats of [`Activation::backward`] for an `n`-value output: the derivative at
    /// each value.
    pub(crate) fn scratch_len(&self, n: usize) -> usize {
        n
    }

    /// Adds `dy ⊙ f′` to `dx` for `m` rows; with more than one row and a costly `f′`, it is
    /// computed once into `scratch` (of [`Activation::scratch_len`]) and read by every row — the
    /// same `f32` values, so the same bits as computing it per row, without `m` evaluations of
    /// `erf`, `exp` or `powf`.
    pub(crate) fn backward(&self, x: &[f32], y: &[f32], m: usize, dy: &[f32], dx: &mut [f32], scratch: &mut [f32]) {
        // One monomorphised loop per function, so that each vectorises.
        fn each(
            x: &[f32],
            y: &[f32],
            m: usize,
            dy: &[f32],
            dx: &mut [f32],
            scratch: Option<&mut [f32]>,
            f: impl Fn(f32, f32) -> f32,
        ) {
            let n = x.len();
            let rows = dy.chunks_exact(n).zip(dx.chunks_exact_mut(n)).take(m);
            let Some(scratch) = scratch else {
                for (dyr, dxr) in rows {
                    for (((o, &d), &xv), &yv) in dxr.iter_mut().zip(dyr).zip(x).zip(y) {
                        *o += d * f(xv, yv);
                    }
                }
                return;
            };
            let fp = &mut scratch[..n];
            fp.iter_mut().zip(x.iter().zip(y)).for_each(|(p, (&xv, &yv))| *p = f(xv, yv));
            for (dyr, dxr) in rows {
                dxr.iter_mut().zip(dyr).zip(&*fp).for_each(|((o, &d), &p)| *o += d * p);
            }
        }
        // The derivative once for all rows, in scratch, where that saves work.
        let once = (m > 1 && self.costly()).then_some(scratch);
        match self.kind {
            ActivationKind::Relu => each(x, y, m, dy, dx, once, |x, _| if x > 0.0 { 1.0 } else { 0.0 }),
            ActivationKind::LeakyRelu { alpha } => {
                each(x, y, m, dy, dx, once, |x, _| if x > 0.0 { 1.0 } else { alpha })
            }
            ActivationKind::Sigmoid => each(x, y, m, dy, dx, once, |_, y| y * (1.0 - y)),
            ActivationKind::Tanh => each(x, y, m, dy, dx, once, |_, y| 1.0 - y * y),
            ActivationKind::Elu { alpha } => each(x, y, m, dy, dx, once, |x, y| if x > 0.0 { 1.0 } else { y + alpha }),
            ActivationKind::Selu { alpha, gamma } => {
                each(x, y, m, dy, dx, once, |x, y| if x > 0.0 { gamma } else { y + gamma * alpha })
            }
            ActivationKind::Clip { min, max } => {
                each(x, y, m, dy, dx, once, |x, _| if x > min && x < max { 1.0 } else { 0.0 })
            }
            ActivationKind::Softplus => each(x, y, m, dy, dx, once, |x, _| 1.0 / (1.0 + (-x).exp())),
            ActivationKind::Softsign => each(x, y, m, dy, dx, once, |x, _| 1.0 / ((1.0 + x.abs()) * (1.0 + x.abs()))),
            ActivationKind::HardSigmoid { alpha, beta } => {
                each(
                    x,
                    y,
                    m,
                    dy,
                    dx,
                    once,
                    |x, _| {
                        if alpha * x + beta > 0.0 && alpha * x + beta < 1.0 {
                            alpha
                        } else {
                            0.0
                        }
                    },
                )
            }
            ActivationKind::HardSwish => each(x, y, m, dy, dx, once, |x, _| {
                if x <= -3.0 {
                    0.0
                } else if x >= 3.0 {
                    1.0
                } else {
                    (2.0 * x + 3.0) / 6.0
                }
            }),
            ActivationKind::Erf => each(x, y, m, dy, dx, once, |x, _| FRAC_2_SQRT_PI * (-x * x).exp()),
            ActivationKind::Gelu { tanh: false } => each(x, y, m, dy, dx, once, |x, _| {
                0.5 * (1.0 + libm::erff(x * FRAC_1_SQRT_2)) + x * INV_SQRT_2PI * (-0.5 * x * x).exp()
            }),
            ActivationKind::Gelu { tanh: true } => each(x, y, m, dy, dx, once, |x, _| {
                let t = (SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)).tanh();
                0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044715 * x * x)
            }),
            ActivationKind::Sqrt => each(x, y, m, dy, dx, once, |_, y| 0.5 / y),
            ActivationKind::Pow { exponent } => each(x, y, m, dy, dx, once, |x, _| exponent * x.powf(exponent - 1.0)),
            ActivationKind::Exp => each(x, y, m, dy, dx, once, |_, y| y),
            ActivationKind::Log => each(x, y, m, dy, dx, once, |x, _| 1.0 / x),
            ActivationKind::Neg => each(x, y, m, dy, dx, once, |_, _| -1.0),
            ActivationKind::Abs => each(x, y, m, dy, dx, once, |x, _| {
                if x > 0.0 {
                    1.0
                } else if x < 0.0 {
                    -1.0
                } else {
                    0.0
                }
            }),
            ActivationKind::Reciprocal => each(x, y, m, dy, dx, once, |_, y| -y * y),
            ActivationKind::Sin => each(x, y, m, dy, dx, once, |x, _| x.cos()),
            ActivationKind::Cos => each(x, y, m, dy, dx, once, |x, _| -x.sin()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every kind, with the parameters the importer can give it.
    fn kinds() -> Vec<ActivationKind> {
        use ActivationKind::*;
        vec![
            Relu,
            LeakyRelu { alpha: 0.1 },
            Sigmoid,
            Tanh,
            Elu { alpha: 0.7 },
            Selu { alpha: 1.673_263_2, gamma: 1.050_701 },
            Clip { min: -1.0, max: 6.0 },
            Softplus,
            Softsign,
            HardSigmoid { alpha: 0.2, beta: 0.5 },
            HardSwish,
            Erf,
            Gelu { tanh: false },
            Gelu { tanh: true },
            Sqrt,
            Pow { exponent: 2.0 },
            Pow { exponent: 0.5 },
            Exp,
            Log,
            Neg,
            Abs,
            Reciprocal,
            Sin,
            Cos,
        ]
    }

    proptest! {
        /// The backward of `m` rows at once (the derivative computed once) gives each row the bits
        /// of that row's one-row backward (the derivative computed in the loop), for every kind.
        #[test]
        fn rows_together_equal_rows_one_at_a_time(
            xs in proptest::collection::vec(-4.0f32..4.0, 1..40),
            m in 2usize..5,
            seed in 0u32..1000,
        ) {
            let n = xs.len();
            let dy: Vec<f32> = (0..m * n).map(|i| ((i as u32 * 7919 + seed) % 17) as f32 * 0.25 - 2.0).collect();
            for kind in kinds() {
                let act = Activation { kind };
                let mut y = vec![0.0; n];
                act.forward(&xs, &mut y);
                let start: Vec<f32> = (0..m * n).map(|i| (i % 5) as f32 * 0.5).collect();
                let mut together = start.clone();
                let mut scratch = vec![f32::NAN; act.scratch_len(n)];
                act.backward(&xs, &y, m, &dy, &mut together, &mut scratch);
                for r in 0..m {
                    let mut one = start[r * n..(r + 1) * n].to_vec();
                    act.backward(&xs, &y, 1, &dy[r * n..(r + 1) * n], &mut one, &mut []);
                    let (got, want): (Vec<u32>, Vec<u32>) = (
                        together[r * n..(r + 1) * n].iter().map(|v| v.to_bits()).collect(),
                        one.iter().map(|v| v.to_bits()).collect(),
                    );
                    prop_assert_eq!(got, want, "{:?}, row {}", kind, r);
                }
            }
        }
    }

    /// The one-row backward against the closed forms of a few derivatives.
    #[test]
    fn derivatives_match_their_closed_forms() {
        let x = [-1.5f32, -0.25, 0.5, 2.0];
        type Derivative = fn(f32) -> f32;
        let cases: [(ActivationKind, Derivative); 4] = [
            (ActivationKind::Tanh, |x| 1.0 - x.tanh().powi(2)),
            (ActivationKind::Erf, |x| FRAC_2_SQRT_PI * (-x * x).exp()),
            (ActivationKind::Gelu { tanh: false }, |x| {
                0.5 * (1.0 + libm::erff(x * FRAC_1_SQRT_2)) + x * INV_SQRT_2PI * (-0.5 * x * x).exp()
            }),
            (ActivationKind::Sigmoid, |x| {
                let s = 1.0 / (1.0 + (-x).exp());
                s * (1.0 - s)
            }),
        ];
        for (kind, d) in cases {
            let act = Activation { kind };
            let mut y = [0.0; 4];
            act.forward(&x, &mut y);
            let (mut dx, mut scratch) = ([0.0; 8], [0.0; 4]);
            act.backward(&x, &y, 2, &[1.0; 8], &mut dx, &mut scratch);
            for (i, &xv) in x.iter().enumerate() {
                for r in 0..2 {
                    assert!((dx[r * 4 + i] - d(xv)).abs() < 1e-6, "{kind:?} at {xv}: {} vs {}", dx[r * 4 + i], d(xv));
                }
            }
        }
    }
}
