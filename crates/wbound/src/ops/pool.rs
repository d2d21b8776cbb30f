//! 2-D pooling: ONNX `MaxPool`, `AveragePool` and `GlobalAveragePool` (a window over the whole
//! plane), NCHW, with strides, padding, dilation (max) and `ceil_mode` resolved at import into the
//! output size.
//!
//! Max pooling keeps, per output, the input index that won (the route) for the backward pass;
//! average pooling divides by the window's element count (with or without the padding, per
//! `count_include_pad`).

/// Which reduction a pooling window applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolKind {
    Max,
    Average { count_include_pad: bool },
}

/// A pooling layer over one sample `[1, c, h, w] → [1, c, oh, ow]`.
#[derive(Debug, Clone)]
pub struct Pool {
    pub kind: PoolKind,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub dilation: [usize; 2],
    /// `[top, left, bottom, right]`.
    pub pads: [usize; 4],
    pub oh: usize,
    pub ow: usize,
}

impl Pool {
    pub(crate) fn route_len(&self) -> usize {
        match self.kind {
            PoolKind::Max => self.c * self.oh * self.ow,
            PoolKind::Average { .. } => 0,
        }
    }

    /// Calls `f(input index within the plane)` for each in-bounds element of the window of
    /// output `(oy, ox)`, and returns the divisor of an average over that window.
    fn window(&self, oy: usize, ox: usize, mut f: impl FnMut(usize)) -> usize {
        let mut inside = 0;
        let mut padded = 0;
        for i in 0..self.kernel[0] {
            let iy = (oy * self.stride[0] + i * self.dilation[0]) as isize - self.pads[0] as isize;
            for j in 0..self.kernel[1] {
                let ix = (ox * self.stride[1] + j * self.dilation[1]) as isize - self.pads[1] as isize;
                let in_pad_h = iy < (self.h + self.pads[2]) as isize;
                let in_pad_w = ix < (self.w + self.pads[3]) as isize;
                if in_pad_h && in_pad_w {
                    padded += 1;
                }
                if iy >= 0 && ix >= 0 && (iy as usize) < self.h && (ix as usize) < self.w {
                    inside += 1;
                    f(iy as usize * self.w + ix as usize);
                }
            }
        }
        match self.kind {
            PoolKind::Average { count_include_pad: true } => padded,
            _ => inside,
        }
    }

    /// Every window lies inside the input: no padding, no dilation, no window past the edge.
    fn windows_inside(&self) -> bool {
        self.pads == [0; 4]
            && self.dilation == [1, 1]
            && (self.oh - 1) * self.stride[0] + self.kernel[0] <= self.h
            && (self.ow - 1) * self.stride[1] + self.kernel[1] <= self.w
    }

    /// [`Pool::forward`] for windows inside the input, without the bounds logic; it visits the
    /// taps in the same order, so ties and sums come out the same.
    fn forward_inside(&self, x: &[f32], y: &mut [f32], route: &mut [u32]) {
        let (hw, ohw) = (self.h * self.w, self.oh * self.ow);
        let [kh, kw] = self.kernel;
        let area = (kh * kw) as f32;
        for c in 0..self.c {
            let plane = &x[c * hw..(c + 1) * hw];
            for oy in 0..self.oh {
                for ox in 0..self.ow {
                    let o = c * ohw + oy * self.ow + ox;
                    let base = oy * self.stride[0] * self.w + ox * self.stride[1];
                    match self.kind {
                        PoolKind::Max => {
                            let mut best = (plane[base], base);
                            for i in 0..kh {
                                let row = base + i * self.w;
                                for (j, &v) in plane[row..row + kw].iter().enumerate() {
                                    if v > best.0 {
                                        best = (v, row + j);
                                    }
                                }
                            }
                            y[o] = best.0;
                            route[o] = (c * hw + best.1) as u32;
                        }
                        PoolKind::Average { .. } => {
                            let mut sum = 0.0f32;
                            for i in 0..kh {
                                let row = base + i * self.w;
                                plane[row..row + kw].iter().for_each(|&v| sum += v);
                            }
                            y[o] = sum / area;
                        }
                    }
                }
            }
        }
    }

