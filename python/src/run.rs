//! Scoring from Python: the run's settings, numpy arrays seen as a [`Dataset`] without a copy,
//! and the driver that scores on threads of its own while the calling thread waits without the
//! GIL — waking every 50 ms to report progress and to check for Ctrl-C, which stops the run
//! through the library's cancel flag and raises `KeyboardInterrupt`.

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use numpy::{PyReadonlyArray1, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;
use wbound::{Dataset, Model, Norm, Order, ParamSelection, Reference, SampleScore, WeightsBoundaryCalculator};

use crate::columns;
use crate::errors::{self, to_py};
use crate::model::PyModel;

/// How often the waiting thread wakes.
const POLL: Duration = Duration::from_millis(50);

/// Samples held by numpy, borrowed for the run.
pub(crate) struct Borrowed<'a> {
    shape: Vec<usize>,
    values: &'a [f32],
    labels: Option<&'a [i64]>,
}

impl Dataset for Borrowed<'_> {
    fn len(&self) -> usize {
        match self.shape.iter().product::<usize>() {
            0 => 0,
            n => self.values.len() / n,
        }
    }

    fn sample_shape(&self) -> &[usize] {
        &self.shape
    }

    fn read(&self, start: usize, count: usize, out: &mut Vec<f32>) -> wbound::Result<()> {
        let n: usize = self.shape.iter().product();
        out.extend_from_slice(&self.values[start * n..(start + count) * n]);
        Ok(())
    }

    fn labels(&self) -> Option<&[i64]> {
        self.labels
    }
}

/// The DeepFool settings every run takes (one model or checkpoints), as the library's calculator
/// takes them.
pub(crate) struct Settings {
    steps: usize,
    norm: Norm,
    eps: f32,
    params: ParamSelection,
    batch_size: usize,
    threads: Option<usize>,
    skip_invalid: bool,
}

impl Settings {
    /// The settings from the Python arguments (the norm parsed here, the rest checked by the
    /// library when a run starts).
    pub(crate) fn new(
        steps: usize,
        norm: &str,
        eps: f32,
        params: &str,
        batch_size: usize,
        threads: Option<usize>,
        skip_invalid: bool,
    ) -> PyResult<Settings> {
        Ok(Settings {
            steps,
            norm: Norm::from_str(norm).map_err(|e| errors::setting("norm", e))?,
            eps,
            params: ParamSelection::from_str(params).unwrap_or_default(),
            batch_size,
            threads,
            skip_invalid,
        })
    }

    /// The library's calculator for `model` with these settings, stopped through `cancel`.
    pub(crate) fn calculator<'m>(&'m self, model: &'m Model, cancel: &'m AtomicBool) -> WeightsBoundaryCalculator<'m> {
        let calc = WeightsBoundaryCalculator::new(model)
            .step_nbr(self.steps)
            .norm(self.norm)
            .eps(self.eps)
            .params(self.params.clone())
            .batch_size(self.batch_size)
            .skip_invalid(self.skip_invalid)
            .cancel_flag(cancel);
        match self.threads {
            Some(t) => calc.threads(t),
            None => calc,
        }
    }
}

/// The settings of a one-model run.
#[pyclass(frozen, module = "wbound._wbound", name = "Calculator")]
pub struct Calculator {
    model: Arc<Model>,
    reference: Reference,
    settings: Settings,
}

impl Calculator {
    fn calculator<'m>(&'m self, cancel: &'m AtomicBool) -> WeightsBoundaryCalculator<'m> {
        self.settings.calculator(&self.model, cancel).reference(self.reference)
    }
}

/// `x` (float32, C-contiguous, `[N, *sample]`) and `labels` (int64, `[N]`) as a data set.
pub(crate) fn borrow<'a>(
    x: &'a PyReadonlyArrayDyn<'_, f32>,
    labels: Option<&'a PyReadonlyArray1<'_, i64>>,
) -> PyResult<Borrowed<'a>> {
    let shape = x.shape();
    if shape.is_empty() {
        return Err(to_py(wbound::Error::Data(
            "x is a single number; give an array of samples, shape [N, *sample_shape]".into(),
        )));
    }
    let values = x.as_slice().map_err(|e| errors::WboundError::new_err(format!("x is not contiguous: {e}")))?;
    let labels = match labels {
        Some(l) => {
            let l =
                l.as_slice().map_err(|e| errors::WboundError::new_err(format!("labels are not contiguous: {e}")))?;
            if l.len() != shape[0] {
                return Err(to_py(wbound::Error::Data(format!(
                    "{} labels given for {} samples; give exactly one label per sample",
                    l.len(),
                    shape[0]
                ))));
            }
            Some(l)
        }
        None => None,
    };
    Ok(Borrowed { shape: shape[1..].to_vec(), values, labels })
}

