//! The progress bar on stderr: samples done, samples/s and ETA, shown only when stderr is a
//! terminal and `--quiet` is off. It uses no colours, so `NO_COLOR` is honoured trivially.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar over `total` samples, starting at `done`; hidden when not wanted.
pub fn bar(total: usize, done: usize, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("{bar:40} {pos}/{len} samples  {per_sec}  ETA {eta}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_position(done as u64);
    bar.reset_eta();
    bar
}
