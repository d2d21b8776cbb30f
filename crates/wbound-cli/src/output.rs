//! Output files: the CSV rows written while scoring, and the final file in the requested format
//! (CSV, JSON lines or `.npy`), which appears only when complete (written aside, then renamed).

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use npyz::WriterBuilder;
use wbound::{SampleScore, Status};

use crate::usage;

/// The CSV header, fixed (downstream scripts rely on it); the library owns the column list.
pub use wbound::columns::CSV_HEADER;

/// The name of the column that holds each sample's file (image folders), written last and only
/// when the input has files.
pub const PATH_COLUMN: &str = "path";

/// The CSV header of a run: [`CSV_HEADER`], then `path` when the samples come from files.
pub fn header(paths: bool) -> String {
    if paths {
        format!("{CSV_HEADER},{PATH_COLUMN}")
    } else {
        CSV_HEADER.to_string()
    }
}

/// Writes one CSV row. Floats use the shortest representation that reads back to the same f64;
/// +∞ distances (status `stuck`) are written `inf`, NaN (statuses `non_finite`, `invalid_input`)
/// `NaN`; a sample that was not scored (`invalid_input`) has empty class cells. `path`, the
/// sample's file, is the last cell (quoted when it holds a comma or a quote).
pub fn csv_row(out: &mut dyn Write, index: usize, s: &SampleScore, path: Option<&str>) -> std::io::Result<()> {
    write!(out, "{index},{},{},{},{},", s.score, s.distance, s.steps, s.status)?;
    if s.status != Status::InvalidInput {
        write!(out, "{},{}", s.original_class, s.final_class)?;
    } else {
        write!(out, ",")?;
    }
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
    /// The cells; the last one (`path`, which may hold commas) unquoted.
    pub fields: Vec<std::borrow::Cow<'a, str>>,
}

/// Parses a data line of a scores CSV of `columns` columns (`what` names the file and line in
/// errors). Only the last column may hold commas (the `path`, quoted).
pub fn parse_row<'a>(line: &'a str, columns: usize, what: &dyn Fn() -> String) -> Result<Row<'a>> {
    let mut fields: Vec<std::borrow::Cow<'a, str>> = line.splitn(columns, ',').map(Into::into).collect();
    if fields.len() != columns || (columns == 7 && fields[6].contains(',')) {
        bail!("{}: expected {columns} columns, found {}", what(), line.split(',').count());
    }
    if let Some(last) = fields.last_mut() {
        *last = unquote(last).into_owned().into();
    }
    let index = fields[0].parse().with_context(|| format!("{}: index '{}' is not a number", what(), fields[0]))?;
    Ok(Row { index, fields })
}

/// The number of columns of a scores CSV whose first line is `first`: the fixed columns, with
/// `path` after them or not; `None` when it is not a wbound scores CSV.
pub fn columns_of(first: &str) -> Option<usize> {
    let n = CSV_HEADER.split(',').count();
    match first {
        h if h == CSV_HEADER => Some(n),
        h if h == header(true) => Some(n + 1),
        _ => None,
    }
}

/// A class cell for JSON: empty (a sample that was not scored) becomes `null`.
fn null_if_empty(cell: &str) -> &str {
    if cell.is_empty() {
        "null"
    } else {
        cell
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
    let first = lines.next().transpose()?.unwrap_or_default();
    let columns = columns_of(&first).with_context(|| format!("{}: not a wbound scores CSV", partial.display()))?;
    let lines: Vec<String> = lines.collect::<std::io::Result<_>>()?;
    write_atomic(dest, |out| {
        let what = |i: usize| move || format!("{} line {}", partial.display(), i + 2);
        match format {
            OutFormat::Jsonl => {
                for (i, line) in lines.iter().enumerate() {
                    let r = parse_row(line, columns, &what(i))?;
                    let num = |s: &str| {
                        if s.parse::<f64>().is_ok_and(f64::is_finite) {
                            s.to_string()
                        } else {
                            "null".into()
                        }
                    };
                    let f = &r.fields;
                    write!(
                        out,
                        "{{\"index\":{},\"score\":{},\"distance\":{},\"steps\":{},\"status\":\"{}\",\"original_class\":{},\"final_class\":{}",
                        r.index,
                        num(&f[1]),
                        num(&f[2]),
                        f[3],
                        f[4],
                        null_if_empty(&f[5]),
                        null_if_empty(&f[6])
                    )?;
                    match f.get(7) {
                        Some(path) => writeln!(out, ",\"{PATH_COLUMN}\":{}}}", serde_json::Value::from(path.as_ref()))?,
                        None => writeln!(out, "}}")?,
                    }
                }
            }
            _ => {
                let scores: Vec<f64> = lines
                    .iter()
                    .enumerate()
                    .map(|(i, line)| {
                        let r = parse_row(line, columns, &what(i))?;
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
