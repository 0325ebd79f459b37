//! The profile model: functions, call counts and times per caller edge, per thread.
//!
//! Collectors (the tracer, later the sampler) fill a [`Profile`]; writers and views only read it.
//! The numbers are those cProfile and pstats use, so every pstats-based tool can be fed from here:
//! `cc` primitive calls, `nc` all calls, `tt` own time, `ct` cumulative time (seconds).

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// What identifies a function across runs, exactly as pstats keys it: `(filename, line, name)`.
/// C functions use the filename `~` and line 0, with a name such as `<built-in method builtins.len>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FuncKey {
    pub file: String,
    pub line: u32,
    pub name: String,
}

impl FuncKey {
    pub fn python(file: impl Into<String>, line: u32, name: impl Into<String>) -> Self {
        FuncKey {
            file: file.into(),
            line,
            name: name.into(),
        }
    }

    pub fn builtin(name: impl Into<String>) -> Self {
        FuncKey {
            file: "~".into(),
            line: 0,
            name: name.into(),
        }
    }

    pub fn is_builtin(&self) -> bool {
        self.file == "~" && self.line == 0
    }

    /// The key with its directory removed, as `pstats.Stats.strip_dirs` does.
    pub fn stripped(&self) -> FuncKey {
        let file = match self.file.rsplit_once('/') {
            Some((_, base)) => base.to_string(),
            None => self.file.clone(),
        };
        FuncKey {
            file,
            line: self.line,
            name: self.name.clone(),
        }
    }
}

/// pstats' `func_std_string`: `file:line(name)`, or `{built-in method builtins.len}` for C code.
impl fmt::Display for FuncKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_builtin() {
            match self
                .name
                .strip_prefix('<')
                .and_then(|n| n.strip_suffix('>'))
            {
                Some(inner) => write!(f, "{{{inner}}}"),
                None => f.write_str(&self.name),
            }
        } else {
            write!(f, "{}:{}({})", self.file, self.line, self.name)
        }
    }
}

/// Counts and times of one caller→callee edge, or of one function in total.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CallStats {
    /// All calls (`nc`), recursive ones included.
    pub calls: u64,
    /// Primitive calls (`cc`): calls that were not already running further down the stack.
    pub primitive_calls: u64,
    /// Time spent in the function itself, seconds (`tt`).
    pub own_time: f64,
    /// Time spent in the function and everything it called, outermost activations only (`ct`).
    pub cum_time: f64,
}

impl CallStats {
    pub fn add(&mut self, other: &CallStats) {
        self.calls += other.calls;
        self.primitive_calls += other.primitive_calls;
        self.own_time += other.own_time;
        self.cum_time += other.cum_time;
    }
}

/// One function's totals and the edges from each of its callers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FuncStats {
    pub total: CallStats,
    /// Caller function index → stats of the calls made from that caller, in first-seen order.
    pub callers: Vec<(usize, CallStats)>,
}

impl FuncStats {
    pub fn add_caller(&mut self, caller: usize, stats: &CallStats) {
        match self.callers.iter_mut().find(|(c, _)| *c == caller) {
            Some((_, s)) => s.add(stats),
            None => self.callers.push((caller, *stats)),
        }
    }
}

/// A call graph: functions in first-seen order with their stats, like one pstats dictionary.
///
/// Serialized as its functions and their stats; the key index is rebuilt on load, and a graph
/// whose keys repeat or whose caller indices point nowhere is refused.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawCallGraph")]
pub struct CallGraph {
    keys: Vec<FuncKey>,
    stats: Vec<FuncStats>,
    #[serde(skip)]
    index: HashMap<FuncKey, usize>,
}

#[derive(Deserialize)]
struct RawCallGraph {
    keys: Vec<FuncKey>,
    stats: Vec<FuncStats>,
}

impl TryFrom<RawCallGraph> for CallGraph {
    type Error = String;