/// What the run reports while it goes: samples done.
pub(crate) struct Progress<'py, 'a> {
    pub(crate) callback: Option<&'a Bound<'py, PyAny>>,
    pub(crate) total: Option<usize>,
    /// Added to the count reported (samples done by earlier calls).
    pub(crate) start: usize,
}

/// Runs `job` on a thread of its own while this thread waits without the GIL; see the module
/// doc. `job` counts the samples it has done in its argument.
pub(crate) fn drive<T: Send>(
    py: Python<'_>,
    cancel: &AtomicBool,
    progress: &Progress,
    job: impl FnOnce(&AtomicUsize) -> wbound::Result<T> + Send,
) -> PyResult<T> {
    let done = AtomicUsize::new(0);
    let slot: (Mutex<Option<wbound::Result<T>>>, Condvar) = (Mutex::new(None), Condvar::new());
    std::thread::scope(|s| {
        let worker = s.spawn(|| {
            let r = job(&done);
            let (lock, ready) = &slot;
            *lock.lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
            ready.notify_all();
        });
        let mut reported = usize::MAX;
        let mut failure: Option<PyErr> = None;
        loop {
            let finished = py.detach(|| {
                let (lock, ready) = &slot;
                let guard = lock.lock().unwrap_or_else(|p| p.into_inner());
                let (guard, _) =
                    ready.wait_timeout_while(guard, POLL, |r| r.is_none()).unwrap_or_else(|p| p.into_inner());
                guard.is_some()
            }) || worker.is_finished();
            if failure.is_none() {
                let n = done.load(Ordering::Relaxed);
                let report = match progress.callback {
                    Some(cb) if n != reported => {
                        reported = n;
                        cb.call1((progress.start + n, progress.total)).map(drop)
                    }
                    _ => Ok(()),
                };
                if let Err(e) = report.and_then(|()| py.check_signals()) {
                    // Ctrl-C (KeyboardInterrupt) or a failing callback: stop the run, then raise.
                    cancel.store(true, Ordering::Relaxed);
                    failure = Some(e);
                }
            }
            if finished {
                break;
            }
        }
        let joined = py.detach(|| worker.join());
        if let Some(e) = failure {
            return Err(e);
        }
        if joined.is_err() {
            return Err(errors::WboundError::new_err("the scoring thread panicked; please report this as a bug"));
        }
        let result = slot.0.lock().unwrap_or_else(|p| p.into_inner()).take();
        match result {
            Some(r) => r.map_err(to_py),
            None => {
                Err(errors::WboundError::new_err("the scoring thread returned nothing; please report this as a bug"))
            }
        }
    })
}

