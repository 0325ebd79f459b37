//! dziura's own file (and whatever `read_any` takes): a profile that reads must also go through
//! every writer, since a reader that accepts what the writers cannot handle moves the panic on.
#![no_main]

use dziura_formats::{Format, WriteOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(profile) = dziura_file::read_any(data) else {
        return;
    };
    let opts = WriteOptions::default();
    for format in Format::ALL {
        let _ = dziura_formats::write(&profile, format, &opts);
    }
});
