//! DeepFool in weight space for one sample: the loop of influenciae's
//! `WeightsBoundaryCalculator`, with the norms of DeepFool's paper (arXiv 1511.04599, §3).
//!
//! ```text
//! c0 = argmax f(x; w0)
//! repeat at most step_nbr times:
//!     stop if argmax f(x; w) != c0                (crossed)
//!     stop if top1 − top2 <= eps                  (on the boundary)
//!     Δf_k = f_k − f_c0,  g_k = ∇_w Δf_k          for the candidate classes k
//!     k* = argmin_k |Δf_k| / ‖g_k‖_q               (q the dual of p)
//!     w += step(|Δf_k*|, g_k*)                     (no overshoot)
//! distance = ‖w − w0‖_p,  score = −distance
//! ```
//!
//! | p | step for the chosen k |
//! |---|---|
//! | 2 | `|Δf| / ‖g‖₂² · g` |
//! | ∞ (q = 1) | `|Δf| / ‖g‖₁ · sign(g)` |
//! | 1 (q = ∞) | `|Δf| / ‖g‖∞ · sign(g_j) e_j`, `j = argmax |g_j|` |
//!
//! influenciae raises `|g|` to the power `p − 1` where DeepFool uses the dual norm, so only its
//! p = 2 is a true DeepFool; wbound implements the table above.
//!
//! Two variants share the loop:
//!
//! - **label-aware** ([`DeepFool::run`] with a label, [`Reference::Labels`]): the reference class is
//!   the sample's given label. If the model predicts it, the search is the one above with
//!   `c0 = label` and the score is `−distance`. Otherwise DeepFool moves *towards* the label: the
//!   only candidate is the label, the opponent each step is the best other class, it stops when
//!   the label becomes the argmax or ties the top logit within `eps`, and the score is
//!   `+distance`. So the score is a signed weight-space margin, higher = more suspicious.
//! - **input space** ([`DeepFool::run_on_input`]): the sample moves instead of the weights
//!   (influenciae's `SampleBoundaryCalculator`), score `−‖x_adv − x‖_p`.

use crate::engine::{DualNorm, Engine, Group, Workspace};
use std::fmt;

/// The l_p norm in which the weight change is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Norm {
    /// Euclidean norm (influenciae's default; reproduces its scores).
    #[default]
    L2,
    /// Sum of absolute changes: DeepFool moves the single most effective weight.
    L1,
    /// Largest absolute change: DeepFool moves every weight by the same amount.
    Linf,
}

impl Norm {
    fn dual(self) -> DualNorm {
        match self {
            Norm::L2 => DualNorm::L2,
            Norm::L1 => DualNorm::Linf,
            Norm::Linf => DualNorm::L1,
        }
    }

    /// `‖a − b‖_p` in f64.
    pub fn distance(self, a: &[f32], b: &[f32]) -> f64 {
        let d = a.iter().zip(b).map(|(&x, &y)| f64::from(x) - f64::from(y));
        match self {
            Norm::L2 => d.map(|v| v * v).sum::<f64>().sqrt(),
            Norm::L1 => d.map(f64::abs).sum(),
            Norm::Linf => d.map(f64::abs).fold(0.0, f64::max),
        }
    }

    /// [`Norm::distance`]`(a, b)` (the same bits: the same sums in the same order), setting `a`
    /// to `b` in the same pass: the end of a sample's search reads its moved weights once.
    ///
    /// Runs of [`UNMOVED_RUN`] weights equal to `b` bit for bit (and not NaN) are skipped: their
    /// terms are zeros, which leave a sum of squares or of absolute values, and a max of them,
    /// unchanged, and there is nothing to put back. An embedding table's rows of the tokens a
    /// sample lacks are such runs.
    pub fn distance_and_reset(self, a: &mut [f32], b: &[f32]) -> f64 {
        if a.is_empty() {
            return self.distance(a, b);
        }
        // The sum starts at +0: after its first term (≥ +0) it equals `Iterator::sum`'s.
        let mut acc = 0.0f64;
        self.accumulate_and_reset(&mut acc, a, b);
        self.finish(acc)
    }

