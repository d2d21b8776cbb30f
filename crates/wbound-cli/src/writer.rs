//! Output writers: the scores CSV.

use std::io::Write;

use wbound::SampleScore;

/// The CSV header, fixed (downstream scripts rely on it).
pub const CSV_HEADER: &str = "index,score,distance,steps,status,original_class,final_class";

/// Writes one CSV row. Floats use the shortest representation that reads back to the same f64;
/// +∞ distances (status `stuck`) are written `inf`, NaN (status `non_finite`) `NaN`.
pub fn csv_row(out: &mut dyn Write, index: usize, s: &SampleScore) -> std::io::Result<()> {
    writeln!(out, "{index},{},{},{},{},{},{}", s.score, s.distance, s.steps, s.status, s.original_class, s.final_class)
}
