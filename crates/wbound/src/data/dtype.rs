//! The numeric dtypes of `.npy` arrays (in `.npy` files and inside `.npz` archives), converted to
//! f32 values or i64 labels in one place.

use npyz::{DType, NpyFile, TypeChar};

use crate::error::{Error, Result};

/// The element types wbound reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bool,
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    F32,
    F64,
}

/// A parsed `.npy` array whose shape is known to be backed by the bytes.
pub(crate) struct NpyArray<'a> {
    pub shape: Vec<usize>,
    npy: NpyFile<&'a [u8]>,
    kind: Kind,
}

fn bad(msg: impl std::fmt::Display) -> Error {
    Error::Data(format!("not a readable .npy array: {msg}"))
}

/// The longest header read, as numpy's own reader (`max_header_size`).
pub(crate) const MAX_HEADER: usize = 10_000;

/// Deepest bracket nesting accepted in a header: numpy writes a flat dict whose `shape` is a
/// tuple (depth 2); structured dtypes go one or two deeper (and are refused later, by dtype).
const MAX_DEPTH: usize = 4;

/// Checks a `.npy` file's preamble — its first bytes, at least [`MAX_HEADER`] + 12 of them when
/// the file is that long — before anything parses (and allocates for) the header: the header must
/// fit in the `available` bytes of the file and in [`MAX_HEADER`], and be no deeper than a
/// header numpy writes. Both found by fuzzing: a version-3 preamble claiming a 3.6 GB header made
/// the reader allocate it, and a 118-byte header of nested `{` kept the header parser busy for
/// longer than 10 seconds.
pub(crate) fn check_header(preamble: &[u8], available: u64) -> Result<()> {
    let (prefix, header_len) = match preamble {
        [0x93, b'N', b'U', b'M', b'P', b'Y', 1, _, a, b, ..] => (10, usize::from(u16::from_le_bytes([*a, *b]))),
        [0x93, b'N', b'U', b'M', b'P', b'Y', 2 | 3, _, a, b, c, d, ..] => {
            (12, u32::from_le_bytes([*a, *b, *c, *d]) as usize)
        }
        // Anything else is for the reader to reject: it allocates nothing for it.
        _ => return Ok(()),
    };
    if (prefix + header_len) as u64 > available {
        return Err(bad(format!(
            "the preamble claims a header of {header_len} bytes but the file holds {available} bytes (truncated file?)"
        )));
    }
    if header_len > MAX_HEADER {
        return Err(bad(format!(
            "the header is {header_len} bytes long; numpy reads headers of at most {MAX_HEADER} bytes"
        )));
    }
    // The whole header is in the preamble (callers pass at least MAX_HEADER + 12 bytes of it).
    let mut depth = 0usize;
    for &c in preamble.get(prefix..prefix + header_len).unwrap_or_default() {
        match c {
            b'{' | b'[' | b'(' => depth += 1,
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        if depth > MAX_DEPTH {
            return Err(bad(format!(
                "the header nests brackets more than {MAX_DEPTH} deep; a .npy header is a flat dict \
                 (corrupt file?)"
            )));
        }
    }
    Ok(())
}

/// Parses the header of `.npy` bytes and checks the dtype, the memory order and that the bytes
/// hold the whole array (before anything is allocated for it).
pub(crate) fn parse(bytes: &[u8]) -> Result<NpyArray<'_>> {
    check_header(bytes, bytes.len() as u64)?;
    let mut data = bytes;
    let header = npyz::NpyHeader::from_reader(&mut data).map_err(bad)?;
    let npy = NpyFile::with_header(header, data);
    let shape: Vec<usize> = npy.shape().iter().map(|&d| usize::try_from(d).unwrap_or(usize::MAX)).collect();
    if npy.order() == npyz::Order::Fortran {
        return Err(Error::Data("the array is in Fortran order; save it with np.ascontiguousarray".into()));
    }
    let dtype = npy.dtype();
    let kind = match &dtype {
        DType::Plain(t) => match (t.type_char(), t.size_field()) {
            (TypeChar::Bool, 1) => Some(Kind::Bool),
            (TypeChar::Int, 1) => Some(Kind::I8),
            (TypeChar::Int, 2) => Some(Kind::I16),
            (TypeChar::Int, 4) => Some(Kind::I32),
            (TypeChar::Int, 8) => Some(Kind::I64),
            (TypeChar::Uint, 1) => Some(Kind::U8),
            (TypeChar::Uint, 2) => Some(Kind::U16),
            (TypeChar::Uint, 4) => Some(Kind::U32),
            (TypeChar::Uint, 8) => Some(Kind::U64),
            (TypeChar::Float, 4) => Some(Kind::F32),
            (TypeChar::Float, 8) => Some(Kind::F64),
            _ => None,
        },
        _ => None,
    };
    let Some(kind) = kind else {
        return Err(Error::Data(format!(
            "the array has dtype {}; wbound reads float32/float64, (u)int8/16/32/64 or bool arrays \
             (convert with x.astype(np.float32))",
            dtype.descr()
        )));
    };
    let width = dtype.num_bytes().unwrap_or(usize::MAX);
    let n = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    if n.and_then(|n| n.checked_mul(width)).is_none_or(|need| need > data.len()) {
        return Err(bad(format!(
            "the header claims shape {shape:?} of {} but only {} bytes of data follow it (truncated file?)",
            dtype.descr(),
            data.len()
        )));
    }
    Ok(NpyArray { shape, npy, kind })
}

