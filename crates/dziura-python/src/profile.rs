//! `dziura.Profile`: cProfile.Profile's API, method for method, over the Rust tracer.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use dziura_model::{FuncKey, Metadata};
use dziura_table::ViewOptions;
use dziura_tracer::registry::{FuncInfo, REGISTRY};
use dziura_tracer::StartError;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use crate::collected::Collected;
use crate::views;

/// Whether any dziura profiler is tracing now.
#[pyfunction]
pub fn active() -> bool {
    dziura_tracer::is_active()
}

/// Installs or removes a hook whose callbacks do nothing, or with `clocked` only read the clock
/// (the benchmarks' floors).
#[pyfunction]
#[pyo3(signature = (on, clocked = false))]
pub fn _noop_hook(py: Python<'_>, on: bool, clocked: bool) -> PyResult<()> {
    unsafe { dziura_tracer::noop_hook(on, clocked) }.map_err(|e| match e {
        StartError::AlreadyActive(m) => PyValueError::new_err(m),
        StartError::Python => {
            PyErr::take(py).unwrap_or_else(|| PyRuntimeError::new_err("hook failed"))
        }
    })
}

#[pyclass(module = "dziura", subclass, dict)]
pub struct Profile {
    timer: Option<Py<PyAny>>,
    timeunit: f64,
    subcalls: bool,
    builtins: bool,
    /// Record every call in time order, at most this many (`timeline=`).
    timeline: Option<u64>,
    enabled: AtomicBool,
    data: Mutex<Collected>,
    started: Mutex<Option<std::time::Instant>>,
    /// Unix time of the first start, for the profile's metadata.
    first_start: Mutex<Option<f64>>,
    /// Nanoseconds from the first start to the current period's start: where its timeline goes.
    period_offset_ns: Mutex<u64>,
}

/// Calls a timeline keeps when `timeline=True` / `--timeline` gives no number (as viztracer).
pub const DEFAULT_TIMELINE_CALLS: u64 = 1_000_000;

impl Profile {
    pub fn new_native(subcalls: bool, builtins: bool) -> Self {
        Profile {
            timer: None,
            timeunit: 0.0,
            subcalls,
            builtins,
            timeline: None,
            enabled: AtomicBool::new(false),
            data: Mutex::new(Collected::default()),
            started: Mutex::new(None),
            first_start: Mutex::new(None),
            period_offset_ns: Mutex::new(0),
        }
    }

    /// Also records every call in time order, at most `max_calls` of them.
    pub fn with_timeline(mut self, max_calls: Option<u64>) -> Self {
        self.timeline = max_calls;
        self
    }

