//! Data movement as a gather map precomputed at import: every output value is one value of one of
//! the node's inputs, or a constant. ONNX `Transpose`, `Pad` (constant mode), `Concat` of any
//! number of computed values, `Slice`, `Split`, `Gather` with constant indices, `Expand`, `Tile`,
//! `Where` with a constant condition, `GatherElements`, `ScatterND`, `Trilu` and the slicing of
//! unrolled recurrent layers all become one [`Remap`]; backward scatters each input's share of the
//! cotangents through the same map.

/// A map entry's source: input `i` of the node, or [`Entry::Const`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Entry {
    /// Value `index` of dynamic input `input`.
    Input { input: usize, index: usize },
    /// A constant value (padding, a masked position).
    Const(f32),
}

/// `src` marker of an entry that reads [`Remap::consts`].
const CONST: u16 = u16::MAX;

/// The most dynamic inputs one remap reads (a longer join is an import error).
pub const MAX_INPUTS: usize = CONST as usize;

/// A gather map from the node's inputs (and constants) to its output.
#[derive(Debug, Clone)]
pub struct Remap {
    /// Per output value, the input it reads, or [`CONST`]; empty when every entry reads input 0.
    src: Vec<u16>,
    /// Per output value, the index in that input (or in `consts`).
    idx: Vec<u32>,
    /// The constant values entries may read.
    consts: Vec<f32>,
    /// The map as runs of consecutive outputs reading consecutive values of one input, in output
    /// order, when it reads no constant and its runs are long (an attention head's rows moved by
    /// a transpose, a slice, a concatenation); empty otherwise.
    runs: Vec<Run>,
}

/// Outputs `out..out + len` read values `start..start + len` of input `input`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    out: u32,
    input: u16,
    start: u32,
    len: u32,
}

/// The shortest mean run length for which [`Remap::runs`] is kept: below it the per-run
/// bookkeeping costs more than the slice loops save.
const MIN_MEAN_RUN: usize = 8;

/// Row-major strides of `shape`.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1usize; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        s[d] = s[d + 1] * shape[d + 1];
    }
    s
}

