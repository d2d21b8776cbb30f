//! Recurrent layers: `LSTM` and `GRU` (forward, reverse and bidirectional; ONNX's gate layouts
//! `iofc` and `zrh`; layout 0 and 1; `linear_before_reset` either way), unrolled at import over the
//! fixed sequence length into dense layers, gate slices, sigmoids, tanhs and products — ops the
//! engine already differentiates.
//!
//! `W`, `R` and `B` are parameters: each direction's block of them becomes a tensor of its own
//! (`W[forward]`, `R[reverse]`, `B[forward].input`, …), the same scalars as the ONNX initializers
//! (and as the framework's `weight_ih_l0`, `weight_hh_l0_reverse`, … that the exporter concatenated).
//! The input part `x_t · Wᵀ` is one product over every step; the recurrent part `h_{t−1} · Rᵀ` is
//! one per step, sharing `R` across steps. Without initial states, they start at zero.

use super::super::attr::NodeCtx;
use super::super::builder::{Builder, Origin, Sym};
use super::super::tensor::{ConstData, ConstTensor};
use super::elementwise::{push_binary, Side};
use super::Importer;
use crate::error::Result;
use crate::ops::{Activation, ActivationKind, Bias, BinaryKind, Entry, Linear, Op, Remap, WeightLayout};
use crate::tensor::{Role, TensorId, ValueId};

pub(super) const OPS: &[(&str, Importer)] =
    &[("LSTM", |b, c| recurrent(b, c, Cell::Lstm)), ("GRU", |b, c| recurrent(b, c, Cell::Gru))];

/// Which recurrent cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cell {
    Lstm,
    Gru,
}

impl Cell {
    /// Gates stacked in `W` and `R`.
    fn gates(self) -> usize {
        match self {
            Cell::Lstm => 4,
            Cell::Gru => 3,
        }
    }

    /// The default (and only supported) activation functions.
    fn activations(self) -> &'static [&'static str] {
        match self {
            Cell::Lstm => &["Sigmoid", "Tanh", "Tanh"],
            Cell::Gru => &["Sigmoid", "Tanh"],
        }
    }
}

/// One direction's tensors.
struct Weights {
    w: TensorId,
    r: TensorId,
    /// `R`'s rows of the candidate gate, apart (GRU with `linear_before_reset = 0`).
    r_h: Option<TensorId>,
    wb: Option<TensorId>,
    rb: Option<TensorId>,
    rb_h: Option<TensorId>,
}

/// The shared context of one unrolled layer.
struct Unroll<'a> {
    ctx: &'a NodeCtx<'a>,
}

impl Unroll<'_> {
    /// Values `offset..offset + len` of value `v` as a value of shape `[1, len]`.
    fn slice(&self, b: &mut Builder, step: &str, v: ValueId, offset: usize, len: usize) -> Result<ValueId> {
        let remap = Remap::new((0..len).map(|i| Entry::Input { input: 0, index: offset + i }));
        b.push_step(self.ctx, step, Op::Remap(remap), vec![v], vec![1, len])
    }

    fn act(&self, b: &mut Builder, step: &str, kind: ActivationKind, v: ValueId) -> Result<ValueId> {
        let shape = b.value_info(v).shape.clone();
        b.push_step(self.ctx, step, Op::Activation(Activation { kind }), vec![v], shape)
    }

    fn bin(&self, b: &mut Builder, step: &str, kind: BinaryKind, x: ValueId, y: ValueId) -> Result<ValueId> {
        push_binary(b, self.ctx, Some(step), kind, [Side::Value(x), Side::Value(y)])
    }

    /// `x · Wᵀ (+ bias)` for `rows` rows of `k` values, `n` outputs.
    #[allow(clippy::too_many_arguments)]
    fn dense(
        &self,
        b: &mut Builder,
        step: &str,
        x: ValueId,
        w: TensorId,
        bias: Option<TensorId>,
        rows: usize,
        k: usize,
        n: usize,
    ) -> Result<ValueId> {
        let bias = bias.map(|tensor| Bias { tensor, beta: 1.0, per_col: true });
        let op = Linear { weight: w, layout: WeightLayout::NK, rows, k, n, alpha: 1.0, bias };
        b.push_step(self.ctx, step, Op::Linear(op), vec![x], vec![rows, n])
    }
}

/// A constant float input: its shape, values, name and where it came from.
type FloatInput = (Vec<usize>, Vec<f32>, String, Origin);

