//! Folded stacks (`root;caller;callee COUNT`, as `dziura record -f collapsed`, py-spy and
//! flamegraph.pl's collapse scripts write them) read back into a sampling profile, so two such
//! files can be compared or shown. They carry no sampling interval: the profile's interval is 0
//! and a diff counts in samples. Frames name the line that was running, not the function's
//! first line, so functions are keyed by file and name with line 0 and each frame keeps its
//! running line: the table compares whole functions, the flame graph draws the input's frames.

use dziura_model::{Frame, FuncKey, Profile, Samples, ThreadProfile};

/// Why a text is not folded stacks.
#[derive(Debug, thiserror::Error)]
#[error("not folded stacks: line {line}: {why}")]
pub struct FoldedError {
    pub line: usize,
    pub why: String,
}

/// A frame's text back to a place: `name (file:line)` as dziura and py-spy write it, pstats'
/// `{built-in method ...}` for C code, anything else kept whole as the name.
fn frame(text: &str) -> Frame {
    let text = text.trim();
    if let Some(inner) = text.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
        return Frame {
            func: FuncKey::builtin(format!("<{inner}>")),
            line: 0,
        };
    }
    let parsed = text
        .strip_suffix(')')
        .and_then(|t| t.rsplit_once(" ("))
        .and_then(|(name, place)| {
            let (file, line) = place.rsplit_once(':')?;
            Some((name, file, line.parse::<u32>().ok()?))
        });
    match parsed {
        Some((name, file, line)) if !name.is_empty() && !file.is_empty() => Frame {
            func: FuncKey::python(file, 0, name),
            line,
        },
        _ => Frame {
            func: FuncKey::builtin(text),
            line: 0,
        },
    }
}

/// Reads folded stacks; stacks seen on several lines are added together.
pub fn read_folded(text: &str) -> Result<Profile, FoldedError> {
    let mut samples = Samples::new(0.0);
    let mut any = false;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end();
        if line.is_empty() {
            continue;
        }
        let err = |why: &str| FoldedError {
            line: n + 1,
            why: why.to_string(),
        };
        let (stack, count) = line
            .rsplit_once(' ')
            .ok_or_else(|| err("no sample count at the end"))?;
        let count: u64 = count
            .parse()
            .map_err(|_| err("the last field is not a sample count"))?;
        let frames: Vec<u32> = stack
            .split(';')
            .filter(|f| !f.is_empty())
            .map(|f| samples.frame(&frame(f)))
            .collect();
        if frames.is_empty() {
            return Err(err("no frames"));
        }
        samples.add(0, &frames, count);
        any = true;
    }
    if !any {
        return Err(FoldedError {
            line: 0,
            why: "the file holds no stacks".into(),
        });
    }
    Ok(Profile {
        threads: vec![ThreadProfile::default()],
        samples: Some(samples),
        calls: None,
        meta: dziura_model::Metadata {
            mode: "sampling".into(),
            ..Default::default()
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_come_back_as_functions() {
        let p = read_folded(
            "main (m.py:3);fib (m.py:12) 2\n\
             main (m.py:3);fib (m.py:12) 1\n\
             main (m.py:4);{built-in method time.sleep} 5\n\
             thread T (native id 7);odd:na (me (x.py:9) 1\n",
        )
        .unwrap();
        let s = p.samples.as_ref().unwrap();
        assert_eq!(s.total(), 9);
        assert_eq!(s.stacks.len(), 3);
        assert_eq!(s.stacks[0].count, 3);
        assert_eq!(s.frames[1].func, FuncKey::python("m.py", 0, "fib"));
        assert_eq!(s.frames[1].line, 12);
        // Two lines of one function are one function.
        assert_eq!(s.frames[0].func, s.frames[2].func);
        assert_ne!(s.frames[0], s.frames[2]);
        assert_eq!(
            s.frames[3].func,
            FuncKey::builtin("<built-in method time.sleep>")
        );
        assert_eq!(s.frames[3].func.to_string(), "{built-in method time.sleep}");
        assert_eq!(s.frames[4].func.to_string(), "thread T (native id 7)");
        assert_eq!(s.frames[5].func, FuncKey::python("x.py", 0, "odd:na (me"));
        assert!(p.is_sampled());
    }

    #[test]
    fn other_text_is_refused() {
        let e = read_folded("hello world\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "not folded stacks: line 1: the last field is not a sample count"
        );
        assert!(read_folded("\n\n").is_err());
    }
}
