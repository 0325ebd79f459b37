//! Where CPython keeps what the walker reads, per version. 3.13 and newer describe themselves in
//! `_Py_DebugOffsets` at the start of `_PyRuntime`, so a new release needs no new table; 3.11 and
//! 3.12 use tables taken from their headers (`offsetof` on the real structs).

use crate::process::u64_at;
use crate::RemoteError;

/// How a thread state leads to its innermost frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum CurrentFrame {
    /// 3.11/3.12: `tstate->cframe->current_frame`.
    ViaCFrame { cframe: u64, current_frame: u64 },
    /// 3.13+: `tstate->current_frame`.
    Direct(u64),
}

/// Where the GIL's holder and lock word are.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum GilPlace {
    /// 3.11: in `_PyRuntime.ceval.gil`.
    Runtime { holder: u64, locked: u64 },
    /// 3.12+: in the interpreter's own `_gil`.
    Interpreter { holder: u64, locked: u64 },
}

/// Offsets (bytes) of everything the walker reads.
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    pub minor: u32,
    pub free_threaded: bool,
    pub interpreters_head: u64,
    pub interp_threads_head: u64,
    pub gil: Option<GilPlace>,
    pub ts_next: u64,
    pub ts_thread_id: u64,
    pub ts_native_thread_id: u64,
    pub current_frame: CurrentFrame,
    pub frame_code: u64,
    pub frame_previous: u64,
    pub frame_instr: u64,
    /// 3.11/3.12 point at the last instruction run (for a caller: its CALL); 3.13+ at the one
    /// being run. Either way it is the instruction whose line is wanted.
    pub frame_owner: u64,
    /// The owner value of the C-stack shim frames to skip (3.12+).
    pub owner_cstack: Option<u8>,
    pub code_filename: u64,
    pub code_name: u64,
    pub code_qualname: u64,
    pub code_linetable: u64,
    pub code_firstlineno: u64,
    pub code_adaptive: u64,
    pub ob_type: u64,
    pub tp_name: u64,
    pub unicode_length: u64,
    pub unicode_state: u64,
    pub ascii_size: u64,
    pub compact_size: u64,
    pub bytes_size: u64,
    pub bytes_data: u64,
}

impl Layout {
    /// CPython 3.11 on 64-bit Linux, from the 3.11 headers.
    pub fn v3_11() -> Layout {
        Layout {
            minor: 11,
            free_threaded: false,
            interpreters_head: 40,
            interp_threads_head: 16,
            gil: Some(GilPlace::Runtime {
                holder: 368,
                locked: 376,
            }),
            ts_next: 8,
            ts_thread_id: 152,
            ts_native_thread_id: 160,
            current_frame: CurrentFrame::ViaCFrame {
                cframe: 56,
                current_frame: 8,
            },
            frame_code: 32,
            frame_previous: 48,
            frame_instr: 56,
            frame_owner: 69,
            owner_cstack: None,
            code_filename: 112,
            code_name: 120,
            code_qualname: 128,
            code_linetable: 136,
            code_firstlineno: 72,
            code_adaptive: 184,
            ob_type: 8,
            tp_name: 24,
            unicode_length: 16,
            unicode_state: 32,
            ascii_size: 48,
            compact_size: 72,
            bytes_size: 16,
            bytes_data: 32,
        }
    }

