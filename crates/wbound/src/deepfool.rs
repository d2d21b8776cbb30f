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
}

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
    /// A logit or gradient was NaN or infinite; the distance is NaN.
    NonFinite,
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
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Settings of the DeepFool loop.
#[derive(Debug, Clone, Copy)]
pub struct DeepFool {
    pub step_nbr: usize,
    pub norm: Norm,
    pub eps: f32,
    /// Search only this many other classes, the highest-scoring at the start (`None`: all).
    pub candidates: Option<usize>,
}

/// The result for one sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampleScore {
    /// `−distance` (influenciae's sign: higher = more influential / more suspicious).
    pub score: f64,
    /// `‖w_adv − w‖_p`.
    pub distance: f64,
    /// Number of weight updates made.
    pub steps: usize,
    pub status: Status,
    /// The model's prediction with the trained weights.
    pub original_class: usize,
    /// The prediction with the moved weights.
    pub final_class: usize,
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

    /// Runs DeepFool on sample `x` with the worker's workspace, leaving the workspace's weights
    /// reset to the trained ones. `first` holds the sample's first forward pass when it was run
    /// with others ([`Engine::forward_group`]): `(group, position in the group)`.
    pub fn run(
        &self,
        engine: &Engine,
        ws: &mut Workspace,
        x: &[f32],
        first: Option<(&Group, usize)>,
        classes: &mut Vec<usize>,
        logits: &mut Vec<f32>,
    ) -> SampleScore {
        logits.clear();
        match first {
            Some((group, s)) => logits.extend_from_slice(engine.load(ws, group, s)),
            None => logits.extend_from_slice(engine.forward(ws, x)),
        }
        let c0 = argmax(logits);
        self.candidates(logits, c0, classes);
        let q = self.norm.dual();
        let mut steps = 0;
        let status = loop {
            if logits.iter().any(|v| !v.is_finite()) {
                break Status::NonFinite;
            }
            if argmax(logits) != c0 {
                break Status::Crossed;
            }
            if top2_gap(logits) <= self.eps {
                break Status::OnBoundary;
            }
            if steps == self.step_nbr {
                break Status::StepLimit;
            }
            engine.backward(ws, c0, classes);
            let m = classes.len();
            engine.norms(ws, m, q);
            if ws.norms[..m].iter().any(|n| !n.is_finite()) {
                break Status::NonFinite;
            }
            // k* = argmin |Δf_k| / ‖g_k‖ over rows with a non-zero gradient (first on ties).
            let mut best: Option<(usize, f64)> = None;
            for (r, &k) in classes.iter().enumerate() {
                let n = ws.norms[r];
                if n > 0.0 {
                    let ratio = f64::from((logits[k] - logits[c0]).abs()) / n;
                    if best.is_none_or(|(_, b)| ratio < b) {
                        best = Some((r, ratio));
                    }
                }
            }
            let Some((r, _)) = best else { break Status::Stuck };
            let k = classes[r];
            let delta = f64::from((logits[k] - logits[c0]).abs());
            let norm = ws.norms[r];
            engine.gradient(ws, r);
            self.update(&mut ws.w, &ws.grad, delta, norm);
            steps += 1;
            logits.clear();
            logits.extend_from_slice(engine.forward(ws, x));
        };
        let w0 = &engine.selection().w0;
        let distance = match status {
            Status::Stuck => f64::INFINITY,
            Status::NonFinite => f64::NAN,
            _ => self.norm.distance(&ws.w, w0),
        };
        let final_class = argmax(logits);
        ws.w.copy_from_slice(w0);
        SampleScore { score: -distance, distance, steps, status, original_class: c0, final_class }
    }

    /// `w += step(|Δf|, g)` for the chosen row, `norm` being `‖g‖_q`.
    fn update(&self, w: &mut [f32], g: &[f32], delta: f64, norm: f64) {
        match self.norm {
            Norm::L2 => {
                let s = (delta / (norm * norm)) as f32;
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
