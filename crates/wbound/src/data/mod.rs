//! Data sets: the [`Dataset`] trait the calculator streams batches from, an in-memory
//! [`ArrayDataset`] (optionally labelled, optionally marked as images), and readers of files into
//! it.
//!
//! | format | reader | sample shape | labels |
//! | --- | --- | --- | --- |
//! | `.npy` | [`npy::read_dataset`] | `shape[1..]` | [`labels::read`] (`.npy` or IDX) from a second file |
//! | `.npz` | [`npz::read_dataset`] | `shape[1..]` | [`npz::read_labels`] from another key |
//! | MNIST IDX (`*-ubyte`, `*-ubyte.gz`) | [`idx::read_dataset`] | `[1, rows, cols]` | the matching `*-labels-idx1-ubyte` file |
//! | CIFAR-10 binary batches (`*.bin`) | [`cifar::read_dataset`] | `[3, 32, 32]` | in the file |
//! | image folder (one subfolder per class) | [`images::read_folder`] | `[C, H, W]` | subfolder index |
//! | CSV with numeric columns (`.csv`, `.csv.gz`) | [`csv::read_dataset`] | `[features]` | the label column |
//!
//! [`open`] picks the reader from the file name (or an explicit [`Format`]) and applies a
//! [`Preprocess`]. Image readers return raw pixel values (0..255) in CHW layout; [`Preprocess`]
//! scales, normalises per channel and converts to NHWC when the model wants it.
//!
//! ```
//! use wbound::data::{open, OpenOptions, Preprocess};
//! # fn main() -> wbound::Result<()> {
//! # let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("train.csv");
//! std::fs::write(&path, "a,b,label\n1,2,0\n3,4,1\n").unwrap();
//! let options = OpenOptions {
//!     label_column: Some("label".into()),
//!     preprocess: Some(Preprocess { scale: 0.5, ..Preprocess::default() }),
//!     ..OpenOptions::default()
//! };
//! let loaded = open(&path, &options)?;
//! assert_eq!(loaded.dataset.values(), [0.5, 1.0, 1.5, 2.0]);
//! assert_eq!(loaded.dataset.labels(), Some(&[0, 1][..]));
//! # Ok(()) }
//! ```

pub mod cifar;
pub mod csv;
mod dtype;
pub mod idx;
pub mod images;
pub mod labels;
pub mod npy;
pub mod npz;
mod preprocess;
pub mod stream;

use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::str::FromStr;

pub use preprocess::{Layout, Preprocess};

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

    /// One integer label per sample, if the data set has labels (needed by
    /// [`Reference::Labels`](crate::deepfool::Reference::Labels)).
    fn labels(&self) -> Option<&[i64]> {
        None
    }
}

/// A contiguous range of another data set's samples (and labels), indexed from 0.
pub struct Window<'a> {
    data: &'a dyn Dataset,
    range: std::ops::Range<usize>,
}

impl<'a> Window<'a> {
    /// Samples `range` of `data` (clamped to its length).
    pub fn new(data: &'a dyn Dataset, range: std::ops::Range<usize>) -> Window<'a> {
        let end = range.end.min(data.len());
        Window { data, range: range.start.min(end)..end }
    }
}

impl Dataset for Window<'_> {
    fn len(&self) -> usize {
        self.range.len()
    }

    fn sample_shape(&self) -> &[usize] {
        self.data.sample_shape()
    }

    fn read(&self, start: usize, count: usize, out: &mut Vec<f32>) -> Result<()> {
        self.data.read(self.range.start + start, count.min(self.range.len().saturating_sub(start)), out)
    }

    fn labels(&self) -> Option<&[i64]> {
        self.data.labels().map(|l| &l[self.range.clone()])
    }
}

/// Samples held in memory, with optional integer labels and an optional image layout.
///
/// ```
/// use wbound::{ArrayDataset, Dataset};
/// let d = ArrayDataset::new(vec![2], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0])?;
/// assert_eq!(d.len(), 3);
/// let mut batch = Vec::new();
/// d.read(1, 2, &mut batch)?;
/// assert_eq!(batch, [3.0, 4.0, 5.0, 6.0]);
///
/// let d = d.with_labels(vec![0, 1, 1])?;
/// assert_eq!(d.labels(), Some(&[0, 1, 1][..]));
/// # Ok::<(), wbound::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ArrayDataset {
    shape: Vec<usize>,
    data: Vec<f32>,
    labels: Option<Vec<i64>>,
    image: Option<Layout>,
}

