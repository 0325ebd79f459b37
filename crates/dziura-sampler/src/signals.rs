//! SIGINT, SIGTERM and SIGHUP while a recording runs: each only asks the loop to stop, so
//! `timeout`, `docker stop`, systemd and a closed ssh session keep the recording as Ctrl-C does.
//! The handlers in place before (Python's own SIGINT handler among them) come back on drop, and
//! the signal is consumed: no `KeyboardInterrupt` surfaces in the interpreter that runs dziura.

use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};

/// The signals that end a recording.
pub const STOP_SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

static LAST: AtomicI32 = AtomicI32::new(0);
static COUNT: AtomicU32 = AtomicU32::new(0);

/// A stop signal that arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    pub signal: libc::c_int,
    /// How many stop signals came so far (a second one means "now").
    pub count: u32,
}

/// The stop handlers, installed while this value lives.
pub struct StopSignals {
    saved: Vec<(libc::c_int, libc::sigaction)>,
}

extern "C" fn on_stop(signal: libc::c_int) {
    // Only atomics are touched: async-signal-safe.
    LAST.store(signal, Ordering::Relaxed);
    COUNT.fetch_add(1, Ordering::Release);
}

impl StopSignals {
    pub fn install() -> StopSignals {
        LAST.store(0, Ordering::Relaxed);
        COUNT.store(0, Ordering::Relaxed);
        let mut saved = Vec::new();
        for sig in STOP_SIGNALS {
            // SAFETY: sigaction with a zeroed struct, an empty mask and a handler that only
            // stores atomics; the old action is kept to be restored.
            unsafe {
                let mut new: libc::sigaction = std::mem::zeroed();
                new.sa_sigaction = on_stop as *const () as libc::sighandler_t;
                new.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut new.sa_mask);
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(sig, &new, &mut old) == 0 {
                    saved.push((sig, old));
                }
            }
        }
        StopSignals { saved }
    }

    /// The latest stop signal, if any came.
    pub fn received(&self) -> Option<Received> {
        let count = COUNT.load(Ordering::Acquire);
        (count > 0).then(|| Received {
            signal: LAST.load(Ordering::Relaxed),
            count,
        })
    }
}

impl Drop for StopSignals {
    fn drop(&mut self) {
        for (sig, old) in &self.saved {
            // SAFETY: puts back the action read in `install`.
            unsafe { libc::sigaction(*sig, old, std::ptr::null_mut()) };
        }
    }
}
