//! Writes the HTML report of the crate's test profile, with real source files and hostile
//! function names, for the browser test (tests/browser/html_report.test.mjs):
//!
//! `cargo run -p dziura-formats --example html_fixture -- OUT.html [traced]`
//!
//! The source files go to `OUT.html.src/` next to the report.

#[allow(dead_code)]
#[path = "../src/testdata.rs"]
mod testdata;

use dziura_formats::html::{self, HtmlOptions, SourceReader};
use dziura_formats::OwnOptions;
use dziura_model::{CallGraph, CallStats, Frame, FuncKey, Profile, Samples, TimedSample};

// Line numbers match the fixture's: main at 1, fib at 10 (hot line 12), worker at 5, odd at 20.
const MAIN_PY: &str = "\
def main():
    import time
    fib(20)
    time.sleep(0.02)
    return len([1, 2, 3])


# fib: the recursion the sampler saw

def fib(n):
    if n < 2: return n
    return fib(n - 1) + fib(n - 2)
    # never reached

";

const WORK_PY: &str = "\
import time



def worker():
    total = 0
    total += sum(odd(i) for i in range(1000))
    total += globals()['<script>alert(1)</script>']()
    time.sleep(0.01)
    return total









def odd(i):
    return i % 2
";

/// Names a page must show as text, never run.
fn hostile() -> FuncKey {
    FuncKey::python(
        "/app/</script><script>alert(2)</script>.py",
        3,
        "<script>alert(1)</script>",
    )
}

fn img() -> FuncKey {
    FuncKey::builtin("<img src=x onerror=alert(3)><!--")
}

fn remap_key(k: &FuncKey, dir: &std::path::Path) -> FuncKey {
    match k.file.as_str() {
        "/app/main.py" => FuncKey::python(dir.join("main.py").to_str().unwrap(), k.line, &k.name),
        "/app/my dir/work.py" => FuncKey::python(
            dir.join("my dir/work.py").to_str().unwrap(),
            k.line,
            &k.name,
        ),
        _ => k.clone(),
    }
}

fn remap_samples(s: &Samples, dir: &std::path::Path) -> Samples {
    let mut out = Samples::new(s.interval);
    let frames: Vec<u32> = s
        .frames
        .iter()
        .map(|f| {
            out.frame(&Frame {
                func: remap_key(&f.func, dir),
                line: f.line,
            })
        })
        .collect();
    let mut stacks = Vec::new();
    for st in &s.stacks {
        let fr: Vec<u32> = st.frames.iter().map(|&i| frames[i as usize]).collect();
        stacks.push(out.add(st.thread, &fr, st.count));
    }
    for t in &s.timeline {
        out.timeline.push(TimedSample {
            time: t.time,
            stack: stacks[t.stack as usize],
        });
    }
    out
}

fn remap_graph(g: &CallGraph, dir: &std::path::Path) -> CallGraph {
    let mut out = CallGraph::new();
    for (_, k, s) in g.iter() {
        out.add_total(&remap_key(k, dir), &s.total);
    }
    for (_, k, s) in g.iter() {
        for (c, e) in &s.callers {
            out.add_edge(&remap_key(g.key(*c), dir), &remap_key(k, dir), e);
        }
    }
    out
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(out) = args.first() else {
        eprintln!("usage: html_fixture OUT.html [traced]");
        std::process::exit(2);
    };
    let traced = args.get(1).is_some_and(|a| a == "traced");
    let out = std::path::PathBuf::from(out);
    let dir = std::path::PathBuf::from(format!("{}.src", out.display()));
    std::fs::create_dir_all(dir.join("my dir")).unwrap();
    std::fs::write(dir.join("main.py"), MAIN_PY).unwrap();
    std::fs::write(dir.join("my dir/work.py"), WORK_PY).unwrap();
    let dir = dir.canonicalize().unwrap();

    let mut p: Profile = if traced {
        testdata::traced()
    } else {
        testdata::sampled()
    };
    if let Some(s) = p.samples.as_mut() {
        let mut s2 = remap_samples(s, &dir);
        let worker = remap_key(&testdata::worker(), &dir);
        let w = s2.frame(&Frame {
            func: worker,
            line: 8,
        });
        let h = s2.frame(&Frame {
            func: hostile(),
            line: 4,
        });
        let i = s2.frame(&Frame {
            func: img(),
            line: 0,
        });
        s2.add(1, &[w, h], 2);
        s2.add(1, &[w, h, i], 1);
        *s = s2;
    } else {
        for t in &mut p.threads {
            t.graph = remap_graph(&t.graph, &dir);
        }
        let worker = remap_key(&testdata::worker(), &dir);
        let st = CallStats {
            calls: 2,
            primitive_calls: 2,
            own_time: 0.05,
            cum_time: 0.08,
        };
        let g = &mut p.threads[1].graph;
        g.add_total(&hostile(), &st);
        g.add_edge(&worker, &hostile(), &st);
        let st = CallStats {
            calls: 1,
            primitive_calls: 1,
            own_time: 0.03,
            cum_time: 0.03,
        };
        g.add_total(&img(), &st);
        g.add_edge(&hostile(), &img(), &st);
    }
    p.meta.command = vec![
        "app.py".into(),
        "--name=</title><script>alert(5)</script>".into(),
    ];
    // The fixture is the caller here: it reads the source files, as the command line does.
    let opts = HtmlOptions {
        sources: Some(SourceReader(std::sync::Arc::new(|file: &str| {
            std::fs::read_to_string(file).ok()
        }))),
        ..HtmlOptions::default()
    };
    std::fs::write(&out, html::write(&p, &opts, &OwnOptions::default())).unwrap();
    eprintln!("wrote {}", out.display());
}
