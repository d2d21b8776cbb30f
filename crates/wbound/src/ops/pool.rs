//! Pooling: ONNX `MaxPool`, `AveragePool` and `GlobalAveragePool` (a window over the whole map),
//! channels first, 1 to 3 spatial axes held as 3-D (depth, height, width; a 2-D pool has depth 1),
//! with strides, padding, dilation (max) and `ceil_mode` resolved at import into the output size.
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

/// A pooling layer over one sample `[1, c, d, h, w] → [1, c, od, oh, ow]`.
#[derive(Debug, Clone)]
pub struct Pool {
    pub kind: PoolKind,
    pub c: usize,
    /// The input's spatial sizes `[d, h, w]`.
    pub input: [usize; 3],
    pub kernel: [usize; 3],
    pub stride: [usize; 3],
    pub dilation: [usize; 3],
    /// `[front, top, left, back, bottom, right]`.
    pub pads: [usize; 6],
    /// The output's spatial sizes `[od, oh, ow]`.
    pub out: [usize; 3],
}

impl Pool {
    /// The mean of each of `c` runs of `len` values: one window per run (`GlobalAveragePool`, the
    /// mean of a decomposed LayerNormalization).
    pub fn mean_over(c: usize, len: usize) -> Pool {
        Pool {
            kind: PoolKind::Average { count_include_pad: false },
            c,
            input: [1, len, 1],
            kernel: [1, len, 1],
            stride: [1; 3],
            dilation: [1; 3],
            pads: [0; 6],
            out: [1; 3],
        }
    }

    fn plane(&self) -> usize {
        self.input.iter().product()
    }

    fn out_plane(&self) -> usize {
        self.out.iter().product()
    }

    pub(crate) fn route_len(&self) -> usize {
        match self.kind {
            PoolKind::Max => self.c * self.out_plane(),
            PoolKind::Average { .. } => 0,
        }
    }

