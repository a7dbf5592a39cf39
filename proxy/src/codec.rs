//! Bounded reading and writing of Kafka wire primitives.
//!
//! This is the one place where bytes from a socket are turned into numbers, strings and
//! counts: the protocol's fields here, and the zigzag varints of record batches too
//! ([`crate::batch`] reads its records with the same [`WireReader`]). Every read checks the remaining length first and every array count is checked
//! against the bytes left (each element takes at least one byte), so a hostile count can
//! never make us reserve memory. kafka-protocol is not used on hostile bytes: it trusts wire
//! counts when reserving memory and re-encodes differently from the broker. The rewriters walk
//! the message with this reader and copy every byte they do not change.

use std::borrow::Cow;

use bytes::{BufMut, BytesMut};

/// Why a message could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    /// The message ended before a field did.
    #[error("message truncated: {field} needs {needed} bytes, {left} left")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes left in the message.
        left: usize,
    },
    /// A length, count or varint is out of range.
    #[error("invalid {field}: {detail}")]
    Invalid {
        /// The field being read.
        field: &'static str,
        /// What is wrong with it.
        detail: Cow<'static, str>,
    },
}

/// A cursor over a message body that never reads past its end.
#[derive(Debug, Clone)]
pub struct WireReader<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// The unsigned varint at `pos` of `buf` and the position after it, exactly as
/// [`WireReader::uvarlong`] reads it there; `None` where that errs. For readers that keep their
/// position in a local (the fast record reader) rather than in a `WireReader`.
#[inline(always)]
pub fn uvarlong_at(buf: &[u8], pos: usize) -> Option<(u64, usize)> {
    match short_uvarlong(buf, pos) {
        Some(read) => Some(read),
        None => uvarlong_at_long(buf, pos),
    }
}

/// A zigzag VARLONG at `pos` and the position after it, as [`WireReader::varlong`] reads it.
#[inline(always)]
pub fn varlong_at(buf: &[u8], pos: usize) -> Option<(i64, usize)> {
    uvarlong_at(buf, pos).map(|(v, next)| (zigzag(v), next))
}

/// A zigzag VARINT within 32 bits at `pos`, as [`WireReader::varint`] reads it.
#[inline(always)]
pub fn varint_at(buf: &[u8], pos: usize) -> Option<(i32, usize)> {
    let (v, next) = varlong_at(buf, pos)?;
    Some((i32::try_from(v).ok()?, next))
}

/// Zigzag decoding: 0, 1, 2, 3, ... to 0, -1, 1, -2, ...
#[inline(always)]
fn zigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// [`uvarlong_at`] past the one- and two-byte cases.
#[inline(never)]
fn uvarlong_at_long(buf: &[u8], pos: usize) -> Option<(u64, usize)> {
    let mut r = WireReader { buf, pos };
    let value = r.uvarlong_long("").ok()?;
    Some((value, r.pos))
}

/// A varint of one or two bytes at `pos` (most lengths, deltas and counts in a record) and the
/// position after it; `None` for anything else, which the callers read out of line.
#[inline(always)]
fn short_uvarlong(buf: &[u8], pos: usize) -> Option<(u64, usize)> {
    match buf.get(pos..)? {
        [b, ..] if *b < 0x80 => Some((u64::from(*b), pos + 1)),
        [b, c, ..] if *c < 0x80 => Some((u64::from(b & 0x7f) | u64::from(*c) << 7, pos + 2)),
        _ => None,
    }
}

