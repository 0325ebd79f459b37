//! Reading the Python stacks of every thread of one process, from outside.

use std::collections::HashMap;
use std::sync::Arc;

use crate::binary::{self, Interpreter};
use crate::layout::{CurrentFrame, GilPlace, Layout, DEBUG_OFFSETS_LEN};
use crate::linetable::line_for;
use crate::process::{u32_at, u64_at, Process};
use crate::RemoteError;

/// More frames than any sane stack (recursion limit 10k + C frames); guards against cycles in a
/// torn read.
const MAX_FRAMES: usize = 65_536;
const MAX_THREADS: usize = 16_384;
const MAX_STRING: u64 = 4096;

/// What the walker knows of a code object.
#[derive(Debug, PartialEq, Eq)]
pub struct CodeInfo {
    pub name: String,
    pub qualname: String,
    pub filename: String,
    pub firstlineno: u32,
    linetable: Vec<u8>,
}

/// One Python frame of a sampled stack.
#[derive(Clone, Debug)]
pub struct RemoteFrame {
    pub code: Arc<CodeInfo>,
    /// The line being run, 0 when unknown.
    pub line: u32,
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
}

/// A reader of one Python process.
pub struct Spy {
    pub process: Process,
    pub interpreter: Interpreter,
    pub layout: Layout,
    /// Code objects by (address, header fields), so a reused address is never misnamed.
    codes: HashMap<(u64, u64, u64, u64), Arc<CodeInfo>>,
    strings: HashMap<u64, Arc<str>>,
    code_type: Option<u64>,
    frame_len: usize,
    code_len: usize,
    thread_len: usize,
}

impl Spy {
    /// Attaches to `pid`: finds its interpreter and layout. Reads only.
    pub fn attach(pid: i32) -> Result<Spy, RemoteError> {
        let process = Process::open(pid)?;
        let maps = process.maps()?;
        let interpreter = binary::find(&process, &maps)?;
        let minor = interpreter.minor();
        let layout = match minor {
            11 => Layout::v3_11(),
            12 => Layout::v3_12(),
            13.. => {
                let raw = process.read_vec(interpreter.runtime, DEBUG_OFFSETS_LEN)?;
                Layout::from_debug_offsets(&raw, minor)?
            }
            _ => return Err(RemoteError::Unsupported(interpreter.version_string())),
        };
        let frame_len = [layout.frame_code, layout.frame_previous, layout.frame_instr]
            .into_iter()
            .max()
            .unwrap() as usize
            + 8;
        let frame_len = frame_len.max(layout.frame_owner as usize + 1);
        let code_len = [
            layout.code_filename,
            layout.code_name,
            layout.code_qualname,
            layout.code_linetable,
            layout.code_firstlineno,
            layout.ob_type,
        ]
        .into_iter()
        .max()
        .unwrap() as usize
            + 8;
        let thread_len = match layout.current_frame {
            CurrentFrame::ViaCFrame { cframe, .. } => cframe,
            CurrentFrame::Direct(off) => off,
        }
        .max(layout.ts_next)
        .max(layout.ts_native_thread_id)
        .max(layout.ts_thread_id) as usize
            + 8;
        Ok(Spy {
            process,
            interpreter,
            layout,
            codes: HashMap::new(),
            strings: HashMap::new(),
            code_type: None,
            frame_len,
            code_len,
            thread_len,
        })
    }

    pub fn pid(&self) -> i32 {
        self.process.pid
    }

    /// The stacks of all threads now. A thread whose stack changed under the read is reported
    /// as an error, never as a wrong stack.
    pub fn threads(&mut self) -> Result<Vec<ThreadStack>, RemoteError> {
        let l = self.layout.clone();
        let runtime = self.interpreter.runtime;
        let interp = self.process.u64(runtime + l.interpreters_head)?;
        if interp == 0 {
            return Err(RemoteError::NotRunning);
        }
        let (holder, locked) = match l.gil {
            Some(GilPlace::Runtime { holder, locked }) => (
                self.process.u64(runtime + holder)?,
                self.process.u32(runtime + locked)?,
            ),
            Some(GilPlace::Interpreter { holder, locked }) => (
                self.process.u64(interp + holder)?,
                self.process.u32(interp + locked)?,
            ),
            None => (0, 0),
        };
        let mut out = Vec::new();
        let mut tstate = self.process.u64(interp + l.interp_threads_head)?;
        while tstate != 0 {
            if out.len() >= MAX_THREADS {
                return Err(RemoteError::Torn("thread list does not end".into()));
            }
            let ts = self.process.read_vec(tstate, self.thread_len)?;
            let native_id = u64_at(&ts, l.ts_native_thread_id as usize);
            let frame = match l.current_frame {
                CurrentFrame::ViaCFrame {
                    cframe,
                    current_frame,
                } => {
                    let cf = u64_at(&ts, cframe as usize);
                    if cf == 0 {
                        0
                    } else {
                        self.process.u64(cf + current_frame)?
                    }
                }
                CurrentFrame::Direct(off) => u64_at(&ts, off as usize),
            };
            let frames = self.walk(frame)?;
            out.push(ThreadStack {
                native_id,
                thread_id: u64_at(&ts, l.ts_thread_id as usize),
                frames,
                holds_gil: locked != 0 && holder == tstate,
                active: is_running(self.process.pid, native_id),
            });
            tstate = u64_at(&ts, l.ts_next as usize);
        }
        Ok(out)
    }

