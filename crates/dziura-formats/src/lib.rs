//! A dziura profile written in the formats other tools read.
//!
//! Writers are pure functions from [`Profile`] to bytes: they never see the interpreter, a file
//! or a clock (the HTML report's source comes from the caller's [`SourceReader`]), so every format can be tested (and checked against its real reader) from plain
//! model values. [`Format`] holds the names the command line, the Python API and file
//! extensions share; [`write`] dispatches on it.

pub mod callgrind;
pub mod chrome;
pub mod collapsed;
pub mod flamegraph;
pub mod html;
pub mod pprof;
pub mod speedscope;

#[cfg(test)]
mod testdata;

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use dziura_model::{CallGraph, FuncKey, Profile, ThreadProfile};

pub use callgrind::CallgrindOptions;
pub use chrome::ChromeOptions;
pub use collapsed::CollapsedOptions;
pub use flamegraph::FlamegraphOptions;
pub use html::{HtmlOptions, SourceReader};
pub use pprof::PprofOptions;
pub use speedscope::SpeedscopeOptions;

/// Why a profile could not be written.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("unknown output format '{0}' (valid formats: {names})", names = Format::names())]
    UnknownFormat(String),
    #[error("cannot tell the output format from '{0}': name it (-f FORMAT, or format= in Python); valid formats: {names}", names = Format::names())]
    CannotTell(String),
    /// Timelines come from sampling, or from tracing with a timeline.
    #[error("{0} need a sampling profile or a traced timeline (this one holds call counts only: trace with dziura run --timeline, or write pstats, table, callgrind or pprof instead)")]
    NeedsCallTimeline(&'static str),
    #[error("{0}: the profile holds no samples (nothing was sampled)")]
    NoSamples(&'static str),
    #[error("{0} needs the samples' timeline (the profile keeps stack counts only)")]
    NeedsTimeline(&'static str),
    #[error("flame graph: {0}")]
    Flamegraph(#[from] std::io::Error),
}

/// An output format, by the name used on the command line and in the Python API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// pstats' text table.
    Table,
    /// cProfile's marshal file (`pstats.Stats`, snakeviz, gprof2dot).
    Pstats,
    /// dziura's own file.
    Dziura,
    /// Brendan Gregg's folded stacks.
    Collapsed,
    /// An interactive SVG flame graph.
    Flamegraph,
    /// A standalone HTML report.
    Html,
    /// speedscope's JSON file format.
    Speedscope,
    /// Chrome's trace event JSON (chrome://tracing, Perfetto).
    Chrome,
    /// Valgrind's callgrind format (KCachegrind, `callgrind_annotate`).
    Callgrind,
    /// Gzipped `perftools.profiles.Profile` protobuf (`go tool pprof`).
    Pprof,
}

/// What one format is: its name on the command line and in the Python API, the extension
/// dziura gives its files, the file name endings that imply it, and whether it is text. Every
/// question about a format is answered from [`FACTS`].
struct Facts {
    format: Format,
    name: &'static str,
    extension: &'static str,
    /// Endings (beside `.extension`) that imply the format.
    also: &'static [&'static str],
    text: bool,
}

const FACTS: [Facts; 10] = [
    Facts {
        format: Format::Table,
        name: "table",
        extension: "txt",
        also: &[],
        text: true,
    },
    Facts {
        format: Format::Pstats,
        name: "pstats",
        extension: "prof",
        also: &[".pstats"],
        text: false,
    },
    Facts {
        format: Format::Dziura,
        name: "dziura",
        extension: "dziura",
        also: &[],
        text: false,
    },
    Facts {
        format: Format::Collapsed,
        name: "collapsed",
        extension: "collapsed",
        also: &[".folded"],
        text: true,
    },
    Facts {
        format: Format::Flamegraph,
        name: "flamegraph",
        extension: "svg",
        also: &[],
        text: true,
    },
    Facts {
        format: Format::Html,
        name: "html",
        extension: "html",
        also: &[".htm"],
        text: true,
    },
    Facts {
        format: Format::Speedscope,
        name: "speedscope",
        extension: "speedscope.json",
        also: &[],
        text: true,
    },
    Facts {
        format: Format::Chrome,
        name: "chrome",
        extension: "trace.json",
        also: &[".chrome.json"],
        text: true,
    },
    Facts {
        format: Format::Callgrind,
        name: "callgrind",
        extension: "callgrind",
        also: &[],
        text: true,
    },
    Facts {
        format: Format::Pprof,
        name: "pprof",
        extension: "pb.gz",
        also: &[".pprof"],
        text: false,
    },
];

impl Format {
    pub const ALL: [Format; 10] = [
        Format::Table,
        Format::Pstats,
        Format::Dziura,
        Format::Collapsed,
        Format::Flamegraph,
        Format::Html,
        Format::Speedscope,
        Format::Chrome,
        Format::Callgrind,
        Format::Pprof,
    ];

    fn facts(self) -> &'static Facts {
        FACTS
            .iter()
            .find(|f| f.format == self)
            .expect("every format has its facts")
    }

    pub fn name(self) -> &'static str {
        self.facts().name
    }

    /// The extension dziura gives files of this format (`svg`, `speedscope.json`).
    pub fn extension(self) -> &'static str {
        self.facts().extension
    }

    /// Whether the output is text a terminal can show.
    pub fn is_text(self) -> bool {
        self.facts().text
    }

    /// Every name, comma separated, for help texts and errors.
    pub fn names() -> String {
        Format::ALL.map(Format::name).join(", ")
    }

    /// The format called `name`, ignoring case.
    pub fn from_name(name: &str) -> Result<Format, FormatError> {
        let lower = name.trim().to_ascii_lowercase();
        Format::ALL
            .into_iter()
            .find(|f| f.name() == lower)
            .ok_or_else(|| FormatError::UnknownFormat(name.to_string()))
    }

    /// The format a file name implies, when only one can be meant: `.json` alone says nothing.
    /// The longest matching ending wins (`x.speedscope.json` is speedscope).
    pub fn from_extension(path: impl AsRef<Path>) -> Option<Format> {
        let file = path.as_ref().file_name()?.to_str()?.to_ascii_lowercase();
        if file.starts_with("callgrind.out") {
            return Some(Format::Callgrind);
        }
        let mut best: Option<(usize, Format)> = None;
        for f in &FACTS {
            let dotted = format!(".{}", f.extension);
            for ending in std::iter::once(dotted.as_str()).chain(f.also.iter().copied()) {
                let longer = best.is_none_or(|(n, _)| ending.len() > n);
                if longer && file.len() > ending.len() && file.ends_with(ending) {
                    best = Some((ending.len(), f.format));
                }
            }
        }
        best.map(|(_, f)| f)
    }

    /// The format of an output: the one named (`-f`, `format=`), else the one `path`'s name
    /// implies, else `fallback` (`None`: nothing can be guessed, and the error says so).
    pub fn choose(
        name: Option<&str>,
        path: Option<&Path>,
        fallback: Option<Format>,
    ) -> Result<Format, FormatError> {
        if let Some(n) = name {
            return Format::from_name(n);
        }
        path.and_then(Format::from_extension)
            .or(fallback)
            .ok_or_else(|| {
                FormatError::CannotTell(path.map(|p| p.display().to_string()).unwrap_or_default())
            })
    }

    /// Whether the format is made from sampled stacks (and so fails on a tracing profile).
    pub fn needs_samples(self) -> bool {
        matches!(
            self,
            Format::Collapsed | Format::Flamegraph | Format::Speedscope | Format::Chrome
        )
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = FormatError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::from_name(s)
    }
}

