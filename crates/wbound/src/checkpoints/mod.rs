//! Several checkpoints of one model, scored together (the label-referenced score averaged over a
//! training run's checkpoints finds mislabeled samples better than any one model).
//!
//! [`Checkpoints`] (this file) loads them — whole ONNX files, or one ONNX file and weight files
//! ([`weights`]: safetensors `state_dict`s) — and checks that they are one architecture
//! ([`same_graph`]); [`score`] holds the calculator that runs every checkpoint on each batch and
//! aggregates ([`CheckpointCalculator`]); [`suggest`] the rules for a suggested label.

pub mod score;
pub mod suggest;
pub mod weights;

use std::path::{Path, PathBuf};

pub use score::{CheckpointBatch, CheckpointCalculator, CheckpointScore, CheckpointValues};
pub use suggest::SuggestRule;

use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::model::Model;

/// The checkpoints of one model, in training order, each with the name it came from (a file).
#[derive(Debug, Clone)]
pub struct Checkpoints {
    models: Vec<Model>,
    names: Vec<String>,
}

impl Checkpoints {
    /// Checkpoints from models already loaded, named for messages; an error naming the first
    /// difference when two graphs are not the same architecture ([`same_graph`]).
    pub fn new(models: Vec<(String, Model)>) -> Result<Checkpoints> {
        if models.is_empty() {
            return Err(Error::Checkpoint("no checkpoint given".into()));
        }
        let (names, models): (Vec<String>, Vec<Model>) = models.into_iter().unzip();
        for (i, m) in models.iter().enumerate().skip(1) {
            if let Err(diff) = same_graph(models[0].graph(), m.graph()) {
                return Err(Error::Checkpoint(format!(
                    "checkpoint {} is not the same model as {}: {diff}; every checkpoint must be one architecture \
                     exported the same way",
                    names[i], names[0]
                )));
            }
        }
        Ok(Checkpoints { models, names })
    }

    /// Reads ONNX files (in training order).
    pub fn load(paths: &[impl AsRef<Path>]) -> Result<Checkpoints> {
        let models = paths
            .iter()
            .map(|p| Ok((p.as_ref().display().to_string(), Model::load(p)?)))
            .collect::<Result<Vec<_>>>()?;
        Checkpoints::new(models)
    }

    /// One ONNX model and weight files (safetensors, in training order): each checkpoint is the
    /// model with the file's tensors in place of the initializers of the same names
    /// ([`weights::read`] and [`crate::onnx::weights::apply`]).
    pub fn with_weights(model: impl AsRef<Path>, weight_files: &[PathBuf]) -> Result<Checkpoints> {
        let model = model.as_ref();
        let proto = crate::onnx::read(model)?;
        let base = Model::from_graph(crate::onnx::graph_from_proto(&proto).map_err(|e| e.in_file(model))?);
        let mut models = Vec::with_capacity(weight_files.len());
        for file in weight_files {
            let set = weights::read(file)?;
            let graph = crate::onnx::graph_with_weights(&proto, &set).map_err(|e| e.in_file(file))?;
            weights::check_covered(&base, &set).map_err(|e| e.in_file(file))?;
            models.push((file.display().to_string(), Model::from_graph(graph)));
        }
        Checkpoints::new(models)
    }

    /// The models, in training order.
    pub fn models(&self) -> &[Model] {
        &self.models
    }

    /// Where each checkpoint came from.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Number of checkpoints.
    pub fn len(&self) -> usize {
        self.models.len()
    }

    /// Whether there are none (never, once built).
    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }

    /// The last checkpoint (the trained model).
    pub fn last(&self) -> &Model {
        &self.models[self.models.len() - 1]
    }
}

/// Whether two graphs are one architecture: the same input, ops, value shapes and weight tensors
/// (names, shapes and roles); `Err` describes the first difference.
pub fn same_graph(a: &Graph, b: &Graph) -> std::result::Result<(), String> {
    if a.input_shape != b.input_shape {
        return Err(format!("the input shape is {:?}, not {:?}", b.input_shape, a.input_shape));
    }
    if a.num_classes() != b.num_classes() {
        return Err(format!("it has {} outputs, not {}", b.num_classes(), a.num_classes()));
    }
    for (i, (x, y)) in a.nodes.iter().zip(&b.nodes).enumerate() {
        if x.op_type != y.op_type || a.values[x.output].shape != b.values[y.output].shape {
            return Err(format!(
                "node {i} is {} '{}' of output shape {:?}, not {} '{}' of shape {:?}",
                y.op_type, y.name, b.values[y.output].shape, x.op_type, x.name, a.values[x.output].shape
            ));
        }
    }
    if a.nodes.len() != b.nodes.len() {
        return Err(format!("it has {} nodes, not {}", b.nodes.len(), a.nodes.len()));
    }
    for t in &a.tensors {
        match b.tensors.iter().find(|u| u.name == t.name) {
            None => return Err(format!("it has no tensor '{}'", t.name)),
            Some(u) if u.shape != t.shape => {
                return Err(format!("tensor '{}' has shape {:?}, not {:?}", t.name, u.shape, t.shape))
            }
            Some(u) if u.role != t.role => {
                return Err(format!("tensor '{}' is {:?}, not {:?}", t.name, u.role, t.role))
            }
            Some(_) => {}
        }
    }
    if let Some(u) = b.tensors.iter().find(|u| !a.tensors.iter().any(|t| t.name == u.name)) {
        return Err(format!("it has a tensor '{}' the first has not", u.name));
    }
    Ok(())
}