    /// [`Norm::distance_and_reset`] when `a` differs from `b` only inside `blocks` (offset,
    /// length; in any order, overlapping or not) and `b` holds no NaN: the same bits, reading
    /// only the blocks, in increasing order of offset (the values outside them would add zero
    /// terms). `blocks` is left sorted.
    pub fn distance_and_reset_blocks(self, a: &mut [f32], b: &[f32], blocks: &mut [(usize, usize)]) -> f64 {
        if a.is_empty() {
            return self.distance(a, b);
        }
        blocks.sort_unstable();
        let mut acc = 0.0f64;
        let mut done = 0;
        for &(off, len) in blocks.iter() {
            let (start, end) = (off.max(done), off + len);
            if start < end {
                self.accumulate_and_reset(&mut acc, &mut a[start..end], &b[start..end]);
                done = end;
            }
        }
        self.finish(acc)
    }

    /// Folds the terms of `a − b` into `acc`, skipping runs of [`UNMOVED_RUN`] weights equal to
    /// `b` bit for bit (and not NaN), and sets `a` to `b`.
    fn accumulate_and_reset(self, acc: &mut f64, a: &mut [f32], b: &[f32]) {
        for (xs, ys) in a.chunks_mut(UNMOVED_RUN).zip(b.chunks(UNMOVED_RUN)) {
            let moved =
                xs.iter().zip(ys).fold(0u32, |m, (&x, &y)| m | (x.to_bits() ^ y.to_bits()) | u32::from(x.is_nan()));
            if moved == 0 {
                continue;
            }
            for (x, &y) in xs.iter_mut().zip(ys) {
                let v = f64::from(*x) - f64::from(y);
                *x = y;
                match self {
                    Norm::L2 => *acc += v * v,
                    Norm::L1 => *acc += v.abs(),
                    Norm::Linf => *acc = acc.max(v.abs()),
                }
            }
        }
    }

    /// The distance from the folded terms.
    fn finish(self, acc: f64) -> f64 {
        match self {
            Norm::L2 => acc.sqrt(),
            Norm::L1 | Norm::Linf => acc,
        }
    }
}

/// The run of weights [`Norm::distance_and_reset`] checks for being unmoved at once.
const UNMOVED_RUN: usize = 64;

impl fmt::Display for Norm {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            Norm::L2 => "2",
            Norm::L1 => "1",
            Norm::Linf => "inf",
        })
    }
}

impl std::str::FromStr for Norm {
    type Err = String;
    fn from_str(s: &str) -> Result<Norm, String> {
        match s.to_ascii_lowercase().as_str() {
            "2" | "l2" => Ok(Norm::L2),
            "1" | "l1" => Ok(Norm::L1),
            "inf" | "linf" | "infinity" => Ok(Norm::Linf),
            _ => Err(format!("unknown norm '{s}'; expected 2, 1 or inf")),
        }
    }
}

/// How the DeepFool loop of a sample ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// The prediction changed class.
    Crossed,
    /// The top two logits are within `eps`: the sample sits on the boundary.
    OnBoundary,
    /// `step_nbr` updates did not reach the boundary (the distance so far is reported).
    StepLimit,
    /// Every candidate gradient is zero (dead units): no weight change moves the logits; the
    /// distance is +∞.
    Stuck,
    /// A logit or gradient was NaN or infinite, or the weights overflowed; the distance is NaN.
    NonFinite,
    /// The sample itself holds NaN or ∞ and was not scored (only with
    /// [`skip_invalid`](crate::WeightsBoundaryCalculator::skip_invalid)); the distance is NaN.
    InvalidInput,
}

