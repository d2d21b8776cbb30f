//! One import function per ONNX op (or op family): checks attributes and operand kinds, infers
//! the output shape and adds a node, a view or a folded constant to the [`Builder`].

use super::attr::NodeCtx;
use super::import::{broadcast, element_count, fold_binary, gather_map, Builder, Sym, MAX_ELEMENTS};
use super::tensor::{decode, ConstData, ConstTensor};
use crate::error::{Error, Result, UnsupportedOp};
use crate::graph::{Role, TensorId, ValueId};
use crate::ops::{
    Activation, ActivationKind, BatchNorm, Bias, Binary, BinaryKind, Conv, Linear, Op, Operand, Pool, PoolKind, Remap,
    Softmax, WeightLayout,
};

/// The ONNX op types wbound imports. `Shape`, `Gather`, `Concat` and `Cast` are accepted where
/// they compute constants (shape arithmetic such as PyTorch's `x.view(x.size(0), -1)`).
pub const SUPPORTED_OPS: &[&str] = &[
    "Abs",
    "Add",
    "AveragePool",
    "BatchNormalization",
    "Cast",
    "Clip",
    "Concat",
    "Constant",
    "Conv",
    "Div",
    "Dropout",
    "Elu",
    "Erf",
    "Exp",
    "Flatten",
    "Gather",
    "Gelu",
    "Gemm",
    "GlobalAveragePool",
    "HardSigmoid",
    "HardSwish",
    "Identity",
    "LayerNormalization",
    "LeakyRelu",
    "Log",
    "LogSoftmax",
    "MatMul",
    "MaxPool",
    "Mul",
    "Neg",
    "Pad",
    "Pow",
    "PRelu",
    "Reciprocal",
    "ReduceMean",
    "Relu",
    "Reshape",
    "Selu",
    "Shape",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "Softsign",
    "Sqrt",
    "Squeeze",
    "Sub",
    "Tanh",
    "Transpose",
    "Unsqueeze",
];

/// Imports one node.
pub fn import_node(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    match ctx.op() {
        "MatMul" => matmul(b, ctx),
        "Gemm" => gemm(b, ctx),
        "Conv" => conv(b, ctx),
        "MaxPool" | "AveragePool" => pool(b, ctx),
        "GlobalAveragePool" => global_average_pool(b, ctx),
        "ReduceMean" => reduce_mean(b, ctx),
        "BatchNormalization" => batchnorm(b, ctx),
        "Relu" | "LeakyRelu" | "Sigmoid" | "Tanh" | "Elu" | "Selu" | "Clip" | "Softplus" | "Softsign"
        | "HardSigmoid" | "HardSwish" | "Erf" | "Gelu" | "Sqrt" | "Pow" | "Exp" | "Log" | "Neg" | "Abs"
        | "Reciprocal" => activation(b, ctx),
        "Softmax" | "LogSoftmax" => softmax(b, ctx),
        "Add" | "Sub" | "Mul" | "Div" | "PRelu" => binary(b, ctx),
        "LayerNormalization" => layer_norm(b, ctx),
        "Flatten" | "Reshape" | "Squeeze" | "Unsqueeze" | "Identity" | "Dropout" => reshape_like(b, ctx),
        "Transpose" => transpose(b, ctx),
        "Pad" => pad(b, ctx),
        "Constant" => constant(b, ctx),
        "Shape" => shape_of(b, ctx),
        "Gather" => gather(b, ctx),
        "Concat" => concat(b, ctx),
        "Cast" => cast(b, ctx),
        op => Err(Error::UnsupportedOps(vec![UnsupportedOp {
            op: op.to_string(),
            count: 1,
            first_node: ctx.name.clone(),
            opset: b.opset,
        }])),
    }
}

/// The shape of a symbol, value or constant.
fn shape_of_sym(b: &Builder, s: Sym) -> Vec<usize> {
    match s {
        Sym::Value(v) => b.value(v).shape.clone(),
        Sym::Const(c) => b.const_of(c).shape.clone(),
    }
}

fn normalize_axis(ctx: &NodeCtx, axis: i64, rank: usize) -> Result<usize> {
    let a = if axis < 0 { axis + rank as i64 } else { axis };
    if a < 0 || a >= rank as i64 {
        return Err(ctx.err(format!("axis {axis} is out of range for rank {rank}")));
    }
    Ok(a as usize)
}

fn matmul(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    let (a, w) = (b.required(ctx, 0)?, b.required(ctx, 1)?);
    let (Sym::Value(x), Sym::Const(wc)) = (a, w) else {
        return Err(
            ctx.err("wbound supports MatMul as x · W with x computed from the graph input and W a constant weight")
        );
    };
    let ws = b.const_of(wc).shape.clone();
    let xs = b.value(x).shape.clone();
    if ws.len() != 2 || xs.len() < 2 || xs[xs.len() - 1] != ws[0] {
        return Err(ctx.err(format!("cannot multiply input of shape {xs:?} by weight of shape {ws:?}; expected a [k, n] weight matching the input's last axis")));
    }
    let layer = b.next_node();
    let weight = b.tensor_from_const(wc, Role::Trainable { layer });
    let rows = xs[..xs.len() - 1].iter().product();
    let mut out = xs[..xs.len() - 1].to_vec();
    out.push(ws[1]);
    let op = Linear { weight, layout: WeightLayout::KN, rows, k: ws[0], n: ws[1], alpha: 1.0, bias: None };
    b.push(ctx, Op::Linear(op), vec![x], out)
}

