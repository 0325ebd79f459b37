//! The sampling loop: reads every thread's stack at a (jittered) rate, drops what the options
//! exclude (idle threads, threads without the GIL, other threads), and counts stacks into the
//! profile model with real timestamps. It never stops the target.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dziura_model::{Frame, FuncKey, Metadata, Profile, Samples, ThreadProfile, TimedSample};
use dziura_remote::{RemoteError, Spy, ThreadStack};

pub mod launch;
pub mod signals;

/// Which threads a sample keeps.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum ThreadFilter {
    #[default]
    All,
    Main,
    /// A thread name (as shown in the output) or a native thread id.
    Named(String),
}

/// How to sample.
#[derive(Clone, Debug)]
pub struct Options {
    /// Samples per second.
    pub rate: f64,
    pub duration: Option<Duration>,
    /// Keep threads that are waiting (not on a CPU).
    pub idle: bool,
    /// Keep only the thread holding the GIL.
    pub gil_only: bool,
    pub threads: ThreadFilter,
    /// Record a timeline (each sample's time), for speedscope and Chrome views.
    pub timeline: bool,
    /// Also sample the Python processes the target starts (found ten times a second).
    pub subprocesses: bool,
    /// How often [`run`] calls its `on_tick` (progress lines, periodic writes, `top`'s screen).
    pub tick: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            rate: 100.0,
            duration: None,
            idle: false,
            gil_only: false,
            threads: ThreadFilter::All,
            timeline: true,
            subprocesses: false,
            tick: Duration::from_secs(1),
        }
    }
}

/// Running totals, for progress lines and the final summary.
#[derive(Clone, Copy, Debug, Default)]
pub struct Progress {
    pub samples: u64,
    pub errors: u64,
    pub elapsed: Duration,
    /// Ticks that came late by more than one interval (the sampler could not keep up).
    pub late: u64,
    /// Stacks that changed under the read: read again, and given up (left out of their sample).
    pub torn: dziura_remote::spy::TornCounts,
    /// Times the target ran `exec` and was attached again (its new program read from then on).
    pub execs: u64,
    /// The target ran `exec` and its new program could not be read (yet): not Python, or
    /// still starting when sampling ended.
    pub exec_unreadable: bool,
    /// The target's threads in its last sample, those running, and the one holding the GIL
    /// (native id), for `top`'s header line.
    pub threads: usize,
    pub active: usize,
    pub gil_holder: Option<u64>,
}

/// What stopped the loop.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Stopped {
    Duration,
    TargetExited,
    Asked,
}

/// Gathers samples into the model.
pub struct Recorder {
    pub samples: Samples,
    threads: Vec<ThreadProfile>,
    /// Native id → (index in `threads`, the Python name the thread was named with).
    thread_index: HashMap<u64, (usize, Option<Arc<str>>)>,
    /// (address of a code object's info, line) → frame index: no strings are built for frames
    /// seen before.
    frame_ids: rustc_hash::FxHashMap<(usize, u32), u32>,
    /// Every code info keyed in `frame_ids`, held so its address is never reused by another
    /// one while the key exists (a reader dropped when its process exited or ran exec frees
    /// its cache).
    codes_held: Vec<Arc<dziura_remote::spy::CodeInfo>>,
    /// Whether each sample's time is kept (`top` keeps none: it never shows a timeline).
    timeline: bool,
    pid: i32,
    start: Instant,
    start_unix: f64,
}

impl Recorder {
    pub fn new(pid: i32, interval: f64) -> Recorder {
        let start_unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        Recorder {
            samples: Samples::new(interval),
            threads: Vec::new(),
            thread_index: HashMap::new(),
            frame_ids: Default::default(),
            codes_held: Vec::new(),
            timeline: true,
            pid,
            start: Instant::now(),
            start_unix,
        }
    }

    /// A recorder that keeps no sample times: for views that never show a timeline and would
    /// otherwise copy a growing one on every refresh.
    pub fn without_timeline(mut self) -> Recorder {
        self.timeline = false;
        self
    }

    /// The name a thread was recorded under, by native id.
    pub fn thread_label(&self, native_id: u64) -> Option<&str> {
        let (i, _) = self.thread_index.get(&native_id)?;
        Some(&self.threads[*i].name)
    }

