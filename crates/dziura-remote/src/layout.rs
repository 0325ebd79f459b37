//! Where CPython keeps what the walker reads, per version. 3.11 and 3.12 use tables taken from
//! their headers (`offsetof` on the real structs). 3.13 and newer describe themselves in
//! `_Py_DebugOffsets` at the start of `_PyRuntime`; only the order of that block's words is
//! per minor version (it is fixed within one), so a new minor needs a new [`Shape`], not a new
//! table of offsets.

use crate::objects::{InstanceDict, Objects, HT_CACHED_KEYS_AFTER_TYPE};
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
    /// `tstate->datastack_chunk`: the newest chunk of the thread's frame stack, copied in one
    /// read so that walking its frames needs no read each.
    pub ts_datastack_chunk: u64,
    /// For `dump --locals`: the frame's `localsplus` array, the code's names and kinds of its
    /// slots, and the objects whose values are shown.
    pub frame_localsplus: u64,
    pub code_localsplusnames: u64,
    pub code_localspluskinds: u64,
    pub tuple_items: u64,
    pub tuple_size: u64,
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
    /// The owner value of the shim frames to skip (3.12+): the frame `_PyEval_EvalFrameDefault`
    /// pushes at each entry from C. 3 everywhere so far: `FRAME_OWNED_BY_CSTACK` in 3.12/3.13,
    /// `FRAME_OWNED_BY_INTERPRETER` in 3.14 (whose `FRAME_OWNED_BY_CSTACK` is 4, never
    /// assigned; CPython itself treats every owner >= 3 as "incomplete").
    pub owner_cstack: Option<u8>,
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
            ts_datastack_chunk: 296,
            frame_localsplus: 72,
            code_localsplusnames: 96,
            code_localspluskinds: 104,
            tuple_items: 24,
            tuple_size: 16,
            float_value: 16,
            long_size: 16,
            long_digits: 24,
            long_tagged: false,
            current_frame: CurrentFrame::ViaCFrame {
                cframe: 56,
                current_frame: 8,
            },
            frame_code: 32,
            frame_previous: 48,
            frame_instr: 56,
            frame_owner: 69,
            owner_cstack: None,
            frame_is_entry: Some(68),
            code_filename: 112,
            code_name: 120,
            code_qualname: 128,
            code_linetable: 136,
            code_firstlineno: 72,
            code_adaptive: 184,
            frame_tlbc_index: None,
            code_tlbc: None,
            ob_type: 8,
            tp_name: 24,
            unicode_length: 16,
            unicode_state: 32,
            unicode_kind_shift: 2,
            ascii_size: 48,
            compact_size: 72,
            bytes_size: 16,
            bytes_data: 32,
            objects: Objects::v3_11(),
        }
    }

    /// CPython 3.12 (GIL build; 3.12 has no other) on 64-bit Linux.
    ///
    /// Walked by hand from the 3.12 headers (the installed v3.12.1 and v3.12.10 headers are
    /// identical in every struct below) and checked against gcc `offsetof` on both; the field
    /// lists, sizes and alignments are in the test `v3_12_matches_the_3_12_headers`, which
    /// recomputes every number here. 8-byte pointers / `long` / `Py_ssize_t`, 4-byte `int`.
    ///
    /// - `Include/internal/pycore_runtime.h` `_PyRuntimeState`: five `int` (0..20), pad,
    ///   `_finalizing` 24, `interpreters` 32 = {`mutex` +0, `head` +8} → **40**.
    /// - `Include/internal/pycore_interp.h` `struct _is`: `next` 0, `id` 8, `id_refcount` 16,
    ///   `requires_idref` 24, `id_mutex` 32, `_initialized` 40, `finalizing` 44,
    ///   `monitoring_version` 48, `last_restart_version` 56, `threads` 64 = {`next_unique_id`,
    ///   `head` +8 → **72**, `count`, `stacksize`}, `runtime` 96, `_finalizing` 104, `gc` 112
    ///   (`_gc_runtime_state`, 240 bytes), `sysdict` 352, `builtins` 360, `ceval` 368
    ///   (`_ceval_state`, 576; its `gil` pointer at +16 = 384), `imports` 944 (`_import_state`,
    ///   96), `_gil` 1040 = {`interval` +0, `last_holder` +8 → **1048**, `locked` +16 →
    ///   **1056**}. An interpreter with its own GIL, as the main one always is, runs on `_gil`
    ///   (`Python/ceval_gil.c` `_PyEval_InitGIL`: `init_own_gil(interp, &interp->_gil)`), as
    ///   3.13's debug offsets also say; a subinterpreter sharing the main GIL leaves its `_gil`
    ///   unused and points `ceval.gil` (384) at the main interpreter's.
    /// - `Include/cpython/pystate.h` `struct _ts`: `prev` 0, `next` **8**, `interp` 16,
    ///   `_status` (32-bit bit-fields) 24, six `int` 28..52, `cframe` **56**, seven pointers
    ///   64..120, `gilstate_counter` 120, `async_exc` 128, `thread_id` **136**,
    ///   `native_thread_id` **144**. `_PyCFrame` is `{current_frame` **0**, `previous` 8}.
    /// - `Include/internal/pycore_frame.h` `_PyInterpreterFrame`: `f_code` **0**, `previous`
    ///   **8**, `f_funcobj`, `f_globals`, `f_builtins`, `f_locals`, `frame_obj` 16..56,
    ///   `prev_instr` **56**, `stacktop` 64, `return_offset` (u16) 68, `owner` (char) **70**,
    ///   `localsplus` 72. `FRAME_OWNED_BY_CSTACK` = **3** (the shim frame, whose `f_code` is the
    ///   interpreter's trampoline code object, so it must be skipped by owner).
    /// - `Include/cpython/code.h` `_PyCode_DEF`: `PyObject_VAR_HEAD` 0..24, three pointers
    ///   24..48, eleven `int` and `uint32_t co_version` 48..96 (`co_firstlineno` the sixth:
    ///   **68**), `co_localsplusnames` 96, `co_localspluskinds` 104, `co_filename` **112**,
    ///   `co_name` **120**, `co_qualname` **128**, `co_linetable` **136**, `co_weakreflist`
    ///   144, `_co_cached` 152, `_co_instrumentation_version` 160, `_co_monitoring` 168,
    ///   `_co_firsttraceable` 176, `co_extra` 184, `co_code_adaptive` **192**.
    /// - `Include/cpython/unicodeobject.h`: `PyASCIIObject` = `PyObject_HEAD` 16, `length`
    ///   **16**, `hash` 24, `state` **32** (`interned:2, kind:3, compact:1, ascii:1,
    ///   statically_allocated:1, :24`), size 36 → **40**; `PyCompactUnicodeObject` adds
    ///   `utf8_length` and `utf8` → **56**. (3.12 dropped `wstr`, hence 48/72 → 40/56.)
    /// - `Include/cpython/bytesobject.h`: `PyObject_VAR_HEAD` (`ob_size` **16**), `ob_shash`
    ///   24, `ob_sval` **32**. `Include/object.h`: `ob_type` **8**; `tp_name` follows
    ///   `PyObject_VAR_HEAD`: **24**.
    pub fn v3_12() -> Layout {
        Layout {
            minor: 12,
            free_threaded: false,
            interpreters_head: 40,
            interp_threads_head: 72,
            gil: Some(GilPlace::Interpreter {
                holder: 1048,
                locked: 1056,
            }),
            ts_next: 8,
            ts_thread_id: 136,
            ts_native_thread_id: 144,
            ts_datastack_chunk: 232, // gcc offsetof on the 3.12.1 headers
            frame_localsplus: 72,
            code_localsplusnames: 96,
            code_localspluskinds: 104,
            tuple_items: 24,
            tuple_size: 16,
            float_value: 16,
            long_size: 16,
            long_digits: 24,
            long_tagged: true,
            current_frame: CurrentFrame::ViaCFrame {
                cframe: 56,
                current_frame: 0,
            },
            frame_code: 0,
            frame_previous: 8,
            frame_instr: 56,
            frame_owner: 70,
            owner_cstack: Some(3),
            frame_is_entry: None,
            code_filename: 112,
            code_name: 120,
            code_qualname: 128,
            code_linetable: 136,
            code_firstlineno: 68,
            code_adaptive: 192,
            frame_tlbc_index: None,
            code_tlbc: None,
            ob_type: 8,
            tp_name: 24,
            unicode_length: 16,
            unicode_state: 32,
            unicode_kind_shift: 2,
            ascii_size: 40,
            compact_size: 56,
            bytes_size: 16,
            bytes_data: 32,
            objects: Objects::v3_12(),
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
        let shape = Shape::for_minor(minor).ok_or_else(|| {
            RemoteError::Unsupported(format!(
                "3.{minor} (its _Py_DebugOffsets layout is not known to this dziura)"
            ))
        })?;
        if raw.len() < 8 * shape.words() {
            return Err(RemoteError::Corrupt(format!(
                "_Py_DebugOffsets is {} bytes, 3.{minor}'s has {}",
                raw.len(),
                8 * shape.words()
            )));
        }
        let w = |path: &str| {
            shape
                .index(path)
                .map(|i| u64_at(raw, 8 * i))
                .ok_or_else(|| {
                    RemoteError::Corrupt(format!("no {path} in 3.{minor}'s _Py_DebugOffsets"))
                })
        };
        // `version` is PY_VERSION_HEX: the block must be the minor it is read as.
        let version = w("version")?;
        if version >> 16 != 0x0300 | u64::from(minor) {
            return Err(RemoteError::Corrupt(format!(
                "_Py_DebugOffsets says version {version:#x}, expected 3.{minor}"
            )));
        }
        // The block's order was still moving in 3.14's alphas and betas; only what the final
        // header says is known here.
        if minor >= 14 && version & 0xf0 != 0xf0 {
            return Err(RemoteError::Unsupported(format!(
                "3.{minor} pre-release {version:#x} (only final releases' _Py_DebugOffsets are known)"
            )));
        }
        let free_threaded = w("free_threaded")? != 0;
        let ascii_size = w("unicode_object.asciiobject_size")?;
        // 3.14 free-threaded: these offsets are 0 in GIL builds (the fields do not exist).
        let tlbc = |path: &str| -> Result<Option<u64>, RemoteError> {
            Ok(match shape.index(path) {
                Some(_) if free_threaded => Some(w(path)?),
                _ => None,
            })
        };
        Ok(Layout {
            minor,
            free_threaded,
            interpreters_head: w("runtime_state.interpreters_head")?,
            interp_threads_head: w("interpreter_state.threads_head")?,
            gil: if free_threaded {
                None
            } else {
                Some(GilPlace::Interpreter {
                    holder: w("interpreter_state.gil_runtime_state_holder")?,
                    locked: w("interpreter_state.gil_runtime_state_locked")?,
                })
            },
            ts_next: w("thread_state.next")?,
            ts_thread_id: w("thread_state.thread_id")?,
            ts_native_thread_id: w("thread_state.native_thread_id")?,
            ts_datastack_chunk: w("thread_state.datastack_chunk")?,
            frame_localsplus: w("interpreter_frame.localsplus")?,
            code_localsplusnames: w("code_object.localsplusnames")?,
            code_localspluskinds: w("code_object.localspluskinds")?,
            tuple_items: w("tuple_object.ob_item")?,
            tuple_size: w("tuple_object.ob_size")?,
            float_value: w("float_object.ob_fval")?,
            long_size: w("long_object.lv_tag")?,
            long_digits: w("long_object.ob_digit")?,
            long_tagged: true,
            current_frame: CurrentFrame::Direct(w("thread_state.current_frame")?),
            frame_code: w("interpreter_frame.executable")?,
            frame_previous: w("interpreter_frame.previous")?,
            frame_instr: w("interpreter_frame.instr_ptr")?,
            frame_owner: w("interpreter_frame.owner")?,
            owner_cstack: Some(3),
            frame_is_entry: None,
            code_filename: w("code_object.filename")?,
            code_name: w("code_object.name")?,
            code_qualname: w("code_object.qualname")?,
            code_linetable: w("code_object.linetable")?,
            code_firstlineno: w("code_object.firstlineno")?,
            code_adaptive: w("code_object.co_code_adaptive")?,
            frame_tlbc_index: tlbc("interpreter_frame.tlbc_index")?,
            code_tlbc: tlbc("code_object.co_tlbc")?,
            ob_type: w("pyobject.ob_type")?,
            tp_name: w("type_object.tp_name")?,
            unicode_length: w("unicode_object.length")?,
            unicode_state: w("unicode_object.state")?,
            unicode_kind_shift: if free_threaded && minor >= 14 { 8 } else { 2 },
            ascii_size,
            // PyCompactUnicodeObject: PyASCIIObject, then utf8_length and utf8.
            compact_size: ascii_size + 16,
            bytes_size: w("bytes_object.ob_size")?,
            bytes_data: w("bytes_object.ob_sval")?,
            objects: Objects {
                interp_modules: w("interpreter_state.imports_modules")?,
                object_size: w("pyobject.size")?,
                // `PyVarObject_HEAD`, `tp_name`, then `tp_basicsize`.
                tp_basicsize: w("type_object.tp_name")? + 8,
                tp_flags: w("type_object.tp_flags")?,
                // `type_object.size` is `sizeof(PyTypeObject)`.
                ht_cached_keys: w("type_object.size")? + HT_CACHED_KEYS_AFTER_TYPE,
                dict_keys: w("dict_object.ma_keys")?,
                dict_values: w("dict_object.ma_values")?,
                values_items: 8,
                instance_dict: InstanceDict::Inline {
                    dict: if free_threaded { -8 } else { -24 },
                },
            },
        })
    }
}

