//! Valgrind's callgrind format, as KCachegrind, QCachegrind and `callgrind_annotate` read it
//! (<https://valgrind.org/docs/manual/cl-format.html>), made from a call graph so tracing and
//! sampling profiles both work.
//!
//! One event, `us`: integer microseconds. Each function's cost line holds its own time at its
//! first line; each `calls=` line gives a callee's call count and the inclusive time of those
//! calls. A function calling itself gets its count but no cost, since readers add call costs to
//! the caller's inclusive time and the outer activation already holds the inner ones.

use std::collections::HashMap;
use std::fmt::Write;

use dziura_model::{CallGraph, FuncKey, Profile};

use crate::{call_graph, func_name, thread_label};

#[derive(Clone, Debug)]
pub struct CallgrindOptions {
    /// Name compression: `fn=(3) name` the first time, `fn=(3)` after; smaller files.
    pub compress: bool,
    /// One thread (index into the profile's threads) instead of all threads added together.
    pub thread: Option<usize>,
}

impl Default for CallgrindOptions {
    fn default() -> Self {
        CallgrindOptions {
            compress: true,
            thread: None,
        }
    }
}

/// The file's text.
pub fn write(profile: &Profile, opts: &CallgrindOptions) -> String {
    let graph = call_graph(profile, opts.thread);
    let mut out = String::new();
    out.push_str("# callgrind format\nversion: 1\n");
    let _ = writeln!(out, "creator: dziura {}", env!("CARGO_PKG_VERSION"));
    let cmd = line_safe(&profile.meta.command.join(" "));
    if !cmd.is_empty() {
        let _ = writeln!(out, "cmd: {cmd}");
    }
    if let Some(t) = opts.thread {
        let _ = writeln!(
            out,
            "desc: Thread: {}",
            line_safe(&thread_label(profile.threads.get(t)))
        );
    }
    if !profile.meta.mode.is_empty() {
        let _ = writeln!(out, "desc: Mode: {}", line_safe(&profile.meta.mode));
    }
    if !profile.meta.python_version.is_empty() {
        let _ = writeln!(
            out,
            "desc: Python: {}",
            line_safe(&profile.meta.python_version)
        );
    }
    out.push_str("positions: line\nevent: us : Time (microseconds)\nevents: us\n");
    let total: u64 = (0..graph.len())
        .map(|i| us(graph.stats(i).total.own_time))
        .sum();
    let _ = writeln!(out, "summary: {total}\n");
    body(&graph, opts, &mut out);
    let _ = writeln!(out, "totals: {total}");
    out
}

fn body(graph: &CallGraph, opts: &CallgrindOptions, out: &mut String) {
    let mut names = Names::new(opts.compress);
    let callees = graph.callees();
    for (i, key, stats) in graph.iter() {
        let file = names.file(key);
        let func = names.func(key);
        let _ = writeln!(out, "fl={file}\nfn={func}");
        let _ = writeln!(out, "{} {}", key.line, us(stats.total.own_time));
        for &(callee, edge) in &callees[i] {
            let ck = graph.key(callee);
            let cost = if callee == i { 0 } else { us(edge.cum_time) };
            let file = names.file(ck);
            let func = names.func(ck);
            let _ = writeln!(out, "cfl={file}\ncfn={func}");
            let _ = writeln!(out, "calls={} {}", edge.calls, ck.line);
            let _ = writeln!(out, "{} {cost}", key.line);
        }
        out.push('\n');
    }
}

fn us(seconds: f64) -> u64 {
    (seconds * 1e6).round().max(0.0) as u64
}

