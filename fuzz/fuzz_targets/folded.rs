//! Folded stacks (`dziura diff` reads py-spy's and flamegraph.pl's): any text gives a profile or
//! a line-numbered error; a profile read must diff against itself and draw.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(profile) = dziura_diff::read_folded(text) else {
        return;
    };
    if let Ok(d) = dziura_diff::diff(&profile, &profile, dziura_diff::SortBy::Own) {
        let _ = dziura_diff::render_table(&d, Some(20));
    }
    let _ = dziura_formats::write(
        &profile,
        dziura_formats::Format::Collapsed,
        &dziura_formats::WriteOptions::default(),
    );
});
