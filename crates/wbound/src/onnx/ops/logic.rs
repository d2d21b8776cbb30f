//! Comparisons, logic and rounding of constants — the mask and shape arithmetic that exporters
//! write (`Equal`, `Where` inputs, `Mod` of positions, `Not` of a mask): folded at import, since
//! every sample shape is fixed. On computed values they have no gradient and are refused.

use super::super::attr::NodeCtx;
use super::super::builder::{Builder, Sym};
use super::super::shapes::{broadcast_shape, fold_binary};
use super::super::tensor::{ConstData, ConstTensor};
use super::Importer;
use crate::error::Result;

pub(super) const OPS: &[(&str, Importer)] = &[
    ("Equal", |b, c| compare(b, c, |x, y| x == y, |x, y| x == y)),
    ("Less", |b, c| compare(b, c, |x, y| x < y, |x, y| x < y)),
    ("LessOrEqual", |b, c| compare(b, c, |x, y| x <= y, |x, y| x <= y)),
    ("Greater", |b, c| compare(b, c, |x, y| x > y, |x, y| x > y)),
    ("GreaterOrEqual", |b, c| compare(b, c, |x, y| x >= y, |x, y| x >= y)),
    ("And", |b, c| compare(b, c, |x, y| x != 0.0 && y != 0.0, |x, y| x != 0 && y != 0)),
    ("Or", |b, c| compare(b, c, |x, y| x != 0.0 || y != 0.0, |x, y| x != 0 || y != 0)),
    ("Xor", |b, c| compare(b, c, |x, y| (x != 0.0) != (y != 0.0), |x, y| (x != 0) != (y != 0))),
    ("Mod", modulo),
    ("BitShift", bitshift),
    ("Not", |b, c| unary(b, c, |x| f64::from(x == 0.0), true)),
    ("IsNaN", |b, c| finite_test(b, c, |x| f64::from(x.is_nan()))),
    ("IsInf", |b, c| finite_test(b, c, |x| f64::from(x.is_infinite()))),
    ("Sign", |b, c| {
        unary(
            b,
            c,
            |x| {
                if x > 0.0 {
                    1.0
                } else if x < 0.0 {
                    -1.0
                } else {
                    0.0
                }
            },
            false,
        )
    }),
    ("Floor", |b, c| unary(b, c, f64::floor, false)),
    ("Ceil", |b, c| unary(b, c, f64::ceil, false)),
    ("Round", |b, c| unary(b, c, |x| x.round_ties_even(), false)),
];

/// Both inputs as constants, or an error saying why a computed one cannot be used.
fn constants(b: &Builder, ctx: &NodeCtx, n: usize) -> Result<Vec<ConstTensor>> {
    (0..n)
        .map(|i| match b.required(ctx, i)? {
            Sym::Const(c) => Ok(b.const_of(c).clone()),
            Sym::Value(_) => Err(ctx.err(format!(
                "input {i} depends on the data; wbound folds {} of constants (shape and mask arithmetic) only",
                ctx.op()
            ))),
        })
        .collect()
}

/// A comparison or logical op (`f` on floats, `fi` on two integer tensors, exactly): booleans,
/// as integers 0 and 1.
fn compare(b: &mut Builder, ctx: &NodeCtx, f: fn(f64, f64) -> bool, fi: fn(i64, i64) -> bool) -> Result<()> {
    let t = constants(b, ctx, 2)?;
    broadcast_shape(ctx, &t[0].shape, &t[1].shape)?;
    let folded = match (&t[0].data, &t[1].data) {
        (ConstData::I64(_), ConstData::I64(_)) => int_fold(&t[0], &t[1], |x, y| i64::from(fi(x, y))),
        _ => fold_binary(&t[0], &t[1], |x, y| f64::from(f(x, y))).map(|r| ConstTensor {
            data: ConstData::I64(r.to_f32().iter().map(|&v| v as i64).collect()),
            shape: r.shape,
        }),
    }
    .ok_or_else(|| ctx.err("cannot broadcast constants"))?;
    b.define_output(ctx, 0, folded)
}