/// The order of one minor version's `_Py_DebugOffsets`: its sub-structs in declaration order,
/// each with its fields in declaration order, transcribed from the header. Every field is a
/// `uint64_t` (the leading `char cookie[8]` too is one word), so a field's word index is the
/// number of fields before it.
#[derive(Clone, Copy, Debug)]
pub struct Shape(&'static [(&'static str, &'static [&'static str])]);

/// 3.13: `Include/internal/pycore_runtime.h` (tag v3.13.0; the same in the installed 3.13.0
/// and 3.13.5 headers): 73 words.
const SHAPE_3_13: Shape = Shape(&[
    ("", &["cookie", "version", "free_threaded"]),
    (
        "runtime_state",
        &["size", "finalizing", "interpreters_head"],
    ),
    (
        "interpreter_state",
        &[
            "size",
            "id",
            "next",
            "threads_head",
            "gc",
            "imports_modules",
            "sysdict",
            "builtins",
            "ceval_gil",
            "gil_runtime_state",
            "gil_runtime_state_enabled",
            "gil_runtime_state_locked",
            "gil_runtime_state_holder",
        ],
    ),
    (
        "thread_state",
        &[
            "size",
            "prev",
            "next",
            "interp",
            "current_frame",
            "thread_id",
            "native_thread_id",
            "datastack_chunk",
            "status",
        ],
    ),
    (
        "interpreter_frame",
        &[
            "size",
            "previous",
            "executable",
            "instr_ptr",
            "localsplus",
            "owner",
        ],
    ),
    (
        "code_object",
        &[
            "size",
            "filename",
            "name",
            "qualname",
            "linetable",
            "firstlineno",
            "argcount",
            "localsplusnames",
            "localspluskinds",
            "co_code_adaptive",
        ],
    ),
    ("pyobject", &["size", "ob_type"]),
    ("type_object", &["size", "tp_name", "tp_repr", "tp_flags"]),
    ("tuple_object", &["size", "ob_item", "ob_size"]),
    ("list_object", &["size", "ob_item", "ob_size"]),
    ("dict_object", &["size", "ma_keys", "ma_values"]),
    ("float_object", &["size", "ob_fval"]),
    ("long_object", &["size", "lv_tag", "ob_digit"]),
    ("bytes_object", &["size", "ob_size", "ob_sval"]),
    (
        "unicode_object",
        &["size", "state", "length", "asciiobject_size"],
    ),
    ("gc", &["size", "collecting"]),
]);