    fn data(&self) -> std::sync::MutexGuard<'_, Collected> {
        self.data.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn start(
        slf: &Bound<'_, Self>,
        subcalls: Option<bool>,
        builtins: Option<bool>,
    ) -> PyResult<()> {
        let me = slf.borrow();
        if me.enabled.load(Ordering::Acquire) {
            return Ok(());
        }
        let timer = me
            .timer
            .as_ref()
            .map(|t| (t.clone_ref(slf.py()).into_ptr(), me.timeunit));
        let opts = dziura_tracer::Options {
            builtins: builtins.unwrap_or(me.builtins),
            subcalls: subcalls.unwrap_or(me.subcalls),
            timer,
            timeline: me.timeline,
        };
        match unsafe { dziura_tracer::start(opts, slf.as_ptr()) } {
            Ok(()) => {
                me.enabled.store(true, Ordering::Release);
                *me.started.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some(std::time::Instant::now());
                let unix_now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs_f64())
                    .unwrap_or(0.0);
                let first = *me
                    .first_start
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get_or_insert(unix_now);
                *me.period_offset_ns
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) = ((unix_now - first) * 1e9) as u64;
                Ok(())
            }
            Err(StartError::AlreadyActive(msg)) => Err(PyValueError::new_err(msg)),
            Err(StartError::Python) => Err(PyErr::take(slf.py()).unwrap_or_else(|| {
                PyRuntimeError::new_err("dziura could not install its profiling hook")
            })),
        }
    }

    pub fn stop(&self, py: Python<'_>) -> PyResult<()> {
        if !self.enabled.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        let Some(mut h) = (unsafe { dziura_tracer::stop() }) else {
            return Ok(());
        };
        if h.hook_replaced {
            // Said, not raised: under `-W error` the profile must still be kept.
            let _ = PyErr::warn(
                py,
                &py.get_type::<pyo3::exceptions::PyRuntimeWarning>(),
                c"dziura's profiling hook was replaced while it ran (the program called sys.setprofile, started its own cProfile, or freed sys.monitoring's profiler tool): calls after that point are missing from this profile",
                1,
            );
        }
        let mut names = thread_names(py).unwrap_or_default();
        for t in &mut h.threads {
            let thread = std::mem::replace(&mut t.pythread, std::ptr::null_mut());
            if thread.is_null() {
                continue;
            }
            // SAFETY: the tracer hands over a strong reference, released here.
            let thread = unsafe { Bound::from_owned_ptr(py, thread) };
            if let Ok(name) = thread.getattr("name").and_then(|n| n.extract::<String>()) {
                names.insert(t.native_id, name);
            }
        }
        let offset = *self
            .period_offset_ns
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let mut data = self.data();
        data.add(&h, &names, offset);
        if let Some(t) = self
            .started
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            data.wall_seconds += t.elapsed().as_secs_f64();
        }
        Ok(())
    }

    /// The collected data as the profile model, with names read from code objects.
    pub fn model(&self, py: Python<'_>) -> dziura_model::Profile {
        let data = self.data();
        let command = py
            .import("sys")
            .and_then(|s| s.getattr("argv"))
            .and_then(|a| a.extract::<Vec<String>>())
            .unwrap_or_default();
        let meta = Metadata {
            python_version: py.version().to_string(),
            command,
            start_time: self
                .first_start
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .unwrap_or(0.0),
            duration: data.wall_seconds,
            host: std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|s| s.trim().to_string())
                .unwrap_or_default(),
            mode: "tracing".into(),
        };
        data.to_profile(&mut |id| func_key(py, id), meta)
    }

    fn stats_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let graph = self.model(py).merged();
        let stats = PyDict::new(py);
        let keys: Vec<Bound<'py, PyTuple>> = graph
            .iter()
            .map(|(_, k, _)| {
                PyTuple::new(
                    py,
                    [
                        k.file.clone().into_pyobject(py)?.into_any(),
                        k.line.into_pyobject(py)?.into_any(),
                        k.name.clone().into_pyobject(py)?.into_any(),
                    ],
                )
            })
            .collect::<PyResult<_>>()?;
        for (i, _, s) in graph.iter() {
            let callers = PyDict::new(py);
            for (c, e) in &s.callers {
                callers.set_item(
                    &keys[*c],
                    (e.calls, e.primitive_calls, e.own_time, e.cum_time),
                )?;
            }
            let t = &s.total;
            stats.set_item(
                &keys[i],
                (t.primitive_calls, t.calls, t.own_time, t.cum_time, callers),
            )?;
        }
        Ok(stats)
    }
}

/// Thread names by native id, for live threads and for ended ones whose `Thread` objects still
/// exist (`threading._dangling`). Not by `get_ident()`: pthread ids are reused as threads end.
fn thread_names(py: Python<'_>) -> PyResult<HashMap<u64, String>> {
    let mut out = HashMap::new();
    let Ok(threading) = py.import("threading") else {
        return Ok(out);
    };
    let mut add = |t: &Bound<'_, PyAny>| {
        let name = t.getattr("name").and_then(|n| n.extract::<String>());
        let Ok(name) = name else { return };
        if let Ok(id) = t.getattr("native_id").and_then(|v| v.extract::<u64>()) {
            out.insert(id, name);
        }
    };
    if let Ok(active) = threading.getattr("_active") {
        for (_, t) in active.cast::<PyDict>()?.iter() {
            add(&t);
        }
    }
    if let Ok(dangling) = threading.getattr("_dangling") {
        if let Ok(list) = py.import("builtins")?.getattr("list")?.call1((dangling,)) {
            for t in list.try_iter()? {
                add(&t?);
            }
        }
    }
    Ok(out)
}

