//! Embedding lookups: ONNX `Gather` whose data is a weight tensor (a word, position or token-type
//! embedding table, Swin's relative-position bias table) and whose indices come from the graph
//! input (token ids) or are constant.
//!
//! `y[p] = table[idx[p]]` (rows of `dim` values; negative indices count from the end, as in
//! ONNX). Only the gathered rows have a gradient: the row of token `t` gets the sum of the
//! cotangents of the positions that read it, emitted once per distinct row, so a 30k-row
//! vocabulary costs nothing beyond the sample's tokens.

use super::{GradSink, Weights};
use crate::tensor::TensorId;

/// Where the indices come from.
#[derive(Debug, Clone)]
pub enum Indices {
    /// The node's dynamic input 0 (token ids, stored as exact integers in f32).
    Input,
    /// Fixed indices (already wrapped into `0..rows`), and the positions sorted by index.
    Const { idx: Vec<u32>, order: Vec<u32> },
}

/// A row lookup in `table` (`rows × dim`).
#[derive(Debug, Clone)]
pub struct Embedding {
    pub table: TensorId,
    pub rows: usize,
    pub dim: usize,
    /// Number of looked-up positions.
    pub positions: usize,
    pub indices: Indices,
}

/// Marks an index outside the table (its row reads as zeros and has no gradient).
const OUT_OF_RANGE: u32 = u32::MAX;

impl Embedding {
    /// The row index of a raw index value, wrapped like ONNX; [`OUT_OF_RANGE`] when it is not an
    /// integer in `-rows..rows` (the data check refuses such samples before any work).
    pub fn row_of(value: f64, rows: usize) -> u32 {
        let r = rows as f64;
        if value.fract() != 0.0 || !(value >= -r && value < r) {
            return OUT_OF_RANGE;
        }
        (if value < 0.0 { value + r } else { value }) as u32
    }

    /// Positions sorted by their row (stable), for grouping the gradient by row.
    pub fn order_of(idx: &[u32]) -> Vec<u32> {
        let mut order: Vec<u32> = (0..idx.len() as u32).collect();
        order.sort_by_key(|&p| idx[p as usize]);
        order
    }

    /// Index floats kept from the forward pass: each position's row, then the positions sorted by row.
    pub(crate) fn aux_len(&self) -> usize {
        match self.indices {
            Indices::Input => 2 * self.positions,
            Indices::Const { .. } => 0,
        }
    }

    pub(crate) fn forward(&self, w: &Weights, inputs: &[&[f32]], y: &mut [f32], aux: &mut [u32]) {
        let table = w.get(self.table);
        let d = self.dim;
        if let Indices::Input = self.indices {
            let (idx, order) = aux.split_at_mut(self.positions);
            for (slot, &v) in idx.iter_mut().zip(inputs[0]) {
                *slot = Self::row_of(f64::from(v), self.rows);
            }
            order.copy_from_slice(&Self::order_of(idx));
        }
        let idx = match &self.indices {
            Indices::Input => &aux[..self.positions],
            Indices::Const { idx, .. } => &idx[..],
        };
        for (row, &r) in y.chunks_exact_mut(d).zip(idx) {
            match table.get(r as usize * d..(r as usize + 1) * d) {
                Some(src) if r != OUT_OF_RANGE => row.copy_from_slice(src),
                _ => row.fill(0.0),
            }
        }
    }

    pub(crate) fn scratch_len(&self) -> usize {
        self.dim
    }

    pub(crate) fn param_grad(&self, w: &Weights, aux: &[u32], dy: &[f32], scratch: &mut [f32], sink: &mut GradSink) {
        if !w.is_selected(self.table) {
            return;
        }
        let (idx, order) = match &self.indices {
            Indices::Input => aux.split_at(self.positions),
            Indices::Const { idx, order } => (&idx[..], &order[..]),
        };
        let d = self.dim;
        let g = &mut scratch[..d];
        let mut p = 0;
        while p < order.len() {
            let row = idx[order[p] as usize];
            g.fill(0.0);
            while p < order.len() && idx[order[p] as usize] == row {
                let at = order[p] as usize * d;
                g.iter_mut().zip(&dy[at..at + d]).for_each(|(a, &b)| *a += b);
                p += 1;
            }
            if row != OUT_OF_RANGE {
                sink(self.table, row as usize * d, g);
            }
        }
    }
}
