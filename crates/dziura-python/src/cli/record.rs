//! `dziura record`: samples a running CPython (or a command it launches) from outside, as
//! py-spy's `record` does, and writes the profile in any format, also on Ctrl-C, SIGTERM and
//! SIGHUP, periodically with --every and on SIGUSR1.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use dziura_formats::Format;
use dziura_model::Metadata;
use dziura_remote::RemoteError;
use dziura_sampler::launch::Launched;
use dziura_sampler::signals::StopSignals;
use dziura_sampler::{attach, Options, Recorder, Stopped, ThreadFilter};
use pyo3::prelude::*;

use super::args::{check_writable, rate, seconds, seconds_or_zero, sort_key, write_file};
use super::CliError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Wall-clock time: every sample of every thread that is running or, with --idle, waiting
    Wall,
    /// CPU time: only threads on a CPU at the moment of the sample
    Cpu,
}

#[derive(Args, Debug)]
pub struct RecordArgs {
    /// The process to sample
    #[arg(short, long, conflicts_with = "command")]
    pid: Option<i32>,
    /// Samples per second (up to 100000)
    #[arg(short, long, default_value_t = 100.0, value_parser = rate)]
    rate: f64,
    /// Stop after this many seconds (default: until Ctrl-C or the target exits)
    #[arg(short, long, value_parser = seconds)]
    duration: Option<f64>,
    /// A launched command's time to exit after each signal dziura sends it (the stop signal
    /// dziura got, or SIGTERM when the duration ends; then SIGTERM, then SIGKILL)
    #[arg(long, value_name = "SECONDS", default_value_t = 3.0, value_parser = seconds_or_zero)]
    grace: f64,
    /// Keep samples of threads that are waiting (sleeping, blocked on I/O or a lock)
    #[arg(short, long)]
    idle: bool,
    /// Keep only the thread holding the GIL
    #[arg(short, long)]
    gil: bool,
    #[arg(long, value_enum, default_value_t = Mode::Wall)]
    mode: Mode,
    /// Give each thread its own root frame in stack-based outputs (one table per thread with
    /// -f table)
    #[arg(short, long)]
    threads: bool,
    /// Keep only this thread (a name or a native thread id)
    #[arg(long, value_name = "NAME|TID")]
    thread: Option<String>,
    /// Keep only the main thread
    #[arg(long, conflicts_with = "thread")]
    main_thread: bool,
    /// Never stop the target (the default; dziura only reads its memory)
    #[arg(long, conflicts_with = "blocking")]
    nonblocking: bool,
    /// Stop the target's threads while each sample is read (slows the target; rarely needed,
    /// since torn reads are detected and retried)
    #[arg(long)]
    blocking: bool,
    /// Also sample the Python processes the target starts (each thread named with its pid)
    #[arg(short, long)]
    subprocesses: bool,
    /// A directory of your own code, for the table's "your code first" (repeatable; also
    /// DZIURA_OWN; default: anything not installed or stdlib)
    #[arg(long, value_name = "DIR")]
    own: Vec<PathBuf>,
    /// The table's order (-f table): own (tottime), total (cumulative), or any pstats sort key
    /// (calls, name, filename, line, ...)
    #[arg(long, default_value = "own", value_parser = sort_key)]
    sort: dziura_table::SortSpec,
    /// Output format: flamegraph, speedscope, collapsed, table, pstats, chrome, callgrind, pprof
    /// (default: from the -o extension, else flamegraph)
    #[arg(short, long)]
    format: Option<String>,
    /// Output file (default: dziura-<target>-<time>.<ext>; the table goes to stdout)
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Also write the output every this many seconds while sampling (SIGUSR1 writes it at once)
    #[arg(long, value_name = "SECONDS", value_parser = seconds_or_zero)]
    every: Option<f64>,
    /// The command to launch and sample, after --
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<String>,
}

static WRITE_NOW: AtomicBool = AtomicBool::new(false);

extern "C" fn on_usr1(_: libc::c_int) {
    WRITE_NOW.store(true, Ordering::Relaxed);
}

