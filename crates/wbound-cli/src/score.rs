//! `wbound score`: scores every sample of a data set and writes the CSV.

use std::fs::File;
use std::io::{BufWriter, Write};

use anyhow::{Context, Result};
use wbound::data::npy;
use wbound::{Model, WeightsBoundaryCalculator};

use crate::args::ScoreArgs;
use crate::writer::{csv_row, CSV_HEADER};

pub fn run(a: &ScoreArgs) -> Result<()> {
    let model = Model::load(&a.model)?;
    let mut data = npy::read_dataset(&a.inputs)?;
    if let Some(labels) = &a.labels {
        data = data.with_labels(npy::read_labels(labels)?).with_context(|| format!("{}", labels.display()))?;
    }
    let mut calc = WeightsBoundaryCalculator::new(&model)
        .reference(a.reference)
        .step_nbr(a.steps)
        .norm(a.norm)
        .eps(a.eps)
        .params(a.params.clone())
        .batch_size(a.batch_size as usize);
    if let Some(t) = a.threads {
        calc = calc.threads(t as usize);
    }
    let batches =
        calc.compute_influence_values(&data).with_context(|| format!("cannot score {}", a.inputs.display()))?;
    let mut out: Box<dyn Write> = match a.out.as_deref() {
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
        Some(p) if p.as_os_str() == "-" => Box::new(BufWriter::new(std::io::stdout().lock())),
        Some(p) => Box::new(BufWriter::new(File::create(p).with_context(|| format!("cannot create {}", p.display()))?)),
    };
    writeln!(out, "{CSV_HEADER}")?;
    for batch in batches {
        let batch = batch?;
        for (i, s) in batch.scores.iter().enumerate() {
            csv_row(&mut out, batch.start + i, s)?;
        }
    }
    out.flush()?;
    Ok(())
}
