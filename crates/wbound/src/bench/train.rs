//! Training the benchmark's classifiers with wbound's own engine: mini-batch Adam on the
//! softmax cross-entropy, seeded and deterministic.
//!
//! The model is built as ONNX bytes ([`crate::onnx::write`]) and imported, so the trained
//! network, the one that is scored and the one saved are the same graph. Each sample's
//! gradient comes from the engine: a forward pass, the cotangent seed `softmax(y) − onehot(label)`
//! through [`Engine::backward_seeded`], and [`Engine::gradient`]. A mini-batch is cut into
//! fixed chunks of [`CHUNK`] samples; workers sum their chunks in sample order and the chunks
//! are summed in chunk order, so the weights do not depend on the number of threads.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use super::noise::Rng;
use crate::data::{ArrayDataset, Dataset};
use crate::engine::{Engine, Selection, Workspace};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::onnx::write::{Layer, Sequential};
use crate::params::ParamSelection;

/// Samples per gradient chunk (the unit of work and of the fixed summation order).
pub const CHUNK: usize = 8;

/// The benchmark architectures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// `H·W → hidden relu → classes`.
    Mlp,
    /// `conv 3×3 (8) relu, maxpool 2, conv 3×3 (16) relu, maxpool 2, dense → classes`.
    Cnn,
}

impl Arch {
    /// The network for samples of shape `[1, h, w]` (h and w divisible by 4 for the CNN).
    pub fn network(self, sample_shape: &[usize], classes: usize, hidden: usize) -> Result<Sequential> {
        let &[1, h, w] = sample_shape else {
            return Err(Error::Config(format!("the benchmark networks take [1, H, W] samples, not {sample_shape:?}")));
        };
        let dense = |name: &str, inputs, outputs| Layer::Dense { name: name.into(), inputs, outputs };
        Ok(match self {
            Arch::Mlp => Sequential {
                input_shape: vec![h * w],
                layers: vec![dense("fc1", h * w, hidden), Layer::Relu, dense("fc2", hidden, classes)],
                classes,
            },
            Arch::Cnn => {
                let conv = |name: &str, in_channels, out_channels| Layer::Conv {
                    name: name.into(),
                    in_channels,
                    out_channels,
                    kernel: 3,
                };
                Sequential {
                    input_shape: vec![1, h, w],
                    layers: vec![
                        conv("conv1", 1, 8),
                        Layer::Relu,
                        Layer::MaxPool { size: 2 },
                        conv("conv2", 8, 16),
                        Layer::Relu,
                        Layer::MaxPool { size: 2 },
                        Layer::Flatten,
                        dense("fc", 16 * (h / 4) * (w / 4), classes),
                    ],
                    classes,
                }
            }
        })
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            Arch::Mlp => "mlp",
            Arch::Cnn => "cnn",
        })
    }
}

impl FromStr for Arch {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Arch, String> {
        match s.to_ascii_lowercase().as_str() {
            "mlp" => Ok(Arch::Mlp),
            "cnn" => Ok(Arch::Cnn),
            _ => Err(format!("unknown architecture '{s}'; expected mlp or cnn")),
        }
    }
}

/// Training settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainConfig {
    /// Most passes over the data; training stops earlier once an epoch fits every label.
    pub max_epochs: usize,
    /// Samples per Adam step.
    pub batch_size: usize,
    /// Adam's learning rate (β₁ = 0.9, β₂ = 0.999, ε = 1e-7, as Keras).
    pub lr: f32,
    /// Worker threads (the gradient sums do not depend on them).
    pub threads: usize,
}

/// A trained network.
#[derive(Debug, Clone)]
pub struct Trained {
    pub model: Model,
    /// The model as ONNX bytes (what `--save-model` writes).
    pub onnx: Vec<u8>,
    /// Epochs run.
    pub epochs: usize,
    /// Mean cross-entropy over the last epoch.
    pub loss: f64,
    /// The network after the epochs of [`CHECKPOINT_EPOCHS`] that ran, and after the last epoch:
    /// `(epoch, ONNX bytes)`, in training order (the last is [`Trained::onnx`]).
    pub checkpoints: Vec<(usize, Vec<u8>)>,
}

/// The epochs after which training keeps a checkpoint (and after the last one).
pub const CHECKPOINT_EPOCHS: [usize; 14] = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128];

