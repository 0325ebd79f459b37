//! The one rule for a command dziura launches to sample: it is always reaped, and ended gently.
//! Ending it sends one signal (the one dziura was asked to stop with, or SIGTERM), waits a grace
//! period, then SIGTERM, waits again, then SIGKILL; each signal goes to the command and every
//! process it started (as the terminal signals a whole foreground job). A second stop signal to
//! dziura skips the waiting. The status passed on is the command's own, 128+N for a signal.
//!
//! The command runs in its own process group, so a signal sent to dziura's group (a script's
//! `kill -INT -PGID`, `timeout`) reaches it once, through dziura, never twice. When dziura
//! runs in the terminal's foreground, the command's group becomes the foreground while it runs
//! (as a shell does for a job): it reads the terminal and gets Ctrl-C itself, and dziura then
//! sees it exit and passes its status on.

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use crate::signals::StopSignals;

/// A launched command.
pub struct Launched {
    child: Child,
    pub pid: i32,
    status: Option<ExitStatus>,
    /// The terminal was handed to the command's group and must come back to dziura's.
    terminal: bool,
}

/// Makes `group` the foreground process group of the terminal on stdin. SIGTTOU is blocked
/// around the call: a background process may then take the terminal (what shells do).
fn give_terminal(group: libc::pid_t) {
    // SAFETY: signal mask and tcsetpgrp calls on stdin only; all async-signal-safe, so this
    // may also run between fork and exec.
    unsafe {
        let mut block: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut block);
        libc::sigaddset(&mut block, libc::SIGTTOU);
        libc::sigprocmask(libc::SIG_BLOCK, &block, &mut old);
        libc::tcsetpgrp(0, group);
        libc::sigprocmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
    }
}

/// dziura owns the terminal's foreground (so a launched command should have it instead).
fn in_foreground() -> bool {
    // SAFETY: plain queries on stdin.
    unsafe { libc::isatty(0) == 1 && libc::tcgetpgrp(0) == libc::getpgrp() }
}

/// The shell's exit status for a process status: its code, or 128+N for signal N.
pub fn exit_code(status: ExitStatus) -> i32 {
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

impl Launched {
    pub fn spawn(command: &[String]) -> std::io::Result<Launched> {
        let (program, args) = command
            .split_first()
            .ok_or_else(|| std::io::Error::other("no command given"))?;
        let terminal = in_foreground();
        let mut command = Command::new(program);
        command.args(args).process_group(0);
        if terminal {
            // SAFETY: only async-signal-safe calls between fork and exec.
            unsafe {
                command.pre_exec(|| {
                    give_terminal(libc::getpid());
                    Ok(())
                });
            }
        }
        let child = command.spawn()?;
        Ok(Launched {
            pid: child.id() as i32,
            child,
            status: None,
            terminal,
        })
    }

    /// The command's exit status if it has exited (reaping it), else None.
    pub fn exited(&mut self) -> Option<i32> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.reclaim_terminal();
        self.status.map(exit_code)
    }

    /// Takes the terminal back once the command has exited.
    fn reclaim_terminal(&mut self) {
        if self.terminal && self.status.is_some() {
            self.terminal = false;
            // SAFETY: getpgrp has no preconditions.
            give_terminal(unsafe { libc::getpgrp() });
        }
    }

    /// Waits for the command to exit (it has, or is about to) and returns its status.
    pub fn wait(&mut self) -> i32 {
        if let Some(code) = self.exited() {
            return code;
        }
        self.reap().unwrap_or(1)
    }

    /// Blocks until the command exits, reaps it and takes the terminal back; None if the wait
    /// itself failed.
    fn reap(&mut self) -> Option<i32> {
        if let Ok(s) = self.child.wait() {
            self.status = Some(s);
        }
        self.reclaim_terminal();
        self.status.map(exit_code)
    }

    /// Sends `signal` to the command and every process it started.
    fn signal_all(&self, signal: libc::c_int) {
        // The command's group (what it started and kept there), then anything that left it.
        // SAFETY: kill takes plain integers; a group or pid that is gone only gives ESRCH.
        unsafe { libc::kill(-self.pid, signal) };
        for pid in crate::descendants(self.pid) {
            // SAFETY: kill takes plain integers; a pid that is gone only gives ESRCH.
            unsafe { libc::kill(pid, signal) };
        }
    }

    /// Waits up to `grace` for the command to exit; false when a second stop signal came.
    fn wait_for_exit(&mut self, grace: Duration, stop: &StopSignals, count: u32) -> bool {
        let start = Instant::now();
        while start.elapsed() < grace {
            if self.exited().is_some() {
                return true;
            }
            if stop.received().is_some_and(|r| r.count > count) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        self.exited().is_some()
    }

    /// Ends the command by the rule above and returns its exit status: `first`, then SIGTERM
    /// (once, if `first` was SIGTERM), each followed by the grace, then SIGKILL.
    pub fn end(&mut self, first: libc::c_int, grace: Duration, stop: &StopSignals) -> i32 {
        if let Some(code) = self.exited() {
            return code;
        }
        let count = stop.received().map_or(0, |r| r.count);
        let steps: &[libc::c_int] = if first == libc::SIGTERM {
            &[libc::SIGTERM]
        } else {
            &[first, libc::SIGTERM]
        };
        let mut hurried = false;
        for &s in steps {
            self.signal_all(s);
            if self.wait_for_exit(grace, stop, count) {
                return self.exited().unwrap_or(0);
            }
            hurried = stop.received().is_some_and(|r| r.count > count);
            if hurried {
                break;
            }
        }
        self.signal_all(libc::SIGKILL);
        if hurried {
            eprintln!(
                "dziura: asked to stop again; sent SIGKILL to pid {}",
                self.pid
            );
        } else {
            eprintln!(
                "dziura: pid {} did not exit within {:.1} s of SIGTERM; sent SIGKILL",
                self.pid,
                grace.as_secs_f64()
            );
        }
        self.reap().unwrap_or(128 + libc::SIGKILL)
    }
}

impl Drop for Launched {
    /// No path leaves the command running or unreaped (an error, a panic unwinding).
    fn drop(&mut self) {
        if self.exited().is_none() {
            self.signal_all(libc::SIGKILL);
            self.reap();
        }
        // Even when the wait failed, the terminal goes back to dziura's group.
        if self.terminal {
            self.terminal = false;
            // SAFETY: getpgrp has no preconditions.
            give_terminal(unsafe { libc::getpgrp() });
        }
    }
}
