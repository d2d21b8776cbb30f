//! Scores as Python values: one numpy array (or list) per output column, in the order of
//! [`wbound::columns::COLUMNS`], and the top-k triple.

use numpy::{IntoPyArray, PyArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};
use wbound::{SampleScore, Status, TopK};

use crate::errors::WboundError;

/// The output columns of `scores`, samples `start..`; a sample that was not scored
/// (`invalid_input`) has no classes (`None`, as the CSV's empty cells).
pub fn columns<'py>(py: Python<'py>, start: usize, scores: &[SampleScore]) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let floats = |f: fn(&SampleScore) -> f64| scores.iter().map(f).collect::<Vec<f64>>().into_pyarray(py).into_any();
    let ints = |f: fn(&SampleScore) -> i64| scores.iter().map(f).collect::<Vec<i64>>().into_pyarray(py).into_any();
    let classes = |f: fn(&SampleScore) -> i64| -> PyResult<Bound<'py, PyAny>> {
        if scores.iter().any(|s| s.status == Status::InvalidInput) {
            let cells = scores.iter().map(|s| (s.status != Status::InvalidInput).then(|| f(s)));
            Ok(PyList::new(py, cells)?.into_any())
        } else {
            Ok(ints(f))
        }
    };
    for &name in wbound::columns::COLUMNS {
        let column = match name {
            "index" => (start as i64..(start + scores.len()) as i64).collect::<Vec<i64>>().into_pyarray(py).into_any(),
            "score" => floats(|s| s.score),
            "distance" => floats(|s| s.distance),
            "steps" => ints(|s| s.steps as i64),
            "status" => PyList::new(py, scores.iter().map(|s| s.status.as_str()))?.into_any(),
            "original_class" => classes(|s| s.original_class as i64)?,
            "final_class" => classes(|s| s.final_class as i64)?,
            other => {
                return Err(WboundError::new_err(format!(
                    "the output column '{other}' has no Python conversion yet; please report this as a bug"
                )))
            }
        };
        d.set_item(name, column)?;
    }
    Ok(d)
}

/// `(indices, columns, samples)` of a top-k, best first; `samples` has shape `[k, *sample_shape]`.
pub fn top_k<'py>(py: Python<'py>, top: TopK, sample_shape: &[usize]) -> PyResult<Bound<'py, PyTuple>> {
    let indices: Vec<i64> = top.indices.iter().map(|&i| i as i64).collect();
    let cols = columns(py, 0, &top.scores)?;
    cols.set_item("index", indices.clone().into_pyarray(py))?;
    let mut shape = vec![top.indices.len()];
    shape.extend_from_slice(sample_shape);
    let samples = top.samples.into_pyarray(py).reshape(shape)?;
    PyTuple::new(py, [indices.into_pyarray(py).into_any(), cols.into_any(), samples.into_any()])
}
