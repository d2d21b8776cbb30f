//! Command-line arguments (clap derive). Values are validated here where clap can; the library
//! validates the rest when the run is built.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use wbound::bench::{Arch, BenchData, Method};
use wbound::{Norm, ParamSelection, Reference};

/// Find the training samples a classifier depends on most — above all the mislabeled ones — by
/// the weights-boundary score: the smallest weight change that flips the model's prediction.
#[derive(Debug, Parser)]
#[command(name = "wbound", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Score every sample and write one CSV row per sample, in input order.
    ///
    /// Columns: index,score,distance,steps,status,original_class,final_class. score = −distance
    /// (higher = more suspicious); status is crossed, on_boundary, step_limit, stuck (no weight
    /// change moves the logits: distance inf) or non_finite.
    Score(ScoreArgs),

    /// Mislabel-detection benchmark on embedded data: flip a fraction of the training labels,
    /// train a classifier (in wbound, deterministic per seed) until it fits them, score every
    /// training sample with each method, and report how fast the flipped samples come up.
    ///
    /// Figures per method (mean ± std over seeds): influenciae's ROC metric (mean of the
    /// detection curve), AUROC, precision at k = number flipped, recall after inspecting 5% and
    /// 10% of the data. Every score is oriented so that higher = more suspicious.
    Bench(BenchArgs),
}

#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// The classifier, exported to ONNX (logits or probabilities as its output).
    #[arg(long, value_name = "M.onnx")]
    pub model: PathBuf,

    /// Samples as a .npy array of float32 or float64, shape [N, <model input shape>].
    #[arg(long, value_name = "X.npy")]
    pub inputs: PathBuf,

    /// Maximum number of DeepFool weight updates per sample.
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub steps: usize,

    /// Norm of the weight change: 2 (influenciae's), 1 or inf.
    #[arg(long, default_value = "2", value_name = "2|1|inf")]
    pub norm: Norm,

    /// Top-two logit gap under which a sample counts as on the boundary.
    #[arg(long, default_value_t = 1e-6, value_name = "E")]
    pub eps: f32,

    /// Which weights move: all trainable parameters, the last layer, or a glob over parameter names.
    #[arg(long, default_value = "all", value_name = "all|last|GLOB")]
    pub params: ParamSelection,

    /// Samples per batch (memory holds one batch of inputs).
    #[arg(long, default_value_t = 256, value_name = "B", value_parser = clap::value_parser!(u64).range(1..))]
    pub batch_size: u64,

    /// Worker threads [default: one per core].
    #[arg(long, value_name = "T", value_parser = clap::value_parser!(u64).range(1..))]
    pub threads: Option<u64>,

    /// Output CSV file; '-' or absent: standard output.
    #[arg(long, value_name = "FILE|-")]
    pub out: Option<PathBuf>,

    /// Labels as a .npy array of integers, one per sample (needed by --reference label).
    #[arg(long, value_name = "Y.npy")]
    pub labels: Option<PathBuf>,

    /// The class distances are measured from: the model's prediction (influenciae's), or the
    /// given label (signed margin: −distance when the model predicts the label, +distance to
    /// make it predict the label otherwise; higher = more suspicious either way).
    #[arg(long, default_value = "prediction", value_name = "prediction|label", requires_if("label", "labels"))]
    pub reference: Reference,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Embedded data set.
    #[arg(long, default_value = "mnist", value_name = "mnist|digits")]
    pub dataset: BenchData,

    /// Classifier trained on the noisy labels.
    #[arg(long, default_value = "mlp", value_name = "mlp|cnn")]
    pub arch: Arch,

    /// Fraction of the training labels flipped to another class.
    #[arg(long, default_value_t = 0.1, value_name = "F")]
    pub noise: f64,

    /// Number of seeds (0, 1, ..., S−1); each draws its own training subset, noise and weights.
    #[arg(long, default_value_t = 1, value_name = "S", value_parser = clap::value_parser!(u64).range(1..))]
    pub seeds: u64,

    /// Training samples per seed [default: 2000 for mnist, 1000 for digits].
    #[arg(long, value_name = "N")]
    pub train_size: Option<usize>,

    /// Comma-separated methods: wb, wb-label, sample-boundary, loss, margin, random [default: all].
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub methods: Vec<Method>,

    /// Most training epochs; training stops once an epoch fits every noisy label [default: 60
    /// for mnist, 300 for digits].
    #[arg(long, value_name = "E", value_parser = clap::value_parser!(u64).range(1..))]
    pub epochs: Option<u64>,

    /// Adam's learning rate [default: 2e-3 for mnist, 1e-2 for digits].
    #[arg(long, value_name = "LR")]
    pub lr: Option<f32>,

    /// Mini-batch size.
    #[arg(long, default_value_t = 32, value_name = "B", value_parser = clap::value_parser!(u64).range(1..))]
    pub batch_size: u64,

    /// Hidden units of the MLP [default: 128 for mnist, 32 for digits].
    #[arg(long, value_name = "H", value_parser = clap::value_parser!(u64).range(1..))]
    pub hidden: Option<u64>,

    /// Maximum DeepFool steps of wb, wb-label and sample-boundary.
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub steps: usize,

    /// Write every figure, per seed too, as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// Plot of the mean detection curves (.png or .svg).
    #[arg(long, default_value = "bench.png", value_name = "FILE.png|FILE.svg")]
    pub plot: PathBuf,

    /// Save each seed's trained model as DIR/<dataset>-<arch>-seed<S>.onnx.
    #[arg(long, value_name = "DIR")]
    pub save_model: Option<PathBuf>,

    /// Folder holding the embedded data [default: the repository's data/].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Worker threads [default: one per core].
    #[arg(long, value_name = "T", value_parser = clap::value_parser!(u64).range(1..))]
    pub threads: Option<u64>,
}
