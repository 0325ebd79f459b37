//! Finding the interpreter in a process: the ELF file (the executable, or libpython for shared
//! builds) that defines `_PyRuntime`, where it is loaded, and which CPython it is (`Py_Version`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use goblin::elf::Elf;

use crate::process::{Mapping, Process};
use crate::RemoteError;

/// Where the interpreter's runtime lives in the target.
#[derive(Clone, Debug)]
pub struct Interpreter {
    pub binary: PathBuf,
    /// Address of `_PyRuntime` (3.13+: it begins with `_Py_DebugOffsets`).
    pub runtime: u64,
    /// `PY_VERSION_HEX`, e.g. 0x030B07F0 for 3.11.7.
    pub version_hex: u32,
}

impl Interpreter {
    pub fn minor(&self) -> u32 {
        (self.version_hex >> 16) & 0xff
    }

    pub fn version_string(&self) -> String {
        let v = self.version_hex;
        format!("{}.{}.{}", v >> 24, (v >> 16) & 0xff, (v >> 8) & 0xff)
    }
}

/// Looks through the files mapped into `process` for a CPython runtime.
pub fn find(process: &Process, maps: &[Mapping]) -> Result<Interpreter, RemoteError> {
    let exe = process.exe();
    let mut candidates: Vec<PathBuf> = Vec::new();
    let mut seen = BTreeSet::new();
    // The executable first (static builds), then anything that looks like libpython.
    for m in maps {
        let Some(p) = &m.path else { continue };
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let is_exe = exe.as_deref() == Some(p.as_path());
        if (is_exe || name.starts_with("libpython")) && seen.insert(p.clone()) {
            if is_exe {
                candidates.insert(0, p.clone());
            } else {
                candidates.push(p.clone());
            }
        }
    }
    for path in &candidates {
        if let Some(found) = runtime_in(process, maps, path)? {
            return Ok(found);
        }
    }
    // An exited process (a zombie not yet reaped) has no memory map left to search.
    if maps.is_empty() || is_zombie(process.pid) {
        return Err(RemoteError::Exited(process.pid));
    }
    // A process we may not trace (not dumpable, another user) hides its executable: that is a
    // permission to change, not a process that is not Python.
    if let Err(e) = std::fs::read_link(format!("/proc/{}/exe", process.pid)) {
        if e.kind() == std::io::ErrorKind::PermissionDenied {
            return Err(RemoteError::permission_denied(process.pid));
        }
    }
    Err(RemoteError::NotPython(process.pid, process.cmdline()))
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rfind(')').and_then(|i| {
                s[i + 1..]
                    .split_whitespace()
                    .next()
                    .map(|st| st == "Z" || st == "X")
            })
        })
        .unwrap_or(true)
}

fn runtime_in(
    process: &Process,
    maps: &[Mapping],
    path: &Path,
) -> Result<Option<Interpreter>, RemoteError> {
    // Read through /proc/PID/root so binaries inside containers are found too.
    let data = std::fs::read(format!("/proc/{}/root{}", process.pid, path.display()))
        .or_else(|_| std::fs::read(path))
        .map_err(|e| RemoteError::Io(format!("cannot read {}: {e}", path.display())))?;
    let Ok(elf) = Elf::parse(&data) else {
        return Ok(None);
    };
    let symbol = |name: &str| {
        elf.syms
            .iter()
            .chain(elf.dynsyms.iter())
            .find(|s| {
                s.st_value != 0
                    && elf
                        .strtab
                        .get_at(s.st_name)
                        .or_else(|| elf.dynstrtab.get_at(s.st_name))
                        == Some(name)
            })
            .map(|s| s.st_value)
    };
    let Some(runtime) = symbol("_PyRuntime") else {
        return Ok(None);
    };
    let Some(base) = maps
        .iter()
        .filter(|m| m.path.as_deref() == Some(path) && m.offset == 0)
        .map(|m| m.start)
        .min()
    else {
        return Ok(None);
    };
    let first_load = elf
        .program_headers
        .iter()
        .filter(|ph| ph.p_type == goblin::elf::program_header::PT_LOAD)
        .map(|ph| ph.p_vaddr)
        .min()
        .unwrap_or(0);
    let bias = base.wrapping_sub(first_load & !0xfff);
    let version_hex = match symbol("Py_Version") {
        Some(v) => process.u32(bias.wrapping_add(v))?,
        None => {
            return Err(RemoteError::Unsupported(
                version_from_name(path).unwrap_or_else(|| "older than 3.11".into()),
            ));
        }
    };
    Ok(Some(Interpreter {
        binary: path.to_path_buf(),
        runtime: bias.wrapping_add(runtime),
        version_hex,
    }))
}

/// "3.10" from "libpython3.10.so.1.0" or "python3.10", for naming unsupported versions.
fn version_from_name(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let i = name.find("python")? + "python".len();
    let v: String = name[i..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let v = v.trim_end_matches('.');
    (!v.is_empty()).then(|| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_versions_from_file_names() {
        assert_eq!(
            version_from_name(Path::new("/usr/lib/libpython3.10.so.1.0")).as_deref(),
            Some("3.10")
        );
        assert_eq!(
            version_from_name(Path::new("/usr/bin/python3.9")).as_deref(),
            Some("3.9")
        );
        assert_eq!(version_from_name(Path::new("/usr/bin/ruby")), None);
    }
}
