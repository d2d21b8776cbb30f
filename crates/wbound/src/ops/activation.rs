//! Element-wise activations: ONNX `Relu`, `LeakyRelu`, `Sigmoid`, `Tanh`, `Elu` and `Clip`
//! (ReLU6 in PyTorch exports).
//!
//! Each derivative is written from the input `x` or the output `y`, whichever is cheaper:
//! relu `[x > 0]`, leaky relu `x > 0 ? 1 : α`, sigmoid `y(1 − y)`, tanh `1 − y²`,
//! elu `x > 0 ? 1 : y + α`, clip `min < x < max ? 1 : 0`.

/// Which function an [`Activation`] applies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ActivationKind {
    Relu,
    LeakyRelu { alpha: f32 },
    Sigmoid,
    Tanh,
    Elu { alpha: f32 },
    Clip { min: f32, max: f32 },
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
            ActivationKind::Clip { min, max } => x.max(min).min(max),
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
            ActivationKind::Clip { min, max } => {
                each(x, y, m, dy, dx, |x, _| if x > min && x < max { 1.0 } else { 0.0 })
            }
        }
    }
}
