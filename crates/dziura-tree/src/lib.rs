//! The call tree behind every view: `dziura show --tree` and the HTML report draw the same
//! tree, built here once.
//!
//! A tree comes from the best record a profile holds ([`build`]): a traced timeline (every
//! call's real duration on its real path: exact), else sampled stacks (exact counts), else the
//! caller→callee totals of a traced profile (where a function called from several places has
//! one total, so its callees' time is split among its paths in proportion: an estimate). The
//! same options apply to all three: library frames hidden (their callees hang under the nearest
//! shown caller), a minimum share, a node budget and a depth limit, both of which mark where
//! they cut instead of dropping calls silently.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use dziura_model::{CallGraph, CallStats, CallTimeline, FuncKey, Profile, Samples};
use rustc_hash::FxHashMap;

mod text;

pub use text::{render, MAX_LINES};

/// What a node stands for.
#[derive(Clone, Debug, PartialEq)]
pub enum Label {
    /// The root: everything recorded.
    All,
    /// One thread (index into `Profile::threads`), when the tree is split by thread.
    Thread(usize),
    Func(FuncKey),
}

/// Why a node's children are not all there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    /// The node is at the depth limit: its calls are in its value but not drawn.
    Depth,
    /// The node budget ran out: some calls under this node are in its value but not drawn.
    Budget,
}

/// One node of the call tree: a function on one path.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub label: Label,
    /// Seconds in this node and below.
    pub value: f64,
    /// Seconds in this node itself, hidden (library) frames it called included.
    pub own: f64,
    /// Samples (sampled), calls (traced; from edges, the edge's calls split like its time).
    pub count: u64,
    /// A call back into a function already on the path (edges only): not expanded, since the
    /// edge totals cannot tell one level of a recursion from the next.
    pub recursive: bool,
    pub cut: Option<Cut>,
    /// Biggest first.
    pub children: Vec<Node>,
}

impl Node {
    /// Whether the node budget cut this node or any below it.
    pub fn cut_by_budget(&self) -> bool {
        let mut stack = vec![self];
        while let Some(n) = stack.pop() {
            if n.cut == Some(Cut::Budget) {
                return true;
            }
            stack.extend(n.children.iter());
        }
        false
    }
}

/// Which record of the profile the tree was built from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Source {
    /// A traced timeline with this many calls.
    Timeline { calls: usize },
    /// Sampled stacks: this many samples, one every `interval` seconds.
    Samples { samples: u64, interval: f64 },
    /// A traced profile's caller→callee totals.
    Edges,
}

/// A call tree and what it was built from.
#[derive(Clone, Debug, PartialEq)]
pub struct Tree {
    /// Its value is the total that shares are of.
    pub root: Node,
    pub source: Source,
    /// Whether library, stdlib and built-in frames were left out.
    pub library_hidden: bool,
    pub max_depth: usize,
    pub max_nodes: usize,
}

/// How a tree is built.
pub struct TreeOptions<'a> {
    /// Functions for which this says true are left out; the calls they make hang under the
    /// nearest caller that is shown (`None` shows every frame).
    pub hide: Option<&'a dyn Fn(&FuncKey) -> bool>,
    /// Nodes below this share of the root (0..1) are left out: a choice, not marked.
    pub min_share: f64,
    /// At most this many nodes below the root, hottest first; where it cuts is marked.
    pub max_nodes: usize,
    /// At most this many levels of functions; where it cuts is marked. Nodes are nested values
    /// (dropped, printed and serialized recursively), so keep it in the hundreds.
    pub max_depth: usize,
    /// A node per thread under the root, when more than one thread has calls.
    pub by_thread: bool,
}

impl Default for TreeOptions<'_> {
    fn default() -> Self {
        TreeOptions {
            hide: None,
            min_share: 0.0,
            max_nodes: 20_000,
            max_depth: 100,
            by_thread: false,
        }
    }
}

impl TreeOptions<'_> {
    fn shows(&self, key: &FuncKey) -> bool {
        self.hide.is_none_or(|hide| !hide(key))
    }
}

/// The tree of `profile` from the best record it holds: its traced timeline, else its
/// samples, else its caller→callee totals (all threads added together).
pub fn build(profile: &Profile, opts: &TreeOptions) -> Tree {
    if let Some(s) = profile.samples.as_ref().filter(|_| profile.is_sampled()) {
        return from_samples(s, opts);
    }
    if let Some(calls) = profile.traced_calls() {
        return from_timeline(calls, opts);
    }
    from_edges(&profile.merged(), opts)
}

