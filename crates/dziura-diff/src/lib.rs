//! What changed between two profiles: per function, the change in own time, cumulative time
//! and calls, absolute and as a share of each run's total (so a run that is uniformly slower
//! shows no regression in shares), and a differential flame graph for sampling profiles.
//!
//! Functions are matched by their full `(file, line, name)` key; those left over on both sides
//! are then matched on base name, line and name, so profiles taken on machines with different
//! install paths still line up.

use std::collections::HashMap;
use std::fmt::Write as _;

use dziura_formats::collapsed::{self, CollapsedOptions};
use dziura_model::{CallStats, FuncKey, Profile};

pub use dziura_file::{read_folded, FoldedError};

/// Why two profiles could not be compared.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    #[error("cannot compare a tracing profile with a sampling profile (different units)")]
    MixedKinds,
    #[error("a flame graph diff needs two sampling profiles or two traced timelines (these tracing profiles hold call counts, not stacks: trace with dziura run --timeline, or use the table)")]
    NeedsSamples,
    #[error("a flame graph diff needs samples, and neither profile holds any")]
    NoSamples,
    #[error("flame graph: {0}")]
    Io(#[from] std::io::Error),
}

/// How a profile's numbers were made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Tracing,
    Sampling,
}

/// The kind of `profile`: sampling when it holds samples and no traced call graph.
pub fn kind(profile: &Profile) -> Kind {
    if profile.is_sampled() {
        Kind::Sampling
    } else {
        Kind::Tracing
    }
}

/// What the rows are ordered by, biggest regression first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SortBy {
    /// Increase of own time as a share of the run's total.
    #[default]
    Own,
    /// Increase of cumulative time as a share of the run's total.
    Cum,
    /// Increase of the number of calls (samples, for sampling profiles).
    Calls,
}

impl SortBy {
    pub fn from_name(name: &str) -> Option<SortBy> {
        match name.trim().to_ascii_lowercase().as_str() {
            "own" | "tottime" | "time" => Some(SortBy::Own),
            "cum" | "cumulative" | "cumtime" => Some(SortBy::Cum),
            "calls" | "ncalls" | "samples" => Some(SortBy::Calls),
            _ => None,
        }
    }
}

/// Whether a function appears in both profiles or only one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Both,
    /// Only in AFTER.
    New,
    /// Only in BEFORE.
    Gone,
}

/// One function's numbers before and after (zero where it is absent).
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The AFTER key when present, else the BEFORE one.
    pub key: FuncKey,
    pub status: Status,
    pub before: CallStats,
    pub after: CallStats,
    /// Share of each run's total own time: own / total and cum / total.
    pub own_share: (f64, f64),
    pub cum_share: (f64, f64),
}

impl Row {
    pub fn d_own(&self) -> f64 {
        self.after.own_time - self.before.own_time
    }
    pub fn d_cum(&self) -> f64 {
        self.after.cum_time - self.before.cum_time
    }
    /// Change of own time as a share of the total, in percentage points.
    pub fn d_own_pct(&self) -> f64 {
        100.0 * (self.own_share.1 - self.own_share.0)
    }
    pub fn d_cum_pct(&self) -> f64 {
        100.0 * (self.cum_share.1 - self.cum_share.0)
    }
    pub fn d_calls(&self) -> i128 {
        self.after.calls as i128 - self.before.calls as i128
    }
}

/// The comparison of two profiles, rows sorted biggest regression first.
#[derive(Clone, Debug, PartialEq)]
pub struct Diff {
    pub kind: Kind,
    pub rows: Vec<Row>,
    /// Total own time (seconds) of each run.
    pub total: (f64, f64),
    /// Total calls of each run (samples, for sampling profiles).
    pub calls: (u64, u64),
    pub sort: SortBy,
    /// Times are sample counts, not seconds: a sampling profile without an interval (read
    /// from folded stacks) was compared.
    pub in_samples: bool,
}

