//! Where each CPython keeps what the walker reads: one [`Layout`] of byte offsets, filled per
//! version family by one file each (`v3_11`, `v3_12`: tables from their headers;
//! `debug_offsets`: 3.13 and newer, which describe themselves), and chosen in one place,
//! [`Layout::for_version`]. The checklist for a new minor version is in the crate's README.

mod debug_offsets;
mod opcodes;
mod v3_11;
mod v3_12;

pub use debug_offsets::{Shape, DEBUG_OFFSETS_LEN};
pub use opcodes::{Opcodes, Site};

use crate::objects::Objects;
use crate::RemoteError;

/// `_PyInterpreterFrame.owner` of a generator's or coroutine's frame (`FRAME_OWNED_BY_GENERATOR`,
/// 1 in every version).
pub const OWNED_BY_GENERATOR: u8 = 1;

/// `_PyStackChunk` (every version): `{previous, size, top, data[]}`, the header's words.
pub const CHUNK_PREVIOUS: usize = 0;
pub const CHUNK_SIZE: usize = 8;
pub const CHUNK_TOP: usize = 16;
pub const CHUNK_HEADER: usize = 24;

/// The CPython versions this dziura reads, for messages: "3.11 to 3.15".
pub fn supported_versions() -> String {
    let last = debug_offsets::minors().last().unwrap_or(12);
    format!("3.11 to 3.{last}")
}

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
    /// `tstate->datastack_chunk`: the newest chunk of the thread's frame stack, copied in one
    /// read so that walking its frames needs no read each.
    pub ts_datastack_chunk: u64,
    /// 3.15+: `tstate->base_frame`, the pointer to the thread's outermost frame (the entry
    /// frame of its first `_PyEval_EvalFrameDefault`): a stack read whole ends exactly there.
    pub ts_base_frame: Option<u64>,
    /// For `dump --locals`: the frame's `localsplus` array, the code's names and kinds of its
    /// slots, and the objects whose values are shown.
    pub frame_localsplus: u64,
    pub code_localsplusnames: u64,
    pub code_localspluskinds: u64,
    pub tuple_items: u64,
    pub tuple_size: u64,
    /// `PyListObject.ob_item` (a pointer to the items) and `ob_size`.
    pub list_items: u64,
    pub list_size: u64,
    /// `co_argcount`, `co_kwonlyargcount` and `co_flags` (all `int`): which of a frame's
    /// variables are its arguments (the first `argcount + kwonlyargcount`, then `*args` and
    /// `**kwargs` when `CO_VARARGS`/`CO_VARKEYWORDS` are set).
    pub code_argcount: u64,
    pub code_kwonlyargcount: u64,
    pub code_flags: u64,
    pub float_value: u64,
    pub long_size: u64,
    pub long_digits: u64,
    /// 3.12+ keep an int's sign and digit count in `lv_tag`; 3.11 in `ob_size`.
    pub long_tagged: bool,
    pub current_frame: CurrentFrame,
    pub frame_code: u64,
    pub frame_previous: u64,
    pub frame_instr: u64,
    /// 3.11/3.12 point at the last instruction run (for a caller: its CALL); 3.13+ at the one
    /// being run. Either way it is the instruction whose line is wanted.
    pub frame_owner: u64,
    /// 3.12+: frames whose owner is this or more are not Python frames but boundaries the
    /// interpreter pushes: 3.12/3.13 `FRAME_OWNED_BY_CSTACK` (3, the shim frame at each entry
    /// from C), 3.14 `FRAME_OWNED_BY_INTERPRETER` (3) and `FRAME_OWNED_BY_CSTACK` (4), 3.15
    /// `FRAME_OWNED_BY_INTERPRETER` (3) and `FRAME_OWNED_BY_THREAD_STATE` (4, the base frame).
    /// CPython's own reader treats every owner >= 3 the same way.
    pub owner_boundary: Option<u8>,
    /// 3.11, which has no shim frames: the frame's `is_entry` (`bool`), set on the first frame
    /// each `_PyEval_EvalFrameDefault` call runs. Either way the outermost frame of a whole
    /// stack is an entry (3.11) or a shim (3.12+) frame: a chain ending elsewhere was torn.
    pub frame_is_entry: Option<u64>,
    pub code_filename: u64,
    pub code_name: u64,
    pub code_qualname: u64,
    pub code_linetable: u64,
    pub code_firstlineno: u64,
    pub code_adaptive: u64,
    /// Free-threaded 3.14+: the frame's `tlbc_index` (`int32_t`), which copy of the bytecode
    /// `instr_ptr` points into. `None` where there is one copy (GIL builds, 3.13t and older).
    pub frame_tlbc_index: Option<u64>,
    /// Free-threaded 3.14+: the code object's `co_tlbc` (`_PyCodeArray *`: a `Py_ssize_t size`,
    /// then `size` pointers to bytecode copies, entry 0 being `co_code_adaptive` itself).
    pub code_tlbc: Option<u64>,
    pub ob_type: u64,
    pub tp_name: u64,
    pub unicode_length: u64,
    pub unicode_state: u64,
    /// Bit of the unicode state word where `kind` (3 bits) starts; `compact` and `ascii` are
    /// the next two bits after it. 2 (`interned:2` comes first), except free-threaded 3.14+,
    /// where `interned` is a whole `unsigned char`, so 8.
    pub unicode_kind_shift: u32,
    pub ascii_size: u64,
    pub compact_size: u64,
    pub bytes_size: u64,
    pub bytes_data: u64,
    /// Dicts, modules, types and instance attributes, for thread names.
    pub objects: Objects,
    /// Which instructions may push a Python frame, to check that a stack was read whole.
    pub opcodes: &'static Opcodes,
}

