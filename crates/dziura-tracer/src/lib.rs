//! dziura's tracing collector: every Python and C call and return, counted per thread with
//! cProfile's rules, through the cheapest hook each CPython version offers (a C profile function
//! on 3.11, `sys.monitoring` with C callbacks on 3.12+).
//!
//! The caller holds the GIL (or an attached thread state) for [`start`] and [`stop`]; the hooks
//! only touch the calling thread's own state.

pub mod clock;
mod pyapi;
pub mod registry;
pub mod thread;

#[cfg(not(Py_3_12))]
mod legacy;
#[cfg(not(Py_3_12))]
use legacy as hook;
#[cfg(Py_3_12)]
mod monitoring;
#[cfg(Py_3_12)]
use monitoring as hook;

use std::cell::Cell;
use std::ptr::null_mut;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use std::sync::Mutex;

use pyo3_ffi::*;

use clock::ClockKind;
pub use thread::{Counts, ThreadData};

/// How to trace, as `cProfile.Profile(timer, timeunit, subcalls, builtins)` takes it.
pub struct Options {
    /// Record calls of C functions and methods.
    pub builtins: bool,
    /// Record caller→callee edges (needed for callers/callees views and call graphs).
    pub subcalls: bool,
    /// A Python callable to use as the clock (new reference), and its unit for integer results.
    pub timer: Option<(*mut PyObject, f64)>,
    /// Also record every call in time order, at most this many calls over all threads.
    pub timeline: Option<u64>,
}

/// Everything collected between [`start`] and [`stop`].
pub struct Harvest {
    pub threads: Vec<ThreadData>,
    /// Seconds per clock tick in the counts.
    pub seconds_per_tick: f64,
    /// The clock's tick when tracing started: time zero of the timelines.
    pub start_tick: u64,
    /// The program replaced dziura's hook before the end (`sys.setprofile`, its own cProfile on
    /// 3.11, freeing the sys.monitoring tool on 3.12+): calls after that point are missing.
    pub hook_replaced: bool,
}

struct Session {
    /// Boxed: hooks hold raw pointers to their thread's state, which must not move as this grows.
    #[allow(clippy::vec_box)]
    threads: Vec<Box<thread::ThreadState>>,
    subcalls: bool,
    timeline: bool,
    start_tick: u64,
}

static SESSION: Mutex<Option<Session>> = Mutex::new(None);
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// Bumped by every start, so thread-local pointers from an earlier session are never reused.
static GENERATION: AtomicU64 = AtomicU64::new(0);
static BUILTINS: AtomicBool = AtomicBool::new(true);
static TIMER: AtomicPtr<PyObject> = AtomicPtr::new(null_mut());
static TIMER_UNIT: AtomicU64 = AtomicU64::new(0);
/// Call starts the timeline may still record, over all threads.
static TIMELINE_BUDGET: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static CURRENT: Cell<(u64, *mut thread::ThreadState)> = const { Cell::new((u64::MAX, null_mut())) };
}

/// Why tracing could not start.
#[derive(Debug)]
pub enum StartError {
    /// Another profiler holds the hook; the text says which.
    AlreadyActive(String),
    /// A Python exception is set.
    Python,
}

pub fn is_active() -> bool {
    ACTIVE.load(Ordering::Acquire)
}