pub fn record(py: Python<'_>, args: RecordArgs) -> Result<i32, CliError> {
    // Everything is checked before a command is launched or a sample taken.
    // The rule of `run` (and cProfile's -o): a name whose extension names no format is a
    // pstats file.
    let fallback = if args.output.is_some() {
        Format::Pstats
    } else {
        Format::Flamegraph
    };
    let format = Format::choose(
        args.format.as_deref(),
        args.output.as_deref(),
        Some(fallback),
    )?;
    if args.pid.is_none() && args.command.is_empty() {
        return Err(CliError::usage(
            "give --pid PID, or a command to run after --",
        ));
    }
    let to_stdout = format == Format::Table && args.output.is_none();
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| default_output(args.pid.unwrap_or(0), &args.command, format));
    // Made absolute now: a relative path means where dziura was started.
    let output = std::path::absolute(&output).unwrap_or(output);
    if !to_stdout {
        check_writable(&output)?;
    }
    let grace = Duration::from_secs_f64(args.grace);
    // From here on SIGINT, SIGTERM and SIGHUP stop the recording, which is then written.
    let stop = StopSignals::install();
    let (pid, mut child) = match args.pid {
        Some(pid) => (pid, None),
        None => {
            let child = Launched::spawn(&args.command)
                .map_err(|e| CliError::usage(format!("cannot run '{}': {e}", args.command[0])))?;
            (child.pid, Some(child))
        }
    };
    let wait = if child.is_some() {
        Duration::from_secs(10)
    } else {
        Duration::from_millis(200)
    };
    // With --subprocesses the target may be any process (a shell entrypoint, a supervisor):
    // then its Python descendants are sampled, as py-spy does.
    let attached = if args.subprocesses {
        // A program just launched may still be loading libpython: it gets half a second to
        // show an interpreter before it is taken for a non-Python parent.
        let settle = if child.is_some() {
            Duration::from_millis(500)
        } else {
            Duration::ZERO
        };
        match attach(pid, settle) {
            Ok(s) => Ok(Some(s)),
            Err(RemoteError::NotPython(..)) => Ok(None),
            Err(_) => attach(pid, wait).map(Some),
        }
    } else {
        attach(pid, wait).map(Some)
    };
    let mut spy = match attached {
        Ok(s) => s,
        Err(e) => {
            let Some(c) = child.as_mut() else {
                return Err(e.into());
            };
            // A short program can exit before the first sample: its status is the answer (a
            // process that is exiting has no memory left to read before it can be waited for).
            let exiting = matches!(e, RemoteError::Exited(_) | RemoteError::NoSuchProcess(_));
            if let Some(code) = c.exited().or_else(|| exiting.then(|| c.wait())) {
                eprintln!(
                    "dziura: the program exited (status {code}) before any sample was taken; nothing written"
                );
                return Ok(code);
            }
            c.end(libc::SIGTERM, grace, &stop);
            return Err(e.into());
        }
    };
    if spy.is_none() {
        eprintln!(
            "dziura: pid {pid} is not a Python process: sampling the Python processes it starts"
        );
    }
    if let Some(s) = spy.as_mut() {
        s.blocking = args.blocking;
        if args.blocking {
            dziura_remote::pause::Pause::check(pid)?;
        }
    }
    let threads = match (&args.thread, args.main_thread) {
        (Some(t), _) => ThreadFilter::Named(t.clone()),
        (None, true) => ThreadFilter::Main,
        _ => ThreadFilter::All,
    };
    let opts = Options {
        rate: args.rate,
        duration: args.duration.map(Duration::from_secs_f64),
        idle: args.idle && args.mode == Mode::Wall,
        gil_only: args.gil,
        threads,
        timeline: matches!(format, Format::Speedscope | Format::Chrome | Format::Dziura),
        subprocesses: args.subprocesses,
        ..Default::default()
    };
    let cmdline = match &spy {
        Some(s) => s.process.cmdline(),
        None => std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|b| {
                b.split(|&c| c == 0)
                    .filter(|a| !a.is_empty())
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default(),
    };
    let meta = Metadata {
        python_version: spy
            .as_ref()
            .map(|s| s.interpreter.version_string())
            .unwrap_or_default(),
        command: cmdline.split(' ').map(String::from).collect(),
        host: hostname(),
        mode: "sampling".into(),
        ..Default::default()
    };
    let mut wopts = crate::views::write_options(py, &args.own)?;
    wopts.collapsed.threads = args.threads;
    wopts.flamegraph.collapsed.threads = args.threads;
    wopts.flamegraph.title = Some(format!("dziura record: {}", meta.command.join(" ")));
    wopts.pprof.time_name = if args.mode == Mode::Cpu {
        "cpu"
    } else {
        "wall"
    }
    .into();
    wopts.table.sort = Some(args.sort.clone());
    unsafe { libc::signal(libc::SIGUSR1, on_usr1 as *const () as libc::sighandler_t) };
    let tty = std::io::stderr().is_terminal();
    let every = args.every.map(Duration::from_secs_f64);
    let mut last_write = Instant::now();
    let write_to = |profile: &dziura_model::Profile| -> Result<(), CliError> {
        let bytes = if format == Format::Table && args.threads {
            // One table per thread, headed as `dziura run --threads` heads them.
            let mut text = String::new();
            for (i, t) in profile.threads.iter().enumerate() {
                text.push_str(&format!(
                    "Thread {} (ident {}, native id {})\n",
                    t.name, t.ident, t.native_id
                ));
                let graph = dziura_formats::call_graph(profile, Some(i));
                text.push_str(&dziura_table::stats_table(&graph, &wopts.table));
            }
            text.into_bytes()
        } else {
            dziura_formats::write(profile, format, &wopts)?
        };
        if format == Format::Table {
            // The table's columns mean something else for samples: say so above it.
            let note = format!(
                "Sampled profile: ncalls = samples with the function on the stack, times = samples x {:.3} ms\n",
                1000.0 / args.rate
            );
            let text = note + &String::from_utf8_lossy(&bytes);
            if args.output.is_none() {
                crate::views::write_stdout(py, &text)?;
                return Ok(());
            }
            return write_file(&output, text.as_bytes());
        }
        write_file(&output, &bytes)
    };
    let mut recorder = Recorder::new(pid, 1.0 / args.rate);
    let mut periodic_error = None;
    let (stopped, progress) = dziura_sampler::run(
        pid,
        spy.as_mut(),
        &opts,
        &mut recorder,
        || stop.received().is_some(),
        |p, rec| {
            if tty {
                eprint!(
                    "\rdziura: {} samples, {} errors, {:.1} s   ",
                    p.samples,
                    p.errors,
                    p.elapsed.as_secs_f64()
                );
                let _ = std::io::stderr().flush();
            }
            let due = every.is_some_and(|e| last_write.elapsed() >= e);
            if due || WRITE_NOW.swap(false, Ordering::Relaxed) {
                last_write = Instant::now();
                if let Err(e) = write_to(&rec.snapshot(meta.clone(), opts.timeline)) {
                    periodic_error = Some(e);
                }
            }
        },
    );
    if tty {
        eprintln!();
    }
    let profile = recorder.into_profile(meta, opts.timeline);
    let total = profile.samples.as_ref().map(|s| s.total()).unwrap_or(0);
    // Written before the command is ended: a slow or stuck exit never costs the recording.
    let written = periodic_error
        .map_or_else(|| write_to(&profile), Err)
        .map_err(|e| {
            if total > 0 || progress.samples == 0 {
                return e;
            }
            // Samples were taken but none kept: say which option left them out.
            let why = match (&args.thread, args.main_thread, args.gil, args.idle) {
                (Some(t), ..) => format!("no thread matched --thread {t}"),
                (None, true, ..) => "the main thread was never running".into(),
                (None, false, true, _) => "no thread held the GIL while running".into(),
                (None, false, false, false) => {
                    "every thread was waiting (sleeping, blocked on I/O or a lock); add --idle to keep waiting threads".into()
                }
                _ => "no thread had a Python stack".into(),
            };
            CliError {
                message: format!(
                    "{}: {} samples taken, no stack kept: {why}",
                    e.message, progress.samples
                ),
                ..e
            }
        });
    let signal = stop.received();
    let status = child.as_mut().map(|c| match (stopped, signal) {
        (Stopped::TargetExited, _) => c.wait(),
        // The command runs in its own process group: a signal to dziura reached only dziura.
        (Stopped::Asked, Some(r)) => c.end(r.signal, grace, &stop),
        // -d reached: asked to stop as Ctrl-C asks (KeyboardInterrupt, `finally` blocks), then
        // SIGTERM, then SIGKILL.
        (_, _) => c.end(libc::SIGINT, grace, &stop),
    });
    written?;
    let why = match (stopped, signal) {
        (Stopped::Duration, _) => "duration reached".to_string(),
        (Stopped::TargetExited, _) => "target exited".to_string(),
        (Stopped::Asked, Some(r)) if r.signal != libc::SIGINT => {
            format!("stopped by {}", signal_name(r.signal))
        }
        (Stopped::Asked, _) => "interrupted".to_string(),
    } + &exec_note(&progress);
    let dest = if format == Format::Table && args.output.is_none() {
        "stdout".to_string()
    } else {
        output.display().to_string()
    };
    eprintln!(
        "dziura: {why}; wrote {format} to {dest}: {} samples, {total} stacks kept, {} errors, {} late, \
         {} torn stacks read again, {} dropped, {:.1} s from pid {pid}",
        progress.samples,
        progress.errors,
        progress.late,
        progress.torn.reread,
        progress.torn.dropped,
        progress.elapsed.as_secs_f64()
    );
    Ok(match (stopped, status) {
        // The command was ended because the recording was as long as asked: a success,
        // as py-spy counts it (a harness calling `check_output` must not fail).
        (Stopped::Duration, Some(_)) => 0,
        (_, Some(code)) => code,
        (Stopped::Asked, None) => 128 + signal.map_or(libc::SIGINT, |r| r.signal),
        (_, None) => 0,
    })
}

/// What the summary says of a target that ran `exec` while it was sampled.
fn exec_note(progress: &dziura_sampler::Progress) -> String {
    let mut note = String::new();
    if progress.execs > 0 {
        let times = match progress.execs {
            1 => "once".to_string(),
            n => format!("{n} times"),
        };
        note = format!(" (the target ran exec {times}: its new program was read from then on)");
    }
    if progress.exec_unreadable {
        note += " (the target ran exec into a program that is not Python, or not yet \
                 initialised: nothing was read after it)";
    }
    note
}

fn signal_name(signal: libc::c_int) -> &'static str {
    match signal {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        libc::SIGHUP => "SIGHUP",
        _ => "a signal",
    }
}

fn default_output(pid: i32, command: &[String], format: Format) -> PathBuf {
    let target = command
        .iter()
        .find(|a| a.ends_with(".py"))
        .or(command.first())
        .map(|a| {
            std::path::Path::new(a)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .unwrap_or_else(|| pid.to_string());
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    PathBuf::from(format!("dziura-{target}-{secs}.{}", format.extension()))
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}
