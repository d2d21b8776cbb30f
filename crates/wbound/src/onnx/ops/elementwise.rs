//! Broadcast element-wise arithmetic: `Add`, `Sub`, `Mul`, `Div`, `PRelu`, `Min`, `Max`, and the
//! variadic `Sum`, `Mean`, `Min`, `Max` as chains of two-operand nodes.
//!
//! A constant operand is a weight tensor of the node, with its role: PRelu's slope is a parameter
//! of its layer; the constant added right after a MatMul, Gemm or Conv is that layer's bias; any
//! other is a parameter when it has a parameter's name, else a constant (README "Which weights are
//! parameters"). Two constants fold; a parameter combined with a constant enters as a value.

use super::super::attr::NodeCtx;
use super::super::builder::{Builder, Sym};
use super::super::shapes::{broadcast_shape, fold_binary, gather_map};
use super::Importer;
use crate::error::Result;
use crate::ops::{Binary, BinaryKind, Op, Operand};
use crate::tensor::{Reason, Role, TensorId, ValueId};

pub(super) const OPS: &[(&str, Importer)] = &[
    ("Add", |b, c| variadic(b, c, BinaryKind::Add)),
    ("Sub", |b, c| binary(b, c, BinaryKind::Sub)),
    ("Mul", |b, c| binary(b, c, BinaryKind::Mul)),
    ("Div", |b, c| binary(b, c, BinaryKind::Div)),
    ("PRelu", |b, c| binary(b, c, BinaryKind::PRelu)),
    ("Min", |b, c| variadic(b, c, BinaryKind::Min)),
    ("Max", |b, c| variadic(b, c, BinaryKind::Max)),
    ("Sum", |b, c| variadic(b, c, BinaryKind::Add)),
    ("Mean", mean),
];

/// One operand of a [`push_binary`] node: a value, or a weight tensor with the shape it is
/// broadcast from.
#[derive(Debug, Clone)]
pub(super) enum Side {
    Value(ValueId),
    Tensor(TensorId, Vec<usize>),
}

/// The arithmetic of `kind` on two floats (constant folding).
fn apply(kind: BinaryKind, a: f64, c: f64) -> f64 {
    match kind {
        BinaryKind::Add => a + c,
        BinaryKind::Sub => a - c,
        BinaryKind::Mul => a * c,
        BinaryKind::Div => a / c,
        BinaryKind::PRelu if a > 0.0 => a,
        BinaryKind::PRelu => c * a,
        BinaryKind::Min => a.min(c),
        BinaryKind::Max => a.max(c),
    }
}

fn binary(b: &mut Builder, ctx: &NodeCtx, kind: BinaryKind) -> Result<()> {
    let syms = [b.required(ctx, 0)?, b.required(ctx, 1)?];
    binary_of(b, ctx, None, kind, syms).map(|_| ())
}

/// `Sum`, `Min`, `Max` (and `Add`) of one or more inputs: a chain of two-operand nodes.
fn variadic(b: &mut Builder, ctx: &NodeCtx, kind: BinaryKind) -> Result<()> {
    let syms = b.all_inputs(ctx)?;
    chain(b, ctx, kind, &syms).map(|_| ())
}

/// Folds `syms` left to right with `kind`; the last node is the ONNX node's output. Returns it
/// (`None` when the result is a constant).
fn chain(b: &mut Builder, ctx: &NodeCtx, kind: BinaryKind, syms: &[Sym]) -> Result<Option<ValueId>> {
    match syms {
        [] => Err(ctx.err("no inputs")),
        [one] => {
            let v = b.value_of(ctx, *one)?;
            let (shape, batch) = (b.value_info(v).shape.clone(), b.batch(v));
            b.alias(ctx, v, shape, batch).map(Some)
        }
        [first, rest @ ..] => {
            let mut acc = *first;
            for (i, &s) in rest.iter().enumerate() {
                let last = i + 1 == rest.len();
                let step = format!("{}", i + 1);
                let out = binary_of(b, ctx, (!last).then_some(step.as_str()), kind, [acc, s])?;
                if last {
                    return Ok(out);
                }
                acc = match out {
                    Some(v) => Sym::Value(v),
                    None => b.syms[&format!("{}/{step}", b.stem(ctx))],
                };
            }
            unreachable!("a chain of two or more inputs returns at its last step")
        }
    }
}

