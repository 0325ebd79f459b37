//! CPython 3.13 and newer describe where their fields are in `_Py_DebugOffsets`, the block at
//! the start of `_PyRuntime`. Only the order of the block's words changes from one minor to the
//! next (it is frozen from each minor's first release candidate), so a minor is known here by its
//! [`Shape`] and a few facts the block does not carry, in one [`Minor`] entry of [`KNOWN`]:
//! adding a version is adding an entry.

use super::opcodes::{self, Opcodes};
use super::{CurrentFrame, GilPlace, Layout};
use crate::objects::{InstanceDict, Objects, HT_CACHED_KEYS_AFTER_TYPE};
use crate::process::u64_at;
use crate::RemoteError;

/// What is known of one minor version's block.
struct Minor {
    minor: u32,
    shape: Shape,
    /// The first `PY_VERSION_HEX` of this minor whose block has this shape: the order still
    /// moved during alphas and betas, and a block read in the wrong order gives wrong offsets.
    first: u64,
    /// Its opcodes (`scripts/opcodes.py`), which the block does not describe.
    opcodes: &'static Opcodes,
}

/// Every minor version read through `_Py_DebugOffsets`.
const KNOWN: &[Minor] = &[
    Minor {
        minor: 13,
        shape: SHAPE_3_13,
        opcodes: &opcodes::V3_13,
        first: 0x030D_0000, // 3.13's order did not change in its pre-releases read here
    },
    Minor {
        minor: 14,
        shape: SHAPE_3_14,
        opcodes: &opcodes::V3_14,
        first: 0x030E_00F0,
    },
    Minor {
        minor: 15,
        shape: SHAPE_3_15,
        opcodes: &opcodes::V3_15,
        first: 0x030F_00B4, // b4 inserted `last_profiled_frame_seq`
    },
];

/// The minor versions known here, oldest first.
pub fn minors() -> impl Iterator<Item = u32> {
    KNOWN.iter().map(|m| m.minor)
}

/// How many bytes of `_PyRuntime` to read for any known block (the longest, 3.15's 111 words).
pub const DEBUG_OFFSETS_LEN: usize = 8 * 111;

/// A section's `size` (`sizeof` the struct) above this is taken as a corrupt block; it also
/// bounds every read the walker sizes from the block.
const MAX_SECTION_SIZE: u64 = 1 << 20;

