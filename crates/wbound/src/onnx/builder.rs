//! The parsing context the op importers work on: what each ONNX name stands for (a computed value
//! or a constant), the values, nodes and weight tensors of the graph under construction, and the
//! rules that give every float tensor its [`Role`].
//!
//! Constants are known at import: initializers, `Constant` nodes, and anything computed from them
//! alone, which the driver folds ([`Builder::begin`] / [`Builder::finish`]). A float initializer
//! whose name is a framework's parameter name is a *parameter candidate*: it is never folded away;
//! an op that reads it as data gets it as a value ([`Builder::value`], a [`Source`] node), so that
//! it moves like the framework's parameter. Layer weights (MatMul, Gemm, Conv, normalisation, …)
//! are parameters by their use, whatever their name ([`Builder::weight`]).

use std::collections::HashMap;

use super::attr::NodeCtx;
use super::tensor::{ConstData, ConstTensor};
use crate::error::Result;
use crate::graph::{Node, Value};
use crate::ops::{Aux, Inputs, Op, Remap, Source, Weights};
use crate::tensor::{Reason, Role, Tensor, TensorId, ValueId};

/// Index of a constant in the builder.
pub type ConstId = usize;

/// What a name in the ONNX graph stands for.
#[derive(Debug, Clone, Copy)]
pub enum Sym {
    Value(ValueId),
    Const(ConstId),
}

/// Where a constant came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A graph initializer.
    Initializer,
    /// A `Constant` node's value: never a parameter.
    Node,
    /// Computed at import from constants that include no initializer (shape arithmetic, masks,
    /// a zero bias an exporter builds from `0.0`).
    Folded,
    /// Computed at import from initializers' values (a transposed or reshuffled weight): still
    /// a layer's weight where a layer uses it.
    Derived,
    /// The values of initializer `root`, in the same order, under another shape (Reshape,
    /// Unsqueeze, Flatten, … of it): the same parameter.
    View(ConstId),
}

/// A constant known at import.
#[derive(Debug, Clone)]
pub struct Const {
    pub name: String,
    pub t: ConstTensor,
    pub origin: Origin,
}

/// The most values one sample's tensor may hold (1 GiB of f32): a larger claim is a corrupt or
/// hostile file, refused before anything is allocated.
pub const MAX_ELEMENTS: usize = 1 << 28;

/// The element count of `shape`, or `None` past [`MAX_ELEMENTS`].
pub fn element_count(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).filter(|&n| n <= MAX_ELEMENTS)
}

/// Whether an initializer's name is one an exporter generates rather than a framework's parameter
/// name: `onnx::Mul_12` and numeric names (torch.onnx legacy), `val_3` and lifted or traced
/// constants (the dynamo exporter), node-output paths such as `/blocks.0/Constant_output_0`, and
/// tf2onnx's op paths (`model/rescaling/mul/y:0`, `const_fold_opt__7`) — except the ones that read
/// a variable (`…/ReadVariableOp:0`), which are Keras weights.
pub fn exporter_name(name: &str) -> bool {
    if name.contains("ReadVariableOp") {
        return false;
    }
    let numbered = |prefix: &str| {
        name.strip_prefix(prefix).is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|c| c.is_ascii_digit()))
    };
    name.is_empty()
        || name.starts_with("onnx::")
        || name.contains('/')
        || name.contains(':')
        || name.bytes().all(|c| c.is_ascii_digit())
        || numbered("val_")
        || numbered("_val_")
        || name.starts_with("const_fold")
        || name.starts_with("Constant")
        || name.ends_with("_output_0")
        || name.contains("tensor_constant")
        || name.contains("lifted_tensor")
        || name.starts_with("scalar_tensor")
}

/// What one ONNX node added, for [`Builder::finish`].
pub struct Mark {
    nodes: usize,
    values: usize,
    buffers: usize,
    tensors: usize,
}