#[pymethods]
impl Calculator {
    #[new]
    #[pyo3(signature = (model, *, steps, norm, eps, params, reference, batch_size, threads, skip_invalid))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        model: &Bound<'_, PyModel>,
        steps: usize,
        norm: &str,
        eps: f32,
        params: &str,
        reference: &str,
        batch_size: usize,
        threads: Option<usize>,
        skip_invalid: bool,
    ) -> PyResult<Calculator> {
        Ok(Calculator {
            model: Arc::clone(&model.get().inner),
            reference: Reference::from_str(reference).map_err(|e| errors::setting("reference", e))?,
            settings: Settings::new(steps, norm, eps, params, batch_size, threads, skip_invalid)?,
        })
    }

    /// Checks the settings and the data as a run would, without scoring.
    #[pyo3(signature = (x, labels=None))]
    fn validate(
        &self,
        py: Python<'_>,
        x: PyReadonlyArrayDyn<'_, f32>,
        labels: Option<PyReadonlyArray1<'_, i64>>,
    ) -> PyResult<()> {
        let data = borrow(&x, labels.as_ref())?;
        let cancel = AtomicBool::new(false);
        py.detach(|| self.calculator(&cancel).validate(&data)).map_err(to_py)
    }

    /// Scores every sample of `x`: the output columns by name. With `select`, each sample is
    /// also offered to it, as sample `start + i`.
    #[pyo3(signature = (x, labels=None, progress=None, start=0, total=None, select=None))]
    #[allow(clippy::too_many_arguments)]
    fn score<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArrayDyn<'py, f32>,
        labels: Option<PyReadonlyArray1<'py, i64>>,
        progress: Option<Bound<'py, PyAny>>,
        start: usize,
        total: Option<usize>,
        select: Option<&Bound<'py, TopKSelector>>,
    ) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
        let data = borrow(&x, labels.as_ref())?;
        let cancel = AtomicBool::new(false);
        let progress = Progress { callback: progress.as_ref(), total, start };
        let scores = drive(py, &cancel, &progress, |done| {
            let calc = self.calculator(&cancel);
            let mut all: Vec<SampleScore> = Vec::with_capacity(data.len());
            for batch in calc.compute_influence_values(&data)? {
                let batch = batch?;
                done.fetch_add(batch.scores.len(), Ordering::Relaxed);
                all.extend(batch.scores);
            }
            Ok(all)
        })?;
        if let Some(select) = select {
            let n: usize = data.shape.iter().product();
            let mut sel = select.get().inner.lock().unwrap_or_else(|p| p.into_inner());
            let sel = sel.as_mut().ok_or_else(|| errors::WboundError::new_err("this top-k selection is finished"))?;
            for (i, s) in scores.iter().enumerate() {
                sel.push(start + i, *s, &data.values[i * n..(i + 1) * n]);
            }
        }
        columns::columns(py, start, &scores)
    }

    /// The `k` best samples of `x` in `order` ("descending" or "ascending"): their indices, their
    /// output columns and the samples (float32, `[k, *sample]`), best first.
    #[pyo3(signature = (x, k, order, labels=None, progress=None))]
    fn top_k<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArrayDyn<'py, f32>,
        k: usize,
        order: &str,
        labels: Option<PyReadonlyArray1<'py, i64>>,
        progress: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, pyo3::types::PyTuple>> {
        let order = parse_order(order)?;
        let data = borrow(&x, labels.as_ref())?;
        let cancel = AtomicBool::new(false);
        let progress = Progress { callback: progress.as_ref(), total: Some(data.len()), start: 0 };
        // The library's top-k, fed batch by batch so that progress is reported.
        let top = drive(py, &cancel, &progress, |done| {
            let calc = self.calculator(&cancel);
            let mut top = wbound::TopKSelector::new(k, order)?;
            let n: usize = data.shape.iter().product();
            for batch in calc.compute_influence_values(&data)? {
                let batch = batch?;
                for (i, s) in batch.scores.iter().enumerate() {
                    top.push(batch.start + i, *s, &batch.inputs[i * n..(i + 1) * n]);
                }
                done.fetch_add(batch.scores.len(), Ordering::Relaxed);
            }
            Ok(top.finish())
        })?;
        columns::top_k(py, top, &data.shape)
    }
}

pub(crate) fn parse_order(order: &str) -> PyResult<Order> {
    match order.to_ascii_lowercase().as_str() {
        "descending" => Ok(Order::Descending),
        "ascending" => Ok(Order::Ascending),
        _ => Err(errors::setting("order", format!("unknown order '{order}'; expected descending or ascending"))),
    }
}

/// The k best of samples scored by several [`Calculator::score`] calls (an iterable of batches).
#[pyclass(frozen, module = "wbound._wbound", name = "TopKSelector")]
pub struct TopKSelector {
    inner: Mutex<Option<wbound::TopKSelector>>,
    sample_shape: Mutex<Option<Vec<usize>>>,
}

#[pymethods]
impl TopKSelector {
    #[new]
    fn new(k: usize, order: &str) -> PyResult<TopKSelector> {
        let sel = wbound::TopKSelector::new(k, parse_order(order)?).map_err(to_py)?;
        Ok(TopKSelector { inner: Mutex::new(Some(sel)), sample_shape: Mutex::new(None) })
    }

    /// Records the sample shape of the batches (the shape of the samples `finish` returns).
    fn set_sample_shape(&self, shape: Vec<usize>) {
        *self.sample_shape.lock().unwrap_or_else(|p| p.into_inner()) = Some(shape);
    }

    /// The kept samples, as [`Calculator::top_k`] returns them.
    fn finish<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyTuple>> {
        let sel = self.inner.lock().unwrap_or_else(|p| p.into_inner()).take();
        let sel = sel.ok_or_else(|| errors::WboundError::new_err("this top-k selection is finished"))?;
        let shape = self.sample_shape.lock().unwrap_or_else(|p| p.into_inner()).clone().unwrap_or_default();
        columns::top_k(py, sel.finish(), &shape)
    }
}
