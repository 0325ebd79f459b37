//! CPython 3.11 on 64-bit Linux: offsets taken from its headers (3.11 has no `_Py_DebugOffsets`).

use super::{CurrentFrame, GilPlace, Layout};
use crate::objects::{InstanceDict, Objects, HT_CACHED_KEYS_AFTER_TYPE};

/// CPython 3.11 on 64-bit Linux, from the 3.11 headers.
pub fn layout() -> Layout {
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
        ts_base_frame: None,
        frame_localsplus: 72,
        code_localsplusnames: 96,
        code_localspluskinds: 104,
        tuple_items: 24,
        tuple_size: 16,
        list_items: 24,
        list_size: 16,
        // `co_flags` 48, `co_warmup` and `_co_linearray_entry_size` (shorts), then the counts.
        code_argcount: 56,
        code_kwonlyargcount: 64,
        code_flags: 48,
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
        owner_boundary: None,
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
        objects: objects(),
        opcodes: &super::opcodes::V3_11,
    }
}

/// 3.11, from the headers (gcc `offsetof` on the 3.11.7 headers: `interp->modules` 888,
/// `sizeof(PyTypeObject)` 408, `ht_cached_keys` 872).
fn objects() -> Objects {
    Objects {
        interp_modules: 888,
        object_size: 16,
        tp_basicsize: 32,
        tp_flags: 168,
        ht_cached_keys: 408 + HT_CACHED_KEYS_AFTER_TYPE,
        dict_keys: 32,
        dict_values: 40,
        values_items: 0,
        instance_dict: InstanceDict::Split {
            values: -32,
            dict: -24,
        },
    }
}
