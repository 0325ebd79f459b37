//! `dziura record` and `dziura dump`: sampling a running CPython from outside (shaped like
//! py-spy's commands, so its users feel at home).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use dziura_formats::{Format, WriteOptions};
use dziura_model::Metadata;
use dziura_remote::{RemoteError, Spy};
use dziura_sampler::{Options, Recorder, Stopped, ThreadFilter};
use pyo3::prelude::*;

use crate::cli::Fail;

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
    /// Samples per second
    #[arg(short, long, default_value_t = 100.0)]
    rate: f64,
    /// Stop after this many seconds (default: until Ctrl-C or the target exits)
    #[arg(short, long)]
    duration: Option<f64>,
    /// Keep samples of threads that are waiting (sleeping, blocked on I/O or a lock)
    #[arg(short, long)]
    idle: bool,
    /// Keep only the thread holding the GIL
    #[arg(short, long)]
    gil: bool,
    #[arg(long, value_enum, default_value_t = Mode::Wall)]
    mode: Mode,
    /// Give each thread its own root frame in stack-based outputs
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
    /// Stop the target for each sample (not available yet: dziura's reads are consistent without it)
    #[arg(long)]
    blocking: bool,
    /// Also sample child processes (not available yet)
    #[arg(short, long)]
    subprocesses: bool,
    /// Output format: flamegraph, speedscope, collapsed, table, pstats, chrome, callgrind, pprof
    /// (default: from the -o extension, else flamegraph)
    #[arg(short, long)]
    format: Option<String>,
    /// Output file (default: dziura-<target>-<time>.<ext>; the table goes to stdout)
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Also write the output every this many seconds while sampling (SIGUSR1 writes it at once)
    #[arg(long, value_name = "SECONDS")]
    every: Option<f64>,
    /// The command to launch and sample, after --
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct DumpArgs {
    /// The process to read
    #[arg(short, long)]
    pid: i32,
    /// Print JSON instead of text
    #[arg(short, long)]
    json: bool,
}

fn remote(e: RemoteError) -> Fail {
    Fail(1, e.to_string())
}

