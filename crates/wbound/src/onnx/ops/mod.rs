//! The op registry: one table of `(ONNX op type, importer)` per op family, one file per family.
//! The list of supported ops is derived from these tables ([`supported`]); the import driver looks
//! every node up here before building anything.
//!
//! An importer reads its node's attributes and inputs from the [`Builder`], infers the output
//! shape and adds nodes, views or constants. A new op is one table line and one function in its
//! family's file.

mod activation;
mod conv;
mod dense;
mod elementwise;
mod logic;
mod movement;
mod norm;
mod pool;
mod recurrent;
mod reduce;
mod shape;

use super::attr::NodeCtx;
use super::builder::Builder;
use crate::error::Result;

/// Imports one ONNX node.
pub type Importer = fn(&mut Builder, &NodeCtx) -> Result<()>;

/// Every family's table.
const FAMILIES: &[&[(&str, Importer)]] = &[
    dense::OPS,
    conv::OPS,
    pool::OPS,
    norm::OPS,
    activation::OPS,
    elementwise::OPS,
    reduce::OPS,
    shape::OPS,
    movement::OPS,
    logic::OPS,
    recurrent::OPS,
];

/// The importer of a default-domain op type.
pub fn importer(op: &str) -> Option<Importer> {
    FAMILIES.iter().flat_map(|f| f.iter()).find(|(name, _)| *name == op).map(|&(_, f)| f)
}

/// Every supported op type, sorted.
pub fn supported() -> Vec<&'static str> {
    let mut ops: Vec<&str> = FAMILIES.iter().flat_map(|f| f.iter().map(|(n, _)| *n)).collect();
    ops.sort_unstable();
    ops
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_op_type_is_registered_once() {
        let ops = super::supported();
        let mut unique = ops.clone();
        unique.dedup();
        assert_eq!(ops, unique, "an op type appears in two tables");
    }
}
