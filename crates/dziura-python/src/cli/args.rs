//! What several subcommands share: the table options, number and sort-key parsers that refuse
//! bad values before any work starts, and reading and writing profile files with one-line
//! errors.

use std::path::{Path, PathBuf};

use dziura_model::Profile;
use dziura_table::{Restriction, SortSpec, ViewOptions};

use super::CliError;
use crate::views::Report;

/// The table options shared by `run` and `show`.
#[derive(clap::Args, Debug)]
pub(crate) struct ViewArgs {
    /// Sort key, as pstats takes it: tottime, cumulative, calls, pcalls, name, filename, line, nfl, stdname (or a unique prefix); default cumulative (tottime for a sampled profile)
    #[arg(short = 's', long = "sort")]
    pub sort: Option<String>,
    /// Restrict the listing: a count (20), a fraction (0.1) or a regular expression; repeatable
    #[arg(short = 'l', long = "limit")]
    pub limit: Vec<String>,
    /// Also print who called the functions matching PATTERN (use . for all)
    #[arg(long, value_name = "PATTERN")]
    pub callers: Option<String>,
    /// Also print what the functions matching PATTERN called (use . for all)
    #[arg(long, value_name = "PATTERN")]
    pub callees: Option<String>,
}

pub(crate) fn report(view: &ViewArgs, by_thread: bool) -> Result<Report, CliError> {
    let sort = sort_option(view.sort.as_deref().unwrap_or("cumulative"))?;
    let parse = |items: &[String]| -> Result<Vec<Restriction>, CliError> {
        items.iter().map(|s| Ok(Restriction::parse(s)?)).collect()
    };
    Ok(Report {
        opts: ViewOptions {
            sort: Some(sort),
            restrictions: parse(&view.limit)?,
            source: None,
        },
        by_thread,
        callers: view
            .callers
            .as_ref()
            .map(|p| parse(std::slice::from_ref(p)))
            .transpose()?,
        callees: view
            .callees
            .as_ref()
            .map(|p| parse(std::slice::from_ref(p)))
            .transpose()?,
    })
}

/// A `-s` argument, refused in argparse's words when it is no pstats key.
pub(crate) fn sort_option(key: &str) -> Result<SortSpec, CliError> {
    SortSpec::parse(&[key])
        .map_err(|e| CliError::usage(format!("option -s: invalid choice: '{key}': {e}")))
}

/// Fails early, before the program runs, when `-o` cannot be written.
pub(crate) fn check_writable(path: &Path) -> Result<(), CliError> {
    let existed = path.exists();
    match std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
    {
        Ok(_) => {
            if !existed {
                let _ = std::fs::remove_file(path);
            }
            Ok(())
        }
        Err(e) => Err(CliError::usage(format!(
            "cannot write the output file '{}': {e}",
            path.display()
        ))),
    }
}

/// The longest duration, period or grace any option takes: a year, in seconds.
const MAX_SECONDS: f64 = 365.0 * 86400.0;
/// The highest sampling rate (a sample each 10 µs).
const MAX_RATE: f64 = 100_000.0;

/// A number parsed for an option: finite, within `low..=high` (`low` itself only if
/// `low_ok`), so nan, inf and huge values are argument errors, never panics later.
pub(crate) fn bounded(
    s: &str,
    low: f64,
    low_ok: bool,
    high: f64,
    unit: &str,
) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("not a number of {unit}"))?;
    let above = if low_ok { v >= low } else { v > low };
    if v.is_finite() && above && v <= high {
        Ok(v)
    } else {
        let from = if low_ok { "from" } else { "above" };
        Err(format!("must be a number of {unit} {from} {low} to {high}"))
    }
}

/// A table order: `own` and `total` as py-spy names them, else pstats' keys and prefixes.
pub(crate) fn sort_key(s: &str) -> Result<dziura_table::SortSpec, String> {
    let word = match s {
        "own" => "tottime",
        "total" => "cumulative",
        other => other,
    };
    dziura_table::SortSpec::parse(&[word]).map_err(|e| e.to_string())
}

pub(crate) fn seconds(s: &str) -> Result<f64, String> {
    bounded(s, 0.0, false, MAX_SECONDS, "seconds")
}

pub(crate) fn seconds_or_zero(s: &str) -> Result<f64, String> {
    bounded(s, 0.0, true, MAX_SECONDS, "seconds")
}

pub(crate) fn refresh_seconds(s: &str) -> Result<f64, String> {
    bounded(s, 0.05, true, MAX_SECONDS, "seconds")
}

pub(crate) fn rate(s: &str) -> Result<f64, String> {
    bounded(s, 0.0, false, MAX_RATE, "samples per second")
}

pub(crate) fn percent(s: &str) -> Result<f64, String> {
    bounded(s, 0.0, true, 100.0, "percent")
}

/// Writes an output file, with a one-line error naming it.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    std::fs::write(path, bytes)
        .map_err(|e| CliError::failed(format!("cannot write '{}': {e}", path.display())))
}

/// Reads a saved profile, with one-line errors.
pub(crate) fn load(path: &Path) -> Result<Profile, CliError> {
    dziura_file::load(path)
        .map_err(|e| CliError::failed(format!("cannot read '{}': {e}", path.display())))
}

pub(crate) fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}
