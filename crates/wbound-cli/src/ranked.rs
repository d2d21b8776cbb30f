//! One ranked sample as `top-k` and `report` show it — from a run made here ([`Row::of`]) or a
//! line of a scores CSV ([`read_scores`]) — and the ranking, by the library's top-k rule.

use std::path::Path;

use anyhow::{bail, Context, Result};
use wbound::{Dataset, HasScore, Order, Status, TopKSelector};

use crate::input::Input;
use crate::output::unquote;
use crate::scorer;

/// One sample's row: from a run made here or a scores CSV.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub index: usize,
    pub score: f64,
    pub status: String,
    /// The model's prediction (`None` for a sample that was not scored, `invalid_input`).
    pub prediction: Option<i64>,
    /// A suggested label, where the scores CSV has a `suggested_label` column.
    pub suggested: Option<i64>,
}

impl Row {
    /// The row of a result made here, for sample `index`.
    pub fn of(index: usize, row: &scorer::Row) -> Row {
        let scored = row.status() != Status::InvalidInput;
        match row {
            scorer::Row::One(s) => Row {
                index,
                score: s.score,
                status: s.status.to_string(),
                prediction: scored.then_some(s.original_class as i64),
                suggested: None,
            },
            scorer::Row::Checkpoints(s) => Row {
                index,
                score: s.score,
                status: s.status.to_string(),
                prediction: scored.then_some(s.prediction as i64),
                suggested: scored.then_some(s.suggested_label as i64),
            },
        }
    }
}

impl HasScore for Row {
    fn score(&self) -> f64 {
        self.score
    }
}

/// The `k` best of `rows` in `order`, by the library's rule (NaN last, ties to the lower index).
pub fn top(rows: Vec<Row>, k: usize, order: Order) -> Vec<Row> {
    let Ok(mut sel) = TopKSelector::new(k.max(1), order) else { return Vec::new() };
    for r in rows {
        sel.push(r.index, r, &[]);
    }
    let mut best = sel.finish().scores;
    best.truncate(k);
    best
}

/// The rows of a scores CSV `text` (from `path`) for `input`, by the names in its header (the
/// columns of `wbound score`, with `suggested_label` and `path` where present; `path` last), and
/// whether it has suggested labels. Every index must be a sample of `input`, once, and a `path`
/// cell must be that sample's file.
pub fn read_scores(text: &str, path: &Path, input: &Input) -> Result<(Vec<Row>, bool)> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let column = |name: &str| header.iter().position(|h| *h == name);
    let need = |name: &str| {
        column(name).with_context(|| {
            format!(
                "{}: no '{name}' column; --scores takes a CSV written by wbound score (its header: {})",
                path.display(),
                wbound::columns::CSV_HEADER
            )
        })
    };
    let (i_index, i_score, i_status) = (need("index")?, need("score")?, need("status")?);
    // One model's runs call the prediction original_class; checkpoint runs, prediction.
    let i_class = match column("prediction") {
        Some(i) => i,
        None => need("original_class")?,
    };
    let i_suggested = column("suggested_label");
    let i_path = column(crate::output::PATH_COLUMN);
    let n = input.data.len();
    let mut seen = vec![false; n];
    let mut rows = Vec::new();
    for (l, line) in lines.enumerate() {
        let at = || format!("{} line {}", path.display(), l + 2);
        let cells: Vec<&str> = line.splitn(header.len(), ',').collect();
        if cells.len() != header.len() {
            bail!("{}: {} cells for the header's {} columns", at(), cells.len(), header.len());
        }
        let int = |i: usize| -> Result<Option<i64>> {
            match cells[i] {
                "" => Ok(None),
                c => c.parse().map(Some).with_context(|| format!("{}: '{c}' is not a class", at())),
            }
        };
        let index: usize =
            cells[i_index].parse().with_context(|| format!("{}: bad index '{}'", at(), cells[i_index]))?;
        if index >= n {
            bail!(
                "{}: index {index} is outside the {n} samples of the inputs; are these the scores of another data set?",
                at()
            );
        }
        if std::mem::replace(&mut seen[index], true) {
            bail!("{}: index {index} appears twice", at());
        }
        if let (Some(i), Some(file)) = (i_path, input.path(index)) {
            let cell = unquote(cells[i]);
            if cell != file {
                bail!(
                    "{}: sample {index} is {cell} in the scores but {file} in the inputs; score these inputs again",
                    at()
                );
            }
        }
        let score =
            cells[i_score].parse::<f64>().with_context(|| format!("{}: bad score '{}'", at(), cells[i_score]))?;
        rows.push(Row {
            index,
            score,
            status: cells[i_status].to_string(),
            prediction: int(i_class)?,
            suggested: i_suggested.map(int).transpose()?.flatten(),
        });
    }
    if rows.is_empty() {
        bail!("{}: no rows", path.display());
    }
    Ok((rows, i_suggested.is_some()))
}