fn gemm(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    let x = b.dynamic(ctx, 0)?;
    let xs = b.value(x).shape.clone();
    let trans_b = ctx.int("transB", 0)? != 0;
    let (alpha, beta) = (ctx.float("alpha", 1.0)?, ctx.float("beta", 1.0)?);
    // With one sample per pass, A is [1, k] (or [k, 1] with transA): the same k values either way.
    if xs.len() != 2 || (xs[0] != 1 && xs[1] != 1) {
        return Err(ctx.err(format!("input A has shape {xs:?}; Gemm needs a 2-D [batch, k] input")));
    }
    let k = if ctx.int("transA", 0)? != 0 { xs[0] } else { xs[1] };
    let ws = b.constant(ctx, 1)?.shape.clone();
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
    let layer = b.next_node();
    let weight = b.weight(ctx, 1, Role::Trainable { layer })?;
    let bias = match b.input(ctx, 2)? {
        None => None,
        Some(_) => {
            let len = b.constant(ctx, 2)?.len();
            if len != n && len != 1 {
                return Err(ctx.err(format!("bias C has {len} values; expected {n} or 1")));
            }
            Some(Bias { tensor: b.weight(ctx, 2, Role::Trainable { layer })?, beta, per_col: len == n })
        }
    };
    let layout = if trans_b { WeightLayout::NK } else { WeightLayout::KN };
    let op = Linear { weight, layout, rows: 1, k, n, alpha, bias };
    b.push(ctx, Op::Linear(op), vec![x], vec![1, n])
}

/// Spatial geometry shared by Conv and the pools: pads after `auto_pad` and the output size.
struct Window {
    pads: [usize; 4],
    out: [usize; 2],
}

fn window(
    ctx: &NodeCtx,
    hw: [usize; 2],
    kernel: [usize; 2],
    stride: [usize; 2],
    dilation: [usize; 2],
    ceil_mode: bool,
) -> Result<Window> {
    if stride.contains(&0) || dilation.contains(&0) || kernel.contains(&0) {
        return Err(ctx.err("kernel_shape, strides and dilations must be positive"));
    }
    let auto_pad = ctx.string("auto_pad", "NOTSET")?;
    let ek = [(kernel[0] - 1) * dilation[0] + 1, (kernel[1] - 1) * dilation[1] + 1];
    let mut pads = [0usize; 4];
    let mut out = [0usize; 2];
    match auto_pad.as_str() {
        "NOTSET" | "VALID" => {
            if auto_pad == "NOTSET" {
                let p = ctx.spatial("pads", 4, 0)?;
                pads = [p[0], p[1], p[2], p[3]];
            }
            for d in 0..2 {
                let span = hw[d] + pads[d] + pads[d + 2];
                if span < ek[d] {
                    return Err(ctx.err(format!(
                        "kernel of extent {} does not fit the padded input of size {span} on spatial axis {d}",
                        ek[d]
                    )));
                }
                let steps = span - ek[d];
                out[d] = if ceil_mode { steps.div_ceil(stride[d]) + 1 } else { steps / stride[d] + 1 };
                if ceil_mode && (out[d] - 1) * stride[d] >= hw[d] + pads[d] {
                    out[d] -= 1;
                }
            }
        }
        "SAME_UPPER" | "SAME_LOWER" => {
            for d in 0..2 {
                out[d] = hw[d].div_ceil(stride[d]);
                let total = ((out[d] - 1) * stride[d] + ek[d]).saturating_sub(hw[d]);
                let small = total / 2;
                let (begin, end) =
                    if auto_pad == "SAME_UPPER" { (small, total - small) } else { (total - small, small) };
                pads[d] = begin;
                pads[d + 2] = end;
            }
        }
        other => return Err(ctx.err(format!("auto_pad '{other}' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID"))),
    }
    Ok(Window { pads, out })
}

/// The `[1, c, h, w]` shape of a 4-D input.
fn nchw(ctx: &NodeCtx, b: &Builder, x: ValueId) -> Result<[usize; 3]> {
    match b.value(x).shape.as_slice() {
        [1, c, h, w] => Ok([*c, *h, *w]),
        s => Err(ctx.err(format!(
            "input has shape {s:?}; wbound supports 2-D {} on [batch, channels, height, width] inputs",
            ctx.op()
        ))),
    }
}

fn pair(v: &[usize]) -> [usize; 2] {
    [v[0], v[1]]
}

