//! [`WeightsBoundaryCalculator`]: the public entry point, mirroring influenciae's class of the
//! same name — a builder for the settings, a streaming `compute_influence_values` and a
//! bounded-memory `compute_top_k_from_training_dataset`.
//!
//! By job: this file holds the builder; [`validate`](WeightsBoundaryCalculator::validate) (in
//! `validate.rs`) every check a run makes before work, for every front end; `memory.rs` the
//! [`MemoryPlan`]; `batches.rs` the batch iterator and its worker threads; `topk.rs` the
//! bounded-memory top-k ([`TopKSelector`]).

mod batches;
mod memory;
mod topk;
mod validate;

use std::sync::atomic::AtomicBool;

pub use batches::InfluenceValues;
pub use memory::{human_bytes, MemoryPlan};
pub use topk::{HasScore, TopKSelector};

use crate::data::Dataset;
use crate::deepfool::{DeepFool, Norm, Reference, SampleScore};
use crate::engine::{Engine, Selection};
use crate::error::Result;
use crate::model::Model;
use crate::params::ParamSelection;

/// Computes weights-boundary self-influence scores: for each sample, `−‖w_adv − w‖_p` where
/// `w_adv` is the closest weight change (found by DeepFool in weight space) that moves the model's
/// prediction on the sample to the decision boundary.
///
/// ```
/// use wbound::{ArrayDataset, Model, Norm, WeightsBoundaryCalculator};
/// # fn main() -> wbound::Result<()> {
/// let model = Model::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/linear/model.onnx"))?;
/// // influenciae's own test: the zero input needs a weight change of 2√2.
/// let data = ArrayDataset::new(vec![3], vec![0.0; 3])?;
/// let calc = WeightsBoundaryCalculator::new(&model).step_nbr(100).norm(Norm::L2).eps(1e-6).threads(1);
/// let scores = calc.score_all(&data)?;
/// assert!((scores[0].score + 2.0 * 2f64.sqrt()).abs() < 1e-6);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct WeightsBoundaryCalculator<'m> {
    model: &'m Model,
    deepfool: DeepFool,
    params: ParamSelection,
    threads: usize,
    batch_size: usize,
    shared_first_step: bool,
    reference: Reference,
    /// DeepFool moves the input instead of the weights ([`crate::SampleBoundaryCalculator`]).
    input_space: bool,
    /// Refuse to start when the [`MemoryPlan`] exceeds this many bytes.
    max_memory: Option<usize>,
    /// Score samples holding NaN/∞ as [`Status::InvalidInput`](crate::Status::InvalidInput) instead of refusing the data set.
    skip_invalid: bool,
    /// Stop between samples once this is set ([`Error::Cancelled`](crate::Error::Cancelled)).
    cancel: Option<&'m AtomicBool>,
    /// Return each sample's logits with the batch ([`ScoredBatch::logits`]).
    keep_logits: bool,
}

/// Samples a worker takes at a time when the first forward pass is shared.
const GROUP: usize = 8;

/// A batch of scored samples, in input order.
#[derive(Debug, Clone)]
pub struct ScoredBatch {
    /// Index of the batch's first sample in the data set.
    pub start: usize,
    /// The samples, row-major.
    pub inputs: Vec<f32>,
    /// One result per sample.
    pub scores: Vec<SampleScore>,
    /// With [`keep_logits`](WeightsBoundaryCalculator::keep_logits): each sample's logits with
    /// the trained weights, row-major (NaN for a sample not scored); empty otherwise.
    pub logits: Vec<f32>,
}

/// Sort order for [`WeightsBoundaryCalculator::compute_top_k_from_training_dataset`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Highest scores first: the most influential / suspicious samples.
    Descending,
    /// Lowest scores first.
    Ascending,
}

/// The `k` selected samples, best first.
#[derive(Debug, Clone)]
pub struct TopK<S = SampleScore> {
    /// Data-set indices.
    pub indices: Vec<usize>,
    /// Their results, best first.
    pub scores: Vec<S>,
    /// The samples, row-major, in the same order.
    pub samples: Vec<f32>,
}

