//! The clock read twice per call. The time-stamp counter is used where the CPU says it is
//! constant-rate and never stops (one `rdtsc`, ~7 ns, vs ~20 ns for vDSO `clock_gettime`); ticks are
//! turned into seconds only when the data is collected, by comparing with CLOCK_MONOTONIC.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

/// Which clock the hot path reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ClockKind {
    Tsc = 0,
    Monotonic = 1,
    /// A Python callable passed as `Profile(timer=...)`.
    Python = 2,
}

static KIND: AtomicU8 = AtomicU8::new(ClockKind::Monotonic as u8);

pub fn set_kind(kind: ClockKind) {
    KIND.store(kind as u8, Ordering::Relaxed);
}

/// Whether the hot path reads the time-stamp counter: one load and compare, the common case.
#[inline(always)]
pub fn is_tsc() -> bool {
    KIND.load(Ordering::Relaxed) == ClockKind::Tsc as u8
}

pub fn kind() -> ClockKind {
    match KIND.load(Ordering::Relaxed) {
        0 => ClockKind::Tsc,
        1 => ClockKind::Monotonic,
        _ => ClockKind::Python,
    }
}

/// The native clock this machine should use: `DZIURA_CLOCK=tsc|monotonic` overrides the choice.
pub fn best_native() -> ClockKind {
    static BEST: OnceLock<ClockKind> = OnceLock::new();
    *BEST.get_or_init(|| match std::env::var("DZIURA_CLOCK").as_deref() {
        Ok("monotonic") => ClockKind::Monotonic,
        Ok("tsc") if cfg!(target_arch = "x86_64") => ClockKind::Tsc,
        _ if tsc_is_reliable() => ClockKind::Tsc,
        _ => ClockKind::Monotonic,
    })
}

fn tsc_is_reliable() -> bool {
    if !cfg!(target_arch = "x86_64") {
        return false;
    }
    let Ok(info) = std::fs::read_to_string("/proc/cpuinfo") else {
        return false;
    };
    let flags = info.lines().find(|l| l.starts_with("flags")).unwrap_or("");
    let has = |f: &str| flags.split_whitespace().any(|w| w == f);
    has("constant_tsc") && has("nonstop_tsc")
}

#[inline(always)]
pub fn tsc() -> u64 {
    #[cfg(target_arch = "x86_64")]
    unsafe {
        core::arch::x86_64::_rdtsc()
    }
    #[cfg(not(target_arch = "x86_64"))]
    monotonic_ns()
}

#[inline]
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// A (tsc, monotonic ns) pair taken together, the anchor for converting ticks to seconds.
#[derive(Clone, Copy, Debug)]
pub struct Anchor {
    tsc: u64,
    ns: u64,
}

impl Anchor {
    pub fn now() -> Anchor {
        Anchor {
            tsc: tsc(),
            ns: monotonic_ns(),
        }
    }
}

/// Seconds per TSC tick, measured from `since` to now; spins briefly when too little time passed
/// for a precise ratio (the first short profile of a process).
pub fn seconds_per_tsc_tick(since: Anchor) -> f64 {
    let mut now = Anchor::now();
    while now.ns.saturating_sub(since.ns) < 20_000_000 {
        std::hint::spin_loop();
        now = Anchor::now();
    }
    let ticks = now.tsc.saturating_sub(since.tsc).max(1);
    (now.ns - since.ns) as f64 / 1e9 / ticks as f64
}

/// The process-wide anchor, taken when the module is first used.
pub fn process_anchor() -> Anchor {
    static A: OnceLock<Anchor> = OnceLock::new();
    *A.get_or_init(Anchor::now)
}
