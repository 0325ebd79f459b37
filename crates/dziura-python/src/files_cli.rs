//! `dziura convert` and `dziura show`: saved profiles (dziura or pstats files) converted to
//! another format, or printed as the cProfile table or as a call tree.

use std::path::{Path, PathBuf};

use clap::Args;
use dziura_formats::Format;
use dziura_model::{FuncKey, Profile};
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
    /// The table's sort key, as pstats takes it (default cumulative; tottime for a sampled
    /// profile)
    #[arg(short, long)]
    sort: Option<String>,
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
pub(crate) fn load(path: &Path) -> Result<Profile, Fail> {
    dziura_file::load(path).map_err(|e| Fail(1, format!("cannot read '{}': {e}", path.display())))
}

pub fn convert(py: Python<'_>, args: ConvertArgs) -> Result<i32, Fail> {
    let format = Format::choose(args.format.as_deref(), Some(&args.output), None)
        .map_err(|e| Fail(2, e.to_string()))?;
    let sort = args
        .sort
        .as_deref()
        .map(crate::cli::sort_option)
        .transpose()?;
    let profile = load(&args.input)?;
    let mut opts = crate::views::write_options(py, &args.own)?;
    opts.table.sort = Some(sort.unwrap_or_else(|| dziura_formats::default_sort(&profile)));
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
    let mut report = report;
    if args.view.sort.is_none() {
        report.opts.sort = Some(dziura_formats::default_sort(&profile));
    }
    // The table `convert -f table` writes for the same file, then the callers/callees asked for.
    let own = crate::views::own_options(py, &args.own)?;
    let mut text = dziura_formats::table(&profile, &report.opts, &own);
    text.push_str(&views::relations(
        &dziura_formats::relative_graph(
            &dziura_formats::call_graph(&profile, None),
            &own.render.root,
        ),
        &report,
    ));
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
