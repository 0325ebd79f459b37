//! Reading the Python stacks of every thread of one process, from outside.

use std::collections::HashMap;

use rustc_hash::FxHashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::binary::{self, Interpreter};
use crate::layout::{
    CurrentFrame, GilPlace, Layout, Site, CHUNK_HEADER, CHUNK_PREVIOUS, CHUNK_SIZE, CHUNK_TOP,
    OWNED_BY_GENERATOR,
};
use crate::linetable::line_for;
use crate::objects;
use crate::process::{u32_at, u64_at, Process};
use crate::RemoteError;

/// More frames than any sane stack (recursion limit 10k + C frames); guards against cycles in a
/// torn read.
const MAX_FRAMES: usize = 65_536;
const MAX_THREADS: usize = 16_384;
const MAX_STRING: u64 = 4096;
/// Entries of the line cache before it is emptied.
const MAX_LINES: usize = 1 << 16;
const MAX_CHUNKS: usize = 8;
/// Bigger chunks (very deep recursion) are walked frame by frame instead of copied.
const MAX_CHUNK_BYTES: u64 = 4 << 20;

/// Copies of a thread's frame-stack chunks, newest first: (address, bytes from the chunk's start
/// to the end of its last frame). Older chunks are copied only when the walk reaches them.
struct Chunks {
    copies: Vec<(u64, Vec<u8>)>,
    /// The next older chunk not copied yet (0: none).
    older: u64,
}

impl Chunks {
    fn get(&self, addr: u64, len: usize) -> Option<&[u8]> {
        self.copies.iter().find_map(|(start, data)| {
            let off = usize::try_from(addr.checked_sub(*start)?).ok()?;
            data.get(off..off.checked_add(len)?)
        })
    }
}

/// What the walker knows of a code object.
#[derive(Debug, PartialEq, Eq)]
pub struct CodeInfo {
    pub name: String,
    pub qualname: String,
    pub filename: String,
    pub firstlineno: u32,
    linetable: Vec<u8>,
    /// What each code unit's instruction is, for checking caller frames (decoded on first use).
    sites: std::sync::OnceLock<Vec<Site>>,
}

/// One Python frame of a sampled stack.
#[derive(Clone, Debug)]
pub struct RemoteFrame {
    pub code: Arc<CodeInfo>,
    /// The line being run, 0 when unknown.
    pub line: u32,
    /// Where the frame and its code object are in the target (for `dump --locals`).
    pub address: u64,
    pub code_address: u64,
}

/// Slots of `localsplus` that hold a plain local or argument (`CO_FAST_LOCAL`).
const CO_FAST_LOCAL: u8 = 0x20;
const MAX_LOCALS: u64 = 512;
/// `co_flags`: the code takes `*args` / `**kwargs`.
const CO_VARARGS: u64 = 0x4;
const CO_VARKEYWORDS: u64 = 0x8;
/// How much of a container a local's repr shows: items per container, nesting, characters of
/// a string and of the whole repr (then `...`), like py-spy's bounded reprs.
const MAX_ITEMS: usize = 16;
const MAX_DEPTH: usize = 3;
const MAX_STR_SHOWN: usize = 80;
const MAX_REPR: usize = 240;

/// One argument or local variable of a frame, for `dump --locals`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Local {
    pub name: String,
    pub repr: String,
    /// An argument of the function (else a local variable).
    pub arg: bool,
}

/// A repr being built, cut at [`MAX_REPR`] characters.
#[derive(Default)]
struct Repr {
    text: String,
}

impl Repr {
    fn full(&self) -> bool {
        self.text.len() >= MAX_REPR
    }

    fn push(&mut self, s: &str) {
        self.text.push_str(s);
    }
}

/// How often a thread's stack is read again when it changed under the read.
const MAX_REREADS: u32 = 3;

/// Torn stacks: read again, and given up after [`MAX_REREADS`] (never shown).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TornCounts {
    pub reread: u64,
    pub dropped: u64,
}

/// One thread's stack at the moment it was read.
#[derive(Clone, Debug)]
pub struct ThreadStack {
    pub native_id: u64,
    pub thread_id: u64,
    /// Innermost frame first.
    pub frames: Vec<RemoteFrame>,
    pub holds_gil: bool,
    /// Running on a CPU (`R` in /proc) rather than waiting.
    pub active: bool,
    /// The `threading` name (`Thread.name`), when the thread is in `threading._active` and it
    /// could be read; callers fall back to the OS name.
    pub name: Option<Arc<str>>,
}

/// After a thread is first seen, how soon `threading._active` is read again for it: new threads
/// are named at once (at most this often), ...
const NEW_THREAD_REFRESH: Duration = Duration::from_millis(20);
/// ... a thread not (yet) in `_active` is looked for again this often while it is young ...
const UNNAMED_RETRY: Duration = Duration::from_millis(250);
const YOUNG: Duration = Duration::from_secs(2);
/// ... and every name is read again this often (threads can be renamed).
const NAMES_REFRESH: Duration = Duration::from_secs(2);