    /// Calls `f(input index within the plane)` for each in-bounds element of the window of output
    /// position `o = [oz, oy, ox]`, and returns the divisor of an average over that window.
    fn window(&self, o: [usize; 3], mut f: impl FnMut(usize)) -> usize {
        let (mut inside, mut padded) = (0, 0);
        let [d, h, w] = self.input;
        let tap =
            |ax: usize, k: usize| (o[ax] * self.stride[ax] + k * self.dilation[ax]) as isize - self.pads[ax] as isize;
        for a in 0..self.kernel[0] {
            let iz = tap(0, a);
            for i in 0..self.kernel[1] {
                let iy = tap(1, i);
                for j in 0..self.kernel[2] {
                    let ix = tap(2, j);
                    let in_pad = iz < (d + self.pads[3]) as isize
                        && iy < (h + self.pads[4]) as isize
                        && ix < (w + self.pads[5]) as isize;
                    if in_pad {
                        padded += 1;
                    }
                    let ok =
                        iz >= 0 && iy >= 0 && ix >= 0 && (iz as usize) < d && (iy as usize) < h && (ix as usize) < w;
                    if ok {
                        inside += 1;
                        f((iz as usize * h + iy as usize) * w + ix as usize);
                    }
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
        self.pads == [0; 6]
            && self.dilation == [1; 3]
            && (0..3).all(|ax| (self.out[ax] - 1) * self.stride[ax] + self.kernel[ax] <= self.input[ax])
    }

    /// Every output position, in order.
    fn positions(&self) -> impl Iterator<Item = [usize; 3]> {
        let [od, oh, ow] = self.out;
        (0..od).flat_map(move |z| (0..oh).flat_map(move |y| (0..ow).map(move |x| [z, y, x])))
    }

    /// The input index of the first tap of output position `o`'s window inside the input.
    fn window_start(&self, o: [usize; 3]) -> usize {
        let [_, ih, iw] = self.input;
        (o[0] * self.stride[0] * ih + o[1] * self.stride[1]) * iw + o[2] * self.stride[2]
    }

    /// The first input index of each row (`kernel[2]` values long) of output position `o`'s
    /// window, in the taps' order, for windows inside the input.
    fn inside_rows(&self, o: [usize; 3]) -> impl Iterator<Item = usize> {
        let [kd, kh, _] = self.kernel;
        let [_, ih, iw] = self.input;
        let base = self.window_start(o);
        (0..kd).flat_map(move |a| (0..kh).map(move |i| base + (a * ih + i) * iw))
    }

    /// [`Pool::forward`] for windows inside the input, without the bounds logic; it visits the
    /// taps in the same order, so ties and sums come out the same.
    fn forward_inside(&self, x: &[f32], y: &mut [f32], route: &mut [u32]) {
        let (hw, ohw) = (self.plane(), self.out_plane());
        let kw = self.kernel[2];
        let area = self.kernel.iter().product::<usize>() as f32;
        for c in 0..self.c {
            let plane = &x[c * hw..(c + 1) * hw];
            for (p, o) in self.positions().enumerate() {
                let out = c * ohw + p;
                match self.kind {
                    PoolKind::Max => {
                        let start = self.window_start(o);
                        let mut best = (plane[start], start);
                        for row in self.inside_rows(o) {
                            for (j, &v) in plane[row..row + kw].iter().enumerate() {
                                if v > best.0 {
                                    best = (v, row + j);
                                }
                            }
                        }
                        y[out] = best.0;
                        route[out] = (c * hw + best.1) as u32;
                    }
                    PoolKind::Average { .. } => {
                        let mut sum = 0.0f32;
                        for row in self.inside_rows(o) {
                            plane[row..row + kw].iter().for_each(|&v| sum += v);
                        }
                        y[out] = sum / area;
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
        let (hw, ohw) = (self.plane(), self.out_plane());
        for c in 0..self.c {
            let plane = &x[c * hw..(c + 1) * hw];
            for (p, o) in self.positions().enumerate() {
                let out = c * ohw + p;
                match self.kind {
                    PoolKind::Max => {
                        let mut best = (f32::NEG_INFINITY, u32::MAX);
                        self.window(o, |i| {
                            if plane[i] > best.0 || best.1 == u32::MAX {
                                best = (plane[i], (c * hw + i) as u32);
                            }
                        });
                        y[out] = if best.1 == u32::MAX { 0.0 } else { best.0 };
                        route[out] = best.1;
                    }
                    PoolKind::Average { .. } => {
                        let mut s = 0.0f32;
                        let n = self.window(o, |i| s += plane[i]);
                        y[out] = if n == 0 { 0.0 } else { s / n as f32 };
                    }
                }
            }
        }
    }

    /// The average pool's backward of one row for any geometry.
    fn window_backward(&self, dy: &[f32], dx: &mut [f32]) {
        let (hw, ohw) = (self.plane(), self.out_plane());
        for c in 0..self.c {
            let plane = &mut dx[c * hw..(c + 1) * hw];
            for (p, o) in self.positions().enumerate() {
                let n = self.window(o, |_| {});
                if n > 0 {
                    let share = dy[c * ohw + p] / n as f32;
                    self.window(o, |i| plane[i] += share);
                }
            }
        }
    }

    /// The average pool's backward for windows inside the input (every window holds all its
    /// taps): each output's share added along the window's rows, outputs in the order of the
    /// general loop, so every input value receives the same additions in the same order.
    fn average_backward_inside(&self, dy: &[f32], dx: &mut [f32]) {
        let (hw, ohw) = (self.plane(), self.out_plane());
        let kw = self.kernel[2];
        let area = self.kernel.iter().product::<usize>() as f32;
        for c in 0..self.c {
            let plane = &mut dx[c * hw..(c + 1) * hw];
            for (p, o) in self.positions().enumerate() {
                let share = dy[c * ohw + p] / area;
                for row in self.inside_rows(o) {
                    plane[row..row + kw].iter_mut().for_each(|v| *v += share);
                }
            }
        }
    }

    pub(crate) fn backward(&self, route: &[u32], m: usize, dy: &[f32], dx: &mut [f32]) {
        let (hw, ohw) = (self.plane(), self.out_plane());
        let (in_len, out_len) = (self.c * hw, self.c * ohw);
        let inside = self.windows_inside();
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
                PoolKind::Average { .. } if inside => self.average_backward_inside(dyr, dxr),
                PoolKind::Average { .. } => self.window_backward(dyr, dxr),
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
            for (k, st, h, depth) in [(2, 2, 8, 1), (3, 1, 7, 1), (3, 2, 9, 1), (2, 2, 6, 4)] {
                let o = (h - k) / st + 1;
                let (kd, od) = if depth == 1 { (1, 1) } else { (k, (depth - k) / st + 1) };
                let p = Pool {
                    kind,
                    c: 3,
                    input: [depth, h, h],
                    kernel: [kd, k, k],
                    stride: [if depth == 1 { 1 } else { st }, st, st],
                    dilation: [1; 3],
                    pads: [0; 6],
                    out: [od, o, o],
                };
                assert!(p.windows_inside());
                // Values with ties, so that the tie-breaking is compared too.
                let x: Vec<f32> = (0..3 * depth * h * h).map(|i| ((i * 7) % 5) as f32).collect();
                let n = 3 * od * o * o;
                let (mut y1, mut y2) = (vec![0.0; n], vec![0.0; n]);
                let (mut r1, mut r2) = (vec![0; n], vec![0; n]);
                p.forward_inside(&x, &mut y1, &mut r1);
                p.forward_any(&x, &mut y2, &mut r2);
                assert_eq!(y1, y2);
                if let PoolKind::Average { .. } = kind {
                    // Overlapping windows, cotangents that do not divide evenly.
                    let dy: Vec<f32> = (0..n).map(|i| 0.1 + (i as f32 * 0.37).sin()).collect();
                    let (mut d1, mut d2) = (vec![0.25; x.len()], vec![0.25; x.len()]);
                    p.average_backward_inside(&dy, &mut d1);
                    p.window_backward(&dy, &mut d2);
                    assert_eq!(
                        d1.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                        d2.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
                    );
                }
                if kind == PoolKind::Max {
                    assert_eq!(r1, r2);
                }
            }
        }
    }
}
