//! [`SampleBoundaryCalculator`]: influenciae's `SampleBoundaryCalculator`, DeepFool run on the
//! input instead of the weights — the smallest change of the *sample* that moves the model's
//! prediction to the decision boundary, score `−‖x_adv − x‖₂`. A baseline beside the
//! weights-boundary score in `wbound bench`.

use crate::calculator::WeightsBoundaryCalculator;
use crate::data::Dataset;
use crate::deepfool::{Norm, SampleScore};
use crate::error::Result;
use crate::model::Model;

/// Scores every sample by `−‖x_adv − x‖_p`, `x_adv` found by DeepFool on the input (same loop,
/// statuses and stopping rule as the weights version; see [`crate::deepfool`]).
///
/// ```
/// use wbound::{ArrayDataset, Model, SampleBoundaryCalculator};
/// # fn main() -> wbound::Result<()> {
/// let model = Model::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/linear/model.onnx"))?;
/// // Logits [x0 + x1 + 4, x0]: the boundary x1 = −4 is 4 away from the zero input.
/// let data = ArrayDataset::new(vec![3], vec![0.0; 3])?;
/// let scores = SampleBoundaryCalculator::new(&model).threads(1).score_all(&data)?;
/// assert!((scores[0].score + 4.0).abs() < 1e-5);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct SampleBoundaryCalculator<'m> {
    inner: WeightsBoundaryCalculator<'m>,
}

impl<'m> SampleBoundaryCalculator<'m> {
    /// influenciae's defaults: 100 steps, l2, eps 1e-6, one thread per core.
    pub fn new(model: &'m Model) -> Self {
        SampleBoundaryCalculator { inner: WeightsBoundaryCalculator::new(model).on_input() }
    }

    /// Maximum number of input updates per sample.
    pub fn step_nbr(mut self, n: usize) -> Self {
        self.inner = self.inner.step_nbr(n);
        self
    }

    /// The norm of the input change.
    pub fn norm(mut self, norm: Norm) -> Self {
        self.inner = self.inner.norm(norm);
        self
    }

    /// Top-two logit gap under which a sample counts as on the boundary.
    pub fn eps(mut self, eps: f32) -> Self {
        self.inner = self.inner.eps(eps);
        self
    }

    /// Worker threads.
    pub fn threads(mut self, threads: usize) -> Self {
        self.inner = self.inner.threads(threads);
        self
    }

    /// Scores every sample and returns the results in input order.
    pub fn score_all(&self, data: &dyn Dataset) -> Result<Vec<SampleScore>> {
        self.inner.score_all(data)
    }
}
