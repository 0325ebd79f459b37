//! The 3.11 hook: a C profile function (`PyEval_SetProfile`), the cheapest event source there.
//! It is per thread, so it is set on every running thread at start, and `threading.setprofile`
//! hands new threads a bootstrap that installs it on their first event. Each thread's function
//! gets its own capsule as `obj`, pointing at that thread's state: no thread-local lookup per event
//! (`sys.getprofile()` returns that capsule).

use std::ffi::{c_int, c_void, CStr};
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

/// One thread's slot: its tracing state, filled on the thread's first event.
struct Slot {
    state: *mut crate::thread::ThreadState,
}

const CAPSULE: &CStr = c"dziura.thread";

unsafe extern "C" fn free_slot(cap: *mut PyObject) {
    let p = PyCapsule_GetPointer(cap, CAPSULE.as_ptr());
    if p.is_null() {
        PyErr_Clear();
    } else {
        drop(Box::from_raw(p as *mut Slot));
    }
}

/// A new capsule owning an empty slot (a new reference), or null with an exception set.
unsafe fn new_slot() -> *mut PyObject {
    let slot = Box::into_raw(Box::new(Slot { state: null_mut() }));
    let cap = PyCapsule_New(slot as *mut c_void, CAPSULE.as_ptr(), Some(free_slot));
    if cap.is_null() {
        drop(Box::from_raw(slot));
    }
    cap
}

/// The state of the thread whose profile function got `obj` (one of our capsules).
#[inline(always)]
unsafe fn state(obj: *mut PyObject) -> Option<&'static mut crate::thread::ThreadState> {
    // A capsule's pointer is its first field after the object header (`Objects/capsule.c`).
    let slot = *((obj as *const u8).add(std::mem::size_of::<PyObject>()) as *const *mut Slot);
    let s = (*slot).state;
    if !s.is_null() {
        return Some(&mut *s);
    }
    first_state(slot)
}

/// The thread's first event with this slot: finds (or makes) its state and remembers it.
#[cold]
#[inline(never)]
unsafe fn first_state(slot: *mut Slot) -> Option<&'static mut crate::thread::ThreadState> {
    let t = crate::current()?;
    (*slot).state = t;
    Some(t)
}

unsafe extern "C" fn profile(
    obj: *mut PyObject,
    frame: *mut PyFrameObject,
    what: c_int,
    arg: *mut PyObject,
) -> c_int {
    let Some(t) = state(obj) else { return 0 };
    // Python calls and returns first, tested in turn: cheaper than a jump table, and the C
    // events' code stays out of this function's register budget.
    if what == PyTrace_CALL {
        crate::enter_code_on(t, frame_code(frame));
    } else if what == PyTrace_RETURN {
        crate::leave_on(t, false);
    } else {
        c_event(t, what, arg);
    }
    0
}

// The match arms are CPython's own constant names.
#[allow(non_upper_case_globals)]
#[inline(never)]
unsafe fn c_event(t: &mut crate::thread::ThreadState, what: c_int, arg: *mut PyObject) {
    match what {
        PyTrace_C_CALL => crate::enter_c_on(t, arg, null_mut()),
        PyTrace_C_RETURN | PyTrace_C_EXCEPTION
            if crate::BUILTINS.load(Ordering::Relaxed)
                && !crate::registry::c_method_def(arg).is_null() =>
        {
            crate::leave_on(t, true)
        }
        _ => {}
    }
}

/// Called by `sys.setprofile`'s trampoline in a new thread as `(frame, event, arg)`: replaces
/// itself with the C profile function and handles the event it was called for.
unsafe extern "C" fn bootstrap(
    _slf: *mut PyObject,
    args: *mut *mut PyObject,
    nargs: Py_ssize_t,
) -> *mut PyObject {
    let cap = if crate::is_active() && nargs == 3 {
        new_slot()
    } else {
        null_mut()
    };
    if !cap.is_null() {
        PyEval_SetProfile(Some(profile), cap);
        Py_DecRef(cap);
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
            profile(cap, frame as *mut PyFrameObject, w, arg);
        }
    } else {
        PyErr_Clear();
        PyEval_SetProfile(None, null_mut());
    }
    none()
}

/// Sets the profile function on every thread of the interpreter, each with its own slot.
unsafe fn set_on_all_threads(on: bool) {
    let mut t = PyInterpreterState_ThreadHead(PyInterpreterState_Get());
    while !t.is_null() {
        let cap = if on { new_slot() } else { null_mut() };
        let func: Option<Py_tracefunc> = if cap.is_null() { None } else { Some(profile) };
        if _PyEval_SetProfile(t, func, cap) != 0 {
            PyErr_Clear();
        }
        if !cap.is_null() {
            Py_DecRef(cap);
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

pub unsafe fn install(_owner: *mut PyObject, _builtins: bool) -> Result<(), StartError> {
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
    BOOTSTRAP.store(boot, Ordering::Relaxed);
    // threading first: importing it must not be traced.
    Py_IncRef(boot);
    if !threading_setprofile(boot) {
        PyErr_Clear();
    }
    set_on_all_threads(true);
    Ok(())
}

/// Whether the calling thread still has dziura's profile function: a program that called
/// `sys.setprofile` or started its own cProfile replaced it, and its later calls were not seen.
pub unsafe fn kept() -> bool {
    let sys = PyImport_ImportModule(c"sys".as_ptr());
    if sys.is_null() {
        PyErr_Clear();
        return true;
    }
    let current = crate::pyapi::call_method(sys, c"getprofile", &[]);
    Py_DecRef(sys);
    if current.is_null() {
        PyErr_Clear();
        return true;
    }
    let ours = PyCapsule_IsValid(current, CAPSULE.as_ptr()) == 1;
    Py_DecRef(current);
    ours
}

pub unsafe fn uninstall() {
    set_on_all_threads(false);
    if !threading_setprofile(none()) {
        PyErr_Clear();
    }
    let boot = BOOTSTRAP.swap(null_mut(), Ordering::Relaxed);
    if !boot.is_null() {
        Py_DecRef(boot);
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

unsafe extern "C" fn nothing_but_the_clock(
    _: *mut PyObject,
    _: *mut PyFrameObject,
    _: c_int,
    _: *mut PyObject,
) -> c_int {
    crate::read_clock_only();
    0
}

/// A profile function that does nothing (or only reads the clock), on the calling thread: the
/// benchmarks' floors.
pub unsafe fn install_noop(clocked: bool) -> Result<(), StartError> {
    let f = if clocked {
        nothing_but_the_clock
    } else {
        nothing
    };
    PyEval_SetProfile(Some(f), null_mut());
    Ok(())
}

pub unsafe fn uninstall_noop() {
    PyEval_SetProfile(None, null_mut());
}