/// Compares `before` with `after`.
/// A function's key for matching across runs: its base name, and its name without the memory
/// addresses a label may hold (`{function <lambda> at 0x7f3a...}`, `<object at 0x...>`), which
/// differ from one run to the next.
fn loose_key(key: &FuncKey) -> FuncKey {
    let mut k = key.stripped();
    k.name = without_addresses(&k.name);
    k
}

/// `text` with every ` at 0x` followed by hex digits removed.
fn without_addresses(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(" at 0x") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 6..];
        let hex = after.bytes().take_while(u8::is_ascii_hexdigit).count();
        if hex == 0 {
            out.push_str(" at 0x");
        }
        rest = &after[hex..];
    }
    out.push_str(rest);
    out
}

pub fn diff(before: &Profile, after: &Profile, sort: SortBy) -> Result<Diff, DiffError> {
    let k = kind(before);
    if kind(after) != k {
        return Err(DiffError::MixedKinds);
    }
    // Without a sampling interval the samples themselves are the unit of time.
    let in_samples = k == Kind::Sampling
        && [before, after]
            .iter()
            .any(|p| p.samples.as_ref().is_some_and(|s| s.interval <= 0.0));
    let graph = |p: &Profile| match &p.samples {
        Some(s) if in_samples => {
            let mut s = s.clone();
            s.interval = 1.0;
            s.call_graph(None)
        }
        _ => dziura_formats::call_graph(p, None),
    };
    let (gb, ga) = (graph(before), graph(after));
    let (_, _, tb) = gb.totals();
    let (_, _, ta) = ga.totals();
    let calls = match k {
        Kind::Sampling => (
            before.samples.as_ref().map_or(0, |s| s.total()),
            after.samples.as_ref().map_or(0, |s| s.total()),
        ),
        Kind::Tracing => (gb.totals().0, ga.totals().0),
    };

    // Exact matches first, then base name + line + name among the rest when unique.
    let mut pair_of_after: Vec<Option<usize>> = vec![None; ga.len()];
    let mut pair_of_before: Vec<Option<usize>> = vec![None; gb.len()];
    for (i, key, _) in gb.iter() {
        if let Some(j) = ga.find(key) {
            pair_of_before[i] = Some(j);
            pair_of_after[j] = Some(i);
        }
    }
    let mut loose: HashMap<FuncKey, (Vec<usize>, Vec<usize>)> = HashMap::new();
    for (i, key, _) in gb.iter().filter(|(i, _, _)| pair_of_before[*i].is_none()) {
        loose.entry(loose_key(key)).or_default().0.push(i);
    }
    for (j, key, _) in ga.iter().filter(|(j, _, _)| pair_of_after[*j].is_none()) {
        loose.entry(loose_key(key)).or_default().1.push(j);
    }
    for (b, a) in loose.values() {
        if let ([i], [j]) = (b.as_slice(), a.as_slice()) {
            pair_of_before[*i] = Some(*j);
            pair_of_after[*j] = Some(*i);
        }
    }

    let share = |x: f64, total: f64| if total > 0.0 { x / total } else { 0.0 };
    let row = |key: &FuncKey, status, b: CallStats, a: CallStats| Row {
        key: key.clone(),
        status,
        before: b,
        after: a,
        own_share: (share(b.own_time, tb), share(a.own_time, ta)),
        cum_share: (share(b.cum_time, tb), share(a.cum_time, ta)),
    };
    let mut rows = Vec::with_capacity(ga.len() + gb.len());
    for (j, key, s) in ga.iter() {
        rows.push(match pair_of_after[j] {
            Some(i) => row(key, Status::Both, gb.stats(i).total, s.total),
            None => row(key, Status::New, CallStats::default(), s.total),
        });
    }
    for (_, key, s) in gb.iter().filter(|(i, _, _)| pair_of_before[*i].is_none()) {
        rows.push(row(key, Status::Gone, s.total, CallStats::default()));
    }
    sort_rows(&mut rows, sort);
    Ok(Diff {
        kind: k,
        rows,
        total: (tb, ta),
        calls,
        sort,
        in_samples,
    })
}

