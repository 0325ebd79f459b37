//! `dziura convert` and `dziura show`: saved profiles (dziura or pstats files) converted to
//! another format, or printed as the cProfile table or as a call tree.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::Args;
use dziura_formats::{Format, WriteOptions};
use dziura_model::{FuncKey, Profile};
use pyo3::prelude::*;

use crate::cli::Fail;
use crate::views;

#[derive(Args, Debug)]
pub struct ConvertArgs {
    /// The profile to read (a dziura or pstats file)
    input: PathBuf,
    /// Where to write
    #[arg(short, long)]
    output: PathBuf,
    /// Output format (default: from the extension of -o)
    #[arg(short, long)]
    format: Option<String>,
    /// The table's sort key, as pstats takes it (default cumulative; tottime for a sampled
    /// profile)
    #[arg(short, long)]
    sort: Option<String>,
    /// A directory of your own code, for the table's "your code first" (repeatable; also
    /// DZIURA_OWN)
    #[arg(long, value_name = "DIR")]
    own: Vec<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ShowArgs {
    /// The profile to print (a dziura file, or a pstats file from dziura or cProfile)
    file: PathBuf,
    #[command(flatten)]
    view: crate::cli::ViewArgs,
    /// Print a call tree (with percentages and times) instead of the table
    #[arg(long)]
    tree: bool,
    /// In the tree, also show library, standard library and built-in frames
    #[arg(long)]
    all: bool,
    /// In the tree, leave out calls below this share of the total time (percent)
    #[arg(long, value_name = "PERCENT", default_value_t = 1.0, value_parser = percent)]
    min_percent: f64,
    /// A directory of your own code (repeatable; also DZIURA_OWN=DIR:DIR): only code there is
    /// yours, for "your code first" and the tree (default: anything not installed or stdlib)
    #[arg(long, value_name = "DIR")]
    own: Vec<PathBuf>,
}

fn percent(s: &str) -> Result<f64, String> {
    crate::sampling_cli::bounded(s, 0.0, true, 100.0, "percent")
}

/// Reads a saved profile, with one-line errors.
pub(crate) fn load(path: &Path) -> Result<Profile, Fail> {
    dziura_file::load(path).map_err(|e| Fail(1, format!("cannot read '{}': {e}", path.display())))
}

pub fn convert(py: Python<'_>, args: ConvertArgs) -> Result<i32, Fail> {
    let format = Format::choose(args.format.as_deref(), Some(&args.output), None)
        .map_err(|e| Fail(2, e.to_string()))?;
    let sort = args
        .sort
        .as_deref()
        .map(crate::cli::sort_option)
        .transpose()?;
    let profile = load(&args.input)?;
    let mut opts = WriteOptions {
        own: crate::views::own_options(py, &args.own)?,
        ..Default::default()
    };
    opts.table.sort = Some(sort.unwrap_or_else(|| dziura_formats::default_sort(&profile)));
    let bytes = dziura_formats::write(&profile, format, &opts)
        .map_err(|e| Fail(1, format!("cannot convert '{}': {e}", args.input.display())))?;
    std::fs::write(&args.output, bytes)
        .map_err(|e| Fail(1, format!("cannot write '{}': {e}", args.output.display())))?;
    Ok(0)
}

pub fn show(py: Python<'_>, args: ShowArgs) -> Result<i32, Fail> {
    let report = crate::cli::report(&args.view, false)?;
    let profile = load(&args.file)?;
    if args.tree {
        let own = crate::views::own_options(py, &args.own)?.classifier;
        let opts = TreeOptions {
            all: args.all,
            min_share: (args.min_percent / 100.0).max(0.0),
            color: colour_wanted(py),
        };
        views::write_stdout(py, &tree(&profile, &opts, &|k| !own.is_own(k)))?;
        return Ok(0);
    }
    let mut report = report;
    if args.view.sort.is_none() {
        report.opts.sort = Some(dziura_formats::default_sort(&profile));
    }
    // The table `convert -f table` writes for the same file, then the callers/callees asked for.
    let own = crate::views::own_options(py, &args.own)?;
    let mut text = dziura_formats::table(&profile, &report.opts, &own);
    text.push_str(&views::relations(
        &dziura_formats::relative_graph(
            &dziura_formats::call_graph(&profile, None),
            &own.render.root,
        ),
        &report,
    ));
    views::write_stdout(py, &text)?;
    Ok(0)
}

/// Colour when `sys.stdout` is a terminal and `NO_COLOR` is not set.
fn colour_wanted(py: Python<'_>) -> bool {
    if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
        return false;
    }
    py.import("sys")
        .and_then(|s| s.getattr("stdout"))
        .and_then(|o| o.call_method0("isatty"))
        .and_then(|t| t.extract::<bool>())
        .unwrap_or(false)
}