/// A constant input's values (float), or `None` when absent.
fn float_input(b: &Builder, ctx: &NodeCtx, i: usize) -> Result<Option<FloatInput>> {
    match b.input(ctx, i)? {
        None => Ok(None),
        Some(Sym::Value(_)) => {
            Err(ctx.err(format!("input {i} must be a constant weight (initializer), but it is computed")))
        }
        Some(Sym::Const(c)) => {
            let t = b.const_of(c);
            Ok(Some((t.shape.clone(), t.to_f32(), ctx.node.input[i].clone(), b.origin(c))))
        }
    }
}

fn recurrent(b: &mut Builder, ctx: &NodeCtx, cell: Cell) -> Result<()> {
    let hidden = usize::try_from(ctx.int("hidden_size", 0)?).unwrap_or(0);
    if hidden == 0 {
        return Err(ctx.err("missing or invalid attribute 'hidden_size'"));
    }
    let direction = ctx.string("direction", "forward")?;
    let dirs: Vec<bool> = match direction.as_str() {
        "forward" => vec![false],
        "reverse" => vec![true],
        "bidirectional" => vec![false, true],
        other => return Err(ctx.err(format!("direction '{other}' is not forward, reverse or bidirectional"))),
    };
    let layout = ctx.int("layout", 0)?;
    if ctx.has("clip") {
        return Err(ctx.err("the 'clip' attribute (cell clipping) is not supported"));
    }
    if cell == Cell::Lstm && ctx.int("input_forget", 0)? != 0 {
        return Err(ctx.err("input_forget = 1 (coupled input and forget gates) is not supported"));
    }
    if let Some(acts) = ctx.strings("activations")? {
        let want = cell.activations();
        if acts.chunks(want.len()).any(|c| c != want) {
            return Err(ctx.err(format!("activations {acts:?}: wbound runs the default {want:?} only")));
        }
    }
    if cell == Cell::Lstm && b.input(ctx, 7)?.is_some() {
        return Err(ctx.err("peephole weights (input P) are not supported"));
    }
    let lbr = cell == Cell::Gru && ctx.int("linear_before_reset", 0)? != 0;
    let x = b.value(ctx, 0)?;
    let xs = b.value_info(x).shape.clone();
    let (steps, features) = match (layout, xs.as_slice()) {
        (0, [t, 1, f]) | (1, [1, t, f]) => (*t, *f),
        _ => {
            return Err(ctx.err(format!(
                "input X has shape {xs:?}; expected [seq, batch, input] (layout 0) or [batch, seq, input] (layout 1)"
            )))
        }
    };
    if let Some(lens) = b.opt_ints(ctx, 4)? {
        if lens.iter().any(|&l| l != steps as i64) {
            return Err(ctx.err(format!(
                "sequence_lens {lens:?} differ from the sequence length {steps}: padded batches are not supported"
            )));
        }
    }
    let g = cell.gates();
    let nd = dirs.len();
    if steps * nd > crate::ops::remap::MAX_INPUTS {
        return Err(ctx.err(format!(
            "{steps} steps × {nd} directions: wbound unrolls at most {} step outputs",
            crate::ops::remap::MAX_INPUTS
        )));
    }
    let (ws, wdata, wname, worigin) = float_input(b, ctx, 1)?.ok_or_else(|| ctx.err("missing input W"))?;
    let (rs, rdata, rname, rorigin) = float_input(b, ctx, 2)?.ok_or_else(|| ctx.err("missing input R"))?;
    if ws != [nd, g * hidden, features] || rs != [nd, g * hidden, hidden] {
        return Err(ctx.err(format!(
            "W of shape {ws:?} and R of shape {rs:?} do not fit {nd} direction(s), {g} gates of {hidden} and {features} input features"
        )));
    }
    let bias = float_input(b, ctx, 3)?;
    if let Some((bs, ..)) = &bias {
        if bs != &[nd, 2 * g * hidden] {
            return Err(ctx.err(format!("B has shape {bs:?}; expected [{nd}, {}]", 2 * g * hidden)));
        }
    }
    let u = Unroll { ctx };
    let h = hidden;
    let role = |o: Origin, b: &Builder| {
        if o == Origin::Folded {
            Role::Constant
        } else {
            Role::Trainable { layer: b.next_node() }
        }
    };
    // Per direction: its tensors (one scalar block each of W, R, B).
    let mut weights = Vec::new();
    for (d, &reverse) in dirs.iter().enumerate() {
        let side = if reverse { "reverse" } else { "forward" };
        let (gw, gr) = (g * h * features, g * h * h);
        let w = b.derived_tensor(
            &format!("{wname}[{side}]"),
            vec![g * h, features],
            wdata[d * gw..(d + 1) * gw].to_vec(),
            role(worigin, b),
        );
        let rblock = &rdata[d * gr..(d + 1) * gr];
        let split_r = cell == Cell::Gru && !lbr;
        let (r, r_h) = if split_r {
            let rr = b.derived_tensor(
                &format!("{rname}[{side}].zr"),
                vec![2 * h, h],
                rblock[..2 * h * h].to_vec(),
                role(rorigin, b),
            );
            let rh = b.derived_tensor(
                &format!("{rname}[{side}].h"),
                vec![h, h],
                rblock[2 * h * h..].to_vec(),
                role(rorigin, b),
            );
            (rr, Some(rh))
        } else {
            (b.derived_tensor(&format!("{rname}[{side}]"), vec![g * h, h], rblock.to_vec(), role(rorigin, b)), None)
        };
        let (mut wb, mut rb, mut rb_h) = (None, None, None);
        if let Some((_, bdata, bname, borigin)) = &bias {
            let block = &bdata[d * 2 * g * h..(d + 1) * 2 * g * h];
            wb = Some(b.derived_tensor(
                &format!("{bname}[{side}].input"),
                vec![g * h],
                block[..g * h].to_vec(),
                role(*borigin, b),
            ));
            let rpart = &block[g * h..];
            if split_r {
                rb = Some(b.derived_tensor(
                    &format!("{bname}[{side}].recurrent.zr"),
                    vec![2 * h],
                    rpart[..2 * h].to_vec(),
                    role(*borigin, b),
                ));
                rb_h = Some(b.derived_tensor(
                    &format!("{bname}[{side}].recurrent.h"),
                    vec![h],
                    rpart[2 * h..].to_vec(),
                    role(*borigin, b),
                ));
            } else {
                rb = Some(b.derived_tensor(
                    &format!("{bname}[{side}].recurrent"),
                    vec![g * h],
                    rpart.to_vec(),
                    role(*borigin, b),
                ));
            }
        }
        weights.push(Weights { w, r, r_h, wb, rb, rb_h });
    }
    // Initial states, per direction `[1, H]` (zeros when absent).
    let init = |b: &mut Builder, i: usize, what: &str| -> Result<Vec<ValueId>> {
        let v = match b.input(ctx, i)? {
            Some(s) => b.value_of(ctx, s)?,
            None => {
                let name = format!("{}/{what}0", b.stem(ctx));
                let c = b.define_const(
                    &name,
                    ConstTensor { shape: vec![nd, 1, h], data: ConstData::F32(vec![0.0; nd * h]) },
                    Origin::Folded,
                );
                b.value_of(ctx, Sym::Const(c))?
            }
        };
        if b.value_info(v).len() != nd * h {
            return Err(ctx.err(format!(
                "initial state {what} has shape {:?}; expected {nd} × {h} values",
                b.value_info(v).shape
            )));
        }
        (0..nd).map(|d| u.slice(b, &format!("{what}0[{d}]"), v, d * h, h)).collect()
    };
    let h0 = init(b, 5, "h")?;
    let c0 = if cell == Cell::Lstm { init(b, 6, "c")? } else { Vec::new() };
    let xv = b.alias_named(ctx, &format!("{}/x", b.stem(ctx)), x, vec![steps, features], None)?;
    // hs[d][t]: the hidden state after step t; cs likewise.
    let mut hs: Vec<Vec<ValueId>> = Vec::new();
    let mut cs: Vec<Vec<ValueId>> = Vec::new();
    for (d, &reverse) in dirs.iter().enumerate() {
        let wt = &weights[d];
        let tag = if reverse { "reverse" } else { "forward" };
        let xw = u.dense(b, &format!("{tag}/xW"), xv, wt.w, wt.wb, steps, features, g * h)?;
        let (mut hp, mut cp) = (h0[d], c0.get(d).copied());
        let mut hd = vec![0; steps];
        let mut cd = vec![0; steps];
        let order: Vec<usize> = if reverse { (0..steps).rev().collect() } else { (0..steps).collect() };
        for t in order {
            let s = |name: &str| format!("{tag}/t{t}/{name}");
            let xt = u.slice(b, &s("x"), xw, t * g * h, g * h)?;
            match cell {
                Cell::Lstm => {
                    let hr = u.dense(b, &s("hR"), hp, wt.r, wt.rb, 1, h, g * h)?;
                    let gates = u.bin(b, &s("gates"), BinaryKind::Add, xt, hr)?;
                    let part = |b: &mut Builder, k: usize, name: &str, kind| {
                        let v = u.slice(b, &s(name), gates, k * h, h)?;
                        u.act(b, &s(&format!("{name}.act")), kind, v)
                    };
                    let i = part(b, 0, "i", ActivationKind::Sigmoid)?;
                    let o = part(b, 1, "o", ActivationKind::Sigmoid)?;
                    let f = part(b, 2, "f", ActivationKind::Sigmoid)?;
                    let cc = part(b, 3, "c~", ActivationKind::Tanh)?;
                    let keep = u.bin(b, &s("f*c"), BinaryKind::Mul, f, cp.unwrap_or(hp))?;
                    let new = u.bin(b, &s("i*c~"), BinaryKind::Mul, i, cc)?;
                    let c = u.bin(b, &s("c"), BinaryKind::Add, keep, new)?;
                    let tc = u.act(b, &s("tanh(c)"), ActivationKind::Tanh, c)?;
                    hp = u.bin(b, &s("h"), BinaryKind::Mul, o, tc)?;
                    cp = Some(c);
                    cd[t] = c;
                }
                Cell::Gru => {
                    let (zr, cand) = if lbr {
                        let hr = u.dense(b, &s("hR"), hp, wt.r, wt.rb, 1, h, g * h)?;
                        let xzr = u.slice(b, &s("x.zr"), xt, 0, 2 * h)?;
                        let hzr = u.slice(b, &s("hR.zr"), hr, 0, 2 * h)?;
                        let zr = u.bin(b, &s("zr"), BinaryKind::Add, xzr, hzr)?;
                        (zr, Some(hr))
                    } else {
                        let hr = u.dense(b, &s("hR.zr"), hp, wt.r, wt.rb, 1, h, 2 * h)?;
                        let xzr = u.slice(b, &s("x.zr"), xt, 0, 2 * h)?;
                        (u.bin(b, &s("zr"), BinaryKind::Add, xzr, hr)?, None)
                    };
                    let zr = u.act(b, &s("zr.act"), ActivationKind::Sigmoid, zr)?;
                    let z = u.slice(b, &s("z"), zr, 0, h)?;
                    let r = u.slice(b, &s("r"), zr, h, h)?;
                    let xh = u.slice(b, &s("x.h"), xt, 2 * h, h)?;
                    let rec = match cand {
                        Some(hr) => {
                            let hh = u.slice(b, &s("hR.h"), hr, 2 * h, h)?;
                            u.bin(b, &s("r*hR.h"), BinaryKind::Mul, r, hh)?
                        }
                        None => {
                            let rh = u.bin(b, &s("r*h"), BinaryKind::Mul, r, hp)?;
                            let r_h = wt.r_h.ok_or_else(|| ctx.err("internal: GRU candidate weights missing"))?;
                            u.dense(b, &s("(r*h)R.h"), rh, r_h, wt.rb_h, 1, h, h)?
                        }
                    };
                    let pre = u.bin(b, &s("h~.pre"), BinaryKind::Add, xh, rec)?;
                    let cand = u.act(b, &s("h~"), ActivationKind::Tanh, pre)?;
                    // h = h~ + z · (h_prev − h~)
                    let diff = u.bin(b, &s("h-h~"), BinaryKind::Sub, hp, cand)?;
                    let zd = u.bin(b, &s("z*(h-h~)"), BinaryKind::Mul, z, diff)?;
                    hp = u.bin(b, &s("h"), BinaryKind::Add, cand, zd)?;
                }
            }
            hd[t] = hp;
        }
        hs.push(hd);
        cs.push(cd);
    }
    // Y: [T, dirs, 1, H] or [1, T, dirs, H], step-major either way (the batch axis is 1).
    let y_shape = if layout == 0 { vec![steps, nd, 1, h] } else { vec![1, steps, nd, h] };
    let state_shape = if layout == 0 { vec![nd, 1, h] } else { vec![1, nd, h] };
    let join = |b: &mut Builder, k: usize, parts: Vec<ValueId>, shape: Vec<usize>, batch: usize| -> Result<()> {
        if ctx.node.output.get(k).is_none_or(|o| o.is_empty()) {
            return Ok(());
        }
        let entries: Vec<Entry> =
            (0..parts.len()).flat_map(|p| (0..h).map(move |i| Entry::Input { input: p, index: i })).collect();
        let v = b.push_output(ctx, k, Op::Remap(Remap::new(entries)), parts, shape)?;
        b.set_batch(v, Some(batch));
        Ok(())
    };
    let y: Vec<ValueId> = (0..steps).flat_map(|t| hs.iter().map(move |hd| hd[t])).collect();
    join(b, 0, y, y_shape, if layout == 0 { 2 } else { 0 })?;
    let last = |d: usize| if dirs[d] { 0 } else { steps - 1 };
    join(b, 1, (0..nd).map(|d| hs[d][last(d)]).collect(), state_shape.clone(), if layout == 0 { 1 } else { 0 })?;
    if cell == Cell::Lstm {
        join(b, 2, (0..nd).map(|d| cs[d][last(d)]).collect(), state_shape, if layout == 0 { 1 } else { 0 })?;
    }
    Ok(())
}
