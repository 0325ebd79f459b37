// Emits `Py_3_12`, `Py_GIL_DISABLED`, ... for the interpreter being built against: the hook and
// the frame layout differ by version, and the choice is made at compile time.
fn main() {
    pyo3_build_config::use_pyo3_cfgs();
}