impl Status {
    /// The name written in outputs.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Crossed => "crossed",
            Status::OnBoundary => "on_boundary",
            Status::StepLimit => "step_limit",
            Status::Stuck => "stuck",
            Status::NonFinite => "non_finite",
            Status::InvalidInput => "invalid_input",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The class a sample's distance is measured from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reference {
    /// The model's prediction (influenciae's choice; labels are not used).
    #[default]
    Prediction,
    /// The sample's given label: the signed margin of [`DeepFool::run`] with a label.
    Labels,
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            Reference::Prediction => "prediction",
            Reference::Labels => "label",
        })
    }
}

impl std::str::FromStr for Reference {
    type Err = String;
    fn from_str(s: &str) -> Result<Reference, String> {
        match s.to_ascii_lowercase().as_str() {
            "prediction" => Ok(Reference::Prediction),
            "label" | "labels" => Ok(Reference::Labels),
            _ => Err(format!("unknown reference '{s}'; expected prediction or label")),
        }
    }
}

/// What the loop is after.
#[derive(Debug, Clone, Copy)]
enum Goal {
    /// Move the prediction away from this class.
    Away(usize),
    /// Make this class the prediction.
    Towards(usize),
}

/// What DeepFool moves.
enum Space<'a> {
    /// The worker's copy of the selected weights.
    Weights,
    /// A copy of the sample (the engine must have input gradients).
    Input(&'a mut Vec<f32>),
}

/// Settings of the DeepFool loop.
#[derive(Debug, Clone, Copy)]
pub struct DeepFool {
    /// Most weight updates per sample (influenciae's `step_nbr`).
    pub step_nbr: usize,
    /// The norm of the change (and of its dual for the step).
    pub norm: Norm,
    /// Top-two logit gap under which a sample counts as on the boundary.
    pub eps: f32,
    /// Search only this many other classes, the highest-scoring at the start (`None`: all).
    pub candidates: Option<usize>,
}

/// The result for one sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampleScore {
    /// `−distance` (influenciae's sign: higher = more influential / more suspicious); with
    /// [`Reference::Labels`], `+distance` for a sample whose prediction is not its label.
    pub score: f64,
    /// `‖w_adv − w‖_p`.
    pub distance: f64,
    /// Number of weight updates made.
    pub steps: usize,
    /// How the search ended.
    pub status: Status,
    /// The model's prediction with the trained weights (and the original sample).
    pub original_class: usize,
    /// The prediction with the moved weights.
    pub final_class: usize,
}

/// The l2 step's factor: `w += |Δf| / ‖g‖² · g`.
fn l2_step(delta: f64, norm: f64) -> f32 {
    (delta / (norm * norm)) as f32
}

impl SampleScore {
    /// The result of a sample that was not scored because it holds NaN or ∞.
    pub fn invalid_input() -> SampleScore {
        SampleScore {
            score: f64::NAN,
            distance: f64::NAN,
            steps: 0,
            status: Status::InvalidInput,
            original_class: 0,
            final_class: 0,
        }
    }
}

fn argmax(y: &[f32]) -> usize {
    // First index among ties, as tf.argmax.
    let mut best = 0;
    for (i, &v) in y.iter().enumerate() {
        if v > y[best] {
            best = i;
        }
    }
    best
}

/// The best class other than `skip` (first index among ties).
fn argmax_except(y: &[f32], skip: usize) -> usize {
    let mut best = usize::from(skip == 0);
    for (i, &v) in y.iter().enumerate() {
        if i != skip && v > y[best] {
            best = i;
        }
    }
    best
}

fn top2_gap(y: &[f32]) -> f32 {
    let (mut a, mut b) = (f32::NEG_INFINITY, f32::NEG_INFINITY);
    for &v in y {
        if v > a {
            b = a;
            a = v;
        } else if v > b {
            b = v;
        }
    }
    (a - b).abs()
}

