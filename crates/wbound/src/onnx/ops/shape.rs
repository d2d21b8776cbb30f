//! Shapes and constants: views (`Reshape`, `Flatten`, `Squeeze`, `Unsqueeze`, `Identity`,
//! `Dropout`, `Cast` between float types), which are new names over the same buffer, and the ops
//! that compute constants because every sample shape is fixed: `Shape`, `Size`, `Constant`,
//! `ConstantOfShape`, `Range`, `Cast` of constants.

use super::super::attr::NodeCtx;
use super::super::builder::{element_count, exporter_name, Builder, Origin, Sym, MAX_ELEMENTS};
use super::super::proto::data_type;
use super::super::shapes::normalize_axis;
use super::super::tensor::{decode, ConstData, ConstTensor};
use super::Importer;
use crate::error::Result;

pub(super) const OPS: &[(&str, Importer)] = &[
    ("Reshape", reshape),
    ("Flatten", flatten),
    ("Squeeze", squeeze),
    ("Unsqueeze", unsqueeze),
    ("Identity", identity),
    ("Dropout", identity),
    ("Cast", cast),
    ("CastLike", cast_like),
    ("Shape", shape_of),
    ("Size", size),
    ("Constant", constant),
    ("ConstantOfShape", constant_of_shape),
    ("Range", range),
];

/// The batch axis of a view of shape `to` of a value of shape `from` whose batch axis is `batch`:
/// the size-1 axis that starts where the batch axis did (the product of the axes before it
/// unchanged), if any.
fn view_batch(from: &[usize], batch: Option<usize>, to: &[usize]) -> Option<usize> {
    let b = batch?;
    let prefix: usize = from[..b].iter().product();
    let mut p = 1usize;
    for (j, &d) in to.iter().enumerate() {
        if p == prefix && d == 1 {
            return Some(j);
        }
        p *= d;
        if p > prefix {
            break;
        }
    }
    None
}

/// Defines the node's output as a view of input 0 with shape `shape`: a new value over the same
/// buffer, or a constant with the same values (the same parameter, when it is one).
fn view(b: &mut Builder, ctx: &NodeCtx, shape: Vec<usize>, batch: Option<Option<usize>>) -> Result<()> {
    match b.required(ctx, 0)? {
        Sym::Value(v) => {
            let from = b.value_info(v).shape.clone();
            let batch = batch.unwrap_or_else(|| view_batch(&from, b.batch(v), &shape));
            b.alias(ctx, v, shape, batch).map(|_| ())
        }
        Sym::Const(c) => b.define_view(ctx, c, shape),
    }
}

/// `Identity` (and `Dropout`): a view — except that an initializer copied under a parameter's name
/// is a parameter of its own. The legacy exporter stores parameters of equal values once and gives
/// the others `Identity` copies (`1.running_mean = Identity(1.bias)` in a fresh model); each copy is
/// the framework's own parameter (or statistic), not a tied one.
fn identity(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    let src = b.required(ctx, 0)?;
    let s = b.shape(src);
    match src {
        Sym::Value(v) => {
            let batch = b.batch(v);
            view(b, ctx, s, Some(batch))
        }
        Sym::Const(c) => {
            let name = b.out_name(ctx)?.to_string();
            let initializer = matches!(b.origin(c), Origin::Initializer | Origin::View(_));
            if ctx.op() == "Identity" && initializer && !exporter_name(&name) {
                let t = b.const_of(c).clone();
                b.define_const(&name, t, Origin::Initializer);
                return Ok(());
            }
            view(b, ctx, s, None)
        }
    }
}

fn reshape(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    let s = b.shape(b.required(ctx, 0)?);
    let target = b.ints(ctx, 1)?;
    let shape = reshape_target(ctx, &s, &target, ctx.int("allowzero", 0)? != 0)?;
    view(b, ctx, shape, None)
}

fn flatten(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    let s = b.shape(b.required(ctx, 0)?);
    let axis = ctx.int("axis", 1)?;
    let axis = if axis == s.len() as i64 { s.len() } else { normalize_axis(ctx, axis, s.len())? };
    view(b, ctx, vec![s[..axis].iter().product(), s[axis..].iter().product()], None)
}

