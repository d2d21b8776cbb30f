//! How well each suggested-label rule ([`SuggestRule`]) recovers the true label of the flipped
//! samples, from the checkpoints' logits and the last checkpoint's search.

use super::methods::all_logits;
use super::train::Trained;
use crate::checkpoints::suggest::Evidence;
use crate::checkpoints::{CheckpointScore, SuggestRule};
use crate::data::ArrayDataset;
use crate::error::Result;

/// For every rule (the default first): the fraction of the `noisy` samples whose suggested label
/// is their true label `truth`. `scored` are the samples' `wb-ckpt` results.
pub fn accuracy(
    trained: &Trained,
    data: &ArrayDataset,
    scored: &[CheckpointScore],
    noisy: &[usize],
    truth: &[i64],
) -> Result<Vec<(SuggestRule, f64)>> {
    let models = trained.checkpoint_models()?;
    let c = trained.model.num_classes();
    let logits: Vec<Vec<f32>> = models.models().iter().map(|m| all_logits(m, data)).collect();
    let labels = data.labels().unwrap_or_default();
    let evidence: Vec<(usize, Evidence)> = noisy
        .iter()
        .map(|&i| {
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
    Ok(SuggestRule::ALL
        .iter()
        .map(|&rule| {
            let hits =
                evidence.iter().filter(|(i, e)| e.suggest(rule, labels[*i] as usize) as i64 == truth[*i]).count();
            (rule, hits as f64 / noisy.len().max(1) as f64)
        })
        .collect())
}