/// The exact tree of a traced timeline: each call's duration lands on its path of shown
/// functions.
pub fn from_timeline(calls: &CallTimeline, opts: &TreeOptions) -> Tree {
    let shown: Vec<bool> = calls.funcs.iter().map(|k| opts.shows(k)).collect();
    let split = opts.by_thread
        && several(
            calls
                .threads
                .iter()
                .filter(|t| !t.events.is_empty())
                .map(|t| t.thread),
        );
    let mut a = Arena::default();
    for tc in &calls.threads {
        let top = if split {
            a.child(ROOT, What::Thread(tc.thread))
        } else {
            ROOT
        };
        // Each open call: the node its time goes to (none when hidden or too deep), the node
        // its callees hang under, and when it started.
        let mut open: Vec<(Option<usize>, usize, u64)> = Vec::new();
        for e in &tc.events {
            if e.open {
                let parent = open.last().map_or(top, |o| o.1);
                let f = e.func as usize;
                let slot = if !shown[f] {
                    None
                } else if a.slots[parent].depth >= opts.max_depth {
                    a.mark(parent, Cut::Depth);
                    None
                } else {
                    Some(a.child(parent, What::Func(f)))
                };
                open.push((slot, slot.unwrap_or(parent), e.time_ns));
                continue;
            }
            let Some((slot, _, start)) = open.pop() else {
                continue;
            };
            let took = e.time_ns.saturating_sub(start) as f64;
            if let Some(s) = slot {
                a.add(s, took, 1);
            }
            if open.is_empty() {
                a.add(top, took, 1);
                if top != ROOT {
                    a.add(ROOT, took, 1);
                }
            }
        }
    }
    Tree {
        root: a.finish(opts, 1e-9, &|i| &calls.funcs[i]),
        source: Source::Timeline {
            calls: calls.calls(),
        },
        library_hidden: opts.hide.is_some(),
        max_depth: opts.max_depth,
        max_nodes: opts.max_nodes,
    }
}

/// The exact tree of sampled stacks: each sample counts once on its path of shown functions.
pub fn from_samples(samples: &Samples, opts: &TreeOptions) -> Tree {
    // Frames of one function (at different lines) share its node.
    let func = samples.function_of_frames();
    let shown: Vec<bool> = samples.frames.iter().map(|f| opts.shows(&f.func)).collect();
    let stacks = || samples.stacks.iter().filter(|st| st.count > 0);
    let split = opts.by_thread && several(stacks().map(|st| st.thread));
    let mut a = Arena::default();
    for st in stacks() {
        let n = st.count as f64;
        a.add(ROOT, n, st.count);
        let mut node = ROOT;
        if split {
            node = a.child(ROOT, What::Thread(st.thread));
            a.add(node, n, st.count);
        }
        for &fi in &st.frames {
            let fi = fi as usize;
            if !shown[fi] {
                continue;
            }
            if a.slots[node].depth >= opts.max_depth {
                a.mark(node, Cut::Depth);
                break;
            }
            node = a.child(node, What::Func(func[fi]));
            a.add(node, n, st.count);
        }
    }
    Tree {
        root: a.finish(opts, samples.interval, &|i| &samples.frames[i].func),
        source: Source::Samples {
            samples: samples.total(),
            interval: samples.interval,
        },
        library_hidden: opts.hide.is_some(),
        max_depth: opts.max_depth,
        max_nodes: opts.max_nodes,
    }
}

