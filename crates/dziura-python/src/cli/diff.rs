//! `dziura diff`: what changed between two profiles, as a table, a differential flame graph or
//! an HTML page.

use std::path::PathBuf;

use clap::Args;
use dziura_diff::{DiffFlamegraphOptions, SortBy};
use pyo3::prelude::*;

use super::args::{load, write_file};
use super::CliError;

#[derive(Args, Debug)]
pub struct DiffArgs {
    /// The earlier profile (a dziura or pstats file, or folded stacks)
    before: PathBuf,
    /// The later profile (a dziura or pstats file, or folded stacks)
    after: PathBuf,
    /// Order by the biggest increase of: own (own-time share), cum (cumulative-time share) or calls
    #[arg(short = 's', long = "sort", default_value = "own")]
    sort: String,
    /// Show at most N rows
    #[arg(short = 'l', long = "limit", value_name = "N")]
    limit: Option<usize>,
    /// Output: table, svg (or flamegraph: a differential flame graph) or html
    #[arg(short = 'f', long = "format", value_name = "FORMAT")]
    format: Option<String>,
    /// Write to FILE instead of standard output (the format follows a .svg or .html extension)
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Out {
    Table,
    Svg,
    Html,
}

fn out_format(args: &DiffArgs) -> Result<Out, CliError> {
    if let Some(f) = &args.format {
        return match f.trim().to_ascii_lowercase().as_str() {
            "table" | "text" | "txt" => Ok(Out::Table),
            "svg" | "flamegraph" => Ok(Out::Svg),
            "html" => Ok(Out::Html),
            _ => Err(CliError::usage(format!(
                "unknown diff format '{f}' (valid formats: table, svg, flamegraph, html)"
            ))),
        };
    }
    let ext = args
        .output
        .as_ref()
        .and_then(|p| p.extension())
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    Ok(match ext.as_deref() {
        Some("svg") => Out::Svg,
        Some("html" | "htm") => Out::Html,
        _ => Out::Table,
    })
}

pub fn diff(py: Python<'_>, args: DiffArgs) -> Result<i32, CliError> {
    let sort = SortBy::from_name(&args.sort).ok_or_else(|| {
        CliError::usage(format!(
            "unknown sort key '{}' (valid keys: own, cum, calls)",
            args.sort
        ))
    })?;
    let out = out_format(&args)?;
    let before = load(&args.before)?;
    let after = load(&args.after)?;
    let d = dziura_diff::diff(&before, &after, sort)?;
    let table = dziura_diff::render_table(&d, args.limit);
    let opts = DiffFlamegraphOptions {
        title: format!(
            "dziura diff {} {}",
            args.before.display(),
            args.after.display()
        ),
        ..Default::default()
    };
    let bytes = match out {
        Out::Table => table.into_bytes(),
        Out::Svg => dziura_diff::flamegraph(&before, &after, &opts)?,
        Out::Html => dziura_diff::html(&before, &after, &opts, &table)?.into_bytes(),
    };
    match &args.output {
        Some(path) => write_file(path, &bytes)?,
        None => crate::views::write_stdout(py, &String::from_utf8_lossy(&bytes))?,
    }
    Ok(0)
}
