//! `--blocking`: every thread of the target stopped (ptrace seize + interrupt) while one sample is
//! read, then let go. This is py-spy's default; dziura offers it for the rare reader who wants
//! a stack guaranteed not to change during the read, at a real cost to the target.

use std::collections::BTreeSet;

use crate::RemoteError;

/// The stopped threads; dropping this resumes them.
pub struct Pause {
    tids: Vec<i32>,
}

fn tasks(pid: i32) -> Result<BTreeSet<i32>, RemoteError> {
    let dir =
        std::fs::read_dir(format!("/proc/{pid}/task")).map_err(|_| RemoteError::Exited(pid))?;
    Ok(dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect())
}

/// Who traces `pid` already (`TracerPid` in its status: a debugger, strace, another
/// `--blocking` reader), as `pid N (comm)`, or `None` when nobody does. Only one tracer may stop
/// a process, so `--blocking` checks this before it starts.
pub fn tracer(pid: i32) -> Option<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let tracer: i32 = status
        .lines()
        .find_map(|l| l.strip_prefix("TracerPid:"))?
        .trim()
        .parse()
        .ok()?;
    if tracer == 0 || tracer == std::process::id() as i32 {
        return None;
    }
    let comm = std::fs::read_to_string(format!("/proc/{tracer}/comm")).unwrap_or_default();
    Some(format!("pid {tracer} ({})", comm.trim()))
}

impl Pause {
    /// Fails when `pid` cannot be stopped because another tracer holds it.
    pub fn check(pid: i32) -> Result<(), RemoteError> {
        match tracer(pid) {
            Some(tracer) => Err(RemoteError::AlreadyTraced { pid, tracer }),
            None => Ok(()),
        }
    }

    /// Stops every thread of `pid`, including threads started while stopping the others.
    pub fn new(pid: i32) -> Result<Pause, RemoteError> {
        let mut pause = Pause { tids: Vec::new() };
        loop {
            let fresh: Vec<i32> = tasks(pid)?
                .into_iter()
                .filter(|t| !pause.tids.contains(t))
                .collect();
            if fresh.is_empty() {
                return Ok(pause);
            }
            for tid in fresh {
                // SAFETY: ptrace requests on a thread id; failures are reported, not UB.
                let seized = unsafe { libc::ptrace(libc::PTRACE_SEIZE, tid, 0, 0) } == 0;
                if !seized {
                    let e = std::io::Error::last_os_error();
                    match e.raw_os_error() {
                        Some(libc::ESRCH) => continue, // the thread just ended
                        Some(libc::EPERM) => {
                            Pause::check(pid)?;
                            return Err(RemoteError::permission_denied(pid));
                        }
                        _ => return Err(RemoteError::Io(format!("cannot stop thread {tid}: {e}"))),
                    }
                }
                pause.tids.push(tid);
                // SAFETY: as above; waitpid with __WALL waits for the stop of a seized thread.
                unsafe {
                    libc::ptrace(libc::PTRACE_INTERRUPT, tid, 0, 0);
                    let mut status = 0;
                    libc::waitpid(tid, &mut status, libc::__WALL);
                }
            }
        }
    }
}

impl Drop for Pause {
    fn drop(&mut self) {
        for &tid in &self.tids {
            // SAFETY: detaching a thread this process seized; it resumes where it stopped.
            unsafe { libc::ptrace(libc::PTRACE_DETACH, tid, 0, 0) };
        }
    }
}
