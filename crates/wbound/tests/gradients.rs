//! Per-sample gradients of the engine against central finite differences.
//!
//! The reference is a naive f64 interpreter of wbound's graph IR written here from the fields of
//! each [`Op`] (plain loops, no code shared with the engine), itself checked against closed forms.
//! For small random graphs that together use every supported ONNX op, the engine's gradient of
//! `f_k − f_c0` with respect to every non-statistic tensor must match central differences of the
//! interpreter to 1e-4 relative, norm-wise per tensor and element-wise (each with a floor that
//! covers the engine's f32 rounding, see `check_gradients`); its logits must match the
//! interpreter's, and its dual norms (l2 by the Gram route too, l1, l∞) the materialised gradients.

mod common;

use common::{attr_float, attr_int, attr_ints, attr_str, attr_tensor, f32_tensor, OnnxBuilder, Rng};
use proptest::prelude::*;
use wbound::engine::{DualNorm, Engine, Selection};
use wbound::graph::{Graph, Role, TensorId};
use wbound::ops::{ActivationKind, BinaryKind, Entry, Indices, Op, Operand, PoolKind, ReduceKind, WeightLayout};
use wbound::Model;

// ---------------------------------------------------------------------------------------------
// The f64 reference interpreter.
// ---------------------------------------------------------------------------------------------

/// Runs `g` on one sample `x` with weight values `w` (one vector per graph tensor), in f64.
fn interpret(g: &Graph, w: &[Vec<f64>], x: &[f64]) -> Vec<f64> {
    let mut bufs: Vec<Vec<f64>> = g.buffers.iter().map(|&n| vec![0.0; n]).collect();
    bufs[g.buffer_of(g.input)] = x.to_vec();
    for node in &g.nodes {
        let ins: Vec<&[f64]> = node.inputs.iter().map(|&v| &bufs[g.buffer_of(v)][..]).collect();
        let out = eval(&node.op, w, &ins);
        assert_eq!(out.len(), g.buffers[g.buffer_of(node.output)], "node {}", node.name);
        bufs[g.buffer_of(node.output)] = out;
    }
    bufs[g.buffer_of(g.output)].clone()
}

/// erf at the points of the closed-form activation test, from tables (erf is odd).
fn erf_table(v: f64) -> f64 {
    let known = [(2.25, 0.998_537_283_413_319), (1.75, 0.986_671_671_219_182), (1.25, 0.922_900_128_256_458)];
    known.iter().find(|(x, _)| *x == v.abs()).map_or(if v == 0.0 { 0.0 } else { f64::NAN }, |(_, e)| e * v.signum())
}

/// `x Φ(x)`.
fn gelu(v: f64) -> f64 {
    0.5 * v * (1.0 + libm::erf(v / 2f64.sqrt()))
}

/// GELU's tanh approximation.
fn gelu_tanh(v: f64) -> f64 {
    0.5 * v * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (v + 0.044715 * v * v * v)).tanh())
}

/// Signed input coordinate of tap `k` of output `o` (stride, dilation, leading pad).
fn tap(o: usize, k: usize, stride: usize, dilation: usize, pad: usize) -> isize {
    (o * stride + k * dilation) as isize - pad as isize
}

