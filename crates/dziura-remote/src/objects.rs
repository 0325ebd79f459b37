//! Reading Python objects of another process: `str`, `int`, `dict` (combined and split tables),
//! a module's dict and an instance's attributes (managed dicts and inline values), and from them
//! the `threading` names of the threads (`sys.modules["threading"]._active[ident]._name`), the way
//! py-spy finds them.
//!
//! Everything here reads through [`Memory`], so the unit tests can lay out each CPython's objects
//! in a fake address space (3.12 and 3.14 cannot be run here). Any surprise is an error, never a
//! guess: a caller falls back to the OS thread name.

use std::collections::HashMap;

use crate::layout::Layout;
use crate::process::{u32_at, u64_at, Process};
use crate::RemoteError;

/// Reads of another address space.
pub trait Memory {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), RemoteError>;

    /// Several regions at once; the default reads them one by one.
    fn read_batch(&self, regions: &[(u64, usize)]) -> Result<Vec<Vec<u8>>, RemoteError> {
        regions.iter().map(|&(a, n)| self.read_vec(a, n)).collect()
    }

    fn read_vec(&self, addr: u64, len: usize) -> Result<Vec<u8>, RemoteError> {
        let mut v = vec![0u8; len];
        self.read(addr, &mut v)?;
        Ok(v)
    }

    fn word(&self, addr: u64) -> Result<u64, RemoteError> {
        let mut b = [0u8; 8];
        self.read(addr, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }
}

impl Memory for Process {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), RemoteError> {
        Process::read(self, addr, buf)
    }

    fn read_batch(&self, regions: &[(u64, usize)]) -> Result<Vec<Vec<u8>>, RemoteError> {
        Process::read_batch(self, regions)
    }
}

/// Where an instance of a class without `__slots__` keeps its attributes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum InstanceDict {
    /// 3.11 (`_PyObject_ValuesPointer`, `_PyObject_ManagedDictPointer`): two words before the
    /// GC header, `PyDictValues *` at `obj - 32` and `PyObject *dict` at `obj - 24`.
    Split { values: i64, dict: i64 },
    /// 3.12 (`_PyObject_DictOrValuesPointer`): one word at `obj - 24`, a dict, or (low bit set)
    /// a values array stored as `values - 1`.
    Tagged { at: i64 },
    /// 3.13+: with `Py_TPFLAGS_INLINE_VALUES` the values follow the object (`obj +
    /// tp_basicsize`, a `PyDictValues` whose `valid` byte says whether they are still used);
    /// otherwise, or once invalid, the dict pointer at `MANAGED_DICT_OFFSET` (-24; -8 on
    /// free-threaded builds, which have no GC header before the object).
    Inline { dict: i64 },
}

/// Offsets for reading objects (bytes), beside [`Layout`]'s str, int and type fields.
#[derive(Clone, Debug, PartialEq)]
pub struct Objects {
    /// The interpreter's `sys.modules` dict: 3.11 `interp->modules`, 3.12+
    /// `interp->imports.modules`.
    pub interp_modules: u64,
    /// `sizeof(PyObject)`: a module's `md_dict` is the first field after the header.
    pub object_size: u64,
    pub tp_basicsize: u64,
    pub tp_flags: u64,
    /// `PyHeapTypeObject.ht_cached_keys`: the keys shared by the instances' values.
    pub ht_cached_keys: u64,
    pub dict_keys: u64,
    pub dict_values: u64,
    /// Where `PyDictValues.values[]` starts: 0 in 3.11/3.12, 8 from 3.13 (after `capacity`,
    /// `size`, `embedded`, `valid`).
    pub values_items: u64,
    pub instance_dict: InstanceDict,
}

/// `PyHeapTypeObject` after its `PyTypeObject`: `PyAsyncMethods` (4 pointers),
/// `PyNumberMethods` (36), `PyMappingMethods` (3), `PySequenceMethods` (10), `PyBufferProcs` (2),
/// `ht_name`, `ht_slots`, `ht_qualname`, then `ht_cached_keys`: 58 pointers in 3.11 to 3.14.
pub const HT_CACHED_KEYS_AFTER_TYPE: u64 = 8 * (4 + 36 + 3 + 10 + 2 + 3);

// `PyDictKeysObject`, the same in 3.11 to 3.14 (free-threaded builds put a one-byte `dk_mutex`
// in the padding after `dk_kind`): `dk_refcnt` 0, `dk_log2_size` 8, `dk_log2_index_bytes` 9,
// `dk_kind` 10, `dk_version` 12, `dk_usable` 16, `dk_nentries` 24, `dk_indices` 32; the entries
// follow the `1 << dk_log2_index_bytes` bytes of indices.
const DK_LOG2_SIZE: usize = 8;
const DK_LOG2_INDEX_BYTES: usize = 9;
const DK_KIND: usize = 10;
const DK_NENTRIES: usize = 24;
const DK_INDICES: u64 = 32;
const DK_HEADER: usize = 32;
/// `DICT_KEYS_GENERAL` entries are `{me_hash, me_key, me_value}`; `UNICODE` and `SPLIT` ones
/// `{me_key, me_value}`.
const KIND_GENERAL: u8 = 0;
const KIND_SPLIT: u8 = 2;