fn sort_rows(rows: &mut [Row], sort: SortBy) {
    rows.sort_by(|x, y| {
        let primary = match sort {
            SortBy::Own => y.d_own_pct().total_cmp(&x.d_own_pct()),
            SortBy::Cum => y.d_cum_pct().total_cmp(&x.d_cum_pct()),
            SortBy::Calls => y.d_calls().cmp(&x.d_calls()),
        };
        primary
            .then_with(|| y.d_own().total_cmp(&x.d_own()))
            .then_with(|| y.d_cum().total_cmp(&x.d_cum()))
            .then_with(|| x.key.cmp(&y.key))
    });
}

/// Percentage points with a sign; a change that rounds to nothing is `+0.00`, never `-0.00`.
fn points(x: f64) -> String {
    let s = format!("{x:+.2}");
    if s == "-0.00" {
        "+0.00".into()
    } else {
        s
    }
}

fn secs(t: f64) -> String {
    if t == 0.0 {
        "0".into()
    } else if t.abs() >= 100.0 {
        format!("{t:.1}")
    } else {
        format!("{t:.3}")
    }
}

fn calls_text(s: &CallStats) -> String {
    if s.calls == s.primitive_calls {
        s.calls.to_string()
    } else {
        format!("{}/{}", s.calls, s.primitive_calls)
    }
}

fn pct_change(before: f64, after: f64) -> String {
    if before > 0.0 {
        format!(" ({:+.1}%)", 100.0 * (after - before) / before)
    } else {
        String::new()
    }
}

/// The table: a header summarising both runs, then at most `limit` rows.
pub fn render_table(d: &Diff, limit: Option<usize>) -> String {
    let mut out = String::new();
    let (tb, ta) = d.total;
    let (cb, ca) = d.calls;
    let unit = match d.kind {
        Kind::Tracing => "calls",
        Kind::Sampling => "samples",
    };
    if d.in_samples {
        let _ = writeln!(out, "total {cb} → {ca} samples{}", pct_change(tb, ta));
    } else {
        let _ = writeln!(
            out,
            "total time {}s → {}s{}, {cb} → {ca} {unit}",
            secs(tb),
            secs(ta),
            pct_change(tb, ta)
        );
    }
    let new = d.rows.iter().filter(|r| r.status == Status::New).count();
    let gone = d.rows.iter().filter(|r| r.status == Status::Gone).count();
    let shown = limit.unwrap_or(d.rows.len()).min(d.rows.len());
    let order = match d.sort {
        SortBy::Own => "own-time share",
        SortBy::Cum => "cumulative-time share",
        SortBy::Calls => unit,
    };
    let _ = writeln!(
        out,
        "{} functions ({new} new, {gone} gone), ordered by increase of {order}; showing {shown}",
        d.rows.len()
    );
    out.push('\n');

    let time = |t: f64| {
        if d.in_samples {
            format!("{t:.0}")
        } else {
            secs(t)
        }
    };
    let cells: Vec<[String; 6]> = d.rows[..shown]
        .iter()
        .map(|r| {
            let tag = match r.status {
                Status::Both => "",
                Status::New => "[new] ",
                Status::Gone => "[gone] ",
            };
            [
                points(r.d_own_pct()),
                points(r.d_cum_pct()),
                format!("{}→{}", time(r.before.own_time), time(r.after.own_time)),
                format!("{}→{}", time(r.before.cum_time), time(r.after.cum_time)),
                format!("{}→{}", calls_text(&r.before), calls_text(&r.after)),
                format!("{tag}{}", r.key),
            ]
        })
        .collect();
    let calls_head = format!("{unit} before→after");
    let head = [
        "Δown%",
        "Δcum%",
        "own before→after",
        "cum before→after",
        calls_head.as_str(),
        "function",
    ];
    let mut widths = [0usize; 5];
    for (w, h) in widths.iter_mut().zip(head) {
        *w = h.chars().count();
    }
    for c in &cells {
        for (w, s) in widths.iter_mut().zip(c) {
            *w = (*w).max(s.chars().count());
        }
    }
    let line = |out: &mut String, c: [&str; 6]| {
        for (w, s) in widths.iter().zip(c) {
            let pad = w - s.chars().count();
            out.push_str(&" ".repeat(pad));
            out.push_str(s);
            out.push_str("  ");
        }
        out.push_str(c[5]);
        out.push('\n');
    };
    line(&mut out, head);
    for c in &cells {
        line(&mut out, [&c[0], &c[1], &c[2], &c[3], &c[4], &c[5]]);
    }
    out
}