fn func_key(py: Python<'_>, id: u32) -> FuncKey {
    let reg = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    match reg.funcs.get(id as usize) {
        Some(FuncInfo::Builtin(name)) => FuncKey::builtin(name.clone()),
        Some(FuncInfo::Code(code)) => {
            let code = unsafe { Bound::from_borrowed_ptr(py, *code) };
            let get = |a: &str| code.getattr(a).ok();
            // A lone surrogate (from `\udc80` in source, or an undecodable file name) is shown
            // as U+FFFD, not lost with the whole name.
            let text = |v: Bound<'_, PyAny>| {
                v.cast::<pyo3::types::PyString>()
                    .ok()
                    .map(|s| s.to_string_lossy().into_owned())
            };
            FuncKey::python(
                get("co_filename").and_then(text).unwrap_or_default(),
                get("co_firstlineno")
                    .and_then(|v| v.extract::<u32>().ok())
                    .unwrap_or(0),
                get("co_name").and_then(text).unwrap_or_default(),
            )
        }
        None => FuncKey::builtin(format!("<unknown function {id}>")),
    }
}

/// The object cProfile's `getstats()` reports for a function: its code object, or its name.
fn func_object(py: Python<'_>, id: u32) -> PyResult<Py<PyAny>> {
    let reg = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    Ok(match reg.funcs.get(id as usize) {
        Some(FuncInfo::Code(code)) => unsafe { Bound::from_borrowed_ptr(py, *code) }.unbind(),
        Some(FuncInfo::Builtin(name)) => name.clone().into_pyobject(py)?.into_any().unbind(),
        None => py.None(),
    })
}

#[pymethods]
impl Profile {
    /// cProfile's arguments, plus `timeline`: True (or a number of calls to keep, at most) to
    /// also record every call in time order, for the `chrome` and `speedscope` outputs.
    #[new]
    #[pyo3(signature = (timer=None, timeunit=0.0, subcalls=true, builtins=true, *, timeline=None))]
    fn py_new(
        timer: Option<Py<PyAny>>,
        timeunit: f64,
        subcalls: bool,
        builtins: bool,
        timeline: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let timeline = match timeline {
            None => None,
            Some(t) if t.is_instance_of::<pyo3::types::PyBool>() => {
                t.extract::<bool>()?.then_some(DEFAULT_TIMELINE_CALLS)
            }
            Some(t) => match t.extract::<u64>() {
                Ok(n) if n > 0 => Some(n),
                _ => {
                    return Err(PyValueError::new_err(
                        "timeline must be True, False or a positive number of calls",
                    ))
                }
            },
        };
        let mut p = Profile::new_native(subcalls, builtins).with_timeline(timeline);
        p.timer = timer;
        p.timeunit = timeunit;
        Ok(p)
    }

    /// Start collecting; every thread of the interpreter is traced.
    #[pyo3(signature = (subcalls=None, builtins=None))]
    fn enable(
        slf: &Bound<'_, Self>,
        subcalls: Option<bool>,
        builtins: Option<bool>,
    ) -> PyResult<()> {
        Profile::start(slf, subcalls, builtins)
    }

    /// Stop collecting; what was collected is kept and added to on the next `enable()`.
    fn disable(&self, py: Python<'_>) -> PyResult<()> {
        self.stop(py)
    }

    /// Forget everything collected.
    fn clear(&self) {
        *self.data() = Collected::default();
    }

