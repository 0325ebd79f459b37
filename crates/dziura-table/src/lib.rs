//! The text views people know from `pstats`: the stats table, `print_callers` and `print_callees`,
//! laid out character for character as `Lib/pstats.py` prints them, with its sort keys (and their
//! unique prefixes) and its restrictions (a count, a fraction, or a regular expression).

mod sort;

use std::fmt::Write;

use dziura_model::{CallGraph, CallStats};
pub use sort::{SortKey, SortSpec};

/// Why a view could not be made from the arguments given.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ViewError {
    #[error("unknown sort key '{0}' (valid keys and unique prefixes of: {keys})", keys = sort::key_names())]
    UnknownSortKey(String),
    #[error("a fraction of the rows must be between 0 and 1, not {0}")]
    BadFraction(String),
    #[error("invalid regular expression '{0}' in a restriction: {1}")]
    BadRegex(String, String),
}

/// One of pstats' restrictions on which rows are listed, applied in order.
#[derive(Clone, Debug)]
pub enum Restriction {
    /// At most this many rows.
    Count(usize),
    /// This fraction of the rows, 0.0 ≤ f < 1.0.
    Fraction(f64),
    /// Only rows whose `file:line(name)` text matches.
    Pattern(regex::Regex),
}

impl Restriction {
    /// Reads a restriction the way pstats' interactive browser does: an integer (a negative or
    /// huge one lists every row, as pstats does), else a fraction in [0, 1], else a regular
    /// expression. A number outside [0, 1] is an error, not a pattern that matches nothing.
    pub fn parse(text: &str) -> Result<Restriction, ViewError> {
        let t = text.trim();
        let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(Restriction::Count(t.parse::<usize>().unwrap_or(usize::MAX)));
        }
        let numeric = t.bytes().any(|b| b.is_ascii_digit())
            && t.bytes()
                .all(|b| b.is_ascii_digit() || b".eE+-".contains(&b));
        if let (true, Ok(f)) = (numeric, t.parse::<f64>()) {
            if (0.0..=1.0).contains(&f) {
                return Ok(Restriction::Fraction(f));
            }
            return Err(ViewError::BadFraction(text.to_string()));
        }
        regex::Regex::new(text)
            .map(Restriction::Pattern)
            .map_err(|e| ViewError::BadRegex(text.to_string(), e.to_string()))
    }

    fn label(&self) -> String {
        match self {
            Restriction::Count(n) => n.to_string(),
            Restriction::Fraction(f) => format!("{f:?}"),
            Restriction::Pattern(r) => format!("'{}'", r.as_str()),
        }
    }

    fn apply(&self, graph: &CallGraph, rows: Vec<usize>) -> Vec<usize> {
        match self {
            Restriction::Count(n) => rows.into_iter().take(*n).collect(),
            Restriction::Fraction(f) => {
                let keep = (rows.len() as f64 * f + 0.5) as usize;
                rows.into_iter().take(keep).collect()
            }
            Restriction::Pattern(r) => rows
                .into_iter()
                .filter(|&i| r.is_match(&graph.key(i).to_string()))
                .collect(),
        }
    }
}

/// What to list and how: pstats' `sort_stats(...)` then `print_*(*restrictions)`.
#[derive(Clone, Debug, Default)]
pub struct ViewOptions {
    /// `None` lists in first-seen order ("Random listing order was used").
    pub sort: Option<SortSpec>,
    pub restrictions: Vec<Restriction>,
    /// A first line naming where the data came from, as pstats prints for a loaded file.
    pub source: Option<String>,
}

fn f8(x: f64) -> String {
    format!("{x:8.3}")
}

fn ncalls(s: &CallStats) -> String {
    if s.calls == s.primitive_calls {
        s.calls.to_string()
    } else {
        format!("{}/{}", s.calls, s.primitive_calls)
    }
}

/// The selected rows and the "Ordered by"/"List reduced" lines, as `get_print_list` makes them.
struct Listing {
    rows: Vec<usize>,
    preamble: String,
    width: usize,
}