/// Options of the differential flame graph.
#[derive(Clone, Debug)]
pub struct DiffFlamegraphOptions {
    pub title: String,
    /// Scale BEFORE's counts to AFTER's total, so only changes of shares colour frames.
    pub normalize: bool,
    pub collapsed: CollapsedOptions,
}

impl Default for DiffFlamegraphOptions {
    fn default() -> Self {
        DiffFlamegraphOptions {
            title: "Differential flame graph".into(),
            normalize: true,
            // Lines move between versions of a program; functions are what is compared.
            collapsed: CollapsedOptions {
                lines: false,
                ..CollapsedOptions::default()
            },
        }
    }
}

/// An SVG flame graph of AFTER, frames red where they got slower and blue where faster.
pub fn flamegraph(
    before: &Profile,
    after: &Profile,
    opts: &DiffFlamegraphOptions,
) -> Result<Vec<u8>, DiffError> {
    // Traced timelines give exact stacks too, weighted by nanoseconds instead of samples.
    let traced = match (kind(before), kind(after)) {
        (Kind::Sampling, Kind::Sampling) => false,
        (Kind::Tracing, Kind::Tracing)
            if before.traced_calls().is_some() && after.traced_calls().is_some() =>
        {
            true
        }
        (Kind::Tracing, Kind::Tracing) => return Err(DiffError::NeedsSamples),
        _ => return Err(DiffError::MixedKinds),
    };
    // Folded-stack inputs (no interval) know running lines only: draw their frames as they were.
    let mut copts = opts.collapsed.clone();
    if [before, after]
        .iter()
        .any(|p| p.samples.as_ref().is_some_and(|s| s.interval <= 0.0))
    {
        copts.lines = true;
    }
    let folded = |p: &Profile| -> Result<String, DiffError> {
        let mut text = String::new();
        for (stack, n) in collapsed::stacks(p, &copts).map_err(|_| DiffError::NeedsSamples)? {
            let _ = writeln!(text, "{stack} {n}");
        }
        Ok(text)
    };
    let (fb, fa) = (folded(before)?, folded(after)?);
    if fb.is_empty() && fa.is_empty() {
        return Err(DiffError::NoSamples);
    }
    let mut both = Vec::new();
    let dopts = inferno::differential::Options {
        normalize: opts.normalize && !fb.is_empty(),
        strip_hex: false,
    };
    inferno::differential::from_readers(dopts, fb.as_bytes(), fa.as_bytes(), &mut both)?;
    let both = String::from_utf8_lossy(&both).into_owned();
    let mut o = inferno::flamegraph::Options::default();
    o.title = opts.title.clone();
    let (sb, sa, unit) = if traced {
        let calls = |p: &Profile| p.calls.as_ref().map_or(0, |c| c.calls() as u64);
        (calls(before), calls(after), "calls traced (widths: ns)")
    } else {
        let samples = |p: &Profile| p.samples.as_ref().map_or(0, |s| s.total());
        (samples(before), samples(after), "samples")
    };
    o.subtitle = Some(format!(
        "{sb} → {sa} {unit}; red: more time than before, blue: less{}",
        if dopts.normalize {
            " (before scaled to after's total)"
        } else {
            ""
        }
    ));
    o.count_name = if traced { "ns" } else { "samples" }.into();
    o.min_width = 0.1;
    let mut svg = Vec::new();
    inferno::flamegraph::from_lines(&mut o, both.lines(), &mut svg)?;
    Ok(svg)
}

