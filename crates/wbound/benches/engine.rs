//! Speed benchmarks (`cargo bench -p wbound`): one DeepFool step and whole score runs on the
//! reference models, and the GEMM crate's throughput on a large product as the machine's
//! practical peak. Step and GEMM throughputs are in FLOP/s (criterion's "elem/s"), score runs in
//! samples/s.

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use wbound::data::npy;
use wbound::engine::{DualNorm, Engine, Selection};
use wbound::ops::gemm::{gemm, Product, Strides};
use wbound::{ArrayDataset, Model, ParamSelection, WeightsBoundaryCalculator};

const CASES: [(&str, usize); 3] = [("mlp", 300), ("cnn", 300), ("perf/cnn32", 16)];

fn load(case: &str) -> (Model, ArrayDataset) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures").join(case);
    // perf/cnn32's model_bias.onnx has the zero biases tf2onnx dropped put back, so that its
    // weight space (and work) is influenciae's (see its README).
    let file = if dir.join("model_bias.onnx").exists() { "model_bias.onnx" } else { "model.onnx" };
    let model = Model::load(dir.join(file)).expect("fixture model");
    let data = npy::read_dataset(&dir.join("x.npy")).expect("fixture inputs");
    (model, data)
}

/// One DeepFool step on sample 0: backward of all C − 1 rows, their norms, the chosen row's
/// gradient and the next forward pass.
fn step(c: &mut Criterion) {
    let mut group = c.benchmark_group("step");
    group.sample_size(20);
    for (case, _) in CASES {
        let (model, data) = load(case);
        let graph = model.graph();
        let classes: Vec<usize> = (1..graph.num_classes()).collect();
        let engine =
            Engine::new(graph, Selection::new(graph, ParamSelection::All.resolve(graph).unwrap()), classes.len());
        let cost = engine.step_cost(classes.len(), DualNorm::L2);
        group.throughput(Throughput::Elements(2 * cost.total() as u64));
        let mut ws = engine.workspace();
        let x = data.sample(0);
        group.bench_function(case, |b| {
            b.iter(|| {
                engine.forward(&mut ws, x);
                engine.backward(&mut ws, 0, &classes);
                engine.norms(&mut ws, classes.len(), DualNorm::L2);
                engine.gradient(&mut ws, 0);
            })
        });
    }
    group.finish();
}

/// A whole `score` run (every DeepFool step of every sample) at 1 and 2 threads, and at 2 threads
/// with the shared first step (the first forward pass of 8 samples at once).
fn score(c: &mut Criterion) {
    let mut group = c.benchmark_group("score");
    group.sample_size(10);
    for (case, n) in CASES {
        let (model, data) = load(case);
        let data = data.head(n);
        group.throughput(Throughput::Elements(n as u64));
        for (threads, shared) in [(1, false), (2, false), (2, true)] {
            let calc = WeightsBoundaryCalculator::new(&model).threads(threads).shared_first_step(shared);
            let id = format!("{threads}t{}", if shared { "-shared-first-step" } else { "" });
            group.bench_with_input(BenchmarkId::new(case, id), &data, |b, d| b.iter(|| calc.score_all(d).unwrap()));
        }
    }
    group.finish();
}

/// Single-threaded throughput of the GEMM behind the engine on a 1024³ product.
fn gemm_peak(c: &mut Criterion) {
    let n = 1024;
    let a: Vec<f32> = (0..n * n).map(|i| (i % 17) as f32 * 0.1).collect();
    let b = a.clone();
    let mut out = vec![0.0f32; n * n];
    let mut group = c.benchmark_group("gemm");
    group.sample_size(10);
    group.throughput(Throughput::Elements(2 * (n * n * n) as u64));
    group.bench_function("1024x1024x1024", |bench| {
        bench.iter(|| {
            let l = Strides::row_major(n);
            gemm(Product { m: n, k: n, n, alpha: 1.0, a: &a, la: l, b: &b, lb: l, beta: 0.0, c: &mut out, lc: l });
        })
    });
    group.finish();
}

criterion_group!(benches, step, score, gemm_peak);
criterion_main!(benches);