impl Trained {
    /// The checkpoints as models, in training order.
    pub fn checkpoint_models(&self) -> Result<crate::checkpoints::Checkpoints> {
        let models = self
            .checkpoints
            .iter()
            .map(|(e, onnx)| Ok((format!("epoch {e}"), Model::from_bytes(onnx)?)))
            .collect::<Result<Vec<_>>>()?;
        crate::checkpoints::Checkpoints::new(models)
    }
}

/// He-uniform weights (`U(±√(6 / fan_in))`) and zero biases for every tensor of `net`.
pub fn init_weights(net: &Sequential, rng: &mut Rng) -> HashMap<String, Vec<f32>> {
    net.params()
        .into_iter()
        .map(|(name, shape)| {
            let n: usize = shape.iter().product();
            let values = if name.ends_with(".bias") {
                vec![0.0; n]
            } else {
                let fan_in = if shape.len() == 4 { shape[1] * shape[2] * shape[3] } else { shape[0] };
                let limit = (6.0 / fan_in as f64).sqrt();
                (0..n).map(|_| ((2.0 * rng.uniform() - 1.0) * limit) as f32).collect()
            };
            (name, values)
        })
        .collect()
}

/// Per-worker state: the engine's workspace and the cotangent seed row.
struct Worker {
    ws: Workspace,
    seed: Vec<f32>,
}

impl Worker {
    /// Adds the cross-entropy gradient of sample `x` with label `y` to `acc`; returns the loss
    /// and whether the model predicts `y`.
    fn add_gradient(&mut self, engine: &Engine, x: &[f32], y: usize, acc: &mut [f32]) -> (f64, bool) {
        let logits = engine.forward(&mut self.ws, x);
        let (loss, correct) = softmax_seed(logits, y, &mut self.seed);
        engine.backward_seeded(&mut self.ws, &self.seed);
        engine.gradient(&mut self.ws, 0);
        acc.iter_mut().zip(&self.ws.grad).for_each(|(a, &g)| *a += g);
        (loss, correct)
    }
}

/// Writes `softmax(logits) − onehot(y)` (the cross-entropy's gradient in the logits) to `seed`;
/// returns the loss `logsumexp(logits) − logits[y]` and whether `y` is the (first) argmax.
pub fn softmax_seed(logits: &[f32], y: usize, seed: &mut [f32]) -> (f64, bool) {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = logits.iter().map(|&v| f64::from(v - max).exp()).sum();
    for (c, (s, &v)) in seed.iter_mut().zip(logits).enumerate() {
        *s = (f64::from(v - max).exp() / sum) as f32 - if c == y { 1.0 } else { 0.0 };
    }
    let loss = sum.ln() - f64::from(logits[y] - max);
    let first_max = logits.iter().position(|&v| v == max);
    (loss, first_max == Some(y))
}

/// Loss and accuracy of one chunk.
#[derive(Default, Clone, Copy)]
struct ChunkStats {
    loss: f64,
    correct: usize,
}

/// One chunk's work: its samples, and where its gradient sum and stats go.
type ChunkJob<'a> = (&'a [usize], &'a mut Vec<f32>, &'a mut ChunkStats);

/// Adam's state.
struct Adam {
    m: Vec<f32>,
    v: Vec<f32>,
    t: i32,
    lr: f32,
}

impl Adam {
    fn step(&mut self, w: &mut [f32], g: &[f32]) {
        let (b1, b2, eps) = (0.9f32, 0.999f32, 1e-7f32);
        self.t += 1;
        let lr = self.lr * (1.0 - b2.powi(self.t)).sqrt() / (1.0 - b1.powi(self.t));
        for (((w, &g), m), v) in w.iter_mut().zip(g).zip(&mut self.m).zip(&mut self.v) {
            *m = b1 * *m + (1.0 - b1) * g;
            *v = b2 * *v + (1.0 - b2) * g * g;
            *w -= lr * *m / (v.sqrt() + eps);
        }
    }
}

