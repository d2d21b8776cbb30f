//! Data movement, each one [`Remap`] resolved at import from the shapes and the constant
//! operands: `Transpose`, `Pad` (constant, reflect, edge), `Concat` of any number of inputs,
//! `Slice`, `Split`, `Gather` with constant indices, `GatherElements`, `Expand`, `Tile`, `Where`
//! with a constant condition, `ScatterND`, `Trilu`; `CumSum` of constants. On constants they fold
//! (integers stay exact); a `Gather` from a weight tensor is an embedding lookup.

use super::super::attr::NodeCtx;
use super::super::builder::{element_count, Builder, Sym, MAX_ELEMENTS};
use super::super::shapes::{broadcast_shape, gather_map, normalize_axis};
use super::super::tensor::{ConstData, ConstTensor};
use super::Importer;
use crate::error::Result;
use crate::ops::remap::{each_index, strides, MAX_INPUTS};
use crate::ops::{Embedding, Entry, Indices, Op, Remap};
use crate::tensor::{Reason, Role};

pub(super) const OPS: &[(&str, Importer)] = &[
    ("Transpose", transpose),
    ("Pad", pad),
    ("Concat", concat),
    ("Slice", slice),
    ("Split", split),
    ("Gather", gather),
    ("GatherElements", gather_elements),
    ("Expand", expand),
    ("Tile", tile),
    ("Where", where_),
    ("ScatterND", scatter_nd),
    ("Trilu", trilu),
    ("CumSum", cumsum),
];

/// Checks an output shape against the values a sample may hold.
fn bounded(ctx: &NodeCtx, shape: &[usize]) -> Result<()> {
    if element_count(shape).is_none() {
        return Err(ctx.err(format!("the output shape {shape:?} exceeds {MAX_ELEMENTS} values")));
    }
    Ok(())
}

/// The batch axis of input `s` when it is a value.
fn batch_of(b: &Builder, s: Sym) -> Option<usize> {
    match s {
        Sym::Value(v) => b.batch(v),
        Sym::Const(_) => None,
    }
}

/// Refuses `what` along `axis` of `s` when that is its batch axis.
fn not_batch(b: &Builder, ctx: &NodeCtx, s: Sym, axes: &[usize], what: &str) -> Result<()> {
    match s {
        Sym::Value(v) => b.refuse_batch_axis(ctx, v, axes, what),
        Sym::Const(_) => Ok(()),
    }
}

/// Pushes `remap` of `inputs` as the node's output `k`, with batch axis `batch`.
fn emit(
    b: &mut Builder,
    ctx: &NodeCtx,
    k: usize,
    remap: Remap,
    inputs: &[Sym],
    shape: Vec<usize>,
    batch: Option<usize>,
) -> Result<()> {
    bounded(ctx, &shape)?;
    if let Some(v) = b.remap(ctx, k, remap, inputs, shape)? {
        b.set_batch(v, batch);
    }
    Ok(())
}

fn transpose(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    let src = b.required(ctx, 0)?;
    let s = b.shape(src);
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
    let batch = batch_of(b, src).and_then(|ax| perm.iter().position(|&p| p == ax));
    emit(b, ctx, 0, Remap::transpose(&s, &perm), &[src], out, batch)
}

