//! The one rule for a command dziura launches to sample: it is always reaped, and ended gently.
//! Ending it sends one signal (the one dziura was asked to stop with, or SIGTERM), waits a grace
//! period, then SIGTERM, waits again, then SIGKILL; each signal goes to the command and every
//! process it started (as the terminal signals a whole foreground job). A second stop signal to
//! dziura skips the waiting. The status passed on is the command's own, 128+N for a signal.

use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use crate::signals::StopSignals;

/// A launched command.
pub struct Launched {
    child: Child,
    pub pid: i32,
    status: Option<ExitStatus>,
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
        let child = Command::new(program).args(args).spawn()?;
        Ok(Launched {
            pid: child.id() as i32,
            child,
            status: None,
        })
    }

    /// The command's exit status if it has exited (reaping it), else None.
    pub fn exited(&mut self) -> Option<i32> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status.map(exit_code)
    }

    /// Waits for the command to exit (it has, or is about to) and returns its status.
    pub fn wait(&mut self) -> i32 {
        if let Some(code) = self.exited() {
            return code;
        }
        match self.child.wait() {
            Ok(s) => {
                self.status = Some(s);
                exit_code(s)
            }
            Err(_) => 1,
        }
    }

    /// Sends `signal` to the command and every process it started.
    fn signal_all(&self, signal: libc::c_int) {
        let mut pids = crate::descendants(self.pid);
        pids.push(self.pid);
        for pid in pids {
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

    /// Ends the command by the rule above and returns its exit status. `first` is the signal to
    /// send first (None when the command has it already, as after Ctrl-C on a terminal).
    pub fn end(&mut self, first: Option<libc::c_int>, grace: Duration, stop: &StopSignals) -> i32 {
        if let Some(code) = self.exited() {
            return code;
        }
        let count = stop.received().map_or(0, |r| r.count);
        let mut steps = Vec::new();
        match first {
            Some(libc::SIGTERM) | None => {}
            Some(s) => steps.push(s),
        }
        steps.push(libc::SIGTERM);
        if first.is_none() && self.wait_for_exit(grace, stop, count) {
            // The command had the signal already and exited within its grace.
            return self.exited().unwrap_or(0);
        }
        let mut hurried = false;
        for s in steps {
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
        match self.child.wait() {
            Ok(s) => {
                self.status = Some(s);
                exit_code(s)
            }
            Err(_) => 128 + libc::SIGKILL,
        }
    }
}

impl Drop for Launched {
    /// No path leaves the command running or unreaped (an error, a panic unwinding).
    fn drop(&mut self) {
        if self.exited().is_none() {
            self.signal_all(libc::SIGKILL);
            let _ = self.child.wait();
        }
    }
}
