//! Which weights DeepFool moves: all trainable parameters (influenciae's choice), the last
//! parametrised layer (a closed form: the model is linear in it), or a glob over tensor names.

use crate::error::{Error, Result};
use crate::graph::{Graph, Reason, Role, TensorId};
use std::fmt;

/// A choice of weights to move.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ParamSelection {
    /// Every trainable parameter.
    #[default]
    All,
    /// The parameters of the last layer that has any (weight and bias).
    Last,
    /// Tensors whose name matches a glob (`*`, `?`, `[...]`); BatchNormalization running
    /// statistics and the importer's own scalars (a LayerNormalization's ε) are never selected.
    Glob(String),
}

impl std::str::FromStr for ParamSelection {
    type Err = String;
    fn from_str(s: &str) -> Result<ParamSelection, String> {
        Ok(match s {
            "all" => ParamSelection::All,
            "last" => ParamSelection::Last,
            glob => ParamSelection::Glob(glob.to_string()),
        })
    }
}

impl fmt::Display for ParamSelection {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            ParamSelection::All => f.write_str("all"),
            ParamSelection::Last => f.write_str("last"),
            ParamSelection::Glob(g) => f.write_str(g),
        }
    }
}

impl ParamSelection {
    /// The selected tensors of `graph`; an error when the choice selects nothing.
    pub fn resolve(&self, graph: &Graph) -> Result<Vec<TensorId>> {
        let t = &graph.tensors;
        let trainable = |i: &usize| matches!(t[*i].role, Role::Trainable { .. });
        let ids: Vec<TensorId> = match self {
            ParamSelection::All => (0..t.len()).filter(trainable).collect(),
            ParamSelection::Last => {
                let last = t.iter().filter_map(|x| match x.role {
                    Role::Trainable { layer } => Some(layer),
                    _ => None,
                });
                match last.max() {
                    Some(l) => (0..t.len()).filter(|&i| t[i].role == Role::Trainable { layer: l }).collect(),
                    None => Vec::new(),
                }
            }
            ParamSelection::Glob(g) => {
                let pat = glob::Pattern::new(g)
                    .map_err(|e| Error::setting("params", format!("'{g}' is not a valid glob: {e}")))?;
                // Importer-made scalars (an epsilon) are not the model's: no glob reaches them.
                let ids: Vec<_> = (0..t.len())
                    .filter(|&i| {
                        t[i].role != Role::Statistic && t[i].reason != Reason::Internal && pat.matches(&t[i].name)
                    })
                    .collect();
                if ids.is_empty() {
                    let names: Vec<&str> =
                        t.iter().filter(|x| x.role != Role::Statistic).map(|x| x.name.as_str()).take(12).collect();
                    return Err(Error::setting(
                        "params",
                        format!("'{g}' matches no parameter; the model's parameters include: {}", names.join(", ")),
                    ));
                }
                ids
            }
        };
        if ids.is_empty() {
            return Err(Error::Graph(
                "the model has no trainable parameters (no MatMul, Gemm, Conv or BatchNormalization weights)".into(),
            ));
        }
        Ok(ids)
    }
}
