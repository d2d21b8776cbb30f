//! The columns of the per-sample output, in order: one list for every writer of scores (the
//! CLI's CSV and JSON lines, the Python package's DataFrame), so that a new column is added once.

/// Declares [`COLUMNS`] and [`CSV_HEADER`] from one list of names.
macro_rules! columns {
    ($first:literal $(, $rest:literal)*) => {
        /// The column names, in output order.
        pub const COLUMNS: &[&str] = &[$first $(, $rest)*];
        /// The CSV header: [`COLUMNS`] joined by commas (downstream scripts rely on it).
        pub const CSV_HEADER: &str = concat!($first $(, ",", $rest)*);
    };
}

columns!("index", "score", "distance", "steps", "status", "original_class", "final_class");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_is_the_columns_joined() {
        assert_eq!(CSV_HEADER, COLUMNS.join(","));
        assert_eq!(CSV_HEADER, "index,score,distance,steps,status,original_class,final_class");
    }
}
