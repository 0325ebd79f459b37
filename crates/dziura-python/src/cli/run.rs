//! `dziura run` (and cProfile's own command line): traces a script, a module, a directory or a
//! zip in this interpreter, as `python -m cProfile` runs it, and writes or prints the profile.

use std::path::{Path, PathBuf};

use dziura_formats::Format;
use pyo3::exceptions::{PyKeyboardInterrupt, PySyntaxError, PySystemExit};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyModule};

use super::args::{absolute, check_writable, report, ViewArgs};
use super::{flush, CliError};
use crate::profile::Profile;
use crate::views::{self, Report};

/// `run`'s options, which are also cProfile's command line: `dziura [-o FILE] [-s SORT]
/// (-m MODULE | SCRIPT) [ARGS]` without a subcommand is `run`.
#[derive(clap::Args, Debug)]
pub(crate) struct RunArgs {
    /// Write the profile to FILE instead of printing the table; the format follows -f, else
    /// the extension (x.dziura, x.html, x.speedscope.json, x.svg, ...), else pstats
    #[arg(short = 'o', long = "outfile", value_name = "FILE")]
    pub outfile: Option<PathBuf>,
    /// Output format: table, pstats, dziura, collapsed, flamegraph, html, speedscope, chrome,
    /// callgrind, pprof (chrome, speedscope, collapsed and flamegraph record a timeline)
    #[arg(short = 'f', long = "format", value_name = "FORMAT")]
    pub format: Option<String>,
    /// Also record every call in time order (for chrome and speedscope output, and kept in
    /// dziura files), at most --timeline-limit calls
    #[arg(long)]
    pub timeline: bool,
    /// The most calls a timeline keeps (default 1000000; implies --timeline); later calls
    /// are dropped and the output says so
    #[arg(long, value_name = "CALLS", value_parser = clap::value_parser!(u64).range(1..))]
    pub timeline_limit: Option<u64>,
    #[command(flatten)]
    pub view: ViewArgs,
    /// Print one table per thread
    #[arg(long)]
    pub threads: bool,
    /// Run a module as a script, like python -m
    #[arg(short = 'm')]
    pub module: bool,
    /// The script (or module with -m) and its arguments
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "SCRIPT | MODULE"
    )]
    pub target: Vec<String>,
}

/// `run` (or cProfile's command line): checks every option, then traces the program.
pub(crate) fn run_command(py: Python<'_>, args: RunArgs) -> Result<i32, CliError> {
    // Made absolute first, as cProfile does: the program may change directory before it ends.
    let outfile = args.outfile.as_deref().map(absolute);
    let out = Output::choose(outfile, args.format.as_deref())?;
    let limit = args
        .timeline_limit
        .unwrap_or(crate::profile::DEFAULT_TIMELINE_CALLS);
    let timeline =
        (args.timeline || args.timeline_limit.is_some() || out.needs_timeline()).then_some(limit);
    run(
        py,
        out,
        timeline,
        &args.view,
        args.threads,
        args.module,
        &args.target,
    )
}

/// What to execute and the `__main__` globals to execute it in.
struct Target<'py> {
    code: Bound<'py, PyAny>,
    globals: Bound<'py, PyDict>,
}

