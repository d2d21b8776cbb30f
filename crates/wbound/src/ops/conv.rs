//! Convolution (ONNX `Conv`, channels first, 1 to 3 spatial axes, any stride, padding, dilation and
//! group count), held as 3-D: a 2-D layer has depth 1, a 1-D layer also height 1.
//!
//! Lowered to a product per group: `Y_g [cout_g, T] = W_g [cout_g, K] · cols_g [K, T]` with
//! `K = cin_g · kd · kh · kw` and `T = od · oh · ow`, where `cols` is the im2col unfolding of the input
//! (kept from the forward pass, it is also what the weight gradient needs).
//! Backward: `dcols = W_gᵀ · δ_g`, folded back onto the input (col2im); weight gradient
//! `∂W_g = δ_g · cols_gᵀ`, bias gradient `Σ_t δ[c, t]`.

use super::gemm::{gemm, Product, Strides};
use super::gram;

/// Largest backward (floats of all rows' columns and cotangents) done as one product.
const SMALL_BACKWARD: usize = 1 << 16;
/// At most this many output positions, the backward of all rows is one product whatever its size:
/// row by row, each `[K, cout_g] · [cout_g, T]` product would pack the whole weight for a few
/// columns (ResNet-18's last three stages at 32×32 have T = 16, 4 and 1).
const FEW_POSITIONS: usize = 16;
use super::{DualNorm, GradSink, Norms, Weights};
use crate::tensor::TensorId;

/// A convolution over one sample `[1, cin, d, h, w] → [1, cout, od, oh, ow]`.
#[derive(Debug, Clone)]
pub struct Conv {
    pub weight: TensorId,
    pub bias: Option<TensorId>,
    pub cin: usize,
    /// The input's spatial sizes `[d, h, w]`.
    pub input: [usize; 3],
    pub cout: usize,
    pub group: usize,
    /// `[kd, kh, kw]`.
    pub kernel: [usize; 3],
    pub stride: [usize; 3],
    pub dilation: [usize; 3],
    /// `[front, top, left, back, bottom, right]`.
    pub pads: [usize; 6],
    /// The output's spatial sizes `[od, oh, ow]`.
    pub out: [usize; 3],
    /// For small layers (see [`Conv::with_targets`]): per column of the unfolding, group after
    /// group, the input value it holds (`u32::MAX` in the padding); empty for large layers.
    pub targets: Vec<u32>,
}

impl Conv {
    /// Fills [`Conv::targets`] when the unfolding is small (at most [`SMALL_BACKWARD`] values):
    /// im2col and col2im then walk one index per column instead of runs of 2–4 values, whose
    /// bookkeeping cost more than the copies on an 8×8 input (measured on the reference cnn).
    pub(crate) fn with_targets(mut self) -> Conv {
        let (kd, t) = (self.kdim(), self.t());
        if self.group * kd * t <= SMALL_BACKWARD {
            let mut targets = vec![u32::MAX; self.group * kd * t];
            for g in 0..self.group {
                let tg = &mut targets[g * kd * t..(g + 1) * kd * t];
                let sw = self.stride[2];
                self.for_each_run(g, |col, inp, len| {
                    for (i, slot) in tg[col..col + len].iter_mut().enumerate() {
                        // Below SMALL_BACKWARD·stride, so it fits in u32.
                        *slot = (inp + i * sw) as u32;
                    }
                });
            }
            self.targets = targets;
        }
        self
    }

    /// Rows of a group's unfolding: `cin_g · kd · kh · kw`.
    pub(crate) fn kdim(&self) -> usize {
        self.cin / self.group * self.kernel.iter().product::<usize>()
    }

    /// Output positions: `od · oh · ow`.
    pub(crate) fn t(&self) -> usize {
        self.out.iter().product()
    }

    /// Values of one input channel.
    fn plane(&self) -> usize {
        self.input.iter().product()
    }

    pub(crate) fn tensors(&self) -> Vec<TensorId> {
        let mut t = vec![self.weight];
        t.extend(self.bias);
        t
    }

