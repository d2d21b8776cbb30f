//! The mislabel-detection benchmark: its ROC metric against influenciae's (meta.json of the
//! reference cases), training (gradient, determinism) and the ONNX export round trip.

use std::path::PathBuf;

use wbound::bench::metrics::roc_metric;
use wbound::bench::noise::Rng;
use wbound::bench::train::{init_weights, softmax_seed, train, Arch, TrainConfig};
use wbound::bench::{BenchConfig, BenchData, Method};
use wbound::data::npy;
use wbound::engine::{Engine, Selection};
use wbound::{ArrayDataset, Dataset, Model, ParamSelection, WeightsBoundaryCalculator};

fn fixture(case: &str, file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures").join(case).join(file)
}

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data")
}

/// influenciae's ROC metric of the case, and the flipped indices.
fn reference(case: &str) -> (f64, Vec<usize>) {
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture(case, "meta.json")).unwrap()).unwrap();
    let noisy = npy::read_labels(&fixture(case, "noisy_idx.npy")).unwrap();
    (meta["roc_metric"].as_f64().unwrap(), noisy.into_iter().map(|i| i as usize).collect())
}

#[test]
fn roc_metric_reproduces_influenciae_from_its_scores() {
    for case in ["mlp", "cnn"] {
        let (expected, noisy) = reference(case);
        let (_, scores) = npy::read_f32(&fixture(case, "scores.npy")).unwrap();
        let scores: Vec<f64> = scores.iter().map(|&v| f64::from(v)).collect();
        let got = roc_metric(&scores, &noisy);
        assert!((got - expected).abs() < 1e-12, "{case}: {got} vs influenciae's {expected}");
    }
}

#[test]
fn our_scores_give_influenciaes_roc_metric() {
    for case in ["mlp", "cnn"] {
        let (expected, noisy) = reference(case);
        let model = Model::load(fixture(case, "model.onnx")).unwrap();
        let data = npy::read_dataset(&fixture(case, "x.npy")).unwrap();
        let scores: Vec<f64> = WeightsBoundaryCalculator::new(&model)
            .threads(2)
            .score_all(&data)
            .unwrap()
            .iter()
            .map(|s| s.score)
            .collect();
        let got = roc_metric(&scores, &noisy);
        assert!((got - expected).abs() < 0.005, "{case}: {got} vs influenciae's {expected}");
    }
}

/// A small labelled data set of digits, flattened for the MLP.
fn digits(n: usize) -> ArrayDataset {
    let d = BenchData::Digits.load(&data_dir()).unwrap().head(n);
    let labels = d.labels().unwrap().to_vec();
    d.reshape(vec![64]).unwrap().with_labels(labels).unwrap()
}

fn config(threads: usize) -> TrainConfig {
    TrainConfig { max_epochs: 3, batch_size: 20, lr: 1e-2, threads }
}

#[test]
fn training_is_deterministic_whatever_the_thread_count() {
    let net = Arch::Mlp.network(&[1, 8, 8], 10, 16).unwrap();
    let data = digits(100);
    let run = |threads| {
        let init = init_weights(&net, &mut Rng::new(5));
        train(&net, &init, &data, &config(threads), &mut Rng::new(6)).unwrap()
    };
    let (a, b, c) = (run(2), run(2), run(1));
    assert_eq!(a.onnx, b.onnx, "two runs of one seed differ");
    assert_eq!(a.onnx, c.onnx, "one and two threads differ");
    assert!(a.loss.is_finite() && a.epochs == 3);
}

