//! Functions seen while tracing, numbered once for the whole process.
//!
//! A Python function's number lives in its code object's `co_extra` slot, so the hot path finds it
//! with one call and no lookup; a C function is keyed by its `PyMethodDef` (as cProfile does) in a
//! per-thread table. Code objects are kept alive while registered, so an address is never reused.

use std::ffi::{c_void, CStr};
use std::ptr::null_mut;
use std::sync::atomic::{AtomicIsize, AtomicPtr, Ordering};
use std::sync::Mutex;

use pyo3_ffi::*;

/// A registered function, by global number.
pub enum FuncInfo {
    /// A Python function: a strong reference to its code object.
    Code(*mut PyObject),
    /// A C function: its cProfile-style name, e.g. `<built-in method builtins.len>`.
    Builtin(String),
}

// The raw code pointers are only touched with the GIL held (or an attached thread state).
unsafe impl Send for FuncInfo {}

pub struct Registry {
    pub funcs: Vec<FuncInfo>,
    /// Which numbers are dziura's own methods, never reported.
    pub hidden: Vec<bool>,
    cfuncs: std::collections::BTreeMap<usize, u32>,
}

pub static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    funcs: Vec::new(),
    hidden: Vec::new(),
    cfuncs: std::collections::BTreeMap::new(),
});

static EXTRA_INDEX: AtomicIsize = AtomicIsize::new(-1);
/// dziura's Profiler type and native module: calls to their methods are the profiler's own.
pub static OWN_TYPE: AtomicPtr<PyTypeObject> = AtomicPtr::new(null_mut());
pub static OWN_MODULE: AtomicPtr<PyObject> = AtomicPtr::new(null_mut());

/// A hidden function's number has this bit set, so the hot path needs no second lookup.
pub const HIDDEN_BIT: u32 = 1 << 31;

// The code-extra API (PEP 523), under its 3.11 and 3.12+ names; declared here so the crate does
// not depend on which pyo3-ffi release exports which spelling.
extern "C" {
    #[cfg_attr(not(Py_3_12), link_name = "_PyEval_RequestCodeExtraIndex")]
    fn PyUnstable_Eval_RequestCodeExtraIndex(free: unsafe extern "C" fn(*mut c_void))
        -> Py_ssize_t;
    #[cfg_attr(not(Py_3_12), link_name = "_PyCode_GetExtra")]
    fn PyUnstable_Code_GetExtra(
        code: *mut PyObject,
        index: Py_ssize_t,
        extra: *mut *mut c_void,
    ) -> std::ffi::c_int;
    #[cfg_attr(not(Py_3_12), link_name = "_PyCode_SetExtra")]
    fn PyUnstable_Code_SetExtra(
        code: *mut PyObject,
        index: Py_ssize_t,
        extra: *mut c_void,
    ) -> std::ffi::c_int;
    pub fn PyThread_get_thread_ident() -> std::ffi::c_ulong;
}

unsafe extern "C" fn forget_extra(_: *mut c_void) {}

/// Reserves the `co_extra` slot; call once with the GIL held.
pub fn init() {
    if EXTRA_INDEX.load(Ordering::Relaxed) < 0 {
        let i = unsafe { PyUnstable_Eval_RequestCodeExtraIndex(forget_extra) };
        EXTRA_INDEX.store(i, Ordering::Relaxed);
    }
}

/// The number of a code object (with [`HIDDEN_BIT`] when hidden), registering it on first sight.
#[inline(always)]
pub(crate) unsafe fn code_id(code: *mut PyObject) -> u32 {
    let mut extra: *mut c_void = null_mut();
    let idx = EXTRA_INDEX.load(Ordering::Relaxed);
    PyUnstable_Code_GetExtra(code, idx, &mut extra);
    if !extra.is_null() {
        return (extra as usize - 1) as u32;
    }
    register_code(code, idx)
}

#[cold]
unsafe fn register_code(code: *mut PyObject, idx: isize) -> u32 {
    let mut reg = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    // Another thread may have won the race on a free-threaded build.
    let mut extra: *mut c_void = null_mut();
    PyUnstable_Code_GetExtra(code, idx, &mut extra);
    if !extra.is_null() {
        return (extra as usize - 1) as u32;
    }
    let id = reg.funcs.len() as u32;
    Py_IncRef(code);
    reg.funcs.push(FuncInfo::Code(code));
    reg.hidden.push(false);
    if PyUnstable_Code_SetExtra(code, idx, (id as usize + 1) as *mut c_void) != 0 {
        PyErr_Clear();
    }
    id
}

/// `PyMethodDescrObject`'s layout (stable from 3.11 to 3.14; not in pyo3-ffi).
#[repr(C)]
struct MethodDescr {
    ob_base: PyObject,
    d_type: *mut PyTypeObject,
    d_name: *mut PyObject,
    d_qualname: *mut PyObject,
    d_method: *mut PyMethodDef,
}

/// What a callable is to the tracer: the `PyMethodDef` of a C function or method descriptor, or
/// null for anything else (Python functions, types, callable objects), which cProfile ignores too.
#[inline(always)]
pub(crate) unsafe fn c_method_def(callable: *mut PyObject) -> *mut PyMethodDef {
    let t = Py_TYPE(callable);
    if t == &raw mut PyCFunction_Type || t == &raw mut PyCMethod_Type {
        (*(callable as *mut PyCFunctionObject)).m_ml
    } else if t == &raw mut PyMethodDescr_Type {
        (*(callable as *mut MethodDescr)).d_method
    } else {
        null_mut()
    }
}