/// The tree a call graph implies, for traced profiles without a timeline: from each function
/// nobody else calls, down the callee edges. A function has one total however many paths reach
/// it, so each path gets its callees' edge totals scaled by its share of the function's time;
/// a call back into a function on the path is marked recursive and not followed. Shared
/// callees repeat under every path, so nodes are made hottest first until the budget is spent.
pub fn from_edges(graph: &CallGraph, opts: &TreeOptions) -> Tree {
    let shown: Vec<bool> = graph.iter().map(|(_, k, _)| opts.shows(k)).collect();
    let mut callees = graph.callees();
    for cs in &mut callees {
        cs.sort_by(|a, b| b.1.cum_time.total_cmp(&a.1.cum_time));
    }
    let mut roots: Vec<(usize, CallStats)> = graph
        .iter()
        .filter(|(i, _, s)| s.callers.iter().all(|(c, _)| c == i))
        .map(|(i, _, s)| (i, s.total))
        .collect();
    if roots.is_empty() && !graph.is_empty() {
        // Everything is called from something (a cycle at the top): start at the function
        // with the most cumulative time.
        let best = (0..graph.len())
            .max_by(|&a, &b| cum(graph, a).total_cmp(&cum(graph, b)))
            .expect("not empty");
        roots.push((best, graph.stats(best).total));
    }
    let walk = EdgeWalk {
        graph,
        callees,
        shown,
        min: roots.iter().map(|r| r.1.cum_time).sum::<f64>() * opts.min_share,
    };
    let mut a = Arena::default();
    for (_, r) in &roots {
        a.add(ROOT, r.cum_time, r.calls);
    }
    let mut heap: BinaryHeap<(Hot, Reverse<usize>)> = BinaryHeap::new();
    heap.push((Hot(a.slots[ROOT].weight), Reverse(ROOT)));
    let mut made = 0usize;
    let mut full = false;
    while let Some((_, Reverse(i))) = heap.pop() {
        let reached = match a.slots[i].what {
            What::Func(f) => walk.reached(walk.scaled(f, a.slots[i].weight)),
            _ => walk.reached(roots.clone()),
        };
        if reached.is_empty() {
            continue;
        }
        if full {
            a.mark(i, Cut::Budget);
            continue;
        }
        if a.slots[i].depth >= opts.max_depth {
            a.mark(i, Cut::Depth);
            continue;
        }
        for (g, st) in reached {
            if made >= opts.max_nodes {
                a.mark(i, Cut::Budget);
                full = true;
                break;
            }
            let recursive = a.on_path(i, g);
            let s = a.child(i, What::Func(g));
            a.add(s, st.cum_time, st.calls);
            let slot = &mut a.slots[s];
            *slot.own.get_or_insert(0.0) += st.own_time;
            slot.recursive = recursive;
            made += 1;
            if !recursive {
                heap.push((Hot(st.cum_time), Reverse(s)));
            }
        }
    }
    Tree {
        root: a.finish(opts, 1.0, &|i| graph.key(i)),
        source: Source::Edges,
        library_hidden: opts.hide.is_some(),
        max_depth: opts.max_depth,
        max_nodes: opts.max_nodes,
    }
}

fn cum(graph: &CallGraph, f: usize) -> f64 {
    graph.stats(f).total.cum_time
}

/// Whether more than one distinct thread occurs.
fn several(mut threads: impl Iterator<Item = usize>) -> bool {
    let Some(first) = threads.next() else {
        return false;
    };
    threads.any(|t| t != first)
}

/// The call graph as the edge tree walks it.
struct EdgeWalk<'a> {
    graph: &'a CallGraph,
    /// Each function's callees, biggest edge first.
    callees: Vec<Vec<(usize, CallStats)>>,
    shown: Vec<bool>,
    /// Calls below this many seconds are not followed.
    min: f64,
}

impl EdgeWalk<'_> {
    /// The callee edges of `f` reached with `value` seconds: each scaled by that share of the
    /// function's total time.
    fn scaled(&self, f: usize, value: f64) -> Vec<(usize, CallStats)> {
        let total = cum(self.graph, f);
        let ratio = if total > 0.0 {
            (value / total).min(1.0)
        } else {
            1.0
        };
        let part = |n: u64| (n as f64 * ratio).round() as u64;
        self.callees[f]
            .iter()
            .map(|&(g, e)| {
                (
                    g,
                    CallStats {
                        calls: part(e.calls),
                        primitive_calls: part(e.primitive_calls),
                        own_time: e.own_time * ratio,
                        cum_time: e.cum_time * ratio,
                    },
                )
            })
            .collect()
    }

    /// The shown functions that `calls` reach, through hidden functions (each expanded once):
    /// merged per function, biggest first, those below the minimum left out.
    fn reached(&self, calls: Vec<(usize, CallStats)>) -> Vec<(usize, CallStats)> {
        let mut out: Vec<(usize, CallStats)> = Vec::new();
        let mut at: FxHashMap<usize, usize> = FxHashMap::default();
        let mut seen: Vec<usize> = Vec::new();
        let mut work: Vec<(usize, CallStats)> = calls.into_iter().rev().collect();
        while let Some((g, st)) = work.pop() {
            if st.cum_time < self.min || (st.cum_time <= 0.0 && st.calls == 0) {
                continue;
            }
            if self.shown[g] {
                match at.get(&g) {
                    Some(&k) => out[k].1.add(&st),
                    None => {
                        at.insert(g, out.len());
                        out.push((g, st));
                    }
                }
            } else if !seen.contains(&g) {
                seen.push(g);
                work.extend(self.scaled(g, st.cum_time).into_iter().rev());
            }
        }
        out.sort_by(|a, b| b.1.cum_time.total_cmp(&a.1.cum_time));
        out
    }
}

/// Seconds, ordered for the heaps that spend the node budget hottest first.
#[derive(PartialEq)]
struct Hot(f64);

impl Eq for Hot {}