    fn try_from(raw: RawCallGraph) -> Result<Self, String> {
        if raw.keys.len() != raw.stats.len() {
            return Err("call graph: keys and stats differ in number".into());
        }
        let n = raw.keys.len();
        let mut index = HashMap::with_capacity(n);
        for (i, k) in raw.keys.iter().enumerate() {
            if index.insert(k.clone(), i).is_some() {
                return Err(format!("call graph: function {k} appears twice"));
            }
        }
        if raw
            .stats
            .iter()
            .any(|s| s.callers.iter().any(|(c, _)| *c >= n))
        {
            return Err("call graph: a caller index points past the functions".into());
        }
        Ok(CallGraph {
            keys: raw.keys,
            stats: raw.stats,
            index,
        })
    }
}

impl CallGraph {
    pub fn new() -> Self {
        Self::default()
    }

    /// The index of `key`, adding the function with empty stats when it is new.
    pub fn intern(&mut self, key: &FuncKey) -> usize {
        if let Some(&i) = self.index.get(key) {
            return i;
        }
        let i = self.keys.len();
        self.keys.push(key.clone());
        self.stats.push(FuncStats::default());
        self.index.insert(key.clone(), i);
        i
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn key(&self, i: usize) -> &FuncKey {
        &self.keys[i]
    }

    pub fn stats(&self, i: usize) -> &FuncStats {
        &self.stats[i]
    }

    pub fn find(&self, key: &FuncKey) -> Option<usize> {
        self.index.get(key).copied()
    }

    pub fn iter(&self) -> impl Iterator<Item = (usize, &FuncKey, &FuncStats)> {
        self.keys
            .iter()
            .zip(&self.stats)
            .enumerate()
            .map(|(i, (k, s))| (i, k, s))
    }

    /// Adds `stats` to the function's totals.
    pub fn add_total(&mut self, key: &FuncKey, stats: &CallStats) -> usize {
        let i = self.intern(key);
        self.stats[i].total.add(stats);
        i
    }

    /// Adds a caller→callee edge.
    pub fn add_edge(&mut self, caller: &FuncKey, callee: &FuncKey, stats: &CallStats) {
        let c = self.intern(caller);
        let f = self.intern(callee);
        self.stats[f].add_caller(c, stats);
    }

    /// Adds every function and edge of `other` into this graph.
    pub fn merge(&mut self, other: &CallGraph) {
        let map: Vec<usize> = other.keys.iter().map(|k| self.intern(k)).collect();
        for (j, s) in other.stats.iter().enumerate() {
            let i = map[j];
            self.stats[i].total.add(&s.total);
            for (c, e) in &s.callers {
                self.stats[i].add_caller(map[*c], e);
            }
        }
    }

    /// The graph with directories stripped from file names; functions that then collide are
    /// added together, as `pstats.Stats.strip_dirs` does.
    pub fn strip_dirs(&self) -> CallGraph {
        self.map_keys(FuncKey::stripped)
    }

    /// The graph with every key renamed by `rename` (shorter paths, say); functions that then
    /// collide are added together.
    pub fn map_keys(&self, rename: impl Fn(&FuncKey) -> FuncKey) -> CallGraph {
        let mut out = CallGraph::new();
        let map: Vec<usize> = self.keys.iter().map(|k| out.intern(&rename(k))).collect();
        for (j, s) in self.stats.iter().enumerate() {
            let i = map[j];
            out.stats[i].total.add(&s.total);
            for (c, e) in &s.callers {
                out.stats[i].add_caller(map[*c], e);
            }
        }
        out
    }

    /// For each function, the functions it calls with the edge stats: the reverse of `callers`.
    pub fn callees(&self) -> Vec<Vec<(usize, CallStats)>> {
        let mut out = vec![Vec::new(); self.len()];
        for (callee, s) in self.stats.iter().enumerate() {
            for (caller, e) in &s.callers {
                out[*caller].push((callee, *e));
            }
        }
        out
    }

    /// Σ nc, Σ cc and Σ tt over all functions: pstats' header line.
    pub fn totals(&self) -> (u64, u64, f64) {
        self.stats.iter().fold((0, 0, 0.0), |(n, c, t), s| {
            (
                n + s.total.calls,
                c + s.total.primitive_calls,
                t + s.total.own_time,
            )
        })
    }
}

/// One thread's share of a profile.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ThreadProfile {
    /// `threading.get_ident()` of the thread.
    pub ident: u64,
    /// The kernel's thread id (`gettid`), 0 when unknown.
    pub native_id: u64,
    pub name: String,
    pub graph: CallGraph,
}