    pub(crate) fn forward(&self, x: &[f32], y: &mut [f32], route: &mut [u32]) {
        if self.windows_inside() {
            self.forward_inside(x, y, route)
        } else {
            self.forward_any(x, y, route)
        }
    }

    /// The forward pass for any geometry (padding, dilation, windows past the edge).
    fn forward_any(&self, x: &[f32], y: &mut [f32], route: &mut [u32]) {
        let (hw, ohw) = (self.h * self.w, self.oh * self.ow);
        for c in 0..self.c {
            let plane = &x[c * hw..(c + 1) * hw];
            for oy in 0..self.oh {
                for ox in 0..self.ow {
                    let o = c * ohw + oy * self.ow + ox;
                    match self.kind {
                        PoolKind::Max => {
                            let mut best = (f32::NEG_INFINITY, u32::MAX);
                            self.window(oy, ox, |i| {
                                if plane[i] > best.0 || best.1 == u32::MAX {
                                    best = (plane[i], (c * hw + i) as u32);
                                }
                            });
                            y[o] = if best.1 == u32::MAX { 0.0 } else { best.0 };
                            route[o] = best.1;
                        }
                        PoolKind::Average { .. } => {
                            let mut s = 0.0f32;
                            let n = self.window(oy, ox, |i| s += plane[i]);
                            y[o] = if n == 0 { 0.0 } else { s / n as f32 };
                        }
                    }
                }
            }
        }
    }

    pub(crate) fn backward(&self, route: &[u32], m: usize, dy: &[f32], dx: &mut [f32]) {
        let (hw, ohw) = (self.h * self.w, self.oh * self.ow);
        let (in_len, out_len) = (self.c * hw, self.c * ohw);
        for r in 0..m {
            let dyr = &dy[r * out_len..(r + 1) * out_len];
            let dxr = &mut dx[r * in_len..(r + 1) * in_len];
            match self.kind {
                PoolKind::Max => {
                    for (&i, &d) in route.iter().zip(dyr) {
                        if i != u32::MAX {
                            dxr[i as usize] += d;
                        }
                    }
                }
                PoolKind::Average { .. } => {
                    for c in 0..self.c {
                        let plane = &mut dxr[c * hw..(c + 1) * hw];
                        for oy in 0..self.oh {
                            for ox in 0..self.ow {
                                let d = dyr[c * ohw + oy * self.ow + ox];
                                let n = self.window(oy, ox, |_| {});
                                if n > 0 {
                                    let share = d / n as f32;
                                    self.window(oy, ox, |i| plane[i] += share);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inside_fast_path_equals_the_general_one() {
        for kind in [PoolKind::Max, PoolKind::Average { count_include_pad: false }] {
            for (k, st, h) in [(2, 2, 8), (3, 1, 7), (3, 2, 9)] {
                let o = (h - k) / st + 1;
                let p = Pool {
                    kind,
                    c: 3,
                    h,
                    w: h,
                    kernel: [k, k],
                    stride: [st, st],
                    dilation: [1, 1],
                    pads: [0; 4],
                    oh: o,
                    ow: o,
                };
                assert!(p.windows_inside());
                // Values with ties, so that the tie-breaking is compared too.
                let x: Vec<f32> = (0..3 * h * h).map(|i| ((i * 7) % 5) as f32).collect();
                let (mut y1, mut y2) = (vec![0.0; 3 * o * o], vec![0.0; 3 * o * o]);
                let (mut r1, mut r2) = (vec![0; 3 * o * o], vec![0; 3 * o * o]);
                p.forward_inside(&x, &mut y1, &mut r1);
                p.forward_any(&x, &mut y2, &mut r2);
                assert_eq!(y1, y2);
                if kind == PoolKind::Max {
                    assert_eq!(r1, r2);
                }
            }
        }
    }
}
