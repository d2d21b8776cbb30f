//! The one warning line about the weight space: float tensors that stay fixed (constants by the
//! rules of README "Which weights are parameters") holding more than 1% of the model's floats.

use wbound::{Model, ParamSelection};

/// The warning for `model` scored with `params`, if any (only with the default selection: a
/// glob or `last` is the user's own choice).
pub fn warning(model: &Model, params: &ParamSelection) -> Option<String> {
    if *params != ParamSelection::All {
        return None;
    }
    let (tensors, values) = model.fixed_constants();
    let total = model.float_values();
    (values * 100 > total).then(|| {
        format!(
            "warning: {values} of the model's {total} float values ({:.1}%, in {tensors} tensor{}) stay fixed as \
             constants (by name or use); `wbound inspect` lists each and why, and --params GLOB moves them",
            100.0 * values as f64 / total as f64,
            if tensors == 1 { "" } else { "s" }
        )
    })
}

/// Prints [`warning`] on stderr.
pub fn print(model: &Model, params: &ParamSelection) {
    if let Some(w) = warning(model, params) {
        eprintln!("{w}");
    }
}
