//! Graph-level import: resolves names to values or constants, creates values and nodes, and
//! turns float constants into the model's tensor table with their [`Role`].

use std::collections::HashMap;

use super::attr::NodeCtx;
use super::proto::{GraphProto, ModelProto};
use super::tensor::{decode, ConstData, ConstTensor};
use crate::error::{Error, Result, UnsupportedOp};
use crate::graph::{Graph, Node, Role, Tensor, TensorId, Value, ValueId};
use crate::ops::Op;

/// What a name in the ONNX graph stands for.
#[derive(Debug, Clone, Copy)]
pub enum Sym {
    Value(ValueId),
    Const(usize),
}

/// The graph under construction.
pub struct Builder {
    pub opset: i64,
    values: Vec<Value>,
    buffers: Vec<usize>,
    nodes: Vec<Node>,
    tensors: Vec<Tensor>,
    consts: Vec<(String, ConstTensor)>,
    syms: HashMap<String, Sym>,
    tensor_ids: HashMap<String, TensorId>,
    /// The node that produced each value (`None` for the graph input and reshaped views).
    producer: Vec<Option<usize>>,
    /// Initializers that could not be decoded, with the reason.
    unreadable: HashMap<String, String>,
}

impl Builder {
    fn new(opset: i64) -> Builder {
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
            unreadable: HashMap::new(),
        }
    }

    /// The symbol behind input `i` of the node, `None` when absent or empty (an optional input).
    pub fn input(&self, ctx: &NodeCtx, i: usize) -> Result<Option<Sym>> {
        match ctx.node.input.get(i).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(name) => self.syms.get(name).copied().map(Some).ok_or_else(|| {
                ctx.err(format!("input '{name}' is not produced by any earlier node, initializer or graph input"))
            }),
        }
    }

    /// Input `i`, which must be present.
    pub fn required(&self, ctx: &NodeCtx, i: usize) -> Result<Sym> {
        self.input(ctx, i)?.ok_or_else(|| ctx.err(format!("missing required input {i}")))
    }

    /// Input `i` as a dynamic value (data flowing from the graph input).
    pub fn dynamic(&self, ctx: &NodeCtx, i: usize) -> Result<ValueId> {
        match self.required(ctx, i)? {
            Sym::Value(v) => Ok(v),
            Sym::Const(_) => Err(ctx.err(format!(
                "input {i} ('{}') is a constant, but wbound needs data from the graph input here",
                ctx.node.input[i]
            ))),
        }
    }

    /// Input `i` as a constant.
    pub fn constant(&self, ctx: &NodeCtx, i: usize) -> Result<&ConstTensor> {
        match self.required(ctx, i)? {
            Sym::Const(c) => Ok(&self.consts[c].1),
            Sym::Value(_) => Err(ctx.err(format!(
                "input {i} ('{}') depends on the graph input; wbound needs a constant (initializer) here",
                ctx.node.input[i]
            ))),
        }
    }

    pub fn const_of(&self, sym: usize) -> &ConstTensor {
        &self.consts[sym].1
    }

    pub fn value(&self, v: ValueId) -> &Value {
        &self.values[v]
    }

    pub fn producer_op(&self, v: ValueId) -> Option<&str> {
        self.producer[v].map(|n| self.nodes[n].op_type.as_str())
    }

    pub fn producer_node(&self, v: ValueId) -> Option<usize> {
        self.producer[v]
    }

    /// Index the next node will get (its layer id when it holds weights).
    pub fn next_node(&self) -> usize {
        self.nodes.len()
    }

    /// The float constant behind input `i` as a weight tensor with the given role.
    pub fn weight(&mut self, ctx: &NodeCtx, i: usize, role: Role) -> Result<TensorId> {
        let c = match self.required(ctx, i)? {
            Sym::Const(c) => c,
            Sym::Value(_) => {
                return Err(ctx.err(format!(
                    "input {i} ('{}') must be a constant weight (initializer), but it is computed from the graph input",
                    ctx.node.input[i]
                )))
            }
        };
        Ok(self.tensor_from_const(c, role))
    }

    /// Registers constant `c` in the tensor table (once per name) and merges its role:
    /// trainable beats constant; statistics stay statistics.
    pub fn tensor_from_const(&mut self, c: usize, role: Role) -> TensorId {
        let (name, t) = &self.consts[c];
        if let Some(&id) = self.tensor_ids.get(name) {
            let cur = &mut self.tensors[id].role;
            *cur = match (*cur, role) {
                (Role::Statistic, _) | (_, Role::Statistic) => Role::Statistic,
                (Role::Trainable { layer }, _) => Role::Trainable { layer },
                (_, r) => r,
            };
            return id;
        }
        let id = self.tensors.len();
        self.tensors.push(Tensor { name: name.clone(), shape: t.shape.clone(), data: t.to_f32(), role });
        self.tensor_ids.insert(name.clone(), id);
        id
    }

    pub fn define_const(&mut self, name: &str, t: ConstTensor) {
        self.consts.push((name.to_string(), t));
        self.syms.insert(name.to_string(), Sym::Const(self.consts.len() - 1));
    }

    fn new_value(&mut self, name: &str, shape: Vec<usize>, buffer: Option<usize>) -> ValueId {
        let buffer = buffer.unwrap_or_else(|| {
            self.buffers.push(shape.iter().product());
            self.buffers.len() - 1
        });
        self.values.push(Value { name: name.to_string(), shape, buffer });
        self.producer.push(None);
        let id = self.values.len() - 1;
        self.syms.insert(name.to_string(), Sym::Value(id));
        id
    }

    /// Defines output `name` as a view of `src` with another shape (same element count).
    pub fn alias(&mut self, ctx: &NodeCtx, name: &str, src: ValueId, shape: Vec<usize>) -> Result<()> {
        let from = &self.values[src];
        if element_count(&shape) != Some(from.len()) {
            return Err(ctx.err(format!("cannot view shape {:?} as {:?}: element counts differ", from.shape, shape)));
        }
        let buffer = from.buffer;
        self.new_value(name, shape, Some(buffer));
        Ok(())
    }

    /// Adds a node computing the node's first output with shape `shape`.
    pub fn push(&mut self, ctx: &NodeCtx, op: Op, inputs: Vec<ValueId>, shape: Vec<usize>) -> Result<()> {
        self.push_value(ctx, None, op, inputs, shape).map(|_| ())
    }

    /// Adds a node computing the node's first output (`step` = `None`) or, for an ONNX node that
    /// wbound runs as several of its own (LayerNormalization), its intermediate value
    /// `<first output>/<step>`; returns the value.
    pub fn push_value(
        &mut self,
        ctx: &NodeCtx,
        step: Option<&str>,
        op: Op,
        inputs: Vec<ValueId>,
        shape: Vec<usize>,
    ) -> Result<ValueId> {
        let out = self.out_name(ctx)?;
        let name = match step {
            None => out.to_string(),
            Some(step) => format!("{out}/{step}"),
        };
        self.push_named(ctx, &name, op, inputs, shape)
    }

    /// The shape of weight tensor `t`.
    pub fn tensor_shape(&self, t: TensorId) -> &[usize] {
        &self.tensors[t].shape
    }

    /// A scalar constant `<first output>/<step>` as a tensor that never moves.
    pub fn scalar(&mut self, ctx: &NodeCtx, step: &str, value: f32) -> Result<TensorId> {
        let name = format!("{}/{step}", self.out_name(ctx)?);
        self.define_const(&name, ConstTensor { shape: Vec::new(), data: ConstData::F32(vec![value]) });
        Ok(self.tensor_from_const(self.consts.len() - 1, Role::Constant))
    }

    fn push_named(
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
        let out = self.new_value(out_name, shape, None);
        self.producer[out] = Some(self.nodes.len());
        self.nodes.push(Node { name: ctx.name.clone(), op_type: ctx.op().to_string(), op, inputs, output: out });
        Ok(out)
    }

    /// The node's first output name.
    pub fn out_name<'c>(&self, ctx: &'c NodeCtx) -> Result<&'c str> {
        ctx.node.output.first().map(String::as_str).ok_or_else(|| ctx.err("node has no output"))
    }
}

