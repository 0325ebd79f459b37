//! `dziura diff`: what changed between two profiles.

use std::path::PathBuf;

use clap::Args;
use pyo3::prelude::*;

use crate::cli::Fail;

#[derive(Args, Debug)]
pub struct DiffArgs {
    /// The earlier profile
    before: PathBuf,
    /// The later profile
    after: PathBuf,
}

pub fn diff(_py: Python<'_>, args: DiffArgs) -> Result<i32, Fail> {
    Err(Fail(
        2,
        format!(
            "comparing {} with {} is not available yet",
            args.before.display(),
            args.after.display()
        ),
    ))
}