/// Element-wise integer arithmetic on two integer constants, exact.
fn int_fold(a: &ConstTensor, c: &ConstTensor, f: impl Fn(i64, i64) -> i64) -> Option<ConstTensor> {
    let shape = super::super::shapes::broadcast(&a.shape, &c.shape)?;
    let (ma, mc) =
        (super::super::shapes::gather_map(&a.shape, &shape), super::super::shapes::gather_map(&c.shape, &shape));
    let (x, y) = (a.as_i64()?, c.as_i64()?);
    let n: usize = shape.iter().product();
    let at = |m: &Option<Vec<u32>>, i: usize| m.as_ref().map_or(i, |m| m[i] as usize);
    Some(ConstTensor { shape, data: ConstData::I64((0..n).map(|i| f(x[at(&ma, i)], y[at(&mc, i)])).collect()) })
}

/// `Mod` (integer remainder with the divisor's sign, or `fmod = 1`: the dividend's).
fn modulo(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    let t = constants(b, ctx, 2)?;
    let fmod = ctx.int("fmod", 0)? != 0;
    broadcast_shape(ctx, &t[0].shape, &t[1].shape)?;
    let folded = match (&t[0].data, &t[1].data) {
        (ConstData::I64(_), ConstData::I64(_)) => int_fold(&t[0], &t[1], |x, y| match y {
            0 => 0,
            _ if fmod => x % y,
            _ => ((x % y) + y) % y,
        }),
        _ => fold_binary(&t[0], &t[1], |x, y| if fmod { x % y } else { x - y * (x / y).floor() }),
    }
    .ok_or_else(|| ctx.err("cannot broadcast constants"))?;
    b.define_output(ctx, 0, folded)
}

fn bitshift(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    let t = constants(b, ctx, 2)?;
    let left = ctx.string("direction", "")? == "LEFT";
    let folded = int_fold(&t[0], &t[1], |x, y| if left { x.wrapping_shl(y as u32) } else { x.wrapping_shr(y as u32) })
        .ok_or_else(|| ctx.err("BitShift needs two integer constants of broadcastable shapes"))?;
    b.define_output(ctx, 0, folded)
}

/// `IsNaN` / `IsInf`: of a constant, folded; of a computed value, all false — wbound takes computed
/// values to be finite (a NaN or ∞ reaching the logits ends the sample as `non_finite`), which
/// makes the guard `Where(IsNaN(p), 0, p)` that the dynamo exporter writes after a softmax the
/// identity it is for finite scores.
fn finite_test(b: &mut Builder, ctx: &NodeCtx, f: fn(f64) -> f64) -> Result<()> {
    match b.required(ctx, 0)? {
        Sym::Value(v) => {
            let shape = b.value_info(v).shape.clone();
            let n = shape.iter().product();
            b.define_output(ctx, 0, ConstTensor { shape, data: ConstData::I64(vec![0; n]) })
        }
        Sym::Const(_) => unary(b, ctx, f, true),
    }
}

/// A unary op on a constant; `boolean`: the result is 0/1.
fn unary(b: &mut Builder, ctx: &NodeCtx, f: fn(f64) -> f64, boolean: bool) -> Result<()> {
    let t = constants(b, ctx, 1)?.remove(0);
    let data = match &t.data {
        ConstData::I64(v) => ConstData::I64(v.iter().map(|&x| f(x as f64) as i64).collect()),
        ConstData::F32(v) if boolean => ConstData::I64(v.iter().map(|&x| f(f64::from(x)) as i64).collect()),
        ConstData::F32(v) => ConstData::F32(v.iter().map(|&x| f(f64::from(x)) as f32).collect()),
    };
    b.define_output(ctx, 0, ConstTensor { shape: t.shape, data })
}
