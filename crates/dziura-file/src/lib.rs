//! dziura's own profile file, and reading any saved profile.
//!
//! A dziura file keeps a [`Profile`] exactly: every thread in order, every number to the bit,
//! the samples with their timeline, and the metadata. Layout:
//!
//! ```text
//! MAGIC (8 bytes) | format version (u32, little-endian) | gzip( postcard( Profile ) )
//! ```
//!
//! The body is the model's serde form in postcard's compact encoding, gzipped (whose CRC also
//! catches damage). Indices the model keeps for itself are rebuilt on load, and a body whose
//! indices point nowhere is refused, so a profile read here is as sound as one collected.
//!
//! [`load`] is the one reader of saved profiles every command uses (`show`, `convert`, `diff`):
//! dziura files, cProfile's pstats files and folded stacks.

pub mod folded;

pub use folded::{read_folded, FoldedError};

use std::io::{Read, Write};
use std::path::Path;

use dziura_model::{Profile, ThreadProfile};
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;

/// The first bytes of every dziura file.
pub const MAGIC: &[u8; 8] = b"DZIURA\x00\x01";
/// The format version this build writes; it reads this one and every older one.
/// 1: threads, metadata, samples. 2: also the traced call timeline.
pub const VERSION: u32 = 2;
/// The largest body accepted, uncompressed: a guard against gzip bombs.
const MAX_BODY: u64 = 4 << 30;

/// Why a saved profile could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FileError {
    #[error("not a dziura profile{}", if *.pstats { " (it looks like a pstats file from cProfile; dziura show and dziura convert read those too)" } else { "" })]
    NotDziura { pstats: bool },
    #[error("written by a newer dziura (format version {0}); upgrade dziura to read it")]
    Newer(u32),
    #[error("truncated or corrupt dziura profile")]
    Corrupt,
    #[error("truncated or corrupt pstats file ({0})")]
    CorruptPstats(String),
    #[error("not a dziura or pstats profile, nor folded stacks (expected a file written by dziura -o / record, by cProfile, or folded stacks as py-spy writes them)")]
    Unknown,
}

/// The profile as a dziura file.
pub fn write(profile: &Profile) -> Vec<u8> {
    let body = postcard::to_stdvec(profile).expect("the profile model always serializes");
    let mut out = Vec::with_capacity(body.len() / 4 + 16);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    let mut gz = GzEncoder::new(out, Compression::default());
    gz.write_all(&body).expect("writing to memory cannot fail");
    gz.finish().expect("writing to memory cannot fail")
}

/// Whether `data` starts as a dziura file does.
pub fn is_dziura(data: &[u8]) -> bool {
    data.starts_with(MAGIC)
}

/// Whether `data` starts as a pstats file does: a marshalled dict (`{`, possibly flagged as a
/// reference) whose first key is a tuple (`(` or a small tuple `)`, either flagged), or that is
/// empty (`0` ends it). A JSON object or any other text starting with `{` is not one.
pub fn looks_like_pstats(data: &[u8]) -> bool {
    matches!(data.first(), Some(b'{') | Some(0xfb))
        && matches!(
            data.get(1).map(|b| b & 0x7f),
            None | Some(b'(') | Some(b')') | Some(b'0')
        )
}

/// How many bytes of a file are read to tell whether it is a profile, before the rest is read.
const HEADER_BYTES: usize = 4096;

/// Why a saved profile's bytes could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    File(#[from] FileError),
    #[error("not a dziura or pstats profile, and {0}")]
    Folded(#[from] FoldedError),
}

/// Reads any saved profile: a dziura file, a pstats file (from dziura or cProfile; a sampled run
/// saved as pstats reads as call counts) or folded stacks (`dziura record -f collapsed`,
/// py-spy), looking at its first bytes before reading it whole.
pub fn load(path: &Path) -> Result<Profile, ReadError> {
    let bytes = read_path(path, true)?;
    match read_any(&bytes) {
        Err(FileError::Unknown) => {
            let text = std::str::from_utf8(&bytes).map_err(|_| FileError::Unknown)?;
            Ok(read_folded(text)?)
        }
        other => Ok(other?),
    }
}