    fn walk(&mut self, mut frame: u64) -> Result<Vec<RemoteFrame>, RemoteError> {
        let l = &self.layout;
        let (code_off, prev_off, instr_off, owner_off) = (
            l.frame_code as usize,
            l.frame_previous as usize,
            l.frame_instr as usize,
            l.frame_owner as usize,
        );
        let (cstack, adaptive) = (l.owner_cstack, l.code_adaptive);
        let mut frames = Vec::new();
        let mut buf = vec![0u8; self.frame_len];
        while frame != 0 {
            if frames.len() >= MAX_FRAMES {
                return Err(RemoteError::Torn("frame chain does not end".into()));
            }
            self.process.read(frame, &mut buf)?;
            let owner = buf[owner_off];
            let code = u64_at(&buf, code_off) & !3; // 3.14 tags stack references in the low bits
            let instr = u64_at(&buf, instr_off);
            frame = u64_at(&buf, prev_off);
            if cstack == Some(owner) || code == 0 {
                continue;
            }
            let Some(info) = self.code(code)? else {
                continue;
            };
            let start = code + adaptive;
            let index = if instr >= start {
                ((instr - start) / 2) as usize
            } else {
                0
            };
            let line = line_for(&info.linetable, info.firstlineno, index).unwrap_or(0);
            frames.push(RemoteFrame { code: info, line });
        }
        Ok(frames)
    }

    /// The code object at `addr`, or `None` when it is not one (3.13's `f_executable` may hold
    /// other objects).
    fn code(&mut self, addr: u64) -> Result<Option<Arc<CodeInfo>>, RemoteError> {
        let l = self.layout.clone();
        let head = self.process.read_vec(addr, self.code_len)?;
        let ob_type = u64_at(&head, l.ob_type as usize);
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
        let qualname = u64_at(&head, l.code_qualname as usize);
        let filename = u64_at(&head, l.code_filename as usize);
        let linetable = u64_at(&head, l.code_linetable as usize);
        let key = (addr, qualname, filename, linetable);
        if let Some(c) = self.codes.get(&key) {
            return Ok(Some(c.clone()));
        }
        let firstlineno = u32_at(&head, l.code_firstlineno as usize);
        let name = u64_at(&head, l.code_name as usize);
        let info = Arc::new(CodeInfo {
            name: self.string(name)?.to_string(),
            qualname: self.string(qualname)?.to_string(),
            filename: self.string(filename)?.to_string(),
            firstlineno,
            linetable: self.bytes(linetable)?,
        });
        self.codes.insert(key, info.clone());
        Ok(Some(info))
    }

    /// A `str` object's text.
    fn string(&mut self, addr: u64) -> Result<Arc<str>, RemoteError> {
        if let Some(s) = self.strings.get(&addr) {
            return Ok(s.clone());
        }
        let l = &self.layout;
        let head = self.process.read_vec(addr, l.compact_size as usize)?;
        let length = u64_at(&head, l.unicode_length as usize);
        let state = u32_at(&head, l.unicode_state as usize);
        let k = l.unicode_kind_shift;
        let (kind, compact, ascii) = (
            (state >> k) & 7,
            (state >> (k + 3)) & 1,
            (state >> (k + 4)) & 1,
        );
        if compact == 0 || !matches!(kind, 1 | 2 | 4) || length > MAX_STRING {
            return Err(RemoteError::Torn(format!("not a compact str at {addr:#x}")));
        }
        let data = addr
            + if ascii == 1 {
                l.ascii_size
            } else {
                l.compact_size
            };
        let raw = self
            .process
            .read_vec(data, (length * kind as u64) as usize)?;
        let text: String = match kind {
            1 => raw.iter().map(|&b| b as char).collect(),
            2 => char::decode_utf16(
                raw.chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]])),
            )
            .map(|c| c.unwrap_or('\u{fffd}'))
            .collect(),
            _ => raw
                .chunks_exact(4)
                .map(|c| {
                    char::from_u32(u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                        .unwrap_or('\u{fffd}')
                })
                .collect(),
        };
        let s: Arc<str> = text.into();
        self.strings.insert(addr, s.clone());
        Ok(s)
    }

    /// A `bytes` object's contents.
    fn bytes(&self, addr: u64) -> Result<Vec<u8>, RemoteError> {
        let l = &self.layout;
        let len = self.process.u64(addr + l.bytes_size)?;
        if len > 1 << 20 {
            return Err(RemoteError::Torn(format!(
                "implausible bytes length at {addr:#x}"
            )));
        }
        self.process.read_vec(addr + l.bytes_data, len as usize)
    }
}

/// Whether the thread is on a CPU now (`R` in `/proc/PID/task/TID/stat`).
pub fn is_running(pid: i32, tid: u64) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat")) else {
        return false;
    };
    // The state follows the parenthesised command name, which may itself contain ") ".
    stat.rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().next())
        .is_some_and(|s| s == "R")
}

/// The kernel's name of a thread (`comm`).
pub fn thread_comm(pid: i32, tid: u64) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/comm"))
        .ok()
        .map(|s| s.trim_end().to_string())
}