/// `Pad`: pads from the attribute (opset < 11) or constant input 1, the fill from the attribute
/// `value` or constant input 2, optionally on the `axes` of input 3 (opset 18); negative pads crop.
fn pad(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    let src = b.required(ctx, 0)?;
    let shape = b.shape(src);
    let rank = shape.len();
    let mode = ctx.string("mode", "constant")?;
    let (pads, fill) = if b.opset < 11 {
        (ctx.ints("pads")?.unwrap_or_default(), ctx.float("value", 0.0)?)
    } else {
        let pads = b.ints(ctx, 1)?;
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
    let axes: Vec<usize> = match b.opt_ints(ctx, 3)? {
        None => (0..rank).collect(),
        Some(axes) => axes.iter().map(|&a| normalize_axis(ctx, a, rank)).collect::<Result<_>>()?,
    };
    if pads.len() != 2 * axes.len() {
        return Err(ctx.err(format!("{} pads for {} axes; expected two per axis", pads.len(), axes.len())));
    }
    let (mut begin, mut end) = (vec![0i64; rank], vec![0i64; rank]);
    for (k, &axis) in axes.iter().enumerate() {
        (begin[axis], end[axis]) = (pads[k], pads[k + axes.len()]);
    }
    let padded: Vec<usize> = (0..rank).filter(|&d| begin[d] != 0 || end[d] != 0).collect();
    not_batch(b, ctx, src, &padded, "padding")?;
    let mut out = Vec::with_capacity(rank);
    for d in 0..rank {
        let n = shape[d] as i64 + begin[d] + end[d];
        if n <= 0 || begin[d].abs() > 1 << 28 || end[d].abs() > 1 << 28 {
            return Err(ctx.err(format!("pads {pads:?} leave nothing of shape {shape:?} on axis {d}")));
        }
        out.push(n as usize);
    }
    bounded(ctx, &out)?;
    let st = strides(&shape);
    let mut entries = Vec::with_capacity(out.iter().product());
    let mut bad = None;
    each_index(&out, |idx| {
        let mut index = 0usize;
        for d in 0..rank {
            let (i, n) = (idx[d] as i64 - begin[d], shape[d] as i64);
            let j = match mode.as_str() {
                _ if (0..n).contains(&i) => i,
                "constant" => {
                    entries.push(Entry::Const(fill));
                    return;
                }
                "edge" => i.clamp(0, n - 1),
                "reflect" if n > 1 => {
                    let p = 2 * (n - 1);
                    let r = i.rem_euclid(p);
                    if r < n {
                        r
                    } else {
                        p - r
                    }
                }
                _ => {
                    bad = Some(d);
                    0
                }
            };
            index += j as usize * st[d];
        }
        entries.push(Entry::Input { input: 0, index });
    });
    if let Some(d) = bad {
        return Err(
            ctx.err(format!("mode '{mode}' on axis {d} of shape {shape:?} is not supported (constant, reflect, edge)"))
        );
    }
    let batch = batch_of(b, src);
    emit(b, ctx, 0, Remap::new(entries), &[src], out, batch)
}

/// `Concat` of one or more inputs, values or constants.
fn concat(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    let syms = b.all_inputs(ctx)?;
    if syms.is_empty() {
        return Err(ctx.err("Concat without inputs"));
    }
    if syms.len() > MAX_INPUTS {
        return Err(ctx.err(format!("Concat of {} inputs; wbound joins at most {MAX_INPUTS}", syms.len())));
    }
    let shapes: Vec<Vec<usize>> = syms.iter().map(|&s| b.shape(s)).collect();
    let rank = shapes[0].len();
    let axis = normalize_axis(ctx, ctx.int("axis", 0)?, rank)?;
    for s in &shapes {
        if s.len() != rank || s[..axis] != shapes[0][..axis] || s[axis + 1..] != shapes[0][axis + 1..] {
            return Err(ctx.err(format!("cannot concatenate shapes {:?} and {s:?} on axis {axis}", shapes[0])));
        }
    }
    // Empty parts (a zero-length constant) contribute nothing.
    let keep: Vec<usize> = (0..syms.len()).filter(|&i| shapes[i][axis] > 0).collect();
    let (syms, shapes): (Vec<Sym>, Vec<Vec<usize>>) = keep.iter().map(|&i| (syms[i], shapes[i].clone())).unzip();
    if syms.is_empty() {
        return Err(ctx.err("every input of the Concat is empty"));
    }
    for &s in &syms {
        not_batch(b, ctx, s, &[axis], "concatenating along")?;
    }
    let mut out = shapes[0].clone();
    out[axis] = shapes.iter().map(|s| s[axis]).sum();
    let refs: Vec<&[usize]> = shapes.iter().map(|s| &s[..]).collect();
    let batch = syms.iter().find_map(|&s| batch_of(b, s));
    emit(b, ctx, 0, Remap::concat(&refs, axis), &syms, out, batch)
}

/// `Slice`: starts, ends, axes and steps from attributes (opset < 10) or constant inputs.
fn slice(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    let src = b.required(ctx, 0)?;
    let s = b.shape(src);
    let rank = s.len();
    let (starts, ends, axes, steps) = if b.opset < 10 {
        let starts = ctx.ints("starts")?.ok_or_else(|| ctx.err("missing attribute 'starts'"))?;
        let ends = ctx.ints("ends")?.ok_or_else(|| ctx.err("missing attribute 'ends'"))?;
        (starts, ends, ctx.ints("axes")?, None)
    } else {
        (b.ints(ctx, 1)?, b.ints(ctx, 2)?, b.opt_ints(ctx, 3)?, b.opt_ints(ctx, 4)?)
    };
    let axes = match axes {
        Some(a) => a.iter().map(|&x| normalize_axis(ctx, x, rank)).collect::<Result<Vec<_>>>()?,
        None => (0..starts.len()).collect(),
    };
    let steps = steps.unwrap_or_else(|| vec![1; axes.len()]);
    if starts.len() != axes.len() || ends.len() != axes.len() || steps.len() != axes.len() {
        return Err(ctx.err("starts, ends, axes and steps differ in length"));
    }
    // Per axis: first index and step, and the output length.
    let mut first = vec![0i64; rank];
    let mut step = vec![1i64; rank];
    let mut out = s.clone();
    for (k, &a) in axes.iter().enumerate() {
        let n = s[a] as i64;
        let st = steps[k];
        if st == 0 {
            return Err(ctx.err("a slice step is 0"));
        }
        let norm = |v: i64| if v < 0 { v.saturating_add(n) } else { v };
        let (lo, hi) = if st > 0 { (0, n) } else { (-1, n - 1) };
        let start = norm(starts[k]).clamp(lo, hi);
        let end = norm(ends[k]).clamp(lo, hi);
        let ceil = |span: i64, by: i64| (span.max(0) + by - 1) / by;
        let len = if st > 0 { ceil(end - start, st) } else { ceil(start - end, -st) };
        first[a] = start;
        step[a] = st;
        out[a] = len as usize;
    }
    if out.contains(&0) {
        return Err(ctx.err(format!("the slice of shape {s:?} is empty")));
    }
    let sliced: Vec<usize> = (0..rank).filter(|&d| out[d] != s[d]).collect();
    not_batch(b, ctx, src, &sliced, "slicing")?;
    let stv = strides(&s);
    let mut entries = Vec::with_capacity(out.iter().product());
    each_index(&out, |idx| {
        let index = (0..rank).map(|d| (first[d] + idx[d] as i64 * step[d]) as usize * stv[d]).sum();
        entries.push(Entry::Input { input: 0, index });
    });
    let batch = batch_of(b, src);
    emit(b, ctx, 0, Remap::new(entries), &[src], out, batch)
}

/// `Split` along an axis: sizes from the attribute (opset < 13), constant input 1, or equal parts
/// (`num_outputs` from opset 18, else one per output).
fn split(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    let src = b.required(ctx, 0)?;
    let s = b.shape(src);
    let axis = normalize_axis(ctx, ctx.int("axis", 0)?, s.len())?;
    not_batch(b, ctx, src, &[axis], "splitting")?;
    let outputs = ctx.node.output.len();
    let sizes = match if b.opset < 13 { ctx.ints("split")? } else { b.opt_ints(ctx, 1)? } {
        Some(v) => v,
        None => {
            let n = if ctx.has("num_outputs") { ctx.int("num_outputs", 1)? as usize } else { outputs };
            if n == 0 {
                return Err(ctx.err("Split into 0 parts"));
            }
            let part = s[axis].div_ceil(n);
            (0..n).map(|i| (part.min(s[axis].saturating_sub(i * part))) as i64).collect()
        }
    };
    if sizes.iter().any(|&v| v < 0) || sizes.iter().sum::<i64>() != s[axis] as i64 || sizes.len() < outputs {
        return Err(
            ctx.err(format!("split sizes {sizes:?} do not divide axis {axis} of shape {s:?} into {outputs} parts"))
        );
    }
    let st = strides(&s);
    let mut offset = 0usize;
    for (k, &len) in sizes.iter().enumerate().take(outputs) {
        let len = len as usize;
        if ctx.node.output[k].is_empty() {
            offset += len;
            continue;
        }
        let mut out = s.clone();
        out[axis] = len;
        let mut entries = Vec::with_capacity(out.iter().product());
        each_index(&out, |idx| {
            let index = idx.iter().enumerate().map(|(d, &i)| if d == axis { i + offset } else { i } * st[d]).sum();
            entries.push(Entry::Input { input: 0, index });
        });
        if len == 0 {
            return Err(ctx.err(format!("output {k} of the split is empty")));
        }
        emit(b, ctx, k, Remap::new(entries), &[src], out, batch_of(b, src))?;
        offset += len;
    }
    Ok(())
}

/// `Gather` along `axis`: of a value with constant indices, a [`Remap`]; from a weight tensor
/// along axis 0, an [`Embedding`] lookup (indices from the input, or constant).
fn gather(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    let (data, idx) = (b.required(ctx, 0)?, b.required(ctx, 1)?);
    let ds = b.shape(data);
    if ds.is_empty() {
        return Err(ctx.err("Gather from a scalar"));
    }
    let axis = normalize_axis(ctx, ctx.int("axis", 0)?, ds.len())?;
    let is_shape = b.shape(idx);
    let mut out = ds[..axis].to_vec();
    out.extend(&is_shape);
    out.extend(&ds[axis + 1..]);
    bounded(ctx, &out)?;
    let dim = ds[axis];
    match (data, idx) {
        (Sym::Const(c), _) if axis == 0 && (b.is_param(c) || matches!(idx, Sym::Value(_))) => {
            embedding(b, ctx, c, idx, &ds, out)
        }
        (_, Sym::Value(_)) => Err(ctx.err("a Gather of computed data at computed indices is not supported")),
        (_, Sym::Const(ic)) => {
            let raw = b.const_of(ic).to_i64().ok_or_else(|| ctx.err("indices must be integers"))?;
            let picks = wrap_indices(ctx, &raw, dim, axis)?;
            not_batch(b, ctx, data, &[axis], "gathering along")?;
            let outer: usize = ds[..axis].iter().product();
            let inner: usize = ds[axis + 1..].iter().product();
            let mut entries = Vec::with_capacity(out.iter().product());
            for o in 0..outer {
                for &i in &picks {
                    entries.extend((0..inner).map(|j| Entry::Input { input: 0, index: (o * dim + i) * inner + j }));
                }
            }
            let batch = batch_of(b, data).map(|ax| if ax < axis { ax } else { ax + is_shape.len() - 1 });
            emit(b, ctx, 0, Remap::new(entries), &[data], out, batch)
        }
    }
}

/// Indices wrapped into `0..dim` (negative ones count from the end), or an error naming the first
/// one out of range.
fn wrap_indices(ctx: &NodeCtx, raw: &[i64], dim: usize, axis: usize) -> Result<Vec<usize>> {
    raw.iter()
        .map(|&i| {
            let j = if i < 0 { i + dim as i64 } else { i };
            if j < 0 || j >= dim as i64 {
                Err(ctx.err(format!("index {i} is out of range for axis {axis} of size {dim}")))
            } else {
                Ok(j as usize)
            }
        })
        .collect()
}

/// A lookup of rows of constant `c` (shape `ds`, rows along axis 0).
fn embedding(b: &mut Builder, ctx: &NodeCtx, c: usize, idx: Sym, ds: &[usize], out: Vec<usize>) -> Result<()> {
    if b.const_of(c).as_i64().is_some() {
        return Err(ctx.err("a lookup in an integer table at computed indices is not supported"));
    }
    let rows = ds[0];
    let dim: usize = ds[1..].iter().product();
    let table = b.tensor_for(c, Role::Trainable { layer: b.next_node() }, Reason::LayerWeight);
    let (indices, inputs, positions) = match idx {
        Sym::Value(v) => {
            if !b.is_integer(v) {
                return Err(ctx.err(
                    "the indices of this lookup are computed from float data; wbound looks rows up by token ids from an integer graph input",
                ));
            }
            if b.is_graph_input(v) {
                let name = b.tensors[table].name.clone();
                b.index_tables.push((rows, name));
            }
            (Indices::Input, vec![v], b.value_info(v).len())
        }
        Sym::Const(ic) => {
            let raw = b.const_of(ic).to_i64().ok_or_else(|| ctx.err("indices must be integers"))?;
            let idx: Vec<u32> = wrap_indices(ctx, &raw, rows, 0)?.into_iter().map(|i| i as u32).collect();
            let order = Embedding::order_of(&idx);
            let n = idx.len();
            (Indices::Const { idx, order }, vec![], n)
        }
    };
    if positions == 0 {
        return Err(ctx.err("a lookup of no indices"));
    }
    let batch = match idx {
        Sym::Value(v) => b.batch(v),
        Sym::Const(_) => None,
    };
    let op = Embedding { table, rows, dim, positions, indices };
    let v = b.push(ctx, Op::Embedding(op), inputs, out)?;
    b.set_batch(v, batch);
    Ok(())
}

/// `GatherElements` with constant indices.
fn gather_elements(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    let data = b.required(ctx, 0)?;
    let ds = b.shape(data);
    let axis = normalize_axis(ctx, ctx.int("axis", 0)?, ds.len())?;
    let it = b.constant(ctx, 1)?.clone();
    let raw = it.to_i64().ok_or_else(|| ctx.err("indices must be integers"))?;
    if it.shape.len() != ds.len() {
        return Err(ctx.err(format!("indices of shape {:?} for data of shape {ds:?}", it.shape)));
    }
    not_batch(b, ctx, data, &[axis], "gathering along")?;
    let picks = wrap_indices(ctx, &raw, ds[axis], axis)?;
    let st = strides(&ds);
    let mut entries = Vec::with_capacity(picks.len());
    let mut k = 0;
    let mut bad = false;
    each_index(&it.shape, |idx| {
        let mut index = 0;
        for d in 0..ds.len() {
            let i = if d == axis { picks[k] } else { idx[d] };
            bad |= i >= ds[d];
            index += i.min(ds[d] - 1) * st[d];
        }
        k += 1;
        entries.push(Entry::Input { input: 0, index });
    });
    if bad {
        return Err(ctx.err(format!("indices of shape {:?} reach outside data of shape {ds:?}", it.shape)));
    }
    emit(b, ctx, 0, Remap::new(entries), &[data], it.shape.clone(), batch_of(b, data))
}

/// The entries broadcasting a tensor of shape `src` to `out`.
fn broadcast_entries(src: &[usize], out: &[usize], input: usize) -> Vec<Entry> {
    let n: usize = out.iter().product();
    match gather_map(src, out) {
        None => (0..n).map(|index| Entry::Input { input, index }).collect(),
        Some(map) => map.into_iter().map(|i| Entry::Input { input, index: i as usize }).collect(),
    }
}

fn expand(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    let src = b.required(ctx, 0)?;
    let s = b.shape(src);
    let target = b.ints(ctx, 1)?;
    let target: Vec<usize> = target
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| ctx.err(format!("shape {target:?} has a negative dimension"))))
        .collect::<Result<_>>()?;
    let out = broadcast_shape(ctx, &s, &target)?;
    let batch = batch_of(b, src).map(|ax| ax + out.len() - s.len());
    if out == s {
        // The same shape: a view (still the same parameter when it is one).
        return match src {
            Sym::Value(v) => b.alias(ctx, v, out, batch).map(|_| ()),
            Sym::Const(c) => b.define_view(ctx, c, out),
        };
    }
    if out.iter().product::<usize>() == s.iter().product::<usize>() {
        // Only size-1 axes added in front.
        return match src {
            Sym::Value(v) => b.alias(ctx, v, out, batch).map(|_| ()),
            Sym::Const(c) => b.define_view(ctx, c, out),
        };
    }
    emit(b, ctx, 0, Remap::new(broadcast_entries(&s, &out, 0)), &[src], out, batch)
}