    /// 3.13+: read from `_Py_DebugOffsets` (`raw` is at least [`DEBUG_OFFSETS_LEN`] bytes from the
    /// start of `_PyRuntime`).
    pub fn from_debug_offsets(raw: &[u8], minor: u32) -> Result<Layout, RemoteError> {
        if raw.get(0..8) != Some(b"xdebugpy") {
            return Err(RemoteError::Corrupt(
                "_Py_DebugOffsets cookie is missing".into(),
            ));
        }
        // Every field is a u64; the order is fixed within a minor version.
        let w = |i: usize| u64_at(raw, 8 * i);
        if minor != 13 {
            return Err(RemoteError::Unsupported(format!(
                "3.{minor} (its _Py_DebugOffsets layout is not known to this dziura)"
            )));
        }
        // 3.13 field indices: cookie 0, version 1, free_threaded 2, runtime_state 3.., ...
        let free_threaded = w(2) != 0;
        let rt = 3; // size, finalizing, interpreters_head
        let is = rt + 3; // size id next threads_head gc imports_modules sysdict builtins ceval_gil gil_runtime_state enabled locked holder
        let ts = is + 13; // size prev next interp current_frame thread_id native_thread_id datastack_chunk status
        let fr = ts + 9; // size previous executable instr_ptr localsplus owner
        let co = fr + 6; // size filename name qualname linetable firstlineno argcount localsplusnames localspluskinds co_code_adaptive
        let po = co + 10; // size ob_type
        let ty = po + 2; // size tp_name tp_repr tp_flags
        let tu = ty + 4; // tuple: size ob_item ob_size
        let li = tu + 3; // list
        let di = li + 3; // dict: size ma_keys ma_values
        let fl = di + 3; // float: size ob_fval
        let lo = fl + 2; // long: size lv_tag ob_digit
        let by = lo + 3; // bytes: size ob_size ob_sval
        let un = by + 3; // unicode: size state length asciiobject_size
        let ascii_size = w(un + 3);
        Ok(Layout {
            minor,
            free_threaded,
            interpreters_head: w(rt + 2),
            interp_threads_head: w(is + 3),
            gil: (!free_threaded).then(|| GilPlace::Interpreter {
                holder: w(is + 12),
                locked: w(is + 11),
            }),
            ts_next: w(ts + 2),
            ts_thread_id: w(ts + 5),
            ts_native_thread_id: w(ts + 6),
            current_frame: CurrentFrame::Direct(w(ts + 4)),
            frame_code: w(fr + 2),
            frame_previous: w(fr + 1),
            frame_instr: w(fr + 3),
            frame_owner: w(fr + 5),
            owner_cstack: Some(3),
            code_filename: w(co + 1),
            code_name: w(co + 2),
            code_qualname: w(co + 3),
            code_linetable: w(co + 4),
            code_firstlineno: w(co + 5),
            code_adaptive: w(co + 9),
            ob_type: w(po + 1),
            tp_name: w(ty + 1),
            unicode_length: w(un + 2),
            unicode_state: w(un + 1),
            ascii_size,
            compact_size: ascii_size + 16,
            bytes_size: w(by + 1),
            bytes_data: w(by + 2),
        })
    }
}

/// How many bytes of `_PyRuntime` hold the debug offsets (3.13 has 76 words).
pub const DEBUG_OFFSETS_LEN: usize = 8 * 80;

#[cfg(test)]
mod tests {
    use super::*;

    /// The 3.13.5 x86-64 values cited in shared/reference/cpython-internals.md, as a captured
    /// `_Py_DebugOffsets` would carry them.
    #[test]
    fn reads_a_captured_3_13_debug_offsets_block() {
        let mut words = vec![0u64; 80];
        words[2] = 0; // GIL build
        words[3 + 2] = 40; // interpreters_head
        words[6 + 3] = 7344; // threads_head
        words[19 + 4] = 72; // current_frame
        words[19 + 6] = 160; // native_thread_id
        words[28 + 1] = 8; // previous
        words[28 + 2] = 0; // executable
        words[28 + 3] = 56; // instr_ptr
        words[28 + 5] = 70; // owner
        words[34 + 1] = 112; // filename
        words[34 + 3] = 128; // qualname
        words[34 + 4] = 136; // linetable
        words[34 + 5] = 68; // firstlineno
        words[34 + 9] = 200; // co_code_adaptive
        let un = 34 + 10 + 2 + 4 + 3 + 3 + 3 + 2 + 3 + 3;
        words[un + 3] = 40;
        let mut raw: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        raw[0..8].copy_from_slice(b"xdebugpy");
        let l = Layout::from_debug_offsets(&raw, 13).unwrap();
        assert_eq!(l.interp_threads_head, 7344);
        assert_eq!(l.current_frame, CurrentFrame::Direct(72));
        assert_eq!(
            (
                l.ts_native_thread_id,
                l.frame_previous,
                l.frame_instr,
                l.frame_owner
            ),
            (160, 8, 56, 70)
        );
        assert_eq!(
            (
                l.code_filename,
                l.code_qualname,
                l.code_linetable,
                l.code_firstlineno,
                l.code_adaptive
            ),
            (112, 128, 136, 68, 200)
        );
        assert_eq!((l.ascii_size, l.compact_size), (40, 56));
        raw[0] = b'y';
        assert!(Layout::from_debug_offsets(&raw, 13).is_err());
    }
}
