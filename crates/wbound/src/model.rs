//! A loaded classifier: its graph, where it came from, and convenience queries.

use std::path::Path;

use crate::data::Dataset;
use crate::engine::{Engine, Selection};
use crate::error::{Error, Result};
use crate::graph::{Graph, Reason, Role, Tensor};

/// A classifier loaded from ONNX.
///
/// ```
/// # fn main() -> wbound::Result<()> {
/// let model = wbound::Model::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/linear/model.onnx"))?;
/// assert_eq!(model.input_shape(), &[3]);
/// assert_eq!(model.num_classes(), 2);
/// // influenciae's test model: kernel [[1, 1], [1, 0], [0, 0]], bias [4, 0].
/// assert_eq!(model.logits(&[1.0, 2.0, 3.0])?, vec![7.0, 1.0]);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Model {
    graph: Graph,
}

impl Model {
    /// Reads and imports an `.onnx` file (and the external data files beside it, if it has any).
    pub fn load(path: impl AsRef<Path>) -> Result<Model> {
        let path = path.as_ref();
        let hinted = |e: Error| match (e, exporter_hint(path)) {
            (Error::File { cause, .. }, Some(hint)) if matches!(*cause, Error::OnnxFormat(_)) => match *cause {
                Error::OnnxFormat(msg) => Error::OnnxFormat(format!("{msg}; {hint}")).in_file(path),
                other => other.in_file(path),
            },
            (e, _) => e,
        };
        let model = crate::onnx::read(path).map_err(hinted)?;
        Ok(Model { graph: crate::onnx::graph_from_proto(&model).map_err(|e| e.in_file(path))? })
    }

    /// Imports an ONNX model from its bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Model> {
        Ok(Model { graph: crate::onnx::graph_from_bytes(bytes)? })
    }

    /// Wraps a graph built in code.
    pub fn from_graph(graph: Graph) -> Model {
        Model { graph }
    }

    /// The graph.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// The shape of one sample (the input's shape without the batch axis).
    pub fn input_shape(&self) -> &[usize] {
        &self.graph.input_shape[1..]
    }

    /// Elements of one sample.
    pub fn input_len(&self) -> usize {
        self.input_shape().iter().product()
    }

    /// Number of logits.
    pub fn num_classes(&self) -> usize {
        self.graph.num_classes()
    }

    /// Every weight tensor with its role.
    pub fn tensors(&self) -> &[Tensor] {
        &self.graph.tensors
    }

    /// Number of trainable scalars (what DeepFool moves by default).
    pub fn num_trainable(&self) -> usize {
        self.graph.tensors.iter().filter(|t| matches!(t.role, Role::Trainable { .. })).map(|t| t.data.len()).sum()
    }

    /// The float tensors that stay fixed by the rules of README "Which weights are parameters"
    /// although they are not BatchNormalization statistics or importer constants (an epsilon):
    /// the constants a user may want to check. Returns `(tensors, values)`.
    pub fn fixed_constants(&self) -> (usize, usize) {
        let fixed = self.graph.tensors.iter().filter(|t| t.role == Role::Constant && t.reason != Reason::Internal);
        fixed.fold((0, 0), |(n, v), t| (n + 1, v + t.data.len()))
    }

    /// Float values in the model's weight tensors (importer constants excluded).
    pub fn float_values(&self) -> usize {
        self.graph.tensors.iter().filter(|t| t.reason != Reason::Internal).map(|t| t.data.len()).sum()
    }

    /// Whether the model takes integers (token ids) rather than floats.
    pub fn takes_token_ids(&self) -> bool {
        self.graph.integer_input
    }

    /// For a model whose input indexes embedding tables (token ids): an error naming the first
    /// sample, position and value that is not a whole number in `0..rows` of every such table.
    /// Other models: nothing to check.
    pub fn check_token_ids(&self, data: &dyn Dataset, batch: usize) -> Result<()> {
        let Some((rows, table)) = self.graph.index_tables.iter().min_by_key(|(rows, _)| *rows) else {
            return Ok(());
        };
        let n = self.input_len().max(1);
        let mut buf = Vec::new();
        for start in (0..data.len()).step_by(batch.max(1)) {
            buf.clear();
            data.read(start, batch.min(data.len() - start), &mut buf)?;
            if let Some(bad) = buf.iter().position(|&v| v.fract() != 0.0 || !(v >= 0.0 && (v as f64) < *rows as f64)) {
                let (i, p, v) = (start + bad / n, bad % n, buf[bad]);
                let what =
                    if v.fract() != 0.0 || !v.is_finite() { "is not a token id" } else { "is outside the table" };
                return Err(Error::Data(format!(
                    "sample {i} holds {v} at position {p}, which {what}: the model looks ids up in '{table}' of {rows} rows \
                     (ids 0 to {})",
                    rows - 1
                )));
            }
        }
        Ok(())
    }

    /// The logits of one sample with the trained weights.
    pub fn logits(&self, x: &[f32]) -> Result<Vec<f32>> {
        if x.len() != self.input_len() {
            return Err(Error::Data(format!(
                "a sample of {} values does not fit the model's input shape {:?} ({} values)",
                x.len(),
                self.input_shape(),
                self.input_len()
            )));
        }
        let engine = Engine::new(&self.graph, Selection::new(&self.graph, Vec::new()), 1);
        let mut ws = engine.workspace();
        Ok(engine.forward(&mut ws, x).to_vec())
    }
}

/// What to do with a framework's own model file (by its extension) that is not ONNX: the exporter
/// that turns it into ONNX.
fn exporter_hint(path: &Path) -> Option<&'static str> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    Some(match ext.as_str() {
        "safetensors" => {
            "this looks like a weight file (a state_dict): pass it with --weights W.safetensors next to the model's \
             ONNX file (--model model.onnx), or wbound.score(model, x, y, weights=[...]) in Python"
        }
        "pt" | "pth" | "ckpt" | "bin" => {
            "this looks like a PyTorch checkpoint, which wbound cannot read: export the model to ONNX with \
             torch.onnx.export(model, x[:1], \"model.onnx\", dynamic_axes={\"x\": {0: \"N\"}}, ...) or \
             wbound.Model.from_torch (README: Bring your own model)"
        }
        "h5" | "keras" | "pb" | "tflite" => {
            "this looks like a Keras/TensorFlow model, which wbound cannot read: export it to ONNX with tf2onnx \
             (python -m tf2onnx.convert --saved-model DIR --output model.onnx, or tf2onnx.convert.from_keras) or \
             wbound.Model.from_keras (README: Bring your own model)"
        }
        _ => return None,
    })
}
