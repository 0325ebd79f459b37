//! "Your code first": every profile's time charged to the nearest frame of the user's own code.
//!
//! A slow Django view spends 98 % of its time in the database driver, under 23 frames of
//! gunicorn and Django that all sit near 100 % cumulative; the function to change is the
//! user's own one that made the call. So each sample (or each traced nanosecond) is charged to
//! the deepest frame on its stack that is the user's code, and the user's functions are ranked
//! by that: their own time plus the library, stdlib and built-in code they called. Time with no
//! user frame on the stack (server loops, start-up) is counted apart.

use std::collections::hash_map::Entry;
use std::fmt::Write as _;

use dziura_model::{CallGraph, CallTimeline, FuncKey, Profile, Samples};
use rustc_hash::FxHashMap;

/// Where a function's code comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The user's code: not installed, not the standard library, not built in.
    Own,
    /// An installed package (site-packages, dist-packages).
    Library,
    /// The standard library, frozen modules.
    Stdlib,
    /// C functions (`{built-in method ...}`).
    Builtin,
}

/// Tells the user's code from the rest.
#[derive(Clone, Debug, Default)]
pub struct Classifier {
    /// Directories that hold the user's code (`--own`, `DZIURA_OWN`): when given, only files
    /// under them are the user's.
    own: Vec<String>,
    /// Directories known to hold installed or standard library code (the interpreter's own
    /// prefixes, when the profile was made by this Python).
    library: Vec<String>,
}

impl Classifier {
    /// `own`: directories of the user's code (empty: anything not a library); `library`: the
    /// reading interpreter's library directories, beside the markers every Python's paths carry.
    pub fn new(own: &[String], library: &[String]) -> Classifier {
        let dir = |d: &String| {
            let mut d = d.trim_end_matches('/').to_string();
            d.push('/');
            d
        };
        Classifier {
            own: own.iter().filter(|d| !d.is_empty()).map(dir).collect(),
            library: library.iter().filter(|d| !d.is_empty()).map(dir).collect(),
        }
    }

    /// The directories of `DZIURA_OWN` (separated by `:`), then `extra`.
    pub fn own_from_env(extra: &[String]) -> Vec<String> {
        let mut own: Vec<String> = std::env::var("DZIURA_OWN")
            .unwrap_or_default()
            .split(':')
            .filter(|d| !d.is_empty())
            .map(str::to_string)
            .collect();
        own.extend(extra.iter().cloned());
        own
    }

    pub fn origin(&self, key: &FuncKey) -> Origin {
        let f = key.file.as_str();
        if key.is_builtin() || f == "~" {
            return Origin::Builtin;
        }
        if f.contains("/site-packages/") || f.contains("/dist-packages/") {
            return Origin::Library;
        }
        if f.starts_with("<frozen ") || looks_like_stdlib(f) {
            return Origin::Stdlib;
        }
        if !self.own.is_empty() {
            return if self.own.iter().any(|d| f.starts_with(d.as_str())) {
                Origin::Own
            } else {
                Origin::Library
            };
        }
        if self.library.iter().any(|d| f.starts_with(d.as_str())) {
            return Origin::Stdlib;
        }
        Origin::Own
    }

    pub fn is_own(&self, key: &FuncKey) -> bool {
        self.origin(key) == Origin::Own
    }
}

/// A path inside some Python's standard library: `.../lib/python3.12/...` (or `python3.13t`).
pub fn looks_like_stdlib(f: &str) -> bool {
    stdlib_rest(f).is_some()
}

/// The part of a standard library path after `lib/pythonX.Y/`.
fn stdlib_rest(f: &str) -> Option<&str> {
    f.match_indices("/lib/python").find_map(|(i, m)| {
        let rest = &f[i + m.len()..];
        let ver = rest
            .bytes()
            .take_while(|c| c.is_ascii_digit() || *c == b'.')
            .count();
        let after = &rest[ver..];
        let after = after.strip_prefix('t').unwrap_or(after);
        (rest[..ver].contains('.') && after.starts_with('/')).then(|| &after[1..])
    })
}

