//! Chrome's trace event JSON (chrome://tracing, Perfetto, speedscope), made from the samples'
//! timeline: each run of consecutive samples with the same function at the same depth becomes
//! one complete ("X") event, so the viewer shows a flame chart per thread on one clock.
//!
//! A sample lasts until the next one of its thread; a thread not sampled for longer than the
//! clock's jitter allows (idle and not kept, or filtered out) is taken to have been off the
//! stack, so its events close one interval after its last sample rather than spanning the gap. Timestamps are microseconds since the profile began.
//!
//! A tracing profile recorded with a timeline gives every call as one complete event, exact to
//! the nanosecond; if the timeline's buffer filled, a global instant event says so at that time.

use std::collections::BTreeMap;

use dziura_model::{CallTimeline, Frame, FuncKey, Profile, Samples, ThreadProfile};
use serde::{Deserialize, Serialize};

use crate::{func_name, gap, timelines, title, FormatError};

#[derive(Clone, Debug, Default)]
pub struct ChromeOptions {
    /// A new event whenever the running line changes, not only the function.
    pub lines: bool,
}

/// The JSON object form of a trace.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Trace {
    pub trace_events: Vec<Event>,
    pub display_time_unit: String,
    pub other_data: BTreeMap<String, String>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Event {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cat: Option<String>,
    /// "X" complete event, "M" metadata.
    pub ph: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ts: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub dur: Option<f64>,
    pub pid: u64,
    pub tid: u64,
    /// Scope of an instant ("i") event: "g" for the whole trace.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub s: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub args: BTreeMap<String, serde_json::Value>,
}

const PID: u64 = 1;

/// The trace as values.
pub fn build(profile: &Profile, opts: &ChromeOptions) -> Result<Trace, FormatError> {
    if let Some(calls) = profile.traced_calls() {
        return Ok(traced(profile, calls));
    }
    let samples = profile
        .samples
        .as_ref()
        .ok_or(FormatError::NeedsCallTimeline("Chrome traces"))?;
    if samples.total() == 0 {
        return Err(FormatError::NoSamples("Chrome trace"));
    }
    if samples.timeline.is_empty() {
        return Err(FormatError::NeedsTimeline("a Chrome trace"));
    }
    let mut events = vec![meta("process_name", PID, &title(profile))];
    for (t, timeline) in timelines(samples).iter().enumerate() {
        let info = profile.threads.get(t);
        let tid = tid_of(info, t);
        let mut runs = thread_runs(samples, timeline, opts);
        if runs.is_empty() {
            continue;
        }
        let name = info.map_or("?", |i| i.name.as_str());
        let mut m = meta("thread_name", tid, name);
        m.tid = tid;
        events.push(m);
        runs.sort_by(|a, b| a.start.total_cmp(&b.start).then(a.depth.cmp(&b.depth)));
        events.extend(runs.into_iter().map(|r| complete(r, tid, opts.lines)));
    }
    Ok(trace(profile, events))
}

/// The thread's id in a trace: its native id, else its Python ident, else its index.
fn tid_of(info: Option<&ThreadProfile>, index: usize) -> u64 {
    info.map_or(index as u64, |i| {
        if i.native_id != 0 {
            i.native_id
        } else {
            i.ident
        }
    })
}

/// A traced profile's timeline: one complete event per call, parents before their callees.
fn traced(profile: &Profile, calls: &CallTimeline) -> Trace {
    let mut events = vec![meta("process_name", PID, &title(profile))];
    for tc in &calls.threads {
        let info = profile.threads.get(tc.thread);
        let tid = tid_of(info, tc.thread);
        let mut m = meta("thread_name", tid, info.map_or("?", |i| i.name.as_str()));
        m.tid = tid;
        events.push(m);
        // (event index, start ns) of every open call.
        let mut open: Vec<(usize, u64)> = Vec::new();
        for e in &tc.events {
            if e.open {
                open.push((events.len(), e.time_ns));
                events.push(call_event(&calls.funcs[e.func as usize], tid, e.time_ns));
            } else if let Some((i, start)) = open.pop() {
                events[i].dur = Some(micros_ns(e.time_ns - start));
            }
        }
    }
    let mut trace = trace(profile, events);
    if let Some(at) = calls.truncated_at_ns {
        let mut args = BTreeMap::new();
        args.insert("dropped_calls".into(), calls.dropped_calls.into());
        trace.trace_events.push(Event {
            name: format!(
                "dziura: timeline truncated here, the buffer was full ({} later calls not recorded; raise --timeline-limit)",
                calls.dropped_calls
            ),
            cat: Some("dziura".into()),
            ph: "i".into(),
            ts: Some(micros_ns(at)),
            dur: None,
            pid: PID,
            tid: 0,
            s: Some("g".into()),
            args,
        });
        trace.other_data.insert("truncated".into(), "true".into());
        trace
            .other_data
            .insert("dropped_calls".into(), calls.dropped_calls.to_string());
    }
    trace
}