/// "Your code first" above the table: who is the user (its code directories) and how the
/// ranking is printed.
#[derive(Clone, Debug)]
pub struct OwnOptions {
    pub classifier: dziura_own::Classifier,
    pub render: dziura_own::RenderOptions,
}

impl Default for OwnOptions {
    fn default() -> Self {
        OwnOptions {
            classifier: dziura_own::Classifier::default(),
            render: dziura_own::RenderOptions {
                limit: 15,
                root: String::new(),
                full_view_hint: "every function follows below".into(),
            },
        }
    }
}

/// The table of every view that prints one (`show`, `-f table` of `record` and `convert`,
/// `top`'s full view): for a sampled profile a line saying what its numbers are, the user's
/// functions ranked first, then pstats' table of every function, files named relative to their
/// site-packages, stdlib or project as everywhere else.
pub fn table(profile: &Profile, table: &dziura_table::ViewOptions, own: &OwnOptions) -> String {
    let mut text = String::new();
    if let Some(s) = &profile.samples {
        text.push_str(&format!(
            "Sampled profile: ncalls = samples with the function on the stack, times = samples x {:.3} ms\n",
            s.interval * 1000.0
        ));
    }
    let ranking = dziura_own::rank(profile, None, &own.classifier);
    text.push_str(&dziura_own::render(&ranking, &own.render));
    text.push('\n');
    text.push_str(&dziura_table::stats_table(
        &relative_graph(&call_graph(profile, None), &own.render.root),
        table,
    ));
    text
}