const TPFLAGS_INLINE_VALUES: u64 = 1 << 2;
const TPFLAGS_MANAGED_DICT: u64 = 1 << 4;

/// Bigger tables than any `sys.modules` or `_active` this reads are taken as torn.
const MAX_ENTRIES: u64 = 1 << 17;
const MAX_NAME: u64 = 1024;

fn at(addr: u64, off: i64) -> u64 {
    addr.wrapping_add_signed(off)
}

fn torn(what: &str, addr: u64) -> RemoteError {
    RemoteError::Torn(format!("{what} at {addr:#x}"))
}

/// A `str` object's text (compact strings, the only kind CPython 3.12+ makes and the kind every
/// identifier and `str()` result is in 3.11).
/// A str longer than `max` characters is cut to `max` and ends in `…` (a generated function's
/// 10,000-character name stays a frame); one longer than any real str is a torn read.
pub fn read_str(m: &impl Memory, l: &Layout, addr: u64, max: u64) -> Result<String, RemoteError> {
    let head = m.read_vec(addr, l.compact_size as usize)?;
    let length = u64_at(&head, l.unicode_length as usize);
    let (kind, ascii) = str_kind(l, &head).ok_or_else(|| torn("not a compact str", addr))?;
    if length > MAX_PLAUSIBLE_STR {
        return Err(torn("implausible str length", addr));
    }
    let data = addr + if ascii { l.ascii_size } else { l.compact_size };
    let raw = m.read_vec(data, (length.min(max) * kind as u64) as usize)?;
    let mut text = decode_str(kind, &raw);
    if length > max {
        text.push('…');
    }
    Ok(text)
}

/// No str of a real program is longer (1 GiB of characters); a longer length is a torn read.
const MAX_PLAUSIBLE_STR: u64 = 1 << 30;

/// A compact str's characters from its `kind` (bytes per character) and data.
fn decode_str(kind: u32, raw: &[u8]) -> String {
    match kind {
        1 => raw.iter().map(|&b| b as char).collect(),
        2 => char::decode_utf16(
            raw.chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]])),
        )
        .map(|c| c.unwrap_or('\u{fffd}'))
        .collect(),
        _ => raw
            .chunks_exact(4)
            .map(|c| {
                char::from_u32(u32::from_le_bytes([c[0], c[1], c[2], c[3]])).unwrap_or('\u{fffd}')
            })
            .collect(),
    }
}

/// (bytes per character, ASCII) of a compact str's header, `None` when it is not one.
fn str_kind(l: &Layout, head: &[u8]) -> Option<(u32, bool)> {
    let state = u32_at(head, l.unicode_state as usize);
    let k = l.unicode_kind_shift;
    let (kind, compact, ascii) = (
        (state >> k) & 7,
        (state >> (k + 3)) & 1,
        (state >> (k + 4)) & 1,
    );
    (compact == 1 && matches!(kind, 1 | 2 | 4)).then_some((kind, ascii == 1))
}

/// An `int`'s sign and magnitude, for up to four 30-bit digits; `None` for bigger ones.
pub fn read_int(
    m: &impl Memory,
    l: &Layout,
    obj: u64,
) -> Result<Option<(bool, u128)>, RemoteError> {
    let word = m.word(obj + l.long_size)?;
    let (negative, digits) = if l.long_tagged {
        (word & 3 == 2, (word >> 3) as usize)
    } else {
        let size = word as i64;
        (size < 0, size.unsigned_abs() as usize)
    };
    if digits > 4 {
        return Ok(None);
    }
    let raw = m.read_vec(obj + l.long_digits, 4 * digits)?;
    let mut v: u128 = 0;
    for k in (0..digits).rev() {
        v = (v << 30) | (u32_at(&raw, 4 * k) & 0x3fff_ffff) as u128;
    }
    Ok(Some((negative, v)))
}

/// How many decimal digits an `int` too big for [`read_int`] has (within one), from its digit
/// count and its most significant 30-bit digit.
pub fn int_decimal_digits(m: &impl Memory, l: &Layout, obj: u64) -> Result<u64, RemoteError> {
    let word = m.word(obj + l.long_size)?;
    let digits = if l.long_tagged {
        word >> 3
    } else {
        (word as i64).unsigned_abs()
    };
    if digits == 0 || digits > 1 << 28 {
        return Err(torn("implausible int size", obj));
    }
    let top = u32_at(&m.read_vec(obj + l.long_digits + 4 * (digits - 1), 4)?, 0) & 0x3fff_ffff;
    let bits = 30 * (digits - 1) + u64::from(32 - top.leading_zeros());
    Ok((bits as f64 * std::f64::consts::LOG10_2).floor() as u64 + 1)
}

/// The `tp_name` of an object's type.
pub fn type_name(m: &impl Memory, l: &Layout, obj: u64) -> Result<String, RemoteError> {
    let t = m.word(obj + l.ob_type)?;
    let p = m.word(t + l.tp_name)?;
    let raw = m.read_vec(p, 64).or_else(|_| m.read_vec(p, 16))?;
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    Ok(String::from_utf8_lossy(&raw[..end]).into_owned())
}

