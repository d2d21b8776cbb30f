//! CSV files of numeric columns (plain or gzipped, e.g. `digits.csv.gz`), one sample per row:
//! every column but the label column is a feature (samples of shape `[features]`), and the label
//! column, if named, gives integer labels.
//!
//! The first row is the header, unless every cell of it is a number (and they are not just
//! `0, 1, 2, ...`, as pandas writes for unnamed columns): then the file has no header and its
//! columns are named by their 0-based index (`"0"`, `"1"`, ...). The label column is given by
//! name, or by 0-based index (negative indices count from the end: `"-1"` is the last column).
//! Cells may have surrounding spaces; empty, non-numeric and non-finite cells are errors.

use std::io::Read;
use std::path::Path;

use ::csv::{ReaderBuilder, StringRecord, Trim};

use super::{open_reader, ArrayDataset};
use crate::error::{Error, Result};

/// A number of a cell, with its line and column for errors.
fn number(cell: &str, line: u64, column: &str) -> Result<f64> {
    match cell.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ if cell.is_empty() => {
            Err(Error::Data(format!("line {line}, column '{column}': the cell is empty; every cell must be a number")))
        }
        _ => Err(Error::Data(format!(
            "line {line}, column '{column}': '{cell}' is not a finite number; every cell must be a number"
        ))),
    }
}

/// Whether `record` is a header row: not every cell a number, or the cells are `0, 1, 2, ...`.
fn is_header(record: &StringRecord) -> bool {
    let numbers: Option<Vec<f64>> = record.iter().map(|c| c.parse::<f64>().ok()).collect();
    match numbers {
        None => true,
        Some(v) => v.len() > 1 && v.iter().enumerate().all(|(i, &x)| x == i as f64),
    }
}

/// The index of the label column `wanted` among `columns`.
fn label_index(wanted: &str, columns: &[String], has_header: bool) -> Result<usize> {
    if let Some(i) = columns.iter().position(|c| c == wanted) {
        return Ok(i);
    }
    if let Ok(i) = wanted.trim().parse::<i64>() {
        let n = columns.len() as i64;
        let i = if i < 0 { n + i } else { i };
        if (0..n).contains(&i) {
            return Ok(i as usize);
        }
    }
    let listed = if columns.len() > 40 {
        format!("{}, ... ({} columns)", columns[..40].join(", "), columns.len())
    } else {
        columns.join(", ")
    };
    let source = if has_header { "its header names the columns" } else { "it has no header row; its columns are" };
    Err(Error::Data(format!(
        "no label column '{wanted}'; {source}: {listed} (or give a 0-based column index; -1 is the last column)"
    )))
}

/// Reads a CSV file as samples of all columns but `label_column`, labelled by `label_column` if
/// given (whose values must be whole numbers).
pub fn read_dataset(path: &Path, label_column: Option<&str>) -> Result<ArrayDataset> {
    parse_dataset(open_reader(path)?, label_column).map_err(|e| e.in_file(path))
}

/// As [`read_dataset`], from a reader of the (gunzipped) text.
pub fn parse_dataset(text: impl Read, label_column: Option<&str>) -> Result<ArrayDataset> {
    let mut reader = ReaderBuilder::new().has_headers(false).trim(Trim::All).from_reader(text);
    let csv_err = |e: ::csv::Error| {
        let at = e.position().map(|p| format!("line {}: ", p.line())).unwrap_or_default();
        Error::Data(format!("{at}not a readable CSV file ({e}); expected comma-separated numeric columns"))
    };
    let mut records = reader.records();
    let first = match records.next() {
        Some(r) => r.map_err(csv_err)?,
        None => return Err(Error::Data("the CSV file is empty".into())),
    };
    let has_header = is_header(&first);
    let columns: Vec<String> = if has_header {
        first.iter().map(str::to_string).collect()
    } else {
        (0..first.len()).map(|i| i.to_string()).collect()
    };
    let label = label_column.map(|l| label_index(l, &columns, has_header)).transpose()?;
    let features = columns.len() - usize::from(label.is_some());
    if features == 0 {
        return Err(Error::Data(format!("the CSV file has no feature columns (columns: {})", columns.join(", "))));
    }

    let (mut data, mut labels) = (Vec::new(), Vec::new());
    let mut row = |record: &StringRecord| -> Result<()> {
        let line = record.position().map_or(0, |p| p.line());
        for (i, cell) in record.iter().enumerate() {
            let v = number(cell, line, &columns[i])?;
            if Some(i) == label {
                if v.fract() != 0.0 || v.abs() >= 2f64.powi(53) {
                    return Err(Error::Data(format!(
                        "line {line}, column '{}': label {cell} is not a whole number",
                        columns[i]
                    )));
                }
                labels.push(v as i64);
            } else {
                data.push(v as f32);
            }
        }
        Ok(())
    };
    if !has_header {
        row(&first)?;
    }
    for record in records {
        row(&record.map_err(csv_err)?)?;
    }
    if data.is_empty() {
        return Err(Error::Data("the CSV file has a header but no data rows".into()));
    }
    let dataset = ArrayDataset::new(vec![features], data)?;
    match label {
        Some(_) => dataset.with_labels(labels),
        None => Ok(dataset),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(cells: &[&str]) -> StringRecord {
        StringRecord::from(cells.to_vec())
    }

    #[test]
    fn tells_headers_from_data() {
        assert!(is_header(&rec(&["a", "b"])));
        assert!(is_header(&rec(&["0", "1", "2"])));
        assert!(!is_header(&rec(&["0", "0", "5"])));
        assert!(!is_header(&rec(&["1.5", "-2"])));
    }

    #[test]
    fn label_columns_by_name_or_index() {
        let cols: Vec<String> = ["a", "b", "y"].map(String::from).to_vec();
        assert_eq!(label_index("y", &cols, true).unwrap(), 2);
        assert_eq!(label_index("0", &cols, true).unwrap(), 0);
        assert_eq!(label_index("-1", &cols, true).unwrap(), 2);
        let err = label_index("label", &cols, true).unwrap_err().to_string();
        assert!(err.contains("'label'") && err.contains("a, b, y"), "{err}");
        assert!(label_index("3", &cols, false).unwrap_err().to_string().contains("no header"));
    }

    #[test]
    fn cells_must_be_finite_numbers() {
        assert_eq!(number("-1.5e2", 2, "a").unwrap(), -150.0);
        let err = number("NaN", 4, "a").unwrap_err().to_string();
        assert!(err.contains("line 4") && err.contains("'a'") && err.contains("'NaN'"), "{err}");
        assert!(number("", 4, "a").unwrap_err().to_string().contains("empty"));
    }
}
