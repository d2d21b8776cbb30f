//! Element-wise activations and unary math (one [`ActivationKind`] each), `Clip`, `Pow` by a
//! constant exponent, and `Softmax` / `LogSoftmax` over any axis but the batch axis.

use super::super::attr::NodeCtx;
use super::super::builder::Builder;
use super::super::shapes::normalize_axis;
use super::Importer;
use crate::error::Result;
use crate::ops::{Activation, ActivationKind as K, Op, Softmax};

pub(super) const OPS: &[(&str, Importer)] = &[
    ("Relu", |b, c| unary(b, c, K::Relu)),
    ("LeakyRelu", |b, c| {
        let alpha = c.float("alpha", 0.01)?;
        unary(b, c, K::LeakyRelu { alpha })
    }),
    ("Sigmoid", |b, c| unary(b, c, K::Sigmoid)),
    ("Tanh", |b, c| unary(b, c, K::Tanh)),
    ("Elu", |b, c| {
        let alpha = c.float("alpha", 1.0)?;
        unary(b, c, K::Elu { alpha })
    }),
    ("Selu", |b, c| {
        let (alpha, gamma) = (c.float("alpha", 1.673_263_2)?, c.float("gamma", 1.050_701)?);
        unary(b, c, K::Selu { alpha, gamma })
    }),
    ("Clip", clip),
    ("Softplus", |b, c| unary(b, c, K::Softplus)),
    ("Softsign", |b, c| unary(b, c, K::Softsign)),
    ("HardSigmoid", |b, c| {
        let (alpha, beta) = (c.float("alpha", 0.2)?, c.float("beta", 0.5)?);
        unary(b, c, K::HardSigmoid { alpha, beta })
    }),
    ("HardSwish", |b, c| unary(b, c, K::HardSwish)),
    ("Erf", |b, c| unary(b, c, K::Erf)),
    ("Gelu", |b, c| match c.string("approximate", "none")?.as_str() {
        "none" => unary(b, c, K::Gelu { tanh: false }),
        "tanh" => unary(b, c, K::Gelu { tanh: true }),
        other => Err(c.err(format!("approximate '{other}' is not one of none, tanh"))),
    }),
    ("Sqrt", |b, c| unary(b, c, K::Sqrt)),
    ("Pow", pow),
    ("Exp", |b, c| unary(b, c, K::Exp)),
    ("Log", |b, c| unary(b, c, K::Log)),
    ("Neg", |b, c| unary(b, c, K::Neg)),
    ("Abs", |b, c| unary(b, c, K::Abs)),
    ("Reciprocal", |b, c| unary(b, c, K::Reciprocal)),
    ("Sin", |b, c| unary(b, c, K::Sin)),
    ("Cos", |b, c| unary(b, c, K::Cos)),
    ("Softmax", |b, c| softmax(b, c, false)),
    ("LogSoftmax", |b, c| softmax(b, c, true)),
];

/// `kind` applied to input 0 (folded by the driver when the input is a constant).
fn unary(b: &mut Builder, ctx: &NodeCtx, kind: K) -> Result<()> {
    let x = b.value(ctx, 0)?;
    let shape = b.value_info(x).shape.clone();
    b.push(ctx, Op::Activation(Activation { kind }), vec![x], shape).map(|_| ())
}

/// `Pow` by a constant scalar exponent.
fn pow(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    match b.constant(ctx, 1)?.to_f32()[..] {
        [exponent] => unary(b, ctx, K::Pow { exponent }),
        ref v => Err(ctx.err(format!("the exponent holds {} values; wbound takes one constant exponent", v.len()))),
    }
}

/// `Clip`'s bounds: attributes before opset 11, optional constant inputs 1 and 2 after.
fn clip(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
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
    unary(b, ctx, K::Clip { min, max })
}

fn softmax(b: &mut Builder, ctx: &NodeCtx, log: bool) -> Result<()> {
    let x = b.value(ctx, 0)?;
    let s = b.value_info(x).shape.clone();
    let legacy = b.opset < 13;
    let axis = normalize_axis(ctx, ctx.int("axis", if legacy { 1 } else { -1 })?, s.len())?;
    let outer = s[..axis].iter().product();
    let op = if legacy {
        b.refuse_batch_axis(ctx, x, &(axis..s.len()).collect::<Vec<_>>(), "a softmax over")?;
        Softmax { outer, len: s[axis..].iter().product(), inner: 1, log }
    } else {
        b.refuse_batch_axis(ctx, x, &[axis], "a softmax over")?;
        Softmax { outer, len: s[axis], inner: s[axis + 1..].iter().product(), log }
    };
    b.push(ctx, Op::Softmax(op), vec![x], s).map(|_| ())
}
