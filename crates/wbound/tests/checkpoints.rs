//! Checkpoints of one model ([`Checkpoints`], [`CheckpointCalculator`]): the aggregate against
//! one-model label-referenced runs, the margin and loss against the logits, weight files against
//! whole models, the shorter search on early checkpoints, and every error of mismatched inputs.

use std::collections::HashMap;
use std::path::Path;

use wbound::bench::noise::Rng;
use wbound::bench::train::{init_weights, train, Arch, TrainConfig, Trained};
use wbound::bench::BenchData;
use wbound::checkpoints::{same_graph, CheckpointCalculator, Checkpoints};
use wbound::onnx::weights::initializers;
use wbound::{ArrayDataset, Dataset, Model, Order, Reference, WeightsBoundaryCalculator};

/// A digits MLP trained for 8 epochs on 150 samples (with some labels flipped), and the data.
fn trained() -> (Trained, ArrayDataset) {
    let data_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data");
    let all = BenchData::Digits.load(&data_dir).unwrap();
    let n = 150;
    let values: Vec<f32> = (0..n).flat_map(|i| all.sample(i).to_vec()).collect();
    let mut labels: Vec<i64> = all.labels().unwrap()[..n].to_vec();
    for l in labels.iter_mut().step_by(10) {
        *l = (*l + 3) % 10;
    }
    let net = Arch::Mlp.network(all.sample_shape(), 10, 16).unwrap();
    let data = ArrayDataset::new(net.input_shape.clone(), values).unwrap().with_labels(labels).unwrap();
    let init = init_weights(&net, &mut Rng::derive(0, "init"));
    let config = TrainConfig { max_epochs: 8, batch_size: 16, lr: 1e-2, threads: 1 };
    (train(&net, &init, &data, &config, &mut Rng::derive(0, "shuffle")).unwrap(), data)
}

#[test]
fn the_aggregate_is_the_mean_of_the_checkpoints_label_referenced_runs() {
    let (trained, data) = trained();
    let checkpoints = trained.checkpoint_models().unwrap();
    assert_eq!(checkpoints.len(), 6, "epochs 1, 2, 3, 4, 6 and 8");
    let base = WeightsBoundaryCalculator::new(checkpoints.last()).threads(2).batch_size(32);
    let all = CheckpointCalculator::new(&base, &checkpoints).score_all(&data).unwrap();
    let one: Vec<_> = checkpoints
        .models()
        .iter()
        .map(|m| WeightsBoundaryCalculator::new(m).threads(1).reference(Reference::Labels).score_all(&data).unwrap())
        .collect();
    let labels = data.labels().unwrap();
    for (i, s) in all.iter().enumerate() {
        let per: Vec<f64> = one.iter().map(|r| r[i].score).collect();
        assert_eq!(s.scores, per, "sample {i}: bit-identical to one-model runs");
        assert_eq!(s.score, per.iter().sum::<f64>() / per.len() as f64);
        assert_eq!(s.steps, one.iter().map(|r| r[i].steps).sum::<usize>());
        let last = &one[one.len() - 1][i];
        assert_eq!((s.prediction, s.final_class), (last.original_class, last.final_class));
        // Margin and loss from the logits of each checkpoint, in f64.
        let l = labels[i] as usize;
        let (mut margin, mut loss) = (0.0, 0.0);
        for m in checkpoints.models() {
            let y = m.logits(data.sample(i)).unwrap();
            let other = y.iter().enumerate().filter(|&(k, _)| k != l).map(|(_, &v)| v).fold(f32::MIN, f32::max);
            margin += f64::from(y[l]) - f64::from(other);
            let max = y.iter().copied().fold(f32::MIN, f32::max);
            loss += y.iter().map(|&v| f64::from(v - max).exp()).sum::<f64>().ln() - f64::from(y[l] - max);
        }
        assert!((s.aum - margin / 6.0).abs() < 1e-9, "sample {i}: aum {} vs {}", s.aum, margin / 6.0);
        assert!((s.mean_loss - loss / 6.0).abs() < 1e-9, "sample {i}");
    }
}

#[test]
fn early_checkpoints_can_take_a_shorter_search() {
    let (trained, data) = trained();
    let checkpoints = trained.checkpoint_models().unwrap();
    let base = WeightsBoundaryCalculator::new(checkpoints.last()).threads(1);
    let short = CheckpointCalculator::new(&base, &checkpoints).early_steps(Some(1)).score_all(&data).unwrap();
    let first = WeightsBoundaryCalculator::new(&checkpoints.models()[0]).threads(1).step_nbr(1);
    let first = first.reference(Reference::Labels).score_all(&data).unwrap();
    let last = base.clone().reference(Reference::Labels).score_all(&data).unwrap();
    for (i, s) in short.iter().enumerate() {
        assert_eq!(s.scores[0], first[i].score, "sample {i}: one step on the first checkpoint");
        assert_eq!(s.scores[5], last[i].score, "sample {i}: the whole search on the last");
    }
    assert!(short.iter().zip(&last).any(|(s, l)| s.steps < l.steps * 6), "the early searches were cut");
}

#[test]
fn top_k_is_the_best_of_score_all() {
    let (trained, data) = trained();
    let checkpoints = trained.checkpoint_models().unwrap();
    let base = WeightsBoundaryCalculator::new(checkpoints.last()).threads(2).batch_size(16);
    let calc = CheckpointCalculator::new(&base, &checkpoints);
    let all = calc.score_all(&data).unwrap();
    let top = calc.compute_top_k(&data, 10, Order::Descending).unwrap();
    let mut order: Vec<usize> = (0..all.len()).collect();
    order.sort_by(|&a, &b| all[b].score.total_cmp(&all[a].score).then(a.cmp(&b)));
    assert_eq!(top.indices, order[..10]);
    assert_eq!(top.samples[..64], *data.sample(order[0]));
}