/// What was measured and how, kept with the numbers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    pub python_version: String,
    pub command: Vec<String>,
    /// Unix time, seconds, when collection started.
    pub start_time: f64,
    /// Wall-clock seconds of collection.
    pub duration: f64,
    pub host: String,
    /// How the numbers were made: "tracing" or "sampling".
    pub mode: String,
}

/// A place a sampled stack passes through: the function and the line it was running.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Frame {
    pub func: FuncKey,
    /// The line being executed (the function's first line is `func.line`).
    pub line: u32,
}

/// One distinct stack seen in one thread, root first, and how many samples saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stack {
    /// Index into [`Profile::threads`].
    pub thread: usize,
    /// Indices into [`Samples::frames`], outermost call first.
    pub frames: Vec<u32>,
    pub count: u64,
}

/// One sample in time order, for views that show when things happened (speedscope, Chrome).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimedSample {
    /// Seconds since [`Metadata::start_time`].
    pub time: f64,
    /// Index into [`Samples::stacks`].
    pub stack: u32,
}

/// Stacks read by a sampler: frames and stacks interned, counts per stack, optional timeline.
///
/// Serialized without its indices, which are rebuilt on load; repeated frames or stacks, and
/// stacks or timeline entries that point nowhere, are refused.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawSamples")]
pub struct Samples {
    /// Seconds between samples (the weight of one sample).
    pub interval: f64,
    pub frames: Vec<Frame>,
    #[serde(skip)]
    frame_index: HashMap<Frame, u32>,
    pub stacks: Vec<Stack>,
    #[serde(skip)]
    /// Stacks by a hash of (thread, frames): a lookup per sample allocates nothing.
    stack_index: rustc_hash::FxHashMap<u64, Vec<u32>>,
    pub timeline: Vec<TimedSample>,
}

#[derive(Deserialize)]
struct RawSamples {
    interval: f64,
    frames: Vec<Frame>,
    stacks: Vec<Stack>,
    timeline: Vec<TimedSample>,
}

impl TryFrom<RawSamples> for Samples {
    type Error = String;

    fn try_from(raw: RawSamples) -> Result<Self, String> {
        if raw.frames.len() > u32::MAX as usize || raw.stacks.len() > u32::MAX as usize {
            return Err("samples: too many frames or stacks".into());
        }
        let mut frame_index = HashMap::with_capacity(raw.frames.len());
        for (i, f) in raw.frames.iter().enumerate() {
            if frame_index.insert(f.clone(), i as u32).is_some() {
                return Err(format!(
                    "samples: frame {}:{} appears twice",
                    f.func, f.line
                ));
            }
        }
        let mut stack_index: rustc_hash::FxHashMap<u64, Vec<u32>> = Default::default();
        stack_index.reserve(raw.stacks.len());
        for (i, st) in raw.stacks.iter().enumerate() {
            if st.frames.iter().any(|&f| f as usize >= raw.frames.len()) {
                return Err("samples: a stack points past the frames".into());
            }
            let same = stack_index
                .entry(stack_hash(st.thread, &st.frames))
                .or_default();
            if same.iter().any(|&j| {
                let other = &raw.stacks[j as usize];
                other.thread == st.thread && other.frames == st.frames
            }) {
                return Err("samples: a stack appears twice".into());
            }
            same.push(i as u32);
        }
        if raw
            .timeline
            .iter()
            .any(|t| t.stack as usize >= raw.stacks.len())
        {
            return Err("samples: a timeline entry points past the stacks".into());
        }
        Ok(Samples {
            interval: raw.interval,
            frames: raw.frames,
            frame_index,
            stacks: raw.stacks,
            stack_index,
            timeline: raw.timeline,
        })
    }
}