/// 3.14: `Include/internal/pycore_debug_offsets.h` at v3.14.0 (the same order in 3.14.5 and
/// in 3.14.0t): 95 words. New against 3.13: `interpreter_state.threads_main`,
/// `code_object_generation`, `tlbc_generation`; `interpreter_frame.stackpointer`,
/// `tlbc_index`; `code_object.co_tlbc`; `set_object`; `gen_object`; `llist_node`;
/// `debugger_support` (PEP 768).
const SHAPE_3_14: Shape = Shape(&[
    ("", &["cookie", "version", "free_threaded"]),
    (
        "runtime_state",
        &["size", "finalizing", "interpreters_head"],
    ),
    (
        "interpreter_state",
        &[
            "size",
            "id",
            "next",
            "threads_head",
            "threads_main",
            "gc",
            "imports_modules",
            "sysdict",
            "builtins",
            "ceval_gil",
            "gil_runtime_state",
            "gil_runtime_state_enabled",
            "gil_runtime_state_locked",
            "gil_runtime_state_holder",
            "code_object_generation",
            "tlbc_generation",
        ],
    ),
    (
        "thread_state",
        &[
            "size",
            "prev",
            "next",
            "interp",
            "current_frame",
            "thread_id",
            "native_thread_id",
            "datastack_chunk",
            "status",
        ],
    ),
    (
        "interpreter_frame",
        &[
            "size",
            "previous",
            "executable",
            "instr_ptr",
            "localsplus",
            "owner",
            "stackpointer",
            "tlbc_index",
        ],
    ),
    (
        "code_object",
        &[
            "size",
            "filename",
            "name",
            "qualname",
            "linetable",
            "firstlineno",
            "argcount",
            "localsplusnames",
            "localspluskinds",
            "co_code_adaptive",
            "co_tlbc",
        ],
    ),
    ("pyobject", &["size", "ob_type"]),
    ("type_object", &["size", "tp_name", "tp_repr", "tp_flags"]),
    ("tuple_object", &["size", "ob_item", "ob_size"]),
    ("list_object", &["size", "ob_item", "ob_size"]),
    ("set_object", &["size", "used", "table", "mask"]),
    ("dict_object", &["size", "ma_keys", "ma_values"]),
    ("float_object", &["size", "ob_fval"]),
    ("long_object", &["size", "lv_tag", "ob_digit"]),
    ("bytes_object", &["size", "ob_size", "ob_sval"]),
    (
        "unicode_object",
        &["size", "state", "length", "asciiobject_size"],
    ),
    ("gc", &["size", "collecting"]),
    (
        "gen_object",
        &["size", "gi_name", "gi_iframe", "gi_frame_state"],
    ),
    ("llist_node", &["next", "prev"]),
    (
        "debugger_support",
        &[
            "eval_breaker",
            "remote_debugger_support",
            "remote_debugging_enabled",
            "debugger_pending_call",
            "debugger_script_path",
            "debugger_script_path_size",
        ],
    ),
]);

impl Shape {
    /// The shapes known here; 3.15 reorders again (e.g. `thread_state.base_frame`).
    pub fn for_minor(minor: u32) -> Option<Shape> {
        match minor {
            13 => Some(SHAPE_3_13),
            14 => Some(SHAPE_3_14),
            _ => None,
        }
    }