#[test]
fn weight_files_give_the_checkpoints_they_hold() {
    let (trained, data) = trained();
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model.onnx");
    std::fs::write(&model, &trained.checkpoints[0].1).unwrap();
    let mut files = Vec::new();
    for (e, onnx) in &trained.checkpoints {
        let path = dir.path().join(format!("e{e}.safetensors"));
        write_safetensors(&path, &initializers(onnx).unwrap());
        files.push(path);
    }
    let from_weights = Checkpoints::with_weights(&model, &files).unwrap();
    let whole = trained.checkpoint_models().unwrap();
    let base = WeightsBoundaryCalculator::new(whole.last()).threads(1);
    let a = CheckpointCalculator::new(&base, &whole).score_all(&data).unwrap();
    let b = CheckpointCalculator::new(&base, &from_weights).score_all(&data).unwrap();
    assert_eq!(a, b);
    for (x, y) in whole.models().iter().zip(from_weights.models()) {
        for (t, u) in x.tensors().iter().zip(y.tensors()) {
            assert_eq!((&t.name, &t.data), (&u.name, &u.data));
        }
    }
}

#[test]
fn weight_files_that_do_not_fit_are_errors_listing_the_names() {
    let (trained, _) = trained();
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model.onnx");
    std::fs::write(&model, &trained.onnx).unwrap();
    let mut weights = initializers(&trained.onnx).unwrap();
    // A state_dict key the model does not have.
    weights.insert("bn.running_mean".into(), (vec![2], vec![0.0, 1.0]));
    let extra = dir.path().join("extra.safetensors");
    write_safetensors(&extra, &weights);
    let err = Checkpoints::with_weights(&model, std::slice::from_ref(&extra)).unwrap_err().to_string();
    assert!(
        err.contains("extra.safetensors") && err.contains("match no initializer of the model: 'bn.running_mean'"),
        "{err}"
    );
    // A parameter the file does not set.
    weights.remove("bn.running_mean");
    let bias = weights.keys().find(|k| k.contains("bias")).unwrap().clone();
    weights.remove(&bias);
    let missing = dir.path().join("missing.safetensors");
    write_safetensors(&missing, &weights);
    let err = Checkpoints::with_weights(&model, &[missing]).unwrap_err().to_string();
    assert!(err.contains(&format!("no tensor for 1 of the model's parameters: '{bias}'")), "{err}");
    // Another shape.
    let mut weights = initializers(&trained.onnx).unwrap();
    let (name, (shape, values)) =
        weights.iter().find(|(_, (shape, _))| shape.len() == 2).map(|(n, v)| (n.clone(), v.clone())).unwrap();
    weights.insert(name.clone(), (vec![values.len()], values.clone()));
    let reshaped = dir.path().join("reshaped.safetensors");
    write_safetensors(&reshaped, &weights);
    let err = Checkpoints::with_weights(&model, &[reshaped]).unwrap_err().to_string();
    assert!(err.contains(&format!("'{name}' has shape [{}], the model's {shape:?}", values.len())), "{err}");
    // Not a safetensors file.
    let err = Checkpoints::with_weights(&model, std::slice::from_ref(&model)).unwrap_err().to_string();
    assert!(err.contains("not a safetensors file"), "{err}");
}

#[test]
fn checkpoints_of_different_models_name_the_first_difference() {
    let (trained, _) = trained();
    let a = Model::from_bytes(&trained.onnx).unwrap();
    let net = Arch::Mlp.network(&[1, 8, 8], 10, 12).unwrap();
    let other = Model::from_bytes(&net.to_onnx(&init_weights(&net, &mut Rng::derive(1, "init"))).unwrap()).unwrap();
    let diff = same_graph(a.graph(), other.graph()).unwrap_err();
    assert!(diff.contains("node 0") && diff.contains("[1, 12]") && diff.contains("[1, 16]"), "{diff}");
    let err = Checkpoints::new(vec![("a.onnx".into(), a.clone()), ("b.onnx".into(), other)]).unwrap_err().to_string();
    assert!(err.starts_with("checkpoint b.onnx is not the same model as a.onnx: node 0"), "{err}");
    let linear = Model::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/linear/model.onnx")).unwrap();
    assert!(same_graph(a.graph(), linear.graph()).unwrap_err().contains("input shape"));
    assert!(same_graph(a.graph(), a.graph()).is_ok());
}

#[test]
fn several_checkpoints_need_labels() {
    let (trained, data) = trained();
    let checkpoints = trained.checkpoint_models().unwrap();
    let base = WeightsBoundaryCalculator::new(checkpoints.last());
    let unlabelled = ArrayDataset::new(data.sample_shape().to_vec(), data.values().to_vec()).unwrap();
    let err = CheckpointCalculator::new(&base, &checkpoints).score_all(&unlabelled).unwrap_err().to_string();
    assert!(err.contains("6 checkpoints are scored against the labels") && err.contains("has none"), "{err}");
}

fn write_safetensors(path: &Path, weights: &HashMap<String, (Vec<usize>, Vec<f32>)>) {
    let bytes: HashMap<String, Vec<u8>> =
        weights.iter().map(|(k, (_, v))| (k.clone(), v.iter().flat_map(|x| x.to_le_bytes()).collect())).collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = weights
        .iter()
        .map(|(k, (shape, _))| {
            (
                k.clone(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), &bytes[k]).unwrap(),
            )
        })
        .collect();
    safetensors::serialize_to_file(views, &None, path).unwrap();
}