fn conv(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    let x = b.dynamic(ctx, 0)?;
    let [cin, h, w] = nchw(ctx, b, x)?;
    let ws = b.constant(ctx, 1)?.shape.clone();
    let group = usize::try_from(ctx.int("group", 1)?).unwrap_or(0);
    let [cout, cin_g, kh, kw] = ws[..] else {
        return Err(ctx.err(format!("weight has shape {ws:?}; expected [out_channels, in_channels/group, kh, kw]")));
    };
    if group == 0 || cin % group != 0 || cout % group != 0 || cin_g * group != cin {
        return Err(ctx.err(format!(
            "input has {cin} channels, weight {ws:?} and group = {group}: the channel counts do not match"
        )));
    }
    if let Some(k) = ctx.ints("kernel_shape")? {
        if k != [kh as i64, kw as i64] {
            return Err(ctx.err(format!("kernel_shape {k:?} disagrees with the weight's shape {ws:?}")));
        }
    }
    let stride = pair(&ctx.spatial("strides", 2, 1)?);
    let dilation = pair(&ctx.spatial("dilations", 2, 1)?);
    let win = window(ctx, [h, w], [kh, kw], stride, dilation, false)?;
    let layer = b.next_node();
    let weight = b.weight(ctx, 1, Role::Trainable { layer })?;
    let bias = match b.input(ctx, 2)? {
        None => None,
        Some(_) => {
            if b.constant(ctx, 2)?.len() != cout {
                return Err(ctx.err(format!("bias has {} values; expected {cout}", b.constant(ctx, 2)?.len())));
            }
            Some(b.weight(ctx, 2, Role::Trainable { layer })?)
        }
    };
    let [oh, ow] = win.out;
    if element_count(&[group, cin_g, kh, kw, oh, ow]).is_none() {
        return Err(ctx.err(format!(
            "its unfolded input ({cin_g}·{kh}·{kw} taps × {oh}·{ow} positions) exceeds {MAX_ELEMENTS} values"
        )));
    }
    let op = Conv {
        weight,
        bias,
        cin,
        h,
        w,
        cout,
        group,
        kernel: [kh, kw],
        stride,
        dilation,
        pads: win.pads,
        oh,
        ow,
        targets: Vec::new(),
    }
    .with_targets();
    b.push(ctx, Op::Conv(op), vec![x], vec![1, cout, oh, ow])
}

fn pool(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    if ctx.node.output.get(1).is_some_and(|o| !o.is_empty()) {
        return Err(ctx.err("the Indices output of MaxPool is not supported"));
    }
    let x = b.dynamic(ctx, 0)?;
    let [c, h, w] = nchw(ctx, b, x)?;
    let kernel = ctx.ints("kernel_shape")?.ok_or_else(|| ctx.err("missing attribute 'kernel_shape'"))?;
    let kernel = match kernel[..] {
        [kh, kw] if kh > 0 && kw > 0 => [kh as usize, kw as usize],
        _ => return Err(ctx.err(format!("kernel_shape {kernel:?} is not two positive sizes"))),
    };
    let stride = pair(&ctx.spatial("strides", 2, 1)?);
    let dilation = pair(&ctx.spatial("dilations", 2, 1)?);
    let win = window(ctx, [h, w], kernel, stride, dilation, ctx.int("ceil_mode", 0)? != 0)?;
    let kind = if ctx.op() == "MaxPool" {
        PoolKind::Max
    } else {
        PoolKind::Average { count_include_pad: ctx.int("count_include_pad", 0)? != 0 }
    };
    let [oh, ow] = win.out;
    let op = Pool { kind, c, h, w, kernel, stride, dilation, pads: win.pads, oh, ow };
    b.push(ctx, Op::Pool(op), vec![x], vec![1, c, oh, ow])
}

fn global_average_pool(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    let x = b.dynamic(ctx, 0)?;
    let s = b.value(x).shape.clone();
    if s.len() < 3 {
        return Err(ctx.err(format!("input has shape {s:?}; expected [batch, channels, spatial...]")));
    }
    let spatial: usize = s[2..].iter().product();
    let op = mean_over(s[1], spatial);
    let mut out = vec![1, s[1]];
    out.extend(std::iter::repeat_n(1, s.len() - 2));
    b.push(ctx, Op::Pool(op), vec![x], out)
}

/// The mean of each of `c` runs of `len` values: an average pool with one window per run
/// (`GlobalAveragePool`, `ReduceMean` over trailing axes).
fn mean_over(c: usize, len: usize) -> Pool {
    Pool {
        kind: PoolKind::Average { count_include_pad: false },
        c,
        h: len,
        w: 1,
        kernel: [len, 1],
        stride: [1, 1],
        dilation: [1, 1],
        pads: [0; 4],
        oh: 1,
        ow: 1,
    }
}

/// `ReduceMean` over trailing axes (PyTorch's `x.mean((2, 3))`): an average pool over the
/// flattened trailing axes.
fn reduce_mean(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    let x = b.dynamic(ctx, 0)?;
    let s = b.value(x).shape.clone();
    let axes = axes(b, ctx, 18, 1)?
        .ok_or_else(|| ctx.err("ReduceMean over every axis would mix the samples of a batch; give axes"))?;
    let mut axes = axes.iter().map(|&a| normalize_axis(ctx, a, s.len())).collect::<Result<Vec<_>>>()?;
    axes.sort_unstable();
    axes.dedup();
    let first = axes[0];
    if first == 0 || axes != (first..s.len()).collect::<Vec<_>>() {
        return Err(ctx.err(format!(
            "ReduceMean over axes {axes:?} of shape {s:?}: wbound reduces trailing axes after the batch axis only"
        )));
    }
    let (c, h) = (s[..first].iter().product(), s[first..].iter().product());
    let op = mean_over(c, h);
    let mut out = s[..first].to_vec();
    if ctx.int("keepdims", 1)? != 0 {
        out.extend(std::iter::repeat_n(1, s.len() - first));
    }
    b.push(ctx, Op::Pool(op), vec![x], out)
}