impl Layout {
    /// The layout of a CPython of `version_hex` (`PY_VERSION_HEX`): the one place a version is
    /// dispatched on. `read_debug_offsets(len)` reads the first `len` bytes of `_PyRuntime`,
    /// for the versions that describe themselves there.
    pub fn for_version(
        version_hex: u32,
        read_debug_offsets: impl FnOnce(usize) -> Result<Vec<u8>, RemoteError>,
    ) -> Result<Layout, RemoteError> {
        let (major, minor) = (version_hex >> 24, (version_hex >> 16) & 0xff);
        let named = || format!("{major}.{minor}.{}", (version_hex >> 8) & 0xff);
        match (major, minor) {
            (3, 11) => Ok(v3_11::layout()),
            (3, 12) => Ok(v3_12::layout()),
            (3, 13..) if debug_offsets::minors().any(|m| m == minor) => {
                debug_offsets::layout(&read_debug_offsets(DEBUG_OFFSETS_LEN)?, minor)
            }
            _ => Err(RemoteError::Unsupported(named())),
        }
    }

    /// How many bytes of a frame the walker reads: up to the last field it uses.
    pub fn frame_len(&self) -> usize {
        let word = [self.frame_code, self.frame_previous, self.frame_instr]
            .into_iter()
            .max()
            .unwrap_or(0) as usize
            + 8;
        word.max(self.frame_owner as usize + 1)
            .max(self.frame_is_entry.map_or(0, |o| o as usize + 1))
            .max(self.frame_tlbc_index.map_or(0, |o| o as usize + 4))
    }

    /// How many bytes of a code object the walker reads.
    pub fn code_len(&self) -> usize {
        [
            self.code_filename,
            self.code_name,
            self.code_qualname,
            self.code_linetable,
            self.code_firstlineno,
            self.ob_type,
            self.code_tlbc.unwrap_or(0),
        ]
        .into_iter()
        .max()
        .unwrap_or(0) as usize
            + 8
    }

    /// How many bytes of a thread state the walker reads.
    pub fn thread_len(&self) -> usize {
        match self.current_frame {
            CurrentFrame::ViaCFrame { cframe, .. } => cframe,
            CurrentFrame::Direct(off) => off,
        }
        .max(self.ts_next)
        .max(self.ts_native_thread_id)
        .max(self.ts_thread_id)
        .max(self.ts_datastack_chunk)
        .max(self.ts_base_frame.unwrap_or(0)) as usize
            + 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispatches_every_version_and_names_the_unknown_ones() {
        let none = |_: usize| -> Result<Vec<u8>, RemoteError> { panic!("not read for 3.11/3.12") };
        assert_eq!(Layout::for_version(0x030B_07F0, none).unwrap().minor, 11);
        assert_eq!(Layout::for_version(0x030C_01F0, none).unwrap().minor, 12);
        for v in [0x030A_0DF0, 0x0310_00A1, 0x0402_0000] {
            let e = Layout::for_version(v, none).unwrap_err();
            assert!(matches!(e, RemoteError::Unsupported(_)), "{v:#x}");
        }
        let e = Layout::for_version(0x0310_00F0, none)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "unsupported Python version 3.16.0: dziura reads CPython 3.11 to 3.15"
        );
        assert_eq!(supported_versions(), "3.11 to 3.15");
    }
}