/// Starts tracing every thread of the interpreter. `owner` is the object `sys.getprofile()`
/// reports on 3.11 (the Profile).
///
/// # Safety
/// The GIL must be held.
pub unsafe fn start(opts: Options, owner: *mut PyObject) -> Result<(), StartError> {
    let mut guard = SESSION.lock().unwrap_or_else(|e| e.into_inner());
    if guard.is_some() {
        if let Some((t, _)) = opts.timer {
            Py_DecRef(t);
        }
        return Err(StartError::AlreadyActive(
            "another dziura profiler is already active".into(),
        ));
    }
    registry::init();
    let _ = clock::process_anchor();
    match opts.timer {
        Some((t, unit)) => {
            TIMER.store(t, Ordering::Relaxed);
            TIMER_UNIT.store(unit.to_bits(), Ordering::Relaxed);
            clock::set_kind(ClockKind::Python);
        }
        None => clock::set_kind(clock::best_native()),
    }
    BUILTINS.store(opts.builtins, Ordering::Relaxed);
    TIMELINE_BUDGET.store(opts.timeline.unwrap_or(0), Ordering::Relaxed);
    GENERATION.fetch_add(1, Ordering::AcqRel);
    *guard = Some(Session {
        threads: Vec::new(),
        subcalls: opts.subcalls,
        timeline: opts.timeline.is_some(),
        start_tick: 0,
    });
    drop(guard);
    // Time zero of the timelines, read before the hook is in place (a user's timer is Python
    // code, which cProfile never profiles) and outside the lock (that code may call `start`).
    let t0 = now();
    if let Some(s) = SESSION.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        s.start_tick = t0;
    }
    ACTIVE.store(true, Ordering::Release);
    if let Err(e) = hook::install(owner, opts.builtins) {
        ACTIVE.store(false, Ordering::Release);
        *SESSION.lock().unwrap_or_else(|e| e.into_inner()) = None;
        release_timer();
        return Err(e);
    }
    Ok(())
}

/// Stops tracing and returns what every thread collected; open calls are closed at this moment.
///
/// # Safety
/// The GIL must be held.
pub unsafe fn stop() -> Option<Harvest> {
    if !is_active() {
        return None;
    }
    let hook_replaced = !hook::kept();
    hook::uninstall();
    ACTIVE.store(false, Ordering::Release);
    let now = now();
    let session = SESSION.lock().unwrap_or_else(|e| e.into_inner()).take()?;
    let seconds_per_tick = match clock::kind() {
        ClockKind::Tsc => clock::seconds_per_tsc_tick(clock::process_anchor()),
        ClockKind::Monotonic => 1e-9,
        ClockKind::Python => match f64::from_bits(TIMER_UNIT.load(Ordering::Relaxed)) {
            u if u > 0.0 => u,
            _ => 1e-9,
        },
    };
    release_timer();
    let reg = registry::REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    let hidden = |id: u32| reg.hidden.get(id as usize).copied().unwrap_or(false);
    let threads = session
        .threads
        .into_iter()
        .map(|mut t| {
            t.flush(now);
            t.data(&hidden)
        })
        .filter(|d| {
            if d.funcs.is_empty() && !d.pythread.is_null() {
                Py_DecRef(d.pythread);
            }
            !d.funcs.is_empty()
        })
        .collect();
    Some(Harvest {
        threads,
        seconds_per_tick,
        start_tick: session.start_tick,
        hook_replaced,
    })
}

/// Installs (or removes) the hook with callbacks that do nothing, for measuring the floor of
/// hook overhead in benchmarks. With `clocked`, each callback also reads the clock the profiler
/// would read (once per event, like the real callbacks): the floor of any profiler that times
/// every call, which separates the clock's cost from the bookkeeping's. Refused while a profiler
/// is active.
///
/// # Safety
/// The GIL must be held.
pub unsafe fn noop_hook(on: bool, clocked: bool) -> Result<(), StartError> {
    if is_active() {
        return Err(StartError::AlreadyActive(
            "a dziura profiler is active".into(),
        ));
    }
    if on {
        if clocked {
            clock::set_kind(clock::best_native());
        }
        hook::install_noop(clocked)
    } else {
        hook::uninstall_noop();
        Ok(())
    }
}

unsafe fn release_timer() {
    let t = TIMER.swap(null_mut(), Ordering::Relaxed);
    if !t.is_null() {
        Py_DecRef(t);
    }
}