#[test]
fn saved_onnx_reimports_to_the_same_logits() {
    let data = BenchData::Digits.load(&data_dir()).unwrap().head(40);
    let net = Arch::Cnn.network(data.sample_shape(), 10, 0).unwrap();
    let init = init_weights(&net, &mut Rng::new(1));
    let trained = train(&net, &init, &data, &config(2), &mut Rng::new(2)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cnn.onnx");
    std::fs::write(&path, &trained.onnx).unwrap();
    let reloaded = Model::load(&path).unwrap();
    let ops: Vec<&str> = reloaded.graph().nodes.iter().map(|n| n.op_type.as_str()).collect();
    assert_eq!(ops, ["Conv", "Relu", "MaxPool", "Conv", "Relu", "MaxPool", "Gemm"]);
    assert_eq!(reloaded.num_trainable(), 8 * 9 + 8 + 16 * 72 + 16 + 64 * 10 + 10);
    for i in 0..data.len() {
        assert_eq!(reloaded.logits(data.sample(i)).unwrap(), trained.model.logits(data.sample(i)).unwrap());
    }
    // Trained weights differ from the initial ones.
    let initial = Model::from_bytes(&net.to_onnx(&init).unwrap()).unwrap();
    assert_ne!(initial.logits(data.sample(0)).unwrap(), reloaded.logits(data.sample(0)).unwrap());
}

#[test]
fn cross_entropy_gradient_matches_finite_differences() {
    let net = Arch::Mlp.network(&[1, 2, 3], 4, 5).unwrap();
    let weights = init_weights(&net, &mut Rng::new(9));
    let model = Model::from_bytes(&net.to_onnx(&weights).unwrap()).unwrap();
    let graph = model.graph();
    let selection = Selection::new(graph, ParamSelection::All.resolve(graph).unwrap());
    let w0 = selection.w0.clone();
    let engine = Engine::new(graph, selection, 1);
    let mut ws = engine.workspace();
    let x = [0.3, -0.7, 1.1, 0.4, -0.2, 0.9];
    let label = 2;
    let mut seed = vec![0.0; 4];
    let loss_at = |ws: &mut wbound::engine::Workspace, w: &[f32]| {
        ws.w.copy_from_slice(w);
        let logits = engine.forward(ws, &x).to_vec();
        softmax_seed(&logits, label, &mut [0.0; 4]).0
    };
    let logits = engine.forward(&mut ws, &x).to_vec();
    softmax_seed(&logits, label, &mut seed);
    engine.backward_seeded(&mut ws, &seed);
    engine.gradient(&mut ws, 0);
    let grad = ws.grad.clone();
    let h = 1e-3f32;
    let mut worst = 0f64;
    for j in 0..w0.len() {
        let (mut up, mut down) = (w0.clone(), w0.clone());
        up[j] += h;
        down[j] -= h;
        let fd = (loss_at(&mut ws, &up) - loss_at(&mut ws, &down)) / (2.0 * f64::from(h));
        worst = worst.max((fd - f64::from(grad[j])).abs());
    }
    assert!(worst < 2e-3, "worst gradient error {worst}");
    assert!(grad.iter().any(|&g| g.abs() > 1e-2));
}

#[test]
fn bench_seed_on_digits_with_a_small_budget() {
    let data = BenchData::Digits.load(&data_dir()).unwrap();
    let mut config = BenchConfig::new(BenchData::Digits, Arch::Mlp);
    config.train_size = 300;
    config.train.max_epochs = 60;
    config.threads = 2;
    config.train.threads = 2;
    let run = config.run_seed(&data, 0).unwrap();
    assert_eq!((run.n_train, run.noisy.len()), (300, 30));
    assert_eq!(run.methods.len(), Method::ALL.len());
    for m in &run.methods {
        for v in [m.roc_metric, m.auroc, m.precision_at_k, m.recall_at_5pct, m.recall_at_10pct] {
            assert!(v.is_finite() && (0.0..=1.0).contains(&v), "{}: {v}", m.method);
        }
        assert!((m.curve.last().unwrap() - 1.0).abs() < 1e-12);
    }
    let random = &run.methods[Method::ALL.iter().position(|&m| m == Method::Random).unwrap()];
    assert!((random.roc_metric - 0.5).abs() < 0.1, "random: {}", random.roc_metric);
    let wb = &run.methods[0];
    assert!(wb.roc_metric > 0.7, "wb finds the flipped labels: {}", wb.roc_metric);
}
