//! The `dziura` command line. `run` traces a script or module in this interpreter, exactly as
//! `python -m cProfile` does (but with the program's own `__main__` module); `show` prints a saved
//! profile. Every failure is one line on stderr and a non-zero exit status.

use clap::{Parser, Subcommand};
use pyo3::prelude::*;

mod args;
mod convert;
mod diff;
mod dump;
mod record;
mod run;
mod show;
mod top;

use crate::views;

#[derive(Parser)]
#[command(
    name = "dziura",
    version,
    about = "Find where a Python program spends its time.",
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    override_usage = "dziura <COMMAND> ...\n       dziura [-o FILE] [-s SORT] (-m MODULE | SCRIPT) [ARGS]...   (cProfile's command line: run)"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Without a subcommand: `run`, as `python -m cProfile` takes it
    #[command(flatten)]
    run: run::RunArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Trace a script or module and print the cProfile table (or write a pstats file with -o)
    Run(run::RunArgs),
    /// Sample a running Python process (or a command) from outside and write a profile
    Record(record::RecordArgs),
    /// Print the current Python stack of every thread of a running process, once
    Dump(dump::DumpArgs),
    /// A live, refreshing view of the functions a running process spends its time in
    Top(top::TopArgs),
    /// Convert a saved profile to another format
    Convert(convert::ConvertArgs),
    /// Compare two profiles: what got slower, what got faster, what is new or gone
    Diff(diff::DiffArgs),
    /// Print a saved profile (a dziura file, or a pstats file from dziura or cProfile) as the table or a call tree
    Show(show::ShowArgs),
}

/// A failure to report as `dziura: error: MESSAGE`, with this exit status (2 for a bad
/// argument, as argparse and clap use, else 1).
#[derive(Debug, Clone)]
pub(crate) struct CliError {
    pub status: i32,
    pub message: String,
}

impl CliError {
    /// A bad argument or a usage error: status 2.
    pub fn usage(message: impl Into<String>) -> CliError {
        CliError {
            status: 2,
            message: message.into(),
        }
    }

    /// Something that failed while doing what was asked: status 1.
    pub fn failed(message: impl Into<String>) -> CliError {
        CliError {
            status: 1,
            message: message.into(),
        }
    }
}

impl From<PyErr> for CliError {
    fn from(e: PyErr) -> Self {
        CliError::failed(e.to_string())
    }
}

impl From<dziura_remote::RemoteError> for CliError {
    fn from(e: dziura_remote::RemoteError) -> Self {
        CliError::failed(e.to_string())
    }
}

/// Naming a format that does not exist, or none that can be told, is a usage error; a profile
/// that cannot be written in the format asked for is a failure.
impl From<dziura_formats::FormatError> for CliError {
    fn from(e: dziura_formats::FormatError) -> Self {
        use dziura_formats::FormatError as E;
        match e {
            E::UnknownFormat(_) | E::CannotTell(_) => CliError::usage(e.to_string()),
            _ => CliError::failed(e.to_string()),
        }
    }
}

impl From<dziura_table::ViewError> for CliError {
    fn from(e: dziura_table::ViewError) -> Self {
        CliError::usage(e.to_string())
    }
}

impl From<dziura_diff::DiffError> for CliError {
    fn from(e: dziura_diff::DiffError) -> Self {
        CliError::failed(e.to_string())
    }
}

/// Entry point of the `dziura` command; returns the exit status.
#[pyfunction]
pub fn main(py: Python<'_>, argv: Vec<String>) -> PyResult<i32> {
    let cli = match Cli::try_parse_from(&argv) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let text = e.render().to_string();
            if e.use_stderr() {
                // One line naming the problem, and where help is (clap's usage block is long).
                let first = text.lines().next().unwrap_or("error: invalid arguments");
                let help = text
                    .lines()
                    .rfind(|l| l.starts_with("For more information"));
                eprintln!("{first}");
                if let Some(h) = help {
                    eprintln!("{h}");
                }
            } else {
                views::write_stdout(py, &text)?;
            }
            return Ok(code);
        }
    };
    let command = cli.command.unwrap_or(Command::Run(cli.run));
    let result = match command {
        Command::Run(args) => run::run_command(py, args),
        Command::Show(args) => show::show(py, args),
        Command::Record(args) => record::record(py, args),
        Command::Dump(args) => dump::dump(py, args),
        Command::Top(args) => top::top(py, args),
        Command::Convert(args) => convert::convert(py, args),
        Command::Diff(args) => diff::diff(py, args),
    };
    match result {
        Ok(code) => Ok(code),
        Err(e) => {
            flush(py);
            eprintln!("dziura: error: {}", e.message);
            Ok(e.status)
        }
    }
}

pub(crate) fn flush(py: Python<'_>) {
    if let Ok(sys) = py.import("sys") {
        for s in ["stdout", "stderr"] {
            if let Ok(f) = sys.getattr(s) {
                let _ = f.call_method0("flush");
            }
        }
    }
}
