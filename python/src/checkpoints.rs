//! Scoring several checkpoints of one model from Python: the library's
//! [`wbound::CheckpointCalculator`] with the run's settings, its rows as numpy columns (the CLI's
//! checkpoint CSV: `wbound::columns::CHECKPOINT_COLUMNS`, then `score_<k>` per checkpoint).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use numpy::{PyReadonlyArray1, PyReadonlyArrayDyn};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use wbound::checkpoints::{CheckpointCalculator, Checkpoints};
use wbound::{CheckpointScore, Model};

use crate::columns::{unknown, Cells};
use crate::errors::to_py;
use crate::model::PyModel;
use crate::run::{borrow, drive, Progress, Settings};

/// The checkpoints and the settings of a run over them.
#[pyclass(frozen, module = "wbound._wbound", name = "CheckpointCalculator")]
pub struct PyCheckpoints {
    checkpoints: Arc<Checkpoints>,
    early_steps: Option<usize>,
    settings: Settings,
}

#[pymethods]
impl PyCheckpoints {
    #[new]
    #[pyo3(signature = (models, *, steps, early_steps, norm, eps, params, batch_size, threads, skip_invalid))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        models: Vec<Bound<'_, PyModel>>,
        steps: usize,
        early_steps: Option<usize>,
        norm: &str,
        eps: f32,
        params: &str,
        batch_size: usize,
        threads: Option<usize>,
        skip_invalid: bool,
    ) -> PyResult<PyCheckpoints> {
        let named: Vec<(String, Model)> = models
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let name = m.get().path_or(&format!("checkpoint {}", i + 1));
                (name, Model::clone(&m.get().inner))
            })
            .collect();
        Ok(PyCheckpoints {
            checkpoints: Arc::new(Checkpoints::new(named).map_err(to_py)?),
            early_steps,
            settings: Settings::new(steps, norm, eps, params, batch_size, threads, skip_invalid)?,
        })
    }

    /// Scores every sample of `x` on every checkpoint: the output columns by name (with
    /// `per_checkpoint`, `score_1 … score_K` too).
    #[pyo3(signature = (x, labels=None, progress=None, per_checkpoint=false))]
    fn score<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArrayDyn<'py, f32>,
        labels: Option<PyReadonlyArray1<'py, i64>>,
        progress: Option<Bound<'py, PyAny>>,
        per_checkpoint: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        let data = borrow(&x, labels.as_ref())?;
        let cancel = AtomicBool::new(false);
        let progress = Progress { callback: progress.as_ref(), total: Some(wbound::Dataset::len(&data)), start: 0 };
        let scores = drive(py, &cancel, &progress, |done| {
            let base = self.settings.calculator(self.checkpoints.last(), &cancel);
            let calc = CheckpointCalculator::new(&base, &self.checkpoints).early_steps(self.early_steps);
            let mut all = Vec::new();
            for batch in calc.compute(&data)? {
                let batch = batch?;
                done.fetch_add(batch.scores.len(), Ordering::Relaxed);
                all.extend(batch.scores);
            }
            Ok(all)
        })?;
        columns(py, &scores, per_checkpoint.then_some(self.checkpoints.len()))
    }

    /// Number of checkpoints.
    fn __len__(&self) -> usize {
        self.checkpoints.len()
    }
}

/// The checkpoint columns of `scores`; a sample not scored (`invalid_input`) has no classes.
fn columns<'py>(
    py: Python<'py>,
    scores: &[CheckpointScore],
    per_checkpoint: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let c = Cells { py, rows: scores, status: |s: &CheckpointScore| s.status };
    for &name in wbound::columns::CHECKPOINT_COLUMNS {
        let column = match name {
            "index" => c.index(0),
            "score" => c.floats(|s| s.score),
            "aum" => c.floats(|s| s.aum),
            "mean_loss" => c.floats(|s| s.mean_loss),
            "label" => c.ints(|s| s.label as i64),
            "prediction" => c.classes(|s| s.prediction as i64)?,
            "suggested_label" => c.classes(|s| s.suggested_label as i64)?,
            "final_class" => c.classes(|s| s.final_class as i64)?,
            "steps" => c.ints(|s| s.steps as i64),
            "status" => c.statuses()?,
            other => return Err(unknown(other)),
        };
        d.set_item(name, column)?;
    }
    for k in 0..per_checkpoint.unwrap_or(0) {
        d.set_item(format!("score_{}", k + 1), c.floats(|s| s.scores[k]))?;
    }
    Ok(d)
}
