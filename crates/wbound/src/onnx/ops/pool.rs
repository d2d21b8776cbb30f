//! Pools: `MaxPool` and `AveragePool` over 1 to 3 spatial axes, `GlobalAveragePool` and
//! `GlobalMaxPool` over all of them.

use super::super::attr::NodeCtx;
use super::super::builder::Builder;
use super::conv::{channels_and_spatial, window};
use super::reduce::reduce_axes;
use super::Importer;
use crate::error::Result;
use crate::ops::{Op, Pool, PoolKind, ReduceKind};

pub(super) const OPS: &[(&str, Importer)] = &[
    ("MaxPool", |b, c| pool(b, c, PoolKind::Max)),
    ("AveragePool", |b, c| {
        let count_include_pad = c.int("count_include_pad", 0)? != 0;
        pool(b, c, PoolKind::Average { count_include_pad })
    }),
    ("GlobalAveragePool", global_average_pool),
    ("GlobalMaxPool", global_max_pool),
];

fn pool(b: &mut Builder, ctx: &NodeCtx, kind: PoolKind) -> Result<()> {
    if ctx.node.output.get(1).is_some_and(|o| !o.is_empty()) {
        return Err(ctx.err("the Indices output of MaxPool is not supported"));
    }
    let x = b.value(ctx, 0)?;
    let (c, spatial) = channels_and_spatial(b, ctx, x)?;
    let kernel = ctx.ints("kernel_shape")?.ok_or_else(|| ctx.err("missing attribute 'kernel_shape'"))?;
    if kernel.len() != spatial.len() || kernel.iter().any(|&k| k <= 0) {
        return Err(ctx.err(format!("kernel_shape {kernel:?} is not {} positive sizes", spatial.len())));
    }
    let kernel: Vec<usize> = kernel.iter().map(|&k| k as usize).collect();
    let win = window(ctx, &spatial, &kernel, ctx.int("ceil_mode", 0)? != 0)?;
    let op = Pool {
        kind,
        c,
        input: win.input,
        kernel: win.kernel,
        stride: win.stride,
        dilation: win.dilation,
        pads: win.pads,
        out: win.out,
    };
    let mut out = vec![1, c];
    out.extend_from_slice(&win.out[3 - spatial.len()..]);
    b.push(ctx, Op::Pool(op), vec![x], out).map(|_| ())
}

fn global_average_pool(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    let x = b.value(ctx, 0)?;
    let s = b.value_info(x).shape.clone();
    if s.len() < 3 {
        return Err(ctx.err(format!("input has shape {s:?}; expected [batch, channels, spatial...]")));
    }
    let spatial: usize = s[2..].iter().product();
    let mut out = vec![1, s[1]];
    out.extend(std::iter::repeat_n(1, s.len() - 2));
    b.push(ctx, Op::Pool(Pool::mean_over(s[1], spatial)), vec![x], out).map(|_| ())
}

fn global_max_pool(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    let x = b.value(ctx, 0)?;
    let s = b.value_info(x).shape.clone();
    if s.len() < 3 {
        return Err(ctx.err(format!("input has shape {s:?}; expected [batch, channels, spatial...]")));
    }
    reduce_axes(b, ctx, x, ReduceKind::Max, &(2..s.len()).collect::<Vec<_>>(), true)
}
