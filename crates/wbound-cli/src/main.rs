//! `wbound`: the command-line tool. Glue only — argument parsing, progress, writers and plots;
//! every number comes from the `wbound` library.
//!
//! Exit codes: 0 success, 1 runtime error (bad file, model or data), 2 usage error.

mod args;
mod bench;
mod destination;
mod glyphs;
mod grid;
mod input;
mod inspect;
mod interrupt;
mod memory;
mod merge;
mod numbers;
mod output;
mod plot;
mod progress;
mod ranked;
mod report;
mod score;
mod scorer;
mod topk;
mod weights_note;

use std::process::ExitCode;

use clap::Parser;

/// An error in how the tool was called that clap cannot see (k larger than the data set, an
/// output that exists without --force, ...): exit code 2.
#[derive(Debug)]
pub struct Usage(String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// A usage error as an `anyhow::Error`.
pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Usage(msg.into()))
}

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    let result = match cli.command {
        args::Command::Score(a) => score::run(&a),
        args::Command::TopK(a) => topk::run(&a),
        args::Command::Report(a) => report::run(&a),
        args::Command::Inspect(a) => inspect::run(&a),
        args::Command::Merge(a) => merge::run(&a),
        args::Command::Bench(a) => bench::run(&a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<interrupt::Interrupted>().is_some() => {
            eprintln!("{e:#}");
            ExitCode::from(interrupt::EXIT_CODE)
        }
        Err(e) if matches!(e.downcast_ref::<wbound::Error>(), Some(wbound::Error::Cancelled)) => {
            eprintln!("interrupted");
            ExitCode::from(interrupt::EXIT_CODE)
        }
        Err(e) => {
            let lib = library_error(&e);
            // The library names its settings; the user typed flags.
            let line = match e.downcast_ref::<wbound::Error>() {
                Some(wbound::Error::Setting { name, msg }) => format!("invalid {}: {msg}", flag(name).unwrap_or(name)),
                _ => format!("{e:#}"),
            };
            let hint = if matches!(lib, Some(wbound::Error::NonFiniteInput { .. })) { " (--skip-invalid)" } else { "" };
            eprintln!("error: {line}{hint}");
            if matches!(lib, Some(wbound::Error::Resources(_))) {
                eprintln!("hint: lower --threads or --batch-size, or set --max-memory (default: 80% of this machine's memory)");
            }
            let usage = e.downcast_ref::<Usage>().is_some()
                || matches!(lib, Some(wbound::Error::Setting { .. } | wbound::Error::Config(_)));
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}

/// The library's error behind `e`, looking through the file it is about.
fn library_error(e: &anyhow::Error) -> Option<&wbound::Error> {
    let mut lib = e.downcast_ref::<wbound::Error>()?;
    while let wbound::Error::File { cause, .. } = lib {
        lib = cause;
    }
    Some(lib)
}

/// The flag that sets a run setting the library names ([`wbound::Error::Setting`]).
fn flag(setting: &str) -> Option<&'static str> {
    Some(match setting {
        "eps" => "--eps",
        "params" => "--params",
        "threads" => "--threads",
        "batch_size" => "--batch-size",
        "reference" => "--reference",
        "k" => "-k",
        _ => return None,
    })
}

/// `wbound score ... | head` closing the pipe early is not an error.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}