/// Escapes text for HTML element content and attribute values (the report writer's escaping).
pub use dziura_formats::html::escape_text as escape_html;

/// A self-contained HTML page: the differential flame graph inline, and the table under it.
pub fn html(
    before: &Profile,
    after: &Profile,
    opts: &DiffFlamegraphOptions,
    table: &str,
) -> Result<String, DiffError> {
    let svg = flamegraph(before, after, opts)?;
    let svg = String::from_utf8_lossy(&svg);
    // The XML prolog and doctype belong to a standalone file, not inside HTML. Browsers do not
    // all fire `load` on an inline <svg>, so the page starts inferno's script itself.
    let start = svg.find("<svg").unwrap_or(0);
    let svg = svg[start..].replacen(" onload=\"init(evt)\"", "", 1);
    let title = escape_html(&opts.title);
    Ok(format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{title}</title>\n<style>body{{margin:0;font-family:sans-serif}}body>svg{{display:block;width:100%}}\
         pre{{margin:1em;font-size:12px}}</style>\n</head>\n<body>\n{}\n<script>document.addEventListener(\"DOMContentLoaded\", function () {{ init(null); }});</script>\n\
         <pre>{}</pre>\n</body>\n</html>\n",
        svg,
        escape_html(table)
    ))
}

#[cfg(test)]
mod address_tests {
    use super::*;
    use dziura_model::CallGraph;

