//! `dziura dump`: every thread's Python stack of a running process, once, as text or JSON, with
//! arguments and locals on request.

use std::time::Duration;

use clap::Args;
use dziura_sampler::{attach, ATTACH_REREADS};
use pyo3::prelude::*;

use super::CliError;

#[derive(Args, Debug)]
pub struct DumpArgs {
    /// The process to read
    #[arg(short, long)]
    pid: i32,
    /// Print JSON instead of text
    #[arg(short, long)]
    json: bool,
    /// Also show each frame's arguments and local variables (str, int, float, bool and None
    /// values, and lists, tuples, dicts and sets of them, bounded; other objects by type)
    #[arg(short, long)]
    locals: bool,
    /// Stop the target's threads while the stacks are read (rarely needed: a stack that
    /// changes under the read is read again)
    #[arg(long)]
    blocking: bool,
}

pub fn dump(py: Python<'_>, args: DumpArgs) -> Result<i32, CliError> {
    let mut spy = attach(args.pid, Duration::from_millis(200))?;
    spy.blocking = args.blocking;
    if args.blocking {
        dziura_remote::pause::Pause::check(args.pid)?;
    }
    // A stack that changed while it was read is read again (a running target moves on within
    // microseconds); only a target that never holds still for one read fails.
    let mut tries = 0;
    let threads = loop {
        match spy.threads() {
            Err(e) if e.is_transient() && tries < ATTACH_REREADS => tries += 1,
            other => break other?,
        }
    };
    let pid = args.pid;
    // Per thread, per frame: the frame's variables (empty unless --locals).
    let mut locals: Vec<Vec<Vec<dziura_remote::spy::Local>>> = Vec::new();
    for t in &threads {
        let mut per_frame = Vec::new();
        for f in &t.frames {
            per_frame.push(if args.locals {
                spy.locals(f).unwrap_or_default()
            } else {
                Vec::new()
            });
        }
        locals.push(per_frame);
    }
    let text = if args.json {
        let v: Vec<serde_json::Value> = threads
            .iter()
            .enumerate()
            .map(|(i, t)| {
                serde_json::json!({
                    "pid": pid,
                    "thread_id": t.thread_id,
                    "native_id": t.native_id,
                    "name": dziura_sampler::display_name(pid, t),
                    "active": t.active,
                    "owns_gil": t.holds_gil,
"frames": t.frames.iter().zip(&locals[i]).map(|(f, vars)| serde_json::json!({
                        "name": f.code.name,
                        "qualname": f.code.qualname,
                        "filename": f.code.filename,
                        "line": f.line,
                        "locals": vars.iter().map(|v| serde_json::json!({"name": v.name, "repr": v.repr, "arg": v.arg})).collect::<Vec<_>>(),
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
        for (t, frame_locals) in threads.iter().zip(&locals) {
            let state = match (t.active, t.holds_gil) {
                (true, true) => "active+gil",
                (true, false) => "active",
                (false, true) => "idle+gil",
                (false, false) => "idle",
            };
            s.push_str(&format!(
                "\nThread {} ({state}): \"{}\"\n",
                t.native_id,
                dziura_sampler::display_name(pid, t)
            ));
            for (f, vars) in t.frames.iter().zip(frame_locals) {
                s.push_str(&format!(
                    "    {} ({}:{})\n",
                    f.code.qualname, f.code.filename, f.line
                ));
                // As py-spy prints them: the arguments, then the other locals.
                for (title, args) in [("Arguments", true), ("Locals", false)] {
                    let mut some = vars.iter().filter(|v| v.arg == args).peekable();
                    if some.peek().is_some() {
                        s.push_str(&format!("        {title}:\n"));
                    }
                    for v in some {
                        s.push_str(&format!("            {}: {}\n", v.name, v.repr));
                    }
                }
            }
        }
        s
    };
    crate::views::write_stdout(py, &text)?;
    Ok(0)
}