/// The graph under construction.
pub struct Builder {
    pub opset: i64,
    pub(super) values: Vec<Value>,
    pub(super) buffers: Vec<usize>,
    pub(super) nodes: Vec<Node>,
    pub(super) tensors: Vec<Tensor>,
    consts: Vec<Const>,
    pub(super) syms: HashMap<String, Sym>,
    /// Tensor of each registered constant root, by its name.
    tensor_ids: HashMap<String, TensorId>,
    /// Per value: the node that produced it (`None` for the graph input and views).
    producer: Vec<Option<usize>>,
    /// Per value: it depends on the graph input or on a parameter, so it cannot be folded.
    live: Vec<bool>,
    /// Per value: it holds integers (token ids from an integer graph input).
    integer: Vec<bool>,
    /// Per value: the axis that is the batch axis, where known.
    batch: Vec<Option<usize>>,
    /// The value made of each constant that was fed into the graph as data.
    sources: HashMap<ConstId, ValueId>,
    /// Initializers that could not be decoded, with the reason.
    pub(super) unreadable: HashMap<String, String>,
    /// Embedding tables indexed by the graph input: `(rows, tensor name)`.
    pub index_tables: Vec<(usize, String)>,
}

impl Builder {
    pub fn new(opset: i64) -> Builder {
        Builder {
            opset,
            values: Vec::new(),
            buffers: Vec::new(),
            nodes: Vec::new(),
            tensors: Vec::new(),
            consts: Vec::new(),
            syms: HashMap::new(),
            tensor_ids: HashMap::new(),
            producer: Vec::new(),
            live: Vec::new(),
            integer: Vec::new(),
            batch: Vec::new(),
            sources: HashMap::new(),
            unreadable: HashMap::new(),
            index_tables: Vec::new(),
        }
    }

    // ---- reading a node's inputs ------------------------------------------------------------