fn tile(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    let src = b.required(ctx, 0)?;
    let s = b.shape(src);
    let reps = b.ints(ctx, 1)?;
    if reps.len() != s.len() || reps.iter().any(|&r| r < 1) {
        return Err(ctx.err(format!("repeats {reps:?} do not fit shape {s:?}")));
    }
    let tiled: Vec<usize> = (0..s.len()).filter(|&d| reps[d] != 1).collect();
    not_batch(b, ctx, src, &tiled, "tiling")?;
    let out: Vec<usize> = s.iter().zip(&reps).map(|(&d, &r)| d.saturating_mul(r as usize)).collect();
    bounded(ctx, &out)?;
    let st = strides(&s);
    let mut entries = Vec::with_capacity(out.iter().product());
    each_index(&out, |idx| {
        let index = idx.iter().enumerate().map(|(d, &i)| (i % s[d]) * st[d]).sum();
        entries.push(Entry::Input { input: 0, index });
    });
    emit(b, ctx, 0, Remap::new(entries), &[src], out, batch_of(b, src))
}

/// `Where(condition, X, Y)` with a constant condition (a mask): each output reads X or Y.
fn where_(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    let cond = match b.required(ctx, 0)? {
        Sym::Const(c) => b.const_of(c).clone(),
        Sym::Value(_) => {
            return Err(ctx.err("a Where whose condition depends on the data is not supported (only constant masks)"))
        }
    };
    let (x, y) = (b.required(ctx, 1)?, b.required(ctx, 2)?);
    let (sx, sy) = (b.shape(x), b.shape(y));
    let out = broadcast_shape(ctx, &broadcast_shape(ctx, &cond.shape, &sx)?, &sy)?;
    let flags = cond.to_f32();
    let (mc, ex, ey) =
        (gather_map(&cond.shape, &out), broadcast_entries(&sx, &out, 0), broadcast_entries(&sy, &out, 1));
    let entries = (0..ex.len()).map(|o| {
        let ci = mc.as_ref().map_or(o, |m| m[o] as usize);
        if flags[ci] != 0.0 {
            ex[o]
        } else {
            ey[o]
        }
    });
    let remap = Remap::new(entries.collect::<Vec<_>>());
    let batch = [x, y].iter().find_map(|&s| batch_of(b, s).map(|ax| ax + out.len() - b.shape(s).len()));
    emit(b, ctx, 0, remap, &[x, y], out, batch)
}

