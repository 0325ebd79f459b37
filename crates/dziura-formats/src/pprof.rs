//! pprof's gzipped `perftools.profiles.Profile` protobuf, read by `go tool pprof`, Pyroscope,
//! Grafana and Cloud Profiler. The messages are declared by hand from `profile.proto` so no
//! protoc or build script is needed.
//!
//! Sampling profiles give one sample per distinct stack, values (samples, time ns). Tracing
//! profiles have no stacks, only caller edges, so each function becomes one sample whose stack
//! is that function alone, values (calls, own time ns): `-top` is right, `cum` equals `flat`.
//! Every sample carries a `thread` label (the thread's name) and a numeric `native_id` label.

use std::collections::HashMap;
use std::io::Write;

use dziura_model::{FuncKey, Profile, ThreadProfile};
use flate2::write::GzEncoder;
use flate2::Compression;
use prost::Message;

use crate::func_name;

#[derive(Clone, Debug)]
pub struct PprofOptions {
    /// The time value's type: "wall" or "cpu", whichever clock the collector used.
    pub time_name: String,
}

impl Default for PprofOptions {
    fn default() -> Self {
        PprofOptions {
            time_name: "wall".into(),
        }
    }
}

/// `perftools.profiles.Profile`.
#[derive(Clone, PartialEq, Message)]
pub struct PprofProfile {
    #[prost(message, repeated, tag = "1")]
    pub sample_type: Vec<ValueType>,
    #[prost(message, repeated, tag = "2")]
    pub sample: Vec<Sample>,
    #[prost(message, repeated, tag = "3")]
    pub mapping: Vec<Mapping>,
    #[prost(message, repeated, tag = "4")]
    pub location: Vec<Location>,
    #[prost(message, repeated, tag = "5")]
    pub function: Vec<Function>,
    /// Index 0 must be "".
    #[prost(string, repeated, tag = "6")]
    pub string_table: Vec<String>,
    #[prost(int64, tag = "7")]
    pub drop_frames: i64,
    #[prost(int64, tag = "8")]
    pub keep_frames: i64,
    #[prost(int64, tag = "9")]
    pub time_nanos: i64,
    #[prost(int64, tag = "10")]
    pub duration_nanos: i64,
    #[prost(message, optional, tag = "11")]
    pub period_type: Option<ValueType>,
    #[prost(int64, tag = "12")]
    pub period: i64,
    #[prost(int64, repeated, tag = "13")]
    pub comment: Vec<i64>,
    #[prost(int64, tag = "14")]
    pub default_sample_type: i64,
}

#[derive(Clone, PartialEq, Message)]
pub struct ValueType {
    #[prost(int64, tag = "1")]
    pub r#type: i64,
    #[prost(int64, tag = "2")]
    pub unit: i64,
}

