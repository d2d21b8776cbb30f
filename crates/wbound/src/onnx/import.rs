//! The import driver: decodes initializers, checks every node against the op registry (one error
//! listing every unsupported op), then imports the nodes in order through their importers and
//! folds whatever depends on constants alone. The importers live in [`super::ops`], the parsing
//! context they share in [`super::builder`].

use super::attr::NodeCtx;
use super::builder::{element_count, Builder, Origin, Sym, MAX_ELEMENTS};
use super::proto::{data_type, GraphProto, ModelProto};
use super::tensor::decode;
use crate::error::{Error, Result, UnsupportedOp};
use crate::graph::Graph;

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
        // An initializer wbound cannot read (a string table, say) is an error only if a node uses it.
        match decode(t, &format!("initializer '{}'", t.name)) {
            Ok(c) => {
                b.define_const(&t.name, c, Origin::Initializer);
            }
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
    let (input_shape, integer) = input_shape(input)?;
    if element_count(&input_shape).is_none() {
        return Err(Error::Graph(format!(
            "input '{}' has shape {input_shape:?}, more than {MAX_ELEMENTS} values per sample",
            input.name
        )));
    }
    let input_id = b.new_value(&input.name, input_shape.clone(), None);
    b.set_graph_input(input_id, integer);
    let unsupported = unsupported_ops(g, b.opset);
    if !unsupported.is_empty() {
        return Err(Error::UnsupportedOps(unsupported));
    }
    for (i, node) in g.node.iter().enumerate() {
        let ctx = NodeCtx::new(node, i);
        let import = super::ops::importer(&node.op_type).ok_or_else(|| {
            Error::UnsupportedOps(vec![UnsupportedOp {
                op: node.op_type.clone(),
                count: 1,
                first_node: ctx.name.clone(),
                opset: b.opset,
            }])
        })?;
        let mark = b.begin();
        import(&mut b, &ctx)?;
        b.finish(&ctx, mark)?;
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
    super::fuse::gelus(&mut b, output);
    Ok(Graph {
        values: b.values,
        buffers: b.buffers,
        nodes: b.nodes,
        tensors: b.tensors,
        input: input_id,
        output,
        input_shape,
        integer_input: integer,
        index_tables: b.index_tables,
    })
}

/// Every op type of `g` that wbound cannot import, with its count and first node, in order of
/// first appearance.
pub fn unsupported_ops(g: &GraphProto, opset: i64) -> Vec<UnsupportedOp> {
    let mut out: Vec<UnsupportedOp> = Vec::new();
    for (i, node) in g.node.iter().enumerate() {
        let default_domain = node.domain.is_empty() || node.domain == "ai.onnx";
        if default_domain && super::ops::importer(&node.op_type).is_some() {
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

/// The input's shape with the batch dimension (axis 0) set to 1, and whether it holds integers
/// (token ids).
fn input_shape(input: &super::proto::ValueInfoProto) -> Result<(Vec<usize>, bool)> {
    let tt = input
        .r#type
        .as_ref()
        .and_then(|t| t.tensor_type.as_ref())
        .ok_or_else(|| Error::Graph(format!("input '{}' is not a tensor", input.name)))?;
    let integer = data_type::is_integer(tt.elem_type);
    if !integer && !data_type::is_float(tt.elem_type) {
        return Err(Error::Graph(format!(
            "input '{}' has element type {}; wbound reads float or integer (token id) inputs",
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
    Ok((shape, integer))
}
