//! A self-contained HTML report: one file that opens offline, with a sortable function table,
//! an expandable call tree, a flame graph (click to zoom, search) and the source of the hottest
//! functions.
//!
//! The profile goes into the page as JSON in a `<script type="application/json">` block, with
//! every `<`, `>` and `&` written as a `\u` escape so no name can end the block; the page's own
//! script (inlined, no network) renders every name with `textContent`, never as markup.

use std::collections::{BinaryHeap, HashMap};

use dziura_model::{CallGraph, CallStats, FuncKey, Profile};
use serde::Serialize;

use crate::{basename, call_graph, func_name, thread_label, title};

const CSS: &str = include_str!("html/report.css");
const JS: &str = include_str!("html/report.js");

#[derive(Clone, Debug)]
pub struct HtmlOptions {
    /// The heading; `None` names the profiled command.
    pub title: Option<String>,
    /// How many of the functions with the most own time get their source shown.
    pub source_functions: usize,
    /// Lines shown before a function's first line, and at least this many after its hot line.
    pub source_context: usize,
    /// Call tree nodes below this share of the total (percent) are left out; 0 keeps all.
    pub min_percent: f64,
    /// At most this many call tree nodes (traced trees expand shared callees once per path).
    pub max_nodes: usize,
}

impl Default for HtmlOptions {
    fn default() -> Self {
        HtmlOptions {
            title: None,
            source_functions: 5,
            source_context: 3,
            min_percent: 0.0,
            max_nodes: 20_000,
        }
    }
}

#[derive(Serialize)]
struct Report {
    meta: Meta,
    funcs: Vec<Func>,
    tree: Node,
    sources: Vec<Source>,
}

#[derive(Serialize)]
struct Meta {
    title: String,
    mode: String,
    python_version: String,
    command: String,
    host: String,
    start_time: f64,
    duration: f64,
    /// Seconds that 100 % stands for: all samples, or Σ own time of a traced profile.
    total: f64,
    /// Samples taken (sampling profiles).
    samples: Option<u64>,
    interval: Option<f64>,
    /// Σ calls (traced profiles).
    calls: Option<u64>,
    threads: usize,
    /// Whether the tree was cut at `max_nodes`.
    truncated: bool,
}

#[derive(Serialize)]
struct Func {
    name: String,
    file: String,
    short: String,
    line: u32,
    builtin: bool,
    calls: u64,
    pcalls: u64,
    own: f64,
    cum: f64,
}

/// A call tree node; short keys keep big trees small.
#[derive(Serialize, Default)]
struct Node {
    /// Function index into `funcs`, absent for the root and thread nodes.
    #[serde(skip_serializing_if = "Option::is_none")]
    f: Option<usize>,
    /// Label of a node that is not a function (root, thread).
    #[serde(skip_serializing_if = "Option::is_none")]
    t: Option<String>,
    /// Seconds in this node and below.
    v: f64,
    /// Seconds in this node itself.
    s: f64,
    /// Samples (sampling) or calls (tracing).
    #[serde(skip_serializing_if = "Option::is_none")]
    n: Option<u64>,
    /// A recursive call back into a function already on the path: not expanded.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    r: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    c: Vec<Node>,
}

#[derive(Serialize)]
struct Source {
    func: usize,
    file: String,
    /// Number of the first line in `lines`.
    start: u32,
    lines: Vec<String>,
    /// The line with the most samples on top of the stack (sampling profiles).
    hot: Option<u32>,
    /// Samples per line: (line, on top of the stack, on the stack).
    counts: Vec<(u32, u64, u64)>,
}

/// The HTML document.
pub fn write(profile: &Profile, opts: &HtmlOptions) -> Vec<u8> {
    let report = build(profile, opts);
    let json = serde_json::to_string(&report).expect("the report serializes");
    let page_title = escape_text(&report.meta.title);
    let mut out = String::with_capacity(json.len() + CSS.len() + JS.len() + 2048);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    // Nothing is fetched: no scripts, styles, fonts or images from anywhere.
    out.push_str(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n",
    );
    out.push_str("<title>");
    out.push_str(&page_title);
    out.push_str(" - dziura</title>\n<style>\n");
    out.push_str(CSS);
    out.push_str("</style>\n</head>\n<body>\n");
    out.push_str(BODY);
    out.push_str("<script type=\"application/json\" id=\"dziura-data\">");
    out.push_str(&escape_json(&json));
    out.push_str("</script>\n<script>\n");
    out.push_str(JS);
    out.push_str("</script>\n</body>\n</html>\n");
    out.into_bytes()
}

