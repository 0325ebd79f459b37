//! The subset of CPython's `marshal` format that pstats files use (any marshal version), and a
//! writer for the smallest encoding of it. See `Python/marshal.c` for the type codes.

use crate::PstatsError;

/// A decoded marshal value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    Dict(Vec<(Value, Value)>),
}

impl Value {
    pub fn kind(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::Tuple(_) => "tuple",
            Value::List(_) => "list",
            Value::Dict(_) => "dict",
        }
    }
}

const FLAG_REF: u8 = 0x80;
/// Deeper nesting than any pstats file has; stops hostile input from exhausting the stack.
const MAX_DEPTH: usize = 64;

/// Decodes one marshal value that must fill `data` exactly.
pub fn read(data: &[u8]) -> Result<Value, PstatsError> {
    let mut r = Reader {
        data,
        pos: 0,
        refs: Vec::new(),
    };
    let v = r.value(0)?;
    if r.pos != data.len() {
        return Err(PstatsError::Malformed(format!(
            "{} bytes of trailing data after the stats dictionary",
            data.len() - r.pos
        )));
    }
    Ok(v)
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    refs: Vec<Option<Value>>,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], PstatsError> {
        let end = self.pos.checked_add(n).ok_or(PstatsError::Truncated)?;
        let s = self.data.get(self.pos..end).ok_or(PstatsError::Truncated)?;
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, PstatsError> {
        Ok(self.take(1)?[0])
    }

    fn i32(&mut self) -> Result<i32, PstatsError> {
        Ok(i32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }

    fn len(&mut self) -> Result<usize, PstatsError> {
        let n = self.i32()?;
        let n = usize::try_from(n).map_err(|_| malformed("negative length"))?;
        // A length can never exceed what is left; checking here avoids huge allocations.
        if n > self.data.len() - self.pos {
            return Err(PstatsError::Truncated);
        }
        Ok(n)
    }

    fn string(&mut self, n: usize) -> Result<String, PstatsError> {
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| malformed("a string is not valid UTF-8"))
    }

    fn value(&mut self, depth: usize) -> Result<Value, PstatsError> {
        if depth > MAX_DEPTH {
            return Err(malformed("nesting is too deep"));
        }
        let code = self.u8()?;
        let flag = code & FLAG_REF != 0;
        let slot = if flag {
            self.refs.push(None);
            Some(self.refs.len() - 1)
        } else {
            None
        };
        let v = match code & !FLAG_REF {
            b'N' => Value::None,
            b'T' => Value::Bool(true),
            b'F' => Value::Bool(false),
            b'i' => Value::Int(self.i32()? as i64),
            b'l' => {
                let n = self.i32()?;
                let digits = n.unsigned_abs() as usize;
                if digits > 4 {
                    return Err(malformed("an integer is larger than 64 bits"));
                }
                let mut acc: i128 = 0;
                for k in 0..digits {
                    let d = u16::from_le_bytes(self.take(2)?.try_into().unwrap());
                    if d >= 1 << 15 {
                        return Err(malformed("bad digit in a long integer"));
                    }
                    acc |= (d as i128) << (15 * k);
                }
                let acc = if n < 0 { -acc } else { acc };
                Value::Int(
                    i64::try_from(acc)
                        .map_err(|_| malformed("an integer is larger than 64 bits"))?,
                )
            }
            b'g' => Value::Float(f64::from_le_bytes(self.take(8)?.try_into().unwrap())),
            b'f' => {
                let n = self.u8()? as usize;
                let s = self.string(n)?;
                Value::Float(s.trim().parse().map_err(|_| malformed("bad float"))?)
            }
            b'u' | b't' | b'a' | b'A' => {
                let n = self.len()?;
                Value::Str(self.string(n)?)
            }
            b'z' | b'Z' => {
                let n = self.u8()? as usize;
                Value::Str(self.string(n)?)
            }
            b's' => {
                let n = self.len()?;
                Value::Bytes(self.take(n)?.to_vec())
            }
            b')' => {
                let n = self.u8()? as usize;
                Value::Tuple(self.items(n, depth)?)
            }
            b'(' => {
                let n = self.len()?;
                Value::Tuple(self.items(n, depth)?)
            }
            b'[' => {
                let n = self.len()?;
                Value::List(self.items(n, depth)?)
            }
            b'{' => {
                let mut entries = Vec::new();
                loop {
                    if self.data.get(self.pos) == Some(&b'0') {
                        self.pos += 1;
                        break;
                    }
                    let k = self.value(depth + 1)?;
                    let v = self.value(depth + 1)?;
                    entries.push((k, v));
                }
                Value::Dict(entries)
            }
            b'r' => {
                let i =
                    usize::try_from(self.i32()?).map_err(|_| malformed("bad back-reference"))?;
                match self.refs.get(i) {
                    Some(Some(v)) => v.clone(),
                    _ => return Err(malformed("bad back-reference")),
                }
            }
            other => {
                return Err(malformed(&format!(
                    "unexpected marshal type code 0x{other:02x}"
                )));
            }
        };
        if let Some(i) = slot {
            self.refs[i] = Some(v.clone());
        }
        Ok(v)
    }

    fn items(&mut self, n: usize, depth: usize) -> Result<Vec<Value>, PstatsError> {
        let mut v = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            v.push(self.value(depth + 1)?);
        }
        Ok(v)
    }
}

fn malformed(msg: &str) -> PstatsError {
    PstatsError::Malformed(msg.to_string())
}

/// Writes marshal data with the codes every Python 3 `marshal.load` accepts.
#[derive(Default)]
pub(crate) struct Writer {
    out: Vec<u8>,
}

impl Writer {
    pub fn into_bytes(self) -> Vec<u8> {
        self.out
    }

    pub fn dict_start(&mut self) {
        self.out.push(b'{');
    }

    pub fn dict_end(&mut self) {
        self.out.push(b'0');
    }

    pub fn tuple_start(&mut self, n: u8) {
        self.out.push(b')');
        self.out.push(n);
    }

    pub fn str(&mut self, s: &str) {
        self.out.push(b'u');
        self.out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.out.extend_from_slice(s.as_bytes());
    }

    pub fn int(&mut self, n: u64) {
        if let Ok(small) = i32::try_from(n) {
            self.out.push(b'i');
            self.out.extend_from_slice(&small.to_le_bytes());
            return;
        }
        let mut digits = Vec::new();
        let mut v = n;
        while v > 0 {
            digits.push((v & 0x7fff) as u16);
            v >>= 15;
        }
        self.out.push(b'l');
        self.out
            .extend_from_slice(&(digits.len() as i32).to_le_bytes());
        for d in digits {
            self.out.extend_from_slice(&d.to_le_bytes());
        }
    }

    pub fn float(&mut self, f: f64) {
        self.out.push(b'g');
        self.out.extend_from_slice(&f.to_le_bytes());
    }

    pub fn func_key(&mut self, key: &dziura_model::FuncKey) {
        self.tuple_start(3);
        self.str(&key.file);
        self.int(key.line as u64);
        self.str(&key.name);
    }
}