fn batchnorm(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    if ctx.int("training_mode", 0)? != 0 || ctx.node.output.iter().skip(1).any(|o| !o.is_empty()) {
        return Err(ctx.err("training-mode BatchNormalization is not supported; export the model in eval mode"));
    }
    let x = b.dynamic(ctx, 0)?;
    let s = b.value(x).shape.clone();
    if s.len() < 2 {
        return Err(ctx.err(format!("input has shape {s:?}; expected [batch, channels, ...]")));
    }
    for i in 1..5 {
        let len = b.constant(ctx, i)?.len();
        if len != s[1] {
            return Err(ctx.err(format!("input {i} has {len} values; expected one per channel ({})", s[1])));
        }
    }
    let layer = b.next_node();
    let op = BatchNorm {
        scale: b.weight(ctx, 1, Role::Trainable { layer })?,
        bias: b.weight(ctx, 2, Role::Trainable { layer })?,
        mean: b.weight(ctx, 3, Role::Statistic)?,
        var: b.weight(ctx, 4, Role::Statistic)?,
        epsilon: ctx.float("epsilon", 1e-5)?,
        channels: s[1],
        spatial: s[2..].iter().product(),
    };
    b.push(ctx, Op::BatchNorm(op), vec![x], s)
}

fn activation(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    let x = b.dynamic(ctx, 0)?;
    let kind = match ctx.op() {
        "Relu" => ActivationKind::Relu,
        "LeakyRelu" => ActivationKind::LeakyRelu { alpha: ctx.float("alpha", 0.01)? },
        "Sigmoid" => ActivationKind::Sigmoid,
        "Tanh" => ActivationKind::Tanh,
        "Clip" => clip_bounds(b, ctx)?,
        "Selu" => {
            ActivationKind::Selu { alpha: ctx.float("alpha", 1.673_263_2)?, gamma: ctx.float("gamma", 1.050_701)? }
        }
        "Softplus" => ActivationKind::Softplus,
        "Softsign" => ActivationKind::Softsign,
        "HardSigmoid" => ActivationKind::HardSigmoid { alpha: ctx.float("alpha", 0.2)?, beta: ctx.float("beta", 0.5)? },
        "HardSwish" => ActivationKind::HardSwish,
        "Erf" => ActivationKind::Erf,
        "Sqrt" => ActivationKind::Sqrt,
        "Pow" => match b.constant(ctx, 1)?.to_f32()[..] {
            [exponent] => ActivationKind::Pow { exponent },
            ref v => {
                return Err(
                    ctx.err(format!("the exponent holds {} values; wbound takes one constant exponent", v.len()))
                )
            }
        },
        "Exp" => ActivationKind::Exp,
        "Log" => ActivationKind::Log,
        "Neg" => ActivationKind::Neg,
        "Abs" => ActivationKind::Abs,
        "Reciprocal" => ActivationKind::Reciprocal,
        "Gelu" => match ctx.string("approximate", "none")?.as_str() {
            "none" => ActivationKind::Gelu { tanh: false },
            "tanh" => ActivationKind::Gelu { tanh: true },
            other => return Err(ctx.err(format!("approximate '{other}' is not one of none, tanh"))),
        },
        _ => ActivationKind::Elu { alpha: ctx.float("alpha", 1.0)? },
    };
    let shape = b.value(x).shape.clone();
    b.push(ctx, Op::Activation(Activation { kind }), vec![x], shape)
}

/// `Clip`'s bounds: attributes before opset 11, optional constant inputs 1 and 2 after.
fn clip_bounds(b: &Builder, ctx: &NodeCtx) -> Result<ActivationKind> {
    let (min, max) = if b.opset < 11 {
        (ctx.float("min", f32::NEG_INFINITY)?, ctx.float("max", f32::INFINITY)?)
    } else {
        let bound = |i: usize, default: f32| -> Result<f32> {
            match b.input(ctx, i)? {
                None => Ok(default),
                Some(_) => match b.constant(ctx, i)?.to_f32()[..] {
                    [v] => Ok(v),
                    ref v => Err(ctx.err(format!("input {i} holds {} values; Clip needs a scalar bound", v.len()))),
                },
            }
        };
        (bound(1, f32::NEG_INFINITY)?, bound(2, f32::INFINITY)?)
    };
    if min > max {
        return Err(ctx.err(format!("min {min} is above max {max}")));
    }
    Ok(ActivationKind::Clip { min, max })
}

fn softmax(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    let log = ctx.op() == "LogSoftmax";
    let x = b.dynamic(ctx, 0)?;
    let s = b.value(x).shape.clone();
    let legacy = b.opset < 13;
    let axis = normalize_axis(ctx, ctx.int("axis", if legacy { 1 } else { -1 })?, s.len())?;
    let outer = s[..axis].iter().product();
    let op = if legacy {
        Softmax { outer, len: s[axis..].iter().product(), inner: 1, log }
    } else {
        Softmax { outer, len: s[axis], inner: s[axis + 1..].iter().product(), log }
    };
    b.push(ctx, Op::Softmax(op), vec![x], s)
}

