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
    /// Each map's [`Block`] form, where it has one (every broadcast of one operand over leading
    /// and trailing axes: a bias, a per-channel scale, a per-row statistic, a scalar).
    blocks: [Option<Block>; 2],
}

/// A broadcast gather `j = (i / inner) % mid`: runs of `inner` equal indices (`inner > 1`), or the
/// operand's `mid` values read in order again and again (`inner == 1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Block {
    inner: usize,
    mid: usize,
}

impl Block {
    /// The block form of `map`, if it has one.
    fn of(map: &[u32]) -> Option<Block> {
        let (&first, &max) = (map.first()?, map.iter().max()?);
        let inner = map.iter().take_while(|&&j| j == first).count();
        let mid = max as usize + 1;
        let block = Block { inner, mid };
        let fits = first == 0 && map.len().is_multiple_of(inner * mid);
        (fits && map.iter().enumerate().all(|(i, &j)| j as usize == block.index(i))).then_some(block)
    }

    fn index(self, i: usize) -> usize {
        (i / self.inner) % self.mid
    }

    /// Calls `f(i0, j0, n, contiguous)` for the runs of a `len`-value output in order: outputs
    /// `i0..i0 + n` read operand values `j0..j0 + n` (`contiguous`) or `j0` alone.
    fn runs(self, len: usize, mut f: impl FnMut(usize, usize, usize, bool)) {
        if self.inner == 1 {
            (0..len).step_by(self.mid).for_each(|i0| f(i0, 0, self.mid, true));
        } else {
            (0..len).step_by(self.inner).enumerate().for_each(|(k, i0)| f(i0, k % self.mid, self.inner, false));
        }
    }
}

/// `g + d · p` where `d` is not zero, else `g`: how the element-wise nodes add a cotangent `d`
/// times a partial `p` into `g` (and what the nodes fused from them must reproduce). A select,
/// not a branch, so that the loops vectorise: `g` keeps its value (and the sign of a zero) where
/// `d` is zero, whatever the partial there.
#[inline]
pub(crate) fn add_where_nonzero(g: f32, d: f32, p: f32) -> f32 {
    if d != 0.0 {
        g + d * p
    } else {
        g
    }
}

/// `∂y/∂side` at every output value: one value for all, or one per value.
enum Partials<'a> {
    All(f32),
    Each(&'a [f32]),
}

impl Binary {
    /// The node `kind(operands)` whose operands are gathered into `out_len` values by `maps`.
    pub fn new(kind: BinaryKind, operands: [Operand; 2], maps: [Option<Vec<u32>>; 2], out_len: usize) -> Binary {
        let blocks = [0, 1].map(|s| maps[s].as_deref().and_then(Block::of));
        Binary { kind, operands, maps, out_len, blocks }
    }

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
        // The partial derivatives, then a tensor operand's gradient (at most the output's length).
        2 * self.out_len
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

    /// Writes operand `side`'s value at every output position into `out`.
    fn gather(&self, side: usize, vals: &[f32], out: &mut [f32]) {
        match (&self.maps[side], self.blocks[side]) {
            (None, _) => out.copy_from_slice(vals),
            (Some(_), Some(block)) => block.runs(out.len(), |i0, j0, n, contiguous| {
                if contiguous {
                    out[i0..i0 + n].copy_from_slice(&vals[j0..j0 + n]);
                } else {
                    out[i0..i0 + n].fill(vals[j0]);
                }
            }),
            (Some(map), None) => out.iter_mut().zip(map).for_each(|(o, &j)| *o = vals[j as usize]),
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
            // One operand broadcast: gathered into `y` first, so that the arithmetic runs as a
            // plain loop over two slices.
            (None, Some(_)) => {
                self.gather(1, b, y);
                y.iter_mut().zip(a).for_each(|(o, &x)| *o = self.apply(x, *o));
            }
            (Some(_), None) => {
                self.gather(0, a, y);
                y.iter_mut().zip(b).for_each(|(o, &z)| *o = self.apply(*o, z));
            }
            _ => {
                for (i, o) in y.iter_mut().enumerate() {
                    *o = self.apply(a[self.index(0, i)], b[self.index(1, i)]);
                }
            }
        }
    }