fn prepare_script<'py>(
    py: Python<'py>,
    script: &str,
    args: &[String],
) -> Result<Target<'py>, CliError> {
    let path = Path::new(script);
    let source = std::fs::read(path).map_err(|e| {
        let errno = e.raw_os_error().unwrap_or(0);
        let reason = std::io::Error::from_raw_os_error(errno).to_string();
        let reason = reason
            .split(" (os error")
            .next()
            .unwrap_or(&reason)
            .to_string();
        CliError::usage(format!(
            "can't open file '{}': [Errno {errno}] {reason}",
            absolute(path).display()
        ))
    })?;
    let abs = absolute(path);
    let builtins = py.import("builtins")?;
    let code = match builtins.getattr("compile")?.call1((
        pyo3::types::PyBytes::new(py, &source),
        abs.to_string_lossy(),
        "exec",
        0,
        true,
    )) {
        Ok(c) => c,
        Err(e) => {
            if e.is_instance_of::<PySyntaxError>(py)
                || e.is_instance_of::<pyo3::exceptions::PyValueError>(py)
            {
                // Shown as Python shows it: file, line, caret, message.
                e.display(py);
                return Err(CliError::failed(format!(
                    "{} has a syntax error; nothing was profiled",
                    script
                )));
            }
            return Err(e.into());
        }
    };
    let sys = py.import("sys")?;
    let mut argv = vec![script.to_string()];
    argv.extend(args.iter().cloned());
    sys.setattr("argv", argv)?;
    // sys.path[0] is the script's directory (symlinks resolved), as `python script.py` sets it.
    let dir = std::fs::canonicalize(path)
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    set_path0(py, &dir.to_string_lossy())?;
    let main = fresh_main(py)?;
    let g = main.dict();
    g.set_item("__file__", abs.to_string_lossy())?;
    g.set_item("__cached__", py.None())?;
    Ok(Target { code, globals: g })
}

/// `-m MODULE`, or with `place` (a directory or zip) its `__main__`, as `python place` runs it.
fn prepare_module<'py>(
    py: Python<'py>,
    name: &str,
    args: &[String],
    place: Option<&str>,
) -> Result<Target<'py>, CliError> {
    let path0 = match place {
        Some(p) => absolute(Path::new(p)),
        None => std::env::current_dir().map_err(|e| CliError::failed(e.to_string()))?,
    };
    set_path0(py, &path0.to_string_lossy())?;
    let runpy = py.import("runpy")?;
    // The same lookup `python -m` does (runpy._run_module_as_main), before tracing starts, so
    // the import machinery never shows in the profile.
    // A directory's or zip's `__main__` is found as `python place` finds it (runpy moves the
    // running `__main__` aside for the lookup).
    let details = if place.is_some() {
        runpy.getattr("_get_main_module_details")?.call0()
    } else {
        runpy.getattr("_get_module_details")?.call1((name,))
    };
    let details = details.map_err(|e| {
        let msg = e.value(py).str().map(|s| s.to_string()).unwrap_or_default();
        CliError::failed(msg)
    })?;
    let (_, spec, code): (Bound<'_, PyAny>, Bound<'_, PyAny>, Bound<'_, PyAny>) =
        details.extract()?;
    let origin: Option<String> = spec.getattr("origin")?.extract().ok();
    let sys = py.import("sys")?;
    let argv0 = place.map(str::to_string);
    let mut argv =
        vec![argv0.unwrap_or_else(|| origin.clone().unwrap_or_else(|| name.to_string()))];
    argv.extend(args.iter().cloned());
    sys.setattr("argv", argv)?;
    let main = fresh_main(py)?;
    let g = main.dict();
    g.set_item("__file__", origin)?;
    g.set_item("__cached__", spec.getattr("cached")?)?;
    g.set_item("__spec__", &spec)?;
    g.set_item("__loader__", spec.getattr("loader")?)?;
    g.set_item("__package__", spec.getattr("parent")?)?;
    Ok(Target { code, globals: g })
}

fn set_path0(py: Python<'_>, dir: &str) -> PyResult<()> {
    let path = py.import("sys")?.getattr("path")?;
    if path.len()? > 0 {
        path.set_item(0, dir)?;
    } else {
        path.call_method1("insert", (0, dir))?;
    }
    Ok(())
}

/// A new `__main__` module, so objects defined by the program pickle as they do under `python`.
fn fresh_main(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    let main = PyModule::new(py, "__main__")?;
    main.dict()
        .set_item("__builtins__", py.import("builtins")?)?;
    main.dict().set_item("__package__", py.None())?;
    main.dict().set_item("__spec__", py.None())?;
    main.dict().set_item("__loader__", py.None())?;
    py.import("sys")?
        .getattr("modules")?
        .set_item("__main__", &main)?;
    Ok(main)
}

/// Where `run` writes and in what format.
struct Output {
    path: Option<PathBuf>,
    format: Format,
}

