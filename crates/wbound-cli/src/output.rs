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

/// The name of the column that holds each sample's file (image folders), written last and only
/// when the input has files.
pub const PATH_COLUMN: &str = "path";

/// A run's CSV header: `header`, then `path` when the samples come from files.
pub fn with_path(header: String, paths: bool) -> String {
    if paths {
        format!("{header},{PATH_COLUMN}")
    } else {
        header
    }
}

/// Ends a row: the sample's file as the last cell (quoted when it holds a comma or a quote), then
/// the line break.
fn end_row(out: &mut dyn Write, path: Option<&str>) -> std::io::Result<()> {
    match path {
        Some(p) => writeln!(out, ",{}", quote(p)),
        None => writeln!(out),
    }
}

/// A CSV cell: as is, or in double quotes (quotes doubled) when it holds a comma, quote or line
/// break (RFC 4180).
pub fn quote(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", cell.replace('"', "\"\"")).into()
    } else {
        cell.into()
    }
}

/// The value of a cell written by [`quote`].
pub fn unquote(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.strip_prefix('"').and_then(|c| c.strip_suffix('"')) {
        Some(inner) => inner.replace("\"\"", "\"").into(),
        None => cell.into(),
    }
}

/// Writes one CSV row. Floats use the shortest representation that reads back to the same f64;
/// +∞ distances (status `stuck`) are written `inf`, NaN (statuses `non_finite`, `invalid_input`)
/// `NaN`; a sample that was not scored (`invalid_input`) has empty class cells. `path`, the
/// sample's file, is the last cell.
pub fn csv_row(out: &mut dyn Write, index: usize, s: &SampleScore, path: Option<&str>) -> std::io::Result<()> {
    write!(out, "{index},{},{},{},{},", s.score, s.distance, s.steps, s.status)?;
    if s.status == Status::InvalidInput {
        write!(out, ",")?;
    } else {
        write!(out, "{},{}", s.original_class, s.final_class)?;
    }
    end_row(out, path)
}

/// Writes one CSV row of a checkpoint run ([`checkpoint_header`]), with the per-checkpoint scores
/// when `per_checkpoint`; like [`csv_row`], a sample not scored has empty class cells.
pub fn checkpoint_row(
    out: &mut dyn Write,
    index: usize,
    s: &CheckpointScore,
    per_checkpoint: bool,
    path: Option<&str>,
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
    end_row(out, path)
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
/// A last `path` column may hold commas (quoted, see [`quote`]); its cell is kept as written.
pub fn parse_row<'a>(line: &'a str, header: &str, what: &dyn Fn() -> String) -> Result<Row<'a>> {
    let columns = header.split(',').count();
    let fields: Vec<&str> = if header.ends_with(&format!(",{PATH_COLUMN}")) {
        line.splitn(columns, ',').collect()
    } else {
        line.split(',').collect()
    };
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
    if name == PATH_COLUMN {
        serde_json::Value::from(unquote(cell).as_ref()).to_string()
    } else if name == "status" {
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
