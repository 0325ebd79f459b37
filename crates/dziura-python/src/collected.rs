//! What a Profile has collected over all its enable/disable periods, per thread, by function
//! number; turned into the profile model (with names) only when a view or file is asked for.

use std::collections::HashMap;

use dziura_model::{
    CallEvent, CallGraph, CallStats, CallTimeline, FuncKey, Metadata, Profile, ThreadCalls,
    ThreadProfile,
};
use dziura_tracer::{Counts, Harvest};

#[derive(Clone, Copy, Default)]
pub struct Acc {
    pub calls: u64,
    pub recursive_calls: u64,
    pub total: f64,
    pub inline: f64,
}

impl Acc {
    fn add(&mut self, c: &Counts, spt: f64) {
        self.calls += c.calls;
        self.recursive_calls += c.recursive_calls;
        self.total += c.total as f64 * spt;
        self.inline += c.inline as f64 * spt;
    }

    pub fn merge(&mut self, other: &Acc) {
        self.calls += other.calls;
        self.recursive_calls += other.recursive_calls;
        self.total += other.total;
        self.inline += other.inline;
    }

    pub fn stats(&self) -> CallStats {
        CallStats {
            calls: self.calls,
            primitive_calls: self.calls - self.recursive_calls,
            own_time: self.inline,
            cum_time: self.total,
        }
    }
}

#[derive(Default)]
pub struct ThreadAcc {
    pub ident: u64,
    pub native_id: u64,
    pub name: String,
    pub funcs: Vec<(u32, Acc)>,
    func_idx: HashMap<u32, usize>,
    /// ((caller, callee), stats)
    pub edges: Vec<((u32, u32), Acc)>,
    edge_idx: HashMap<(u32, u32), usize>,
    /// (function, started, ns since the profile's first start), when recording a timeline.
    pub calls: Vec<(u32, bool, u64)>,
}

#[derive(Default)]
pub struct Collected {
    pub threads: Vec<ThreadAcc>,
    pub wall_seconds: f64,
    /// Whether a timeline was recorded, and when (ns since the first start) it first filled.
    pub timeline: bool,
    pub truncated_at_ns: Option<u64>,
    pub dropped_calls: u64,
}

impl Collected {
    /// Adds one enable/disable period's harvest, which began `offset_ns` after the first.
    pub fn add(&mut self, h: &Harvest, names: &HashMap<u64, String>, offset_ns: u64) {
        let spt = h.seconds_per_tick;
        let ns =
            |tick: u64| offset_ns + (tick.saturating_sub(h.start_tick) as f64 * spt * 1e9) as u64;
        for t in &h.threads {
            let i = match self
                .threads
                .iter()
                .position(|x| x.ident == t.ident && x.native_id == t.native_id)
            {
                Some(i) => i,
                None => {
                    self.threads.push(ThreadAcc {
                        ident: t.ident,
                        native_id: t.native_id,
                        ..Default::default()
                    });
                    self.threads.len() - 1
                }
            };
            let acc = &mut self.threads[i];
            if let Some(n) = names.get(&t.native_id) {
                acc.name = n.clone();
            }
            for (id, c) in &t.funcs {
                let k = *acc.func_idx.entry(*id).or_insert_with(|| {
                    acc.funcs.push((*id, Acc::default()));
                    acc.funcs.len() - 1
                });
                acc.funcs[k].1.add(c, spt);
            }
            for (caller, callee, c) in &t.edges {
                let key = (*caller, *callee);
                let k = *acc.edge_idx.entry(key).or_insert_with(|| {
                    acc.edges.push((key, Acc::default()));
                    acc.edges.len() - 1
                });
                acc.edges[k].1.add(c, spt);
            }
            if let Some(tl) = &t.timeline {
                self.timeline = true;
                acc.calls.extend(
                    tl.events
                        .iter()
                        .map(|&(id, open, tick)| (id, open, ns(tick))),
                );
                if let Some(at) = tl.truncated_at {
                    let at = ns(at);
                    self.truncated_at_ns = Some(self.truncated_at_ns.map_or(at, |t| t.min(at)));
                }
                self.dropped_calls += tl.dropped;
            }
        }
    }

    /// The profile model, naming function numbers with `key`.
    pub fn to_profile(&self, key: &mut dyn FnMut(u32) -> FuncKey, meta: Metadata) -> Profile {
        let mut keys: HashMap<u32, FuncKey> = HashMap::new();
        let mut name = |id: u32| keys.entry(id).or_insert_with(|| key(id)).clone();
        let calls = self.timeline.then(|| self.call_timeline(&mut name));
        let threads = self
            .threads
            .iter()
            .map(|t| {
                let mut g = CallGraph::new();
                for (id, a) in &t.funcs {
                    g.add_total(&name(*id), &a.stats());
                }
                for ((caller, callee), a) in &t.edges {
                    g.add_edge(&name(*caller), &name(*callee), &a.stats());
                }
                let label = if t.name.is_empty() {
                    "<unnamed>".to_string()
                } else {
                    t.name.clone()
                };
                ThreadProfile {
                    ident: t.ident,
                    native_id: t.native_id,
                    name: label,
                    graph: g,
                }
            })
            .collect();
        Profile {
            threads,
            meta,
            samples: None,
            calls,
        }
    }

    /// The timeline in the model's terms: functions interned, times never going back (clocks of
    /// different periods or cores may disagree by a tick).
    fn call_timeline(&self, name: &mut dyn FnMut(u32) -> FuncKey) -> CallTimeline {
        let mut funcs = Vec::new();
        let mut index: HashMap<u32, u32> = HashMap::new();
        let threads = self
            .threads
            .iter()
            .enumerate()
            .filter(|(_, t)| !t.calls.is_empty())
            .map(|(i, t)| {
                let mut last = 0;
                let events = t
                    .calls
                    .iter()
                    .map(|&(id, open, time)| {
                        let func = *index.entry(id).or_insert_with(|| {
                            funcs.push(name(id));
                            funcs.len() as u32 - 1
                        });
                        last = last.max(time);
                        CallEvent {
                            time_ns: last,
                            func,
                            open,
                        }
                    })
                    .collect();
                ThreadCalls { thread: i, events }
            })
            .collect();
        CallTimeline {
            funcs,
            threads,
            truncated_at_ns: self.truncated_at_ns,
            dropped_calls: self.dropped_calls,
        }
    }
}
