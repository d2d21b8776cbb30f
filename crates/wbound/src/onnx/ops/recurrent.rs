//! Recurrent layers: `LSTM` and `GRU`, unrolled at import over the fixed sequence length.

use super::Importer;

pub(super) const OPS: &[(&str, Importer)] = &[];
