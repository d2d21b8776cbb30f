//! The library's error type: every failure names what it was looking at (the file, the node and
//! its op type, the shapes) and, where there is one, what to do about it.

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while loading a model or data, or configuring a run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written. (The message includes the OS error, so it is not
    /// also reported as a `source`: error chains print each cause once.)
    #[error("{}: {cause}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        cause: std::io::Error,
    },

    /// The bytes are not a valid ONNX model (truncated, not protobuf, missing graph, ...).
    #[error("not a valid ONNX model: {0}")]
    OnnxFormat(String),

    /// Op types wbound does not implement: every one in the model, found before anything is built.
    #[error("{}", unsupported_message(.0))]
    UnsupportedOps(Vec<UnsupportedOp>),

    /// A supported op used in a way wbound cannot handle (attribute, shapes, operand kinds).
    #[error("node '{node}' ({op}): {msg}")]
    Node {
        /// The node's name.
        node: String,
        /// Its op type.
        op: String,
        /// What is wrong and, where there is one, what to do.
        msg: String,
    },

    /// A graph-level problem (inputs, outputs, unknown values).
    #[error("model graph: {0}")]
    Graph(String),

    /// Data that does not fit the model or cannot be used (shape, dtype, labels, empty).
    #[error("{0}")]
    Data(String),

    /// A sample holds NaN or ∞ (found before any work; the calculator's `skip_invalid` scores the
    /// others instead and marks it `invalid_input`).
    #[error(
        "sample {sample} holds a non-finite value ({value}) at position {position}; clean or drop it before \
         scoring, or skip it: the other samples are scored and it is marked invalid_input"
    )]
    NonFiniteInput {
        /// The first such sample's index in the data set.
        sample: usize,
        /// The position of the value in the flattened sample.
        position: usize,
        /// The value (NaN, inf or -inf).
        value: f32,
    },

    /// An invalid setting outside a run's own settings (preprocessing, the benchmark, weights to
    /// write).
    #[error("invalid setting: {0}")]
    Config(String),

    /// An invalid value of one of a run's settings, named as the library's builder names it
    /// (`eps`, `params`, `threads`, `batch_size`, `candidate_classes`, `reference`, `k`); front
    /// ends (the CLI's flags, Python's keyword arguments) name their own option where it differs.
    #[error("invalid {name}: {msg}")]
    Setting {
        /// The setting.
        name: &'static str,
        /// What is wrong with its value and, where there is one, what to do.
        msg: String,
    },

    /// Checkpoints that do not fit together (graphs that differ, weight files whose tensors do
    /// not match the model's): the first difference, or every tensor that does not match.
    #[error("{0}")]
    Checkpoint(String),

    /// The run would need more memory than allowed.
    #[error("not enough memory: {0}")]
    Resources(String),

    /// The run was stopped through its cancel flag.
    #[error("cancelled")]
    Cancelled,

    /// A worker thread panicked while scoring (a bug in wbound, not in the data): the panic's
    /// message.
    #[error("a worker thread panicked while scoring ({0}); please report this as a bug")]
    WorkerPanic(String),

    /// An error about a specific file (wraps one of the above with the path; the message includes
    /// the inner one).
    #[error("{}: {cause}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// The error about it.
        cause: Box<Error>,
    },
}

/// One op type of a model that wbound does not implement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsupportedOp {
    /// `op_type`, or `domain:op_type` outside the default ONNX domain.
    pub op: String,
    /// How many nodes use it.
    pub count: usize,
    /// The first such node's name.
    pub first_node: String,
    /// The model's default-domain opset.
    pub opset: i64,
}

fn unsupported_message(ops: &[UnsupportedOp]) -> String {
    let lines: Vec<String> = ops
        .iter()
        .map(|u| {
            let nodes = if u.count == 1 { "1 node".to_string() } else { format!("{} nodes", u.count) };
            format!("{} ({nodes}, first '{}', opset {})", u.op, u.first_node, u.opset)
        })
        .collect();
    format!(
        "the model uses {} op type{} wbound does not support: {}; re-export without them (another opset, or \
         torch.onnx.export(..., dynamo=False)), or file an issue naming the op (`wbound inspect` lists every op)",
        ops.len(),
        if ops.len() == 1 { "" } else { "s" },
        lines.join("; ")
    )
}

impl Error {
    /// Attaches the path of the file the error is about.
    pub fn in_file(self, path: impl Into<PathBuf>) -> Error {
        match self {
            e @ (Error::Io { .. } | Error::File { .. }) => e,
            e => Error::File { path: path.into(), cause: Box::new(e) },
        }
    }

    pub(crate) fn setting(name: &'static str, msg: impl Into<String>) -> Error {
        Error::Setting { name, msg: msg.into() }
    }

    pub(crate) fn node(node: &str, op: &str, msg: impl Into<String>) -> Error {
        Error::Node { node: node.to_string(), op: op.to_string(), msg: msg.into() }
    }
}
