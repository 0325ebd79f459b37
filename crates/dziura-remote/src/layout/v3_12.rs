//! CPython 3.12 on 64-bit Linux: offsets taken from its headers (3.12 has no `_Py_DebugOffsets`),
//! each recomputed in the tests below from the headers' member lists and checked against gcc.

use super::{CurrentFrame, GilPlace, Layout};
use crate::objects::{InstanceDict, Objects, HT_CACHED_KEYS_AFTER_TYPE};

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
pub fn layout() -> Layout {
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
        ts_base_frame: None,
        frame_localsplus: 72,
        code_localsplusnames: 96,
        code_localspluskinds: 104,
        tuple_items: 24,
        tuple_size: 16,
        list_items: 24,
        list_size: 16,
        // `co_flags` 48, then `co_argcount`, `co_posonlyargcount`, `co_kwonlyargcount`.
        code_argcount: 52,
        code_kwonlyargcount: 60,
        code_flags: 48,
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
        owner_boundary: Some(3),
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
        objects: objects(),
        opcodes: &super::opcodes::V3_12,
    }
}

/// 3.12 (gcc `offsetof` on the 3.12.1 headers: `interp->imports.modules` 944,
/// `sizeof(PyTypeObject)` 416, `ht_cached_keys` 880).
fn objects() -> Objects {
    Objects {
        interp_modules: 944,
        object_size: 16,
        tp_basicsize: 32,
        tp_flags: 168,
        ht_cached_keys: 416 + HT_CACHED_KEYS_AFTER_TYPE,
        dict_keys: 32,
        dict_values: 40,
        values_items: 0,
        instance_dict: InstanceDict::Tagged { at: -24 },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixture file's lines, comments (`#`) and blank lines left out.
    fn fixture_lines(text: &str) -> impl Iterator<Item = &str> {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
    }

    /// [`Layout::v3_12`] against gcc's `offsetof` on the real 3.12 headers.
    #[test]
    fn v3_12_matches_gcc_offsetof() {
        let l = layout();
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
                "owner_cstack" => l.owner_boundary.unwrap().into(),
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
        for line in fixture_lines(include_str!("../../tests/fixtures/offsetof_3.12.txt")) {
            let (name, value) = line.split_once(' ').unwrap();
            assert_eq!(ours(name), value.parse::<u64>().unwrap(), "{name}");
            n += 1;
        }
        assert_eq!(n, 28);
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
        let l = layout();

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
        assert_eq!(l.owner_boundary, Some(3));

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
        let l = layout();
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
                l.owner_boundary
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