/// The calling thread's state, created on its first event of a session.
#[inline(always)]
pub(crate) fn current() -> Option<&'static mut thread::ThreadState> {
    let (gen, ptr) = CURRENT.with(|c| c.get());
    if gen == GENERATION.load(Ordering::Relaxed) && !ptr.is_null() {
        // SAFETY: the state is owned by the session and only ever used by this thread.
        return Some(unsafe { &mut *ptr });
    }
    new_thread_state()
}

#[cold]
fn new_thread_state() -> Option<&'static mut thread::ThreadState> {
    let mut guard = SESSION.lock().unwrap_or_else(|e| e.into_inner());
    let session = guard.as_mut()?;
    let ident = unsafe { registry::PyThread_get_thread_ident() } as u64;
    let native = unsafe { libc::gettid() } as u64;
    let mut state = Box::new(thread::ThreadState::new(ident, native, session.subcalls));
    if session.timeline {
        state.record_timeline();
    }
    let ptr: *mut thread::ThreadState = &mut *state;
    session.threads.push(state);
    let gen = GENERATION.load(Ordering::Relaxed);
    CURRENT.with(|c| c.set((gen, ptr)));
    // SAFETY: boxed, so the address is stable until the session ends.
    Some(unsafe { &mut *ptr })
}

/// Where the clocked no-op callbacks put each reading, so the read is not optimised away.
static CLOCK_SINK: AtomicU64 = AtomicU64::new(0);

/// The clocked no-op callbacks' whole body: one clock read, kept.
#[inline(always)]
fn read_clock_only() {
    CLOCK_SINK.store(now(), Ordering::Relaxed);
}

#[inline(always)]
fn now() -> u64 {
    if clock::is_tsc() {
        clock::tsc()
    } else {
        other_clock()
    }
}

/// The clocks other than the time-stamp counter, out of line to keep the hot path small.
#[inline(never)]
fn other_clock() -> u64 {
    match clock::kind() {
        ClockKind::Tsc => clock::tsc(),
        ClockKind::Monotonic => clock::monotonic_ns(),
        ClockKind::Python => unsafe { python_timer() },
    }
}

#[cold]
unsafe fn python_timer() -> u64 {
    let t = TIMER.load(Ordering::Relaxed);
    if t.is_null() {
        return 0;
    }
    let saved = save_exception();
    let r = PyObject_CallNoArgs(t);
    let ticks = if r.is_null() {
        PyErr_WriteUnraisable(t);
        0
    } else {
        // Without a time unit a float is seconds; an int is nanoseconds (what time.perf_counter_ns
        // and every other `*_ns` clock return), instead of seconds overflowing into zero.
        let v = if f64::from_bits(TIMER_UNIT.load(Ordering::Relaxed)) > 0.0 || PyLong_Check(r) != 0
        {
            PyLong_AsLongLong(r) as f64
        } else {
            PyFloat_AsDouble(r) * 1e9
        };
        Py_DecRef(r);
        if !PyErr_Occurred().is_null() {
            PyErr_WriteUnraisable(t);
        }
        v.max(0.0) as u64
    };
    restore_exception(saved);
    ticks
}

/// A Python function starts (or a generator resumes) on the thread `t`.
#[inline(always)]
unsafe fn enter_code_on(t: &mut thread::ThreadState, code: *mut PyObject) {
    let local = match t.cached(code as usize) {
        Some(l) => l,
        None => cache_miss(t, code as usize, registry::code_id(code)),
    };
    t.enter(local, false, now, &TIMELINE_BUDGET);
}

/// A function this thread has not called yet (or not lately): cached, and while the thread's
/// `threading.Thread` is unknown, looked for again.
#[cold]
#[inline(never)]
unsafe fn cache_miss(t: &mut thread::ThreadState, key: usize, id: u32) -> u32 {
    if t.pythread.is_null() && t.pythread_tries > 0 {
        t.pythread_tries -= 1;
        t.pythread = threading_object(t.ident);
    }
    t.cache(key, id)
}

