//! ONNX `Transpose`: a permutation of axes, precomputed at import as a gather map
//! (`y[o] = x[map[o]]`); backward scatters through the same map.

/// A transpose with its gather map.
#[derive(Debug, Clone)]
pub struct Transpose {
    pub map: Vec<u32>,
}

impl Transpose {
    /// Builds the gather map of `perm` over a tensor of shape `shape`.
    pub fn new(shape: &[usize], perm: &[usize]) -> Transpose {
        let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
        let mut in_strides = vec![1usize; shape.len()];
        for d in (0..shape.len().saturating_sub(1)).rev() {
            in_strides[d] = in_strides[d + 1] * shape[d + 1];
        }
        let total: usize = shape.iter().product();
        let mut map = Vec::with_capacity(total);
        let mut idx = vec![0usize; out_shape.len()];
        for _ in 0..total {
            map.push(idx.iter().zip(perm).map(|(&i, &p)| i * in_strides[p]).sum::<usize>() as u32);
            for d in (0..idx.len()).rev() {
                idx[d] += 1;
                if idx[d] < out_shape[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        Transpose { map }
    }

    pub(crate) fn forward(&self, x: &[f32], y: &mut [f32]) {
        y.iter_mut().zip(&self.map).for_each(|(o, &i)| *o = x[i as usize]);
    }

    pub(crate) fn backward(&self, m: usize, dy: &[f32], dx: &mut [f32]) {
        let n = self.map.len();
        for (dyr, dxr) in dy.chunks_exact(n).zip(dx.chunks_exact_mut(n)).take(m) {
            for (&i, &d) in self.map.iter().zip(dyr) {
                dxr[i as usize] += d;
            }
        }
    }
}
