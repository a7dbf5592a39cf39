//! One record read back from a quarantine topic: the client's key, value, timestamp and
//! headers, and the `schemagate.*` headers the quarantine writer appended after them.

/// The headers the quarantine writer appends, in the order it appends them (the last four
/// only sometimes: the trace context when spans are exported, the producer stamp for records
/// of idempotent producers).
pub const SCHEMAGATE_HEADERS: [&str; 10] = [
    REASON_HEADER,
    DETAIL_HEADER,
    TOPIC_HEADER,
    PARTITION_HEADER,
    SCHEMA_ID_HEADER,
    CLIENT_ID_HEADER,
    TRACEPARENT_HEADER,
    PRODUCER_ID_HEADER,
    PRODUCER_EPOCH_HEADER,
    SEQUENCE_HEADER,
];

/// Why the record was quarantined (`decode-failed`, ...).
pub const REASON_HEADER: &str = "schemagate.reason";
/// One human line about the violation.
pub const DETAIL_HEADER: &str = "schemagate.detail";
/// The topic the client produced to.
pub const TOPIC_HEADER: &str = "schemagate.topic";
/// The partition the client produced to.
pub const PARTITION_HEADER: &str = "schemagate.partition";
/// The schema id from the frame, empty when there was none.
pub const SCHEMA_ID_HEADER: &str = "schemagate.schema-id";
/// The producing client's id, empty when it sent none.
pub const CLIENT_ID_HEADER: &str = "schemagate.client-id";

/// W3C `traceparent` of the proxy's span that wrote the copy (when spans are exported).
pub const TRACEPARENT_HEADER: &str = "schemagate.traceparent";
/// The idempotent producer's id.
pub const PRODUCER_ID_HEADER: &str = "schemagate.producer-id";
/// The idempotent producer's epoch.
pub const PRODUCER_EPOCH_HEADER: &str = "schemagate.producer-epoch";
/// The record's sequence as the producer sent it.
pub const SEQUENCE_HEADER: &str = "schemagate.sequence";

/// How Kafka stamped the record's time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordTime {
    /// Set by the producer (the quarantine writer copies the client's timestamp).
    CreateTime(i64),
    /// Set by the broker on append.
    LogAppendTime(i64),
    /// No timestamp.
    None,
}

impl RecordTime {
    /// The milliseconds since the epoch, when there are any.
    pub fn millis(self) -> Option<i64> {
        match self {
            RecordTime::CreateTime(ms) | RecordTime::LogAppendTime(ms) => Some(ms),
            RecordTime::None => None,
        }
    }
}

/// One header as stored: a name and a possibly null value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordHeader {
    /// Header name.
    pub key: String,
    /// Header value; None is a null header value.
    pub value: Option<Vec<u8>>,
}

/// A record of a quarantine topic, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantinedRecord {
    /// Partition of the quarantine topic.
    pub partition: i32,
    /// Offset in that partition.
    pub offset: i64,
    /// The record's timestamp.
    pub timestamp: RecordTime,
    /// The key as the client sent it.
    pub key: Option<Vec<u8>>,
    /// The value as the client sent it.
    pub value: Option<Vec<u8>>,
    /// Every header in stored order: the client's, then the `schemagate.*` ones.
    pub headers: Vec<RecordHeader>,
}

impl QuarantinedRecord {
    /// Where the client's own headers end: everything before the trailing run of
    /// `schemagate.*` headers. A client header that happens to share a name stays the client's.
    fn split_at(&self) -> usize {
        let ours = self
            .headers
            .iter()
            .rev()
            .take_while(|h| SCHEMAGATE_HEADERS.contains(&h.key.as_str()))
            .count();
        self.headers.len() - ours
    }

    /// The client's headers, duplicates and order kept, without the `schemagate.*` ones.
    pub fn original_headers(&self) -> &[RecordHeader] {
        self.headers.get(..self.split_at()).unwrap_or(&[])
    }

    /// The `schemagate.*` headers the quarantine writer appended.
    pub fn schemagate_headers(&self) -> &[RecordHeader] {
        self.headers.get(self.split_at()..).unwrap_or(&[])
    }

