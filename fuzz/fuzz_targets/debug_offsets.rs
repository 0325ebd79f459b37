//! The `_Py_DebugOffsets` block a 3.13+ target describes itself with, which dziura reads from
//! another process's memory and so must treat as hostile. The first byte picks the minor version
//! the block claims (3.11 to 3.16), the rest is the block.
#![no_main]

use dziura_remote::layout::Layout;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, block)) = data.split_first() else {
        return;
    };
    let minor = 11 + u32::from(pick % 6);
    let version_hex = 0x0300_00F0 | (minor << 16);
    if let Ok(layout) = Layout::for_version(version_hex, |_| Ok(block.to_vec())) {
        // The sizes the walker derives from the block must stay bounded.
        assert!(layout.frame_len() <= 2 << 20);
        assert!(layout.code_len() <= 2 << 20);
        assert!(layout.thread_len() <= 2 << 20);
    }
});
