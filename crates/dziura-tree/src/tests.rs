use super::*;
use dziura_model::{CallEvent, Frame, ThreadCalls, ThreadProfile};

fn lib(k: &FuncKey) -> bool {
    k.is_builtin() || dziura_own::looks_like_stdlib(&k.file)
}

fn hiding(hide: bool) -> TreeOptions<'static> {
    TreeOptions {
        hide: if hide { Some(&lib) } else { None },
        ..TreeOptions::default()
    }
}

fn by_thread(p: &Profile) -> Tree {
    let opts = TreeOptions {
        by_thread: true,
        ..TreeOptions::default()
    };
    build(p, &opts)
}

fn text(p: &Profile, opts: &TreeOptions) -> String {
    render(&build(p, opts), false)
}

/// The child of `n` for the function called `name`.
fn kid<'a>(n: &'a Node, name: &str) -> &'a Node {
    n.children
        .iter()
        .find(|c| matches!(&c.label, Label::Func(k) if k.name == name))
        .unwrap_or_else(|| panic!("no {name} under {n:?}"))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

fn ev(time_ns: u64, func: u32, open: bool) -> CallEvent {
    CallEvent {
        time_ns,
        func,
        open,
    }
}

fn timeline(funcs: Vec<FuncKey>, threads: Vec<ThreadCalls>) -> Profile {
    Profile {
        threads: vec![ThreadProfile::default(), ThreadProfile::default()],
        calls: Some(CallTimeline {
            funcs,
            threads,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// main [0, 1s] calls loads (stdlib) [0.1, 0.4] which calls hook [0.2, 0.3], then fib
/// [0.5, 0.9] which recurses into fib [0.6, 0.8].
fn traced_timeline() -> Profile {
    let s = 1_000_000_000 / 10;
    timeline(
        vec![
            FuncKey::python("app.py", 1, "main"),
            FuncKey::python("/usr/lib/python3.11/json/__init__.py", 1, "loads"),
            FuncKey::python("app.py", 5, "hook"),
            FuncKey::python("app.py", 9, "fib"),
        ],
        vec![ThreadCalls {
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
    )
}

#[test]
fn timeline_tree_is_exact() {
    let p = traced_timeline();
    let tree = build(&p, &hiding(true));
    assert_eq!(tree.source, Source::Timeline { calls: 5 });
    assert!(close(tree.root.value, 1.0));
    let main = kid(&tree.root, "main");
    assert!(close(main.value, 1.0) && main.count == 1);
    // main's own time holds the hidden loads' own time: 1 - 0.4 (fib) - 0.1 (hook).
    assert!(close(main.own, 0.5), "{}", main.own);
    let fib = kid(main, "fib");
    assert!(close(fib.value, 0.4) && close(kid(fib, "fib").value, 0.2));
    assert!(
        !kid(fib, "fib").recursive,
        "a timeline nests exactly: nothing to mark"
    );
    // hook is re-parented under main when the stdlib's loads is hidden.
    assert!(close(kid(main, "hook").value, 0.1));
    let t = render(&tree, false);
    assert!(
        t.starts_with("Call tree of a traced timeline: 5 calls, 1.000 s"),
        "{t}"
    );
    assert!(t.contains("1.000s 100.0% main  app.py:1\n"), "{t}");
    assert!(t.contains("├─ 0.400s  40.0% fib  app.py:9\n"), "{t}");
    assert!(t.contains("│  └─ 0.200s  20.0% fib  app.py:9\n"), "{t}");
    assert!(t.contains("└─ 0.100s  10.0% hook  app.py:5\n"), "{t}");
    assert!(!t.contains("loads"), "{t}");
    let t = text(&p, &hiding(false));
    assert!(t.contains("└─ 0.300s  30.0% loads"), "{t}");
    assert!(t.contains("   └─ 0.100s  10.0% hook"), "{t}");
}

#[test]
fn timeline_threads_get_their_own_nodes_when_asked() {
    let main = FuncKey::python("app.py", 1, "main");
    let work = FuncKey::python("app.py", 9, "work");
    let p = timeline(
        vec![main, work],
        vec![
            ThreadCalls {
                thread: 0,
                events: vec![ev(0, 0, true), ev(30, 0, false)],
            },
            ThreadCalls {
                thread: 1,
                events: vec![ev(0, 1, true), ev(10, 1, false)],
            },
        ],
    );
    let merged = build(&p, &TreeOptions::default());
    assert_eq!(merged.root.children.len(), 2);
    let split = by_thread(&p);
    let labels: Vec<&Label> = split.root.children.iter().map(|c| &c.label).collect();
    assert_eq!(labels, [&Label::Thread(0), &Label::Thread(1)]);
    assert!(close(split.root.value, 40e-9));
    assert!(close(kid(&split.root.children[1], "work").value, 10e-9));
}

fn sampled() -> Profile {
    let mut s = Samples::new(0.01);
    let fr = |file: &str, n: &str, line| Frame {
        func: FuncKey::python(file, 1, n),
        line,
    };
    let m = s.frame(&fr("app.py", "main", 2));
    let m3 = s.frame(&fr("app.py", "main", 3));
    let j = s.frame(&fr("/usr/lib/python3.11/json/__init__.py", "loads", 2));
    let cb = s.frame(&fr("app.py", "hook", 2));
    let w = s.frame(&fr("app.py", "work", 2));
    s.add(0, &[m, j, cb], 2);
    s.add(0, &[m3, w], 6);
    s.add(1, &[m], 2);
    Profile {
        threads: vec![ThreadProfile::default(), ThreadProfile::default()],
        samples: Some(s),
        ..Default::default()
    }
}

#[test]
fn sampled_tree_counts_samples_and_hides_library_frames() {
    let p = sampled();
    let tree = build(&p, &hiding(true));
    assert_eq!(
        tree.source,
        Source::Samples {
            samples: 10,
            interval: 0.01
        }
    );
    // Frames of main at two lines are one node.
    assert_eq!(tree.root.children.len(), 1);
    let main = kid(&tree.root, "main");
    assert_eq!(main.count, 10);
    assert!(close(main.value, 0.1) && close(main.own, 0.02));
    assert_eq!(kid(main, "work").count, 6);
    assert_eq!(kid(main, "hook").count, 2);
    let t = render(&tree, false);
    assert!(
        t.starts_with("Call tree of a sampled profile: 10 samples, every 10.000 ms, 0.100 s"),
        "{t}"
    );
    assert!(t.contains("0.100s 100.0% main  app.py:1"), "{t}");
    assert!(t.contains("├─ 0.060s  60.0% work  app.py:1"), "{t}");
    assert!(t.contains("└─ 0.020s  20.0% hook  app.py:1"), "{t}");
    assert!(!t.contains("loads"), "{t}");
    let t = text(&p, &hiding(false));
    assert!(t.contains("└─ 0.020s  20.0% loads"), "{t}");
    assert!(t.contains("   └─ 0.020s  20.0% hook"), "{t}");
    let split = by_thread(&p);
    assert_eq!(split.root.children[0].label, Label::Thread(0));
    assert_eq!(split.root.children[0].count, 8);
}

#[test]
fn min_share_leaves_small_calls_out() {
    let opts = TreeOptions {
        min_share: 0.25,
        ..hiding(true)
    };
    let tree = build(&sampled(), &opts);
    let main = kid(&tree.root, "main");
    assert_eq!(main.children.len(), 1, "hook (20 %) is below 25 %");
    assert_eq!(main.cut, None, "a chosen minimum is not a cut");
    let none = TreeOptions {
        min_share: 1.5,
        ..hiding(true)
    };
    assert!(text(&sampled(), &none).contains("(nothing to show"));
}

fn st(calls: u64, own_time: f64, cum_time: f64) -> CallStats {
    CallStats {
        calls,
        primitive_calls: calls,
        own_time,
        cum_time,
    }
}

fn traced(g: CallGraph) -> Profile {
    Profile {
        threads: vec![ThreadProfile {
            graph: g,
            ..Default::default()
        }],
        ..Default::default()
    }
}

#[test]
fn edge_tree_follows_edges_and_stops_at_recursion() {
    let exec = FuncKey::builtin("<built-in method builtins.exec>");
    let main = FuncKey::python("app.py", 1, "<module>");
    let fib = FuncKey::python("app.py", 3, "fib");
    let mut g = CallGraph::new();
    g.add_total(&exec, &st(1, 0.0, 2.0));
    g.add_total(&main, &st(1, 0.0, 2.0));
    g.add_total(&fib, &st(1, 0.0, 1.5));
    g.add_edge(&exec, &main, &st(1, 0.0, 2.0));
    g.add_edge(&main, &fib, &st(1, 0.0, 1.5));
    g.add_edge(&fib, &fib, &st(1, 0.0, 1.4));
    let p = traced(g);
    let t = text(&p, &hiding(true));
    assert!(t.contains("caller→callee totals"), "{t}");
    assert!(t.contains("2.000s 100.0% <module>  app.py:1\n"), "{t}");
    assert!(t.contains("└─ 1.500s  75.0% fib  app.py:3\n"), "{t}");
    assert!(
        t.contains("   └─ 1.400s  70.0% fib  app.py:3 ↺ recursive\n"),
        "{t}"
    );
    let t = text(&p, &hiding(false));
    assert!(
        t.contains("{built-in method builtins.exec}  [built-in]"),
        "{t}"
    );
}

#[test]
fn edge_tree_splits_a_shared_callee_in_proportion() {
    // main calls a (3 s) and b (1 s); both call helper, 4 s in all, which spends 2 s in leaf.
    let k = |n: &str, line| FuncKey::python("app.py", line, n);
    let (main, a, b, helper, leaf) = (
        k("main", 1),
        k("a", 2),
        k("b", 3),
        k("helper", 4),
        k("leaf", 5),
    );
    let mut g = CallGraph::new();
    g.add_total(&main, &st(1, 0.0, 4.0));
    g.add_total(&a, &st(1, 0.0, 3.0));
    g.add_total(&b, &st(1, 0.0, 1.0));
    g.add_total(&helper, &st(4, 2.0, 4.0));
    g.add_total(&leaf, &st(8, 2.0, 2.0));
    g.add_edge(&main, &a, &st(1, 0.0, 3.0));
    g.add_edge(&main, &b, &st(1, 0.0, 1.0));
    g.add_edge(&a, &helper, &st(3, 1.5, 3.0));
    g.add_edge(&b, &helper, &st(1, 0.5, 1.0));
    g.add_edge(&helper, &leaf, &st(8, 2.0, 2.0));
    let tree = build(&traced(g), &TreeOptions::default());
    assert_eq!(tree.source, Source::Edges);
    let main = kid(&tree.root, "main");
    let under_a = kid(kid(main, "a"), "helper");
    let under_b = kid(kid(main, "b"), "helper");
    assert!(close(under_a.value, 3.0) && close(under_a.own, 1.5));
    assert!(close(kid(under_a, "leaf").value, 1.5));
    assert_eq!(kid(under_a, "leaf").count, 6);
    assert!(close(kid(under_b, "leaf").value, 0.5));
    assert_eq!(kid(under_b, "leaf").count, 2);
}

#[test]
fn hidden_library_frames_pass_their_callees_up() {
    // app's view calls a library dispatcher that calls back into app's handler.
    let view = FuncKey::python("/srv/app/views.py", 1, "view");
    let dispatch = FuncKey::python("/usr/lib/python3.12/functools.py", 9, "dispatch");
    let handler = FuncKey::python("/srv/app/views.py", 20, "handler");
    let mut g = CallGraph::new();
    g.add_total(&view, &st(1, 0.1, 1.0));
    g.add_total(&dispatch, &st(1, 0.1, 0.9));
    g.add_total(&handler, &st(1, 0.8, 0.8));
    g.add_edge(&view, &dispatch, &st(1, 0.1, 0.9));
    g.add_edge(&dispatch, &handler, &st(1, 0.8, 0.8));
    let tree = build(&traced(g), &hiding(true));
    let view = kid(&tree.root, "view");
    assert_eq!(view.children.len(), 1);
    assert!(close(kid(view, "handler").value, 0.8));
}

#[test]
fn the_node_budget_keeps_the_hottest_and_marks_the_cut() {
    // main calls twenty functions, the i-th for i + 1 samples.
    let mut s = Samples::new(0.001);
    let main = s.frame(&Frame {
        func: FuncKey::python("app.py", 1, "main"),
        line: 2,
    });
    for i in 0..20u32 {
        let f = s.frame(&Frame {
            func: FuncKey::python("app.py", 10 + i, format!("f{i}")),
            line: 11 + i,
        });
        s.add(0, &[main, f], u64::from(i) + 1);
    }
    let p = Profile {
        samples: Some(s),
        ..Default::default()
    };
    let opts = TreeOptions {
        max_nodes: 4,
        ..TreeOptions::default()
    };
    let tree = build(&p, &opts);
    let main = kid(&tree.root, "main");
    let names: Vec<String> = main
        .children
        .iter()
        .map(|c| match &c.label {
            Label::Func(k) => k.name.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(names, ["f19", "f18", "f17"]);
    assert_eq!(main.cut, Some(Cut::Budget));
    assert!(tree.root.cut_by_budget());
    // Nothing is lost from the numbers: main still holds every sample.
    assert_eq!(main.count, 210);
    let t = render(&tree, false);
    assert!(t.contains("├─ 0.018s   8.6% f17  app.py:27\n"), "{t}");
    assert!(
        t.contains("└─ ... more calls not shown: the tree's 4-node limit"),
        "{t}"
    );
    assert!(!build(&p, &TreeOptions::default()).root.cut_by_budget());
}

#[test]
fn the_node_budget_of_an_edge_tree_goes_hottest_first() {
    // Every function calls every later one: 2^19 paths through 20 functions.
    let keys: Vec<FuncKey> = (0..20)
        .map(|i| FuncKey::python("/app/dense.py", i + 1, format!("f{i}")))
        .collect();
    let mut g = CallGraph::new();
    for (i, k) in keys.iter().enumerate() {
        g.add_total(k, &st(1, 0.001, 0.01));
        for later in &keys[i + 1..] {
            g.add_edge(k, later, &st(1, 0.001, 0.01));
        }
    }
    let opts = TreeOptions {
        max_nodes: 50,
        ..TreeOptions::default()
    };
    let tree = build(&traced(g), &opts);
    fn count(n: &Node) -> usize {
        n.children.len() + n.children.iter().map(count).sum::<usize>()
    }
    assert_eq!(count(&tree.root), 50);
    assert!(tree.root.cut_by_budget());
    assert_eq!(tree.root.children.len(), 1);
}

#[test]
fn deep_recursion_is_cut_at_the_depth_limit() {
    let depth = 10_000u64;
    let mut events: Vec<CallEvent> = (0..depth).map(|i| ev(i, 0, true)).collect();
    events.extend((0..depth).map(|i| ev(depth + i, 0, false)));
    let p = timeline(
        vec![FuncKey::python("deep.py", 1, "down")],
        vec![ThreadCalls { thread: 0, events }],
    );
    let tree = build(&p, &TreeOptions::default());
    let mut n = &tree.root;
    let mut levels = 0;
    while let Some(c) = n.children.first() {
        n = c;
        levels += 1;
    }
    assert_eq!(levels, 100);
    assert_eq!(n.cut, Some(Cut::Depth));
    // The deepest node shown still holds the time of the calls below it: the 100th call is
    // open from 99 ns to 2 × depth - 100 ns.
    assert!(
        close(n.value, (2 * depth - 199) as f64 * 1e-9),
        "{}",
        n.value
    );
    let t = render(&tree, false);
    assert!(t.len() < 100_000, "{} bytes", t.len());
    assert!(t.contains("deeper calls cut at 100 levels"), "{t}");
    assert_eq!(t.lines().filter(|l| l.contains("down")).count(), 100);
    // Samples stop at the limit too.
    let mut s = Samples::new(0.01);
    let f = s.frame(&Frame {
        func: FuncKey::python("deep.py", 1, "down"),
        line: 2,
    });
    s.add(0, &[f; 5], 1);
    let p = Profile {
        samples: Some(s),
        ..Default::default()
    };
    let shallow = TreeOptions {
        max_depth: 3,
        ..TreeOptions::default()
    };
    let tree = build(&p, &shallow);
    let third = &tree.root.children[0].children[0].children[0];
    assert!(third.children.is_empty() && third.cut == Some(Cut::Depth));
}