fn binary(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    let syms = [b.required(ctx, 0)?, b.required(ctx, 1)?];
    let kind = match ctx.op() {
        "Add" => BinaryKind::Add,
        "Sub" => BinaryKind::Sub,
        "Mul" => BinaryKind::Mul,
        "PRelu" => BinaryKind::PRelu,
        _ => BinaryKind::Div,
    };
    if let [Sym::Const(x), Sym::Const(y)] = syms {
        broadcast_shape(ctx, &shape_of_sym(b, syms[0]), &shape_of_sym(b, syms[1]))?;
        let f = move |a: f64, c: f64| match kind {
            BinaryKind::Add => a + c,
            BinaryKind::Sub => a - c,
            BinaryKind::Mul => a * c,
            BinaryKind::Div => a / c,
            BinaryKind::PRelu if a > 0.0 => a,
            BinaryKind::PRelu => c * a,
        };
        let folded =
            fold_binary(b.const_of(x), b.const_of(y), f).ok_or_else(|| ctx.err("cannot broadcast constants"))?;
        let name = b.out_name(ctx)?.to_string();
        b.define_const(&name, folded);
        return Ok(());
    }
    let mut sides = [Side::Value(0); 2];
    for side in 0..2 {
        sides[side] = match syms[side] {
            Sym::Value(v) => Side::Value(v),
            Sym::Const(c) => {
                // The bias of a dense or convolution layer is the Add right after it (tf2onnx
                // writes Dense as MatMul + Add); other constants are not parameters.
                // PRelu's slope is a parameter of its own layer.
                let role = match syms[1 - side] {
                    Sym::Value(v)
                        if kind == BinaryKind::Add && matches!(b.producer_op(v), Some("MatMul" | "Gemm" | "Conv")) =>
                    {
                        Role::Trainable { layer: b.producer_node(v).unwrap_or(0) }
                    }
                    _ if kind == BinaryKind::PRelu && side == 1 => Role::Trainable { layer: b.next_node() },
                    _ => Role::Constant,
                };
                Side::Tensor(b.tensor_from_const(c, role))
            }
        };
    }
    push_binary(b, ctx, None, kind, sides).map(|_| ())
}

/// The numpy broadcast of shapes `a` and `b`, within the values a sample may hold.
fn broadcast_shape(ctx: &NodeCtx, a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let out = broadcast(a, b).ok_or_else(|| ctx.err(format!("cannot broadcast shapes {a:?} and {b:?}")))?;
    if element_count(&out).is_none() {
        return Err(ctx.err(format!("broadcasting {a:?} and {b:?} gives more than {MAX_ELEMENTS} values")));
    }
    Ok(out)
}

/// One operand of a [`push_binary`] node.
#[derive(Debug, Clone, Copy)]
enum Side {
    Value(ValueId),
    Tensor(TensorId),
}

/// Pushes a broadcast [`Binary`] node over two operands as the node's output (`step` = `None`)
/// or as its intermediate value `step`.
fn push_binary(
    b: &mut Builder,
    ctx: &NodeCtx,
    step: Option<&str>,
    kind: BinaryKind,
    sides: [Side; 2],
) -> Result<ValueId> {
    let shapes = sides.map(|s| match s {
        Side::Value(v) => b.value(v).shape.clone(),
        Side::Tensor(t) => b.tensor_shape(t).to_vec(),
    });
    let out = broadcast_shape(ctx, &shapes[0], &shapes[1])?;
    let mut inputs = Vec::new();
    let operands = sides.map(|s| match s {
        Side::Value(v) => {
            inputs.push(v);
            Operand::Input(inputs.len() - 1)
        }
        Side::Tensor(t) => Operand::Tensor(t),
    });
    let maps = [gather_map(&shapes[0], &out), gather_map(&shapes[1], &out)];
    let op = Binary { kind, operands, maps, out_len: out.iter().product() };
    b.push_value(ctx, step, Op::Binary(op), inputs, out)
}

/// `LayerNormalization` (opset 17; PyTorch's `nn.LayerNorm`) over the axes from `axis` on, run as
/// mean, difference, variance, `√(var + ε)`, quotient, then the learned scale and bias (parameters
/// of this layer): the same nodes as the graph torch.onnx writes below opset 17.
fn layer_norm(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    if ctx.node.output.iter().skip(1).any(|o| !o.is_empty()) {
        return Err(ctx.err("the Mean and InvStdDev outputs of LayerNormalization are not supported"));
    }
    let x = b.dynamic(ctx, 0)?;
    let s = b.value(x).shape.clone();
    let axis = normalize_axis(ctx, ctx.int("axis", -1)?, s.len())?;
    if axis == 0 {
        return Err(ctx.err("normalizing over the batch axis would mix the samples of a batch"));
    }
    let (c, h) = (s[..axis].iter().product(), s[axis..].iter().product());
    let mut reduced = s[..axis].to_vec();
    reduced.extend(std::iter::repeat_n(1, s.len() - axis));
    let layer = b.next_node();
    let scale = b.weight(ctx, 1, Role::Trainable { layer })?;
    let bias = match b.input(ctx, 2)? {
        None => None,
        Some(_) => Some(b.weight(ctx, 2, Role::Trainable { layer })?),
    };
    for t in std::iter::once(scale).chain(bias) {
        if broadcast(b.tensor_shape(t), &s).as_deref() != Some(&s[..]) {
            return Err(ctx.err(format!("scale/bias of shape {:?} do not fit the input {s:?}", b.tensor_shape(t))));
        }
    }
    let eps = b.scalar(ctx, "epsilon", ctx.float("epsilon", 1e-5)?)?;
    let mean = b.push_value(ctx, Some("mean"), Op::Pool(mean_over(c, h)), vec![x], reduced.clone())?;
    let d = push_binary(b, ctx, Some("centered"), BinaryKind::Sub, [Side::Value(x), Side::Value(mean)])?;
    let sq = push_binary(b, ctx, Some("squared"), BinaryKind::Mul, [Side::Value(d), Side::Value(d)])?;
    let var = b.push_value(ctx, Some("variance"), Op::Pool(mean_over(c, h)), vec![sq], reduced)?;
    let ve = push_binary(b, ctx, Some("variance+eps"), BinaryKind::Add, [Side::Value(var), Side::Tensor(eps)])?;
    let sqrt = Op::Activation(Activation { kind: ActivationKind::Sqrt });
    let sd = b.push_value(ctx, Some("std"), sqrt, vec![ve], b.value(ve).shape.clone())?;
    let norm = push_binary(b, ctx, Some("normalized"), BinaryKind::Div, [Side::Value(d), Side::Value(sd)])?;
    match bias {
        None => push_binary(b, ctx, None, BinaryKind::Mul, [Side::Value(norm), Side::Tensor(scale)]),
        Some(bias) => {
            let scaled =
                push_binary(b, ctx, Some("scaled"), BinaryKind::Mul, [Side::Value(norm), Side::Tensor(scale)])?;
            push_binary(b, ctx, None, BinaryKind::Add, [Side::Value(scaled), Side::Tensor(bias)])
        }
    }
    .map(|_| ())
}

