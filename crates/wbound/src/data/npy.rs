//! `.npy` arrays as an [`ArrayDataset`] whose first axis indexes samples, and integer `.npy`
//! arrays as labels.
//!
//! Inputs may be float32/float64, (u)int8..64 or bool (converted to f32, so uint8 images come out
//! as raw 0..255 values); labels may be any integer dtype, or a float array holding whole numbers.

use std::path::Path;

use super::{dtype, ArrayDataset};
use crate::error::{Error, Result};

/// An `.npy` array of any numeric type, converted to f32, with its shape.
pub fn read_f32(path: &Path) -> Result<(Vec<usize>, Vec<f32>)> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io { path: path.to_path_buf(), cause: source })?;
    parse_f32(&bytes).map_err(|e| e.in_file(path))
}

/// Parses `.npy` bytes of a numeric dtype, converted to f32.
pub fn parse_f32(bytes: &[u8]) -> Result<(Vec<usize>, Vec<f32>)> {
    let array = dtype::parse(bytes)?;
    let shape = array.shape.clone();
    Ok((shape, array.into_f32()?))
}

/// Parses `.npy` bytes of integer labels (or floats holding whole numbers), any shape, flattened.
pub fn parse_labels(bytes: &[u8]) -> Result<Vec<i64>> {
    dtype::parse(bytes)?.into_i64()
}

/// Reads an `.npy` file of labels, one per sample: shape `[N]` (or `[N, 1]`).
pub fn read_labels(path: &Path) -> Result<Vec<i64>> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io { path: path.to_path_buf(), cause: source })?;
    let array = dtype::parse(&bytes).map_err(|e| e.in_file(path))?;
    check_label_shape(&array.shape).map_err(|e| e.in_file(path))?;
    array.into_i64().map_err(|e| e.in_file(path))
}

/// Labels must be a vector, or a column `[N, 1]`.
pub(crate) fn check_label_shape(shape: &[usize]) -> Result<()> {
    match shape {
        [_] | [_, 1] => Ok(()),
        _ => Err(Error::Data(format!(
            "labels must have shape [N] (one integer per sample), not {shape:?}; \
             for one-hot labels save y.argmax(axis=1)"
        ))),
    }
}

/// The shape of one sample of an array of shape `shape`, after checking it holds samples.
pub(crate) fn sample_shape(shape: &[usize]) -> Result<Vec<usize>> {
    match shape {
        [] => Err(Error::Data("the array is a scalar; expected [samples, ...]".into())),
        [0, ..] => Err(Error::Data(format!("the array holds zero samples (shape {shape:?})"))),
        [_] => Ok(vec![1]),
        [_, rest @ ..] => Ok(rest.to_vec()),
    }
}

