//! `dziura._native`: the Profile class (cProfile's API over the Rust tracer) and the command line.

mod cli;
mod collected;
mod profile;
mod sampler;
mod views;

use pyo3::prelude::*;

#[pymodule(gil_used = false)]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<profile::Profile>()?;
    m.add_class::<sampler::Sampler>()?;
    m.add_function(wrap_pyfunction!(cli::main, m)?)?;
    m.add_function(wrap_pyfunction!(profile::active, m)?)?;
    m.add_function(wrap_pyfunction!(profile::_noop_hook, m)?)?;
    let ty = m.py().get_type::<profile::Profile>();
    dziura_tracer::registry::OWN_TYPE.store(
        ty.as_ptr() as *mut pyo3::ffi::PyTypeObject,
        std::sync::atomic::Ordering::Relaxed,
    );
    dziura_tracer::registry::OWN_MODULE.store(m.as_ptr(), std::sync::atomic::Ordering::Relaxed);
    // Both live as long as the interpreter: the module is never unloaded.
    std::mem::forget(ty);
    std::mem::forget(m.clone());
    Ok(())
}