fn squeeze(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    let src = b.required(ctx, 0)?;
    let s = b.shape(src);
    let rank = s.len();
    let batch = match src {
        Sym::Value(v) => b.batch(v),
        Sym::Const(_) => None,
    };
    let axes: Vec<usize> = match b.attr_or_input(ctx, "axes", 13, 1)? {
        Some(axes) => {
            let axes = axes.iter().map(|&a| normalize_axis(ctx, a, rank)).collect::<Result<Vec<_>>>()?;
            if let Some(&a) = axes.iter().find(|&&a| s[a] != 1) {
                return Err(ctx.err(format!("cannot squeeze axis {a} of shape {s:?}: its size is not 1")));
            }
            axes
        }
        // Without axes every size-1 axis goes, except the batch axis of a sample.
        None => (0..rank)
            .filter(|&d| s[d] == 1 && Some(d) != batch && !(d == 0 && batch.is_none() && matches!(src, Sym::Value(_))))
            .collect(),
    };
    let shape = (0..rank).filter(|d| !axes.contains(d)).map(|d| s[d]).collect();
    let nb = batch.and_then(|ax| (!axes.contains(&ax)).then(|| ax - axes.iter().filter(|&&a| a < ax).count()));
    view(b, ctx, shape, Some(nb))
}

fn unsqueeze(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    let src = b.required(ctx, 0)?;
    let s = b.shape(src);
    let axes = b.attr_or_input(ctx, "axes", 13, 1)?.ok_or_else(|| ctx.err("missing axes"))?;
    let rank = s.len() + axes.len();
    let mut axes = axes.iter().map(|&a| normalize_axis(ctx, a, rank)).collect::<Result<Vec<_>>>()?;
    axes.sort_unstable();
    let mut out = s.clone();
    for &a in &axes {
        out.insert(a.min(out.len()), 1);
    }
    let batch = match src {
        Sym::Value(v) => b.batch(v).map(|mut ax| {
            for &a in &axes {
                if a <= ax {
                    ax += 1;
                }
            }
            ax
        }),
        Sym::Const(_) => None,
    };
    view(b, ctx, out, Some(batch))
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
    let known = out.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).unwrap_or(0);
    if let Some(i) = infer {
        if known == 0 || !total.is_multiple_of(known) {
            return Err(ctx.err(format!("cannot reshape {s:?} into {target:?}")));
        }
        out[i] = total / known;
    }
    if out.iter().try_fold(1usize, |a, &d| a.checked_mul(d)) != Some(total) {
        return Err(ctx.err(format!(
            "cannot reshape {s:?} ({total} elements per sample) into {target:?}; a fixed batch size in the target shape is not supported"
        )));
    }
    Ok(out)
}

/// Converts constant data to ONNX element type `to`.
fn cast_data(ctx: &NodeCtx, t: &ConstTensor, to: i32) -> Result<ConstData> {
    Ok(if data_type::is_float(to) {
        ConstData::F32(t.to_f32())
    } else if to == data_type::BOOL {
        ConstData::I64(t.to_f32().iter().map(|&x| i64::from(x != 0.0)).collect())
    } else if data_type::is_integer(to) {
        match &t.data {
            ConstData::I64(v) => ConstData::I64(v.clone()),
            ConstData::F32(v) => ConstData::I64(v.iter().map(|&x| x as i64).collect()),
        }
    } else {
        return Err(ctx.err(format!("cast to element type {to} is not supported")));
    })
}

fn cast(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    let to = ctx.int("to", 0)? as i32;
    cast_to(b, ctx, to)
}

/// `CastLike`: the element type of input 1 (a constant's; a computed value is float).
fn cast_like(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    let to = match b.required(ctx, 1)? {
        Sym::Const(c) if b.const_of(c).as_i64().is_some() => data_type::INT64,
        Sym::Value(v) if b.is_integer(v) => data_type::INT64,
        _ => data_type::FLOAT,
    };
    cast_to(b, ctx, to)
}

fn cast_to(b: &mut Builder, ctx: &NodeCtx, to: i32) -> Result<()> {
    match b.required(ctx, 0)? {
        Sym::Value(v) => {
            // Floats stay floats; integers (token ids) may change width. Rounding computed floats to
            // integers has no gradient.
            if !data_type::is_float(to) && !b.is_integer(v) {
                return Err(ctx.err(format!(
                    "casting computed floats to the integer type {to} is not supported (it has no gradient)"
                )));
            }
            let (shape, batch) = (b.value_info(v).shape.clone(), b.batch(v));
            b.alias(ctx, v, shape, batch).map(|_| ())
        }
        Sym::Const(c) => {
            let t = b.const_of(c).clone();
            if data_type::is_float(to) && matches!(t.data, ConstData::F32(_)) {
                // A float view: still the same parameter.
                return b.define_view(ctx, c, t.shape.clone());
            }
            let data = cast_data(ctx, &t, to)?;
            b.define_output(ctx, 0, ConstTensor { shape: t.shape, data })
        }
    }
}

