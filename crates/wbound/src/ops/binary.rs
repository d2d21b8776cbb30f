//! Element-wise `Add`, `Sub`, `Mul`, `Div`, `PRelu` (`a > 0 ? a : b·a`, `b` the learned slope),
//! `Min` and `Max` with numpy broadcasting.
//!
//! Each operand is a dynamic input of the node or a weight tensor (a bias added after `MatMul`, a
//! rescaling constant). Broadcasting is resolved at import into a gather map per operand
//! (`None` when the operand already has the output's shape).
//! Derivatives: add `(1, 1)`, sub `(1, −1)`, mul `(b, a)`, div `(1/b, −a/b²)`,
//! prelu `a > 0 ? (1, 0) : (b, a)`, min `a <= b ? (1, 0) : (0, 1)`, max `a >= b ? (1, 0) : (0, 1)`
//! (a tie goes to the first operand).

use super::{GradSink, Weights};
use crate::tensor::TensorId;

/// Which arithmetic a [`Binary`] applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryKind {
    Add,
    Sub,
    Mul,
    Div,
    PRelu,
    Min,
    Max,
}

/// Where an operand's values come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operand {
    /// The node's dynamic input number `i`.
    Input(usize),
    /// A weight or constant tensor.
    Tensor(TensorId),
}

/// A broadcast element-wise arithmetic node.
#[derive(Debug, Clone)]
pub struct Binary {
    pub kind: BinaryKind,
    pub operands: [Operand; 2],
    /// Gather map of each operand into the output (`None`: same shape as the output).
    pub maps: [Option<Vec<u32>>; 2],
    pub out_len: usize,
}

impl Binary {
    pub(crate) fn tensors(&self) -> Vec<TensorId> {
        self.operands
            .iter()
            .filter_map(|o| match o {
                Operand::Tensor(t) => Some(*t),
                Operand::Input(_) => None,
            })
            .collect()
    }

    pub(crate) fn scratch_len(&self) -> usize {
        // A tensor operand's gradient; its length is at most the output's.
        self.out_len
    }