const BODY: &str = r##"<header>
<h1 id="title"></h1>
<dl id="meta"></dl>
<nav><a href="#flame-section">Flame graph</a> <a href="#tree-section">Call tree</a> <a href="#table-section">Functions</a> <a href="#source-section">Source</a></nav>
</header>
<main>
<section id="flame-section">
<h2>Flame graph</h2>
<div class="controls"><input id="search" type="search" placeholder="Search functions (regex)" autocomplete="off" spellcheck="false"> <button id="reset-zoom" type="button">Reset zoom</button> <span id="match-info"></span></div>
<div id="flame" class="flame" role="img" aria-label="flame graph"></div>
<div id="flame-detail" class="detail">&nbsp;</div>
</section>
<section id="tree-section">
<h2>Call tree</h2>
<div class="controls"><button id="expand-hot" type="button">Expand hottest path</button> <button id="collapse-all" type="button">Collapse all</button></div>
<div id="tree" class="tree"></div>
</section>
<section id="table-section">
<h2>Functions</h2>
<input id="table-filter" type="search" placeholder="Filter" autocomplete="off" spellcheck="false">
<table id="functions"><thead><tr></tr></thead><tbody></tbody></table>
</section>
<section id="source-section">
<h2>Source of the hottest functions</h2>
<div id="sources"></div>
</section>
</main>
<noscript><p>This report needs JavaScript to draw its views.</p></noscript>
"##;