fn eval(op: &Op, w: &[Vec<f64>], ins: &[&[f64]]) -> Vec<f64> {
    match op {
        Op::Linear(o) => {
            let (x, wt) = (ins[0], &w[o.weight]);
            let mut y = vec![0.0; o.rows * o.n];
            for r in 0..o.rows {
                for j in 0..o.n {
                    let mut s = 0.0;
                    for p in 0..o.k {
                        let wv = match o.layout {
                            WeightLayout::KN => wt[p * o.n + j],
                            WeightLayout::NK => wt[j * o.k + p],
                        };
                        s += x[r * o.k + p] * wv;
                    }
                    y[r * o.n + j] = f64::from(o.alpha) * s;
                    if let Some(b) = &o.bias {
                        let bv = if b.per_col { w[b.tensor][j] } else { w[b.tensor][0] };
                        y[r * o.n + j] += f64::from(b.beta) * bv;
                    }
                }
            }
            y
        }
        Op::Conv(o) => {
            let (x, wt) = (ins[0], &w[o.weight]);
            let (cin_g, cout_g) = (o.cin / o.group, o.cout / o.group);
            let [kd, kh, kw] = o.kernel;
            let [id, ih, iw] = o.input;
            let [od, oh, ow] = o.out;
            let mut y = vec![0.0; o.cout * od * oh * ow];
            for co in 0..o.cout {
                let g = co / cout_g;
                for oz in 0..od {
                    for oy in 0..oh {
                        for ox in 0..ow {
                            let mut s = o.bias.map_or(0.0, |b| w[b][co]);
                            for ci in 0..cin_g {
                                for a in 0..kd {
                                    for i in 0..kh {
                                        for j in 0..kw {
                                            let iz = tap(oz, a, o.stride[0], o.dilation[0], o.pads[0]);
                                            let iy = tap(oy, i, o.stride[1], o.dilation[1], o.pads[1]);
                                            let ix = tap(ox, j, o.stride[2], o.dilation[2], o.pads[2]);
                                            let out = iz < 0 || iy < 0 || ix < 0;
                                            if out || iz >= id as isize || iy >= ih as isize || ix >= iw as isize {
                                                continue;
                                            }
                                            let c = g * cin_g + ci;
                                            let xv = x[((c * id + iz as usize) * ih + iy as usize) * iw + ix as usize];
                                            s += wt[(((co * cin_g + ci) * kd + a) * kh + i) * kw + j] * xv;
                                        }
                                    }
                                }
                            }
                            y[((co * od + oz) * oh + oy) * ow + ox] = s;
                        }
                    }
                }
            }
            y
        }
        Op::Pool(o) => {
            let x = ins[0];
            let [id, ih, iw] = o.input;
            let [od, oh, ow] = o.out;
            let mut y = vec![0.0; o.c * od * oh * ow];
            for c in 0..o.c {
                for oz in 0..od {
                    for oy in 0..oh {
                        for ox in 0..ow {
                            let (mut max, mut sum, mut inside, mut padded) = (f64::NEG_INFINITY, 0.0, 0usize, 0usize);
                            for a in 0..o.kernel[0] {
                                for i in 0..o.kernel[1] {
                                    for j in 0..o.kernel[2] {
                                        let iz = tap(oz, a, o.stride[0], o.dilation[0], o.pads[0]);
                                        let iy = tap(oy, i, o.stride[1], o.dilation[1], o.pads[1]);
                                        let ix = tap(ox, j, o.stride[2], o.dilation[2], o.pads[2]);
                                        // Inside the padded input (ONNX count_include_pad counts these).
                                        if iz < (id + o.pads[3]) as isize
                                            && iy < (ih + o.pads[4]) as isize
                                            && ix < (iw + o.pads[5]) as isize
                                        {
                                            padded += 1;
                                        }
                                        let out = iz < 0 || iy < 0 || ix < 0;
                                        if out || iz >= id as isize || iy >= ih as isize || ix >= iw as isize {
                                            continue;
                                        }
                                        let v = x[((c * id + iz as usize) * ih + iy as usize) * iw + ix as usize];
                                        inside += 1;
                                        sum += v;
                                        max = max.max(v);
                                    }
                                }
                            }
                            y[((c * od + oz) * oh + oy) * ow + ox] = match o.kind {
                                _ if inside == 0 => 0.0,
                                PoolKind::Max => max,
                                PoolKind::Average { count_include_pad: true } => sum / padded as f64,
                                PoolKind::Average { count_include_pad: false } => sum / inside as f64,
                            };
                        }
                    }
                }
            }
            y
        }
        Op::BatchNorm(o) => {
            let x = ins[0];
            let (scale, bias, mean, var) = (&w[o.scale], &w[o.bias], &w[o.mean], &w[o.var]);
            let mut y = vec![0.0; x.len()];
            for c in 0..o.channels {
                let inv = 1.0 / (var[c] + f64::from(o.epsilon)).sqrt();
                for s in 0..o.spatial {
                    let i = c * o.spatial + s;
                    y[i] = scale[c] * (x[i] - mean[c]) * inv + bias[c];
                }
            }
            y
        }
        Op::ErfGelu(o) => {
            let [c0, c1, c2] = o.constants.map(|t| w[t][0]);
            ins[0].iter().map(|&v| v * (libm::erf(v / c0) + c1) * c2).collect()
        }
        Op::LayerNorm(o) => {
            let (x, scale) = (ins[0], &w[o.scale]);
            let mut y = vec![0.0; x.len()];
            for g in 0..o.groups {
                let run = &x[g * o.len..(g + 1) * o.len];
                let mean = run.iter().sum::<f64>() / o.len as f64;
                let var = run.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / o.len as f64;
                let sd = (var + f64::from(o.epsilon)).sqrt();
                for (i, v) in run.iter().enumerate() {
                    let bias = o.bias.map_or(0.0, |b| w[b][i]);
                    y[g * o.len + i] = (v - mean) / sd * scale[i] + bias;
                }
            }
            y
        }
        Op::Activation(o) => ins[0]
            .iter()
            .map(|&v| match o.kind {
                ActivationKind::Relu => v.max(0.0),
                ActivationKind::LeakyRelu { alpha } if v <= 0.0 => f64::from(alpha) * v,
                ActivationKind::LeakyRelu { .. } => v,
                ActivationKind::Sigmoid => 1.0 / (1.0 + (-v).exp()),
                ActivationKind::Tanh => v.tanh(),
                ActivationKind::Elu { alpha } if v <= 0.0 => f64::from(alpha) * (v.exp() - 1.0),
                ActivationKind::Elu { .. } => v,
                ActivationKind::Clip { min, max } => v.max(f64::from(min)).min(f64::from(max)),
                ActivationKind::Selu { alpha, gamma } if v <= 0.0 => {
                    f64::from(gamma) * f64::from(alpha) * (v.exp() - 1.0)
                }
                ActivationKind::Selu { gamma, .. } => f64::from(gamma) * v,
                ActivationKind::Softplus => v.exp().ln_1p(),
                ActivationKind::Softsign => v / (1.0 + v.abs()),
                ActivationKind::HardSigmoid { alpha, beta } => (f64::from(alpha) * v + f64::from(beta)).clamp(0.0, 1.0),
                ActivationKind::HardSwish => v * (v / 6.0 + 0.5).clamp(0.0, 1.0),
                ActivationKind::Erf => libm::erf(v),
                ActivationKind::Gelu { tanh: false } => gelu(v),
                ActivationKind::Gelu { tanh: true } => gelu_tanh(v),
                ActivationKind::Sqrt => v.sqrt(),
                ActivationKind::Pow { exponent } => v.powf(f64::from(exponent)),
                ActivationKind::Exp => v.exp(),
                ActivationKind::Log => v.ln(),
                ActivationKind::Neg => -v,
                ActivationKind::Abs => v.abs(),
                ActivationKind::Reciprocal => 1.0 / v,
                ActivationKind::Sin => v.sin(),
                ActivationKind::Cos => v.cos(),
            })
            .collect(),
        Op::Softmax(o) => {
            let x = ins[0];
            let mut y = vec![0.0; x.len()];
            for a in 0..o.outer {
                for i in 0..o.inner {
                    let at = |j: usize| (a * o.len + j) * o.inner + i;
                    let total: f64 = (0..o.len).map(|j| x[at(j)].exp()).sum();
                    for j in 0..o.len {
                        let p = x[at(j)].exp() / total;
                        y[at(j)] = if o.log { p.ln() } else { p };
                    }
                }
            }
            y
        }
        Op::Remap(o) => (0..o.len())
            .map(|k| match o.entry(k) {
                Entry::Input { input, index } => ins[input][index],
                Entry::Const(c) => f64::from(c),
            })
            .collect(),
        Op::Source(o) => w[o.tensor].clone(),
        Op::MatMul(o) => {
            let (a, b) = (ins[0], ins[1]);
            let mut y = vec![0.0; o.a_off.len() * o.m * o.n];
            for (bi, (&ao, &bo)) in o.a_off.iter().zip(&o.b_off).enumerate() {
                for i in 0..o.m {
                    for j in 0..o.n {
                        y[(bi * o.m + i) * o.n + j] = (0..o.k).map(|p| a[ao + i * o.k + p] * b[bo + p * o.n + j]).sum();
                    }
                }
            }
            y
        }
        Op::Reduce(o) => {
            let n = (o.out_of.len() / o.out_len) as f64;
            let mut groups = vec![Vec::new(); o.out_len];
            for (i, &g) in o.out_of.iter().enumerate() {
                groups[g as usize].push(ins[0][i]);
            }
            groups
                .iter()
                .map(|g| match o.kind {
                    ReduceKind::Sum => g.iter().sum(),
                    ReduceKind::Mean => g.iter().sum::<f64>() / n,
                    ReduceKind::Max => g.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                    ReduceKind::Min => g.iter().copied().fold(f64::INFINITY, f64::min),
                })
                .collect()
        }
        Op::Embedding(o) => {
            let rows: Vec<usize> = match &o.indices {
                Indices::Input => {
                    ins[0].iter().map(|&v| if v < 0.0 { (v + o.rows as f64) as usize } else { v as usize }).collect()
                }
                Indices::Const { idx, .. } => idx.iter().map(|&i| i as usize).collect(),
            };
            rows.iter().flat_map(|&r| w[o.table][r * o.dim..(r + 1) * o.dim].to_vec()).collect()
        }
        Op::Binary(o) => {
            let side = |s: usize, i: usize| {
                let j = o.maps[s].as_ref().map_or(i, |m| m[i] as usize);
                match o.operands[s] {
                    Operand::Input(k) => ins[k][j],
                    Operand::Tensor(t) => w[t][j],
                }
            };
            (0..o.out_len)
                .map(|i| {
                    let (a, b) = (side(0, i), side(1, i));
                    match o.kind {
                        BinaryKind::Add => a + b,
                        BinaryKind::Sub => a - b,
                        BinaryKind::Mul => a * b,
                        BinaryKind::Div => a / b,
                        BinaryKind::PRelu if a > 0.0 => a,
                        BinaryKind::PRelu => b * a,
                        BinaryKind::Min => a.min(b),
                        BinaryKind::Max => a.max(b),
                    }
                })
                .collect()
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Checks.
// ---------------------------------------------------------------------------------------------

fn weights64(g: &Graph) -> Vec<Vec<f64>> {
    g.tensors.iter().map(|t| t.data.iter().map(|&v| f64::from(v)).collect()).collect()
}

fn to64(x: &[f32]) -> Vec<f64> {
    x.iter().map(|&v| f64::from(v)).collect()
}

fn norm2(v: impl IntoIterator<Item = f64>) -> f64 {
    v.into_iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// `‖a − b‖ / max(‖b‖, tiny)`.
fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    let diff = norm2(a.iter().zip(b).map(|(x, y)| x - y));
    diff / norm2(b.iter().copied()).max(1e-30)
}

fn argmax(y: &[f32]) -> usize {
    (0..y.len()).fold(0, |b, k| if y[k] > y[b] { k } else { b })
}

/// Relative tolerance of every comparison with the f64 reference.
const RTOL: f64 = 1e-4;
/// Central-difference step (f64, so rounding stays ~1e-10 while truncation is ~1e-12).
const FD_STEP: f64 = 1e-6;

/// Imports `bytes` and checks, for input `x`: the engine's logits against the interpreter, the
/// engine's gradient of every row `f_k − f_c0` against central differences over every
/// non-statistic tensor, and the engine's L2/L1/L∞ norms against the materialised gradients.
fn check_gradients(label: &str, bytes: &[u8], x: &[f32]) {
    let model = Model::from_bytes(bytes).unwrap_or_else(|e| panic!("{label}: {e}"));
    let g = model.graph();
    let selected: Vec<TensorId> = (0..g.tensors.len()).filter(|&t| g.tensors[t].role != Role::Statistic).collect();
    let classes_n = g.num_classes();
    let engine = Engine::new(g, Selection::new(g, selected.clone()), classes_n - 1);
    assert_eq!(engine.selection().tensors, selected, "{label}: selection order");
    let mut ws = engine.workspace();

    // Logits.
    let logits = engine.forward(&mut ws, x).to_vec();
    let mut w = weights64(g);
    let x64 = to64(x);
    let reference = interpret(g, &w, &x64);
    let e = rel_err(&to64(&logits), &reference);
    assert!(e <= RTOL, "{label}: logits {logits:?} vs f64 {reference:?} (rel {e:.2e})");

    // Analytic gradients of every row.
    let c0 = argmax(&logits);
    let classes: Vec<usize> = (0..classes_n).filter(|&k| k != c0).collect();
    let m = classes.len();
    engine.backward(&mut ws, c0, &classes);
    let grads: Vec<Vec<f64>> = (0..m)
        .map(|r| {
            engine.gradient(&mut ws, r);
            to64(&ws.grad)
        })
        .collect();

    // Later passes on the same workspace start from zero cotangents: one row, then all rows
    // again, give the first pass's gradients bit for bit.
    engine.backward(&mut ws, c0, &classes[m - 1..]);
    engine.backward(&mut ws, c0, &classes);
    for (r, first) in grads.iter().enumerate() {
        engine.gradient(&mut ws, r);
        let same = to64(&ws.grad).iter().zip(first).all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same, "{label}: row {r} differs in a second backward pass");
    }

    // Jacobian of all logits by central differences, one column per selected scalar.
    let total: usize = selected.iter().map(|&t| w[t].len()).sum();
    assert_eq!(grads[0].len(), total, "{label}: gradient length");
    let mut jac = vec![vec![0.0; total]; classes_n];
    let mut col = 0;
    for &t in &selected {
        for i in 0..w[t].len() {
            let v = w[t][i];
            w[t][i] = v + FD_STEP;
            let plus = interpret(g, &w, &x64);
            w[t][i] = v - FD_STEP;
            let minus = interpret(g, &w, &x64);
            w[t][i] = v;
            for k in 0..classes_n {
                jac[k][col] = (plus[k] - minus[k]) / (2.0 * FD_STEP);
            }
            col += 1;
        }
    }

    // Compare per row and tensor. The engine's f32 rounding leaves an absolute error of ~1e-7 ×
    // the row's gradient scale, more in a sum that cancels (a scalar constant broadcast over 24
    // positions), so a tensor is compared against at least 1e-2 × the row's norm and an element
    // against at least 1e-1 × the row's largest element: absolute floors of 1e-6 and 1e-5.
    let (mut worst, mut worst_elem) = (0.0f64, 0.0f64);
    for (r, &k) in classes.iter().enumerate() {
        let fd: Vec<f64> = (0..total).map(|i| jac[k][i] - jac[c0][i]).collect();
        let row_norm = norm2(fd.iter().copied());
        let row_max = fd.iter().fold(0.0f64, |acc, v| acc.max(v.abs()));
        assert!(row_norm > 0.0, "{label}: row {r} has a zero gradient");
        let mut off = 0;
        for &t in &selected {
            let len = w[t].len();
            let (a, b) = (&grads[r][off..off + len], &fd[off..off + len]);
            let name = &g.tensors[t].name;
            let diff = norm2(a.iter().zip(b).map(|(x, y)| x - y));
            let e = diff / norm2(b.iter().copied()).max(1e-2 * row_norm);
            worst = worst.max(e);
            assert!(e <= RTOL, "{label}: d(f{k} - f{c0})/d{name}: rel err {e:.2e}\n{a:?}\n{b:?}");
            for (i, (&ai, &bi)) in a.iter().zip(b).enumerate() {
                let e = (ai - bi).abs() / bi.abs().max(1e-1 * row_max);
                worst_elem = worst_elem.max(e);
                assert!(e <= RTOL, "{label}: d(f{k} - f{c0})/d{name}[{i}]: engine {ai:e}, finite differences {bi:e}");
            }
            off += len;
        }
    }
    eprintln!("{label}: {total} scalars, {m} rows, worst rel err {worst:.1e} (tensor) {worst_elem:.1e} (element)");

    // Norms: the Gram shortcut (L2) and the per-row sums must equal the materialised gradients.
    let norms = |q: DualNorm, v: &[f64]| -> f64 {
        match q {
            DualNorm::L2 => norm2(v.iter().copied()),
            DualNorm::L1 => v.iter().map(|x| x.abs()).sum(),
            DualNorm::Linf => v.iter().fold(0.0f64, |a, x| a.max(x.abs())),
        }
    };
    for q in [DualNorm::L2, DualNorm::L1, DualNorm::Linf] {
        engine.norms(&mut ws, m, q);
        for (r, grad) in grads.iter().enumerate() {
            let (got, want) = (ws.norms[r], norms(q, grad));
            assert!((got - want).abs() <= 1e-5 * want, "{label}: {q:?} norm of row {r}: {got} vs {want}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Test graphs.
// ---------------------------------------------------------------------------------------------

/// Adds a random float initializer scaled for its fan-in.
fn rand_init(m: &mut OnnxBuilder, rng: &mut Rng, name: &str, dims: &[i64], fan_in: usize) -> String {
    let n = dims.iter().product::<i64>() as usize;
    let data = rng.vec(n, (3.0 / fan_in as f32).sqrt());
    m.init_f32(name, dims, &data)
}

/// Positive values in `[lo, hi)`.
fn positive(rng: &mut Rng, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..n).map(|_| rng.uniform(lo, hi)).collect()
}

/// Convolutions (group 2 + stride 2 + asymmetric pads, SAME_LOWER, group 2 + dilation 2 +
/// SAME_UPPER, group 2 + stride 2 + SAME_UPPER, SAME_LOWER on a 2×2 map), BatchNormalization,
/// LeakyRelu, Elu, Relu, a residual Add, MaxPool with pads and ceil_mode, a squeeze-excitation Mul
/// (dynamic broadcast), GlobalAveragePool, Flatten, Gemm (transB = 1, alpha and beta ≠ 1) and an
/// opset-13 Softmax. Input `[N, 4, 9, 9]`, 5 classes. With 4 cotangent rows the convolutions'
/// l2 norms take every route of the engine: per-row gradients (grouped, 5×5 maps), one batched
/// product (ungrouped, 5×5) and the Gram form (2×2 maps, grouped and not).
fn conv_stack(seed: u64) -> (Vec<u8>, Vec<f32>) {
    let mut rng = Rng::new(seed);
    let mut m = OnnxBuilder::new("x", &[4, 9, 9]);
    let w1 = rand_init(&mut m, &mut rng, "c1.w", &[6, 2, 3, 3], 18);
    let b1 = rand_init(&mut m, &mut rng, "c1.b", &[6], 1);
    let c1 = m.op(
        "Conv",
        &["x", &w1, &b1],
        vec![
            attr_int("group", 2),
            attr_ints("strides", &[2, 2]),
            attr_ints("pads", &[1, 0, 1, 2]),
            attr_ints("kernel_shape", &[3, 3]),
        ],
    ); // [1, 6, 5, 5]
    let bn_scale = m.init_f32("bn.scale", &[6], &positive(&mut rng, 6, 0.5, 1.5));
    let bn_b = rand_init(&mut m, &mut rng, "bn.b", &[6], 1);
    let bn_mean = rand_init(&mut m, &mut rng, "bn.mean", &[6], 3);
    let bn_var = m.init_f32("bn.var", &[6], &positive(&mut rng, 6, 0.5, 2.0));
    let bn = m.op("BatchNormalization", &[&c1, &bn_scale, &bn_b, &bn_mean, &bn_var], vec![attr_float("epsilon", 1e-3)]);
    let l = m.op("LeakyRelu", &[&bn], vec![attr_float("alpha", 0.1)]);
    let w2 = rand_init(&mut m, &mut rng, "c2.w", &[6, 6, 2, 2], 24);
    let c2 = m.op("Conv", &[&l, &w2], vec![attr_str("auto_pad", "SAME_LOWER")]); // [1, 6, 5, 5]
    let e = m.op("Elu", &[&c2], vec![attr_float("alpha", 0.7)]);
    let w3 = rand_init(&mut m, &mut rng, "c3.w", &[6, 3, 3, 3], 27);
    let b3 = rand_init(&mut m, &mut rng, "c3.b", &[6], 1);
    let c3 = m.op(
        "Conv",
        &[&e, &w3, &b3],
        vec![attr_int("group", 2), attr_ints("dilations", &[2, 2]), attr_str("auto_pad", "SAME_UPPER")],
    ); // [1, 6, 5, 5]
    let res = m.op("Add", &[&c3, &l], vec![]);
    let r = m.op("Relu", &[&res], vec![]);
    let mp = m.op(
        "MaxPool",
        &[&r],
        vec![
            attr_ints("kernel_shape", &[2, 2]),
            attr_ints("strides", &[2, 2]),
            attr_ints("pads", &[0, 1, 0, 0]),
            attr_int("ceil_mode", 1),
        ],
    ); // [1, 6, 3, 3]
    let w4 = rand_init(&mut m, &mut rng, "c4.w", &[4, 3, 2, 2], 12);
    let b4 = rand_init(&mut m, &mut rng, "c4.b", &[4], 1);
    let attrs = vec![attr_int("group", 2), attr_ints("strides", &[2, 2]), attr_str("auto_pad", "SAME_UPPER")];
    let c4 = m.op("Conv", &[&mp, &w4, &b4], attrs); // [1, 4, 2, 2]
    let w5 = rand_init(&mut m, &mut rng, "c5.w", &[4, 4, 2, 2], 16);
    let b5 = rand_init(&mut m, &mut rng, "c5.b", &[4], 1);
    let c5 = m.op("Conv", &[&c4, &w5, &b5], vec![attr_str("auto_pad", "SAME_LOWER")]); // [1, 4, 2, 2]
    let gap = m.op("GlobalAveragePool", &[&c5], vec![]); // [1, 4, 1, 1]
    let gate = m.op("Sigmoid", &[&gap], vec![]);
    let se = m.op("Mul", &[&c5, &gate], vec![]);
    let f = m.op("Flatten", &[&se], vec![]); // [1, 16]
    let wg = rand_init(&mut m, &mut rng, "fc.w", &[5, 16], 16);
    let cg = rand_init(&mut m, &mut rng, "fc.b", &[5], 1);
    let gm =
        m.op("Gemm", &[&f, &wg, &cg], vec![attr_int("transB", 1), attr_float("alpha", 0.8), attr_float("beta", 1.5)]);
    let out = m.op("Softmax", &[&gm], vec![]);
    m.output(&out);
    (m.to_bytes(), rng.vec(4 * 81, 1.0))
}

/// Opset 11: an NHWC input through Transpose, Conv, Tanh, AveragePool (count_include_pad 1, then
/// 0 with asymmetric pads), Sigmoid, Reshape, MatMul on a 3-D value (4 rows) + bias Add, a legacy
/// Softmax (over the flattened trailing axes), Unsqueeze/Squeeze with attribute axes, Identity,
/// Dropout, Flatten, a 1-D BatchNormalization, Mul by a Constant node and Gemm (transB = 0,
/// scalar C). Smooth everywhere. Input `[N, 6, 6, 3]`, 5 classes.
fn pools_and_views(seed: u64) -> (Vec<u8>, Vec<f32>) {
    let mut rng = Rng::new(seed);
    let mut m = OnnxBuilder::new("x", &[6, 6, 3]).opset(11);
    let t = m.op("Transpose", &["x"], vec![attr_ints("perm", &[0, 3, 1, 2])]); // [1, 3, 6, 6]
    let wc = rand_init(&mut m, &mut rng, "conv.w", &[8, 3, 3, 3], 27);
    let bc = rand_init(&mut m, &mut rng, "conv.b", &[8], 1);
    let c = m.op("Conv", &[&t, &wc, &bc], vec![attr_ints("pads", &[1, 1, 1, 1])]); // [1, 8, 6, 6]
    let th = m.op("Tanh", &[&c], vec![]);
    let a1 = m.op(
        "AveragePool",
        &[&th],
        vec![
            attr_ints("kernel_shape", &[3, 3]),
            attr_ints("strides", &[2, 2]),
            attr_ints("pads", &[1, 1, 1, 1]),
            attr_int("count_include_pad", 1),
        ],
    ); // [1, 8, 3, 3]
    let a0 = m.op(
        "AveragePool",
        &[&a1],
        vec![
            attr_ints("kernel_shape", &[2, 2]),
            attr_ints("strides", &[2, 2]),
            attr_ints("pads", &[1, 1, 0, 0]),
            attr_int("count_include_pad", 0),
        ],
    ); // [1, 8, 2, 2]
       // Spread the pooled values so the later layers see more than a constant.
    let gain = m.init_f32("gain", &[1], &[4.0]);
    let s0 = m.op("Mul", &[&a0, &gain], vec![]);
    let s = m.op("Sigmoid", &[&s0], vec![]);
    // A squeeze-excitation style rescaling by the spatial mean.
    let rm = m.op("ReduceMean", &[&s], vec![attr_ints("axes", &[2, 3])]); // [1, 8, 1, 1]
    let s = m.op("Mul", &[&s, &rm], vec![]);
    let shape = m.init_i64("rs.shape", &[3], &[0, 4, -1]);
    let rs = m.op("Reshape", &[&s, &shape], vec![]); // [1, 4, 8]
    let wm = rand_init(&mut m, &mut rng, "mm.w", &[8, 6], 8);
    let mm = m.op("MatMul", &[&rs, &wm], vec![]); // [1, 4, 6]
    let bm = rand_init(&mut m, &mut rng, "mm.b", &[6], 1);
    let mb = m.op("Add", &[&mm, &bm], vec![]);
    let sm = m.op("Softmax", &[&mb], vec![attr_int("axis", 1)]); // over all 24 values
    let un = m.op("Unsqueeze", &[&sm], vec![attr_ints("axes", &[1])]); // [1, 1, 4, 6]
    let sq = m.op("Squeeze", &[&un], vec![attr_ints("axes", &[1])]); // [1, 4, 6]
    let id = m.op("Identity", &[&sq], vec![]);
    let dr = m.op("Dropout", &[&id], vec![attr_float("ratio", 0.5)]);
    let f = m.op("Flatten", &[&dr], vec![attr_int("axis", 1)]); // [1, 24]
    let bn_scale = m.init_f32("bn.scale", &[24], &positive(&mut rng, 24, 0.5, 1.5));
    let bn_b = rand_init(&mut m, &mut rng, "bn.b", &[24], 1);
    let bn_mean = m.init_f32("bn.mean", &[24], &positive(&mut rng, 24, 0.0, 0.1));
    let bn_var = m.init_f32("bn.var", &[24], &positive(&mut rng, 24, 0.5, 2.0));
    let f = m.op("BatchNormalization", &[&f, &bn_scale, &bn_b, &bn_mean, &bn_var], vec![]);
    let k = rng.vec(24, 1.0).iter().map(|v| 10.0 + 5.0 * v).collect::<Vec<_>>();
    m.node("Constant", "k", &[], &["k"], vec![attr_tensor("value", f32_tensor("", &[24], &k))]);
    let fk = m.op("Mul", &[&f, "k"], vec![]);
    let wg = rand_init(&mut m, &mut rng, "fc.w", &[24, 5], 24);
    let cg = m.init_f32("fc.b", &[1], &[0.3]);
    // No Softmax after it: a softmax ignores the scalar bias, whose gradient would then be 0.
    let out = m.op("Gemm", &[&fk, &wg, &cg], vec![attr_float("alpha", 0.7), attr_float("beta", 1.3)]);
    m.output(&out);
    (m.to_bytes(), rng.vec(6 * 6 * 3, 1.0))
}

/// Opset 13 arithmetic: Add/Sub/Mul/Div with constants on either side and broadcast shapes
/// (`[2,1,1]` from a Constant node, `[4]`, a scalar, `[3,1]`, `[1,2,1,1]`), Add/Mul/Div/Sub of two
/// dynamic values (and a value times itself), one constant shared by two nodes (the engine's summed-gradient path), Tanh,
/// Sigmoid, Cast, a mid-network Softmax over axis 1 (inner size 12), Clip with constant bounds,
/// Unsqueeze/Squeeze with input axes, Reshape, MatMul + bias Add and a final LogSoftmax. Smooth everywhere. Input `[N, 2, 3, 4]`, 4 classes.
fn arithmetic(seed: u64) -> (Vec<u8>, Vec<f32>) {
    let mut rng = Rng::new(seed);
    let mut m = OnnxBuilder::new("x", &[2, 3, 4]);
    let k1 = positive(&mut rng, 2, 0.5, 1.5);
    m.node("Constant", "k1", &[], &["k1"], vec![attr_tensor("value", f32_tensor("", &[2, 1, 1], &k1))]);
    let a = m.op("Mul", &["x", "k1"], vec![]);
    let cw = m.init_f32("cw", &[4], &rng.vec(4, 1.0));
    let b = m.op("Sub", &[&cw, &a], vec![]);
    let cs = m.init_f32("cs", &[], &[rng.uniform(1.5, 2.5)]);
    let c = m.op("Div", &[&b, &cs], vec![]);
    let ca = m.init_f32("ca", &[3, 1], &rng.vec(3, 1.0));
    let d = m.op("Add", &[&ca, &c], vec![]);
    let t = m.op("Tanh", &[&d], vec![]);
    let shared = m.init_f32("shared", &[4], &rng.vec(4, 1.0));
    let ds = m.op("Mul", &[&d, &shared], vec![]);
    let s = m.op("Sigmoid", &[&ds], vec![]);
    let offset = m.init_f32("offset", &[], &[1.5]);
    let den = m.op("Add", &[&s, &offset], vec![]); // in (1.5, 2.5)
    let cn = m.init_f32("cn", &[1, 2, 1, 1], &rng.vec(2, 1.0));
    let q = m.op("Div", &[&cn, &den], vec![]);
    let p = m.op("Mul", &[&t, &shared], vec![]);
    let r1 = m.op("Add", &[&p, &q], vec![]);
    let tt = m.op("Mul", &[&t, &t], vec![]);
    let r1 = m.op("Sub", &[&r1, &tt], vec![]);
    let r2 = m.op("Mul", &[&r1, &t], vec![]);
    let r3 = m.op("Div", &[&r2, &den], vec![]);
    let r4 = m.op("Sub", &[&r3, &q], vec![]);
    let cast = m.op("Cast", &[&r4], vec![attr_int("to", 1)]);
    let sm = m.op("Softmax", &[&cast], vec![attr_int("axis", 1)]); // [1, 2, 3, 4], inner 12
                                                                   // Clip clamps some of the probabilities (derivative 0 there) and passes the others.
    let (lo, hi) = (m.init_f32("clip.lo", &[], &[0.2]), m.init_f32("clip.hi", &[], &[0.8]));
    let cl = m.op("Clip", &[&sm, &lo, &hi], vec![]);
    let axes = m.init_i64("axes", &[1], &[2]);
    let un = m.op("Unsqueeze", &[&cl, &axes], vec![]); // [1, 2, 1, 3, 4]
    let sq = m.op("Squeeze", &[&un, &axes], vec![]);
    let shape = m.init_i64("shape", &[2], &[0, -1]);
    let rs = m.op("Reshape", &[&sq, &shape], vec![]); // [1, 24]
    let wm = m.init_f32("fc.w", &[24, 4], &rng.vec(96, 3.0));
    let mm = m.op("MatMul", &[&rs, &wm], vec![]);
    let bm = rand_init(&mut m, &mut rng, "fc.b", &[4], 1);
    let logits = m.op("Add", &[&mm, &bm], vec![]);
    let out = m.op("LogSoftmax", &[&logits], vec![]);
    m.output(&out);
    (m.to_bytes(), rng.vec(24, 1.0))
}

/// The activations of other frameworks' exports, each between two dense layers: PRelu, Selu, Softplus,
/// Softsign, HardSigmoid, HardSwish (MobileNetV3), exact GELU as PyTorch exports it below opset
/// 20 (Div, Erf, Add, Mul, Mul), and opset 20's Gelu, exact and tanh. HardSigmoid and HardSwish
/// have kinks: a fixed seed. Input `[N, 6]`, 3 classes.
fn activations(seed: u64) -> (Vec<u8>, Vec<f32>) {
    let mut rng = Rng::new(seed);
    let mut m = OnnxBuilder::new("x", &[6]).opset(20);
    let mut h = "x".to_string();
    let acts: [(&str, Vec<_>); 7] = [
        ("Selu", vec![]),
        ("Softplus", vec![]),
        ("Softsign", vec![]),
        ("HardSigmoid", vec![attr_float("alpha", 0.3), attr_float("beta", 0.4)]),
        ("HardSwish", vec![]),
        ("Gelu", vec![]),
        ("Gelu", vec![attr_str("approximate", "tanh")]),
    ];
    for (i, (op, attrs)) in acts.into_iter().enumerate() {
        let w = rand_init(&mut m, &mut rng, &format!("fc{i}.w"), &[6, 6], 2);
        let b = rand_init(&mut m, &mut rng, &format!("fc{i}.b"), &[6], 1);
        let z = m.op("Gemm", &[&h, &w, &b], vec![]);
        h = m.op(op, &[&z], attrs);
    }
    // PRelu with a learned slope per unit (a parameter that moves).
    let slope = m.init_f32("prelu.slope", &[6], &positive(&mut rng, 6, 0.1, 0.5));
    h = m.op("PRelu", &[&h, &slope], vec![]);
    // GELU as torch.onnx exports it below opset 20: x · (erf(x / √2) + 1) · 0.5.
    let root2 = m.init_f32("root2", &[], &[2f32.sqrt()]);
    let (one, half) = (m.init_f32("one", &[], &[1.0]), m.init_f32("half", &[], &[0.5]));
    let d = m.op("Div", &[&h, &root2], vec![]);
    let e = m.op("Erf", &[&d], vec![]);
    let e1 = m.op("Add", &[&e, &one], vec![]);
    let xe = m.op("Mul", &[&h, &e1], vec![]);
    let g = m.op("Mul", &[&xe, &half], vec![]);
    let w = rand_init(&mut m, &mut rng, "out.w", &[6, 3], 6);
    let out = m.op("Gemm", &[&g, &w], vec![]);
    m.output(&out);
    (m.to_bytes(), rng.vec(6, 1.5))
}

/// The exporter's five-node GELU imports as one fused node (whose gradients the finite-difference
/// check of `activations` covers, constants included); with an intermediate read elsewhere it
/// stays five nodes, and both graphs score alike to the interpreter.
#[test]
fn exporter_gelu_is_fused_unless_an_intermediate_is_read_elsewhere() {
    let fused = |bytes: &[u8]| {
        let model = Model::from_bytes(bytes).unwrap();
        model.graph().nodes.iter().filter(|n| matches!(n.op, Op::ErfGelu(_))).count()
    };
    let (bytes, _) = activations(1);
    assert_eq!(fused(&bytes), 1);
    for shared in ["erf", "sum"] {
        let mut rng = Rng::new(5);
        let mut m = OnnxBuilder::new("x", &[4]);
        let w = rand_init(&mut m, &mut rng, "fc.w", &[4, 4], 4);
        let h = m.op("Gemm", &["x", &w], vec![]);
        let root2 = m.init_f32("root2", &[], &[2f32.sqrt()]);
        let (one, half) = (m.init_f32("one", &[], &[1.0]), m.init_f32("half", &[], &[0.5]));
        let d = m.op("Div", &[&h, &root2], vec![]);
        let e = m.op("Erf", &[&d], vec![]);
        let e1 = m.op("Add", &[&e, &one], vec![]);
        let xe = m.op("Mul", &[&h, &e1], vec![]);
        let g = m.op("Mul", &[&xe, &half], vec![]);
        let other = m.op("Add", &[&g, if shared == "erf" { &e } else { &e1 }], vec![]);
        let w2 = rand_init(&mut m, &mut rng, "out.w", &[4, 3], 4);
        let out = m.op("Gemm", &[&other, &w2], vec![]);
        m.output(&out);
        let bytes = m.to_bytes();
        assert_eq!(fused(&bytes), 0, "{shared} is read twice");
        check_gradients(&format!("gelu with the {shared} read twice"), &bytes, &rng.vec(4, 1.5));
    }
}

/// Joins: a constant-mode Pad (fill 0.5) of a convolution's output, Concat of it with the graph
/// input on the channel axis (two computed values), and Concat of a value with itself. Input
/// `[N, 2, 4, 4]`, 3 classes.
fn joins(seed: u64) -> (Vec<u8>, Vec<f32>) {
    let mut rng = Rng::new(seed);
    let mut m = OnnxBuilder::new("x", &[2, 4, 4]);
    let w = rand_init(&mut m, &mut rng, "conv.w", &[3, 2, 3, 3], 18);
    let a = m.op("Conv", &["x", &w], vec![]); // [1, 3, 2, 2]
    let pads = m.init_i64("pads", &[8], &[0, 0, 1, 1, 0, 0, 1, 1]);
    let fill = m.init_f32("fill", &[], &[0.5]);
    let p = m.op("Pad", &[&a, &pads, &fill], vec![]); // [1, 3, 4, 4]
    let c = m.op("Concat", &[&p, "x"], vec![attr_int("axis", 1)]); // [1, 5, 4, 4]
    let t = m.op("Tanh", &[&c], vec![]);
    let c2 = m.op("Concat", &[&t, &t], vec![attr_int("axis", -1)]); // [1, 5, 4, 8]
    let fl = m.op("Flatten", &[&c2], vec![]);
    let wf = rand_init(&mut m, &mut rng, "fc.w", &[160, 3], 160);
    let out = m.op("Gemm", &[&fl, &wf], vec![]);
    m.output(&out);
    (m.to_bytes(), rng.vec(32, 1.0))
}

/// Attention as a ViT exports it: a class token (a parameter entering the graph as a value:
/// Expand to the batch through the exporters' shape arithmetic — Shape, Slice, Concat, Equal,
/// ConstantOfShape, Where — then Concat with the patches), a position embedding and a layer scale
/// that move by their names, `q · kᵀ` and `p · v` of computed values, a causal mask (Range,
/// Unsqueeze, Less, Where of a constant condition) and a Trilu, Softmax on the last axis, and the
/// class token picked by Gather. Input `[N, 3, 4]` (3 patches of 4), 3 classes.
fn attention(seed: u64) -> (Vec<u8>, Vec<f32>) {
    let mut rng = Rng::new(seed);
    let mut m = OnnxBuilder::new("x", &[3, 4]).opset(17);
    let cls = rand_init(&mut m, &mut rng, "cls_token", &[1, 1, 4], 1);
    let sh = m.op("Shape", &["x"], vec![]);
    let (s0, s1) = (m.init_i64("s0", &[1], &[0]), m.init_i64("s1", &[1], &[1]));
    let n = m.op("Slice", &[&sh, &s0, &s1], vec![]);
    let rest = m.init_i64("rest", &[2], &[-1, -1]);
    let tgt = m.op("Concat", &[&n, &rest], vec![attr_int("axis", 0)]);
    let tshape = m.op("Shape", &[&tgt], vec![]);
    let one = common::i64_tensor("one", &[1], &[1]);
    let ones = m.op("ConstantOfShape", &[&tshape], vec![attr_tensor("value", one)]);
    let minus1 = m.init_i64("minus1", &[], &[-1]);
    let eq = m.op("Equal", &[&tgt, &minus1], vec![]);
    let shape = m.op("Where", &[&eq, &ones, &tgt], vec![]);
    let token = m.op("Expand", &[&cls, &shape], vec![]);
    let seq = m.op("Concat", &[&token, "x"], vec![attr_int("axis", 1)]); // [1, 4, 4]
    let pos = rand_init(&mut m, &mut rng, "pos_embed", &[1, 4, 4], 1);
    let h = m.op("Add", &[&seq, &pos], vec![]);
    let proj = |m: &mut OnnxBuilder, rng: &mut Rng, name: &str| {
        let w = rand_init(m, rng, name, &[4, 4], 4);
        m.op("MatMul", &[&h, &w], vec![])
    };
    let (q, k, v) = (proj(&mut m, &mut rng, "q.w"), proj(&mut m, &mut rng, "k.w"), proj(&mut m, &mut rng, "v.w"));
    let kt = m.op("Transpose", &[&k], vec![attr_ints("perm", &[0, 2, 1])]);
    let scores = m.op("MatMul", &[&q, &kt], vec![]);
    let scale = m.init_f32("onnx::Div_7", &[], &[2.0]);
    let scores = m.op("Div", &[&scores, &scale], vec![]);
    let tri = m.op("Trilu", &[&scores], vec![attr_int("upper", 0)]);
    let (start, limit, delta) = (m.init_i64("r0", &[], &[0]), m.init_i64("r4", &[], &[4]), m.init_i64("r1", &[], &[1]));
    let r = m.op("Range", &[&start, &limit, &delta], vec![]);
    let (a1, a0) = (m.init_i64("a1", &[1], &[1]), m.init_i64("a0", &[1], &[0]));
    let (rows, cols) = (m.op("Unsqueeze", &[&r, &a1], vec![]), m.op("Unsqueeze", &[&r, &a0], vec![]));
    let future = m.op("Less", &[&rows, &cols], vec![]);
    let neg = m.init_f32("onnx::Where_9", &[], &[-30.0]);
    let masked = m.op("Where", &[&future, &neg, &tri], vec![]);
    let p = m.op("Softmax", &[&masked], vec![attr_int("axis", -1)]);
    let o = m.op("MatMul", &[&p, &v], vec![]);
    let gamma = rand_init(&mut m, &mut rng, "blocks.0.gamma", &[4], 1);
    let o = m.op("Mul", &[&gamma, &o], vec![]);
    let h2 = m.op("Add", &[&h, &o], vec![]);
    let zero = m.init_i64("zero", &[], &[0]);
    let c = m.op("Gather", &[&h2, &zero], vec![attr_int("axis", 1)]); // [1, 4]
    let w = rand_init(&mut m, &mut rng, "head.w", &[4, 3], 4);
    let out = m.op("Gemm", &[&c, &w], vec![]);
    m.output(&out);
    (m.to_bytes(), rng.vec(12, 1.0))
}

#[test]
fn attention_gradients_match_finite_differences() {
    for seed in [1, 2, 3] {
        let (bytes, x) = attention(seed);
        check_gradients(&format!("attention seed {seed}"), &bytes, &x);
    }
}

/// The class token, position embedding and layer scale of [`attention`] move (by their names); the
/// exporter-named scale and mask value do not.
#[test]
fn parameters_by_name_move_and_exporter_constants_do_not() {
    let model = Model::from_bytes(&attention(1).0).unwrap();
    let role = |name: &str| model.tensors().iter().find(|t| t.name == name).map(|t| t.role);
    for name in ["cls_token", "pos_embed", "blocks.0.gamma", "q.w", "head.w"] {
        assert!(matches!(role(name), Some(Role::Trainable { .. })), "{name}: {:?}", role(name));
    }
    for name in ["onnx::Div_7", "onnx::Where_9"] {
        assert_eq!(role(name), Some(Role::Constant), "{name}");
    }
}

/// One-dimensional and three-dimensional windows, the variadic and reducing ops: Conv and MaxPool
/// on `[N, 2, 6]`, Sin, Cos, Max / Min / Sum of three and Mean of two values, Split, Tile,
/// GatherElements, ScatterND, ReduceSum / ReduceMax / ReduceMin, a Slice with a negative step, a
/// 3-D Conv, AveragePool and GlobalMaxPool. Max, Min and the pools have kinks: fixed seeds.
fn windows_and_reductions(seed: u64) -> (Vec<u8>, Vec<f32>) {
    let mut rng = Rng::new(seed);
    let mut m = OnnxBuilder::new("x", &[2, 6]).opset(13);
    let w1 = rand_init(&mut m, &mut rng, "conv1d.w", &[3, 2, 3], 6);
    let c1 = m.op("Conv", &["x", &w1], vec![attr_ints("pads", &[1, 1])]); // [1, 3, 6]
    let p1 = m.op("MaxPool", &[&c1], vec![attr_ints("kernel_shape", &[2]), attr_ints("strides", &[2])]); // [1, 3, 3]
    let (s1, c2) = (m.op("Sin", &[&p1], vec![]), m.op("Cos", &[&p1], vec![]));
    let mx = m.op("Max", &[&s1, &c2, &p1], vec![]);
    let mn = m.op("Min", &[&s1, &c2, &p1], vec![]);
    let sm = m.op("Sum", &[&mx, &mn, &p1], vec![]);
    let me = m.op("Mean", &[&mx, &mn], vec![]);
    let split = m.init_i64("split", &[2], &[1, 2]);
    m.node("Split", "split", &[&sm, &split], &["sa", "sb"], vec![attr_int("axis", 2)]);
    let reps = m.init_i64("reps", &[3], &[1, 1, 2]);
    let t = m.op("Tile", &["sa", &reps], vec![]); // [1, 3, 2]
    let gi = m.init_i64("gi", &[1, 3, 2], &[1, 0, 0, 0, 1, 1]);
    let ge = m.op("GatherElements", &["sb", &gi], vec![attr_int("axis", 2)]);
    let flat = m.init_i64("flat", &[1], &[-1]);
    let gf = m.op("Reshape", &[&ge, &flat], vec![]);
    let (u0, u2) = (m.init_i64("u0", &[1], &[0]), m.init_i64("u2", &[1], &[2]));
    let upd = m.op("Slice", &[&gf, &u0, &u2], vec![]); // [2]
    let si = m.init_i64("si", &[2, 3], &[0, 1, 0, 0, 2, 1]);
    let sc = m.op("ScatterND", &[&t, &si, &upd], vec![]);
    let ax2 = m.init_i64("ax2", &[1], &[2]);
    let rs = m.op("ReduceSum", &[&sc, &ax2], vec![]); // [1, 3, 1]
    let rmx = m.op("ReduceMax", &[&me], vec![attr_ints("axes", &[2])]); // [1, 3, 1]
    let rmn = m.op("ReduceMin", &[&ge], vec![attr_ints("axes", &[1])]); // [1, 1, 2]
    let (st, en, stp) =
        (m.init_i64("st", &[1], &[-1]), m.init_i64("en", &[1], &[-100]), m.init_i64("stp", &[1], &[-1]));
    let rev = m.op("Slice", &[&me, &st, &en, &ax2, &stp], vec![]); // [1, 3, 3] reversed
    let shape3 = m.init_i64("shape3", &[5], &[1, 1, 3, 3, 2]);
    let v3 = m.op("Reshape", &[&c1, &shape3], vec![]);
    let w3 = rand_init(&mut m, &mut rng, "conv3d.w", &[2, 1, 2, 2, 2], 8);
    let c3 = m.op("Conv", &[&v3, &w3], vec![]); // [1, 2, 2, 2, 1]
    let a3 = m.op(
        "AveragePool",
        &[&c3],
        vec![attr_ints("kernel_shape", &[2, 1, 1]), attr_ints("pads", &[0, 1, 0, 0, 1, 0])],
    );
    let g3 = m.op("GlobalMaxPool", &[&c3], vec![]);
    let parts: Vec<String> = [&rs, &rmx, &rmn, &rev, &a3, &g3].iter().map(|v| m.op("Flatten", &[v], vec![])).collect();
    let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
    let all = m.op("Concat", &refs, vec![attr_int("axis", 1)]);
    let n = 3 + 3 + 2 + 9 + 2 * 4 + 2;
    let w = rand_init(&mut m, &mut rng, "head.w", &[n, 3], n as usize);
    let out = m.op("Gemm", &[&all, &w], vec![]);
    m.output(&out);
    (m.to_bytes(), rng.vec(12, 1.0))
}

#[test]
fn window_and_reduction_gradients_match_finite_differences() {
    for seed in [1, 2, 3] {
        let (bytes, x) = windows_and_reductions(seed);
        check_gradients(&format!("windows_and_reductions seed {seed}"), &bytes, &x);
    }
}

/// Token ids in, embeddings: a word table looked up at the input's ids (one id twice, so its row's
/// gradient sums two positions), a position table at constant indices, their sum averaged over
/// the positions, then a dense head. Input int64 `[N, 5]`, 3 classes.
fn embeddings(seed: u64) -> (Vec<u8>, Vec<f32>) {
    let mut rng = Rng::new(seed);
    let mut m = OnnxBuilder::new("ids", &[5]).integer_input(7);
    let tok = rand_init(&mut m, &mut rng, "tok.weight", &[7, 4], 1);
    let e = m.op("Gather", &[&tok, "ids"], vec![]); // [1, 5, 4]
    let pos = rand_init(&mut m, &mut rng, "pos.weight", &[6, 4], 1);
    let pi = m.init_i64("position_ids", &[1, 5], &[0, 1, 2, 3, 4]);
    let p = m.op("Gather", &[&pos, &pi], vec![]); // [1, 5, 4]
    let h = m.op("Add", &[&e, &p], vec![]);
    let t = m.op("Tanh", &[&h], vec![]);
    let mean = m.op("ReduceMean", &[&t], vec![attr_ints("axes", &[1]), attr_int("keepdims", 0)]);
    let w = rand_init(&mut m, &mut rng, "head.weight", &[4, 3], 4);
    let out = m.op("MatMul", &[&mean, &w], vec![]);
    m.output(&out);
    (m.to_bytes(), vec![3.0, 1.0, 3.0, 0.0, 6.0])
}

#[test]
fn embedding_gradients_match_finite_differences() {
    for seed in [1, 2] {
        let (bytes, x) = embeddings(seed);
        check_gradients(&format!("embeddings seed {seed}"), &bytes, &x);
    }
}

/// Mask and shape arithmetic that folds at import (Mod, LessOrEqual, Greater, GreaterOrEqual, And,
/// Or, Xor, Not, BitShift, CumSum, Cast, Floor, Ceil, Round, Sign, IsNaN, IsInf, CastLike, Size),
/// added to the input: the constant is `[2, 2, 1, 1, 5, 7]` (worked out in the comments). With
/// `head`, a dense layer follows so that the graph has parameters. Input `[N, 6]`.
fn folded(head: bool) -> (Vec<u8>, Vec<f32>) {
    let mut m = OnnxBuilder::new("x", &[6]).opset(13);
    let a = m.init_i64("a", &[6], &[-3, -1, 0, 2, 5, 7]);
    let (two, zero, onei) =
        (m.init_i64("two", &[], &[2]), m.init_i64("zero", &[], &[0]), m.init_i64("onei", &[], &[1]));
    let md = m.op("Mod", &[&a, &two], vec![]); // [1, 1, 0, 0, 1, 1]
    let le = m.op("LessOrEqual", &[&a, &zero], vec![]); // [1, 1, 1, 0, 0, 0]
    let gt = m.op("Greater", &[&a, &two], vec![]); // [0, 0, 0, 0, 1, 1]
    let ge = m.op("GreaterOrEqual", &[&a, &two], vec![]); // [0, 0, 0, 1, 1, 1]
    let and = m.op("And", &[&le, &md], vec![]); // [1, 1, 0, 0, 0, 0]
    let or = m.op("Or", &[&gt, &and], vec![]); // [1, 1, 0, 0, 1, 1]
    let xor = m.op("Xor", &[&or, &ge], vec![]); // [1, 1, 0, 1, 0, 0]
    let not = m.op("Not", &[&xor], vec![]); // [0, 0, 1, 0, 1, 1]
    let bs = m.op("BitShift", &[&not, &onei], vec![attr_str("direction", "LEFT")]); // [0, 0, 2, 0, 2, 2]
    let cs = m.op("CumSum", &[&bs, &zero], vec![]); // [0, 0, 2, 2, 4, 6]
    let f = m.op("Cast", &[&cs], vec![attr_int("to", 1)]);
    let four = m.init_f32("onnx::Div_4", &[], &[4.0]);
    let frac = m.op("Div", &[&f, &four], vec![]); // [0, 0, 0.5, 0.5, 1, 1.5]
    let floor = m.op("Floor", &[&frac], vec![]); // [0, 0, 0, 0, 1, 1]
    let ceil = m.op("Ceil", &[&frac], vec![]); // [0, 0, 1, 1, 1, 2]
    let round = m.op("Round", &[&frac], vec![]); // half to even: [0, 0, 0, 0, 1, 2]
    let q = m.init_f32("onnx::Sub_5", &[], &[0.75]);
    let centered = m.op("Sub", &[&frac, &q], vec![]);
    let sign = m.op("Sign", &[&centered], vec![]); // [-1, -1, -1, -1, 1, 1]
    let nan = m.op("Div", &[&f, &f], vec![]); // 0/0 first
    let isnan = m.op("IsNaN", &[&nan], vec![]); // [1, 1, 0, 0, 0, 0]
    let onef = m.init_f32("onnx::Div_6", &[], &[1.0]);
    let inf = m.op("Div", &[&onef, &f], vec![]);
    let isinf = m.op("IsInf", &[&inf], vec![]); // [1, 1, 0, 0, 0, 0]
    let (isnan, isinf) = (m.op("CastLike", &[&isnan, &f], vec![]), m.op("CastLike", &[&isinf, &f], vec![]));
    let size = m.op("Size", &["x"], vec![]);
    let size = m.op("Cast", &[&size], vec![attr_int("to", 1)]);
    let six = m.init_f32("onnx::Div_7", &[], &[6.0]);
    let unit = m.op("Div", &[&size, &six], vec![]); // 1
    let total = m.op("Sum", &[&floor, &ceil, &round, &sign, &isnan, &isinf, &unit], vec![]); // [2, 2, 1, 1, 5, 7]
    let mut y = m.op("Add", &["x", &total], vec![]);
    if head {
        let w = m.init_f32("head.w", &[6, 3], &Rng::new(5).vec(18, 0.5));
        y = m.op("MatMul", &[&y, &w], vec![]);
    }
    m.output(&y);
    (m.to_bytes(), vec![0.5, -1.0, 0.25, 2.0, -0.5, 1.0])
}

fn folded_constants() -> (Vec<u8>, Vec<f32>) {
    folded(true)
}

#[test]
fn mask_and_shape_arithmetic_folds_to_the_hand_computed_constant() {
    let (bytes, x) = folded(false);
    let model = Model::from_bytes(&bytes).unwrap();
    assert_eq!(model.graph().nodes.len(), 1, "everything but the final Add folds");
    let want: Vec<f64> = x.iter().zip([2.0, 2.0, 1.0, 1.0, 5.0, 7.0]).map(|(&a, b)| f64::from(a) + b).collect();
    check_closed_form("folded", &bytes, &x, &want);
    let (bytes, x) = folded_constants();
    check_gradients("folded constants", &bytes, &x);
}

/// Recurrent layers: a bidirectional LSTM (layout 1, with B) whose Y feeds, transposed to layout 0,
/// a GRU with `linear_before_reset = 0` and a given initial state, and a reverse GRU with
/// `linear_before_reset = 1`; the LSTM's final cell state and both GRUs' outputs go to a dense head.
/// Input `[N, 4, 3]` (4 steps of 3 features), 3 classes.
fn recurrent(seed: u64) -> (Vec<u8>, Vec<f32>) {
    let mut rng = Rng::new(seed);
    let mut m = OnnxBuilder::new("x", &[4, 3]).opset(14);
    let (w, r) =
        (rand_init(&mut m, &mut rng, "lstm.W", &[2, 12, 3], 3), rand_init(&mut m, &mut rng, "lstm.R", &[2, 12, 3], 3));
    let bias = rand_init(&mut m, &mut rng, "lstm.B", &[2, 24], 1);
    let attrs = vec![attr_int("hidden_size", 3), attr_str("direction", "bidirectional"), attr_int("layout", 1)];
    m.node("LSTM", "lstm", &["x", &w, &r, &bias], &["Y", "Y_h", "Y_c"], attrs);
    let shape = m.init_i64("shape", &[3], &[0, 4, 6]);
    let y = m.op("Reshape", &["Y", &shape], vec![]); // [1, 4, 6]
    let yt = m.op("Transpose", &[&y], vec![attr_ints("perm", &[1, 0, 2])]); // [4, 1, 6]
    let (gw, gr) =
        (rand_init(&mut m, &mut rng, "gru.W", &[1, 6, 6], 6), rand_init(&mut m, &mut rng, "gru.R", &[1, 6, 2], 2));
    let gb = rand_init(&mut m, &mut rng, "gru.B", &[1, 12], 1);
    let h0 = rand_init(&mut m, &mut rng, "gru.h0", &[1, 1, 2], 1);
    m.node("GRU", "gru", &[&yt, &gw, &gr, &gb, "", &h0], &["G"], vec![attr_int("hidden_size", 2)]);
    let (vw, vr) =
        (rand_init(&mut m, &mut rng, "gru2.W", &[1, 6, 6], 6), rand_init(&mut m, &mut rng, "gru2.R", &[1, 6, 2], 2));
    let vb = rand_init(&mut m, &mut rng, "gru2.B", &[1, 12], 1);
    let attrs = vec![attr_int("hidden_size", 2), attr_str("direction", "reverse"), attr_int("linear_before_reset", 1)];
    m.node("GRU", "gru2", &[&yt, &vw, &vr, &vb], &["V"], attrs);
    let parts: Vec<String> = ["Y_c", "G", "V"]
        .iter()
        .map(|v| {
            let t = m.op("Transpose", &[v], vec![]); // puts the batch axis last or in the middle: flatten all
            let all = m.init_i64(&format!("{v}.flat"), &[2], &[1, -1]);
            m.op("Reshape", &[&t, &all], vec![])
        })
        .collect();
    let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
    let all = m.op("Concat", &refs, vec![attr_int("axis", 1)]); // 6 + 8 + 8
    let hw = rand_init(&mut m, &mut rng, "head.w", &[22, 3], 22);
    let out = m.op("Gemm", &[&all, &hw], vec![]);
    m.output(&out);
    (m.to_bytes(), rng.vec(12, 1.0))
}

#[test]
fn recurrent_gradients_match_finite_differences() {
    for seed in [1, 2] {
        let (bytes, x) = recurrent(seed);
        check_gradients(&format!("recurrent seed {seed}"), &bytes, &x);
    }
}

/// The unrolled LSTM computes ONNX's equations: one step of a one-unit LSTM by hand.
#[test]
fn interpreter_matches_a_hand_computed_lstm_step() {
    let mut m = OnnxBuilder::new("x", &[1, 1]);
    // Gates i, o, f, c: W = [1, 2, 3, 4], R unused on the first step (h0 = 0), B: input 0.25 each.
    let w = m.init_f32("W", &[1, 4, 1], &[1.0, 2.0, 3.0, 4.0]);
    let r = m.init_f32("R", &[1, 4, 1], &[0.5; 4]);
    let b = m.init_f32("B", &[1, 8], &[0.25, 0.25, 0.25, 0.25, 0.0, 0.0, 0.0, 0.0]);
    let xt = m.op("Transpose", &["x"], vec![attr_ints("perm", &[1, 0, 2])]);
    m.node("LSTM", "lstm", &[&xt, &w, &r, &b], &["", "Y_h", "Y_c"], vec![attr_int("hidden_size", 1)]);
    let cat = m.op("Concat", &["Y_h", "Y_c"], vec![attr_int("axis", 2)]);
    let f = m.op("Flatten", &[&cat], vec![attr_int("axis", 0)]);
    m.output(&f);
    let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
    let x = 0.5;
    let (i, o, c_) = (sig(x + 0.25), sig(2.0 * x + 0.25), (4.0 * x + 0.25f64).tanh());
    let c = i * c_; // f · c0 = 0
    check_closed_form("lstm step", &m.to_bytes(), &[0.5], &[o * c.tanh(), c]);
}

#[test]
fn join_gradients_match_finite_differences() {
    for seed in [1, 2] {
        let (bytes, x) = joins(seed);
        check_gradients(&format!("joins seed {seed}"), &bytes, &x);
    }
}

/// PRelu with a slope per channel: `x > 0 ? x : slope · x`.
#[test]
fn interpreter_matches_a_hand_computed_prelu() {
    let mut m = OnnxBuilder::new("x", &[2, 2]);
    let slope = m.init_f32("slope", &[2, 1], &[0.25, 0.5]);
    let y = m.op("PRelu", &["x", &slope], vec![]);
    let fl = m.op("Flatten", &[&y], vec![]);
    m.output(&fl);
    check_closed_form("prelu", &m.to_bytes(), &[-2.0, 3.0, -4.0, 0.0], &[-0.5, 3.0, -2.0, 0.0]);
    // The slope is learned: DeepFool moves it.
    let model = Model::from_bytes(&m.to_bytes()).unwrap();
    let slope = model.tensors().iter().find(|t| t.name == "slope").unwrap();
    assert!(matches!(slope.role, wbound::graph::Role::Trainable { .. }), "{:?}", slope.role);
}

/// Pad by attribute (opset 10), by input (13) and on chosen axes (18), then Concat with the input.
#[test]
fn interpreter_matches_hand_computed_pads_and_concats() {
    let x = [1.0f32, 2.0];
    let want = [9.0, 1.0, 2.0, 9.0, 9.0, 1.0, 2.0];
    for opset in [10, 13, 18] {
        let mut m = OnnxBuilder::new("x", &[2]).opset(opset);
        let p = match opset {
            10 => m.op("Pad", &["x"], vec![attr_ints("pads", &[0, 1, 0, 2]), attr_float("value", 9.0)]),
            13 => {
                let (pads, fill) = (m.init_i64("pads", &[4], &[0, 1, 0, 2]), m.init_f32("fill", &[1], &[9.0]));
                m.op("Pad", &["x", &pads, &fill], vec![])
            }
            _ => {
                let (pads, fill) = (m.init_i64("pads", &[2], &[1, 2]), m.init_f32("fill", &[], &[9.0]));
                let axes = m.init_i64("axes", &[1], &[-1]);
                m.op("Pad", &["x", &pads, &fill, &axes], vec![])
            }
        };
        let c = m.op("Concat", &[&p, "x"], vec![attr_int("axis", 1)]);
        m.output(&c);
        check_closed_form(&format!("pad opset {opset}"), &m.to_bytes(), &x, &want);
    }
}

/// LayerNorm as torch.onnx exports it below opset 17 (ReduceMean, Sub, Pow 2, ReduceMean, Add ε,
/// Sqrt, Div, Mul γ, Add β), then Abs, Neg, Exp, Log, Reciprocal. Abs has a kink at 0: fixed
/// seeds. Input `[N, 6]`, 3 classes.
fn decomposed_layer_norm(seed: u64) -> (Vec<u8>, Vec<f32>) {
    let mut rng = Rng::new(seed);
    let mut m = OnnxBuilder::new("x", &[6]);
    let w = rand_init(&mut m, &mut rng, "fc.w", &[6, 6], 6);
    let h = m.op("Gemm", &["x", &w], vec![]);
    let mean = m.op("ReduceMean", &[&h], vec![attr_ints("axes", &[-1])]);
    let d = m.op("Sub", &[&h, &mean], vec![]);
    let two = m.init_f32("two", &[], &[2.0]);
    let sq = m.op("Pow", &[&d, &two], vec![]);
    let var = m.op("ReduceMean", &[&sq], vec![attr_ints("axes", &[-1])]);
    let eps = m.init_f32("eps", &[], &[1e-1]);
    let ve = m.op("Add", &[&var, &eps], vec![]);
    let sd = m.op("Sqrt", &[&ve], vec![]);
    let norm = m.op("Div", &[&d, &sd], vec![]);
    let gamma = m.init_f32("gamma", &[6], &positive(&mut rng, 6, 0.5, 1.5));
    let beta = m.init_f32("beta", &[6], &rng.vec(6, 0.5));
    let g = m.op("Mul", &[&norm, &gamma], vec![]);
    let ln = m.op("Add", &[&g, &beta], vec![]);
    let a = m.op("Abs", &[&ln], vec![]);
    let na = m.op("Neg", &[&a], vec![]);
    let e = m.op("Exp", &[&na], vec![]);
    let one = m.init_f32("one", &[], &[1.0]);
    let e1 = m.op("Add", &[&e, &one], vec![]);
    let l = m.op("Log", &[&e1], vec![]);
    let l1 = m.op("Add", &[&l, &one], vec![]);
    let r = m.op("Reciprocal", &[&l1], vec![]);
    let w2 = rand_init(&mut m, &mut rng, "out.w", &[6, 3], 6);
    let out = m.op("Gemm", &[&r, &w2], vec![]);
    m.output(&out);
    (m.to_bytes(), rng.vec(6, 1.0))
}

/// LayerNormalization (opset 17, as `nn.LayerNorm` exports): over `[C, H, W]` of a convolution's
/// output (axis 1, scale and bias), then over the last axis without a bias. Input `[N, 2, 3, 3]`,
/// 3 classes.
fn layer_norms(seed: u64) -> (Vec<u8>, Vec<f32>) {
    let mut rng = Rng::new(seed);
    let mut m = OnnxBuilder::new("x", &[2, 3, 3]).opset(17);
    let w = rand_init(&mut m, &mut rng, "conv.w", &[4, 2, 2, 2], 8);
    let c = m.op("Conv", &["x", &w], vec![]); // [1, 4, 2, 2]
    let s1 = m.init_f32("ln1.scale", &[4, 2, 2], &positive(&mut rng, 16, 0.5, 1.5));
    let b1 = m.init_f32("ln1.bias", &[4, 2, 2], &rng.vec(16, 0.5));
    let l1 = m.op("LayerNormalization", &[&c, &s1, &b1], vec![attr_int("axis", 1), attr_float("epsilon", 0.1)]);
    let t = m.op("Tanh", &[&l1], vec![]);
    let s2 = m.init_f32("ln2.scale", &[2], &positive(&mut rng, 2, 0.5, 1.5));
    let l2 = m.op("LayerNormalization", &[&t, &s2], vec![attr_float("epsilon", 0.1)]);
    let fl = m.op("Flatten", &[&l2], vec![]);
    let wf = rand_init(&mut m, &mut rng, "fc.w", &[16, 3], 16);
    let out = m.op("Gemm", &[&fl, &wf], vec![]);
    m.output(&out);
    (m.to_bytes(), rng.vec(18, 1.0))
}

#[test]
fn layer_norm_gradients_match_finite_differences() {
    for seed in [1, 2, 3] {
        let (bytes, x) = layer_norms(seed);
        check_gradients(&format!("layer_norms seed {seed}"), &bytes, &x);
    }
}

/// LayerNormalization over `[2, 3]` with a scale and bias shared along the last axis (`[2, 1]`):
/// not one value per position, so it runs as its decomposition, whose ε no glob selects.
fn shared_scale_layer_norm(seed: u64) -> (Vec<u8>, Vec<f32>) {
    let mut rng = Rng::new(seed);
    let mut m = OnnxBuilder::new("x", &[2, 3]).opset(17);
    let s = m.init_f32("ln.scale", &[2, 1], &positive(&mut rng, 2, 0.5, 1.5));
    let b = m.init_f32("ln.bias", &[2, 1], &rng.vec(2, 0.5));
    let l = m.op("LayerNormalization", &["x", &s, &b], vec![attr_int("axis", 1), attr_float("epsilon", 0.1)]);
    let fl = m.op("Flatten", &[&l], vec![]);
    let wf = rand_init(&mut m, &mut rng, "fc.w", &[6, 3], 6);
    let out = m.op("Gemm", &[&fl, &wf], vec![]);
    m.output(&out);
    (m.to_bytes(), rng.vec(6, 1.0))
}

#[test]
fn shared_scale_layer_norm_is_decomposed_with_its_gradients() {
    for seed in [1, 2] {
        let (bytes, x) = shared_scale_layer_norm(seed);
        check_gradients(&format!("shared-scale layer norm seed {seed}"), &bytes, &x);
        let model = Model::from_bytes(&bytes).unwrap();
        let ops: Vec<&Op> = model.graph().nodes.iter().map(|n| &n.op).collect();
        assert!(!ops.iter().any(|op| matches!(op, Op::LayerNorm(_))), "a shared scale must not be fused");
        let eps =
            model.tensors().iter().position(|t| t.name.ends_with("/epsilon")).expect("the decomposition's epsilon");
        let all = wbound::ParamSelection::Glob("*".into()).resolve(model.graph()).unwrap();
        assert!(!all.contains(&eps), "a glob selected the importer's epsilon");
        assert!(all.iter().any(|&t| model.tensors()[t].name == "ln.scale"));
    }
    // nn.LayerNorm's own scale (one value per position) is one fused node, with no epsilon tensor.
    let (bytes, _) = layer_norms(1);
    let model = Model::from_bytes(&bytes).unwrap();
    assert_eq!(model.graph().nodes.iter().filter(|n| matches!(n.op, Op::LayerNorm(_))).count(), 2);
    assert!(!model.tensors().iter().any(|t| t.name.ends_with("/epsilon")));
}

/// LayerNormalization of `[1, 2, 3, 4]`: mean 2.5, variance 1.25; scale 2, bias 1 on the last value.
#[test]
fn interpreter_matches_a_hand_computed_layer_norm() {
    let mut m = OnnxBuilder::new("x", &[4]).opset(17);
    let scale = m.init_f32("scale", &[4], &[1.0, 1.0, 1.0, 2.0]);
    let bias = m.init_f32("bias", &[4], &[0.0, 0.0, 0.0, 1.0]);
    let y = m.op("LayerNormalization", &["x", &scale, &bias], vec![attr_float("epsilon", 0.0)]);
    m.output(&y);
    let sd = 1.25f64.sqrt();
    let want = [-1.5 / sd, -0.5 / sd, 0.5 / sd, 2.0 * 1.5 / sd + 1.0];
    check_closed_form("layer norm", &m.to_bytes(), &[1.0, 2.0, 3.0, 4.0], &want);
    let model = Model::from_bytes(&m.to_bytes()).unwrap();
    for name in ["scale", "bias"] {
        let t = model.tensors().iter().find(|t| t.name == name).unwrap();
        assert!(matches!(t.role, wbound::graph::Role::Trainable { .. }), "{name}: {:?}", t.role);
    }
}

#[test]
fn decomposed_layer_norm_gradients_match_finite_differences() {
    for seed in [1, 2, 3] {
        let (bytes, x) = decomposed_layer_norm(seed);
        check_gradients(&format!("decomposed_layer_norm seed {seed}"), &bytes, &x);
    }
}

/// Sqrt, Pow, Exp, Log, Neg, Abs and Reciprocal of `[0.25, 4]`.
#[test]
fn interpreter_matches_hand_computed_unary_math() {
    let x = [0.25f32, 4.0];
    type Case = (&'static str, [f64; 2]);
    let cases: [Case; 7] = [
        ("Sqrt", [0.5, 2.0]),
        ("Pow", [0.125, 8.0]),
        ("Exp", [0.25f64.exp(), 4f64.exp()]),
        ("Log", [-(4f64.ln()), 4f64.ln()]),
        ("Neg", [-0.25, -4.0]),
        ("Abs", [0.25, 4.0]),
        ("Reciprocal", [4.0, 0.25]),
    ];
    for (op, want) in cases {
        let mut m = OnnxBuilder::new("x", &[2]);
        let y = if op == "Pow" {
            let p = m.init_f32("p", &[], &[1.5]);
            m.op(op, &["x", &p], vec![])
        } else {
            m.op(op, &["x"], vec![])
        };
        m.output(&y);
        check_closed_form(op, &m.to_bytes(), &x, &want);
    }
}

#[test]
fn activation_gradients_match_finite_differences() {
    for seed in [1, 2, 3] {
        let (bytes, x) = activations(seed);
        check_gradients(&format!("activations seed {seed}"), &bytes, &x);
    }
}

#[test]
fn graphs_cover_every_supported_op() {
    let mut seen = std::collections::BTreeSet::new();
    let graphs = [
        conv_stack(1).0,
        pools_and_views(1).0,
        arithmetic(1).0,
        shape_arithmetic(),
        activations(1).0,
        joins(1).0,
        decomposed_layer_norm(1).0,
        layer_norms(1).0,
        attention(1).0,
        windows_and_reductions(1).0,
        embeddings(1).0,
        folded_constants().0,
        recurrent(1).0,
    ];
    for bytes in graphs {
        let model: wbound::onnx::proto::ModelProto = prost::Message::decode(&bytes[..]).unwrap();
        seen.extend(model.graph.unwrap().node.into_iter().map(|n| n.op_type));
    }
    let missing: Vec<_> = wbound::onnx::supported_ops().into_iter().filter(|op| !seen.contains(*op)).collect();
    assert!(missing.is_empty(), "ops without a gradient test: {missing:?}");
}

/// `x.view(x.size(0), -1)` as PyTorch exports it (Shape, Gather, Unsqueeze, Concat, Cast), then
/// Gemm; the shape arithmetic folds to constants.
fn shape_arithmetic() -> Vec<u8> {
    let mut rng = Rng::new(7);
    let mut m = OnnxBuilder::new("x", &[2, 3]);
    let sh = m.op("Shape", &["x"], vec![]);
    let zero = m.init_i64("zero", &[], &[0]);
    let n = m.op("Gather", &[&sh, &zero], vec![attr_int("axis", 0)]);
    let axes = m.init_i64("axes", &[1], &[0]);
    let nu = m.op("Unsqueeze", &[&n, &axes], vec![]);
    let minus1 = m.init_i64("minus1", &[1], &[-1]);
    let target = m.op("Concat", &[&nu, &minus1], vec![attr_int("axis", 0)]);
    let target = m.op("Cast", &[&target], vec![attr_int("to", 7)]);
    let flat = m.op("Reshape", &["x", &target], vec![]);
    let w = rand_init(&mut m, &mut rng, "fc.w", &[3, 6], 6);
    let out = m.op("Gemm", &[&flat, &w], vec![attr_int("transB", 1)]);
    m.output(&out);
    m.to_bytes()
}

#[test]
fn conv_stack_gradients_match_finite_differences() {
    // Relu, LeakyRelu and MaxPool have kinks: fixed seeds keep the check deterministic.
    for seed in [1, 2, 3, 4] {
        let (bytes, x) = conv_stack(seed);
        check_gradients(&format!("conv_stack seed {seed}"), &bytes, &x);
    }
}

#[test]
fn shape_arithmetic_gradients_match_finite_differences() {
    check_gradients("shape_arithmetic", &shape_arithmetic(), &[0.5, -1.0, 2.0, 0.25, -0.75, 1.5]);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn pools_and_views_gradients_match_finite_differences(seed in any::<u64>()) {
        let (bytes, x) = pools_and_views(seed);
        check_gradients(&format!("pools_and_views seed {seed}"), &bytes, &x);
    }

    #[test]
    fn arithmetic_gradients_match_finite_differences(seed in any::<u64>()) {
        let (bytes, x) = arithmetic(seed);
        check_gradients(&format!("arithmetic seed {seed}"), &bytes, &x);
    }
}

// ---------------------------------------------------------------------------------------------
// The interpreter (and the engine) against closed forms.
// ---------------------------------------------------------------------------------------------

/// Runs a model on `x` with the interpreter and the engine and checks both against `want`.
fn check_closed_form(label: &str, bytes: &[u8], x: &[f32], want: &[f64]) {
    let model = Model::from_bytes(bytes).unwrap_or_else(|e| panic!("{label}: {e}"));
    let g = model.graph();
    let got = interpret(g, &weights64(g), &to64(x));
    assert_eq!(got.len(), want.len(), "{label}: interpreter output length");
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0), "{label}[{i}]: interpreter {a} vs {b}");
    }
    let engine = model.logits(x).unwrap();
    for (i, (&a, b)) in engine.iter().zip(want).enumerate() {
        let a = f64::from(a);
        assert!((a - b).abs() <= 1e-6 * b.abs().max(1.0), "{label}[{i}]: engine {a} vs {b}");
    }
}

/// A 1-channel 3×3 input `1..9` through a 2×2 kernel `[[1, 2], [3, 4]]` with bias 0.5, without
/// padding and with stride 2 and pads `[1, 1, 0, 0]` (top, left).
#[test]
fn interpreter_matches_a_hand_computed_convolution() {
    let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
    for (pads, strides, want) in [
        ([0, 0, 0, 0], [1, 1], [37.5, 47.5, 67.5, 77.5]),
        // Windows: {x00·4}, {x01·3 + x02·4}, {x10·2 + x20·4}, {x11 + 2x12 + 3x21 + 4x22}.
        ([1, 1, 0, 0], [2, 2], [4.5, 18.5, 36.5, 77.5]),
    ] {
        let mut m = OnnxBuilder::new("x", &[1, 3, 3]);
        let w = m.init_f32("w", &[1, 1, 2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let b = m.init_f32("b", &[1], &[0.5]);
        let c = m.op("Conv", &["x", &w, &b], vec![attr_ints("pads", &pads), attr_ints("strides", &strides)]);
        let f = m.op("Flatten", &[&c], vec![]);
        m.output(&f);
        check_closed_form(&format!("conv pads {pads:?}"), &m.to_bytes(), &x, &want);
    }
}

#[test]
fn interpreter_matches_hand_computed_pools() {
    let pool = |op: &str, x: &[f32], side: i64, attrs: Vec<_>, want: &[f64], label: &str| {
        let mut m = OnnxBuilder::new("x", &[1, side, side]);
        let p = m.op(op, &["x"], attrs);
        let f = m.op("Flatten", &[&p], vec![]);
        m.output(&f);
        check_closed_form(label, &m.to_bytes(), x, want)
    };
    let k2s2 = || vec![attr_ints("kernel_shape", &[2, 2]), attr_ints("strides", &[2, 2])];
    // [[1, 5, 2], [7, 3, 9], [4, 8, 6]]: ceil_mode adds the partial windows {2, 9}, {4, 8}, {6}.
    let x = [1.0, 5.0, 2.0, 7.0, 3.0, 9.0, 4.0, 8.0, 6.0];
    let mut ceil = k2s2();
    ceil.push(attr_int("ceil_mode", 1));
    pool("MaxPool", &x, 3, ceil, &[7.0, 9.0, 8.0, 6.0], "max ceil_mode");
    // Without ceil_mode only the first window remains; a broadcast Add gives the two logits a
    // classifier needs: [7] + [0, 1].
    let mut m = OnnxBuilder::new("x", &[1, 3, 3]);
    let p = m.op("MaxPool", &["x"], k2s2());
    let f = m.op("Flatten", &[&p], vec![]);
    let two = m.init_f32("two", &[2], &[0.0, 1.0]);
    let out = m.op("Add", &[&f, &two], vec![]); // [1, 2] by broadcasting [1, 1] + [2]
    m.output(&out);
    check_closed_form("max floor", &m.to_bytes(), &x, &[7.0, 8.0]);

    // Padding: a max pool ignores it (the inputs are negative, a zero pad would win); an average
    // divides by the elements inside (count_include_pad 0) or by the whole padded window (1).
    let x = [-1.0, -2.0, -3.0, -4.0];
    let mut padded = k2s2();
    padded.push(attr_ints("pads", &[1, 1, 1, 1]));
    pool("MaxPool", &x, 2, padded.clone(), &[-1.0, -2.0, -3.0, -4.0], "max pads");
    pool("AveragePool", &x, 2, padded.clone(), &[-1.0, -2.0, -3.0, -4.0], "avg pads cip 0");
    padded.push(attr_int("count_include_pad", 1));
    pool("AveragePool", &x, 2, padded, &[-0.25, -0.5, -0.75, -1.0], "avg pads cip 1");
    // A 3×3 window with stride 1 and pads 1 on a 2×2 input: every window holds all 4 values.
    let avg =
        vec![attr_ints("kernel_shape", &[3, 3]), attr_ints("pads", &[1, 1, 1, 1]), attr_int("count_include_pad", 1)];
    pool("AveragePool", &x, 2, avg, &[-10.0 / 9.0; 4], "avg 3x3 cip 1");
    // ceil_mode without pads: the partial windows divide by the elements they hold, with or
    // without count_include_pad (as PyTorch and onnxruntime): [[1, 2, 3], [4, 5, 6], [7, 8, 9]].
    let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
    for cip in [0, 1] {
        let mut attrs = k2s2();
        attrs.extend([attr_int("ceil_mode", 1), attr_int("count_include_pad", cip)]);
        pool("AveragePool", &x, 3, attrs, &[3.0, 4.5, 7.5, 9.0], &format!("avg ceil_mode cip {cip}"));
    }
    // Dilation 2: the one 2×2 window takes the corners {1, 3, 2, 6} of a 3×3 input, not its 9.
    let mut m = OnnxBuilder::new("x", &[1, 3, 3]);
    let p = m.op("MaxPool", &["x"], vec![attr_ints("kernel_shape", &[2, 2]), attr_ints("dilations", &[2, 2])]);
    let f = m.op("Flatten", &[&p], vec![]);
    let two = m.init_f32("two", &[2], &[0.0, 1.0]);
    let out = m.op("Add", &[&f, &two], vec![]);
    m.output(&out);
    check_closed_form("max dilation", &m.to_bytes(), &[1.0, 5.0, 3.0, 7.0, 9.0, 8.0, 2.0, 4.0, 6.0], &[6.0, 7.0]);
    // GlobalAveragePool over a [2, 2, 2] sample: per-channel means.
    let mut m = OnnxBuilder::new("x", &[2, 2, 2]);
    let p = m.op("GlobalAveragePool", &["x"], vec![]);
    let f = m.op("Flatten", &[&p], vec![]);
    m.output(&f);
    check_closed_form("gap", &m.to_bytes(), &[1.0, 2.0, 3.0, 4.0, 10.0, 20.0, 30.0, 40.0], &[2.5, 25.0]);
}

fn softmax(v: &[f64]) -> Vec<f64> {
    let total: f64 = v.iter().map(|x| x.exp()).sum();
    v.iter().map(|x| x.exp() / total).collect()
}

/// Softmax of a `[1, 2, 3]` sample: over the last axis (opset 13 default), over the flattened
/// trailing axes from axis 1 (opset 11 default), and over axis 1 (opset 13, inner size 3).
#[test]
fn interpreter_matches_hand_computed_softmax() {
    let x = [0.5f32, -1.0, 2.0, 0.0, 1.0, -0.5];
    let x64 = to64(&x);
    let per_row = [softmax(&x64[..3]), softmax(&x64[3..])].concat();
    let flat = softmax(&x64);
    let cols: Vec<Vec<f64>> = (0..3).map(|j| softmax(&[x64[j], x64[3 + j]])).collect();
    let per_col: Vec<f64> = (0..6).map(|i| cols[i % 3][i / 3]).collect();
    for (opset, axis, want) in [(13, None, per_row), (11, None, flat), (13, Some(1), per_col)] {
        let mut m = OnnxBuilder::new("x", &[2, 3]).opset(opset);
        let s = m.op("Softmax", &["x"], axis.map(|a| attr_int("axis", a)).into_iter().collect());
        let f = m.op("Flatten", &[&s], vec![]);
        m.output(&f);
        check_closed_form(&format!("softmax opset {opset} axis {axis:?}"), &m.to_bytes(), &x, &want);
    }
}

/// Gemm with alpha, beta and transB; broadcasting Add/Mul/Sub/Div; Transpose; BatchNormalization;
/// the activations.
#[test]
fn interpreter_matches_hand_computed_dense_and_elementwise_ops() {
    // y_j = 2 · (B_j · x) + 0.5 · 1 with B = [[1, 2], [3, 4], [5, 6]] (transB = 1), x = [1, 2].
    let mut m = OnnxBuilder::new("x", &[2]);
    let b = m.init_f32("B", &[3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let c = m.init_f32("C", &[3], &[1.0, 1.0, 1.0]);
    let attrs = vec![attr_int("transB", 1), attr_float("alpha", 2.0), attr_float("beta", 0.5)];
    let y = m.op("Gemm", &["x", &b, &c], attrs);
    m.output(&y);
    check_closed_form("gemm", &m.to_bytes(), &[1.0, 2.0], &[10.5, 22.5, 34.5]);

    // x: [1, 2, 3] = [[1, 2, 3], [4, 5, 6]]; (x + [10, 20, 30]) · [[1], [-1]] then transposed to
    // [1, 3, 2], minus 1 and divided by 2.
    let mut m = OnnxBuilder::new("x", &[2, 3]);
    let row = m.init_f32("row", &[3], &[10.0, 20.0, 30.0]);
    let col = m.init_f32("col", &[2, 1], &[1.0, -1.0]);
    let one = m.init_f32("one", &[], &[1.0]);
    let two = m.init_f32("two", &[1], &[2.0]);
    let a = m.op("Add", &["x", &row], vec![]);
    let b = m.op("Mul", &[&col, &a], vec![]);
    let t = m.op("Transpose", &[&b], vec![attr_ints("perm", &[0, 2, 1])]);
    let s = m.op("Sub", &[&t, &one], vec![]);
    let d = m.op("Div", &[&s, &two], vec![]);
    let f = m.op("Flatten", &[&d], vec![]);
    m.output(&f);
    let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    // a = [[11, 22, 33], [14, 25, 36]]; b = [[11, 22, 33], [-14, -25, -36]];
    // t = [[11, -14], [22, -25], [33, -36]]; (t − 1) / 2:
    let want = [5.0, -7.5, 10.5, -13.0, 16.0, -18.5];
    check_closed_form("broadcast", &m.to_bytes(), &x, &want);

    // BatchNormalization on [1, 2, 2] with var 3 and epsilon 1 (√4 = 2), then each activation.
    let x = [3.0f32, -1.0, 0.0, 5.0];
    let pre: Vec<f64> = x
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let c = i / 2;
            [2.0, 0.5][c] * (f64::from(v) - [1.0, -1.0][c]) / 2.0 + [0.25, -0.25][c]
        })
        .collect(); // [2.25, -1.75, 0.0, 1.25]
    type Case = (&'static str, Vec<wbound::onnx::proto::AttributeProto>, fn(f64) -> f64);
    let acts: [Case; 13] = [
        ("Relu", vec![], |v| v.max(0.0)),
        ("LeakyRelu", vec![attr_float("alpha", 0.25)], |v| if v > 0.0 { v } else { 0.25 * v }),
        ("Sigmoid", vec![], |v| 1.0 / (1.0 + (-v).exp())),
        ("Tanh", vec![], f64::tanh),
        ("Elu", vec![attr_float("alpha", 0.5)], |v| if v > 0.0 { v } else { 0.5 * (v.exp() - 1.0) }),
        // ONNX's defaults for Selu, HardSigmoid.
        // (The defaults are f32 attributes: compared in the precision they are stored in.)
        ("Selu", vec![], |v| {
            f64::from(1.050_701_f32) * if v > 0.0 { v } else { f64::from(1.673_263_2_f32) * (v.exp() - 1.0) }
        }),
        ("Softplus", vec![], |v| (1.0 + v.exp()).ln()),
        ("Softsign", vec![], |v| v / (1.0 + v.abs())),
        ("HardSigmoid", vec![], |v| (f64::from(0.2_f32) * v + 0.5).clamp(0.0, 1.0)),
        ("HardSwish", vec![], |v| v * (v + 3.0).clamp(0.0, 6.0) / 6.0),
        ("Erf", vec![], erf_table),
        ("Gelu", vec![], gelu),
        ("Gelu", vec![attr_str("approximate", "tanh")], gelu_tanh),
    ];
    for (op, attrs, f) in acts {
        let mut m = OnnxBuilder::new("x", &[2, 2]);
        let s = m.init_f32("s", &[2], &[2.0, 0.5]);
        let b = m.init_f32("b", &[2], &[0.25, -0.25]);
        let mu = m.init_f32("mu", &[2], &[1.0, -1.0]);
        let var = m.init_f32("var", &[2], &[3.0, 3.0]);
        let attrs_bn = vec![attr_float("epsilon", 1.0)];
        let y = m.op("BatchNormalization", &["x", &s, &b, &mu, &var], attrs_bn);
        let a = m.op(op, &[&y], attrs);
        let fl = m.op("Flatten", &[&a], vec![]);
        m.output(&fl);
        let want: Vec<f64> = pre.iter().map(|&v| f(v)).collect();
        check_closed_form(op, &m.to_bytes(), &x, &want);
    }
}

/// `auto_pad`: the total padding `(out − 1)·stride + extent − in` goes to the end (SAME_UPPER) or
/// the start (SAME_LOWER) when odd; output size `ceil(in / stride)`.
#[test]
fn same_auto_pad_follows_the_onnx_spec() {
    // Pads as [front, top, left, back, bottom, right]: a 2-D convolution has depth 1.
    for (mode, pads) in [("SAME_UPPER", [0, 0, 0, 0, 1, 1]), ("SAME_LOWER", [0, 1, 1, 0, 0, 0]), ("VALID", [0; 6])] {
        let mut m = OnnxBuilder::new("x", &[1, 5, 5]);
        let w = m.init_f32("w", &[2, 1, 2, 2], &[1.0; 8]);
        let attrs = vec![attr_str("auto_pad", mode), attr_ints("strides", &[2, 2])];
        let c = m.op("Conv", &["x", &w], attrs);
        let f = m.op("Flatten", &[&c], vec![]);
        m.output(&f);
        let model = Model::from_bytes(&m.to_bytes()).unwrap();
        let Op::Conv(conv) = &model.graph().nodes[0].op else { panic!("not a Conv") };
        assert_eq!(conv.pads, pads, "{mode}");
        let side = if mode == "VALID" { 2 } else { 3 };
        assert_eq!(conv.out, [1, side, side], "{mode}");
    }
}

/// Writes the graphs above into the fuzzer's seed corpus (`fuzz/seeds/onnx`); run by hand with
/// `cargo test -p wbound --test gradients -- --ignored write_fuzz_seeds` when graphs change.
#[test]
#[ignore]
fn write_fuzz_seeds() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/onnx");
    let graphs = [
        ("attention", attention(1).0),
        ("windows_and_reductions", windows_and_reductions(1).0),
        ("embeddings", embeddings(1).0),
        ("recurrent", recurrent(1).0),
        ("folded_constants", folded_constants().0),
    ];
    for (name, bytes) in graphs {
        std::fs::write(dir.join(format!("{name}.onnx")), bytes).unwrap();
    }
}
