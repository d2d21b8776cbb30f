//! Normalisation layers: `BatchNormalization` (inference mode; its scale and B move, its running
//! statistics never do) and `LayerNormalization` (opset 17; one [`LayerNorm`] node, or its
//! decomposition where the scale is shared along part of the run, with the learned scale and
//! bias as parameters of the layer).

use super::super::attr::NodeCtx;
use super::super::builder::Builder;
use super::super::shapes::{broadcast, gather_map, normalize_axis};
use super::elementwise::{push_binary, Side};
use super::Importer;
use crate::error::Result;
use crate::ops::{Activation, ActivationKind, BatchNorm, BinaryKind, LayerNorm, Op, Pool};

pub(super) const OPS: &[(&str, Importer)] = &[("BatchNormalization", batchnorm), ("LayerNormalization", layer_norm)];

fn batchnorm(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    if ctx.int("training_mode", 0)? != 0 || ctx.node.output.iter().skip(1).any(|o| !o.is_empty()) {
        return Err(ctx.err("training-mode BatchNormalization is not supported; export the model in eval mode"));
    }
    let x = b.value(ctx, 0)?;
    let s = b.value_info(x).shape.clone();
    if s.len() < 2 {
        return Err(ctx.err(format!("input has shape {s:?}; expected [batch, channels, ...]")));
    }
    for i in 1..5 {
        let len = b.constant(ctx, i)?.len();
        if len != s[1] {
            return Err(ctx.err(format!("input {i} has {len} values; expected one per channel ({})", s[1])));
        }
    }
    let op = BatchNorm {
        scale: b.weight(ctx, 1)?,
        bias: b.weight(ctx, 2)?,
        mean: b.statistic(ctx, 3)?,
        var: b.statistic(ctx, 4)?,
        epsilon: ctx.float("epsilon", 1e-5)?,
        channels: s[1],
        spatial: s[2..].iter().product(),
    };
    b.push(ctx, Op::BatchNorm(op), vec![x], s).map(|_| ())
}

/// `LayerNormalization` (PyTorch's `nn.LayerNorm`) over the axes from `axis` on: one
/// [`LayerNorm`] node when the scale and bias hold a value per position of the normalised run (as
/// they always do from `nn.LayerNorm`), else run as mean, difference, variance, `√(var + ε)`,
/// quotient, then the learned scale and bias — the same nodes as the graph torch.onnx writes below
/// opset 17, and the same bits as the fused node.
fn layer_norm(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    if ctx.node.output.iter().skip(1).any(|o| !o.is_empty()) {
        return Err(ctx.err("the Mean and InvStdDev outputs of LayerNormalization are not supported"));
    }
    let x = b.value(ctx, 0)?;
    let s = b.value_info(x).shape.clone();
    let axis = normalize_axis(ctx, ctx.int("axis", -1)?, s.len())?;
    b.refuse_batch_axis(ctx, x, &(axis..s.len()).collect::<Vec<_>>(), "normalizing over")?;
    if axis == 0 {
        return Err(ctx.err("normalizing over the batch axis would mix the samples of a batch"));
    }
    let (c, h) = (s[..axis].iter().product(), s[axis..].iter().product());
    let mut reduced = s[..axis].to_vec();
    reduced.extend(std::iter::repeat_n(1, s.len() - axis));
    let scale = b.weight(ctx, 1)?;
    let bias = match b.input(ctx, 2)? {
        None => None,
        Some(_) => Some(b.weight(ctx, 2)?),
    };
    let shapes: Vec<Vec<usize>> = (1..=if bias.is_some() { 2 } else { 1 })
        .map(|i| b.constant(ctx, i).map(|t| t.shape.clone()))
        .collect::<Result<_>>()?;
    for sh in &shapes {
        if broadcast(sh, &s).as_deref() != Some(&s[..]) {
            return Err(ctx.err(format!("scale/bias of shape {sh:?} do not fit the input {s:?}")));
        }
    }
    let epsilon = ctx.float("epsilon", 1e-5)?;
    // One value of γ (and β) per position of a run, read as `i % h`: one fused node. Other
    // broadcasts (a scale shared along part of the run) take the decomposition.
    let per_position = |sh: &Vec<usize>| {
        sh.iter().product::<usize>() == h
            && gather_map(sh, &s).is_none_or(|map| map.iter().enumerate().all(|(i, &j)| j as usize == i % h))
    };
    if shapes.iter().all(per_position) && bias != Some(scale) {
        let op = Op::LayerNorm(LayerNorm { scale, bias, epsilon, groups: c, len: h });
        return b.push(ctx, op, vec![x], s).map(|_| ());
    }
    let eps = b.scalar(ctx, "epsilon", epsilon)?;
    let mean = b.push_step(ctx, "mean", Op::Pool(Pool::mean_over(c, h)), vec![x], reduced.clone())?;
    let d = push_binary(b, ctx, Some("centered"), BinaryKind::Sub, [Side::Value(x), Side::Value(mean)])?;
    let sq = push_binary(b, ctx, Some("squared"), BinaryKind::Mul, [Side::Value(d), Side::Value(d)])?;
    let var = b.push_step(ctx, "variance", Op::Pool(Pool::mean_over(c, h)), vec![sq], reduced)?;
    let ve = push_binary(b, ctx, Some("variance+eps"), BinaryKind::Add, [Side::Value(var), Side::Tensor(eps, vec![])])?;
    let sqrt = Op::Activation(Activation { kind: ActivationKind::Sqrt });
    let shape = b.value_info(ve).shape.clone();
    let sd = b.push_step(ctx, "std", sqrt, vec![ve], shape)?;
    let norm = push_binary(b, ctx, Some("normalized"), BinaryKind::Div, [Side::Value(d), Side::Value(sd)])?;
    let scale = Side::Tensor(scale, shapes[0].clone());
    match bias {
        None => push_binary(b, ctx, None, BinaryKind::Mul, [Side::Value(norm), scale]),
        Some(bias) => {
            let scaled = push_binary(b, ctx, Some("scaled"), BinaryKind::Mul, [Side::Value(norm), scale])?;
            push_binary(b, ctx, None, BinaryKind::Add, [Side::Value(scaled), Side::Tensor(bias, shapes[1].clone())])
        }
    }
    .map(|_| ())
}
