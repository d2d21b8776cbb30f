//! How well each suggested-label rule ([`SuggestRule`]) recovers the true label of the flipped
//! samples, and keeps the label of the clean ones, from the checkpoints' logits and the last
//! checkpoint's search.

use super::methods::all_logits;
use super::train::Trained;
use crate::checkpoints::suggest::Evidence;
use crate::checkpoints::{CheckpointScore, SuggestRule};
use crate::data::ArrayDataset;
use crate::error::Result;

/// One rule's figures on one seed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SuggestionRun {
    /// The rule.
    pub rule: SuggestRule,
    /// Fraction of the flipped samples whose suggested label is their true label.
    pub flipped_true: f64,
    /// Fraction of the clean samples whose suggested label is their (correct) label.
    pub clean_kept: f64,
}

/// Every rule's figures (the default rule first). `scored` are the samples' `wb-ckpt` results,
/// `noisy` the flipped samples, `truth` the labels before flipping.
pub fn accuracy(
    trained: &Trained,
    data: &ArrayDataset,
    scored: &[CheckpointScore],
    noisy: &[usize],
    truth: &[i64],
) -> Result<Vec<SuggestionRun>> {
    let models = trained.checkpoint_models()?;
    let c = trained.model.num_classes();
    let logits: Vec<Vec<f32>> = models.models().iter().map(|m| all_logits(m, data)).collect();
    let labels = data.labels().unwrap_or_default();
    let evidence: Vec<(usize, Evidence)> = (0..scored.len())
        .map(|i| {
            let mut e = Evidence::new(c);
            let last = logits.len() - 1;
            for (k, l) in logits.iter().enumerate() {
                let y = &l[i * c..(i + 1) * c];
                let prediction = y.iter().enumerate().fold(0, |b, (j, &v)| if v > y[b] { j } else { b });
                let final_class = if k == last { scored[i].final_class } else { prediction };
                e.add(y, prediction, final_class);
            }
            (i, e)
        })
        .collect();
    let is_noisy: Vec<bool> = (0..scored.len()).map(|i| noisy.contains(&i)).collect();
    let share = |rule: SuggestRule, flipped: bool| {
        let of: Vec<&(usize, Evidence)> = evidence.iter().filter(|(i, _)| is_noisy[*i] == flipped).collect();
        let hits = of.iter().filter(|(i, e)| e.suggest(rule, labels[*i] as usize) as i64 == truth[*i]).count();
        hits as f64 / of.len().max(1) as f64
    };
    Ok(SuggestRule::ALL
        .iter()
        .map(|&rule| SuggestionRun { rule, flipped_true: share(rule, true), clean_kept: share(rule, false) })
        .collect())
}
