//! [`CheckpointCalculator`]: every checkpoint scores each batch with the label-referenced search
//! (the settings of one [`WeightsBoundaryCalculator`]), and each sample's results are aggregated:
//! the mean score, the mean margin (AUM), the mean loss and a suggested label.
//!
//! Checkpoints run one after the other on a batch, each with the worker threads, so memory is that
//! of a one-model run; a batch holds ⌈batch size / K⌉ samples, so that it takes about as long as a
//! one-model batch. The results are bit-identical to single-checkpoint runs.

use super::suggest::{Evidence, SuggestRule};
use super::Checkpoints;
use crate::calculator::{Order, TopK, TopKSelector, WeightsBoundaryCalculator};
use crate::data::{Dataset, Window};
use crate::deepfool::{Reference, Status};
use crate::error::{Error, Result};

/// One sample's aggregate over the checkpoints.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointScore {
    /// The mean over the checkpoints of the label-referenced score (higher = more suspicious).
    pub score: f64,
    /// The mean margin `logit[label] − max other logit` with each checkpoint's weights (the area
    /// under the margin curve of Pleiss et al. 2020; lower = more suspicious).
    pub aum: f64,
    /// The mean cross-entropy with the label.
    pub mean_loss: f64,
    /// The given label.
    pub label: usize,
    /// The last checkpoint's prediction.
    pub prediction: usize,
    /// The class the checkpoints favour ([`SuggestRule`]).
    pub suggested_label: usize,
    /// The class the last checkpoint's search ended in.
    pub final_class: usize,
    /// Weight updates made, summed over the checkpoints.
    pub steps: usize,
    /// The worst status over the checkpoints (invalid_input, non_finite, stuck, step_limit,
    /// on_boundary, crossed, in that order).
    pub status: Status,
    /// The label-referenced score of each checkpoint, in training order.
    pub scores: Vec<f64>,
}

/// A batch of aggregated results, in input order.
#[derive(Debug, Clone)]
pub struct CheckpointBatch {
    /// Index of the batch's first sample in the data set.
    pub start: usize,
    /// The samples, row-major.
    pub inputs: Vec<f32>,
    /// One result per sample.
    pub scores: Vec<CheckpointScore>,
}

/// Scores a data set on every checkpoint of a model and aggregates.
///
/// ```
/// use wbound::checkpoints::{CheckpointCalculator, Checkpoints};
/// use wbound::{ArrayDataset, Model, Reference, WeightsBoundaryCalculator};
/// # fn main() -> wbound::Result<()> {
/// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/linear/model.onnx");
/// let checkpoints = Checkpoints::load(&[path, path])?;
/// let data = ArrayDataset::new(vec![3], vec![0.0; 6])?.with_labels(vec![0, 1])?;
/// let base = WeightsBoundaryCalculator::new(checkpoints.last()).threads(1);
/// let scores = CheckpointCalculator::new(&base, &checkpoints).score_all(&data)?;
/// // Twice the same model: the mean is the one model's label-referenced score.
/// let one = base.reference(Reference::Labels).score_all(&data)?;
/// assert_eq!(scores[1].score, one[1].score);
/// assert_eq!(scores[1].aum, -4.0); // logits [4, 0], label 1
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct CheckpointCalculator<'m> {
    calcs: Vec<WeightsBoundaryCalculator<'m>>,
    rule: SuggestRule,
}

impl<'m> CheckpointCalculator<'m> {
    /// The settings of `base` (its model is not used) for every checkpoint, with the
    /// label-referenced search.
    pub fn new(base: &WeightsBoundaryCalculator<'m>, checkpoints: &'m Checkpoints) -> CheckpointCalculator<'m> {
        let calcs = checkpoints
            .models()
            .iter()
            .map(|m| base.for_model(m).reference(Reference::Labels).keep_logits(true))
            .collect();
        CheckpointCalculator { calcs, rule: SuggestRule::default() }
    }

    /// At most `steps` DeepFool updates on every checkpoint but the last (a shorter search where
    /// it matters less); `None`: the base's limit on all.
    pub fn early_steps(mut self, steps: Option<usize>) -> Self {
        if let Some(s) = steps {
            let last = self.calcs.len() - 1;
            for c in &mut self.calcs[..last] {
                *c = c.clone().step_nbr(s.min(c.steps()));
            }
        }
        self
    }

    /// The rule of the suggested label.
    pub fn suggest_rule(mut self, rule: SuggestRule) -> Self {
        self.rule = rule;
        self
    }

    /// Number of checkpoints.
    pub fn len(&self) -> usize {
        self.calcs.len()
    }

    /// Whether there are none (never).
    pub fn is_empty(&self) -> bool {
        self.calcs.is_empty()
    }

    /// The checks a run makes before any work: labels, then the settings and data as a one-model run.
    pub fn validate(&self, data: &dyn Dataset) -> Result<()> {
        if data.labels().is_none() {
            return Err(Error::setting(
                "reference",
                format!(
                    "{} checkpoints are scored against the labels (the mean label-referenced score), and the data \
                     has none: give labels, or score one model",
                    self.calcs.len()
                ),
            ));
        }
        // The checkpoints are one graph (checked when they were loaded): one check covers them all.
        self.calcs[0].validate(data)
    }

    /// Scores every sample on every checkpoint, streaming: an iterator of batches in input order.
    pub fn compute<'a>(&'a self, data: &'a dyn Dataset) -> Result<CheckpointValues<'a>> {
        self.validate(data)?;
        Ok(CheckpointValues { calc: self, data, next: 0 })
    }

    /// The `k` best samples by the aggregate score (the rule of [`TopKSelector`]), holding only
    /// them and one batch.
    pub fn compute_top_k(&self, data: &dyn Dataset, k: usize, order: Order) -> Result<TopK<CheckpointScore>> {
        let mut top = TopKSelector::new(k, order)?;
        let n: usize = data.sample_shape().iter().product();
        for batch in self.compute(data)? {
            let batch = batch?;
            for (i, s) in batch.scores.into_iter().enumerate() {
                top.push(batch.start + i, s, &batch.inputs[i * n..(i + 1) * n]);
            }
        }
        Ok(top.finish())
    }

    /// Scores every sample and returns the results in input order.
    pub fn score_all(&self, data: &dyn Dataset) -> Result<Vec<CheckpointScore>> {
        let mut all = Vec::with_capacity(data.len());
        for batch in self.compute(data)? {
            all.extend(batch?.scores);
        }
        Ok(all)
    }
}

