//! Produce responses the proxy answers for itself, whole or merged into the broker's.
//!
//! The proxy writes its own partitions with the [`crate::codec`] writers, in the layout of the
//! request's version. When it changed a request, the broker's response is walked with the
//! bounded reader (see `walk.rs`) and every byte the proxy does not change is copied: only the
//! topic count and the partition count of a topic that gains partitions are written anew.
//! kafka-protocol never reads these bytes (it trusts wire counts and re-encodes differently).

mod walk;

#[cfg(test)]
mod tests;

use bytes::{BufMut, Bytes, BytesMut};

use crate::codec::{put_array_len, put_string, put_uvarint, WireError};

/// Error codes the proxy answers with.
pub mod codes {
    /// The record batch is corrupt (CRC, framing).
    pub const CORRUPT_MESSAGE: i16 = 2;
    /// Not enough in-sync replicas: retriable, and clients know nothing was written.
    pub const NOT_ENOUGH_REPLICAS: i16 = 19;
    /// A record failed validation.
    pub const INVALID_RECORD: i16 = 87;
}

/// Oldest Produce version the proxy answers or merges (the oldest it inspects).
pub const FIRST_VERSION: i16 = 3;
/// Newest Produce version the proxy answers or merges: v13 names topics by id.
pub const LAST_VERSION: i16 = crate::produce_view::TOPIC_ID_FROM - 1;

/// First version with a flexible (compact, tagged) encoding and response header v1.
const FLEXIBLE_FROM: i16 = 9;
/// First version whose partitions carry `log_start_offset`.
const LOG_START_OFFSET_FROM: i16 = 5;
/// First version whose partitions carry `record_errors` and `error_message`.
const RECORD_ERRORS_FROM: i16 = 8;
/// Longest string Kafka encodes (its length is an INT16 on the classic wire, and the same
/// limit holds for compact strings).
const MAX_STRING_BYTES: usize = i16::MAX as usize;
/// Most elements an array may hold (its count is an INT32 on the classic wire).
const MAX_ARRAY_LEN: usize = i32::MAX as usize;

/// The proxy's own answer for one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalPartition {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub index: i32,
    /// Kafka error code, 0 for success.
    pub error_code: i16,
    /// Partition-level message.
    pub error_message: Option<String>,
    /// (record index, message) for each bad record.
    pub record_errors: Vec<(i32, String)>,
}

/// Why a response could not be built or merged.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ResponseError {
    /// The version is outside [`FIRST_VERSION`]..=[`LAST_VERSION`].
    #[error("produce response v{0} is not handled (only v{FIRST_VERSION} to v{LAST_VERSION})")]
    UnsupportedVersion(i16),
    /// The broker's response is malformed.
    #[error("malformed broker produce response v{version}: {cause}")]
    Malformed {
        /// Its version.
        version: i16,
        /// What was wrong.
        cause: WireError,
    },
}

/// A whole response made by the proxy (no partition was forwarded).
pub fn local_response(
    correlation_id: i32,
    version: i16,
    parts: &[LocalPartition],
) -> Result<Bytes, ResponseError> {
    let layout = Layout::new(version)?;
    let groups = by_topic(parts);
    let mut out = BytesMut::with_capacity(64 + encoded_size_hint(parts));
    out.put_i32(correlation_id);
    layout.put_empty_tags(&mut out);
    put_array_len(&mut out, layout.flexible, groups.len());
    for group in &groups {
        layout.put_topic(&mut out, group);
    }
    out.put_i32(0); // throttle_time_ms
    layout.put_empty_tags(&mut out);
    Ok(out.freeze())
}

/// The broker's response (whole frame body, header included) with `parts` added: each to the
/// first topic of its name, or to a new topic entry after the broker's topics. Every other
/// byte is the broker's, unknown tagged fields included; with no `parts` the broker's bytes
/// are returned as they are, once they have been checked.
pub fn merge(
    broker: Bytes,
    version: i16,
    parts: &[LocalPartition],
) -> Result<Bytes, ResponseError> {
    let layout = Layout::new(version)?;
    walk::merge(&broker, layout, by_topic(parts))
        .map(|merged| merged.unwrap_or(broker))
        .map_err(|cause| ResponseError::Malformed { version, cause })
}