/// A hash of a stack that is the same in every process (so two equal `Samples` have equal
/// indices), one multiply per frame (the Fx hash's mixing).
fn stack_hash(thread: usize, frames: &[u32]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = (thread as u64).wrapping_mul(K);
    for &f in frames {
        h = (h.rotate_left(5) ^ f as u64).wrapping_mul(K);
    }
    h
}

impl Samples {
    pub fn new(interval: f64) -> Self {
        Samples {
            interval,
            ..Default::default()
        }
    }

    pub fn frame(&mut self, f: &Frame) -> u32 {
        if let Some(&i) = self.frame_index.get(f) {
            return i;
        }
        let i = self.frames.len() as u32;
        self.frames.push(f.clone());
        self.frame_index.insert(f.clone(), i);
        i
    }

    /// Counts one sample of `frames` (root first) in `thread`; returns the stack's index.
    pub fn add(&mut self, thread: usize, frames: &[u32], count: u64) -> u32 {
        let h = stack_hash(thread, frames);
        if let Some(same) = self.stack_index.get(&h) {
            for &i in same {
                let st = &mut self.stacks[i as usize];
                if st.thread == thread && st.frames == frames {
                    st.count += count;
                    return i;
                }
            }
        }
        let i = self.stacks.len() as u32;
        self.stacks.push(Stack {
            thread,
            frames: frames.to_vec(),
            count,
        });
        self.stack_index.entry(h).or_default().push(i);
        i
    }

    pub fn total(&self) -> u64 {
        self.stacks.iter().map(|s| s.count).sum()
    }

    /// The call graph these stacks imply, for the cProfile-style views: a function's calls are
    /// the samples in which it is on the stack (once per stack, recursion counted as in pstats),
    /// its own time the samples where it is on top, times in seconds (samples × interval).
    /// For each frame, the index of the first frame of its function: frames of one function at
    /// different lines then share one row, node or count.
    pub fn function_of_frames(&self) -> Vec<usize> {
        let mut first: HashMap<&FuncKey, usize> = HashMap::new();
        self.frames
            .iter()
            .enumerate()
            .map(|(i, f)| *first.entry(&f.func).or_insert(i))
            .collect()
    }

    pub fn call_graph(&self, thread: Option<usize>) -> CallGraph {
        let mut g = CallGraph::new();
        for st in self
            .stacks
            .iter()
            .filter(|s| thread.is_none_or(|t| t == s.thread))
        {
            let n = st.count;
            let w = n as f64 * self.interval;
            let mut seen: Vec<&FuncKey> = Vec::new();
            let mut seen_edges: Vec<(&FuncKey, &FuncKey)> = Vec::new();
            for (depth, &fi) in st.frames.iter().enumerate() {
                let key = &self.frames[fi as usize].func;
                let top = depth + 1 == st.frames.len();
                let first = !seen.contains(&key);
                let s = CallStats {
                    calls: n,
                    primitive_calls: if first { n } else { 0 },
                    own_time: if top { w } else { 0.0 },
                    cum_time: if first { w } else { 0.0 },
                };
                g.add_total(key, &s);
                if depth > 0 {
                    let caller = &self.frames[st.frames[depth - 1] as usize].func;
                    let edge_first = !seen_edges.contains(&(caller, key));
                    let e = CallStats {
                        calls: n,
                        primitive_calls: if edge_first { n } else { 0 },
                        own_time: if top { w } else { 0.0 },
                        cum_time: if edge_first { w } else { 0.0 },
                    };
                    g.add_edge(caller, key, &e);
                    seen_edges.push((caller, key));
                }
                seen.push(key);
            }
        }
        g
    }
}