struct TreeOptions {
    all: bool,
    min_share: f64,
    color: bool,
}

/// One node of the printed tree.
struct Node {
    key: FuncKey,
    /// Seconds (tracing) or samples (sampling) spent here and below.
    value: f64,
    /// Marked when this call re-enters a function already on the path (tracing).
    recursive: bool,
    children: Vec<Node>,
}

impl Node {
    fn new(key: FuncKey, value: f64) -> Self {
        Node {
            key,
            value,
            recursive: false,
            children: Vec::new(),
        }
    }

    fn child(&mut self, key: &FuncKey) -> &mut Node {
        let i = match self.children.iter().position(|c| &c.key == key) {
            Some(i) => i,
            None => {
                self.children.push(Node::new(key.clone(), 0.0));
                self.children.len() - 1
            }
        };
        &mut self.children[i]
    }
}

const MAX_LINES: usize = 5000;
/// The deepest level printed: each level indents by three columns, so without a limit a
/// 10,000-deep recursion printed 5,000 lines of up to 30,000 columns (37 MB).
const MAX_DEPTH: usize = 100;

/// The call tree as text: from the stacks for a sampled profile and from the timeline for a
/// traced one that has it (both exact), else from the caller→callee edges.
fn tree(profile: &Profile, opts: &TreeOptions, is_lib: &dyn Fn(&FuncKey) -> bool) -> String {
    let visible = |k: &FuncKey| opts.all || !is_lib(k);
    let hidden_note = if opts.all {
        String::new()
    } else {
        "; library, stdlib and built-in frames hidden (--all shows them)".into()
    };
    let mut out = String::new();
    let (root, unit) = match (&profile.samples, profile.traced_calls()) {
        (_, Some(calls)) => {
            // Every call's own duration lands on its path of visible functions: exact.
            let mut root = Node::new(FuncKey::python("", 0, "<root>"), 0.0);
            for tc in &calls.threads {
                // (function, start ns) of each open call
                let mut open: Vec<(u32, u64)> = Vec::new();
                for e in &tc.events {
                    if e.open {
                        open.push((e.func, e.time_ns));
                        continue;
                    }
                    let Some((f, start)) = open.pop() else {
                        continue;
                    };
                    let took = (e.time_ns - start) as f64;
                    if open.is_empty() {
                        root.value += took;
                    }
                    if !visible(&calls.funcs[f as usize]) {
                        continue;
                    }
                    let mut node = &mut root;
                    for &(g, _) in &open {
                        let key = &calls.funcs[g as usize];
                        if visible(key) {
                            node = node.child(key);
                        }
                    }
                    node.child(&calls.funcs[f as usize]).value += took;
                }
            }
            let _ = writeln!(
                out,
                "Call tree of a traced timeline: {} calls, {:.3} s in all{hidden_note}",
                calls.calls(),
                root.value * 1e-9
            );
            (root, 1e-9)
        }
        (Some(s), _) => {
            let mut root = Node::new(FuncKey::python("", 0, "<root>"), 0.0);
            for st in &s.stacks {
                let n = st.count as f64;
                root.value += n;
                let mut node = &mut root;
                for &fi in &st.frames {
                    let key = &s.frames[fi as usize].func;
                    if !visible(key) {
                        continue;
                    }
                    node = node.child(key);
                    node.value += n;
                }
            }
            let _ = writeln!(
                out,
                "Call tree of a sampled profile: {} samples, every {:.3} ms, {:.3} s in all{hidden_note}",
                s.total(),
                s.interval * 1000.0,
                s.total() as f64 * s.interval
            );
            (root, s.interval)
        }
        (None, None) => {
            let g = profile.merged();
            let callees = g.callees();
            let mut roots: Vec<usize> = (0..g.len())
                .filter(|&i| g.stats(i).callers.is_empty())
                .collect();
            if roots.is_empty() && !g.is_empty() {
                // Everything is called from something (a cycle at the top): start at the
                // function with the most cumulative time.
                let best = (0..g.len())
                    .max_by(|&a, &b| {
                        g.stats(a)
                            .total
                            .cum_time
                            .total_cmp(&g.stats(b).total.cum_time)
                    })
                    .expect("not empty");
                roots.push(best);
            }
            let total: f64 = roots.iter().map(|&r| g.stats(r).total.cum_time).sum();
            let mut walk = TracedWalk {
                g: &g,
                callees: callees
                    .iter()
                    .map(|cs| {
                        let mut v: Vec<(usize, f64)> =
                            cs.iter().map(|(c, e)| (*c, e.cum_time)).collect();
                        v.sort_by(|a, b| b.1.total_cmp(&a.1));
                        v
                    })
                    .collect(),
                visible: &visible,
                min_value: total * opts.min_share,
                path: Vec::new(),
                budget: MAX_LINES * 4,
            };
            let mut root = Node::new(FuncKey::python("", 0, "<root>"), 0.0);
            for r in roots {
                let cum = g.stats(r).total.cum_time;
                root.value += cum;
                walk.add(r, cum, &mut root);
            }
            let _ = writeln!(
                out,
                "Call tree of a traced profile, built from caller→callee totals (a call's time is that edge's cumulative time over the whole run, not per path): {:.3} s in all{hidden_note}",
                root.value
            );
            (root, 1.0)
        }
    };
    let total = root.value;
    let mut children: Vec<&Node> = root.children.iter().collect();
    children.sort_by(|a, b| b.value.total_cmp(&a.value));
    let mut lines = 0usize;
    let mut shown = false;
    for c in children {
        if total > 0.0 && c.value / total < opts.min_share {
            continue;
        }
        shown = true;
        print_node(c, total, unit, opts, "", "", &mut out, &mut lines);
    }
    if !shown {
        out.push_str("(nothing to show: no calls above the --min-percent share");
        out.push_str(if opts.all { ")\n" } else { "; try --all)\n" });
    }
    if lines > MAX_LINES {
        let _ = writeln!(
            out,
            "... tree cut at {MAX_LINES} lines; raise --min-percent to see the rest"
        );
    }
    out
}

