//! Zigzag varints as Kafka's record format uses them, read from a bounded cursor.

use super::BatchError;

/// A forward-only reader over a byte slice that never reads past its end.
#[derive(Debug, Clone)]
pub struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Takes the next `n` bytes.
    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], BatchError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or(BatchError::Truncated(what))?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    /// Reads one byte.
    pub fn u8(&mut self, what: &'static str) -> Result<u8, BatchError> {
        Ok(self.take(1, what)?[0])
    }

    /// Reads an unsigned LEB128 varint of at most 10 bytes.
    fn uvarint(&mut self, what: &'static str) -> Result<u64, BatchError> {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        // Most lengths, deltas and counts take one byte.
        if let Some(&b) = rest.first() {
            if b < 0x80 {
                self.pos += 1;
                return Ok(u64::from(b));
            }
        }
        let mut value = 0u64;
        for (i, &b) in rest.iter().take(10).enumerate() {
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                self.pos += i + 1;
                return Ok(value);
            }
        }
        if rest.len() < 10 {
            return Err(BatchError::Truncated(what));
        }
        Err(BatchError::Malformed(what, "varint longer than 10 bytes"))
    }

    /// Reads a zigzag varlong.
    pub fn varlong(&mut self, what: &'static str) -> Result<i64, BatchError> {
        let v = self.uvarint(what)?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    /// Reads a zigzag varint that must fit in 32 bits.
    pub fn varint(&mut self, what: &'static str) -> Result<i32, BatchError> {
        i32::try_from(self.varlong(what)?)
            .map_err(|_| BatchError::Malformed(what, "varint out of 32-bit range"))
    }

    /// Reads a varint length followed by that many bytes; -1 means null.
    pub fn nullable_bytes(&mut self, what: &'static str) -> Result<Option<&'a [u8]>, BatchError> {
        let len = self.varint(what)?;
        match len {
            -1 => Ok(None),
            n if n < 0 => Err(BatchError::Malformed(what, "negative length")),
            n => Ok(Some(self.take(n as usize, what)?)),
        }
    }
}

/// Appends a zigzag varlong.
pub fn put_varlong(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// Appends a zigzag varint.
pub fn put_varint(out: &mut Vec<u8>, v: i32) {
    put_varlong(out, i64::from(v));
}

/// Appends a varint length and the bytes, or -1 for null.
pub fn put_nullable_bytes(out: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        None => put_varint(out, -1),
        Some(b) => {
            put_varlong(out, b.len() as i64);
            out.extend_from_slice(b);
        }
    }
}

/// Bytes a zigzag varlong takes on the wire.
pub fn varlong_len(v: i64) -> usize {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    let mut n = 1;
    while z >= 0x80 {
        z >>= 7;
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn golden_varints() {
        let cases: &[(i64, &[u8])] = &[
            (0, &[0x00]),
            (-1, &[0x01]),
            (1, &[0x02]),
            (63, &[0x7e]),
            (-64, &[0x7f]),
            (64, &[0x80, 0x01]),
            (300, &[0xd8, 0x04]),
        ];
        for (v, bytes) in cases {
            let mut out = Vec::new();
            put_varlong(&mut out, *v);
            assert_eq!(&out, bytes, "encoding {v}");
            assert_eq!(Cursor::new(bytes).varlong("t").unwrap(), *v);
            assert_eq!(varlong_len(*v), bytes.len());
        }
    }

    #[test]
    fn overlong_varint_is_an_error() {
        let bytes = [0xffu8; 11];
        assert!(Cursor::new(&bytes).varlong("t").is_err());
    }

    proptest! {
        #[test]
        fn varlong_round_trips(v in any::<i64>()) {
            let mut out = Vec::new();
            put_varlong(&mut out, v);
            prop_assert_eq!(out.len(), varlong_len(v));
            let mut c = Cursor::new(&out);
            prop_assert_eq!(c.varlong("t").unwrap(), v);
            prop_assert_eq!(c.remaining(), 0);
        }

        #[test]
        fn uvarint_agrees_with_the_byte_at_a_time_reading(
            bytes in proptest::collection::vec(any::<u8>(), 0..14),
            skip in 0usize..3,
        ) {
            // The plain reading: one checked byte at a time, at most 10.
            let reference = |c: &mut Cursor<'_>| -> Result<u64, BatchError> {
                let mut value = 0u64;
                for i in 0..10 {
                    let b = c.u8("t")?;
                    value |= u64::from(b & 0x7f) << (7 * i);
                    if b & 0x80 == 0 {
                        return Ok(value);
                    }
                }
                Err(BatchError::Malformed("t", "varint longer than 10 bytes"))
            };
            let mut fast = Cursor::new(&bytes);
            let mut plain = Cursor::new(&bytes);
            let skip = skip.min(bytes.len());
            fast.take(skip, "t").unwrap();
            plain.take(skip, "t").unwrap();
            let (a, b) = (fast.uvarint("t"), reference(&mut plain));
            prop_assert_eq!(&a, &b);
            if a.is_ok() {
                prop_assert_eq!(fast.remaining(), plain.remaining());
            }
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..32)) {
            let mut c = Cursor::new(&bytes);
            let _ = c.nullable_bytes("t");
            let _ = c.varint("t");
        }
    }
}
