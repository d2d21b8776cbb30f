//! Exporter patterns run as one node, found after import: torch.onnx's exact GELU below opset 20
//! (`Div(x, c₀)`, `Erf`, `Add(c₁)`, `Mul(x, ·)`, `Mul(c₂)`, five consecutive nodes whose
//! intermediate values have no other reader) becomes one [`ErfGelu`], with the same bits (see
//! `ops::gelu`). The intermediate values stay in the graph, unread, their storage emptied.

use super::builder::Builder;
use crate::graph::{Node, ValueId};
use crate::ops::{ActivationKind, Binary, BinaryKind, ErfGelu, Op, Operand};
use crate::tensor::TensorId;

/// Fuses every exporter GELU of `b`'s nodes; `output` is the graph's output value.
pub(super) fn gelus(b: &mut Builder, output: ValueId) {
    let mut readers = vec![0usize; b.values.len()];
    b.nodes.iter().flat_map(|n| &n.inputs).for_each(|&v| readers[v] += 1);
    readers[output] += 1;
    let mut k = 0;
    while k + 5 <= b.nodes.len() {
        match gelu_at(&b.nodes[k..k + 5], &readers, b) {
            Some((x, constants)) => {
                let len = b.values[x].len();
                for v in b.nodes[k..k + 4].iter().map(|n| n.output).collect::<Vec<_>>() {
                    let buffer = b.values[v].buffer;
                    b.buffers[buffer] = 0;
                }
                let last = &mut b.nodes[k + 4];
                last.op = Op::ErfGelu(ErfGelu { constants, len });
                last.inputs = vec![x];
                b.nodes.drain(k..k + 4);
            }
            None => k += 1,
        }
    }
}

/// The input and constants `[c₀, c₁, c₂]` of the GELU that `nodes` (five) compute, if they do.
fn gelu_at(nodes: &[Node], readers: &[usize], b: &Builder) -> Option<(ValueId, [TensorId; 3])> {
    let [div, erf, add, mul, scale] = nodes else { return None };
    let c0 = value_and_scalar(div, BinaryKind::Div, b, false)?;
    let Op::Activation(a) = &erf.op else { return None };
    if a.kind != ActivationKind::Erf || erf.inputs != [div.output] {
        return None;
    }
    let c1 = value_and_scalar(add, BinaryKind::Add, b, true)?;
    let c2 = value_and_scalar(scale, BinaryKind::Mul, b, true)?;
    if add.inputs != [erf.output] || scale.inputs != [mul.output] {
        return None;
    }
    let x = div.inputs[0];
    let Op::Binary(m) = &mul.op else { return None };
    let both = [Operand::Input(0), Operand::Input(1)];
    let reads = mul.inputs == [x, add.output] || mul.inputs == [add.output, x];
    if m.kind != BinaryKind::Mul || m.operands != both || m.maps != [None, None] || !reads {
        return None;
    }
    let len = b.values[x].len();
    if nodes.iter().any(|n| b.values[n.output].len() != len) {
        return None;
    }
    // Each intermediate read once, by the next node of the pattern, and not through a view
    // (a reshape shares its source's buffer).
    let viewed = |v: ValueId| {
        b.values.iter().enumerate().any(|(u, val)| u != v && val.buffer == b.values[v].buffer && readers[u] > 0)
    };
    if nodes[..4].iter().any(|n| readers[n.output] != 1 || viewed(n.output)) {
        return None;
    }
    Some((x, [c0, c1, c2]))
}

/// The one-value tensor of a `kind` node between one value (the output's shape) and it, on
/// either side where `either`, else as the second operand.
fn value_and_scalar(node: &Node, kind: BinaryKind, b: &Builder, either: bool) -> Option<TensorId> {
    let Op::Binary(Binary { kind: k, operands, maps, .. }) = &node.op else { return None };
    let (value, tensor) = match operands {
        [Operand::Input(0), Operand::Tensor(t)] => (0, *t),
        [Operand::Tensor(t), Operand::Input(0)] if either => (1, *t),
        _ => return None,
    };
    (*k == kind && node.inputs.len() == 1 && maps[value].is_none() && b.tensors[tensor].data.len() == 1)
        .then_some(tensor)
}