    fn values<'a>(&self, w: &Weights<'a>, inputs: &[&'a [f32]], side: usize) -> &'a [f32] {
        match self.operands[side] {
            Operand::Input(i) => inputs[i],
            Operand::Tensor(t) => w.get(t),
        }
    }

    fn index(&self, side: usize, i: usize) -> usize {
        match &self.maps[side] {
            Some(map) => map[i] as usize,
            None => i,
        }
    }

    fn apply(&self, a: f32, b: f32) -> f32 {
        match self.kind {
            BinaryKind::Add => a + b,
            BinaryKind::Sub => a - b,
            BinaryKind::Mul => a * b,
            BinaryKind::Div => a / b,
            BinaryKind::PRelu => {
                if a > 0.0 {
                    a
                } else {
                    b * a
                }
            }
            BinaryKind::Min => {
                if a <= b {
                    a
                } else {
                    b
                }
            }
            BinaryKind::Max => {
                if a >= b {
                    a
                } else {
                    b
                }
            }
        }
    }

    /// `∂y/∂a` (side 0) or `∂y/∂b` (side 1) at `(a, b)`.
    fn partial(&self, side: usize, a: f32, b: f32) -> f32 {
        match (self.kind, side) {
            (BinaryKind::Add, _) => 1.0,
            (BinaryKind::Sub, 0) => 1.0,
            (BinaryKind::Sub, _) => -1.0,
            (BinaryKind::Mul, 0) => b,
            (BinaryKind::Mul, _) => a,
            (BinaryKind::Div, 0) => 1.0 / b,
            (BinaryKind::Div, _) => -a / (b * b),
            (BinaryKind::PRelu, 0) if a > 0.0 => 1.0,
            (BinaryKind::PRelu, 0) => b,
            (BinaryKind::PRelu, _) if a > 0.0 => 0.0,
            (BinaryKind::PRelu, _) => a,
            (BinaryKind::Min, 0) => f32::from(a <= b),
            (BinaryKind::Min, _) => f32::from(a > b),
            (BinaryKind::Max, 0) => f32::from(a >= b),
            (BinaryKind::Max, _) => f32::from(a < b),
        }
    }

    pub(crate) fn forward(&self, w: &Weights, inputs: &[&[f32]], y: &mut [f32]) {
        let (a, b) = (self.values(w, inputs, 0), self.values(w, inputs, 1));
        match (&self.maps[0], &self.maps[1]) {
            (None, None) => y.iter_mut().zip(a.iter().zip(b)).for_each(|(o, (&x, &z))| *o = self.apply(x, z)),
            _ => {
                for (i, o) in y.iter_mut().enumerate() {
                    *o = self.apply(a[self.index(0, i)], b[self.index(1, i)]);
                }
            }
        }
    }

    /// Adds `dy ⊙ ∂y/∂side` into `g`, gathered back through the side's broadcast map.
    ///
    /// The partial derivative is chosen once per call, not per element, so that the common
    /// cases (a bias or residual `Add`, a scale `Mul`) run as plain loops; every case computes
    /// `d * partial` exactly as [`Binary::partial`] does, in the same order.
    fn accumulate(&self, w: &Weights, inputs: &[&[f32]], side: usize, dy: &[f32], g: &mut [f32]) {
        let (a, b) = (self.values(w, inputs, 0), self.values(w, inputs, 1));
        let at = |s: usize, i: usize| if s == 0 { a[self.index(0, i)] } else { b[self.index(1, i)] };
        match (self.kind, side) {
            (BinaryKind::Add, _) | (BinaryKind::Sub, 0) => self.scatter(side, dy, g, |_| 1.0),
            (BinaryKind::Sub, _) => self.scatter(side, dy, g, |_| -1.0),
            // The other operand unbroadcast: read it in place (the same values as `at`).
            (BinaryKind::Mul, 0) if self.maps[1].is_none() => self.scatter(side, dy, g, |i| b[i]),
            (BinaryKind::Mul, 1) if self.maps[0].is_none() => self.scatter(side, dy, g, |i| a[i]),
            (BinaryKind::Mul, 0) => self.scatter(side, dy, g, |i| at(1, i)),
            (BinaryKind::Mul, _) => self.scatter(side, dy, g, |i| at(0, i)),
            (BinaryKind::Div, 0) => self.scatter(side, dy, g, |i| 1.0 / at(1, i)),
            _ => self.scatter(side, dy, g, |i| self.partial(side, at(0, i), at(1, i))),
        }
    }

    /// `g[map(i)] += dy[i] * partial(i)` for every non-zero `dy[i]`, in order of `i`
    /// (`partial` must have no side effects: it is also called where `dy[i]` is zero).
    fn scatter(&self, side: usize, dy: &[f32], g: &mut [f32], partial: impl Fn(usize) -> f32) {
        match &self.maps[side] {
            None => {
                // A select, not a branch, so that the loop vectorises: `g` keeps its value (and
                // the sign of a zero) where `dy` is zero, whatever the partial there.
                for (i, (&d, gi)) in dy.iter().zip(g.iter_mut()).enumerate() {
                    let v = *gi + d * partial(i);
                    *gi = if d != 0.0 { v } else { *gi };
                }
            }
            Some(map) => {
                for (i, (&d, &j)) in dy.iter().zip(map).enumerate() {
                    if d != 0.0 {
                        g[j as usize] += d * partial(i);
                    }
                }
            }
        }
    }

    pub(crate) fn backward(&self, w: &Weights, inputs: &[&[f32]], input: usize, m: usize, dy: &[f32], dx: &mut [f32]) {
        let in_len = inputs[input].len();
        for side in 0..2 {
            if self.operands[side] == Operand::Input(input) {
                for r in 0..m {
                    let dyr = &dy[r * self.out_len..(r + 1) * self.out_len];
                    self.accumulate(w, inputs, side, dyr, &mut dx[r * in_len..(r + 1) * in_len]);
                }
            }
        }
    }

    pub(crate) fn param_grad(
        &self,
        w: &Weights,
        inputs: &[&[f32]],
        dy: &[f32],
        scratch: &mut [f32],
        sink: &mut GradSink,
    ) {
        for side in 0..2 {
            if let Operand::Tensor(t) = self.operands[side] {
                if w.is_selected(t) {
                    let g = &mut scratch[..w.get(t).len()];
                    g.fill(0.0);
                    self.accumulate(w, inputs, side, dy, g);
                    sink(t, 0, g);
                }
            }
        }
    }
}
