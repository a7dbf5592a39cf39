//! Encoding a v2 batch from records of another batch (the good records left after quarantine).

use super::compression::{compress, Compression};
use super::record::Record;
use super::varint::{put_nullable_bytes, put_varint, put_varlong, varlong_len};
use super::{BatchError, BatchHeader, HEADER_LEN};

/// Encodes `records` as one batch that keeps `template`'s producer fields, base timestamp and
/// codec; offset deltas are renumbered from 0 as the broker requires.
pub fn encode_batch(
    template: &BatchHeader,
    codec: Compression,
    records: &[Record<'_>],
) -> Result<Vec<u8>, BatchError> {
    let mut body = Vec::with_capacity(records.iter().map(encoded_len_hint).sum());
    let mut max_delta = 0i64;
    for (i, r) in records.iter().enumerate() {
        let offset_delta = i32::try_from(i).map_err(|_| BatchError::TooManyRecords(i as i64))?;
        write_record(&mut body, r, offset_delta);
        max_delta = max_delta.max(r.timestamp_delta);
    }
    let body = compress(codec, &body)?;
    let count = i32::try_from(records.len()).map_err(|_| BatchError::TooManyRecords(i64::MAX))?;
    let log_append_time = template.attributes & 0x08 != 0;
    let max_timestamp = if log_append_time || records.is_empty() {
        template.max_timestamp
    } else {
        template.base_timestamp.saturating_add(max_delta)
    };
    let batch_length = i32::try_from(HEADER_LEN - 12 + body.len())
        .map_err(|_| BatchError::malformed("batch length", "batch too large to encode"))?;
    let attributes = (template.attributes & !0x07) | codec.attribute_bits();

    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(&template.base_offset.to_be_bytes());
    out.extend_from_slice(&batch_length.to_be_bytes());
    out.extend_from_slice(&template.partition_leader_epoch.to_be_bytes());
    out.push(2);
    let crc_at = out.len();
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&attributes.to_be_bytes());
    out.extend_from_slice(&(count - 1).max(0).to_be_bytes());
    out.extend_from_slice(&template.base_timestamp.to_be_bytes());
    out.extend_from_slice(&max_timestamp.to_be_bytes());
    out.extend_from_slice(&template.producer_id.to_be_bytes());
    out.extend_from_slice(&template.producer_epoch.to_be_bytes());
    out.extend_from_slice(&template.base_sequence.to_be_bytes());
    out.extend_from_slice(&count.to_be_bytes());
    out.extend_from_slice(&body);
    let crc = crc32c::crc32c(&out[crc_at + 4..]);
    out[crc_at..crc_at + 4].copy_from_slice(&crc.to_be_bytes());
    Ok(out)
}

fn encoded_len_hint(r: &Record<'_>) -> usize {
    24 + r.key.map_or(0, <[u8]>::len) + r.value.map_or(0, <[u8]>::len) + r.headers_raw.len()
}

pub(super) fn write_record(out: &mut Vec<u8>, r: &Record<'_>, offset_delta: i32) {
    let mut inner = Vec::with_capacity(encoded_len_hint(r));
    inner.push(r.attributes as u8);
    put_varlong(&mut inner, r.timestamp_delta);
    put_varint(&mut inner, offset_delta);
    put_nullable_bytes(&mut inner, r.key);
    put_nullable_bytes(&mut inner, r.value);
    put_varint(&mut inner, r.header_count);
    inner.extend_from_slice(r.headers_raw);
    out.reserve(varlong_len(inner.len() as i64) + inner.len());
    put_varlong(out, inner.len() as i64);
    out.extend_from_slice(&inner);
}
