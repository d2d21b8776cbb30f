//! wbound's errors as Python exceptions: each library error becomes the exception class of its
//! kind (defined in `wbound/_errors.py`, so that they can also derive from `ValueError`,
//! `FileNotFoundError`, ...), with the library's message — the one the CLI prints.

use pyo3::exceptions::PyKeyboardInterrupt;
use pyo3::PyErr;
use wbound::Error;

pyo3::import_exception!(wbound._errors, WboundError);
pyo3::import_exception!(wbound._errors, ModelError);
pyo3::import_exception!(wbound._errors, UnsupportedModelError);
pyo3::import_exception!(wbound._errors, DataError);
pyo3::import_exception!(wbound._errors, SettingError);
pyo3::import_exception!(wbound._errors, ResourceError);
pyo3::import_exception!(wbound._errors, WboundOSError);
pyo3::import_exception!(wbound._errors, MissingFileError);

/// The Python exception for a library error.
pub fn to_py(e: Error) -> PyErr {
    let msg = e.to_string();
    let mut kind = &e;
    while let Error::File { cause, .. } = kind {
        kind = cause;
    }
    match kind {
        Error::Io { cause, .. } if cause.kind() == std::io::ErrorKind::NotFound => MissingFileError::new_err(msg),
        Error::Io { .. } => WboundOSError::new_err(msg),
        Error::OnnxFormat(_) | Error::Graph(_) | Error::Checkpoint(_) => ModelError::new_err(msg),
        Error::UnsupportedOps(_) | Error::Node { .. } => UnsupportedModelError::new_err(msg),
        Error::Data(_) | Error::NonFiniteInput { .. } => DataError::new_err(msg),
        Error::Config(_) | Error::Setting { .. } => SettingError::new_err(msg),
        Error::Resources(_) => ResourceError::new_err(msg),
        Error::Cancelled => PyKeyboardInterrupt::new_err(msg),
        _ => WboundError::new_err(msg),
    }
}

/// A setting the bindings parse themselves (a norm, a reference given as text), worded as the
/// library words [`Error::Setting`].
pub fn setting(name: &'static str, msg: impl Into<String>) -> PyErr {
    to_py(Error::Setting { name, msg: msg.into() })
}