/// Calls `visit(topic, partition, error_code)` for every partition answer of a Produce
/// response (whole frame body, header included), in the order the response lists them.
/// Versions outside [`FIRST_VERSION`]..=[`LAST_VERSION`] are not read (nothing is visited).
/// Nothing is allocated: this runs on every Produce response of a connection.
pub fn visit_partitions(
    response: &[u8],
    version: i16,
    visit: impl FnMut(&[u8], i32, i16),
) -> Result<(), ResponseError> {
    let Ok(layout) = Layout::new(version) else {
        return Ok(());
    };
    walk::visit(response, layout, visit)
        .map_err(|cause| ResponseError::Malformed { version, cause })
}

/// The local partitions of one topic, in the order they were given.
#[derive(Debug)]
struct TopicGroup<'a> {
    topic: &'a str,
    parts: Vec<&'a LocalPartition>,
}

/// Groups partitions by topic, topics in order of first appearance.
fn by_topic(parts: &[LocalPartition]) -> Vec<TopicGroup<'_>> {
    let mut groups: Vec<TopicGroup<'_>> = Vec::new();
    for p in parts {
        match groups.iter_mut().find(|g| g.topic == p.topic) {
            Some(g) => g.parts.push(p),
            None => groups.push(TopicGroup {
                topic: &p.topic,
                parts: vec![p],
            }),
        }
    }
    groups
}

fn encoded_size_hint(parts: &[LocalPartition]) -> usize {
    parts
        .iter()
        .map(|p| {
            let messages: usize = p.record_errors.iter().map(|(_, m)| m.len() + 8).sum();
            p.topic.len() + 48 + p.error_message.as_ref().map_or(0, String::len) + messages
        })
        .sum()
}

/// Which fields a Produce response version has; built only for handled versions.
#[derive(Debug, Clone, Copy)]
struct Layout {
    version: i16,
    flexible: bool,
}

impl Layout {
    fn new(version: i16) -> Result<Self, ResponseError> {
        if !(FIRST_VERSION..=LAST_VERSION).contains(&version) {
            return Err(ResponseError::UnsupportedVersion(version));
        }
        Ok(Self {
            version,
            flexible: version >= FLEXIBLE_FROM,
        })
    }

    fn put_empty_tags(self, out: &mut BytesMut) {
        if self.flexible {
            put_uvarint(out, 0);
        }
    }

    /// Writes a whole topic entry: name, its local partitions, tags.
    fn put_topic(self, out: &mut BytesMut, group: &TopicGroup<'_>) {
        put_string(out, self.flexible, Some(clip(group.topic)));
        self.put_partitions(out, &group.parts);
        self.put_empty_tags(out);
    }

    /// Writes a partition array: count, then each partition.
    fn put_partitions(self, out: &mut BytesMut, parts: &[&LocalPartition]) {
        put_array_len(out, self.flexible, parts.len());
        for p in parts {
            self.put_partition(out, p);
        }
    }

    /// Writes one partition answer. No record was appended: offsets and times are -1.
    fn put_partition(self, out: &mut BytesMut, p: &LocalPartition) {
        out.put_i32(p.index);
        out.put_i16(p.error_code);
        out.put_i64(-1); // base_offset
        out.put_i64(-1); // log_append_time_ms
        if self.version >= LOG_START_OFFSET_FROM {
            out.put_i64(-1);
        }
        if self.version >= RECORD_ERRORS_FROM {
            let errors = p
                .record_errors
                .get(..MAX_ARRAY_LEN)
                .unwrap_or(&p.record_errors);
            put_array_len(out, self.flexible, errors.len());
            for (batch_index, message) in errors {
                out.put_i32(*batch_index);
                put_string(out, self.flexible, Some(clip(message)));
                self.put_empty_tags(out);
            }
            put_string(out, self.flexible, p.error_message.as_deref().map(clip));
        }
        self.put_empty_tags(out);
    }
}

/// A string cut to the longest length Kafka encodes, at a character boundary.
fn clip(s: &str) -> &[u8] {
    let mut end = s.len().min(MAX_STRING_BYTES);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default().as_bytes()
}