/// Calls `f(index)` for every multi-index of `shape`, in row-major order.
pub fn each_index(shape: &[usize], mut f: impl FnMut(&[usize])) {
    let total: usize = shape.iter().product();
    let mut idx = vec![0usize; shape.len()];
    for _ in 0..total {
        f(&idx);
        for d in (0..idx.len()).rev() {
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
}

impl Remap {
    /// The map whose output value `o` is `entries[o]`. Indices stay below 2³² (the importer
    /// bounds values per sample) and inputs below [`MAX_INPUTS`].
    pub fn new(entries: impl IntoIterator<Item = Entry>) -> Remap {
        let (mut src, mut idx, mut consts) = (Vec::new(), Vec::new(), Vec::<f32>::new());
        for e in entries {
            match e {
                Entry::Input { input, index } => {
                    src.push(input as u16);
                    idx.push(index as u32);
                }
                Entry::Const(v) => {
                    // Reuse the slot of an equal constant (bit-equal, so NaN and -0 are kept).
                    let slot = consts.iter().position(|c| c.to_bits() == v.to_bits()).unwrap_or_else(|| {
                        consts.push(v);
                        consts.len() - 1
                    });
                    src.push(CONST);
                    idx.push(slot as u32);
                }
            }
        }
        if src.iter().all(|&s| s == 0) {
            src.clear();
        }
        let mut map = Remap { src, idx, consts, runs: Vec::new() };
        map.runs = map.find_runs();
        map
    }

    /// The map's runs when it reads no constant and they are at least [`MIN_MEAN_RUN`] long on
    /// average, else none.
    fn find_runs(&self) -> Vec<Run> {
        let mut runs: Vec<Run> = Vec::new();
        for o in 0..self.idx.len() {
            let input = self.src.get(o).copied().unwrap_or(0);
            if input == CONST {
                return Vec::new();
            }
            let start = self.idx[o];
            match runs.last_mut() {
                Some(r) if r.input == input && u64::from(r.start) + u64::from(r.len) == u64::from(start) => r.len += 1,
                _ => runs.push(Run { out: o as u32, input, start, len: 1 }),
            }
        }
        if runs.len() * MIN_MEAN_RUN > self.idx.len() {
            runs.clear();
        }
        runs
    }

    /// Output values.
    pub fn len(&self) -> usize {
        self.idx.len()
    }

    /// Whether the output is empty.
    pub fn is_empty(&self) -> bool {
        self.idx.is_empty()
    }

    /// What output value `o` reads.
    pub fn entry(&self, o: usize) -> Entry {
        match self.src.get(o).copied().unwrap_or(0) {
            CONST => Entry::Const(self.consts[self.idx[o] as usize]),
            s => Entry::Input { input: usize::from(s), index: self.idx[o] as usize },
        }
    }

    /// `Transpose` of a tensor of shape `shape` by `perm`.
    pub fn transpose(shape: &[usize], perm: &[usize]) -> Remap {
        let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
        let st = strides(shape);
        let mut entries = Vec::with_capacity(shape.iter().product());
        each_index(&out_shape, |idx| {
            let index = idx.iter().zip(perm).map(|(&i, &p)| i * st[p]).sum::<usize>();
            entries.push(Entry::Input { input: 0, index });
        });
        Remap::new(entries)
    }

    /// `Pad` (constant mode) of a tensor of shape `shape` by `begin[d]` values before and `end[d]`
    /// after axis `d`, with `fill`.
    pub fn pad(shape: &[usize], begin: &[usize], end: &[usize], fill: f32) -> Remap {
        let out_shape: Vec<usize> = (0..shape.len()).map(|d| begin[d] + shape[d] + end[d]).collect();
        let st = strides(shape);
        let mut entries = Vec::with_capacity(out_shape.iter().product());
        each_index(&out_shape, |idx| {
            let inside = (0..idx.len()).all(|d| idx[d] >= begin[d] && idx[d] < begin[d] + shape[d]);
            entries.push(if inside {
                Entry::Input { input: 0, index: (0..idx.len()).map(|d| (idx[d] - begin[d]) * st[d]).sum() }
            } else {
                Entry::Const(fill)
            });
        });
        Remap::new(entries)
    }

    /// `Concat` of tensors of shapes `shapes` (equal but on `axis`) along `axis`, input `i` being
    /// the node's dynamic input `i`.
    pub fn concat(shapes: &[&[usize]], axis: usize) -> Remap {
        let mut out_shape = shapes[0].to_vec();
        out_shape[axis] = shapes.iter().map(|s| s[axis]).sum();
        // The input holding each position along the axis, and the position within it.
        let owner: Vec<(usize, usize)> =
            shapes.iter().enumerate().flat_map(|(i, s)| (0..s[axis]).map(move |p| (i, p))).collect();
        let st: Vec<Vec<usize>> = shapes.iter().map(|s| strides(s)).collect();
        let mut entries = Vec::with_capacity(out_shape.iter().product());
        each_index(&out_shape, |idx| {
            let (input, pos) = owner[idx[axis]];
            let index = idx.iter().enumerate().map(|(d, &i)| if d == axis { pos } else { i } * st[input][d]).sum();
            entries.push(Entry::Input { input, index });
        });
        Remap::new(entries)
    }

    /// Whether every output reads a distinct input value and none reads a constant.
    pub fn is_injective(&self) -> bool {
        // One flag per value of each input read, sized by the highest index read from it.
        let mut seen: Vec<Vec<bool>> = Vec::new();
        for o in 0..self.idx.len() {
            let Entry::Input { input, index } = self.entry(o) else { return false };
            if seen.len() <= input {
                seen.resize_with(input + 1, Vec::new);
            }
            let flags = &mut seen[input];
            if flags.len() <= index {
                flags.resize(index + 1, false);
            }
            if std::mem::replace(&mut flags[index], true) {
                return false;
            }
        }
        true
    }

    /// Number of dynamic inputs the map reads (one past the highest).
    pub fn inputs(&self) -> usize {
        if self.src.is_empty() {
            return usize::from(!self.idx.is_empty());
        }
        self.src.iter().filter(|&&s| s != CONST).map(|&s| usize::from(s) + 1).max().unwrap_or(0)
    }

    pub(crate) fn forward(&self, inputs: &[&[f32]], y: &mut [f32]) {
        if !self.runs.is_empty() {
            for r in &self.runs {
                let (o, i, len) = (r.out as usize, r.start as usize, r.len as usize);
                y[o..o + len].copy_from_slice(&inputs[usize::from(r.input)][i..i + len]);
            }
            return;
        }
        if self.src.is_empty() {
            let x = inputs[0];
            y.iter_mut().zip(&self.idx).for_each(|(o, &i)| *o = x[i as usize]);
            return;
        }
        for ((o, &s), &i) in y.iter_mut().zip(&self.src).zip(&self.idx) {
            *o = match s {
                CONST => self.consts[i as usize],
                s => inputs[usize::from(s)][i as usize],
            };
        }
    }

    /// Adds input `input`'s share of the `m` cotangent rows `dy` to its rows `dx`.
    pub(crate) fn backward(&self, input: usize, m: usize, dy: &[f32], dx: &mut [f32]) {
        let (n, len) = (self.idx.len(), dx.len() / m.max(1));
        for (r, dyr) in dy.chunks_exact(n).enumerate().take(m) {
            let dxr = &mut dx[r * len..(r + 1) * len];
            if !self.runs.is_empty() {
                // Each value of `dx` receives its shares in output order, as below.
                for run in self.runs.iter().filter(|run| usize::from(run.input) == input) {
                    let (o, i, l) = (run.out as usize, run.start as usize, run.len as usize);
                    dxr[i..i + l].iter_mut().zip(&dyr[o..o + l]).for_each(|(v, &d)| *v += d);
                }
                continue;
            }
            if self.src.is_empty() {
                for (&i, &d) in self.idx.iter().zip(dyr) {
                    dxr[i as usize] += d;
                }
                continue;
            }
            for ((&s, &i), &d) in self.src.iter().zip(&self.idx).zip(dyr) {
                if usize::from(s) == input && s != CONST {
                    dxr[i as usize] += d;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Values with zeros of both signs and repeats.
    fn values(len: usize, seed: u32) -> Vec<f32> {
        (0..len as u32)
            .map(|i| match (i.wrapping_mul(2654435761) ^ seed) % 7 {
                0 => 0.0,
                1 => -0.0,
                v => (v as f32 - 3.5) * 0.3 + (i % 5) as f32 * 1e-3,
            })
            .collect()
    }

    proptest! {
        /// Maps made of runs of any length from three inputs (overlapping, repeated, merging
        /// into longer runs): the run loops give the entry loops' outputs and cotangents, bit for
        /// bit, with cotangents added onto values already there.
        #[test]
        fn runs_equal_the_entry_loops(
            pieces in prop::collection::vec((0usize..3, 0usize..60, 1usize..24), 1..12),
            seed: u32,
        ) {
            const LEN: usize = 84;
            let entries: Vec<Entry> = pieces
                .iter()
                .flat_map(|&(input, start, len)| (start..start + len).map(move |index| Entry::Input { input, index }))
                .collect();
            let fast = Remap::new(entries);
            let mut plain = fast.clone();
            plain.runs.clear();
            let inputs: Vec<Vec<f32>> = (0..3).map(|i| values(LEN, seed ^ i)).collect();
            let views: Vec<&[f32]> = inputs.iter().map(|v| &v[..]).collect();
            let n = fast.len();
            let (mut y_fast, mut y_plain) = (vec![1.0; n], vec![2.0; n]);
            fast.forward(&views, &mut y_fast);
            plain.forward(&views, &mut y_plain);
            prop_assert_eq!(y_fast.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), y_plain.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
            let rows = 2;
            let dy = values(rows * n, seed.wrapping_add(7));
            for input in 0..fast.inputs() {
                let start = values(rows * LEN, seed.wrapping_add(11));
                let (mut dx_fast, mut dx_plain) = (start.clone(), start);
                fast.backward(input, rows, &dy, &mut dx_fast);
                plain.backward(input, rows, &dy, &mut dx_plain);
                prop_assert_eq!(dx_fast.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), dx_plain.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
            }
        }
    }

    #[test]
    fn runs_are_kept_only_where_they_are_long() {
        // An attention head split: [65, 3, 64] -> [3, 65, 64] moves runs of 64.
        let heads = Remap::transpose(&[65, 3, 64], &[1, 0, 2]);
        assert_eq!(heads.runs.len(), 3 * 65);
        assert!(heads.runs.iter().all(|r| r.len == 64));
        // kᵀ: [3, 65, 64] -> [3, 64, 65] has no run longer than 1.
        assert!(Remap::transpose(&[3, 65, 64], &[0, 2, 1]).runs.is_empty());
        // Constants (padding) keep the entry loops.
        assert!(Remap::pad(&[4, 64], &[0, 1], &[0, 1], 0.0).runs.is_empty());
        // A concatenation: one run per input row.
        assert_eq!(Remap::concat(&[&[2, 16], &[2, 8]], 1).runs.len(), 4);
    }

    #[test]
    fn injective_maps_read_each_input_value_at_most_once() {
        assert!(Remap::transpose(&[3, 4, 5], &[2, 0, 1]).is_injective());
        assert!(Remap::concat(&[&[2, 3], &[2, 1]], 1).is_injective());
        // The same index of two different inputs is no repeat.
        let two = [Entry::Input { input: 1, index: 7 }, Entry::Input { input: 0, index: 7 }];
        assert!(Remap::new(two).is_injective());
        let repeat = [Entry::Input { input: 0, index: 2 }, Entry::Input { input: 1, index: 0 }];
        assert!(!Remap::new(repeat.into_iter().chain([Entry::Input { input: 0, index: 2 }])).is_injective());
        assert!(!Remap::pad(&[2, 2], &[1, 0], &[0, 0], 0.0).is_injective());
        assert!(Remap::new([]).is_injective());
    }
}
