//! Ctrl-C (SIGINT) and SIGTERM: the first asks the run to stop between samples, so that what is
//! complete stays on disk and `--resume` continues it; a second one exits at once.
//!
//! The handlers only set a flag (no thread of their own), so a run uses exactly `--threads`
//! threads.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, LazyLock, Once};

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::flag;

/// Set by the first signal; the calculator's workers stop when they see it.
pub static STOP: LazyLock<Arc<AtomicBool>> = LazyLock::new(|| Arc::new(AtomicBool::new(false)));

/// Exit code of a run stopped by a signal (128 + SIGINT, as shells report it).
pub const EXIT_CODE: u8 = 130;

/// Installs the handlers, once per process. A failure only means the default behaviour stays
/// (the process dies at once), which `--resume` also recovers from.
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for signal in [SIGINT, SIGTERM] {
            // Order matters: the exit is checked before the flag is set, so it fires on the second
            // signal.
            let _ = flag::register_conditional_shutdown(signal, i32::from(EXIT_CODE), Arc::clone(&STOP));
            let _ = flag::register(signal, Arc::clone(&STOP));
        }
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
