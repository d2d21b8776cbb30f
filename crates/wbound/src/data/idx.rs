//! MNIST-style IDX files (also Fashion-MNIST, KMNIST, EMNIST): unsigned-byte images
//! (`*-images-idx3-ubyte`, magic `0x00000803`) and labels (`*-labels-idx1-ubyte`, magic
//! `0x00000801`), plain or gzipped (`*.gz`, detected from the content).
//!
//! Images come out as raw pixel values 0..255 in f32, one channel: samples of shape
//! `[1, rows, cols]`, marked as [`Layout::Nchw`] images (use [`ArrayDataset::reshape`] for
//! `[rows, cols]` or `[rows * cols]`).

use std::path::{Path, PathBuf};

use super::{read_bytes, toggle_gz, ArrayDataset, Layout};
use crate::error::{Error, Result};

/// Magic number of an IDX file of u8 values with 3 dimensions (images).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of u8 values with 1 dimension (labels).
pub const LABELS_MAGIC: u32 = 0x0000_0801;

/// Splits IDX bytes into their dimensions and the u8 values they describe, checking the magic
/// number and that the bytes hold exactly the values the header claims.
fn parse<'a>(bytes: &'a [u8], magic: u32, what: &str) -> Result<(Vec<usize>, &'a [u8])> {
    let ndims = (magic & 0xff) as usize;
    let header = 4 + 4 * ndims;
    let be32 = |i: usize| bytes.get(i..i + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    let found = be32(0).ok_or_else(|| {
        Error::Data(format!("only {} bytes: too short for an IDX {what} file (truncated?)", bytes.len()))
    })?;
    if found != magic {
        let hint = match found {
            IMAGES_MAGIC => " (this is an IDX images file)",
            LABELS_MAGIC => " (this is an IDX labels file)",
            m if m >> 16 == 0x1f8b => " (gzip data inside gzip? gunzip it once by hand)",
            m if m >> 16 == 0 => " (an IDX file of another type or number of dimensions)",
            _ => " (not an IDX file)",
        };
        return Err(Error::Data(format!(
            "bad magic number 0x{found:08x}{hint}; an IDX {what} file starts with 0x{magic:08x}"
        )));
    }
    let dims = (0..ndims)
        .map(|i| be32(4 + 4 * i).map(|d| d as usize))
        .collect::<Option<Vec<usize>>>()
        .ok_or_else(|| Error::Data(format!("the {header}-byte IDX header is cut short (truncated file?)")))?;
    let data = &bytes[header..];
    let need = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    if need != Some(data.len()) {
        return Err(Error::Data(format!(
            "the header claims {what} of dimensions {dims:?} ({} bytes) but the file holds {} bytes after it{}",
            need.map_or_else(|| "too many".to_string(), |n| n.to_string()),
            data.len(),
            if need.is_none_or(|n| n > data.len()) { " (truncated?)" } else { " (extra data?)" }
        )));
    }
    Ok((dims, data))
}

/// Reads an IDX images file: samples of shape `[1, rows, cols]` with raw 0..255 values, marked as
/// NCHW images.
pub fn read_images(path: &Path) -> Result<ArrayDataset> {
    parse_images(&read_bytes(path)?).map_err(|e| e.in_file(path))
}

/// As [`read_images`], from the (gunzipped) bytes of the file.
pub fn parse_images(bytes: &[u8]) -> Result<ArrayDataset> {
    let (dims, pixels) = parse(bytes, IMAGES_MAGIC, "images")?;
    let (rows, cols) = (dims[1], dims[2]);
    if rows == 0 || cols == 0 {
        return Err(Error::Data(format!("the images are {rows}x{cols} pixels; expected non-empty images")));
    }
    let data = pixels.iter().map(|&p| f32::from(p)).collect();
    ArrayDataset::new(vec![1, rows, cols], data).and_then(|d| d.with_image_layout(Layout::Nchw))
}

/// Reads an IDX labels file: one label (0..255) per sample.
pub fn read_labels(path: &Path) -> Result<Vec<i64>> {
    parse_labels(&read_bytes(path)?).map_err(|e| e.in_file(path))
}

/// As [`read_labels`], from the (gunzipped) bytes of the file.
pub fn parse_labels(bytes: &[u8]) -> Result<Vec<i64>> {
    let (_, labels) = parse(bytes, LABELS_MAGIC, "labels")?;
    Ok(labels.iter().map(|&l| i64::from(l)).collect())
}

/// The labels file that goes with an images file, if it exists: `t10k-images-idx3-ubyte[.gz]` →
/// `t10k-labels-idx1-ubyte[.gz]` (also `train-images.idx3-ubyte` → `train-labels.idx1-ubyte`),
/// preferring the same compression as the images.
pub fn find_labels_file(images: &Path) -> Option<PathBuf> {
    let name = images.file_name()?.to_str()?;
    let labels = name.replacen("images", "labels", 1).replacen("idx3", "idx1", 1);
    if labels == name {
        return None;
    }
    let same = images.with_file_name(labels);
    let other = toggle_gz(&same);
    [same, other].into_iter().find(|p| p.is_file())
}

/// Reads an IDX images file with the labels of the matching labels file, if there is one
/// ([`find_labels_file`]); their counts must agree.
pub fn read_dataset(path: &Path) -> Result<ArrayDataset> {
    let images = read_images(path)?;
    let Some(labels_path) = find_labels_file(path) else { return Ok(images) };
    let labels = read_labels(&labels_path)?;
    images.with_labels(labels).map_err(|e| {
        Error::Data(format!("the labels file {} does not match the images: {e}", labels_path.display())).in_file(path)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dataset;

    fn idx(magic: u32, dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut out = magic.to_be_bytes().to_vec();
        for d in dims {
            out.extend_from_slice(&d.to_be_bytes());
        }
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn parses_and_checks_sizes() {
        let bytes = idx(IMAGES_MAGIC, &[2, 1, 3], &[0, 1, 2, 3, 4, 255]);
        let (dims, data) = parse(&bytes, IMAGES_MAGIC, "images").unwrap();
        assert_eq!((dims, data), (vec![2, 1, 3], &[0, 1, 2, 3, 4, 255][..]));

        // A header claiming 2^32-1 images of 2^32-1 x 2^32-1 pixels is an error, not an allocation.
        let huge = idx(IMAGES_MAGIC, &[u32::MAX, u32::MAX, u32::MAX], &[0; 10]);
        let err = parse(&huge, IMAGES_MAGIC, "images").unwrap_err().to_string();
        assert!(err.contains("truncated"), "{err}");
        let err = parse(&bytes[..bytes.len() - 1], IMAGES_MAGIC, "images").unwrap_err().to_string();
        assert!(err.contains("6 bytes") && err.contains("holds 5"), "{err}");
        let err = parse(&bytes[..9], IMAGES_MAGIC, "images").unwrap_err().to_string();
        assert!(err.contains("header"), "{err}");
        let err = parse(&bytes[..2], IMAGES_MAGIC, "images").unwrap_err().to_string();
        assert!(err.contains("too short"), "{err}");
    }

    #[test]
    fn bad_magic_names_both_numbers() {
        let labels = idx(LABELS_MAGIC, &[1], &[3]);
        let err = parse(&labels, IMAGES_MAGIC, "images").unwrap_err().to_string();
        assert!(err.contains("0x00000801") && err.contains("0x00000803") && err.contains("labels file"), "{err}");
        let err = parse(b"\x89PNG\r\n", LABELS_MAGIC, "labels").unwrap_err().to_string();
        assert!(err.contains("0x89504e47") && err.contains("not an IDX"), "{err}");
    }

    #[test]
    fn reads_images_and_finds_labels() {
        let dir = tempfile::tempdir().unwrap();
        let images = dir.path().join("t10k-images-idx3-ubyte");
        std::fs::write(&images, idx(IMAGES_MAGIC, &[2, 2, 2], &[0, 10, 20, 30, 40, 50, 60, 255])).unwrap();
        assert_eq!(find_labels_file(&images), None);
        let d = read_dataset(&images).unwrap();
        assert_eq!((d.len(), d.sample_shape(), d.labels()), (2, &[1, 2, 2][..], None));
        assert_eq!(d.sample(1), [40.0, 50.0, 60.0, 255.0]);
        assert_eq!(d.image_layout(), Some(Layout::Nchw));

        let labels = dir.path().join("t10k-labels-idx1-ubyte");
        std::fs::write(&labels, idx(LABELS_MAGIC, &[3], &[7, 2, 1])).unwrap();
        assert_eq!(find_labels_file(&images), Some(labels.clone()));
        let err = read_dataset(&images).unwrap_err().to_string();
        assert!(err.contains("3 labels") && err.contains("2 samples") && err.contains("t10k-labels"), "{err}");
        std::fs::write(&labels, idx(LABELS_MAGIC, &[2], &[7, 2])).unwrap();
        assert_eq!(read_dataset(&images).unwrap().labels(), Some(&[7, 2][..]));
        assert_eq!(find_labels_file(Path::new("images.bin")), None);
    }
}
