//! The 3.12+ hook: `sys.monitoring` (PEP 669) with C `METH_FASTCALL` callbacks, no frame objects.
//! It takes tool id 2, the one cProfile uses, so two profilers can never run at once. Events are
//! interpreter-wide, so every thread, started before or after, is traced.

use std::ffi::CStr;
use std::ptr::null_mut;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Mutex;

/// `sys.monitoring.MISSING`, passed as the first argument of a call without arguments.
static MISSING: AtomicPtr<PyObject> = AtomicPtr::new(null_mut());

use pyo3_ffi::*;

use crate::pyapi::{attr, call_method, call_method_ok, int, none};
use crate::StartError;

const TOOL: i64 = 2;

struct SyncDef(PyMethodDef);
unsafe impl Sync for SyncDef {}

macro_rules! callback {
    ($def:ident, $name:literal, $f:ident) => {
        static $def: SyncDef = SyncDef(PyMethodDef {
            ml_name: $name.as_ptr(),
            ml_meth: PyMethodDefPointer {
                PyCFunctionFast: $f,
            },
            ml_flags: METH_FASTCALL,
            ml_doc: null_mut(),
        });
    };
}

unsafe extern "C" fn on_start(
    _: *mut PyObject,
    args: *mut *mut PyObject,
    _n: Py_ssize_t,
) -> *mut PyObject {
    crate::enter_code(*args);
    Py_None()
}

unsafe extern "C" fn on_return(
    _: *mut PyObject,
    _args: *mut *mut PyObject,
    _n: Py_ssize_t,
) -> *mut PyObject {
    crate::leave(false);
    Py_None()
}

unsafe extern "C" fn on_call(
    _: *mut PyObject,
    args: *mut *mut PyObject,
    n: Py_ssize_t,
) -> *mut PyObject {
    // args: code, offset, callable, first argument (or sys.monitoring.MISSING).
    let arg0 = if n >= 4 { *args.add(3) } else { null_mut() };
    let missing = MISSING.load(Ordering::Relaxed);
    crate::enter_c(
        *args.add(2),
        if arg0 == missing { null_mut() } else { arg0 },
    );
    Py_None()
}

unsafe extern "C" fn on_c_return(
    _: *mut PyObject,
    args: *mut *mut PyObject,
    _n: Py_ssize_t,
) -> *mut PyObject {
    if !crate::registry::c_method_def(*args.add(2)).is_null() {
        crate::leave(true);
    }
    Py_None()
}

unsafe extern "C" fn on_nothing(
    _: *mut PyObject,
    _args: *mut *mut PyObject,
    _n: Py_ssize_t,
) -> *mut PyObject {
    Py_None()
}

unsafe extern "C" fn on_nothing_but_the_clock(
    _: *mut PyObject,
    _args: *mut *mut PyObject,
    _n: Py_ssize_t,
) -> *mut PyObject {
    crate::read_clock_only();
    Py_None()
}

/// CALL, C_RETURN and C_RAISE in the clocked floor: the clock is read for C functions only, as
/// the real callbacks do (CALL also fires for Python functions, whose PY_START is timed).
unsafe extern "C" fn on_c_nothing_but_the_clock(
    _: *mut PyObject,
    args: *mut *mut PyObject,
    _n: Py_ssize_t,
) -> *mut PyObject {
    if !crate::registry::c_method_def(*args.add(2)).is_null() {
        crate::read_clock_only();
    }
    Py_None()
}

callback!(NOTHING_DEF, c"_dziura_nothing", on_nothing);
callback!(
    CLOCK_ONLY_DEF,
    c"_dziura_clock_only",
    on_nothing_but_the_clock
);
callback!(
    C_CLOCK_ONLY_DEF,
    c"_dziura_c_clock_only",
    on_c_nothing_but_the_clock
);
callback!(START_DEF, c"_dziura_py_start", on_start);
callback!(RETURN_DEF, c"_dziura_py_return", on_return);
callback!(CALL_DEF, c"_dziura_call", on_call);
callback!(C_RETURN_DEF, c"_dziura_c_return", on_c_return);

/// The events registered, to undo them at stop.
static REGISTERED: Mutex<Vec<i64>> = Mutex::new(Vec::new());

unsafe fn event_bit(events: *mut PyObject, name: &CStr) -> Option<i64> {
    let v = attr(events, name);
    if v.is_null() {
        PyErr_Clear();
        return None;
    }
    let n = PyLong_AsLongLong(v);
    Py_DecRef(v);
    Some(n)
}

unsafe fn monitoring() -> Result<*mut PyObject, StartError> {
    let sys = PyImport_ImportModule(c"sys".as_ptr());
    if sys.is_null() {
        return Err(StartError::Python);
    }
    let m = attr(sys, c"monitoring");
    Py_DecRef(sys);
    if m.is_null() {
        return Err(StartError::Python);
    }
    Ok(m)
}

pub unsafe fn install(_owner: *mut PyObject, builtins: bool) -> Result<(), StartError> {
    install_hook(builtins, None)
}

/// Callbacks that stand in for the real ones in the benchmarks' floors.
#[derive(Clone, Copy)]
enum Floor {
    /// Every callback does nothing.
    Nothing,
    /// Every callback reads the clock where the real one would, and does nothing else.
    Clock,
}

