//! The batch iterator of [`WeightsBoundaryCalculator::compute_influence_values`]: reads one batch,
//! scores its samples on the worker threads (the calling thread is one of them) and returns them
//! in input order. A worker that panics is reported as [`Error::WorkerPanic`], never as a
//! result.

use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};

use super::{ScoredBatch, WeightsBoundaryCalculator};
use crate::data::Dataset;
use crate::deepfool::{Reference, SampleScore};
use crate::engine::{Engine, Group, Workspace};
use crate::error::{Error, Result};

/// The batches of [`WeightsBoundaryCalculator::compute_influence_values`].
pub struct InfluenceValues<'a> {
    pub(super) calc: &'a WeightsBoundaryCalculator<'a>,
    pub(super) data: &'a dyn Dataset,
    pub(super) engine: Engine<'a>,
    pub(super) workspaces: Vec<(Workspace, Option<Group>)>,
    /// Samples per shared first step (1: none).
    pub(super) group: usize,
    pub(super) next: usize,
}

impl InfluenceValues<'_> {
    fn score_batch(&mut self) -> Result<ScoredBatch> {
        let start = self.next;
        let count = self.calc.batch_size.min(self.data.len() - start);
        let mut inputs = Vec::new();
        self.data.read(start, count, &mut inputs)?;
        let n = inputs.len() / count;
        self.next += count;
        let counter = AtomicUsize::new(0);
        let (engine, deepfool, calc, size) = (&self.engine, &self.calc.deepfool, self.calc, self.group);
        let classes_n = engine.graph().num_classes();
        let labels = match calc.reference {
            Reference::Labels => self.data.labels().map(|l| &l[start..start + count]),
            Reference::Prediction => None,
        };
        let inputs_ref = &inputs;
        let cancelled = || calc.cancel.is_some_and(|c| c.load(AtomicOrdering::Relaxed));
        let work = |(ws, group): &mut (Workspace, Option<Group>)| {
            let (mut classes, mut logits, mut x_adv) = (Vec::new(), Vec::new(), Vec::new());
            let mut out: Vec<(usize, SampleScore, Vec<f32>)> = Vec::new();
            loop {
                let first = counter.fetch_add(size, AtomicOrdering::Relaxed);
                if first >= count || cancelled() {
                    break out;
                }
                let end = (first + size).min(count);
                if let Some(group) = group.as_mut() {
                    engine.forward_group(group, &inputs_ref[first * n..end * n]);
                }
                for i in first..end {
                    let x = &inputs_ref[i * n..(i + 1) * n];
                    let shared = group.as_ref().map(|g| (g, i - first));
                    let (c, l) = (&mut classes, &mut logits);
                    let mut kept = Vec::new();
                    // Without `skip_invalid` the data set was checked before any work.
                    let score = if calc.skip_invalid && x.iter().any(|v| !v.is_finite()) {
                        kept.resize(if calc.keep_logits { classes_n } else { 0 }, f32::NAN);
                        SampleScore::invalid_input()
                    } else if calc.input_space {
                        deepfool.run_on_input(engine, ws, x, &mut x_adv, c, l)
                    } else {
                        let label = labels.map(|labels| labels[i] as usize);
                        let keep = calc.keep_logits.then_some(&mut kept);
                        deepfool.run(engine, ws, x, label, shared, c, l, keep)
                    };
                    out.push((i, score, kept));
                }
            }
        };
        let mut results = run_workers(&mut self.workspaces, work)?;
        if results.len() != count {
            // Workers stop early only when cancelled.
            return Err(Error::Cancelled);
        }
        results.sort_unstable_by_key(|r| r.0);
        let logits = results.iter().flat_map(|r| r.2.iter().copied()).collect();
        Ok(ScoredBatch { start, inputs, scores: results.into_iter().map(|r| r.1).collect(), logits })
    }
}

/// Runs `work` once per state, the first on the calling thread and the others on threads of their
/// own, and gathers what they return; a panic in any of them is [`Error::WorkerPanic`] (after
/// every thread has finished).
pub(super) fn run_workers<S: Send, T: Send>(
    states: &mut [S],
    work: impl Fn(&mut S) -> Vec<T> + Sync,
) -> Result<Vec<T>> {
    let (mine, others) = states.split_first_mut().ok_or_else(|| Error::setting("threads", "must be at least 1"))?;
    let guarded = |s: &mut S| std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(s)));
    let outcomes = std::thread::scope(|scope| {
        let handles: Vec<_> = others.iter_mut().map(|s| scope.spawn(|| guarded(s))).collect();
        let mut outcomes = vec![guarded(mine)];
        // A thread's own panic is caught inside it, so `join` fails only if catching failed.
        outcomes.extend(handles.into_iter().map(|h| h.join().unwrap_or_else(Err)));
        outcomes
    });
    let mut all = Vec::new();
    for outcome in outcomes {
        match outcome {
            Ok(part) => all.extend(part),
            Err(payload) => return Err(Error::WorkerPanic(panic_message(payload.as_ref()))),
        }
    }
    Ok(all)
}

/// The text a panic carried (`panic!("...")`), or a placeholder.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    match (payload.downcast_ref::<&str>(), payload.downcast_ref::<String>()) {
        (Some(s), _) => (*s).to_string(),
        (_, Some(s)) => s.clone(),
        _ => "no message".into(),
    }
}

impl Iterator for InfluenceValues<'_> {
    type Item = Result<ScoredBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.data.len() {
            return None;
        }
        let r = self.score_batch();
        if r.is_err() {
            self.next = self.data.len();
        }
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_of_every_worker_are_gathered() {
        let mut states = vec![1, 2, 3];
        let mut all = run_workers(&mut states, |s: &mut i32| vec![*s, *s * 10]).unwrap();
        all.sort();
        assert_eq!(all, [1, 2, 3, 10, 20, 30]);
    }

    #[test]
    fn a_panicking_worker_is_its_own_error() {
        for bad in [0, 2] {
            // On the calling thread (state 0) and on a spawned one (state 2).
            let mut states = vec![0, 1, 2];
            let err = run_workers(&mut states, |s: &mut i32| {
                if *s == bad {
                    panic!("worker {bad} broke");
                }
                vec![*s]
            })
            .unwrap_err();
            assert!(matches!(&err, Error::WorkerPanic(m) if m == &format!("worker {bad} broke")), "{err}");
            assert_eq!(
                err.to_string(),
                format!("a worker thread panicked while scoring (worker {bad} broke); please report this as a bug")
            );
        }
    }
}
