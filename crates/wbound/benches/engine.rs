//! Speed benchmarks (`cargo bench -p wbound`): one DeepFool step and whole score runs on the
//! reference models and on the large ones (`tools/make_large_models.py` writes them to
//! `tests/fixtures/large/`; absent, they are skipped), and single-threaded f32 GEMM throughput —
//! the engine's kernels (matrixmultiply) next to the `gemm` crate's (AVX-512 where the CPU has
//! it) — on 1024³ and on the large cases' main product shapes, as the machine's practical peak.
//! Step and GEMM throughputs are in FLOP/s (criterion's "elem/s"), score runs in samples/s.

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use wbound::data::npy;
use wbound::engine::{DualNorm, Engine, Selection};
use wbound::ops::gemm::{gemm, Product, Strides};
use wbound::{ArrayDataset, Model, ParamSelection, WeightsBoundaryCalculator};

/// The reference cases and the samples of a score run.
const CASES: [(&str, usize); 3] = [("mlp", 300), ("cnn", 300), ("perf/cnn32", 16)];
/// The large cases (`tests/fixtures/large/<case>.onnx`) and the samples of a score run.
const LARGE: [(&str, usize); 4] = [("resnet18", 4), ("convnext", 4), ("vit_tiny", 2), ("bert_tiny", 8)];

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn load(case: &str) -> (Model, ArrayDataset) {
    let dir = fixtures().join(case);
    // perf/cnn32's model_bias.onnx has the zero biases tf2onnx dropped put back, so that its
    // weight space (and work) is influenciae's (see its README).
    let file = if dir.join("model_bias.onnx").exists() { "model_bias.onnx" } else { "model.onnx" };
    let model = Model::load(dir.join(file)).expect("fixture model");
    let data = npy::read_dataset(&dir.join("x.npy")).expect("fixture inputs");
    (model, data)
}

/// A large case, or `None` (with a note) when `tools/make_large_models.py` has not written it.
fn load_large(case: &str) -> Option<(Model, ArrayDataset)> {
    let dir = fixtures().join("large");
    let file = dir.join(format!("{case}.onnx"));
    if !file.exists() {
        eprintln!("skipping {case}: {} is absent (run tools/make_large_models.py)", file.display());
        return None;
    }
    let model = Model::load(&file).expect("large model");
    let data = npy::read_dataset(&dir.join(format!("{case}_x.npy"))).expect("large model inputs");
    Some((model, data))
}

/// Every case present: the reference ones, then the large ones (named `large/<case>`).
fn all_cases() -> Vec<(String, usize, Model, ArrayDataset)> {
    let mut cases: Vec<_> = CASES
        .iter()
        .map(|&(case, n)| {
            let (model, data) = load(case);
            (case.to_string(), n, model, data)
        })
        .collect();
    for (case, n) in LARGE {
        if let Some((model, data)) = load_large(case) {
            cases.push((format!("large/{case}"), n, model, data));
        }
    }
    cases
}

/// One DeepFool step on sample 0: backward of all C − 1 rows, their norms, the chosen row's
/// gradient and the next forward pass.
fn step(c: &mut Criterion) {
    let mut group = c.benchmark_group("step");
    group.sample_size(20);
    for (case, _, model, data) in all_cases() {
        if case.starts_with("large/") {
            group.sample_size(10);
        }
        let graph = model.graph();
        let classes: Vec<usize> = (1..graph.num_classes()).collect();
        let engine =
            Engine::new(graph, Selection::new(graph, ParamSelection::All.resolve(graph).unwrap()), classes.len());
        let cost = engine.step_cost(classes.len(), DualNorm::L2);
        group.throughput(Throughput::Elements(2 * cost.total() as u64));
        let mut ws = engine.workspace();
        let x = data.sample(0);
        group.bench_function(&case, |b| {
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

/// A whole `score` run (every DeepFool step of every sample) at 1 and 2 threads, and, on the
/// reference cases, at 2 threads with the shared first step (the first forward pass of 8 samples
/// at once).
fn score(c: &mut Criterion) {
    let mut group = c.benchmark_group("score");
    group.sample_size(10);
    for (case, n, model, data) in all_cases() {
        let data = data.head(n);
        group.throughput(Throughput::Elements(n as u64));
        let large = case.starts_with("large/");
        for (threads, shared) in [(1, false), (2, false), (2, true)] {
            if large && shared {
                continue;
            }
            let calc = WeightsBoundaryCalculator::new(&model).threads(threads).shared_first_step(shared);
            let id = format!("{threads}t{}", if shared { "-shared-first-step" } else { "" });
            group.bench_with_input(BenchmarkId::new(&case, id), &data, |b, d| b.iter(|| calc.score_all(d).unwrap()));
        }
    }
    group.finish();
}

/// The product shapes `(m, k, n, a transposed)` that carry most of a large case's step
/// (ResNet-18 32×32: the backward of the 9 cotangent rows through layer1…layer4's 3×3
/// convolutions, `Wᵀ [kd, cout] · δ [cout, rows·T]`, and conv1's norms), besides 1024³.
const SHAPES: [(usize, usize, usize, bool); 6] = [
    (1024, 1024, 1024, false),
    (576, 64, 64, true),
    (1152, 128, 16, true),
    (2304, 256, 4, true),
    (4608, 512, 9, true),
    (576, 256, 147, false),
];

/// Single-threaded throughput of the engine's GEMM (matrixmultiply) and of the `gemm` crate's
/// kernels (AVX-512 on a CPU that has it) on the same products: the higher is the machine's
/// practical peak.
fn gemm_peak(c: &mut Criterion) {
    let mut group = c.benchmark_group("gemm");
    group.sample_size(10);
    for (m, k, n, at) in SHAPES {
        let a: Vec<f32> = (0..m * k).map(|i| (i % 17) as f32 * 0.1).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i % 13) as f32 * 0.1).collect();
        let mut out = vec![0.0f32; m * n];
        let la = if at { Strides::col_major(m) } else { Strides::row_major(k) };
        let (lb, lc) = (Strides::row_major(n), Strides::row_major(n));
        let shape = format!("{m}x{k}x{n}{}", if at { "-at" } else { "" });
        group.throughput(Throughput::Elements(2 * (m * k * n) as u64));
        group.bench_function(BenchmarkId::new("matrixmultiply", &shape), |bench| {
            bench.iter(|| gemm(Product { m, k, n, alpha: 1.0, a: &a, la, b: &b, lb, beta: 0.0, c: &mut out, lc }))
        });
        group.bench_function(BenchmarkId::new("gemm-crate", &shape), |bench| {
            bench.iter(|| {
                // SAFETY: the three buffers hold m×k, k×n and m×n values at these strides, and
                // `out` is borrowed mutably (no overlap). The crate's `alpha` scales the old
                // `dst` (not read here), its `beta` the product.
                unsafe {
                    gemm::gemm(
                        m,
                        n,
                        k,
                        out.as_mut_ptr(),
                        lc.cs as isize,
                        lc.rs as isize,
                        false,
                        a.as_ptr(),
                        la.cs as isize,
                        la.rs as isize,
                        b.as_ptr(),
                        lb.cs as isize,
                        lb.rs as isize,
                        0.0,
                        1.0,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    )
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, step, score, gemm_peak);
criterion_main!(benches);
