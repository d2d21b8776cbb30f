//! Detection metrics of a ranking of samples by suspicion score (higher = more suspicious),
//! against the set of flipped (noisy) samples.
//!
//! Samples are ranked by descending score with a stable sort (ties keep input order; NaN
//! scores rank last). With `is_noisy` the flags in that order and `n_noisy` their count:
//!
//! - [`detection_curve`]: `cumsum(is_noisy) / n_noisy` — the fraction of flipped samples found
//!   after inspecting the first `i + 1` samples;
//! - [`roc_metric`]: influenciae's benchmark metric (`MislabelingDetectorEvaluator`): the mean
//!   of that curve (random ranking ≈ 0.5, perfect ≈ 1 − n_noisy / 2n);
//! - [`auroc`]: the probability that a flipped sample outscores a clean one (ties count ½);
//! - [`precision_at_k`]: the fraction of flipped samples among the first `k = n_noisy`;
//! - [`recall_at`]: the fraction of flipped samples among the first `⌈f · n⌉`.

use std::cmp::Ordering;

/// Sample indices by descending score, stable, NaN last.
pub fn ranking(scores: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| match (scores[a].is_nan(), scores[b].is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => scores[b].total_cmp(&scores[a]),
    });
    order
}

/// Per position of the ranking, whether that sample is noisy.
fn flags(scores: &[f64], noisy: &[usize]) -> Vec<bool> {
    let mut is_noisy = vec![false; scores.len()];
    noisy.iter().filter(|&&i| i < scores.len()).for_each(|&i| is_noisy[i] = true);
    ranking(scores).into_iter().map(|i| is_noisy[i]).collect()
}

/// The fraction of noisy samples found after inspecting each prefix of the ranking (all zeros
/// when there are none).
pub fn detection_curve(scores: &[f64], noisy: &[usize]) -> Vec<f64> {
    let f = flags(scores, noisy);
    let total = f.iter().filter(|&&b| b).count().max(1) as f64;
    let mut found = 0usize;
    f.iter()
        .map(|&b| {
            found += usize::from(b);
            found as f64 / total
        })
        .collect()
}

/// influenciae's ROC metric: the mean of [`detection_curve`].
pub fn roc_metric(scores: &[f64], noisy: &[usize]) -> f64 {
    let c = detection_curve(scores, noisy);
    c.iter().sum::<f64>() / c.len().max(1) as f64
}

/// Area under the ROC curve of "noisy" vs "clean" by score (Mann–Whitney, ties count ½; NaN
/// scores count as the lowest). NaN when either class is empty.
pub fn auroc(scores: &[f64], noisy: &[usize]) -> f64 {
    let n = scores.len();
    let mut is_noisy = vec![false; n];
    noisy.iter().filter(|&&i| i < n).for_each(|&i| is_noisy[i] = true);
    let pos = is_noisy.iter().filter(|&&b| b).count();
    let neg = n - pos;
    if pos == 0 || neg == 0 {
        return f64::NAN;
    }
    // Ascending order; average ranks over ties.
    let mut order = ranking(scores);
    order.reverse();
    let key = |i: usize| if scores[i].is_nan() { f64::NEG_INFINITY } else { scores[i] };
    let mut rank_sum = 0.0;
    let mut start = 0;
    while start < n {
        let mut end = start + 1;
        while end < n && key(order[end]) == key(order[start]) {
            end += 1;
        }
        let avg = (start + end + 1) as f64 / 2.0; // ranks start..end are 1-based start+1..=end
        rank_sum += avg * order[start..end].iter().filter(|&&i| is_noisy[i]).count() as f64;
        start = end;
    }
    (rank_sum - (pos * (pos + 1)) as f64 / 2.0) / (pos as f64 * neg as f64)
}

/// The fraction of noisy samples among the first `k = n_noisy` of the ranking.
pub fn precision_at_k(scores: &[f64], noisy: &[usize]) -> f64 {
    let f = flags(scores, noisy);
    let k = f.iter().filter(|&&b| b).count();
    if k == 0 {
        return f64::NAN;
    }
    f[..k].iter().filter(|&&b| b).count() as f64 / k as f64
}