/// The layout of a 3.13+ process from its block (`raw`: at least the block's length, from the
/// start of `_PyRuntime`). Every offset used is checked against its section's `size`.
pub fn layout(raw: &[u8], minor: u32) -> Result<Layout, RemoteError> {
    if raw.get(0..8) != Some(b"xdebugpy") {
        return Err(RemoteError::Corrupt(
            "_Py_DebugOffsets cookie is missing".into(),
        ));
    }
    let known = KNOWN.iter().find(|m| m.minor == minor).ok_or_else(|| {
        RemoteError::Unsupported(format!(
            "3.{minor} (its _Py_DebugOffsets layout is not known to this dziura)"
        ))
    })?;
    let shape = known.shape;
    if raw.len() < 8 * shape.words() {
        return Err(RemoteError::Corrupt(format!(
            "_Py_DebugOffsets is {} bytes, 3.{minor}'s has {}",
            raw.len(),
            8 * shape.words()
        )));
    }
    let word = |i: usize| u64_at(raw, 8 * i);
    // An offset into a struct must lie inside it: `size` is the struct's `sizeof`.
    let opt = |path: &str| -> Result<Option<u64>, RemoteError> {
        let Some(i) = shape.index(path) else {
            return Ok(None);
        };
        let value = word(i);
        let (section, field) = path.split_once('.').unwrap_or(("", path));
        if let Some(size) = shape.index(&format!("{section}.size")).map(word) {
            let fits = if size > MAX_SECTION_SIZE {
                false
            } else if field == "size" {
                true
            } else if field.ends_with("_size") {
                value <= size
            } else {
                value < size
            };
            if !fits {
                return Err(RemoteError::Corrupt(format!(
                    "_Py_DebugOffsets gives {path} = {value}, outside its struct of {size} bytes"
                )));
            }
        }
        Ok(Some(value))
    };
    let w = |path: &str| {
        opt(path)?.ok_or_else(|| {
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
    if version < known.first {
        return Err(RemoteError::Unsupported(format!(
            "3.{minor} pre-release {version:#x} (its _Py_DebugOffsets order is known from {:#x} on)",
            known.first
        )));
    }
    let free_threaded = w("free_threaded")? != 0;
    let ascii_size = w("unicode_object.asciiobject_size")?;
    // Free-threaded 3.14+: per-thread bytecode. The offsets are 0 in GIL builds, where the
    // fields do not exist.
    let tlbc = |path: &str| -> Result<Option<u64>, RemoteError> {
        Ok(if free_threaded { opt(path)? } else { None })
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
        ts_base_frame: opt("thread_state.base_frame")?,
        frame_localsplus: w("interpreter_frame.localsplus")?,
        code_localsplusnames: w("code_object.localsplusnames")?,
        code_localspluskinds: w("code_object.localspluskinds")?,
        tuple_items: w("tuple_object.ob_item")?,
        tuple_size: w("tuple_object.ob_size")?,
        list_items: w("list_object.ob_item")?,
        list_size: w("list_object.ob_size")?,
        // 3.12's order, unchanged since: `co_flags`, `co_argcount`, `co_posonlyargcount`,
        // `co_kwonlyargcount` (ints); only `co_argcount` is in the block.
        code_argcount: w("code_object.argcount")?,
        code_kwonlyargcount: w("code_object.argcount")? + 8,
        code_flags: w("code_object.argcount")?.saturating_sub(4),
        float_value: w("float_object.ob_fval")?,
        long_size: w("long_object.lv_tag")?,
        long_digits: w("long_object.ob_digit")?,
        long_tagged: true,
        current_frame: CurrentFrame::Direct(w("thread_state.current_frame")?),
        frame_code: w("interpreter_frame.executable")?,
        frame_previous: w("interpreter_frame.previous")?,
        frame_instr: w("interpreter_frame.instr_ptr")?,
        frame_owner: w("interpreter_frame.owner")?,
        // 3.13: FRAME_OWNED_BY_CSTACK 3; 3.14: FRAME_OWNED_BY_INTERPRETER 3, CSTACK 4; 3.15:
        // INTERPRETER 3, FRAME_OWNED_BY_THREAD_STATE 4 (the base frame).
        owner_boundary: Some(3),
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
        // Free-threaded 3.14+ made `interned` a whole byte (for atomic access).
        unicode_kind_shift: if free_threaded && minor >= 14 { 8 } else { 2 },
        ascii_size,
        // PyCompactUnicodeObject: PyASCIIObject, then utf8_length and utf8 (3.15 says so).
        compact_size: opt("unicode_object.compactunicodeobject_size")?.unwrap_or(ascii_size + 16),
        bytes_size: w("bytes_object.ob_size")?,
        bytes_data: w("bytes_object.ob_sval")?,
        objects: Objects {
            interp_modules: w("interpreter_state.imports_modules")?,
            object_size: w("pyobject.size")?,
            // Before 3.15: `PyVarObject_HEAD`, `tp_name`, then `tp_basicsize`.
            tp_basicsize: opt("type_object.tp_basicsize")?.unwrap_or(w("type_object.tp_name")? + 8),
            tp_flags: w("type_object.tp_flags")?,
            // Before 3.15: `type_object.size` is `sizeof(PyTypeObject)`, then the heap type's
            // method tables.
            ht_cached_keys: match opt("heap_type_object.ht_cached_keys")? {
                Some(at) => at,
                None => w("type_object.size")? + HT_CACHED_KEYS_AFTER_TYPE,
            },
            dict_keys: w("dict_object.ma_keys")?,
            dict_values: w("dict_object.ma_values")?,
            values_items: 8,
            instance_dict: InstanceDict::Inline {
                dict: if free_threaded { -8 } else { -24 },
            },
        },
        opcodes: known.opcodes,
    })
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

/// 3.15: `Include/internal/pycore_debug_offsets.h` from 3.15.0b4 on (frozen from rc1; checked
/// against Debian's 3.15.2 header): 111 words. New against 3.14: `thread_state.base_frame`
/// (the sentinel frame every stack ends at), `last_profiled_frame`, `last_profiled_frame_seq`,
/// `holds_gil`, `gil_requested`, `current_exception`, `exc_state`; `err_stackitem`;
/// `type_object.tp_basicsize`, `tp_dictoffset`; `heap_type_object`;
/// `unicode_object.compactunicodeobject_size`; `gc.frame`, `generation_stats_size`,
/// `generation_stats`.
const SHAPE_3_15: Shape = Shape(&[
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
            "base_frame",
            "last_profiled_frame",
            "last_profiled_frame_seq",
            "thread_id",
            "native_thread_id",
            "datastack_chunk",
            "status",
            "holds_gil",
            "gil_requested",
            "current_exception",
            "exc_state",
        ],
    ),
    ("err_stackitem", &["exc_value"]),
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
    (
        "type_object",
        &[
            "size",
            "tp_name",
            "tp_repr",
            "tp_flags",
            "tp_basicsize",
            "tp_dictoffset",
        ],
    ),
    ("heap_type_object", &["size", "ht_cached_keys"]),
    ("tuple_object", &["size", "ob_item", "ob_size"]),
    ("list_object", &["size", "ob_item", "ob_size"]),
    ("set_object", &["size", "used", "table", "mask"]),
    ("dict_object", &["size", "ma_keys", "ma_values"]),
    ("float_object", &["size", "ob_fval"]),
    ("long_object", &["size", "lv_tag", "ob_digit"]),
    ("bytes_object", &["size", "ob_size", "ob_sval"]),
    (
        "unicode_object",
        &[
            "size",
            "state",
            "length",
            "asciiobject_size",
            "compactunicodeobject_size",
        ],
    ),
    (
        "gc",
        &[
            "size",
            "collecting",
            "frame",
            "generation_stats_size",
            "generation_stats",
        ],
    ),
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

    /// The shape of a known minor version.
    pub fn for_minor(minor: u32) -> Option<Shape> {
        KNOWN.iter().find(|m| m.minor == minor).map(|m| m.shape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A block of 3.`minor`'s length whose word `i` holds `1000 + i`, so every Layout field
    /// shows which word it came from; each section's `size` is 50,000 so that every offset
    /// lies inside its struct.
    fn numbered_block(minor: u32, version: u64, free_threaded: bool) -> Vec<u8> {
        let shape = Shape::for_minor(minor).unwrap();
        let mut w: Vec<u64> = (0..shape.words() as u64).map(|i| 1000 + i).collect();
        for (i, path) in shape.paths().enumerate() {
            if path.ends_with(".size") {
                w[i] = 50_000;
            }
        }
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
        /// 3.15+ (before: `ascii_size + 16`).
        unicode_compact_size: Option<u64>,
        ts_base_frame: Option<u64>,
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
        assert_eq!(l.owner_boundary, Some(3));
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
        let compact = e
            .unicode_compact_size
            .map_or(n(e.unicode_ascii_size) + 16, n);
        assert_eq!(l.compact_size, compact);
        assert_eq!(l.ts_base_frame, e.ts_base_frame.map(n));
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
        unicode_compact_size: None,
        ts_base_frame: None,
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
        unicode_compact_size: None,
        ts_base_frame: None,
    };

    /// 3.15 (`pycore_debug_offsets.h`, b4 and later): cookie 0, version 1, free_threaded 2;
    /// runtime_state 3..6; interpreter_state 6..22; thread_state 22..38 (base_frame 27,
    /// last_profiled_frame 28, last_profiled_frame_seq 29, holds_gil 34, gil_requested 35,
    /// current_exception 36, exc_state 37); err_stackitem 38; interpreter_frame 39..47;
    /// code_object 47..58; pyobject 58..60; type_object 60..66 (tp_basicsize 64,
    /// tp_dictoffset 65); heap_type_object 66..68; tuple 68..71; list 71..74; set 74..78; dict
    /// 78..81; float 81..83; long 83..86; bytes 86..89; unicode 89..94 (compact size 93); gc
    /// 94..99; gen_object 99..103; llist_node 103..105; debugger_support 105..111.
    const EXPECTED_3_15: Expected = Expected {
        interpreters_head: 5,
        threads_head: 9,
        gil_locked: 18,
        gil_holder: 19,
        ts_next: 24,
        ts_current_frame: 26,
        ts_thread_id: 30,
        ts_native_thread_id: 31,
        frame_previous: 40,
        frame_executable: 41,
        frame_instr_ptr: 42,
        frame_owner: 44,
        frame_tlbc_index: Some(46),
        code_filename: 48,
        code_name: 49,
        code_qualname: 50,
        code_linetable: 51,
        code_firstlineno: 52,
        code_adaptive: 56,
        code_tlbc: Some(57),
        ob_type: 59,
        tp_name: 61,
        bytes_ob_size: 87,
        bytes_ob_sval: 88,
        unicode_state: 90,
        unicode_length: 91,
        unicode_ascii_size: 92,
        unicode_compact_size: Some(93),
        ts_base_frame: Some(27),
    };

    #[test]
    fn maps_every_3_13_word_to_its_field() {
        for ft in [false, true] {
            let raw = numbered_block(13, 0x030D05F0, ft);
            let l = layout(&raw, 13).unwrap();
            check(&l, &EXPECTED_3_13, ft);
            assert_eq!(l.unicode_kind_shift, 2); // 3.13t still has `interned:2`
        }
        assert_eq!(SHAPE_3_13.words(), 73);
    }

    #[test]
    fn maps_every_3_14_word_to_its_field() {
        for ft in [false, true] {
            let raw = numbered_block(14, 0x030E00F0, ft);
            let l = layout(&raw, 14).unwrap();
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
    fn maps_every_3_15_word_to_its_field() {
        for ft in [false, true] {
            let raw = numbered_block(15, 0x030F02F0, ft);
            let l = layout(&raw, 15).unwrap();
            check(&l, &EXPECTED_3_15, ft);
            assert_eq!(l.unicode_kind_shift, if ft { 8 } else { 2 });
            // Read from the block, no longer derived.
            assert_eq!(l.objects.tp_basicsize, 1064);
            assert_eq!(l.objects.ht_cached_keys, 1067);
        }
        let s = SHAPE_3_15;
        assert_eq!(s.words(), 111);
        // The section starts given in the reference (bytes), from the header.
        for (path, byte) in [
            ("thread_state.size", 176),
            ("err_stackitem.exc_value", 304),
            ("interpreter_frame.size", 312),
            ("code_object.size", 376),
            ("pyobject.size", 464),
            ("type_object.size", 480),
            ("heap_type_object.size", 528),
            ("tuple_object.size", 544),
            ("set_object.size", 592),
            ("dict_object.size", 624),
            ("unicode_object.size", 712),
            ("gc.size", 752),
            ("gen_object.size", 792),
            ("llist_node.next", 824),
            ("debugger_support.eval_breaker", 840),
        ] {
            assert_eq!(s.index(path).map(|i| 8 * i), Some(byte), "{path}");
        }
        // A 3.15 beta before b4 had another order.
        let b3 = numbered_block(15, 0x030F00B3, false);
        assert!(matches!(layout(&b3, 15), Err(RemoteError::Unsupported(_))));
    }

    #[test]
    fn reads_enough_for_every_known_block() {
        let longest = minors()
            .map(|m| Shape::for_minor(m).unwrap().words())
            .max()
            .unwrap();
        assert_eq!(DEBUG_OFFSETS_LEN, 8 * longest);
        assert_eq!(minors().collect::<Vec<_>>(), [13, 14, 15]);
    }

    #[test]
    fn refuses_offsets_outside_their_struct() {
        let mut raw = numbered_block(14, 0x030E00F0, false);
        let at = |path: &str| 8 * SHAPE_3_14.index(path).unwrap();
        let ok = layout(&raw, 14).unwrap();
        assert_eq!(ok.frame_owner, 1036);
        // interpreter_frame.owner beyond interpreter_frame.size
        raw[at("interpreter_frame.size")..][..8].copy_from_slice(&1036u64.to_le_bytes());
        let e = layout(&raw, 14).unwrap_err().to_string();
        assert!(e.contains("interpreter_frame.owner = 1036"), "{e}");
        // an absurd struct size
        let mut raw = numbered_block(14, 0x030E00F0, false);
        raw[at("thread_state.size")..][..8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(layout(&raw, 14), Err(RemoteError::Corrupt(_))));
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        let raw = numbered_block(14, 0x030E00F0, false);
        // Wrong minor for the block, an unknown minor, a 3.14 beta, a short block, no cookie.
        assert!(matches!(layout(&raw, 13), Err(RemoteError::Corrupt(_))));
        for minor in [12, 16] {
            assert!(matches!(
                layout(&raw, minor),
                Err(RemoteError::Unsupported(_))
            ));
        }
        let beta = numbered_block(14, 0x030E00B3, false);
        assert!(matches!(
            layout(&beta, 14),
            Err(RemoteError::Unsupported(_))
        ));
        assert!(matches!(
            layout(&raw[..8 * 94], 14),
            Err(RemoteError::Corrupt(_))
        ));
        let mut bad = raw.clone();
        bad[0] = b'y';
        assert!(matches!(layout(&bad, 14), Err(RemoteError::Corrupt(_))));
        // 3.13 pre-releases are read as before.
        let rc = numbered_block(13, 0x030D00C1, false);
        assert!(layout(&rc, 13).is_ok());
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
        let gil = captured_block(include_str!(
            "../../tests/fixtures/debug_offsets_3.13.5.txt"
        ));
        let ft = captured_block(include_str!(
            "../../tests/fixtures/debug_offsets_3.13.5t.txt"
        ));
        assert_eq!(gil.len(), 8 * 73);
        assert_eq!(ft.len(), 8 * 73);
        let g = layout(&gil, 13).unwrap();
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
        let t = layout(&ft, 13).unwrap();
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
        assert!(layout(&gil, 14).is_err());
    }

    /// The 3.13.5 x86-64 values cited in shared/reference/cpython-internals.md, as a captured
    /// `_Py_DebugOffsets` would carry them.
    #[test]
    fn reads_a_captured_3_13_debug_offsets_block() {
        let mut words = vec![0u64; 80];
        for (i, path) in SHAPE_3_13.paths().enumerate() {
            if path.ends_with(".size") {
                words[i] = 65_536; // every struct big enough for the offsets below
            }
        }
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
        let l = layout(&raw, 13).unwrap();
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
        assert!(layout(&raw, 13).is_err());
    }
}