/// The live (key, value) pairs of a keys table, values taken from `values` (the address of a
/// split table's `values[0]`, with room for `capacity` of them) when given.
fn table(
    m: &impl Memory,
    keys: u64,
    values: Option<(u64, u64)>,
) -> Result<Vec<(u64, u64)>, RemoteError> {
    let head = m.read_vec(keys, DK_HEADER)?;
    let (log2_size, log2_index_bytes, kind) =
        (head[DK_LOG2_SIZE], head[DK_LOG2_INDEX_BYTES], head[DK_KIND]);
    let nentries = u64_at(&head, DK_NENTRIES);
    if kind > KIND_SPLIT
        || log2_size > 30
        || !(log2_size..=log2_size + 3).contains(&log2_index_bytes)
        || nentries > MAX_ENTRIES
        || nentries > 1 << log2_size
    {
        return Err(torn("not a dict keys object", keys));
    }
    let entry = if kind == KIND_GENERAL { 24 } else { 16 };
    let (key_at, value_at) = if kind == KIND_GENERAL {
        (8, 16)
    } else {
        (0, 8)
    };
    let entries = keys + DK_INDICES + (1u64 << log2_index_bytes);
    let raw = m.read_vec(entries, (nentries * entry) as usize)?;
    let n = match values {
        Some((_, capacity)) => nentries.min(capacity),
        None => nentries,
    } as usize;
    let split_values = match values {
        Some((v, _)) => Some(m.read_vec(v, 8 * n)?),
        None => None,
    };
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let e = i * entry as usize;
        let key = u64_at(&raw, e + key_at);
        let value = match &split_values {
            Some(vals) => u64_at(vals, 8 * i),
            None => u64_at(&raw, e + value_at),
        };
        if key != 0 && value != 0 {
            out.push((key, value));
        }
    }
    Ok(out)
}

/// The live (key, value) pairs of a dict object, combined or split.
pub fn dict_items(m: &impl Memory, l: &Layout, dict: u64) -> Result<Vec<(u64, u64)>, RemoteError> {
    let o = &l.objects;
    let keys = m.word(dict + o.dict_keys)?;
    let values = m.word(dict + o.dict_values)?;
    if keys == 0 {
        return Err(torn("dict without keys", dict));
    }
    if values == 0 {
        return table(m, keys, None);
    }
    table(m, keys, Some(values_array(m, l, values)?))
}

/// A `PyDictValues *`'s first value and how many there can be.
/// The first `max` elements of a `set` or `frozenset`, in table order (as its repr lists
/// them), and how many it holds. `PySetObject` after the header: `fill`, `used`, `mask`,
/// `table` (the same in 3.11 to 3.15); a table entry is `{key, hash}`, and a removed one keeps
/// a dummy key with hash -1, which no live key has.
pub fn set_items(
    m: &impl Memory,
    l: &Layout,
    set: u64,
    max: usize,
) -> Result<(Vec<u64>, usize), RemoteError> {
    let head = m.read_vec(set + l.objects.object_size + 8, 24)?;
    let word = |i: usize| u64::from_le_bytes(head[8 * i..8 * i + 8].try_into().unwrap());
    let (used, mask, table) = (word(0), word(1), word(2));
    if used > mask.saturating_add(1) || mask >= MAX_ENTRIES << 4 || table == 0 {
        return Err(torn("not a set object", set));
    }
    let mut items = Vec::new();
    let mut at = 0u64;
    // Read in slices of 256 entries until `max` live keys are found or the table ends.
    while items.len() < max && (items.len() as u64) < used && at <= mask {
        let n = (mask + 1 - at).min(256);
        let raw = m.read_vec(table + 16 * at, 16 * n as usize)?;
        for e in raw.chunks_exact(16) {
            let key = u64::from_le_bytes(e[..8].try_into().unwrap());
            let hash = i64::from_le_bytes(e[8..].try_into().unwrap());
            if key != 0 && hash != -1 && items.len() < max {
                items.push(key);
            }
        }
        at += n;
    }
    Ok((items, used as usize))
}

fn values_array(m: &impl Memory, l: &Layout, values: u64) -> Result<(u64, u64), RemoteError> {
    let o = &l.objects;
    if o.values_items == 0 {
        // 3.11/3.12: sized for every key the shared keys can hold.
        return Ok((values, MAX_ENTRIES));
    }
    let mut capacity = [0u8; 1];
    m.read(values, &mut capacity)?;
    Ok((values + o.values_items, u64::from(capacity[0])))
}

/// The value of the first `str` key equal to `name` among `items`, reading every key's header in
/// one batch and the text only of those of the right length.
fn find_str(
    m: &impl Memory,
    l: &Layout,
    items: &[(u64, u64)],
    name: &str,
) -> Result<Option<u64>, RemoteError> {
    let regions: Vec<(u64, usize)> = items
        .iter()
        .map(|&(k, _)| (k, l.ascii_size as usize))
        .collect();
    let heads = m.read_batch(&regions)?;
    for ((key, value), head) in items.iter().zip(&heads) {
        let length = u64_at(head, l.unicode_length as usize);
        if length != name.len() as u64 || str_kind(l, head) != Some((1, true)) {
            continue;
        }
        if m.read_vec(key + l.ascii_size, name.len())? == name.as_bytes() {
            return Ok(Some(*value));
        }
    }
    Ok(None)
}

