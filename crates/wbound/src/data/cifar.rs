//! CIFAR-10 binary batches (`data_batch_1.bin` ... `test_batch.bin` of the "binary version"):
//! records of one label byte (0..9) and 3072 pixel bytes (1024 red, 1024 green, 1024 blue, each
//! 32x32 row-major). Samples come out as `[3, 32, 32]` raw 0..255 values in f32, marked as
//! [`Layout::Nchw`] images, with their labels.

use std::path::{Path, PathBuf};

use super::{read_bytes, ArrayDataset, Layout};
use crate::error::{Error, Result};

/// Bytes of one record: the label, then the CHW pixels.
pub const RECORD_BYTES: usize = 1 + PIXELS;
const PIXELS: usize = 3 * 32 * 32;

/// The CIFAR-10 class names, by label.
pub const CLASS_NAMES: [&str; 10] =
    ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

/// Splits CIFAR-10 bytes into labels and pixels (appended to `labels` and `data`).
fn parse(bytes: &[u8], labels: &mut Vec<i64>, data: &mut Vec<f32>) -> Result<()> {
    if bytes.is_empty() || !bytes.len().is_multiple_of(RECORD_BYTES) {
        let hint = if !bytes.is_empty() && bytes.len().is_multiple_of(RECORD_BYTES + 1) {
            " (records of 3074 bytes look like CIFAR-100, which wbound does not read)"
        } else {
            " (truncated, or not a CIFAR-10 binary batch?)"
        };
        return Err(Error::Data(format!(
            "{} bytes are not a whole number of CIFAR-10 records of {RECORD_BYTES} bytes \
             (1 label byte + 3072 pixel bytes){hint}",
            bytes.len()
        )));
    }
    labels.reserve(bytes.len() / RECORD_BYTES);
    data.reserve(bytes.len() / RECORD_BYTES * PIXELS);
    for (i, record) in bytes.chunks_exact(RECORD_BYTES).enumerate() {
        let label = record[0];
        if usize::from(label) >= CLASS_NAMES.len() {
            return Err(Error::Data(format!(
                "record {i} has label {label}; CIFAR-10 labels are 0..9 (not a CIFAR-10 binary batch?)"
            )));
        }
        labels.push(i64::from(label));
        data.extend(record[1..].iter().map(|&p| f32::from(p)));
    }
    Ok(())
}

/// As [`read_dataset`], from the (gunzipped) bytes of one batch.
pub fn parse_dataset(bytes: &[u8]) -> Result<ArrayDataset> {
    let (mut labels, mut data) = (Vec::new(), Vec::new());
    parse(bytes, &mut labels, &mut data)?;
    dataset(labels, data)
}

/// Reads one CIFAR-10 binary batch (plain or gzipped).
pub fn read_dataset(path: &Path) -> Result<ArrayDataset> {
    read_batches(&[path.to_path_buf()])
}

/// Reads several CIFAR-10 binary batches (e.g. `data_batch_1.bin` ... `data_batch_5.bin`) as one
/// data set, in order.
pub fn read_batches(paths: &[PathBuf]) -> Result<ArrayDataset> {
    let (mut labels, mut data) = (Vec::new(), Vec::new());
    for path in paths {
        parse(&read_bytes(path)?, &mut labels, &mut data).map_err(|e| e.in_file(path))?;
    }
    if labels.is_empty() {
        return Err(Error::Data("no CIFAR-10 batch files given".into()));
    }
    dataset(labels, data)
}

fn dataset(labels: Vec<i64>, data: Vec<f32>) -> Result<ArrayDataset> {
    ArrayDataset::new(vec![3, 32, 32], data)
        .and_then(|d| d.with_labels(labels))
        .and_then(|d| d.with_image_layout(Layout::Nchw))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dataset;

    #[test]
    fn rejects_bad_sizes_and_labels() {
        let (mut l, mut d) = (Vec::new(), Vec::new());
        let err = parse(&[0; RECORD_BYTES + 1], &mut l, &mut d).unwrap_err().to_string();
        assert!(err.contains("3074 bytes") && err.contains("3073"), "{err}");
        let err = parse(&[0; 2 * (RECORD_BYTES + 1)], &mut l, &mut d).unwrap_err().to_string();
        assert!(err.contains("CIFAR-100"), "{err}");
        assert!(parse(&[], &mut l, &mut d).is_err());
        let mut record = vec![0; RECORD_BYTES];
        record[0] = 10;
        let err = parse(&record, &mut l, &mut d).unwrap_err().to_string();
        assert!(err.contains("record 0 has label 10"), "{err}");
    }

    #[test]
    fn reads_batches_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut paths = Vec::new();
        for (i, label) in [3u8, 9].into_iter().enumerate() {
            let mut record = vec![label];
            record.extend((0..PIXELS).map(|p| ((p + i) % 256) as u8));
            let path = dir.path().join(format!("data_batch_{i}.bin"));
            std::fs::write(&path, &record).unwrap();
            paths.push(path);
        }
        let d = read_batches(&paths).unwrap();
        assert_eq!((d.len(), d.sample_shape(), d.labels()), (2, &[3, 32, 32][..], Some(&[3, 9][..])));
        assert_eq!(d.sample(1)[..3], [1.0, 2.0, 3.0]);
        assert!(read_batches(&[]).is_err());
    }
}