/// `ScatterND(data, indices, updates)` with constant indices (no reduction).
fn scatter_nd(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    if ctx.string("reduction", "none")? != "none" {
        return Err(ctx.err("ScatterND with a reduction is not supported"));
    }
    let (data, upd) = (b.required(ctx, 0)?, b.required(ctx, 2)?);
    let ds = b.shape(data);
    let it = b.constant(ctx, 1)?.clone();
    let raw = it.to_i64().ok_or_else(|| ctx.err("indices must be integers"))?;
    let q = *it.shape.last().ok_or_else(|| ctx.err("indices are a scalar"))?;
    if q == 0 || q > ds.len() {
        return Err(ctx.err(format!("indices of shape {:?} for data of shape {ds:?}", it.shape)));
    }
    let st = strides(&ds);
    let slice: usize = ds[q..].iter().product();
    let n: usize = ds.iter().product();
    let mut entries: Vec<Entry> = (0..n).map(|index| Entry::Input { input: 0, index }).collect();
    for (u, tuple) in raw.chunks_exact(q).enumerate() {
        let mut base = 0;
        for (d, &i) in tuple.iter().enumerate() {
            let j = wrap_indices(ctx, &[i], ds[d], d)?[0];
            base += j * st[d];
        }
        for k in 0..slice {
            entries[base + k] = Entry::Input { input: 1, index: u * slice + k };
        }
    }
    let need = raw.len() / q * slice;
    if b.shape(upd).iter().product::<usize>() != need {
        return Err(ctx.err(format!("updates of shape {:?} do not fit {} indices", b.shape(upd), raw.len() / q)));
    }
    emit(b, ctx, 0, Remap::new(entries), &[data, upd], ds, batch_of(b, data))
}