/// `dict[name]` for a `str` key.
pub fn dict_get(
    m: &impl Memory,
    l: &Layout,
    dict: u64,
    name: &str,
) -> Result<Option<u64>, RemoteError> {
    find_str(m, l, &dict_items(m, l, dict)?, name)
}

/// An instance attribute (`obj.__dict__[name]`), wherever this version keeps it.
pub fn instance_attr(
    m: &impl Memory,
    l: &Layout,
    obj: u64,
    name: &str,
) -> Result<Option<u64>, RemoteError> {
    let o = &l.objects;
    let ty = m.word(obj + l.ob_type)?;
    let head = m.read_vec(ty, (o.tp_flags.max(o.tp_basicsize) + 8) as usize)?;
    let flags = u64_at(&head, o.tp_flags as usize);
    if flags & TPFLAGS_MANAGED_DICT == 0 {
        return Ok(None);
    }
    let shared = |values: u64| -> Result<Option<u64>, RemoteError> {
        let keys = m.word(ty + o.ht_cached_keys)?;
        if keys == 0 {
            return Err(torn("managed-dict type without shared keys", ty));
        }
        find_str(
            m,
            l,
            &table(m, keys, Some(values_array(m, l, values)?))?,
            name,
        )
    };
    let dict = |d: u64| -> Result<Option<u64>, RemoteError> {
        if d == 0 {
            Ok(None)
        } else {
            dict_get(m, l, d, name)
        }
    };
    match o.instance_dict {
        InstanceDict::Split { values, dict: d } => {
            let v = m.word(at(obj, values))?;
            if v != 0 {
                return shared(v);
            }
            dict(m.word(at(obj, d))?)
        }
        InstanceDict::Tagged { at: off } => {
            let w = m.word(at(obj, off))?;
            if w & 1 == 1 {
                shared(w + 1)
            } else {
                dict(w)
            }
        }
        InstanceDict::Inline { dict: d } => {
            if flags & TPFLAGS_INLINE_VALUES != 0 {
                let basicsize = u64_at(&head, o.tp_basicsize as usize);
                if basicsize == 0 || !basicsize.is_multiple_of(8) || basicsize > 1 << 20 {
                    return Err(torn("implausible tp_basicsize", ty));
                }
                let values = obj + basicsize;
                let mut flags4 = [0u8; 4];
                m.read(values, &mut flags4)?;
                if flags4[3] != 0 {
                    // `valid`: the attributes are still here, not in a dict.
                    return shared(values);
                }
            }
            dict(m.word(at(obj, d))?)
        }
    }
}

/// Thread names from `threading._active`: ident → `Thread._name`. Threads whose name cannot be
/// read are left out; a process that never imported `threading` has none.
pub fn thread_names(
    m: &impl Memory,
    l: &Layout,
    interp: u64,
) -> Result<HashMap<u64, String>, RemoteError> {
    let mut out = HashMap::new();
    let modules = m.word(interp + l.objects.interp_modules)?;
    if modules == 0 {
        return Ok(out);
    }
    check_type(m, l, modules, "dict")?;
    let Some(threading) = dict_get(m, l, modules, "threading")? else {
        return Ok(out);
    };
    let globals = m.word(threading + l.objects.object_size)?;
    if globals == 0 {
        return Ok(out);
    }
    check_type(m, l, globals, "dict")?;
    let Some(active) = dict_get(m, l, globals, "_active")? else {
        return Ok(out);
    };
    check_type(m, l, active, "dict")?;
    let (mut int_type, mut str_type) = (None, None);
    for (key, thread) in dict_items(m, l, active)? {
        if !is_type(m, l, key, "int", &mut int_type)? {
            continue;
        }
        let Some((false, ident)) = read_int(m, l, key)? else {
            continue;
        };
        let Ok(ident) = u64::try_from(ident) else {
            continue;
        };
        // One thread's unreadable name leaves only that thread unnamed.
        let name = (|| -> Result<Option<String>, RemoteError> {
            let Some(value) = instance_attr(m, l, thread, "_name")? else {
                return Ok(None);
            };
            if !is_type(m, l, value, "str", &mut str_type)? {
                return Ok(None);
            }
            read_str(m, l, value, MAX_NAME).map(Some)
        })();
        if let Ok(Some(name)) = name {
            out.insert(ident, name);
        }
    }
    Ok(out)
}

fn check_type(m: &impl Memory, l: &Layout, obj: u64, want: &str) -> Result<(), RemoteError> {
    if type_name(m, l, obj)? == want {
        Ok(())
    } else {
        Err(torn(&format!("expected a {want}"), obj))
    }
}

