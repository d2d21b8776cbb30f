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

    /// The values as integers, floats accepted when every one is whole (a shape computed in
    /// float arithmetic); `None` otherwise.
    pub fn to_i64(&self) -> Option<Vec<i64>> {
        match &self.data {
            ConstData::I64(v) => Some(v.clone()),
            ConstData::F32(v) => {
                v.iter().map(|&x| (x.fract() == 0.0 && x.abs() < 9.2e18).then_some(x as i64)).collect()
            }
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
            "{what} stores its data in an external file, which is read only when the model is loaded from its \
             file (the data file beside it); or save the model with all tensors inside it \
             (onnx.save_model(model, path, save_as_external_data=False))"
        )));
    }
    let (shape, n) = element_count(&t.dims, what)?;
    let mismatch =
        |got: usize| Error::OnnxFormat(format!("{what} has shape {shape:?} ({n} elements) but holds {got} values"));
    let raw = &t.raw_data;
    let ty = t.data_type;
    let width = match ty {
        data_type::UINT8 | data_type::INT8 | data_type::BOOL => 1,
        data_type::UINT16 | data_type::INT16 | data_type::FLOAT16 | data_type::BFLOAT16 => 2,
        data_type::FLOAT | data_type::INT32 | data_type::UINT32 => 4,
        data_type::INT64 | data_type::DOUBLE | data_type::UINT64 => 8,
        other => {
            return Err(Error::OnnxFormat(format!(
                "{what} has element type {other}; wbound reads float, integer and boolean tensors"
            )))
        }
    };
    if !raw.is_empty() && raw.len() != n.saturating_mul(width) {
        return Err(mismatch(raw.len() / width));
    }
    let bytes = |i: usize| &raw[i * width..(i + 1) * width];
    let le8 = |b: &[u8]| {
        let mut a = [0u8; 8];
        a[..b.len()].copy_from_slice(b);
        a
    };
    let data = if data_type::is_float(ty) {
        let v: Vec<f32> = if !raw.is_empty() {
            (0..n)
                .map(|i| {
                    let b = bytes(i);
                    match ty {
                        data_type::FLOAT => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
                        data_type::DOUBLE => f64::from_le_bytes(le8(b)) as f32,
                        data_type::FLOAT16 => f16_to_f32(u16::from_le_bytes([b[0], b[1]])),
                        _ => f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16),
                    }
                })
                .collect()
        } else {
            match ty {
                data_type::FLOAT => t.float_data.clone(),
                data_type::DOUBLE => t.double_data.iter().map(|&x| x as f32).collect(),
                // Half floats are stored as their bits in int32_data.
                data_type::FLOAT16 => t.int32_data.iter().map(|&x| f16_to_f32(x as u16)).collect(),
                _ => t.int32_data.iter().map(|&x| f32::from_bits((x as u32) << 16)).collect(),
            }
        };
        if v.len() != n {
            return Err(mismatch(v.len()));
        }
        ConstData::F32(v)
    } else {
        let v: Vec<i64> = if !raw.is_empty() {
            (0..n)
                .map(|i| {
                    let b = bytes(i);
                    match ty {
                        data_type::INT8 => i64::from(b[0] as i8),
                        data_type::UINT8 | data_type::BOOL => i64::from(b[0]),
                        data_type::INT16 => i64::from(i16::from_le_bytes([b[0], b[1]])),
                        data_type::UINT16 => i64::from(u16::from_le_bytes([b[0], b[1]])),
                        data_type::INT32 => i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])),
                        data_type::UINT32 => i64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
                        _ => i64::from_le_bytes(le8(b)),
                    }
                })
                .collect()
        } else if ty == data_type::INT64 || ty == data_type::UINT64 {
            t.int64_data.clone()
        } else {
            t.int32_data.iter().map(|&x| i64::from(x)).collect()
        };
        if v.len() != n {
            return Err(mismatch(v.len()));
        }
        ConstData::I64(v)
    };
    Ok(ConstTensor { shape, data })
}

/// IEEE half precision to single.
pub(crate) fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let frac = u32::from(h & 0x3ff);
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, f) => {
            // Subnormal: renormalise.
            let mut e = 127 - 15 + 1;
            let mut f = f;
            while f & 0x400 == 0 {
                f <<= 1;
                e -= 1;
            }
            sign | (e << 23) | ((f & 0x3ff) << 13)
        }
        (0x1f, f) => sign | 0x7f80_0000 | (f << 13),
        (e, f) => sign | ((e + 127 - 15) << 23) | (f << 13),
    };
    f32::from_bits(bits)
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

    #[test]
    fn small_ints_bools_and_half_floats_decode() {
        let raw = |ty, bytes: Vec<u8>, n: i64| TensorProto {
            dims: vec![n],
            data_type: ty,
            raw_data: bytes,
            ..Default::default()
        };
        assert_eq!(decode(&raw(data_type::BOOL, vec![1, 0, 1], 3), "b").unwrap().as_i64(), Some(&[1i64, 0, 1][..]));
        assert_eq!(decode(&raw(data_type::INT8, vec![0xff, 2], 2), "i8").unwrap().as_i64(), Some(&[-1i64, 2][..]));
        // 1.0, -2.0 and 0.5 in IEEE half precision: 0x3c00, 0xc000, 0x3800.
        let h = raw(data_type::FLOAT16, vec![0x00, 0x3c, 0x00, 0xc0, 0x00, 0x38], 3);
        assert_eq!(decode(&h, "h").unwrap().to_f32(), vec![1.0, -2.0, 0.5]);
        // bfloat16 1.5 = 0x3fc0.
        assert_eq!(decode(&raw(data_type::BFLOAT16, vec![0xc0, 0x3f], 1), "bf").unwrap().to_f32(), vec![1.5]);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        for (h, f) in [(0x3c00u16, 1.0f32), (0xc000, -2.0), (0x3555, 0.333_251_95), (0x7bff, 65504.0)] {
            assert_eq!(f16_to_f32(h), f, "{h:#x}");
        }
        assert!(f16_to_f32(0x7e00).is_nan());
        assert_eq!(f16_to_f32(0xfc00), f32::NEG_INFINITY);
    }
}