/// `Trilu`: the upper (or lower) triangle of the last two axes, from diagonal `k`; the rest zero.
fn trilu(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    let src = b.required(ctx, 0)?;
    let s = b.shape(src);
    if s.len() < 2 {
        return Err(ctx.err(format!("input of shape {s:?}; Trilu needs at least 2 axes")));
    }
    let k = match b.opt_ints(ctx, 1)? {
        None => 0,
        Some(v) => *v.first().unwrap_or(&0),
    };
    let upper = ctx.int("upper", 1)? != 0;
    let (r, c) = (s.len() - 2, s.len() - 1);
    let mut entries = Vec::with_capacity(s.iter().product());
    let mut index = 0;
    each_index(&s, |idx| {
        let (i, j) = (idx[r] as i64, idx[c] as i64);
        let keep = if upper { j - i >= k } else { j - i <= k };
        entries.push(if keep { Entry::Input { input: 0, index } } else { Entry::Const(0.0) });
        index += 1;
    });
    emit(b, ctx, 0, Remap::new(entries), &[src], s, batch_of(b, src))
}

/// `CumSum` of a constant (position ids and masks), along a constant axis.
fn cumsum(b: &mut Builder, ctx: &NodeCtx) -> Result<()> {
    let t = match b.required(ctx, 0)? {
        Sym::Const(c) if !b.is_param(c) => b.const_of(c).clone(),
        _ => return Err(ctx.err("CumSum of computed data is not supported (only of constants)")),
    };
    let axis = normalize_axis(ctx, *b.ints(ctx, 1)?.first().unwrap_or(&0), t.shape.len().max(1))?;
    let (exclusive, reverse) = (ctx.int("exclusive", 0)? != 0, ctx.int("reverse", 0)? != 0);
    let shape = if t.shape.is_empty() { vec![1] } else { t.shape.clone() };
    let st = strides(&shape);
    let n = shape[axis];
    let mut order: Vec<Vec<usize>> = Vec::new();
    each_index(&shape, |idx| {
        if idx[axis] == 0 {
            let base: usize = idx.iter().zip(&st).map(|(i, s)| i * s).sum();
            let mut run: Vec<usize> = (0..n).map(|p| base + p * st[axis]).collect();
            if reverse {
                run.reverse();
            }
            order.push(run);
        }
    });
    let data = match &t.data {
        ConstData::I64(v) => ConstData::I64(scan(v, &order, exclusive, 0)),
        ConstData::F32(v) => ConstData::F32(scan(v, &order, exclusive, 0.0)),
    };
    b.define_output(ctx, 0, ConstTensor { shape: t.shape, data })
}

/// Running sums of `v` along each run of positions.
fn scan<T: Copy + std::ops::Add<Output = T>>(v: &[T], runs: &[Vec<usize>], exclusive: bool, zero: T) -> Vec<T> {
    let mut out = v.to_vec();
    for run in runs {
        let mut acc = zero;
        for &p in run {
            let x = v[p];
            if exclusive {
                out[p] = acc;
                acc = acc + x;
            } else {
                acc = acc + x;
                out[p] = acc;
            }
        }
    }
    out
}