impl<'a> WireReader<'a> {
    /// Starts reading `buf` at offset 0.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Current offset from the start of the buffer.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// The unread bytes.
    pub fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    /// Takes the next `n` bytes.
    #[inline]
    pub fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], WireError> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.buf.len());
        match end.and_then(|e| self.buf.get(self.pos..e).map(|s| (s, e))) {
            Some((slice, e)) => {
                self.pos = e;
                Ok(slice)
            }
            None => Err(WireError::Truncated {
                field,
                needed: n,
                left: self.remaining(),
            }),
        }
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], WireError> {
        let s = self.take(N, field)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    /// Reads an INT8.
    pub fn i8(&mut self, field: &'static str) -> Result<i8, WireError> {
        Ok(i8::from_be_bytes(self.array::<1>(field)?))
    }

    /// Reads an INT16.
    pub fn i16(&mut self, field: &'static str) -> Result<i16, WireError> {
        Ok(i16::from_be_bytes(self.array::<2>(field)?))
    }

    /// Reads an INT32.
    pub fn i32(&mut self, field: &'static str) -> Result<i32, WireError> {
        Ok(i32::from_be_bytes(self.array::<4>(field)?))
    }

    /// Reads an UNSIGNED_VARINT (at most 5 bytes, fits in u32).
    pub fn uvarint(&mut self, field: &'static str) -> Result<u32, WireError> {
        let mut value: u32 = 0;
        for i in 0..5 {
            let b = self.array::<1>(field)?[0];
            let part = u32::from(b & 0x7f);
            if i == 4 && part > 0x0f {
                break;
            }
            value |= part << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(WireError::Invalid {
            field,
            detail: "unsigned varint longer than 32 bits".into(),
        })
    }

    /// Reads an unsigned LEB128 varint of at most 10 bytes (the base of Kafka's zigzag
    /// VARINT and VARLONG, as record batches use them).
    #[inline(always)]
    fn uvarlong(&mut self, field: &'static str) -> Result<u64, WireError> {
        // Most lengths, deltas and counts in a record take one or two bytes: read inline, the
        // rest in a call.
        match short_uvarlong(self.buf, self.pos) {
            Some((value, next)) => {
                self.pos = next;
                Ok(value)
            }
            None => self.uvarlong_long(field),
        }
    }

    /// [`Self::uvarlong`] past its one- and two-byte cases.
    #[inline(never)]
    fn uvarlong_long(&mut self, field: &'static str) -> Result<u64, WireError> {
        let rest = self.rest();
        let mut value = 0u64;
        for (i, &b) in rest.iter().take(10).enumerate() {
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                self.pos += i + 1;
                return Ok(value);
            }
        }
        if rest.len() < 10 {
            return Err(WireError::Truncated {
                field,
                needed: rest.len() + 1,
                left: rest.len(),
            });
        }
        Err(invalid(field, "varint longer than 10 bytes"))
    }

    /// Reads a zigzag VARLONG.
    #[inline]
    pub fn varlong(&mut self, field: &'static str) -> Result<i64, WireError> {
        self.uvarlong(field).map(zigzag)
    }

    /// Reads a zigzag VARINT, which must fit in 32 bits.
    #[inline(always)]
    pub fn varint(&mut self, field: &'static str) -> Result<i32, WireError> {
        i32::try_from(self.varlong(field)?)
            .map_err(|_| invalid(field, "varint out of 32-bit range"))
    }

    /// Reads a VARINT length followed by that many bytes (record keys, values, headers);
    /// -1 means null.
    #[inline(always)]
    pub fn varint_bytes(&mut self, field: &'static str) -> Result<Option<&'a [u8]>, WireError> {
        match self.varint(field)? {
            -1 => Ok(None),
            n if n < 0 => Err(invalid(field, "negative length")),
            n => self.take(n as usize, field).map(Some),
        }
    }

    /// Reads a STRING or NULLABLE_STRING (INT16 length, -1 = null); `None` for null.
    pub fn string(&mut self, field: &'static str) -> Result<Option<&'a [u8]>, WireError> {
        match self.i16(field)? {
            -1 => Ok(None),
            n if n >= 0 => self.take(n as usize, field).map(Some),
            n => Err(invalid(field, format!("negative length {n}"))),
        }
    }

    /// Reads a COMPACT_STRING or COMPACT_NULLABLE_STRING (length + 1 as varint, 0 = null).
    pub fn compact_string(&mut self, field: &'static str) -> Result<Option<&'a [u8]>, WireError> {
        match self.uvarint(field)? {
            0 => Ok(None),
            n => self.take((n - 1) as usize, field).map(Some),
        }
    }

    /// Reads a string in the flexible or classic encoding.
    pub fn any_string(
        &mut self,
        flexible: bool,
        field: &'static str,
    ) -> Result<Option<&'a [u8]>, WireError> {
        if flexible {
            self.compact_string(field)
        } else {
            self.string(field)
        }
    }

    /// Reads an ARRAY or COMPACT_ARRAY count; null arrays count as 0. The count is checked
    /// against the bytes left, with each element taking at least `min_element_bytes`.
    pub fn array_len(
        &mut self,
        flexible: bool,
        min_element_bytes: usize,
        field: &'static str,
    ) -> Result<usize, WireError> {
        let n: usize = if flexible {
            match self.uvarint(field)? {
                0 => 0,
                n => (n - 1) as usize,
            }
        } else {
            match self.i32(field)? {
                -1 => 0,
                n if n >= 0 => n as usize,
                n => return Err(invalid(field, format!("negative count {n}"))),
            }
        };
        let min_bytes = n.saturating_mul(min_element_bytes.max(1));
        if min_bytes > self.remaining() {
            return Err(invalid(
                field,
                format!("count {n} cannot fit in {} bytes", self.remaining()),
            ));
        }
        Ok(n)
    }

    /// Reads a tagged-field section and returns each (tag, value) in wire order.
    pub fn tagged_fields(&mut self) -> Result<Vec<(u32, &'a [u8])>, WireError> {
        let n = self.uvarint("tagged field count")? as usize;
        if n.saturating_mul(2) > self.remaining() {
            return Err(invalid("tagged field count", format!("{n} cannot fit")));
        }
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let tag = self.uvarint("tag")?;
            let size = self.uvarint("tagged field size")? as usize;
            out.push((tag, self.take(size, "tagged field")?));
        }
        Ok(out)
    }

    /// Skips a tagged-field section.
    pub fn skip_tagged_fields(&mut self) -> Result<(), WireError> {
        self.tagged_fields().map(|_| ())
    }
}

fn invalid(field: &'static str, detail: impl Into<Cow<'static, str>>) -> WireError {
    WireError::Invalid {
        field,
        detail: detail.into(),
    }
}

/// Appends an UNSIGNED_VARINT.
pub fn put_uvarint(out: &mut BytesMut, mut v: u32) {
    while v >= 0x80 {
        out.put_u8((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.put_u8(v as u8);
}

/// Appends a string in the flexible (compact) or classic encoding; `None` writes null.
/// A string longer than the encoding allows (32,767 bytes classic) is cut so that the length
/// written always matches the bytes written: a frame is never left inconsistent.
pub fn put_string(out: &mut BytesMut, flexible: bool, s: Option<&[u8]>) {
    match (flexible, s) {
        (true, None) => put_uvarint(out, 0),
        (true, Some(s)) => {
            let s = &s[..s.len().min(u32::MAX as usize - 1)];
            put_uvarint(out, (s.len() + 1) as u32);
            out.put_slice(s);
        }
        (false, None) => out.put_i16(-1),
        (false, Some(s)) => {
            let s = &s[..s.len().min(i16::MAX as usize)];
            out.put_i16(s.len() as i16);
            out.put_slice(s);
        }
    }
}

/// Appends an ARRAY or COMPACT_ARRAY count.
pub fn put_array_len(out: &mut BytesMut, flexible: bool, n: usize) {
    if flexible {
        put_uvarint(out, n.saturating_add(1).min(u32::MAX as usize) as u32);
    } else {
        out.put_i32(n.min(i32::MAX as usize) as i32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn an_overlong_classic_string_is_cut_to_match_its_length() {
        let long = vec![b'x'; 40_000];
        let mut out = BytesMut::new();
        put_string(&mut out, false, Some(&long));
        assert_eq!(out.len(), 2 + i16::MAX as usize);
        let mut r = WireReader::new(&out);
        assert_eq!(
            r.string("s").unwrap().map(<[u8]>::len),
            Some(i16::MAX as usize)
        );
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn varint_round_trip_and_limits() {
        for v in [0u32, 1, 127, 128, 300, 16_384, u32::MAX] {
            let mut out = BytesMut::new();
            put_uvarint(&mut out, v);
            assert_eq!(WireReader::new(&out).uvarint("v"), Ok(v));
        }
        // Six continuation bytes never fit in 32 bits.
        let long = [0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert!(WireReader::new(&long).uvarint("v").is_err());
    }

    #[test]
    fn hostile_counts_are_refused_before_allocating() {
        let buf = [0x7f, 0xff, 0xff, 0xff, 0, 0];
        let err = WireReader::new(&buf).array_len(false, 4, "brokers");
        assert!(matches!(err, Err(WireError::Invalid { .. })));
    }

    #[test]
    fn strings_in_both_encodings() {
        let mut out = BytesMut::new();
        put_string(&mut out, false, Some(b"abc"));
        put_string(&mut out, true, Some(b"de"));
        put_string(&mut out, true, None);
        put_string(&mut out, false, None);
        let mut r = WireReader::new(&out);
        assert_eq!(r.string("a"), Ok(Some(&b"abc"[..])));
        assert_eq!(r.compact_string("b"), Ok(Some(&b"de"[..])));
        assert_eq!(r.compact_string("c"), Ok(None));
        assert_eq!(r.string("d"), Ok(None));
        assert_eq!(r.remaining(), 0);
    }

    /// The kind of a read error, without the byte counts a truncation reports.
    fn kind<T>(r: Result<T, WireError>) -> Result<T, &'static str> {
        r.map_err(|e| match e {
            WireError::Truncated { .. } => "truncated",
            WireError::Invalid { .. } => "invalid",
        })
    }

    proptest! {
        #[test]
        fn uvarlong_agrees_with_the_byte_at_a_time_reading(
            bytes in proptest::collection::vec(any::<u8>(), 0..14),
            skip in 0usize..3,
        ) {
            // The plain reading: one checked byte at a time, at most 10.
            let reference = |c: &mut WireReader<'_>| -> Result<u64, WireError> {
                let mut value = 0u64;
                for i in 0..10 {
                    let b = c.i8("t")? as u8;
                    value |= u64::from(b & 0x7f) << (7 * i);
                    if b & 0x80 == 0 {
                        return Ok(value);
                    }
                }
                Err(invalid("t", "varint longer than 10 bytes"))
            };
            let mut fast = WireReader::new(&bytes);
            let mut plain = WireReader::new(&bytes);
            let skip = skip.min(bytes.len());
            fast.take(skip, "t").unwrap();
            plain.take(skip, "t").unwrap();
            let (a, b) = (kind(fast.uvarlong("t")), kind(reference(&mut plain)));
            prop_assert_eq!(&a, &b);
            if a.is_ok() {
                prop_assert_eq!(fast.remaining(), plain.remaining());
            }
        }

        #[test]
        fn uvarlong_at_reads_as_the_reader_does_at_any_position(
            bytes in proptest::collection::vec(any::<u8>(), 0..14),
            pos in 0usize..16,
        ) {
            // Past the end included: the reader then refuses, and so must `uvarlong_at`.
            let mut reader = WireReader { buf: &bytes, pos };
            let expected = reader.uvarlong("t").ok().map(|value| (value, reader.pos));
            prop_assert_eq!(uvarlong_at(&bytes, pos), expected);
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut r = WireReader::new(&bytes);
            let _ = r.tagged_fields();
            let mut r = WireReader::new(&bytes);
            let _ = r.array_len(true, 1, "a");
            let _ = r.compact_string("s");
            let _ = r.string("s");
            let _ = r.i32("i");
        }
    }
}
