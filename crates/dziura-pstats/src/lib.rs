//! pstats files: the `marshal` dump of cProfile's stats dictionary, read and written without Python.
//!
//! Layout (see `Lib/cProfile.py` `snapshot_stats`): `{(file, line, name): (cc, nc, tt, ct, callers)}`
//! with `callers = {(file, line, name): (nc, cc, tt, ct)}`; note the swapped count order in callers.
//! The pure-Python `profile` module stores a plain call count per caller; both are accepted.

mod marshal;

use dziura_model::{CallGraph, CallStats, FuncKey};
pub use marshal::Value;

/// Why a file could not be read as pstats data.
#[derive(Debug, thiserror::Error)]
pub enum PstatsError {
    #[error("not a pstats file: {0}")]
    Malformed(String),
    #[error("not a pstats file: the data ends early (truncated file?)")]
    Truncated,
    #[error("no profile data in the file (it holds an empty stats dictionary)")]
    Empty,
}

/// Encodes a call graph as a pstats file that `pstats.Stats(path)` loads.
pub fn write(graph: &CallGraph) -> Vec<u8> {
    let mut w = marshal::Writer::default();
    w.dict_start();
    for (_, key, stats) in graph.iter() {
        w.func_key(key);
        let t = &stats.total;
        w.tuple_start(5);
        w.int(t.primitive_calls);
        w.int(t.calls);
        w.float(t.own_time);
        w.float(t.cum_time);
        w.dict_start();
        for (caller, e) in &stats.callers {
            w.func_key(graph.key(*caller));
            w.tuple_start(4);
            w.int(e.calls);
            w.int(e.primitive_calls);
            w.float(e.own_time);
            w.float(e.cum_time);
        }
        w.dict_end();
    }
    w.dict_end();
    w.into_bytes()
}

/// Decodes a pstats file into a call graph.
pub fn read(data: &[u8]) -> Result<CallGraph, PstatsError> {
    let value = marshal::read(data)?;
    let Value::Dict(entries) = value else {
        return Err(PstatsError::Malformed(format!(
            "expected a dictionary at the top, found {}",
            value.kind()
        )));
    };
    if entries.is_empty() {
        return Err(PstatsError::Empty);
    }
    let mut graph = CallGraph::new();
    for (k, v) in &entries {
        let key = func_key(k)?;
        let Value::Tuple(items) = v else {
            return Err(bad(format!(
                "the entry for {key} is a {}, not a 5-tuple",
                v.kind()
            )));
        };
        let [cc, nc, tt, ct, callers] = items.as_slice() else {
            return Err(bad(format!(
                "the entry for {key} has {} fields, not 5",
                items.len()
            )));
        };
        let total = CallStats {
            primitive_calls: count(cc)?,
            calls: count(nc)?,
            own_time: seconds(tt)?,
            cum_time: seconds(ct)?,
        };
        graph.add_total(&key, &total);
        let Value::Dict(callers) = callers else {
            return Err(bad(format!(
                "the callers of {key} are a {}, not a dictionary",
                callers.kind()
            )));
        };
        for (ck, cv) in callers {
            let caller = func_key(ck)?;
            let edge = match cv {
                Value::Tuple(t) if t.len() == 4 => CallStats {
                    calls: count(&t[0])?,
                    primitive_calls: count(&t[1])?,
                    own_time: seconds(&t[2])?,
                    cum_time: seconds(&t[3])?,
                },
                // The pure-Python `profile` module keeps a bare call count per caller.
                Value::Int(n) if *n >= 0 => CallStats {
                    calls: *n as u64,
                    primitive_calls: *n as u64,
                    ..Default::default()
                },
                other => {
                    return Err(bad(format!(
                        "a caller entry of {key} is a {}",
                        other.kind()
                    )))
                }
            };
            graph.add_edge(&caller, &key, &edge);
        }
    }
    Ok(graph)
}

fn bad(msg: String) -> PstatsError {
    PstatsError::Malformed(msg)
}

fn func_key(v: &Value) -> Result<FuncKey, PstatsError> {
    match v {
        Value::Tuple(t) => match t.as_slice() {
            [Value::Str(file), Value::Int(line), Value::Str(name)] if *line >= 0 => Ok(FuncKey {
                file: file.clone(),
                line: *line as u32,
                name: name.clone(),
            }),
            _ => Err(bad(format!(
                "a function key is not (file, line, name): {v:?}"
            ))),
        },
        _ => Err(bad(format!(
            "a function key is a {}, not a tuple",
            v.kind()
        ))),
    }
}