impl ArrayDataset {
    /// Wraps `data`, a whole number of samples of shape `shape`.
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Result<ArrayDataset> {
        let len: usize = shape.iter().product();
        if len == 0 || !data.len().is_multiple_of(len) {
            return Err(Error::Data(format!(
                "{} values are not a whole number of samples of shape {shape:?}",
                data.len()
            )));
        }
        Ok(ArrayDataset { shape, data, labels: None, image: None })
    }

    /// Attaches one label per sample (replacing any labels already there).
    pub fn with_labels(mut self, labels: Vec<i64>) -> Result<ArrayDataset> {
        if labels.len() != self.len() {
            return Err(Error::Data(format!(
                "{} labels given for {} samples; give exactly one label per sample",
                labels.len(),
                self.len()
            )));
        }
        self.labels = Some(labels);
        Ok(self)
    }

    /// Marks the samples as images stored in `layout`: `[C, H, W]` for [`Layout::Nchw`],
    /// `[H, W, C]` for [`Layout::Nhwc`]. [`Preprocess::apply`] uses it to find the channel axis.
    pub fn with_image_layout(mut self, layout: Layout) -> Result<ArrayDataset> {
        if self.shape.len() != 3 {
            return Err(Error::Data(format!(
                "samples of shape {:?} are not images in {layout} layout (which needs 3 axes per sample)",
                self.shape
            )));
        }
        self.image = Some(layout);
        Ok(self)
    }

    /// The labels, one per sample, if the data set has them.
    pub fn labels(&self) -> Option<&[i64]> {
        self.labels.as_deref()
    }

    /// The image layout of the samples, if they are images (see [`Self::with_image_layout`]).
    pub fn image_layout(&self) -> Option<Layout> {
        self.image
    }

    /// The number of channels, height and width of one image, if the samples are images.
    pub fn image_dims(&self) -> Option<(usize, usize, usize)> {
        match (self.image?, self.shape.as_slice()) {
            (Layout::Nchw, &[c, h, w]) => Some((c, h, w)),
            (Layout::Nhwc, &[h, w, c]) => Some((c, h, w)),
            _ => None,
        }
    }

    /// The same values seen with another sample shape of the same size (e.g. `[1, 28, 28]` →
    /// `[784]` for a model that flattens its input itself). Labels are kept; the image layout is
    /// kept only if the shape does not change.
    pub fn reshape(mut self, shape: Vec<usize>) -> Result<ArrayDataset> {
        let (old, new) = (self.shape.iter().product::<usize>(), shape.iter().product::<usize>());
        if old != new {
            return Err(Error::Data(format!(
                "cannot view samples of shape {:?} ({old} values) as shape {shape:?} ({new} values)",
                self.shape
            )));
        }
        if shape != self.shape {
            self.image = None;
        }
        self.shape = shape;
        Ok(self)
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

    /// The first `n` samples (all if fewer), with their labels.
    pub fn head(&self, n: usize) -> ArrayDataset {
        let len: usize = self.shape.iter().product();
        let n = n.min(self.len());
        ArrayDataset {
            shape: self.shape.clone(),
            data: self.data[..n * len].to_vec(),
            labels: self.labels.as_ref().map(|l| l[..n].to_vec()),
            image: self.image,
        }
    }

    /// Values, shape, labels and image layout, for code that rebuilds a data set.
    pub(crate) fn into_parts(self) -> (Vec<usize>, Vec<f32>, Option<Vec<i64>>, Option<Layout>) {
        (self.shape, self.data, self.labels, self.image)
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

    fn labels(&self) -> Option<&[i64]> {
        self.labels.as_deref()
    }
}

/// The file formats [`open`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// A numpy `.npy` array `[N, ...]`.
    Npy,
    /// A numpy `.npz` archive; [`OpenOptions::key`] names the array.
    Npz,
    /// MNIST-style IDX images (`*-images-idx3-ubyte[.gz]`), labels from the matching file.
    Idx,
    /// CIFAR-10 binary batches (`*.bin`).
    Cifar,
    /// A folder with one subfolder of PNG/JPEG images per class.
    Images,
    /// A CSV file of numeric columns (`.csv` or `.csv.gz`).
    Csv,
}

impl Format {
    /// Every format, in the order of their names in [`Format::NAMES`].
    pub const ALL: [Format; 6] = [Format::Npy, Format::Npz, Format::Idx, Format::Cifar, Format::Images, Format::Csv];

    /// The names [`Format::from_str`] accepts.
    pub const NAMES: [&'static str; 6] = ["npy", "npz", "idx", "cifar", "images", "csv"];

    /// The format's name (`"npy"`, `"images"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Format::Npy => "npy",
            Format::Npz => "npz",
            Format::Idx => "idx",
            Format::Cifar => "cifar",
            Format::Images => "images",
            Format::Csv => "csv",
        }
    }