    /// The symbol behind input `i` of the node, `None` when absent or empty (an optional input).
    pub fn input(&self, ctx: &NodeCtx, i: usize) -> Result<Option<Sym>> {
        match ctx.node.input.get(i).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(name) => match self.syms.get(name) {
                Some(&s) => Ok(Some(s)),
                None => Err(ctx.err(match self.unreadable.get(name) {
                    Some(why) => why.clone(),
                    None => format!("input '{name}' is not produced by any earlier node, initializer or graph input"),
                })),
            },
        }
    }

    /// Input `i`, which must be present.
    pub fn required(&self, ctx: &NodeCtx, i: usize) -> Result<Sym> {
        self.input(ctx, i)?.ok_or_else(|| ctx.err(format!("missing required input {i}")))
    }

    /// Every input of the node (all required).
    pub fn all_inputs(&self, ctx: &NodeCtx) -> Result<Vec<Sym>> {
        (0..ctx.node.input.len()).map(|i| self.required(ctx, i)).collect()
    }

    /// Input `i` as a computed value; a constant is fed into the graph as one ([`Builder::value_of`]).
    pub fn value(&mut self, ctx: &NodeCtx, i: usize) -> Result<ValueId> {
        let s = self.required(ctx, i)?;
        self.value_of(ctx, s)
    }

    /// `s` as a value: a constant becomes a [`Source`] node reading its tensor (a parameter when
    /// it has a parameter's name), once per constant.
    pub fn value_of(&mut self, ctx: &NodeCtx, s: Sym) -> Result<ValueId> {
        let c = match s {
            Sym::Value(v) => return Ok(v),
            Sym::Const(c) => c,
        };
        if let Some(&v) = self.sources.get(&c) {
            return Ok(v);
        }
        let shape = self.consts[c].t.shape.clone();
        let name = format!("{}/value", self.consts[c].name);
        let t = self.operand(c);
        let v = self.push_named(ctx, &name, Op::Source(Source { tensor: t }), Vec::new(), shape)?;
        let int = self.consts[c].t.as_i64().is_some();
        self.integer[v] = int;
        self.batch[v] = None;
        self.sources.insert(c, v);
        Ok(v)
    }

    /// Input `i` as a constant.
    pub fn constant(&self, ctx: &NodeCtx, i: usize) -> Result<&ConstTensor> {
        match self.required(ctx, i)? {
            Sym::Const(c) => Ok(&self.consts[c].t),
            Sym::Value(_) => Err(ctx.err(format!(
                "input {i} ('{}') depends on the graph input; wbound needs a constant here",
                ctx.node.input[i]
            ))),
        }
    }

    /// Input `i` as constant integers (integral floats are accepted).
    pub fn ints(&self, ctx: &NodeCtx, i: usize) -> Result<Vec<i64>> {
        self.constant(ctx, i)?.to_i64().ok_or_else(|| ctx.err(format!("input {i} must hold integers")))
    }

    /// Optional input `i` as constant integers.
    pub fn opt_ints(&self, ctx: &NodeCtx, i: usize) -> Result<Option<Vec<i64>>> {
        match self.input(ctx, i)? {
            None => Ok(None),
            Some(_) => self.ints(ctx, i).map(Some),
        }
    }

    /// An integer list from attribute `name` (opsets before `attr_until`) or constant input `input`.
    pub fn attr_or_input(&self, ctx: &NodeCtx, name: &str, attr_until: i64, input: usize) -> Result<Option<Vec<i64>>> {
        if self.opset < attr_until {
            return ctx.ints(name);
        }
        self.opt_ints(ctx, input)
    }

    /// Where constant `c` came from.
    pub fn origin(&self, c: ConstId) -> Origin {
        self.consts[c].origin
    }

    pub fn const_of(&self, c: ConstId) -> &ConstTensor {
        &self.consts[c].t
    }

    pub fn value_info(&self, v: ValueId) -> &Value {
        &self.values[v]
    }

    /// The shape of a symbol, value or constant.
    pub fn shape(&self, s: Sym) -> Vec<usize> {
        match s {
            Sym::Value(v) => self.values[v].shape.clone(),
            Sym::Const(c) => self.consts[c].t.shape.clone(),
        }
    }

    /// The operator that computed value `v` (`None`: the graph input, a view, a constant).
    pub fn producer(&self, v: ValueId) -> Option<(usize, &Op)> {
        self.producer[v].map(|n| (n, &self.nodes[n].op))
    }

    /// Whether value `v` holds integers (token ids).
    pub fn is_integer(&self, v: ValueId) -> bool {
        self.integer[v]
    }

    /// The batch axis of value `v`, where known.
    pub fn batch(&self, v: ValueId) -> Option<usize> {
        self.batch[v]
    }

    /// Sets the batch axis of value `v`.
    pub fn set_batch(&mut self, v: ValueId, axis: Option<usize>) {
        self.batch[v] = axis;
    }

    /// Whether value `v` is the graph input, or a view of it.
    pub fn is_graph_input(&self, v: ValueId) -> bool {
        self.values[v].buffer == self.values[0].buffer
    }

    /// An error when `axis` of value `v` is its batch axis: `what` would mix the samples of a batch.
    pub fn refuse_batch_axis(&self, ctx: &NodeCtx, v: ValueId, axes: &[usize], what: &str) -> Result<()> {
        match self.batch[v] {
            Some(b) if axes.contains(&b) => Err(ctx.err(format!(
                "{what} axis {b} of shape {:?}, the batch axis, would mix the samples of a batch",
                self.values[v].shape
            ))),
            _ => Ok(()),
        }
    }

    /// Index the next node will get (its layer id when it holds weights).
    pub fn next_node(&self) -> usize {
        self.nodes.len()
    }

    // ---- constants and tensors --------------------------------------------------------------

    /// The initializer a constant's values come from, when it is one or a view of one.
    fn root(&self, c: ConstId) -> Option<ConstId> {
        match self.consts[c].origin {
            Origin::Initializer => Some(c),
            Origin::View(r) => Some(r),
            Origin::Node | Origin::Folded | Origin::Derived => None,
        }
    }

    /// Whether constant `c` is a parameter candidate: float values from an initializer whose name is
    /// a framework's parameter name.
    pub fn is_param(&self, c: ConstId) -> bool {
        let float = matches!(self.consts[c].t.data, ConstData::F32(_));
        float && self.root(c).is_some_and(|r| !exporter_name(&self.consts[r].name))
    }

    /// Whether any of `syms` is a parameter candidate.
    pub fn any_param(&self, syms: &[Sym]) -> bool {
        syms.iter().any(|s| matches!(*s, Sym::Const(c) if self.is_param(c)))
    }

    /// The tensor of constant `c` (its initializer's, for a view) with `role`, registered once per
    /// root and merged: trainable beats constant; statistics stay statistics.
    pub fn tensor_for(&mut self, c: ConstId, role: Role, reason: Reason) -> TensorId {
        let root = self.root(c).unwrap_or(c);
        let name = self.consts[root].name.clone();
        if let Some(&id) = self.tensor_ids.get(&name) {
            let cur = &mut self.tensors[id];
            let (r, why) = match (cur.role, role) {
                (Role::Statistic, _) => (Role::Statistic, cur.reason),
                (_, Role::Statistic) => (Role::Statistic, reason),
                (Role::Trainable { layer }, _) => (Role::Trainable { layer }, cur.reason),
                (_, r) => (r, reason),
            };
            cur.role = r;
            cur.reason = why;
            return id;
        }
        let t = &self.consts[root].t;
        let id = self.tensors.len();
        self.tensors.push(Tensor { name: name.clone(), shape: t.shape.clone(), data: t.to_f32(), role, reason });
        self.tensor_ids.insert(name, id);
        id
    }

    /// The origin of a constant folded from constants `inputs`: derived from initializers when one
    /// of them is (and the result holds floats), else folded.
    pub fn fold_origin(&self, inputs: &[ConstId], float: bool) -> Origin {
        let from_init = inputs.iter().any(|&c| {
            matches!(self.consts[c].origin, Origin::Initializer | Origin::View(_) | Origin::Derived)
                && matches!(self.consts[c].t.data, ConstData::F32(_))
        });
        if float && from_init {
            Origin::Derived
        } else {
            Origin::Folded
        }
    }

    /// Input `i` as a layer's weight: a parameter by its use, whatever its name — unless it was
    /// computed at import from no initializer at all (a zero bias built from `0.0`), which is a
    /// constant.
    pub fn weight(&mut self, ctx: &NodeCtx, i: usize) -> Result<TensorId> {
        match self.required(ctx, i)? {
            Sym::Const(c) if self.consts[c].origin == Origin::Folded => {
                Ok(self.tensor_for(c, Role::Constant, Reason::Folded))
            }
            Sym::Const(c) => Ok(self.tensor_for(c, Role::Trainable { layer: self.next_node() }, Reason::LayerWeight)),
            Sym::Value(_) => Err(ctx.err(format!(
                "input {i} ('{}') must be a constant weight (initializer), but it is computed from the graph input",
                ctx.node.input[i]
            ))),
        }
    }

    /// Input `i` as a statistic (BatchNormalization's running mean and variance): never moved.
    pub fn statistic(&mut self, ctx: &NodeCtx, i: usize) -> Result<TensorId> {
        match self.required(ctx, i)? {
            Sym::Const(c) => Ok(self.tensor_for(c, Role::Statistic, Reason::Statistic)),
            Sym::Value(_) => Err(ctx.err(format!("input {i} ('{}') must be a constant", ctx.node.input[i]))),
        }
    }

    /// Constant `c` as an operand of element-wise arithmetic or a value source: a parameter when it
    /// is a parameter candidate, else a constant, with the reason.
    pub fn operand(&mut self, c: ConstId) -> TensorId {
        if self.is_param(c) {
            return self.tensor_for(c, Role::Trainable { layer: self.next_node() }, Reason::ParameterName);
        }
        let reason = match (self.root(c), self.consts[c].origin) {
            (Some(_), _) | (None, Origin::Node) => Reason::ExporterName,
            _ => Reason::Folded,
        };
        self.tensor_for(c, Role::Constant, reason)
    }

    /// A scalar constant `<first output>/<step>` as a tensor that never moves.
    pub fn scalar(&mut self, ctx: &NodeCtx, step: &str, value: f32) -> Result<TensorId> {
        let name = format!("{}/{step}", self.stem(ctx));
        let c = self.define_const(
            &name,
            ConstTensor { shape: Vec::new(), data: ConstData::F32(vec![value]) },
            Origin::Node,
        );
        Ok(self.tensor_for(c, Role::Constant, Reason::Internal))
    }

    /// A new float tensor that is a part of tensor data (a recurrent layer's per-direction
    /// weights), named `name`, with the given role.
    pub fn derived_tensor(&mut self, name: &str, shape: Vec<usize>, data: Vec<f32>, role: Role) -> TensorId {
        let id = self.tensors.len();
        let reason = if role == Role::Constant { Reason::Folded } else { Reason::LayerWeight };
        self.tensors.push(Tensor { name: name.to_string(), shape, data, role, reason });
        self.tensor_ids.insert(name.to_string(), id);
        id
    }

    pub fn define_const(&mut self, name: &str, t: ConstTensor, origin: Origin) -> ConstId {
        self.consts.push(Const { name: name.to_string(), t, origin });
        let c = self.consts.len() - 1;
        self.syms.insert(name.to_string(), Sym::Const(c));
        c
    }

    /// Defines the node's output `k` as constant `t` folded from constants.
    pub fn define_output(&mut self, ctx: &NodeCtx, k: usize, t: ConstTensor) -> Result<()> {
        let name = self.output_name(ctx, k)?.to_string();
        self.define_const(&name, t, Origin::Folded);
        Ok(())
    }

    /// Defines the node's output as a view (same values, another shape) of constant `c`: still the
    /// same parameter when `c` is one.
    pub fn define_view(&mut self, ctx: &NodeCtx, c: ConstId, shape: Vec<usize>) -> Result<()> {
        let name = self.out_name(ctx)?.to_string();
        let origin = match self.root(c) {
            Some(r) => Origin::View(r),
            None => Origin::Folded,
        };
        let t = ConstTensor { shape, data: self.consts[c].t.data.clone() };
        self.define_const(&name, t, origin);
        Ok(())
    }

    // ---- values and nodes -------------------------------------------------------------------

    pub(super) fn new_value(&mut self, name: &str, shape: Vec<usize>, buffer: Option<usize>) -> ValueId {
        let buffer = buffer.unwrap_or_else(|| {
            self.buffers.push(shape.iter().product());
            self.buffers.len() - 1
        });
        self.values.push(Value { name: name.to_string(), shape, buffer });
        self.producer.push(None);
        self.live.push(false);
        self.integer.push(false);
        self.batch.push(None);
        let id = self.values.len() - 1;
        self.syms.insert(name.to_string(), Sym::Value(id));
        id
    }

    /// Marks value `v` (the graph input) as live, integer or not, with batch axis 0.
    pub(super) fn set_graph_input(&mut self, v: ValueId, integer: bool) {
        self.live[v] = true;
        self.integer[v] = integer;
        self.batch[v] = Some(0);
    }

    /// Defines the node's output `name` as a view of `src` with another shape (same element count),
    /// with batch axis `batch`.
    pub fn alias(&mut self, ctx: &NodeCtx, src: ValueId, shape: Vec<usize>, batch: Option<usize>) -> Result<ValueId> {
        let name = self.out_name(ctx)?.to_string();
        self.alias_named(ctx, &name, src, shape, batch)
    }

    /// [`Builder::alias`] under any name (an intermediate view of a decomposed op).
    pub fn alias_named(
        &mut self,
        ctx: &NodeCtx,
        name: &str,
        src: ValueId,
        shape: Vec<usize>,
        batch: Option<usize>,
    ) -> Result<ValueId> {
        let from = &self.values[src];
        if element_count(&shape) != Some(from.len()) {
            return Err(ctx.err(format!("cannot view shape {:?} as {:?}: element counts differ", from.shape, shape)));
        }
        let buffer = from.buffer;
        let v = self.new_value(name, shape, Some(buffer));
        self.live[v] = self.live[src];
        self.integer[v] = self.integer[src];
        self.batch[v] = batch;
        Ok(v)
    }

    /// Adds a node computing the node's first output with shape `shape`.
    pub fn push(&mut self, ctx: &NodeCtx, op: Op, inputs: Vec<ValueId>, shape: Vec<usize>) -> Result<ValueId> {
        let name = self.out_name(ctx)?.to_string();
        self.push_named(ctx, &name, op, inputs, shape)
    }

    /// Adds a node computing the node's output `k`.
    pub fn push_output(
        &mut self,
        ctx: &NodeCtx,
        k: usize,
        op: Op,
        inputs: Vec<ValueId>,
        shape: Vec<usize>,
    ) -> Result<ValueId> {
        let name = self.output_name(ctx, k)?.to_string();
        self.push_named(ctx, &name, op, inputs, shape)
    }

    /// Adds a node computing an intermediate value `<first output>/<step>` of an ONNX node that
    /// wbound runs as several of its own (LayerNormalization, LSTM).
    pub fn push_step(
        &mut self,
        ctx: &NodeCtx,
        step: &str,
        op: Op,
        inputs: Vec<ValueId>,
        shape: Vec<usize>,
    ) -> Result<ValueId> {
        let name = format!("{}/{step}", self.stem(ctx));
        self.push_named(ctx, &name, op, inputs, shape)
    }

    /// Adds a node computing value `out_name`. Its batch axis is its first input's, aligned on
    /// the trailing axes ([`Builder::set_batch`] overrides it).
    pub fn push_named(
        &mut self,
        ctx: &NodeCtx,
        out_name: &str,
        op: Op,
        inputs: Vec<ValueId>,
        shape: Vec<usize>,
    ) -> Result<ValueId> {
        if shape.contains(&0) {
            return Err(ctx.err(format!("output shape {shape:?} is empty")));
        }
        if element_count(&shape).is_none() {
            return Err(ctx.err(format!("output shape {shape:?} holds more than {MAX_ELEMENTS} values per sample")));
        }
        let reads_param = op.tensors().iter().any(|&t| matches!(self.tensors[t].role, Role::Trainable { .. }));
        let live = reads_param || inputs.iter().any(|&v| self.live[v]);
        let batch = inputs.first().and_then(|&v| {
            let b = self.batch[v]? as isize + shape.len() as isize - self.values[v].shape.len() as isize;
            (0..shape.len() as isize).contains(&b).then_some(b as usize)
        });
        let rank = shape.len();
        let out = self.new_value(out_name, shape, None);
        self.live[out] = live;
        self.batch[out] = batch.filter(|&b| b < rank);
        self.producer[out] = Some(self.nodes.len());
        self.nodes.push(Node { name: ctx.name.clone(), op_type: ctx.op().to_string(), op, inputs, output: out });
        Ok(out)
    }

    /// A [`Remap`] of `inputs` as the node's output `k`: folded (integers kept exact) when every
    /// input is a constant that is not a parameter, else a node over their values.
    pub fn remap(
        &mut self,
        ctx: &NodeCtx,
        k: usize,
        remap: Remap,
        inputs: &[Sym],
        shape: Vec<usize>,
    ) -> Result<Option<ValueId>> {
        let consts: Option<Vec<ConstId>> = inputs
            .iter()
            .map(|s| if let Sym::Const(c) = *s { (!self.is_param(c)).then_some(c) } else { None })
            .collect();
        if let Some(cs) = consts {
            let data: Vec<&ConstData> = cs.iter().map(|&c| &self.consts[c].t.data).collect();
            let folded = ConstTensor { shape, data: remap_data(&remap, &data) };
            let origin = self.fold_origin(&cs, matches!(folded.data, ConstData::F32(_)));
            let name = self.output_name(ctx, k)?.to_string();
            self.define_const(&name, folded, origin);
            return Ok(None);
        }
        let vals = inputs.iter().map(|&s| self.value_of(ctx, s)).collect::<Result<Vec<_>>>()?;
        self.push_output(ctx, k, Op::Remap(remap), vals, shape).map(Some)
    }

    /// The prefix of the names of a node's intermediate values: its first named output, else the
    /// node's name.
    pub fn stem(&self, ctx: &NodeCtx) -> String {
        ctx.node.output.iter().find(|o| !o.is_empty()).cloned().unwrap_or_else(|| ctx.name.clone())
    }

    /// The node's first output name.
    pub fn out_name<'c>(&self, ctx: &'c NodeCtx) -> Result<&'c str> {
        self.output_name(ctx, 0)
    }

    /// The node's output `k`'s name.
    pub fn output_name<'c>(&self, ctx: &'c NodeCtx, k: usize) -> Result<&'c str> {
        ctx.node.output.get(k).map(String::as_str).filter(|s| !s.is_empty()).ok_or_else(|| {
            ctx.err(if k == 0 { "node has no output".to_string() } else { format!("node has no output {k}") })
        })
    }

    // ---- folding ------------------------------------------------------------------------------

    /// Where the graph stands before a node is imported. (Constants fed in as values are shared
    /// within one node only, so that a folded node never reads another node's values.)
    pub fn begin(&mut self) -> Mark {
        self.sources.clear();
        Mark {
            nodes: self.nodes.len(),
            values: self.values.len(),
            buffers: self.buffers.len(),
            tensors: self.tensors.len(),
        }
    }

    /// After importing `ctx`: when the nodes it added depend on neither the graph input nor a
    /// parameter, evaluates them now and defines the node's outputs as constants (integers when
    /// every constant it read was an integer tensor and the results are whole), removing the nodes.
    /// So any op on constants folds, whatever it is.
    pub fn finish(&mut self, ctx: &NodeCtx, mark: Mark) -> Result<()> {
        if self.nodes.len() == mark.nodes || self.live[mark.values..].iter().any(|&l| l) {
            return Ok(());
        }
        let all_int = self.nodes[mark.nodes..].iter().all(|n| !matches!(n.op, Op::Source(_)) || self.integer[n.output]);
        let outputs: Vec<(String, ValueId)> = ctx
            .node
            .output
            .iter()
            .filter(|o| !o.is_empty())
            .filter_map(|o| match self.syms.get(o) {
                Some(&Sym::Value(v)) if v >= mark.values => Some((o.clone(), v)),
                _ => None,
            })
            .collect();
        let data = self.evaluate(mark.nodes, mark.values);
        let read: Vec<ConstId> = self.sources.keys().copied().collect();
        let shapes: Vec<Vec<usize>> = outputs.iter().map(|(_, v)| self.values[*v].shape.clone()).collect();
        // Drop what the node added.
        for v in &self.values[mark.values..] {
            self.syms.remove(&v.name);
        }
        self.values.truncate(mark.values);
        self.buffers.truncate(mark.buffers);
        self.nodes.truncate(mark.nodes);
        self.producer.truncate(mark.values);
        self.live.truncate(mark.values);
        self.integer.truncate(mark.values);
        self.batch.truncate(mark.values);
        for t in &self.tensors[mark.tensors..] {
            self.tensor_ids.remove(&t.name);
        }
        self.tensors.truncate(mark.tensors);
        self.sources.retain(|_, v| *v < mark.values);
        for ((name, v), shape) in outputs.into_iter().zip(shapes) {
            let vals = &data[v - mark.values];
            let ints = all_int && vals.iter().all(|x| x.fract() == 0.0);
            let d = if ints {
                ConstData::I64(vals.iter().map(|&x| x as i64).collect())
            } else {
                ConstData::F32(vals.iter().map(|&x| x as f32).collect())
            };
            let origin = self.fold_origin(&read, !ints);
            self.define_const(&name, ConstTensor { shape, data: d }, origin);
        }
        Ok(())
    }

    /// Runs nodes `first..` (which read only values from `first_value` on, and tensors) and
    /// returns the contents of values `first_value..`.
    fn evaluate(&self, first: usize, first_value: usize) -> Vec<Vec<f64>> {
        let offsets = vec![None; self.tensors.len()];
        let w = Weights::new(&self.tensors, &offsets, &[]);
        let mut bufs: HashMap<usize, Vec<f32>> = HashMap::new();
        for node in &self.nodes[first..] {
            let ob = self.values[node.output].buffer;
            let mut out = vec![0.0; self.buffers[ob]];
            let (fl, il) = node.op.aux_len();
            let mut aux = Aux { f: vec![0.0; fl], i: vec![0; il] };
            {
                let ins: Inputs =
                    node.inputs.iter().map(|&v| bufs.get(&self.values[v].buffer).map_or(&[][..], |b| &b[..])).collect();
                node.op.forward(&w, &ins, &mut out, &mut aux.f, &mut aux.i);
            }
            bufs.insert(ob, out);
        }
        self.values[first_value..]
            .iter()
            .map(|v| bufs.get(&v.buffer).map_or_else(Vec::new, |b| b.iter().map(|&x| f64::from(x)).collect()))
            .collect()
    }
}

