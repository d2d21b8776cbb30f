//! The progress bar on stderr: samples done, samples/s (rounded) and ETA, shown only when stderr
//! is a terminal and `--quiet` is off. It uses no colours, so `NO_COLOR` is honoured trivially.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// The bar's line after the bar itself; `{rate}` is the rounded samples/s ([`crate::numbers::rate`]).
const TEMPLATE: &str = "{bar:40} {pos}/{len} samples  {rate} samples/s  ETA {eta}";

/// A bar over `total` samples, starting at `done`; hidden when not wanted.
pub fn bar(total: usize, done: usize, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
    bar.set_style(style());
    bar.set_position(done as u64);
    bar.reset_eta();
    bar
}

fn style() -> ProgressStyle {
    ProgressStyle::with_template(TEMPLATE)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .with_key("rate", |state: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = w.write_str(&crate::numbers::rate(state.per_sec()));
        })
        .progress_chars("=> ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_template_uses_the_rounded_rate() {
        // indicatif's own {per_sec} prints four decimals ("401.5139/s").
        assert!(super::TEMPLATE.contains("{rate}") && !super::TEMPLATE.contains("per_sec"));
        let _ = super::style();
    }
}
