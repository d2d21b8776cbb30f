//! Command-line arguments (clap derive). Values are validated here where clap can; the library
//! validates the rest when the run is built.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use wbound::bench::{Arch, BenchData, Method};
use wbound::data::{Format, Layout};
use wbound::{Norm, ParamSelection, Reference};

/// Find the training samples a classifier depends on most — above all the mislabeled ones — by
/// the weights-boundary score: the smallest weight change that flips the model's prediction.
///
/// Exit codes: 0 success, 1 runtime error (file, model or data), 2 usage error.
#[derive(Debug, Parser)]
#[command(name = "wbound", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Score every sample and write one row per sample, in input order.
    ///
    /// CSV columns: index,score,distance,steps,status,original_class,final_class. score = −distance
    /// (higher = more suspicious); status is crossed, on_boundary, step_limit, stuck (no weight
    /// change moves the logits: distance inf), non_finite (NaN/∞ logits or gradients: score NaN)
    /// or invalid_input (the sample holds NaN/∞, with --skip-invalid: score NaN, no classes).
    ///
    /// Ctrl-C stops between samples and leaves the rows done in FILE.partial: run the same
    /// command with --resume to finish (exit code 130).
    Score(ScoreArgs),
    /// Show the k most (or least) suspicious samples: a table, and a PNG grid for images.
    #[command(name = "top-k")]
    TopK(TopKArgs),
    /// Write one self-contained HTML page about the suspects: a summary, the top N as thumbnails
    /// and as a sortable, filterable table, per-class counts and the score histogram.
    Report(ReportArgs),
    /// Describe a model: shapes, ops, parameters, and whether wbound supports every op.
    Inspect(InspectArgs),
    /// Join the CSV outputs of `score --shard I/N` runs into one file, checking for gaps and
    /// overlaps.
    Merge(MergeArgs),
    /// Mislabel-detection benchmark on embedded data: flip a fraction of the training labels,
    /// train a classifier (in wbound, deterministic per seed) until it fits them, score every
    /// training sample with each method, and report how fast the flipped samples come up.
    ///
    /// Figures per method (mean ± std over seeds): influenciae's ROC metric (mean of the
    /// detection curve), AUROC, precision at k = number flipped, recall after inspecting 5% and
    /// 10% of the data. Every score is oriented so that higher = more suspicious.
    Bench(BenchArgs),
}

/// Where the samples come from and how to prepare them.
#[derive(Debug, Args)]
pub struct DataArgs {
    /// The samples: .npy, .npz, MNIST IDX (*-ubyte[.gz]), CIFAR-10 binary (*.bin), an image folder
    /// (one subfolder per class) or CSV.
    #[arg(long, value_name = "DATA")]
    pub inputs: PathBuf,

    /// Read --inputs as this format instead of guessing from its name.
    #[arg(long, value_name = "npy|npz|idx|cifar|images|csv")]
    pub format: Option<Format>,

    /// The array to read from an .npz archive [default: its only array].
    #[arg(long, value_name = "NAME")]
    pub key: Option<String>,

    /// CSV: the column holding the labels (a header name or a 0-based index; -1 = last).
    #[arg(long, value_name = "NAME", allow_hyphen_values = true)]
    pub label_column: Option<String>,

    /// Labels, one per sample: an integer .npy of shape [N] or an IDX labels file
    /// (*-labels-idx1-ubyte[.gz]); overrides labels from the format.
    #[arg(long, value_name = "Y.npy")]
    pub labels: Option<PathBuf>,

    /// Multiply every value by this (e.g. 1/255 or 0.00392); fractions like 1/255 are accepted.
    #[arg(long, value_name = "S", value_parser = parse_fraction)]
    pub scale: Option<f32>,

    /// Subtract per channel after scaling (comma-separated, one value or one per channel).
    #[arg(long, value_name = "M[,M...]", value_delimiter = ',', allow_hyphen_values = true)]
    pub mean: Vec<f32>,

    /// Divide per channel after subtracting the mean (comma-separated).
    #[arg(long, value_name = "S[,S...]", value_delimiter = ',')]
    pub std: Vec<f32>,

    /// Resize image-folder images to HxW (e.g. 32x32).
    #[arg(long, value_name = "HxW", value_parser = parse_hw)]
    pub resize: Option<(usize, usize)>,

    /// Layout of image samples [default: what the model's input shape implies].
    #[arg(long, value_name = "nchw|nhwc")]
    pub layout: Option<Layout>,

    /// Score only shard I of N (0-based): a contiguous slice; indices stay global.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    pub shard: Option<(usize, usize)>,
}