    fn thread(&mut self, pid: i32, t: &ThreadStack) -> usize {
        if let Some((i, named)) = self.thread_index.get_mut(&t.native_id) {
            // A Python name read after the thread was first seen (or a rename) replaces the
            // one it had; the pointer comparison keeps this off the per-sample path.
            let changed = match (&t.name, &*named) {
                (Some(new), Some(old)) => !Arc::ptr_eq(new, old) && **new != **old,
                (Some(_), None) => true,
                (None, _) => false,
            };
            let i = *i;
            *named = t.name.clone();
            if changed {
                self.threads[i].name = self.label(pid, t);
            }
            return i;
        }
        let name = self.label(pid, t);
        self.threads.push(ThreadProfile {
            ident: t.thread_id,
            native_id: t.native_id,
            name,
            ..Default::default()
        });
        self.thread_index
            .insert(t.native_id, (self.threads.len() - 1, t.name.clone()));
        self.threads.len() - 1
    }

    fn label(&self, pid: i32, t: &ThreadStack) -> String {
        let name = display_name(pid, t);
        if pid != self.pid {
            format!("{name} (pid {pid})")
        } else {
            name
        }
    }

    /// Counts one stack of a thread of process `pid`, seen at `at`.
    pub fn add(&mut self, pid: i32, t: &ThreadStack, at: Instant) {
        let thread = self.thread(pid, t);
        let mut ids: Vec<u32> = Vec::with_capacity(t.frames.len());
        for f in t.frames.iter().rev() {
            let key = (Arc::as_ptr(&f.code) as usize, f.line);
            let id = match self.frame_ids.get(&key) {
                Some(&id) => id,
                None => {
                    let func = FuncKey::python(
                        f.code.filename.clone(),
                        f.code.firstlineno,
                        f.code.qualname.clone(),
                    );
                    let id = self.samples.frame(&Frame { func, line: f.line });
                    self.codes_held.push(f.code.clone());
                    self.frame_ids.insert(key, id);
                    id
                }
            };
            ids.push(id);
        }
        let stack = self.samples.add(thread, &ids, 1);
        if self.timeline {
            self.samples.timeline.push(TimedSample {
                time: at.duration_since(self.start).as_secs_f64(),
                stack,
            });
        }
    }

    pub fn into_profile(self, meta: Metadata, timeline: bool) -> Profile {
        let meta = self.meta(meta);
        finish(self.threads, self.samples, meta, timeline)
    }

    /// A copy of what was gathered so far, for periodic writes while sampling goes on.
    pub fn snapshot(&self, meta: Metadata, timeline: bool) -> Profile {
        finish(
            self.threads.clone(),
            self.samples.clone(),
            self.meta(meta),
            timeline,
        )
    }

    fn meta(&self, meta: Metadata) -> Metadata {
        Metadata {
            start_time: self.start_unix,
            duration: self.start.elapsed().as_secs_f64(),
            mode: "sampling".into(),
            ..meta
        }
    }
}

fn finish(
    threads: Vec<ThreadProfile>,
    mut samples: Samples,
    meta: Metadata,
    timeline: bool,
) -> Profile {
    if !timeline {
        samples.timeline.clear();
    }
    Profile {
        threads,
        meta,
        samples: Some(samples),
        calls: None,
    }
}

/// A thread's name as shown: its Python `threading` name when it has one, else
/// [`thread_name`].
pub fn display_name(pid: i32, t: &ThreadStack) -> String {
    match &t.name {
        Some(n) => n.to_string(),
        None => thread_name(pid, t.native_id),
    }
}

/// The name of a thread without a Python name: "MainThread" for the thread whose id is the
/// process id, else the kernel's thread name.
pub fn thread_name(pid: i32, native_id: u64) -> String {
    if native_id == pid as u64 {
        return "MainThread".into();
    }
    dziura_remote::spy::thread_comm(pid, native_id).unwrap_or_else(|| format!("thread {native_id}"))
}

