//! Link-time settings for the extension that depend on the machine building it.
//!
//! `pip install .` builds dziura on the machine that will run it, so the build host's C library
//! is the one that loads `_native`. When it is glibc 2.36 or newer, relative relocations are
//! packed (`DT_RELR`): the ~7,000 pointers the loader fixes up at `import dziura` are then
//! described in a few KiB instead of a 24-byte record each (~170 KiB the loader would read and
//! keep resident). Older C libraries cannot read packed relocations, so they keep the classic
//! table. See bench/memory_import.py.

use std::ffi::{c_char, CStr};

extern "C" {
    /// glibc's own version string, e.g. "2.36".
    fn gnu_get_libc_version() -> *const c_char;
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let native = std::env::var("HOST").ok() == std::env::var("TARGET").ok();
    let gnu_linux = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu");
    if native && gnu_linux && glibc_at_least(2, 36) {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-z,pack-relative-relocs");
    }
}

/// Whether the C library this build script runs on is glibc `major.minor` or newer.
fn glibc_at_least(major: u32, minor: u32) -> bool {
    // SAFETY: gnu_get_libc_version returns a static NUL-terminated string.
    let version = unsafe { CStr::from_ptr(gnu_get_libc_version()) }.to_string_lossy();
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let found = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    found >= (major, minor)
}
