//! Typed access to a node's attributes, with errors that name the node, its op and the attribute.

use super::proto::{attribute_type as at, AttributeProto, NodeProto, TensorProto};
use crate::error::{Error, Result};

/// A node being imported, with its display name.
pub struct NodeCtx<'a> {
    pub node: &'a NodeProto,
    pub name: String,
}

impl<'a> NodeCtx<'a> {
    pub fn new(node: &'a NodeProto, index: usize) -> NodeCtx<'a> {
        let name = if node.name.is_empty() { format!("{}_{index}", node.op_type) } else { node.name.clone() };
        NodeCtx { node, name }
    }

    pub fn op(&self) -> &str {
        &self.node.op_type
    }

    /// An error about this node.
    pub fn err(&self, msg: impl Into<String>) -> Error {
        Error::node(&self.name, self.op(), msg)
    }

    fn attr(&self, name: &str, ty: i32, what: &str) -> Result<Option<&'a AttributeProto>> {
        match self.node.attribute.iter().find(|a| a.name == name) {
            None => Ok(None),
            Some(a) if a.r#type == ty || a.r#type == 0 => Ok(Some(a)),
            Some(a) => Err(self.err(format!("attribute '{name}' has type {} but should be {what}", a.r#type))),
        }
    }

    pub fn int(&self, name: &str, default: i64) -> Result<i64> {
        Ok(self.attr(name, at::INT, "an int")?.map_or(default, |a| a.i))
    }

    pub fn float(&self, name: &str, default: f32) -> Result<f32> {
        Ok(self.attr(name, at::FLOAT, "a float")?.map_or(default, |a| a.f))
    }

    pub fn ints(&self, name: &str) -> Result<Option<Vec<i64>>> {
        Ok(self.attr(name, at::INTS, "a list of ints")?.map(|a| a.ints.clone()))
    }

    pub fn floats(&self, name: &str) -> Result<Option<Vec<f32>>> {
        Ok(self.attr(name, at::FLOATS, "a list of floats")?.map(|a| a.floats.clone()))
    }

    pub fn string(&self, name: &str, default: &str) -> Result<String> {
        Ok(self
            .attr(name, at::STRING, "a string")?
            .map_or(default.to_string(), |a| String::from_utf8_lossy(&a.s).into_owned()))
    }

    pub fn strings(&self, name: &str) -> Result<Option<Vec<String>>> {
        Ok(self
            .attr(name, at::STRINGS, "a list of strings")?
            .map(|a| a.strings.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect()))
    }

    pub fn tensor(&self, name: &str) -> Result<Option<&'a TensorProto>> {
        Ok(self.attr(name, at::TENSOR, "a tensor")?.and_then(|a| a.t.as_ref()))
    }

    /// Whether the attribute is present at all.
    pub fn has(&self, name: &str) -> bool {
        self.node.attribute.iter().any(|a| a.name == name)
    }

    /// A list of non-negative ints of the given length (spatial attributes), or the default.
    pub fn spatial(&self, name: &str, len: usize, default: usize) -> Result<Vec<usize>> {
        match self.ints(name)? {
            None => Ok(vec![default; len]),
            Some(v) if v.len() == len && v.iter().all(|&x| x >= 0) => Ok(v.iter().map(|&x| x as usize).collect()),
            Some(v) => Err(self.err(format!("attribute '{name}' is {v:?}; expected {len} non-negative values"))),
        }
    }
}