#[derive(Clone, PartialEq, Message)]
pub struct Sample {
    /// Leaf first.
    #[prost(uint64, repeated, tag = "1")]
    pub location_id: Vec<u64>,
    #[prost(int64, repeated, tag = "2")]
    pub value: Vec<i64>,
    #[prost(message, repeated, tag = "3")]
    pub label: Vec<Label>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Label {
    #[prost(int64, tag = "1")]
    pub key: i64,
    #[prost(int64, tag = "2")]
    pub str: i64,
    #[prost(int64, tag = "3")]
    pub num: i64,
    #[prost(int64, tag = "4")]
    pub num_unit: i64,
}

#[derive(Clone, PartialEq, Message)]
pub struct Mapping {
    #[prost(uint64, tag = "1")]
    pub id: u64,
    #[prost(uint64, tag = "2")]
    pub memory_start: u64,
    #[prost(uint64, tag = "3")]
    pub memory_limit: u64,
    #[prost(uint64, tag = "4")]
    pub file_offset: u64,
    #[prost(int64, tag = "5")]
    pub filename: i64,
    #[prost(int64, tag = "6")]
    pub build_id: i64,
    #[prost(bool, tag = "7")]
    pub has_functions: bool,
    #[prost(bool, tag = "8")]
    pub has_filenames: bool,
    #[prost(bool, tag = "9")]
    pub has_line_numbers: bool,
    #[prost(bool, tag = "10")]
    pub has_inline_frames: bool,
}

#[derive(Clone, PartialEq, Message)]
pub struct Location {
    #[prost(uint64, tag = "1")]
    pub id: u64,
    #[prost(uint64, tag = "2")]
    pub mapping_id: u64,
    #[prost(uint64, tag = "3")]
    pub address: u64,
    #[prost(message, repeated, tag = "4")]
    pub line: Vec<Line>,
    #[prost(bool, tag = "5")]
    pub is_folded: bool,
}

#[derive(Clone, PartialEq, Message)]
pub struct Line {
    #[prost(uint64, tag = "1")]
    pub function_id: u64,
    #[prost(int64, tag = "2")]
    pub line: i64,
    #[prost(int64, tag = "3")]
    pub column: i64,
}

#[derive(Clone, PartialEq, Message)]
pub struct Function {
    #[prost(uint64, tag = "1")]
    pub id: u64,
    #[prost(int64, tag = "2")]
    pub name: i64,
    #[prost(int64, tag = "3")]
    pub system_name: i64,
    #[prost(int64, tag = "4")]
    pub filename: i64,
    #[prost(int64, tag = "5")]
    pub start_line: i64,
}

/// The gzipped file.
pub fn write(profile: &Profile, opts: &PprofOptions) -> Vec<u8> {
    let raw = build(profile, opts).encode_to_vec();
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(&raw).expect("writing to memory");
    gz.finish().expect("writing to memory")
}

/// The profile message before encoding.
pub fn build(profile: &Profile, opts: &PprofOptions) -> PprofProfile {
    let mut b = Builder::default();
    b.strings.intern("");
    // Functions come with names, files and lines, so pprof must not try to symbolize.
    b.p.mapping.push(Mapping {
        id: 1,
        filename: b.strings.intern("python"),
        has_functions: true,
        has_filenames: true,
        has_line_numbers: true,
        ..Default::default()
    });
    let ns = |s: f64| (s * 1e9).round() as i64;
    let time = (opts.time_name.as_str(), "nanoseconds");
    match &profile.samples {
        Some(samples) => {
            b.sample_types(&[("samples", "count"), time]);
            let interval = ns(samples.interval);
            b.p.period_type = Some(b.value_type(time));
            b.p.period = interval;
            let locs: Vec<u64> = samples
                .frames
                .iter()
                .map(|f| b.location(&f.func, f.line))
                .collect();
            for st in samples.stacks.iter().filter(|s| !s.frames.is_empty()) {
                let sample = Sample {
                    location_id: st.frames.iter().rev().map(|&i| locs[i as usize]).collect(),
                    value: vec![st.count as i64, st.count as i64 * interval],
                    label: b.thread_labels(profile.threads.get(st.thread)),
                };
                b.p.sample.push(sample);
            }
        }
        None => {
            b.sample_types(&[("calls", "count"), time]);
            for t in &profile.threads {
                for (_, key, stats) in t.graph.iter() {
                    let sample = Sample {
                        location_id: vec![b.location(key, key.line)],
                        value: vec![stats.total.calls as i64, ns(stats.total.own_time)],
                        label: b.thread_labels(Some(t)),
                    };
                    b.p.sample.push(sample);
                }
            }
        }
    }
    b.p.default_sample_type = b.strings.intern(time.0);
    // Whole seconds apart: a Unix time in nanoseconds is past f64's 53 bits.
    let start = profile.meta.start_time;
    b.p.time_nanos = start.trunc() as i64 * 1_000_000_000 + ns(start.fract());
    b.p.duration_nanos = ns(profile.meta.duration);
    let cmd = profile.meta.command.join(" ");
    if !cmd.is_empty() {
        let c = b.strings.intern(&cmd);
        b.p.comment.push(c);
    }
    b.p.string_table = b.strings.table;
    b.p
}

#[derive(Default)]
struct Strings {
    table: Vec<String>,
    index: HashMap<String, i64>,
}

impl Strings {
    fn intern(&mut self, s: &str) -> i64 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.table.len() as i64;
        self.table.push(s.to_string());
        self.index.insert(s.to_string(), i);
        i
    }
}

