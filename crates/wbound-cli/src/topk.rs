//! `wbound top-k`: the k most (or least) suspicious samples as a table, and as a PNG grid for
//! images. Uses the library's bounded-memory top-k: it never holds all scores.

use anyhow::{Context, Result};
use wbound::{Dataset, Model, Order};

use crate::args::{OrderArg, TopKArgs};
use crate::input::{self, Slice};
use crate::{grid, score, usage};

pub fn run(a: &TopKArgs) -> Result<()> {
    if let Some(path) = &a.grid {
        grid::check_name(path)?;
        crate::destination::check(path, "--grid", a.force)?;
    }
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
    let mut table = Table::new(&["rank", "index", "score", "label", "original_class", "status"]);
    if input.paths.is_some() {
        table.add_column("path");
    }
    let mut captions = Vec::with_capacity(k);
    for (rank, (&i, s)) in top.indices.iter().zip(&top.scores).enumerate() {
        let index = input.range.start + i;
        let label = labels.map(|l| l[index]);
        let mut row = vec![
            (rank + 1).to_string(),
            index.to_string(),
            crate::numbers::sig3(s.score),
            label.map_or("-".to_string(), |l| input.class_name(l)),
            input.class_name(s.original_class as i64),
            s.status.to_string(),
        ];
        row.extend(input.path(index).map(String::from));
        table.push(row);
        captions.push(grid::Caption {
            index,
            label,
            prediction: s.original_class as i64,
            score: s.score,
            path: input.path(index).map(String::from),
        });
    }
    table.print();
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

/// A text table: numbers right-aligned, the last two columns (status, path) left-aligned, each
/// column as wide as its widest cell.
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(header: &[&str]) -> Table {
        Table { header: header.iter().map(|h| h.to_string()).collect(), rows: Vec::new() }
    }

    fn add_column(&mut self, name: &str) {
        self.header.push(name.to_string());
    }

    fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    /// The lines of the table, header first.
    fn lines(&self) -> Vec<String> {
        let n = self.header.len();
        let width = |c: usize| {
            std::iter::once(&self.header).chain(&self.rows).map(|r| r.get(c).map_or(0, |s| s.chars().count())).max()
        };
        let widths: Vec<usize> = (0..n).map(|c| width(c).unwrap_or(0)).collect();
        let left = |c: usize| self.header[c] == "status" || self.header[c] == "path";
        std::iter::once(&self.header)
            .chain(&self.rows)
            .map(|r| {
                let cells: Vec<String> = r
                    .iter()
                    .enumerate()
                    .map(|(c, s)| match left(c) {
                        true if c + 1 == n => s.clone(),
                        true => format!("{s:<w$}", w = widths[c]),
                        false => format!("{s:>w$}", w = widths[c]),
                    })
                    .collect();
                cells.join("  ")
            })
            .collect()
    }

    fn print(&self) {
        for line in self.lines() {
            println!("{line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up() {
        let mut t = Table::new(&["rank", "score", "status"]);
        t.push(vec!["1".into(), "-7.46e-07".into(), "crossed".into()]);
        t.push(vec!["10".into(), "-1.00e+00".into(), "step_limit".into()]);
        assert_eq!(t.lines(), ["rank      score  status", "   1  -7.46e-07  crossed", "  10  -1.00e+00  step_limit"]);
    }
}
