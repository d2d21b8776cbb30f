//! Other weights for a model: replaces initializers by name before the graph is built, so that
//! whatever the importer derives from them (folded transposes, fused layers, tied copies) follows.
//!
//! A tensor matches the initializer of its name, or the output of an `Identity` node that copies
//! an initializer under a parameter's name (how the legacy PyTorch exporter stores parameters of
//! equal value once): that node becomes an initializer of its own.

use std::collections::HashMap;

use super::proto::{data_type, GraphProto, ModelProto, TensorProto};
use crate::error::{Error, Result};

/// Named float tensors to put into a model: `name → (shape, values)`.
pub type WeightSet = HashMap<String, (Vec<usize>, Vec<f32>)>;

/// The float initializers of an ONNX model (as f32), by name: what a weight file for it holds.
pub fn initializers(bytes: &[u8]) -> Result<WeightSet> {
    use prost::Message;
    let model = ModelProto::decode(bytes)
        .map_err(|e| Error::OnnxFormat(format!("protobuf decoding failed ({e}); is this an .onnx file?")))?;
    let g = model.graph.as_ref().ok_or_else(|| Error::OnnxFormat("the file holds no graph".into()))?;
    let mut set = WeightSet::new();
    for t in g.initializer.iter().filter(|t| data_type::is_float(t.data_type)) {
        let c = super::tensor::decode(t, &format!("initializer '{}'", t.name))?;
        let dims = t.dims.iter().map(|&d| d.max(0) as usize).collect();
        set.insert(t.name.clone(), (dims, c.to_f32()));
    }
    Ok(set)
}

/// Replaces the initializers of `model` named in `weights` by those values. Every tensor of
/// `weights` must match an initializer (or an `Identity` copy of one) of the same shape: the
/// error lists those that do not. Returns the names that were replaced.
pub fn apply(model: &mut ModelProto, weights: &WeightSet) -> Result<Vec<String>> {
    let g = model.graph.as_mut().ok_or_else(|| Error::OnnxFormat("the file holds no graph".into()))?;
    let mut replaced = Vec::new();
    let mut wrong_shape = Vec::new();
    for t in g.initializer.iter_mut() {
        if let Some((shape, values)) = weights.get(&t.name) {
            if !data_type::is_float(t.data_type) {
                wrong_shape.push(format!("'{}' is a float tensor but the model's initializer is not", t.name));
                continue;
            }
            let dims: Vec<usize> = t.dims.iter().map(|&d| d.max(0) as usize).collect();
            if &dims != shape {
                wrong_shape.push(format!("'{}' has shape {shape:?}, the model's {dims:?}", t.name));
                continue;
            }
            *t = float_tensor(&t.name, shape, values);
            replaced.push(t.name.clone());
        }
    }
    copies_to_initializers(g, weights, &mut replaced, &mut wrong_shape);
    if !wrong_shape.is_empty() {
        return Err(Error::Checkpoint(format!("tensors of another shape: {}", list(&wrong_shape))));
    }
    let mut unmatched: Vec<&String> = weights.keys().filter(|k| !replaced.contains(k)).collect();
    if !unmatched.is_empty() {
        unmatched.sort();
        let names: Vec<String> = unmatched.iter().map(|n| format!("'{n}'")).collect();
        return Err(Error::Checkpoint(format!(
            "{} tensor{} match no initializer of the model: {}; the names must be the model's initializer names \
             (`wbound inspect` lists them). A model exported with BatchNorm folded into the convolutions has \
             other weights than the state_dict: export it with `do_constant_folding=False` and \
             `training=torch.onnx.TrainingMode.PRESERVE`, or export one ONNX file per checkpoint",
            unmatched.len(),
            if unmatched.len() == 1 { "" } else { "s" },
            list(&names)
        )));
    }
    replaced.sort();
    Ok(replaced)
}

/// `Identity` nodes copying an initializer under a name of `weights` become initializers with
/// those values.
fn copies_to_initializers(g: &mut GraphProto, weights: &WeightSet, replaced: &mut Vec<String>, bad: &mut Vec<String>) {
    let shapes: HashMap<String, Vec<usize>> =
        g.initializer.iter().map(|t| (t.name.clone(), t.dims.iter().map(|&d| d.max(0) as usize).collect())).collect();
    let mut new = Vec::new();
    g.node.retain(|n| {
        let copy = n.op_type == "Identity" && n.input.len() == 1 && n.output.len() == 1;
        let Some((shape, values)) = copy.then(|| weights.get(&n.output[0])).flatten() else { return true };
        let Some(dims) = shapes.get(&n.input[0]) else { return true };
        if replaced.contains(&n.output[0]) {
            return true;
        }
        if dims != shape {
            bad.push(format!("'{}' has shape {shape:?}, the model's {dims:?}", n.output[0]));
            return true;
        }
        new.push(float_tensor(&n.output[0], shape, values));
        replaced.push(n.output[0].clone());
        false
    });
    g.initializer.extend(new);
}

fn float_tensor(name: &str, shape: &[usize], values: &[f32]) -> TensorProto {
    TensorProto {
        dims: shape.iter().map(|&d| d as i64).collect(),
        data_type: data_type::FLOAT,
        name: name.to_string(),
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

/// The first eight items, then a count of the rest.
pub(crate) fn list(items: &[String]) -> String {
    let mut s = items.iter().take(8).cloned().collect::<Vec<_>>().join(", ");
    if items.len() > 8 {
        s.push_str(&format!(" and {} more", items.len() - 8));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::proto::NodeProto;

    fn model() -> ModelProto {
        let w = float_tensor("w", &[2], &[1.0, 2.0]);
        let copy = NodeProto {
            input: vec!["w".into()],
            output: vec!["v".into()],
            op_type: "Identity".into(),
            ..Default::default()
        };
        ModelProto {
            graph: Some(GraphProto { initializer: vec![w], node: vec![copy], ..Default::default() }),
            ..Default::default()
        }
    }

    #[test]
    fn initializers_and_identity_copies_take_the_new_values() {
        let mut m = model();
        let weights: WeightSet =
            [("w".to_string(), (vec![2], vec![3.0, 4.0])), ("v".to_string(), (vec![2], vec![5.0, 6.0]))].into();
        assert_eq!(apply(&mut m, &weights).unwrap(), ["v", "w"]);
        let g = m.graph.unwrap();
        assert!(g.node.is_empty(), "the copy became an initializer");
        let values = |name: &str| {
            let t = g.initializer.iter().find(|t| t.name == name).unwrap();
            t.raw_data.chunks(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect::<Vec<_>>()
        };
        assert_eq!(values("w"), [3.0, 4.0]);
        assert_eq!(values("v"), [5.0, 6.0]);
    }

    #[test]
    fn unmatched_names_and_shapes_are_listed() {
        let weights: WeightSet =
            [("w".to_string(), (vec![2], vec![3.0, 4.0])), ("bn.weight".to_string(), (vec![1], vec![1.0]))].into();
        let err = apply(&mut model(), &weights).unwrap_err().to_string();
        assert!(err.contains("1 tensor match no initializer of the model: 'bn.weight'"), "{err}");
        let weights: WeightSet = [("w".to_string(), (vec![3], vec![3.0, 4.0, 5.0]))].into();
        let err = apply(&mut model(), &weights).unwrap_err().to_string();
        assert!(err.contains("'w' has shape [3], the model's [2]"), "{err}");
    }
}
