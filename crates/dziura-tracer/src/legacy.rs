//! The 3.11 hook: a C profile function (`PyEval_SetProfile`), the cheapest event source there.
//! It is per thread, so it is set on every running thread at start, and `threading.setprofile`
//! hands new threads a bootstrap that installs it on their first event.

use std::ffi::{c_int, CStr};
use std::ptr::null_mut;
use std::sync::atomic::{AtomicPtr, Ordering};

use pyo3_ffi::*;

use crate::pyapi::{call_method_ok, none};
use crate::StartError;

extern "C" {
    fn _PyEval_SetProfile(
        tstate: *mut PyThreadState,
        func: Option<Py_tracefunc>,
        arg: *mut PyObject,
    ) -> c_int;
}

/// The Profile object passed to the profile function, what `sys.getprofile()` returns.
static OWNER: AtomicPtr<PyObject> = AtomicPtr::new(null_mut());
static BOOTSTRAP: AtomicPtr<PyObject> = AtomicPtr::new(null_mut());

struct SyncDef(PyMethodDef);
unsafe impl Sync for SyncDef {}

static BOOTSTRAP_DEF: SyncDef = SyncDef(PyMethodDef {
    ml_name: c"_dziura_thread_bootstrap".as_ptr(),
    ml_meth: PyMethodDefPointer {
        PyCFunctionFast: bootstrap,
    },
    ml_flags: METH_FASTCALL,
    ml_doc: null_mut(),
});

/// `PyFrameObject.f_frame->f_code` on 3.11, read directly: `PyFrame_GetCode` would add a
/// reference count round trip to every call.
#[inline(always)]
unsafe fn frame_code(frame: *mut PyFrameObject) -> *mut PyObject {
    let iframe = *((frame as *const u8).add(3 * std::mem::size_of::<usize>()) as *const *const u8);
    *(iframe.add(4 * std::mem::size_of::<usize>()) as *const *mut PyObject)
}

// The match arms are CPython's own constant names.
#[allow(non_upper_case_globals)]
unsafe extern "C" fn profile(
    _obj: *mut PyObject,
    frame: *mut PyFrameObject,
    what: c_int,
    arg: *mut PyObject,
) -> c_int {
    match what {
        PyTrace_CALL => crate::enter_code(frame_code(frame)),
        PyTrace_RETURN => crate::leave(false),
        PyTrace_C_CALL => crate::enter_c(arg, null_mut()),
        PyTrace_C_RETURN | PyTrace_C_EXCEPTION
            if crate::BUILTINS.load(Ordering::Relaxed)
                && !crate::registry::c_method_def(arg).is_null() =>
        {
            crate::leave(true)
        }
        _ => {}
    }
    0
}

/// Called by `sys.setprofile`'s trampoline in a new thread as `(frame, event, arg)`: replaces
/// itself with the C profile function and handles the event it was called for.
unsafe extern "C" fn bootstrap(
    _slf: *mut PyObject,
    args: *mut *mut PyObject,
    nargs: Py_ssize_t,
) -> *mut PyObject {
    if crate::is_active() && nargs == 3 {
        PyEval_SetProfile(Some(profile), OWNER.load(Ordering::Relaxed));
        let (frame, event, arg) = (*args, *args.add(1), *args.add(2));
        let what = [
            (c"call", PyTrace_CALL),
            (c"return", PyTrace_RETURN),
            (c"c_call", PyTrace_C_CALL),
            (c"c_return", PyTrace_C_RETURN),
            (c"c_exception", PyTrace_C_EXCEPTION),
        ]
        .iter()
        .find(|(name, _)| PyUnicode_CompareWithASCIIString(event, name.as_ptr()) == 0)
        .map(|(_, w)| *w);
        if let Some(w) = what {
            profile(null_mut(), frame as *mut PyFrameObject, w, arg);
        }
    } else {
        PyEval_SetProfile(None, null_mut());
    }
    none()
}

unsafe fn set_on_all_threads(func: Option<Py_tracefunc>, arg: *mut PyObject) {
    let mut t = PyInterpreterState_ThreadHead(PyInterpreterState_Get());
    while !t.is_null() {
        if _PyEval_SetProfile(t, func, arg) != 0 {
            PyErr_Clear();
        }
        t = PyThreadState_Next(t);
    }
}

unsafe fn threading_setprofile(hook: *mut PyObject) -> bool {
    let threading = PyImport_ImportModule(c"threading".as_ptr());
    if threading.is_null() {
        return false;
    }
    let ok = call_method_ok(threading, c"setprofile", &[hook]);
    Py_DecRef(threading);
    ok
}

pub unsafe fn install(owner: *mut PyObject, _builtins: bool) -> Result<(), StartError> {
    let sys = PyImport_ImportModule(c"sys".as_ptr());
    if sys.is_null() {
        return Err(StartError::Python);
    }
    let current = crate::pyapi::call_method(sys, c"getprofile", &[]);
    Py_DecRef(sys);
    if current.is_null() {
        return Err(StartError::Python);
    }
    let busy = current != Py_None();
    let what = if busy {
        type_name(current)
    } else {
        String::new()
    };
    Py_DecRef(current);
    if busy {
        return Err(StartError::AlreadyActive(format!(
            "Another profiling tool is already active ({what})"
        )));
    }
    let boot = PyCFunction_NewEx(
        &BOOTSTRAP_DEF.0 as *const PyMethodDef as *mut PyMethodDef,
        null_mut(),
        null_mut(),
    );
    if boot.is_null() {
        return Err(StartError::Python);
    }
    Py_IncRef(owner);
    OWNER.store(owner, Ordering::Relaxed);
    BOOTSTRAP.store(boot, Ordering::Relaxed);
    // threading first: importing it must not be traced.
    Py_IncRef(boot);
    if !threading_setprofile(boot) {
        PyErr_Clear();
    }
    set_on_all_threads(Some(profile), owner);
    Ok(())
}

pub unsafe fn uninstall() {
    set_on_all_threads(None, null_mut());
    if !threading_setprofile(none()) {
        PyErr_Clear();
    }
    let boot = BOOTSTRAP.swap(null_mut(), Ordering::Relaxed);
    if !boot.is_null() {
        Py_DecRef(boot);
    }
    let owner = OWNER.swap(null_mut(), Ordering::Relaxed);
    if !owner.is_null() {
        Py_DecRef(owner);
    }
}

unsafe fn type_name(obj: *mut PyObject) -> String {
    let t = Py_TYPE(obj);
    CStr::from_ptr((*t).tp_name).to_string_lossy().into_owned()
}

unsafe extern "C" fn nothing(
    _: *mut PyObject,
    _: *mut PyFrameObject,
    _: c_int,
    _: *mut PyObject,
) -> c_int {
    0
}

/// A profile function that does nothing, on the calling thread: the benchmarks' floor.
pub unsafe fn install_noop() -> Result<(), StartError> {
    PyEval_SetProfile(Some(nothing), null_mut());
    Ok(())
}

pub unsafe fn uninstall_noop() {
    PyEval_SetProfile(None, null_mut());
}
