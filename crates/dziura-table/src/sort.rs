//! pstats' sort keys: the same names, the same unique-prefix rule, the same multi-key order.

use std::cmp::Ordering;

use dziura_model::CallGraph;

use crate::ViewError;

/// A field rows can be ordered by (pstats' `sort_arg_dict_default`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKey {
    Calls,
    PrimitiveCalls,
    CumTime,
    OwnTime,
    File,
    Line,
    Name,
    NameFileLine,
    StdName,
}

/// (name, key, description) in pstats' order.
const KEYS: &[(&str, SortKey, &str)] = &[
    ("calls", SortKey::Calls, "call count"),
    ("ncalls", SortKey::Calls, "call count"),
    ("cumtime", SortKey::CumTime, "cumulative time"),
    ("cumulative", SortKey::CumTime, "cumulative time"),
    ("filename", SortKey::File, "file name"),
    ("line", SortKey::Line, "line number"),
    ("module", SortKey::File, "file name"),
    ("name", SortKey::Name, "function name"),
    ("nfl", SortKey::NameFileLine, "name/file/line"),
    ("pcalls", SortKey::PrimitiveCalls, "primitive call count"),
    ("stdname", SortKey::StdName, "standard name"),
    ("time", SortKey::OwnTime, "internal time"),
    ("tottime", SortKey::OwnTime, "internal time"),
];

/// Every full key name, for error messages.
pub(crate) fn key_names() -> String {
    KEYS.iter()
        .map(|(n, _, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Looks a key up by name or unique prefix, with pstats' rule: a prefix shared by two names is
/// ambiguous unless it is itself a full name ("c" is ambiguous, "cum" too, "cumt" is cumtime).
fn lookup(word: &str) -> Option<(SortKey, &'static str)> {
    if let Some(&(_, k, d)) = KEYS.iter().find(|(n, _, _)| *n == word) {
        return Some((k, d));
    }
    if word.is_empty() {
        return None;
    }
    // pstats registers each name's prefixes in order and drops a prefix once a second name
    // reaches it; that makes a prefix valid exactly when a single name starts with it.
    let mut hits = KEYS.iter().filter(|(n, _, _)| n.starts_with(word));
    let first = hits.next()?;
    if hits.next().is_some() {
        return None;
    }
    Some((first.1, first.2))
}

/// A parsed `sort_stats(...)` argument list.
#[derive(Clone, Debug, PartialEq)]
pub struct SortSpec {
    keys: Vec<(SortKey, &'static str)>,
}

impl SortSpec {
    /// Parses sort keys (names, unique prefixes, or cProfile's legacy ints -1, 0, 1, 2).
    pub fn parse(words: &[&str]) -> Result<SortSpec, ViewError> {
        let mut keys = Vec::new();
        for w in words {
            let name = match *w {
                "-1" => "stdname",
                "0" => "calls",
                "1" => "time",
                "2" => "cumulative",
                other => other,
            };
            keys.push(lookup(name).ok_or_else(|| ViewError::UnknownSortKey(w.to_string()))?);
        }
        if keys.is_empty() {
            keys.push(lookup("stdname").unwrap());
        }
        Ok(SortSpec { keys })
    }

    /// "internal time", or "cumulative time, call count" for several keys.
    pub fn description(&self) -> String {
        self.keys
            .iter()
            .map(|(_, d)| *d)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Row indices in this order; ties keep first-seen order (Python's sort is stable).
    pub fn order(&self, graph: &CallGraph) -> Vec<usize> {
        let names: Vec<String> = (0..graph.len()).map(|i| graph.key(i).to_string()).collect();
        let mut rows: Vec<usize> = (0..graph.len()).collect();
        rows.sort_by(|&a, &b| {
            for (key, _) in &self.keys {
                let o = compare(graph, &names, *key, a, b);
                if o != Ordering::Equal {
                    return o;
                }
            }
            Ordering::Equal
        });
        rows
    }
}

fn compare(g: &CallGraph, names: &[String], key: SortKey, a: usize, b: usize) -> Ordering {
    let (sa, sb) = (&g.stats(a).total, &g.stats(b).total);
    let (ka, kb) = (g.key(a), g.key(b));
    let desc_f = |x: f64, y: f64| y.partial_cmp(&x).unwrap_or(Ordering::Equal);
    match key {
        SortKey::Calls => sb.calls.cmp(&sa.calls),
        SortKey::PrimitiveCalls => sb.primitive_calls.cmp(&sa.primitive_calls),
        SortKey::CumTime => desc_f(sa.cum_time, sb.cum_time),
        SortKey::OwnTime => desc_f(sa.own_time, sb.own_time),
        SortKey::File => ka.file.cmp(&kb.file),
        SortKey::Line => ka.line.cmp(&kb.line),
        SortKey::Name => ka.name.cmp(&kb.name),
        SortKey::NameFileLine => ka
            .name
            .cmp(&kb.name)
            .then(ka.file.cmp(&kb.file))
            .then(ka.line.cmp(&kb.line)),
        SortKey::StdName => names[a].cmp(&names[b]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_follow_pstats() {
        let d = |w: &str| SortSpec::parse(&[w]).map(|s| s.description());
        assert_eq!(d("tottime").unwrap(), "internal time");
        assert_eq!(d("cumt").unwrap(), "cumulative time");
        assert_eq!(d("cumu").unwrap(), "cumulative time");
        assert!(d("n").is_err()); // ncalls, name, nfl
        assert_eq!(d("na").unwrap(), "function name");
        assert!(d("c").is_err());
        assert!(d("cum").is_err());
        assert_eq!(d("ti").unwrap(), "internal time");
        assert!(d("t").is_err());
        assert_eq!(d("2").unwrap(), "cumulative time");
        assert_eq!(d("-1").unwrap(), "standard name");
        assert_eq!(d("p").unwrap(), "primitive call count");
        assert!(matches!(
            SortSpec::parse(&["bogus"]),
            Err(ViewError::UnknownSortKey(_))
        ));
        let s = SortSpec::parse(&["calls", "cumulative"]).unwrap();
        assert_eq!(s.description(), "call count, cumulative time");
    }
}