/// Whether a thread's stack counts under these options.
pub fn keep(t: &ThreadStack, o: &Options, pid: i32, names: &mut HashMap<u64, String>) -> bool {
    if t.frames.is_empty() || (o.gil_only && !t.holds_gil) || (!o.idle && !t.active) {
        return false;
    }
    match &o.threads {
        ThreadFilter::All => true,
        ThreadFilter::Main => t.native_id == pid as u64,
        ThreadFilter::Named(n) => match &t.name {
            Some(name) => **name == **n || n.parse::<u64>().ok() == Some(t.native_id),
            None => {
                n.parse::<u64>().ok() == Some(t.native_id)
                    || names
                        .entry(t.native_id)
                        .or_insert_with(|| thread_name(pid, t.native_id))
                        == n
            }
        },
    }
}

/// A small xorshift generator for jitter (no dependency, no global state).
struct Jitter(u64);

impl Jitter {
    /// An exponentially distributed interval with the given mean, clamped to [0.2, 3] × mean, so
    /// periodic work in the target cannot line up with the samples.
    fn next(&mut self, mean: f64) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        let u = ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        // Clamping raises an exponential's mean by a factor of 0.2 + e^-0.2 - e^-3 ≈ 0.969;
        // dividing by it keeps the average rate at the one asked for.
        (-u.ln() * mean / 0.969).clamp(0.2 * mean, 3.0 * mean)
    }
}

/// The sampling clock: waits until the next (jittered) sample is due. Shared by the sampler and
/// `examples/wake_floor.rs`, which measures what waking this way costs with nothing read.
pub struct Pacer {
    mean: f64,
    next: Instant,
    jitter: Jitter,
}

impl Pacer {
    pub fn new(rate: f64, seed: u64) -> Pacer {
        // Linux lets a sleep overrun by the thread's timer slack (50 µs by default): at 10 kHz
        // that is half the interval. Ask for 1 ns; failure only costs accuracy at high rates.
        #[cfg(target_os = "linux")]
        // SAFETY: PR_SET_TIMERSLACK takes a plain integer and affects only this thread.
        unsafe {
            libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong);
        }
        Pacer {
            mean: 1.0 / rate.max(0.01),
            next: Instant::now(),
            jitter: Jitter(0x9e37_79b9_7f4a_7c15 ^ seed << 17),
        }
    }

    /// Sleeps until the next sample is due; whether it was already late by more than one
    /// interval (then the schedule restarts from now instead of firing a burst to catch up).
    pub fn wait(&mut self) -> bool {
        let now = Instant::now();
        let mut late = false;
        if self.next > now {
            std::thread::sleep(self.next - now);
        } else if now - self.next > Duration::from_secs_f64(self.mean) {
            late = true;
            self.next = now;
        }
        self.next += Duration::from_secs_f64(self.jitter.next(self.mean));
        late
    }
}

