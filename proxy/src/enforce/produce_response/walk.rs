//! The bounded walk over a broker's Produce response (v3 to v12) that adds local partitions.
//!
//! Layout: header (correlation id; tagged fields from v9), topics [name, partitions [index,
//! error_code, base_offset, log_append_time_ms, log_start_offset (v5+), record_errors (v8+),
//! error_message (v8+), tags (v9+, `current_leader` from v10)], tags], throttle_time_ms, tags
//! (v9+, `node_endpoints` from v10). Every count is checked against the bytes left before it
//! is used, and the response must end exactly where its last field does.

use bytes::{BufMut, BytesMut};

use super::{Layout, TopicGroup, LOG_START_OFFSET_FROM, RECORD_ERRORS_FROM};
use crate::codec::{put_array_len, WireError, WireReader};

/// Smallest record error: batch index and an (empty or null) message, tags when flexible.
const MIN_RECORD_ERROR_BYTES: usize = 4 + 2;

/// Merges `groups` into `body`. `None` when there is nothing to add: the broker's bytes are
/// then the answer as they are.
pub(super) fn merge(
    body: &[u8],
    layout: Layout,
    groups: Vec<TopicGroup<'_>>,
) -> Result<Option<bytes::Bytes>, WireError> {
    let flexible = layout.flexible;
    let mut r = WireReader::new(body);
    r.i32("correlation id")?;
    if flexible {
        r.skip_tagged_fields()?;
    }
    let topics_count_at = r.position();
    let topics = r.array_len(flexible, min_topic_bytes(layout), "topics")?;
    let topics_at = r.position();

    // The broker's topics, with local partitions appended to the first topic of each name.
    let mut pending: Vec<Option<TopicGroup<'_>>> = groups.into_iter().map(Some).collect();
    let mut merged_topics = BytesMut::new();
    if !pending.is_empty() {
        merged_topics.reserve(body.len() + 64);
    }
    for _ in 0..topics {
        let start = r.position();
        let name = r.any_string(flexible, "topic name")?;
        let count_at = r.position();
        let partitions = r.array_len(flexible, min_partition_bytes(layout), "partitions")?;
        let partitions_at = r.position();
        for _ in 0..partitions {
            skip_partition(&mut r, layout)?;
        }
        let partitions_end = r.position();
        if flexible {
            r.skip_tagged_fields()?;
        }
        let group = name.and_then(|name| {
            pending
                .iter_mut()
                .find(|g| g.as_ref().is_some_and(|g| g.topic.as_bytes() == name))
                .and_then(Option::take)
        });
        match group {
            None => put_range(&mut merged_topics, body, start, r.position()),
            Some(group) => {
                put_range(&mut merged_topics, body, start, count_at);
                let count = partitions.saturating_add(group.parts.len());
                put_array_len(&mut merged_topics, flexible, count);
                put_range(&mut merged_topics, body, partitions_at, partitions_end);
                for p in &group.parts {
                    layout.put_partition(&mut merged_topics, p);
                }
                put_range(&mut merged_topics, body, partitions_end, r.position());
            }
        }
    }
    let tail_at = r.position();
    read_tail(&mut r, flexible)?;
    if pending.is_empty() {
        return Ok(None);
    }

    // Topics the broker did not answer for follow its own, in the order they were given.
    let new_topics: Vec<TopicGroup<'_>> = pending.into_iter().flatten().collect();
    let mut out =
        BytesMut::with_capacity(merged_topics.len() + body.len().saturating_sub(tail_at) + 64);
    if new_topics.is_empty() {
        put_range(&mut out, body, 0, topics_at);
    } else {
        put_range(&mut out, body, 0, topics_count_at);
        put_array_len(&mut out, flexible, topics.saturating_add(new_topics.len()));
    }
    out.put_slice(&merged_topics);
    for group in &new_topics {
        layout.put_topic(&mut out, group);
    }
    put_range(&mut out, body, tail_at, body.len());
    Ok(Some(out.freeze()))
}

/// Walks `body` as [`merge`] does and calls `visit(topic, partition, error_code)` for each
/// partition answer.
pub(super) fn visit(
    body: &[u8],
    layout: Layout,
    mut visit: impl FnMut(&[u8], i32, i16),
) -> Result<(), WireError> {
    let flexible = layout.flexible;
    let mut r = WireReader::new(body);
    r.i32("correlation id")?;
    if flexible {
        r.skip_tagged_fields()?;
    }
    let topics = r.array_len(flexible, min_topic_bytes(layout), "topics")?;
    for _ in 0..topics {
        let name = r.any_string(flexible, "topic name")?.unwrap_or_default();
        let partitions = r.array_len(flexible, min_partition_bytes(layout), "partitions")?;
        for _ in 0..partitions {
            let mut fields = WireReader::new(r.rest());
            let index = fields.i32("partition index")?;
            let error_code = fields.i16("error code")?;
            skip_partition(&mut r, layout)?;
            visit(name, index, error_code);
        }
        if flexible {
            r.skip_tagged_fields()?;
        }
    }
    read_tail(&mut r, flexible)?;
    Ok(())
}

/// Reads the response's end (throttle time, tags) and checks that nothing follows.
fn read_tail(r: &mut WireReader<'_>, flexible: bool) -> Result<(), WireError> {
    r.i32("throttle time")?;
    if flexible {
        r.skip_tagged_fields()?;
    }
    if r.remaining() != 0 {
        return Err(WireError::Invalid {
            field: "produce response",
            detail: format!("{} trailing bytes", r.remaining()).into(),
        });
    }
    Ok(())
}

/// Passes over one partition answer, checking every count and length in it.
fn skip_partition(r: &mut WireReader<'_>, layout: Layout) -> Result<(), WireError> {
    let flexible = layout.flexible;
    r.take(fixed_partition_bytes(layout), "partition response")?;
    if layout.version >= RECORD_ERRORS_FROM {
        let errors = r.array_len(flexible, MIN_RECORD_ERROR_BYTES, "record errors")?;
        for _ in 0..errors {
            r.i32("batch index")?;
            r.any_string(flexible, "batch index error message")?;
            if flexible {
                r.skip_tagged_fields()?;
            }
        }
        r.any_string(flexible, "error message")?;
    }
    if flexible {
        r.skip_tagged_fields()?;
    }
    Ok(())
}

/// Index, error code, base offset, log append time and, from v5, log start offset.
fn fixed_partition_bytes(layout: Layout) -> usize {
    if layout.version >= LOG_START_OFFSET_FROM {
        4 + 2 + 8 + 8 + 8
    } else {
        4 + 2 + 8 + 8
    }
}

/// Smallest partition answer: the fixed fields, then empty counts, null strings and tags.
fn min_partition_bytes(layout: Layout) -> usize {
    let counted = match (layout.version >= RECORD_ERRORS_FROM, layout.flexible) {
        (false, _) => 0,
        (true, false) => 4 + 2,
        (true, true) => 1 + 1 + 1,
    };
    fixed_partition_bytes(layout) + counted
}

/// Smallest topic entry: an empty name, an empty partition array and, when flexible, tags.
fn min_topic_bytes(layout: Layout) -> usize {
    if layout.flexible {
        1 + 1 + 1
    } else {
        2 + 4
    }
}

/// Copies `body[from..to]`; the walk only passes offsets it has read.
fn put_range(out: &mut BytesMut, body: &[u8], from: usize, to: usize) {
    out.put_slice(body.get(from..to).unwrap_or_default());
}
