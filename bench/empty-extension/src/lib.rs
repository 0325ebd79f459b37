//! What any PyO3 extension costs to load, for bench/memory_import.py.
//!
//! dziura's tracer must be a compiled extension, and the project builds it with PyO3 and
//! maturin. This module is the smallest such extension that can stand in for cProfile's
//! `Profile` in the benchmark (`import X; p = X.Profile(); p.enable(); p.disable()`), built with
//! the workspace's release profile, so the memory it adds is the floor that dziura's extension
//! is measured against, as `_noop_hook` is for speed.

use pyo3::prelude::*;

/// A profiler that records nothing.
#[pyclass]
struct Profile;

#[pymethods]
impl Profile {
    #[new]
    fn new() -> Self {
        Profile
    }

    fn enable(&self) {}

    fn disable(&self) {}
}

#[pymodule]
fn empty_extension(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Profile>()
}