/// The fraction of all noisy samples found among the first `⌈fraction · n⌉` of the ranking.
pub fn recall_at(scores: &[f64], noisy: &[usize], fraction: f64) -> f64 {
    let f = flags(scores, noisy);
    let total = f.iter().filter(|&&b| b).count();
    if total == 0 {
        return f64::NAN;
    }
    // The tolerance keeps 0.3 · 10 = 3.0000000000000004 at 3.
    let inspect = ((fraction * f.len() as f64 - 1e-9).ceil().max(0.0) as usize).min(f.len());
    f[..inspect].iter().filter(|&&b| b).count() as f64 / total as f64
}

/// The pointwise mean of detection curves of equal length (one per seed).
pub fn mean_curve(curves: &[&[f64]]) -> Vec<f64> {
    let len = curves.iter().map(|c| c.len()).min().unwrap_or(0);
    (0..len).map(|i| curves.iter().map(|c| c[i]).sum::<f64>() / curves.len() as f64).collect()
}

/// Mean and sample standard deviation (n − 1; 0 for a single value) of per-seed figures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub mean: f64,
    pub std: f64,
}

impl Summary {
    pub fn of(values: &[f64]) -> Summary {
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let var =
            if values.len() > 1 { values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
        Summary { mean, std: var.sqrt() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Ten samples; the scores rank them 3, 7, 0, 1, 2, 4, 5, 6, 8, 9 (ties keep input order).
    const SCORES: [f64; 10] = [0.5, 0.1, 0.1, 0.9, 0.1, 0.0, -1.0, 0.8, -2.0, f64::NAN];

    #[test]
    fn ranking_is_stable_descending_with_nan_last() {
        assert_eq!(ranking(&SCORES), [3, 7, 0, 1, 2, 4, 5, 6, 8, 9]);
    }

    #[test]
    fn curve_and_roc_metric() {
        // Noisy: 7 (rank 2) and 2 (rank 5).
        let c = detection_curve(&SCORES, &[2, 7]);
        assert_eq!(c, [0.0, 0.5, 0.5, 0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]);
        assert!((roc_metric(&SCORES, &[2, 7]) - 7.5 / 10.0).abs() < 1e-15);
        // Perfect and worst rankings of one noisy sample among four.
        assert_eq!(roc_metric(&[1.0, 0.0, 0.0, 0.0], &[0]), 1.0);
        assert_eq!(roc_metric(&[0.0, 1.0, 1.0, 1.0], &[0]), 0.25);
    }

    #[test]
    fn auroc_counts_pairs_and_ties() {
        assert_eq!(auroc(&[3.0, 2.0, 1.0, 0.0], &[0, 1]), 1.0);
        assert_eq!(auroc(&[3.0, 2.0, 1.0, 0.0], &[2, 3]), 0.0);
        // Noisy {0: 2.0, 2: 1.0} vs clean {1: 1.0, 3: 0.0}: pairs (win, win, tie, win) → 3.5/4.
        assert_eq!(auroc(&[2.0, 1.0, 1.0, 0.0], &[0, 2]), 0.875);
        // A NaN noisy score counts as the lowest: loses to both clean samples.
        assert_eq!(auroc(&[f64::NAN, 1.0, 0.0], &[0]), 0.0);
        assert!(auroc(&[1.0, 2.0], &[]).is_nan());
    }

    #[test]
    fn summaries() {
        assert_eq!(Summary::of(&[0.5]), Summary { mean: 0.5, std: 0.0 });
        let s = Summary::of(&[1.0, 2.0, 3.0]);
        assert_eq!((s.mean, s.std), (2.0, 1.0));
    }

    #[test]
    fn precision_and_recall_at_cutoffs() {
        // Noisy 3, 0, 5 rank 1st, 3rd and 7th: two of the top three.
        let noisy = [0, 3, 5];
        assert!((precision_at_k(&SCORES, &noisy) - 2.0 / 3.0).abs() < 1e-15);
        assert_eq!(recall_at(&SCORES, &noisy, 0.05), 1.0 / 3.0); // ⌈0.5⌉ = 1 inspected
        assert_eq!(recall_at(&SCORES, &noisy, 0.1), 1.0 / 3.0); // 1 inspected
        assert_eq!(recall_at(&SCORES, &noisy, 0.3), 2.0 / 3.0); // 3 inspected
        assert_eq!(recall_at(&SCORES, &noisy, 1.0), 1.0);
    }
}