/// The same events with callbacks that do nothing (or only read the clock): the floors the
/// benchmarks compare against.
pub unsafe fn install_noop(clocked: bool) -> Result<(), StartError> {
    install_hook(
        true,
        Some(if clocked {
            Floor::Clock
        } else {
            Floor::Nothing
        }),
    )
}

/// Installs the real callbacks, or a floor's.
unsafe fn install_hook(builtins: bool, floor: Option<Floor>) -> Result<(), StartError> {
    let m = monitoring()?;
    let result = install_with(m, builtins, floor);
    Py_DecRef(m);
    result
}

/// Whether dziura still holds its sys.monitoring tool: a program that freed it (to take it for
/// itself) ended the profile early. `sys.setprofile` and a second cProfile cannot take it.
pub unsafe fn kept() -> bool {
    let Ok(m) = monitoring() else {
        PyErr_Clear();
        return true;
    };
    let holder = call_method(m, c"get_tool", &[int(TOOL)]);
    Py_DecRef(m);
    if holder.is_null() {
        PyErr_Clear();
        return true;
    }
    let ours = crate::registry::str_of(holder).is_some_and(|n| n == "dziura");
    Py_DecRef(holder);
    ours
}

unsafe fn install_with(
    m: *mut PyObject,
    builtins: bool,
    floor: Option<Floor>,
) -> Result<(), StartError> {
    let holder = call_method(m, c"get_tool", &[int(TOOL)]);
    if holder.is_null() {
        return Err(StartError::Python);
    }
    if holder != Py_None() {
        let name = crate::registry::str_of(holder).unwrap_or_default();
        Py_DecRef(holder);
        return Err(StartError::AlreadyActive(format!(
            "Another profiling tool is already active ({name})"
        )));
    }
    Py_DecRef(holder);
    let name = PyUnicode_FromString(c"dziura".as_ptr());
    if !call_method_ok(m, c"use_tool_id", &[int(TOOL), name]) {
        return Err(StartError::Python);
    }
    let missing = attr(m, c"MISSING");
    if missing.is_null() {
        PyErr_Clear();
    } else {
        // Immortal singleton; the reference is kept for the life of the process.
        MISSING.store(missing, Ordering::Relaxed);
    }
    let events = attr(m, c"events");
    if events.is_null() {
        return Err(StartError::Python);
    }
    // (event, real callback, the clocked floor's stand-in for it)
    let mut plan: Vec<(&CStr, &SyncDef, &SyncDef)> = vec![
        (c"PY_START", &START_DEF, &CLOCK_ONLY_DEF),
        (c"PY_RESUME", &START_DEF, &CLOCK_ONLY_DEF),
        (c"PY_THROW", &START_DEF, &CLOCK_ONLY_DEF),
        (c"PY_RETURN", &RETURN_DEF, &CLOCK_ONLY_DEF),
        (c"PY_YIELD", &RETURN_DEF, &CLOCK_ONLY_DEF),
        (c"PY_UNWIND", &RETURN_DEF, &CLOCK_ONLY_DEF),
    ];
    if builtins {
        plan.extend([
            (c"CALL", &CALL_DEF, &C_CLOCK_ONLY_DEF),
            (c"C_RETURN", &C_RETURN_DEF, &C_CLOCK_ONLY_DEF),
            (c"C_RAISE", &C_RETURN_DEF, &C_CLOCK_ONLY_DEF),
        ]);
    }
    let mut mask = 0;
    let mut registered = REGISTERED.lock().unwrap_or_else(|e| e.into_inner());
    for (event, real, clocked) in plan {
        let Some(bit) = event_bit(events, event) else {
            continue;
        };
        let def = match floor {
            None => real,
            Some(Floor::Nothing) => &NOTHING_DEF,
            Some(Floor::Clock) => clocked,
        };
        let f = PyCFunction_NewEx(
            &def.0 as *const PyMethodDef as *mut PyMethodDef,
            null_mut(),
            null_mut(),
        );
        if f.is_null() || !call_method_ok(m, c"register_callback", &[int(TOOL), int(bit), f]) {
            Py_DecRef(events);
            drop(registered);
            uninstall_with(m);
            return Err(StartError::Python);
        }
        registered.push(bit);
        mask |= bit;
    }
    Py_DecRef(events);
    drop(registered);
    if !call_method_ok(m, c"set_events", &[int(TOOL), int(mask)]) {
        uninstall_with(m);
        return Err(StartError::Python);
    }
    Ok(())
}

pub unsafe fn uninstall() {
    if let Ok(m) = monitoring() {
        uninstall_with(m);
        Py_DecRef(m);
    }
    PyErr_Clear();
}

unsafe fn uninstall_with(m: *mut PyObject) {
    let saved = crate::save_exception();
    call_method_ok(m, c"set_events", &[int(TOOL), int(0)]);
    for bit in REGISTERED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .drain(..)
    {
        call_method_ok(m, c"register_callback", &[int(TOOL), int(bit), none()]);
    }
    call_method_ok(m, c"free_tool_id", &[int(TOOL)]);
    PyErr_Clear();
    crate::restore_exception(saved);
}

pub unsafe fn uninstall_noop() {
    uninstall();
}
