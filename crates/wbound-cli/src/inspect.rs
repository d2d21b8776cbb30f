//! `wbound inspect`: what a model holds and whether wbound can score it.

use anyhow::{Context, Result};
use wbound::engine::{DualNorm, Engine, Selection};
use wbound::graph::{Reason, Role};
use wbound::onnx;
use wbound::{Model, ParamSelection};

use crate::args::InspectArgs;

pub fn run(a: &InspectArgs) -> Result<()> {
    let path = &a.model;
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let summary = onnx::summarize(&bytes).map_err(|e| e.in_file(path))?;
    println!("model: {}", path.display());
    println!("producer: {}  opset: {}", summary.producer, summary.opset.map_or("?".into(), |v| v.to_string()));
    println!("ops ({} nodes):", summary.op_counts.values().sum::<usize>());
    for (op, count) in &summary.op_counts {
        let mark = if onnx::is_supported(op) { "" } else { "  UNSUPPORTED" };
        println!("  {op:<22} {count:>5}{mark}");
    }
    if !summary.unsupported.is_empty() {
        return Err(wbound::Error::UnsupportedOps(summary.unsupported).in_file(path).into());
    }
    let model = Model::from_bytes(&bytes).map_err(|e| e.in_file(path))?;
    let g = model.graph();
    let dims = |s: &[usize]| s.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ");
    println!("input:  {} [N, {}]", g.values[g.input].name, dims(model.input_shape()));
    println!(
        "output: {} [N, {}] ({} classes)",
        g.values[g.output].name,
        dims(&g.values[g.output].shape[1..]),
        model.num_classes()
    );
    println!("parameters (moved by DeepFool):");
    println!("  {:<48} {:>16} {:>10}  why", "name", "shape", "count");
    let row = |t: &wbound::graph::Tensor| {
        println!("  {:<48} {:>16} {:>10}  {}", t.name, format!("{:?}", t.shape), t.data.len(), t.reason)
    };
    model.tensors().iter().filter(|t| matches!(t.role, Role::Trainable { .. })).for_each(row);
    println!("not moved:");
    let fixed: Vec<_> = model
        .tensors()
        .iter()
        .filter(|t| !matches!(t.role, Role::Trainable { .. }) && t.reason != Reason::Internal)
        .collect();
    fixed.iter().for_each(|t| row(t));
    // Float initializers that no node reads as a tensor: folded into constants at import, or unused.
    let in_graph: std::collections::HashSet<&str> = model.tensors().iter().map(|t| t.name.as_str()).collect();
    let prefix = |n: &str| n.split('[').next().unwrap_or(n).to_string();
    let parts: std::collections::HashSet<String> = model.tensors().iter().map(|t| prefix(&t.name)).collect();
    for (name, count) in &summary.float_initializers {
        if !in_graph.contains(name.as_str()) && !parts.contains(name) {
            println!("  {name:<48} {:>16} {count:>10}  folded into constants at import, or unused", "");
        }
    }
    if fixed.is_empty() {
        println!("  (none besides importer constants)");
    }
    println!("trainable: {} values; every op is supported", model.num_trainable());
    let selection = Selection::new(g, ParamSelection::All.resolve(g)?);
    let m = model.num_classes() - 1;
    let engine = Engine::new(g, selection, m);
    let c = engine.step_cost(m, DualNorm::L2);
    println!(
        "one DeepFool step (l2, all parameters, {m} cotangent rows), multiply-adds: forward {}, backward {}, gradient norms {}, chosen gradient {}, total {}",
        c.forward,
        c.backward,
        c.norms,
        c.gradient,
        c.total()
    );
    println!(
        "memory per worker thread: {} (a copy of the weights, one gradient, activations, cotangents of {m} classes)",
        wbound::human_bytes(engine.workspace_bytes())
    );
    Ok(())
}
