//! [`WeightsBoundaryCalculator`]: the public entry point, mirroring influenciae's class of the
//! same name — a builder for the settings, a streaming `compute_influence_values` and a
//! bounded-memory `compute_top_k_from_training_dataset`.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering as AtomicOrdering};

use crate::data::Dataset;
use crate::deepfool::{DeepFool, Norm, Reference, SampleScore};
use crate::engine::{Engine, Group, Selection, Workspace};
use crate::error::{Error, Result};
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
    /// Stop between samples once this is set ([`Error::Cancelled`]).
    cancel: Option<&'m AtomicBool>,
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
pub struct TopK {
    /// Data-set indices.
    pub indices: Vec<usize>,
    /// Their results, best first.
    pub scores: Vec<SampleScore>,
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
        }
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

    /// Refuse to score (with [`Error::Resources`], before allocating anything) when the
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
    /// [`Error::Cancelled`]. Batches already returned are complete.
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

    fn check(&self, data: &dyn Dataset) -> Result<()> {
        if !(self.deepfool.eps >= 0.0 && self.deepfool.eps.is_finite()) {
            return Err(Error::Config(format!("eps must be a finite number >= 0, not {}", self.deepfool.eps)));
        }
        if self.threads == 0 || self.batch_size == 0 {
            return Err(Error::Config("threads and batch size must be at least 1".into()));
        }
        if self.deepfool.candidates == Some(0) {
            return Err(Error::Config("the number of candidate classes must be at least 1".into()));
        }
        if data.sample_shape() != self.model.input_shape() {
            return Err(Error::Data(format!(
                "the samples have shape {:?} but the model expects {:?} per sample (input shape [N, {}])",
                data.sample_shape(),
                self.model.input_shape(),
                self.model.input_shape().iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")
            )));
        }
        if data.is_empty() {
            return Err(Error::Data("the data set holds zero samples".into()));
        }
        if !self.skip_invalid {
            self.check_finite(data)?;
        }
        self.model.check_token_ids(data, self.batch_size)?;
        if self.input_space && self.model.takes_token_ids() {
            return Err(Error::Config("DeepFool on the input needs a float input; this model takes token ids".into()));
        }
        if self.reference == Reference::Labels {
            let labels = data.labels().ok_or_else(|| {
                Error::Config("scoring against the labels needs a data set with one label per sample".into())
            })?;
            let classes = self.model.num_classes();
            if let Some((i, l)) = labels.iter().enumerate().find(|(_, &l)| l < 0 || l as usize >= classes) {
                return Err(Error::Data(format!(
                    "sample {i} has label {l}, but the model has {classes} classes (labels 0..{})",
                    classes - 1
                )));
            }
        }
        Ok(())
    }

    /// The first sample holding a NaN or infinite value is an error, found before any work.
    fn check_finite(&self, data: &dyn Dataset) -> Result<()> {
        let n: usize = data.sample_shape().iter().product();
        let mut batch = Vec::new();
        for start in (0..data.len()).step_by(self.batch_size) {
            batch.clear();
            data.read(start, self.batch_size.min(data.len() - start), &mut batch)?;
            if let Some(bad) = batch.iter().position(|v| !v.is_finite()) {
                return Err(Error::Data(format!(
                    "sample {} holds a non-finite value ({}) at position {}; clean or drop it before scoring, \
                     or score the others and mark it invalid_input (--skip-invalid; skip_invalid(true) in the \
                     library)",
                    start + bad / n,
                    batch[bad],
                    bad % n
                )));
            }
        }
        Ok(())
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

    fn plan(&self, engine: &Engine, data: &dyn Dataset) -> MemoryPlan {
        let group = self.group_size();
        let sample_bytes = data.sample_shape().iter().product::<usize>().saturating_mul(4);
        MemoryPlan {
            model: self.model.graph().tensors.iter().map(|t| t.data.len()).sum::<usize>().saturating_mul(4)
                + engine.selection().len() * 4,
            workers: self.threads.min(data.len()).max(1),
            per_worker: engine.workspace_bytes().saturating_add(if group > 1 { engine.group_bytes(group) } else { 0 }),
            batch: self.batch_size.min(data.len()).saturating_mul(sample_bytes + std::mem::size_of::<SampleScore>()),
        }
    }

    /// What scoring `data` will hold in memory, estimated without allocating it: the check behind
    /// [`max_memory`](Self::max_memory).
    pub fn memory_plan(&self, data: &dyn Dataset) -> Result<MemoryPlan> {
        Ok(self.plan(&self.engine()?, data))
    }

    /// Scores every sample, streaming: an iterator of batches in input order.
    pub fn compute_influence_values<'a>(&'a self, data: &'a dyn Dataset) -> Result<InfluenceValues<'a>> {
        self.check(data)?;
        let engine = self.engine()?;
        let plan = self.plan(&engine, data);
        if let Some(limit) = self.max_memory.filter(|&limit| plan.total() > limit) {
            return Err(Error::Resources(format!(
                "scoring needs about {plan}, more than the memory limit of {}; use fewer threads, a smaller \
                 batch or fewer candidate classes, or raise the limit",
                human_bytes(limit)
            )));
        }
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

    /// The `k` samples with the highest (`Descending`) or lowest (`Ascending`) scores, with
    /// their indices; memory is O(k + batch size) however many samples there are. Samples
    /// whose score is NaN come last in both orders; ties go to the lower index.
    pub fn compute_top_k_from_training_dataset(&self, data: &dyn Dataset, k: usize, order: Order) -> Result<TopK> {
        if k == 0 {
            return Err(Error::Config("k must be at least 1".into()));
        }
        let mut heap: BinaryHeap<Ranked> = BinaryHeap::with_capacity(k + 1);
        let sample_len: usize = data.sample_shape().iter().product();
        for batch in self.compute_influence_values(data)? {
            let batch = batch?;
            for (i, s) in batch.scores.iter().enumerate() {
                let entry = Ranked { order, index: batch.start + i, score: *s, sample: Vec::new() };
                // The heap's top is the worst kept entry; replace it only by a better one.
                if heap.len() < k || heap.peek().is_some_and(|worst| entry.cmp(worst) == Ordering::Less) {
                    let sample = batch.inputs[i * sample_len..(i + 1) * sample_len].to_vec();
                    heap.push(Ranked { sample, ..entry });
                    if heap.len() > k {
                        heap.pop();
                    }
                }
            }
        }
        let ranked = heap.into_sorted_vec();
        Ok(TopK {
            indices: ranked.iter().map(|r| r.index).collect(),
            scores: ranked.iter().map(|r| r.score).collect(),
            samples: ranked.into_iter().flat_map(|r| r.sample).collect(),
        })
    }
}

/// The memory a scoring run holds, by part, in bytes ([`WeightsBoundaryCalculator::memory_plan`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryPlan {
    /// The model's tensors and the trained values of the selected weights.
    pub model: usize,
    /// Worker threads.
    pub workers: usize,
    /// One worker's memory: its copy of the weights, one gradient, activations, the cotangents
    /// of every candidate class, scratch.
    pub per_worker: usize,
    /// One batch of inputs and results.
    pub batch: usize,
}

