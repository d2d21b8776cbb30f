//! # wbound
//!
//! Weights-boundary self-influence scores for classifiers exported to ONNX: for each sample, the
//! smallest change of the model's weights — found by DeepFool run in weight space — that moves the
//! model's prediction on it to the decision boundary. A small change means a fragile, influential
//! or likely mislabeled sample. The scores reproduce influenciae's `WeightsBoundaryCalculator`
//! (l2 norm) and add correct l1 / l∞ variants, per-sample diagnostics and multi-threading.
//!
//! # Brief overview
//!
//! - [`Model`] loads an `.onnx` file into wbound's own graph ([`graph`], built by [`onnx`]).
//! - [`WeightsBoundaryCalculator`] holds the settings (steps, norm, eps, which weights move,
//!   threads) and scores a [`Dataset`] — streaming batches, or a bounded-memory top-k.
//! - Each result is a [`SampleScore`]: score, distance, steps, [`Status`], original and final
//!   class.
//! - [`Reference::Labels`] turns the score into the label-aware signed margin (`wb-label`);
//!   [`SampleBoundaryCalculator`] runs DeepFool on the input instead (influenciae's
//!   `SampleBoundaryCalculator`).
//! - [`data`] reads `.npy`/`.npz`, MNIST IDX, CIFAR-10, image folders and CSV; [`bench`](mod@bench) is the
//!   mislabel-detection benchmark (training in wbound, baselines, metrics) behind `wbound bench`.
//!
//! Data flows one way: file → [`graph::Graph`] → [`engine::Engine`] → [`SampleScore`]s.
//!
//! # Example
//!
//! ```
//! use wbound::{data::npy, Model, Order, WeightsBoundaryCalculator};
//! # fn main() -> wbound::Result<()> {
//! let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/mlp");
//! let model = Model::load(format!("{dir}/model.onnx"))?;
//! let data = npy::read_dataset(format!("{dir}/x.npy").as_ref())?.head(20);
//! let calc = WeightsBoundaryCalculator::new(&model).threads(2);
//! let top = calc.compute_top_k_from_training_dataset(&data, 3, Order::Descending)?;
//! assert_eq!(top.indices.len(), 3);
//! assert!(top.scores[0].score >= top.scores[1].score);
//! # Ok(()) }
//! ```

pub mod bench;
pub mod calculator;
pub mod checkpoints;
pub mod columns;
pub mod data;
pub mod deepfool;
pub mod engine;
mod error;
pub mod graph;
pub mod model;
pub mod onnx;
pub mod ops;
pub mod params;
pub mod sample_boundary;
pub mod tensor;

pub use calculator::{
    human_bytes, HasScore, InfluenceValues, MemoryPlan, Order, ScoredBatch, TopK, TopKSelector,
    WeightsBoundaryCalculator,
};
pub use checkpoints::{CheckpointCalculator, CheckpointScore, Checkpoints};
pub use data::{ArrayDataset, Dataset};
pub use deepfool::{Norm, Reference, SampleScore, Status};
pub use error::{Error, Result, UnsupportedOp};
pub use model::Model;
pub use params::ParamSelection;
pub use sample_boundary::SampleBoundaryCalculator;