impl DeepFool {
    /// The candidate classes for a sample whose initial logits are `y` and prediction `c0`,
    /// in class order.
    fn candidates(&self, y: &[f32], c0: usize, out: &mut Vec<usize>) {
        out.clear();
        out.extend((0..y.len()).filter(|&k| k != c0));
        if let Some(n) = self.candidates.filter(|&n| n < out.len()) {
            out.sort_by(|&a, &b| y[b].total_cmp(&y[a]).then(a.cmp(&b)));
            out.truncate(n.max(1));
            out.sort_unstable();
        }
    }

    /// Runs DeepFool in weight space on sample `x` with the worker's workspace, leaving the
    /// workspace's weights reset to the trained ones. With a `label` (below the number of
    /// classes) it is the label-aware variant (see the module docs). `first` holds the sample's
    /// first forward pass when it was run with others ([`Engine::forward_group`]):
    /// `(group, position in the group)`. With `keep`, the logits of the trained weights (the
    /// first forward pass) are appended to it.
    #[allow(clippy::too_many_arguments)]
    pub fn run(
        &self,
        engine: &Engine,
        ws: &mut Workspace,
        x: &[f32],
        label: Option<usize>,
        first: Option<(&Group, usize)>,
        classes: &mut Vec<usize>,
        logits: &mut Vec<f32>,
        keep: Option<&mut Vec<f32>>,
    ) -> SampleScore {
        self.search(engine, ws, x, label, Space::Weights, first, classes, logits, keep)
    }

    /// DeepFool on the input (influenciae's `SampleBoundaryCalculator`): `x_adv` (a scratch
    /// buffer) moves instead of the weights; the engine must be built
    /// [`with_input_gradients`](Engine::with_input_gradients).
    pub fn run_on_input(
        &self,
        engine: &Engine,
        ws: &mut Workspace,
        x: &[f32],
        x_adv: &mut Vec<f32>,
        classes: &mut Vec<usize>,
        logits: &mut Vec<f32>,
    ) -> SampleScore {
        x_adv.clear();
        x_adv.extend_from_slice(x);
        self.search(engine, ws, x, None, Space::Input(x_adv), None, classes, logits, None)
    }