/// The default-domain opset of the model.
fn opset(model: &ModelProto) -> Result<i64> {
    let v = model
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map(|o| o.version)
        .ok_or_else(|| Error::OnnxFormat("the model imports no default-domain opset".into()))?;
    if !(7..=23).contains(&v) {
        return Err(Error::Graph(format!(
            "opset {v} is not supported (wbound reads opsets 7 to 23, tested on 11 to 21); re-export with opset 13"
        )));
    }
    Ok(v)
}

/// Builds the graph of a decoded model.
pub fn build(model: &ModelProto) -> Result<Graph> {
    let g: &GraphProto = model.graph.as_ref().ok_or_else(|| Error::OnnxFormat("the file holds no graph".into()))?;
    let mut b = Builder::new(opset(model)?);
    for t in &g.initializer {
        // An initializer wbound cannot read (a string or bool table, say) is an error only if a
        // node uses it.
        match decode(t, &format!("initializer '{}'", t.name)) {
            Ok(c) => b.define_const(&t.name, c),
            Err(e) => {
                b.unreadable.insert(t.name.clone(), e.to_string());
            }
        }
    }
    let inputs: Vec<_> = g
        .input
        .iter()
        .filter(|i| !matches!(b.syms.get(&i.name), Some(Sym::Const(_))) && !b.unreadable.contains_key(&i.name))
        .collect();
    let input = match inputs.as_slice() {
        [one] => *one,
        [] => return Err(Error::Graph("the graph has no input besides its initializers".into())),
        many => {
            let names: Vec<_> = many.iter().map(|i| i.name.as_str()).collect();
            return Err(Error::Graph(format!(
                "the graph has {} inputs ({}); wbound scores classifiers with one input",
                names.len(),
                names.join(", ")
            )));
        }
    };
    let input_shape = input_shape(input)?;
    if element_count(&input_shape).is_none() {
        return Err(Error::Graph(format!(
            "input '{}' has shape {input_shape:?}, more than {MAX_ELEMENTS} values per sample",
            input.name
        )));
    }
    let input_id = b.new_value(&input.name, input_shape.clone(), None);
    let unsupported = unsupported_ops(g, b.opset);
    if !unsupported.is_empty() {
        return Err(Error::UnsupportedOps(unsupported));
    }
    for (i, node) in g.node.iter().enumerate() {
        super::ops::import_node(&mut b, &NodeCtx::new(node, i))?;
    }
    let out = g.output.first().ok_or_else(|| Error::Graph("the graph has no output".into()))?;
    let output = match b.syms.get(&out.name) {
        Some(Sym::Value(v)) => *v,
        Some(Sym::Const(_)) => {
            return Err(Error::Graph(format!("output '{}' is a constant: it does not depend on the input", out.name)))
        }
        None => return Err(Error::Graph(format!("output '{}' is not produced by any node", out.name))),
    };
    let classes = b.values[output].len();
    if classes < 2 {
        return Err(Error::Graph(format!(
            "output '{}' has shape {:?}: a classifier needs at least 2 logits per sample",
            out.name, b.values[output].shape
        )));
    }
    Ok(Graph {
        values: b.values,
        buffers: b.buffers,
        nodes: b.nodes,
        tensors: b.tensors,
        input: input_id,
        output,
        input_shape,
    })
}