/// One call starting (`open`) or ending, in a traced timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallEvent {
    /// Nanoseconds since [`Metadata::start_time`].
    pub time_ns: u64,
    /// Index into [`CallTimeline::funcs`].
    pub func: u32,
    pub open: bool,
}

/// One thread's calls in time order: opens and closes nest like brackets, every open closed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ThreadCalls {
    /// Index into [`Profile::threads`].
    pub thread: usize,
    pub events: Vec<CallEvent>,
}

/// Every call a tracer saw, in time order per thread (`dziura run --timeline`), for the views
/// that show when things happened. Bounded: when the buffer filled, no call starting later was
/// kept (calls already open still got their real end) and `truncated_at_ns` says when.
///
/// Serialized as is; a timeline whose events point nowhere, go back in time or do not nest is
/// refused on load, so writers may rely on it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawCallTimeline")]
pub struct CallTimeline {
    pub funcs: Vec<FuncKey>,
    pub threads: Vec<ThreadCalls>,
    /// Nanoseconds since [`Metadata::start_time`] at which recording stopped because the buffer
    /// was full.
    pub truncated_at_ns: Option<u64>,
    /// Calls not kept because the buffer was full (at least this many).
    pub dropped_calls: u64,
}

#[derive(Deserialize)]
struct RawCallTimeline {
    funcs: Vec<FuncKey>,
    threads: Vec<ThreadCalls>,
    truncated_at_ns: Option<u64>,
    dropped_calls: u64,
}

impl TryFrom<RawCallTimeline> for CallTimeline {
    type Error = String;

    fn try_from(raw: RawCallTimeline) -> Result<Self, String> {
        let t = CallTimeline {
            funcs: raw.funcs,
            threads: raw.threads,
            truncated_at_ns: raw.truncated_at_ns,
            dropped_calls: raw.dropped_calls,
        };
        t.check()?;
        Ok(t)
    }
}

impl CallTimeline {
    /// Checks what writers rely on: indices in range, time never going back, opens and closes
    /// nesting, every open closed.
    pub fn check(&self) -> Result<(), String> {
        for tc in &self.threads {
            let mut open: Vec<u32> = Vec::new();
            let mut last = 0;
            for e in &tc.events {
                if e.func as usize >= self.funcs.len() {
                    return Err("call timeline: an event points past the functions".into());
                }
                if e.time_ns < last {
                    return Err("call timeline: events go back in time".into());
                }
                last = e.time_ns;
                if e.open {
                    open.push(e.func);
                } else if open.pop() != Some(e.func) {
                    return Err("call timeline: a call ends that did not start".into());
                }
            }
            if !open.is_empty() {
                return Err("call timeline: a call never ends".into());
            }
        }
        Ok(())
    }

    /// The number of calls kept.
    pub fn calls(&self) -> usize {
        self.threads
            .iter()
            .map(|t| t.events.iter().filter(|e| e.open).count())
            .sum()
    }
}

/// A whole profile: per-thread call graphs (tracing) or stacks (sampling), plus metadata.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub threads: Vec<ThreadProfile>,
    pub meta: Metadata,
    /// Present for profiles made by sampling.
    pub samples: Option<Samples>,
    /// Present for tracing profiles recorded with a timeline.
    pub calls: Option<CallTimeline>,
}

impl Profile {
    /// The traced call timeline, when it is what the time-ordered views draw: a tracing profile
    /// recorded with one (samples, when present, come first).
    pub fn traced_calls(&self) -> Option<&CallTimeline> {
        match self.samples {
            None => self.calls.as_ref(),
            Some(_) => None,
        }
    }