    pub(crate) fn cols_len(&self) -> usize {
        self.group * self.kdim() * self.t()
    }

    /// The weight gradients of `rows` rows, kept by the batched norms (ungrouped layers).
    pub(crate) fn kept_len(&self, rows: usize) -> usize {
        if self.group == 1 {
            rows * self.cout * self.kdim()
        } else {
            0
        }
    }

    pub(crate) fn scratch_len(&self, rows: usize) -> usize {
        (rows * self.t() * (self.kdim() + self.cout))
            .max(rows * self.cout * self.kdim())
            .max(self.cout * self.kdim() + self.cout)
            .max(2 * self.t() * self.t())
    }

    pub(crate) fn forward_macs(&self) -> usize {
        self.cout * self.kdim() * self.t()
    }

    /// Visits the unfolding of group `g` as runs: `f(col, inp, len)` stands for
    /// `cols[col + i] ↔ x[inp + i · stride_w]` for `i < len`; taps in the padding are skipped
    /// (their columns stay zero).
    fn for_each_run(&self, g: usize, mut f: impl FnMut(usize, usize, usize)) {
        let [kd, kh, kw] = self.kernel;
        let [sd, sh, sw] = self.stride;
        let [id, ih, iw] = self.input;
        let [od, oh, ow] = self.out;
        let cin_g = self.cin / self.group;
        let t = self.t();
        for c in 0..cin_g {
            let plane = (g * cin_g + c) * self.plane();
            for a in 0..kd {
                for i in 0..kh {
                    for j in 0..kw {
                        let row = ((c * kd + a) * kh + i) * kw + j;
                        // Output columns whose tap ix = ox·sw + j·dw − pl falls inside [0, w).
                        let off = j * self.dilation[2];
                        let first = self.pads[2].saturating_sub(off).div_ceil(sw);
                        let end = (iw + self.pads[2]).saturating_sub(off).div_ceil(sw).min(ow);
                        if first >= end {
                            continue;
                        }
                        for oz in 0..od {
                            let iz = (oz * sd + a * self.dilation[0]) as isize - self.pads[0] as isize;
                            if iz < 0 || iz >= id as isize {
                                continue;
                            }
                            for oy in 0..oh {
                                let iy = (oy * sh + i * self.dilation[1]) as isize - self.pads[1] as isize;
                                if iy < 0 || iy >= ih as isize {
                                    continue;
                                }
                                let ix0 = first * sw + off - self.pads[2];
                                let at = (iz as usize * ih + iy as usize) * iw + ix0;
                                f(row * t + (oz * oh + oy) * ow + first, plane + at, end - first);
                            }
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
            if self.targets.is_empty() {
                cg.fill(0.0);
                let sw = self.stride[2];
                self.for_each_run(g, |col, inp, len| {
                    let dst = &mut cg[col..col + len];
                    if sw == 1 {
                        dst.copy_from_slice(&x[inp..inp + len]);
                    } else {
                        dst.iter_mut().enumerate().for_each(|(i, d)| *d = x[inp + i * sw]);
                    }
                });
            } else {
                for (d, &i) in cg.iter_mut().zip(&self.targets[g * kd * t..]) {
                    *d = x.get(i as usize).copied().unwrap_or(0.0);
                }
            }
            gemm(Product {
                m: cout_g,
                k: kd,
                n: t,
                alpha: 1.0,
                a: &weight[g * cout_g * kd..],
                la: Strides::row_major(kd),
                b: cg,
                lb: Strides::row_major(t),
                beta: 0.0,
                c: &mut y[g * cout_g * t..(g + 1) * cout_g * t],
                lc: Strides::row_major(t),
            });
        }
        if let Some(b) = self.bias {
            for (plane, &bv) in y.chunks_exact_mut(t).zip(w.get(b)) {
                plane.iter_mut().for_each(|v| *v += bv);
            }
        }
    }

    /// `dcols = W_gᵀ · δ_g`, then col2im onto each row's `dx` (the runs walked once for all rows).
    /// Small layers and those with few output positions take all `m` rows in one product (the
    /// rows' cotangents gathered side by side as `[cout_g, m·T]`: one call, and one packing of the
    /// weight, instead of `m`); large ones go row by row, so that a row's columns stay in cache
    /// for the col2im (one product was measured 40% slower on a 32×32 CNN). Either way each value
    /// has the same bits: the kernel sums over `cout_g` in the same order whatever the columns.
    pub(crate) fn backward(&self, w: &Weights, m: usize, dy: &[f32], dx: &mut [f32], scratch: &mut [f32]) {
        let (kd, t) = (self.kdim(), self.t());
        let cout_g = self.cout / self.group;
        let in_len = self.cin * self.plane();
        let weight = w.get(self.weight);
        let together = m * t * (kd + cout_g) <= SMALL_BACKWARD || t <= FEW_POSITIONS;
        let (dcols, side) = scratch[..m * t * (kd + cout_g)].split_at_mut(m * kd * t);
        // Where row r's column `col` (= kd_row · T + position) of dcols lives.
        let at = |r: usize, col: usize| if together { (col / t) * m * t + r * t + col % t } else { r * kd * t + col };
        let lw = Strides::row_major(kd).t();
        for g in 0..self.group {
            let wg = &weight[g * cout_g * kd..];
            if together {
                for c in 0..cout_g {
                    for r in 0..m {
                        let from = r * self.cout * t + (g * cout_g + c) * t;
                        side[(c * m + r) * t..(c * m + r + 1) * t].copy_from_slice(&dy[from..from + t]);
                    }
                }
                let lt = Strides::row_major(m * t);
                gemm(Product {
                    m: kd,
                    k: cout_g,
                    n: m * t,
                    alpha: 1.0,
                    a: wg,
                    la: lw,
                    b: side,
                    lb: lt,
                    beta: 0.0,
                    c: dcols,
                    lc: lt,
                });
            } else {
                for r in 0..m {
                    let dyr = &dy[r * self.cout * t + g * cout_g * t..];
                    let (lt, c) = (Strides::row_major(t), &mut dcols[r * kd * t..(r + 1) * kd * t]);
                    gemm(Product {
                        m: kd,
                        k: cout_g,
                        n: t,
                        alpha: 1.0,
                        a: wg,
                        la: lw,
                        b: dyr,
                        lb: lt,
                        beta: 0.0,
                        c,
                        lc: lt,
                    });
                }
            }
            if together && !self.targets.is_empty() {
                // dcols is [kd, m·T]: each kd row holds the m rows' T positions side by side.
                let targets = &self.targets[g * kd * t..(g + 1) * kd * t];
                for (row, cols_row) in targets.chunks_exact(t).zip(dcols.chunks_exact(m * t)) {
                    for (dxr, src) in dx.chunks_exact_mut(in_len).zip(cols_row.chunks_exact(t)) {
                        for (&i, &v) in row.iter().zip(src) {
                            if let Some(d) = dxr.get_mut(i as usize) {
                                *d += v;
                            }
                        }
                    }
                }
                continue;
            }
            let sw = self.stride[2];
            self.for_each_run(g, |col, inp, len| {
                for r in 0..m {
                    let from = at(r, col);
                    let src = &dcols[from..from + len];
                    let dxr = &mut dx[r * in_len..(r + 1) * in_len];
                    if sw == 1 {
                        dxr[inp..inp + len].iter_mut().zip(src).for_each(|(d, &s)| *d += s);
                    } else {
                        src.iter().enumerate().for_each(|(i, &s)| dxr[inp + i * sw] += s);
                    }
                }
            });
        }
    }

    /// The gradient of one row; `kept` is its weight gradient when the norms kept it.
    pub(crate) fn param_grad(
        &self,
        w: &Weights,
        cols: &[f32],
        dy: &[f32],
        kept: Option<&[f32]>,
        scratch: &mut [f32],
        sink: &mut GradSink,
    ) {
        let (kd, t) = (self.kdim(), self.t());
        let cout_g = self.cout / self.group;
        let (gw, gb) = scratch.split_at_mut(self.cout * kd);
        if let Some(kept) = kept.filter(|_| w.is_selected(self.weight)) {
            sink(self.weight, 0, kept);
        } else if w.is_selected(self.weight) {
            for g in 0..self.group {
                gemm(Product {
                    m: cout_g,
                    k: t,
                    n: kd,
                    alpha: 1.0,
                    a: &dy[g * cout_g * t..],
                    la: Strides::row_major(t),
                    b: &cols[g * kd * t..],
                    lb: Strides::row_major(t).t(),
                    beta: 0.0,
                    c: &mut gw[g * cout_g * kd..(g + 1) * cout_g * kd],
                    lc: Strides::row_major(kd),
                });
            }
            sink(self.weight, 0, gw);
        }
        if let Some(b) = self.bias.filter(|&b| w.is_selected(b)) {
            let gb = &mut gb[..self.cout];
            for (v, plane) in gb.iter_mut().zip(dy.chunks_exact(t)) {
                *v = plane.iter().sum();
            }
            sink(b, 0, gb);
        }
    }

    /// Whether the norms of `m` rows take the Gram route (l2, when cheaper than materialising the
    /// rows' gradients).
    pub(crate) fn norms_by_gram(&self, m: usize, q: DualNorm) -> bool {
        let (kd, t) = (self.kdim(), self.t());
        q == DualNorm::L2 && self.group * gram::cost(t, kd, self.cout / self.group, m) < m * self.cout * t * kd
    }

    /// The gradient norms of all `m` rows: by the Gram route (l2, when cheaper: small output maps
    /// with many taps), else, for ungrouped convolutions, all rows' weight gradients in one product
    /// `[m·cout, T] · colsᵀ` (the rows' cotangents are contiguous), so `cols` is packed once; those
    /// gradients stay in `keep`, and the chosen row's is copied from there.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn grad_norms(
        &self,
        w: &Weights,
        cols: &[f32],
        m: usize,
        dy: &[f32],
        q: DualNorm,
        scratch: &mut [f32],
        keep: &mut [f32],
        out: &mut [f64],
    ) -> Norms {
        let (kd, t) = (self.kdim(), self.t());
        let cout_g = self.cout / self.group;
        let gram = self.norms_by_gram(m, q);
        if !gram && self.group != 1 {
            return Norms::Skipped;
        }
        let mut done = Norms::Folded;
        if w.is_selected(self.weight) {
            if gram {
                // Per group: positions are rows; cols_gᵀ is t × kd and δ_gᵀ is t × cout_g, both
                // column-major views of the row-major [kd, t] and [cout_g, t] blocks.
                for g in 0..self.group {
                    let (a, d) = (&cols[g * kd * t..], &dy[g * cout_g * t..]);
                    let l = Strides::col_major(t);
                    gram::add_sq_norms(t, kd, a, l, cout_g, d, l, self.cout * t, 1.0, scratch, &mut out[..m]);
                }
            } else {
                let gw = &mut keep[..m * self.cout * kd];
                let (la, lb, lc) = (Strides::row_major(t), Strides::row_major(t).t(), Strides::row_major(kd));
                gemm(Product {
                    m: m * self.cout,
                    k: t,
                    n: kd,
                    alpha: 1.0,
                    a: dy,
                    la,
                    b: cols,
                    lb,
                    beta: 0.0,
                    c: gw,
                    lc,
                });
                for (g, o) in gw.chunks_exact(self.cout * kd).zip(out.iter_mut()) {
                    q.add(o, g);
                }
                done = Norms::FoldedKept;
            }
        }
        if self.bias.is_some_and(|b| w.is_selected(b)) {
            let mut sums = vec![0f32; self.cout];
            for (row, o) in dy.chunks_exact(self.cout * t).zip(out.iter_mut()).take(m) {
                sums.iter_mut().zip(row.chunks_exact(t)).for_each(|(s, p)| *s = p.iter().sum());
                q.add(o, &sums);
            }
        }
        done
    }
}
