//! A self-contained HTML report: one file that opens offline, with the user's own functions
//! first (then every function, one click away), an expandable call tree, a flame graph (click
//! to zoom, search) and the source of the hottest functions.
//!
//! The profile goes into the page as JSON in a `<script type="application/json">` block, with
//! every `<`, `>` and `&` written as a `\u` escape so no name can end the block; the page's own
//! script (inlined, no network) renders every name with `textContent`, never as markup.
//!
//! The writer never reads a file: the source it embeds comes from the caller's
//! [`SourceReader`].

use std::collections::HashMap;
use std::sync::Arc;

use dziura_model::{CallGraph, FuncKey, Profile};
use serde::Serialize;

use crate::{basename, call_graph, func_name, thread_label, title, OwnOptions};

const CSS: &str = include_str!("html/report.css");
const JS: &str = include_str!("html/report.js");

/// The text of a source file, given its name as the profile spells it (`None`: not
/// readable). The caller decides what may be read; writers stay pure functions of a profile.
#[derive(Clone)]
pub struct SourceReader(pub Arc<ReadSource>);

/// What a [`SourceReader`] calls: a file's name to its text.
pub type ReadSource = dyn Fn(&str) -> Option<String> + Send + Sync;

impl std::fmt::Debug for SourceReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SourceReader(..)")
    }
}

#[derive(Clone, Debug)]
pub struct HtmlOptions {
    /// The heading; `None` names the profiled command.
    pub title: Option<String>,
    /// How many of the functions with the most own time get their source shown.
    pub source_functions: usize,
    /// Lines shown before a function's first line, and at least this many after its hot line.
    pub source_context: usize,
    /// Where the source comes from; `None` embeds none.
    pub sources: Option<SourceReader>,
    /// Call tree nodes below this share of the total (percent) are left out; 0 keeps all.
    pub min_percent: f64,
    /// At most this many call tree nodes (edge trees expand shared callees once per path).
    pub max_nodes: usize,
    /// At most this many levels of calls in the tree (the page is fine deeper; the JSON is
    /// nested, and written recursively).
    pub max_depth: usize,
}

impl Default for HtmlOptions {
    fn default() -> Self {
        HtmlOptions {
            title: None,
            source_functions: 5,
            source_context: 3,
            sources: None,
            min_percent: 0.0,
            max_nodes: 20_000,
            max_depth: 500,
        }
    }
}