/// Every op type of `g` that wbound cannot import, with its count and first node, in order of
/// first appearance.
pub fn unsupported_ops(g: &GraphProto, opset: i64) -> Vec<UnsupportedOp> {
    let mut out: Vec<UnsupportedOp> = Vec::new();
    for (i, node) in g.node.iter().enumerate() {
        let default_domain = node.domain.is_empty() || node.domain == "ai.onnx";
        if default_domain && super::SUPPORTED_OPS.contains(&node.op_type.as_str()) {
            continue;
        }
        let op = if default_domain { node.op_type.clone() } else { format!("{}:{}", node.domain, node.op_type) };
        match out.iter_mut().find(|u| u.op == op) {
            Some(u) => u.count += 1,
            None => out.push(UnsupportedOp { op, count: 1, first_node: NodeCtx::new(node, i).name, opset }),
        }
    }
    out
}

/// The most values one sample's tensor may hold (1 GiB of f32): a larger claim is a corrupt or
/// hostile file, refused before anything is allocated.
pub const MAX_ELEMENTS: usize = 1 << 28;

/// The element count of `shape`, or `None` past [`MAX_ELEMENTS`].
pub fn element_count(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).filter(|&n| n <= MAX_ELEMENTS)
}

/// The input's shape with the batch dimension (axis 0) set to 1.
fn input_shape(input: &super::proto::ValueInfoProto) -> Result<Vec<usize>> {
    let tt = input
        .r#type
        .as_ref()
        .and_then(|t| t.tensor_type.as_ref())
        .ok_or_else(|| Error::Graph(format!("input '{}' is not a tensor", input.name)))?;
    if tt.elem_type != super::proto::data_type::FLOAT {
        return Err(Error::Graph(format!(
            "input '{}' has element type {}; wbound needs a float32 input",
            input.name, tt.elem_type
        )));
    }
    let dims = &tt.shape.as_ref().ok_or_else(|| Error::Graph(format!("input '{}' has no shape", input.name)))?.dim;
    if dims.is_empty() {
        return Err(Error::Graph(format!("input '{}' is a scalar; wbound needs a batch dimension first", input.name)));
    }
    let mut shape = vec![1];
    for (axis, d) in dims.iter().enumerate().skip(1) {
        match d.dim_value {
            Some(v) if v > 0 => shape.push(v as usize),
            _ => {
                return Err(Error::Graph(format!(
                    "input '{}' has a symbolic or empty dimension at axis {axis} ({}); only the batch axis may be dynamic: export with fixed sample sizes",
                    input.name,
                    d.dim_param.clone().unwrap_or_default()
                )))
            }
        }
    }
    Ok(shape)
}