    /// The word index of `section.field` (`field` alone for the top-level ones).
    pub fn index(&self, path: &str) -> Option<usize> {
        let (section, field) = path.split_once('.').unwrap_or(("", path));
        let mut base = 0;
        for (name, fields) in self.0 {
            if *name == section {
                return fields.iter().position(|f| *f == field).map(|i| base + i);
            }
            base += fields.len();
        }
        None
    }

    /// Every field's `section.field` path, in word order.
    pub fn paths(&self) -> impl Iterator<Item = String> + '_ {
        self.0.iter().flat_map(|(section, fields)| {
            fields.iter().map(move |f| {
                if section.is_empty() {
                    f.to_string()
                } else {
                    format!("{section}.{f}")
                }
            })
        })
    }

    /// How many words the block has.
    pub fn words(&self) -> usize {
        self.0.iter().map(|(_, fields)| fields.len()).sum()
    }
}

/// How many bytes of `_PyRuntime` hold the debug offsets: the longest known block (3.14's 95
/// words; 3.13 has 73).
pub const DEBUG_OFFSETS_LEN: usize = 8 * 95;

#[cfg(test)]
mod tests {
    use super::*;

    /// A block of `words` words whose word `i` holds `1000 + i`, so every Layout field shows
    /// which word it came from.
    fn numbered_block(words: usize, version: u64, free_threaded: bool) -> Vec<u8> {
        let mut w: Vec<u64> = (0..words as u64).map(|i| 1000 + i).collect();
        w[1] = version;
        w[2] = free_threaded as u64;
        let mut raw: Vec<u8> = w.iter().flat_map(|w| w.to_le_bytes()).collect();
        raw[0..8].copy_from_slice(b"xdebugpy");
        raw
    }

    /// The word each Layout field must come from, counted by hand from the header (not from
    /// [`Shape`]), as `1000 + index`.
    struct Expected {
        interpreters_head: u64,
        threads_head: u64,
        gil_holder: u64,
        gil_locked: u64,
        ts_next: u64,
        ts_current_frame: u64,
        ts_thread_id: u64,
        ts_native_thread_id: u64,
        frame_previous: u64,
        frame_executable: u64,
        frame_instr_ptr: u64,
        frame_owner: u64,
        frame_tlbc_index: Option<u64>,
        code_filename: u64,
        code_name: u64,
        code_qualname: u64,
        code_linetable: u64,
        code_firstlineno: u64,
        code_adaptive: u64,
        code_tlbc: Option<u64>,
        ob_type: u64,
        tp_name: u64,
        bytes_ob_size: u64,
        bytes_ob_sval: u64,
        unicode_state: u64,
        unicode_length: u64,
        unicode_ascii_size: u64,
    }

    fn check(l: &Layout, e: &Expected, free_threaded: bool) {
        let n = |i: u64| 1000 + i;
        assert_eq!(l.free_threaded, free_threaded);
        assert_eq!(l.interpreters_head, n(e.interpreters_head));
        assert_eq!(l.interp_threads_head, n(e.threads_head));
        if free_threaded {
            assert_eq!(l.gil, None);
        } else {
            assert_eq!(
                l.gil,
                Some(GilPlace::Interpreter {
                    holder: n(e.gil_holder),
                    locked: n(e.gil_locked)
                })
            );
        }
        assert_eq!(l.ts_next, n(e.ts_next));
        assert_eq!(l.current_frame, CurrentFrame::Direct(n(e.ts_current_frame)));
        assert_eq!(l.ts_thread_id, n(e.ts_thread_id));
        assert_eq!(l.ts_native_thread_id, n(e.ts_native_thread_id));
        assert_eq!(l.frame_previous, n(e.frame_previous));
        assert_eq!(l.frame_code, n(e.frame_executable));
        assert_eq!(l.frame_instr, n(e.frame_instr_ptr));
        assert_eq!(l.frame_owner, n(e.frame_owner));
        assert_eq!(l.owner_cstack, Some(3));
        let ft = |i: Option<u64>| i.filter(|_| free_threaded).map(n);
        assert_eq!(l.frame_tlbc_index, ft(e.frame_tlbc_index));
        assert_eq!(l.code_filename, n(e.code_filename));
        assert_eq!(l.code_name, n(e.code_name));
        assert_eq!(l.code_qualname, n(e.code_qualname));
        assert_eq!(l.code_linetable, n(e.code_linetable));
        assert_eq!(l.code_firstlineno, n(e.code_firstlineno));
        assert_eq!(l.code_adaptive, n(e.code_adaptive));
        assert_eq!(l.code_tlbc, ft(e.code_tlbc));
        assert_eq!(l.ob_type, n(e.ob_type));
        assert_eq!(l.tp_name, n(e.tp_name));
        assert_eq!(l.bytes_size, n(e.bytes_ob_size));
        assert_eq!(l.bytes_data, n(e.bytes_ob_sval));
        assert_eq!(l.unicode_state, n(e.unicode_state));
        assert_eq!(l.unicode_length, n(e.unicode_length));
        assert_eq!(l.ascii_size, n(e.unicode_ascii_size));
        assert_eq!(l.compact_size, n(e.unicode_ascii_size) + 16);
    }

    /// 3.13 (`pycore_runtime.h`): cookie 0, version 1, free_threaded 2; runtime_state 3..6;
    /// interpreter_state 6..19; thread_state 19..28; interpreter_frame 28..34; code_object
    /// 34..44; pyobject 44..46; type_object 46..50; tuple 50..53; list 53..56; dict 56..59;
    /// float 59..61; long 61..64; bytes 64..67; unicode 67..71; gc 71..73.
    const EXPECTED_3_13: Expected = Expected {
        interpreters_head: 5,
        threads_head: 9,
        gil_locked: 17,
        gil_holder: 18,
        ts_next: 21,
        ts_current_frame: 23,
        ts_thread_id: 24,
        ts_native_thread_id: 25,
        frame_previous: 29,
        frame_executable: 30,
        frame_instr_ptr: 31,
        frame_owner: 33,
        frame_tlbc_index: None,
        code_filename: 35,
        code_name: 36,
        code_qualname: 37,
        code_linetable: 38,
        code_firstlineno: 39,
        code_adaptive: 43,
        code_tlbc: None,
        ob_type: 45,
        tp_name: 47,
        bytes_ob_size: 65,
        bytes_ob_sval: 66,
        unicode_state: 68,
        unicode_length: 69,
        unicode_ascii_size: 70,
    };

