//! The architectures people train today (`tests/fixtures/arch`: a ViT, BERT and DistilBERT on token
//! ids, LSTM, GRU, DenseNet, Inception, ShuffleNet, 1-D conv and ConvNeXt blocks, each exported by
//! torch.onnx's legacy and dynamo exporters): every file imports, wbound moves exactly the
//! parameters the file holds of the torch model, and its scores agree with the independent
//! torch.func implementation (`tools/wb_torch.py`, run on the torch module in float64) for the
//! prediction and the label reference — at least 99% of samples within 1e-3 relative and a
//! Spearman correlation of at least 0.999.

use std::path::{Path, PathBuf};

use wbound::data::npy;
use wbound::{Model, Reference, WeightsBoundaryCalculator};

const CASES: [&str; 10] =
    ["vit", "bert", "distilbert", "lstm", "gru", "densenet", "inception", "shuffle", "conv1d", "convnext"];

fn dir(case: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/arch").join(case)
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

fn reference(d: &Path, file: &str) -> Vec<f64> {
    let (_, v) = npy::read_f32(&d.join(file)).unwrap();
    v.into_iter().map(f64::from).collect()
}

fn check(case: &str, export: &str) {
    let d = dir(case);
    let meta: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(d.join("meta.json")).unwrap()).unwrap();
    let model = Model::load(d.join(format!("{export}.onnx"))).unwrap_or_else(|e| panic!("{case}/{export}: {e}"));
    let held = meta["exports"][export]["parameter_scalars_in_file"].as_u64().unwrap() as usize;
    assert_eq!(model.num_trainable(), held, "{case}/{export}: parameters moved vs held by the file");
    let labels = npy::read_labels(&d.join("y.npy")).unwrap();
    let data = npy::read_dataset(&d.join("x.npy")).unwrap().with_labels(labels).unwrap();
    for (reference_kind, file) in
        [(Reference::Prediction, "scores_prediction.npy"), (Reference::Labels, "scores_label.npy")]
    {
        let want = reference(&d, file);
        let calc = WeightsBoundaryCalculator::new(&model).threads(2).reference(reference_kind);
        let got: Vec<f64> = calc.score_all(&data).unwrap().iter().map(|s| s.score).collect();
        let rel: Vec<f64> = got.iter().zip(&want).map(|(g, w)| (g - w).abs() / w.abs().max(1e-12)).collect();
        let close = rel.iter().filter(|&&e| e <= 1e-3).count();
        let rho = spearman(&got, &want);
        let worst = rel.iter().copied().fold(0.0, f64::max);
        eprintln!(
            "{case}/{export} {reference_kind}: {close}/{} within 1e-3 (worst {worst:.1e}), spearman {rho:.6}",
            rel.len()
        );
        assert!(close * 100 >= 99 * rel.len(), "{case}/{export} {reference_kind}: {close}/{} within 1e-3", rel.len());
        assert!(rho >= 0.999, "{case}/{export} {reference_kind}: spearman {rho}");
    }
}

#[test]
fn every_fixture_matches_the_torch_reference() {
    for case in CASES {
        for export in ["legacy", "dynamo"] {
            check(case, export);
        }
    }
}

/// Token ids outside the embedding table are refused before any work, naming sample, position and
/// table.
#[test]
fn token_ids_outside_the_vocabulary_are_refused() {
    let d = dir("bert");
    let model = Model::load(d.join("legacy.onnx")).unwrap();
    let mut data = npy::read_dataset(&d.join("x.npy")).unwrap();
    let n = data.sample(0).len();
    let mut values = data.values().to_vec();
    values[n + 3] = 64.0;
    data = wbound::ArrayDataset::new(vec![n], values).unwrap();
    let err = WeightsBoundaryCalculator::new(&model).score_all(&data).unwrap_err().to_string();
    assert!(err.contains("sample 1") && err.contains("position 3") && err.contains("64 rows"), "{err}");
}