#[derive(Default)]
struct Builder {
    p: PprofProfile,
    strings: Strings,
    functions: HashMap<FuncKey, u64>,
    locations: HashMap<(u64, u32), u64>,
}

impl Builder {
    fn value_type(&mut self, (ty, unit): (&str, &str)) -> ValueType {
        ValueType {
            r#type: self.strings.intern(ty),
            unit: self.strings.intern(unit),
        }
    }

    fn sample_types(&mut self, types: &[(&str, &str)]) {
        self.p.sample_type = types.iter().map(|&t| self.value_type(t)).collect();
    }

    fn function(&mut self, key: &FuncKey) -> u64 {
        if let Some(&id) = self.functions.get(key) {
            return id;
        }
        let id = self.p.function.len() as u64 + 1;
        let shown = func_name(key);
        let name = self.strings.intern(&shown);
        // pprof takes a function whose system name equals its name for a possibly mangled C++
        // symbol and strips every `<...>` from it, which would empty `<module>` or `<lambda>`.
        let system = if key.is_builtin() {
            key.name.clone()
        } else {
            key.to_string()
        };
        let system_name = if system == shown {
            0
        } else {
            self.strings.intern(&system)
        };
        let filename = if key.is_builtin() {
            0
        } else {
            self.strings.intern(&key.file)
        };
        self.p.function.push(Function {
            id,
            name,
            system_name,
            filename,
            start_line: key.line as i64,
        });
        self.functions.insert(key.clone(), id);
        id
    }

    fn location(&mut self, key: &FuncKey, line: u32) -> u64 {
        let function_id = self.function(key);
        if let Some(&id) = self.locations.get(&(function_id, line)) {
            return id;
        }
        let id = self.p.location.len() as u64 + 1;
        self.p.location.push(Location {
            id,
            mapping_id: 1,
            line: vec![Line {
                function_id,
                line: line as i64,
                column: 0,
            }],
            ..Default::default()
        });
        self.locations.insert((function_id, line), id);
        id
    }

