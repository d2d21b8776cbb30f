//! Matrix products: `MatMul` (a dense layer when the right operand is a constant weight, else a
//! batched product of two computed values, as in attention) and `Gemm`.

use super::super::attr::NodeCtx;
use super::super::builder::{Builder, Sym};
use super::super::shapes::{broadcast_shape, gather_map};
use super::Importer;
use crate::error::Result;
use crate::ops::{Bias, Linear, MatMul, Op, WeightLayout};

pub(super) const OPS: &[(&str, Importer)] = &[("MatMul", matmul), ("Gemm", gemm)];

fn matmul(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    let (sa, sw) = (b.required(ctx, 0)?, b.required(ctx, 1)?);
    match (sa, sw) {
        (Sym::Value(x), Sym::Const(wc)) if b.const_of(wc).shape.len() <= 2 => dense(b, ctx, x),
        _ => batched(b, ctx),
    }
}

/// `x · W` with a constant `[k, n]` (or `[k]`) weight: a dense layer over the leading axes of `x`.
fn dense(b: &mut Builder, ctx: &NodeCtx, x: usize) -> Result<()> {
    let ws = b.constant(ctx, 1)?.shape.clone();
    let xs = b.value_info(x).shape.clone();
    let (k, n) = match ws[..] {
        [k, n] => (k, n),
        [k] => (k, 1),
        _ => (0, 0),
    };
    if xs.last() != Some(&k) || k == 0 {
        return Err(ctx.err(format!(
            "cannot multiply input of shape {xs:?} by weight of shape {ws:?}; expected a [k, n] weight matching the input's last axis"
        )));
    }
    b.refuse_batch_axis(ctx, x, &[xs.len() - 1], "contracting")?;
    let weight = b.weight(ctx, 1)?;
    let rows = xs[..xs.len() - 1].iter().product();
    let mut out = xs[..xs.len() - 1].to_vec();
    if ws.len() == 2 {
        out.push(n);
    }
    let op = Linear { weight, layout: WeightLayout::KN, rows, k, n, alpha: 1.0, bias: None };
    b.push(ctx, Op::Linear(op), vec![x], out).map(|_| ())
}

/// A product of two computed values (or a constant left operand), batched over the leading axes
/// with broadcasting; 1-D operands as numpy treats them.
fn batched(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    let (a, w) = (b.value(ctx, 0)?, b.value(ctx, 1)?);
    let (sa, sb) = (b.value_info(a).shape.clone(), b.value_info(w).shape.clone());
    if sa.is_empty() || sb.is_empty() {
        return Err(ctx.err("MatMul of a scalar"));
    }
    let a2 = if sa.len() == 1 { vec![1, sa[0]] } else { sa.clone() };
    let b2 = if sb.len() == 1 { vec![sb[0], 1] } else { sb.clone() };
    let (m, k) = (a2[a2.len() - 2], a2[a2.len() - 1]);
    let (kb, n) = (b2[b2.len() - 2], b2[b2.len() - 1]);
    if k != kb {
        return Err(ctx.err(format!("cannot multiply shapes {sa:?} and {sb:?}: inner sizes {k} and {kb} differ")));
    }
    b.refuse_batch_axis(ctx, a, &[sa.len() - 1], "contracting")?;
    if sb.len() >= 2 {
        b.refuse_batch_axis(ctx, w, &[sb.len() - 2], "contracting")?;
    }
    let (ba, bb) = (&a2[..a2.len() - 2], &b2[..b2.len() - 2]);
    let batch = broadcast_shape(ctx, ba, bb)?;
    let count: usize = batch.iter().product();
    let (ma, mb) = (gather_map(ba, &batch), gather_map(bb, &batch));
    let at = |map: &Option<Vec<u32>>, i: usize| map.as_ref().map_or(i, |m| m[i] as usize);
    let a_off = (0..count).map(|i| at(&ma, i) * m * k).collect();
    let b_off = (0..count).map(|i| at(&mb, i) * k * n).collect();
    let mut out = batch;
    if sa.len() > 1 {
        out.push(m);
    }
    if sb.len() > 1 {
        out.push(n);
    }
    let out_batch = count_axes(&out, sa.len(), sb.len());
    let v = b.push(ctx, Op::MatMul(MatMul { m, k, n, a_off, b_off }), vec![a, w], out)?;
    // The left operand's batch axis: one of its batch dimensions (aligned on the right), or m.
    let a_batch = sa.len().saturating_sub(2);
    let axis = b.batch(a).filter(|_| sa.len() > 1).and_then(|ax| match ax {
        ax if ax < a_batch => Some(ax + out_batch - a_batch),
        ax if ax == a_batch => Some(out_batch),
        _ => None,
    });
    b.set_batch(v, axis);
    Ok(())
}

/// The number of batch dimensions of a product's output.
fn count_axes(out: &[usize], ra: usize, rb: usize) -> usize {
    out.len() - usize::from(ra > 1) - usize::from(rb > 1)
}

fn gemm(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    let x = match b.required(ctx, 0)? {
        Sym::Value(v) => v,
        Sym::Const(_) => b.value(ctx, 0)?,
    };
    let xs = b.value_info(x).shape.clone();
    let trans_b = ctx.int("transB", 0)? != 0;
    let (alpha, beta) = (ctx.float("alpha", 1.0)?, ctx.float("beta", 1.0)?);
    // With one sample per pass, A is [1, k] (or [k, 1] with transA): the same k values either way.
    if xs.len() != 2 || (xs[0] != 1 && xs[1] != 1) {
        return Err(ctx.err(format!("input A has shape {xs:?}; Gemm needs a 2-D [batch, k] input")));
    }
    let k = if ctx.int("transA", 0)? != 0 { xs[0] } else { xs[1] };
    let ws = match b.required(ctx, 1)? {
        Sym::Const(c) => b.const_of(c).shape.clone(),
        Sym::Value(_) => {
            return Err(ctx.err("Gemm with a computed B is not supported; B must be a constant weight (initializer)"))
        }
    };
    let (wk, n) = match (ws.as_slice(), trans_b) {
        ([n, k], true) => (*k, *n),
        ([k, n], false) => (*k, *n),
        _ => return Err(ctx.err(format!("weight B has shape {ws:?}; expected a 2-D matrix"))),
    };
    if wk != k {
        return Err(ctx.err(format!(
            "input of {k} features does not match weight B of shape {ws:?} (transB = {})",
            u8::from(trans_b)
        )));
    }
    let weight = b.weight(ctx, 1)?;
    let bias = match b.input(ctx, 2)? {
        None => None,
        Some(_) => {
            let len = b.constant(ctx, 2)?.len();
            if len != n && len != 1 {
                return Err(ctx.err(format!("bias C has {len} values; expected {n} or 1")));
            }
            Some(Bias { tensor: b.weight(ctx, 2)?, beta, per_col: len == n })
        }
    };
    let layout = if trans_b { WeightLayout::NK } else { WeightLayout::KN };
    let op = Linear { weight, layout, rows: 1, k, n, alpha, bias };
    let v = b.push(ctx, Op::Linear(op), vec![x], vec![1, n])?;
    b.set_batch(v, Some(0));
    Ok(())
}