#[derive(Serialize)]
struct Report {
    meta: Meta,
    funcs: Vec<Func>,
    own: Own,
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
    /// Seconds that 100 % stands for: the call tree's total (all samples, or the traced
    /// calls' time).
    total: f64,
    /// Samples taken (sampling profiles).
    samples: Option<u64>,
    interval: Option<f64>,
    /// Σ calls (traced profiles).
    calls: Option<u64>,
    /// What the call tree was built from: "timeline", "samples" or "edges".
    tree_source: &'static str,
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

/// "Your code first": the user's functions ranked by the time they are responsible for.
#[derive(Serialize)]
struct Own {
    rows: Vec<OwnRow>,
    /// Seconds of the whole profile (what the rows' shares are of).
    total: f64,
    /// Seconds with no frame of the user's code on the stack.
    outside: f64,
    /// Traced (exact) rather than sampled seconds.
    exact: bool,
}

#[derive(Serialize)]
struct OwnRow {
    /// Function index into `funcs`.
    f: usize,
    /// The file as people name it (relative to site-packages, the stdlib or the project),
    /// when that is not the whole name.
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    /// Seconds in the function and in the library code it called.
    charged: f64,
    /// Seconds with the function on the stack.
    total: f64,
    /// The library function most of `charged` went to, and its seconds.
    mostly: Option<(usize, f64)>,
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
    /// Calls below not drawn: "depth" (the depth limit) or "budget" (the node limit).
    #[serde(skip_serializing_if = "Option::is_none")]
    x: Option<&'static str>,
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
/// The HTML document; `own` says which code is the user's, for "your code first".
pub fn write(profile: &Profile, opts: &HtmlOptions, own: &OwnOptions) -> Vec<u8> {
    let report = build(profile, opts, own);
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
<nav><a href="#flame-section">Flame graph</a> <a href="#tree-section">Call tree</a> <a href="#table-section">Your code first</a> <a href="#source-section">Source</a></nav>
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
<div id="own-view">
<p id="own-note" class="note"></p>
<table id="own-table"><thead><tr><th>function</th><th>file:line</th><th>charged</th><th>share</th><th>total</th><th>mostly in</th></tr></thead><tbody></tbody></table>
</div>
<div id="all-view" hidden>
<p class="note"><button id="show-own" type="button">Back to your code first</button> Every function, with its own and cumulative time (click a heading to sort).</p>
<input id="table-filter" type="search" placeholder="Filter" autocomplete="off" spellcheck="false">
<table id="functions"><thead><tr></tr></thead><tbody></tbody></table>
</div>
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

/// The functions of the report, each once: the call graph's, then any only the tree or the
/// ranking names (a timeline's function the graph lacks).
struct Funcs {
    list: Vec<Func>,
    index: HashMap<FuncKey, usize>,
}

impl Funcs {
    fn new(graph: &CallGraph) -> Funcs {
        let mut funcs = Funcs {
            list: Vec::with_capacity(graph.len()),
            index: HashMap::with_capacity(graph.len()),
        };
        for (_, k, s) in graph.iter() {
            funcs.push(k, &s.total);
        }
        funcs
    }

    fn push(&mut self, k: &FuncKey, s: &dziura_model::CallStats) -> usize {
        let i = self.list.len();
        self.list.push(Func {
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
            calls: s.calls,
            pcalls: s.primitive_calls,
            own: s.own_time,
            cum: s.cum_time,
        });
        self.index.insert(k.clone(), i);
        i
    }

    fn of(&mut self, k: &FuncKey) -> usize {
        match self.index.get(k) {
            Some(&i) => i,
            None => self.push(k, &dziura_model::CallStats::default()),
        }
    }
}

fn build(profile: &Profile, opts: &HtmlOptions, own: &OwnOptions) -> Report {
    let graph = call_graph(profile, None);
    let mut funcs = Funcs::new(&graph);
    let (ncalls, _, _) = graph.totals();
    // The tree `dziura show --tree --all` prints, split by thread.
    let tree = dziura_tree::build(
        profile,
        &dziura_tree::TreeOptions {
            hide: None,
            min_share: (opts.min_percent / 100.0).max(0.0),
            max_nodes: opts.max_nodes,
            max_depth: opts.max_depth,
            by_thread: true,
        },
    );
    let (samples, interval, tree_source) = match tree.source {
        dziura_tree::Source::Samples { samples, interval } => {
            (Some(samples), Some(interval), "samples")
        }
        dziura_tree::Source::Timeline { .. } => (None, None, "timeline"),
        dziura_tree::Source::Edges => (None, None, "edges"),
    };
    let sampled = samples.is_some();
    let ranking = dziura_own::rank(profile, None, &own.classifier);
    let own_rows = ranking
        .rows
        .iter()
        .map(|r| OwnRow {
            f: funcs.of(&r.key),
            path: Some(dziura_own::short_path(&r.key.file, &own.render.root))
                .filter(|p| *p != r.key.file)
                .map(str::to_string),
            charged: r.charged,
            total: r.total,
            mostly: r.mostly_in.as_ref().map(|(k, t)| (funcs.of(k), *t)),
        })
        .collect();
    let tree_json = node(profile, &tree.root, &mut funcs);
    let sources = sources(profile, &graph, sampled, opts);
    let meta = Meta {
        title: opts.title.clone().unwrap_or_else(|| title(profile)),
        mode: profile.meta.mode.clone(),
        python_version: profile.meta.python_version.clone(),
        command: profile.meta.command.join(" "),
        host: profile.meta.host.clone(),
        start_time: profile.meta.start_time,
        duration: profile.meta.duration,
        total: tree.root.value,
        samples,
        interval,
        calls: if sampled { None } else { Some(ncalls) },
        tree_source,
        threads: profile.threads.len(),
        truncated: tree.root.cut_by_budget(),
    };
    Report {
        meta,
        funcs: funcs.list,
        own: Own {
            rows: own_rows,
            total: ranking.total,
            outside: ranking.outside,
            exact: ranking.exact,
        },
        tree: tree_json,
        sources,
    }
}

/// The page's form of a tree node (recursive: the tree's depth is bounded by `max_depth`).
fn node(profile: &Profile, n: &dziura_tree::Node, funcs: &mut Funcs) -> Node {
    let (f, t) = match &n.label {
        dziura_tree::Label::All => (None, Some("all".to_string())),
        dziura_tree::Label::Thread(i) => (None, Some(thread_label(profile.threads.get(*i)))),
        dziura_tree::Label::Func(k) => (Some(funcs.of(k)), None),
    };
    Node {
        f,
        t,
        v: n.value,
        s: n.own,
        n: Some(n.count),
        r: n.recursive,
        x: n.cut.map(|c| match c {
            dziura_tree::Cut::Depth => "depth",
            dziura_tree::Cut::Budget => "budget",
        }),
        c: n.children.iter().map(|c| node(profile, c, funcs)).collect(),
    }
}

/// The biggest source file worth embedding: what a [`SourceReader`] should stop at.
pub const MAX_SOURCE_BYTES: u64 = 8 << 20;
/// The most lines shown of one function.
const MAX_SOURCE_LINES: u32 = 80;

/// Windows of source around the functions with the most own time, for the files the caller's
/// reader gives.
fn sources(profile: &Profile, graph: &CallGraph, sampled: bool, opts: &HtmlOptions) -> Vec<Source> {
    let Some(reader) = &opts.sources else {
        return Vec::new();
    };
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
            .or_insert_with(|| lines_of(reader, &key.file))
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

/// The file's lines as the page shows them: tabs as four spaces, no trailing blanks.
fn lines_of(reader: &SourceReader, file: &str) -> Option<Vec<String>> {
    let text = (reader.0)(file)?;
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
        page_with(p, &HtmlOptions::default())
    }

    fn page_with(p: &Profile, opts: &HtmlOptions) -> String {
        String::from_utf8(write(p, opts, &OwnOptions::default())).unwrap()
    }

    fn data(html: &str) -> serde_json::Value {
        let open = "<script type=\"application/json\" id=\"dziura-data\">";
        let start = html.find(open).unwrap() + open.len();
        let end = start + html[start..].find("</script>").unwrap();
        serde_json::from_str(&html[start..end]).unwrap()
    }

    /// The name of the function of tree node `n` in report data `d`.
    fn func_of(d: &serde_json::Value, n: &serde_json::Value) -> String {
        d["funcs"][n["f"].as_u64().unwrap() as usize]["name"]
            .as_str()
            .unwrap()
            .to_string()
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
        let name = |n: &serde_json::Value| func_of(&d, n);
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
        let d = data(&page_with(&testdata::traced(), &opts));
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
    fn sources_come_from_the_callers_reader_with_the_hot_line() {
        let text: String = (1..=40).map(|i| format!("line {i}\n")).collect();
        let f = FuncKey::python("/src/main.py", 10, "hot");
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
        let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let log = asked.clone();
        let opts = HtmlOptions {
            sources: Some(SourceReader(Arc::new(move |file: &str| {
                log.lock().unwrap().push(file.to_string());
                (file == "/src/main.py").then(|| text.clone())
            }))),
            ..HtmlOptions::default()
        };
        let d = data(&page_with(&p, &opts));
        let src = d["sources"].as_array().unwrap();
        assert_eq!(src.len(), 1, "{src:?}");
        assert_eq!(src[0]["hot"], 14);
        assert_eq!(src[0]["start"], 7);
        assert_eq!(src[0]["lines"][0], "line 7");
        assert_eq!(src[0]["counts"][0], serde_json::json!([12, 3, 3]));
        // Each file is asked for once, the unreadable one too.
        assert_eq!(
            *asked.lock().unwrap(),
            ["/nonexistent/x.py", "/src/main.py"]
        );
        // Without a reader, no source.
        assert_eq!(data(&page(&p))["sources"], serde_json::json!([]));
    }

    #[test]
    fn own_functions_come_first_with_the_library_time_they_cause() {
        // main (the user's) spends most of its samples in the stdlib's json.
        let mut s = Samples::new(0.01);
        let main = s.frame(&Frame {
            func: testdata::main_fn(),
            line: 3,
        });
        let json = s.frame(&Frame {
            func: FuncKey::python("/usr/lib/python3.12/json/encoder.py", 200, "encode"),
            line: 201,
        });
        s.add(0, &[main, json], 8);
        s.add(0, &[main], 2);
        let p = Profile {
            samples: Some(s),
            ..testdata::sampled()
        };
        let mut own = OwnOptions::default();
        own.render.root = "/app".into();
        let d = data(&String::from_utf8(write(&p, &HtmlOptions::default(), &own)).unwrap());
        let rows = d["own"]["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 1, "{rows:?}");
        let funcs = d["funcs"].as_array().unwrap();
        let name = |i: &serde_json::Value| funcs[i.as_u64().unwrap() as usize]["name"].clone();
        assert_eq!(name(&rows[0]["f"]), "main");
        assert_eq!(rows[0]["path"], "main.py");
        assert!((rows[0]["charged"].as_f64().unwrap() - 0.1).abs() < 1e-9);
        assert_eq!(name(&rows[0]["mostly"][0]), "encode");
        assert!((rows[0]["mostly"][1].as_f64().unwrap() - 0.08).abs() < 1e-9);
        assert!((d["own"]["total"].as_f64().unwrap() - 0.1).abs() < 1e-9);
        assert_eq!(d["own"]["exact"], false);
    }

    #[test]
    fn a_timeline_gives_the_exact_tree_of_show_tree() {
        let p = testdata::timed(false);
        let d = data(&page(&p));
        assert_eq!(d["meta"]["tree_source"], "timeline");
        let name = |n: &serde_json::Value| func_of(&d, n);
        // Two threads: a node each; main [0, 1000 ns] → fib [100, 600] → fib [200, 300], len.
        let threads = d["tree"]["c"].as_array().unwrap();
        assert_eq!(threads[0]["t"], "thread MainThread (native id 1001)");
        let main = &threads[0]["c"][0];
        assert_eq!(name(main), "main");
        assert!((main["v"].as_f64().unwrap() - 1000e-9).abs() < 1e-15);
        let fib = &main["c"][0];
        assert_eq!(name(fib), "fib");
        assert!((fib["v"].as_f64().unwrap() - 500e-9).abs() < 1e-15);
        assert!((fib["s"].as_f64().unwrap() - 350e-9).abs() < 1e-15);
        assert!(
            fib.get("r").is_none(),
            "a timeline's recursion is exact, not marked"
        );
        let kids: Vec<String> = fib["c"].as_array().unwrap().iter().map(name).collect();
        assert_eq!(kids, ["fib", "{built-in method builtins.len}"]);
        assert!((d["meta"]["total"].as_f64().unwrap() - 1030e-9).abs() < 1e-15);
        // The same numbers as the tree `show --tree --all` prints.
        let tree = dziura_tree::build(&p, &dziura_tree::TreeOptions::default());
        let main_text = &tree.root.children[0];
        assert!((main_text.value - 1000e-9).abs() < 1e-15);
        assert!((main_text.children[0].value - 500e-9).abs() < 1e-15);
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
