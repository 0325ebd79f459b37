//! Per-thread accounting: a shadow stack and cProfile's counters, kept apart for every thread so
//! threads never share a stack (the 3.12+ cProfile bug) and free-threaded builds need no locks.
//!
//! The counting rules are cProfile's (`Modules/_lsprof.c`): cumulative time is added only at the
//! outermost activation of a function (or of a caller→callee edge); inner ones count as recursive.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

const NONE: u32 = u32::MAX;
/// Set in a timeline entry's function index when the call ends rather than starts.
const CLOSE: u32 = 1 << 31;
/// Calls a thread takes from the shared timeline budget at a time.
const QUOTA_CHUNK: u64 = 4096;

/// Counters of a function or an edge, in clock ticks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub calls: u64,
    pub recursive_calls: u64,
    /// Including callees, outermost activations only (cProfile's `tt`, pstats' `ct`).
    pub total: u64,
    /// Excluding callees (cProfile's `it`, pstats' `tt`).
    pub inline: u64,
}

#[derive(Clone, Copy)]
struct FuncAcc {
    id: u32,
    depth: u32,
    counts: Counts,
    /// The caller and edge of the previous call: most calls repeat them, so no map lookup.
    last_caller: u32,
    last_edge: u32,
}

#[derive(Clone, Copy)]
struct EdgeAcc {
    caller: u32,
    callee: u32,
    depth: u32,
    counts: Counts,
}

#[derive(Clone, Copy)]
struct Frame {
    local: u32,
    edge: u32,
    is_c: bool,
    t0: u64,
    /// Time spent in callees so far.
    sub: u64,
}

/// A thread's share of a bounded call timeline: every call start and end with its clock tick.
struct Timeline {
    /// (local index, with [`CLOSE`] set for an end; tick)
    events: Vec<(u32, u64)>,
    /// Call starts this thread may still record before asking the shared budget for more.
    quota: u64,
    /// The tick at which the budget ran out. After it no call start is kept, but calls already
    /// recorded as started still record their end, so every kept call has its real duration.
    truncated_at: Option<u64>,
    /// Once truncated: how many of the outermost stack frames were recorded as started.
    recorded_depth: usize,
    dropped: u64,
}

impl Timeline {
    #[inline(always)]
    fn open(&mut self, budget: &AtomicU64, local: u32, now: u64, depth: usize) {
        if self.quota == 0 && !self.refill(budget, now, depth) {
            return;
        }
        self.quota -= 1;
        self.events.push((local, now));
    }

    /// More quota from the shared budget; when it is spent, the timeline is truncated here.
    #[cold]
    fn refill(&mut self, budget: &AtomicU64, now: u64, depth: usize) -> bool {
        if self.truncated_at.is_none() {
            let got = budget
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                    (b > 0).then(|| b - b.min(QUOTA_CHUNK))
                })
                .map_or(0, |b| b.min(QUOTA_CHUNK));
            if got > 0 {
                self.quota = got;
                self.events.reserve_exact(2 * got as usize);
                return true;
            }
            self.truncated_at = Some(now);
            self.recorded_depth = depth;
        }
        self.dropped += 1;
        false
    }

    /// The call at stack index `depth` ends.
    #[inline(always)]
    fn close(&mut self, local: u32, now: u64, depth: usize) {
        if self.truncated_at.is_some() {
            if depth >= self.recorded_depth {
                return;
            }
            self.recorded_depth = depth;
        }
        self.events.push((local | CLOSE, now));
    }
}

/// What a thread's timeline kept, by global function number.
#[derive(Debug, Default)]
pub struct TimelineData {
    /// (function, started (else ended), tick), in time order; starts and ends nest.
    pub events: Vec<(u32, bool, u64)>,
    pub truncated_at: Option<u64>,
    pub dropped: u64,
}

/// One thread's tracing state.
pub struct ThreadState {
    pub ident: u64,
    pub native_id: u64,
    subcalls: bool,
    stack: Vec<Frame>,
    /// Global function number → index into `funcs`.
    local_of: Vec<u32>,
    funcs: Vec<FuncAcc>,
    edges: Vec<EdgeAcc>,
    edge_of: HashMap<(u32, u32), u32>,
    /// `PyMethodDef*` → global number, for C functions.
    cfuncs: HashMap<usize, u32>,
    /// Code object or `PyMethodDef` address → local index, direct-mapped: the hot path's only
    /// lookup. Entries never go stale: registered code objects are kept alive.
    cache: Box<[(usize, u32)]>,
    /// Present when every call is recorded in time order (`--timeline`).
    timeline: Option<Box<Timeline>>,
    /// The thread's `threading.Thread` (a strong reference), once found: its name is read when
    /// tracing stops, even if the thread has ended and its object is otherwise gone by then.
    pub pythread: *mut pyo3_ffi::PyObject,
    /// Cache misses left at which to look for `pythread`: it is registered a few calls into
    /// the thread's start, and some threads are not `threading` threads at all.
    pub pythread_tries: u8,
}