    /// The value of one `schemagate.*` header as text; None when absent, null or empty.
    pub fn schemagate(&self, name: &str) -> Option<String> {
        self.schemagate_headers()
            .iter()
            .rev()
            .find(|h| h.key == name)
            .and_then(|h| h.value.as_deref())
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .filter(|v| !v.is_empty())
    }

    /// The reason the proxy recorded.
    pub fn reason(&self) -> Option<String> {
        self.schemagate(REASON_HEADER)
    }

    /// The topic the client produced to.
    pub fn source_topic(&self) -> Option<String> {
        self.schemagate(TOPIC_HEADER)
    }

    /// The schema id the proxy read from the frame.
    pub fn schema_id(&self) -> Option<u32> {
        self.schemagate(SCHEMA_ID_HEADER)
            .and_then(|s| s.trim().parse().ok())
    }

    /// The producing client's id.
    pub fn client_id(&self) -> Option<String> {
        self.schemagate(CLIENT_ID_HEADER)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn header(key: &str, value: Option<&str>) -> RecordHeader {
        RecordHeader {
            key: key.to_string(),
            value: value.map(|v| v.as_bytes().to_vec()),
        }
    }

    /// A record as the quarantine writer stores it, with the client's headers first.
    pub(crate) fn quarantined(
        client: Vec<RecordHeader>,
        reason: &str,
        schema_id: &str,
        client_id: &str,
    ) -> QuarantinedRecord {
        let mut headers = client;
        for (k, v) in [
            (REASON_HEADER, reason),
            (DETAIL_HEADER, "a detail"),
            (TOPIC_HEADER, "orders"),
            (PARTITION_HEADER, "0"),
            (SCHEMA_ID_HEADER, schema_id),
            (CLIENT_ID_HEADER, client_id),
        ] {
            headers.push(header(k, Some(v)));
        }
        QuarantinedRecord {
            partition: 0,
            offset: 0,
            timestamp: RecordTime::CreateTime(0),
            key: None,
            value: None,
            headers,
        }
    }

    #[test]
    fn original_headers_keep_duplicates_nulls_and_lookalikes() {
        let client = vec![
            header("dup", Some("one")),
            header("schemagate.reason", Some("the client's own")),
            header("null", None),
            header("dup", Some("two")),
        ];
        let r = quarantined(client.clone(), "decode-failed", "7", "app-1");
        assert_eq!(r.original_headers(), client.as_slice());
        assert_eq!(r.schemagate_headers().len(), 6);
        assert_eq!(r.reason().as_deref(), Some("decode-failed"));
        assert_eq!(r.source_topic().as_deref(), Some("orders"));
        assert_eq!(r.schema_id(), Some(7));
        assert_eq!(r.client_id().as_deref(), Some("app-1"));
    }

    #[test]
    fn trace_and_producer_stamp_headers_are_schemagate_s_not_the_client_s() {
        let client = vec![header("traceparent", Some("00-abc"))];
        let mut r = quarantined(client.clone(), "decode-failed", "7", "app-1");
        for (k, v) in [
            (
                TRACEPARENT_HEADER,
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
            (PRODUCER_ID_HEADER, "42"),
            (PRODUCER_EPOCH_HEADER, "0"),
            (SEQUENCE_HEADER, "17"),
        ] {
            r.headers.push(header(k, Some(v)));
        }
        assert_eq!(r.original_headers(), client.as_slice());
        assert_eq!(r.schemagate_headers().len(), 10);
        assert_eq!(r.reason().as_deref(), Some("decode-failed"));
        assert_eq!(r.schemagate(SEQUENCE_HEADER).as_deref(), Some("17"));
    }

    #[test]
    fn empty_and_missing_schemagate_headers_read_as_none() {
        let r = quarantined(Vec::new(), "no-magic-byte", "", "");
        assert_eq!((r.schema_id(), r.client_id()), (None, None));
        let plain = QuarantinedRecord {
            headers: vec![header("a", Some("b"))],
            ..r
        };
        assert_eq!(plain.original_headers().len(), 1);
        assert_eq!(plain.reason(), None);
    }
}
