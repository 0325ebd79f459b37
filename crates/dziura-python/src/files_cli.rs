//! `dziura convert` and `dziura show`: saved profiles (dziura or pstats files) converted to
//! another format, or printed as the cProfile table or as a call tree.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::Args;
use dziura_formats::Format;
use dziura_model::{FuncKey, Profile};
use dziura_table::SortSpec;
use pyo3::prelude::*;

use crate::cli::Fail;
use crate::views;

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
    /// A directory of your own code, for the table's "your code first" (repeatable; also
    /// DZIURA_OWN)
    #[arg(long, value_name = "DIR")]
    own: Vec<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ShowArgs {
    /// The profile to print (a dziura file, or a pstats file from dziura or cProfile)
    file: PathBuf,
    #[command(flatten)]
    view: crate::cli::ViewArgs,
    /// Print a call tree (with percentages and times) instead of the table
    #[arg(long)]
    tree: bool,
    /// In the tree, also show library, standard library and built-in frames
    #[arg(long)]
    all: bool,
    /// In the tree, leave out calls below this share of the total time (percent)
    #[arg(long, value_name = "PERCENT", default_value_t = 1.0, value_parser = percent)]
    min_percent: f64,
    /// A directory of your own code (repeatable; also DZIURA_OWN=DIR:DIR): only code there is
    /// yours, for "your code first" and the tree (default: anything not installed or stdlib)
    #[arg(long, value_name = "DIR")]
    own: Vec<PathBuf>,
}

fn percent(s: &str) -> Result<f64, String> {
    crate::sampling_cli::bounded(s, 0.0, true, 100.0, "percent")
}

/// Reads a saved profile, with one-line errors.
fn load(path: &Path) -> Result<Profile, Fail> {
    let bytes = dziura_file::read_path(path, false)
        .map_err(|e| Fail(1, format!("cannot read '{}': {e}", path.display())))?;
    dziura_file::read_any(&bytes)
        .map_err(|e| Fail(1, format!("cannot read '{}': {e}", path.display())))
}

pub fn convert(py: Python<'_>, args: ConvertArgs) -> Result<i32, Fail> {
    let format = match &args.format {
        Some(name) => Format::from_name(name).map_err(|e| Fail(2, e.to_string()))?,
        None => Format::from_extension(&args.output).ok_or_else(|| {
            Fail(
                2,
                format!(
                    "cannot tell the output format from '{}'; give -f FORMAT (valid formats: {})",
                    args.output.display(),
                    Format::names()
                ),
            )
        })?,
    };
    let profile = load(&args.input)?;
    let mut opts = crate::views::write_options(py, &args.own)?;
    if profile.samples.is_some() {
        opts.table.sort = Some(SortSpec::parse(&["tottime"]).expect("a sort key"));
    }
    let bytes = dziura_formats::write(&profile, format, &opts)
        .map_err(|e| Fail(1, format!("cannot convert '{}': {e}", args.input.display())))?;
    std::fs::write(&args.output, bytes)
        .map_err(|e| Fail(1, format!("cannot write '{}': {e}", args.output.display())))?;
    Ok(0)
}

pub fn show(py: Python<'_>, args: ShowArgs) -> Result<i32, Fail> {
    let report = crate::cli::report(&args.view, false)?;
    let profile = load(&args.file)?;
    if args.tree {
        let own = crate::views::own_options(py, &args.own)?.classifier;
        let library = |k: &FuncKey| !own.is_own(k);
        let opts = dziura_tree::TreeOptions {
            hide: (!args.all).then_some(&library as &dyn Fn(&FuncKey) -> bool),
            min_share: (args.min_percent / 100.0).max(0.0),
            ..Default::default()
        };
        let tree = dziura_tree::build(&profile, &opts);
        views::write_stdout(py, &dziura_tree::render(&tree, colour_wanted(py)))?;
        return Ok(0);
    }
    let mut text = String::new();
    if let Some(s) = &profile.samples {
        let _ = writeln!(
            text,
            "Sampled profile: ncalls = samples with the function on the stack, times = samples x {:.3} ms",
            s.interval * 1000.0
        );
    }
    let own = crate::views::own_options(py, &args.own)?;
    let ranking = dziura_own::rank(&profile, None, &own.classifier);
    text.push_str(&dziura_own::render(&ranking, &own.render));
    text.push('\n');
    text.push_str(&views::render(&profile, &report));
    views::write_stdout(py, &text)?;
    Ok(0)
}

/// Colour when `sys.stdout` is a terminal and `NO_COLOR` is not set.
fn colour_wanted(py: Python<'_>) -> bool {
    if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
        return false;
    }
    py.import("sys")
        .and_then(|s| s.getattr("stdout"))
        .and_then(|o| o.call_method0("isatty"))
        .and_then(|t| t.extract::<bool>())
        .unwrap_or(false)
}
