//! ONNX `BatchNormalization` in inference mode:
//! `y = scale_c · (x − mean_c) / √(var_c + ε) + B_c` per channel `c` (axis 1).
//!
//! `scale` and `B` are trainable; the running `mean` and `var` are statistics, never moved (moving
//! them shifts scores by ~50% and can drive the variance negative).

use super::{GradSink, Weights};
use crate::tensor::TensorId;

/// Inference-mode batch normalisation over `channels × spatial`.
#[derive(Debug, Clone)]
pub struct BatchNorm {
    pub scale: TensorId,
    pub bias: TensorId,
    pub mean: TensorId,
    pub var: TensorId,
    pub epsilon: f32,
    pub channels: usize,
    pub spatial: usize,
}

impl BatchNorm {
    pub(crate) fn tensors(&self) -> Vec<TensorId> {
        vec![self.scale, self.bias]
    }

    fn inv_std(&self, w: &Weights, c: usize) -> f32 {
        1.0 / (w.get(self.var)[c] + self.epsilon).sqrt()
    }

    pub(crate) fn forward(&self, w: &Weights, x: &[f32], y: &mut [f32]) {
        let (scale, bias, mean) = (w.get(self.scale), w.get(self.bias), w.get(self.mean));
        for c in 0..self.channels {
            let k = scale[c] * self.inv_std(w, c);
            let range = c * self.spatial..(c + 1) * self.spatial;
            for (o, &v) in y[range.clone()].iter_mut().zip(&x[range]) {
                *o = k * (v - mean[c]) + bias[c];
            }
        }
    }

    pub(crate) fn backward(&self, w: &Weights, m: usize, dy: &[f32], dx: &mut [f32]) {
        let scale = w.get(self.scale);
        let n = self.channels * self.spatial;
        for (dyr, dxr) in dy.chunks_exact(n).zip(dx.chunks_exact_mut(n)).take(m) {
            let planes = dxr.chunks_exact_mut(self.spatial).zip(dyr.chunks_exact(self.spatial));
            for (c, ((dxp, dyp), &s)) in planes.zip(scale).enumerate() {
                let k = s * self.inv_std(w, c);
                dxp.iter_mut().zip(dyp).for_each(|(o, &d)| *o += k * d);
            }
        }
    }

    pub(crate) fn param_grad(&self, w: &Weights, x: &[f32], dy: &[f32], scratch: &mut [f32], sink: &mut GradSink) {
        let mean = w.get(self.mean);
        let (gs, gb) = scratch[..2 * self.channels].split_at_mut(self.channels);
        for c in 0..self.channels {
            let inv = self.inv_std(w, c);
            let range = c * self.spatial..(c + 1) * self.spatial;
            let (mut s, mut b) = (0.0f32, 0.0f32);
            for (&d, &v) in dy[range.clone()].iter().zip(&x[range]) {
                s += d * (v - mean[c]) * inv;
                b += d;
            }
            gs[c] = s;
            gb[c] = b;
        }
        if w.is_selected(self.scale) {
            sink(self.scale, 0, gs);
        }
        if w.is_selected(self.bias) {
            sink(self.bias, 0, gb);
        }
    }
}