impl Output {
    /// `-f` if given, else what `-o`'s extension says, else pstats for a file (as cProfile's
    /// `-o`) and the table on the terminal.
    fn choose(path: Option<PathBuf>, format: Option<&str>) -> Result<Output, CliError> {
        let fallback = if path.is_some() {
            Format::Pstats
        } else {
            Format::Table
        };
        let format = Format::choose(format, path.as_deref(), Some(fallback))?;
        if path.is_none() && !format.is_text() {
            return Err(CliError::usage(format!(
                "the {format} format is binary; give a file with -o FILE"
            )));
        }
        Ok(Output { path, format })
    }

    /// Formats drawn from stacks over time need the call timeline of a traced run.
    fn needs_timeline(&self) -> bool {
        self.format.needs_samples()
    }
}

fn run(
    py: Python<'_>,
    out: Output,
    timeline: Option<u64>,
    view: &ViewArgs,
    threads: bool,
    module: bool,
    target: &[String],
) -> Result<i32, CliError> {
    let report = report(view, threads)?;
    if let Some(o) = &out.path {
        check_writable(o)?;
    }
    let (first, args) = target.split_first().ok_or_else(|| {
        let what = if module {
            "-m needs a MODULE"
        } else {
            "a SCRIPT or -m MODULE is required (see dziura --help)"
        };
        CliError::usage(what)
    })?;
    let t = if module {
        prepare_module(py, first, args, None)?
    } else if is_directory_or_zip(Path::new(first)) {
        // `python app/` and `python app.zip` run the `__main__` module found there.
        prepare_module(py, "__main__", args, Some(first))?
    } else {
        prepare_script(py, first, args)?
    };
    let prof = Bound::new(py, Profile::new_native(true, true).with_timeline(timeline))?;
    let result = std::sync::Arc::new(Written {
        out,
        report,
        done: std::sync::Mutex::new(None),
    });
    let restore = write_on_stop_signals(py, &prof, &result)?;
    Profile::start(&prof, None, None)?;
    let outcome = py
        .import("builtins")?
        .getattr("exec")?
        .call1((&t.code, &t.globals, &t.globals));
    // Stopped before the handlers are put back, which must not show in the profile.
    prof.borrow().stop(py)?;
    restore(py);
    // The profile is written before any error is reported: Ctrl-C, sys.exit and crashes keep it.
    result.write(py, &prof)?;
    let Err(err) = outcome else { return Ok(0) };
    Ok(exit_status(py, err))
}

fn is_directory_or_zip(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    path.is_dir()
        || std::fs::File::open(path)
            .and_then(|mut f| f.read_exact(&mut magic))
            .is_ok_and(|()| &magic == b"PK\x03\x04")
}

/// Where and how `run` writes the profile, written once: at the program's end, or from the
/// SIGTERM/SIGHUP handler when the program is stopped that way.
struct Written {
    out: Output,
    report: Report,
    /// Set once written: the result, so the second caller does not write again.
    done: std::sync::Mutex<Option<Result<(), String>>>,
}

impl Written {
    /// Stops profiling and writes the output (once).
    fn write(&self, py: Python<'_>, prof: &Bound<'_, Profile>) -> Result<(), CliError> {
        let mut done = self.done.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = done.as_ref() {
            return r.clone().map_err(CliError::failed);
        }
        prof.borrow().stop(py)?;
        let model = prof.borrow().model(py);
        let r = self.render(py, &model);
        *done = Some(r.clone());
        r.map_err(CliError::failed)
    }

