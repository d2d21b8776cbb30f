//! The mislabel-detection benchmark (influenciae's `MislabelingDetectorEvaluator`, end to end):
//! flip a fraction of the training labels, train a classifier on the noisy labels until it fits
//! them, score every training sample with each [`Method`], and measure how fast the flipped
//! samples come up when the samples are inspected by descending score ([`metrics`]).
//!
//! ```no_run
//! use wbound::bench::{Arch, BenchConfig, BenchData, Method};
//! # fn main() -> wbound::Result<()> {
//! let data = BenchData::Digits.load("data".as_ref())?;
//! let config = BenchConfig { methods: vec![Method::Wb, Method::Random], ..BenchConfig::new(BenchData::Digits, Arch::Mlp) };
//! let run = config.run_seed(&data, 0)?;
//! println!("wb ROC metric {}", run.methods[0].roc_metric);
//! # Ok(()) }
//! ```

pub mod datasets;
pub mod methods;
pub mod metrics;
pub mod noise;
pub mod suggest;
pub mod train;

use std::time::Instant;

pub use datasets::BenchData;
pub use methods::{Method, RunSettings};
pub use train::{Arch, TrainConfig, Trained};

use crate::data::{ArrayDataset, Dataset};
use crate::error::{Error, Result};
use noise::Rng;

/// Everything a benchmark run depends on.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// The embedded data set.
    pub dataset: BenchData,
    /// The classifier trained on the noisy labels.
    pub arch: Arch,
    /// Fraction of training labels flipped.
    pub noise: f64,
    /// Training samples drawn (per seed) from the data set.
    pub train_size: usize,
    /// Hidden units of the MLP.
    pub hidden: usize,
    /// The scoring methods compared.
    pub methods: Vec<Method>,
    /// Optimiser settings.
    pub train: TrainConfig,
    /// DeepFool step limit of the boundary methods.
    pub steps: usize,
    /// DeepFool step limit of `wb-ckpt` on the checkpoints before the last (`None`: `steps`).
    pub early_steps: Option<usize>,
    /// Worker threads for training and scoring.
    pub threads: usize,
}

impl BenchConfig {
    /// The defaults for a data set and architecture (sized so that the MNIST MLP benchmark of
    /// one seed, release build included, takes under three minutes on two cores).
    pub fn new(dataset: BenchData, arch: Arch) -> BenchConfig {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let (train_size, lr, max_epochs) = match dataset {
            BenchData::Mnist => (2000, 2e-3, 60),
            BenchData::Digits => (1000, 1e-2, 300),
        };
        BenchConfig {
            dataset,
            arch,
            noise: 0.1,
            train_size,
            hidden: match dataset {
                BenchData::Mnist => 128,
                BenchData::Digits => 32,
            },
            methods: Method::ALL.to_vec(),
            train: TrainConfig { max_epochs, batch_size: 32, lr, threads },
            steps: 100,
            early_steps: None,
            threads,
        }
    }

    /// One seed of the benchmark: a random training subset of `data`, label noise, training,
    /// and every method's scores and metrics. Deterministic for a seed.
    pub fn run_seed(&self, data: &ArrayDataset, seed: u64) -> Result<SeedRun> {
        if !(self.noise > 0.0 && self.noise < 1.0) {
            return Err(Error::Config(format!(
                "the noise fraction must be in (0, 1), not {}: the benchmark measures how fast flipped labels are found",
                self.noise
            )));
        }
        if self.methods.is_empty() {
            return Err(Error::Config("no method to benchmark".into()));
        }
        if !(self.train.lr > 0.0 && self.train.lr.is_finite()) {
            return Err(Error::Config(format!("the learning rate must be a positive number, not {}", self.train.lr)));
        }
        let clean = data.labels().ok_or_else(|| Error::Data("the benchmark needs labelled data".into()))?;
        let classes = clean.iter().max().map_or(0, |&m| m as usize + 1);
        let mut order: Vec<usize> = (0..data.len()).collect();
        Rng::derive(seed, "subset").shuffle(&mut order);
        order.truncate(self.train_size.min(data.len()));
        if order.len() < 2 {
            return Err(Error::Config(format!("a training set of {} samples is too small", order.len())));
        }
        let net = self.arch.network(data.sample_shape(), classes, self.hidden)?;
        let values: Vec<f32> = order.iter().flat_map(|&i| data.sample(i).iter().copied()).collect();
        let mut labels: Vec<i64> = order.iter().map(|&i| clean[i]).collect();
        let noisy = noise::flip_labels(&mut labels, self.noise, classes, &mut Rng::derive(seed, "noise"));
        let train_set = ArrayDataset::new(net.input_shape.clone(), values)?.with_labels(labels)?;

        let t0 = Instant::now();
        let init = train::init_weights(&net, &mut Rng::derive(seed, "init"));
        let trained = train::train(&net, &init, &train_set, &self.train, &mut Rng::derive(seed, "shuffle"))?;
        let train_seconds = t0.elapsed().as_secs_f64();
        let fit = Fit::of(&trained, &train_set, &noisy);

        let run = RunSettings { threads: self.threads, steps: self.steps, early_steps: self.early_steps };
        let mut methods = Vec::with_capacity(self.methods.len());
        let mut suggestions = Vec::new();
        for &method in &self.methods {
            let t = Instant::now();
            let scores = if method == Method::WbCkpt {
                let all = methods::checkpoint_scores(&trained, &train_set, &run)?;
                let seconds = t.elapsed().as_secs_f64();
                let truth: Vec<i64> = order.iter().map(|&i| clean[i]).collect();
                suggestions = suggest::accuracy(&trained, &train_set, &all, &noisy, &truth)?;
                methods.push(MethodRun::new(method, &all.iter().map(|s| s.score).collect::<Vec<_>>(), &noisy, seconds));
                continue;
            } else {
                method.score(&trained, &train_set, &run, seed)?
            };
            methods.push(MethodRun::new(method, &scores, &noisy, t.elapsed().as_secs_f64()));
        }
        Ok(SeedRun {
            seed,
            n_train: train_set.len(),
            noisy,
            trained,
            fit,
            train_seconds,
            methods,
            suggestions,
            train_set,
        })
    }
}

