//! `dziura.Sampler`: sampling started and stopped from Python code, of another process or of
//! this one (a Rust thread reads the stacks from outside the interpreter, so it costs the
//! sampled code nothing but the CPU the thread uses).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use dziura_formats::Format;
use dziura_model::Metadata;
use dziura_sampler::{Options, Recorder, ThreadFilter};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

type Running = (Arc<AtomicBool>, JoinHandle<Recorder>, Metadata);

#[pyclass(module = "dziura")]
pub struct Sampler {
    pid: i32,
    opts: Options,
    running: Mutex<Option<Running>>,
    /// Every run's samples so far (with the target's metadata), while no run is going on: a
    /// second `start()` adds to the first run's, as a second `Profile.enable()` does.
    recorded: Mutex<Option<(Recorder, Metadata)>>,
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
        let pid = pid.unwrap_or(std::process::id() as i32);
        // A pid that names no process is refused here, not at the first start().
        dziura_remote::process::Process::open(pid)
            .map_err(|e| pyo3::exceptions::PyProcessLookupError::new_err(e.to_string()))?;
        Ok(Sampler {
            pid,
            opts: Options {
                rate,
                idle,
                gil_only: gil,
                threads: thread.map(ThreadFilter::Named).unwrap_or_default(),
                ..Default::default()
            },
            running: Mutex::new(None),
            recorded: Mutex::new(None),
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
        let earlier = self
            .recorded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let (mut rec, meta) = earlier.unwrap_or_else(|| {
            let meta = Metadata {
                python_version: spy.interpreter.version_string(),
                command: spy.process.cmdline().split(' ').map(String::from).collect(),
                ..Default::default()
            };
            (Recorder::new(pid, 1.0 / opts.rate), meta)
        });
        let handle = std::thread::Builder::new()
            .name("dziura-sampler".into())
            .spawn(move || {
                dziura_sampler::run(
                    pid,
                    Some(&mut spy),
                    &opts,
                    &mut rec,
                    || flag.load(Ordering::Relaxed),
                    |_, _| {},
                );
                rec
            })
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        *running = Some((stop, handle, meta));
        Ok(())
    }

    /// Stop sampling; the samples are kept for `write` and `print_stats`. Returns how many
    /// stacks were kept (by every run so far).
    fn stop(&self, py: Python<'_>) -> PyResult<u64> {
        let Some((flag, handle, meta)) = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        else {
            return Err(PyRuntimeError::new_err("this Sampler is not running"));
        };
        flag.store(true, Ordering::Relaxed);
        let rec = py
            .detach(|| handle.join())
            .map_err(|_| PyRuntimeError::new_err("the sampling thread failed"))?;
        let kept = rec.samples.total();
        *self.recorded.lock().unwrap_or_else(|e| e.into_inner()) = Some((rec, meta));
        Ok(kept)
    }

    /// Write what was sampled: `format` is a name (flamegraph, speedscope, collapsed, table,
    /// pstats, chrome, callgrind, pprof) or taken from the file's extension.
    #[pyo3(signature = (path, format=None))]
    fn write(
        &self,
        py: Python<'_>,
        path: std::path::PathBuf,
        format: Option<String>,
    ) -> PyResult<()> {
        let fmt = crate::views::format_for(&path, format.as_deref())?;
        let bytes = self.render(py, fmt)?;
        // OSError (FileNotFoundError, PermissionError, ...) as open() raises it, as Profile's
        // dump_stats does.
        std::fs::write(&path, bytes).map_err(|e| {
            pyo3::exceptions::PyOSError::new_err((
                e.raw_os_error().unwrap_or(0),
                e.to_string(),
                path.display().to_string(),
            ))
        })
    }

    /// The cProfile-style table of the samples (counts are samples, times samples × interval).
    fn print_stats(&self, py: Python<'_>) -> PyResult<()> {
        let text = String::from_utf8_lossy(&self.render(py, Format::Table)?).into_owned();
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
    fn render(&self, py: Python<'_>, fmt: Format) -> PyResult<Vec<u8>> {
        // Python is asked for the library directories before the lock is taken.
        let mut opts = crate::views::write_options(py, &[])?;
        opts.table.sort = Some(dziura_table::SortSpec::parse(&["tottime"]).expect("a sort key"));
        let guard = self.recorded.lock().unwrap_or_else(|e| e.into_inner());
        let (rec, meta) = guard.as_ref().ok_or_else(|| {
            PyRuntimeError::new_err("nothing sampled yet: call start() and stop()")
        })?;
        let profile = rec.snapshot(meta.clone(), true);
        dziura_formats::write(&profile, fmt, &opts)
            .map_err(|e| PyValueError::new_err(e.to_string()))
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        if let Some((flag, handle, _)) = self.running.get_mut().ok().and_then(|r| r.take()) {
            flag.store(true, Ordering::Relaxed);
            let _ = handle.join();
        }
    }
}