    #[pyo3(signature = (func, /, *args, **kwargs))]
    fn runcall(
        slf: &Bound<'_, Self>,
        func: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        Profile::start(slf, None, None)?;
        let r = func.call(args, kwargs);
        slf.borrow().stop(slf.py())?;
        Ok(r?.unbind())
    }

    fn run(slf: &Bound<'_, Self>, cmd: &Bound<'_, PyAny>) -> PyResult<Py<Self>> {
        let main = slf.py().import("__main__")?.dict();
        Profile::runctx(slf, cmd, &main, Some(&main))
    }

    #[pyo3(signature = (cmd, globals, locals=None))]
    fn runctx(
        slf: &Bound<'_, Self>,
        cmd: &Bound<'_, PyAny>,
        globals: &Bound<'_, PyDict>,
        locals: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Py<Self>> {
        let py = slf.py();
        let exec = py.import("builtins")?.getattr("exec")?;
        Profile::start(slf, None, None)?;
        let r = exec.call1((cmd, globals, locals.unwrap_or(globals)));
        slf.borrow().stop(py)?;
        r?;
        Ok(slf.clone().unbind())
    }

    fn create_stats(slf: &Bound<'_, Self>) -> PyResult<()> {
        slf.borrow().stop(slf.py())?;
        Profile::snapshot_stats(slf)
    }

    fn snapshot_stats(slf: &Bound<'_, Self>) -> PyResult<()> {
        let stats = slf.borrow().stats_dict(slf.py())?;
        slf.setattr("stats", stats)
    }

    /// The cProfile table; `by_thread=True` prints one table per thread.
    #[pyo3(signature = (sort=None, *restrictions, by_thread=false))]
    fn print_stats(
        slf: &Bound<'_, Self>,
        sort: Option<&Bound<'_, PyAny>>,
        restrictions: &Bound<'_, PyTuple>,
        by_thread: bool,
    ) -> PyResult<()> {
        let py = slf.py();
        let me = slf.borrow();
        me.stop(py)?;
        let spec = match sort {
            Some(s) => views::sort_spec(s)?,
            None => dziura_table::SortSpec::parse(&["-1"]).expect("stdname is a sort key"),
        };
        let report = views::Report {
            opts: ViewOptions {
                sort: Some(spec),
                restrictions: views::restrictions(restrictions)?,
                source: None,
            },
            by_thread,
            callers: None,
            callees: None,
        };
        views::write_stdout(py, &views::render(&me.model(py), &report))
    }

    /// pstats' callers view: who called each listed function.
    #[pyo3(signature = (*restrictions, sort=None))]
    fn print_callers(
        slf: &Bound<'_, Self>,
        restrictions: &Bound<'_, PyTuple>,
        sort: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        Self::print_call_view(slf, restrictions, sort, true)
    }

    /// pstats' callees view: what each listed function called.
    #[pyo3(signature = (*restrictions, sort=None))]
    fn print_callees(
        slf: &Bound<'_, Self>,
        restrictions: &Bound<'_, PyTuple>,
        sort: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        Self::print_call_view(slf, restrictions, sort, false)
    }

    /// Write a pstats file (`pstats.Stats(file)`, snakeviz and gprof2dot read it).
    fn dump_stats(slf: &Bound<'_, Self>, file: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = slf.py();
        let me = slf.borrow();
        me.stop(py)?;
        let path: std::path::PathBuf = py
            .import("os")?
            .call_method1("fspath", (file,))?
            .extract()?;
        let bytes = dziura_pstats::write(&me.model(py).merged());
        std::fs::write(&path, bytes).map_err(|e| {
            pyo3::exceptions::PyOSError::new_err(format!("cannot write {}: {e}", path.display()))
        })
    }

    /// Write the profile in any of dziura's formats: `format` is a name (table, pstats, dziura,
    /// collapsed, flamegraph, html, speedscope, chrome, callgrind, pprof) or taken from the
    /// file's extension. `chrome` and `speedscope` need `Profile(timeline=True)`.
    #[pyo3(signature = (path, format=None))]
    fn write(
        slf: &Bound<'_, Self>,
        path: std::path::PathBuf,
        format: Option<String>,
    ) -> PyResult<()> {
        let py = slf.py();
        let me = slf.borrow();
        me.stop(py)?;
        let fmt = crate::views::format_for(&path, format.as_deref())?;
        let opts = crate::views::write_options(py, &[])?;
        let bytes = dziura_formats::write(&me.model(py), fmt, &opts)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        std::fs::write(&path, bytes).map_err(|e| {
            pyo3::exceptions::PyOSError::new_err(format!("cannot write {}: {e}", path.display()))
        })
    }

    /// cProfile's raw records: `_lsprof.profiler_entry` objects, all threads added together.
    fn getstats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let lsprof = py.import("_lsprof")?;
        let entry_t = lsprof.getattr("profiler_entry")?;
        let sub_t = lsprof.getattr("profiler_subentry")?;
        let data = self.data();
        let mut funcs: Vec<(u32, crate::collected::Acc)> = Vec::new();
        let mut calls: HashMap<u32, Vec<(u32, crate::collected::Acc)>> = HashMap::new();
        for t in &data.threads {
            for (id, a) in &t.funcs {
                match funcs.iter_mut().find(|(i, _)| i == id) {
                    Some((_, b)) => b.merge(a),
                    None => funcs.push((*id, *a)),
                }
            }
            for ((caller, callee), a) in &t.edges {
                let v = calls.entry(*caller).or_default();
                match v.iter_mut().find(|(i, _)| i == callee) {
                    Some((_, b)) => b.merge(a),
                    None => v.push((*callee, *a)),
                }
            }
        }
        let out = PyList::empty(py);
        for (id, a) in funcs {
            let subs = PyList::empty(py);
            for (callee, e) in calls.get(&id).into_iter().flatten() {
                subs.append(sub_t.call1(((
                    func_object(py, *callee)?,
                    e.calls,
                    e.recursive_calls,
                    e.total,
                    e.inline,
                ),))?)?;
            }
            let sub_list = if subs.is_empty() {
                py.None().into_bound(py)
            } else {
                subs.into_any()
            };
            out.append(entry_t.call1(((
                func_object(py, id)?,
                a.calls,
                a.recursive_calls,
                a.total,
                a.inline,
                sub_list,
            ),))?)?;
        }
        Ok(out)
    }

