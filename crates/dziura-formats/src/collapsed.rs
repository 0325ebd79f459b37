//! Brendan Gregg's folded stacks: `root;caller;callee COUNT`, one line per distinct stack, the
//! input of flamegraph.pl, inferno and speedscope's importer.
//!
//! A sampling profile's counts are samples; a traced timeline's are nanoseconds of time with
//! that exact stack (own time), so tracing gets an exact flame graph too.

use std::collections::BTreeMap;

use dziura_model::{CallTimeline, Frame, Profile};

use crate::{basename, func_name, thread_label, FormatError};

/// How frames are named.
#[derive(Clone, Debug)]
pub struct CollapsedOptions {
    /// Full file paths instead of base names.
    pub full_paths: bool,
    /// Each frame's running line (`f (a.py:12)`, as py-spy does); off, a function's samples
    /// merge into one frame named by its first line.
    pub lines: bool,
    /// A root frame per thread, `thread NAME (native id N)`, so threads stay apart.
    pub threads: bool,
}

impl Default for CollapsedOptions {
    fn default() -> Self {
        CollapsedOptions {
            full_paths: false,
            lines: true,
            threads: false,
        }
    }
}

/// A frame's text: `name (file:line)`, or pstats' `{built-in method ...}` for C code.
pub fn frame_text(frame: &Frame, opts: &CollapsedOptions) -> String {
    let f = &frame.func;
    let text = if f.is_builtin() {
        func_name(f)
    } else {
        let file = if opts.full_paths {
            &f.file
        } else {
            basename(&f.file)
        };
        let line = if opts.lines { frame.line } else { f.line };
        format!("{} ({file}:{line})", f.name)
    };
    sanitize(&text)
}

/// The deepest stack written whole: frames below this depth are folded into one
/// [`DEEPER_FRAMES_CUT`] frame, so a 10,000-deep recursion gives a few MB of stacks instead of a
/// line per prefix with up to 10,000 frames each (quadratic: 800 MB), and the flame graph drawn
/// from them stays as small as what it can show.
pub const MAX_DEPTH: usize = 512;
/// The frame that stands for every frame below [`MAX_DEPTH`]; the time or samples spent down
/// there are all charged to it, so totals do not change.
pub const DEEPER_FRAMES_CUT: &str = "[deeper frames cut: dziura keeps 512 levels]";

/// The folded text of a stack given root first, cut at [`MAX_DEPTH`] frames (plus a leading
/// thread frame where there is one).
fn fold(parts: &[&str], lead: usize) -> String {
    let keep = lead + MAX_DEPTH;
    if parts.len() <= keep {
        return parts.join(";");
    }
    let mut text = parts[..keep].join(";");
    text.push(';');
    text.push_str(DEEPER_FRAMES_CUT);
    text
}

/// `;` separates frames and a line ends the stack, so neither may appear inside a frame.
fn sanitize(text: &str) -> String {
    text.replace(';', ":").replace(['\n', '\r', '\t'], " ")
}

/// Every distinct folded stack with its sample count, sorted (stacks that name the same frames,
/// say two threads without the thread frame, are added together).
pub fn stacks(
    profile: &Profile,
    opts: &CollapsedOptions,
) -> Result<Vec<(String, u64)>, FormatError> {
    if let Some(calls) = profile.traced_calls() {
        return Ok(traced_stacks(profile, calls, opts));
    }
    let samples = profile
        .samples
        .as_ref()
        .ok_or(FormatError::NeedsCallTimeline("collapsed stacks"))?;
    let names: Vec<String> = samples.frames.iter().map(|f| frame_text(f, opts)).collect();
    let mut out: BTreeMap<String, u64> = BTreeMap::new();
    for st in samples.stacks.iter().filter(|s| s.count > 0) {
        let mut parts: Vec<&str> = Vec::with_capacity(st.frames.len() + 1);
        let thread;
        if opts.threads {
            thread = sanitize(&thread_label(profile.threads.get(st.thread)));
            parts.push(&thread);
        }
        let lead = parts.len();
        parts.extend(st.frames.iter().map(|&i| names[i as usize].as_str()));
        // A sample with no Python frame has nothing to draw.
        if parts.is_empty() {
            continue;
        }
        *out.entry(fold(&parts, lead)).or_default() += st.count;
    }
    Ok(out.into_iter().collect())
}

/// A traced timeline's stacks, each weighing the nanoseconds spent with exactly that stack.
fn traced_stacks(
    profile: &Profile,
    calls: &CallTimeline,
    opts: &CollapsedOptions,
) -> Vec<(String, u64)> {
    let names: Vec<String> = calls
        .funcs
        .iter()
        .map(|f| {
            frame_text(
                &Frame {
                    func: f.clone(),
                    line: f.line,
                },
                opts,
            )
        })
        .collect();
    let mut ns: BTreeMap<String, u64> = BTreeMap::new();
    for tc in &calls.threads {
        let mut path: Vec<&str> = Vec::new();
        let thread;
        if opts.threads {
            thread = sanitize(&thread_label(profile.threads.get(tc.thread)));
            path.push(&thread);
        }
        let base = path.len();
        let mut last = tc.events.first().map_or(0, |e| e.time_ns);
        for e in &tc.events {
            if path.len() > base && e.time_ns > last {
                *ns.entry(fold(&path, base)).or_default() += e.time_ns - last;
            }
            last = e.time_ns;
            if e.open {
                path.push(&names[e.func as usize]);
            } else {
                path.pop();
            }
        }
    }
    ns.into_iter().collect()
}