    fn render(&self, py: Python<'_>, model: &dziura_model::Profile) -> Result<(), String> {
        // The graph formats say so in their metadata; folded stacks have no place for it.
        if let Some(at) = model.calls.as_ref().and_then(|c| c.truncated_at_ns) {
            if self.out.format.needs_samples() {
                eprintln!(
                    "dziura: warning: the timeline reached --timeline-limit after {:.3} s; calls \
                     started later were not kept, and their time is charged to the calls still \
                     open then (raise --timeline-limit)",
                    at as f64 * 1e-9
                );
            }
        }
        let bytes = if self.out.format == Format::Table {
            views::render(model, &self.report).into_bytes()
        } else {
            let opts = views::write_options(py, &[]).map_err(|e| e.to_string())?;
            dziura_formats::write(model, self.out.format, &opts)
                .map_err(|e| format!("cannot write {}: {e}", self.out.format))?
        };
        match &self.out.path {
            Some(path) => std::fs::write(path, bytes)
                .map_err(|e| format!("cannot write the output file '{}': {e}", path.display())),
            None => {
                write_real_stdout(py, &bytes);
                Ok(())
            }
        }
    }
}

/// The table goes to the process's standard output even when the program closed or replaced
/// `sys.stdout` (its own output flushed first): the streams Python makes for fd 1 never close it.
fn write_real_stdout(py: Python<'_>, bytes: &[u8]) {
    use std::io::Write;
    flush(py);
    let mut out = std::io::stdout().lock();
    // A reader that went away (`| head`) is not an error of the profile.
    let _ = out.write_all(bytes).and_then(|()| out.flush());
}

/// While the program runs, SIGTERM and SIGHUP (left at their defaults by the program) first
/// write the profile, then end the process by the same signal as they would have: `timeout`,
/// `docker stop` or a closed terminal keep what was collected. A handler the program installs
/// replaces this one, as it would replace the default. Returns what puts the defaults back.
fn write_on_stop_signals<'py>(
    py: Python<'py>,
    prof: &Bound<'py, Profile>,
    result: &std::sync::Arc<Written>,
) -> Result<impl FnOnce(Python<'_>), CliError> {
    let signal = py.import("signal")?;
    let default = signal.getattr("SIG_DFL")?;
    let mut installed = Vec::new();
    for name in ["SIGTERM", "SIGHUP"] {
        let signum = signal.getattr(name)?;
        if !signal.call_method1("getsignal", (&signum,))?.eq(&default)? {
            continue;
        }
        let prof = prof.clone().unbind();
        let result = result.clone();
        let handler = pyo3::types::PyCFunction::new_closure(
            py,
            None,
            None,
            move |args: &Bound<'_, pyo3::types::PyTuple>,
                  _kwargs: Option<&Bound<'_, PyDict>>|
                  -> PyResult<()> {
                let py = args.py();
                let signum = args.get_item(0)?;
                if let Err(e) = result.write(py, prof.bind(py)) {
                    eprintln!("dziura: error: {}", e.message);
                }
                let signal = py.import("signal")?;
                signal.call_method1("signal", (&signum, signal.getattr("SIG_DFL")?))?;
                let os = py.import("os")?;
                os.call_method1("kill", (os.call_method0("getpid")?, &signum))?;
                Ok(())
            },
        )?;
        signal.call_method1("signal", (&signum, handler))?;
        installed.push(signum.unbind());
    }
    Ok(move |py: Python<'_>| {
        if let Ok(signal) = py.import("signal") {
            for signum in installed {
                let Ok(default) = signal.getattr("SIG_DFL") else {
                    return;
                };
                let _ = signal.call_method1("signal", (signum, default));
            }
        }
    })
}

/// The exit status `python` would give for an exception escaping the program, after printing it
/// the way `python` does.
fn exit_status(py: Python<'_>, err: PyErr) -> i32 {
    if err.is_instance_of::<PySystemExit>(py) {
        let code = err.value(py).getattr("code").ok();
        return match code {
            None => 0,
            Some(c) if c.is_none() => 0,
            Some(c) => match c.extract::<i32>() {
                Ok(n) => n,
                Err(_) => {
                    let _ = py.import("sys").and_then(|s| {
                        s.getattr("stderr")?
                            .call_method1("write", (format!("{c}\n"),))
                    });
                    1
                }
            },
        };
    }
    let interrupted = err.is_instance_of::<PyKeyboardInterrupt>(py);
    err.display(py);
    flush(py);
    if interrupted {
        130
    } else {
        1
    }
}
