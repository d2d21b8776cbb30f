//! `.npz` archives (`np.savez` / `np.savez_compressed`): one array of the archive as an
//! [`ArrayDataset`], another as labels. Arrays are named by their key; an archive holding a single
//! array needs no key. The dtypes read are those of [`super::npy`].

use std::io::{BufReader, Cursor, Read, Seek};
use std::path::Path;

use npyz::npz::NpzArchive;

use super::{dtype, npy, ArrayDataset};
use crate::error::{Error, Result};

fn archive<R: Read + Seek>(reader: R) -> Result<NpzArchive<R>> {
    NpzArchive::new(reader).map_err(|e| {
        Error::Data(format!("not a readable .npz archive ({e}); write it with np.savez or np.savez_compressed"))
    })
}

fn open_archive(path: &Path) -> Result<NpzArchive<BufReader<std::fs::File>>> {
    let file = std::fs::File::open(path).map_err(|source| Error::Io { path: path.to_path_buf(), cause: source })?;
    archive(BufReader::new(file)).map_err(|e| e.in_file(path))
}

fn sorted_keys<R: Read + Seek>(archive: &NpzArchive<R>) -> Vec<String> {
    let mut keys: Vec<String> = archive.array_names().map(str::to_string).collect();
    keys.sort();
    keys
}

/// The names of the arrays in the archive, sorted.
pub fn keys(path: &Path) -> Result<Vec<String>> {
    Ok(sorted_keys(&open_archive(path)?))
}

/// The raw `.npy` bytes of array `key` (or of the only array when `key` is `None`), and its key.
fn read_entry(path: &Path, key: Option<&str>) -> Result<(String, Vec<u8>)> {
    entry(open_archive(path)?, key).map_err(|e| e.in_file(path))
}

/// The raw `.npy` bytes of array `key` of `archive` (or of its only array), and the key.
fn entry<R: Read + Seek>(mut archive: NpzArchive<R>, key: Option<&str>) -> Result<(String, Vec<u8>)> {
    let keys = sorted_keys(&archive);
    let list = || if keys.is_empty() { "none".to_string() } else { keys.join(", ") };
    let key = match key {
        Some(k) if keys.iter().any(|have| have == k) => k.to_string(),
        Some(k) => return Err(Error::Data(format!("the archive has no array '{k}'; its arrays are: {}", list()))),
        None => match keys.as_slice() {
            [only] => only.clone(),
            _ => {
                return Err(Error::Data(format!(
                    "the archive holds {} arrays ({}); name the one to read with a key",
                    keys.len(),
                    list()
                )))
            }
        },
    };
    let name = npyz::npz::file_name_from_array_name(&key);
    let bad = |e: &dyn std::fmt::Display| {
        Error::Data(format!("array '{key}' cannot be read from the archive ({e}); is the file complete?"))
    };
    let mut entry = archive.zip_archive().by_name(&name).map_err(|e| bad(&e))?;
    let mut bytes = Vec::new();
    entry.read_to_end(&mut bytes).map_err(|e| bad(&e))?;
    Ok((key, bytes))
}

/// Reads array `key` of shape `[N, ...]` (or the only array of the archive when `key` is `None`)
/// as N samples, converted to f32.
pub fn read_dataset(path: &Path, key: Option<&str>) -> Result<ArrayDataset> {
    let (key, bytes) = read_entry(path, key)?;
    dataset_of(&key, &bytes).map_err(|e| e.in_file(path))
}

/// As [`read_dataset`], from the bytes of an archive.
pub fn parse_dataset(bytes: &[u8], key: Option<&str>) -> Result<ArrayDataset> {
    let (key, bytes) = entry(archive(Cursor::new(bytes))?, key)?;
    dataset_of(&key, &bytes)
}

fn dataset_of(key: &str, bytes: &[u8]) -> Result<ArrayDataset> {
    let in_key = |e: Error| Error::Data(format!("array '{key}': {e}"));
    let array = dtype::parse(bytes).map_err(in_key)?;
    let sample = npy::sample_shape(&array.shape).map_err(in_key)?;
    let data = array.into_f32().map_err(in_key)?;
    ArrayDataset::new(sample, data).map_err(in_key)
}

/// Reads array `key` of the archive as labels: integers (or whole floats) of shape `[N]` or
/// `[N, 1]`.
pub fn read_labels(path: &Path, key: &str) -> Result<Vec<i64>> {
    let (key, bytes) = read_entry(path, Some(key))?;
    labels_of(&key, &bytes).map_err(|e| e.in_file(path))
}

/// As [`read_labels`], from the bytes of an archive.
pub fn parse_labels(bytes: &[u8], key: &str) -> Result<Vec<i64>> {
    let (key, bytes) = entry(archive(Cursor::new(bytes))?, Some(key))?;
    labels_of(&key, &bytes)
}

fn labels_of(key: &str, bytes: &[u8]) -> Result<Vec<i64>> {
    let in_key = |e: Error| Error::Data(format!("array '{key}': {e}"));
    let array = dtype::parse(bytes).map_err(in_key)?;
    npy::check_label_shape(&array.shape).map_err(in_key)?;
    array.into_i64().map_err(in_key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dataset;
    use npyz::WriterBuilder;

    fn write_npz(path: &Path, arrays: &[(&str, &[u64], &[f64])]) {
        let mut npz = npyz::npz::NpzWriter::create(path).unwrap();
        for (name, shape, data) in arrays {
            let mut w =
                npz.array::<f64>(name, Default::default()).unwrap().default_dtype().shape(shape).begin_nd().unwrap();
            w.extend(data.iter().copied()).unwrap();
            w.finish().unwrap();
        }
    }

    #[test]
    fn reads_the_only_array_or_the_named_one() {
        let dir = tempfile::tempdir().unwrap();
        let one = dir.path().join("one.npz");
        write_npz(&one, &[("x", &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])]);
        let d = read_dataset(&one, None).unwrap();
        assert_eq!((d.len(), d.sample_shape()), (2, &[3][..]));
        assert_eq!(d.values(), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);

        let two = dir.path().join("two.npz");
        write_npz(&two, &[("x", &[2, 2], &[0.5, 1.5, 2.5, 3.5]), ("y", &[2], &[1.0, 0.0])]);
        assert_eq!(keys(&two).unwrap(), ["x", "y"]);
        assert_eq!(read_dataset(&two, Some("x")).unwrap().values(), [0.5, 1.5, 2.5, 3.5]);
        assert_eq!(read_labels(&two, "y").unwrap(), [1, 0]);
        let err = read_dataset(&two, None).unwrap_err().to_string();
        assert!(err.contains("two.npz") && err.contains("x, y") && err.contains("key"), "{err}");
        let err = read_labels(&two, "x").unwrap_err().to_string();
        assert!(err.contains("'x'") && err.contains("[N]"), "{err}");
    }
}