/// Numpy broadcasting of two shapes.
pub fn broadcast(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    let at = |s: &[usize], i: usize| if i + s.len() >= rank { s[i + s.len() - rank] } else { 1 };
    (0..rank)
        .map(|i| match (at(a, i), at(b, i)) {
            (x, y) if x == y => Some(x),
            (1, y) => Some(y),
            (x, 1) => Some(x),
            _ => None,
        })
        .collect()
}

/// Gather map from a broadcast output of shape `out` back to an operand of shape `src`
/// (`None` when the shapes are equal).
pub fn gather_map(src: &[usize], out: &[usize]) -> Option<Vec<u32>> {
    if src == out {
        return None;
    }
    let rank = out.len();
    let padded: Vec<usize> = std::iter::repeat_n(1, rank - src.len()).chain(src.iter().copied()).collect();
    let mut strides = vec![0usize; rank];
    let mut s = 1;
    for d in (0..rank).rev() {
        strides[d] = if padded[d] == 1 { 0 } else { s };
        s *= padded[d];
    }
    let total: usize = out.iter().product();
    let mut map = Vec::with_capacity(total);
    let mut idx = vec![0usize; rank];
    for _ in 0..total {
        map.push(idx.iter().zip(&strides).map(|(i, s)| i * s).sum::<usize>() as u32);
        for d in (0..rank).rev() {
            idx[d] += 1;
            if idx[d] < out[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    Some(map)
}

/// Element-wise arithmetic on two constants (constant folding).
pub fn fold_binary(a: &ConstTensor, b: &ConstTensor, f: impl Fn(f64, f64) -> f64) -> Option<ConstTensor> {
    let shape = broadcast(&a.shape, &b.shape)?;
    let (ma, mb) = (gather_map(&a.shape, &shape), gather_map(&b.shape, &shape));
    let n: usize = shape.iter().product();
    let idx = |m: &Option<Vec<u32>>, i: usize| m.as_ref().map_or(i, |m| m[i] as usize);
    let data = match (&a.data, &b.data) {
        (ConstData::I64(x), ConstData::I64(y)) => {
            ConstData::I64((0..n).map(|i| f(x[idx(&ma, i)] as f64, y[idx(&mb, i)] as f64) as i64).collect())
        }
        _ => {
            let (x, y) = (a.to_f32(), b.to_f32());
            ConstData::F32((0..n).map(|i| f(f64::from(x[idx(&ma, i)]), f64::from(y[idx(&mb, i)])) as f32).collect())
        }
    };
    Some(ConstTensor { shape, data })
}