fn listing(graph: &CallGraph, opts: &ViewOptions) -> Listing {
    let (mut rows, mut preamble) = match &opts.sort {
        Some(spec) => (
            spec.order(graph),
            format!("   Ordered by: {}\n", spec.description()),
        ),
        None => (
            (0..graph.len()).collect(),
            "   Random listing order was used\n".to_string(),
        ),
    };
    for r in &opts.restrictions {
        let before = rows.len();
        rows = r.apply(graph, rows);
        if rows.len() != before {
            let _ = writeln!(
                preamble,
                "   List reduced from {before} to {} due to restriction <{}>",
                rows.len(),
                r.label()
            );
        }
    }
    let name_len = |i: &usize| graph.key(*i).to_string().chars().count();
    let width = if rows.len() < graph.len() {
        rows.iter().map(name_len).max().unwrap_or(0)
    } else {
        (0..graph.len()).map(|i| name_len(&i)).max().unwrap_or(0)
    };
    Listing {
        rows,
        preamble,
        width: width + 2,
    }
}

/// The header line: `N function calls (M primitive calls) in T seconds`.
fn header(graph: &CallGraph, opts: &ViewOptions, out: &mut String) {
    if let Some(src) = &opts.source {
        let _ = writeln!(out, "{src}\n");
    }
    let (nc, cc, tt) = graph.totals();
    let _ = write!(out, "         {nc} function calls ");
    if nc != cc {
        let _ = write!(out, "({cc} primitive calls) ");
    }
    let _ = writeln!(out, "in {tt:.3} seconds\n");
}

/// `pstats.Stats.print_stats`: the table of functions.
pub fn stats_table(graph: &CallGraph, opts: &ViewOptions) -> String {
    let mut out = String::new();
    header(graph, opts, &mut out);
    let l = listing(graph, opts);
    if l.rows.is_empty() {
        return out;
    }
    let _ = writeln!(out, "{}", l.preamble);
    out.push_str("   ncalls  tottime  percall  cumtime  percall filename:lineno(function)\n");
    for &i in &l.rows {
        let s = &graph.stats(i).total;
        let per_own = if s.calls == 0 {
            " ".repeat(8)
        } else {
            f8(s.own_time / s.calls as f64)
        };
        let per_cum = if s.primitive_calls == 0 {
            " ".repeat(8)
        } else {
            f8(s.cum_time / s.primitive_calls as f64)
        };
        let _ = writeln!(
            out,
            "{:>9} {} {} {} {} {}",
            ncalls(s),
            f8(s.own_time),
            per_own,
            f8(s.cum_time),
            per_cum,
            graph.key(i)
        );
    }
    out.push_str("\n\n");
    out
}

/// `pstats.Stats.print_callers`: for each listed function, who called it.
pub fn callers_view(graph: &CallGraph, opts: &ViewOptions) -> String {
    let l = listing(graph, opts);
    let mut out = String::new();
    if l.rows.is_empty() {
        return out;
    }
    let _ = writeln!(out, "{}", l.preamble);
    call_heading(graph, l.width, "was called by...", &mut out);
    for &i in &l.rows {
        call_lines(graph, l.width, i, &graph.stats(i).callers, "<-", &mut out);
    }
    out.push_str("\n\n");
    out
}

/// `pstats.Stats.print_callees`: for each listed function, what it called.
pub fn callees_view(graph: &CallGraph, opts: &ViewOptions) -> String {
    let l = listing(graph, opts);
    let mut out = String::new();
    if l.rows.is_empty() {
        return out;
    }
    let callees = graph.callees();
    let _ = writeln!(out, "{}", l.preamble);
    call_heading(graph, l.width, "called...", &mut out);
    for &i in &l.rows {
        call_lines(graph, l.width, i, &callees[i], "->", &mut out);
    }
    out.push_str("\n\n");
    out
}

fn call_heading(graph: &CallGraph, width: usize, title: &str, out: &mut String) {
    let _ = writeln!(out, "{:<width$}{title}", "Function ");
    if graph.iter().any(|(_, _, s)| !s.callers.is_empty()) {
        let _ = writeln!(out, "{}    ncalls  tottime  cumtime", " ".repeat(width));
    }
}