    #[allow(clippy::too_many_arguments)]
    fn search(
        &self,
        engine: &Engine,
        ws: &mut Workspace,
        x: &[f32],
        label: Option<usize>,
        mut space: Space,
        first: Option<(&Group, usize)>,
        classes: &mut Vec<usize>,
        logits: &mut Vec<f32>,
        keep: Option<&mut Vec<f32>>,
    ) -> SampleScore {
        let forward = |ws: &mut Workspace, space: &Space, logits: &mut Vec<f32>| {
            logits.clear();
            logits.extend_from_slice(match space {
                Space::Weights => engine.forward(ws, x),
                Space::Input(xa) => engine.forward(ws, xa),
            });
        };
        match (first, &space) {
            (Some((group, s)), Space::Weights) => {
                logits.clear();
                logits.extend_from_slice(engine.load(ws, group, s));
            }
            _ => forward(ws, &space, logits),
        }
        if let Some(keep) = keep {
            keep.extend_from_slice(logits);
        }
        let prediction = argmax(logits);
        let goal = match label {
            Some(l) if l != prediction => Goal::Towards(l),
            Some(l) => Goal::Away(l),
            None => Goal::Away(prediction),
        };
        match goal {
            Goal::Away(c0) => self.candidates(logits, c0, classes),
            Goal::Towards(t) => {
                classes.clear();
                classes.push(t);
            }
        }
        let q = self.norm.dual();
        let mut steps = 0;
        // Whether every change of the weights went through `add_gradient`, which lists the blocks
        // it changed (else the distance pass reads them all).
        ws.touched.clear();
        let mut in_blocks = !engine.selection().w0_has_nan;
        let status = loop {
            if logits.iter().any(|v| !v.is_finite()) {
                break Status::NonFinite;
            }
            let top = argmax(logits);
            // The class the candidates are measured against this step.
            let reference = match goal {
                Goal::Away(c0) if top != c0 => break Status::Crossed,
                Goal::Away(_) if top2_gap(logits) <= self.eps => break Status::OnBoundary,
                Goal::Away(c0) => c0,
                Goal::Towards(t) if top == t => break Status::Crossed,
                Goal::Towards(t) if logits[top] - logits[t] <= self.eps => break Status::OnBoundary,
                Goal::Towards(t) => argmax_except(logits, t),
            };
            if steps == self.step_nbr {
                break Status::StepLimit;
            }
            engine.backward(ws, reference, classes);
            let m = classes.len();
            match &space {
                Space::Weights => engine.norms(ws, m, q),
                Space::Input(_) => {
                    for r in 0..m {
                        let mut acc = 0.0;
                        q.add(&mut acc, engine.input_cotangent(ws, r));
                        ws.norms[r] = if q == DualNorm::L2 { acc.sqrt() } else { acc };
                    }
                }
            }
            if ws.norms[..m].iter().any(|n| !n.is_finite()) {
                break Status::NonFinite;
            }
            // k* = argmin |Δf_k| / ‖g_k‖ over rows with a non-zero gradient (first on ties).
            let mut best: Option<(usize, f64)> = None;
            for (r, &k) in classes.iter().enumerate() {
                let n = ws.norms[r];
                if n > 0.0 {
                    let ratio = f64::from((logits[k] - logits[reference]).abs()) / n;
                    if best.is_none_or(|(_, b)| ratio < b) {
                        best = Some((r, ratio));
                    }
                }
            }
            let Some((r, _)) = best else { break Status::Stuck };
            let delta = f64::from((logits[classes[r]] - logits[reference]).abs());
            let norm = ws.norms[r];
            match &mut space {
                Space::Weights if self.norm == Norm::L2 && engine.adds_gradients_in_place() => {
                    engine.add_gradient(ws, r, l2_step(delta, norm));
                }
                Space::Weights => {
                    engine.gradient(ws, r);
                    self.update(&mut ws.w, &ws.grad, delta, norm);
                    in_blocks = false;
                }
                Space::Input(xa) => self.update(xa, engine.input_cotangent(ws, r), delta, norm),
            }
            steps += 1;
            forward(ws, &space, logits);
        };
        let w0 = &engine.selection().w0;
        // Set when the distance pass also put the trained weights back.
        let mut reset = false;
        let mut distance = match (status, &space) {
            (Status::Stuck, _) => f64::INFINITY,
            (Status::NonFinite | Status::InvalidInput, _) => f64::NAN,
            (_, Space::Weights) if in_blocks => {
                reset = true;
                self.norm.distance_and_reset_blocks(&mut ws.w, w0, &mut ws.touched)
            }
            (_, Space::Weights) => {
                reset = true;
                self.norm.distance_and_reset(&mut ws.w, w0)
            }
            (_, Space::Input(xa)) => self.norm.distance(xa, x),
        };
        // Weights that overflowed while the logits stayed finite (a dead unit behind them): the
        // distance is not a number to rank by.
        let status = if distance.is_finite() || status == Status::Stuck {
            status
        } else {
            distance = f64::NAN;
            Status::NonFinite
        };
        let final_class = argmax(logits);
        if !reset {
            ws.w.copy_from_slice(w0);
        }
        let score = match goal {
            Goal::Towards(_) => distance,
            // `0 − d` rather than `−d`: a zero distance scores 0, not −0.
            Goal::Away(_) => 0.0 - distance,
        };
        SampleScore { score, distance, steps, status, original_class: prediction, final_class }
    }

