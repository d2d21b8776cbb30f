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
//! | `random` | seeded uniform in `[0, 1)` |

use std::fmt;
use std::str::FromStr;

use super::noise::Rng;
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
    Random,
}

impl Method {
    /// Every method, in report order.
    pub const ALL: [Method; 6] =
        [Method::Wb, Method::WbLabel, Method::SampleBoundary, Method::Loss, Method::Margin, Method::Random];

    /// The method's name (`wb`, `wb-label`, `sample-boundary`, `loss`, `margin`, `random`).
    pub fn name(self) -> &'static str {
        match self {
            Method::Wb => "wb",
            Method::WbLabel => "wb-label",
            Method::SampleBoundary => "sample-boundary",
            Method::Loss => "loss",
            Method::Margin => "margin",
            Method::Random => "random",
        }
    }

    /// The scores of every sample of `data` (labelled, for the label-aware methods) under
    /// `model`; `steps` bounds the DeepFool methods, `seed` drives `random`.
    pub fn score(
        self,
        model: &Model,
        data: &ArrayDataset,
        threads: usize,
        steps: usize,
        seed: u64,
    ) -> Result<Vec<f64>> {
        let scores = |v: Vec<crate::SampleScore>| v.into_iter().map(|s| s.score).collect();
        let wb = || WeightsBoundaryCalculator::new(model).threads(threads).step_nbr(steps);
        Ok(match self {
            Method::Wb => scores(wb().score_all(data)?),
            Method::WbLabel => scores(wb().reference(Reference::Labels).score_all(data)?),
            Method::SampleBoundary => {
                scores(SampleBoundaryCalculator::new(model).threads(threads).step_nbr(steps).score_all(data)?)
            }
            Method::Loss | Method::Margin => {
                let labels = data.labels().ok_or_else(|| Error::Data(format!("{self} needs labelled data")))?;
                let logits = all_logits(model, data);
                let c = model.num_classes();
                logits
                    .chunks_exact(c)
                    .zip(labels)
                    .map(|(y, &l)| {
                        let l = l as usize;
                        if self == Method::Loss {
                            let max = y.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                            let lse = y.iter().map(|&v| f64::from(v - max).exp()).sum::<f64>().ln();
                            lse - f64::from(y[l] - max)
                        } else {
                            let other = y.iter().enumerate().filter(|&(k, _)| k != l).map(|(_, &v)| v);
                            -f64::from(y[l] - other.fold(f32::NEG_INFINITY, f32::max))
                        }
                    })
                    .collect()
            }
            Method::Random => {
                let mut rng = Rng::derive(seed, "random");
                (0..data.len()).map(|_| rng.uniform()).collect()
            }
        })
    }
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
