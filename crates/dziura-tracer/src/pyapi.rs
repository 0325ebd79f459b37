//! Small helpers for calling Python APIs from the hook installers (not the hot path).

use std::ffi::CStr;

use pyo3_ffi::*;

/// `getattr(obj, name)`, a new reference or null with an exception set.
pub unsafe fn attr(obj: *mut PyObject, name: &CStr) -> *mut PyObject {
    PyObject_GetAttrString(obj, name.as_ptr())
}

/// `obj.name(*args)`, taking ownership of `args` (new references); the result is a new reference
/// or null with an exception set.
pub unsafe fn call_method(
    obj: *mut PyObject,
    name: &CStr,
    args: &[*mut PyObject],
) -> *mut PyObject {
    let tuple = PyTuple_New(args.len() as Py_ssize_t);
    if tuple.is_null() {
        args.iter().for_each(|a| Py_DecRef(*a));
        return std::ptr::null_mut();
    }
    for (i, a) in args.iter().enumerate() {
        PyTuple_SetItem(tuple, i as Py_ssize_t, *a);
    }
    let f = attr(obj, name);
    if f.is_null() {
        Py_DecRef(tuple);
        return f;
    }
    let r = PyObject_Call(f, tuple, std::ptr::null_mut());
    Py_DecRef(f);
    Py_DecRef(tuple);
    r
}

/// Like [`call_method`], discarding the result; false with an exception set on failure.
pub unsafe fn call_method_ok(obj: *mut PyObject, name: &CStr, args: &[*mut PyObject]) -> bool {
    let r = call_method(obj, name, args);
    if r.is_null() {
        return false;
    }
    Py_DecRef(r);
    true
}

#[cfg(Py_3_12)]
pub unsafe fn int(v: i64) -> *mut PyObject {
    PyLong_FromLongLong(v)
}

pub unsafe fn none() -> *mut PyObject {
    Py_NewRef(Py_None())
}
