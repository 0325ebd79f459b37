//! `dziura convert`: a saved profile (dziura, pstats or folded stacks) written in another format.

use std::path::PathBuf;

use clap::Args;
use dziura_formats::Format;
use pyo3::prelude::*;

use super::args::{load, sort_option, write_file};
use super::CliError;

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
    /// The table's sort key, as pstats takes it (default cumulative; tottime for a sampled
    /// profile)
    #[arg(short, long)]
    sort: Option<String>,
    /// A directory of your own code, for the table's "your code first" (repeatable; also
    /// DZIURA_OWN)
    #[arg(long, value_name = "DIR")]
    own: Vec<PathBuf>,
}

pub fn convert(py: Python<'_>, args: ConvertArgs) -> Result<i32, CliError> {
    let format = Format::choose(args.format.as_deref(), Some(&args.output), None)?;
    let sort = args.sort.as_deref().map(sort_option).transpose()?;
    let profile = load(&args.input)?;
    let mut opts = crate::views::write_options(py, &args.own)?;
    opts.table.sort = Some(sort.unwrap_or_else(|| dziura_formats::default_sort(&profile)));
    let bytes = dziura_formats::write(&profile, format, &opts)
        .map_err(|e| CliError::failed(format!("cannot convert '{}': {e}", args.input.display())))?;
    write_file(&args.output, &bytes)?;
    Ok(0)
}