/// The whole of a saved profile, read only once its first bytes show it is one: a dziura file,
/// a pstats file, or (where `text_ok`, for folded stacks) text whose first line ends in a
/// count. A file that is neither (a log, a core dump, `/dev/zero`) is refused after 4 KiB
/// instead of being read whole first.
pub fn read_path(path: &Path, text_ok: bool) -> Result<Vec<u8>, ReadError> {
    let mut file = std::fs::File::open(path)?;
    let mut data = Vec::with_capacity(HEADER_BYTES);
    (&mut file)
        .take(HEADER_BYTES as u64)
        .read_to_end(&mut data)?;
    let known = is_dziura(data.as_slice())
        || looks_like_pstats(&data)
        || (text_ok && looks_like_folded(&data));
    if !known {
        return Err(FileError::Unknown.into());
    }
    file.read_to_end(&mut data)?;
    Ok(data)
}

/// Whether the first bytes of a file can be folded stacks: UTF-8 text without NUL whose first
/// line, where it is complete, ends with a space and a count.
fn looks_like_folded(head: &[u8]) -> bool {
    let text = match std::str::from_utf8(head) {
        Ok(t) => t,
        // A character cut by the header's end is fine; a byte that is not UTF-8 is not.
        Err(e) if e.error_len().is_none() => {
            std::str::from_utf8(&head[..e.valid_up_to()]).expect("valid up to here")
        }
        Err(_) => return false,
    };
    if text.contains('\0') {
        return false;
    }
    let text = text.trim_start();
    match text.split_once('\n') {
        Some((first, _)) => first
            .trim_end()
            .rsplit_once(' ')
            .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())),
        // One line longer than the header (a deep stack), or nothing but blanks: the reader
        // decides.
        None => !text.is_empty(),
    }
}

/// Reads a dziura file.
pub fn read(data: &[u8]) -> Result<Profile, FileError> {
    if !is_dziura(data) {
        return Err(FileError::NotDziura {
            pstats: looks_like_pstats(data),
        });
    }
    let rest = &data[MAGIC.len()..];
    let Some(version) = rest.get(..4) else {
        return Err(FileError::Corrupt);
    };
    let version = u32::from_le_bytes(version.try_into().expect("four bytes"));
    if version > VERSION {
        return Err(FileError::Newer(version));
    }
    if version == 0 {
        return Err(FileError::Corrupt);
    }
    let mut body = Vec::new();
    GzDecoder::new(&rest[4..])
        .take(MAX_BODY + 1)
        .read_to_end(&mut body)
        .map_err(|_| FileError::Corrupt)?;
    if body.len() as u64 > MAX_BODY {
        return Err(FileError::Corrupt);
    }
    decode_body(&body, version)
}

/// A version 1 body: a profile before call timelines.
#[derive(serde::Deserialize)]
struct ProfileV1 {
    threads: Vec<ThreadProfile>,
    meta: dziura_model::Metadata,
    samples: Option<dziura_model::Samples>,
}

/// The profile from an uncompressed body of `version`, checked for indices that point nowhere.
fn decode_body(body: &[u8], version: u32) -> Result<Profile, FileError> {
    let (profile, rest) = if version == 1 {
        let (p, rest): (ProfileV1, _) =
            postcard::take_from_bytes(body).map_err(|_| FileError::Corrupt)?;
        let p = Profile {
            threads: p.threads,
            meta: p.meta,
            samples: p.samples,
            calls: None,
        };
        (p, rest)
    } else {
        postcard::take_from_bytes(body).map_err(|_| FileError::Corrupt)?
    };
    if !rest.is_empty() {
        return Err(FileError::Corrupt);
    }
    let n = profile.threads.len();
    if let Some(s) = &profile.samples {
        if s.stacks.iter().any(|st| st.thread >= n) {
            return Err(FileError::Corrupt);
        }
    }
    if let Some(c) = &profile.calls {
        if c.threads.iter().any(|t| t.thread >= n) {
            return Err(FileError::Corrupt);
        }
    }
    Ok(profile)
}

