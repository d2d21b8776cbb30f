//! Weight files: a safetensors `state_dict` read as named f32 tensors (f16, bf16 and f64
//! converted), and the check that it sets every trainable parameter of the model.
//!
//! From PyTorch: `safetensors.torch.save_file(model.state_dict(), "e1.safetensors")` after each
//! epoch. Integer tensors (`num_batches_tracked`) are not weights and are skipped.

use std::path::Path;

use safetensors::{Dtype, SafeTensors};

use crate::error::{Error, Result};
use crate::graph::Role;
use crate::model::Model;
use crate::onnx::tensor::f16_to_f32;
use crate::onnx::weights::WeightSet;

/// The float tensors of a safetensors file.
pub fn read(path: &Path) -> Result<WeightSet> {
    let bytes = std::fs::read(path).map_err(|cause| Error::Io { path: path.to_path_buf(), cause })?;
    parse(&bytes).map_err(|e| e.in_file(path))
}

/// The float tensors of safetensors bytes.
pub fn parse(bytes: &[u8]) -> Result<WeightSet> {
    let file = SafeTensors::deserialize(bytes).map_err(|e| {
        Error::Checkpoint(format!(
            "not a safetensors file ({e}); save weights with safetensors.torch.save_file(model.state_dict(), path)"
        ))
    })?;
    let mut set = WeightSet::new();
    for (name, view) in file.tensors() {
        let data = view.data();
        let values: Vec<f32> = match view.dtype() {
            Dtype::F32 => data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
            Dtype::F64 => {
                data.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32).collect()
            }
            Dtype::F16 => data.chunks_exact(2).map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]]))).collect(),
            Dtype::BF16 => data
                .chunks_exact(2)
                .map(|b| f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16))
                .collect(),
            Dtype::BOOL
            | Dtype::U8
            | Dtype::I8
            | Dtype::I16
            | Dtype::U16
            | Dtype::I32
            | Dtype::U32
            | Dtype::I64
            | Dtype::U64 => continue,
            other => {
                return Err(Error::Checkpoint(format!(
                    "tensor '{name}' has element type {other:?}; wbound reads f32, f16, bf16 and f64 weights"
                )))
            }
        };
        set.insert(name, (view.shape().to_vec(), values));
    }
    Ok(set)
}

/// An error listing the trainable parameters of `model` that `set` does not hold: scoring with
/// them would mix the checkpoint with the model's own weights.
pub fn check_covered(model: &Model, set: &WeightSet) -> Result<()> {
    let missing: Vec<String> = model
        .tensors()
        .iter()
        .filter(|t| matches!(t.role, Role::Trainable { .. }) && !set.contains_key(&t.name))
        .map(|t| format!("'{}'", t.name))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::Checkpoint(format!(
        "the weight file has no tensor for {} of the model's parameters: {}; save the whole \
         state_dict, with the names the ONNX file has (`wbound inspect` lists them)",
        missing.len(),
        crate::onnx::weights::list(&missing)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_is_not_safetensors_says_how_to_save_one() {
        let err = parse(b"PK\x03\x04 not a safetensors file").unwrap_err().to_string();
        assert!(err.contains("not a safetensors file") && err.contains("save_file(model.state_dict()"), "{err}");
    }
}

#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    proptest! {
        /// Arbitrary bytes, and arbitrary bytes after a plausible header length, are read or refused,
        /// never a panic.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256), header in 0u64..300) {
            let _ = super::parse(&bytes);
            let mut framed = header.to_le_bytes().to_vec();
            framed.extend(&bytes);
            let _ = super::parse(&framed);
        }
    }
}
