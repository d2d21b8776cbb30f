//! The scoring methods compared by the benchmark. Every score is oriented so that **higher =
//! more suspicious** (more likely mislabeled):
//!
//! | method | score |
//! |---|---|
//! | `wb` | the weights-boundary score `−‖w_adv − w‖₂` ([`WeightsBoundaryCalculator`]) |
//! | `wb-label` | the signed weight-space margin to the label ([`Reference::Labels`]) |
//! | `sample-boundary` | `−‖x_adv − x‖₂`, DeepFool on the input ([`SampleBoundaryCalculator`]) |
//! | `loss` | the cross-entropy with the given label |
//! | `margin` | `−(logit_label − max_{k≠label} logit_k)` |
//! | `wb-ckpt` | the mean of `wb-label` over the training checkpoints ([`CheckpointCalculator`]) |
//! | `aum` | `−` the mean margin over the checkpoints (Pleiss et al. 2020) |
//! | `loss-ckpt` | the mean loss over the checkpoints |
//! | `random` | seeded uniform in `[0, 1)` |
//!
//! The single-model methods score the final model; the `-ckpt` methods and `aum` the
//! checkpoints training kept ([`Trained::checkpoints`]).

use std::fmt;
use std::str::FromStr;

use super::noise::Rng;
use super::train::Trained;
use crate::checkpoints::score::{cross_entropy, margin};
use crate::checkpoints::{CheckpointCalculator, CheckpointScore};
use crate::data::{ArrayDataset, Dataset};
use crate::deepfool::Reference;
use crate::engine::{Engine, Selection};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::{SampleBoundaryCalculator, WeightsBoundaryCalculator};

/// A scoring method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Wb,
    WbLabel,
    SampleBoundary,
    Loss,
    Margin,
    WbCkpt,
    Aum,
    LossCkpt,
    Random,
}

impl Method {
    /// Every method, in report order.
    pub const ALL: [Method; 9] = [
        Method::Wb,
        Method::WbLabel,
        Method::SampleBoundary,
        Method::Loss,
        Method::Margin,
        Method::WbCkpt,
        Method::Aum,
        Method::LossCkpt,
        Method::Random,
    ];

    /// The method's name (`wb`, `wb-label`, `sample-boundary`, `loss`, `margin`, `wb-ckpt`,
    /// `aum`, `loss-ckpt`, `random`).
    pub fn name(self) -> &'static str {
        match self {
            Method::Wb => "wb",
            Method::WbLabel => "wb-label",
            Method::SampleBoundary => "sample-boundary",
            Method::Loss => "loss",
            Method::Margin => "margin",
            Method::WbCkpt => "wb-ckpt",
            Method::Aum => "aum",
            Method::LossCkpt => "loss-ckpt",
            Method::Random => "random",
        }
    }

    /// The scores of every sample of `data` (labelled, for the label-aware methods) under the
    /// trained network (or its checkpoints); `steps` bounds the DeepFool methods (`early_steps`
    /// the checkpoints before the last), `seed` drives `random`.
    pub fn score(self, trained: &Trained, data: &ArrayDataset, run: &RunSettings, seed: u64) -> Result<Vec<f64>> {
        let model = &trained.model;
        let scores = |v: Vec<crate::SampleScore>| v.into_iter().map(|s| s.score).collect();
        let wb = || WeightsBoundaryCalculator::new(model).threads(run.threads).step_nbr(run.steps);
        Ok(match self {
            Method::Wb => scores(wb().score_all(data)?),
            Method::WbLabel => scores(wb().reference(Reference::Labels).score_all(data)?),
            Method::SampleBoundary => {
                scores(SampleBoundaryCalculator::new(model).threads(run.threads).step_nbr(run.steps).score_all(data)?)
            }
            Method::Loss => per_label(model, data, self, cross_entropy)?,
            Method::Margin => per_label(model, data, self, |y, l| -margin(y, l))?,
            Method::WbCkpt => checkpoint_scores(trained, data, run)?.into_iter().map(|s| s.score).collect(),
            Method::Aum | Method::LossCkpt => {
                let models = trained.checkpoint_models()?;
                let mut sum = vec![0.0; data.len()];
                for m in models.models() {
                    let f = if self == Method::Aum { |y: &[f32], l| -margin(y, l) } else { cross_entropy };
                    sum.iter_mut().zip(per_label(m, data, self, f)?).for_each(|(s, v)| *s += v);
                }
                sum.iter().map(|s| s / models.len() as f64).collect()
            }
            Method::Random => {
                let mut rng = Rng::derive(seed, "random");
                (0..data.len()).map(|_| rng.uniform()).collect()
            }
        })
    }
}

/// The DeepFool settings of the benchmark's scoring methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunSettings {
    /// Worker threads.
    pub threads: usize,
    /// DeepFool step limit.
    pub steps: usize,
    /// Step limit on the checkpoints before the last (`None`: `steps`).
    pub early_steps: Option<usize>,
}

/// Every sample's aggregate over the checkpoints `trained` kept ([`CheckpointCalculator`]).
pub fn checkpoint_scores(trained: &Trained, data: &ArrayDataset, run: &RunSettings) -> Result<Vec<CheckpointScore>> {
    let models = trained.checkpoint_models()?;
    let base = WeightsBoundaryCalculator::new(models.last()).threads(run.threads).step_nbr(run.steps);
    CheckpointCalculator::new(&base, &models).early_steps(run.early_steps).score_all(data)
}

/// `f(logits, label)` for every sample.
fn per_label(model: &Model, data: &ArrayDataset, method: Method, f: impl Fn(&[f32], usize) -> f64) -> Result<Vec<f64>> {
    let labels = data.labels().ok_or_else(|| Error::Data(format!("{method} needs labelled data")))?;
    let logits = all_logits(model, data);
    Ok(logits.chunks_exact(model.num_classes()).zip(labels).map(|(y, &l)| f(y, l as usize)).collect())
}

/// The logits of every sample, row-major.
pub fn all_logits(model: &Model, data: &ArrayDataset) -> Vec<f32> {
    let graph = model.graph();
    let engine = Engine::new(graph, Selection::new(graph, Vec::new()), 1);
    let mut ws = engine.workspace();
    (0..data.len()).flat_map(|i| engine.forward(&mut ws, data.sample(i)).to_vec()).collect()
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Method {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Method, String> {
        Method::ALL.into_iter().find(|m| m.name() == s.trim()).ok_or_else(|| {
            format!("unknown method '{s}'; the methods are {}", Method::ALL.map(Method::name).join(", "))
        })
    }
}