/// Reads any saved profile dziura understands: a dziura file, or a pstats file (cProfile's,
/// or dziura's `-o x.prof`), which gives a tracing profile with one thread.
pub fn read_any(data: &[u8]) -> Result<Profile, FileError> {
    if is_dziura(data) {
        return read(data);
    }
    match dziura_pstats::read(data) {
        Ok(graph) => Ok(Profile {
            threads: vec![ThreadProfile {
                graph,
                ..Default::default()
            }],
            meta: dziura_model::Metadata {
                mode: "tracing".into(),
                ..Default::default()
            },
            samples: None,
            calls: None,
        }),
        Err(e) if looks_like_pstats(data) => Err(FileError::CorruptPstats(e.to_string())),
        Err(_) => Err(FileError::Unknown),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn read_path_refuses_what_is_not_a_profile_from_its_header() {
        let dir = std::env::temp_dir().join(format!("dziura-file-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cases: [(&str, &[u8], bool, bool); 7] = [
            ("json", b"{\"a\": 1}", false, false),
            ("log", b"2026-12-02 INFO started\nmore\n", true, false),
            ("zeros", &[0u8; 10_000], true, false),
            ("folded", b"main (a.py:1);f (a.py:2) 12\n", true, true),
            (
                "folded-not-asked",
                b"main (a.py:1);f (a.py:2) 12\n",
                false,
                false,
            ),
            ("pstats", b"{)\x03", false, true),
            ("dziura", b"DZIURA\x00\x01\x02\x00\x00\x00", false, true),
        ];
        for (name, bytes, text_ok, wanted) in cases {
            let path = dir.join(name);
            std::fs::write(&path, bytes).unwrap();
            let got = read_path(&path, text_ok);
            assert_eq!(got.is_ok(), wanted, "{name}: {got:?}");
            if let Ok(data) = got {
                assert_eq!(data, bytes, "{name}");
            }
        }
        let gone = read_path(&dir.join("missing"), false).unwrap_err();
        assert!(matches!(gone, ReadError::Io(_)), "{gone}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn dev_zero_is_refused_without_reading_it_all() {
        let e = read_path(Path::new("/dev/zero"), true).unwrap_err();
        assert!(matches!(e, ReadError::File(FileError::Unknown)), "{e}");
    }

    use super::*;
    use dziura_model::{
        CallEvent, CallGraph, CallStats, CallTimeline, Frame, FuncKey, Metadata, Samples,
        ThreadCalls, TimedSample,
    };

    fn st(nc: u64, cc: u64, tt: f64, ct: f64) -> CallStats {
        CallStats {
            calls: nc,
            primitive_calls: cc,
            own_time: tt,
            cum_time: ct,
        }
    }

    fn tracing() -> Profile {
        let main = FuncKey::python("/tmp/ü/main.py", 1, "<module>");
        let f = FuncKey::python("/tmp/ü/main.py", 4, "fib");
        let len = FuncKey::builtin("<built-in method builtins.len>");
        let mut a = CallGraph::new();
        a.add_total(&main, &st(1, 1, 0.1, 1.0 / 3.0));
        a.add_total(&f, &st(7, 1, 0.2, 0.3));
        a.add_edge(&main, &f, &st(1, 1, 0.05, 0.3));
        a.add_edge(&f, &f, &st(6, 0, 0.15, 0.25));
        a.add_total(&len, &st(3, 3, 1e-9, 1e-9));
        a.add_edge(&f, &len, &st(3, 3, 1e-9, 1e-9));
        let mut b = CallGraph::new();
        b.add_total(&f, &st(2, 2, f64::MIN_POSITIVE, 0.0));
        b.add_edge(&main, &f, &st(2, 2, f64::MIN_POSITIVE, 0.0));
        Profile {
            threads: vec![
                ThreadProfile {
                    ident: 140_000_000_001,
                    native_id: 4242,
                    name: "MainThread".into(),
                    graph: a,
                },
                ThreadProfile {
                    ident: 7,
                    native_id: 0,
                    name: "wörker".into(),
                    graph: b,
                },
            ],
            meta: Metadata {
                python_version: "3.11.9 (main)".into(),
                command: vec!["python".into(), "x.py".into(), "--flag=ä".into()],
                start_time: 1_764_000_000.123_456_7,
                duration: 0.1 + 0.2,
                host: "box".into(),
                mode: "tracing".into(),
            },
            samples: None,
            calls: None,
        }
    }

    fn sampling() -> Profile {
        let mut s = Samples::new(0.01);
        let fr = |n: &str, line| Frame {
            func: FuncKey::python("a.py", 1, n),
            line,
        };
        let (m, g, h) = (
            s.frame(&fr("main", 3)),
            s.frame(&fr("g", 7)),
            s.frame(&fr("h", 9)),
        );
        let s0 = s.add(0, &[m, g, h], 3);
        let s1 = s.add(1, &[m, g], 1);
        s.add(0, &[m, g, g], 2);
        s.timeline = vec![
            TimedSample {
                time: 0.0,
                stack: s0,
            },
            TimedSample {
                time: 0.010_000_000_000_000_002,
                stack: s1,
            },
        ];
        let threads = (0..2)
            .map(|i| ThreadProfile {
                ident: i,
                native_id: 100 + i,
                name: format!("t{i}"),
                graph: s.call_graph(Some(i as usize)),
            })
            .collect();
        Profile {
            threads,
            meta: Metadata {
                mode: "sampling".into(),
                ..Default::default()
            },
            samples: Some(s),
            calls: None,
        }
    }

    /// A tracing profile with its call timeline: main → fib → fib, then main → len.
    fn timed() -> Profile {
        let mut p = tracing();
        let ev = |time_ns, func, open| CallEvent {
            time_ns,
            func,
            open,
        };
        p.calls = Some(CallTimeline {
            funcs: vec![
                FuncKey::python("/tmp/ü/main.py", 1, "<module>"),
                FuncKey::python("/tmp/ü/main.py", 4, "fib"),
                FuncKey::builtin("<built-in method builtins.len>"),
            ],
            threads: vec![
                ThreadCalls {
                    thread: 0,
                    events: vec![
                        ev(0, 0, true),
                        ev(10, 1, true),
                        ev(20, 1, true),
                        ev(30, 1, false),
                        ev(40, 1, false),
                        ev(40, 2, true),
                        ev(45, 2, false),
                        ev(1_000_000_000_000, 0, false),
                    ],
                },
                ThreadCalls {
                    thread: 1,
                    events: vec![ev(5, 1, true), ev(6, 1, false)],
                },
            ],
            truncated_at_ns: Some(41),
            dropped_calls: 3,
        });
        p
    }

    #[test]
    fn version_1_files_still_read() {
        #[derive(serde::Serialize)]
        struct V1<'a> {
            threads: &'a [ThreadProfile],
            meta: &'a Metadata,
            samples: &'a Option<Samples>,
        }
        for p in [tracing(), sampling()] {
            let body = postcard::to_stdvec(&V1 {
                threads: &p.threads,
                meta: &p.meta,
                samples: &p.samples,
            })
            .unwrap();
            let mut file = MAGIC.to_vec();
            file.extend_from_slice(&1u32.to_le_bytes());
            let mut gz = GzEncoder::new(file, Compression::fast());
            gz.write_all(&body).unwrap();
            assert_eq!(read(&gz.finish().unwrap()).unwrap(), p);
        }
    }

    #[test]
    fn timelines_round_trip_and_bad_ones_are_refused() {
        let p = timed();
        assert_eq!(read(&write(&p)).unwrap(), p);
        let bad = |f: &dyn Fn(&mut CallTimeline)| {
            let mut q = timed();
            f(q.calls.as_mut().unwrap());
            assert_eq!(read(&write(&q)), Err(FileError::Corrupt));
        };
        bad(&|c| c.threads[1].thread = 2);
        bad(&|c| c.threads[1].events[0].func = 3);
        bad(&|c| c.threads[1].events[1].time_ns = 4);
        bad(&|c| {
            c.threads[1].events.pop();
        });
        bad(&|c| c.threads[0].events[3].func = 0);
    }

    #[test]
    fn round_trip_is_exact() {
        for p in [tracing(), sampling(), Profile::default()] {
            let bytes = write(&p);
            assert!(bytes.starts_with(MAGIC));
            assert_eq!(&bytes[8..12], &VERSION.to_le_bytes());
            let back = read(&bytes).unwrap();
            assert_eq!(back, p);
            // Bit-exact: the same profile writes the same bytes.
            assert_eq!(write(&back), bytes);
            assert_eq!(read_any(&bytes).unwrap(), p);
        }
        let back = read(&write(&tracing())).unwrap();
        let f = back.threads[1]
            .graph
            .find(&FuncKey::python("/tmp/ü/main.py", 4, "fib"));
        let own = back.threads[1].graph.stats(f.unwrap()).total.own_time;
        assert_eq!(own.to_bits(), f64::MIN_POSITIVE.to_bits());
        assert_eq!(back.meta.duration.to_bits(), (0.1f64 + 0.2).to_bits());
    }

    #[test]
    fn indices_are_rebuilt_on_load() {
        let mut back = read(&write(&sampling())).unwrap();
        let s = back.samples.as_mut().unwrap();
        let (before, frames) = (s.stacks.len(), s.frames.len());
        let m = s.frame(&Frame {
            func: FuncKey::python("a.py", 1, "main"),
            line: 3,
        });
        assert_eq!(m, 0);
        assert_eq!(s.frames.len(), frames);
        s.add(0, &[0, 1, 2], 5);
        assert_eq!(s.stacks.len(), before);
        assert_eq!(s.stacks[0].count, 8);
        let mut g = read(&write(&tracing())).unwrap().threads.remove(0).graph;
        let n = g.len();
        assert_eq!(g.intern(&FuncKey::python("/tmp/ü/main.py", 4, "fib")), 1);
        assert_eq!(g.len(), n);
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        assert_eq!(read(png), Err(FileError::NotDziura { pstats: false }));
        assert_eq!(read_any(png), Err(FileError::Unknown));
        assert_eq!(read_any(b""), Err(FileError::Unknown));
        let mut g = CallGraph::new();
        g.add_total(&FuncKey::python("a.py", 1, "f"), &st(1, 1, 0.5, 0.5));
        let pstats = dziura_pstats::write(&g);
        let e = read(&pstats).unwrap_err();
        assert_eq!(e, FileError::NotDziura { pstats: true });
        assert!(e.to_string().contains("pstats"), "{e}");
        let p = read_any(&pstats).unwrap();
        assert_eq!(p.threads.len(), 1);
        assert_eq!(p.threads[0].graph, g);
        assert!(matches!(
            read_any(&pstats[..pstats.len() / 2]),
            Err(FileError::CorruptPstats(_))
        ));

        let good = write(&tracing());
        let mut newer = good.clone();
        newer[8..12].copy_from_slice(&7u32.to_le_bytes());
        let e = read_any(&newer).unwrap_err();
        assert_eq!(e, FileError::Newer(7));
        assert_eq!(
            e.to_string(),
            "written by a newer dziura (format version 7); upgrade dziura to read it"
        );
        for cut in [0, 8, 10, 12, 20, good.len() - 1] {
            assert_eq!(read(&good[..cut.max(8)]), Err(FileError::Corrupt), "{cut}");
        }
        let mut flipped = good.clone();
        let mid = good.len() / 2;
        flipped[mid] ^= 0x40;
        assert_eq!(read(&flipped), Err(FileError::Corrupt));
        let mut extra = postcard::to_stdvec(&tracing()).unwrap();
        extra.push(0);
        assert_eq!(decode_body(&extra, VERSION), Err(FileError::Corrupt));
    }

    #[test]
    fn dangling_indices_are_refused() {
        let mut p = sampling();
        p.threads.truncate(1);
        assert_eq!(read(&write(&p)), Err(FileError::Corrupt));
        let mut p = sampling();
        p.samples.as_mut().unwrap().timeline.push(TimedSample {
            time: 1.0,
            stack: 99,
        });
        assert_eq!(read(&write(&p)), Err(FileError::Corrupt));
    }

    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    fn mutate(valid: &[u8], r: &mut XorShift) -> Vec<u8> {
        let mut v = valid.to_vec();
        match r.next() % 4 {
            0 => v.truncate((r.next() as usize) % (valid.len() + 1)),
            1 => {
                let i = (r.next() as usize) % v.len();
                v.insert(i, r.next() as u8);
            }
            _ => {
                for _ in 0..(r.next() % 4 + 1) {
                    let i = (r.next() as usize) % v.len();
                    v[i] = r.next() as u8;
                }
            }
        }
        v
    }

    #[test]
    fn mutated_and_truncated_files_never_panic() {
        // Deterministic fuzz: the gzip CRC catches nearly every change to a whole file, so the
        // uncompressed body is mutated too, and re-wrapped to go through the whole reader.
        let mut r = XorShift(0x9e37_79b9_7f4a_7c15);
        for p in [tracing(), sampling(), timed()] {
            let file = write(&p);
            let body = postcard::to_stdvec(&p).unwrap();
            for cut in 0..=file.len() {
                let _ = read_any(&file[..cut]);
            }
            for cut in 0..body.len() {
                assert!(decode_body(&body[..cut], VERSION).is_err());
            }
            for _ in 0..5_000 {
                let _ = read_any(&mutate(&file, &mut r));
                let b = mutate(&body, &mut r);
                if let Ok(q) = decode_body(&b, VERSION) {
                    // Whatever loads is sound: it writes and reads back the same.
                    assert_eq!(read(&write(&q)).unwrap(), q);
                }
                let mut wrapped = MAGIC.to_vec();
                wrapped.extend_from_slice(&VERSION.to_le_bytes());
                let mut gz = GzEncoder::new(wrapped, Compression::fast());
                gz.write_all(&b).unwrap();
                let _ = read_any(&gz.finish().unwrap());
                let len = (r.next() % 64) as usize;
                let mut junk: Vec<u8> = (0..len).map(|_| r.next() as u8).collect();
                let _ = read_any(&junk);
                junk.splice(0..0, MAGIC.iter().copied());
                let _ = read_any(&junk);
            }
        }
    }
}
