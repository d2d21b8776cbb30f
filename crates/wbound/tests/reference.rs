//! Agreement with influenciae 0.3.0's `WeightsBoundaryCalculator` on the reference cases
//! (`tests/fixtures/{linear,mlp,cnn}`: Keras models exported with tf2onnx, scores from influenciae),
//! and the closed forms of the other norms and of the last-layer selection.

use std::path::PathBuf;

use wbound::data::npy;
use wbound::{ArrayDataset, Model, Norm, ParamSelection, SampleScore, Status, WeightsBoundaryCalculator};

fn fixture(case: &str, file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures").join(case).join(file)
}

fn load(case: &str) -> (Model, ArrayDataset, Vec<f32>) {
    let model = Model::load(fixture(case, "model.onnx")).unwrap();
    let data = npy::read_dataset(&fixture(case, "x.npy")).unwrap();
    let (_, reference) = npy::read_f32(&fixture(case, "scores.npy")).unwrap();
    (model, data, reference)
}

fn score(model: &Model, data: &ArrayDataset, norm: Norm) -> Vec<SampleScore> {
    WeightsBoundaryCalculator::new(model).norm(norm).threads(2).score_all(data).unwrap()
}

fn ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![0.0; v.len()];
    for (rank, &i) in idx.iter().enumerate() {
        r[i] = rank as f64;
    }
    r
}

fn spearman(a: &[f64], b: &[f64]) -> f64 {
    let (ra, rb) = (ranks(a), ranks(b));
    let n = a.len() as f64;
    let d2: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - y) * (x - y)).sum();
    1.0 - 6.0 * d2 / (n * (n * n - 1.0))
}

#[test]
fn linear_case_matches_influenciae_and_its_unit_test() {
    let (model, data, reference) = load("linear");
    let got = score(&model, &data, Norm::L2);
    assert!((got[0].score + 2.0 * 2f64.sqrt()).abs() < 1e-6, "x = 0 gives {}", got[0].score);
    for (i, (g, r)) in got.iter().zip(&reference).enumerate() {
        assert!((g.score - f64::from(*r)).abs() < 1e-5, "sample {i}: {} vs {r}", g.score);
    }
}

fn check_case(case: &str) {
    let (model, data, reference) = load(case);
    let got = score(&model, &data, Norm::L2);
    let reference: Vec<f64> = reference.iter().map(|&v| f64::from(v)).collect();
    let rel: Vec<f64> = got.iter().zip(&reference).map(|(g, r)| (g.score - r).abs() / r.abs()).collect();
    let close = rel.iter().filter(|&&e| e <= 1e-3).count();
    let worst = rel.iter().cloned().fold(0.0, f64::max);
    eprintln!("{case}: {close}/{} within 1e-3, worst {worst:.2e}, statuses follow", rel.len());
    assert!(close * 100 >= 99 * rel.len(), "{case}: only {close}/{} within 1e-3 relative", rel.len());
    assert!(worst <= 2e-2, "{case}: worst relative error {worst}");
    let ours: Vec<f64> = got.iter().map(|s| s.score).collect();
    let rho = spearman(&ours, &reference);
    assert!(rho >= 0.999, "{case}: Spearman {rho}");
    let statuses = std::fs::read_to_string(fixture(case, "stop_reason.txt")).unwrap();
    let agree = statuses
        .lines()
        .zip(&got)
        .filter(|(r, g)| match *r {
            "crossed" | "on_boundary" => matches!(g.status, Status::Crossed | Status::OnBoundary),
            _ => g.status == Status::StepLimit,
        })
        .count();
    eprintln!("{case}: Spearman {rho:.6}, status agreement {agree}/{}", got.len());
    assert!(agree * 100 >= 95 * got.len(), "{case}: status agrees on {agree}/{}", got.len());
}

#[test]
fn mlp_case_matches_influenciae() {
    check_case("mlp");
}

#[test]
fn cnn_case_matches_influenciae() {
    check_case("cnn");
}

/// Gradient of `f_k − f_c0` for the linear model `f = x·W + b` (W: 3×2): `±x` in the two
/// columns of W and `±1` in the bias, so `‖g‖_∞ = max(max|x_i|, 1)` and `‖g‖_1 = 2(Σ|x_i| + 1)`.
#[test]
fn linear_case_other_norms_equal_their_closed_forms() {
    let (model, data, _) = load("linear");
    for (norm, dual) in [(Norm::L1, "inf"), (Norm::Linf, "1")] {
        let got = score(&model, &data, norm);
        for (i, g) in got.iter().enumerate() {
            let x = data.sample(i);
            let y = model.logits(x).unwrap();
            let delta = f64::from((y[0] - y[1]).abs());
            let gnorm = if dual == "inf" {
                x.iter().map(|v| f64::from(v.abs())).fold(1.0, f64::max)
            } else {
                2.0 * (x.iter().map(|v| f64::from(v.abs())).sum::<f64>() + 1.0)
            };
            let want = delta / gnorm;
            assert!(
                (g.distance - want).abs() < 1e-6 * want.max(1.0),
                "p = {norm}, sample {i}: {} vs {want}",
                g.distance
            );
        }
    }
}