/// How well the trained model fits the noisy labels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fit {
    /// Accuracy against the (noisy) training labels.
    pub train_accuracy: f64,
    /// Fraction of the flipped samples predicted as their flipped label (memorised).
    pub flipped_memorised: f64,
}

impl Fit {
    fn of(trained: &Trained, data: &ArrayDataset, noisy: &[usize]) -> Fit {
        let logits = methods::all_logits(&trained.model, data);
        let c = trained.model.num_classes();
        let labels = data.labels().unwrap_or_default();
        let hit: Vec<bool> = logits
            .chunks_exact(c)
            .zip(labels)
            .map(|(y, &l)| {
                let best = y.iter().enumerate().fold(0, |b, (k, &v)| if v > y[b] { k } else { b });
                best as i64 == l
            })
            .collect();
        let frac = |it: &mut dyn Iterator<Item = bool>, n: usize| it.filter(|&b| b).count() as f64 / n.max(1) as f64;
        Fit {
            train_accuracy: frac(&mut hit.iter().copied(), hit.len()),
            flipped_memorised: frac(&mut noisy.iter().map(|&i| hit[i]), noisy.len()),
        }
    }
}

/// One method's figures on one seed.
#[derive(Debug, Clone)]
pub struct MethodRun {
    /// The method.
    pub method: Method,
    /// influenciae's ROC metric: the mean of the detection curve.
    pub roc_metric: f64,
    /// Area under the ROC curve of flipped vs clean samples (ties count ½).
    pub auroc: f64,
    /// Precision among the top k = number of flipped samples.
    pub precision_at_k: f64,
    /// Fraction of the flipped samples among the top 5% of the ranking.
    pub recall_at_5pct: f64,
    /// Fraction of the flipped samples among the top 10% of the ranking.
    pub recall_at_10pct: f64,
    /// Fraction of flipped samples found after inspecting each prefix of the ranking.
    pub curve: Vec<f64>,
    /// Time the method took to score the training set.
    pub seconds: f64,
}

impl MethodRun {
    fn new(method: Method, scores: &[f64], noisy: &[usize], seconds: f64) -> MethodRun {
        MethodRun {
            method,
            roc_metric: metrics::roc_metric(scores, noisy),
            auroc: metrics::auroc(scores, noisy),
            precision_at_k: metrics::precision_at_k(scores, noisy),
            recall_at_5pct: metrics::recall_at(scores, noisy, 0.05),
            recall_at_10pct: metrics::recall_at(scores, noisy, 0.10),
            curve: metrics::detection_curve(scores, noisy),
            seconds,
        }
    }
}

/// The result of one seed.
#[derive(Debug, Clone)]
pub struct SeedRun {
    /// The seed.
    pub seed: u64,
    /// Training samples drawn.
    pub n_train: usize,
    /// Indices (in the training set) of the flipped samples.
    pub noisy: Vec<usize>,
    /// The trained network.
    pub trained: Trained,
    /// How well it fits the noisy labels.
    pub fit: Fit,
    /// Training time.
    pub train_seconds: f64,
    /// In the order of [`BenchConfig::methods`].
    pub methods: Vec<MethodRun>,
    /// With `wb-ckpt`: how often each suggested-label rule gives the true label of a flipped
    /// sample and keeps the label of a clean one, default rule first.
    pub suggestions: Vec<suggest::SuggestionRun>,
    /// The training set with its noisy labels.
    pub train_set: ArrayDataset,
}
