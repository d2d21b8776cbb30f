//! Tensors stored outside the `.onnx` file (ONNX external data: the dynamo exporter of
//! `torch.onnx` writes `model.onnx.data` beside `model.onnx`): read into the model before import.
//!
//! A tensor's `location` is a path relative to the model's folder; one that leaves the folder
//! (absolute, or through `..`) is refused, as is a range outside the file.

use std::path::{Component, Path};

use super::proto::ModelProto;
use crate::error::{Error, Result};

/// Whether any initializer of `model` keeps its data in another file.
pub fn has_external(model: &ModelProto) -> bool {
    model.graph.as_ref().is_some_and(|g| g.initializer.iter().any(|t| t.data_location == 1))
}

/// Reads every external initializer of `model` from the files beside it in `dir`, so that the
/// model holds all its data.
pub fn inline(model: &mut ModelProto, dir: &Path) -> Result<()> {
    let Some(g) = model.graph.as_mut() else { return Ok(()) };
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for t in g.initializer.iter_mut().filter(|t| t.data_location == 1) {
        let field = |key: &str| t.external_data.iter().find(|e| e.key == key).map(|e| e.value.clone());
        let what = format!("initializer '{}'", t.name);
        let location = field("location")
            .ok_or_else(|| Error::OnnxFormat(format!("{what} is stored externally but names no file")))?;
        let number = |key: &str| -> Result<Option<usize>> {
            field(key)
                .map(|v| {
                    v.parse::<usize>().map_err(|_| Error::OnnxFormat(format!("{what}: {key} '{v}' is not a number")))
                })
                .transpose()
        };
        let (offset, length) = (number("offset")?.unwrap_or(0), number("length")?);
        let relative = Path::new(&location);
        if relative.components().any(|c| !matches!(c, Component::Normal(_) | Component::CurDir)) {
            return Err(Error::OnnxFormat(format!(
                "{what} is stored in '{location}', outside the model's folder; external data must be a file beside the model"
            )));
        }
        if !files.iter().any(|(name, _)| *name == location) {
            let path = dir.join(relative);
            let bytes = std::fs::read(&path).map_err(|cause| Error::Io { path: path.clone(), cause })?;
            files.push((location.clone(), bytes));
        }
        let bytes = &files.iter().find(|(name, _)| *name == location).expect("just read").1;
        let end = match length {
            Some(n) => offset.checked_add(n),
            None => Some(bytes.len()),
        };
        let Some(range) = end.filter(|&e| e <= bytes.len() && offset <= e).map(|e| offset..e) else {
            return Err(Error::OnnxFormat(format!(
                "{what}: bytes {offset}..{} are outside '{location}' ({} bytes); the data file does not belong to this model",
                end.map_or("?".to_string(), |e| e.to_string()),
                bytes.len()
            )));
        };
        t.raw_data = bytes[range].to_vec();
        t.data_location = 0;
        t.external_data.clear();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::proto::{GraphProto, StringStringEntryProto, TensorProto};
    use proptest::prelude::*;

    fn model(offset: &str, length: Option<&str>) -> ModelProto {
        let entry = |k: &str, v: &str| StringStringEntryProto { key: k.into(), value: v.into() };
        let mut external_data = vec![entry("location", "w.bin"), entry("offset", offset)];
        external_data.extend(length.map(|l| entry("length", l)));
        let t = TensorProto {
            name: "w".into(),
            dims: vec![2],
            data_type: 1,
            data_location: 1,
            external_data,
            ..Default::default()
        };
        ModelProto { graph: Some(GraphProto { initializer: vec![t], ..Default::default() }), ..Default::default() }
    }

    proptest! {
        /// Any offset and length, inside the file or not, gives the bytes in range or an error, never a panic.
        #[test]
        fn any_range_is_read_or_refused(file_len in 0usize..64, offset in 0usize..80, length in proptest::option::of(0usize..80)) {
            let dir = tempfile::tempdir().unwrap();
            let data: Vec<u8> = (0..file_len as u8).collect();
            std::fs::write(dir.path().join("w.bin"), &data).unwrap();
            let mut m = model(&offset.to_string(), length.map(|l| l.to_string()).as_deref());
            let fits = offset <= file_len && length.is_none_or(|l| offset + l <= file_len);
            match inline(&mut m, dir.path()) {
                Ok(()) => {
                    prop_assert!(fits);
                    let end = length.map_or(file_len, |l| offset + l);
                    prop_assert_eq!(&m.graph.unwrap().initializer[0].raw_data, &data[offset..end]);
                }
                Err(e) => {
                    prop_assert!(!fits);
                    prop_assert!(e.to_string().contains("outside 'w.bin'"), "{}", e);
                }
            }
        }
    }

    #[test]
    fn a_range_that_is_not_a_number_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("w.bin"), [0u8; 8]).unwrap();
        let err = inline(&mut model("-1", None), dir.path()).unwrap_err().to_string();
        assert!(err.contains("offset '-1' is not a number"), "{err}");
        let err = inline(&mut model("0", Some("18446744073709551615")), dir.path()).unwrap_err().to_string();
        assert!(err.contains("outside 'w.bin'"), "{err}");
    }
}
