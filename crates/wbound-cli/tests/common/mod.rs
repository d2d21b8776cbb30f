//! Helpers shared by the CLI's integration tests: fixture paths, the built binary, and `.npy`
//! files written for a test.

// Each test file uses its own subset of these helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use npyz::WriterBuilder;

/// A file of the repository's `tests/fixtures`.
pub fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures").join(path)
}

/// The `wbound` binary.
pub fn wbound() -> Command {
    Command::cargo_bin("wbound").unwrap()
}

/// Writes `data` of shape `shape` as an `.npy` file.
pub fn write_npy<T: npyz::AutoSerialize + Copy>(path: &Path, shape: &[u64], data: &[T]) {
    let mut out = std::fs::File::create(path).unwrap();
    let mut w = npyz::WriteOptions::<T>::new().default_dtype().shape(shape).writer(&mut out).begin_nd().unwrap();
    w.extend(data.iter().copied()).unwrap();
    w.finish().unwrap();
}