/// Samples `spy` until the duration passes, the target exits or `should_stop` says so.
/// `on_tick` is called every `opts.tick` with progress (and may write partial output, or start
/// the recorder afresh).
///
/// `root` is the target's reader, or `None` when the target (`pid`) is not Python (a shell, a
/// supervisor): then only its Python descendants are sampled (`opts.subprocesses`), and the
/// target itself too once it becomes one (`exec python`).
pub fn run(
    pid: i32,
    mut root: Option<&mut Spy>,
    opts: &Options,
    recorder: &mut Recorder,
    mut should_stop: impl FnMut() -> bool,
    mut on_tick: impl FnMut(&Progress, &mut Recorder),
) -> (Stopped, Progress) {
    let mut pacer = Pacer::new(opts.rate, pid as u64);
    let start = Instant::now();
    let mut last_tick = start;
    let mut last_alive = start;
    let mut progress = Progress::default();
    let mut names = HashMap::new();
    if let Some(r) = root.as_deref_mut() {
        r.drop_torn = true;
    }
    let mut children = Children {
        include_root: root.is_none(),
        ..Default::default()
    };
    if opts.subprocesses || root.is_none() {
        children.refresh(pid);
    }
    // The torn counts of readers replaced after an `exec`.
    let mut torn_before = dziura_remote::spy::TornCounts::default();
    let stopped = loop {
        if should_stop() {
            break Stopped::Asked;
        }
        if opts.duration.is_some_and(|d| start.elapsed() >= d) {
            break Stopped::Duration;
        }
        if pacer.wait() {
            progress.late += 1;
        }
        let at = Instant::now();
        // After an `exec` the old reader would read the old program's addresses in the new one.
        let stale = progress.exec_unreadable;
        match root.as_deref_mut().filter(|_| !stale).map(read_with_retry) {
            Some(Ok(threads)) => {
                progress.samples += 1;
                progress.threads = threads.len();
                progress.active = threads.iter().filter(|t| t.active).count();
                progress.gil_holder = threads.iter().find(|t| t.holds_gil).map(|t| t.native_id);
                for t in threads.iter().filter(|t| keep(t, opts, pid, &mut names)) {
                    recorder.add(pid, t, at);
                }
            }
            Some(Err(e)) if e.is_transient() => progress.errors += 1,
            Some(Err(_)) => {
                if !alive(pid) && children.spies.is_empty() {
                    break Stopped::TargetExited;
                }
                progress.errors += 1;
            }
            // A target that is not Python: a sample is a tick that read its Python descendants.
            None if !stale => progress.samples += u64::from(!children.spies.is_empty()),
            None => {}
        }
        for child in children.spies.iter_mut() {
            let cpid = child.pid();
            if let Ok(threads) = read_with_retry(child) {
                for t in threads.iter().filter(|t| keep(t, opts, cpid, &mut names)) {
                    recorder.add(cpid, t, at);
                }
            }
        }
        // Checked ten times a second, not every sample: it costs a few system calls.
        if last_alive.elapsed() >= Duration::from_millis(100) {
            last_alive = Instant::now();
            if opts.subprocesses || root.is_none() {
                children.refresh(pid);
            }
            if !alive(pid) && children.spies.is_empty() {
                break Stopped::TargetExited;
            }
            if let Some(r) = root.as_deref_mut() {
                progress.exec_unreadable |= r.exec_seen();
                if progress.exec_unreadable {
                    if let Ok(new) = r.reattach() {
                        torn_before.reread += r.torn.reread;
                        torn_before.dropped += r.torn.dropped;
                        *r = new;
                        progress.execs += 1;
                        progress.exec_unreadable = false;
                    }
                }
            }
        }
        progress.torn = torn_total(root.as_deref(), &children);
        progress.torn.reread += torn_before.reread;
        progress.torn.dropped += torn_before.dropped;
        progress.elapsed = start.elapsed();
        if last_tick.elapsed() >= opts.tick {
            last_tick = Instant::now();
            on_tick(&progress, recorder);
        }
    };
    progress.elapsed = start.elapsed();
    (stopped, progress)
}

/// The torn-stack counts of the root and the children, those that exited included.
fn torn_total(root: Option<&Spy>, children: &Children) -> dziura_remote::spy::TornCounts {
    let mut t = dziura_remote::spy::TornCounts::default();
    if let Some(r) = root {
        t.reread += r.torn.reread;
        t.dropped += r.torn.dropped;
    }
    for c in &children.spies {
        t.reread += c.torn.reread;
        t.dropped += c.torn.dropped;
    }
    t.reread += children.gone_torn.reread;
    t.dropped += children.gone_torn.dropped;
    t
}

/// The Python processes descended from the target, attached as they appear. Children that are
/// not Python (or not yet initialised after a few tries) are left alone, never an error.
#[derive(Default)]
struct Children {
    spies: Vec<Spy>,
    /// The root is not Python (yet): read it too when it becomes Python (`exec`).
    include_root: bool,
    /// Pids that are not Python, or that failed to attach too often, with the executable they
    /// ran then: a process that `exec`s another program (a forked shell starting Python) is
    /// looked at again.
    ignored: HashMap<i32, (Option<std::path::PathBuf>, u32)>,
    /// The torn-stack counts of children that exited.
    gone_torn: dziura_remote::spy::TornCounts,
}