// SAFETY: a state is used only by its own thread while tracing; the session (behind a mutex)
// moves it only to hand its data over when tracing stops. `pythread` is a plain owned reference.
unsafe impl Send for ThreadState {}

const CACHE_SLOTS: usize = 4096;

#[inline(always)]
fn slot(key: usize) -> usize {
    (key >> 4) & (CACHE_SLOTS - 1)
}

/// What a thread collected, by global function number.
#[derive(Debug)]
pub struct ThreadData {
    pub ident: u64,
    pub native_id: u64,
    pub funcs: Vec<(u32, Counts)>,
    /// (caller, callee, counts)
    pub edges: Vec<(u32, u32, Counts)>,
    pub timeline: Option<TimelineData>,
    /// The thread's `threading.Thread`, a strong reference the receiver must release, or null.
    pub pythread: *mut pyo3_ffi::PyObject,
}

impl ThreadState {
    pub fn new(ident: u64, native_id: u64, subcalls: bool) -> Self {
        ThreadState {
            ident,
            native_id,
            subcalls,
            stack: Vec::with_capacity(256),
            local_of: Vec::new(),
            funcs: Vec::new(),
            edges: Vec::new(),
            edge_of: HashMap::new(),
            cfuncs: HashMap::new(),
            cache: vec![(0, NONE); CACHE_SLOTS].into_boxed_slice(),
            timeline: None,
            pythread: std::ptr::null_mut(),
            pythread_tries: 32,
        }
    }

    /// Records every call from now on, sharing `budget` (call starts) with the other threads.
    pub fn record_timeline(&mut self) {
        self.timeline = Some(Box::new(Timeline {
            events: Vec::new(),
            quota: 0,
            truncated_at: None,
            recorded_depth: 0,
            dropped: 0,
        }));
    }

    /// The local index cached for `key` (a code object or `PyMethodDef` address), or `None`.
    #[inline(always)]
    pub fn cached(&self, key: usize) -> Option<u32> {
        // SAFETY: `slot` masks the index into the cache's fixed length.
        let (k, local) = unsafe { *self.cache.get_unchecked(slot(key)) };
        (k == key).then_some(local)
    }

    /// Caches `key` as function number `id` and returns its local index.
    #[cold]
    pub fn cache(&mut self, key: usize, id: u32) -> u32 {
        let local = self.local(id & !crate::registry::HIDDEN_BIT);
        self.cache[slot(key)] = (key, local);
        local
    }

    #[inline(always)]
    fn local(&mut self, id: u32) -> u32 {
        match self.local_of.get(id as usize) {
            Some(&l) if l != NONE => l,
            _ => self.new_local(id),
        }
    }

    #[cold]
    fn new_local(&mut self, id: u32) -> u32 {
        if self.local_of.len() <= id as usize {
            self.local_of.resize(id as usize + 1, NONE);
        }
        let l = self.funcs.len() as u32;
        self.funcs.push(FuncAcc {
            id,
            depth: 0,
            counts: Counts::default(),
            last_caller: NONE,
            last_edge: NONE,
        });
        self.local_of[id as usize] = l;
        l
    }

    #[cold]
    fn edge(&mut self, caller: u32, callee: u32) -> u32 {
        let next = self.edges.len() as u32;
        let e = *self.edge_of.entry((caller, callee)).or_insert(next);
        if e == next {
            self.edges.push(EdgeAcc {
                caller,
                callee,
                depth: 0,
                counts: Counts::default(),
            });
        }
        let f = &mut self.funcs[callee as usize];
        f.last_caller = caller;
        f.last_edge = e;
        e
    }

    /// The global number of a C function, if this thread has seen it.
    #[inline(always)]
    pub fn cfunc(&self, def: usize) -> Option<u32> {
        self.cfuncs.get(&def).copied()
    }

