//! Turning Python-side arguments (sort keys, restrictions) into table options, and printing to
//! Python's `sys.stdout` so redirection in the profiled program is respected.

use dziura_formats::Format;
use dziura_model::Profile as Model;
use dziura_table::{Restriction, SortSpec, ViewOptions};
use pyo3::exceptions::{PyKeyError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyFloat, PyInt, PyString};

/// A sort argument as cProfile takes it: -1/0/1/2, a key name, or a `pstats.SortKey`.
pub fn sort_spec(sort: &Bound<'_, PyAny>) -> PyResult<SortSpec> {
    let words: Vec<String> = if let Ok(t) = sort.cast::<pyo3::types::PyTuple>() {
        t.iter().map(|x| sort_word(&x)).collect::<PyResult<_>>()?
    } else {
        vec![sort_word(sort)?]
    };
    let refs: Vec<&str> = words.iter().map(String::as_str).collect();
    SortSpec::parse(&refs).map_err(|e| PyKeyError::new_err(e.to_string()))
}

fn sort_word(x: &Bound<'_, PyAny>) -> PyResult<String> {
    if x.is_instance_of::<PyString>() {
        return x.extract();
    }
    if x.is_instance_of::<PyInt>() {
        return Ok(x.extract::<i64>()?.to_string());
    }
    if let Ok(v) = x.getattr("value") {
        return v.extract();
    }
    Err(PyValueError::new_err(format!("not a sort key: {x}")))
}

/// pstats restrictions: int count, float fraction, str regex.
pub fn restrictions(items: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<Vec<Restriction>> {
    items
        .iter()
        .map(|x| {
            if x.is_instance_of::<PyInt>() {
                // pstats lists every row for a count below 0 or past the end.
                Ok(Restriction::Count(
                    x.extract::<usize>().unwrap_or(usize::MAX),
                ))
            } else if x.is_instance_of::<PyFloat>() {
                let f: f64 = x.extract()?;
                Ok(if (0.0..1.0).contains(&f) {
                    Restriction::Fraction(f)
                } else {
                    Restriction::Count(usize::MAX)
                })
            } else {
                let s: String = x.extract()?;
                Restriction::parse(&s).map_err(|e| PyValueError::new_err(e.to_string()))
            }
        })
        .collect()
}

/// Which views to print and how.
pub struct Report {
    pub opts: ViewOptions,
    pub by_thread: bool,
    pub callers: Option<Vec<Restriction>>,
    pub callees: Option<Vec<Restriction>>,
}

/// The text of the requested views, with directories stripped as `cProfile.print_stats` does.
pub fn render(model: &Model, r: &Report) -> String {
    let mut out = String::new();
    let one = |graph: &dziura_model::CallGraph, out: &mut String| {
        let g = graph.strip_dirs();
        out.push_str(&dziura_table::stats_table(&g, &r.opts));
        out.push_str(&relations(&g, r));
    };
    // The graph the threads' tracers filled, or the one a sampled profile's stacks imply.
    if r.by_thread {
        for (i, t) in model.threads.iter().enumerate() {
            out.push_str(&format!(
                "Thread {} (ident {}, native id {})\n",
                t.name, t.ident, t.native_id
            ));
            one(&dziura_formats::call_graph(model, Some(i)), &mut out);
        }
    } else {
        one(&dziura_formats::call_graph(model, None), &mut out);
    }
    out
}

/// The callers and callees views asked for (`--callers`, `--callees`), if any.
pub fn relations(graph: &dziura_model::CallGraph, r: &Report) -> String {
    let with = |extra: &Vec<Restriction>| ViewOptions {
        sort: r.opts.sort.clone(),
        restrictions: extra.clone(),
        source: None,
    };
    let mut out = String::new();
    if let Some(c) = &r.callers {
        out.push_str(&dziura_table::callers_view(graph, &with(c)));
    }
    if let Some(c) = &r.callees {
        out.push_str(&dziura_table::callees_view(graph, &with(c)));
    }
    out
}

pub fn write_stdout(py: Python<'_>, text: &str) -> PyResult<()> {
    let out = py.import("sys")?.getattr("stdout")?;
    if !out.is_none() {
        out.call_method1("write", (text,))?;
    }
    Ok(())
}

/// The format a Python caller asked for by name, else the one `path`'s extension implies.
pub fn format_for(path: &std::path::Path, format: Option<&str>) -> PyResult<Format> {
    Format::choose(format, Some(path), None).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// This interpreter's library directories (stdlib, site-packages, its prefixes' `lib/` and
/// `bin/`): code
/// there is not the user's, beside what any Python's paths say of themselves.
pub fn library_dirs(py: Python<'_>) -> PyResult<Vec<String>> {
    let sys = py.import("sys")?;
    let paths = py.import("sysconfig")?.call_method0("get_paths")?;
    let mut dirs: Vec<String> = Vec::new();
    for k in ["stdlib", "platstdlib", "purelib", "platlib"] {
        if let Ok(p) = paths.get_item(k).and_then(|p| p.extract::<String>()) {
            dirs.push(p);
        }
    }
    for k in ["prefix", "base_prefix", "exec_prefix", "base_exec_prefix"] {
        if let Ok(p) = sys.getattr(k).and_then(|p| p.extract::<String>()) {
            let p = p.trim_end_matches('/');
            dirs.push(format!("{p}/lib"));
            dirs.push(format!("{p}/lib64"));
            // Console scripts (`.venv/bin/gunicorn`) are the installed package's code.
            dirs.push(format!("{p}/bin"));
        }
    }
    dirs.sort();
    dirs.dedup();
    Ok(dirs)
}

/// The HTML report's source files, read here: writers never read files. Regular files up to
/// [`dziura_formats::html::MAX_SOURCE_BYTES`], bad UTF-8 replaced.
pub fn source_reader() -> dziura_formats::SourceReader {
    dziura_formats::SourceReader(std::sync::Arc::new(|file: &str| {
        let path = std::path::Path::new(file);
        let meta = std::fs::metadata(path).ok()?;
        if !meta.is_file() || meta.len() > dziura_formats::html::MAX_SOURCE_BYTES {
            return None;
        }
        let bytes = std::fs::read(path).ok()?;
        Some(String::from_utf8_lossy(&bytes).into_owned())
    }))
}

/// Options for writing any format: the user's code as `own` (`--own`) and `DZIURA_OWN` say, and
/// the HTML report's source read from the files.
pub fn write_options(
    py: Python<'_>,
    own: &[std::path::PathBuf],
) -> PyResult<dziura_formats::WriteOptions> {
    let mut opts = dziura_formats::WriteOptions {
        own: own_options(py, own)?,
        ..Default::default()
    };
    opts.html.sources = Some(source_reader());
    Ok(opts)
}

/// Who the user is for "your code first": `own` (`--own`) and `DZIURA_OWN` directories, else
/// anything outside this interpreter's libraries; paths shown relative to the current
/// directory.
pub fn own_options(
    py: Python<'_>,
    own: &[std::path::PathBuf],
) -> PyResult<dziura_formats::OwnOptions> {
    let own: Vec<String> = own
        .iter()
        .map(|p| {
            std::path::absolute(p)
                .unwrap_or_else(|_| p.clone())
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let mut render = dziura_formats::OwnOptions::default().render;
    render.root = std::env::current_dir()
        .map(|d| d.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(dziura_formats::OwnOptions {
        classifier: dziura_own::Classifier::new(
            &dziura_own::Classifier::own_from_env(&own),
            &library_dirs(py)?,
        ),
        render,
    })
}
