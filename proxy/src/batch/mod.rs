//! Kafka record batches (magic v2): a bounded, zero-copy reader and an encoder for the subset
//! of records the proxy forwards after quarantining others.
//!
//! The proxy reads a batch only to inspect it; when every record is valid it forwards the
//! client's original bytes untouched, so nothing here is on the path of a clean batch except
//! [`RecordBatch::parse`] and [`RecordBatch::records`].

mod compression;
mod encode;
mod record;
mod varint;

pub use compression::{compress, decompress, Compression};
pub use encode::encode_batch;
pub use record::{Header, Record};

use std::borrow::Cow;

use crate::codec::{WireError, WireReader};

/// Size of the fixed v2 batch header, from base offset to record count.
pub const HEADER_LEN: usize = 61;

/// Records declared by the batch headers in `bytes`, read at fixed offsets without decoding
/// (for counting pass-through traffic); stops at the first header that does not fit.
pub fn record_count(mut bytes: &[u8]) -> usize {
    let mut total = 0usize;
    while let (Some(len), Some(count)) = (bytes.get(8..12), bytes.get(57..61)) {
        let len = i32::from_be_bytes([len[0], len[1], len[2], len[3]]);
        let count = i32::from_be_bytes([count[0], count[1], count[2], count[3]]);
        total = total.saturating_add(usize::try_from(count).unwrap_or(0));
        match usize::try_from(len)
            .ok()
            .and_then(|l| l.checked_add(12))
            .and_then(|end| bytes.get(end..))
        {
            Some(rest) => bytes = rest,
            None => break,
        }
    }
    total
}

/// Limits applied while reading batches from a client.
#[derive(Debug, Clone, Copy)]
pub struct BatchLimits {
    /// Largest decompressed size of one batch's records.
    pub max_decompressed_bytes: usize,
    /// Largest number of records in one batch.
    pub max_records: usize,
}

impl Default for BatchLimits {
    fn default() -> Self {
        Self {
            max_decompressed_bytes: 64 << 20,
            max_records: 1 << 20,
        }
    }
}

/// Why bytes are not a record batch the proxy can inspect.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// The bytes end before `0` is complete.
    #[error("record batch truncated in {0}")]
    Truncated(&'static str),
    /// A field has an impossible value.
    #[error("record batch malformed in {0}: {1}")]
    Malformed(&'static str, Cow<'static, str>),
    /// Message format v0/v1 (pre-0.11 clients): not inspected.
    #[error("legacy message format v{0} is not supported on enforced topics")]
    LegacyFormat(i8),
    /// The decompressor failed or exceeded its limit.
    #[error("{0} decompression failed: {1}")]
    Decompress(&'static str, String),
    /// More records than the limit allows.
    #[error("batch declares {0} records, over the limit")]
    TooManyRecords(i64),
}

impl BatchError {
    /// [`BatchError::Malformed`] with a fixed detail.
    pub const fn malformed(field: &'static str, detail: &'static str) -> Self {
        Self::Malformed(field, Cow::Borrowed(detail))
    }
}

/// The records are read with the proxy's one bounded reader; its errors keep their field.
impl From<WireError> for BatchError {
    fn from(e: WireError) -> Self {
        match e {
            WireError::Truncated { field, .. } => Self::Truncated(field),
            WireError::Invalid { field, detail } => Self::Malformed(field, detail),
        }
    }
}

/// The fixed header of a v2 record batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Offset of the first record (0 from producers).
    pub base_offset: i64,
    /// Leader epoch (-1 from producers).
    pub partition_leader_epoch: i32,
    /// Batch attributes: codec, timestamp type, transactional, control.
    pub attributes: i16,
    /// Offset delta of the last record.
    pub last_offset_delta: i32,
    /// Timestamp of the first record.
    pub base_timestamp: i64,
    /// Largest timestamp in the batch.
    pub max_timestamp: i64,
    /// Idempotent producer id, or -1.
    pub producer_id: i64,
    /// Producer epoch, or -1.
    pub producer_epoch: i16,
    /// Sequence of the first record, or -1.
    pub base_sequence: i32,
    /// Number of records.
    pub record_count: i32,
}

impl BatchHeader {
    /// The header of a batch from a plain (not idempotent) producer, as a template for
    /// [`encode_batch`], which fills in the counts and the largest timestamp: no producer id
    /// or sequence, offsets from 0, no codec or transaction bits.
    pub fn plain(base_timestamp: i64) -> Self {
        Self {
            base_offset: 0,
            partition_leader_epoch: -1,
            attributes: 0,
            last_offset_delta: 0,
            base_timestamp,
            max_timestamp: base_timestamp,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            record_count: 0,
        }
    }

    /// True when the batch comes from an idempotent or transactional producer, whose sequence
    /// numbers forbid dropping records from it.
    pub fn has_sequences(&self) -> bool {
        self.producer_id >= 0 || self.is_transactional()
    }

    /// True for transactional batches.
    pub fn is_transactional(&self) -> bool {
        self.attributes & 0x10 != 0
    }

    /// True for control batches (transaction markers), which carry no user records.
    pub fn is_control(&self) -> bool {
        self.attributes & 0x20 != 0
    }
}

/// One record batch, borrowed from the request, with its records decompressed when needed.
#[derive(Debug, Clone)]
pub struct RecordBatch<'a> {
    /// The fixed header.
    pub header: BatchHeader,
    /// The codec the records were compressed with.
    pub compression: Compression,
    records: Cow<'a, [u8]>,
    /// The CRC-32C the batch claims, and the bytes it covers.
    crc: u32,
    crc_covered: &'a [u8],
    /// The whole batch as the client sent it.
    whole: &'a [u8],
}