/// Applies a gather map to constant data, keeping integers exact.
fn remap_data(remap: &Remap, inputs: &[&ConstData]) -> ConstData {
    use crate::ops::Entry;
    let ints = inputs.iter().all(|d| matches!(d, ConstData::I64(_)));
    if ints {
        let v = (0..remap.len())
            .map(|o| match remap.entry(o) {
                Entry::Input { input, index } => match inputs[input] {
                    ConstData::I64(x) => x[index],
                    ConstData::F32(x) => x[index] as i64,
                },
                Entry::Const(c) => c as i64,
            })
            .collect();
        return ConstData::I64(v);
    }
    let v = (0..remap.len())
        .map(|o| match remap.entry(o) {
            Entry::Input { input, index } => match inputs[input] {
                ConstData::I64(x) => x[index] as f32,
                ConstData::F32(x) => x[index],
            },
            Entry::Const(c) => c,
        })
        .collect();
    ConstData::F32(v)
}

#[cfg(test)]
mod tests {
    use super::exporter_name;

    #[test]
    fn exporter_names_are_told_from_framework_parameter_names() {
        for name in [
            "onnx::MatMul_234",
            "val_8",
            "_val_12",
            "/blocks/blocks.0/attn/Constant_output_0",
            "model/rescaling/mul/y:0",
            "const_fold_opt__7",
            "123",
            "_tensor_constant0",
            "lifted_tensor_3",
            "scalar_tensor_default",
            "Constant_5",
        ] {
            assert!(exporter_name(name), "{name}");
        }
        for name in [
            "cls_token",
            "pos_embed",
            "blocks.0.layer_scale",
            "features.1.0.layer_scale",
            "embedding_2",
            "gamma",
            "model/dense/MatMul/ReadVariableOp:0",
            "val",
        ] {
            assert!(!exporter_name(name), "{name}");
        }
    }
}
