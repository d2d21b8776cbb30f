//! Output files: the CSV rows written while scoring, and the final file in the requested format
//! (CSV, JSON lines or `.npy`), which appears only when complete (written aside, then renamed).

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use npyz::WriterBuilder;
use wbound::{CheckpointScore, SampleScore, Status};

use crate::usage;

/// The CSV headers, fixed (downstream scripts rely on them); the library owns the column lists.
pub use wbound::columns::{checkpoint_header, is_header, CSV_HEADER};

/// Writes one CSV row. Floats use the shortest representation that reads back to the same f64;
/// +∞ distances (status `stuck`) are written `inf`, NaN (statuses `non_finite`, `invalid_input`)
/// `NaN`; a sample that was not scored (`invalid_input`) has empty class cells.
pub fn csv_row(out: &mut dyn Write, index: usize, s: &SampleScore) -> std::io::Result<()> {
    write!(out, "{index},{},{},{},{},", s.score, s.distance, s.steps, s.status)?;
    if s.status == Status::InvalidInput {
        writeln!(out, ",")
    } else {
        writeln!(out, "{},{}", s.original_class, s.final_class)
    }
}

/// Writes one CSV row of a checkpoint run ([`checkpoint_header`]), with the per-checkpoint scores
/// when `per_checkpoint`; like [`csv_row`], a sample not scored has empty class cells.
pub fn checkpoint_row(
    out: &mut dyn Write,
    index: usize,
    s: &CheckpointScore,
    per_checkpoint: bool,
) -> std::io::Result<()> {
    write!(out, "{index},{},{},{},{},", s.score, s.aum, s.mean_loss, s.label)?;
    if s.status == Status::InvalidInput {
        write!(out, ",,,{},{}", s.steps, s.status)?;
    } else {
        write!(out, "{},{},{},{},{}", s.prediction, s.suggested_label, s.final_class, s.steps, s.status)?;
    }
    if per_checkpoint {
        for v in &s.scores {
            write!(out, ",{v}")?;
        }
    }
    writeln!(out)
}

/// The format of `--out`, from its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutFormat {
    Csv,
    Jsonl,
    Npy,
}

impl OutFormat {
    pub fn of(path: &Path) -> Result<OutFormat> {
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("csv") => Ok(OutFormat::Csv),
            Some("jsonl") => Ok(OutFormat::Jsonl),
            Some("npy") => Ok(OutFormat::Npy),
            _ => Err(usage(format!("--out {}: the file name must end in .csv, .jsonl or .npy", path.display()))),
        }
    }
}

/// `FILE` + `suffix` beside it (`scores.csv` → `scores.csv.partial`).
pub fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// Writes `dest` through a temporary file beside it and a rename, so `dest` never holds a
/// partial result.
pub fn write_atomic(dest: &Path, write: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    let tmp = beside(dest, ".tmp");
    let file = File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let mut out = BufWriter::new(file);
    write(&mut out)?;
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    std::fs::rename(&tmp, dest).with_context(|| format!("cannot move {} to {}", tmp.display(), dest.display()))
}

/// One parsed row of a scores CSV.
pub struct Row<'a> {
    pub index: usize,
    pub fields: Vec<&'a str>,
}

/// Parses a data line of a scores CSV with `header` (`what` names the file and line in errors).
pub fn parse_row<'a>(line: &'a str, header: &str, what: &dyn Fn() -> String) -> Result<Row<'a>> {
    let fields: Vec<&str> = line.split(',').collect();
    let columns = header.split(',').count();
    if fields.len() != columns {
        bail!("{}: expected {columns} columns ({header}), found {}", what(), fields.len());
    }
    let index = fields[0].parse().with_context(|| format!("{}: index '{}' is not a number", what(), fields[0]))?;
    Ok(Row { index, fields })
}

/// A CSV cell as a JSON value: the text columns (`status`, `path`) as strings, empty cells (the
/// classes of a sample not scored) and non-finite numbers (`inf`, `NaN`) as `null`, other numbers
/// as they are.
fn json_cell(name: &str, cell: &str) -> String {
    if matches!(name, "status" | "path") {
        serde_json::Value::from(cell).to_string()
    } else if cell.parse::<f64>().is_ok_and(f64::is_finite) {
        cell.to_string()
    } else {
        "null".into()
    }
}

/// Converts the complete CSV `partial` into `dest` in `format`, atomically, and removes `partial`.
pub fn finalize(partial: &Path, dest: &Path, format: OutFormat) -> Result<()> {
    if format == OutFormat::Csv {
        return std::fs::rename(partial, dest)
            .with_context(|| format!("cannot move {} to {}", partial.display(), dest.display()));
    }
    let reader = BufReader::new(File::open(partial).with_context(|| format!("cannot read {}", partial.display()))?);
    let mut lines = reader.lines();
    let header = lines.next().transpose()?.unwrap_or_default();
    let lines: Vec<String> = lines.collect::<std::io::Result<_>>()?;
    let names: Vec<&str> = header.split(',').collect();
    write_atomic(dest, |out| {
        let what = |i: usize| move || format!("{} line {}", partial.display(), i + 2);
        match format {
            OutFormat::Jsonl => {
                for (i, line) in lines.iter().enumerate() {
                    let r = parse_row(line, &header, &what(i))?;
                    let cells: Vec<String> = names
                        .iter()
                        .zip(&r.fields)
                        .map(|(name, cell)| format!("\"{name}\":{}", json_cell(name, cell)))
                        .collect();
                    writeln!(out, "{{{}}}", cells.join(","))?;
                }
            }
            _ => {
                let scores: Vec<f64> = lines
                    .iter()
                    .enumerate()
                    .map(|(i, line)| {
                        let r = parse_row(line, &header, &what(i))?;
                        r.fields[1].parse::<f64>().with_context(|| format!("{}: bad score", what(i)()))
                    })
                    .collect::<Result<_>>()?;
                let mut w = npyz::WriteOptions::<f64>::new()
                    .default_dtype()
                    .shape(&[scores.len() as u64])
                    .writer(out)
                    .begin_nd()?;
                w.extend(scores)?;
                w.finish()?;
            }
        }
        Ok(())
    })?;
    std::fs::remove_file(partial).with_context(|| format!("cannot remove {}", partial.display()))
}