    /// The format of `path` from its name: a directory is an image folder, then by extension
    /// (`.npy`, `.npz`, `*-ubyte[.gz]`, `.bin`, `.csv[.gz]`). Looks at the file system only to
    /// tell a directory.
    pub fn detect(path: &Path) -> Result<Format> {
        if path.is_dir() {
            return Ok(Format::Images);
        }
        let name = path.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
        let base = name.strip_suffix(".gz").unwrap_or(&name);
        let format = if name.ends_with(".npy") {
            Format::Npy
        } else if name.ends_with(".npz") {
            Format::Npz
        } else if base.ends_with("ubyte") {
            Format::Idx
        } else if name.ends_with(".bin") {
            Format::Cifar
        } else if base.ends_with(".csv") {
            Format::Csv
        } else {
            return Err(Error::Data(format!(
                "{}: cannot tell the data format from the file name; name it explicitly as one of {} \
                 (.npy, .npz, *-ubyte[.gz], .bin, a directory of class folders, .csv[.gz])",
                path.display(),
                Format::NAMES.join(", ")
            )));
        };
        Ok(format)
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = Error;

    fn from_str(s: &str) -> Result<Format> {
        let wanted = s.trim().to_ascii_lowercase();
        Format::ALL.into_iter().find(|f| f.name() == wanted).ok_or_else(|| {
            Error::Data(format!("unknown data format '{s}'; the formats are {}", Format::NAMES.join(", ")))
        })
    }
}

/// How [`open`] reads a file.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// The format; `None` detects it from the file name ([`Format::detect`]).
    pub format: Option<Format>,
    /// The array to read from an `.npz` archive (needed when it holds more than one).
    pub key: Option<String>,
    /// The CSV column holding the labels (a header name, or a 0-based column index; negative
    /// indices count from the end). `None`: no labels, every column is a feature.
    pub label_column: Option<String>,
    /// Scaling, normalisation, resizing and layout applied after reading.
    pub preprocess: Option<Preprocess>,
}

/// What [`open`] returns.
#[derive(Debug, Clone)]
pub struct LoadedData {
    /// The samples, with their labels if the format carries them.
    pub dataset: ArrayDataset,
    /// Class names by label, where the format has them (image folders, CIFAR-10).
    pub class_names: Option<Vec<String>>,
    /// Whether the samples are images (IDX, CIFAR, image folders).
    pub is_image: bool,
    /// Each sample's file relative to the folder read (`cat/001.png`), for image folders; `None`
    /// for formats that hold every sample in one file.
    pub files: Option<Vec<PathBuf>>,
}

/// Reads a data set, choosing the reader by `options.format` or else by the file name, then
/// applies `options.preprocess`.
///
/// Errors name the file: a missing file, an unknown format, an option that does not apply to the
/// format (`key` outside `.npz`, `label_column` outside CSV, `resize` outside image folders), and
/// anything the reader rejects.
pub fn open(path: &Path, options: &OpenOptions) -> Result<LoadedData> {
    std::fs::metadata(path).map_err(|source| Error::Io { path: path.to_path_buf(), cause: source })?;
    let format = match options.format {
        Some(f) => f,
        None => Format::detect(path)?,
    };
    let misplaced = |option: &str, applies: &str| {
        Error::Config(format!("{option} applies only to {applies}, but {} is read as {format}", path.display()))
    };
    if options.key.is_some() && format != Format::Npz {
        return Err(misplaced("an array key", "npz archives"));
    }
    if options.label_column.is_some() && format != Format::Csv {
        return Err(misplaced("a label column", "CSV files"));
    }
    let resize = options.preprocess.as_ref().and_then(|p| p.resize);
    if resize.is_some() && format != Format::Images {
        return Err(misplaced("resizing", "image folders"));
    }
    let mut files = None;
    let (dataset, class_names) = match format {
        Format::Npy => (npy::read_dataset(path)?, None),
        Format::Npz => (npz::read_dataset(path, options.key.as_deref())?, None),
        Format::Idx => (idx::read_dataset(path)?, None),
        Format::Cifar => (cifar::read_dataset(path)?, Some(cifar::CLASS_NAMES.iter().map(|s| s.to_string()).collect())),
        Format::Images => {
            let folder = images::read_folder(path, resize)?;
            let relative = |f: &PathBuf| f.strip_prefix(path).map_or_else(|_| f.clone(), Path::to_path_buf);
            files = Some(folder.files.iter().map(relative).collect());
            (folder.dataset, Some(folder.class_names))
        }
        Format::Csv => (csv::read_dataset(path, options.label_column.as_deref())?, None),
    };
    let dataset = match &options.preprocess {
        Some(p) => p.apply(dataset).map_err(|e| e.in_file(path))?,
        None => dataset,
    };
    let is_image = dataset.image_layout().is_some();
    Ok(LoadedData { dataset, class_names, is_image, files })
}

