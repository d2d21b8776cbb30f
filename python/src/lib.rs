//! `wbound._wbound`: the native half of the Python package `wbound` — [`model::PyModel`]
//! (`wbound.Model`), the run settings and scoring ([`run`]), scores as numpy columns
//! ([`columns`]) and the library's errors as Python exceptions ([`errors`]). Every number and
//! every check comes from the `wbound` library; the pure-Python layer (`python/wbound/`) adds the
//! conveniences (DataFrames, the influenciae drop-in, torch/Keras export, label issues).

mod checkpoints;
mod columns;
mod errors;
mod model;
mod run;

use pyo3::prelude::*;

#[pymodule]
fn _wbound(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<model::PyModel>()?;
    m.add_class::<run::Calculator>()?;
    m.add_class::<run::TopKSelector>()?;
    m.add_class::<checkpoints::PyCheckpoints>()?;
    m.add("COLUMNS", wbound::columns::COLUMNS.to_vec())?;
    m.add("CHECKPOINT_COLUMNS", wbound::columns::CHECKPOINT_COLUMNS.to_vec())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
