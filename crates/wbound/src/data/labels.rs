//! Labels from a file of their own (the CLI's `--labels`): an integer `.npy` array `[N]`, or an
//! IDX labels file (`*-labels-idx1-ubyte[.gz]`, as MNIST ships them), told apart by their first
//! bytes rather than their names.

use std::path::Path;

use super::{idx, npy, read_bytes};
use crate::error::{Error, Result};

/// The first bytes of every `.npy` file.
const NPY_MAGIC: &[u8] = b"\x93NUMPY";

/// Reads one label per sample from `path`: `.npy` (any integer dtype, or floats holding whole
/// numbers; shape `[N]` or `[N, 1]`) or IDX labels, plain or gzipped. Anything else is refused
/// with a message naming the two formats.
///
/// ```
/// # fn main() -> wbound::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("t10k-labels-idx1-ubyte");
/// std::fs::write(&path, [0, 0, 8, 1, 0, 0, 0, 2, 7, 2]).unwrap();
/// assert_eq!(wbound::data::labels::read(&path)?, [7, 2]);
/// # Ok(()) }
/// ```
pub fn read(path: &Path) -> Result<Vec<i64>> {
    let bytes = read_bytes(path)?;
    if bytes.starts_with(NPY_MAGIC) {
        npy::read_labels(path)
    } else if bytes.get(..4) == Some(&idx::LABELS_MAGIC.to_be_bytes()) {
        idx::parse_labels(&bytes).map_err(|e| e.in_file(path))
    } else {
        Err(Error::Data(format!(
            "{}: not a labels file: labels are read from an integer .npy array of shape [N] \
             (np.save(\"y.npy\", y)) or an IDX labels file (*-labels-idx1-ubyte[.gz])",
            path.display()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_npy_and_gzipped_idx_and_names_both_formats_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let idx_path = dir.path().join("labels.gz");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &[0, 0, 8, 1, 0, 0, 0, 3, 9, 0, 4]).unwrap();
        std::fs::write(&idx_path, gz.finish().unwrap()).unwrap();
        assert_eq!(read(&idx_path).unwrap(), [9, 0, 4]);

        let npy_path = dir.path().join("y.npy");
        let mut out = Vec::new();
        {
            use npyz::WriterBuilder;
            let mut w =
                npyz::WriteOptions::<i64>::new().default_dtype().shape(&[2]).writer(&mut out).begin_nd().unwrap();
            w.extend([5i64, 1]).unwrap();
            w.finish().unwrap();
        }
        std::fs::write(&npy_path, out).unwrap();
        assert_eq!(read(&npy_path).unwrap(), [5, 1]);

        let images = dir.path().join("t10k-images-idx3-ubyte");
        std::fs::write(&images, [0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 7]).unwrap();
        let err = read(&images).unwrap_err().to_string();
        assert!(err.contains("t10k-images-idx3-ubyte") && err.contains(".npy") && err.contains("IDX labels"), "{err}");
    }
}
