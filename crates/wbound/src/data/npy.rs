//! `.npy` arrays (float32 or float64) as an [`ArrayDataset`] whose first axis indexes samples.

use std::path::Path;

use super::ArrayDataset;
use crate::error::{Error, Result};

/// An `.npy` array of any numeric type, converted to f32, with its shape.
pub fn read_f32(path: &Path) -> Result<(Vec<usize>, Vec<f32>)> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
    parse_f32(&bytes).map_err(|e| e.in_file(path))
}

/// Parses `.npy` bytes of float32 or float64 data.
pub fn parse_f32(bytes: &[u8]) -> Result<(Vec<usize>, Vec<f32>)> {
    let bad = |msg: String| Error::Data(format!("not a readable .npy array: {msg}"));
    let npy = npyz::NpyFile::new(bytes).map_err(|e| bad(e.to_string()))?;
    let shape: Vec<usize> = npy.shape().iter().map(|&d| usize::try_from(d).unwrap_or(usize::MAX)).collect();
    if npy.order() == npyz::Order::Fortran {
        return Err(Error::Data("the array is in Fortran order; save it with np.ascontiguousarray".into()));
    }
    let dtype = npy.dtype().descr();
    let width = match dtype.as_str() {
        "'<f4'" | "'<f8'" => {
            if dtype.contains("f4") {
                4
            } else {
                8
            }
        }
        other => {
            return Err(Error::Data(format!(
                "the array has dtype {other}; wbound reads float32 or float64 inputs (x.astype(np.float32))"
            )))
        }
    };
    let n = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    // The header's shape must be backed by bytes before anything is allocated for it.
    if n.and_then(|n| n.checked_mul(width)).is_none_or(|need| need > bytes.len()) {
        return Err(bad(format!(
            "the header claims shape {shape:?} but the file holds only {} bytes (truncated?)",
            bytes.len()
        )));
    }
    let data = if width == 4 {
        npy.into_vec::<f32>().map_err(|e| bad(e.to_string()))?
    } else {
        npy.into_vec::<f64>().map_err(|e| bad(e.to_string()))?.into_iter().map(|v| v as f32).collect()
    };
    Ok((shape, data))
}

/// Reads an `.npy` file of shape `[N, ...]` as N samples.
pub fn read_dataset(path: &Path) -> Result<ArrayDataset> {
    let (shape, data) = read_f32(path)?;
    if shape.is_empty() {
        return Err(Error::Data(format!("{}: the array is a scalar; expected [samples, ...]", path.display())));
    }
    if shape[0] == 0 {
        return Err(Error::Data(format!("{}: the array holds zero samples (shape {shape:?})", path.display())));
    }
    let sample = if shape.len() == 1 { vec![1] } else { shape[1..].to_vec() };
    ArrayDataset::new(sample, data).map_err(|e| e.in_file(path))
}
