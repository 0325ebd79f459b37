//! Reading a running CPython's stacks from outside the process, the way py-spy does: memory is
//! only read (`process_vm_readv`), the target is never stopped or written.

pub mod binary;
pub mod layout;
pub mod linetable;
pub mod objects;
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
    /// The pid and what to change, see [`permission_hint`].
    #[error("permission denied reading process {0}: {1}")]
    PermissionDenied(i32, String),
    #[error("process {0} is not a Python process (no CPython runtime found in it): {1}")]
    NotPython(i32, String),
    #[error("unsupported Python version {0}: dziura reads CPython {known}", known = crate::layout::supported_versions())]
    Unsupported(String),
    #[error("the interpreter is not running (starting up or shutting down)")]
    NotRunning,
    #[error("read memory that was changing (address {0:#x})")]
    BadAddress(u64),
    #[error("read a stack that was changing: {0}")]
    Torn(String),
    #[error("the target's interpreter state looks corrupt: {0}")]
    Corrupt(String),
    #[error("cannot stop process {pid} for --blocking: it is already traced by {tracer} (a debugger or strace); leave out --blocking to read it without stopping it")]
    AlreadyTraced { pid: i32, tracer: String },
    #[error("{0}")]
    Io(String),
}

impl RemoteError {
    /// Permission to read `pid` was refused: the error, saying what to change here.
    pub fn permission_denied(pid: i32) -> RemoteError {
        RemoteError::PermissionDenied(pid, permission_hint(pid))
    }

    /// Errors that a retry may not have (the target changed while being read).
    pub fn is_transient(&self) -> bool {
        matches!(self, RemoteError::BadAddress(_) | RemoteError::Torn(_))
    }
}

/// What to change so that `pid` can be read, from who runs it, who runs dziura and the Yama
/// ptrace setting: the same user (and `ptrace_scope` 0), or root / `CAP_SYS_PTRACE`.
/// Whether this process has CAP_SYS_PTRACE (bit 19 of its effective capabilities).
fn has_cap_sys_ptrace() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let hex = s
                .lines()
                .find(|l| l.starts_with("CapEff:"))?
                .split_whitespace()
                .nth(1)?
                .to_string();
            u64::from_str_radix(&hex, 16).ok()
        })
        .is_some_and(|caps| caps & (1 << 19) != 0)
}

pub fn permission_hint(pid: i32) -> String {
    let target = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("Uid:"))?;
            line.split_whitespace().nth(2)?.parse::<u32>().ok() // the effective uid
        });
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    let scope = std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok());
    let scope_now = match scope {
        Some(n) => format!("now {n}"),
        None => "no Yama here".into(),
    };
    let root = "or run dziura as root / with CAP_SYS_PTRACE (sudo; docker: --cap-add SYS_PTRACE)";
    if me == 0 {
        // Root already: what is missing is the capability, or the target is outside our reach.
        return if has_cap_sys_ptrace() {
            format!(
                "dziura runs as root with CAP_SYS_PTRACE, so the kernel protects this process                  (another user namespace or container, a kernel thread, or a security module;                  kernel.yama.ptrace_scope {scope_now})"
            )
        } else {
            "dziura runs as root without CAP_SYS_PTRACE (a container? docker: --cap-add              SYS_PTRACE; kubernetes: securityContext.capabilities.add SYS_PTRACE)"
                .to_string()
        };
    }
    match target {
        Some(t) if t != me => format!(
            "it runs as uid {t} and dziura as uid {me}: run dziura as the same user (with \
             kernel.yama.ptrace_scope 0, {scope_now}), {root}"
        ),
        _ => match scope {
            Some(n) if n >= 1 => format!(
                "ptrace is restricted (kernel.yama.ptrace_scope is {n}): allow it with \
                 'echo 0 > /proc/sys/kernel/yama/ptrace_scope', {root}"
            ),
            _ => format!(
                "the target is not readable by its own user (set-uid or PR_SET_DUMPABLE 0?): {root}"
            ),
        },
    }
}