/// A thread's Python name (if found) and when the thread was first seen.
type Named = (Option<Arc<str>>, Instant);

/// Python thread names by (ident, native id): a new pair means a new thread, even where an
/// ident is reused.
#[derive(Default)]
struct NameCache {
    threads: HashMap<(u64, u64), Named>,
    last: Option<Instant>,
    /// How long the last read of `_active` took: reads for new threads are spaced at least
    /// 20 times that apart, so a target starting threads all the time costs the sampler at
    /// most a twentieth of its time.
    cost: Duration,
}

impl NameCache {
    /// Whether `_active` must be read again for this sample's threads.
    fn due(&self, threads: &[ThreadStack], now: Instant) -> bool {
        let Some(last) = self.last else {
            return true;
        };
        let since = now.saturating_duration_since(last);
        if since >= NAMES_REFRESH {
            return true;
        }
        let spaced = self.cost * 20;
        threads
            .iter()
            .any(|t| match self.threads.get(&(t.thread_id, t.native_id)) {
                None => since >= NEW_THREAD_REFRESH.max(spaced),
                Some((None, first)) => {
                    since >= UNNAMED_RETRY.max(spaced)
                        && now.saturating_duration_since(*first) < YOUNG
                }
                Some((Some(_), _)) => false,
            })
    }

    /// Takes a fresh read of `_active` (`None` when it failed: names known stay, new threads
    /// get none).
    fn update(
        &mut self,
        threads: &[ThreadStack],
        read: Option<HashMap<u64, String>>,
        now: Instant,
    ) {
        let mut next = HashMap::with_capacity(threads.len());
        for t in threads {
            let key = (t.thread_id, t.native_id);
            let (old, first) = self.threads.remove(&key).unwrap_or((None, now));
            let name = match &read {
                Some(names) => names.get(&t.thread_id).map(|n| match old {
                    Some(o) if *o == **n => o,
                    _ => Arc::from(n.as_str()),
                }),
                None => old,
            };
            next.insert(key, (name, first));
        }
        self.threads = next;
        self.last = Some(now);
    }

    fn apply(&self, threads: &mut [ThreadStack]) {
        for t in threads {
            t.name = self
                .threads
                .get(&(t.thread_id, t.native_id))
                .and_then(|(n, _)| n.clone());
        }
    }
}

/// A reader of one Python process.
pub struct Spy {
    pub process: Process,
    pub interpreter: Interpreter,
    pub layout: Layout,
    /// Code objects by (address, header fields), so a reused address is never misnamed.
    codes: FxHashMap<(u64, u64, u64, u64), Arc<CodeInfo>>,
    strings: FxHashMap<u64, Arc<str>>,
    /// Lines by (code, instruction index); a code's `Arc` lives in `codes` for good, so its
    /// address names it.
    lines: FxHashMap<(usize, usize), u32>,
    stat_files: HashMap<u64, std::fs::File>,
    /// Stop the target's threads while reading each sample (`--blocking`).
    pub blocking: bool,
    /// A thread whose stack stays torn after [`MAX_REREADS`] reads is left out of the sample
    /// (counted in `torn`) instead of failing the whole read (the sampler's choice; `dump`
    /// wants every thread).
    pub drop_torn: bool,
    /// Stacks read again because they changed under the read, and stacks given up.
    pub torn: TornCounts,
    code_type: Option<u64>,
    names: NameCache,
    /// Read Python thread names (on by default).
    pub thread_names: bool,
    frame_len: usize,
    code_len: usize,
    thread_len: usize,
    /// The process's auxiliary vector when attached, to notice an `exec`.
    image: Option<Vec<u8>>,
}

impl Spy {
    /// Attaches to `pid`: finds its interpreter and layout. Reads only.
    pub fn attach(pid: i32) -> Result<Spy, RemoteError> {
        let process = Process::open(pid)?;
        let maps = process.maps()?;
        let interpreter = binary::find(&process, &maps)?;
        let layout = Layout::for_version(interpreter.version_hex, |len| {
            process.read_vec(interpreter.runtime, len)
        })?;
        let (frame_len, code_len, thread_len) =
            (layout.frame_len(), layout.code_len(), layout.thread_len());
        let image = process.image();
        Ok(Spy {
            image,
            process,
            interpreter,
            layout,
            codes: FxHashMap::default(),
            strings: FxHashMap::default(),
            lines: FxHashMap::default(),
            stat_files: HashMap::new(),
            blocking: false,
            drop_torn: false,
            torn: TornCounts::default(),
            code_type: None,
            names: NameCache::default(),
            thread_names: true,
            frame_len,
            code_len,
            thread_len,
        })
    }

    pub fn pid(&self) -> i32 {
        self.process.pid
    }

    /// Whether the process has run `exec` since it was attached: its interpreter, layout and
    /// every cached address belong to the old program, so it must be attached again.
    pub fn exec_seen(&self) -> bool {
        self.image
            .as_ref()
            .is_some_and(|then| self.process.image().is_some_and(|now| now != *then))
    }