    pub fn remember_cfunc(&mut self, def: usize, id: u32) {
        self.cfuncs.insert(def, id);
    }

    /// A call of the function at local index `local` starts; the clock is read after the
    /// bookkeeping, so that is charged to the caller, as in cProfile.
    #[inline(always)]
    pub fn enter(
        &mut self,
        local: u32,
        is_c: bool,
        clock: impl FnOnce() -> u64,
        budget: &AtomicU64,
    ) {
        debug_assert!((local as usize) < self.funcs.len());
        // SAFETY: local indices only come from `local()`, which creates the entry.
        let f = unsafe { self.funcs.get_unchecked_mut(local as usize) };
        f.depth += 1;
        let mut edge = NONE;
        if self.subcalls {
            if let Some(top) = self.stack.last() {
                let caller = top.local;
                edge = if f.last_caller == caller {
                    f.last_edge
                } else {
                    self.edge(caller, local)
                };
                // SAFETY: edge indices come from `edge()`, which creates the entry.
                unsafe { self.edges.get_unchecked_mut(edge as usize) }.depth += 1;
            }
        }
        self.stack.push(Frame {
            local,
            edge,
            is_c,
            t0: 0,
            sub: 0,
        });
        let now = clock();
        // SAFETY: just pushed.
        unsafe { self.stack.last_mut().unwrap_unchecked() }.t0 = now;
        if let Some(tl) = self.timeline.as_deref_mut() {
            tl.open(budget, local, now, self.stack.len() - 1);
        }
    }

    /// The innermost call ends. A Python return with a C function on top (or the reverse) means
    /// the call began before tracing did, so it is ignored.
    #[inline(always)]
    pub fn leave(&mut self, now: u64, is_c: bool) {
        match self.stack.last() {
            Some(top) if top.is_c == is_c => {}
            _ => return,
        }
        let fr = self.stack.pop().unwrap();
        if let Some(tl) = self.timeline.as_deref_mut() {
            tl.close(fr.local, now, self.stack.len());
        }
        let tt = now.saturating_sub(fr.t0);
        let it = tt.saturating_sub(fr.sub);
        if let Some(parent) = self.stack.last_mut() {
            parent.sub += tt;
        }
        // SAFETY: frames hold indices created by `local()` and `edge()`.
        let f = unsafe { self.funcs.get_unchecked_mut(fr.local as usize) };
        count(&mut f.depth, &mut f.counts, tt, it);
        if fr.edge != NONE {
            let e = unsafe { self.edges.get_unchecked_mut(fr.edge as usize) };
            count(&mut e.depth, &mut e.counts, tt, it);
        }
    }

    /// Ends every call still open, as cProfile's `flush_unmatched` does when profiling stops.
    pub fn flush(&mut self, now: u64) {
        while let Some(top) = self.stack.last() {
            let is_c = top.is_c;
            self.leave(now, is_c);
        }
    }

    /// The counters, by global function number, without the profiler's own functions; the
    /// reference to the thread's `threading.Thread` passes to the result.
    pub fn data(&mut self, hidden: &dyn Fn(u32) -> bool) -> ThreadData {
        let funcs = self
            .funcs
            .iter()
            .filter(|f| f.counts.calls > 0 && !hidden(f.id))
            .map(|f| (f.id, f.counts))
            .collect();
        let edges = self
            .edges
            .iter()
            .filter(|e| e.counts.calls > 0)
            .map(|e| {
                (
                    self.funcs[e.caller as usize].id,
                    self.funcs[e.callee as usize].id,
                    e.counts,
                )
            })
            .filter(|(c, f, _)| !hidden(*c) && !hidden(*f))
            .collect();
        let timeline = self.timeline.as_deref().map(|tl| TimelineData {
            events: tl
                .events
                .iter()
                .map(|&(l, t)| (self.funcs[(l & !CLOSE) as usize].id, l & CLOSE == 0, t))
                .filter(|(id, _, _)| !hidden(*id))
                .collect(),
            truncated_at: tl.truncated_at,
            dropped: tl.dropped,
        });
        ThreadData {
            ident: self.ident,
            native_id: self.native_id,
            funcs,
            edges,
            timeline,
            pythread: std::mem::replace(&mut self.pythread, std::ptr::null_mut()),
        }
    }
}

