//! `wbound top-k`: the k most (or least) suspicious samples as a table, and as a PNG grid for
//! images. Scores afresh with the library's bounded-memory top-k (one model or checkpoints: it
//! never holds all scores), or ranks the rows of an existing `score` output (`--scores`).

use std::path::Path;

use anyhow::{bail, Context, Result};
use wbound::{Dataset, Order};

use crate::args::{OrderArg, TopKArgs};
use crate::input::{self, Input, Slice};
use crate::output::is_header;
use crate::ranked::{self, read_scores, Row};
use crate::scorer::{self, Models, Scorer};
use crate::{grid, score, usage};

pub fn run(a: &TopKArgs) -> Result<()> {
    if let Some(path) = &a.grid {
        grid::check_name(path)?;
        crate::destination::check(path, "--grid", a.force)?;
    }
    let models = Models::load(&a.run)?;
    crate::weights_note::print(models.model(), &a.run.params);
    let input = input::load(&a.data, models.model())?;
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
    let order = match a.order {
        OrderArg::Descending => Order::Descending,
        OrderArg::Ascending => Order::Ascending,
    };
    let reference = models.reference(&a.run, input.labels.is_some())?;
    let slice = Slice::of(&input, input.range.clone());
    let (indices, shown, samples, how) = match &a.scores {
        Some(path) => {
            let (indices, shown) = from_file(path, &input, k, order)?;
            let samples = read_samples(&input, &indices)?;
            (indices, shown, samples, format!("ranked by the score column of {}", path.display()))
        }
        None => {
            let scorer = Scorer::new(score::calculator(&a.run, models.model()), &models, &a.run, reference);
            let how = scorer.describe(input.labels.is_some());
            let about = input::about_inputs(&a.data);
            let start = input.range.start;
            let global = |v: Vec<usize>| v.into_iter().map(|i| start + i).collect::<Vec<_>>();
            match &scorer {
                Scorer::One(calc) => {
                    let top = calc.compute_top_k_from_training_dataset(&slice, k, order).map_err(about)?;
                    let indices = global(top.indices);
                    let shown = rows(&indices, top.scores.into_iter().map(scorer::Row::One));
                    (indices, shown, top.samples, how)
                }
                Scorer::Checkpoints { calc, .. } => {
                    let top = calc.compute_top_k(&slice, k, order).map_err(about)?;
                    let indices = global(top.indices);
                    let shown = rows(&indices, top.scores.into_iter().map(scorer::Row::Checkpoints));
                    (indices, shown, top.samples, how)
                }
            }
        }
    };
    print_table(&input, &indices, &shown);
    if !a.run.quiet {
        eprintln!("{how}");
    }
    if let (Some(path), Some(geometry)) = (&a.grid, input.image) {
        let labels = input.labels.as_deref();
        let captions: Vec<grid::Caption> = indices
            .iter()
            .zip(&shown)
            .map(|(&index, s)| grid::Caption {
                index,
                label: labels.map(|l| l[index]),
                prediction: s.prediction,
                score: s.score,
                path: input.path(index).map(String::from),
            })
            .collect();
        let layout = grid::write(path, &samples, geometry, &captions)
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

fn print_table(input: &Input, indices: &[usize], shown: &[Row]) {
    let labels = input.labels.as_deref();
    let suggested = shown.iter().any(|s| s.suggested.is_some());
    let mut header = vec!["rank", "index", "score", "label", "original_class"];
    if suggested {
        header.push("suggested");
    }
    header.push("status");
    if input.paths.is_some() {
        header.push("path");
    }
    let mut table = Table::new(&header);
    for (rank, (&index, s)) in indices.iter().zip(shown).enumerate() {
        let class = |c: Option<i64>| c.map_or("-".to_string(), |c| input.class_name(c));
        let mut row = vec![
            (rank + 1).to_string(),
            index.to_string(),
            crate::numbers::sig3(s.score),
            labels.map_or("-".to_string(), |l| input.class_name(l[index])),
            class(s.prediction),
        ];
        if suggested {
            row.push(class(s.suggested));
        }
        row.push(s.status.clone());
        row.extend(input.path(index).map(String::from));
        table.push(row);
    }
    table.print();
}

/// The ranked results as rows, sample `indices[i]` for the i-th.
fn rows(indices: &[usize], results: impl Iterator<Item = scorer::Row>) -> Vec<Row> {
    indices.iter().zip(results).map(|(&i, r)| Row::of(i, &r)).collect()
}

/// The top `k` rows of a `score` CSV (by the library's ranking rule), all of whose indices must be
/// in the input's range: their indices and rows.
fn from_file(path: &Path, input: &Input, k: usize, order: Order) -> Result<(Vec<usize>, Vec<Row>)> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    if !is_header(text.lines().next().unwrap_or_default()) {
        bail!("{}: not a wbound scores CSV (write one with `wbound score --out FILE.csv`)", path.display());
    }
    let (rows, _) = read_scores(&text, path, input)?;
    if let Some(r) = rows.iter().find(|r| !input.range.contains(&r.index)) {
        bail!(
            "{}: index {} is not among the samples ranked ({}..{} of {}): rank the output of a run on the same \
             --inputs and --shard",
            path.display(),
            r.index,
            input.range.start,
            input.range.end,
            input.data.len()
        );
    }
    if rows.len() < k {
        return Err(usage(format!("-k {k} is larger than the {} rows of {}", rows.len(), path.display())));
    }
    let top = ranked::top(rows, k, order);
    Ok((top.iter().map(|r| r.index).collect(), top))
}

/// The samples at global `indices` of the input, row-major.
fn read_samples(input: &Input, indices: &[usize]) -> Result<Vec<f32>> {
    let mut out = Vec::new();
    for &i in indices {
        input.data.read(i, 1, &mut out)?;
    }
    Ok(out)
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