    fn thread_labels(&mut self, thread: Option<&ThreadProfile>) -> Vec<Label> {
        let Some(t) = thread else {
            return Vec::new();
        };
        let mut labels = vec![Label {
            key: self.strings.intern("thread"),
            str: self
                .strings
                .intern(if t.name.is_empty() { "?" } else { &t.name }),
            ..Default::default()
        }];
        if t.native_id != 0 {
            labels.push(Label {
                key: self.strings.intern("native_id"),
                num: t.native_id as i64,
                ..Default::default()
            });
        }
        labels
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata;
    use flate2::read::GzDecoder;
    use std::io::Read;
    use std::process::Command;

    fn decode(bytes: &[u8]) -> PprofProfile {
        let mut raw = Vec::new();
        GzDecoder::new(bytes).read_to_end(&mut raw).unwrap();
        PprofProfile::decode(raw.as_slice()).unwrap()
    }

    fn s(p: &PprofProfile, i: i64) -> &str {
        &p.string_table[i as usize]
    }

    /// Each sample's stack as function names, root first, with its values and thread label.
    fn stacks(p: &PprofProfile) -> Vec<(Vec<&str>, Vec<i64>, &str)> {
        p.sample
            .iter()
            .map(|smp| {
                let names = smp
                    .location_id
                    .iter()
                    .rev()
                    .map(|&id| {
                        let loc = &p.location[id as usize - 1];
                        assert_eq!(loc.id, id);
                        let f = &p.function[loc.line[0].function_id as usize - 1];
                        s(p, f.name)
                    })
                    .collect();
                let thread = smp
                    .label
                    .iter()
                    .find(|l| s(p, l.key) == "thread")
                    .map(|l| s(p, l.str))
                    .unwrap();
                (names, smp.value.clone(), thread)
            })
            .collect()
    }

    #[test]
    fn sampling_profile_round_trips() {
        let p = decode(&write(&testdata::sampled(), &PprofOptions::default()));
        assert_eq!(p.string_table[0], "");
        let types: Vec<(&str, &str)> = p
            .sample_type
            .iter()
            .map(|t| (s(&p, t.r#type), s(&p, t.unit)))
            .collect();
        assert_eq!(types, [("samples", "count"), ("wall", "nanoseconds")]);
        assert_eq!(p.period, 10_000_000);
        assert_eq!(p.time_nanos, 1_700_000_000_250_000_000);
        assert_eq!(p.duration_nanos, 100_000_000);
        let st = stacks(&p);
        assert_eq!(st.len(), 7);
        assert!(st.contains(&(
            vec!["main", "fib", "fib"],
            vec![2, 20_000_000],
            "MainThread"
        )));
        assert!(st.contains(&(
            vec!["worker", "odd;name <&> \"q\" 'x'"],
            vec![2, 20_000_000],
            "Worker-1"
        )));
        assert!(st.contains(&(
            vec!["main", "{built-in method time.sleep}"],
            vec![2, 20_000_000],
            "MainThread"
        )));
        let total: i64 = p.sample.iter().map(|x| x.value[0]).sum();
        assert_eq!(total, 11);
        // fib at lines 12 and 13: two locations, one function.
        assert_eq!(p.function.len(), 6);
        assert_eq!(p.location.len(), 8);
        let native = p.sample[0]
            .label
            .iter()
            .find(|l| s(&p, l.key) == "native_id")
            .unwrap();
        assert_eq!(native.num, 1001);
    }

    #[test]
    fn tracing_profile_gives_one_sample_per_function_and_thread() {
        let opts = PprofOptions {
            time_name: "cpu".into(),
        };
        let p = decode(&write(&testdata::traced(), &opts));
        let types: Vec<&str> = p.sample_type.iter().map(|t| s(&p, t.r#type)).collect();
        assert_eq!(types, ["calls", "cpu"]);
        let st = stacks(&p);
        assert_eq!(st.len(), 6);
        assert!(st.contains(&(vec!["fib"], vec![15, 600_000_000], "MainThread")));
        assert!(st.contains(&(
            vec!["{built-in method builtins.len}"],
            vec![3, 200_000_000],
            "Worker-1"
        )));
        let f = p.function.iter().find(|f| s(&p, f.name) == "fib").unwrap();
        assert_eq!((s(&p, f.filename), f.start_line), ("/app/main.py", 10));
    }

    /// `go tool pprof` must read the file and list the functions.
    #[test]
    fn go_tool_pprof_reads_it() {
        let Ok(version) = Command::new("go").arg("version").output() else {
            println!("skipped: go is not installed (apt-get install golang-go)");
            return;
        };
        println!("{}", String::from_utf8_lossy(&version.stdout).trim());
        let dir = std::env::temp_dir().join(format!("dziura-pprof-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, profile) in [
            ("sampled", testdata::sampled()),
            ("traced", testdata::traced()),
        ] {
            let path = dir.join(format!("{name}.pb.gz"));
            std::fs::write(&path, write(&profile, &PprofOptions::default())).unwrap();
            let out = Command::new("go")
                .args(["tool", "pprof", "-top", "-nodecount=100"])
                .arg(&path)
                .env("HOME", &dir)
                .env("PPROF_TMPDIR", &dir)
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{name}: {stderr}");
            assert!(stdout.contains("fib"), "{name}: {stdout}\n{stderr}");
            assert!(
                stdout.contains("{built-in method builtins.len}"),
                "{name}: {stdout}"
            );
            if name == "sampled" {
                assert!(
                    stdout.contains("odd;name <&> \"q\" 'x'"),
                    "names kept whole: {stdout}"
                );
            }
            if name == "sampled" {
                // 11 samples of 10 ms.
                assert!(stdout.contains("110ms total"), "{name}: {stdout}");
                let tags = Command::new("go")
                    .args(["tool", "pprof", "-tags"])
                    .arg(&path)
                    .env("HOME", &dir)
                    .output()
                    .unwrap();
                let tags = String::from_utf8_lossy(&tags.stdout);
                assert!(tags.contains("Worker-1"), "{tags}");
            } else {
                assert!(stdout.contains("1500ms total"), "{name}: {stdout}");
            }
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}
