//! Command-line arguments (clap derive). Values are validated here where clap can; the library
//! validates the rest when the run is built.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use wbound::{Norm, ParamSelection};

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
}