impl NpyArray<'_> {
    /// All values as f32 (integers converted; above 2^24 they round).
    pub fn into_f32(self) -> Result<Vec<f32>> {
        fn conv<T: npyz::Deserialize>(npy: NpyFile<&[u8]>, f: impl Fn(T) -> f32) -> Result<Vec<f32>> {
            let data = npy.data::<T>().map_err(bad)?;
            data.map(|v| v.map(&f)).collect::<std::io::Result<_>>().map_err(bad)
        }
        let npy = self.npy;
        match self.kind {
            Kind::Bool => conv(npy, |v: bool| f32::from(u8::from(v))),
            Kind::I8 => conv(npy, |v: i8| f32::from(v)),
            Kind::I16 => conv(npy, |v: i16| f32::from(v)),
            Kind::I32 => conv(npy, |v: i32| v as f32),
            Kind::I64 => conv(npy, |v: i64| v as f32),
            Kind::U8 => conv(npy, |v: u8| f32::from(v)),
            Kind::U16 => conv(npy, |v: u16| f32::from(v)),
            Kind::U32 => conv(npy, |v: u32| v as f32),
            Kind::U64 => conv(npy, |v: u64| v as f32),
            Kind::F32 => conv(npy, |v: f32| v),
            Kind::F64 => conv(npy, |v: f64| v as f32),
        }
    }

    /// All values as i64 labels: integer arrays, or float arrays that hold whole numbers.
    pub fn into_i64(self) -> Result<Vec<i64>> {
        fn conv<T: npyz::Deserialize + Copy + std::fmt::Display>(
            npy: NpyFile<&[u8]>,
            f: impl Fn(T) -> Option<i64>,
        ) -> Result<Vec<i64>> {
            let data = npy.data::<T>().map_err(bad)?;
            let mut out = Vec::new();
            for (i, v) in data.enumerate() {
                let v = v.map_err(bad)?;
                out.push(f(v).ok_or_else(|| {
                    Error::Data(format!(
                        "element {i} is {v}, which is not an integer label; labels must be whole numbers"
                    ))
                })?);
            }
            Ok(out)
        }
        fn whole(v: f64) -> Option<i64> {
            // i64::MAX as f64 rounds up to 2^63, so the upper bound is exclusive.
            (v.fract() == 0.0 && v >= i64::MIN as f64 && v < i64::MAX as f64).then_some(v as i64)
        }
        let npy = self.npy;
        match self.kind {
            Kind::Bool => conv(npy, |v: bool| Some(i64::from(v))),
            Kind::I8 => conv(npy, |v: i8| Some(v.into())),
            Kind::I16 => conv(npy, |v: i16| Some(v.into())),
            Kind::I32 => conv(npy, |v: i32| Some(v.into())),
            Kind::I64 => conv(npy, |v: i64| Some(v)),
            Kind::U8 => conv(npy, |v: u8| Some(v.into())),
            Kind::U16 => conv(npy, |v: u16| Some(v.into())),
            Kind::U32 => conv(npy, |v: u32| Some(v.into())),
            Kind::U64 => conv(npy, |v: u64| i64::try_from(v).ok()),
            Kind::F32 => conv(npy, |v: f32| whole(v.into())),
            Kind::F64 => conv(npy, whole),
        }
    }
}
