//! One record inside a v2 batch, borrowed from the (decompressed) batch bytes.

use super::BatchError;
use crate::codec::{varint_at, varlong_at, WireReader};

/// A record's fields as slices of the batch; nothing is copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    /// Record attributes (unused by Kafka today).
    pub attributes: i8,
    /// Timestamp relative to the batch's base timestamp.
    pub timestamp_delta: i64,
    /// Offset relative to the batch's base offset.
    pub offset_delta: i32,
    /// Key bytes, or None for a null key.
    pub key: Option<&'a [u8]>,
    /// Value bytes, or None for a null value (a tombstone).
    pub value: Option<&'a [u8]>,
    /// Number of headers in `headers_raw`.
    pub header_count: i32,
    /// The encoded headers, kept raw so that duplicates and order survive untouched.
    pub headers_raw: &'a [u8],
}

/// One record header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    /// Header key (UTF-8 by convention, not checked).
    pub key: &'a [u8],
    /// Header value, or None.
    pub value: Option<&'a [u8]>,
}

impl<'a> Record<'a> {
    /// Reads one length-prefixed record from the cursor.
    ///
    /// A well-formed record is read by [`Self::read_fast`], which only says whether it could;
    /// anything else is read again by [`Self::read_checked`], which names what is wrong.
    #[inline]
    pub(super) fn read(cursor: &mut WireReader<'a>) -> Result<Self, BatchError> {
        match Self::read_fast(cursor.rest()) {
            Some((record, used)) => {
                cursor.take(used, "record")?;
                Ok(record)
            }
            None => Self::read_checked(cursor),
        }
    }

    /// The record at the start of `buf` and the bytes it takes, when it is well-formed: the
    /// same reads as [`Self::read_checked`], with every refusal a plain `None` (the checked
    /// reader names it). The position is a local and every read a free function, so the walk
    /// stays in registers.
    #[inline]
    pub(super) fn read_fast(buf: &'a [u8]) -> Option<(Self, usize)> {
        let (len, start) = varint_at(buf, 0)?;
        let end = start.checked_add(usize::try_from(len).ok()?)?;
        let record = buf.get(start..end)?;
        let (&attributes, _) = record.split_first()?;
        let (timestamp_delta, pos) = varlong_at(record, 1)?;
        let (offset_delta, pos) = varint_at(record, pos)?;
        let (key, pos) = bytes_at(record, pos)?;
        let (value, pos) = bytes_at(record, pos)?;
        let (header_count, headers_start) = varint_at(record, pos)?;
        let mut pos = headers_start;
        // Every header takes at least two bytes, so the loop ends within the record.
        for _ in 0..header_count {
            let (header_key, after) = bytes_at(record, pos)?;
            header_key?;
            (_, pos) = bytes_at(record, after)?;
        }
        let headers_raw = record.get(headers_start..pos)?;
        (pos == record.len() && header_count >= 0).then_some((
            Self {
                attributes: attributes as i8,
                timestamp_delta,
                offset_delta,
                key,
                value,
                header_count,
                headers_raw,
            },
            end,
        ))
    }

    /// Reads one length-prefixed record from the cursor, naming the first thing wrong.
    pub(super) fn read_checked(cursor: &mut WireReader<'a>) -> Result<Self, BatchError> {
        let len = cursor.varint("record length")?;
        if len < 0 {
            return Err(BatchError::malformed("record length", "negative length"));
        }
        let mut c = WireReader::new(cursor.take(len as usize, "record")?);
        let attributes = c.i8("record attributes")?;
        let timestamp_delta = c.varlong("timestamp delta")?;
        let offset_delta = c.varint("offset delta")?;
        let key = c.varint_bytes("record key")?;
        let value = c.varint_bytes("record value")?;
        let header_count = c.varint("header count")?;
        if header_count < 0 {
            return Err(BatchError::malformed("header count", "negative count"));
        }
        let headers_start = c.clone();
        for _ in 0..header_count {
            let k = c.varint_bytes("header key")?;
            if k.is_none() {
                return Err(BatchError::malformed("header key", "null header key"));
            }
            c.varint_bytes("header value")?;
        }
        let used = headers_start.remaining() - c.remaining();
        let headers_raw = headers_start.clone().take(used, "headers")?;
        if c.remaining() != 0 {
            return Err(BatchError::malformed("record", "bytes after the headers"));
        }
        Ok(Self {
            attributes,
            timestamp_delta,
            offset_delta,
            key,
            value,
            header_count,
            headers_raw,
        })
    }

    /// Iterates the headers in wire order, duplicates included.
    pub fn headers(&self) -> impl Iterator<Item = Header<'a>> + 'a {
        let mut c = WireReader::new(self.headers_raw);
        (0..self.header_count).map_while(move |_| {
            let key = c.varint_bytes("header key").ok().flatten()?;
            let value = c.varint_bytes("header value").ok()?;
            Some(Header { key, value })
        })
    }
}

/// A VARINT length (-1: null) and its bytes at `pos`, as [`WireReader::varint_bytes`] reads them.
#[inline(always)]
fn bytes_at(buf: &[u8], pos: usize) -> Option<(Option<&[u8]>, usize)> {
    match varint_at(buf, pos)? {
        (-1, next) => Some((None, next)),
        (n, next) => {
            let end = next.checked_add(usize::try_from(n).ok()?)?;
            Some((Some(buf.get(next..end)?), end))
        }
    }
}