/// A file as people name it: relative to its site-packages (`django/db/models/query.py`), to
/// the standard library (`json/decoder.py`), or to `root` (the project directory) when under
/// it; else whole. The same rule in every view, so `base.py` of one package is never confused
/// with another's.
pub fn short_path<'a>(file: &'a str, root: &str) -> &'a str {
    for marker in ["/site-packages/", "/dist-packages/"] {
        if let Some(i) = file.rfind(marker) {
            return &file[i + marker.len()..];
        }
    }
    if let Some(rest) = stdlib_rest(file) {
        return rest;
    }
    let root = root.trim_end_matches('/');
    if !root.is_empty() {
        if let Some(rest) = file.strip_prefix(root).and_then(|r| r.strip_prefix('/')) {
            return rest;
        }
    }
    file
}

/// One of the user's functions, with the time it is responsible for.
#[derive(Clone, Debug, PartialEq)]
pub struct OwnRow {
    pub key: FuncKey,
    /// Seconds in this function itself and in the non-user code it called (charged to the
    /// deepest user frame, so every second is counted once across the rows).
    pub charged: f64,
    /// Seconds with this function anywhere on the stack (its cumulative time).
    pub total: f64,
    /// The non-user function where most of `charged` was spent outside this function itself.
    pub mostly_in: Option<(FuncKey, f64)>,
}

/// The user's functions ranked by the time they are responsible for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ranking {
    /// Biggest `charged` first.
    pub rows: Vec<OwnRow>,
    /// Seconds of the whole profile.
    pub total: f64,
    /// Seconds with no user frame on the stack.
    pub outside: f64,
    /// What the numbers are: "seconds" (traced) or "seconds of samples".
    pub exact: bool,
}

#[derive(Default)]
struct Acc {
    charged: f64,
    total: f64,
    mostly_in: FxHashMap<usize, f64>,
}

/// Builds the rows from per-function accumulators keyed by an index into `keys`.
fn finish(
    acc: FxHashMap<usize, Acc>,
    key: &dyn Fn(usize) -> FuncKey,
    total: f64,
    outside: f64,
    exact: bool,
) -> Ranking {
    let mut rows: Vec<OwnRow> = acc
        .into_iter()
        .map(|(i, a)| OwnRow {
            key: key(i),
            charged: a.charged,
            total: a.total,
            mostly_in: a
                .mostly_in
                .into_iter()
                .max_by(|x, y| x.1.total_cmp(&y.1).then(y.0.cmp(&x.0)))
                .map(|(j, t)| (key(j), t)),
        })
        .collect();
    rows.sort_by(|a, b| {
        b.charged
            .total_cmp(&a.charged)
            .then_with(|| b.total.total_cmp(&a.total))
            .then_with(|| a.key.cmp(&b.key))
    });
    Ranking {
        rows,
        total,
        outside,
        exact,
    }
}

/// The ranking of a sampled profile (of one thread, or all): each sample weighs the interval.
pub fn from_samples(samples: &Samples, thread: Option<usize>, c: &Classifier) -> Ranking {
    let own: Vec<bool> = samples.frames.iter().map(|f| c.is_own(&f.func)).collect();
    // Frames of one function share its row.
    let func = samples.function_of_frames();
    let mut acc: FxHashMap<usize, Acc> = FxHashMap::default();
    let (mut total, mut outside) = (0.0, 0.0);
    let mut seen: Vec<usize> = Vec::new();
    for st in &samples.stacks {
        if thread.is_some_and(|t| t != st.thread) || st.count == 0 {
            continue;
        }
        let w = st.count as f64 * samples.interval;
        total += w;
        let deepest = st.frames.iter().rposition(|&f| own[f as usize]);
        let Some(d) = deepest else {
            outside += w;
            continue;
        };
        let owner = func[st.frames[d] as usize];
        let a = acc.entry(owner).or_default();
        a.charged += w;
        let leaf = *st
            .frames
            .last()
            .expect("a stack with an own frame has a leaf") as usize;
        if func[leaf] != owner && !own[leaf] {
            *a.mostly_in.entry(func[leaf]).or_default() += w;
        }
        seen.clear();
        for &f in st.frames.iter().filter(|&&f| own[f as usize]) {
            let f = func[f as usize];
            if !seen.contains(&f) {
                seen.push(f);
                acc.entry(f).or_default().total += w;
            }
        }
    }
    let key = |i: usize| samples.frames[i].func.clone();
    finish(acc, &key, total, outside, false)
}

