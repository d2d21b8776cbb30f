//! `wbound inspect`: what a model holds and whether wbound can score it.

use anyhow::{Context, Result};
use wbound::engine::{DualNorm, Engine, Selection};
use wbound::graph::Role;
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
    println!("parameters:");
    println!("  {:<48} {:>16} {:>10}  role", "name", "shape", "count");
    for t in model.tensors() {
        let role = match t.role {
            Role::Trainable { .. } => "trainable",
            Role::Constant => "constant",
            Role::Statistic => "statistic (not moved)",
        };
        println!("  {:<48} {:>16} {:>10}  {role}", t.name, format!("{:?}", t.shape), t.data.len());
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
