//! ONNX `ReduceSum`, `ReduceMean`, `ReduceMax`, `ReduceMin` (and `GlobalMaxPool`) over any set of
//! non-batch axes: every input value belongs to one output value (`out_of`), resolved at import.
//!
//! Sum and mean add the input values in index order (a mean then scales by `1/n`); max and min
//! keep, per output, the input index that won (the route; the first among ties). Backward:
//! `dx[i] += scale · dy[out_of[i]]`, or `dx[route[o]] += dy[o]`.

/// Which reduction a [`Reduce`] applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReduceKind {
    Sum,
    Mean,
    Max,
    Min,
}

/// A reduction of a sample's tensor onto `out_len` values.
#[derive(Debug, Clone)]
pub struct Reduce {
    pub kind: ReduceKind,
    /// Per input value, the output value it reduces into.
    pub out_of: Vec<u32>,
    pub out_len: usize,
}

impl Reduce {
    /// Values reduced into each output.
    fn count(&self) -> usize {
        self.out_of.len() / self.out_len.max(1)
    }

    pub(crate) fn route_len(&self) -> usize {
        match self.kind {
            ReduceKind::Max | ReduceKind::Min => self.out_len,
            ReduceKind::Sum | ReduceKind::Mean => 0,
        }
    }

    pub(crate) fn forward(&self, x: &[f32], y: &mut [f32], route: &mut [u32]) {
        match self.kind {
            ReduceKind::Sum | ReduceKind::Mean => {
                y.fill(0.0);
                for (&o, &v) in self.out_of.iter().zip(x) {
                    y[o as usize] += v;
                }
                if self.kind == ReduceKind::Mean {
                    let n = self.count() as f32;
                    y.iter_mut().for_each(|v| *v /= n);
                }
            }
            ReduceKind::Max | ReduceKind::Min => {
                route.fill(u32::MAX);
                let max = self.kind == ReduceKind::Max;
                for (i, (&o, &v)) in self.out_of.iter().zip(x).enumerate() {
                    let o = o as usize;
                    let better = route[o] == u32::MAX || if max { v > y[o] } else { v < y[o] };
                    if better {
                        y[o] = v;
                        route[o] = i as u32;
                    }
                }
            }
        }
    }

    pub(crate) fn backward(&self, route: &[u32], m: usize, dy: &[f32], dx: &mut [f32]) {
        let (n_in, n_out) = (self.out_of.len(), self.out_len);
        let scale = if self.kind == ReduceKind::Mean { 1.0 / self.count() as f32 } else { 1.0 };
        for (dyr, dxr) in dy.chunks_exact(n_out).zip(dx.chunks_exact_mut(n_in)).take(m) {
            match self.kind {
                ReduceKind::Sum | ReduceKind::Mean => {
                    for (d, &o) in dxr.iter_mut().zip(&self.out_of) {
                        *d += scale * dyr[o as usize];
                    }
                }
                ReduceKind::Max | ReduceKind::Min => {
                    for (&i, &d) in route.iter().zip(dyr) {
                        if let Some(v) = dxr.get_mut(i as usize) {
                            *v += d;
                        }
                    }
                }
            }
        }
    }
}
