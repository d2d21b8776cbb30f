//! What each fuzz target does with its bytes, shared by the fuzz targets (`fuzz_targets/*.rs`)
//! and by the regression test that replays every finding (`crates/wbound/tests/fuzz_findings.rs`).
//! Each function must return without panicking, whatever the bytes; errors are fine.

use wbound::data::{cifar, csv, idx, npy, npz, stream::NpyStream};
use wbound::{ArrayDataset, Dataset, Model, Status, WeightsBoundaryCalculator};

/// ONNX bytes → graph or error; a graph that imports (and whose run fits in 64 MiB) is also
/// scored on one sample, so the engine meets every shape the importer accepts.
pub fn onnx(bytes: &[u8]) {
    let _ = wbound::onnx::summarize(bytes);
    let Ok(model) = Model::from_bytes(bytes) else { return };
    let Ok(data) = ArrayDataset::new(model.input_shape().to_vec(), vec![0.5; model.input_len()]) else { return };
    let calc = WeightsBoundaryCalculator::new(&model).step_nbr(3).threads(1).max_memory(Some(64 << 20));
    if let Ok(scores) = calc.score_all(&data) {
        assert_eq!(scores.len(), 1);
        let s = scores[0];
        assert!(!s.score.is_nan() || s.status == Status::NonFinite, "unmarked NaN: {s:?}");
    }
}

/// `.npy` bytes through every reader: in memory as samples and as labels, and streamed from a
/// file batch by batch.
pub fn npy(bytes: &[u8]) {
    let _ = npy::parse_f32(bytes);
    let _ = npy::parse_labels(bytes);
    let path =
        std::env::temp_dir().join(format!("wbound-fuzz-{}-{:?}.npy", std::process::id(), std::thread::current().id()));
    if std::fs::write(&path, bytes).is_err() {
        return;
    }
    let _ = npy::read_dataset(&path);
    if let Ok(Some(stream)) = NpyStream::open(&path) {
        let mut out = Vec::new();
        for start in (0..stream.len()).step_by(7).take(64) {
            out.clear();
            let _ = stream.read(start, 7.min(stream.len() - start), &mut out);
        }
    }
    let _ = std::fs::remove_file(&path);
}

/// `.npz` bytes → the only array, or the arrays named `x` and `y`, as samples and labels.
pub fn npz(bytes: &[u8]) {
    let _ = npz::parse_dataset(bytes, None);
    let _ = npz::parse_dataset(bytes, Some("x"));
    let _ = npz::parse_labels(bytes, "y");
}

/// MNIST IDX bytes → images or labels.
pub fn idx(bytes: &[u8]) {
    let _ = idx::parse_images(bytes);
    let _ = idx::parse_labels(bytes);
}

/// CIFAR-10 binary batch bytes → images with labels.
pub fn cifar(bytes: &[u8]) {
    let _ = cifar::parse_dataset(bytes);
}

/// CSV text → samples, without a label column and with the first byte choosing one (by index
/// from either end, or by a header name).
pub fn csv(bytes: &[u8]) {
    let _ = csv::parse_dataset(bytes, None);
    if let Some((&choice, text)) = bytes.split_first() {
        let column = match choice % 4 {
            0 => "0".to_string(),
            1 => "-1".to_string(),
            2 => "label".to_string(),
            _ => (choice / 4).to_string(),
        };
        let _ = csv::parse_dataset(text, Some(&column));
    }
}