    /// Whether this profile's numbers come from samples, else from a tracer's exact counts:
    /// the one place that decides it, for every view.
    pub fn is_sampled(&self) -> bool {
        self.samples.is_some() && self.threads.iter().all(|t| t.graph.is_empty())
    }

    /// All threads added together: the view cProfile gives.
    pub fn merged(&self) -> CallGraph {
        let mut g = CallGraph::new();
        for t in &self.threads {
            g.merge(&t.graph);
        }
        g
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(nc: u64, cc: u64, tt: f64, ct: f64) -> CallStats {
        CallStats {
            calls: nc,
            primitive_calls: cc,
            own_time: tt,
            cum_time: ct,
        }
    }

    #[test]
    fn display_matches_pstats_func_std_string() {
        assert_eq!(FuncKey::python("a/b.py", 3, "f").to_string(), "a/b.py:3(f)");
        assert_eq!(
            FuncKey::builtin("<built-in method builtins.len>").to_string(),
            "{built-in method builtins.len}"
        );
        assert_eq!(FuncKey::builtin("odd").to_string(), "odd");
    }

    #[test]
    fn samples_give_a_call_graph_in_sample_units() {
        let mut s = Samples::new(0.01);
        let f = |n: &str, line| Frame {
            func: FuncKey::python("a.py", 1, n),
            line,
        };
        let (m, g, h) = (
            s.frame(&f("main", 3)),
            s.frame(&f("g", 7)),
            s.frame(&f("h", 9)),
        );
        s.add(0, &[m, g, h], 3);
        s.add(0, &[m, g], 1);
        s.add(0, &[m, g, g], 2);
        s.add(0, &[m, g], 1);
        assert_eq!(s.total(), 7);
        assert_eq!(s.stacks.len(), 3);
        let cg = s.call_graph(None);
        let gi = cg.find(&FuncKey::python("a.py", 1, "g")).unwrap();
        let gs = cg.stats(gi).total;
        assert_eq!((gs.calls, gs.primitive_calls), (9, 7));
        assert!((gs.own_time - 0.04).abs() < 1e-12 && (gs.cum_time - 0.07).abs() < 1e-12);
        let mi = cg.find(&FuncKey::python("a.py", 1, "main")).unwrap();
        assert!((cg.stats(mi).total.cum_time - 0.07).abs() < 1e-12);
        assert_eq!(cg.stats(mi).total.own_time, 0.0);
    }

    #[test]
    fn merge_and_strip_add_colliding_functions() {
        let f1 = FuncKey::python("/x/m.py", 1, "f");
        let f2 = FuncKey::python("/y/m.py", 1, "f");
        let g = FuncKey::python("/x/main.py", 9, "main");
        let mut a = CallGraph::new();
        a.add_total(&f1, &st(2, 2, 0.5, 1.0));
        a.add_total(&g, &st(1, 1, 0.1, 2.0));
        a.add_edge(&g, &f1, &st(2, 2, 0.5, 1.0));
        let mut b = CallGraph::new();
        b.add_total(&f2, &st(3, 1, 0.25, 0.5));
        b.add_edge(&g, &f2, &st(3, 1, 0.25, 0.5));
        a.merge(&b);
        assert_eq!(a.len(), 3);
        let s = a.strip_dirs();
        assert_eq!(s.len(), 2);
        let i = s.find(&FuncKey::python("m.py", 1, "f")).unwrap();
        assert_eq!(s.stats(i).total, st(5, 3, 0.75, 1.5));
        assert_eq!(s.stats(i).callers.len(), 1);
        assert_eq!(s.stats(i).callers[0].1, st(5, 3, 0.75, 1.5));
        let (nc, cc, tt) = s.totals();
        assert_eq!((nc, cc), (6, 4));
        assert!((tt - 0.85).abs() < 1e-12);
        let callees = s.callees();
        let main = s.find(&FuncKey::python("main.py", 9, "main")).unwrap();
        assert_eq!(callees[main].len(), 1);
    }
}