    /// `∂y/∂side` at every output value, written into `p` where it varies.
    ///
    /// The partial derivative is chosen once per call, not per element, and is the same for
    /// every cotangent row, so the backward of `m` rows computes it once; every case computes
    /// the value [`Binary::partial`] gives.
    fn partials<'a>(&self, w: &Weights<'a>, inputs: &[&'a [f32]], side: usize, p: &'a mut [f32]) -> Partials<'a> {
        let (a, b) = (self.values(w, inputs, 0), self.values(w, inputs, 1));
        let other = 1 - side;
        match (self.kind, side) {
            (BinaryKind::Add, _) | (BinaryKind::Sub, 0) => Partials::All(1.0),
            (BinaryKind::Sub, _) => Partials::All(-1.0),
            // The other operand unbroadcast: read in place.
            (BinaryKind::Mul, _) if self.maps[other].is_none() => Partials::Each([b, a][side]),
            (BinaryKind::Mul, _) => {
                self.gather(other, [b, a][side], p);
                Partials::Each(p)
            }
            (BinaryKind::Div, 0) => {
                self.gather(1, b, p);
                p.iter_mut().for_each(|v| *v = 1.0 / *v);
                Partials::Each(p)
            }
            _ => {
                for (i, v) in p.iter_mut().enumerate() {
                    *v = self.partial(side, a[self.index(0, i)], b[self.index(1, i)]);
                }
                Partials::Each(p)
            }
        }
    }

    /// Adds `dy ⊙ ∂y/∂side` into `g`, gathered back through the side's broadcast map.
    fn accumulate(&self, side: usize, partials: &Partials, dy: &[f32], g: &mut [f32]) {
        match *partials {
            Partials::All(c) => self.scatter(side, dy, g, |_, n| std::iter::repeat_n(c, n)),
            Partials::Each(p) => self.scatter(side, dy, g, |i0, n| p[i0..i0 + n].iter().copied()),
        }
    }

    /// `g[map(i)] += dy[i] * partial(i)` for every non-zero `dy[i]`, in order of `i`;
    /// `partials(i0, n)` yields the partials of outputs `i0..i0 + n`.
    fn scatter<I: Iterator<Item = f32>>(
        &self,
        side: usize,
        dy: &[f32],
        g: &mut [f32],
        partials: impl Fn(usize, usize) -> I,
    ) {
        let add = add_where_nonzero;
        match (&self.maps[side], self.blocks[side]) {
            (None, _) => {
                for ((gi, &d), p) in g.iter_mut().zip(dy).zip(partials(0, dy.len())) {
                    *gi = add(*gi, d, p);
                }
            }
            (Some(_), Some(block)) => block.runs(dy.len(), |i0, j0, n, contiguous| {
                let (dys, ps) = (&dy[i0..i0 + n], partials(i0, n));
                if contiguous {
                    for ((gj, &d), p) in g[j0..j0 + n].iter_mut().zip(dys).zip(ps) {
                        *gj = add(*gj, d, p);
                    }
                } else {
                    g[j0] = dys.iter().zip(ps).fold(g[j0], |acc, (&d, p)| add(acc, d, p));
                }
            }),
            (Some(map), None) => {
                for ((&d, &j), p) in dy.iter().zip(map).zip(partials(0, dy.len())) {
                    if d != 0.0 {
                        g[j as usize] += d * p;
                    }
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn backward(
        &self,
        w: &Weights,
        inputs: &[&[f32]],
        input: usize,
        m: usize,
        dy: &[f32],
        dx: &mut [f32],
        scratch: &mut [f32],
    ) {
        let in_len = inputs[input].len();
        for side in 0..2 {
            if self.operands[side] == Operand::Input(input) {
                let partials = self.partials(w, inputs, side, &mut scratch[..self.out_len]);
                for r in 0..m {
                    let dyr = &dy[r * self.out_len..(r + 1) * self.out_len];
                    self.accumulate(side, &partials, dyr, &mut dx[r * in_len..(r + 1) * in_len]);
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
                    let (p, g) = scratch.split_at_mut(self.out_len);
                    let g = &mut g[..w.get(t).len()];
                    g.fill(0.0);
                    let partials = self.partials(w, inputs, side, p);
                    self.accumulate(side, &partials, dy, g);
                    sink(t, 0, g);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::shapes::gather_map;
    use proptest::prelude::*;

    const KINDS: [BinaryKind; 7] = [
        BinaryKind::Add,
        BinaryKind::Sub,
        BinaryKind::Mul,
        BinaryKind::Div,
        BinaryKind::PRelu,
        BinaryKind::Min,
        BinaryKind::Max,
    ];

    /// An output shape and two operand shapes that broadcast to it: each operand keeps a suffix
    /// of the output's axes, some of them set to 1.
    fn shapes() -> impl Strategy<Value = (Vec<usize>, [Vec<usize>; 2])> {
        prop::collection::vec(1usize..5, 1..5).prop_flat_map(|out| {
            let rank = out.len();
            let operand = (0..=rank, prop::collection::vec(any::<bool>(), rank)).prop_map({
                let out = out.clone();
                move |(drop, ones)| (drop..rank).map(|d| if ones[d] { 1 } else { out[d] }).collect::<Vec<_>>()
            });
            (Just(out), [operand.clone(), operand])
        })
    }

    /// Values with zeros of both signs (cotangents that are zero, ties, division by zero).
    fn values(len: usize) -> impl Strategy<Value = Vec<f32>> {
        prop::collection::vec(prop_oneof![Just(0.0f32), Just(-0.0f32), -3.0f32..3.0], len)
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    proptest! {
        /// The broadcast fast paths (block runs, partials computed once for all rows) give the
        /// bits of the definition evaluated one output value at a time through the gather maps.
        #[test]
        fn fast_paths_equal_the_element_wise_definition(
            (out, ins) in shapes(), seed in values(3 * 256), kind in 0usize..7, m in 1usize..3
        ) {
            let out_len: usize = out.iter().product();
            let lens = [ins[0].iter().product::<usize>(), ins[1].iter().product::<usize>()];
            let maps = [gather_map(&ins[0], &out), gather_map(&ins[1], &out)];
            let op = Binary::new(KINDS[kind], [Operand::Input(0), Operand::Input(1)], maps, out_len);
            let pick = |k: usize, n: usize| -> Vec<f32> { (0..n).map(|i| seed[(k * 89 + i * 7) % seed.len()]).collect() };
            let (a, b) = (pick(0, lens[0]), pick(1, lens[1]));
            let w = Weights::new(&[], &[], &[]);
            let inputs = [a.as_slice(), b.as_slice()];

            let mut y = vec![0.0; out_len];
            op.forward(&w, &inputs, &mut y);
            let naive: Vec<f32> = (0..out_len).map(|i| op.apply(a[op.index(0, i)], b[op.index(1, i)])).collect();
            prop_assert_eq!(bits(&y), bits(&naive));

            let dy = pick(2, m * out_len);
            let mut scratch = vec![0.0; op.scratch_len()];
            for input in 0..2 {
                let start = pick(3 + input, m * lens[input]);
                let mut dx = start.clone();
                op.backward(&w, &inputs, input, m, &dy, &mut dx, &mut scratch);
                let mut expected = start;
                for r in 0..m {
                    for i in 0..out_len {
                        let d = dy[r * out_len + i];
                        if d != 0.0 {
                            let p = op.partial(input, a[op.index(0, i)], b[op.index(1, i)]);
                            expected[r * lens[input] + op.index(input, i)] += d * p;
                        }
                    }
                }
                prop_assert_eq!(bits(&dx), bits(&expected));
            }
        }
    }

    #[test]
    fn block_forms_of_the_common_broadcasts() {
        let block = |src: &[usize], out: &[usize]| Block::of(&gather_map(src, out).unwrap());
        assert_eq!(block(&[192], &[65, 192]), Some(Block { inner: 1, mid: 192 }));
        assert_eq!(block(&[65, 1], &[65, 192]), Some(Block { inner: 192, mid: 65 }));
        assert_eq!(block(&[8, 1, 1], &[2, 8, 4, 4]), Some(Block { inner: 16, mid: 8 }));
        assert_eq!(block(&[1], &[3, 5]), Some(Block { inner: 15, mid: 1 }));
        // Two broadcast axes apart: no block form, the map is used.
        assert_eq!(block(&[2, 1, 3], &[2, 4, 3]), None);
    }
}