/// Integer list from an attribute (older opsets) or a constant input (newer ones).
fn axes(b: &Builder, ctx: &NodeCtx, attr_until: i64, input: usize) -> Result<Option<Vec<i64>>> {
    if b.opset < attr_until {
        return ctx.ints("axes");
    }
    match b.input(ctx, input)? {
        None => Ok(None),
        Some(_) => {
            let c = b.constant(ctx, input)?;
            Ok(Some(c.as_i64().ok_or_else(|| ctx.err("axes must be int64"))?.to_vec()))
        }
    }
}

fn reshape_like(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    let src = b.required(ctx, 0)?;
    let s = shape_of_sym(b, src);
    let is_value = matches!(src, Sym::Value(_));
    let shape = match ctx.op() {
        "Identity" | "Dropout" => s.clone(),
        "Flatten" => {
            let axis = ctx.int("axis", 1)?;
            let axis = if axis == s.len() as i64 { s.len() } else { normalize_axis(ctx, axis, s.len())? };
            vec![s[..axis].iter().product(), s[axis..].iter().product()]
        }
        "Reshape" => {
            let target = b.constant(ctx, 1)?.as_i64().ok_or_else(|| ctx.err("the shape input must be int64"))?.to_vec();
            reshape_target(ctx, &s, &target, ctx.int("allowzero", 0)? != 0)?
        }
        "Squeeze" => {
            let rank = s.len();
            match axes(b, ctx, 13, 1)? {
                Some(axes) => {
                    let axes = axes.iter().map(|&a| normalize_axis(ctx, a, rank)).collect::<Result<Vec<_>>>()?;
                    if let Some(&a) = axes.iter().find(|&&a| s[a] != 1) {
                        return Err(ctx.err(format!("cannot squeeze axis {a} of shape {s:?}: its size is not 1")));
                    }
                    s.iter().enumerate().filter(|(i, _)| !axes.contains(i)).map(|(_, &d)| d).collect()
                }
                // Without axes every size-1 axis goes, except the batch axis of a sample.
                None => {
                    s.iter().enumerate().filter(|&(i, &d)| d != 1 || (i == 0 && is_value)).map(|(_, &d)| d).collect()
                }
            }
        }
        _ => {
            let axes = axes(b, ctx, 13, 1)?.ok_or_else(|| ctx.err("missing axes"))?;
            let rank = s.len() + axes.len();
            let mut axes = axes.iter().map(|&a| normalize_axis(ctx, a, rank)).collect::<Result<Vec<_>>>()?;
            axes.sort_unstable();
            let mut out = s.clone();
            for a in axes {
                out.insert(a.min(out.len()), 1);
            }
            out
        }
    };
    let name = b.out_name(ctx)?.to_string();
    match src {
        Sym::Value(v) => b.alias(ctx, &name, v, shape),
        Sym::Const(c) => {
            let t = ConstTensor { shape, data: b.const_of(c).data.clone() };
            b.define_const(&name, t);
            Ok(())
        }
    }
}

fn reshape_target(ctx: &NodeCtx, s: &[usize], target: &[i64], allowzero: bool) -> Result<Vec<usize>> {
    let total: usize = s.iter().product();
    let mut out = Vec::with_capacity(target.len());
    let mut infer = None;
    for (i, &d) in target.iter().enumerate() {
        match d {
            -1 if infer.is_none() => {
                infer = Some(i);
                out.push(1);
            }
            0 if !allowzero => out.push(
                *s.get(i).ok_or_else(|| ctx.err(format!("shape {target:?} copies axis {i}, which {s:?} lacks")))?,
            ),
            d if d >= 0 => out.push(d as usize),
            _ => return Err(ctx.err(format!("invalid target shape {target:?}"))),
        }
    }
    let known: usize = out.iter().product();
    if let Some(i) = infer {
        if known == 0 || total % known != 0 {
            return Err(ctx.err(format!("cannot reshape {s:?} into {target:?}")));
        }
        out[i] = total / known;
    }
    if out.iter().product::<usize>() != total {
        return Err(ctx.err(format!(
            "cannot reshape {s:?} ({total} elements per sample) into {target:?}; a fixed batch size in the target shape is not supported"
        )));
    }
    Ok(out)
}

fn transpose(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    let src = b.required(ctx, 0)?;
    let s = shape_of_sym(b, src);
    let perm: Vec<usize> = match ctx.ints("perm")? {
        Some(p) => p.iter().map(|&a| normalize_axis(ctx, a, s.len())).collect::<Result<_>>()?,
        None => (0..s.len()).rev().collect(),
    };
    let mut sorted = perm.clone();
    sorted.sort_unstable();
    if sorted != (0..s.len()).collect::<Vec<_>>() {
        return Err(ctx.err(format!("perm {perm:?} is not a permutation of the {} axes", s.len())));
    }
    let out: Vec<usize> = perm.iter().map(|&p| s[p]).collect();
    let op = Remap::transpose(&s, &perm);
    match src {
        Sym::Value(v) => b.push(ctx, Op::Remap(op), vec![v], out),
        Sym::Const(c) => {
            let data = match &b.const_of(c).data {
                ConstData::F32(v) => ConstData::F32(op.map.iter().map(|&i| v[i as usize]).collect()),
                ConstData::I64(v) => ConstData::I64(op.map.iter().map(|&i| v[i as usize]).collect()),
            };
            let name = b.out_name(ctx)?.to_string();
            b.define_const(&name, ConstTensor { shape: out, data });
            Ok(())
        }
    }
}