impl MemoryPlan {
    /// All parts together.
    pub fn total(&self) -> usize {
        self.model.saturating_add(self.per_worker.saturating_mul(self.workers)).saturating_add(self.batch)
    }
}

impl fmt::Display for MemoryPlan {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "{} ({} worker{} × {} + model {} + batch {})",
            human_bytes(self.total()),
            self.workers,
            if self.workers == 1 { "" } else { "s" },
            human_bytes(self.per_worker),
            human_bytes(self.model),
            human_bytes(self.batch)
        )
    }
}

/// `bytes` in B, KiB, MiB, GiB or TiB with one decimal.
pub fn human_bytes(bytes: usize) -> String {
    let mut v = bytes as f64;
    for unit in ["B", "KiB", "MiB", "GiB"] {
        if v < 1024.0 {
            return if unit == "B" { format!("{bytes} B") } else { format!("{v:.1} {unit}") };
        }
        v /= 1024.0;
    }
    format!("{v:.1} TiB")
}

/// An entry of the top-k heap; `Less` means ranked earlier (better).
struct Ranked {
    order: Order,
    index: usize,
    score: SampleScore,
    sample: Vec<f32>,
}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        let (a, b) = (self.score.score, other.score.score);
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

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Ranked {}

/// The batches of [`WeightsBoundaryCalculator::compute_influence_values`].
pub struct InfluenceValues<'a> {
    calc: &'a WeightsBoundaryCalculator<'a>,
    data: &'a dyn Dataset,
    engine: Engine<'a>,
    workspaces: Vec<(Workspace, Option<Group>)>,
    /// Samples per shared first step (1: none).
    group: usize,
    next: usize,
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
        let labels = match calc.reference {
            Reference::Labels => self.data.labels().map(|l| &l[start..start + count]),
            Reference::Prediction => None,
        };
        let inputs_ref = &inputs;
        let cancelled = || calc.cancel.is_some_and(|c| c.load(AtomicOrdering::Relaxed));
        let work = |(ws, group): &mut (Workspace, Option<Group>)| {
            let (mut classes, mut logits, mut x_adv) = (Vec::new(), Vec::new(), Vec::new());
            let mut out = Vec::new();
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
                    // Without `skip_invalid` the data set was checked before any work.
                    let score = if calc.skip_invalid && x.iter().any(|v| !v.is_finite()) {
                        SampleScore::invalid_input()
                    } else if calc.input_space {
                        deepfool.run_on_input(engine, ws, x, &mut x_adv, c, l)
                    } else {
                        let label = labels.map(|labels| labels[i] as usize);
                        deepfool.run(engine, ws, x, label, shared, c, l)
                    };
                    out.push((i, score));
                }
            }
        };
        // `threads` workers in all: the calling thread is one of them.
        let (mine, others) = self.workspaces.split_first_mut().ok_or_else(|| Error::Config("no workers".into()))?;
        let mut results: Vec<(usize, SampleScore)> = std::thread::scope(|s| {
            let handles: Vec<_> = others.iter_mut().map(|w| s.spawn(|| work(w))).collect();
            let mut all = work(mine);
            all.extend(handles.into_iter().flat_map(|h| h.join().unwrap_or_default()));
            all
        });
        if results.len() != count {
            if cancelled() {
                return Err(Error::Cancelled);
            }
            return Err(Error::Data("a worker thread panicked while scoring; please report this as a bug".into()));
        }
        results.sort_unstable_by_key(|r| r.0);
        Ok(ScoredBatch { start, inputs, scores: results.into_iter().map(|r| r.1).collect() })
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