/// The order a table takes when none is asked for: own time for a sampled profile (its
/// cumulative column is the same outer frames at 100 % in every row), cumulative time for a
/// traced one.
pub fn default_sort(profile: &Profile) -> dziura_table::SortSpec {
    let key = if profile.is_sampled() {
        "tottime"
    } else {
        "cumulative"
    };
    dziura_table::SortSpec::parse(&[key]).expect("a pstats sort key")
}

/// The graph with each file named as [`dziura_own::short_path`] names it (relative to its
/// site-packages, the stdlib, or `root`); functions that then coincide are added together.
pub fn relative_graph(graph: &CallGraph, root: &str) -> CallGraph {
    graph.map_keys(|k| {
        if k.is_builtin() {
            k.clone()
        } else {
            FuncKey::python(
                dziura_own::short_path(&k.file, root),
                k.line,
                k.name.clone(),
            )
        }
    })
}

/// Options of every writer, so one call can write any format.
#[derive(Clone, Debug, Default)]
pub struct WriteOptions {
    pub table: dziura_table::ViewOptions,
    pub own: OwnOptions,
    pub collapsed: CollapsedOptions,
    pub flamegraph: FlamegraphOptions,
    pub speedscope: SpeedscopeOptions,
    pub chrome: ChromeOptions,
    pub callgrind: CallgrindOptions,
    pub pprof: PprofOptions,
    pub html: HtmlOptions,
}

/// Writes `profile` as `format`.
pub fn write(
    profile: &Profile,
    format: Format,
    opts: &WriteOptions,
) -> Result<Vec<u8>, FormatError> {
    Ok(match format {
        Format::Table => table(profile, &opts.table, &opts.own).into(),
        Format::Pstats => dziura_pstats::write(&call_graph(profile, None)),
        Format::Collapsed => collapsed::write(profile, &opts.collapsed)?.into(),
        Format::Flamegraph => flamegraph::write(profile, &opts.flamegraph)?,
        Format::Speedscope => speedscope::write(profile, &opts.speedscope)?,
        Format::Chrome => chrome::write(profile, &opts.chrome)?,
        Format::Callgrind => callgrind::write(profile, &opts.callgrind).into(),
        Format::Pprof => pprof::write(profile, &opts.pprof),
        Format::Dziura => dziura_file::write(profile),
        Format::Html => html::write(profile, &opts.html, &opts.own),
    })
}

/// The call graph of one thread, or of all threads added together: the threads' own graphs
/// when a tracer filled them, else the graph the samples imply.
pub fn call_graph(profile: &Profile, thread: Option<usize>) -> CallGraph {
    match (&profile.samples, thread) {
        (Some(s), _) if profile.is_sampled() => s.call_graph(thread),
        (_, None) => profile.merged(),
        (_, Some(t)) => profile
            .threads
            .get(t)
            .map(|t| t.graph.clone())
            .unwrap_or_default(),
    }
}