    /// 3.14.0 (`pycore_debug_offsets.h`): cookie 0, version 1, free_threaded 2; runtime_state
    /// 3..6; interpreter_state 6..22 (threads_main 10 new, code_object_generation 20,
    /// tlbc_generation 21); thread_state 22..31; interpreter_frame 31..39 (stackpointer 37,
    /// tlbc_index 38); code_object 39..50 (co_tlbc 49); pyobject 50..52; type_object 52..56;
    /// tuple 56..59; list 59..62; set 62..66; dict 66..69; float 69..71; long 71..74; bytes
    /// 74..77; unicode 77..81; gc 81..83; gen_object 83..87; llist_node 87..89;
    /// debugger_support 89..95.
    const EXPECTED_3_14: Expected = Expected {
        interpreters_head: 5,
        threads_head: 9,
        gil_locked: 18,
        gil_holder: 19,
        ts_next: 24,
        ts_current_frame: 26,
        ts_thread_id: 27,
        ts_native_thread_id: 28,
        frame_previous: 32,
        frame_executable: 33,
        frame_instr_ptr: 34,
        frame_owner: 36,
        frame_tlbc_index: Some(38),
        code_filename: 40,
        code_name: 41,
        code_qualname: 42,
        code_linetable: 43,
        code_firstlineno: 44,
        code_adaptive: 48,
        code_tlbc: Some(49),
        ob_type: 51,
        tp_name: 53,
        bytes_ob_size: 75,
        bytes_ob_sval: 76,
        unicode_state: 78,
        unicode_length: 79,
        unicode_ascii_size: 80,
    };

    #[test]
    fn maps_every_3_13_word_to_its_field() {
        for ft in [false, true] {
            let raw = numbered_block(73, 0x030D05F0, ft);
            let l = Layout::from_debug_offsets(&raw, 13).unwrap();
            check(&l, &EXPECTED_3_13, ft);
            assert_eq!(l.unicode_kind_shift, 2); // 3.13t still has `interned:2`
        }
        assert_eq!(SHAPE_3_13.words(), 73);
    }

    #[test]
    fn maps_every_3_14_word_to_its_field() {
        for ft in [false, true] {
            let raw = numbered_block(95, 0x030E00F0, ft);
            let l = Layout::from_debug_offsets(&raw, 14).unwrap();
            check(&l, &EXPECTED_3_14, ft);
            assert_eq!(l.unicode_kind_shift, if ft { 8 } else { 2 });
        }
        assert_eq!(SHAPE_3_14.words(), 95);
        // The tail of the block, which nothing reads yet, is where the header puts it.
        let s = SHAPE_3_14;
        assert_eq!(s.index("set_object.mask"), Some(65));
        assert_eq!(s.index("gen_object.gi_frame_state"), Some(86));
        assert_eq!(s.index("llist_node.prev"), Some(88));
        assert_eq!(
            s.index("debugger_support.debugger_script_path_size"),
            Some(94)
        );
        assert_eq!(s.index("interpreter_state.threads_main"), Some(10));
        assert_eq!(s.index("interpreter_frame.stackpointer"), Some(37));
    }

    #[test]
    fn reads_enough_for_every_known_block() {
        for minor in [13, 14] {
            let s = Shape::for_minor(minor).unwrap();
            assert!(8 * s.words() <= DEBUG_OFFSETS_LEN, "3.{minor}");
        }
        assert_eq!(DEBUG_OFFSETS_LEN, 8 * SHAPE_3_14.words());
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        let raw = numbered_block(95, 0x030E00F0, false);
        // Wrong minor for the block, an unknown minor, a 3.14 beta, a short block, no cookie.
        assert!(matches!(
            Layout::from_debug_offsets(&raw, 13),
            Err(RemoteError::Corrupt(_))
        ));
        for minor in [12, 15] {
            assert!(matches!(
                Layout::from_debug_offsets(&raw, minor),
                Err(RemoteError::Unsupported(_))
            ));
        }
        let beta = numbered_block(95, 0x030E00B3, false);
        assert!(matches!(
            Layout::from_debug_offsets(&beta, 14),
            Err(RemoteError::Unsupported(_))
        ));
        assert!(matches!(
            Layout::from_debug_offsets(&raw[..8 * 94], 14),
            Err(RemoteError::Corrupt(_))
        ));
        let mut bad = raw.clone();
        bad[0] = b'y';
        assert!(matches!(
            Layout::from_debug_offsets(&bad, 14),
            Err(RemoteError::Corrupt(_))
        ));
        // 3.13 pre-releases are read as before.
        let rc = numbered_block(73, 0x030D00C1, false);
        assert!(Layout::from_debug_offsets(&rc, 13).is_ok());
    }

    /// A fixture file's lines, comments (`#`) and blank lines left out.
    fn fixture_lines(text: &str) -> impl Iterator<Item = &str> {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
    }

    /// A `_Py_DebugOffsets` block saved as one hex word a line.
    fn captured_block(text: &str) -> Vec<u8> {
        fixture_lines(text)
            .flat_map(|l| u64::from_str_radix(l, 16).unwrap().to_le_bytes())
            .collect()
    }

    /// Real blocks read from live 3.13.5 processes (GIL and free-threaded builds).
    #[test]
    fn reads_captured_3_13_5_blocks() {
        let gil = captured_block(include_str!("../tests/fixtures/debug_offsets_3.13.5.txt"));
        let ft = captured_block(include_str!("../tests/fixtures/debug_offsets_3.13.5t.txt"));
        assert_eq!(gil.len(), 8 * 73);
        assert_eq!(ft.len(), 8 * 73);
        let g = Layout::from_debug_offsets(&gil, 13).unwrap();
        assert!(!g.free_threaded);
        assert_eq!(
            (g.interpreters_head, g.interp_threads_head, g.gil),
            (
                632,
                7344,
                Some(GilPlace::Interpreter {
                    holder: 7760,
                    locked: 7768
                })
            )
        );
        assert_eq!(
            (
                g.ts_next,
                g.current_frame,
                g.ts_thread_id,
                g.ts_native_thread_id
            ),
            (8, CurrentFrame::Direct(72), 152, 160)
        );
        assert_eq!(
            (g.frame_code, g.frame_previous, g.frame_instr, g.frame_owner),
            (0, 8, 56, 70)
        );
        assert_eq!(
            (
                g.code_filename,
                g.code_name,
                g.code_qualname,
                g.code_linetable,
                g.code_firstlineno,
                g.code_adaptive
            ),
            (112, 120, 128, 136, 68, 200)
        );
        assert_eq!(
            (
                g.ob_type,
                g.tp_name,
                g.unicode_state,
                g.unicode_length,
                g.ascii_size,
                g.compact_size,
                g.bytes_size,
                g.bytes_data
            ),
            (8, 24, 32, 16, 40, 56, 16, 32)
        );
        // Free-threaded: a 32-byte PyObject header moves everything after it by 16; no GIL.
        let t = Layout::from_debug_offsets(&ft, 13).unwrap();
        assert!(t.free_threaded);
        assert_eq!(t.gil, None);
        assert_eq!(
            (
                t.code_filename,
                t.code_firstlineno,
                t.code_adaptive,
                t.ob_type,
                t.tp_name
            ),
            (128, 84, 216, 24, 40)
        );
        assert_eq!(
            (
                t.unicode_state,
                t.unicode_length,
                t.ascii_size,
                t.compact_size
            ),
            (48, 32, 56, 72)
        );
        assert_eq!(
            (t.frame_tlbc_index, t.code_tlbc, t.unicode_kind_shift),
            (None, None, 2)
        );
        // Read as 3.14, the 3.13 block is refused (wrong version, and too short).
        assert!(Layout::from_debug_offsets(&gil, 14).is_err());
    }