/// With only the last layer moving, the logits are linear in the moved weights:
/// distance = min_k |Δf_k| / ‖∇Δf_k‖₂ = min_k |Δf_k| / √(2(‖h‖² + 1)), h the hidden activations.
#[test]
fn last_layer_selection_equals_the_closed_form_on_the_mlp() {
    let (model, data, _) = load("mlp");
    let mut npz = npyz::npz::NpzArchive::open(fixture("mlp", "weights.npz")).unwrap();
    let mut get = |name: &str| -> Vec<f32> { npz.by_name(name).unwrap().unwrap().into_vec().unwrap() };
    let (w1, b1) = (get("fc1/kernel:0"), get("fc1/bias:0"));
    let got = WeightsBoundaryCalculator::new(&model).params(ParamSelection::Last).threads(2).score_all(&data).unwrap();
    for (i, g) in got.iter().enumerate() {
        let x = data.sample(i);
        let h: Vec<f64> = (0..32)
            .map(|j| {
                (f64::from(b1[j]) + (0..64).map(|p| f64::from(x[p]) * f64::from(w1[p * 32 + j])).sum::<f64>()).max(0.0)
            })
            .collect();
        let hn = (2.0 * (h.iter().map(|v| v * v).sum::<f64>() + 1.0)).sqrt();
        let y = model.logits(x).unwrap();
        let c0 = (0..10).fold(0, |b, k| if y[k] > y[b] { k } else { b });
        let want =
            (0..10).filter(|&k| k != c0).map(|k| f64::from((y[k] - y[c0]).abs()) / hn).fold(f64::INFINITY, f64::min);
        assert!((g.distance - want).abs() <= 1e-4 * want, "sample {i}: {} vs {want}", g.distance);
    }
}

#[test]
fn scores_do_not_depend_on_batch_size_or_threads() {
    let (model, data, _) = load("cnn");
    let data = data.head(64);
    let base = WeightsBoundaryCalculator::new(&model).threads(1).batch_size(64).score_all(&data).unwrap();
    for (threads, batch) in [(1, 1), (2, 7), (2, 64)] {
        let other = WeightsBoundaryCalculator::new(&model).threads(threads).batch_size(batch).score_all(&data).unwrap();
        assert_eq!(base, other, "threads {threads}, batch {batch}");
    }
    // The shared first step (samples in groups through the trained weights) changes no bit.
    for (case, n) in [("cnn", 64), ("mlp", 64)] {
        let (model, data, _) = load(case);
        let data = data.head(n);
        let alone = WeightsBoundaryCalculator::new(&model).threads(2).score_all(&data).unwrap();
        let shared =
            WeightsBoundaryCalculator::new(&model).threads(2).shared_first_step(true).score_all(&data).unwrap();
        assert_eq!(shared, alone, "{case}");
    }
}

/// The 545k-parameter CNN of the speed benchmarks (random weights, zero biases put back into the
/// tf2onnx export: see tests/fixtures/perf/cnn32/README.md).
#[test]
fn cnn32_with_its_biases_matches_influenciae() {
    let model = Model::load(fixture("perf/cnn32", "model_bias.onnx")).unwrap();
    assert_eq!(model.num_trainable(), 545_098);
    let data = npy::read_dataset(&fixture("perf/cnn32", "x.npy")).unwrap().head(16);
    let (_, reference) = npy::read_f32(&fixture("perf/cnn32", "scores.npy")).unwrap();
    let got = score(&model, &data, Norm::L2);
    for (i, (g, r)) in got.iter().zip(&reference).enumerate() {
        let rel = (g.score - f64::from(*r)).abs() / f64::from(r.abs());
        assert!(rel < 1e-3, "sample {i}: {} vs {r}", g.score);
    }
}

/// The cost model of one step (`wbound inspect`, docs/PERFORMANCE.md) in closed form: the mlp's
/// dense layers 64→32→10, and the 545k-parameter CNN, whose convolutions' chosen-row gradients
/// come from the batched norms (no multiply-adds) while its dense layers' are outer products.
#[test]
fn step_cost_matches_the_layer_formulas() {
    use wbound::engine::{DualNorm, Engine, Selection};
    let cost = |case: &str, file: &str| {
        let model = Model::load(fixture(case, file)).unwrap();
        let g = model.graph();
        let engine = Engine::new(g, Selection::new(g, ParamSelection::All.resolve(g).unwrap()), 9);
        engine.step_cost(9, DualNorm::L2)
    };
    let mlp = cost("mlp", "model.onnx");
    let forward = 64 * 32 + 32 * 10;
    // Backward: 9 rows through the second layer only (nothing flows into the input).
    // Norms (Gram, one row each): ‖x‖² + 9‖δ‖² per layer.
    assert_eq!(
        (mlp.forward, mlp.backward, mlp.norms, mlp.gradient),
        (forward, 9 * 32 * 10, 64 + 9 * 32 + 32 + 9 * 10, forward)
    );
    let cnn32 = cost("perf/cnn32", "model_bias.onnx");
    assert_eq!(cnn32.gradient, 4096 * 128 + 128 * 10);
    // conv1 3→32 and conv2 32→64, 3×3 on 32×32 and 16×16 maps, then the two dense layers.
    assert_eq!(cnn32.forward, 32 * 27 * 1024 + 64 * 288 * 256 + 4096 * 128 + 128 * 10);
}
