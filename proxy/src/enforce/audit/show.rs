//! `quarantine show`: one quarantined record for a person: where it is, when it was written,
//! its key, every header (the client's, then `schemagate.*`), and an annotated hexdump of
//! the first bytes of its value.

use std::fmt::Write as _;

use super::hexdump;
use super::reader::{self, blocking, past_end, ReadConfig};
use super::record::{QuarantinedRecord, RecordHeader, RecordTime};
use super::AuditError;

/// Which record to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// The record at this offset of this partition.
    Offset {
        /// Partition.
        partition: i32,
        /// Offset.
        offset: i64,
    },
    /// The N-th record (from 0) in partition, then offset order, as `list` and `replay` read.
    Index(u64),
}

/// Reads the one record `which` names.
pub async fn fetch(
    read: &ReadConfig,
    topic: &str,
    which: Which,
) -> Result<QuarantinedRecord, AuditError> {
    let only = match which {
        Which::Offset { partition, .. } => Some(partition),
        Which::Index(_) => None,
    };
    let mut extent = blocking({
        let (read, topic) = (read.clone(), topic.to_string());
        move || reader::snapshot(&read, &topic, only)
    })
    .await?;
    if let Which::Offset { partition, offset } = which {
        for range in &mut extent.ranges {
            // Past the watermark is allowed: the read itself finds where the log ends.
            if offset < range.start || offset >= range.end.saturating_add(past_end(range)) {
                return Err(AuditError::NoSuchRecord(format!(
                    "{topic} partition {partition} holds offsets {}..{}, not {offset}",
                    range.start, range.end
                )));
            }
            range.end = range.end.max(offset.saturating_add(1));
            range.start = offset;
        }
    }
    let mut records = reader::stream(read.clone(), extent);
    let mut seen = 0u64;
    while let Some(record) = records.recv().await {
        let record = record?;
        match which {
            Which::Offset { offset, .. } if record.offset == offset => return Ok(record),
            Which::Offset { offset, .. } => {
                return Err(AuditError::NoSuchRecord(format!(
                    "no record at offset {offset} of {topic} partition {}; the next is at {}",
                    record.partition, record.offset
                )))
            }
            Which::Index(n) if seen == n => return Ok(record),
            Which::Index(_) => seen += 1,
        }
    }
    Err(AuditError::NoSuchRecord(match which {
        Which::Index(n) => format!("{topic} holds {seen} records, so there is no index {n}"),
        Which::Offset { partition, offset } => {
            format!("no record at offset {offset} of {topic} partition {partition}")
        }
    }))
}

/// How to show the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShowOptions {
    /// Bytes of the value in the hexdump.
    pub bytes: usize,
    /// The value's schema is Protobuf: label its message indexes.
    pub protobuf: bool,
}

/// The text `quarantine show` prints for `record` of `topic`.
pub fn render(topic: &str, record: &QuarantinedRecord, opts: ShowOptions) -> String {
    let mut out = String::new();
    let time = match record.timestamp {
        RecordTime::CreateTime(ms) => format!("{ms} ({}, create time)", rfc3339(ms)),
        RecordTime::LogAppendTime(ms) => format!("{ms} ({}, log append time)", rfc3339(ms)),
        RecordTime::None => "none".to_string(),
    };
    // Writing to a String cannot fail.
    let _ = writeln!(out, "topic      {topic}");
    let _ = writeln!(out, "partition  {}", record.partition);
    let _ = writeln!(out, "offset     {}", record.offset);
    let _ = writeln!(out, "timestamp  {time}");
    let _ = writeln!(out, "key        {}", bytes_text(record.key.as_deref()));
    let original = record.original_headers();
    let ours = record.schemagate_headers();
    let _ = writeln!(
        out,
        "headers    {} from the client, {} from schemagate",
        original.len(),
        ours.len()
    );
    let width = record
        .headers
        .iter()
        .map(|h| h.key.chars().count())
        .max()
        .unwrap_or(0);
    for h in original.iter().chain(ours) {
        let _ = writeln!(out, "  {}", header_line(h, width));
    }
    // Trace ids: the proxy's span that quarantined it, and the producer's own trace.
    if let Some(tp) = record.schemagate(super::record::TRACEPARENT_HEADER) {
        if let Some(id) = trace_id(tp.as_bytes()) {
            let _ = writeln!(out, "trace      {id} (schemagate's quarantine span)");
        }
    }
    let producer_trace = original
        .iter()
        .filter(|h| h.key == "traceparent")
        .find_map(|h| h.value.as_deref().and_then(trace_id));
    if let Some(id) = producer_trace {
        let _ = writeln!(
            out,
            "trace      {id} (the producer's, from its traceparent header)"
        );
    }
    match record.value.as_deref() {
        None => {
            let _ = writeln!(out, "value      null");
        }
        Some(v) => {
            let shown = v.len().min(opts.bytes);
            let _ = writeln!(out, "value      {} bytes, first {shown} shown", v.len());
            out.push_str(&hexdump::render(v, opts.bytes, opts.protobuf));
        }
    }
    out
}