fn constant(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    let t = if let Some(t) = ctx.tensor("value")? {
        decode(t, &format!("the value of Constant '{}'", ctx.name))?
    } else if ctx.has("value_float") {
        ConstTensor { shape: vec![], data: ConstData::F32(vec![ctx.float("value_float", 0.0)?]) }
    } else if let Some(v) = ctx.floats("value_floats")? {
        ConstTensor { shape: vec![v.len()], data: ConstData::F32(v) }
    } else if ctx.has("value_int") {
        ConstTensor { shape: vec![], data: ConstData::I64(vec![ctx.int("value_int", 0)?]) }
    } else if let Some(v) = ctx.ints("value_ints")? {
        ConstTensor { shape: vec![v.len()], data: ConstData::I64(v) }
    } else {
        return Err(ctx.err("Constant without a value, value_float(s) or value_int(s) attribute"));
    };
    let name = b.out_name(ctx)?.to_string();
    b.define_const(&name, t);
    Ok(())
}

fn shape_of(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    let s = shape_of_sym(b, b.required(ctx, 0)?);
    let rank = s.len() as i64;
    let clamp = |v: i64| (if v < 0 { v + rank } else { v }).clamp(0, rank) as usize;
    let (start, end) = (clamp(ctx.int("start", 0)?), clamp(ctx.int("end", rank)?));
    let dims: Vec<i64> = s[start..end.max(start)].iter().map(|&d| d as i64).collect();
    let name = b.out_name(ctx)?.to_string();
    b.define_const(&name, ConstTensor { shape: vec![dims.len()], data: ConstData::I64(dims) });
    Ok(())
}

fn gather(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    let data = b.constant(ctx, 0)?.clone();
    let idx = b.constant(ctx, 1)?.as_i64().ok_or_else(|| ctx.err("indices must be integers"))?.to_vec();
    let idx_shape = b.constant(ctx, 1)?.shape.clone();
    let axis = normalize_axis(ctx, ctx.int("axis", 0)?, data.shape.len())?;
    let dim = data.shape[axis] as i64;
    let outer: usize = data.shape[..axis].iter().product();
    let inner: usize = data.shape[axis + 1..].iter().product();
    if element_count(&[outer, idx.len(), inner]).is_none() {
        return Err(ctx.err(format!("gathering {} indices gives more than {MAX_ELEMENTS} values", idx.len())));
    }
    let mut picks = Vec::with_capacity(outer * idx.len() * inner);
    for o in 0..outer {
        for &i in &idx {
            let i = if i < 0 { i + dim } else { i };
            if i < 0 || i >= dim {
                return Err(ctx.err(format!("index {i} is out of range for axis {axis} of size {dim}")));
            }
            picks.extend((0..inner).map(|j| (o * dim as usize + i as usize) * inner + j));
        }
    }
    let mut shape = data.shape[..axis].to_vec();
    shape.extend(&idx_shape);
    shape.extend(&data.shape[axis + 1..]);
    let out = match &data.data {
        ConstData::F32(v) => ConstData::F32(picks.iter().map(|&p| v[p]).collect()),
        ConstData::I64(v) => ConstData::I64(picks.iter().map(|&p| v[p]).collect()),
    };
    let name = b.out_name(ctx)?.to_string();
    b.define_const(&name, ConstTensor { shape, data: out });
    Ok(())
}

/// `Pad` in constant mode (ZeroPadding2D, `nn.ZeroPad2d`) of a computed value: pads from the
/// attribute (opset < 11) or the constant input 1, the fill from the attribute `value` or the
/// constant input 2, optionally on the `axes` of input 3 (opset 18). Not the batch axis.
fn pad(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    let x = b.dynamic(ctx, 0)?;
    let shape = b.value(x).shape.clone();
    let rank = shape.len();
    let mode = ctx.string("mode", "constant")?;
    if mode != "constant" {
        return Err(ctx.err(format!("mode '{mode}' is not supported; only constant padding is")));
    }
    let (pads, fill) = if b.opset < 11 {
        (ctx.ints("pads")?.unwrap_or_default(), ctx.float("value", 0.0)?)
    } else {
        let pads = b.constant(ctx, 1)?.as_i64().map(<[i64]>::to_vec).ok_or_else(|| ctx.err("pads must be int64"))?;
        let fill = match b.input(ctx, 2)? {
            None => 0.0,
            Some(_) => match b.constant(ctx, 2)?.to_f32()[..] {
                [] => 0.0,
                [v] => v,
                ref v => return Err(ctx.err(format!("constant_value holds {} values; expected one", v.len()))),
            },
        };
        (pads, fill)
    };
    let axes: Vec<usize> = match b.input(ctx, 3)? {
        None => (0..rank).collect(),
        Some(_) => {
            let axes =
                b.constant(ctx, 3)?.as_i64().map(<[i64]>::to_vec).ok_or_else(|| ctx.err("axes must be int64"))?;
            axes.iter().map(|&a| normalize_axis(ctx, a, rank)).collect::<Result<_>>()?
        }
    };
    if pads.len() != 2 * axes.len() {
        return Err(ctx.err(format!("{} pads for {} axes; expected two per axis", pads.len(), axes.len())));
    }
    let (mut begin, mut end) = (vec![0usize; rank], vec![0usize; rank]);
    for (k, &axis) in axes.iter().enumerate() {
        let (lo, hi) = (pads[k], pads[k + axes.len()]);
        if lo < 0 || hi < 0 {
            return Err(ctx.err(format!("negative pads {pads:?} (cropping) are not supported")));
        }
        if axis == 0 && (lo, hi) != (0, 0) {
            return Err(ctx.err("padding the batch axis is not supported"));
        }
        (begin[axis], end[axis]) = (lo as usize, hi as usize);
    }
    let out: Vec<usize> = (0..rank).map(|d| begin[d].saturating_add(shape[d]).saturating_add(end[d])).collect();
    if element_count(&out).is_none() {
        return Err(ctx.err(format!("the padded shape {out:?} exceeds {MAX_ELEMENTS} values")));
    }
    b.push(ctx, Op::Remap(Remap::pad(&shape, &begin, &end, fill)), vec![x], out)
}