/// A call's complete event, its duration filled in when it ends.
fn call_event(f: &FuncKey, tid: u64, start_ns: u64) -> Event {
    let mut args = BTreeMap::new();
    if !f.is_builtin() {
        args.insert("file".into(), f.file.clone().into());
        args.insert("line".into(), f.line.into());
    }
    Event {
        name: func_name(f),
        cat: Some(if f.is_builtin() { "builtin" } else { "python" }.into()),
        ph: "X".into(),
        ts: Some(micros_ns(start_ns)),
        dur: Some(0.0),
        pid: PID,
        tid,
        s: None,
        args,
    }
}

/// Nanoseconds to microseconds.
fn micros_ns(ns: u64) -> f64 {
    ns as f64 / 1e3
}

/// The trace around its events, with the profile's metadata.
fn trace(profile: &Profile, events: Vec<Event>) -> Trace {
    let mut other = BTreeMap::new();
    other.insert(
        "exporter".into(),
        concat!("dziura ", env!("CARGO_PKG_VERSION")).into(),
    );
    let m = &profile.meta;
    for (k, v) in [
        ("command", m.command.join(" ")),
        ("python", m.python_version.clone()),
        ("host", m.host.clone()),
        ("mode", m.mode.clone()),
    ] {
        if !v.is_empty() {
            other.insert(k.into(), v);
        }
    }
    Trace {
        trace_events: events,
        display_time_unit: "ms".into(),
        other_data: other,
    }
}

/// The JSON file.
pub fn write(profile: &Profile, opts: &ChromeOptions) -> Result<Vec<u8>, FormatError> {
    let trace = build(profile, opts)?;
    Ok(serde_json::to_vec(&trace).expect("plain values serialize"))
}

fn meta(name: &str, tid: u64, value: &str) -> Event {
    let mut args = BTreeMap::new();
    args.insert("name".into(), value.into());
    Event {
        name: name.into(),
        cat: None,
        ph: "M".into(),
        ts: None,
        dur: None,
        pid: PID,
        tid,
        s: None,
        args,
    }
}

/// Seconds to microseconds, kept to the nanosecond so float noise does not show.
fn micros(seconds: f64) -> f64 {
    (seconds * 1e9).round() / 1e3
}

/// The event of a run; its `line` arg is the running line with `lines`, else the function's
/// first line, so every run of one function has the same args and viewers group them.
fn complete(run: Run<'_>, tid: u64, lines: bool) -> Event {
    let f = &run.frame.func;
    let mut args = BTreeMap::new();
    if !f.is_builtin() {
        let line = if lines { run.frame.line } else { f.line };
        args.insert("file".into(), f.file.clone().into());
        args.insert("line".into(), line.into());
    }
    Event {
        name: func_name(f),
        cat: Some("python".into()),
        ph: "X".into(),
        ts: Some(micros(run.start)),
        dur: Some(micros(run.end) - micros(run.start)),
        pid: PID,
        tid,
        s: None,
        args,
    }
}

struct Run<'a> {
    frame: &'a Frame,
    depth: usize,
    start: f64,
    end: f64,
}

