//! speedscope's file format (<https://www.speedscope.app/file-format-schema.json>): shared
//! frames and one "sampled" profile per thread, or, for a tracing profile recorded with a
//! timeline, one "evented" profile per thread: every call's open and close, exact.
//!
//! With a timeline the samples stay in time order and weigh the time to the next sample, so the
//! "Time Order" view is a real timeline and threads share one clock (seconds since the profile
//! started). A thread not sampled for longer than the clock's jitter allows (idle and not kept,
//! or filtered out) gets an empty sample for the gap rather than stretching its last stack over
//! it; jitter alone never makes one. Without a timeline each distinct stack is
//! one sample weighing count × interval.

use std::collections::HashMap;

use dziura_model::{CallTimeline, Profile, Samples};
use serde::{Deserialize, Serialize};

use crate::{func_name, gap, thread_label, timelines, title, FormatError};

pub const SCHEMA: &str = "https://www.speedscope.app/file-format-schema.json";

#[derive(Clone, Debug, Default)]
pub struct SpeedscopeOptions {
    /// One frame per running line instead of one per function.
    pub lines: bool,
}

/// The document; its profiles are [`SampledProfile`]s or [`EventedProfile`]s.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct File<P = SampledProfile> {
    #[serde(rename = "$schema")]
    pub schema: String,
    pub shared: Shared,
    pub profiles: Vec<P>,
    pub name: String,
    pub active_profile_index: usize,
    pub exporter: String,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Shared {
    pub frames: Vec<Frame>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Frame {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub line: Option<u32>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SampledProfile {
    /// Always "sampled".
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    /// "seconds", or "none" when the interval is unknown and weights are counts.
    pub unit: String,
    pub start_value: f64,
    pub end_value: f64,
    /// Indices into the shared frames, root first.
    pub samples: Vec<Vec<usize>>,
    pub weights: Vec<f64>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EventedProfile {
    /// Always "evented".
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    /// Always "seconds": times are seconds since the profile began, as in sampled profiles.
    pub unit: String,
    pub start_value: f64,
    pub end_value: f64,
    pub events: Vec<Event>,
}

/// A frame opening ("O") or closing ("C") at a time.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Event {
    #[serde(rename = "type")]
    pub kind: String,
    pub frame: usize,
    pub at: f64,
}

/// The speedscope document of a sampling profile as values (tests and other writers read it).
pub fn build(profile: &Profile, opts: &SpeedscopeOptions) -> Result<File, FormatError> {
    let samples = profile
        .samples
        .as_ref()
        .ok_or(FormatError::NeedsCallTimeline("speedscope profiles"))?;
    if samples.total() == 0 {
        return Err(FormatError::NoSamples("speedscope"));
    }
    let frame_map = FrameMap::new(samples, opts);
    let mut profiles = Vec::new();
    let nthreads = samples
        .stacks
        .iter()
        .map(|s| s.thread + 1)
        .max()
        .unwrap_or(0)
        .max(profile.threads.len());
    let timelines = timelines(samples);
    for t in 0..nthreads {
        let p = if samples.timeline.is_empty() {
            by_count(samples, t, &frame_map)
        } else {
            let timeline = timelines.get(t).map_or(&[][..], Vec::as_slice);
            by_time(timeline, samples.interval, &frame_map)
        };
        if let Some(mut p) = p {
            p.name = thread_label(profile.threads.get(t));
            profiles.push(p);
        }
    }
    Ok(File {
        schema: SCHEMA.into(),
        shared: Shared {
            frames: frame_map.frames,
        },
        profiles,
        name: title(profile),
        active_profile_index: 0,
        exporter: concat!("dziura ", env!("CARGO_PKG_VERSION")).into(),
    })
}

/// The speedscope document of a traced timeline: one evented profile per thread, named
/// "(truncated)" when the timeline's buffer filled before the end.
pub fn build_evented(profile: &Profile, calls: &CallTimeline) -> File<EventedProfile> {
    let frames = calls
        .funcs
        .iter()
        .map(|f| Frame {
            name: func_name(f),
            file: (!f.is_builtin()).then(|| f.file.clone()),
            line: (f.line != 0).then_some(f.line),
        })
        .collect();
    let seconds = |ns: u64| ns as f64 / 1e9;
    let profiles = calls
        .threads
        .iter()
        .filter(|tc| !tc.events.is_empty())
        .map(|tc| {
            let mut name = thread_label(profile.threads.get(tc.thread));
            if calls.truncated_at_ns.is_some() {
                name.push_str(" (truncated)");
            }
            EventedProfile {
                kind: "evented".into(),
                name,
                unit: "seconds".into(),
                start_value: seconds(tc.events[0].time_ns),
                end_value: seconds(tc.events[tc.events.len() - 1].time_ns),
                events: tc
                    .events
                    .iter()
                    .map(|e| Event {
                        kind: if e.open { "O" } else { "C" }.into(),
                        frame: e.func as usize,
                        at: seconds(e.time_ns),
                    })
                    .collect(),
            }
        })
        .collect();
    File {
        schema: SCHEMA.into(),
        shared: Shared { frames },
        profiles,
        name: title(profile),
        active_profile_index: 0,
        exporter: concat!("dziura ", env!("CARGO_PKG_VERSION")).into(),
    }
}

/// The JSON file: sampled profiles from samples, evented ones from a traced timeline.
pub fn write(profile: &Profile, opts: &SpeedscopeOptions) -> Result<Vec<u8>, FormatError> {
    if let Some(calls) = profile.traced_calls() {
        let file = build_evented(profile, calls);
        return Ok(serde_json::to_vec(&file).expect("plain values serialize"));
    }
    let file = build(profile, opts)?;
    Ok(serde_json::to_vec(&file).expect("plain values serialize"))
}

/// Model frames mapped to speedscope frames, only those that stacks use.
struct FrameMap {
    frames: Vec<Frame>,
    /// Model frame index → speedscope frame index.
    of: Vec<usize>,
}

impl FrameMap {
    fn new(samples: &Samples, opts: &SpeedscopeOptions) -> Self {
        let mut frames = Vec::new();
        let mut seen: HashMap<(&dziura_model::FuncKey, u32), usize> = HashMap::new();
        let mut of = Vec::with_capacity(samples.frames.len());
        for f in &samples.frames {
            let line = if opts.lines { f.line } else { f.func.line };
            let i = *seen.entry((&f.func, line)).or_insert_with(|| {
                frames.push(Frame {
                    name: func_name(&f.func),
                    file: (!f.func.is_builtin()).then(|| f.func.file.clone()),
                    line: (line != 0).then_some(line),
                });
                frames.len() - 1
            });
            of.push(i);
        }
        FrameMap { frames, of }
    }

    fn stack(&self, frames: &[u32]) -> Vec<usize> {
        frames.iter().map(|&i| self.of[i as usize]).collect()
    }
}

fn sampled(unit: &str) -> SampledProfile {
    SampledProfile {
        kind: "sampled".into(),
        name: String::new(),
        unit: unit.into(),
        start_value: 0.0,
        end_value: 0.0,
        samples: Vec::new(),
        weights: Vec::new(),
    }
}

fn by_count(samples: &Samples, thread: usize, map: &FrameMap) -> Option<SampledProfile> {
    let timed = samples.interval > 0.0;
    let mut p = sampled(if timed { "seconds" } else { "none" });
    for st in samples.stacks.iter().filter(|s| s.thread == thread) {
        let w = if timed {
            st.count as f64 * samples.interval
        } else {
            st.count as f64
        };
        p.samples.push(map.stack(&st.frames));
        p.weights.push(w);
        p.end_value += w;
    }
    (!p.samples.is_empty()).then_some(p)
}

fn by_time(events: &[(f64, &[u32])], interval: f64, map: &FrameMap) -> Option<SampledProfile> {
    let &(first, _) = events.first()?;
    let mut p = sampled("seconds");
    p.start_value = first;
    for (i, &(time, frames)) in events.iter().enumerate() {
        let stack = map.stack(frames);
        let next = events.get(i + 1).map(|n| n.0);
        let to_next = next.map_or(interval, |n| n - time);
        if next.is_some_and(|n| gap(time, n, interval)) {
            p.samples.push(stack);
            p.weights.push(interval);
            p.samples.push(Vec::new());
            p.weights.push(to_next - interval);
        } else {
            p.samples.push(stack);
            p.weights.push(to_next);
        }
    }
    let &(last, _) = events.last().expect("not empty");
    p.end_value = last + interval;
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    fn names(file: &File, stack: &[usize]) -> Vec<String> {
        stack
            .iter()
            .map(|&i| file.shared.frames[i].name.clone())
            .collect()
    }

    /// A thread sampled at every tick of a jittered clock (up to 3 × the interval apart) has no
    /// empty samples; one left out of ticks for longer gets one for that gap.
    #[test]
    fn jitter_makes_no_gaps_but_missed_ticks_do() {
        let mut p = testdata::sampled();
        let s = p.samples.as_mut().unwrap();
        let (a, b) = (s.stacks[0].frames.clone(), s.stacks[1].frames.clone());
        s.timeline.clear();
        // Ticks 0, 25, 55, 60, 90 ms at a 10 ms mean: thread 0 in all, thread 1 not in 55 and 60
        // (25 -> 90 is 6.5 intervals).
        for (i, ms) in [0.0, 25.0, 55.0, 60.0, 90.0].into_iter().enumerate() {
            let st = s.add(0, &a, 1);
            s.timeline.push(dziura_model::TimedSample {
                time: ms / 1e3,
                stack: st,
            });
            if i != 2 && i != 3 {
                let st = s.add(1, &b, 1);
                s.timeline.push(dziura_model::TimedSample {
                    time: ms / 1e3,
                    stack: st,
                });
            }
        }
        let bytes = write(&p, &SpeedscopeOptions::default()).unwrap();
        let file: File = serde_json::from_slice(&bytes).unwrap();
        let main = &file.profiles[0];
        assert_eq!(main.samples.len(), 5);
        assert!(main.samples.iter().all(|st| !st.is_empty()));
        let worker = &file.profiles[1];
        assert_eq!(worker.samples.iter().filter(|st| st.is_empty()).count(), 1);
        assert_eq!(worker.samples.len(), 4);
        assert!(close(worker.weights.iter().sum::<f64>(), 0.1));
    }

    #[test]
    fn timeline_gives_time_ordered_samples_on_one_clock() {
        let bytes = write(&testdata::sampled(), &SpeedscopeOptions::default()).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(json["$schema"], SCHEMA);
        assert_eq!(json["name"], "app.py --fast");
        let file: File = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(file.profiles.len(), 2);
        let main = &file.profiles[0];
        assert_eq!(main.name, "thread MainThread (native id 1001)");
        assert_eq!(
            (main.kind.as_str(), main.unit.as_str()),
            ("sampled", "seconds")
        );
        assert!(close(main.start_value, 0.0) && close(main.end_value, 0.1));
        // 7 samples plus one idle gap between 0.05 and 0.09.
        assert_eq!(main.samples.len(), 8);
        assert_eq!(names(&file, &main.samples[1]), ["main", "fib", "fib"]);
        assert_eq!(
            names(&file, &main.samples[5]),
            ["main", "{built-in method time.sleep}"]
        );
        assert!(main.samples[6].is_empty());
        assert!(close(main.weights[6], 0.03));
        let total: f64 = main.weights.iter().sum();
        assert!(close(main.start_value + total, main.end_value));

        let worker = &file.profiles[1];
        assert!(close(worker.start_value, 0.005) && close(worker.end_value, 0.045));
        assert_eq!(worker.samples.len(), 4);
        assert!(worker.weights.iter().all(|&w| close(w, 0.01)));
        assert_eq!(
            names(&file, &worker.samples[0]),
            ["worker", "odd;name <&> \"q\" 'x'"]
        );
        let odd = &file.shared.frames[worker.samples[0][1]];
        assert_eq!(odd.file.as_deref(), Some("/app/my dir/work.py"));
        assert_eq!(odd.line, Some(20));
        let sleep = file
            .shared
            .frames
            .iter()
            .find(|f| f.name == "{built-in method time.sleep}")
            .unwrap();
        assert_eq!((&sleep.file, sleep.line), (&None, None));
        // One frame per function: fib's two running lines share a frame.
        assert_eq!(file.shared.frames.len(), 6);
    }

    #[test]
    fn counts_without_timeline_weigh_count_times_interval() {
        let file = build(&testdata::sampled_counts(), &SpeedscopeOptions::default()).unwrap();
        let main = &file.profiles[0];
        assert_eq!(main.samples.len(), 4);
        assert!(close(main.start_value, 0.0));
        assert!(close(main.end_value, 0.07));
        assert!(close(main.weights.iter().sum::<f64>(), 0.07));
        assert!(close(main.weights[1], 0.02));
    }

    #[test]
    fn lines_option_splits_frames_by_running_line() {
        let opts = SpeedscopeOptions { lines: true };
        let file = build(&testdata::sampled(), &opts).unwrap();
        assert_eq!(file.shared.frames.len(), 8);
        let main = &file.profiles[0];
        let lines: Vec<Option<u32>> = main.samples[1]
            .iter()
            .map(|&i| file.shared.frames[i].line)
            .collect();
        assert_eq!(lines, [Some(3), Some(12), Some(13)]);
    }

    #[test]
    fn tracing_profile_is_refused() {
        let e = write(&testdata::traced(), &SpeedscopeOptions::default()).unwrap_err();
        assert!(e
            .to_string()
            .starts_with("speedscope profiles need a sampling profile or a traced timeline"));
    }

    #[test]
    fn traced_timeline_gives_evented_profiles() {
        let bytes = write(&testdata::timed(false), &SpeedscopeOptions::default()).unwrap();
        let file: File<EventedProfile> = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(file.profiles.len(), 2);
        let main = &file.profiles[0];
        assert_eq!(main.name, "thread MainThread (native id 1001)");
        assert_eq!(
            (main.kind.as_str(), main.unit.as_str()),
            ("evented", "seconds")
        );
        assert!(close(main.start_value, 0.0) && close(main.end_value, 1e-6));
        let seq: Vec<(&str, &str)> = main
            .events
            .iter()
            .map(|e| (e.kind.as_str(), file.shared.frames[e.frame].name.as_str()))
            .collect();
        assert_eq!(
            seq,
            [
                ("O", "main"),
                ("O", "fib"),
                ("O", "fib"),
                ("C", "fib"),
                ("O", "{built-in method builtins.len}"),
                ("C", "{built-in method builtins.len}"),
                ("C", "fib"),
                ("C", "main")
            ]
        );
        assert!(close(main.events[4].at, 4e-7));
        let fib = &file.shared.frames[main.events[1].frame];
        assert_eq!(
            (fib.file.as_deref(), fib.line),
            (Some("/app/main.py"), Some(10))
        );
        let worker = &file.profiles[1];
        assert!(close(worker.start_value, 5e-8) && close(worker.end_value, 8e-8));
    }

    #[test]
    fn truncated_timeline_names_say_so() {
        let file: File<EventedProfile> = serde_json::from_slice(
            &write(&testdata::timed(true), &SpeedscopeOptions::default()).unwrap(),
        )
        .unwrap();
        assert!(file
            .profiles
            .iter()
            .all(|p| p.name.ends_with(" (truncated)")));
    }
}
