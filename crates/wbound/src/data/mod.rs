//! Data sets: the [`Dataset`] trait the calculator streams batches from, an in-memory
//! [`ArrayDataset`], and readers of files into it.

pub mod npy;

use crate::error::{Error, Result};

/// A sequence of samples of one shape, read in batches (so that a data set need not fit in
/// memory).
pub trait Dataset {
    /// Number of samples.
    fn len(&self) -> usize;

    /// Whether there are no samples.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The shape of one sample.
    fn sample_shape(&self) -> &[usize];

    /// Appends samples `start .. start + count` (row-major, f32) to `out`.
    fn read(&self, start: usize, count: usize, out: &mut Vec<f32>) -> Result<()>;
}

/// Samples held in memory.
///
/// ```
/// use wbound::{ArrayDataset, Dataset};
/// let d = ArrayDataset::new(vec![2], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0])?;
/// assert_eq!(d.len(), 3);
/// let mut batch = Vec::new();
/// d.read(1, 2, &mut batch)?;
/// assert_eq!(batch, [3.0, 4.0, 5.0, 6.0]);
/// # Ok::<(), wbound::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ArrayDataset {
    shape: Vec<usize>,
    data: Vec<f32>,
}

impl ArrayDataset {
    /// Wraps `data`, a whole number of samples of shape `shape`.
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Result<ArrayDataset> {
        let len: usize = shape.iter().product();
        if len == 0 || data.len() % len != 0 {
            return Err(Error::Data(format!(
                "{} values are not a whole number of samples of shape {shape:?}",
                data.len()
            )));
        }
        Ok(ArrayDataset { shape, data })
    }

    /// All values, row-major.
    pub fn values(&self) -> &[f32] {
        &self.data
    }

    /// Sample `i`.
    pub fn sample(&self, i: usize) -> &[f32] {
        let n = self.data.len() / self.len().max(1);
        &self.data[i * n..(i + 1) * n]
    }

    /// The first `n` samples (all if fewer).
    pub fn head(&self, n: usize) -> ArrayDataset {
        let len: usize = self.shape.iter().product();
        ArrayDataset { shape: self.shape.clone(), data: self.data[..n.min(self.len()) * len].to_vec() }
    }
}

impl Dataset for ArrayDataset {
    fn len(&self) -> usize {
        self.data.len() / self.shape.iter().product::<usize>()
    }

    fn sample_shape(&self) -> &[usize] {
        &self.shape
    }

    fn read(&self, start: usize, count: usize, out: &mut Vec<f32>) -> Result<()> {
        let n: usize = self.shape.iter().product();
        let end = start.checked_add(count).filter(|&e| e <= self.len()).ok_or_else(|| {
            Error::Data(format!(
                "samples {start}..{} requested from a data set of {}",
                start.saturating_add(count),
                self.len()
            ))
        })?;
        out.extend_from_slice(&self.data[start * n..end * n]);
        Ok(())
    }
}
