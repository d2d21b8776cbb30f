//! `wbound top-k`: the k most (or least) suspicious samples as a table, and as a PNG grid for
//! images. Uses the library's bounded-memory top-k: it never holds all scores.

use anyhow::{Context, Result};
use wbound::{Dataset, Model, Order};

use crate::args::{OrderArg, TopKArgs};
use crate::input::{self, Slice};
use crate::{grid, score, usage};

pub fn run(a: &TopKArgs) -> Result<()> {
    let model = Model::load(&a.run.model)?;
    crate::weights_note::print(&model, &a.run.params);
    let input = input::load(&a.data, &model)?;
    let n = input.range.len();
    let k = a.k as usize;
    if k > n {
        return Err(usage(format!("-k {k} is larger than the {n} samples to rank")));
    }
    if a.grid.is_some() && input.image.is_none() {
        return Err(usage(format!(
            "--grid needs image samples, but {} holds samples of shape {:?}",
            a.data.inputs.display(),
            input.data.sample_shape()
        )));
    }
    let calc = score::calculator(&a.run, &model);
    let order = match a.order {
        OrderArg::Descending => Order::Descending,
        OrderArg::Ascending => Order::Ascending,
    };
    let slice = Slice::of(&input, input.range.clone());
    let top = calc.compute_top_k_from_training_dataset(&slice, k, order).map_err(input::about_inputs(&a.data))?;
    let labels = input.labels.as_deref();
    let name = |c: i64| match &input.class_names {
        Some(names) => names.get(c as usize).map_or(c.to_string(), |s| format!("{c} ({s})")),
        None => c.to_string(),
    };
    println!("{:>5}  {:>8}  {:>22}  {:>8}  {:>14}  status", "rank", "index", "score", "label", "original_class");
    let mut captions = Vec::with_capacity(k);
    for (rank, (&i, s)) in top.indices.iter().zip(&top.scores).enumerate() {
        let index = input.range.start + i;
        let label = labels.map(|l| l[index]);
        let label_text = label.map_or("-".to_string(), name);
        let class = name(s.original_class as i64);
        println!("{:>5}  {index:>8}  {:>22}  {label_text:>8}  {class:>14}  {}", rank + 1, s.score, s.status);
        captions.push(vec![
            format!("#{index}"),
            format!("y{} p{}", label.map_or("?".into(), |l| l.to_string()), s.original_class),
            format!("{:.4}", s.score),
        ]);
    }
    if let (Some(path), Some(geometry)) = (&a.grid, input.image) {
        let layout = grid::write(path, &top.samples, geometry, &captions)
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!(
            "wrote a grid of {k} tiles ({} columns x {} rows, tiles of {}x{} px) to {}",
            layout.cols,
            layout.rows,
            layout.tile_w,
            layout.tile_h,
            path.display()
        );
    }
    Ok(())
}