/// The ranking of a traced timeline (exact): the time between two events is charged to the
/// deepest user call open then.
pub fn from_timeline(calls: &CallTimeline, thread: Option<usize>, c: &Classifier) -> Ranking {
    let own: Vec<bool> = calls.funcs.iter().map(|f| c.is_own(f)).collect();
    let mut acc: FxHashMap<usize, Acc> = FxHashMap::default();
    let (mut total, mut outside) = (0.0, 0.0);
    for tc in calls
        .threads
        .iter()
        .filter(|t| thread.is_none_or(|n| n == t.thread))
    {
        // Open calls: (function, start ns); the open user calls, as indices into `open`.
        let mut open: Vec<(usize, u64)> = Vec::new();
        let mut own_open: Vec<usize> = Vec::new();
        // How many calls of each user function are open (its outermost one counts its total).
        let mut depth: FxHashMap<usize, u32> = FxHashMap::default();
        let mut last = tc.events.first().map_or(0, |e| e.time_ns);
        for e in &tc.events {
            let dt = e.time_ns.saturating_sub(last) as f64 * 1e-9;
            last = e.time_ns;
            if !open.is_empty() {
                total += dt;
                match own_open.last() {
                    Some(&o) => {
                        let owner = open[o].0;
                        let a = acc.entry(owner).or_default();
                        a.charged += dt;
                        let top = open.last().expect("not empty").0;
                        if !own[top] {
                            *a.mostly_in.entry(top).or_default() += dt;
                        }
                    }
                    None => outside += dt,
                }
            }
            let f = e.func as usize;
            if e.open {
                if own[f] {
                    own_open.push(open.len());
                    *depth.entry(f).or_default() += 1;
                }
                open.push((f, e.time_ns));
            } else if let Some((g, start)) = open.pop() {
                if own[g] {
                    own_open.pop();
                    if let Entry::Occupied(mut d) = depth.entry(g) {
                        *d.get_mut() -= 1;
                        if *d.get() == 0 {
                            d.remove();
                            acc.entry(g).or_default().total +=
                                e.time_ns.saturating_sub(start) as f64 * 1e-9;
                        }
                    }
                }
            }
        }
    }
    let key = |i: usize| calls.funcs[i].clone();
    finish(acc, &key, total, outside, true)
}

/// The ranking of a traced profile without a timeline, from its caller→callee totals: a user
/// function is charged its own time and the cumulative time of the non-user functions it
/// calls directly (what those call back into the user's code is then counted twice, so these
/// rows can add up to more than the run).
pub fn from_edges(graph: &CallGraph, c: &Classifier) -> Ranking {
    let own: Vec<bool> = graph.iter().map(|(_, k, _)| c.is_own(k)).collect();
    let callees = graph.callees();
    let mut acc: FxHashMap<usize, Acc> = FxHashMap::default();
    let (_, _, total) = graph.totals();
    for (i, _, s) in graph.iter() {
        if !own[i] {
            continue;
        }
        let a = acc.entry(i).or_default();
        a.charged = s.total.own_time;
        a.total = s.total.cum_time;
        for (callee, e) in &callees[i] {
            if !own[*callee] {
                a.charged += e.cum_time;
                *a.mostly_in.entry(*callee).or_default() += e.cum_time;
            }
        }
    }
    let charged: f64 = acc.values().map(|a| a.charged).sum();
    let key = |i: usize| graph.key(i).clone();
    finish(acc, &key, total, (total - charged).max(0.0), true)
}

/// The ranking of any profile: from its samples, else its traced timeline, else its edges.
pub fn rank(profile: &Profile, thread: Option<usize>, c: &Classifier) -> Ranking {
    if let Some(s) = profile.samples.as_ref().filter(|_| profile.is_sampled()) {
        return from_samples(s, thread, c);
    }
    if let Some(calls) = profile.traced_calls() {
        return from_timeline(calls, thread, c);
    }
    let graph = match thread {
        Some(t) => profile
            .threads
            .get(t)
            .map(|t| t.graph.clone())
            .unwrap_or_default(),
        None => profile.merged(),
    };
    from_edges(&graph, c)
}