impl Children {
    fn refresh(&mut self, root: i32) {
        let gone = &mut self.gone_torn;
        // A child that ran `exec` is dropped here and attached afresh below.
        self.spies.retain(|s| {
            let keep = alive(s.pid()) && !s.exec_seen();
            if !keep {
                gone.reread += s.torn.reread;
                gone.dropped += s.torn.dropped;
            }
            keep
        });
        let mut candidates = descendants(root);
        if self.include_root {
            candidates.insert(0, root);
        }
        for pid in candidates {
            if self.spies.iter().any(|s| s.pid() == pid) {
                continue;
            }
            let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
            match self.ignored.get(&pid) {
                Some((was, n)) if *was == exe && *n >= 50 => continue,
                Some((was, _)) if *was != exe => {
                    self.ignored.remove(&pid);
                }
                _ => {}
            }
            match Spy::attach(pid).and_then(|mut s| s.threads().map(|_| s)) {
                Ok(mut s) => {
                    self.ignored.remove(&pid);
                    s.drop_torn = true;
                    self.spies.push(s);
                }
                Err(RemoteError::Unsupported(_)) => {
                    self.ignored.insert(pid, (exe, u32::MAX));
                }
                // Not Python, or not yet: a process just exec'd may still be loading libpython,
                // and one still starting has no interpreter yet. Given up after half a second
                // and five seconds of tries (at 10 a second) respectively.
                Err(e) => {
                    let strike = if matches!(e, RemoteError::NotPython(..)) {
                        10
                    } else {
                        1
                    };
                    let entry = self.ignored.entry(pid).or_insert((exe, 0));
                    entry.1 = entry.1.saturating_add(strike);
                }
            }
        }
    }
}

/// Every process whose parent chain leads to `root`.
pub fn descendants(root: i32) -> Vec<i32> {
    let mut parent: Vec<(i32, i32)> = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            let ppid = stat
                .rfind(')')
                .and_then(|i| stat[i + 1..].split_whitespace().nth(1)?.parse::<i32>().ok());
            if let Some(ppid) = ppid {
                parent.push((pid, ppid));
            }
        }
    }
    let mut out = Vec::new();
    let mut frontier = vec![root];
    while let Some(p) = frontier.pop() {
        for &(child, pp) in &parent {
            if pp == p && !out.contains(&child) {
                out.push(child);
                frontier.push(child);
            }
        }
    }
    out
}

/// A torn read is retried once at once: most races last a few instructions.
fn read_with_retry(spy: &mut Spy) -> Result<Vec<ThreadStack>, RemoteError> {
    match spy.threads() {
        Err(e) if e.is_transient() => spy.threads(),
        other => other,
    }
}

fn alive(pid: i32) -> bool {
    // A zombie (exited, not yet reaped) counts as gone.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s
            .rfind(')')
            .and_then(|i| s[i + 1..].split_whitespace().next())
            .is_some_and(|st| st != "Z" && st != "X"),
        Err(_) => false,
    }
}

/// A stack that changed under one read (a recursive target changes within microseconds) is
/// read again at once, up to this many times, before attaching gives up on it.
pub const ATTACH_REREADS: u32 = 1000;

/// Attaches to `pid`, waiting up to `wait` for a process that is still starting its
/// interpreter (a launched command), and reads its threads once to know the reader works.
pub fn attach(pid: i32, wait: Duration) -> Result<Spy, RemoteError> {
    let start = Instant::now();
    let mut spy = None;
    let mut rereads = 0;
    loop {
        let r = match spy.take() {
            Some(s) => Ok(s),
            None => Spy::attach(pid),
        }
        .and_then(|mut s| match s.threads() {
            Ok(_) => Ok(s),
            // The interpreter is there; only this read was torn: keep the reader, read again.
            Err(e) if e.is_transient() && rereads < ATTACH_REREADS => {
                rereads += 1;
                spy = Some(s);
                Err(e)
            }
            Err(e) => Err(e),
        });
        match r {
            Ok(s) => return Ok(s),
            Err(_) if spy.is_some() => continue,
            Err(
                e @ (RemoteError::NoSuchProcess(_)
                | RemoteError::Exited(_)
                | RemoteError::PermissionDenied(..)
                | RemoteError::Unsupported(_)),
            ) => return Err(e),
            Err(e) if start.elapsed() >= wait => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_has_the_right_mean_and_bounds() {
        let mut j = Jitter(42);
        let n = 100_000;
        let xs: Vec<f64> = (0..n).map(|_| j.next(0.001)).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        assert!((mean - 0.001).abs() < 0.0001, "{mean}");
        assert!(xs.iter().all(|x| (0.0002..=0.003).contains(x)));
    }
}
