//! `ReduceSum`, `ReduceMean`, `ReduceMax`, `ReduceMin` over any axes but the batch axis.

use super::super::attr::NodeCtx;
use super::super::builder::Builder;
use super::super::shapes::normalize_axes;
use super::Importer;
use crate::error::Result;
use crate::ops::remap::{each_index, strides};
use crate::ops::{Op, Reduce, ReduceKind};
use crate::tensor::ValueId;

pub(super) const OPS: &[(&str, Importer)] = &[
    ("ReduceSum", |b, c| reduce(b, c, ReduceKind::Sum, 13)),
    ("ReduceMean", |b, c| reduce(b, c, ReduceKind::Mean, 18)),
    ("ReduceMax", |b, c| reduce(b, c, ReduceKind::Max, 18)),
    ("ReduceMin", |b, c| reduce(b, c, ReduceKind::Min, 18)),
];

/// A reduction whose axes come from an attribute before opset `axes_input_from`, from input 1 after.
fn reduce(b: &mut Builder, ctx: &NodeCtx, kind: ReduceKind, axes_input_from: i64) -> Result<()> {
    let x = b.value(ctx, 0)?;
    let rank = b.value_info(x).shape.len();
    let keep = ctx.int("keepdims", 1)? != 0;
    let axes = match b.attr_or_input(ctx, "axes", axes_input_from, 1)? {
        Some(a) if !a.is_empty() => normalize_axes(ctx, &a, rank)?,
        _ if ctx.int("noop_with_empty_axes", 0)? != 0 => {
            let s = b.value_info(x).shape.clone();
            let batch = b.batch(x);
            return b.alias(ctx, x, s, batch).map(|_| ());
        }
        _ => (0..rank).collect(),
    };
    reduce_axes(b, ctx, x, kind, &axes, keep)
}

/// Pushes the reduction of value `x` over `axes` (sorted), keeping them as size-1 axes or not.
pub(super) fn reduce_axes(
    b: &mut Builder,
    ctx: &NodeCtx,
    x: ValueId,
    kind: ReduceKind,
    axes: &[usize],
    keep: bool,
) -> Result<()> {
    b.refuse_batch_axis(ctx, x, axes, "reducing over")?;
    let s = b.value_info(x).shape.clone();
    let kept: Vec<usize> = s.iter().enumerate().map(|(d, &n)| if axes.contains(&d) { 1 } else { n }).collect();
    let st = strides(&kept);
    let mut out_of = Vec::with_capacity(s.iter().product());
    each_index(&s, |idx| {
        let o: usize = idx.iter().enumerate().map(|(d, &i)| if axes.contains(&d) { 0 } else { i * st[d] }).sum();
        out_of.push(o as u32);
    });
    let out_shape: Vec<usize> = if keep {
        kept.clone()
    } else {
        s.iter().enumerate().filter(|(d, _)| !axes.contains(d)).map(|(_, &n)| n).collect()
    };
    let out_len = kept.iter().product();
    let batch = b.batch(x).map(|ax| if keep { ax } else { ax - axes.iter().filter(|&&a| a < ax).count() });
    let v = b.push(ctx, Op::Reduce(Reduce { kind, out_of, out_len }), vec![x], out_shape)?;
    b.set_batch(v, batch);
    Ok(())
}