    /// The same process attached again (after an `exec`), with this reader's settings.
    pub fn reattach(&self) -> Result<Spy, RemoteError> {
        let mut s = Spy::attach(self.pid())?;
        s.threads()?;
        s.blocking = self.blocking;
        s.drop_torn = self.drop_torn;
        s.thread_names = self.thread_names;
        Ok(s)
    }

    /// Whether a thread is on a CPU, from its `/proc` stat file kept open between samples (a
    /// `pread` instead of open, read and close each time).
    fn is_running(&mut self, tid: u64) -> bool {
        use std::os::unix::fs::FileExt;
        let pid = self.process.pid;
        let file = match self.stat_files.entry(tid) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                let Ok(f) = std::fs::File::open(format!("/proc/{pid}/task/{tid}/stat")) else {
                    return false;
                };
                v.insert(f)
            }
        };
        let mut buf = [0u8; 512];
        let Ok(n) = file.read_at(&mut buf, 0) else {
            self.stat_files.remove(&tid);
            return false;
        };
        state_is_running(&buf[..n])
    }

    /// The stacks of all threads now. A thread whose stack changed under the read is reported
    /// as an error, never as a wrong stack.
    pub fn threads(&mut self) -> Result<Vec<ThreadStack>, RemoteError> {
        let mut threads = self.stacks()?;
        if self.thread_names {
            self.name(&mut threads);
        }
        Ok(threads)
    }

    /// Gives threads their Python names, reading `threading._active` only when a thread is new
    /// or the names are old (see [`NameCache::due`]); a failed read names nothing new.
    fn name(&mut self, threads: &mut [ThreadStack]) {
        let now = Instant::now();
        if self.names.due(threads, now) {
            let read = self
                .process
                .u64(self.interpreter.runtime + self.layout.interpreters_head)
                .and_then(|interp| objects::thread_names(&self.process, &self.layout, interp))
                .ok();
            self.names.update(threads, read, now);
            self.names.cost = now.elapsed();
        }
        self.names.apply(threads);
    }

    fn stacks(&mut self) -> Result<Vec<ThreadStack>, RemoteError> {
        if !self.blocking {
            return self.read_threads(None);
        }
        // A stopped thread always looks idle, so which threads run is read before stopping them.
        let pid = self.process.pid;
        let running: HashMap<u64, bool> = std::fs::read_dir(format!("/proc/{pid}/task"))
            .map_err(|_| RemoteError::Exited(pid))?
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u64>().ok())
            .map(|tid| (tid, self.is_running(tid)))
            .collect();
        let _paused = crate::pause::Pause::new(pid)?;
        self.read_threads(Some(&running))
    }

    fn read_threads(
        &mut self,
        running: Option<&HashMap<u64, bool>>,
    ) -> Result<Vec<ThreadStack>, RemoteError> {
        let l = self.layout.clone();
        let runtime = self.interpreter.runtime;
        // The GIL's two words and the thread list's head, each block in one read.
        let (holder, locked, mut tstate) = match l.gil {
            Some(GilPlace::Runtime { holder, locked }) => {
                let w = self.words(runtime, &[l.interpreters_head, holder, locked])?;
                let interp = nonzero_interp(w[0])?;
                let head = self.process.u64(interp + l.interp_threads_head)?;
                (w[1], w[2] as u32, head)
            }
            Some(GilPlace::Interpreter { holder, locked }) => {
                let interp = nonzero_interp(self.process.u64(runtime + l.interpreters_head)?)?;
                let w = self.words(interp, &[l.interp_threads_head, holder, locked])?;
                (w[1], w[2] as u32, w[0])
            }
            None => {
                let interp = nonzero_interp(self.process.u64(runtime + l.interpreters_head)?)?;
                (0, 0, self.process.u64(interp + l.interp_threads_head)?)
            }
        };
        let mut out = Vec::new();
        while tstate != 0 {
            if out.len() >= MAX_THREADS {
                return Err(RemoteError::Torn("thread list does not end".into()));
            }
            // A thread caught mid-call or mid-return is read again, a few times at most; then
            // its stack is dropped from this sample (`drop_torn`) or the read fails.
            let mut attempt = 0;
            let (ts, frames) = loop {
                let ts = self.process.read_vec(tstate, self.thread_len)?;
                match self.thread_stack(tstate, &ts) {
                    Err(RemoteError::Torn(_)) if attempt < MAX_REREADS => {
                        attempt += 1;
                        self.torn.reread += 1;
                    }
                    Err(RemoteError::Torn(_)) if self.drop_torn => {
                        self.torn.dropped += 1;
                        break (ts, None);
                    }
                    other => break (ts, Some(other?)),
                }
            };
            let Some(frames) = frames else {
                tstate = u64_at(&ts, l.ts_next as usize);
                continue;
            };
            let native_id = u64_at(&ts, l.ts_native_thread_id as usize);
            out.push(ThreadStack {
                native_id,
                thread_id: u64_at(&ts, l.ts_thread_id as usize),
                frames,
                holds_gil: locked != 0 && holder == tstate,
                active: match running {
                    Some(r) => r.get(&native_id).copied().unwrap_or(false),
                    None => self.is_running(native_id),
                },
                name: None,
            });
            tstate = u64_at(&ts, l.ts_next as usize);
        }
        Ok(out)
    }

    /// The 8-byte words at `base + offset` for each offset: one read of the span they lie in
    /// when it is small (the usual case: a few hundred bytes of one struct), else one read each.
    fn words(&self, base: u64, offsets: &[u64]) -> Result<Vec<u64>, RemoteError> {
        let lo = offsets.iter().copied().min().unwrap_or(0);
        let hi = offsets.iter().copied().max().unwrap_or(0) + 8;
        if hi - lo <= 4096 {
            let span = self.process.read_vec(base + lo, (hi - lo) as usize)?;
            return Ok(offsets
                .iter()
                .map(|&o| u64_at(&span, (o - lo) as usize))
                .collect());
        }
        offsets
            .iter()
            .map(|&o| self.process.u64(base + o))
            .collect()
    }

    /// One thread's stack from its state `ts`, innermost frame first; `Torn` when it changed
    /// while being read.
    fn thread_stack(&mut self, tstate: u64, ts: &[u8]) -> Result<Vec<RemoteFrame>, RemoteError> {
        let l = &self.layout;
        // 3.11 and 3.12 keep the current frame in a C stack struct (`cframe`); where it is.
        let slot = match l.current_frame {
            CurrentFrame::ViaCFrame {
                cframe,
                current_frame,
            } => match u64_at(ts, cframe as usize) {
                0 => None,
                cf => Some(cf + current_frame),
            },
            CurrentFrame::Direct(_) => None,
        };
        let frame = match (l.current_frame, slot) {
            (CurrentFrame::Direct(off), _) => u64_at(ts, off as usize),
            (_, Some(at)) => self.process.u64(at)?,
            (_, None) => 0,
        };
        let chunks = self.chunks(u64_at(ts, l.ts_datastack_chunk as usize), frame);
        let base = l
            .ts_base_frame
            .map(|off| u64_at(ts, off as usize))
            .filter(|&b| b != 0);
        let frames = self.walk(frame, chunks, base)?;
        // That struct lives in the C frame of the running `_PyEval_EvalFrameDefault` and is
        // gone once it returns: a stack read through a stale one is refused. The thread still
        // pointing at the same struct after the walk means it was live throughout (Python
        // calls and returns in between do not replace it; the walk's checks catch those).
        if let CurrentFrame::ViaCFrame { cframe, .. } = self.layout.current_frame {
            if slot.is_some() && self.process.u64(tstate + cframe)? != u64_at(ts, cframe as usize) {
                return Err(RemoteError::Torn(
                    "the thread left the C call it was in while its stack was read".into(),
                ));
            }
        }
        Ok(frames)
    }

    /// The thread's newest frame-stack chunk, copied in one read: from its start to the end of
    /// the current frame when that frame is in it (the usual case: only the used part, and no
    /// separate read of the header), else up to the chunk's `top`.
    fn chunks(&self, chunk: u64, current: u64) -> Chunks {
        let mut out = Chunks {
            copies: Vec::with_capacity(1),
            older: 0,
        };
        if chunk == 0 {
            return out;
        }
        let end = current.wrapping_add(self.frame_len as u64);
        let in_chunk = current > chunk && end - chunk <= MAX_CHUNK_BYTES;
        if in_chunk {
            if let Ok(data) = self.process.read_vec(chunk, (end - chunk) as usize) {
                let size = u64_at(&data, CHUNK_SIZE);
                if (end - chunk..=MAX_CHUNK_BYTES).contains(&size) {
                    out.older = u64_at(&data, CHUNK_PREVIOUS);
                    out.copies.push((chunk, data));
                    return out;
                }
            }
        }
        if let Some((data, previous)) = self.copy_chunk(chunk) {
            out.copies.push((chunk, data));
            out.older = previous;
        }
        out
    }

    /// A whole chunk's used part (from its start to its `top`) and the chunk before it; `None`
    /// when it is unreadable or implausible.
    fn copy_chunk(&self, chunk: u64) -> Option<(Vec<u8>, u64)> {
        let head = self.process.read_vec(chunk, CHUNK_HEADER).ok()?;
        let (size, top) = (u64_at(&head, CHUNK_SIZE), u64_at(&head, CHUNK_TOP));
        let used = top.checked_sub(chunk)?;
        if !(CHUNK_HEADER as u64..=MAX_CHUNK_BYTES).contains(&size) || used > size {
            return None;
        }
        let data = self
            .process
            .read_vec(chunk, used.max(CHUNK_HEADER as u64) as usize)
            .ok()?;
        Some((data, u64_at(&head, CHUNK_PREVIOUS)))
    }

    /// Copies the next older chunk, if there is one to copy; whether one was.
    fn copy_older(&self, chunks: &mut Chunks) -> bool {
        if chunks.older == 0 || chunks.copies.len() >= MAX_CHUNKS {
            return false;
        }
        let at = chunks.older;
        chunks.older = 0;
        match self.copy_chunk(at) {
            Some((data, previous)) => {
                chunks.copies.push((at, data));
                chunks.older = previous;
                true
            }
            None => false,
        }
    }

    /// The frames from `frame` outwards. `base_frame` (3.15+) is where a whole chain must end.
    fn walk(
        &mut self,
        mut frame: u64,
        mut chunks: Chunks,
        base_frame: Option<u64>,
    ) -> Result<Vec<RemoteFrame>, RemoteError> {
        let l = &self.layout;
        let (code_off, prev_off, instr_off, owner_off) = (
            l.frame_code as usize,
            l.frame_previous as usize,
            l.frame_instr as usize,
            l.frame_owner as usize,
        );
        let (boundary, adaptive, is_entry) = (l.owner_boundary, l.code_adaptive, l.frame_is_entry);
        let tlbc = l.frame_tlbc_index.zip(l.code_tlbc);
        // First the chain of frames (code, instruction, per-thread bytecode index), then all code
        // objects in one read.
        // (code, instruction, per-thread bytecode index, frame address, whether the frame has a
        // Python callee pushed by the interpreter itself, with no C call in between)
        let mut raw: Vec<(u64, u64, i32, u64, bool)> = Vec::new();
        let (mut have_inner, mut crossed, mut inner_entry) = (false, false, false);
        let mut buf = vec![0u8; self.frame_len];
        let mut seen = 0usize;
        while frame != 0 {
            seen += 1;
            if seen > MAX_FRAMES {
                return Err(RemoteError::Torn("frame chain does not end".into()));
            }
            // A frame outside the copies is in an older chunk (copied now), a generator or a
            // coroutine (read alone).
            while chunks.get(frame, self.frame_len).is_none() && self.copy_older(&mut chunks) {}
            let bytes = match chunks.get(frame, self.frame_len) {
                Some(b) => b,
                None => {
                    self.process.read(frame, &mut buf)?;
                    &buf[..]
                }
            };
            let owner = bytes[owner_off];
            let code = u64_at(bytes, code_off) & !3; // 3.14 tags stack references in the low bits
            let instr = u64_at(bytes, instr_off);
            let tlbc_index = tlbc.map_or(-1, |(f, _)| u32_at(bytes, f as usize) as i32);
            let address = frame;
            frame = u64_at(bytes, prev_off);
            if frame == 0 {
                // The outermost frame: the thread's base frame (3.15+) or an entry frame when
                // the chain was read whole. A frame popped or a generator suspended while it
                // was being read ends it early. On 3.11 a generator frame is an entry frame
                // too when C code resumed it (sum, list, join...); found last, it was
                // suspended mid-read, as it cannot start a thread's stack.
                let entry = match (base_frame, boundary, is_entry) {
                    (Some(base), _, _) => address == base,
                    (None, Some(b), _) => owner >= b,
                    (None, None, Some(e)) => bytes[e as usize] != 0 && owner != OWNED_BY_GENERATOR,
                    (None, None, None) => true,
                };
                if !entry {
                    return Err(RemoteError::Torn(
                        "the stack changed while it was read (it ends in a frame that is not an entry frame)".into(),
                    ));
                }
            }
            if boundary.is_some_and(|b| owner >= b) {
                crossed = true; // an entry from C: the frame above was called by C code
                continue;
            }
            if code == 0 {
                continue; // 3.14's outermost frame, or one being set up: no Python frame
            }
            raw.push((
                code,
                instr,
                tlbc_index,
                address,
                have_inner && !crossed && !inner_entry,
            ));
            have_inner = true;
            crossed = false;
            // 3.11: a frame the eval loop entered from C says so itself.
            inner_entry = is_entry.is_some_and(|e| bytes[e as usize] != 0);
        }
        // Each distinct code object once: (address, its header, what it is), sorted by address.
        let mut distinct: Vec<u64> = raw.iter().map(|r| r.0).collect();
        distinct.sort_unstable();
        distinct.dedup();
        let regions: Vec<(u64, usize)> = distinct.iter().map(|&a| (a, self.code_len)).collect();
        let heads = self.process.read_batch(&regions)?;
        let mut known = Vec::with_capacity(distinct.len());
        for (addr, head) in distinct.into_iter().zip(heads) {
            let info = self.code(addr, &head)?;
            known.push((addr, head, info));
        }
        let mut frames = Vec::with_capacity(raw.len());
        for (code, instr, tlbc_index, address, has_callee) in raw {
            let Ok(k) = known.binary_search_by_key(&code, |(a, _, _)| *a) else {
                continue;
            };
            let (_, head, Some(info)) = &known[k] else {
                continue;
            };
            let mut start = code + adaptive;
            // Free-threaded 3.14 may run a per-thread copy of the bytecode: `co_tlbc` points at
            // `{size, entries[size]}` and the frame says which entry.
            if let Some((_, co_tlbc)) = tlbc {
                let array = u64_at(head, co_tlbc as usize);
                if tlbc_index > 0 && array != 0 {
                    if let Ok(size) = self.process.u64(array) {
                        if (tlbc_index as u64) < size {
                            if let Ok(base) = self.process.u64(array + 8 + 8 * tlbc_index as u64) {
                                if base != 0 {
                                    start = base;
                                }
                            }
                        }
                    }
                }
            }
            let index = if instr >= start {
                ((instr - start) / 2) as usize
            } else {
                0
            };
            // A frame whose callee the interpreter pushed must sit on an instruction that can
            // push one; anything else is a frame copied before its call and a callee copied
            // after it: the stack changed under the read.
            if has_callee && self.site(info, code, index) == Site::NoCall {
                return Err(RemoteError::Torn(
                    "the stack changed while it was read (a caller frame is not at a call)".into(),
                ));
            }
            // Most samples find the same few instructions: their lines are decoded once.
            let at = (Arc::as_ptr(info) as usize, index);
            let line = match self.lines.get(&at) {
                Some(&line) => line,
                None => {
                    if self.lines.len() >= MAX_LINES {
                        self.lines.clear();
                    }
                    let line = line_for(&info.linetable, info.firstlineno, index).unwrap_or(0);
                    self.lines.insert(at, line);
                    line
                }
            };
            frames.push(RemoteFrame {
                code: info.clone(),
                line,
                address,
                code_address: code,
            });
        }
        Ok(frames)
    }

    /// What the instruction at `index` of `code` is (decoded once per code object from its
    /// adaptive bytecode, whose instruction lengths never change).
    fn site(&self, info: &CodeInfo, code: u64, index: usize) -> Site {
        let sites = info.sites.get_or_init(|| {
            let l = &self.layout;
            let units = self.process.u64(code + l.objects.object_size).unwrap_or(0);
            if units == 0 || units > 1 << 20 {
                return Vec::new();
            }
            match self
                .process
                .read_vec(code + l.code_adaptive, 2 * units as usize)
            {
                Ok(bytes) => l.opcodes.sites(&bytes),
                Err(_) => Vec::new(),
            }
        });
        sites.get(index).copied().unwrap_or(Site::Unknown)
    }

    /// A frame's arguments and local variables, in the code's order: `str`, `int`, `float`,
    /// `bool`, `None`, and `list`, `tuple`, `dict`, `set` and `frozenset` of them by value
    /// (bounded: see [`MAX_ITEMS`]); other objects by type and address.
    pub fn locals(&mut self, frame: &RemoteFrame) -> Result<Vec<Local>, RemoteError> {
        let l = self.layout.clone();
        let names = self
            .process
            .u64(frame.code_address + l.code_localsplusnames)?;
        let kinds = self
            .process
            .u64(frame.code_address + l.code_localspluskinds)?;
        // `co_flags` through `co_kwonlyargcount`: a few ints in one read.
        let ints = self.process.read_vec(
            frame.code_address + l.code_flags,
            (l.code_kwonlyargcount.max(l.code_argcount) - l.code_flags + 4) as usize,
        )?;
        let int_at = |off: u64| u64::from(u32_at(&ints, (off - l.code_flags) as usize));
        let flags = int_at(l.code_flags);
        let args = int_at(l.code_argcount)
            + int_at(l.code_kwonlyargcount)
            + u64::from(flags & CO_VARARGS != 0)
            + u64::from(flags & CO_VARKEYWORDS != 0);
        let kinds = self
            .bytes(kinds, 1 << 20)?
            .ok_or_else(|| RemoteError::Torn(format!("implausible bytes length at {kinds:#x}")))?;
        let n = self
            .process
            .u64(names + l.tuple_size)?
            .min(MAX_LOCALS)
            .min(kinds.len() as u64) as usize;
        let name_ptrs = self.process.read_vec(names + l.tuple_items, 8 * n)?;
        let values = self
            .process
            .read_vec(frame.address + l.frame_localsplus, 8 * n)?;
        let mut out = Vec::new();
        for (i, kind) in kinds.iter().take(n).enumerate() {
            if kind & CO_FAST_LOCAL == 0 {
                continue;
            }
            let value = u64_at(&values, 8 * i) & !3; // 3.14 stack references carry tag bits
            if value == 0 {
                continue; // not bound yet
            }
            let name = self.string(u64_at(&name_ptrs, 8 * i))?.to_string();
            let mut repr = Repr::default();
            self.repr(value, 0, &mut repr);
            out.push(Local {
                name,
                repr: repr.text,
                arg: (i as u64) < args,
            });
        }
        Ok(out)
    }

    fn type_name(&self, obj: u64) -> Result<String, RemoteError> {
        objects::type_name(&self.process, &self.layout, obj)
    }

    /// Appends `obj`'s repr to `out`, `depth` containers deep.
    fn repr(&mut self, obj: u64, depth: usize, out: &mut Repr) {
        let Ok(t) = self.type_name(obj) else {
            out.push(&format!("<unreadable object at {obj:#x}>"));
            return;
        };
        let l = self.layout.clone();
        let scalar = match t.as_str() {
            "NoneType" => Some("None".to_string()),
            "str" => self.string(obj).ok().map(|s| {
                let s: String = s.chars().take(MAX_STR_SHOWN).collect();
                format!("{s:?}")
            }),
            "int" => self.int(obj),
            "bool" => self
                .int(obj)
                .map(|v| if v == "0" { "False" } else { "True" }.into()),
            "float" => self.process.read_vec(obj + l.float_value, 8).ok().map(|b| {
                let v = f64::from_le_bytes(b.try_into().unwrap());
                format!("{v:?}")
            }),
            _ => None,
        };
        if let Some(text) = scalar {
            out.push(&text);
            return;
        }
        // (open, close, the items to show (key, value, key, ... for a dict), how many there are)
        let items: Option<(&str, &str, Vec<u64>, usize)> =
            match t.as_str() {
                "tuple" | "list" if depth < MAX_DEPTH => {
                    let (size_at, open, close) = if t == "tuple" {
                        (l.tuple_size, "(", ")")
                    } else {
                        (l.list_size, "[", "]")
                    };
                    let items_at = if t == "tuple" {
                        Ok(obj + l.tuple_items)
                    } else {
                        self.process.u64(obj + l.list_items)
                    };
                    match (self.process.u64(obj + size_at), items_at) {
                        (Ok(len), Ok(at)) if len < 1 << 28 => {
                            let shown = (len as usize).min(MAX_ITEMS);
                            self.process.read_vec(at, 8 * shown).ok().map(|raw| {
                                let v = (0..shown).map(|i| u64_at(&raw, 8 * i)).collect();
                                (open, close, v, len as usize)
                            })
                        }
                        _ => None,
                    }
                }
                "dict" if depth < MAX_DEPTH => objects::dict_items(&self.process, &l, obj)
                    .ok()
                    .map(|pairs| {
                        let len = pairs.len();
                        let v = pairs
                            .into_iter()
                            .take(MAX_ITEMS)
                            .flat_map(|(k, v)| [k, v])
                            .collect();
                        ("{", "}", v, len)
                    }),
                "set" | "frozenset" if depth < MAX_DEPTH => {
                    match objects::set_items(&self.process, &l, obj, MAX_ITEMS) {
                        Ok((_, 0)) => {
                            out.push(&format!("{t}()"));
                            return;
                        }
                        Ok((v, len)) if t == "set" => Some(("{", "}", v, len)),
                        Ok((v, len)) => Some(("frozenset({", "})", v, len)),
                        Err(_) => None,
                    }
                }
                _ => None,
            };
        let Some((open, close, items, len)) = items else {
            out.push(&format!("<{t} object at {obj:#x}>"));
            return;
        };
        let is_dict = t == "dict";
        let per = if is_dict { 2 } else { 1 };
        out.push(open);
        let mut shown = 0;
        for (i, &item) in items.iter().enumerate() {
            if out.full() {
                break;
            }
            if i > 0 {
                out.push(if is_dict && i % 2 == 1 { ": " } else { ", " });
            }
            self.repr(item & !3, depth + 1, out);
            shown += 1;
        }
        if shown < len * per {
            out.push(", ...");
        } else if t == "tuple" && len == 1 {
            out.push(",");
        }
        out.push(close);
    }

    /// An `int` of up to four 30-bit digits (120 bits); bigger ones are described, not computed.
    fn int(&self, obj: u64) -> Option<String> {
        match objects::read_int(&self.process, &self.layout, obj).ok()? {
            Some((negative, v)) => Some(format!("{}{v}", if negative { "-" } else { "" })),
            None => Some(
                match objects::int_decimal_digits(&self.process, &self.layout, obj) {
                    Ok(n) => format!("<int of {n} digits>"),
                    Err(_) => "<int of more than 120 bits>".into(),
                },
            ),
        }
    }

    /// The code object at `addr`, or `None` when it is not one (3.13's `f_executable` may hold
    /// other objects).
    fn code(&mut self, addr: u64, head: &[u8]) -> Result<Option<Arc<CodeInfo>>, RemoteError> {
        let l = self.layout.clone();
        let ob_type = u64_at(head, l.ob_type as usize);
        match self.code_type {
            Some(t) if t != ob_type => return Ok(None),
            Some(_) => {}
            None => {
                let name_ptr = self.process.u64(ob_type + l.tp_name)?;
                let name = self.process.read_vec(name_ptr, 5)?;
                if &name != b"code\0" {
                    return Ok(None);
                }
                self.code_type = Some(ob_type);
            }
        }
        let qualname = u64_at(head, l.code_qualname as usize);
        let filename = u64_at(head, l.code_filename as usize);
        let linetable = u64_at(head, l.code_linetable as usize);
        let key = (addr, qualname, filename, linetable);
        if let Some(c) = self.codes.get(&key) {
            return Ok(Some(c.clone()));
        }
        let firstlineno = u32_at(head, l.code_firstlineno as usize);
        let name = u64_at(head, l.code_name as usize);
        let info = Arc::new(CodeInfo {
            name: self.string(name)?.to_string(),
            qualname: self.string(qualname)?.to_string(),
            filename: self.string(filename)?.to_string(),
            firstlineno,
            // A line table over 1 MiB (a huge generated function) costs the frame its line
            // numbers (shown as line 0), not the whole sample.
            linetable: self.bytes(linetable, 1 << 20)?.unwrap_or_default(),
            sites: std::sync::OnceLock::new(),
        });
        self.codes.insert(key, info.clone());
        Ok(Some(info))
    }

    /// A `str` object's text.
    fn string(&mut self, addr: u64) -> Result<Arc<str>, RemoteError> {
        if let Some(s) = self.strings.get(&addr) {
            return Ok(s.clone());
        }
        let text = objects::read_str(&self.process, &self.layout, addr, MAX_STRING)?;
        let s: Arc<str> = text.into();
        self.strings.insert(addr, s.clone());
        Ok(s)
    }

    /// A `bytes` object's contents, `None` when it is longer than `max`.
    fn bytes(&self, addr: u64, max: u64) -> Result<Option<Vec<u8>>, RemoteError> {
        let l = &self.layout;
        let len = self.process.u64(addr + l.bytes_size)?;
        if len > max {
            return Ok(None);
        }
        self.process
            .read_vec(addr + l.bytes_data, len as usize)
            .map(Some)
    }
}