/// The DeepFool settings shared by `score` and `top-k`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The classifier, exported to ONNX (logits or probabilities as its output). Several files
    /// (a shell glob works): checkpoints of one model in training order, scored against the labels
    /// and averaged (score = mean label-referenced score; also aum, mean_loss, suggested_label).
    #[arg(long, value_name = "M.onnx", num_args = 1.., required = true)]
    pub model: Vec<PathBuf>,

    /// Checkpoints as weight files (safetensors state_dicts, in training order) for the one
    /// --model: each file's tensors replace the model's initializers of the same names.
    #[arg(long, value_name = "W.safetensors", num_args = 1..)]
    pub weights: Vec<PathBuf>,

    /// With several checkpoints: at most N DeepFool steps on every checkpoint but the last
    /// [default: --steps].
    #[arg(long, value_name = "N")]
    pub early_steps: Option<usize>,

    /// With several checkpoints: also write each checkpoint's score (score_1 … score_K).
    #[arg(long)]
    pub per_checkpoint: bool,

    /// The class distances are measured from: the model's prediction (influenciae's, the default
    /// for one model), or the sample's label (from the format or --labels): a signed margin,
    /// −distance when the model predicts the label and +distance to make it predict the label
    /// otherwise (higher = more suspicious either way; the only choice for several checkpoints).
    #[arg(long, value_name = "prediction|label")]
    pub reference: Option<Reference>,

    /// Maximum number of DeepFool weight updates per sample.
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub steps: usize,

    /// Norm of the weight change: 2 (influenciae's), 1 or inf.
    #[arg(long, default_value = "2", value_name = "2|1|inf")]
    pub norm: Norm,

    /// Top-two logit gap under which a sample counts as on the boundary.
    #[arg(long, default_value_t = 1e-6, value_name = "E", allow_negative_numbers = true)]
    pub eps: f32,

    /// Which weights move: all trainable parameters, the last layer, or a glob over parameter names.
    #[arg(long, default_value = "all", value_name = "all|last|GLOB")]
    pub params: ParamSelection,

    /// Samples per batch (memory holds one batch of inputs; with K checkpoints a batch holds
    /// ⌈B / K⌉ samples, each scored by every checkpoint).
    #[arg(long, default_value_t = 256, value_name = "B", value_parser = clap::value_parser!(u64).range(1..))]
    pub batch_size: u64,

    /// Worker threads [default: one per core].
    #[arg(long, value_name = "T", value_parser = clap::value_parser!(u64).range(1..))]
    pub threads: Option<u64>,

    /// Refuse to start when the run would need more memory than this (8G, 512M, bytes, or none)
    /// [default: 80% of the machine's or the container's memory].
    #[arg(long, value_name = "SIZE", value_parser = crate::memory::parse_size)]
    pub max_memory: Option<crate::memory::Limit>,

    /// Score the samples that hold NaN or ∞ as status invalid_input (score NaN) instead of
    /// refusing the data set.
    #[arg(long)]
    pub skip_invalid: bool,

    /// No progress bar and no summary (warnings still show).
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct ScoreArgs {
    #[command(flatten)]
    pub run: RunArgs,

    #[command(flatten)]
    pub data: DataArgs,

    /// Output file: .csv (all columns), .jsonl (one object per sample) or .npy (scores only,
    /// float64); '-' or absent: CSV on standard output. A file appears only when complete.
    #[arg(long, value_name = "FILE|-")]
    pub out: Option<PathBuf>,

    /// Continue an interrupted run into the same --out (the result is byte-identical to an
    /// uninterrupted run).
    #[arg(long, requires = "out")]
    pub resume: bool,

    /// Overwrite an existing --out (and discard an interrupted run's partial output).
    #[arg(long, conflicts_with = "resume")]
    pub force: bool,
}

/// Which end of the ranking `top-k` shows.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OrderArg {
    /// Highest scores first: the most suspicious samples.
    Descending,
    /// Lowest scores first: the most robust samples.
    Ascending,
}

#[derive(Debug, Args)]
pub struct TopKArgs {
    #[command(flatten)]
    pub run: RunArgs,

    #[command(flatten)]
    pub data: DataArgs,

    /// How many samples to show.
    #[arg(short, long, value_name = "K", value_parser = clap::value_parser!(u64).range(1..))]
    pub k: u64,

    /// Which end of the ranking.
    #[arg(long, value_enum, default_value_t = OrderArg::Descending)]
    pub order: OrderArg,

    /// Rank the rows of an existing `score` output (CSV) instead of scoring again; the samples
    /// come from --inputs as scored.
    #[arg(long, value_name = "SCORES.csv")]
    pub scores: Option<PathBuf>,

