//! `wbound.Model`: an ONNX classifier loaded from a path or bytes, with its shapes, parameters and
//! the report of `wbound inspect` as a dict.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use numpy::PyUntypedArrayMethods;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList, PyTuple};
use wbound::engine::{DualNorm, Engine, Selection};
use wbound::graph::{Reason, Role};
use wbound::{onnx, Error, ParamSelection};

use crate::errors::to_py;

/// A classifier exported to ONNX (logits or probabilities as its output).
#[pyclass(subclass, frozen, module = "wbound", name = "Model")]
pub struct PyModel {
    pub inner: Arc<wbound::Model>,
    bytes: Vec<u8>,
    path: Option<PathBuf>,
}

impl PyModel {
    fn load(bytes: Vec<u8>, path: Option<PathBuf>) -> Result<PyModel, Error> {
        let model = wbound::Model::from_bytes(&bytes);
        let model = match &path {
            Some(p) => model.map_err(|e| e.in_file(p))?,
            None => model?,
        };
        Ok(PyModel { inner: Arc::new(model), bytes, path })
    }

    /// The file the model came from, or `default`.
    pub fn path_or(&self, default: &str) -> String {
        self.path.as_ref().map_or(default.to_string(), |p| p.display().to_string())
    }
}

#[pymethods]
impl PyModel {
    /// Loads `source`: a path (`str` or `os.PathLike`) to an `.onnx` file, or its bytes.
    #[new]
    fn new(source: &Bound<'_, PyAny>) -> PyResult<PyModel> {
        let (bytes, path) = if let Ok(b) = source.cast::<PyBytes>() {
            (b.as_bytes().to_vec(), None)
        } else if let Ok(b) = source.cast::<PyByteArray>() {
            (b.to_vec(), None)
        } else {
            let path: PathBuf = source.extract()?;
            // Tensors kept in files beside the model (external data) are read into its bytes.
            let bytes = onnx::read_bytes(&path).map_err(to_py)?;
            (bytes, Some(path))
        };
        source.py().detach(|| PyModel::load(bytes, path)).map_err(to_py)
    }

