//! Another process's memory, read with `process_vm_readv` (never written, never stopped), and its
//! memory map.

use std::path::PathBuf;

use crate::RemoteError;

/// One line of `/proc/PID/maps`.
#[derive(Clone, Debug)]
pub struct Mapping {
    pub start: u64,
    pub end: u64,
    pub offset: u64,
    pub perms: String,
    pub path: Option<PathBuf>,
}

/// A process whose memory can be read.
pub struct Process {
    pub pid: i32,
}

impl Process {
    /// Checks that `pid` exists; reading may still fail for lack of permission.
    pub fn open(pid: i32) -> Result<Process, RemoteError> {
        if pid <= 0 || !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            return Err(RemoteError::NoSuchProcess(pid));
        }
        Ok(Process { pid })
    }

    pub fn maps(&self) -> Result<Vec<Mapping>, RemoteError> {
        let text = std::fs::read_to_string(format!("/proc/{}/maps", self.pid))
            .map_err(|e| self.io_error(e))?;
        Ok(text.lines().filter_map(parse_map_line).collect())
    }

    pub fn exe(&self) -> Option<PathBuf> {
        std::fs::read_link(format!("/proc/{}/exe", self.pid)).ok()
    }

    /// The auxiliary vector the kernel gave the running program: new at every `exec` (it holds
    /// the program's entry point and the addresses of its randomised stack and vDSO), so a
    /// change says the process now runs another image and what was read of it is stale.
    pub fn image(&self) -> Option<Vec<u8>> {
        std::fs::read(format!("/proc/{}/auxv", self.pid)).ok()
    }

    /// The command line, for titles and errors.
    pub fn cmdline(&self) -> String {
        std::fs::read(format!("/proc/{}/cmdline", self.pid))
            .map(|b| {
                b.split(|c| *c == 0)
                    .filter(|s| !s.is_empty())
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default()
    }

    fn io_error(&self, e: std::io::Error) -> RemoteError {
        match e.raw_os_error() {
            Some(libc::ESRCH) | Some(libc::ENOENT) => RemoteError::Exited(self.pid),
            Some(libc::EPERM) | Some(libc::EACCES) => RemoteError::permission_denied(self.pid),
            _ => RemoteError::Io(e.to_string()),
        }
    }

    /// Reads `buf.len()` bytes at `addr`.
    pub fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), RemoteError> {
        if buf.is_empty() {
            return Ok(());
        }
        let local = libc::iovec {
            iov_base: buf.as_mut_ptr() as *mut libc::c_void,
            iov_len: buf.len(),
        };
        let remote = libc::iovec {
            iov_base: addr as *mut libc::c_void,
            iov_len: buf.len(),
        };
        // SAFETY: the local buffer is valid for its length; the remote side is only read.
        let n = unsafe { libc::process_vm_readv(self.pid, &local, 1, &remote, 1, 0) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            return Err(match e.raw_os_error() {
                Some(libc::EFAULT) => RemoteError::BadAddress(addr),
                _ => self.io_error(e),
            });
        }
        if n as usize != buf.len() {
            return Err(RemoteError::BadAddress(addr));
        }
        Ok(())
    }

    /// Reads several regions with as few system calls as possible (one per 1024 regions). A region
    /// that cannot be read fails the whole batch.
    pub fn read_batch(&self, regions: &[(u64, usize)]) -> Result<Vec<Vec<u8>>, RemoteError> {
        let mut out: Vec<Vec<u8>> = regions.iter().map(|&(_, len)| vec![0u8; len]).collect();
        for (chunk_regions, chunk_out) in regions.chunks(1024).zip(out.chunks_mut(1024)) {
            let local: Vec<libc::iovec> = chunk_out
                .iter_mut()
                .map(|b| libc::iovec {
                    iov_base: b.as_mut_ptr() as *mut libc::c_void,
                    iov_len: b.len(),
                })
                .collect();
            let remote: Vec<libc::iovec> = chunk_regions
                .iter()
                .map(|&(addr, len)| libc::iovec {
                    iov_base: addr as *mut libc::c_void,
                    iov_len: len,
                })
                .collect();
            let want: usize = chunk_regions.iter().map(|r| r.1).sum();
            // SAFETY: every local iovec points into a live buffer of its length.
            let n = unsafe {
                libc::process_vm_readv(
                    self.pid,
                    local.as_ptr(),
                    local.len() as _,
                    remote.as_ptr(),
                    remote.len() as _,
                    0,
                )
            };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                return Err(match e.raw_os_error() {
                    Some(libc::EFAULT) => RemoteError::BadAddress(chunk_regions[0].0),
                    _ => self.io_error(e),
                });
            }
            if n as usize != want {
                // The kernel stops at the first unreadable region.
                let mut done = n as usize;
                let bad = chunk_regions.iter().find(|r| {
                    if done >= r.1 {
                        done -= r.1;
                        false
                    } else {
                        true
                    }
                });
                return Err(RemoteError::BadAddress(bad.map(|r| r.0).unwrap_or(0)));
            }
        }
        Ok(out)
    }

    pub fn read_vec(&self, addr: u64, len: usize) -> Result<Vec<u8>, RemoteError> {
        let mut v = vec![0u8; len];
        self.read(addr, &mut v)?;
        Ok(v)
    }

    pub fn u64(&self, addr: u64) -> Result<u64, RemoteError> {
        let mut b = [0u8; 8];
        self.read(addr, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    pub fn u32(&self, addr: u64) -> Result<u32, RemoteError> {
        let mut b = [0u8; 4];
        self.read(addr, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }
}

fn parse_map_line(line: &str) -> Option<Mapping> {
    let mut it = line.split_whitespace();
    let range = it.next()?;
    let perms = it.next()?.to_string();
    let offset = u64::from_str_radix(it.next()?, 16).ok()?;
    let _dev = it.next()?;
    let _inode = it.next()?;
    let path = it.collect::<Vec<_>>().join(" ");
    let (s, e) = range.split_once('-')?;
    Some(Mapping {
        start: u64::from_str_radix(s, 16).ok()?,
        end: u64::from_str_radix(e, 16).ok()?,
        offset,
        perms,
        path: if path.starts_with('/') {
            Some(PathBuf::from(path.trim_end_matches(" (deleted)")))
        } else {
            None
        },
    })
}

/// Little-endian field readers over a copied struct.
pub fn u64_at(b: &[u8], off: usize) -> u64 {
    b.get(off..off + 8)
        .map(|s| u64::from_le_bytes(s.try_into().unwrap()))
        .unwrap_or(0)
}

pub fn u32_at(b: &[u8], off: usize) -> u32 {
    b.get(off..off + 4)
        .map(|s| u32::from_le_bytes(s.try_into().unwrap()))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_maps_lines() {
        let m =
            parse_map_line("7f00-7f80 r-xp 00001000 08:01 1234   /usr/lib/libpython3.11.so.1.0")
                .unwrap();
        assert_eq!((m.start, m.end, m.offset), (0x7f00, 0x7f80, 0x1000));
        assert_eq!(
            m.path.unwrap().to_str().unwrap(),
            "/usr/lib/libpython3.11.so.1.0"
        );
        assert!(parse_map_line("7f00-7f80 rw-p 00000000 00:00 0")
            .unwrap()
            .path
            .is_none());
    }

    #[test]
    fn reads_own_memory_and_rejects_bad_addresses() {
        let p = Process::open(std::process::id() as i32).unwrap();
        let value: u64 = 0x1234_5678_9abc_def0;
        assert_eq!(p.u64(&value as *const u64 as u64).unwrap(), value);
        assert!(matches!(p.u64(8), Err(RemoteError::BadAddress(8))));
        assert!(matches!(
            Process::open(i32::MAX),
            Err(RemoteError::NoSuchProcess(_))
        ));
    }
}
