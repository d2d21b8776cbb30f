//! `.npy` files of float32 or float64 samples read from disk batch by batch, so that scoring a data
//! set needs memory for one batch, not for the whole set (`wbound score` on 100k samples uses the
//! memory of 10k).

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use npyz::{DType, NpyFile, NpyReader, Order};

use super::Dataset;
use crate::error::{Error, Result};

enum Reader {
    F32(NpyReader<f32, BufReader<File>>),
    F64(NpyReader<f64, BufReader<File>>),
}

/// A streamed `.npy` data set of shape `[N, ...]`.
pub struct NpyStream {
    path: PathBuf,
    reader: Mutex<Reader>,
    len: usize,
    shape: Vec<usize>,
}

impl NpyStream {
    /// Opens `path` for streaming; `Ok(None)` when its dtype or order needs the in-memory reader
    /// (integers, big-endian, Fortran order).
    pub fn open(path: &Path) -> Result<Option<NpyStream>> {
        let io = |source| Error::Io { path: path.to_path_buf(), cause: source };
        let file = File::open(path).map_err(io)?;
        let file_len = file.metadata().map_err(io)?.len();
        // The buffer holds the whole preamble and header, for the check.
        let mut file = BufReader::with_capacity(2 * super::dtype::MAX_HEADER, file);
        super::dtype::check_header(file.fill_buf().map_err(io)?, file_len).map_err(|e| e.in_file(path))?;
        let npy =
            NpyFile::new(file).map_err(|e| Error::Data(format!("not a readable .npy array: {e}")).in_file(path))?;
        let descr = match npy.dtype() {
            DType::Plain(t) => t.to_string(),
            _ => return Ok(None),
        };
        if npy.order() != Order::C || !matches!(descr.as_str(), "<f4" | "<f8") {
            return Ok(None);
        }
        let dims: Vec<usize> = npy.shape().iter().map(|&d| usize::try_from(d).unwrap_or(usize::MAX)).collect();
        let width = if descr == "<f4" { 4 } else { 8 };
        let total = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).and_then(|n| n.checked_mul(width));
        if total.is_none_or(|t| t as u64 > file_len) {
            let msg = format!("not a readable .npy array: the header claims shape {dims:?} but the file holds only {file_len} bytes (truncated?)");
            return Err(Error::Data(msg).in_file(path));
        }
        let (len, shape) = match dims.split_first() {
            Some((&n, rest)) if !rest.is_empty() => (n, rest.to_vec()),
            Some((&n, _)) => (n, vec![1]),
            None => return Err(Error::Data("the array is a scalar; expected [samples, ...]".into()).in_file(path)),
        };
        let bad_dtype = |e: npyz::DTypeError| Error::Data(e.to_string()).in_file(path);
        let reader = if width == 4 {
            Reader::F32(npy.data().map_err(bad_dtype)?)
        } else {
            Reader::F64(npy.data().map_err(bad_dtype)?)
        };
        Ok(Some(NpyStream { path: path.to_path_buf(), reader: Mutex::new(reader), len, shape }))
    }

    /// The same samples viewed with another shape of the same element count.
    pub fn reshape(mut self, shape: Vec<usize>) -> Result<NpyStream> {
        if shape.iter().product::<usize>() != self.shape.iter().product::<usize>() {
            return Err(Error::Data(format!("cannot view samples of shape {:?} as {shape:?}", self.shape)));
        }
        self.shape = shape;
        Ok(self)
    }
}

impl Dataset for NpyStream {
    fn len(&self) -> usize {
        self.len
    }

    fn sample_shape(&self) -> &[usize] {
        &self.shape
    }

    fn read(&self, start: usize, count: usize, out: &mut Vec<f32>) -> Result<()> {
        if start.checked_add(count).is_none_or(|end| end > self.len) {
            return Err(Error::Data(format!(
                "samples {start}..{} requested from a data set of {}",
                start.saturating_add(count),
                self.len
            )));
        }
        let n: usize = self.shape.iter().product();
        let (first, items) = ((start * n) as u64, count * n);
        let io = |e: std::io::Error| {
            Error::Data(format!("reading samples {start}..{}: {e}", start + count)).in_file(&self.path)
        };
        let mut reader = self.reader.lock().unwrap_or_else(|p| p.into_inner());
        out.reserve(items);
        match &mut *reader {
            Reader::F32(r) => {
                r.seek_to(first).map_err(io)?;
                for v in r.by_ref().take(items) {
                    out.push(v.map_err(io)?);
                }
            }
            Reader::F64(r) => {
                r.seek_to(first).map_err(io)?;
                for v in r.by_ref().take(items) {
                    out.push(v.map_err(io)? as f32);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use npyz::WriterBuilder;

    #[test]
    fn streamed_batches_equal_the_in_memory_array() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.npy");
        let values: Vec<f64> = (0..5 * 6).map(|i| i as f64 * 0.5).collect();
        {
            let mut f = File::create(&path).unwrap();
            let mut w =
                npyz::WriteOptions::<f64>::new().default_dtype().shape(&[5, 2, 3]).writer(&mut f).begin_nd().unwrap();
            w.extend(values.iter().copied()).unwrap();
            w.finish().unwrap();
        }
        let s = NpyStream::open(&path).unwrap().unwrap();
        assert_eq!((s.len(), s.sample_shape()), (5, &[2usize, 3][..]));
        let mut out = Vec::new();
        s.read(3, 2, &mut out).unwrap();
        s.read(0, 1, &mut out).unwrap();
        let want: Vec<f32> = values[18..30].iter().chain(&values[..6]).map(|&v| v as f32).collect();
        assert_eq!(out, want);
        assert!(s.read(4, 2, &mut out).is_err());
    }
}