    /// [`Layout::v3_12`] against gcc's `offsetof` on the real 3.12 headers.
    #[test]
    fn v3_12_matches_gcc_offsetof() {
        let l = Layout::v3_12();
        let (cframe, current_frame) = match l.current_frame {
            CurrentFrame::ViaCFrame {
                cframe,
                current_frame,
            } => (cframe, current_frame),
            CurrentFrame::Direct(_) => panic!("3.12 goes through cframe"),
        };
        let Some(GilPlace::Interpreter { holder, locked }) = l.gil else {
            panic!("3.12's GIL is in the interpreter");
        };
        let ours = |name: &str| -> u64 {
            match name {
                "interpreters_head" => l.interpreters_head,
                "interp_threads_head" => l.interp_threads_head,
                "gil_holder" => holder,
                "gil_locked" => locked,
                "ts_next" => l.ts_next,
                "ts_thread_id" => l.ts_thread_id,
                "ts_native_thread_id" => l.ts_native_thread_id,
                "cframe" => cframe,
                "cframe_current_frame" => current_frame,
                "frame_code" => l.frame_code,
                "frame_previous" => l.frame_previous,
                "frame_instr" => l.frame_instr,
                "frame_owner" => l.frame_owner,
                "owner_cstack" => l.owner_cstack.unwrap().into(),
                "code_filename" => l.code_filename,
                "code_name" => l.code_name,
                "code_qualname" => l.code_qualname,
                "code_linetable" => l.code_linetable,
                "code_firstlineno" => l.code_firstlineno,
                "code_adaptive" => l.code_adaptive,
                "ob_type" => l.ob_type,
                "tp_name" => l.tp_name,
                "unicode_length" => l.unicode_length,
                "unicode_state" => l.unicode_state,
                "ascii_size" => l.ascii_size,
                "compact_size" => l.compact_size,
                "bytes_size" => l.bytes_size,
                "bytes_data" => l.bytes_data,
                _ => panic!("unknown fixture name {name}"),
            }
        };
        let mut n = 0;
        for line in fixture_lines(include_str!("../tests/fixtures/offsetof_3.12.txt")) {
            let (name, value) = line.split_once(' ').unwrap();
            assert_eq!(ours(name), value.parse::<u64>().unwrap(), "{name}");
            n += 1;
        }
        assert_eq!(n, 28);
    }

    /// The 3.13.5 x86-64 values cited in shared/reference/cpython-internals.md, as a captured
    /// `_Py_DebugOffsets` would carry them.
    #[test]
    fn reads_a_captured_3_13_debug_offsets_block() {
        let mut words = vec![0u64; 80];
        words[1] = 0x030D05F0; // 3.13.5
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
        assert_eq!((l.frame_tlbc_index, l.code_tlbc), (None, None));
        raw[0] = b'y';
        assert!(Layout::from_debug_offsets(&raw, 13).is_err());
    }

    // ---- 3.12: the table recomputed from the headers' field lists ----------------------------