/// The batches of [`CheckpointCalculator::compute`].
pub struct CheckpointValues<'a> {
    calc: &'a CheckpointCalculator<'a>,
    data: &'a dyn Dataset,
    next: usize,
}

impl CheckpointValues<'_> {
    fn batch(&mut self) -> Result<CheckpointBatch> {
        let start = self.next;
        // Every checkpoint scores the batch: ⌈B / K⌉ samples make a batch take about as long as
        // one model's, so that progress and the rows written keep their pace.
        let k = self.calc.calcs.len();
        let count = self.calc.calcs[0].batch().div_ceil(k).min(self.data.len() - start);
        self.next += count;
        let window = Window::new(self.data, start..start + count);
        let labels = &self.data.labels().expect("validated")[start..start + count];
        let classes = self.calc.calcs[0].model().num_classes();
        let mut rows: Vec<Row> = labels.iter().map(|&l| Row::new(l as usize, classes, k)).collect();
        let mut inputs = Vec::new();
        for (c, calc) in self.calc.calcs.iter().enumerate() {
            let mut batches = calc.compute_influence_values(&window)?;
            let batch = batches.next().ok_or(Error::Cancelled)??;
            for ((row, s), logits) in rows.iter_mut().zip(&batch.scores).zip(batch.logits.chunks_exact(classes)) {
                row.add(s, logits);
            }
            if c == 0 {
                inputs = batch.inputs;
            }
        }
        let rule = self.calc.rule;
        Ok(CheckpointBatch { start, inputs, scores: rows.into_iter().map(|r| r.finish(rule)).collect() })
    }
}

impl Iterator for CheckpointValues<'_> {
    type Item = Result<CheckpointBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.data.len() {
            return None;
        }
        let r = self.batch();
        if r.is_err() {
            self.next = self.data.len();
        }
        Some(r)
    }
}

/// One sample's results, gathered checkpoint by checkpoint.
struct Row {
    label: usize,
    scores: Vec<f64>,
    margin: f64,
    loss: f64,
    steps: usize,
    status: Status,
    prediction: usize,
    final_class: usize,
    evidence: Evidence,
}

impl Row {
    fn new(label: usize, classes: usize, k: usize) -> Row {
        Row {
            label,
            scores: Vec::with_capacity(k),
            margin: 0.0,
            loss: 0.0,
            steps: 0,
            status: Status::Crossed,
            prediction: 0,
            final_class: 0,
            evidence: Evidence::new(classes),
        }
    }

    fn add(&mut self, s: &crate::SampleScore, logits: &[f32]) {
        self.margin += margin(logits, self.label);
        self.loss += cross_entropy(logits, self.label);
        self.scores.push(s.score);
        self.steps += s.steps;
        if severity(s.status) > severity(self.status) {
            self.status = s.status;
        }
        self.prediction = s.original_class;
        self.final_class = s.final_class;
        self.evidence.add(logits, s.original_class, s.final_class);
    }

    fn finish(self, rule: SuggestRule) -> CheckpointScore {
        let k = self.scores.len() as f64;
        CheckpointScore {
            score: self.scores.iter().sum::<f64>() / k,
            aum: self.margin / k,
            mean_loss: self.loss / k,
            label: self.label,
            prediction: self.prediction,
            suggested_label: self.evidence.suggest(rule, self.label),
            final_class: self.final_class,
            steps: self.steps,
            status: self.status,
            scores: self.scores,
        }
    }
}

/// The margin `logits[label] − max of the other logits`, in f64 (the AUM of one checkpoint).
pub fn margin(logits: &[f32], label: usize) -> f64 {
    let other = logits.iter().enumerate().filter(|&(c, _)| c != label).map(|(_, &v)| v);
    f64::from(logits[label]) - f64::from(other.fold(f32::NEG_INFINITY, f32::max))
}

/// The cross-entropy of `logits` with `label`: `logsumexp(logits) − logits[label]`, in f64.
pub fn cross_entropy(logits: &[f32], label: usize) -> f64 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let lse = logits.iter().map(|&v| f64::from(v - max).exp()).sum::<f64>().ln();
    lse - f64::from(logits[label] - max)
}

/// How bad a status is, for the worst over the checkpoints.
fn severity(s: Status) -> u8 {
    match s {
        Status::Crossed => 0,
        Status::OnBoundary => 1,
        Status::StepLimit => 2,
        Status::Stuck => 3,
        Status::NonFinite => 4,
        Status::InvalidInput => 5,
    }
}