impl<'m> WeightsBoundaryCalculator<'m> {
    /// A calculator with influenciae's defaults: 100 steps, l2, eps 1e-6, all trainable weights,
    /// one thread per core.
    pub fn new(model: &'m Model) -> Self {
        WeightsBoundaryCalculator {
            model,
            deepfool: DeepFool { step_nbr: 100, norm: Norm::L2, eps: 1e-6, candidates: None },
            params: ParamSelection::All,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            batch_size: 256,
            shared_first_step: false,
            reference: Reference::Prediction,
            input_space: false,
            max_memory: None,
            skip_invalid: false,
            cancel: None,
            keep_logits: false,
        }
    }

    /// The same settings for another model (a checkpoint of the same architecture, say).
    pub fn for_model<'n>(&self, model: &'n Model) -> WeightsBoundaryCalculator<'n>
    where
        'm: 'n,
    {
        WeightsBoundaryCalculator { model, ..self.clone() }
    }

    /// The settings' DeepFool step limit.
    pub fn steps(&self) -> usize {
        self.deepfool.step_nbr
    }

    /// The reference the calculator measures from.
    pub fn reference_setting(&self) -> Reference {
        self.reference
    }

    /// Samples per batch.
    pub(crate) fn batch(&self) -> usize {
        self.batch_size.max(1)
    }

    /// The model the calculator scores with.
    pub fn model(&self) -> &'m Model {
        self.model
    }

    /// Also return each sample's logits with the trained weights (the first forward pass, which
    /// the search makes anyway) in [`ScoredBatch::logits`]; off by default.
    pub fn keep_logits(mut self, keep: bool) -> Self {
        self.keep_logits = keep;
        self
    }

    /// The calculator behind [`crate::SampleBoundaryCalculator`]: DeepFool on the input.
    pub(crate) fn on_input(mut self) -> Self {
        self.input_space = true;
        self
    }

    /// The class each distance is measured from: the model's prediction (default, influenciae's
    /// choice) or the data set's labels ([`Reference::Labels`]: the signed margin, `−distance`
    /// when the model predicts the label, `+distance` to make it predict the label otherwise;
    /// see [`crate::deepfool`]). With labels, the data set must have one per sample
    /// ([`Dataset::labels`]).
    ///
    /// ```
    /// use wbound::{ArrayDataset, Model, Reference, WeightsBoundaryCalculator};
    /// # fn main() -> wbound::Result<()> {
    /// let model = Model::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/linear/model.onnx"))?;
    /// // The zero input is predicted as class 0 (logits [4, 0]).
    /// let data = ArrayDataset::new(vec![3], vec![0.0; 6])?.with_labels(vec![0, 1])?;
    /// let calc = WeightsBoundaryCalculator::new(&model).reference(Reference::Labels).threads(1);
    /// let scores = calc.score_all(&data)?;
    /// assert!((scores[0].score + 2.0 * 2f64.sqrt()).abs() < 1e-6); // label = prediction: −distance
    /// assert!((scores[1].score - 2.0 * 2f64.sqrt()).abs() < 1e-6); // label ≠ prediction: +distance
    /// # Ok(()) }
    /// ```
    pub fn reference(mut self, reference: Reference) -> Self {
        self.reference = reference;
        self
    }

    /// Maximum number of weight updates per sample (influenciae's `step_nbr`).
    pub fn step_nbr(mut self, n: usize) -> Self {
        self.deepfool.step_nbr = n;
        self
    }

    /// The norm of the weight change.
    pub fn norm(mut self, norm: Norm) -> Self {
        self.deepfool.norm = norm;
        self
    }

    /// Top-two logit gap under which a sample counts as on the boundary.
    pub fn eps(mut self, eps: f32) -> Self {
        self.deepfool.eps = eps;
        self
    }

    /// Which weights DeepFool moves.
    pub fn params(mut self, params: ParamSelection) -> Self {
        self.params = params;
        self
    }

    /// Worker threads (samples are scored in parallel, one per thread).
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self
    }

    /// Samples read and returned per batch.
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }

    /// Run the first forward pass (trained weights, the same for every sample) for groups of 8
    /// samples at once, dense layers as one matrix product. Scores are bit-identical either way.
    /// Off by default: it did not pay on the reference models (2 threads, `cargo bench`: mlp
    /// 6.96 vs 5.94 ms, cnn32 120 vs 121 ms), because the first forward pass is under 5% of a
    /// sample's work, copying a group's activations costs about what the shared product saves,
    /// and work handed out 8 samples at a time balances the threads worse.
    pub fn shared_first_step(mut self, on: bool) -> Self {
        self.shared_first_step = on;
        self
    }

    /// Refuse to score (with [`Error::Resources`](crate::Error::Resources), before allocating anything) when the
    /// [`memory_plan`](Self::memory_plan) of the run exceeds `bytes`. No limit by default.
    pub fn max_memory(mut self, bytes: Option<usize>) -> Self {
        self.max_memory = bytes;
        self
    }

    /// Samples holding a NaN or infinite value: by default the data set is refused before any
    /// work, the error naming the first such sample; with `skip` they are not scored and come out
    /// as [`Status::InvalidInput`](crate::Status::InvalidInput) (score and distance NaN, steps 0, classes 0).
    pub fn skip_invalid(mut self, skip: bool) -> Self {
        self.skip_invalid = skip;
        self
    }

    /// Stop scoring promptly once `flag` is set (say, by a Ctrl-C handler): workers finish the
    /// sample they are on, the current batch is dropped and the iterator yields
    /// [`Error::Cancelled`](crate::Error::Cancelled). Batches already returned are complete.
    pub fn cancel_flag(mut self, flag: &'m AtomicBool) -> Self {
        self.cancel = Some(flag);
        self
    }

    /// Search only the `k` highest-scoring other classes of each sample (for models with many
    /// classes); by default every class is a candidate, as in influenciae.
    pub fn candidate_classes(mut self, k: Option<usize>) -> Self {
        self.deepfool.candidates = k;
        self
    }

    /// The engine of a run: the selected weights and the cotangent rows per step.
    fn engine(&self) -> Result<Engine<'m>> {
        let graph = self.model.graph();
        let rows = self.deepfool.candidates.unwrap_or(usize::MAX).min(graph.num_classes() - 1);
        Ok(if self.input_space {
            Engine::with_input_gradients(graph, Selection::new(graph, Vec::new()), rows)
        } else {
            Engine::new(graph, Selection::new(graph, self.params.resolve(graph)?), rows)
        })
    }

    /// Samples per shared first step (1: none).
    fn group_size(&self) -> usize {
        if self.shared_first_step && !self.input_space {
            GROUP
        } else {
            1
        }
    }

    /// Scores every sample, streaming: an iterator of batches in input order.
    pub fn compute_influence_values<'a>(&'a self, data: &'a dyn Dataset) -> Result<InfluenceValues<'a>> {
        self.check(data)?;
        let engine = self.engine()?;
        let plan = self.plan(&engine, data);
        self.check_memory(&plan)?;
        let group = self.group_size();
        // The group memory exists only when the first step is shared.
        let workspaces =
            (0..plan.workers).map(|_| (engine.workspace(), (group > 1).then(|| engine.group(group)))).collect();
        Ok(InfluenceValues { calc: self, data, engine, workspaces, group, next: 0 })
    }

    /// Scores every sample and returns the results in input order.
    pub fn score_all(&self, data: &dyn Dataset) -> Result<Vec<SampleScore>> {
        let mut all = Vec::with_capacity(data.len());
        for batch in self.compute_influence_values(data)? {
            all.extend(batch?.scores);
        }
        Ok(all)
    }
}
