//! Shape arithmetic shared by the importers: numpy broadcasting, the gather map of a broadcast
//! operand, axis normalisation, and element-wise folding of two constants.

use super::attr::NodeCtx;
use super::builder::{element_count, MAX_ELEMENTS};
use super::tensor::{ConstData, ConstTensor};
use crate::error::Result;

/// `axis` (negative counts from the end) as an index into `rank` axes.
pub fn normalize_axis(ctx: &NodeCtx, axis: i64, rank: usize) -> Result<usize> {
    let a = if axis < 0 { axis + rank as i64 } else { axis };
    if a < 0 || a >= rank as i64 {
        return Err(ctx.err(format!("axis {axis} is out of range for rank {rank}")));
    }
    Ok(a as usize)
}

/// Every axis of `axes` normalised, sorted, without repeats.
pub fn normalize_axes(ctx: &NodeCtx, axes: &[i64], rank: usize) -> Result<Vec<usize>> {
    let mut out = axes.iter().map(|&a| normalize_axis(ctx, a, rank)).collect::<Result<Vec<_>>>()?;
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// The numpy broadcast of shapes `a` and `b`, within the values a sample may hold.
pub fn broadcast_shape(ctx: &NodeCtx, a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let out = broadcast(a, b).ok_or_else(|| ctx.err(format!("cannot broadcast shapes {a:?} and {b:?}")))?;
    if element_count(&out).is_none() {
        return Err(ctx.err(format!("broadcasting {a:?} and {b:?} gives more than {MAX_ELEMENTS} values")));
    }
    Ok(out)
}

/// Numpy broadcasting of two shapes.
pub fn broadcast(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    let at = |s: &[usize], i: usize| if i + s.len() >= rank { s[i + s.len() - rank] } else { 1 };
    (0..rank)
        .map(|i| match (at(a, i), at(b, i)) {
            (x, y) if x == y => Some(x),
            (1, y) => Some(y),
            (x, 1) => Some(x),
            _ => None,
        })
        .collect()
}

/// Gather map from a broadcast output of shape `out` back to an operand of shape `src`
/// (`None` when the shapes are equal).
pub fn gather_map(src: &[usize], out: &[usize]) -> Option<Vec<u32>> {
    if src == out {
        return None;
    }
    let rank = out.len();
    let padded: Vec<usize> = std::iter::repeat_n(1, rank - src.len()).chain(src.iter().copied()).collect();
    let mut strides = vec![0usize; rank];
    let mut s = 1;
    for d in (0..rank).rev() {
        strides[d] = if padded[d] == 1 { 0 } else { s };
        s *= padded[d];
    }
    let total: usize = out.iter().product();
    let mut map = Vec::with_capacity(total);
    let mut idx = vec![0usize; rank];
    for _ in 0..total {
        map.push(idx.iter().zip(&strides).map(|(i, s)| i * s).sum::<usize>() as u32);
        for d in (0..rank).rev() {
            idx[d] += 1;
            if idx[d] < out[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    Some(map)
}

/// Element-wise arithmetic on two constants (constant folding).
pub fn fold_binary(a: &ConstTensor, b: &ConstTensor, f: impl Fn(f64, f64) -> f64) -> Option<ConstTensor> {
    let shape = broadcast(&a.shape, &b.shape)?;
    let (ma, mb) = (gather_map(&a.shape, &shape), gather_map(&b.shape, &shape));
    let n: usize = shape.iter().product();
    let idx = |m: &Option<Vec<u32>>, i: usize| m.as_ref().map_or(i, |m| m[i] as usize);
    let data = match (&a.data, &b.data) {
        (ConstData::I64(x), ConstData::I64(y)) => {
            ConstData::I64((0..n).map(|i| f(x[idx(&ma, i)] as f64, y[idx(&mb, i)] as f64) as i64).collect())
        }
        _ => {
            let (x, y) = (a.to_f32(), b.to_f32());
            ConstData::F32((0..n).map(|i| f(f64::from(x[idx(&ma, i)]), f64::from(y[idx(&mb, i)])) as f32).collect())
        }
    };
    Some(ConstTensor { shape, data })
}