/// The folded stacks as text, one `stack count` line each.
pub fn write(profile: &Profile, opts: &CollapsedOptions) -> Result<String, FormatError> {
    let mut text = String::new();
    for (stack, count) in stacks(profile, opts)? {
        text.push_str(&stack);
        text.push(' ');
        text.push_str(&count.to_string());
        text.push('\n');
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata;

    #[test]
    fn one_line_per_stack_root_first() {
        let text = write(&testdata::sampled(), &CollapsedOptions::default()).unwrap();
        assert_eq!(
            text,
            "main (main.py:3);fib (main.py:12) 2\n\
             main (main.py:3);fib (main.py:12);fib (main.py:13) 2\n\
             main (main.py:4);{built-in method builtins.len} 1\n\
             main (main.py:4);{built-in method time.sleep} 2\n\
             worker (work.py:7) 1\n\
             worker (work.py:7);odd:name <&> \"q\" 'x' (work.py:21) 2\n\
             worker (work.py:7);{built-in method time.sleep} 1\n"
        );
    }

    #[test]
    fn thread_frames_full_paths_and_function_lines() {
        let opts = CollapsedOptions {
            full_paths: true,
            lines: false,
            threads: true,
        };
        let text = write(&testdata::sampled(), &opts).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "thread MainThread (native id 1001);main (/app/main.py:1);fib (/app/main.py:10) 2"
        );
        assert!(lines.contains(
            &"thread MainThread (native id 1001);main (/app/main.py:1);fib (/app/main.py:10);fib (/app/main.py:10) 2"
        ));
        assert!(
            lines.contains(&"thread Worker-1 (native id 1002);worker (/app/my dir/work.py:5) 1")
        );
        let total: u64 = lines
            .iter()
            .map(|l| l.rsplit_once(' ').unwrap().1.parse::<u64>().unwrap())
            .sum();
        assert_eq!(total, 11);
    }

    #[test]
    fn semicolons_in_names_do_not_split_frames() {
        let text = write(&testdata::sampled(), &CollapsedOptions::default()).unwrap();
        for line in text.lines() {
            let (stack, _) = line.rsplit_once(' ').unwrap();
            for frame in stack.split(';') {
                assert!(
                    frame.ends_with(')') || frame.ends_with('}'),
                    "frame split inside a name: {frame:?} in {line:?}"
                );
            }
        }
    }

    #[test]
    fn tracing_profile_is_refused() {
        let e = write(&testdata::traced(), &CollapsedOptions::default()).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("collapsed stacks need a sampling profile"),
            "{e}"
        );
    }

    #[test]
    fn deep_recursion_is_cut_with_a_marker_and_keeps_its_total() {
        use dziura_model::{CallEvent, FuncKey, ThreadCalls};
        let depth = 10_000u64;
        let mut events = Vec::new();
        for i in 0..depth {
            events.push(CallEvent {
                func: 0,
                open: true,
                time_ns: i * 10,
            });
        }
        for i in 0..depth {
            events.push(CallEvent {
                func: 0,
                open: false,
                time_ns: depth * 10 + i * 10,
            });
        }
        let mut p = testdata::timed(false);
        let calls = p.calls.as_mut().unwrap();
        calls.funcs = vec![FuncKey::python("deep.py", 1, "down")];
        calls.threads = vec![ThreadCalls { thread: 0, events }];
        let text = write(&p, &CollapsedOptions::default()).unwrap();
        assert!(text.len() < 8 << 20, "{} bytes", text.len());
        let mut total = 0;
        let mut cut = 0;
        for line in text.lines() {
            let (stack, n) = line.rsplit_once(' ').unwrap();
            total += n.parse::<u64>().unwrap();
            let frames: Vec<&str> = stack.split(';').collect();
            assert!(frames.len() <= MAX_DEPTH + 1);
            if frames.last() == Some(&DEEPER_FRAMES_CUT) {
                assert_eq!(frames.len(), MAX_DEPTH + 1);
                cut += 1;
            }
        }
        assert_eq!(cut, 1, "every deeper stack folds into one line");
        assert_eq!(total, (2 * depth - 1) * 10, "no time lost by the cut");
    }

    #[test]
    fn traced_timeline_folds_own_nanoseconds() {
        let p = testdata::timed(false);
        let text = write(&p, &CollapsedOptions::default()).unwrap();
        assert_eq!(
            text,
            "main (main.py:1) 500\n\
             main (main.py:1);fib (main.py:10) 350\n\
             main (main.py:1);fib (main.py:10);fib (main.py:10) 100\n\
             main (main.py:1);fib (main.py:10);{built-in method builtins.len} 50\n\
             odd:name <&> \"q\" 'x' (work.py:20) 30\n"
        );
    }
}
