//! Data movement as a gather map precomputed at import: ONNX `Transpose`, `Pad` (constant mode)
//! and `Concat` of two computed values. `y[o]` is one value of one of (at most two) inputs, or the
//! fill value; backward scatters each input's share of the cotangents through the same map.

/// A map entry that holds the fill value.
pub const FILL: u32 = u32::MAX;
/// Set in the entries that read the second input. Indices stay below 2²⁸ (the importer's limit
/// on values per sample), so the bit is free.
const SECOND: u32 = 1 << 30;

/// A gather map from up to two inputs (and a fill value) to the output.
#[derive(Debug, Clone)]
pub struct Remap {
    /// Per output value: [`FILL`], an index into the first input, or [`SECOND`] plus an index
    /// into the second.
    pub map: Vec<u32>,
    pub fill: f32,
}

/// Row-major strides of `shape`.
fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1usize; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        s[d] = s[d + 1] * shape[d + 1];
    }
    s
}

/// Calls `f(index)` for every multi-index of `shape`, in row-major order.
fn each_index(shape: &[usize], mut f: impl FnMut(&[usize])) {
    let total: usize = shape.iter().product();
    let mut idx = vec![0usize; shape.len()];
    for _ in 0..total {
        f(&idx);
        for d in (0..idx.len()).rev() {
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
}

impl Remap {
    /// `Transpose` of a tensor of shape `shape` by `perm`.
    pub fn transpose(shape: &[usize], perm: &[usize]) -> Remap {
        let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
        let st = strides(shape);
        let mut map = Vec::with_capacity(shape.iter().product());
        each_index(&out_shape, |idx| map.push(idx.iter().zip(perm).map(|(&i, &p)| i * st[p]).sum::<usize>() as u32));
        Remap { map, fill: 0.0 }
    }

    /// `Pad` (constant mode) of a tensor of shape `shape` by `begin[d]` values before and `end[d]`
    /// after axis `d`, with `fill`.
    pub fn pad(shape: &[usize], begin: &[usize], end: &[usize], fill: f32) -> Remap {
        let out_shape: Vec<usize> = (0..shape.len()).map(|d| begin[d] + shape[d] + end[d]).collect();
        let st = strides(shape);
        let mut map = Vec::with_capacity(out_shape.iter().product());
        each_index(&out_shape, |idx| {
            let inside = (0..idx.len()).all(|d| idx[d] >= begin[d] && idx[d] < begin[d] + shape[d]);
            map.push(if inside {
                (0..idx.len()).map(|d| (idx[d] - begin[d]) * st[d]).sum::<usize>() as u32
            } else {
                FILL
            });
        });
        Remap { map, fill }
    }

    /// `Concat` of tensors of shapes `a` and `b` (equal but on `axis`) along `axis`.
    pub fn concat(a: &[usize], b: &[usize], axis: usize) -> Remap {
        let mut out_shape = a.to_vec();
        out_shape[axis] += b[axis];
        let (sa, sb) = (strides(a), strides(b));
        let mut map = Vec::with_capacity(out_shape.iter().product());
        each_index(&out_shape, |idx| {
            let at = |st: &[usize], shift: usize| {
                idx.iter().enumerate().map(|(d, &i)| if d == axis { i - shift } else { i } * st[d]).sum::<usize>()
            };
            map.push(if idx[axis] < a[axis] { at(&sa, 0) as u32 } else { SECOND | at(&sb, a[axis]) as u32 });
        });
        Remap { map, fill: 0.0 }
    }

    /// What a map entry reads: `Some((input, index))`, or `None` for the fill value.
    pub fn source(entry: u32) -> Option<(usize, usize)> {
        match entry {
            FILL => None,
            e if e & SECOND != 0 => Some((1, (e & !SECOND) as usize)),
            e => Some((0, e as usize)),
        }
    }

    pub(crate) fn forward(&self, inputs: &[&[f32]], y: &mut [f32]) {
        for (o, &e) in y.iter_mut().zip(&self.map) {
            *o = match Remap::source(e) {
                None => self.fill,
                Some((s, i)) => inputs[s][i],
            };
        }
    }

    /// Adds input `input`'s share of the `m` cotangent rows `dy` to its rows `dx`.
    pub(crate) fn backward(&self, input: usize, m: usize, dy: &[f32], dx: &mut [f32]) {
        let (n, len) = (self.map.len(), dx.len() / m.max(1));
        for (r, dyr) in dy.chunks_exact(n).enumerate().take(m) {
            let dxr = &mut dx[r * len..(r + 1) * len];
            for (&e, &d) in self.map.iter().zip(dyr) {
                if let Some((s, i)) = Remap::source(e) {
                    if s == input {
                        dxr[i] += d;
                    }
                }
            }
        }
    }
}