    fn __enter__(slf: &Bound<'_, Self>) -> PyResult<Py<Self>> {
        Profile::start(slf, None, None)?;
        Ok(slf.clone().unbind())
    }

    #[pyo3(signature = (*_exc_info))]
    fn __exit__(&self, py: Python<'_>, _exc_info: &Bound<'_, PyTuple>) -> PyResult<()> {
        self.stop(py)
    }
}

impl Profile {
    fn print_call_view(
        slf: &Bound<'_, Self>,
        restrictions: &Bound<'_, PyTuple>,
        sort: Option<&Bound<'_, PyAny>>,
        callers: bool,
    ) -> PyResult<()> {
        let py = slf.py();
        let me = slf.borrow();
        me.stop(py)?;
        let opts = ViewOptions {
            sort: sort.map(views::sort_spec).transpose()?,
            restrictions: views::restrictions(restrictions)?,
            source: None,
        };
        let g = me.model(py).merged().strip_dirs();
        let text = if callers {
            dziura_table::callers_view(&g, &opts)
        } else {
            dziura_table::callees_view(&g, &opts)
        };
        views::write_stdout(py, &text)
    }
}

impl Drop for Profile {
    fn drop(&mut self) {
        if self.enabled.load(Ordering::Acquire) {
            // Dropped while tracing: stop the hook so it never outlives its profile.
            Python::attach(|_| unsafe {
                dziura_tracer::stop();
            });
        }
    }
}
