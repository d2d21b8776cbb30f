//! `wbound`: the command-line tool. Glue only — argument parsing, progress and writers; every
//! number comes from the `wbound` library.
//!
//! Exit codes: 0 success, 1 runtime error (bad file, model or data), 2 usage error.

mod args;
mod bench;
mod plot;
mod score;
mod writer;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    let result = match cli.command {
        args::Command::Score(a) => score::run(&a),
        args::Command::Bench(a) => bench::run(&a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// `wbound score ... | head` closing the pipe early is not an error.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}
