//! Profiles shaped like real ones, shared by the writers' tests.

use dziura_model::{
    CallEvent, CallGraph, CallStats, CallTimeline, Frame, FuncKey, Metadata, Profile, Samples,
    ThreadCalls, ThreadProfile, TimedSample,
};

pub fn main_fn() -> FuncKey {
    FuncKey::python("/app/main.py", 1, "main")
}

pub fn fib() -> FuncKey {
    FuncKey::python("/app/main.py", 10, "fib")
}

pub fn worker() -> FuncKey {
    FuncKey::python("/app/my dir/work.py", 5, "worker")
}

/// A name with every character some format must escape.
pub fn odd() -> FuncKey {
    FuncKey::python("/app/my dir/work.py", 20, "odd;name <&> \"q\" 'x'")
}

pub fn sleep() -> FuncKey {
    FuncKey::builtin("<built-in method time.sleep>")
}

pub fn len() -> FuncKey {
    FuncKey::builtin("<built-in method builtins.len>")
}

pub fn method() -> FuncKey {
    FuncKey::builtin("<method 'a;b' of \"x&y\" objects>")
}

fn thread(ident: u64, native_id: u64, name: &str, graph: CallGraph) -> ThreadProfile {
    ThreadProfile {
        ident,
        native_id,
        name: name.into(),
        graph,
    }
}

fn meta(mode: &str) -> Metadata {
    Metadata {
        python_version: "3.13.1".into(),
        command: vec!["app.py".into(), "--fast".into()],
        start_time: 1_700_000_000.25,
        duration: 0.1,
        host: "box".into(),
        mode: mode.into(),
    }
}

/// Two threads sampled every 10 ms with a timeline: recursion in `fib`, a C call, a gap in the
/// main thread (it was off the CPU) and a function whose name needs escaping.
pub fn sampled() -> Profile {
    let mut s = Samples::new(0.01);
    let at = |s: &mut Samples, f: FuncKey, line| s.frame(&Frame { func: f, line });
    let m3 = at(&mut s, main_fn(), 3);
    let m4 = at(&mut s, main_fn(), 4);
    let f12 = at(&mut s, fib(), 12);
    let f13 = at(&mut s, fib(), 13);
    let sl = at(&mut s, sleep(), 0);
    let ln = at(&mut s, len(), 0);
    let w7 = at(&mut s, worker(), 7);
    let od = at(&mut s, odd(), 21);
    let timeline: [(usize, &[u32], f64); 11] = [
        (0, &[m3, f12], 0.0),
        (1, &[w7, od], 0.005),
        (0, &[m3, f12, f13], 0.01),
        (1, &[w7, od], 0.015),
        (0, &[m3, f12, f13], 0.02),
        (1, &[w7], 0.025),
        (0, &[m3, f12], 0.03),
        (1, &[w7, sl], 0.035),
        (0, &[m4, sl], 0.04),
        (0, &[m4, sl], 0.05),
        (0, &[m4, ln], 0.09),
    ];
    for (t, frames, time) in timeline {
        let stack = s.add(t, frames, 1);
        s.timeline.push(TimedSample { time, stack });
    }
    Profile {
        threads: vec![
            thread(140001, 1001, "MainThread", CallGraph::new()),
            thread(140002, 1002, "Worker-1", CallGraph::new()),
        ],
        meta: meta("sampling"),
        samples: Some(s),
        calls: None,
    }
}

/// The same kind of profile without a timeline (only stack counts kept).
pub fn sampled_counts() -> Profile {
    let mut p = sampled();
    if let Some(s) = p.samples.as_mut() {
        s.timeline.clear();
    }
    p
}

fn st(calls: u64, primitive_calls: u64, own_time: f64, cum_time: f64) -> CallStats {
    CallStats {
        calls,
        primitive_calls,
        own_time,
        cum_time,
    }
}

/// A traced program: `main` calls recursive `fib`, both call `len`, `main` calls a C method
/// whose name needs escaping; a worker thread calls `len` too.
pub fn traced() -> Profile {
    let mut g = CallGraph::new();
    g.add_total(&main_fn(), &st(1, 1, 0.1, 1.0));
    g.add_total(&fib(), &st(15, 1, 0.6, 0.8));
    g.add_total(&len(), &st(20, 20, 0.2, 0.2));
    g.add_total(&method(), &st(1, 1, 0.1, 0.1));
    g.add_edge(&main_fn(), &fib(), &st(1, 1, 0.05, 0.8));
    g.add_edge(&fib(), &fib(), &st(14, 0, 0.55, 0.75));
    g.add_edge(&main_fn(), &len(), &st(5, 5, 0.05, 0.05));
    g.add_edge(&fib(), &len(), &st(15, 15, 0.15, 0.15));
    g.add_edge(&main_fn(), &method(), &st(1, 1, 0.1, 0.1));
    let mut w = CallGraph::new();
    w.add_total(&worker(), &st(1, 1, 0.3, 0.5));
    w.add_total(&len(), &st(3, 3, 0.2, 0.2));
    w.add_edge(&worker(), &len(), &st(3, 3, 0.2, 0.2));
    Profile {
        threads: vec![
            thread(140001, 1001, "MainThread", g),
            thread(140002, 1002, "Worker-1", w),
        ],
        meta: meta("tracing"),
        samples: None,
        calls: None,
    }
}

/// [`traced`] with its call timeline (ns): main [0, 1000] calls fib [100, 600] which recurses
/// into fib [200, 300] and calls len [400, 450]; the worker calls the oddly named function
/// [50, 80]. With `truncated`, the buffer filled at 500 and 7 calls were dropped.
pub fn timed(truncated: bool) -> Profile {
    let ev = |time_ns, func, open| CallEvent {
        time_ns,
        func,
        open,
    };
    Profile {
        calls: Some(CallTimeline {
            funcs: vec![main_fn(), fib(), len(), odd()],
            threads: vec![
                ThreadCalls {
                    thread: 0,
                    events: vec![
                        ev(0, 0, true),
                        ev(100, 1, true),
                        ev(200, 1, true),
                        ev(300, 1, false),
                        ev(400, 2, true),
                        ev(450, 2, false),
                        ev(600, 1, false),
                        ev(1000, 0, false),
                    ],
                },
                ThreadCalls {
                    thread: 1,
                    events: vec![ev(50, 3, true), ev(80, 3, false)],
                },
            ],
            truncated_at_ns: truncated.then_some(500),
            dropped_calls: if truncated { 7 } else { 0 },
        }),
        ..traced()
    }
}