    /// `w += step(|Δf|, g)` for the chosen row, `norm` being `‖g‖_q`.
    fn update(&self, w: &mut [f32], g: &[f32], delta: f64, norm: f64) {
        match self.norm {
            Norm::L2 => {
                let s = l2_step(delta, norm);
                w.iter_mut().zip(g).for_each(|(a, &b)| *a += s * b);
            }
            Norm::Linf => {
                let s = (delta / norm) as f32;
                w.iter_mut().zip(g).for_each(|(a, &b)| {
                    if b != 0.0 {
                        *a += s * b.signum();
                    }
                });
            }
            Norm::L1 => {
                let mut j = 0;
                for (i, &v) in g.iter().enumerate() {
                    if v.abs() > g[j].abs() {
                        j = i;
                    }
                }
                w[j] += (delta / norm) as f32 * g[j].signum();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Weights: mostly unmoved runs, some moved values, signed zeros and NaNs.
    fn weights() -> impl Strategy<Value = (Vec<f32>, Vec<f32>)> {
        prop::collection::vec((0u8..8, -2.0f32..2.0), 0..400).prop_map(|cells| {
            let b: Vec<f32> = cells.iter().map(|&(_, v)| v).collect();
            let a = cells
                .iter()
                .map(|&(k, v)| match k {
                    0 => v + 0.25,
                    1 if v == 0.0 => -0.0,
                    1 => -v,
                    2 => f32::NAN,
                    _ => v,
                })
                .collect();
            (a, b)
        })
    }

    proptest! {
        #[test]
        fn distance_and_reset_is_the_distance_bit_for_bit_and_resets(
            (a, mut b) in weights(), zero_b in any::<bool>(), nan_b in any::<bool>()
        ) {
            if zero_b && !b.is_empty() {
                b[0] = -0.0;
            }
            if nan_b && !b.is_empty() {
                // A NaN in the trained weights too: the distance is NaN either way.
                let i = b.len() / 2;
                b[i] = f32::NAN;
            }
            for norm in [Norm::L2, Norm::L1, Norm::Linf] {
                let expected = norm.distance(&a, &b);
                let mut moved = a.clone();
                let got = norm.distance_and_reset(&mut moved, &b);
                prop_assert_eq!(got.to_bits(), expected.to_bits(), "{}", norm);
                prop_assert!(moved.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()));
            }
        }
    }

    proptest! {
        /// Reading only the blocks that cover the moved weights (overlapping, out of order, of
        /// any length) gives the full pass's distance bit for bit and puts them back.
        #[test]
        fn distance_over_the_touched_blocks_is_the_distance_bit_for_bit(
            (a, b) in weights(), reach in 1usize..90, back in 0usize..5
        ) {
            prop_assume!(b.iter().all(|v| !v.is_nan()));
            let mut blocks: Vec<(usize, usize)> = (0..a.len())
                .filter(|&i| a[i].to_bits() != b[i].to_bits())
                .map(|i| {
                    let off = i.saturating_sub(back);
                    (off, reach.max(i + 1 - off).min(a.len() - off))
                })
                .rev()
                .collect();
            for norm in [Norm::L2, Norm::L1, Norm::Linf] {
                let expected = norm.distance(&a, &b);
                let mut moved = a.clone();
                let got = norm.distance_and_reset_blocks(&mut moved, &b, &mut blocks);
                prop_assert_eq!(got.to_bits(), expected.to_bits(), "{}", norm);
                prop_assert!(moved.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()));
            }
        }
    }

    #[test]
    fn all_unmoved_and_empty_weights_give_the_plain_distance() {
        let b: Vec<f32> = (0..300).map(|i| i as f32 * 0.01 - 1.0).collect();
        for norm in [Norm::L2, Norm::L1, Norm::Linf] {
            let mut a = b.clone();
            assert_eq!(norm.distance_and_reset(&mut a, &b).to_bits(), norm.distance(&b, &b).to_bits());
            assert_eq!(norm.distance_and_reset(&mut [], &[]).to_bits(), norm.distance(&[], &[]).to_bits());
        }
    }
}
