//! The top-k of a run in O(k + batch) memory: [`TopKSelector`] keeps the k best samples seen so
//! far (NaN scores last in both orders, ties to the lower index), and
//! [`WeightsBoundaryCalculator::compute_top_k_from_training_dataset`] feeds it a run's batches.
//! Front ends that score a stream of data sets one by one (the Python package's iterables) feed
//! it themselves, so the ranking rule stays here.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::{Order, TopK, WeightsBoundaryCalculator};
use crate::data::Dataset;
use crate::deepfool::SampleScore;
use crate::error::{Error, Result};

impl WeightsBoundaryCalculator<'_> {
    /// The `k` samples with the highest (`Descending`) or lowest (`Ascending`) scores, with
    /// their indices; memory is O(k + batch size) however many samples there are. Samples
    /// whose score is NaN come last in both orders; ties go to the lower index.
    pub fn compute_top_k_from_training_dataset(&self, data: &dyn Dataset, k: usize, order: Order) -> Result<TopK> {
        let mut top = TopKSelector::new(k, order)?;
        let sample_len: usize = data.sample_shape().iter().product();
        for batch in self.compute_influence_values(data)? {
            let batch = batch?;
            for (i, s) in batch.scores.iter().enumerate() {
                top.push(batch.start + i, *s, &batch.inputs[i * sample_len..(i + 1) * sample_len]);
            }
        }
        Ok(top.finish())
    }
}

/// Keeps the `k` best of the samples pushed into it.
///
/// ```
/// use wbound::{Order, SampleScore, TopKSelector};
/// # fn main() -> wbound::Result<()> {
/// let mut top = TopKSelector::new(2, Order::Descending)?;
/// for (i, score) in [-3.0, -1.0, f64::NAN, -1.0, -2.0].into_iter().enumerate() {
///     top.push(i, SampleScore { score, ..SampleScore::invalid_input() }, &[i as f32]);
/// }
/// let best = top.finish();
/// assert_eq!(best.indices, [1, 3]); // the tie goes to the lower index
/// assert_eq!(best.samples, [1.0, 3.0]);
/// # Ok(()) }
/// ```
/// A result that can be ranked: the score it is ranked by (higher = more suspicious).
pub trait HasScore {
    /// The score.
    fn score(&self) -> f64;
}

impl HasScore for SampleScore {
    fn score(&self) -> f64 {
        self.score
    }
}

impl HasScore for crate::checkpoints::CheckpointScore {
    fn score(&self) -> f64 {
        self.score
    }
}

#[derive(Debug)]
pub struct TopKSelector<S = SampleScore> {
    k: usize,
    order: Order,
    heap: BinaryHeap<Ranked<S>>,
}

impl<S: HasScore> TopKSelector<S> {
    /// An empty selection of at most `k` samples ([`Error::Setting`] `k` when `k` is 0).
    pub fn new(k: usize, order: Order) -> Result<TopKSelector<S>> {
        if k == 0 {
            return Err(Error::setting("k", "must be at least 1"));
        }
        Ok(TopKSelector { k, order, heap: BinaryHeap::with_capacity(k.saturating_add(1).min(1 << 16)) })
    }

    /// Offers sample `index` (its score and values); it is kept if it ranks among the k best so
    /// far. The values are copied only then.
    pub fn push(&mut self, index: usize, score: S, sample: &[f32]) {
        let entry = Ranked { order: self.order, index, score, sample: Vec::new() };
        // The heap's top is the worst kept entry; replace it only by a better one.
        if self.heap.len() < self.k || self.heap.peek().is_some_and(|worst| entry.cmp(worst) == Ordering::Less) {
            self.heap.push(Ranked { sample: sample.to_vec(), ..entry });
            if self.heap.len() > self.k {
                self.heap.pop();
            }
        }
    }

    /// The kept samples, best first.
    pub fn finish(self) -> TopK<S> {
        let ranked = self.heap.into_sorted_vec();
        let indices = ranked.iter().map(|r| r.index).collect();
        let (scores, samples): (Vec<S>, Vec<Vec<f32>>) = ranked.into_iter().map(|r| (r.score, r.sample)).unzip();
        TopK { indices, scores, samples: samples.concat() }
    }
}

/// An entry of the top-k heap; `Less` means ranked earlier (better).
#[derive(Debug)]
struct Ranked<S> {
    order: Order,
    index: usize,
    score: S,
    sample: Vec<f32>,
}

impl<S: HasScore> Ord for Ranked<S> {
    fn cmp(&self, other: &Self) -> Ordering {
        let (a, b) = (self.score.score(), other.score.score());
        let by_score = match (a.is_nan(), b.is_nan()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            _ if self.order == Order::Descending => b.total_cmp(&a),
            _ => a.total_cmp(&b),
        };
        by_score.then(self.index.cmp(&other.index))
    }
}

impl<S: HasScore> PartialOrd for Ranked<S> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<S: HasScore> PartialEq for Ranked<S> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl<S: HasScore> Eq for Ranked<S> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn scored(score: f64) -> SampleScore {
        SampleScore { score, ..SampleScore::invalid_input() }
    }

    #[test]
    fn nan_comes_last_in_both_orders() {
        for (order, want) in [(Order::Descending, [1, 0, 2]), (Order::Ascending, [0, 1, 2])] {
            let mut top = TopKSelector::new(3, order).unwrap();
            for (i, s) in [-2.0, -1.0, f64::NAN].into_iter().enumerate() {
                top.push(i, scored(s), &[]);
            }
            assert_eq!(top.finish().indices, want, "{order:?}");
        }
    }

    #[test]
    fn zero_k_is_a_setting_error() {
        assert!(matches!(
            TopKSelector::<SampleScore>::new(0, Order::Descending),
            Err(Error::Setting { name: "k", .. })
        ));
    }
}