#[inline(always)]
fn count(depth: &mut u32, c: &mut Counts, tt: u64, it: u64) {
    *depth -= 1;
    if *depth == 0 {
        c.total += tt;
    } else {
        c.recursive_calls += 1;
    }
    c.inline += it;
    c.calls += 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(events: &[(char, u32, u64)]) -> ThreadData {
        run_with(events, None)
    }

    /// Runs `events` (call of function id / return, tick), with a timeline of at most
    /// `timeline` calls when given.
    fn run_with(events: &[(char, u32, u64)], timeline: Option<u64>) -> ThreadData {
        let mut t = ThreadState::new(1, 1, true);
        let budget = AtomicU64::new(timeline.unwrap_or(0));
        if timeline.is_some() {
            t.record_timeline();
        }
        for &(e, id, now) in events {
            match e {
                'c' => {
                    let local = t.cache(id as usize * 16 + 16, id);
                    t.enter(local, false, || now, &budget);
                }
                'r' => t.leave(now, false),
                _ => unreachable!(),
            }
        }
        t.flush(1000);
        t.data(&|_| false)
    }

    #[test]
    fn recursion_counts_like_cprofile() {
        // main(0) -> fib(1) -> fib(1) -> fib(1); the fibs last 80, 40 and 10 ticks.
        let d = run(&[
            ('c', 0, 0),
            ('c', 1, 10),
            ('c', 1, 20),
            ('c', 1, 30),
            ('r', 0, 40),
            ('r', 0, 60),
            ('r', 0, 90),
            ('r', 0, 100),
        ]);
        let fib = d.funcs.iter().find(|f| f.0 == 1).unwrap().1;
        assert_eq!(
            fib,
            Counts {
                calls: 3,
                recursive_calls: 2,
                total: 80,
                inline: 80
            }
        );
        let main = d.funcs.iter().find(|f| f.0 == 0).unwrap().1;
        assert_eq!(
            main,
            Counts {
                calls: 1,
                recursive_calls: 0,
                total: 100,
                inline: 20
            }
        );
        let edge = |a, b| d.edges.iter().find(|e| e.0 == a && e.1 == b).unwrap().2;
        assert_eq!(
            edge(0, 1),
            Counts {
                calls: 1,
                recursive_calls: 0,
                total: 80,
                inline: 40
            }
        );
        assert_eq!(
            edge(1, 1),
            Counts {
                calls: 2,
                recursive_calls: 1,
                total: 40,
                inline: 40
            }
        );
    }

    #[test]
    fn returns_of_calls_begun_before_tracing_are_ignored_and_open_calls_flushed() {
        let d = run(&[('r', 0, 5), ('c', 2, 10), ('c', 3, 20)]);
        assert_eq!(d.funcs.len(), 2);
        let f2 = d.funcs.iter().find(|f| f.0 == 2).unwrap().1;
        assert_eq!(
            f2,
            Counts {
                calls: 1,
                recursive_calls: 0,
                total: 990,
                inline: 10
            }
        );
    }

    #[test]
    fn timeline_keeps_every_call_in_order() {
        let d = run_with(
            &[
                ('c', 0, 0),
                ('c', 1, 10),
                ('r', 0, 20),
                ('c', 2, 30),
                ('r', 0, 40),
            ],
            Some(100),
        );
        let tl = d.timeline.unwrap();
        assert_eq!(
            tl.events,
            vec![
                (0, true, 0),
                (1, true, 10),
                (1, false, 20),
                (2, true, 30),
                (2, false, 40),
                (0, false, 1000)
            ]
        );
        assert_eq!((tl.truncated_at, tl.dropped), (None, 0));
    }

    #[test]
    fn a_full_timeline_drops_later_calls_but_ends_the_kept_ones() {
        // Budget of 2 calls: main and f are kept; g (inside f) and h (after f) are dropped,
        // and f and main still end when they really end.
        let d = run_with(
            &[
                ('c', 0, 0),
                ('c', 1, 10),
                ('c', 2, 20),
                ('r', 0, 30),
                ('r', 0, 40),
                ('c', 3, 50),
                ('r', 0, 60),
            ],
            Some(2),
        );
        let tl = d.timeline.unwrap();
        assert_eq!(
            tl.events,
            vec![
                (0, true, 0),
                (1, true, 10),
                (1, false, 40),
                (0, false, 1000)
            ]
        );
        assert_eq!((tl.truncated_at, tl.dropped), (Some(20), 2));
        // The counts are not affected by the timeline's bound.
        assert_eq!(d.funcs.len(), 4);
    }
}