    /// The shape of one sample (the model's input without the batch axis).
    #[getter]
    fn input_shape<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, self.inner.input_shape())
    }

    /// The number of classes (logits).
    #[getter]
    fn num_classes(&self) -> usize {
        self.inner.num_classes()
    }

    /// The trainable parameters — the weights DeepFool moves by default — by name, with their
    /// sizes (numbers of values), in the model's order.
    #[getter]
    fn parameters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for t in self.inner.tensors().iter().filter(|t| matches!(t.role, Role::Trainable { .. })) {
            d.set_item(&t.name, t.data.len())?;
        }
        Ok(d)
    }

    /// The float initializers of the model by name, as float32 arrays of their ONNX shapes (what
    /// [`Model.with_weights`] takes).
    fn weights<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        use numpy::{IntoPyArray, PyArrayMethods};
        let set = onnx::weights::initializers(&self.bytes).map_err(to_py)?;
        let mut names: Vec<&String> = set.keys().collect();
        names.sort();
        let d = PyDict::new(py);
        for name in names {
            let (shape, values) = &set[name];
            d.set_item(name, values.clone().into_pyarray(py).reshape(shape.clone())?)?;
        }
        Ok(d)
    }

    /// The ONNX bytes of this model with other weights: `weights` maps initializer names to
    /// float32 arrays (a `state_dict`'s tensors), or is the path of a safetensors file. Every
    /// tensor must match an initializer of the same shape, and every trainable parameter must be
    /// given (`Model.with_weights` wraps this).
    fn _with_weights<'py>(&self, py: Python<'py>, weights: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
        let (set, source) = match weights.cast::<PyDict>() {
            Ok(d) => {
                let mut set = wbound::onnx::weights::WeightSet::new();
                for (k, v) in d.iter() {
                    let name: String = k.extract()?;
                    let a: numpy::PyReadonlyArrayDyn<'_, f32> = v.extract().map_err(|_| {
                        crate::errors::WboundError::new_err(format!("weight '{name}' is not a float32 numpy array"))
                    })?;
                    set.insert(name, (a.shape().to_vec(), a.as_array().iter().copied().collect()));
                }
                (set, None)
            }
            Err(_) => {
                let path: PathBuf = weights.extract()?;
                (wbound::checkpoints::weights::read(&path).map_err(to_py)?, Some(path))
            }
        };
        let bytes = &self.bytes;
        let patched = py
            .detach(|| {
                let patched = wbound::onnx::with_weights(bytes, &set)?;
                wbound::checkpoints::weights::check_covered(&self.inner, &set)?;
                Ok(patched)
            })
            .map_err(|e: Error| {
                to_py(match &source {
                    Some(p) => e.in_file(p),
                    None => e,
                })
            })?;
        Ok(PyBytes::new(py, &patched))
    }

    /// The file the model was read from, if any.
    #[getter]
    fn path(&self) -> Option<String> {
        self.path.as_ref().map(|p| p.display().to_string())
    }

    /// The model's ONNX bytes.
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.bytes)
    }

    /// What `wbound inspect` prints, as a dict.
    fn inspect<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let summary = onnx::summarize(&self.bytes).map_err(to_py)?;
        let (model, g) = (&self.inner, self.inner.graph());
        let d = PyDict::new(py);
        d.set_item("model", self.path.as_ref().map(|p| p.display().to_string()))?;
        d.set_item("producer", &summary.producer)?;
        d.set_item("opset", summary.opset)?;
        let ops = PyDict::new(py);
        for (op, count) in &summary.op_counts {
            let entry = PyDict::new(py);
            entry.set_item("count", count)?;
            entry.set_item("supported", onnx::is_supported(op))?;
            ops.set_item(op, entry)?;
        }
        d.set_item("ops", ops)?;
        let value = |id: usize| -> PyResult<Bound<'py, PyDict>> {
            let v = PyDict::new(py);
            v.set_item("name", &g.values[id].name)?;
            v.set_item("shape", PyTuple::new(py, &g.values[id].shape[1..])?)?;
            Ok(v)
        };
        d.set_item("input", value(g.input)?)?;
        let output = value(g.output)?;
        output.set_item("classes", model.num_classes())?;
        d.set_item("output", output)?;
        // As `wbound inspect` lists them: every tensor but the importer's own constants, with
        // its role and why it has it; then the float initializers no node reads as a tensor.
        let params = PyList::empty(py);
        for t in model.tensors().iter().filter(|t| t.reason != Reason::Internal) {
            let role = match t.role {
                Role::Trainable { .. } => "trainable",
                Role::Constant => "constant",
                Role::Statistic => "statistic",
            };
            let p = PyDict::new(py);
            p.set_item("name", &t.name)?;
            p.set_item("shape", PyTuple::new(py, &t.shape)?)?;
            p.set_item("count", t.data.len())?;
            p.set_item("role", role)?;
            p.set_item("why", t.reason.to_string())?;
            params.append(p)?;
        }
        let in_graph: HashSet<&str> = model.tensors().iter().map(|t| t.name.as_str()).collect();
        let parts: HashSet<&str> =
            model.tensors().iter().map(|t| t.name.split('[').next().unwrap_or(&t.name)).collect();
        let folded = PyDict::new(py);
        for (name, count) in &summary.float_initializers {
            if !in_graph.contains(name.as_str()) && !parts.contains(name.as_str()) {
                folded.set_item(name, count)?;
            }
        }
        d.set_item("folded_or_unused", folded)?;
        d.set_item("parameters", params)?;
        d.set_item("trainable", model.num_trainable())?;
        let m = model.num_classes() - 1;
        let engine = Engine::new(g, Selection::new(g, ParamSelection::All.resolve(g).map_err(to_py)?), m);
        let c = engine.step_cost(m, DualNorm::L2);
        let cost = PyDict::new(py);
        for (k, v) in [("forward", c.forward), ("backward", c.backward), ("norms", c.norms), ("gradient", c.gradient)] {
            cost.set_item(k, v)?;
        }
        cost.set_item("total", c.total())?;
        d.set_item("step_multiply_adds", cost)?;
        d.set_item("memory_per_worker", engine.workspace_bytes())?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        let source = self.path.as_ref().map_or("<bytes>".to_string(), |p| format!("{:?}", p.display().to_string()));
        let dims: Vec<String> = self.inner.input_shape().iter().map(|d| d.to_string()).collect();
        let shape = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
        format!(
            "Model({source}, input_shape={shape}, num_classes={}, trainable={})",
            self.inner.num_classes(),
            self.inner.num_trainable()
        )
    }
}