/// Each thread's timeline, (time, stack frames) in time order, indexed by thread: one pass
/// over the timeline however many threads there are.
pub(crate) fn timelines(samples: &dziura_model::Samples) -> Vec<Vec<(f64, &[u32])>> {
    let mut out: Vec<Vec<(f64, &[u32])>> = Vec::new();
    for ts in &samples.timeline {
        let st = &samples.stacks[ts.stack as usize];
        if out.len() <= st.thread {
            out.resize_with(st.thread + 1, Vec::new);
        }
        out[st.thread].push((ts.time, st.frames.as_slice()));
    }
    for t in &mut out {
        // Stable, so samples taken at one instant keep their order.
        t.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    out
}

/// The sampler's intervals are jittered up to 3 × the mean (see `dziura_sampler::Pacer`): a
/// thread's consecutive samples further apart than this were not consecutive ticks, so the
/// thread was left out in between (idle and not kept, or filtered out). Closer ones are the
/// clock's jitter, never a gap.
pub(crate) fn gap(a: f64, b: f64, interval: f64) -> bool {
    interval > 0.0 && b - a > 3.5 * interval
}

/// `thread NAME (native id N)`: how every format names a thread.
pub(crate) fn thread_label(thread: Option<&ThreadProfile>) -> String {
    match thread {
        Some(t) => {
            let name = if t.name.is_empty() { "?" } else { &t.name };
            if t.native_id != 0 {
                format!("thread {name} (native id {})", t.native_id)
            } else {
                format!("thread {name} (ident {})", t.ident)
            }
        }
        None => "thread ?".to_string(),
    }
}

/// The function's name as people read it: Python functions by name, C functions as pstats
/// shows them (`{built-in method builtins.len}`).
pub(crate) fn func_name(key: &FuncKey) -> String {
    if key.is_builtin() {
        key.to_string()
    } else {
        key.name.clone()
    }
}

/// The file's last path component. A backslash is a character of a POSIX file name
/// (`<back\slash>.py`), so it separates only in a Windows path (`C:\app\x.py`, from a pstats
/// file made there).
pub(crate) fn basename(file: &str) -> &str {
    let b = file.as_bytes();
    let windows = b.len() > 2 && b[0].is_ascii_alphabetic() && b[1] == b':' && b[2] == b'\\'
        || file.starts_with("\\\\");
    let cut = if windows {
        file.rsplit(['/', '\\']).next()
    } else {
        file.rsplit('/').next()
    };
    cut.unwrap_or(file)
}

/// The title of a graph: the profiled command, else "dziura".
pub(crate) fn title(profile: &Profile) -> String {
    let cmd = profile.meta.command.join(" ");
    if cmd.trim().is_empty() {
        "dziura".to_string()
    } else {
        cmd
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn basename_keeps_backslashes_of_posix_names() {
        assert_eq!(super::basename("/app/<back\\slash>.py"), "<back\\slash>.py");
        assert_eq!(super::basename("C:\\app\\x.py"), "x.py");
        assert_eq!(super::basename("\\\\host\\share\\y.py"), "y.py");
        assert_eq!(super::basename("plain.py"), "plain.py");
    }

    use super::*;
    use crate::testdata;

    #[test]
    fn names_round_trip_ignoring_case() {
        for f in Format::ALL {
            assert_eq!(Format::from_name(f.name()).unwrap(), f);
            assert_eq!(
                Format::from_name(&f.name().to_uppercase()).unwrap(),
                f,
                "{f}"
            );
            assert_eq!(f.to_string().parse::<Format>().unwrap(), f);
        }
    }

    #[test]
    fn unknown_name_lists_valid_ones() {
        let e = Format::from_name("svgz").unwrap_err().to_string();
        assert_eq!(
            e,
            "unknown output format 'svgz' (valid formats: table, pstats, dziura, collapsed, \
             flamegraph, html, speedscope, chrome, callgrind, pprof)"
        );
    }

    #[test]
    fn extensions() {
        let cases = [
            ("out.svg", Some(Format::Flamegraph)),
            ("OUT.SVG", Some(Format::Flamegraph)),
            ("x/profile.json", None),
            ("profile.speedscope.json", Some(Format::Speedscope)),
            ("cpu.pb.gz", Some(Format::Pprof)),
            ("cpu.pprof", Some(Format::Pprof)),
            ("run.prof", Some(Format::Pstats)),
            ("run.pstats", Some(Format::Pstats)),
            ("run.txt", Some(Format::Table)),
            ("a.collapsed", Some(Format::Collapsed)),
            ("a.folded", Some(Format::Collapsed)),
            ("report.html", Some(Format::Html)),
            ("/tmp/callgrind.out.1234", Some(Format::Callgrind)),
            ("callgrind.out", Some(Format::Callgrind)),
            ("x.callgrind", Some(Format::Callgrind)),
            ("x.trace.json", Some(Format::Chrome)),
            ("x.chrome.json", Some(Format::Chrome)),
            ("x.dziura", Some(Format::Dziura)),
            ("x.gz", None),
            ("x", None),
            (".svg", None),
            ("dir.svg/", Some(Format::Flamegraph)),
        ];
        for (path, want) in cases {
            assert_eq!(Format::from_extension(path), want, "{path}");
        }
    }

    #[test]
    fn dispatch_writes_every_format_it_owns() {
        let sampled = testdata::sampled();
        let traced = testdata::traced();
        let opts = WriteOptions::default();
        for f in Format::ALL {
            match write(&sampled, f, &opts) {
                Ok(bytes) => assert!(!bytes.is_empty(), "{f}"),
                Err(e) => panic!("{f}: {e}"),
            }
            match write(&traced, f, &opts) {
                Ok(bytes) => assert!(!bytes.is_empty() && !f.needs_samples(), "{f}"),
                Err(FormatError::NeedsTimeline(_) | FormatError::NeedsCallTimeline(_)) => {
                    assert!(f.needs_samples(), "{f}")
                }
                Err(e) => panic!("{f}: {e}"),
            }
        }
    }

    #[test]
    fn table_of_a_sampling_profile_comes_from_its_samples() {
        let text = String::from_utf8(
            write(
                &testdata::sampled(),
                Format::Table,
                &WriteOptions::default(),
            )
            .unwrap(),
        )
        .unwrap();
        assert!(text.contains("function calls"), "{text}");
        assert!(text.contains("{built-in method time.sleep}"), "{text}");
        let g = call_graph(&testdata::sampled(), Some(1));
        assert!(g.find(&testdata::worker()).is_some());
        assert!(g.find(&testdata::main_fn()).is_none());
    }

    #[test]
    fn empty_sampling_profile() {
        let p = Profile {
            samples: Some(dziura_model::Samples::new(0.01)),
            ..testdata::sampled()
        };
        let opts = WriteOptions::default();
        assert_eq!(write(&p, Format::Collapsed, &opts).unwrap(), b"");
        for f in [Format::Flamegraph, Format::Speedscope, Format::Chrome] {
            let e = write(&p, f, &opts).unwrap_err();
            assert!(matches!(e, FormatError::NoSamples(_)), "{f}: {e}");
        }
        assert!(!write(&p, Format::Pprof, &opts).unwrap().is_empty());
        assert!(!write(&p, Format::Callgrind, &opts).unwrap().is_empty());
    }

    #[test]
    fn thread_labels() {
        let t = ThreadProfile {
            ident: 7,
            native_id: 42,
            name: "MainThread".into(),
            graph: CallGraph::new(),
        };
        assert_eq!(thread_label(Some(&t)), "thread MainThread (native id 42)");
        let t = ThreadProfile {
            native_id: 0,
            name: String::new(),
            ..t
        };
        assert_eq!(thread_label(Some(&t)), "thread ? (ident 7)");
    }
}

/// `DZIURA_FORMATS_DUMP=DIR cargo test -p dziura-formats dump` writes every format of the test
/// profiles to DIR, to open in the real viewers by hand.
#[cfg(test)]
#[test]
fn dump_for_viewers() {
    let Some(dir) = std::env::var_os("DZIURA_FORMATS_DUMP") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ext = |f: Format| match f {
        Format::Table => "txt",
        Format::Pstats => "prof",
        Format::Collapsed => "collapsed",
        Format::Flamegraph => "svg",
        Format::Speedscope => "speedscope.json",
        Format::Chrome => "trace.json",
        Format::Callgrind => "callgrind",
        Format::Pprof => "pb.gz",
        Format::Dziura => "dziura",
        Format::Html => "html",
    };
    for (name, p) in [
        ("sampled", testdata::sampled()),
        ("counts", testdata::sampled_counts()),
        ("traced", testdata::traced()),
    ] {
        for f in Format::ALL {
            if let Ok(bytes) = write(&p, f, &WriteOptions::default()) {
                let path = dir.join(format!("{name}.{}", ext(f)));
                assert_eq!(Format::from_extension(&path), Some(f));
                std::fs::write(path, bytes).unwrap();
            }
        }
    }
}