/// Trains `net` from `init` on `data` (samples of the network's input size, one label per
/// sample in `0..classes`), shuffling with `rng`, until an epoch predicts every label or
/// `max_epochs` have run.
pub fn train(
    net: &Sequential,
    init: &HashMap<String, Vec<f32>>,
    data: &ArrayDataset,
    config: &TrainConfig,
    rng: &mut Rng,
) -> Result<Trained> {
    let labels = data.labels().ok_or_else(|| Error::Data("training needs a labelled data set".into()))?;
    if config.batch_size == 0 || config.threads == 0 || config.max_epochs == 0 {
        return Err(Error::Config("batch size, threads and epochs must be at least 1".into()));
    }
    if let Some(bad) = labels.iter().find(|&&l| l < 0 || l as usize >= net.classes) {
        return Err(Error::Data(format!("label {bad} is outside 0..{}", net.classes)));
    }
    let model = Model::from_bytes(&net.to_onnx(init)?)?;
    if data.sample_shape().iter().product::<usize>() != model.input_len() {
        return Err(Error::Data(format!(
            "samples of shape {:?} do not fit the network's input {:?}",
            data.sample_shape(),
            model.input_shape()
        )));
    }
    let graph = model.graph();
    let engine = Engine::new(graph, Selection::new(graph, ParamSelection::All.resolve(graph)?), 1);
    let mut w = engine.selection().w0.clone();
    let p = w.len();
    let mut adam = Adam { m: vec![0.0; p], v: vec![0.0; p], t: 0, lr: config.lr };
    let threads = config.threads.min(config.batch_size.div_ceil(CHUNK)).max(1);
    let mut workers: Vec<Worker> =
        (0..threads).map(|_| Worker { ws: engine.workspace(), seed: vec![0.0; net.classes] }).collect();
    let chunks = config.batch_size.div_ceil(CHUNK);
    let mut partials = vec![vec![0f32; p]; chunks];
    let mut stats = vec![ChunkStats::default(); chunks];
    let mut grad = vec![0f32; p];
    let n = data.len();
    let mut order: Vec<usize> = (0..n).collect();
    let (mut epochs, mut loss) = (0, f64::NAN);
    let mut checkpoints = Vec::new();
    let weights_of = |w: &[f32]| {
        let sel = engine.selection();
        let mut weights = HashMap::new();
        for &t in &sel.tensors {
            let (tensor, off) = (&graph.tensors[t], sel.offsets[t].unwrap_or(0));
            weights.insert(tensor.name.clone(), w[off..off + tensor.data.len()].to_vec());
        }
        net.to_onnx(&weights)
    };
    while epochs < config.max_epochs {
        rng.shuffle(&mut order);
        let (mut epoch_loss, mut correct) = (0.0, 0);
        for batch in order.chunks(config.batch_size) {
            let jobs = batch.chunks(CHUNK).count();
            // Static schedule: worker t takes chunks t, t + T, ...
            let mut per_worker: Vec<Vec<ChunkJob>> = (0..threads).map(|_| Vec::new()).collect();
            let slots = partials.iter_mut().zip(stats.iter_mut());
            for (c, (samples, (part, st))) in batch.chunks(CHUNK).zip(slots).enumerate() {
                per_worker[c % threads].push((samples, part, st));
            }
            let (engine, current) = (&engine, &w);
            std::thread::scope(|s| {
                for (worker, jobs) in workers.iter_mut().zip(per_worker) {
                    s.spawn(move || {
                        worker.ws.w.copy_from_slice(current);
                        for (samples, part, st) in jobs {
                            part.fill(0.0);
                            *st = ChunkStats::default();
                            for &i in samples {
                                let (l, ok) = worker.add_gradient(engine, data.sample(i), labels[i] as usize, part);
                                st.loss += l;
                                st.correct += usize::from(ok);
                            }
                        }
                    });
                }
            });
            grad.fill(0.0);
            for part in &partials[..jobs] {
                grad.iter_mut().zip(part).for_each(|(g, &v)| *g += v);
            }
            let scale = 1.0 / batch.len() as f32;
            grad.iter_mut().for_each(|g| *g *= scale);
            if grad.iter().any(|g| !g.is_finite()) {
                return Err(Error::Data(format!("training diverged (non-finite gradient) in epoch {}", epochs + 1)));
            }
            adam.step(&mut w, &grad);
            for st in &stats[..jobs] {
                epoch_loss += st.loss;
                correct += st.correct;
            }
        }
        epochs += 1;
        loss = epoch_loss / n as f64;
        let last = correct == n || epochs == config.max_epochs;
        if CHECKPOINT_EPOCHS.contains(&epochs) && !last {
            checkpoints.push((epochs, weights_of(&w)?));
        }
        if last {
            break;
        }
    }
    let onnx = weights_of(&w)?;
    checkpoints.push((epochs, onnx.clone()));
    Ok(Trained { model: Model::from_bytes(&onnx)?, onnx, epochs, loss, checkpoints })
}
