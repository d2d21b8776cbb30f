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

    pub(crate) fn backward(&self, x: &[f32], y: &[f32], m: usize, dy: &[f32], dx: &mut [f32]) {
        // One monomorphised loop per function, so that each vectorises.
        fn each(x: &[f32], y: &[f32], m: usize, dy: &[f32], dx: &mut [f32], f: impl Fn(f32, f32) -> f32) {
            let n = x.len();
            for (dyr, dxr) in dy.chunks_exact(n).zip(dx.chunks_exact_mut(n)).take(m) {
                for (((o, &d), &xv), &yv) in dxr.iter_mut().zip(dyr).zip(x).zip(y) {
                    *o += d * f(xv, yv);
                }
            }
        }
        match self.kind {
            ActivationKind::Relu => each(x, y, m, dy, dx, |x, _| if x > 0.0 { 1.0 } else { 0.0 }),
            ActivationKind::LeakyRelu { alpha } => each(x, y, m, dy, dx, |x, _| if x > 0.0 { 1.0 } else { alpha }),
            ActivationKind::Sigmoid => each(x, y, m, dy, dx, |_, y| y * (1.0 - y)),
            ActivationKind::Tanh => each(x, y, m, dy, dx, |_, y| 1.0 - y * y),
            ActivationKind::Elu { alpha } => each(x, y, m, dy, dx, |x, y| if x > 0.0 { 1.0 } else { y + alpha }),
            ActivationKind::Selu { alpha, gamma } => {
                each(x, y, m, dy, dx, |x, y| if x > 0.0 { gamma } else { y + gamma * alpha })
            }
            ActivationKind::Clip { min, max } => {
                each(x, y, m, dy, dx, |x, _| if x > min && x < max { 1.0 } else { 0.0 })
            }
            ActivationKind::Softplus => each(x, y, m, dy, dx, |x, _| 1.0 / (1.0 + (-x).exp())),
            ActivationKind::Softsign => each(x, y, m, dy, dx, |x, _| 1.0 / ((1.0 + x.abs()) * (1.0 + x.abs()))),
            ActivationKind::HardSigmoid { alpha, beta } => {
                each(x, y, m, dy, dx, |x, _| if alpha * x + beta > 0.0 && alpha * x + beta < 1.0 { alpha } else { 0.0 })
            }
            ActivationKind::HardSwish => each(x, y, m, dy, dx, |x, _| {
                if x <= -3.0 {
                    0.0
                } else if x >= 3.0 {
                    1.0
                } else {
                    (2.0 * x + 3.0) / 6.0
                }
            }),
            ActivationKind::Erf => each(x, y, m, dy, dx, |x, _| FRAC_2_SQRT_PI * (-x * x).exp()),
            ActivationKind::Gelu { tanh: false } => each(x, y, m, dy, dx, |x, _| {
                0.5 * (1.0 + libm::erff(x * FRAC_1_SQRT_2)) + x * INV_SQRT_2PI * (-0.5 * x * x).exp()
            }),
            ActivationKind::Gelu { tanh: true } => each(x, y, m, dy, dx, |x, _| {
                let t = (SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)).tanh();
                0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044715 * x * x)
            }),
            ActivationKind::Sqrt => each(x, y, m, dy, dx, |_, y| 0.5 / y),
            ActivationKind::Pow { exponent } => each(x, y, m, dy, dx, |x, _| exponent * x.powf(exponent - 1.0)),
            ActivationKind::Exp => each(x, y, m, dy, dx, |_, y| y),
            ActivationKind::Log => each(x, y, m, dy, dx, |x, _| 1.0 / x),
            ActivationKind::Neg => each(x, y, m, dy, dx, |_, _| -1.0),
            ActivationKind::Abs => each(x, y, m, dy, dx, |x, _| {
                if x > 0.0 {
                    1.0
                } else if x < 0.0 {
                    -1.0
                } else {
                    0.0
                }
            }),
            ActivationKind::Reciprocal => each(x, y, m, dy, dx, |_, y| -y * y),
            ActivationKind::Sin => each(x, y, m, dy, dx, |x, _| x.cos()),
            ActivationKind::Cos => each(x, y, m, dy, dx, |x, _| -x.sin()),
        }
    }
}