/// Reads an `.npy` file of shape `[N, ...]` as N samples (shape `[N]`: N samples of shape `[1]`).
pub fn read_dataset(path: &Path) -> Result<ArrayDataset> {
    let (shape, data) = read_f32(path)?;
    let sample = sample_shape(&shape).map_err(|e| e.in_file(path))?;
    ArrayDataset::new(sample, data).map_err(|e| e.in_file(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use npyz::WriterBuilder;

    fn npy<T: npyz::Serialize + npyz::AutoSerialize + Copy>(shape: &[u64], data: &[T]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = npyz::WriteOptions::<T>::new().default_dtype().shape(shape).writer(&mut out).begin_nd().unwrap();
        w.extend(data.iter().copied()).unwrap();
        w.finish().unwrap();
        out
    }

    #[test]
    fn reads_every_numeric_dtype_as_f32() {
        assert_eq!(parse_f32(&npy(&[2], &[0u8, 255])).unwrap(), (vec![2], vec![0.0, 255.0]));
        assert_eq!(parse_f32(&npy(&[2], &[-3i8, 7])).unwrap().1, [-3.0, 7.0]);
        assert_eq!(parse_f32(&npy(&[2], &[-3i16, 7])).unwrap().1, [-3.0, 7.0]);
        assert_eq!(parse_f32(&npy(&[2], &[-3i32, 7])).unwrap().1, [-3.0, 7.0]);
        assert_eq!(parse_f32(&npy(&[2], &[-3i64, 7])).unwrap().1, [-3.0, 7.0]);
        assert_eq!(parse_f32(&npy(&[2], &[3u16, 7])).unwrap().1, [3.0, 7.0]);
        assert_eq!(parse_f32(&npy(&[2], &[3u32, 7])).unwrap().1, [3.0, 7.0]);
        assert_eq!(parse_f32(&npy(&[2], &[3u64, 7])).unwrap().1, [3.0, 7.0]);
        assert_eq!(parse_f32(&npy(&[2], &[true, false])).unwrap().1, [1.0, 0.0]);
        assert_eq!(parse_f32(&npy(&[1, 2], &[0.5f64, -1.5])).unwrap(), (vec![1, 2], vec![0.5, -1.5]));
        assert_eq!(parse_f32(&npy(&[2], &[0.25f32, 2.0])).unwrap().1, [0.25, 2.0]);
    }

    #[test]
    fn big_endian_arrays_read_too() {
        let mut out = Vec::new();
        let dtype = npyz::DType::Plain(">i4".parse().unwrap());
        let mut w = npyz::WriteOptions::new().dtype(dtype).shape(&[2]).writer(&mut out).begin_nd().unwrap();
        w.extend([1i32, -2]).unwrap();
        w.finish().unwrap();
        assert_eq!(parse_f32(&out).unwrap().1, [1.0, -2.0]);
    }

    #[test]
    fn labels_from_ints_and_whole_floats() {
        assert_eq!(parse_labels(&npy(&[3], &[2u8, 0, 9])).unwrap(), [2, 0, 9]);
        assert_eq!(parse_labels(&npy(&[3], &[2i64, -1, 9])).unwrap(), [2, -1, 9]);
        assert_eq!(parse_labels(&npy(&[2], &[3.0f32, 1.0])).unwrap(), [3, 1]);
        let err = parse_labels(&npy(&[2], &[3.0f64, 1.5])).unwrap_err().to_string();
        assert!(err.contains("element 1") && err.contains("1.5"), "{err}");
        let err = parse_labels(&npy(&[1], &[u64::MAX])).unwrap_err().to_string();
        assert!(err.contains("element 0"), "{err}");
    }

    #[test]
    fn rejects_other_dtypes_and_truncation() {
        // A hand-made header: complex64, which wbound does not read.
        let header = "{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }";
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        let padded = format!("{header:<117}\n");
        out.extend_from_slice(&(padded.len() as u16).to_le_bytes());
        out.extend_from_slice(padded.as_bytes());
        out.extend_from_slice(&[0; 8]);
        let err = parse_f32(&out).unwrap_err().to_string();
        assert!(err.contains("c8") && err.contains("astype"), "{err}");

        let full = npy(&[4, 2], &[1.0f32; 8]);
        let err = parse_f32(&full[..full.len() - 4]).unwrap_err().to_string();
        assert!(err.contains("truncated"), "{err}");
        let err = parse_f32(&full[..5]).unwrap_err().to_string();
        assert!(err.contains("not a readable .npy"), "{err}");
    }

    #[test]
    fn sample_shapes() {
        assert_eq!(sample_shape(&[5]).unwrap(), [1]);
        assert_eq!(sample_shape(&[5, 2, 3]).unwrap(), [2, 3]);
        assert!(sample_shape(&[]).is_err());
        assert!(sample_shape(&[0, 3]).is_err());
        assert!(check_label_shape(&[4, 1]).is_ok());
        assert!(check_label_shape(&[4, 10]).unwrap_err().to_string().contains("argmax"));
    }
}