    /// One C member: name, size, alignment (x86-64 Linux: pointers, `long`, `Py_ssize_t`,
    /// `uint64_t` 8/8; `int`, `uint32_t`, `_Py_atomic_int` 4/4; `uint16_t` 2/2; `char` 1/1;
    /// a struct: its padded size / its largest member's alignment).
    type Member = (&'static str, u64, u64);

    const PTR: u64 = 8;
    const INT: u64 = 4;

    /// C layout: each member at the next multiple of its alignment; the struct's size rounded
    /// up to its alignment. Returns (offsets by name, size, alignment).
    fn c_struct(members: &[Member]) -> (Vec<(&'static str, u64)>, u64, u64) {
        let mut at: u64 = 0;
        let mut align: u64 = 1;
        let mut offsets = Vec::new();
        for &(name, size, a) in members {
            at = at.next_multiple_of(a);
            offsets.push((name, at));
            at += size;
            align = align.max(a);
        }
        (offsets, at.next_multiple_of(align), align)
    }

    fn off(s: &(Vec<(&'static str, u64)>, u64, u64), name: &str) -> u64 {
        s.0.iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("no member {name}"))
            .1
    }

    /// A nested struct as a member: (name, size, alignment).
    fn nested(name: &'static str, s: &(Vec<(&'static str, u64)>, u64, u64)) -> Member {
        (name, s.1, s.2)
    }

    /// Every number in [`Layout::v3_12`], recomputed from the member lists of the 3.12 headers
    /// (v3.12.1 and v3.12.10 are identical here). A member list stops after the last field
    /// the walker needs; what follows cannot move what precedes.
    #[test]
    fn v3_12_matches_the_3_12_headers() {
        let l = Layout::v3_12();

        // Include/internal/pycore_runtime.h
        let pyinterpreters = c_struct(&[
            ("mutex", PTR, PTR), // PyThread_type_lock
            ("head", PTR, PTR),
            ("main", PTR, PTR),
            ("next_id", 8, 8), // int64_t
        ]);
        let runtime = c_struct(&[
            ("_initialized", INT, INT),
            ("preinitializing", INT, INT),
            ("preinitialized", INT, INT),
            ("core_initialized", INT, INT),
            ("initialized", INT, INT),
            ("_finalizing", PTR, PTR), // _Py_atomic_address {uintptr_t}
            nested("interpreters", &pyinterpreters),
        ]);
        assert_eq!(
            off(&runtime, "interpreters") + off(&pyinterpreters, "head"),
            l.interpreters_head
        );

        // Include/internal/pycore_gc.h (NUM_GENERATIONS = 3)
        let gc_head = c_struct(&[("_gc_next", PTR, PTR), ("_gc_prev", PTR, PTR)]);
        let generation = c_struct(&[
            nested("head", &gc_head),
            ("threshold", INT, INT),
            ("count", INT, INT),
        ]);
        let generation_stats = c_struct(&[
            ("collections", 8, 8),
            ("collected", 8, 8),
            ("uncollectable", 8, 8),
        ]);
        let gc = c_struct(&[
            ("trash_delete_later", PTR, PTR),
            ("trash_delete_nesting", INT, INT),
            ("enabled", INT, INT),
            ("debug", INT, INT),
            ("generations", 3 * generation.1, generation.2),
            ("generation0", PTR, PTR),
            nested("permanent_generation", &generation),
            (
                "generation_stats",
                3 * generation_stats.1,
                generation_stats.2,
            ),
            ("collecting", INT, INT),
            ("garbage", PTR, PTR),
            ("callbacks", PTR, PTR),
            ("long_lived_total", 8, 8),
            ("long_lived_pending", 8, 8),
        ]);
        assert_eq!(gc.1, 240);

        // Include/internal/pycore_ceval_state.h (NPENDINGCALLS = 32)
        let pending_call = c_struct(&[("func", PTR, PTR), ("arg", PTR, PTR)]);
        let pending = c_struct(&[
            ("busy", INT, INT),
            ("lock", PTR, PTR),
            ("calls_to_do", INT, INT), // _Py_atomic_int
            ("async_exc", INT, INT),
            ("calls", 32 * pending_call.1, pending_call.2),
            ("first", INT, INT),
            ("last", INT, INT),
        ]);
        let ceval = c_struct(&[
            ("eval_breaker", INT, INT),
            ("gil_drop_request", INT, INT),
            ("recursion_limit", INT, INT),
            ("gil", PTR, PTR), // struct _gil_runtime_state *
            ("own_gil", INT, INT),
            ("gc_scheduled", INT, INT),
            nested("pending", &pending),
        ]);
        assert_eq!(ceval.1, 576);

        // Include/internal/pycore_import.h (HAVE_DLOPEN is defined on Linux)
        let import_lock = c_struct(&[
            ("mutex", PTR, PTR),
            ("thread", 8, 8), // unsigned long
            ("level", INT, INT),
        ]);
        let find_and_load = c_struct(&[
            ("import_level", INT, INT),
            ("accumulated", 8, 8), // _PyTime_t
            ("header", INT, INT),
        ]);
        let imports = c_struct(&[
            ("modules", PTR, PTR),
            ("modules_by_index", PTR, PTR),
            ("importlib", PTR, PTR),
            ("override_frozen_modules", INT, INT),
            ("override_multi_interp_extensions_check", INT, INT),
            ("dlopenflags", INT, INT),
            ("import_func", PTR, PTR),
            nested("lock", &import_lock),
            nested("find_and_load", &find_and_load),
        ]);
        assert_eq!(imports.1, 96);

        // Include/internal/pycore_gil.h (prefix)
        let gil = c_struct(&[
            ("interval", 8, 8),    // unsigned long
            ("last_holder", 8, 8), // _Py_atomic_address
            ("locked", INT, INT),  // _Py_atomic_int
        ]);

        // Include/internal/pycore_interp.h, struct _is (prefix)
        let threads = c_struct(&[
            ("next_unique_id", 8, 8),
            ("head", PTR, PTR),
            ("count", 8, 8),     // long
            ("stacksize", 8, 8), // size_t
        ]);
        let interp = c_struct(&[
            ("next", PTR, PTR),
            ("id", 8, 8),
            ("id_refcount", 8, 8),
            ("requires_idref", INT, INT),
            ("id_mutex", PTR, PTR),
            ("_initialized", INT, INT),
            ("finalizing", INT, INT),
            ("monitoring_version", 8, 8),
            ("last_restart_version", 8, 8),
            nested("threads", &threads),
            ("runtime", PTR, PTR),
            ("_finalizing", PTR, PTR),
            nested("gc", &gc),
            ("sysdict", PTR, PTR),
            ("builtins", PTR, PTR),
            nested("ceval", &ceval),
            nested("imports", &imports),
            nested("_gil", &gil),
        ]);
        assert_eq!(
            off(&interp, "threads") + off(&threads, "head"),
            l.interp_threads_head
        );
        assert_eq!(off(&interp, "ceval") + off(&ceval, "gil"), 384);
        assert_eq!(off(&interp, "_gil"), 1040);
        assert_eq!(
            l.gil,
            Some(GilPlace::Interpreter {
                holder: off(&interp, "_gil") + off(&gil, "last_holder"),
                locked: off(&interp, "_gil") + off(&gil, "locked"),
            })
        );

        // Include/cpython/pystate.h, struct _ts (prefix) and _PyCFrame
        let tstate = c_struct(&[
            ("prev", PTR, PTR),
            ("next", PTR, PTR),
            ("interp", PTR, PTR),
            ("_status", INT, INT), // 8 one-bit fields and `:24` in an unsigned int
            ("py_recursion_remaining", INT, INT),
            ("py_recursion_limit", INT, INT),
            ("c_recursion_remaining", INT, INT),
            ("recursion_headroom", INT, INT),
            ("tracing", INT, INT),
            ("what_event", INT, INT),
            ("cframe", PTR, PTR),
            ("c_profilefunc", PTR, PTR),
            ("c_tracefunc", PTR, PTR),
            ("c_profileobj", PTR, PTR),
            ("c_traceobj", PTR, PTR),
            ("current_exception", PTR, PTR),
            ("exc_info", PTR, PTR),
            ("dict", PTR, PTR),
            ("gilstate_counter", INT, INT),
            ("async_exc", PTR, PTR),
            ("thread_id", 8, 8),        // unsigned long
            ("native_thread_id", 8, 8), // unsigned long
        ]);
        let cframe = c_struct(&[("current_frame", PTR, PTR), ("previous", PTR, PTR)]);
        assert_eq!(l.ts_next, off(&tstate, "next"));
        assert_eq!(l.ts_thread_id, off(&tstate, "thread_id"));
        assert_eq!(l.ts_native_thread_id, off(&tstate, "native_thread_id"));
        assert_eq!(
            l.current_frame,
            CurrentFrame::ViaCFrame {
                cframe: off(&tstate, "cframe"),
                current_frame: off(&cframe, "current_frame"),
            }
        );

        // Include/internal/pycore_frame.h, _PyInterpreterFrame
        let frame = c_struct(&[
            ("f_code", PTR, PTR),
            ("previous", PTR, PTR),
            ("f_funcobj", PTR, PTR),
            ("f_globals", PTR, PTR),
            ("f_builtins", PTR, PTR),
            ("f_locals", PTR, PTR),
            ("frame_obj", PTR, PTR),
            ("prev_instr", PTR, PTR),
            ("stacktop", INT, INT),
            ("return_offset", 2, 2), // uint16_t
            ("owner", 1, 1),         // char
            ("localsplus", PTR, PTR),
        ]);
        assert_eq!(l.frame_code, off(&frame, "f_code"));
        assert_eq!(l.frame_previous, off(&frame, "previous"));
        assert_eq!(l.frame_instr, off(&frame, "prev_instr"));
        assert_eq!(l.frame_owner, off(&frame, "owner"));
        assert_eq!(off(&frame, "localsplus"), 72);
        // enum _frameowner: THREAD 0, GENERATOR 1, FRAME_OBJECT 2, CSTACK 3.
        assert_eq!(l.owner_cstack, Some(3));

        // Include/cpython/code.h, _PyCode_DEF
        let code = c_struct(&[
            ("ob_refcnt", 8, 8), // union { Py_ssize_t; uint32_t[2] }
            ("ob_type", PTR, PTR),
            ("ob_size", 8, 8),
            ("co_consts", PTR, PTR),
            ("co_names", PTR, PTR),
            ("co_exceptiontable", PTR, PTR),
            ("co_flags", INT, INT),
            ("co_argcount", INT, INT),
            ("co_posonlyargcount", INT, INT),
            ("co_kwonlyargcount", INT, INT),
            ("co_stacksize", INT, INT),
            ("co_firstlineno", INT, INT),
            ("co_nlocalsplus", INT, INT),
            ("co_framesize", INT, INT),
            ("co_nlocals", INT, INT),
            ("co_ncellvars", INT, INT),
            ("co_nfreevars", INT, INT),
            ("co_version", 4, 4), // uint32_t
            ("co_localsplusnames", PTR, PTR),
            ("co_localspluskinds", PTR, PTR),
            ("co_filename", PTR, PTR),
            ("co_name", PTR, PTR),
            ("co_qualname", PTR, PTR),
            ("co_linetable", PTR, PTR),
            ("co_weakreflist", PTR, PTR),
            ("_co_cached", PTR, PTR),
            ("_co_instrumentation_version", 8, 8),
            ("_co_monitoring", PTR, PTR),
            ("_co_firsttraceable", INT, INT),
            ("co_extra", PTR, PTR),
            ("co_code_adaptive", 1, 1), // char[]
        ]);
        assert_eq!(l.ob_type, off(&code, "ob_type"));
        assert_eq!(l.code_filename, off(&code, "co_filename"));
        assert_eq!(l.code_name, off(&code, "co_name"));
        assert_eq!(l.code_qualname, off(&code, "co_qualname"));
        assert_eq!(l.code_linetable, off(&code, "co_linetable"));
        assert_eq!(l.code_firstlineno, off(&code, "co_firstlineno"));
        assert_eq!(l.code_adaptive, off(&code, "co_code_adaptive"));

        // Include/object.h (PyTypeObject starts with PyObject_VAR_HEAD)
        let type_object = c_struct(&[
            ("ob_refcnt", 8, 8),
            ("ob_type", PTR, PTR),
            ("ob_size", 8, 8),
            ("tp_name", PTR, PTR),
        ]);
        assert_eq!(l.tp_name, off(&type_object, "tp_name"));

        // Include/cpython/unicodeobject.h
        let ascii = c_struct(&[
            ("ob_refcnt", 8, 8),
            ("ob_type", PTR, PTR),
            ("length", 8, 8),
            ("hash", 8, 8),
            ("state", INT, INT), // interned:2 kind:3 compact:1 ascii:1 statically_allocated:1 :24
        ]);
        let compact = c_struct(&[
            nested("_base", &ascii),
            ("utf8_length", 8, 8),
            ("utf8", PTR, PTR),
        ]);
        assert_eq!(l.unicode_length, off(&ascii, "length"));
        assert_eq!(l.unicode_state, off(&ascii, "state"));
        assert_eq!(l.unicode_kind_shift, 2);
        assert_eq!(l.ascii_size, ascii.1);
        assert_eq!(l.compact_size, compact.1);

        // Include/cpython/bytesobject.h
        let bytes = c_struct(&[
            ("ob_refcnt", 8, 8),
            ("ob_type", PTR, PTR),
            ("ob_size", 8, 8),
            ("ob_shash", 8, 8),
            ("ob_sval", 1, 1),
        ]);
        assert_eq!(l.bytes_size, off(&bytes, "ob_size"));
        assert_eq!(l.bytes_data, off(&bytes, "ob_sval"));

        assert_eq!(l.minor, 12);
        assert!(!l.free_threaded);
        assert_eq!((l.frame_tlbc_index, l.code_tlbc), (None, None));
    }

    /// The 3.12 table as plain numbers, so a change to it is a visible diff here too (gcc
    /// `offsetof` on the v3.12.1 and v3.12.10 headers gives the same).
    #[test]
    fn v3_12_table() {
        let l = Layout::v3_12();
        assert_eq!(
            (l.interpreters_head, l.interp_threads_head, l.gil),
            (
                40,
                72,
                Some(GilPlace::Interpreter {
                    holder: 1048,
                    locked: 1056
                })
            )
        );
        assert_eq!(
            (l.ts_next, l.ts_thread_id, l.ts_native_thread_id),
            (8, 136, 144)
        );
        assert_eq!(
            l.current_frame,
            CurrentFrame::ViaCFrame {
                cframe: 56,
                current_frame: 0
            }
        );
        assert_eq!(
            (
                l.frame_code,
                l.frame_previous,
                l.frame_instr,
                l.frame_owner,
                l.owner_cstack
            ),
            (0, 8, 56, 70, Some(3))
        );
        assert_eq!(
            (
                l.code_filename,
                l.code_name,
                l.code_qualname,
                l.code_linetable,
                l.code_firstlineno,
                l.code_adaptive
            ),
            (112, 120, 128, 136, 68, 192)
        );
        assert_eq!(
            (
                l.ob_type,
                l.tp_name,
                l.unicode_length,
                l.unicode_state,
                l.ascii_size,
                l.compact_size,
                l.bytes_size,
                l.bytes_data
            ),
            (8, 24, 16, 32, 40, 56, 16, 32)
        );
    }
}