/// The trace id of a W3C `traceparent` value.
fn trace_id(traceparent: &[u8]) -> Option<String> {
    crate::enforce::trace::parse_traceparent(traceparent).map(|cx| cx.trace_id().to_string())
}

fn header_line(h: &RecordHeader, width: usize) -> String {
    format!("{:<width$}  {}", h.key, bytes_text(h.value.as_deref()))
}

/// Text as a quoted string with escapes; other bytes as hex; null as `null`.
fn bytes_text(bytes: Option<&[u8]>) -> String {
    match bytes {
        None => "null".to_string(),
        Some(b) => match std::str::from_utf8(b) {
            Ok(s) => format!("{s:?}"),
            Err(_) => {
                let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
                format!("0x{hex} ({} bytes, not UTF-8)", b.len())
            }
        },
    }
}

/// Milliseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ` (proleptic Gregorian, UTC).
fn rfc3339(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000
    )
}

/// Days since 1970-01-01 to (year, month, day): Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::super::record::tests::{header, quarantined};
    use super::*;

    #[test]
    fn timestamps_in_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(1_732_237_567_890), "2024-11-22T01:06:07.890Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn a_record_golden() {
        let mut r = quarantined(
            vec![header("trace", Some("abc")), header("nul", None)],
            "decode-failed",
            "7",
            "app",
        );
        r.partition = 2;
        r.offset = 41;
        r.timestamp = RecordTime::CreateTime(1_732_237_567_890);
        r.key = Some(b"k-1".to_vec());
        r.value = Some(vec![0, 0, 0, 0, 7, 0x54, 0x06, b'a']);
        let golden = "\
topic      orders.quarantine
partition  2
offset     41
timestamp  1732237567890 (2024-11-22T01:06:07.890Z, create time)
key        \"k-1\"
headers    2 from the client, 6 from schemagate
  trace                 \"abc\"
  nul                   null
  schemagate.reason     \"decode-failed\"
  schemagate.detail     \"a detail\"
  schemagate.topic      \"orders\"
  schemagate.partition  \"0\"
  schemagate.schema-id  \"7\"
  schemagate.client-id  \"app\"
value      8 bytes, first 6 shown
0000  00                                               |.|                 magic byte 0x00
0001  00 00 00 07                                      |....|              schema id 7
0005  54                                               |T|                 payload (3 bytes)
      ... 2 more bytes not shown
";
        let opts = ShowOptions {
            bytes: 6,
            protobuf: false,
        };
        assert_eq!(render("orders.quarantine", &r, opts), golden);
    }

    #[test]
    fn binary_keys_and_null_values() {
        assert_eq!(
            bytes_text(Some(&[0xff, 0x00])),
            "0xff00 (2 bytes, not UTF-8)"
        );
        let mut r = quarantined(Vec::new(), "too-short", "", "");
        r.value = None;
        let text = render(
            "q",
            &r,
            ShowOptions {
                bytes: 64,
                protobuf: false,
            },
        );
        assert!(text.contains("key        null\n"), "{text}");
        assert!(text.ends_with("value      null\n"), "{text}");
    }
}
