//! 2-D convolution (ONNX `Conv`, NCHW, any stride, padding, dilation and group count).
//!
//! Lowered to a product per group: `Y_g [cout_g, T] = W_g [cout_g, K] · cols_g [K, T]` with
//! `K = cin_g · kh · kw` and `T = oh · ow`, where `cols` is the im2col unfolding of the input
//! (kept from the forward pass, it is also what the weight gradient needs).
//! Backward: `dcols = W_gᵀ · δ_g`, folded back onto the input (col2im); weight gradient
//! `∂W_g = δ_g · cols_gᵀ`, bias gradient `Σ_t δ[c, t]`.

use super::gemm::{gemm, Layout};
use super::{GradSink, Weights};
use crate::graph::TensorId;

/// A 2-D convolution over one sample `[1, cin, h, w] → [1, cout, oh, ow]`.
#[derive(Debug, Clone)]
pub struct Conv {
    pub weight: TensorId,
    pub bias: Option<TensorId>,
    pub cin: usize,
    pub h: usize,
    pub w: usize,
    pub cout: usize,
    pub group: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub dilation: [usize; 2],
    /// `[top, left, bottom, right]`.
    pub pads: [usize; 4],
    pub oh: usize,
    pub ow: usize,
}

impl Conv {
    fn kdim(&self) -> usize {
        self.cin / self.group * self.kernel[0] * self.kernel[1]
    }

    fn t(&self) -> usize {
        self.oh * self.ow
    }

    pub(crate) fn tensors(&self) -> Vec<TensorId> {
        let mut t = vec![self.weight];
        t.extend(self.bias);
        t
    }

    pub(crate) fn cols_len(&self) -> usize {
        self.group * self.kdim() * self.t()
    }

    pub(crate) fn scratch_len(&self) -> usize {
        (self.kdim() * self.t()).max(self.cout * self.kdim() + self.cout)
    }

    pub(crate) fn forward_macs(&self) -> usize {
        self.cout * self.kdim() * self.t()
    }

    /// Visits every (column row, output position, input index) of the unfolding of group `g`;
    /// positions that fall in the padding are skipped.
    fn for_each_tap(&self, g: usize, mut f: impl FnMut(usize, usize)) {
        let (kh, kw) = (self.kernel[0], self.kernel[1]);
        let cin_g = self.cin / self.group;
        let t = self.t();
        for c in 0..cin_g {
            let plane = (g * cin_g + c) * self.h * self.w;
            for i in 0..kh {
                for j in 0..kw {
                    let row = (c * kh + i) * kw + j;
                    for oy in 0..self.oh {
                        let iy = (oy * self.stride[0] + i * self.dilation[0]) as isize - self.pads[0] as isize;
                        if iy < 0 || iy >= self.h as isize {
                            continue;
                        }
                        for ox in 0..self.ow {
                            let ix = (ox * self.stride[1] + j * self.dilation[1]) as isize - self.pads[1] as isize;
                            if ix < 0 || ix >= self.w as isize {
                                continue;
                            }
                            f(row * t + oy * self.ow + ox, plane + iy as usize * self.w + ix as usize);
                        }
                    }
                }
            }
        }
    }

    pub(crate) fn forward(&self, w: &Weights, x: &[f32], y: &mut [f32], cols: &mut [f32]) {
        let (kd, t) = (self.kdim(), self.t());
        let cout_g = self.cout / self.group;
        let weight = w.get(self.weight);
        for g in 0..self.group {
            let cg = &mut cols[g * kd * t..(g + 1) * kd * t];
            cg.fill(0.0);
            self.for_each_tap(g, |col, inp| cg[col] = x[inp]);
            gemm(
                cout_g,
                kd,
                t,
                1.0,
                &weight[g * cout_g * kd..],
                Layout::row_major(kd),
                cg,
                Layout::row_major(t),
                0.0,
                &mut y[g * cout_g * t..(g + 1) * cout_g * t],
                Layout::row_major(t),
            );
        }
        if let Some(b) = self.bias {
            for (plane, &bv) in y.chunks_exact_mut(t).zip(w.get(b)) {
                plane.iter_mut().for_each(|v| *v += bv);
            }
        }
    }

    pub(crate) fn backward(&self, w: &Weights, m: usize, dy: &[f32], dx: &mut [f32], scratch: &mut [f32]) {
        let (kd, t) = (self.kdim(), self.t());
        let cout_g = self.cout / self.group;
        let in_len = self.cin * self.h * self.w;
        let weight = w.get(self.weight);
        let dcols = &mut scratch[..kd * t];
        for r in 0..m {
            let dyr = &dy[r * self.cout * t..(r + 1) * self.cout * t];
            let dxr = &mut dx[r * in_len..(r + 1) * in_len];
            for g in 0..self.group {
                gemm(
                    kd,
                    cout_g,
                    t,
                    1.0,
                    &weight[g * cout_g * kd..],
                    Layout::row_major(kd).t(),
                    &dyr[g * cout_g * t..],
                    Layout::row_major(t),
                    0.0,
                    dcols,
                    Layout::row_major(t),
                );
                self.for_each_tap(g, |col, inp| dxr[inp] += dcols[col]);
            }
        }
    }

    pub(crate) fn param_grad(&self, w: &Weights, cols: &[f32], dy: &[f32], scratch: &mut [f32], sink: &mut GradSink) {
        let (kd, t) = (self.kdim(), self.t());
        let cout_g = self.cout / self.group;
        let (gw, gb) = scratch.split_at_mut(self.cout * kd);
        if w.is_selected(self.weight) {
            for g in 0..self.group {
                gemm(
                    cout_g,
                    t,
                    kd,
                    1.0,
                    &dy[g * cout_g * t..],
                    Layout::row_major(t),
                    &cols[g * kd * t..],
                    Layout::row_major(t).t(),
                    0.0,
                    &mut gw[g * cout_g * kd..(g + 1) * cout_g * kd],
                    Layout::row_major(kd),
                );
            }
            sink(self.weight, gw);
        }
        if let Some(b) = self.bias.filter(|&b| w.is_selected(b)) {
            let gb = &mut gb[..self.cout];
            for (v, plane) in gb.iter_mut().zip(dy.chunks_exact(t)) {
                *v = plane.iter().sum();
            }
            sink(b, gb);
        }
    }
}