/// Names end at the line's end; a leading `(digits)` would read as a compressed name.
fn line_safe(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

/// Files and functions as callgrind names them, compressed or not.
struct Names {
    compress: bool,
    files: HashMap<String, usize>,
    funcs: HashMap<(String, String), usize>,
}

impl Names {
    fn new(compress: bool) -> Self {
        Names {
            compress,
            files: HashMap::new(),
            funcs: HashMap::new(),
        }
    }

    fn file(&mut self, key: &FuncKey) -> String {
        let file = if key.is_builtin() {
            "<built-in>".to_string()
        } else {
            line_safe(&key.file)
        };
        Self::name(self.compress, &mut self.files, file.clone(), file)
    }

    /// Python functions carry their first line, so two `__init__`s in one file stay apart.
    fn func(&mut self, key: &FuncKey) -> String {
        let name = if key.is_builtin() {
            line_safe(&func_name(key))
        } else {
            line_safe(&format!("{}:{}", key.name, key.line))
        };
        let file = key.file.clone();
        Self::name(self.compress, &mut self.funcs, (file, name.clone()), name)
    }

    fn name<K: std::hash::Hash + Eq>(
        compress: bool,
        ids: &mut HashMap<K, usize>,
        key: K,
        name: String,
    ) -> String {
        if !compress {
            return if is_compressed_form(&name) {
                format!("[{}", &name[1..])
            } else {
                name
            };
        }
        let next = ids.len() + 1;
        match ids.get(&key) {
            Some(id) => format!("({id})"),
            None => {
                ids.insert(key, next);
                format!("({next}) {name}")
            }
        }
    }
}

/// Whether a name would be taken for `(id) name` by a reader.
fn is_compressed_form(name: &str) -> bool {
    name.strip_prefix('(')
        .and_then(|r| r.split_once(')'))
        .is_some_and(|(d, _)| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata;
    use std::process::Command;

    #[test]
    fn traced_profile_text() {
        let text = write(&testdata::traced(), &CallgrindOptions::default());
        let want_head = "# callgrind format\nversion: 1\ncreator: dziura ";
        assert!(text.starts_with(want_head), "{text}");
        assert!(text.contains("\ncmd: app.py --fast\n"));
        assert!(text.contains(
            "positions: line\nevent: us : Time (microseconds)\nevents: us\nsummary: 1500000\n"
        ));
        assert!(text.ends_with("totals: 1500000\n"));
        // main: own time at its first line, then fib with its inclusive time.
        assert!(
            text.contains(
                "fl=(1) /app/main.py\nfn=(1) main:1\n1 100000\n\
             cfl=(1)\ncfn=(2) fib:10\ncalls=1 10\n1 800000\n"
            ),
            "{text}"
        );
        // fib calls itself: count kept, no cost.
        assert!(text.contains("cfn=(2)\ncalls=14 10\n10 0\n"), "{text}");
        assert!(text.contains(
            "cfl=(2) <built-in>\ncfn=(3) {built-in method builtins.len}\ncalls=5 0\n1 50000\n"
        ));
        assert!(text.contains("cfn=(4) {method 'a;b' of \"x&y\" objects}\ncalls=1 0\n1 100000\n"));
        assert!(text.contains("fl=(2)\nfn=(4)\n0 100000\n"));
    }

    #[test]
    fn uncompressed_and_per_thread() {
        let opts = CallgrindOptions {
            compress: false,
            thread: Some(1),
        };
        let text = write(&testdata::traced(), &opts);
        assert!(text.contains("desc: Thread: thread Worker-1 (native id 1002)\n"));
        assert!(
            text.contains(
                "fl=/app/my dir/work.py\nfn=worker:5\n5 300000\n\
             cfl=<built-in>\ncfn={built-in method builtins.len}\ncalls=3 0\n5 200000\n"
            ),
            "{text}"
        );
        assert!(!text.contains("main:1"));
        assert!(text.ends_with("totals: 500000\n"));
    }

    #[test]
    fn names_that_look_compressed_are_guarded() {
        assert!(is_compressed_form("(12) x"));
        assert!(!is_compressed_form("(x)"));
        assert!(!is_compressed_form("()"));
        let mut n = Names::new(false);
        assert_eq!(n.func(&FuncKey::builtin("(7) odd")), "[7) odd");
    }

    #[test]
    fn sampling_profile_via_its_call_graph() {
        let text = write(&testdata::sampled(), &CallgrindOptions::default());
        assert!(text.contains("summary: 110000\n"), "{text}");
        assert!(text.contains("fn=(1) main:1\n1 0\n"), "{text}");
    }

    /// `callgrind_annotate` (valgrind's perl script) must read the file without complaint and
    /// list the functions with the costs written.
    #[test]
    fn callgrind_annotate_reads_it() {
        let tool = Command::new("callgrind_annotate").arg("--version").output();
        let Ok(version) = tool else {
            println!("skipped: callgrind_annotate is not installed (apt-get install valgrind)");
            return;
        };
        println!("{}", String::from_utf8_lossy(&version.stdout).trim());
        let dir = std::env::temp_dir().join(format!("dziura-callgrind-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, profile, compress) in [
            ("traced", testdata::traced(), true),
            ("traced-plain", testdata::traced(), false),
            ("sampled", testdata::sampled(), true),
        ] {
            let path = dir.join(format!("callgrind.out.{name}"));
            let opts = CallgrindOptions {
                compress,
                thread: None,
            };
            std::fs::write(&path, write(&profile, &opts)).unwrap();
            for inclusive in ["no", "yes"] {
                let out = Command::new("callgrind_annotate")
                    .arg(format!("--inclusive={inclusive}"))
                    .arg("--threshold=100")
                    .arg(&path)
                    .output()
                    .unwrap();
                let stdout = String::from_utf8_lossy(&out.stdout);
                let stderr = String::from_utf8_lossy(&out.stderr);
                assert!(out.status.success(), "{name}: {stderr}");
                assert!(!stderr.contains("WARNING"), "{name}: {stderr}");
                assert!(stdout.contains("/app/main.py:main:1"), "{name}: {stdout}");
                assert!(
                    stdout.contains("<built-in>:{built-in method builtins.len}")
                        || stdout.contains("<built-in>:{built-in method time.sleep}"),
                    "{name}: {stdout}"
                );
                if name.starts_with("traced") {
                    assert!(stdout.contains("1,500,000"), "{name}: {stdout}");
                    let main = stdout
                        .lines()
                        .find(|l| l.contains("/app/main.py:main:1"))
                        .unwrap();
                    let want = if inclusive == "yes" {
                        "1,050,000"
                    } else {
                        "100,000"
                    };
                    assert!(main.contains(want), "{inclusive}: {main}");
                }
            }
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}
