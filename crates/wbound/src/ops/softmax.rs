//! ONNX `Softmax` and `LogSoftmax` over one axis (opset 13+) or over the flattened trailing axes
//! (opset < 13), both expressed as `outer × len × inner` with the reduction over `len`.
//! Backward: softmax `dx = y ⊙ (dy − Σ_len dy ⊙ y)`; log-softmax `dx = dy − e^y ⊙ Σ_len dy`.

/// A softmax over the middle axis of an `outer × len × inner` view of the sample.
#[derive(Debug, Clone)]
pub struct Softmax {
    /// Product of the axes before the reduced one(s).
    pub outer: usize,
    /// Length of the reduced axis (or of the flattened trailing axes).
    pub len: usize,
    /// Product of the axes after the reduced one.
    pub inner: usize,
    /// `LogSoftmax`: the logarithm of the softmax.
    pub log: bool,
}

impl Softmax {
    pub(crate) fn forward(&self, x: &[f32], y: &mut [f32]) {
        let (l, inner) = (self.len, self.inner);
        for o in 0..self.outer {
            for i in 0..inner {
                let at = |j: usize| o * l * inner + j * inner + i;
                let max = (0..l).map(|j| x[at(j)]).fold(f32::NEG_INFINITY, f32::max);
                let mut sum = 0.0f32;
                for j in 0..l {
                    let e = (x[at(j)] - max).exp();
                    y[at(j)] = e;
                    sum += e;
                }
                if self.log {
                    let shift = max + sum.ln();
                    for j in 0..l {
                        y[at(j)] = x[at(j)] - shift;
                    }
                } else {
                    for j in 0..l {
                        y[at(j)] /= sum;
                    }
                }
            }
        }
    }

    pub(crate) fn backward(&self, y: &[f32], m: usize, dy: &[f32], dx: &mut [f32]) {
        let (l, inner) = (self.len, self.inner);
        let n = y.len();
        for (dyr, dxr) in dy.chunks_exact(n).zip(dx.chunks_exact_mut(n)).take(m) {
            for o in 0..self.outer {
                for i in 0..inner {
                    let at = |j: usize| o * l * inner + j * inner + i;
                    if self.log {
                        let s: f32 = (0..l).map(|j| dyr[at(j)]).sum();
                        for j in 0..l {
                            dxr[at(j)] += dyr[at(j)] - y[at(j)].exp() * s;
                        }
                    } else {
                        let s: f32 = (0..l).map(|j| dyr[at(j)] * y[at(j)]).sum();
                        for j in 0..l {
                            dxr[at(j)] += y[at(j)] * (dyr[at(j)] - s);
                        }
                    }
                }
            }
        }
    }
}