/// Walks the call graph for the tree of a traced profile.
struct TracedWalk<'a> {
    g: &'a dziura_model::CallGraph,
    /// Each function's callees, biggest edge first.
    callees: Vec<Vec<(usize, f64)>>,
    visible: &'a dyn Fn(&FuncKey) -> bool,
    /// Calls below this many seconds are not followed.
    min_value: f64,
    /// Functions on the current path, hidden ones included.
    path: Vec<usize>,
    /// Nodes still allowed: a guard against graphs whose paths multiply.
    budget: usize,
}

impl TracedWalk<'_> {
    /// Adds function `f`, reached with `value` seconds, under `parent`. A hidden (library)
    /// function adds the visible functions it leads to in its place; a function already on the
    /// path is marked recursive and not followed.
    fn add(&mut self, f: usize, value: f64, parent: &mut Node) {
        if self.budget == 0 || value < self.min_value {
            return;
        }
        self.budget -= 1;
        let key = self.g.key(f);
        if !(self.visible)(key) {
            if !self.path.contains(&f) {
                let mut seen = vec![f];
                self.through_hidden(f, parent, &mut seen);
            }
            return;
        }
        let node = parent.child(key);
        node.value += value;
        if self.path.contains(&f) {
            node.recursive = true;
            return;
        }
        if node.recursive {
            return;
        }
        self.path.push(f);
        for (c, v) in self.callees[f].clone() {
            self.add(c, v, node);
        }
        self.path.pop();
    }

    /// The visible callees reached from hidden function `h` through hidden functions only, each
    /// hidden function expanded once.
    fn through_hidden(&mut self, h: usize, parent: &mut Node, seen: &mut Vec<usize>) {
        self.path.push(h);
        for (c, v) in self.callees[h].clone() {
            if v < self.min_value {
                continue;
            }
            if (self.visible)(self.g.key(c)) {
                self.add(c, v, parent);
            } else if !seen.contains(&c) && !self.path.contains(&c) {
                seen.push(c);
                self.through_hidden(c, parent, seen);
            }
        }
        self.path.pop();
    }
}

fn location(k: &FuncKey) -> String {
    if k.is_builtin() {
        "[built-in]".into()
    } else {
        format!("{}:{}", k.file, k.line)
    }
}

