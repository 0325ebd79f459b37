//! `dziura.Sampler`: sampling started and stopped from Python code, of another process or of
//! this one (a Rust thread reads the stacks from outside the interpreter, so it costs the
//! sampled code nothing but the CPU the thread uses).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use dziura_formats::{Format, WriteOptions};
use dziura_model::{Metadata, Profile};
use dziura_sampler::{Options, Recorder, ThreadFilter};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

type Running = (Arc<AtomicBool>, JoinHandle<Result<Profile, String>>);

#[pyclass(module = "dziura")]
pub struct Sampler {
    pid: i32,
    opts: Options,
    running: Mutex<Option<Running>>,
    profile: Mutex<Option<Profile>>,
}

#[pymethods]
impl Sampler {
    /// `Sampler(pid=None, rate=100, idle=False, gil=False, thread=None)`: pid defaults to this
    /// process.
    #[new]
    #[pyo3(signature = (pid=None, rate=100.0, idle=false, gil=false, thread=None))]
    fn new(
        pid: Option<i32>,
        rate: f64,
        idle: bool,
        gil: bool,
        thread: Option<String>,
    ) -> PyResult<Self> {
        if !(rate > 0.0 && rate <= 100_000.0) {
            return Err(PyValueError::new_err(format!(
                "rate must be in (0, 100000], not {rate}"
            )));
        }
        Ok(Sampler {
            pid: pid.unwrap_or(std::process::id() as i32),
            opts: Options {
                rate,
                idle,
                gil_only: gil,
                threads: thread.map(ThreadFilter::Named).unwrap_or_default(),
                ..Default::default()
            },
            running: Mutex::new(None),
            profile: Mutex::new(None),
        })
    }

    /// Start sampling in the background.
    fn start(&self) -> PyResult<()> {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if running.is_some() {
            return Err(PyRuntimeError::new_err("this Sampler is already running"));
        }
        let mut spy = dziura_remote::Spy::attach(self.pid)
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, opts, pid) = (stop.clone(), self.opts.clone(), self.pid);
        let meta = Metadata {
            python_version: spy.interpreter.version_string(),
            command: spy.process.cmdline().split(' ').map(String::from).collect(),
            ..Default::default()
        };
        let handle = std::thread::Builder::new()
            .name("dziura-sampler".into())
            .spawn(move || {
                let mut rec = Recorder::new(pid, 1.0 / opts.rate);
                dziura_sampler::run(
                    pid,
                    Some(&mut spy),
                    &opts,
                    &mut rec,
                    || flag.load(Ordering::Relaxed),
                    |_, _| {},
                );
                Ok(rec.into_profile(meta, true))
            })
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        *running = Some((stop, handle));
        Ok(())
    }

    /// Stop sampling; the samples are kept for `write` and `print_stats`. Returns how many
    /// stacks were kept.
    fn stop(&self, py: Python<'_>) -> PyResult<u64> {
        let Some((flag, handle)) = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        else {
            return Err(PyRuntimeError::new_err("this Sampler is not running"));
        };
        flag.store(true, Ordering::Relaxed);
        let profile = py
            .detach(|| handle.join())
            .map_err(|_| PyRuntimeError::new_err("the sampling thread failed"))?
            .map_err(PyRuntimeError::new_err)?;
        let kept = profile.samples.as_ref().map(|s| s.total()).unwrap_or(0);
        *self.profile.lock().unwrap_or_else(|e| e.into_inner()) = Some(profile);
        Ok(kept)
    }

    /// Write what was sampled: `format` is a name (flamegraph, speedscope, collapsed, table,
    /// pstats, chrome, callgrind, pprof) or taken from the file's extension.
    #[pyo3(signature = (path, format=None))]
    fn write(&self, path: std::path::PathBuf, format: Option<String>) -> PyResult<()> {
        let fmt = crate::views::format_for(&path, format.as_deref())?;
        let bytes = self.render(fmt)?;
        std::fs::write(&path, bytes)
            .map_err(|e| PyRuntimeError::new_err(format!("cannot write {}: {e}", path.display())))
    }

    /// The cProfile-style table of the samples (counts are samples, times samples × interval).
    fn print_stats(&self, py: Python<'_>) -> PyResult<()> {
        let text = String::from_utf8_lossy(&self.render(Format::Table)?).into_owned();
        crate::views::write_stdout(py, &text)
    }

    fn __enter__(slf: Py<Self>, py: Python<'_>) -> PyResult<Py<Self>> {
        slf.borrow(py).start()?;
        Ok(slf)
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<()> {
        self.stop(py).map(|_| ())
    }
}

impl Sampler {
    fn render(&self, fmt: Format) -> PyResult<Vec<u8>> {
        let guard = self.profile.lock().unwrap_or_else(|e| e.into_inner());
        let profile = guard.as_ref().ok_or_else(|| {
            PyRuntimeError::new_err("nothing sampled yet: call start() and stop()")
        })?;
        let mut opts = WriteOptions::default();
        opts.table.sort = Some(dziura_table::SortSpec::parse(&["tottime"]).expect("a sort key"));
        dziura_formats::write(profile, fmt, &opts).map_err(|e| PyValueError::new_err(e.to_string()))
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        if let Some((flag, handle)) = self.running.get_mut().ok().and_then(|r| r.take()) {
            flag.store(true, Ordering::Relaxed);
            let _ = handle.join();
        }
    }
}
