//! Ctrl-C (SIGINT) and SIGTERM: the first asks the run to stop between samples, so that what is
//! complete stays on disk and `--resume` continues it; a second one exits at once.

use std::sync::atomic::{AtomicBool, Ordering};

/// Set by the first signal; the calculator's workers stop when they see it.
pub static STOP: AtomicBool = AtomicBool::new(false);

/// Exit code of a run stopped by a signal (128 + SIGINT, as shells report it).
pub const EXIT_CODE: u8 = 130;

/// Installs the handler (once per process; a failure only means the default behaviour stays:
/// the process dies at once, which `--resume` also recovers from).
pub fn install() {
    let _ = ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::SeqCst) {
            std::process::exit(i32::from(EXIT_CODE));
        }
        eprintln!("\nstopping after the samples in progress (press Ctrl-C again to quit at once)");
    });
}

/// The error of a run stopped by a signal: its message says how to continue, and the tool exits
/// with [`EXIT_CODE`].
#[derive(Debug)]
pub struct Interrupted(pub String);

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Interrupted {}