/// `Concat`: of constants, folded to a constant (shape arithmetic); of two computed values (a
/// DenseNet or U-Net join), a [`Remap`].
fn concat(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    let syms: Vec<Sym> = (0..ctx.node.input.len()).map(|i| b.required(ctx, i)).collect::<Result<_>>()?;
    if syms.iter().any(|s| matches!(s, Sym::Value(_))) {
        let [Sym::Value(x), Sym::Value(y)] = syms[..] else {
            return Err(ctx.err(format!(
                "wbound concatenates computed values two at a time; this Concat has {} inputs, {} of them computed \
                 (export a chain of two-input Concats)",
                syms.len(),
                syms.iter().filter(|s| matches!(s, Sym::Value(_))).count()
            )));
        };
        let (sx, sy) = (b.value(x).shape.clone(), b.value(y).shape.clone());
        let axis = normalize_axis(ctx, ctx.int("axis", 0)?, sx.len())?;
        if axis == 0 || sx.len() != sy.len() || sx[..axis] != sy[..axis] || sx[axis + 1..] != sy[axis + 1..] {
            return Err(ctx.err(format!("cannot concatenate shapes {sx:?} and {sy:?} on axis {axis}")));
        }
        let mut out = sx.clone();
        out[axis] += sy[axis];
        return b.push(ctx, Op::Remap(Remap::concat(&sx, &sy, axis)), vec![x, y], out);
    }
    let parts: Vec<ConstTensor> =
        (0..ctx.node.input.len()).map(|i| b.constant(ctx, i).cloned()).collect::<Result<_>>()?;
    let first = parts.first().ok_or_else(|| ctx.err("Concat without inputs"))?;
    let axis = normalize_axis(ctx, ctx.int("axis", 0)?, first.shape.len())?;
    let outer: usize = first.shape[..axis].iter().product();
    let mut shape = first.shape.clone();
    shape[axis] = 0;
    for p in &parts {
        if p.shape.len() != first.shape.len()
            || p.shape[..axis] != first.shape[..axis]
            || p.shape[axis + 1..] != first.shape[axis + 1..]
        {
            return Err(
                ctx.err(format!("cannot concatenate shapes {:?} and {:?} on axis {axis}", first.shape, p.shape))
            );
        }
        shape[axis] += p.shape[axis];
    }
    let ints = parts.iter().all(|p| p.as_i64().is_some());
    let chunk = |p: &ConstTensor| p.len() / outer.max(1);
    let data = if ints {
        let mut v = Vec::new();
        for o in 0..outer {
            for p in &parts {
                let c = chunk(p);
                v.extend_from_slice(&p.as_i64().unwrap_or(&[])[o * c..(o + 1) * c]);
            }
        }
        ConstData::I64(v)
    } else {
        let mut v = Vec::new();
        for o in 0..outer {
            for p in &parts {
                let c = chunk(p);
                v.extend_from_slice(&p.to_f32()[o * c..(o + 1) * c]);
            }
        }
        ConstData::F32(v)
    };
    let name = b.out_name(ctx)?.to_string();
    b.define_const(&name, ConstTensor { shape, data });
    Ok(())
}

fn cast(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    let to = ctx.int("to", 0)? as i32;
    let name = b.out_name(ctx)?.to_string();
    match b.required(ctx, 0)? {
        Sym::Value(v) if to == super::proto::data_type::FLOAT => {
            let shape = b.value(v).shape.clone();
            b.alias(ctx, &name, v, shape)
        }
        Sym::Value(_) => Err(ctx.err(format!("casting the data to element type {to} is not supported (only float32)"))),
        Sym::Const(c) => {
            let t = b.const_of(c);
            let data = match to {
                super::proto::data_type::FLOAT | super::proto::data_type::DOUBLE => ConstData::F32(t.to_f32()),
                super::proto::data_type::INT64 | super::proto::data_type::INT32 => match &t.data {
                    ConstData::I64(v) => ConstData::I64(v.clone()),
                    ConstData::F32(v) => ConstData::I64(v.iter().map(|&x| x as i64).collect()),
                },
                other => return Err(ctx.err(format!("cast of a constant to element type {other} is not supported"))),
            };
            let shape = t.shape.clone();
            b.define_const(&name, ConstTensor { shape, data });
            Ok(())
        }
    }
}