impl PartialOrd for Hot {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Hot {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum What {
    All,
    Thread(usize),
    /// An index the builder resolves to a `FuncKey`.
    Func(usize),
}

/// A node while the tree is built, in the builder's own unit (samples, nanoseconds, seconds).
struct Slot {
    what: What,
    parent: usize,
    /// Levels of functions from the root.
    depth: usize,
    weight: f64,
    /// Own weight when the builder knows it (edges); else the weight not in children.
    own: Option<f64>,
    count: u64,
    recursive: bool,
    cut: Option<Cut>,
    children: Vec<usize>,
}

impl Slot {
    fn new(what: What, parent: usize, depth: usize) -> Slot {
        Slot {
            what,
            parent,
            depth,
            weight: 0.0,
            own: None,
            count: 0,
            recursive: false,
            cut: None,
            children: Vec::new(),
        }
    }
}

const ROOT: usize = 0;

/// Every node in one vector, children made after their parents, so the finished tree can be
/// nested without recursion.
struct Arena {
    slots: Vec<Slot>,
    index: FxHashMap<(usize, What), usize>,
}

impl Default for Arena {
    fn default() -> Self {
        Arena {
            slots: vec![Slot::new(What::All, ROOT, 0)],
            index: FxHashMap::default(),
        }
    }
}

impl Arena {
    /// The child of `parent` for `what`, made when new.
    fn child(&mut self, parent: usize, what: What) -> usize {
        if let Some(&i) = self.index.get(&(parent, what)) {
            return i;
        }
        let i = self.slots.len();
        let depth = self.slots[parent].depth + usize::from(matches!(what, What::Func(_)));
        self.slots.push(Slot::new(what, parent, depth));
        self.slots[parent].children.push(i);
        self.index.insert((parent, what), i);
        i
    }

    fn add(&mut self, slot: usize, weight: f64, count: u64) {
        self.slots[slot].weight += weight;
        self.slots[slot].count += count;
    }

    fn mark(&mut self, slot: usize, cut: Cut) {
        self.slots[slot].cut.get_or_insert(cut);
    }

    /// Whether function `f` is `slot`'s or one of its ancestors'.
    fn on_path(&self, mut slot: usize, f: usize) -> bool {
        loop {
            if self.slots[slot].what == What::Func(f) {
                return true;
            }
            if slot == ROOT {
                return false;
            }
            slot = self.slots[slot].parent;
        }
    }

    /// The nested tree in seconds (`unit` seconds per weight): nodes below the minimum share
    /// left out, then the hottest `max_nodes` kept and the parents of the rest marked.
    fn finish<'k>(
        mut self,
        opts: &TreeOptions,
        unit: f64,
        key: &dyn Fn(usize) -> &'k FuncKey,
    ) -> Node {
        let total = self.slots[ROOT].weight;
        let big_enough = |w: f64| total <= 0.0 || w / total >= opts.min_share;
        let mut kept = vec![false; self.slots.len()];
        kept[ROOT] = true;
        let mut heap: BinaryHeap<(Hot, Reverse<usize>)> = BinaryHeap::new();
        let mut made = 0usize;
        let candidates = |heap: &mut BinaryHeap<_>, slots: &[Slot], i: usize| {
            for &c in &slots[i].children {
                if big_enough(slots[c].weight) {
                    heap.push((Hot(slots[c].weight), Reverse(c)));
                }
            }
        };
        candidates(&mut heap, &self.slots, ROOT);
        while let Some((_, Reverse(i))) = heap.pop() {
            if made >= opts.max_nodes {
                let parent = self.slots[i].parent;
                self.mark(parent, Cut::Budget);
                continue;
            }
            kept[i] = true;
            made += 1;
            candidates(&mut heap, &self.slots, i);
        }
        let mut built: Vec<Option<Node>> = (0..self.slots.len()).map(|_| None).collect();
        for i in (0..self.slots.len()).rev() {
            if !kept[i] {
                continue;
            }
            let s = &self.slots[i];
            let in_children: f64 = s.children.iter().map(|&c| self.slots[c].weight).sum();
            let own = s.own.unwrap_or((s.weight - in_children).max(0.0));
            let mut children: Vec<Node> =
                s.children.iter().filter_map(|&c| built[c].take()).collect();
            children.sort_by(|a, b| b.value.total_cmp(&a.value));
            built[i] = Some(Node {
                label: match s.what {
                    What::All => Label::All,
                    What::Thread(t) => Label::Thread(t),
                    What::Func(f) => Label::Func(key(f).clone()),
                },
                value: s.weight * unit,
                own: own * unit,
                count: s.count,
                recursive: s.recursive,
                cut: s.cut,
                children,
            });
        }
        built[ROOT].take().expect("the root is kept")
    }
}

#[cfg(test)]
mod tests;