/// Attaches, waiting up to `wait` for a process that is still starting its interpreter.
fn attach(pid: i32, wait: Duration) -> Result<Spy, Fail> {
    let start = Instant::now();
    loop {
        let r = Spy::attach(pid).and_then(|mut s| s.threads().map(|_| s));
        match r {
            Ok(s) => return Ok(s),
            Err(
                e @ (RemoteError::NoSuchProcess(_)
                | RemoteError::PermissionDenied(_)
                | RemoteError::Unsupported(_)),
            ) => return Err(remote(e)),
            Err(e) if start.elapsed() >= wait => return Err(remote(e)),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

pub fn dump(py: Python<'_>, args: DumpArgs) -> Result<i32, Fail> {
    let mut spy = attach(args.pid, Duration::from_millis(200))?;
    let threads = spy.threads().map_err(remote)?;
    let pid = args.pid;
    let text = if args.json {
        let v: Vec<serde_json::Value> = threads
            .iter()
            .map(|t| {
                serde_json::json!({
                    "pid": pid,
                    "thread_id": t.thread_id,
                    "native_id": t.native_id,
                    "name": dziura_sampler::thread_name(pid, t.native_id),
                    "active": t.active,
                    "owns_gil": t.holds_gil,
                    "frames": t.frames.iter().map(|f| serde_json::json!({
                        "name": f.code.name,
                        "qualname": f.code.qualname,
                        "filename": f.code.filename,
                        "line": f.line,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
    } else {
        let mut s = format!(
            "Process {pid}: {}\nPython v{} ({})\n",
            spy.process.cmdline(),
            spy.interpreter.version_string(),
            spy.interpreter.binary.display()
        );
        for t in &threads {
            let state = match (t.active, t.holds_gil) {
                (true, true) => "active+gil",
                (true, false) => "active",
                (false, true) => "idle+gil",
                (false, false) => "idle",
            };
            s.push_str(&format!(
                "\nThread {} ({state}): \"{}\"\n",
                t.native_id,
                dziura_sampler::thread_name(pid, t.native_id)
            ));
            for f in &t.frames {
                s.push_str(&format!(
                    "    {} ({}:{})\n",
                    f.code.qualname, f.code.filename, f.line
                ));
            }
        }
        s
    };
    crate::views::write_stdout(py, &text)?;
    Ok(0)
}

static WRITE_NOW: AtomicBool = AtomicBool::new(false);

extern "C" fn on_usr1(_: libc::c_int) {
    WRITE_NOW.store(true, Ordering::Relaxed);
}

pub fn record(py: Python<'_>, args: RecordArgs) -> Result<i32, Fail> {
    if args.blocking {
        return Err(Fail(
            2,
            "--blocking is not available yet; dziura samples without stopping the target".into(),
        ));
    }
    if args.subprocesses {
        return Err(Fail(
            2,
            "--subprocesses is not available yet; give the --pid of the process to sample".into(),
        ));
    }
    if !(args.rate > 0.0 && args.rate <= 100_000.0) {
        return Err(Fail(
            2,
            format!(
                "the rate must be between 0 and 100000 samples per second, not {}",
                args.rate
            ),
        ));
    }
    let format = match (&args.format, &args.output) {
        (Some(f), _) => Format::from_name(f).map_err(|e| Fail(2, e.to_string()))?,
        (None, Some(o)) => Format::from_extension(o).unwrap_or(Format::Flamegraph),
        (None, None) => Format::Flamegraph,
    };
    if matches!(format, Format::Html | Format::Dziura) {
        return Err(Fail(
            2,
            format!("the {format} format is not available for recordings yet"),
        ));
    }
    let (pid, mut child) = match (args.pid, args.command.is_empty()) {
        (Some(pid), _) => (pid, None),
        (None, false) => {
            let child = std::process::Command::new(&args.command[0])
                .args(&args.command[1..])
                .spawn()
                .map_err(|e| Fail(2, format!("cannot run '{}': {e}", args.command[0])))?;
            (child.id() as i32, Some(child))
        }
        (None, true) => {
            return Err(Fail(
                2,
                "give --pid PID, or a command to run after --".into(),
            ))
        }
    };
    let wait = if child.is_some() {
        Duration::from_secs(10)
    } else {
        Duration::from_millis(200)
    };
    let mut spy = match attach(pid, wait) {
        Ok(s) => s,
        Err(e) => {
            if let Some(c) = child.as_mut() {
                let _ = c.kill();
                let _ = c.wait();
            }
            return Err(e);
        }
    };
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| default_output(pid, &args.command, format));
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
        timeline: matches!(format, Format::Speedscope | Format::Chrome),
    };
    let meta = Metadata {
        python_version: spy.interpreter.version_string(),
        command: spy.process.cmdline().split(' ').map(String::from).collect(),
        host: hostname(),
        mode: "sampling".into(),
        ..Default::default()
    };
    let mut wopts = WriteOptions::default();
    wopts.collapsed.threads = args.threads;
    wopts.flamegraph.collapsed.threads = args.threads;
    wopts.flamegraph.title = Some(format!("dziura record: {}", meta.command.join(" ")));
    wopts.pprof.time_name = if args.mode == Mode::Cpu {
        "cpu"
    } else {
        "wall"
    }
    .into();
    wopts.table.sort = Some(dziura_table::SortSpec::parse(&["tottime"]).expect("a sort key"));
    unsafe { libc::signal(libc::SIGUSR1, on_usr1 as *const () as libc::sighandler_t) };
    let tty = std::io::stderr().is_terminal();
    let mut interrupted = false;
    let every = args.every.map(Duration::from_secs_f64);
    let mut last_write = Instant::now();
    let write_to = |profile: &dziura_model::Profile| -> Result<(), Fail> {
        let bytes =
            dziura_formats::write(profile, format, &wopts).map_err(|e| Fail(1, e.to_string()))?;
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
            return std::fs::write(&output, text)
                .map_err(|e| Fail(1, format!("cannot write '{}': {e}", output.display())));
        }
        std::fs::write(&output, bytes)
            .map_err(|e| Fail(1, format!("cannot write '{}': {e}", output.display())))
    };
    let mut recorder = Recorder::new(pid, 1.0 / args.rate);
    let mut periodic_error = None;
    let (stopped, progress) = dziura_sampler::run(
        &mut spy,
        &opts,
        &mut recorder,
        || {
            if py.check_signals().is_err() {
                interrupted = true;
            }
            interrupted
        },
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
    if let Some(e) = periodic_error {
        return Err(e);
    }
    let profile = recorder.into_profile(meta, opts.timeline);
    let total = profile.samples.as_ref().map(|s| s.total()).unwrap_or(0);
    write_to(&profile)?;
    let why = match stopped {
        Stopped::Duration => "duration reached",
        Stopped::TargetExited => "target exited",
        Stopped::Asked => "interrupted",
    };
    let dest = if format == Format::Table && args.output.is_none() {
        "stdout".to_string()
    } else {
        output.display().to_string()
    };
    eprintln!(
        "dziura: {why}; wrote {format} to {dest}: {} samples, {total} stacks kept, {} errors, {} late, {:.1} s from pid {pid}",
        progress.samples, progress.errors, progress.late, progress.elapsed.as_secs_f64()
    );
    if let Some(mut c) = child {
        if stopped != Stopped::TargetExited {
            let _ = c.kill();
        }
        let status = c.wait().map_err(|e| Fail(1, e.to_string()))?;
        return Ok(status.code().unwrap_or(1));
    }
    Ok(if interrupted { 130 } else { 0 })
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
    let ext = match format {
        Format::Flamegraph => "svg",
        Format::Speedscope => "speedscope.json",
        Format::Chrome => "trace.json",
        Format::Collapsed => "collapsed",
        Format::Pstats => "prof",
        Format::Callgrind => "callgrind",
        Format::Pprof => "pb.gz",
        _ => "txt",
    };
    PathBuf::from(format!("dziura-{target}-{secs}.{ext}"))
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}