/// Every run of one thread, in the order they close.
fn thread_runs<'a>(
    samples: &'a Samples,
    timeline: &[(f64, &[u32])],
    opts: &ChromeOptions,
) -> Vec<Run<'a>> {
    let same = |a: &Frame, b: &Frame| a.func == b.func && (!opts.lines || a.line == b.line);
    let interval = samples.interval;
    let mut open: Vec<Run<'a>> = Vec::new();
    let mut done = Vec::new();
    for (i, &(time, frames)) in timeline.iter().enumerate() {
        let keep = open
            .iter()
            .zip(frames)
            .take_while(|(run, &f)| same(run.frame, &samples.frames[f as usize]))
            .count();
        for mut run in open.drain(keep..).rev() {
            run.end = time;
            done.push(run);
        }
        for (depth, &f) in frames.iter().enumerate().skip(keep) {
            open.push(Run {
                frame: &samples.frames[f as usize],
                depth,
                start: time,
                end: time,
            });
        }
        let next = timeline.get(i + 1).map(|n| n.0);
        let gap = next.is_none_or(|n| gap(time, n, interval));
        if gap {
            for mut run in open.drain(..).rev() {
                run.end = time + interval;
                done.push(run);
            }
        }
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata;

    fn x_events(trace: &Trace, tid: u64) -> Vec<(&str, f64, f64)> {
        trace
            .trace_events
            .iter()
            .filter(|e| e.ph == "X" && e.tid == tid)
            .map(|e| (e.name.as_str(), e.ts.unwrap(), e.dur.unwrap()))
            .collect()
    }

    #[test]
    fn runs_become_nested_complete_events_and_round_trip() {
        let bytes = write(&testdata::sampled(), &ChromeOptions::default()).unwrap();
        let trace: Trace = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            trace,
            build(&testdata::sampled(), &ChromeOptions::default()).unwrap()
        );
        assert_eq!(trace.other_data["command"], "app.py --fast");
        let names: Vec<(&str, u64, &serde_json::Value)> = trace
            .trace_events
            .iter()
            .filter(|e| e.ph == "M")
            .map(|e| (e.name.as_str(), e.tid, &e.args["name"]))
            .collect();
        assert_eq!(
            names,
            [
                ("process_name", 1, &"app.py --fast".into()),
                ("thread_name", 1001, &"MainThread".into()),
                ("thread_name", 1002, &"Worker-1".into()),
            ]
        );
        assert_eq!(
            x_events(&trace, 1001),
            [
                ("main", 0.0, 60000.0),
                ("fib", 0.0, 40000.0),
                ("fib", 10000.0, 20000.0),
                ("{built-in method time.sleep}", 40000.0, 20000.0),
                ("main", 90000.0, 10000.0),
                ("{built-in method builtins.len}", 90000.0, 10000.0),
            ]
        );
        assert_eq!(
            x_events(&trace, 1002),
            [
                ("worker", 5000.0, 40000.0),
                ("odd;name <&> \"q\" 'x'", 5000.0, 20000.0),
                ("{built-in method time.sleep}", 35000.0, 10000.0),
            ]
        );
        let odd = trace
            .trace_events
            .iter()
            .find(|e| e.name.starts_with("odd"))
            .unwrap();
        assert_eq!(odd.args["file"], "/app/my dir/work.py");
        assert_eq!(odd.args["line"], 20);
        assert_eq!(odd.cat.as_deref(), Some("python"));
        let sleep = trace
            .trace_events
            .iter()
            .find(|e| e.name.contains("sleep"))
            .unwrap();
        assert!(sleep.args.is_empty());
    }

    #[test]
    fn lines_split_runs_where_the_line_changes() {
        let trace = build(&testdata::sampled(), &ChromeOptions { lines: true }).unwrap();
        let main = x_events(&trace, 1001);
        assert_eq!(main[0], ("main", 0.0, 40000.0));
        assert!(main.contains(&("main", 40000.0, 20000.0)));
        let lines: Vec<&serde_json::Value> = trace
            .trace_events
            .iter()
            .filter(|e| e.name == "main")
            .map(|e| &e.args["line"])
            .collect();
        assert_eq!(lines, [3, 4, 4]);
    }

    #[test]
    fn needs_a_timeline() {
        let e = build(&testdata::sampled_counts(), &ChromeOptions::default()).unwrap_err();
        assert!(matches!(e, FormatError::NeedsTimeline(_)), "{e}");
        let e = build(&testdata::traced(), &ChromeOptions::default()).unwrap_err();
        assert!(e
            .to_string()
            .starts_with("Chrome traces need a sampling profile or a traced timeline"));
    }

    #[test]
    fn traced_timeline_gives_one_complete_event_per_call() {
        let trace = build(&testdata::timed(false), &ChromeOptions::default()).unwrap();
        let main = x_events(&trace, 1001);
        assert_eq!(
            main,
            [
                ("main", 0.0, 1.0),
                ("fib", 0.1, 0.5),
                ("fib", 0.2, 0.1),
                ("{built-in method builtins.len}", 0.4, 0.05)
            ]
        );
        let worker = x_events(&trace, 1002);
        assert_eq!(worker, [("odd;name <&> \"q\" 'x'", 0.05, 0.03)]);
        let fib = trace.trace_events.iter().find(|e| e.name == "fib").unwrap();
        assert_eq!(fib.args["file"], "/app/main.py");
        assert_eq!(fib.args["line"], 10);
        let names: Vec<&str> = trace
            .trace_events
            .iter()
            .filter(|e| e.ph == "M")
            .map(|e| e.args["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["app.py --fast", "MainThread", "Worker-1"]);
        assert!(!trace.trace_events.iter().any(|e| e.ph == "i"));
        assert!(!trace.other_data.contains_key("truncated"));
    }

    #[test]
    fn truncated_timeline_is_marked() {
        let trace = build(&testdata::timed(true), &ChromeOptions::default()).unwrap();
        let mark: Vec<&Event> = trace.trace_events.iter().filter(|e| e.ph == "i").collect();
        assert_eq!(mark.len(), 1);
        assert!(mark[0].name.contains("truncated"), "{}", mark[0].name);
        assert!(mark[0].name.contains("7 later calls"), "{}", mark[0].name);
        assert_eq!((mark[0].ts, mark[0].s.as_deref()), (Some(0.5), Some("g")));
        assert_eq!(trace.other_data["truncated"], "true");
        assert_eq!(trace.other_data["dropped_calls"], "7");
    }
}
