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
