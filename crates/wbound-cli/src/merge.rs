//! `wbound merge`: joins the CSVs of sharded `score` runs into one, in index order, refusing gaps
//! (a shard missing or incomplete; a missing last shard only with `--expect N`) and overlaps (a
//! shard given twice, or mismatched shard counts).

use std::fs;

use anyhow::{bail, Context, Result};

use crate::args::MergeArgs;
use crate::output::{is_header, parse_row, write_atomic, CSV_HEADER};

pub fn run(a: &MergeArgs) -> Result<()> {
    crate::destination::check(&a.out, "--out", a.force)?;
    let texts: Vec<String> = a
        .shards
        .iter()
        .map(|p| fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display())))
        .collect::<Result<_>>()?;
    // (index, shard number, line) for every row.
    let mut rows: Vec<(usize, usize, &str)> = Vec::new();
    let mut header: Option<&str> = None;
    for (s, (text, path)) in texts.iter().zip(&a.shards).enumerate() {
        let mut lines = text.lines();
        let first = lines.next().unwrap_or_default();
        if !is_header(first) {
            bail!(
                "{}: not a wbound scores CSV (its first line is not a wbound header like '{CSV_HEADER}')",
                path.display()
            );
        }
        match header {
            Some(h) if h != first => bail!(
                "{} has other columns than {} ('{first}' against '{h}'): the shards come from different runs",
                path.display(),
                a.shards[0].display()
            ),
            _ => header = Some(first),
        }
        for (i, line) in lines.enumerate() {
            let row = parse_row(line, first, &|| format!("{} line {}", path.display(), i + 2))?;
            rows.push((row.index, s, line));
        }
    }
    rows.sort_by_key(|r| r.0);
    let name = |s: usize| a.shards[s].display().to_string();
    for (expected, w) in rows.iter().enumerate() {
        if w.0 < expected {
            let first = rows.iter().find(|r| r.0 == w.0).map_or(w.1, |r| r.1);
            bail!("overlap: index {} is in both {} and {}", w.0, name(first), name(w.1));
        }
        if w.0 > expected {
            bail!("gap: indices {expected}..{} are in no shard (the next row, {}, is in {})", w.0 - 1, w.0, name(w.1));
        }
    }
    if let Some(n) = a.expect.filter(|&n| n != rows.len()) {
        bail!("gap: the shards hold indices 0..{} but --expect says {n} samples", rows.len().saturating_sub(1));
    }
    write_atomic(&a.out, |out| {
        writeln!(out, "{}", header.unwrap_or(CSV_HEADER))?;
        for (_, _, line) in &rows {
            writeln!(out, "{line}")?;
        }
        Ok(())
    })?;
    eprintln!("merged {} rows from {} shards into {}", rows.len(), a.shards.len(), a.out.display());
    Ok(())
}