fn shape_of(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    let s = b.shape(b.required(ctx, 0)?);
    let rank = s.len() as i64;
    let clamp = |v: i64| (if v < 0 { v + rank } else { v }).clamp(0, rank) as usize;
    let (start, end) = (clamp(ctx.int("start", 0)?), clamp(ctx.int("end", rank)?));
    let dims: Vec<i64> = s[start..end.max(start)].iter().map(|&d| d as i64).collect();
    b.define_output(ctx, 0, ConstTensor { shape: vec![dims.len()], data: ConstData::I64(dims) })
}

fn size(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    let n: usize = b.shape(b.required(ctx, 0)?).iter().product();
    b.define_output(ctx, 0, ConstTensor { shape: vec![], data: ConstData::I64(vec![n as i64]) })
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
    b.define_const(&name, t, Origin::Node);
    Ok(())
}

/// A shape given as constant integers, checked against the values a tensor may hold.
fn checked_shape(ctx: &NodeCtx, dims: &[i64]) -> Result<Vec<usize>> {
    let shape: Vec<usize> = dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| ctx.err(format!("shape {dims:?} has a negative dimension"))))
        .collect::<Result<_>>()?;
    if element_count(&shape).is_none() {
        return Err(ctx.err(format!("shape {dims:?} holds more than {MAX_ELEMENTS} values")));
    }
    Ok(shape)
}

fn constant_of_shape(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    let shape = checked_shape(ctx, &b.ints(ctx, 0)?)?;
    let n: usize = shape.iter().product();
    let fill = match ctx.tensor("value")? {
        Some(t) => decode(t, &format!("the value of ConstantOfShape '{}'", ctx.name))?,
        None => ConstTensor { shape: vec![1], data: ConstData::F32(vec![0.0]) },
    };
    let data = match &fill.data {
        ConstData::F32(v) => ConstData::F32(vec![v.first().copied().unwrap_or(0.0); n]),
        ConstData::I64(v) => ConstData::I64(vec![v.first().copied().unwrap_or(0); n]),
    };
    b.define_output(ctx, 0, ConstTensor { shape, data })
}

fn range(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    let parts = [b.constant(ctx, 0)?.clone(), b.constant(ctx, 1)?.clone(), b.constant(ctx, 2)?.clone()];
    if parts.iter().any(|p| p.len() != 1) {
        return Err(ctx.err("start, limit and delta must be scalars"));
    }
    let ints = parts.iter().all(|p| p.as_i64().is_some());
    let [start, limit, delta] = [0, 1, 2].map(|i| f64::from(parts[i].to_f32()[0]));
    let exact = |i: usize| parts[i].as_i64().map_or(0, |v| v[0]);
    if delta == 0.0 {
        return Err(ctx.err("delta is 0"));
    }
    let n = ((limit - start) / delta).ceil().max(0.0);
    if n > MAX_ELEMENTS as f64 {
        return Err(ctx.err(format!("the range holds more than {MAX_ELEMENTS} values")));
    }
    let n = n as usize;
    let data = if ints {
        let (s, d) = (exact(0), exact(2));
        let l = exact(1);
        let ceil = |span: i64, by: i64| (span.max(0).saturating_add(by - 1)) / by;
        let n = if d > 0 { ceil(l.saturating_sub(s), d) } else { ceil(s.saturating_sub(l), -d) };
        if n > MAX_ELEMENTS as i64 {
            return Err(ctx.err(format!("the range holds more than {MAX_ELEMENTS} values")));
        }
        let n = n as usize;
        ConstData::I64((0..n as i64).map(|i| s + i * d).collect())
    } else {
        ConstData::F32((0..n).map(|i| (start + i as f64 * delta) as f32).collect())
    };
    let len = match &data {
        ConstData::F32(v) => v.len(),
        ConstData::I64(v) => v.len(),
    };
    b.define_output(ctx, 0, ConstTensor { shape: vec![len], data })
}