impl<'a> RecordBatch<'a> {
    /// Parses every batch in a partition's `records` bytes (usually exactly one).
    pub fn parse_all(bytes: &'a [u8], limits: BatchLimits) -> Result<Vec<Self>, BatchError> {
        let batches = Self::parse_all_deferring_crc(bytes, limits)?;
        batches.iter().try_for_each(RecordBatch::verify_crc)?;
        Ok(batches)
    }

    /// [`RecordBatch::parse_all`] without checking the CRCs, except where decompression fails
    /// (a corrupt batch is then named as such). For a reader that forwards the untouched
    /// bytes to a broker, which checks the CRC itself, and that calls
    /// [`RecordBatch::verify_crc`] before acting on the content in any other way.
    pub fn parse_all_deferring_crc(
        mut bytes: &'a [u8],
        limits: BatchLimits,
    ) -> Result<Vec<Self>, BatchError> {
        let mut out = Vec::with_capacity(1);
        while !bytes.is_empty() {
            let (batch, rest) = Self::parse_deferring_crc(bytes, limits)?;
            out.push(batch);
            bytes = rest;
        }
        Ok(out)
    }

    /// Does the batch's CRC-32C match its bytes?
    pub fn verify_crc(&self) -> Result<(), BatchError> {
        if crc32c::crc32c(self.crc_covered) != self.crc {
            return Err(BatchError::malformed("crc", "CRC-32C does not match"));
        }
        Ok(())
    }

    /// Parses one batch from the front of `bytes`, returning it and the bytes after it.
    pub fn parse(bytes: &'a [u8], limits: BatchLimits) -> Result<(Self, &'a [u8]), BatchError> {
        let (batch, rest) = Self::parse_deferring_crc(bytes, limits)?;
        batch.verify_crc()?;
        Ok((batch, rest))
    }

    fn parse_deferring_crc(
        bytes: &'a [u8],
        limits: BatchLimits,
    ) -> Result<(Self, &'a [u8]), BatchError> {
        let fixed =
            |r: std::ops::Range<usize>| bytes.get(r).ok_or(BatchError::Truncated("batch header"));
        let be = |r: std::ops::Range<usize>| -> Result<i64, BatchError> {
            Ok(fixed(r)?
                .iter()
                .fold(0i64, |acc, b| (acc << 8) | i64::from(*b)))
        };
        let magic = *bytes.get(16).ok_or(BatchError::Truncated("batch header"))? as i8;
        if magic != 2 {
            return Err(BatchError::LegacyFormat(magic));
        }
        let batch_length = be(8..12)? as i32;
        let total = usize::try_from(batch_length)
            .ok()
            .and_then(|l| l.checked_add(12))
            .filter(|&t| t >= HEADER_LEN)
            .ok_or(BatchError::malformed(
                "batch length",
                "shorter than the header",
            ))?;
        let whole = bytes
            .get(..total)
            .ok_or(BatchError::Truncated("batch body"))?;
        let crc = be(17..21)? as u32;
        let crc_covered = whole.get(21..).unwrap_or_default();
        let header = BatchHeader {
            base_offset: be(0..8)?,
            partition_leader_epoch: be(12..16)? as i32,
            attributes: be(21..23)? as i16,
            last_offset_delta: be(23..27)? as i32,
            base_timestamp: be(27..35)?,
            max_timestamp: be(35..43)?,
            producer_id: be(43..51)?,
            producer_epoch: be(51..53)? as i16,
            base_sequence: be(53..57)? as i32,
            record_count: be(57..61)? as i32,
        };
        if header.record_count < 0 || header.record_count as usize > limits.max_records {
            return Err(BatchError::TooManyRecords(i64::from(header.record_count)));
        }
        let compression = Compression::from_attributes(header.attributes)?;
        let raw = &whole[HEADER_LEN..];
        let records = match compression {
            Compression::None => Cow::Borrowed(raw),
            codec => match compression::decompress(codec, raw, limits.max_decompressed_bytes) {
                Ok(plain) => Cow::Owned(plain),
                Err(e) if crc32c::crc32c(crc_covered) != crc => {
                    tracing::debug!(error = %e, "undecompressable batch with a wrong CRC");
                    return Err(BatchError::malformed("crc", "CRC-32C does not match"));
                }
                Err(e) => return Err(e),
            },
        };
        Ok((
            Self {
                header,
                compression,
                records,
                crc,
                crc_covered,
                whole,
            },
            &bytes[total..],
        ))
    }

    /// The whole batch as the client sent it.
    pub fn bytes(&self) -> &'a [u8] {
        self.whole
    }

    /// The client's batch with another base sequence (and the CRC that goes with it); the
    /// records are not touched.
    pub fn with_base_sequence(&self, base_sequence: i32) -> Vec<u8> {
        let mut out = self.whole.to_vec();
        out[53..57].copy_from_slice(&base_sequence.to_be_bytes());
        let crc = crc32c::crc32c(&out[21..]);
        out[17..21].copy_from_slice(&crc.to_be_bytes());
        out
    }

    /// Iterates the records; iteration stops after the first error.
    pub fn records(&self) -> Records<'_> {
        Records {
            cursor: WireReader::new(&self.records),
            left: self.header.record_count,
            done: false,
        }
    }
}

/// Iterator over a batch's records, see [`RecordBatch::records`].
pub struct Records<'a> {
    cursor: WireReader<'a>,
    left: i32,
    done: bool,
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<'a>, BatchError>;

    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.left <= 0 {
            self.done = true;
            return (self.cursor.remaining() > 0).then_some(Err(BatchError::malformed(
                "records",
                "bytes after the last record",
            )));
        }
        self.left -= 1;
        let item = Record::read(&mut self.cursor);
        self.done = item.is_err();
        Some(item)
    }
}

#[cfg(test)]
mod tests;
