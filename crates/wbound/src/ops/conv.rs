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

    /// `dcols = W_gᵀ · δ_g`, then col2im onto each row's `dx` (the runs walked once for all rows);
    /// one output channel per group takes [`Conv::backward_one_output`].
    /// Small layers and those with few output positions take all `m` rows in one product (the
    /// rows' cotangents gathered side by side as `[cout_g, m·T]`: one call, and one packing of the
    /// weight, instead of `m`); large ones go row by row, so that a row's columns stay in cache
    /// for the col2im (one product was measured 40% slower on a 32×32 CNN). Either way each value
    /// has the same bits: the kernel sums over `cout_g` in the same order whatever the columns.
    pub(crate) fn backward(&self, w: &Weights, m: usize, dy: &[f32], dx: &mut [f32], scratch: &mut [f32]) {
        let weight = w.get(self.weight);
        if self.cout == self.group {
            self.backward_one_output(weight, m, dy, dx, scratch);
        } else {
            self.backward_products(weight, m, dy, dx, scratch);
        }
    }

    /// [`Conv::backward`] through the products and col2im.
    fn backward_products(&self, weight: &[f32], m: usize, dy: &[f32], dx: &mut [f32], scratch: &mut [f32]) {
        let (kd, t) = (self.kdim(), self.t());
        let cout_g = self.cout / self.group;
        let in_len = self.cin * self.plane();
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

    /// [`Conv::backward`] of a layer with one output channel per group (depthwise: ConvNeXt's
    /// 7×7, MobileNet's 3×3): `dcols = W_gᵀ · δ_g` is then an outer product, so each unfolded
    /// value `w[g, row] · δ[g, t]` goes straight onto the input instead of through a `[K, T]`
    /// buffer. The bits are those of the product and col2im: the product writes `0 + w·δ` (and
    /// `+0` for a zero weight, whatever `δ`), and each input value receives its taps in the
    /// same order, row after row of the unfolding.
    fn backward_one_output(&self, weight: &[f32], m: usize, dy: &[f32], dx: &mut [f32], scratch: &mut [f32]) {
        if self.targets.is_empty() && self.stride == [1, 1, 1] && self.out == self.input {
            return self.backward_same_size(weight, m, dy, dx, scratch);
        }
        let (kd, t) = (self.kdim(), self.t());
        let in_len = self.cin * self.plane();
        for g in 0..self.group {
            let wg = &weight[g * kd..(g + 1) * kd];
            let dy_of = |r: usize| r * self.cout * t + g * t;
            if !self.targets.is_empty() {
                let targets = &self.targets[g * kd * t..(g + 1) * kd * t];
                for (row, &wv) in targets.chunks_exact(t).zip(wg) {
                    let s = 1.0 * wv;
                    for r in 0..m {
                        let dyr = &dy[dy_of(r)..dy_of(r) + t];
                        let dxr = &mut dx[r * in_len..(r + 1) * in_len];
                        for (&i, &d) in row.iter().zip(dyr) {
                            if let Some(v) = dxr.get_mut(i as usize) {
                                *v += outer_term(s, d);
                            }
                        }
                    }
                }
                continue;
            }
            let sw = self.stride[2];
            self.for_each_run(g, |col, inp, len| {
                let (s, pos) = (1.0 * wg[col / t], col % t);
                for r in 0..m {
                    let src = &dy[dy_of(r) + pos..dy_of(r) + pos + len];
                    let dxr = &mut dx[r * in_len..(r + 1) * in_len];
                    if sw == 1 {
                        dxr[inp..inp + len].iter_mut().zip(src).for_each(|(v, &d)| *v += outer_term(s, d));
                    } else {
                        src.iter().enumerate().for_each(|(i, &d)| dxr[inp + i * sw] += outer_term(s, d));
                    }
                }
            });
        }
    }

    /// [`Conv::backward_one_output`] of a large layer whose output has its input's size (stride
    /// 1, "same" padding: ConvNeXt's 7×7, MobileNet's stride-1 3×3). One tap then moves every
    /// position of a depth slice by the same offset, so its cotangents go onto the input as one
    /// long run per slice instead of one short run per output row (at 16 wide, a row's run
    /// spent half its time in the scalar remainder); the columns whose tap falls in the
    /// padding wrap onto the neighbouring row and are masked out by a select, which leaves those
    /// values as they were. Each input value gets the same additions in the same order as on
    /// the runs. `masks` holds one column mask per kernel column (`kw` × a slice).
    fn backward_same_size(&self, weight: &[f32], m: usize, dy: &[f32], dx: &mut [f32], masks: &mut [f32]) {
        let [kz, ky, kx] = self.kernel;
        let [id, ih, iw] = self.input;
        let (slice, t, kdim) = (ih * iw, self.t(), self.kdim());
        let (in_len, cin_g) = (self.cin * t, self.cin / self.group);
        // The positions `o < n` whose tap `o + off` is inside `0..n`.
        let inside = |n: usize, off: isize| -> (usize, usize) {
            let hi = (n as isize - off).clamp(0, n as isize) as usize;
            (((-off).max(0) as usize).min(hi), hi)
        };
        let offset = |axis: usize, k: usize| (k * self.dilation[axis]) as isize - self.pads[axis] as isize;
        let masks = &mut masks[..kx * slice];
        for (j, mask) in masks.chunks_exact_mut(slice).enumerate() {
            let (x0, x1) = inside(iw, offset(2, j));
            for row in mask.chunks_exact_mut(iw) {
                row.fill(0.0);
                row[x0..x1].fill(1.0);
            }
        }
        for g in 0..self.group {
            for c in 0..cin_g {
                let plane = (g * cin_g + c) * t;
                for a in 0..kz {
                    let (z0, z1) = inside(id, offset(0, a));
                    for i in 0..ky {
                        let (y0, y1) = inside(ih, offset(1, i));
                        for j in 0..kx {
                            let (x0, x1) = inside(iw, offset(2, j));
                            if z0 >= z1 || y0 >= y1 || x0 >= x1 {
                                continue;
                            }
                            let s = 1.0 * weight[g * kdim + ((c * kz + a) * ky + i) * kx + j];
                            // From the first inside position of a slice to the last.
                            let (k0, k1) = (y0 * iw + x0, (y1 - 1) * iw + x1);
                            let shift = offset(1, i) * iw as isize + offset(2, j);
                            let mask = &masks[j * slice + k0..j * slice + k1];
                            for oz in z0..z1 {
                                let iz = (oz as isize + offset(0, a)) as usize;
                                for r in 0..m {
                                    let from = r * self.cout * t + g * t + oz * slice;
                                    let to = (r * in_len + plane + iz * slice + k0) as isize + shift;
                                    let dxs = &mut dx[to as usize..to as usize + (k1 - k0)];
                                    for ((v, &d), &keep) in dxs.iter_mut().zip(&dy[from + k0..from + k1]).zip(mask) {
                                        let sum = *v + outer_term(s, d);
                                        *v = if keep != 0.0 { sum } else { *v };
                                    }
                                }
                            }
                        }
                    }
                }
            }
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

/// One value `w · δ` of the outer product `dcols = W_gᵀ · δ_g` as the product writes it: `0 + w·δ`,
/// and `+0` for a zero weight whatever `δ` (the kernel skips it).
fn outer_term(s: f32, d: f32) -> f32 {
    if s != 0.0 {
        0.0 + s * d
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::{Reason, Role, Tensor};
    use proptest::prelude::*;

    /// The shape of a convolution with `group` groups of one output channel each, on a
    /// `cin × [d, h, w]` input with a `[kz, k, k]` kernel.
    struct Geometry {
        cin: usize,
        group: usize,
        input: [usize; 3],
        kernel: [usize; 3],
        stride: usize,
        pads: [usize; 3],
        dil: usize,
    }

    fn depthwise(g: &Geometry, small: bool) -> Conv {
        let out = [0, 1, 2].map(|a| (g.input[a] + 2 * g.pads[a] - g.dil * (g.kernel[a] - 1) - 1) / g.stride + 1);
        let [pz, py, px] = g.pads;
        let conv = Conv {
            weight: 0,
            bias: None,
            cin: g.cin,
            input: g.input,
            cout: g.group,
            group: g.group,
            kernel: g.kernel,
            stride: [g.stride; 3],
            dilation: [g.dil; 3],
            pads: [pz, py, px, pz, py, px],
            out,
            targets: Vec::new(),
        };
        if small {
            conv.with_targets()
        } else {
            conv
        }
    }

    /// Runs the backward of `m` rows both ways, from the same start, with values that include
    /// zeros of both signs (zero weights too); both results' bits.
    fn both_ways(conv: &Conv, m: usize, seed: u32) -> (Vec<u32>, Vec<u32>) {
        let value = |i: usize| -> f32 {
            match (i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) % 11 {
                0 => 0.0,
                1 => -0.0,
                v => v as f32 * 0.37 - 2.0,
            }
        };
        let kd = conv.kdim();
        let tensors = [Tensor {
            name: "w".into(),
            shape: vec![conv.group, conv.cin / conv.group, kd],
            data: (0..conv.group * kd).map(|i| value(i + 7)).collect(),
            role: Role::Trainable { layer: 0 },
            reason: Reason::LayerWeight,
        }];
        let weights = Weights::new(&tensors, &[None], &[]);
        let (in_len, out_len) = (conv.cin * conv.plane(), conv.cout * conv.t());
        let dy: Vec<f32> = (0..m * out_len).map(|i| value(i + 1000)).collect();
        let start: Vec<f32> = (0..m * in_len).map(|i| value(i + 5000)).collect();
        let mut scratch = vec![f32::NAN; conv.scratch_len(m)];
        let (mut direct, mut products) = (start.clone(), start);
        conv.backward(&weights, m, &dy, &mut direct, &mut scratch);
        conv.backward_products(&tensors[0].data, m, &dy, &mut products, &mut scratch);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        (bits(&direct), bits(&products))
    }

    proptest! {
        /// The one-output-per-group backward gives the bits of the products and col2im, on
        /// either walk (target table or runs), strided, padded and dilated.
        #[test]
        fn one_output_per_group_equals_the_products(
            group in 1usize..4, cin_g in 1usize..3, h in 3usize..9, w in 3usize..9, k in 1usize..4,
            stride in 1usize..3, pad in 0usize..2, dil in 1usize..3, m in 1usize..4, small: bool, seed: u32,
        ) {
            prop_assume!(h + 2 * pad > dil * (k - 1) && w + 2 * pad > dil * (k - 1));
            let g = Geometry { cin: group * cin_g, group, input: [1, h, w], kernel: [1, k, k], stride, pads: [0, pad, pad], dil };
            let conv = depthwise(&g, small);
            prop_assume!(!small || !conv.targets.is_empty());
            let (direct, products) = both_ways(&conv, m, seed);
            prop_assert_eq!(direct, products);
        }

        /// The same for large layers whose output has the input's size (ConvNeXt's 7×7 with
        /// padding 3), where each tap goes on as one masked run per depth slice: 2-D and 3-D,
        /// odd kernels up to 7, dilated, maps smaller than the kernel.
        #[test]
        fn same_size_runs_equal_the_products(
            group in 1usize..3, cin_g in 1usize..3, d in 1usize..4, h in 1usize..12, w in 1usize..12,
            half in 0usize..4, deep: bool, dil in 1usize..3, m in 1usize..4, seed: u32,
        ) {
            let k = 2 * half + 1;
            let (kz, pz) = if deep { (3, dil) } else { (1, 0) };
            let g = Geometry {
                cin: group * cin_g, group, input: [d, h, w], kernel: [kz, k, k], stride: 1,
                pads: [pz, half * dil, half * dil], dil,
            };
            let conv = depthwise(&g, false);
            prop_assert_eq!(conv.out, conv.input);
            let (direct, products) = both_ways(&conv, m, seed);
            prop_assert_eq!(direct, products);
        }
    }
}