/// Whether `obj` is exactly of the builtin type `want`, remembering that type's address.
fn is_type(
    m: &impl Memory,
    l: &Layout,
    obj: u64,
    want: &str,
    known: &mut Option<u64>,
) -> Result<bool, RemoteError> {
    let t = m.word(obj + l.ob_type)?;
    if let Some(k) = *known {
        return Ok(k == t);
    }
    if type_name(m, l, obj)? == want {
        *known = Some(t);
        return Ok(true);
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::Shape;
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    /// A fake address space: regions laid out by the tests, reads outside them fail like
    /// `process_vm_readv` does.
    #[derive(Default)]
    struct Fake {
        regions: RefCell<BTreeMap<u64, Vec<u8>>>,
        next: RefCell<u64>,
    }

    impl Memory for Fake {
        fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), RemoteError> {
            let regions = self.regions.borrow();
            let (start, data) = regions
                .range(..=addr)
                .next_back()
                .ok_or(RemoteError::BadAddress(addr))?;
            let off = (addr - start) as usize;
            let src = data
                .get(off..off + buf.len())
                .ok_or(RemoteError::BadAddress(addr))?;
            buf.copy_from_slice(src);
            Ok(())
        }
    }

    /// Builds each version's objects in a [`Fake`].
    struct Builder<'a> {
        m: &'a Fake,
        l: &'a Layout,
        str_type: u64,
        int_type: u64,
        dict_type: u64,
        module_type: u64,
    }

    impl<'a> Builder<'a> {
        fn new(m: &'a Fake, l: &'a Layout) -> Builder<'a> {
            *m.next.borrow_mut() = 0x10_0000;
            let mut b = Builder {
                m,
                l,
                str_type: 0,
                int_type: 0,
                dict_type: 0,
                module_type: 0,
            };
            b.str_type = b.static_type("str");
            b.int_type = b.static_type("int");
            b.dict_type = b.static_type("dict");
            b.module_type = b.static_type("module");
            b
        }

        /// `len` zero bytes at a fresh 16-aligned address, with a gap after every region.
        fn alloc(&self, len: usize) -> u64 {
            let mut next = self.m.next.borrow_mut();
            let at = *next;
            *next = (at + len as u64 + 64).next_multiple_of(16);
            self.m.regions.borrow_mut().insert(at, vec![0; len]);
            at
        }

        fn put(&self, addr: u64, bytes: &[u8]) {
            let mut regions = self.m.regions.borrow_mut();
            let (start, data) = regions.range_mut(..=addr).next_back().unwrap();
            let off = (addr - start) as usize;
            data[off..off + bytes.len()].copy_from_slice(bytes);
        }

        fn word(&self, addr: u64, v: u64) {
            self.put(addr, &v.to_le_bytes());
        }

        fn cstring(&self, s: &str) -> u64 {
            // `tp_name` is read 64 bytes at a time, as it sits in the binary's strings.
            let p = self.alloc(64.max(s.len() + 1));
            self.put(p, s.as_bytes());
            p
        }

        fn type_object(&self, name: &str, flags: u64, basicsize: u64, keys: u64) -> u64 {
            let o = &self.l.objects;
            let t = self.alloc((o.ht_cached_keys + 8) as usize);
            let name = self.cstring(name);
            self.word(t + self.l.tp_name, name);
            self.word(t + o.tp_basicsize, basicsize);
            self.word(t + o.tp_flags, flags);
            self.word(t + o.ht_cached_keys, keys);
            t
        }

        fn static_type(&self, name: &str) -> u64 {
            self.type_object(name, 0, self.l.objects.object_size, 0)
        }

        fn object(&self, ty: u64, len: u64) -> u64 {
            let p = self.alloc(len as usize);
            self.word(p + self.l.ob_type, ty);
            p
        }

        fn string(&self, s: &str) -> u64 {
            let l = self.l;
            let chars: Vec<u32> = s.chars().map(u32::from).collect();
            let max = chars.iter().copied().max().unwrap_or(0);
            let (kind, ascii) = match max {
                0..=0x7f => (1u32, true),
                0x80..=0xff => (1, false),
                0x100..=0xffff => (2, false),
                _ => (4, false),
            };
            let data = if ascii { l.ascii_size } else { l.compact_size };
            // Headers are read `compact_size` bytes at a time (short ASCII strings sit among other
            // objects): room for that.
            let len = data + kind as u64 * (chars.len() as u64 + 1);
            let p = self.object(self.str_type, len.max(l.compact_size));
            self.word(p + l.unicode_length, chars.len() as u64);
            let k = l.unicode_kind_shift;
            let state = (kind << k) | (1 << (k + 3)) | ((ascii as u32) << (k + 4));
            self.put(p + l.unicode_state, &state.to_le_bytes());
            for (i, c) in chars.iter().enumerate() {
                let at = p + data + (i as u64) * kind as u64;
                match kind {
                    1 => self.put(at, &[*c as u8]),
                    2 => self.put(at, &(*c as u16).to_le_bytes()),
                    _ => self.put(at, &c.to_le_bytes()),
                }
            }
            p
        }

        fn int(&self, v: u64) -> u64 {
            let l = self.l;
            let mut digits = Vec::new();
            let mut x = v;
            while x != 0 {
                digits.push((x & 0x3fff_ffff) as u32);
                x >>= 30;
            }
            let p = self.object(
                self.int_type,
                l.long_digits + 4 * digits.len().max(1) as u64,
            );
            let size = if l.long_tagged {
                ((digits.len() as u64) << 3) | u64::from(digits.is_empty())
            } else {
                digits.len() as u64
            };
            self.word(p + l.long_size, size);
            for (i, d) in digits.iter().enumerate() {
                self.put(p + l.long_digits + 4 * i as u64, &d.to_le_bytes());
            }
            p
        }

        /// A keys object of `kind` holding `entries` (values are 0 in a split table's keys).
        fn keys(&self, kind: u8, entries: &[(u64, u64)]) -> u64 {
            let log2_size = 6u8; // 64 slots, one-byte indices
            let index_bytes = 1u64 << log2_size;
            let entry = if kind == KIND_GENERAL { 24 } else { 16 };
            let k = self.alloc((DK_INDICES + index_bytes) as usize + entry * 42);
            self.put(k, &1u64.to_le_bytes());
            self.put(k + 8, &[log2_size, log2_size, kind]);
            self.word(k + 24, entries.len() as u64);
            let base = k + DK_INDICES + index_bytes;
            for (i, (key, value)) in entries.iter().enumerate() {
                let e = base + (i * entry) as u64;
                if kind == KIND_GENERAL {
                    self.word(e, 0x5eed); // me_hash
                    self.word(e + 8, *key);
                    self.word(e + 16, *value);
                } else {
                    self.word(e, *key);
                    self.word(e + 8, *value);
                }
            }
            k
        }

        /// A `PyDictValues` with these values; returns its address (as `ma_values` holds it).
        fn values(&self, values: &[u64]) -> u64 {
            let o = &self.l.objects;
            // 3.11/3.12 keep insertion-order bytes before the array: leave room for them.
            let p = self.alloc(16 + (o.values_items as usize) + 8 * values.len()) + 16;
            if o.values_items != 0 {
                self.put(p, &[values.len() as u8, values.len() as u8, 0, 1]);
            }
            for (i, v) in values.iter().enumerate() {
                self.word(p + o.values_items + 8 * i as u64, *v);
            }
            p
        }

        fn dict(&self, keys: u64, values: u64) -> u64 {
            let o = &self.l.objects;
            let d = self.object(self.dict_type, o.dict_values + 8);
            self.word(d + o.dict_keys, keys);
            self.word(d + o.dict_values, values);
            d
        }

        fn str_dict(&self, items: &[(&str, u64)]) -> u64 {
            let entries: Vec<(u64, u64)> =
                items.iter().map(|(k, v)| (self.string(k), *v)).collect();
            self.dict(self.keys(1, &entries), 0)
        }

        fn module(&self, globals: u64) -> u64 {
            let m = self.object(self.module_type, self.l.objects.object_size + 8);
            self.word(m + self.l.objects.object_size, globals);
            m
        }

        /// An instance of a managed-dict class whose attributes are `attrs`, stored the way
        /// `how` says.
        fn instance(&self, attrs: &[(&str, u64)], how: Storage) -> u64 {
            let o = &self.l.objects;
            let names: Vec<(u64, u64)> = attrs.iter().map(|(k, _)| (self.string(k), 0)).collect();
            let shared = self.keys(KIND_SPLIT, &names);
            let vals: Vec<u64> = attrs.iter().map(|(_, v)| *v).collect();
            let basicsize = o.object_size + if how == Storage::InlineWide { 16 } else { 0 };
            let inline = matches!(
                how,
                Storage::Inline | Storage::InlineWide | Storage::InlineInvalid
            );
            let flags = TPFLAGS_MANAGED_DICT | if inline { TPFLAGS_INLINE_VALUES } else { 0 };
            let ty = self.type_object("Thread", flags, basicsize, shared);
            // Pre-header (two words) and GC header (two words) before the object; inline values
            // after it.
            let pre = 32u64;
            let block = self.alloc((pre + basicsize + 8 + 8 * vals.len() as u64) as usize);
            let obj = block + pre;
            self.word(obj + self.l.ob_type, ty);
            let plain = || self.str_dict(attrs);
            match (o.instance_dict, how) {
                (InstanceDict::Split { values, .. }, Storage::Values) => {
                    self.word(at(obj, values), self.values(&vals))
                }
                (InstanceDict::Split { dict, .. }, Storage::Dict) => {
                    self.word(at(obj, dict), plain())
                }
                (InstanceDict::Tagged { at: off }, Storage::Values) => {
                    self.word(at(obj, off), self.values(&vals) - 1)
                }
                (InstanceDict::Tagged { at: off }, Storage::Dict) => {
                    self.word(at(obj, off), plain())
                }
                (InstanceDict::Inline { .. }, Storage::Inline | Storage::InlineWide) => {
                    let v = obj + basicsize;
                    self.put(v, &[vals.len() as u8, vals.len() as u8, 1, 1]);
                    for (i, x) in vals.iter().enumerate() {
                        self.word(v + 8 + 8 * i as u64, *x);
                    }
                }
                (InstanceDict::Inline { dict }, Storage::InlineInvalid) => {
                    // Invalidated inline values (stale contents) and the real dict.
                    let v = obj + basicsize;
                    self.put(v, &[vals.len() as u8, 0, 1, 0]);
                    for i in 0..vals.len() {
                        self.word(v + 8 + 8 * i as u64, self.string("stale"));
                    }
                    self.word(at(obj, dict), plain());
                }
                (InstanceDict::Inline { dict }, Storage::Dict) => self.word(at(obj, dict), plain()),
                (_, Storage::SharedDict) => {
                    // A materialised dict over shared keys and a values array.
                    let d = self.dict(shared, self.values(&vals));
                    match o.instance_dict {
                        InstanceDict::Split { dict, .. } | InstanceDict::Inline { dict } => {
                            self.word(at(obj, dict), d)
                        }
                        InstanceDict::Tagged { at: off } => self.word(at(obj, off), d),
                    }
                }
                (d, h) => panic!("{h:?} does not exist with {d:?}"),
            }
            obj
        }

        /// An interpreter whose `sys.modules` holds a `threading` whose `_active` maps idents
        /// to these threads; returns the interpreter's address.
        fn interpreter(&self, active: &[(u64, u64)]) -> u64 {
            let entries: Vec<(u64, u64)> = active.iter().map(|(i, t)| (self.int(*i), *t)).collect();
            let active = self.dict(self.keys(KIND_GENERAL, &entries), 0);
            let filler: Vec<(String, u64)> =
                (0..20).map(|i| (format!("name{i}"), self.int(i))).collect();
            let mut globals: Vec<(&str, u64)> =
                filler.iter().map(|(k, v)| (k.as_str(), *v)).collect();
            globals.push(("_active", active));
            globals.push(("_limbo", self.str_dict(&[])));
            let threading = self.module(self.str_dict(&globals));
            let sys = self.module(self.str_dict(&[]));
            let modules =
                self.str_dict(&[("sys", sys), ("threadin", sys), ("threading", threading)]);
            let interp = self.alloc((self.l.objects.interp_modules + 8) as usize);
            self.word(interp + self.l.objects.interp_modules, modules);
            interp
        }
    }

    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Storage {
        /// 3.11/3.12: a values array beside the object.
        Values,
        /// 3.13+: values after the object.
        Inline,
        /// 3.14: values after a `tp_basicsize` bigger than `PyObject`.
        InlineWide,
        /// 3.13+: inline values no longer valid, attributes in the managed dict.
        InlineInvalid,
        /// A plain (combined) dict.
        Dict,
        /// A materialised dict still sharing the type's keys.
        SharedDict,
    }

    fn fixture(text: &str) -> Vec<u8> {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .flat_map(|l| u64::from_str_radix(l, 16).unwrap().to_le_bytes())
            .collect()
    }

    fn v3_13(free_threaded: bool) -> Layout {
        let raw = if free_threaded {
            fixture(include_str!("../tests/fixtures/debug_offsets_3.13.5t.txt"))
        } else {
            fixture(include_str!("../tests/fixtures/debug_offsets_3.13.5.txt"))
        };
        Layout::for_version(0x030D_05F0, |_| Ok(raw)).unwrap()
    }

    /// A 3.14 block in 3.14's order, each field holding the value the captured 3.13.5 block
    /// has for it (the x86-64 struct offsets these fields name did not move), new fields 0.
    fn v3_14(free_threaded: bool) -> Layout {
        let raw = if free_threaded {
            fixture(include_str!("../tests/fixtures/debug_offsets_3.13.5t.txt"))
        } else {
            fixture(include_str!("../tests/fixtures/debug_offsets_3.13.5.txt"))
        };
        let (s13, s14) = (Shape::for_minor(13).unwrap(), Shape::for_minor(14).unwrap());
        let mut words = vec![0u64; s14.words()];
        for (i14, path) in s14.paths().enumerate() {
            if let Some(i13) = s13.index(&path) {
                words[i14] = u64_at(&raw, 8 * i13);
            }
        }
        words[1] = 0x030E_00F0;
        let mut block: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        block[0..8].copy_from_slice(b"xdebugpy");
        Layout::for_version(0x030E_00F0, |_| Ok(block)).unwrap()
    }

    fn names_with(l: &Layout, how: Storage) -> HashMap<u64, String> {
        let m = Fake::default();
        let b = Builder::new(&m, l);
        let thread = |name: &str| {
            let n = b.string(name);
            b.instance(&[("_target", 0x1), ("_name", n), ("_ident", b.int(7))], how)
        };
        let (main, worker, wide) = (
            thread("MainThread"),
            thread("worker-a"),
            thread("wörker ✓ 😀"),
        );
        let big = 0x7f3a_1c2b_d640; // pthread_t-like idents: two 30-bit digits
        let interp = b.interpreter(&[(big, main), (big + 0x80_1000, worker), (3, wide)]);
        thread_names(&m, l, interp).unwrap()
    }

    fn expected() -> HashMap<u64, String> {
        let big = 0x7f3a_1c2b_d640;
        HashMap::from([
            (big, "MainThread".to_string()),
            (big + 0x80_1000, "worker-a".to_string()),
            (3, "wörker ✓ 😀".to_string()),
        ])
    }

    #[test]
    fn reads_3_11_thread_names() {
        let l = Layout::for_version(0x030B_07F0, |_| unreachable!()).unwrap();
        for how in [Storage::Values, Storage::Dict, Storage::SharedDict] {
            assert_eq!(names_with(&l, how), expected(), "{how:?}");
        }
    }

    #[test]
    fn reads_3_12_thread_names() {
        let l = Layout::for_version(0x030C_01F0, |_| unreachable!()).unwrap();
        for how in [Storage::Values, Storage::Dict, Storage::SharedDict] {
            assert_eq!(names_with(&l, how), expected(), "{how:?}");
        }
    }

    #[test]
    fn reads_3_13_thread_names_gil_and_free_threaded() {
        for ft in [false, true] {
            let l = v3_13(ft);
            for how in [
                Storage::Inline,
                Storage::InlineInvalid,
                Storage::Dict,
                Storage::SharedDict,
            ] {
                assert_eq!(names_with(&l, how), expected(), "ft={ft} {how:?}");
            }
        }
    }

    #[test]
    fn reads_3_14_thread_names_gil_and_free_threaded() {
        for ft in [false, true] {
            let l = v3_14(ft);
            assert_eq!(l.unicode_kind_shift, if ft { 8 } else { 2 });
            for how in [
                Storage::Inline,
                Storage::InlineWide,
                Storage::InlineInvalid,
                Storage::Dict,
                Storage::SharedDict,
            ] {
                assert_eq!(names_with(&l, how), expected(), "ft={ft} {how:?}");
            }
        }
    }

    /// The object offsets of each version, as the headers give them (gcc `offsetof` on the
    /// 3.11.7, 3.12.1, 3.13.5 and 3.13.5t headers; 3.14 from its header text).
    #[test]
    fn object_offsets_match_the_headers() {
        let o = Layout::for_version(0x030B_07F0, |_| unreachable!())
            .unwrap()
            .objects;
        assert_eq!(
            (o.interp_modules, o.ht_cached_keys, o.tp_flags),
            (888, 872, 168)
        );
        let o = Layout::for_version(0x030C_01F0, |_| unreachable!())
            .unwrap()
            .objects;
        assert_eq!(
            (o.interp_modules, o.ht_cached_keys, o.tp_flags),
            (944, 880, 168)
        );
        let g = v3_13(false).objects;
        assert_eq!(
            (
                g.interp_modules,
                g.ht_cached_keys,
                g.tp_flags,
                g.tp_basicsize,
                g.object_size
            ),
            (7656, 880, 168, 32, 16)
        );
        assert_eq!((g.dict_keys, g.dict_values, g.values_items), (32, 40, 8));
        assert_eq!(g.instance_dict, InstanceDict::Inline { dict: -24 });
        let t = v3_13(true).objects;
        assert_eq!(
            (
                t.interp_modules,
                t.ht_cached_keys,
                t.tp_flags,
                t.tp_basicsize,
                t.object_size
            ),
            (7664, 896, 184, 48, 32)
        );
        assert_eq!((t.dict_keys, t.dict_values), (48, 56));
        assert_eq!(t.instance_dict, InstanceDict::Inline { dict: -8 });
        assert_eq!(v3_14(false).objects, g);
        assert_eq!(v3_14(true).objects, t);
    }

    #[test]
    fn what_cannot_be_read_is_an_error_or_left_out() {
        let l = v3_13(false);
        let m = Fake::default();
        let b = Builder::new(&m, &l);
        // No threading module: no names, no error.
        let modules = b.str_dict(&[("sys", 1)]);
        let interp = b.alloc(l.objects.interp_modules as usize + 8);
        b.word(interp + l.objects.interp_modules, modules);
        assert!(thread_names(&m, &l, interp).unwrap().is_empty());
        // A `_name` that is not a str, an instance without `_name`, a negative key, a key
        // that is not an int: those threads are left out, the others named.
        let good = b.instance(&[("_name", b.string("ok"))], Storage::Inline);
        let not_str = b.instance(&[("_name", b.int(5))], Storage::Inline);
        let unnamed = b.instance(&[("_other", b.string("x"))], Storage::Inline);
        let entries = vec![
            (b.int(1), good),
            (b.int(2), not_str),
            (b.int(3), unnamed),
            (b.string("4"), good),
        ];
        let active = b.dict(b.keys(KIND_GENERAL, &entries), 0);
        let threading = b.module(b.str_dict(&[("_active", active)]));
        let modules = b.str_dict(&[("threading", threading)]);
        b.word(interp + l.objects.interp_modules, modules);
        assert_eq!(
            thread_names(&m, &l, interp).unwrap(),
            HashMap::from([(1, "ok".to_string())])
        );
        // Garbage where a keys object should be: an error, never a name.
        let bad_keys = b.alloc(64);
        b.put(bad_keys + 8, &[40, 3, 9]);
        b.word(active + l.objects.dict_keys, bad_keys);
        assert!(thread_names(&m, &l, interp).is_err());
        // sys.modules that is not a dict.
        b.word(interp + l.objects.interp_modules, b.int(9));
        assert!(thread_names(&m, &l, interp).is_err());
        // Unmapped memory.
        b.word(interp + l.objects.interp_modules, 0xdead_0000);
        assert!(thread_names(&m, &l, interp).is_err());
    }
}