#[allow(clippy::too_many_arguments)]
fn print_node(
    n: &Node,
    total: f64,
    unit: f64,
    opts: &TreeOptions,
    lead: &str,
    branch: &str,
    out: &mut String,
    lines: &mut usize,
) {
    *lines += 1;
    if *lines > MAX_LINES {
        return;
    }
    let share = if total > 0.0 { n.value / total } else { 0.0 };
    let secs = n.value * unit;
    let name = if n.key.is_builtin() {
        n.key.to_string()
    } else {
        n.key.name.clone()
    };
    let rec = if n.recursive { " ↺ recursive" } else { "" };
    if opts.color {
        let c = match share {
            s if s >= 0.6 => "\x1b[31m",
            s if s >= 0.3 => "\x1b[33m",
            s if s >= 0.1 => "\x1b[32m",
            _ => "\x1b[2m",
        };
        let _ = writeln!(
            out,
            "{lead}{branch}{c}{secs:.3}s {:5.1}%\x1b[0m \x1b[1m{name}\x1b[0m  \x1b[2m{}\x1b[0m{}",
            share * 100.0,
            location(&n.key),
            if rec.is_empty() {
                String::new()
            } else {
                format!("\x1b[35m{rec}\x1b[0m")
            }
        );
    } else {
        let _ = writeln!(
            out,
            "{lead}{branch}{secs:.3}s {:5.1}% {name}  {}{rec}",
            share * 100.0,
            location(&n.key)
        );
    }
    let mut kids: Vec<&Node> = n
        .children
        .iter()
        .filter(|c| total <= 0.0 || c.value / total >= opts.min_share)
        .collect();
    kids.sort_by(|a, b| b.value.total_cmp(&a.value));
    let next_lead = format!(
        "{lead}{}",
        match branch {
            "" => "",
            "├─ " => "│  ",
            _ => "   ",
        }
    );
    // Two levels print at the left margin (a root and its calls), then each indents by three.
    if !kids.is_empty() && next_lead.chars().count() / 3 + 2 > MAX_DEPTH {
        *lines += 1;
        let _ = writeln!(
            out,
            "{next_lead}└─ ... deeper calls cut at {MAX_DEPTH} levels (their time is in the line above)"
        );
        return;
    }
    let last = kids.len().saturating_sub(1);
    for (i, c) in kids.into_iter().enumerate() {
        let b = if i == last { "└─ " } else { "├─ " };
        print_node(c, total, unit, opts, &next_lead, b, out, lines);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dziura_model::{CallGraph, CallStats, Frame, Samples, ThreadProfile};

    fn lib(k: &FuncKey) -> bool {
        k.is_builtin() || dziura_own::looks_like_stdlib(&k.file)
    }

    fn plain(all: bool) -> TreeOptions {
        TreeOptions {
            all,
            min_share: 0.0,
            color: false,
        }
    }

    #[test]
    fn stdlib_paths_are_recognised() {
        assert!(dziura_own::looks_like_stdlib(
            "/usr/lib/python3.11/json/decoder.py"
        ));
        assert!(dziura_own::looks_like_stdlib(
            "/opt/py/lib/python3.13t/threading.py"
        ));
        assert!(!dziura_own::looks_like_stdlib(
            "/home/me/lib/python/mine.py"
        ));
        assert!(!dziura_own::looks_like_stdlib("/home/me/app.py"));
    }

    #[test]
    fn sampled_tree_is_exact_and_hides_library_frames() {
        let mut s = Samples::new(0.01);
        let fr = |file: &str, n: &str| Frame {
            func: FuncKey::python(file, 1, n),
            line: 2,
        };
        let m = s.frame(&fr("app.py", "main"));
        let j = s.frame(&fr("/usr/lib/python3.11/json/__init__.py", "loads"));
        let cb = s.frame(&fr("app.py", "hook"));
        let w = s.frame(&fr("app.py", "work"));
        s.add(0, &[m, j, cb], 2);
        s.add(0, &[m, w], 6);
        s.add(0, &[m], 2);
        let p = Profile {
            threads: vec![ThreadProfile::default()],
            samples: Some(s),
            ..Default::default()
        };
        let t = tree(&p, &plain(false), &lib);
        assert!(t.contains("0.100s 100.0% main  app.py:1"), "{t}");
        assert!(t.contains("├─ 0.060s  60.0% work  app.py:1"), "{t}");
        assert!(t.contains("└─ 0.020s  20.0% hook  app.py:1"), "{t}");
        assert!(!t.contains("loads"), "{t}");
        let t = tree(&p, &plain(true), &lib);
        assert!(t.contains("└─ 0.020s  20.0% loads"), "{t}");
        assert!(t.contains("   └─ 0.020s  20.0% hook"), "{t}");
    }

    #[test]
    fn traced_tree_follows_edges_and_stops_at_recursion() {
        let st = |ct: f64| CallStats {
            calls: 1,
            primitive_calls: 1,
            own_time: 0.0,
            cum_time: ct,
        };
        let exec = FuncKey::builtin("<built-in method builtins.exec>");
        let main = FuncKey::python("app.py", 1, "<module>");
        let fib = FuncKey::python("app.py", 3, "fib");
        let mut g = CallGraph::new();
        g.add_total(&exec, &st(2.0));
        g.add_total(&main, &st(2.0));
        g.add_total(&fib, &st(1.5));
        g.add_edge(&exec, &main, &st(2.0));
        g.add_edge(&main, &fib, &st(1.5));
        g.add_edge(&fib, &fib, &st(1.4));
        let p = Profile {
            threads: vec![ThreadProfile {
                graph: g,
                ..Default::default()
            }],
            ..Default::default()
        };
        let t = tree(&p, &plain(false), &lib);
        assert!(t.contains("caller→callee totals"), "{t}");
        assert!(t.contains("2.000s 100.0% <module>  app.py:1\n"), "{t}");
        assert!(t.contains("└─ 1.500s  75.0% fib  app.py:3\n"), "{t}");
        assert!(
            t.contains("   └─ 1.400s  70.0% fib  app.py:3 ↺ recursive\n"),
            "{t}"
        );
        let t = tree(&p, &plain(true), &lib);
        assert!(
            t.contains("{built-in method builtins.exec}  [built-in]"),
            "{t}"
        );
    }

    #[test]
    fn deep_recursion_tree_is_cut_at_a_depth() {
        let depth = 10_000u64;
        let mut events = Vec::new();
        for i in 0..depth {
            events.push(dziura_model::CallEvent {
                func: 0,
                open: true,
                time_ns: i,
            });
        }
        for i in 0..depth {
            events.push(dziura_model::CallEvent {
                func: 0,
                open: false,
                time_ns: depth + i,
            });
        }
        let profile = Profile {
            threads: vec![ThreadProfile::default()],
            calls: Some(dziura_model::CallTimeline {
                funcs: vec![FuncKey::python("deep.py", 1, "down")],
                threads: vec![dziura_model::ThreadCalls { thread: 0, events }],
                ..Default::default()
            }),
            ..Default::default()
        };
        let text = tree(&profile, &plain(true), &lib);
        assert!(text.len() < 100_000, "{} bytes", text.len());
        assert!(text.contains("deeper calls cut at 100 levels"), "{text}");
        assert_eq!(
            text.lines().filter(|l| l.contains("down")).count(),
            MAX_DEPTH
        );
    }

    #[test]
    fn traced_timeline_tree_is_exact() {
        use dziura_model::{CallEvent, CallTimeline, ThreadCalls};
        let ev = |time_ns, func, open| CallEvent {
            time_ns,
            func,
            open,
        };
        // main [0, 1s] calls loads (stdlib) [0.1, 0.4] which calls hook [0.2, 0.3], then
        // fib [0.5, 0.9] which recurses into fib [0.6, 0.8].
        let s = 1_000_000_000 / 10;
        let p = Profile {
            threads: vec![ThreadProfile::default()],
            calls: Some(CallTimeline {
                funcs: vec![
                    FuncKey::python("app.py", 1, "main"),
                    FuncKey::python("/usr/lib/python3.11/json/__init__.py", 1, "loads"),
                    FuncKey::python("app.py", 5, "hook"),
                    FuncKey::python("app.py", 9, "fib"),
                ],
                threads: vec![ThreadCalls {
                    thread: 0,
                    events: vec![
                        ev(0, 0, true),
                        ev(s, 1, true),
                        ev(2 * s, 2, true),
                        ev(3 * s, 2, false),
                        ev(4 * s, 1, false),
                        ev(5 * s, 3, true),
                        ev(6 * s, 3, true),
                        ev(8 * s, 3, false),
                        ev(9 * s, 3, false),
                        ev(10 * s, 0, false),
                    ],
                }],
                truncated_at_ns: None,
                dropped_calls: 0,
            }),
            ..Default::default()
        };
        let t = tree(&p, &plain(false), &lib);
        assert!(
            t.starts_with("Call tree of a traced timeline: 5 calls, 1.000 s"),
            "{t}"
        );
        assert!(t.contains("1.000s 100.0% main  app.py:1\n"), "{t}");
        assert!(t.contains("├─ 0.400s  40.0% fib  app.py:9\n"), "{t}");
        assert!(t.contains("│  └─ 0.200s  20.0% fib  app.py:9\n"), "{t}");
        assert!(t.contains("└─ 0.100s  10.0% hook  app.py:5\n"), "{t}");
        assert!(!t.contains("loads"), "{t}");
        let t = tree(&p, &plain(true), &lib);
        assert!(t.contains("└─ 0.300s  30.0% loads"), "{t}");
    }
}