/// The interpreter's address, or `NotRunning` when there is none (start-up, shutdown).
fn nonzero_interp(interp: u64) -> Result<u64, RemoteError> {
    if interp == 0 {
        Err(RemoteError::NotRunning)
    } else {
        Ok(interp)
    }
}

/// Whether a `/proc/PID/task/TID/stat` line says the thread is on a CPU (`R`).
fn state_is_running(stat: &[u8]) -> bool {
    // The state follows the parenthesised command name, which may itself contain ") ".
    let Some(i) = stat.iter().rposition(|&c| c == b')') else {
        return false;
    };
    stat[i + 1..].iter().find(|c| !c.is_ascii_whitespace()) == Some(&b'R')
}

/// The kernel's name of a thread (`comm`).
pub fn thread_comm(pid: i32, tid: u64) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/comm"))
        .ok()
        .map(|s| s.trim_end().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thread(ident: u64, native: u64) -> ThreadStack {
        ThreadStack {
            native_id: native,
            thread_id: ident,
            frames: Vec::new(),
            holds_gil: false,
            active: true,
            name: None,
        }
    }

    #[test]
    fn names_are_read_again_only_when_needed() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut c = NameCache::default();
        let mut ts = vec![thread(1, 100), thread(2, 101)];
        assert!(c.due(&ts, t0));
        let read = HashMap::from([(1, "MainThread".to_string())]);
        c.update(&ts, Some(read.clone()), t0);
        c.apply(&mut ts);
        assert_eq!(ts[0].name.as_deref(), Some("MainThread"));
        assert_eq!(ts[1].name, None);
        // Thread 2 is not in `_active` yet: looked for again after 250 ms, not before.
        assert!(!c.due(&ts, ms(100)));
        assert!(c.due(&ts, ms(260)));
        let read2 = HashMap::from([(1, "MainThread".to_string()), (2, "worker".to_string())]);
        let before = ts[0].name.clone().unwrap();
        c.update(&ts, Some(read2.clone()), ms(260));
        c.apply(&mut ts);
        assert_eq!(ts[1].name.as_deref(), Some("worker"));
        // An unchanged name keeps its allocation (the recorder compares pointers).
        assert!(Arc::ptr_eq(&before, ts[0].name.as_ref().unwrap()));
        // All named: nothing to do until the periodic refresh...
        assert!(!c.due(&ts, ms(1000)));
        assert!(c.due(&ts, ms(2300)));
        // ... or a new thread, even one reusing an ident (a new native id); spaced by 20 times
        // what the last read cost.
        let mut ts2 = vec![thread(1, 100), thread(2, 102)];
        assert!(c.due(&ts2, ms(300)));
        c.cost = Duration::from_millis(4);
        assert!(!c.due(&ts2, ms(300)));
        assert!(c.due(&ts2, ms(341)));
        c.cost = Duration::ZERO;
        // A failed read keeps the names known and names nothing new.
        c.update(&ts2, None, ms(300));
        c.apply(&mut ts2);
        assert_eq!(ts2[0].name.as_deref(), Some("MainThread"));
        assert_eq!(ts2[1].name, None);
        // A thread that never gets a name stops being looked for once it is old.
        let mut c = NameCache::default();
        let ts = vec![thread(9, 109)];
        c.update(&ts, Some(HashMap::new()), t0);
        assert!(c.due(&ts, ms(1800)));
        c.update(&ts, Some(HashMap::new()), ms(1800));
        assert!(!c.due(&ts, ms(2100)));
        assert!(c.due(&ts, ms(3900)));
    }
}
