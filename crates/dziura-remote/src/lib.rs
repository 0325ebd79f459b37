//! Reading a running CPython's stacks from outside the process, the way py-spy does: memory is
//! only read (`process_vm_readv`), the target is never stopped or written.

pub mod binary;
pub mod layout;
pub mod linetable;
pub mod pause;
pub mod process;
pub mod spy;

pub use spy::{RemoteFrame, Spy, ThreadStack};

/// Everything that can go wrong reading another process, each a sentence saying what to do.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("no process with pid {0}")]
    NoSuchProcess(i32),
    #[error("process {0} has exited")]
    Exited(i32),
    #[error(
        "permission denied reading process {0}: run dziura as the same user as the target and allow ptrace \
         (echo 0 > /proc/sys/kernel/yama/ptrace_scope), or as root / with CAP_SYS_PTRACE (docker: --cap-add SYS_PTRACE)"
    )]
    PermissionDenied(i32),
    #[error("process {0} is not a Python process (no CPython runtime found in it): {1}")]
    NotPython(i32, String),
    #[error("unsupported Python version {0}: dziura reads CPython 3.11 and newer")]
    Unsupported(String),
    #[error("the interpreter is not running (starting up or shutting down)")]
    NotRunning,
    #[error("read memory that was changing (address {0:#x})")]
    BadAddress(u64),
    #[error("read a stack that was changing: {0}")]
    Torn(String),
    #[error("the target's interpreter state looks corrupt: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Io(String),
}

impl RemoteError {
    /// Errors that a retry may not have (the target changed while being read).
    pub fn is_transient(&self) -> bool {
        matches!(self, RemoteError::BadAddress(_) | RemoteError::Torn(_))
    }
}
