//! `dziura convert`: saved profiles from one format to another.

use std::path::PathBuf;

use clap::Args;
use pyo3::prelude::*;

use crate::cli::Fail;

#[derive(Args, Debug)]
pub struct ConvertArgs {
    /// The profile to read (a dziura or pstats file)
    input: PathBuf,
    /// Where to write
    #[arg(short, long)]
    output: PathBuf,
    /// Output format (default: from the extension of -o)
    #[arg(short, long)]
    format: Option<String>,
}

pub fn convert(_py: Python<'_>, args: ConvertArgs) -> Result<i32, Fail> {
    Err(Fail(
        2,
        format!(
            "converting {} to {} is not available yet",
            args.input.display(),
            args.output.display()
        ),
    ))
}