    #[test]
    fn labels_with_addresses_match_across_runs() {
        assert_eq!(
            without_addresses("{function <lambda> at 0x7f3a12cd} at 0xzz"),
            "{function <lambda>} at 0xzz"
        );
        let mut before = CallGraph::new();
        let mut after = CallGraph::new();
        let stats = CallStats {
            calls: 1,
            primitive_calls: 1,
            own_time: 0.5,
            cum_time: 0.5,
        };
        before.add_total(&FuncKey::builtin("<function f at 0x7f00aa>"), &stats);
        after.add_total(&FuncKey::builtin("<function f at 0x7f11bb>"), &stats);
        let profile = |graph| Profile {
            threads: vec![dziura_model::ThreadProfile {
                graph,
                ..Default::default()
            }],
            ..Default::default()
        };
        let d = diff(&profile(before), &profile(after), SortBy::Own).unwrap();
        assert_eq!(d.rows.len(), 1, "{:?}", d.rows);
        assert_eq!(d.rows[0].status, Status::Both);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dziura_model::{CallGraph, Frame, Samples, ThreadProfile};

    fn st(nc: u64, tt: f64, ct: f64) -> CallStats {
        CallStats {
            calls: nc,
            primitive_calls: nc,
            own_time: tt,
            cum_time: ct,
        }
    }

    fn traced(funcs: &[(&str, &str, u64, f64, f64)]) -> Profile {
        let mut g = CallGraph::new();
        for &(file, name, nc, tt, ct) in funcs {
            g.add_total(&FuncKey::python(file, 1, name), &st(nc, tt, ct));
        }
        Profile {
            threads: vec![ThreadProfile {
                graph: g,
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn sampled(stacks: &[(&[&str], u64)]) -> Profile {
        let mut s = Samples::new(0.01);
        for (names, n) in stacks {
            let frames: Vec<u32> = names
                .iter()
                .map(|name| {
                    s.frame(&Frame {
                        func: FuncKey::python("/app/m.py", 1, *name),
                        line: 1,
                    })
                })
                .collect();
            s.add(0, &frames, *n);
        }
        Profile {
            threads: vec![ThreadProfile::default()],
            samples: Some(s),
            ..Default::default()
        }
    }

    fn find<'a>(d: &'a Diff, name: &str) -> &'a Row {
        d.rows.iter().find(|r| r.key.name == name).unwrap()
    }

    #[test]
    fn slower_function_first_new_and_gone_marked() {
        let before = traced(&[
            ("/a/m.py", "main", 1, 0.1, 1.0),
            ("/a/m.py", "slow", 10, 0.4, 0.4),
            ("/a/m.py", "steady", 5, 0.5, 0.5),
            ("/a/m.py", "old", 1, 0.0, 0.0),
        ]);
        let after = traced(&[
            ("/a/m.py", "main", 1, 0.1, 2.0),
            ("/a/m.py", "slow", 50, 1.6, 1.6),
            ("/a/m.py", "steady", 5, 0.5, 0.5),
            ("/a/m.py", "fresh", 3, 0.05, 0.05),
        ]);
        let d = diff(&before, &after, SortBy::Own).unwrap();
        assert_eq!(d.rows[0].key.name, "slow");
        assert_eq!(d.rows[0].d_calls(), 40);
        assert!((d.rows[0].d_own() - 1.2).abs() < 1e-9);
        assert_eq!(find(&d, "fresh").status, Status::New);
        assert_eq!(find(&d, "old").status, Status::Gone);
        assert_eq!(find(&d, "steady").status, Status::Both);
        assert!((d.total.0 - 1.0).abs() < 1e-9 && (d.total.1 - 2.25).abs() < 1e-9);
        let text = render_table(&d, Some(2));
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("total time 1.000s → 2.250s (+125.0%)"),
            "{text}"
        );
        assert!(
            lines[3].contains("Δown%") && lines[3].ends_with("function"),
            "{text}"
        );
        assert!(lines[4].ends_with("/a/m.py:1(slow)"), "{text}");
        assert!(lines[4].contains("10→50"), "{text}");
        assert_eq!(lines.len(), 6, "{text}");
        let all = render_table(&d, None);
        assert!(all.contains("[new] /a/m.py:1(fresh)"));
        assert!(all.contains("[gone] /a/m.py:1(old)"));
        // Sorting by calls and by cumulative time.
        let d = diff(&before, &after, SortBy::Calls).unwrap();
        assert_eq!(d.rows[0].key.name, "slow");
        assert_eq!(d.rows.last().unwrap().key.name, "old");
        let d = diff(&before, &after, SortBy::Cum).unwrap();
        assert_eq!(d.rows[0].key.name, "slow");
    }

    #[test]
    fn uniformly_slower_run_shows_no_change_of_shares() {
        let before = traced(&[("/a/m.py", "f", 1, 0.3, 1.0), ("/a/m.py", "g", 2, 0.7, 0.7)]);
        let after = traced(&[("/a/m.py", "f", 1, 0.6, 2.0), ("/a/m.py", "g", 2, 1.4, 1.4)]);
        let d = diff(&before, &after, SortBy::Own).unwrap();
        for r in &d.rows {
            assert!(r.d_own_pct().abs() < 1e-9, "{r:?}");
            assert!(r.d_cum_pct().abs() < 1e-9, "{r:?}");
            assert!(r.d_own() > 0.0);
        }
        assert!((find(&d, "g").own_share.0 - 0.7).abs() < 1e-12);
    }

    #[test]
    fn paths_from_another_machine_match_on_base_name() {
        let before = traced(&[("/home/a/proj/m.py", "f", 1, 1.0, 1.0)]);
        let after = traced(&[("/srv/b/proj/m.py", "f", 1, 2.0, 2.0)]);
        let d = diff(&before, &after, SortBy::Own).unwrap();
        assert_eq!(d.rows.len(), 1);
        assert_eq!(d.rows[0].status, Status::Both);
        assert_eq!(d.rows[0].key.file, "/srv/b/proj/m.py");
    }

    #[test]
    fn sampling_profiles_compare_in_samples() {
        let before = sampled(&[(&["main", "a"], 50), (&["main", "b"], 50)]);
        let after = sampled(&[
            (&["main", "a"], 50),
            (&["main", "b"], 150),
            (&["main", "c"], 10),
        ]);
        let d = diff(&before, &after, SortBy::Own).unwrap();
        assert_eq!(d.kind, Kind::Sampling);
        assert_eq!(d.calls, (100, 210));
        assert_eq!(d.rows[0].key.name, "b");
        assert_eq!(find(&d, "c").status, Status::New);
        assert_eq!(find(&d, "main").before.calls, 100);
        assert!(find(&d, "a").d_own_pct() < 0.0);
        assert!(render_table(&d, None).contains("100 → 210 samples"));
    }

    #[test]
    fn folded_stacks_compare_whole_functions_in_samples() {
        let before = read_folded("main (m.py:9);f (m.py:2) 10\nmain (m.py:9);f (m.py:3) 10\nmain (m.py:10);g (m.py:6) 20\n").unwrap();
        let after = read_folded("main (m.py:9);f (m.py:2) 30\nmain (m.py:9);f (m.py:3) 30\nmain (m.py:10);g (m.py:6) 20\n").unwrap();
        let d = diff(&before, &after, SortBy::Own).unwrap();
        assert!(d.in_samples);
        assert_eq!(d.rows[0].key, FuncKey::python("m.py", 0, "f"));
        assert_eq!(
            (d.rows[0].before.own_time, d.rows[0].after.own_time),
            (20.0, 60.0)
        );
        let text = render_table(&d, None);
        assert!(
            text.starts_with("total 40 → 80 samples (+100.0%)"),
            "{text}"
        );
        assert!(text.contains("20→60"), "{text}");
        let svg =
            String::from_utf8(flamegraph(&before, &after, &Default::default()).unwrap()).unwrap();
        // Frames drawn as the input named them, running lines included.
        assert!(svg.contains("f (m.py:3) (30 samples"), "{svg}");
    }

    #[test]
    fn tracing_against_sampling_is_refused() {
        let t = traced(&[("/a/m.py", "f", 1, 1.0, 1.0)]);
        let s = sampled(&[(&["f"], 3)]);
        for (b, a) in [(&t, &s), (&s, &t)] {
            let e = diff(b, a, SortBy::Own).unwrap_err();
            assert_eq!(
                e.to_string(),
                "cannot compare a tracing profile with a sampling profile (different units)"
            );
            assert!(matches!(
                flamegraph(b, a, &Default::default()),
                Err(DiffError::MixedKinds)
            ));
        }
        let e = flamegraph(&t, &t, &Default::default()).unwrap_err();
        assert!(e.to_string().contains("needs two sampling profiles"), "{e}");
    }

    #[test]
    fn differential_svg_is_red_where_slower_and_blue_where_faster() {
        let before = sampled(&[(&["main", "a"], 100), (&["main", "b"], 100)]);
        let after = sampled(&[(&["main", "a"], 20), (&["main", "b"], 180)]);
        let svg =
            String::from_utf8(flamegraph(&before, &after, &Default::default()).unwrap()).unwrap();
        assert!(svg.starts_with("<?xml"));
        let red = svg.contains("fill=\"rgb(255,");
        let blue = svg
            .match_indices("fill=\"rgb(")
            .any(|(i, _)| svg[i..].split('"').nth(1).unwrap().ends_with(",255)"));
        assert!(red && blue, "{svg}");
        assert!(svg.contains("b (m.py:1) (180 samples"), "{svg}");
        let page = html(&before, &after, &Default::default(), "a <b> & c").unwrap();
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(!page.contains("<?xml"));
        assert!(page.contains("<svg") && page.contains("a &lt;b&gt; &amp; c"));
        assert!(!page.contains("onload=") && page.contains("init(null)"));
        if let Some(dir) = std::env::var_os("DZIURA_DIFF_DUMP") {
            let dir = std::path::PathBuf::from(dir);
            std::fs::write(dir.join("diff.svg"), &svg).unwrap();
            std::fs::write(dir.join("diff.html"), &page).unwrap();
        }
    }
}
