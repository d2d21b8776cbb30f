//! The columns of the per-sample output, in order: one list for every writer of scores (the
//! CLI's CSV and JSON lines, the Python package's DataFrame), so that a new column is added once.
//! One model's run has [`COLUMNS`]; a run over several checkpoints [`CHECKPOINT_COLUMNS`], then
//! optionally one `score_<k>` column per checkpoint ([`checkpoint_header`]).

/// Declares a column list and its CSV header from one list of names.
macro_rules! columns {
    ($(#[$doc:meta])* $list:ident, $header:ident: $first:literal $(, $rest:literal)*) => {
        $(#[$doc])*
        pub const $list: &[&str] = &[$first $(, $rest)*];
        /// The CSV header: the list joined by commas (downstream scripts rely on it).
        pub const $header: &str = concat!($first $(, ",", $rest)*);
    };
}

columns!(
    /// The column names of one model's run, in output order.
    COLUMNS, CSV_HEADER: "index", "score", "distance", "steps", "status", "original_class", "final_class"
);

columns!(
    /// The column names of a run over several checkpoints, in output order (`score` is the mean
    /// label-referenced score, `aum` the mean margin, `prediction` the last checkpoint's).
    CHECKPOINT_COLUMNS, CHECKPOINT_HEADER: "index", "score", "aum", "mean_loss", "label", "prediction",
    "suggested_label", "final_class", "steps", "status"
);

/// The header of a checkpoint run; with `per_checkpoint = Some(k)`, `score_1 … score_k` after
/// [`CHECKPOINT_COLUMNS`] (in training order).
pub fn checkpoint_header(per_checkpoint: Option<usize>) -> String {
    let mut h = CHECKPOINT_HEADER.to_string();
    for k in 1..=per_checkpoint.unwrap_or(0) {
        h.push_str(&format!(",score_{k}"));
    }
    h
}

/// Whether `line` is the header of a wbound scores CSV (one model or checkpoints, with any
/// extra columns after the fixed ones).
pub fn is_header(line: &str) -> bool {
    line == CSV_HEADER
        || line.starts_with(&format!("{CSV_HEADER},"))
        || line == CHECKPOINT_HEADER
        || line.starts_with(&format!("{CHECKPOINT_HEADER},"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_is_the_columns_joined() {
        assert_eq!(CSV_HEADER, COLUMNS.join(","));
        assert_eq!(CSV_HEADER, "index,score,distance,steps,status,original_class,final_class");
        assert_eq!(CHECKPOINT_HEADER, CHECKPOINT_COLUMNS.join(","));
        assert_eq!(checkpoint_header(Some(2)), format!("{CHECKPOINT_HEADER},score_1,score_2"));
        assert!(is_header(&checkpoint_header(Some(2))) && is_header(CSV_HEADER));
        assert!(!is_header("index,score") && !is_header(&format!("{CSV_HEADER}x")));
    }
}