fn count(v: &Value) -> Result<u64, PstatsError> {
    match v {
        Value::Int(n) if *n >= 0 => Ok(*n as u64),
        _ => Err(bad(format!("expected a call count, found {v:?}"))),
    }
}

/// A time must be a finite number: NaN or infinity would make every share and sum meaningless
/// (`total time NaNs`), so such a file is refused as damaged.
fn seconds(v: &Value) -> Result<f64, PstatsError> {
    match v {
        Value::Float(f) if f.is_finite() => Ok(*f),
        Value::Float(f) => Err(bad(format!(
            "a time is {f}, not a finite number of seconds"
        ))),
        Value::Int(n) => Ok(*n as f64),
        _ => Err(bad(format!("expected a time in seconds, found {v:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_times_are_refused() {
        for t in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let mut g = CallGraph::new();
            let f = FuncKey::python("a.py", 1, "f");
            g.add_total(
                &f,
                &CallStats {
                    calls: 1,
                    primitive_calls: 1,
                    own_time: t,
                    cum_time: 1.0,
                },
            );
            let e = read(&write(&g)).unwrap_err().to_string();
            assert!(e.contains("not a finite number of seconds"), "{e}");
        }
    }

    #[test]
    fn round_trip_keeps_every_number() {
        let mut g = CallGraph::new();
        let f = FuncKey::python("/tmp/ü.py", 10, "fib");
        let m = FuncKey::python("/tmp/ü.py", 1, "<module>");
        let b = FuncKey::builtin("<built-in method builtins.len>");
        g.add_total(
            &m,
            &CallStats {
                calls: 1,
                primitive_calls: 1,
                own_time: 0.5,
                cum_time: 2.0,
            },
        );
        g.add_total(
            &f,
            &CallStats {
                calls: 25,
                primitive_calls: 1,
                own_time: 1.25,
                cum_time: 1.5,
            },
        );
        g.add_total(
            &b,
            &CallStats {
                calls: 3_000_000_000,
                primitive_calls: 3_000_000_000,
                own_time: 0.0,
                cum_time: 0.0,
            },
        );
        g.add_edge(
            &m,
            &f,
            &CallStats {
                calls: 1,
                primitive_calls: 1,
                own_time: 0.1,
                cum_time: 1.5,
            },
        );
        g.add_edge(
            &f,
            &f,
            &CallStats {
                calls: 24,
                primitive_calls: 0,
                own_time: 1.15,
                cum_time: 1.4,
            },
        );
        g.add_edge(
            &f,
            &b,
            &CallStats {
                calls: 3,
                primitive_calls: 3,
                own_time: 0.0,
                cum_time: 0.0,
            },
        );
        let bytes = write(&g);
        assert_eq!(read(&bytes).unwrap(), g);
    }

    #[test]
    fn foreign_and_truncated_input_is_an_error_not_a_panic() {
        assert!(matches!(read(b""), Err(PstatsError::Truncated)));
        assert!(matches!(read(b"{0"), Err(PstatsError::Empty)));
        assert!(matches!(
            read(b"\x89PNG\r\n"),
            Err(PstatsError::Malformed(_))
        ));
        let mut g = CallGraph::new();
        g.add_total(&FuncKey::python("a", 1, "f"), &CallStats::default());
        let bytes = write(&g);
        for cut in 0..bytes.len() {
            assert!(read(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A small deterministic fuzz: xorshift bytes, plus mutations of a valid file.
        let mut g = CallGraph::new();
        g.add_total(
            &FuncKey::python("a.py", 1, "f"),
            &CallStats {
                calls: 2,
                primitive_calls: 2,
                own_time: 1.0,
                cum_time: 1.0,
            },
        );
        g.add_edge(
            &FuncKey::python("a.py", 1, "f"),
            &FuncKey::python("a.py", 1, "f"),
            &CallStats::default(),
        );
        let valid = write(&g);
        let mut x: u64 = 0x9e3779b97f4a7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let mut v = valid.clone();
            for _ in 0..(next() % 4 + 1) {
                let i = (next() as usize) % v.len();
                v[i] = next() as u8;
            }
            let _ = read(&v);
            let len = (next() % 64) as usize;
            let junk: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let _ = read(&junk);
        }
    }
}
