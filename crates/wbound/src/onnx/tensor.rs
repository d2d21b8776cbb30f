//! Decoding of ONNX `TensorProto`s (initializers, `Constant` values) into constant tensors.
//!
//! Sizes are checked against the bytes actually present before anything is allocated, so a
//! tensor that claims 2⁴⁰ elements is an error, not an allocation.

use super::proto::{data_type, TensorProto};
use crate::error::{Error, Result};

/// The values of a constant tensor.
#[derive(Debug, Clone, PartialEq)]
pub enum ConstData {
    F32(Vec<f32>),
    I64(Vec<i64>),
}

/// A constant known at import time: an initializer, a `Constant` node or a folded subgraph.
#[derive(Debug, Clone, PartialEq)]
pub struct ConstTensor {
    pub shape: Vec<usize>,
    pub data: ConstData,
}

impl ConstTensor {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.data {
            ConstData::F32(v) => v.len(),
            ConstData::I64(v) => v.len(),
        }
    }

    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values as integers (shape tensors, axes); floats are rejected.
    pub fn as_i64(&self) -> Option<&[i64]> {
        match &self.data {
            ConstData::I64(v) => Some(v),
            ConstData::F32(_) => None,
        }
    }

    /// The values as floats; integer tensors are converted.
    pub fn to_f32(&self) -> Vec<f32> {
        match &self.data {
            ConstData::F32(v) => v.clone(),
            ConstData::I64(v) => v.iter().map(|&x| x as f32).collect(),
        }
    }
}

fn element_count(dims: &[i64], what: &str) -> Result<(Vec<usize>, usize)> {
    let mut shape = Vec::with_capacity(dims.len());
    let mut n: usize = 1;
    for &d in dims {
        let d = usize::try_from(d).map_err(|_| Error::OnnxFormat(format!("{what} has a negative dimension {d}")))?;
        n = n
            .checked_mul(d)
            .ok_or_else(|| Error::OnnxFormat(format!("{what} has dimensions {dims:?} whose product overflows")))?;
        shape.push(d);
    }
    Ok((shape, n))
}

/// Decodes a tensor; `what` names it in errors (e.g. `initializer 'fc.weight'`).
pub fn decode(t: &TensorProto, what: &str) -> Result<ConstTensor> {
    if t.data_location == 1 {
        return Err(Error::OnnxFormat(format!(
            "{what} stores its data in an external file; save the model with all tensors inside it \
             (onnx.save_model(model, path, save_as_external_data=False))"
        )));
    }
    let (shape, n) = element_count(&t.dims, what)?;
    let mismatch =
        |got: usize| Error::OnnxFormat(format!("{what} has shape {shape:?} ({n} elements) but holds {got} values"));
    let raw = &t.raw_data;
    let data = match t.data_type {
        data_type::FLOAT | data_type::DOUBLE => {
            let width = if t.data_type == data_type::FLOAT { 4 } else { 8 };
            let v: Vec<f32> = if !raw.is_empty() {
                if raw.len() != n.saturating_mul(width) {
                    return Err(mismatch(raw.len() / width));
                }
                if width == 4 {
                    raw.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
                } else {
                    raw.chunks_exact(8)
                        .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32)
                        .collect()
                }
            } else if width == 4 {
                t.float_data.clone()
            } else {
                t.double_data.iter().map(|&x| x as f32).collect()
            };
            if v.len() != n {
                return Err(mismatch(v.len()));
            }
            ConstData::F32(v)
        }
        data_type::INT64 | data_type::INT32 => {
            let width = if t.data_type == data_type::INT64 { 8 } else { 4 };
            let v: Vec<i64> = if !raw.is_empty() {
                if raw.len() != n.saturating_mul(width) {
                    return Err(mismatch(raw.len() / width));
                }
                if width == 8 {
                    raw.chunks_exact(8)
                        .map(|b| i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
                        .collect()
                } else {
                    raw.chunks_exact(4).map(|b| i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))).collect()
                }
            } else if width == 8 {
                t.int64_data.clone()
            } else {
                t.int32_data.iter().map(|&x| i64::from(x)).collect()
            };
            if v.len() != n {
                return Err(mismatch(v.len()));
            }
            ConstData::I64(v)
        }
        other => {
            return Err(Error::OnnxFormat(format!(
                "{what} has element type {other}; wbound reads float32, float64, int32 and int64 tensors"
            )))
        }
    };
    Ok(ConstTensor { shape, data })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_claimed_shape_is_an_error_not_an_allocation() {
        let t = TensorProto {
            dims: vec![1 << 20, 1 << 20],
            data_type: data_type::FLOAT,
            raw_data: vec![0; 8],
            ..Default::default()
        };
        let e = decode(&t, "initializer 'w'").unwrap_err().to_string();
        assert!(e.contains("holds 2 values"), "{e}");
    }

    #[test]
    fn raw_and_typed_fields_decode_alike() {
        let raw = TensorProto {
            dims: vec![2],
            data_type: data_type::FLOAT,
            raw_data: [1.5f32.to_le_bytes(), (-2.0f32).to_le_bytes()].concat(),
            ..Default::default()
        };
        let typed = TensorProto {
            dims: vec![2],
            data_type: data_type::FLOAT,
            float_data: vec![1.5, -2.0],
            ..Default::default()
        };
        assert_eq!(decode(&raw, "a").unwrap(), decode(&typed, "b").unwrap());
        let ints =
            TensorProto { dims: vec![2], data_type: data_type::INT64, int64_data: vec![-1, 7], ..Default::default() };
        assert_eq!(decode(&ints, "c").unwrap().as_i64(), Some(&[-1i64, 7][..]));
    }
}