/// The gzip magic bytes.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Opens `path` for reading, gunzipping it on the fly if it starts with the gzip magic bytes.
pub(crate) fn open_reader(path: &Path) -> Result<Box<dyn Read>> {
    let io = |source| Error::Io { path: path.to_path_buf(), cause: source };
    let mut file = BufReader::new(std::fs::File::open(path).map_err(io)?);
    let gz = file.fill_buf().map_err(io)?.starts_with(&GZIP_MAGIC);
    Ok(if gz { Box::new(flate2::bufread::MultiGzDecoder::new(file)) } else { Box::new(file) })
}

/// The bytes of `path`, gunzipped if it is gzip-compressed.
pub(crate) fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io { path: path.to_path_buf(), cause: source })?;
    if !bytes.starts_with(&GZIP_MAGIC) {
        return Ok(bytes);
    }
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes.as_slice()).read_to_end(&mut out).map_err(|e| {
        Error::Data(format!("{}: corrupt gzip data ({e}); check the download or gunzip it by hand", path.display()))
    })?;
    Ok(out)
}

/// `path` with `.gz` added to or removed from its name.
pub(crate) fn toggle_gz(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    match name.strip_suffix(".gz") {
        Some(base) => path.with_file_name(base),
        None => path.with_file_name(format!("{name}.gz")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_must_match_the_sample_count() {
        let d = ArrayDataset::new(vec![2], vec![0.0; 6]).unwrap();
        let err = d.clone().with_labels(vec![1, 2]).unwrap_err().to_string();
        assert!(err.contains("2 labels") && err.contains("3 samples"), "{err}");
        let d = d.with_labels(vec![4, 5, 6]).unwrap();
        let h = d.head(2);
        assert_eq!(h.labels(), Some(&[4, 5][..]));
        assert_eq!(h.values().len(), 4);
    }

    #[test]
    fn image_layout_and_reshape() {
        let d = ArrayDataset::new(vec![1, 2, 2], vec![0.0; 8]).unwrap();
        assert!(d.clone().reshape(vec![3]).is_err());
        let d = d.with_image_layout(Layout::Nchw).unwrap();
        assert_eq!(d.image_dims(), Some((1, 2, 2)));
        let flat = d.clone().reshape(vec![4]).unwrap();
        assert_eq!(flat.sample_shape(), [4]);
        assert_eq!(flat.image_layout(), None);
        assert!(flat.with_image_layout(Layout::Nhwc).is_err());
        assert_eq!(d.reshape(vec![1, 2, 2]).unwrap().image_layout(), Some(Layout::Nchw));
    }

    #[test]
    fn formats_parse_and_detect() {
        for (name, f) in Format::NAMES.iter().zip(Format::ALL) {
            assert_eq!(name.parse::<Format>().unwrap(), f);
            assert_eq!(f.to_string(), *name);
        }
        assert_eq!("CSV".parse::<Format>().unwrap(), Format::Csv);
        let err = "parquet".parse::<Format>().unwrap_err().to_string();
        assert!(err.contains("parquet") && err.contains("npy, npz, idx, cifar, images, csv"), "{err}");
        let cases = [
            ("x.npy", Format::Npy),
            ("x.NPZ", Format::Npz),
            ("t10k-images-idx3-ubyte", Format::Idx),
            ("train-images.idx3-ubyte.gz", Format::Idx),
            ("data_batch_1.bin", Format::Cifar),
            ("digits.csv", Format::Csv),
            ("digits.csv.gz", Format::Csv),
        ];
        for (name, f) in cases {
            assert_eq!(Format::detect(Path::new(name)).unwrap(), f, "{name}");
        }
        let err = Format::detect(Path::new("data.parquet")).unwrap_err().to_string();
        assert!(err.contains("data.parquet") && err.contains("images"), "{err}");
    }

    #[test]
    fn toggles_gz() {
        assert_eq!(toggle_gz(Path::new("a/b-ubyte")), Path::new("a/b-ubyte.gz"));
        assert_eq!(toggle_gz(Path::new("a/b-ubyte.gz")), Path::new("a/b-ubyte"));
    }
}