/// JSON that cannot end or comment out the script block it sits in: `<`, `>` and `&` only
/// occur inside JSON strings, where `\u003c` and friends mean the same characters.
fn escape_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len() + 64);
    for ch in json.chars() {
        match ch {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// Text for an HTML element's content or an attribute value.
pub fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn build(profile: &Profile, opts: &HtmlOptions) -> Report {
    let graph = call_graph(profile, None);
    let funcs: Vec<Func> = graph
        .iter()
        .map(|(_, k, s)| Func {
            name: func_name(k),
            file: if k.is_builtin() {
                String::new()
            } else {
                k.file.clone()
            },
            short: if k.is_builtin() {
                String::new()
            } else {
                basename(&k.file).to_string()
            },
            line: k.line,
            builtin: k.is_builtin(),
            calls: s.total.calls,
            pcalls: s.total.primitive_calls,
            own: s.total.own_time,
            cum: s.total.cum_time,
        })
        .collect();
    let (ncalls, _, own_sum) = graph.totals();
    let sampled = profile.samples.as_ref().filter(|_| {
        // The same test `call_graph` makes: traced graphs win over samples.
        profile.threads.iter().all(|t| t.graph.is_empty())
    });
    let mut truncated = false;
    let (tree, total, samples, interval) = match sampled {
        Some(s) => {
            let total = s.total() as f64 * s.interval;
            (
                sampled_tree(profile, &graph, opts),
                total,
                Some(s.total()),
                Some(s.interval),
            )
        }
        None => {
            let (tree, cut) = traced_tree(&graph, own_sum, opts);
            truncated = cut;
            (tree, own_sum, None, None)
        }
    };
    let sources = sources(profile, &graph, sampled.is_some(), opts);
    let meta = Meta {
        title: opts.title.clone().unwrap_or_else(|| title(profile)),
        mode: profile.meta.mode.clone(),
        python_version: profile.meta.python_version.clone(),
        command: profile.meta.command.join(" "),
        host: profile.meta.host.clone(),
        start_time: profile.meta.start_time,
        duration: profile.meta.duration,
        total,
        samples,
        interval,
        calls: if sampled.is_some() {
            None
        } else {
            Some(ncalls)
        },
        threads: profile.threads.len(),
        truncated,
    };
    Report {
        meta,
        funcs,
        tree,
        sources,
    }
}

/// A tree node while building: children by function (or thread) for merging.
struct Build {
    f: Option<usize>,
    t: Option<String>,
    count: u64,
    own: u64,
    children: Vec<Build>,
    index: HashMap<usize, usize>,
}

impl Build {
    fn new(f: Option<usize>, t: Option<String>) -> Self {
        Build {
            f,
            t,
            count: 0,
            own: 0,
            children: Vec::new(),
            index: HashMap::new(),
        }
    }

    fn child(&mut self, key: usize, make: impl FnOnce() -> Build) -> &mut Build {
        let i = *self.index.entry(key).or_insert_with(|| {
            self.children.push(make());
            self.children.len() - 1
        });
        &mut self.children[i]
    }

    fn finish(self, interval: f64, min: u64) -> Node {
        let mut c: Vec<Node> = self
            .children
            .into_iter()
            .filter(|b| b.count >= min.max(1))
            .map(|b| b.finish(interval, min))
            .collect();
        c.sort_by(|a, b| b.v.total_cmp(&a.v));
        Node {
            f: self.f,
            t: self.t,
            v: self.count as f64 * interval,
            s: self.own as f64 * interval,
            n: Some(self.count),
            r: false,
            c,
        }
    }
}

/// The exact tree of sampled stacks, one node per function per path, a node per thread when
/// more than one thread was sampled.
fn sampled_tree(profile: &Profile, graph: &CallGraph, opts: &HtmlOptions) -> Node {
    let s = profile.samples.as_ref().expect("a sampling profile");
    let frame_func: Vec<usize> = s
        .frames
        .iter()
        .map(|f| {
            graph
                .find(&f.func)
                .expect("every sampled function is in the graph")
        })
        .collect();
    let mut threads: Vec<usize> = s.stacks.iter().map(|st| st.thread).collect();
    threads.sort_unstable();
    threads.dedup();
    let by_thread = threads.len() > 1;
    let mut root = Build::new(None, Some("all".into()));
    for st in s.stacks.iter().filter(|st| st.count > 0) {
        root.count += st.count;
        let mut node = &mut root;
        if by_thread {
            let t = st.thread;
            node = node.child(t, || {
                Build::new(None, Some(thread_label(profile.threads.get(t))))
            });
            node.count += st.count;
        }
        for &fi in &st.frames {
            let f = frame_func[fi as usize];
            // Threads and functions share the index map; functions are offset past threads.
            node = node.child(usize::MAX / 2 + f, || Build::new(Some(f), None));
            node.count += st.count;
        }
        node.own += st.count;
    }
    let min = (opts.min_percent / 100.0 * root.count as f64).ceil() as u64;
    root.finish(s.interval, min)
}

/// The tree a call graph implies: from each function nobody else calls, down its callee edges
/// (each edge's own totals, wherever it was called from), stopping where a function calls back
/// into one already on the path. Shared callees repeat under every path, so the tree can be far
/// bigger than the graph: nodes are expanded hottest first until `max_nodes` are made.
fn traced_tree(graph: &CallGraph, total: f64, opts: &HtmlOptions) -> (Node, bool) {
    let callees = graph.callees();
    let mut roots: Vec<usize> = graph
        .iter()
        .filter(|(i, _, s)| s.callers.iter().all(|(c, _)| c == i))
        .map(|(i, _, _)| i)
        .collect();
    if roots.is_empty() && !graph.is_empty() {
        // Everything is in a cycle: start at the biggest function.
        let top = (0..graph.len())
            .max_by(|&a, &b| {
                graph
                    .stats(a)
                    .total
                    .cum_time
                    .total_cmp(&graph.stats(b).total.cum_time)
            })
            .unwrap_or(0);
        roots.push(top);
    }
    let min = opts.min_percent / 100.0 * total;
    // Arena of (function, edge stats, parent, recursive, children).
    struct Slot {
        f: usize,
        stats: CallStats,
        parent: Option<usize>,
        rec: bool,
        children: Vec<usize>,
    }
    let mut arena: Vec<Slot> = Vec::new();
    let mut heap: BinaryHeap<(Hot, usize)> = BinaryHeap::new();
    let mut cut = false;
    let mut top: Vec<usize> = Vec::new();
    for r in roots {
        let t = graph.stats(r).total;
        if t.cum_time < min {
            continue;
        }
        if arena.len() >= opts.max_nodes {
            cut = true;
            break;
        }
        arena.push(Slot {
            f: r,
            stats: t,
            parent: None,
            rec: false,
            children: Vec::new(),
        });
        top.push(arena.len() - 1);
        heap.push((Hot(t.cum_time), arena.len() - 1));
    }
    'grow: while let Some((_, i)) = heap.pop() {
        let f = arena[i].f;
        let mut edges = callees[f].clone();
        edges.sort_by(|a, b| b.1.cum_time.total_cmp(&a.1.cum_time));
        for (g, e) in edges {
            if e.cum_time < min || (e.cum_time <= 0.0 && e.calls == 0) {
                continue;
            }
            if arena.len() >= opts.max_nodes {
                cut = true;
                break 'grow;
            }
            let mut on_path = false;
            let mut up = Some(i);
            while let Some(u) = up {
                if arena[u].f == g {
                    on_path = true;
                    break;
                }
                up = arena[u].parent;
            }
            arena.push(Slot {
                f: g,
                stats: e,
                parent: Some(i),
                rec: on_path,
                children: Vec::new(),
            });
            let j = arena.len() - 1;
            arena[i].children.push(j);
            if !on_path {
                heap.push((Hot(e.cum_time), j));
            }
        }
    }
    fn node(arena: &[Slot], i: usize) -> Node {
        let s = &arena[i];
        let mut c: Vec<Node> = s.children.iter().map(|&j| node(arena, j)).collect();
        c.sort_by(|a, b| b.v.total_cmp(&a.v));
        Node {
            f: Some(s.f),
            t: None,
            v: s.stats.cum_time,
            s: s.stats.own_time,
            n: Some(s.stats.calls),
            r: s.rec,
            c,
        }
    }
    let mut children: Vec<Node> = top.iter().map(|&i| node(&arena, i)).collect();
    children.sort_by(|a, b| b.v.total_cmp(&a.v));
    let root = Node {
        t: Some("all".into()),
        v: total,
        s: 0.0,
        n: None,
        c: children,
        ..Node::default()
    };
    (root, cut)
}

/// Seconds, ordered for the expansion heap.
#[derive(PartialEq)]
struct Hot(f64);

impl Eq for Hot {}

impl PartialOrd for Hot {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Hot {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// Files bigger than this are not embedded.
const MAX_SOURCE_BYTES: u64 = 8 << 20;
/// The most lines shown of one function.
const MAX_SOURCE_LINES: u32 = 80;

/// Windows of source around the functions with the most own time, for files readable now.
fn sources(profile: &Profile, graph: &CallGraph, sampled: bool, opts: &HtmlOptions) -> Vec<Source> {
    let mut order: Vec<usize> = (0..graph.len())
        .filter(|&i| !graph.key(i).is_builtin() && graph.stats(i).total.own_time > 0.0)
        .collect();
    order.sort_by(|&a, &b| {
        graph
            .stats(b)
            .total
            .own_time
            .total_cmp(&graph.stats(a).total.own_time)
    });
    let mut cache: HashMap<&str, Option<Vec<String>>> = HashMap::new();
    let mut out = Vec::new();
    for i in order {
        if out.len() >= opts.source_functions {
            break;
        }
        let key = graph.key(i);
        let Some(lines) = cache
            .entry(key.file.as_str())
            .or_insert_with(|| read_lines(&key.file))
        else {
            continue;
        };
        let counts = if sampled {
            line_counts(profile, key)
        } else {
            Vec::new()
        };
        let hot = counts
            .iter()
            .filter(|c| c.1 > 0)
            .max_by_key(|c| (c.1, std::cmp::Reverse(c.0)))
            .map(|c| c.0);
        let first = key.line.max(1);
        let ctx = opts.source_context as u32;
        let start = first.min(hot.unwrap_or(first)).saturating_sub(ctx).max(1);
        let want_end = first
            .max(hot.unwrap_or(first))
            .saturating_add(ctx)
            .max(first.saturating_add(15));
        let end = want_end
            .min(start.saturating_add(MAX_SOURCE_LINES - 1))
            .min(lines.len() as u32);
        if start > end {
            continue;
        }
        out.push(Source {
            func: i,
            file: key.file.clone(),
            start,
            lines: lines[(start - 1) as usize..end as usize].to_vec(),
            hot,
            counts: counts
                .into_iter()
                .filter(|c| c.0 >= start && c.0 <= end)
                .collect(),
        });
    }
    out
}

fn read_lines(file: &str) -> Option<Vec<String>> {
    let path = std::path::Path::new(file);
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > MAX_SOURCE_BYTES {
        return None;
    }
    let bytes = std::fs::read(path).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    Some(
        text.lines()
            .map(|l| l.replace('\t', "    ").trim_end().to_string())
            .collect(),
    )
}

/// Per line of `func`: samples with it on top of the stack, and samples with it on the stack
/// (a line counted once per stack).
fn line_counts(profile: &Profile, func: &FuncKey) -> Vec<(u32, u64, u64)> {
    let Some(s) = profile.samples.as_ref() else {
        return Vec::new();
    };
    let mut by_line: HashMap<u32, (u64, u64)> = HashMap::new();
    let mut seen: Vec<u32> = Vec::new();
    for st in &s.stacks {
        seen.clear();
        for (depth, &fi) in st.frames.iter().enumerate() {
            let fr = &s.frames[fi as usize];
            if fr.func != *func {
                continue;
            }
            let e = by_line.entry(fr.line).or_default();
            if depth + 1 == st.frames.len() {
                e.0 += st.count;
            }
            if !seen.contains(&fr.line) {
                seen.push(fr.line);
                e.1 += st.count;
            }
        }
    }
    let mut out: Vec<(u32, u64, u64)> = by_line.into_iter().map(|(l, (a, b))| (l, a, b)).collect();
    out.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata;
    use dziura_model::{Frame, Samples};

    fn hostile() -> FuncKey {
        FuncKey::python(
            "/app/</script><script>alert(2)</script>.py",
            3,
            "<script>alert(1)</script><!--",
        )
    }

    fn with_hostile(mut p: Profile) -> Profile {
        if let Some(s) = p.samples.as_mut() {
            let w = s.frame(&Frame {
                func: testdata::worker(),
                line: 7,
            });
            let h = s.frame(&Frame {
                func: hostile(),
                line: 4,
            });
            s.add(1, &[w, h], 2);
        } else {
            let g = &mut p.threads[1].graph;
            let st = dziura_model::CallStats {
                calls: 1,
                primitive_calls: 1,
                own_time: 0.05,
                cum_time: 0.05,
            };
            g.add_total(&hostile(), &st);
            g.add_edge(&testdata::worker(), &hostile(), &st);
        }
        p.meta.command = vec!["</title><script>alert(3)</script>".into()];
        p
    }

    fn page(p: &Profile) -> String {
        String::from_utf8(write(p, &HtmlOptions::default())).unwrap()
    }

    fn data(html: &str) -> serde_json::Value {
        let open = "<script type=\"application/json\" id=\"dziura-data\">";
        let start = html.find(open).unwrap() + open.len();
        let end = start + html[start..].find("</script>").unwrap();
        serde_json::from_str(&html[start..end]).unwrap()
    }

    #[test]
    fn hostile_names_cannot_leave_the_data_block() {
        for p in [
            with_hostile(testdata::sampled()),
            with_hostile(testdata::traced()),
        ] {
            let html = page(&p);
            // The page's own markup has exactly two script blocks and one title.
            assert_eq!(html.matches("<script").count(), 2, "{html}");
            assert_eq!(html.matches("</script").count(), 2);
            assert_eq!(html.matches("<title>").count(), 1);
            assert_eq!(html.matches("</title>").count(), 1);
            assert!(!html.contains("<!--"));
            assert!(!html.contains("alert(1)</"));
            assert!(html.contains("&lt;/title&gt;&lt;script&gt;alert(3)"));
            // ... and the data still holds the names exactly.
            let d = data(&html);
            let names: Vec<&str> = d["funcs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["name"].as_str().unwrap())
                .collect();
            assert!(
                names.contains(&"<script>alert(1)</script><!--"),
                "{names:?}"
            );
            assert!(names.contains(&"odd;name <&> \"q\" 'x'") || p.samples.is_none());
            assert_eq!(
                d["meta"]["command"].as_str().unwrap(),
                "</title><script>alert(3)</script>"
            );
        }
    }

    #[test]
    fn page_is_self_contained() {
        let html = page(&testdata::sampled());
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.trim_end().ends_with("</html>"));
        for remote in ["http://", "https://", "src=", "<link", "@import", "url("] {
            assert!(!html.contains(remote), "{remote}");
        }
        // The script never renders data as markup.
        assert!(!JS.contains("innerHTML"));
        assert!(!JS.contains("insertAdjacentHTML"));
        assert!(!JS.contains("document.write"));
        // The inlined code cannot end its own block early.
        assert!(!JS.to_ascii_lowercase().contains("</script"));
        assert!(!CSS.to_ascii_lowercase().contains("</style"));
        assert!(html.len() < 200_000, "{}", html.len());
    }

    #[test]
    fn sampled_tree_is_exact() {
        let p = testdata::sampled();
        let d = data(&page(&p));
        assert_eq!(d["meta"]["samples"], 11);
        assert_eq!(d["meta"]["mode"], "sampling");
        let tree = &d["tree"];
        assert_eq!(tree["n"], 11);
        let threads = tree["c"].as_array().unwrap();
        assert_eq!(threads.len(), 2);
        assert_eq!(
            threads[0]["t"], "thread MainThread (native id 1001)",
            "{tree}"
        );
        assert_eq!(threads[0]["n"], 7);
        let main = &threads[0]["c"][0];
        let funcs = d["funcs"].as_array().unwrap();
        assert_eq!(funcs[main["f"].as_u64().unwrap() as usize]["name"], "main");
        assert_eq!(main["n"], 7);
        // main → fib (4 samples) → fib (2), main → sleep (2), main → len (1)
        let kids: Vec<(String, u64)> = main["c"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    funcs[c["f"].as_u64().unwrap() as usize]["name"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                    c["n"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(kids[0], ("fib".to_string(), 4));
        assert_eq!(main["c"][0]["c"][0]["n"], 2);
        assert!((main["v"].as_f64().unwrap() - 0.07).abs() < 1e-9);
    }

    #[test]
    fn traced_tree_follows_edges_and_stops_at_recursion() {
        let d = data(&page(&testdata::traced()));
        let funcs = d["funcs"].as_array().unwrap();
        let name = |n: &serde_json::Value| {
            funcs[n["f"].as_u64().unwrap() as usize]["name"]
                .as_str()
                .unwrap()
                .to_string()
        };
        let roots = d["tree"]["c"].as_array().unwrap();
        let root_names: Vec<String> = roots.iter().map(name).collect();
        assert_eq!(root_names, ["main", "worker"]);
        let fib = roots[0]["c"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| name(c) == "fib")
            .unwrap();
        assert_eq!(fib["n"], 1);
        let again = fib["c"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| name(c) == "fib")
            .unwrap();
        assert_eq!(again["r"], true);
        assert_eq!(again["n"], 14);
        assert!(again.get("c").is_none());
        assert_eq!(d["meta"]["calls"], 41);
        assert!(d["meta"]["samples"].is_null());
    }

    #[test]
    fn traced_tree_respects_the_node_budget() {
        let opts = HtmlOptions {
            max_nodes: 3,
            ..HtmlOptions::default()
        };
        let html = String::from_utf8(write(&testdata::traced(), &opts)).unwrap();
        let d = data(&html);
        assert_eq!(d["meta"]["truncated"], true);
        // Both roots are kept: the budget goes to the hottest nodes, not the first root's depths.
        let roots = d["tree"]["c"].as_array().unwrap();
        assert_eq!(roots.len(), 2);
        let count = |n: &serde_json::Value| -> usize {
            fn walk(n: &serde_json::Value) -> usize {
                1 + n["c"]
                    .as_array()
                    .map(|c| c.iter().map(walk).sum())
                    .unwrap_or(0)
            }
            walk(n)
        };
        assert_eq!(roots.iter().map(count).sum::<usize>(), 3);
        // main (1 s) is expanded before worker (0.5 s): its hottest callee, fib, is kept.
        assert_eq!(roots[0]["c"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn dense_traced_graphs_stay_small() {
        // Every function calls every later one: 2^29 paths through 30 functions.
        let keys: Vec<FuncKey> = (0..30)
            .map(|i| FuncKey::python("/app/dense.py", i + 1, format!("f{i}")))
            .collect();
        let mut g = CallGraph::new();
        let one = dziura_model::CallStats {
            calls: 1,
            primitive_calls: 1,
            own_time: 0.001,
            cum_time: 0.01,
        };
        for (i, k) in keys.iter().enumerate() {
            g.add_total(k, &one);
            for later in &keys[i + 1..] {
                g.add_edge(k, later, &one);
            }
        }
        let mut p = testdata::traced();
        p.threads.truncate(1);
        p.threads[0].graph = g;
        let html = page(&p);
        assert!(html.len() < 2_000_000, "{}", html.len());
        let d = data(&html);
        assert_eq!(d["meta"]["truncated"], true);
        assert_eq!(d["tree"]["c"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn big_sampled_profiles_stay_proportionate() {
        let mut s = Samples::new(0.001);
        let frames: Vec<u32> = (0..200)
            .map(|i| {
                s.frame(&Frame {
                    func: FuncKey::python("/app/deep.py", i + 1, format!("g{i}")),
                    line: i + 2,
                })
            })
            .collect();
        // 2000 distinct stacks, up to 200 frames deep.
        for n in 0..2000usize {
            let depth = 1 + n % 200;
            let mut st: Vec<u32> = frames[..depth].to_vec();
            st.push(frames[n % 7]);
            s.add(0, &st, 1 + n as u64 % 3);
        }
        let p = Profile {
            samples: Some(s),
            ..testdata::sampled()
        };
        let html = page(&p);
        // Roughly the size of the stacks themselves, not of paths × functions.
        assert!(html.len() < 3_000_000, "{}", html.len());
        // (Too deep for serde_json's default recursion limit; browsers parse it fine.)
        assert_eq!(html.matches("/app/deep.py").count(), 200);
    }

    #[test]
    fn sources_of_readable_files_with_the_hot_line() {
        let dir = std::env::temp_dir().join(format!("dziura-html-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("main.py");
        let text: String = (1..=40).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&file, text).unwrap();
        let f = FuncKey::python(file.to_str().unwrap(), 10, "hot");
        let g = FuncKey::python("/nonexistent/x.py", 1, "gone");
        let mut s = Samples::new(0.01);
        let a = s.frame(&Frame {
            func: f.clone(),
            line: 12,
        });
        let b = s.frame(&Frame {
            func: f.clone(),
            line: 14,
        });
        let c = s.frame(&Frame { func: g, line: 2 });
        s.add(0, &[a], 3);
        s.add(0, &[b], 5);
        s.add(0, &[c], 9);
        let p = Profile {
            samples: Some(s),
            ..testdata::sampled()
        };
        let d = data(&page(&p));
        let src = d["sources"].as_array().unwrap();
        assert_eq!(src.len(), 1, "{src:?}");
        assert_eq!(src[0]["hot"], 14);
        assert_eq!(src[0]["start"], 7);
        assert_eq!(src[0]["lines"][0], "line 7");
        assert_eq!(src[0]["counts"][0], serde_json::json!([12, 3, 3]));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn empty_profiles_still_make_a_page() {
        let p = Profile {
            samples: Some(Samples::new(0.01)),
            ..testdata::sampled()
        };
        let d = data(&page(&p));
        assert_eq!(d["meta"]["samples"], 0);
        let d = data(&page(&Profile::default()));
        assert_eq!(d["funcs"].as_array().unwrap().len(), 0);
    }
}