/// The number of a C function first seen as `callable`, registering and naming it.
#[cold]
pub(crate) unsafe fn register_c(
    callable: *mut PyObject,
    def: *mut PyMethodDef,
    self_arg: *mut PyObject,
) -> u32 {
    if let Some(&id) = REGISTRY
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .cfuncs
        .get(&(def as usize))
    {
        return id;
    }
    // Named outside the lock: naming runs a repr, which must never wait on another thread.
    let (name, hidden) = c_function_name(callable, def, self_arg);
    let mut reg = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(&id) = reg.cfuncs.get(&(def as usize)) {
        return id;
    }
    let id = reg.funcs.len() as u32;
    reg.funcs.push(FuncInfo::Builtin(name));
    reg.hidden.push(hidden);
    let id = if hidden { id | HIDDEN_BIT } else { id };
    reg.cfuncs.insert(def as usize, id);
    id
}

/// cProfile's naming of C functions (`normalizeUserObj` in `Modules/_lsprof.c`): a bound method
/// is named by the repr of the attribute on its receiver's type, `<method 'append' of 'list'
/// objects>`; a module function is `<built-in method math.sqrt>`. Any pending exception is kept.
unsafe fn c_function_name(
    callable: *mut PyObject,
    def: *mut PyMethodDef,
    self_arg: *mut PyObject,
) -> (String, bool) {
    let saved = crate::save_exception();
    let ml_name = CStr::from_ptr((*def).ml_name)
        .to_string_lossy()
        .into_owned();
    let own_type = OWN_TYPE.load(Ordering::Relaxed);
    let own_module = OWN_MODULE.load(Ordering::Relaxed);
    let t = Py_TYPE(callable);
    let mut hidden = false;
    let name = if t == &raw mut PyMethodDescr_Type {
        let d = callable as *mut MethodDescr;
        hidden = !own_type.is_null() && PyType_IsSubtype((*d).d_type, own_type) != 0;
        // cProfile binds the descriptor to its first argument and names what the receiver's type
        // has under that name, which may be a Python override (`<function socket.close ...>`).
        let on_receiver = if self_arg.is_null() {
            None
        } else {
            type_attr_repr(Py_TYPE(self_arg), (*def).ml_name)
        };
        on_receiver
            .or_else(|| repr_string(callable))
            .unwrap_or_else(|| format!("<built-in method {ml_name}>"))
    } else {
        let f = callable as *mut PyCFunctionObject;
        let slf = (*f).m_self;
        let module = module_name((*f).m_module);
        if slf.is_null() {
            match module.as_deref() {
                Some(m) if m != "builtins" => format!("<{m}.{ml_name}>"),
                _ => format!("<{ml_name}>"),
            }
        } else {
            hidden = slf == own_module
                || (!own_type.is_null() && PyType_IsSubtype(Py_TYPE(slf), own_type) != 0);
            type_attr_repr(Py_TYPE(slf), (*def).ml_name).unwrap_or_else(|| match module {
                Some(m) => format!("<built-in method {m}.{ml_name}>"),
                None => format!("<built-in method {ml_name}>"),
            })
        }
    };
    PyErr_Clear();
    crate::restore_exception(saved);
    (name, hidden)
}

extern "C" {
    fn _PyType_Lookup(t: *mut PyTypeObject, name: *mut PyObject) -> *mut PyObject;
}

/// `repr(_PyType_Lookup(t, name))`: the attribute as the type's MRO defines it.
unsafe fn type_attr_repr(t: *mut PyTypeObject, name: *const std::ffi::c_char) -> Option<String> {
    let key = PyUnicode_FromString(name);
    if key.is_null() {
        PyErr_Clear();
        return None;
    }
    let attr = _PyType_Lookup(t, key);
    let mut found = None;
    if !attr.is_null() {
        Py_IncRef(attr);
        found = repr_string(attr);
        Py_DecRef(attr);
    }
    Py_DecRef(key);
    found
}

unsafe fn repr_string(obj: *mut PyObject) -> Option<String> {
    let r = PyObject_Repr(obj);
    if r.is_null() {
        PyErr_Clear();
        return None;
    }
    let s = str_of(r);
    Py_DecRef(r);
    s
}

unsafe fn module_name(m: *mut PyObject) -> Option<String> {
    if m.is_null() {
        None
    } else if PyUnicode_Check(m) != 0 {
        str_of(m)
    } else if PyModule_Check(m) != 0 {
        let n = PyModule_GetNameObject(m);
        if n.is_null() {
            PyErr_Clear();
            return None;
        }
        let s = str_of(n);
        Py_DecRef(n);
        s
    } else {
        None
    }
}

pub(crate) unsafe fn str_of(s: *mut PyObject) -> Option<String> {
    let mut len: Py_ssize_t = 0;
    let p = PyUnicode_AsUTF8AndSize(s, &mut len);
    if !p.is_null() {
        let bytes = std::slice::from_raw_parts(p as *const u8, len as usize);
        return Some(String::from_utf8_lossy(bytes).into_owned());
    }
    // A lone surrogate cannot be UTF-8: encoded with replacement, so the name stays visible.
    PyErr_Clear();
    let b = PyUnicode_AsEncodedString(s, c"utf-8".as_ptr(), c"replace".as_ptr());
    if b.is_null() {
        PyErr_Clear();
        return None;
    }
    let bytes =
        std::slice::from_raw_parts(PyBytes_AsString(b) as *const u8, PyBytes_Size(b) as usize);
    let text = String::from_utf8_lossy(bytes).into_owned();
    Py_DecRef(b);
    Some(text)
}