/// How the ranking is printed.
#[derive(Clone, Debug)]
pub struct RenderOptions {
    /// Rows shown (the rest are counted).
    pub limit: usize,
    /// Paths are shown relative to this directory when under it.
    pub root: String,
    /// The line that says how to see every function (`--all`, a key in `top`).
    pub full_view_hint: String,
}

fn label(k: &FuncKey, root: &str) -> String {
    if k.is_builtin() {
        k.to_string()
    } else {
        format!("{} ({}:{})", k.name, short_path(&k.file, root), k.line)
    }
}

/// The ranking as text: a header, one line per user function, and where the rest of the time
/// went.
pub fn render(r: &Ranking, o: &RenderOptions) -> String {
    let mut out = String::new();
    let pct = |x: f64| {
        if r.total > 0.0 {
            100.0 * x / r.total
        } else {
            0.0
        }
    };
    let what = if r.exact { "s" } else { "s (sampled)" };
    let _ = writeln!(
        out,
        "Your code first: each of your functions with the time spent in it and in the library, stdlib \
         and built-in code it called ({:.3} {what} in all; {})",
        r.total, o.full_view_hint
    );
    if r.rows.is_empty() {
        out.push_str("  (no frame of your code in this profile: every function is library, stdlib or built-in code)\n");
        return out;
    }
    let _ = writeln!(
        out,
        "  charged   share    total  function (file:line)  [mostly in]"
    );
    for row in r.rows.iter().take(o.limit) {
        let _ = write!(
            out,
            "  {:7.3} {:6.1}%  {:7.3}  {}",
            row.charged,
            pct(row.charged),
            row.total,
            label(&row.key, &o.root)
        );
        if let Some((k, t)) = &row.mostly_in {
            if row.charged > 0.0 && t / row.charged >= 0.05 {
                let _ = write!(
                    out,
                    "  [{:.0}% in {}]",
                    100.0 * t / row.charged,
                    label(k, &o.root)
                );
            }
        }
        out.push('\n');
    }
    if r.rows.len() > o.limit {
        let rest: f64 = r.rows[o.limit..].iter().map(|x| x.charged).sum();
        let _ = writeln!(
            out,
            "  ... {} more of your functions: {:.3} s ({:.1}%)",
            r.rows.len() - o.limit,
            rest,
            pct(rest)
        );
    }
    if r.outside > 0.0 {
        let _ = writeln!(
            out,
            "  {:7.3} {:6.1}%           outside your code (no frame of yours on the stack: start-up, server loops, other threads)",
            r.outside,
            pct(r.outside)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use dziura_model::{CallEvent, CallStats, Frame, ThreadCalls};

    fn app(name: &str, line: u32) -> FuncKey {
        FuncKey::python("/srv/app/views.py", line, name)
    }

    fn lib(name: &str) -> FuncKey {
        FuncKey::python(
            "/srv/venv/lib/python3.12/site-packages/django/db/backends/sqlite3/base.py",
            354,
            name,
        )
    }

    fn gunicorn() -> FuncKey {
        FuncKey::python(
            "/srv/venv/lib/python3.12/site-packages/gunicorn/workers/sync.py",
            10,
            "run",
        )
    }

    #[test]
    fn origins_and_short_paths() {
        let c = Classifier::new(&[], &["/usr/lib/python3.12".into()]);
        assert_eq!(c.origin(&app("v", 1)), Origin::Own);
        assert_eq!(c.origin(&lib("execute")), Origin::Library);
        assert_eq!(
            c.origin(&FuncKey::python(
                "/usr/lib/python3.13t/json/decoder.py",
                1,
                "decode"
            )),
            Origin::Stdlib
        );
        assert_eq!(
            c.origin(&FuncKey::python("<frozen os>", 1, "f")),
            Origin::Stdlib
        );
        assert_eq!(
            c.origin(&FuncKey::builtin("<built-in method len>")),
            Origin::Builtin
        );
        let mine = Classifier::new(&["/srv/app".into()], &[]);
        assert_eq!(
            mine.origin(&FuncKey::python("/opt/vendored/x.py", 1, "f")),
            Origin::Library
        );
        assert_eq!(mine.origin(&app("v", 1)), Origin::Own);
        assert_eq!(
            short_path(&lib("x").file, "/srv"),
            "django/db/backends/sqlite3/base.py"
        );
        assert_eq!(
            short_path("/usr/lib/python3.12/json/decoder.py", "/"),
            "json/decoder.py"
        );
        assert_eq!(short_path("/srv/app/views.py", "/srv"), "app/views.py");
        assert_eq!(short_path("/other/x.py", "/srv"), "/other/x.py");
    }

    #[test]
    fn samples_are_charged_to_the_deepest_own_frame() {
        let c = Classifier::default();
        let mut s = Samples::new(0.01);
        let f = |s: &mut Samples, k: FuncKey| {
            s.frame(&Frame {
                line: k.line,
                func: k,
            })
        };
        let (g, view, check, exec) = (
            f(&mut s, gunicorn()),
            f(&mut s, app("view", 10)),
            f(&mut s, app("check_rate", 20)),
            f(&mut s, lib("execute")),
        );
        s.add(0, &[g, view, check, exec], 90);
        s.add(0, &[g, view], 8);
        s.add(0, &[g], 2);
        let r = from_samples(&s, None, &c);
        assert_eq!(r.rows[0].key.name, "check_rate");
        assert!((r.rows[0].charged - 0.9).abs() < 1e-9);
        assert!((r.rows[0].mostly_in.as_ref().unwrap().1 - 0.9).abs() < 1e-9);
        assert_eq!(r.rows[1].key.name, "view");
        assert!((r.rows[1].charged - 0.08).abs() < 1e-9);
        assert!((r.rows[1].total - 0.98).abs() < 1e-9);
        assert!((r.outside - 0.02).abs() < 1e-9);
        assert!((r.total - 1.0).abs() < 1e-9);
        let text = render(
            &r,
            &RenderOptions {
                limit: 10,
                root: "/srv".into(),
                full_view_hint: "--all shows every function".into(),
            },
        );
        let first = text.lines().nth(2).unwrap();
        assert!(first.contains("check_rate (app/views.py:20)"), "{text}");
        assert!(
            first.contains("[100% in execute (django/db/backends/sqlite3/base.py:354)]"),
            "{text}"
        );
    }

    #[test]
    fn timeline_is_charged_exactly_and_recursion_counted_once() {
        let c = Classifier::default();
        let ev = |func, open, t| CallEvent {
            func,
            open,
            time_ns: t,
        };
        // view(0..100) calls view(10..90) which calls execute(20..80).
        let calls = CallTimeline {
            funcs: vec![app("view", 1), lib("execute")],
            threads: vec![ThreadCalls {
                thread: 0,
                events: vec![
                    ev(0, true, 0),
                    ev(0, true, 10),
                    ev(1, true, 20),
                    ev(1, false, 80),
                    ev(0, false, 90),
                    ev(0, false, 100),
                ],
            }],
            ..Default::default()
        };
        let r = from_timeline(&calls, None, &c);
        assert_eq!(r.rows.len(), 1);
        assert!((r.rows[0].charged - 100e-9).abs() < 1e-15);
        assert!((r.rows[0].total - 100e-9).abs() < 1e-15);
        assert!((r.rows[0].mostly_in.as_ref().unwrap().1 - 60e-9).abs() < 1e-15);
    }

    #[test]
    fn edges_charge_library_callees() {
        let c = Classifier::default();
        let mut g = CallGraph::new();
        let st = |own_time, cum_time| CallStats {
            calls: 1,
            primitive_calls: 1,
            own_time,
            cum_time,
        };
        g.add_total(&app("view", 1), &st(0.1, 1.0));
        g.add_total(&lib("execute"), &st(0.9, 0.9));
        g.add_edge(&app("view", 1), &lib("execute"), &st(0.9, 0.9));
        let r = from_edges(&g, &c);
        assert_eq!(r.rows[0].key.name, "view");
        assert!((r.rows[0].charged - 1.0).abs() < 1e-9);
    }
}
