//! Scores as Python values: one numpy array (or list) per output column, in the order of
//! [`wbound::columns::COLUMNS`], and the top-k triple.

use numpy::{IntoPyArray, PyArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};
use wbound::{SampleScore, Status, TopK};

use crate::errors::WboundError;

/// Columns of numbers, one value per result row; a row not scored (`invalid_input`) has no
/// classes (`None`, as the CSV's empty cells). Shared by every kind of result row.
pub struct Cells<'py, 'a, T> {
    pub py: Python<'py>,
    pub rows: &'a [T],
    pub status: fn(&T) -> Status,
}

impl<'py, T> Cells<'py, '_, T> {
    /// A float64 array.
    pub fn floats(&self, f: impl Fn(&T) -> f64) -> Bound<'py, PyAny> {
        self.rows.iter().map(f).collect::<Vec<f64>>().into_pyarray(self.py).into_any()
    }

    /// An int64 array.
    pub fn ints(&self, f: impl Fn(&T) -> i64) -> Bound<'py, PyAny> {
        self.rows.iter().map(f).collect::<Vec<i64>>().into_pyarray(self.py).into_any()
    }

    /// A class column: int64, or a list with `None` where a row was not scored.
    pub fn classes(&self, f: impl Fn(&T) -> i64) -> PyResult<Bound<'py, PyAny>> {
        let scored = |r: &T| (self.status)(r) != Status::InvalidInput;
        if self.rows.iter().all(scored) {
            Ok(self.ints(f))
        } else {
            Ok(PyList::new(self.py, self.rows.iter().map(|r| scored(r).then(|| f(r))))?.into_any())
        }
    }

    /// The status names.
    pub fn statuses(&self) -> PyResult<Bound<'py, PyAny>> {
        Ok(PyList::new(self.py, self.rows.iter().map(|r| (self.status)(r).as_str()))?.into_any())
    }

    /// Indices `start..start + rows`.
    pub fn index(&self, start: usize) -> Bound<'py, PyAny> {
        (start as i64..(start + self.rows.len()) as i64).collect::<Vec<i64>>().into_pyarray(self.py).into_any()
    }
}

/// The error for a column of the library's list that has no conversion here.
pub fn unknown(name: &str) -> PyErr {
    WboundError::new_err(format!(
        "the output column '{name}' has no Python conversion yet; please report this as a bug"
    ))
}

/// The output columns of `scores`, samples `start..`; a sample that was not scored
/// (`invalid_input`) has no classes (`None`, as the CSV's empty cells).
pub fn columns<'py>(py: Python<'py>, start: usize, scores: &[SampleScore]) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let c = Cells { py, rows: scores, status: |s: &SampleScore| s.status };
    for &name in wbound::columns::COLUMNS {
        let column = match name {
            "index" => c.index(start),
            "score" => c.floats(|s| s.score),
            "distance" => c.floats(|s| s.distance),
            "steps" => c.ints(|s| s.steps as i64),
            "status" => c.statuses()?,
            "original_class" => c.classes(|s| s.original_class as i64)?,
            "final_class" => c.classes(|s| s.final_class as i64)?,
            other => return Err(unknown(other)),
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