/// `threading._active.get(ident)` as a new reference, or null; runs no Python code and leaves
/// any pending exception as it was.
#[cold]
unsafe fn threading_object(ident: u64) -> *mut PyObject {
    let saved = save_exception();
    let mut found = null_mut();
    let name = PyUnicode_FromString(c"threading".as_ptr());
    let module = if name.is_null() {
        null_mut()
    } else {
        let m = PyImport_GetModule(name);
        Py_DecRef(name);
        m
    };
    if !module.is_null() {
        let active = PyObject_GetAttrString(module, c"_active".as_ptr());
        if !active.is_null() {
            if PyDict_Check(active) != 0 {
                let key = PyLong_FromUnsignedLongLong(ident);
                if !key.is_null() {
                    let t = PyDict_GetItemWithError(active, key);
                    if !t.is_null() {
                        Py_IncRef(t);
                        found = t;
                    }
                    Py_DecRef(key);
                }
            }
            Py_DecRef(active);
        }
        Py_DecRef(module);
    }
    PyErr_Clear();
    restore_exception(saved);
    found
}

/// A C function or method is called on the thread `t`; other callables are not recorded.
#[inline(always)]
unsafe fn enter_c_on(
    t: &mut thread::ThreadState,
    callable: *mut PyObject,
    self_arg: *mut PyObject,
) {
    if !BUILTINS.load(Ordering::Relaxed) {
        return;
    }
    let def = registry::c_method_def(callable);
    if def.is_null() {
        return;
    }
    let local = match t.cached(def as usize) {
        Some(l) => l,
        None => {
            let id = match t.cfunc(def as usize) {
                Some(id) => id,
                None => {
                    let id = registry::register_c(callable, def, self_arg);
                    t.remember_cfunc(def as usize, id);
                    id
                }
            };
            cache_miss(t, def as usize, id)
        }
    };
    t.enter(local, true, now, &TIMELINE_BUDGET);
}

#[cfg(not(Py_3_12))]
#[inline(always)]
fn leave_on(t: &mut thread::ThreadState, is_c: bool) {
    t.leave(now(), is_c);
}

#[cfg(Py_3_12)]
#[inline(always)]
unsafe fn enter_code(code: *mut PyObject) {
    if let Some(t) = current() {
        enter_code_on(t, code);
    }
}

#[cfg(Py_3_12)]
#[inline(always)]
unsafe fn enter_c(callable: *mut PyObject, self_arg: *mut PyObject) {
    if let Some(t) = current() {
        enter_c_on(t, callable, self_arg);
    }
}

#[cfg(Py_3_12)]
#[inline(always)]
fn leave(is_c: bool) {
    // The clock is read before finding the thread's state, so that is not charged to the callee.
    let now = now();
    if let Some(t) = current() {
        t.leave(now, is_c);
    }
}

/// The pending exception, taken so that work in a hook cannot disturb it.
#[cfg(Py_3_12)]
pub(crate) type SavedException = *mut PyObject;
#[cfg(not(Py_3_12))]
pub(crate) type SavedException = (*mut PyObject, *mut PyObject, *mut PyObject);

pub(crate) unsafe fn save_exception() -> SavedException {
    #[cfg(Py_3_12)]
    {
        PyErr_GetRaisedException()
    }
    #[cfg(not(Py_3_12))]
    {
        let (mut a, mut b, mut c) = (null_mut(), null_mut(), null_mut());
        #[allow(deprecated)]
        PyErr_Fetch(&mut a, &mut b, &mut c);
        (a, b, c)
    }
}

pub(crate) unsafe fn restore_exception(saved: SavedException) {
    #[cfg(Py_3_12)]
    PyErr_SetRaisedException(saved);
    #[cfg(not(Py_3_12))]
    #[allow(deprecated)]
    PyErr_Restore(saved.0, saved.1, saved.2);
}