    /// Write a PNG grid of the k samples (image inputs), with index, label, prediction, score and
    /// file under each tile.
    #[arg(long, value_name = "FILE.png")]
    pub grid: Option<PathBuf>,

    /// Overwrite an existing --grid.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub run: RunArgs,

    #[command(flatten)]
    pub data: DataArgs,

    /// Show the scores of this `wbound score` CSV (of the same --inputs) instead of scoring
    /// afresh; its suggested_label column, where it has one, is shown too.
    #[arg(long, value_name = "SCORES.csv")]
    pub scores: Option<PathBuf>,

    /// How many of the most suspicious samples to show.
    #[arg(long, default_value_t = 64, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub top: u64,

    /// The HTML file to write.
    #[arg(long, value_name = "REPORT.html")]
    pub out: PathBuf,

    /// Overwrite an existing --out.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The ONNX model.
    #[arg(long, value_name = "M.onnx")]
    pub model: PathBuf,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Shard outputs (CSV files written by `wbound score --shard I/N --out ...`), in any order.
    #[arg(required = true, value_name = "SHARD.csv")]
    pub shards: Vec<PathBuf>,

    /// The merged CSV.
    #[arg(long, value_name = "ALL.csv")]
    pub out: PathBuf,

    /// The number of samples of the whole data set: also catches a missing last shard.
    #[arg(long, value_name = "N")]
    pub expect: Option<usize>,

    /// Overwrite an existing --out.
    #[arg(long)]
    pub force: bool,
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

    /// Comma-separated methods: wb, wb-label, sample-boundary, loss, margin, wb-ckpt, aum,
    /// loss-ckpt, random [default: all].
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

    /// Save the checkpoints training kept (epochs 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96,
    /// 128 and the last) as DIR/seed<S>/epoch<EEE>.onnx, so that DIR/seed0/*.onnx lists them in
    /// training order; the training subset is written as DIR/seed<S>/train-x.npy and
    /// train-y.npy (noisy labels) and flipped.npy (indices of the flipped samples).
    #[arg(long, value_name = "DIR")]
    pub save_checkpoints: Option<PathBuf>,

    /// DeepFool step limit of wb-ckpt on the checkpoints before the last [default: --steps].
    #[arg(long, value_name = "N")]
    pub early_steps: Option<usize>,

    /// Folder holding the embedded data [default: the repository's data/].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Worker threads [default: one per core].
    #[arg(long, value_name = "T", value_parser = clap::value_parser!(u64).range(1..))]
    pub threads: Option<u64>,
}

fn parse_fraction(s: &str) -> Result<f32, String> {
    let bad = || format!("'{s}' is not a number or a fraction like 1/255");
    let v = match s.split_once('/') {
        Some((a, b)) => a.trim().parse::<f32>().map_err(|_| bad())? / b.trim().parse::<f32>().map_err(|_| bad())?,
        None => s.trim().parse::<f32>().map_err(|_| bad())?,
    };
    if v.is_finite() && v != 0.0 {
        Ok(v)
    } else {
        Err(bad())
    }
}

fn parse_hw(s: &str) -> Result<(usize, usize), String> {
    let bad = || format!("'{s}' is not a size like 32x32");
    let (h, w) = s.split_once(['x', 'X']).ok_or_else(bad)?;
    match (h.trim().parse::<usize>(), w.trim().parse::<usize>()) {
        (Ok(h), Ok(w)) if h > 0 && w > 0 => Ok((h, w)),
        _ => Err(bad()),
    }
}

fn parse_shard(s: &str) -> Result<(usize, usize), String> {
    let bad = || format!("'{s}' is not a shard like 0/4 (shard index from 0 to N-1, then the shard count N)");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    match (i.trim().parse::<usize>(), n.trim().parse::<usize>()) {
        (Ok(i), Ok(n)) if n > 0 && i < n => Ok((i, n)),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_parsers_accept_and_reject() {
        assert_eq!(parse_fraction("1/255").unwrap(), 1.0 / 255.0);
        assert_eq!(parse_fraction("0.5").unwrap(), 0.5);
        assert!(parse_fraction("1/0").is_err() && parse_fraction("x").is_err());
        assert_eq!(parse_hw("28x32").unwrap(), (28, 32));
        assert!(parse_hw("28").is_err() && parse_hw("0x3").is_err());
        assert_eq!(parse_shard("2/4").unwrap(), (2, 4));
        assert!(parse_shard("4/4").is_err() && parse_shard("1/0").is_err() && parse_shard("a/b").is_err());
    }
}
