//! Line numbers from a code object's location table (3.11+ `co_linetable`; format described in
//! CPython's InternalDocs/code_objects.md): entries of `1 | code(4) | length-1(3)` followed by
//! varint data, each covering `length` code units.

/// The line of the instruction at code-unit `index`, or `None` when it has no location.
pub fn line_for(table: &[u8], first_line: u32, index: usize) -> Option<u32> {
    let mut line = first_line as i64;
    let mut unit = 0usize;
    let mut i = 0usize;
    while i < table.len() {
        let head = table[i];
        if head & 0x80 == 0 {
            return None; // not at an entry start: a torn or foreign table
        }
        i += 1;
        let code = (head >> 3) & 0x0f;
        let len = (head & 0x07) as usize + 1;
        let mut has_line = true;
        match code {
            15 => has_line = false,
            14 => {
                line += svarint(table, &mut i)?;
                varint(table, &mut i)?;
                varint(table, &mut i)?;
                varint(table, &mut i)?;
            }
            13 => line += svarint(table, &mut i)?,
            10..=12 => {
                line += (code - 10) as i64;
                i += 2;
            }
            _ => i += 1,
        }
        if index < unit + len {
            return (has_line && line > 0).then_some(line as u32);
        }
        unit += len;
    }
    None
}

fn varint(t: &[u8], i: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    let mut shift = 0;
    loop {
        let b = *t.get(*i)?;
        *i += 1;
        value |= ((b & 63) as u64) << shift;
        if b & 64 == 0 {
            return Some(value);
        }
        shift += 6;
        if shift > 60 {
            return None;
        }
    }
}

fn svarint(t: &[u8], i: &mut usize) -> Option<i64> {
    let v = varint(t, i)?;
    Some(if v & 1 == 1 {
        -((v >> 1) as i64)
    } else {
        (v >> 1) as i64
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `co_linetable` of `def f():\n    x = 1\n    return x` (defined at line 2), captured on
    /// 3.11 with `list(f.__code__.co_linetable)`; `dis` gives the lines 2, 3, 3, 4, 4.
    #[test]
    fn decodes_a_captured_table() {
        let table = [128, 0, 216, 8, 9, 128, 65, 216, 11, 12, 128, 72];
        let lines: Vec<_> = (0..5).map(|i| line_for(&table, 2, i)).collect();
        assert_eq!(lines, [Some(2), Some(3), Some(3), Some(4), Some(4)]);
        assert_eq!(line_for(&table, 2, 99), None);
        assert_eq!(line_for(&[0x00, 0x01], 1, 0), None);
        assert_eq!(line_for(&[0xf8], 1, 0), None); // code 15: no location
    }

    #[test]
    fn long_and_no_column_forms() {
        // code 14 (long): Δline +5 → svarint 10, end-line, col+1, endcol+1; code 13: Δline -2.
        let table = [0x80 | (14 << 3), 10, 0, 1, 1, 0x80 | (13 << 3), 5];
        assert_eq!(line_for(&table, 10, 0), Some(15));
        assert_eq!(line_for(&table, 10, 1), Some(13));
    }
}