/// `Mean` of one or more inputs: their sum, scaled.
fn mean(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    let syms = b.all_inputs(ctx)?;
    if syms.len() == 1 {
        return chain(b, ctx, BinaryKind::Add, &syms).map(|_| ());
    }
    let mut acc = syms[0];
    for (i, &s) in syms[1..].iter().enumerate() {
        let step = format!("sum{i}");
        acc = match binary_of(b, ctx, Some(&step), BinaryKind::Add, [acc, s])? {
            Some(v) => Sym::Value(v),
            None => b.syms[&format!("{}/{step}", b.stem(ctx))],
        };
    }
    let n = b.scalar(ctx, "count", syms.len() as f32)?;
    let v = b.value_of(ctx, acc)?;
    push_binary(b, ctx, None, BinaryKind::Div, [Side::Value(v), Side::Tensor(n, vec![])]).map(|_| ())
}

/// `kind` of two symbols as the node's output (`step` = `None`) or its intermediate value `step`;
/// `None` when it folded to a constant.
fn binary_of(
    b: &mut Builder,
    ctx: &NodeCtx,
    step: Option<&str>,
    kind: BinaryKind,
    syms: [Sym; 2],
) -> Result<Option<ValueId>> {
    let shapes = [b.shape(syms[0]), b.shape(syms[1])];
    broadcast_shape(ctx, &shapes[0], &shapes[1])?;
    if let [Sym::Const(x), Sym::Const(y)] = syms {
        if !b.any_param(&syms) {
            let folded = fold_binary(b.const_of(x), b.const_of(y), |a, c| apply(kind, a, c))
                .ok_or_else(|| ctx.err("cannot broadcast constants"))?;
            let name = match step {
                None => b.out_name(ctx)?.to_string(),
                Some(s) => format!("{}/{s}", b.stem(ctx)),
            };
            let origin = b.fold_origin(&[x, y], matches!(folded.data, super::super::tensor::ConstData::F32(_)));
            b.define_const(&name, folded, origin);
            return Ok(None);
        }
    }
    let both_const = matches!(syms, [Sym::Const(_), Sym::Const(_)]);
    let mut sides = Vec::with_capacity(2);
    for side in 0..2 {
        sides.push(match syms[side] {
            Sym::Value(v) => Side::Value(v),
            // Two constants, one of them a parameter: the parameter enters as a value.
            Sym::Const(c) if both_const && b.is_param(c) => Side::Value(b.value_of(ctx, syms[side])?),
            Sym::Const(c) => {
                let role = match syms[1 - side] {
                    _ if kind == BinaryKind::PRelu && side == 1 => {
                        Some((Role::Trainable { layer: b.next_node() }, Reason::LayerWeight))
                    }
                    Sym::Value(v) if kind == BinaryKind::Add => match b.producer(v) {
                        Some((layer, Op::Linear(_) | Op::Conv(_))) => {
                            Some((Role::Trainable { layer }, Reason::LayerBias))
                        }
                        _ => None,
                    },
                    _ => None,
                };
                let t = match role {
                    Some((role, reason)) => b.tensor_for(c, role, reason),
                    None => b.operand(c),
                };
                Side::Tensor(t, shapes[side].clone())
            }
        });
    }
    let sides: [Side; 2] = [sides[0].clone(), sides[1].clone()];
    push_binary(b, ctx, step, kind, sides).map(Some)
}

/// Pushes a broadcast [`Binary`] node over two operands as the node's output (`step` = `None`)
/// or as its intermediate value `step`.
pub(super) fn push_binary(
    b: &mut Builder,
    ctx: &NodeCtx,
    step: Option<&str>,
    kind: BinaryKind,
    sides: [Side; 2],
) -> Result<ValueId> {
    let shapes = sides.clone().map(|s| match s {
        Side::Value(v) => b.value_info(v).shape.clone(),
        Side::Tensor(_, shape) => shape,
    });
    let out = broadcast_shape(ctx, &shapes[0], &shapes[1])?;
    let mut inputs = Vec::new();
    let operands = sides.clone().map(|s| match s {
        Side::Value(v) => {
            inputs.push(v);
            Operand::Input(inputs.len() - 1)
        }
        Side::Tensor(t, _) => Operand::Tensor(t),
    });
    // The batch axis of the value operand of the higher rank.
    let lead = sides
        .iter()
        .zip(&shapes)
        .filter_map(|(s, sh)| if let Side::Value(v) = s { Some((*v, sh.len())) } else { None })
        .max_by_key(|&(_, r)| r);
    let maps = [gather_map(&shapes[0], &out), gather_map(&shapes[1], &out)];
    let op = Binary::new(kind, operands, maps, out.iter().product());
    let rank = out.len();
    let v = match step {
        None => b.push(ctx, Op::Binary(op), inputs, out)?,
        Some(step) => b.push_step(ctx, step, Op::Binary(op), inputs, out)?,
    };
    let batch = lead.and_then(|(lv, r)| b.batch(lv).map(|ax| ax + rank - r));
    b.set_batch(v, batch);
    Ok(v)
}
