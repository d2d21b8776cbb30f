//! The benchmark's embedded data sets (shipped in the repository's `data/` folder): the MNIST
//! test set and UCI digits, read with the library's IDX and CSV readers, scaled to `[0, 1]` and
//! shaped `[1, H, W]` per sample, with their labels.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use crate::data::{csv, idx, ArrayDataset};
use crate::error::{Error, Result};

/// Which embedded data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchData {
    /// MNIST test set: 10,000 28×28 grey digits (`mnist-t10k/t10k-{images-idx3,labels-idx1}-ubyte.gz`).
    Mnist,
    /// UCI optical digits: 1,797 8×8 digits, pixels 0..16 (`digits/digits.csv.gz`).
    Digits,
}

impl BenchData {
    /// The file, relative to the data folder, that holds the samples.
    pub fn file(self) -> &'static str {
        match self {
            BenchData::Mnist => "mnist-t10k/t10k-images-idx3-ubyte.gz",
            BenchData::Digits => "digits/digits.csv.gz",
        }
    }

    /// Reads the data set from `dir` (the repository's `data/` folder): samples `[1, H, W]` in
    /// `[0, 1]`, labels 0..9.
    pub fn load(self, dir: &Path) -> Result<ArrayDataset> {
        let path = dir.join(self.file());
        if !path.is_file() {
            return Err(Error::Data(format!(
                "{}: the {self} data set is not there; point the data folder at the repository's data/ directory",
                path.display()
            )));
        }
        let (raw, scale, shape) = match self {
            BenchData::Mnist => (idx::read_dataset(&path)?, 255.0, vec![1, 28, 28]),
            BenchData::Digits => (csv::read_dataset(&path, Some("-1"))?, 16.0, vec![1, 8, 8]),
        };
        let labels = raw
            .labels()
            .map(<[i64]>::to_vec)
            .ok_or_else(|| Error::Data(format!("{}: no labels found beside the samples", path.display())))?;
        let values = raw.values().iter().map(|v| v / scale).collect();
        ArrayDataset::new(shape, values)?.with_labels(labels).map_err(|e| e.in_file(path))
    }
}

impl fmt::Display for BenchData {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            BenchData::Mnist => "mnist",
            BenchData::Digits => "digits",
        })
    }
}

impl FromStr for BenchData {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<BenchData, String> {
        match s.to_ascii_lowercase().as_str() {
            "mnist" => Ok(BenchData::Mnist),
            "digits" => Ok(BenchData::Digits),
            _ => Err(format!("unknown data set '{s}'; expected mnist or digits")),
        }
    }
}