fn call_lines(
    graph: &CallGraph,
    width: usize,
    func: usize,
    edges: &[(usize, CallStats)],
    arrow: &str,
    out: &mut String,
) {
    let _ = write!(out, "{:<width$}{arrow} ", graph.key(func).to_string());
    if edges.is_empty() {
        out.push('\n');
        return;
    }
    // pstats lists the other ends sorted by their (file, line, name) key.
    let mut sorted: Vec<&(usize, CallStats)> = edges.iter().collect();
    sorted.sort_by(|a, b| graph.key(a.0).cmp(graph.key(b.0)));
    for (n, (other, e)) in sorted.into_iter().enumerate() {
        let (pad, col) = if n == 0 { (0, 7) } else { (width + 1, 9) };
        let _ = writeln!(
            out,
            "{}{:>col$} {} {}  {}",
            " ".repeat(pad),
            ncalls(e),
            f8(e.own_time),
            f8(e.cum_time),
            graph.key(*other)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dziura_model::FuncKey;

    fn graph() -> CallGraph {
        let mut g = CallGraph::new();
        let m = FuncKey::python("app.py", 1, "<module>");
        let f = FuncKey::python("app.py", 10, "fib");
        let l = FuncKey::builtin("<built-in method builtins.len>");
        let st = |nc, cc, tt, ct| CallStats {
            calls: nc,
            primitive_calls: cc,
            own_time: tt,
            cum_time: ct,
        };
        g.add_total(&m, &st(1, 1, 0.001, 0.005));
        g.add_total(&f, &st(25, 1, 0.004, 0.004));
        g.add_total(&l, &st(3, 3, 0.0, 0.0));
        g.add_edge(&m, &f, &st(1, 1, 0.001, 0.004));
        g.add_edge(&f, &f, &st(24, 2, 0.004, 0.004));
        g.add_edge(&m, &l, &st(3, 3, 0.0, 0.0));
        g
    }

    #[test]
    fn table_matches_pstats_layout() {
        let opts = ViewOptions {
            sort: Some(SortSpec::parse(&["tottime"]).unwrap()),
            restrictions: vec![Restriction::Count(2)],
            source: None,
        };
        let t = stats_table(&graph(), &opts);
        let expected = "         29 function calls (5 primitive calls) in 0.005 seconds\n\n   Ordered by: internal time\n   List reduced from 3 to 2 due to restriction <2>\n\n   ncalls  tottime  percall  cumtime  percall filename:lineno(function)\n     25/1    0.004    0.000    0.004    0.004 app.py:10(fib)\n        1    0.001    0.001    0.005    0.005 app.py:1(<module>)\n\n\n";
        assert_eq!(t, expected);
    }

    #[test]
    fn callers_and_callees_match_pstats_layout() {
        let opts = ViewOptions {
            sort: Some(SortSpec::parse(&["name"]).unwrap()),
            restrictions: vec![Restriction::parse("fib").unwrap()],
            source: None,
        };
        let c = callers_view(&graph(), &opts);
        let expected = "   Ordered by: function name\n   List reduced from 3 to 1 due to restriction <'fib'>\n\nFunction        was called by...\n                    ncalls  tottime  cumtime\napp.py:10(fib)  <-       1    0.001    0.004  app.py:1(<module>)\n                      24/2    0.004    0.004  app.py:10(fib)\n\n\n";
        assert_eq!(c, expected);
        let opts = ViewOptions {
            sort: None,
            restrictions: vec![Restriction::parse("module").unwrap()],
            source: None,
        };
        let c = callees_view(&graph(), &opts);
        // Checked against Python 3.11's pstats on the same dictionary.
        let expected = "   Random listing order was used\n   List reduced from 3 to 1 due to restriction <'module'>\n\nFunction            called...\n                        ncalls  tottime  cumtime\napp.py:1(<module>)  ->       1    0.001    0.004  app.py:10(fib)\n                             3    0.000    0.000  {built-in method builtins.len}\n\n\n";
        assert_eq!(c, expected);
    }

    #[test]
    fn restrictions_parse_like_the_pstats_browser() {
        assert!(matches!(
            Restriction::parse("10"),
            Ok(Restriction::Count(10))
        ));
        assert!(matches!(
            Restriction::parse("0.25"),
            Ok(Restriction::Fraction(_))
        ));
        assert!(matches!(
            Restriction::parse("foo.*"),
            Ok(Restriction::Pattern(_))
        ));
        assert!(matches!(
            Restriction::parse("("),
            Err(ViewError::BadRegex(..))
        ));
    }
}
