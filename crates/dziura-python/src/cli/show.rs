//! `dziura show`: a saved profile printed as the table (your code first, then every function)
//! or as a call tree.

use std::path::PathBuf;

use clap::Args;
use dziura_model::FuncKey;
use pyo3::prelude::*;

use super::args::{load, percent, report, ViewArgs};
use super::CliError;
use crate::views;

#[derive(Args, Debug)]
pub struct ShowArgs {
    /// The profile to print (a dziura file, or a pstats file from dziura or cProfile)
    file: PathBuf,
    #[command(flatten)]
    view: ViewArgs,
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

pub fn show(py: Python<'_>, args: ShowArgs) -> Result<i32, CliError> {
    let report = report(&args.view, false)?;
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
