//! A bounded, zero-copy view of a Produce request (v3–v13), and an encoder that rebuilds it
//! with some partitions replaced or dropped. kafka-protocol is not used here: it trusts wire
//! counts when reserving memory, and its re-encoding is not byte-identical.
//!
//! Only what enforcement must touch is decoded: topic names, partition indexes and the record
//! bytes. Everything else, tagged fields included, is carried as raw slices and written back
//! as it came.

use bytes::{BufMut, Bytes, BytesMut};

use crate::codec::{put_array_len, put_string, put_uvarint, WireError, WireReader};

/// First Produce version with flexible (compact) encoding.
const FLEXIBLE_FROM: i16 = 9;
/// First Produce version naming topics by id instead of name.
pub const TOPIC_ID_FROM: i16 = 13;
/// Size of a topic id (UUID).
const UUID_BYTES: usize = 16;

/// One partition's data in a Produce request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionData<'a> {
    /// Partition index.
    pub index: i32,
    /// The record batches, or None.
    pub records: Option<&'a [u8]>,
    tagged: &'a [u8],
}

/// One topic's data in a Produce request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicData<'a> {
    /// Topic name bytes (UTF-8 on the wire); empty from v13, which sends `topic_id`.
    pub name: &'a [u8],
    /// Topic id (v13 and later).
    pub topic_id: Option<&'a [u8]>,
    /// Its partitions.
    pub partitions: Vec<PartitionData<'a>>,
    tagged: &'a [u8],
}

/// A Produce request, borrowed from its frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProduceRequestView<'a> {
    version: i16,
    header: &'a [u8],
    transactional_id: Option<&'a [u8]>,
    /// Required acks.
    pub acks: i16,
    timeout_ms: i32,
    /// Topics in request order.
    pub topics: Vec<TopicData<'a>>,
    tagged: &'a [u8],
}

/// What to do with one partition when rebuilding a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartitionEdit {
    /// Forward as it came.
    Keep,
    /// Leave out (the proxy answers for it).
    Drop,
    /// Forward these record bytes instead.
    Replace(Bytes),
}

impl<'a> ProduceRequestView<'a> {
    /// Reads a Produce request whose header ends at `body_offset` in `frame`.
    pub fn parse(frame: &'a [u8], version: i16, body_offset: usize) -> Result<Self, WireError> {
        let flexible = version >= FLEXIBLE_FROM;
        if !(3..=TOPIC_ID_FROM).contains(&version) {
            return Err(WireError::Invalid {
                field: "produce version",
                detail: format!("v{version} is not read by the proxy").into(),
            });
        }
        let mut r = WireReader::new(frame);
        let header = r.take(body_offset, "request header")?;
        let transactional_id = r.any_string(flexible, "transactional_id")?;
        let acks = r.i16("acks")?;
        let timeout_ms = r.i32("timeout_ms")?;
        // A topic takes at least a 2-byte name length and a 4-byte partition count (1+1 flexible).
        let n_topics = r.array_len(flexible, if flexible { 2 } else { 6 }, "topic_data")?;
        let mut topics = Vec::with_capacity(n_topics);
        for _ in 0..n_topics {
            let (name, topic_id) = if version >= TOPIC_ID_FROM {
                (&[][..], Some(r.take(UUID_BYTES, "topic id")?))
            } else {
                (
                    r.any_string(flexible, "topic name")?.unwrap_or_default(),
                    None,
                )
            };
            let n_parts = r.array_len(flexible, if flexible { 6 } else { 8 }, "partition_data")?;
            let mut partitions = Vec::with_capacity(n_parts);
            for _ in 0..n_parts {
                let index = r.i32("partition index")?;
                let records = bytes_field(&mut r, flexible)?;
                let tagged = tagged_raw(&mut r, flexible)?;
                partitions.push(PartitionData {
                    index,
                    records,
                    tagged,
                });
            }
            let tagged = tagged_raw(&mut r, flexible)?;
            topics.push(TopicData {
                name,
                topic_id,
                partitions,
                tagged,
            });
        }
        let tagged = tagged_raw(&mut r, flexible)?;
        if r.remaining() != 0 {
            return Err(WireError::Invalid {
                field: "produce request",
                detail: format!("{} bytes after the last field", r.remaining()).into(),
            });
        }
        Ok(Self {
            version,
            header,
            transactional_id,
            acks,
            timeout_ms,
            topics,
            tagged,
        })
    }

    /// Rebuilds the request; `edit(topic, partition)` decides each partition by position.
    /// Topics whose partitions the edit dropped are dropped; a topic that came without
    /// partitions is kept, so an edit that keeps everything rebuilds the frame as it came.
    pub fn encode(&self, mut edit: impl FnMut(usize, usize) -> PartitionEdit) -> Bytes {
        let flexible = self.version >= FLEXIBLE_FROM;
        let mut out = BytesMut::with_capacity(self.header.len() + 64);
        out.put_slice(self.header);
        put_string(&mut out, flexible, self.transactional_id);
        out.put_i16(self.acks);
        out.put_i32(self.timeout_ms);
        let kept: Vec<(usize, Vec<(usize, PartitionEdit)>)> = self
            .topics
            .iter()
            .enumerate()
            .map(|(t, topic)| {
                let parts = (0..topic.partitions.len())
                    .map(|p| (p, edit(t, p)))
                    .filter(|(_, e)| *e != PartitionEdit::Drop)
                    .collect::<Vec<_>>();
                (t, parts)
            })
            .filter(|(t, parts)| !parts.is_empty() || self.topics[*t].partitions.is_empty())
            .collect();
        put_array_len(&mut out, flexible, kept.len());
        for (t, parts) in kept {
            let topic = &self.topics[t];
            match topic.topic_id {
                Some(id) => out.put_slice(id),
                None => put_string(&mut out, flexible, Some(topic.name)),
            }
            put_array_len(&mut out, flexible, parts.len());
            for (p, e) in parts {
                let part = &topic.partitions[p];
                out.put_i32(part.index);
                let records = match &e {
                    PartitionEdit::Replace(b) => Some(&b[..]),
                    _ => part.records,
                };
                put_bytes(&mut out, flexible, records);
                out.put_slice(part.tagged);
            }
            out.put_slice(topic.tagged);
        }
        out.put_slice(self.tagged);
        out.freeze()
    }
}

/// Reads BYTES / NULLABLE_BYTES (INT32 length) or COMPACT_NULLABLE_BYTES (varint length + 1).
fn bytes_field<'a>(r: &mut WireReader<'a>, flexible: bool) -> Result<Option<&'a [u8]>, WireError> {
    let len: i64 = if flexible {
        i64::from(r.uvarint("records")?) - 1
    } else {
        i64::from(r.i32("records")?)
    };
    match len {
        -1 => Ok(None),
        n if n < 0 => Err(WireError::Invalid {
            field: "records",
            detail: format!("negative length {n}").into(),
        }),
        n => r.take(n as usize, "records").map(Some),
    }
}

fn put_bytes(out: &mut BytesMut, flexible: bool, b: Option<&[u8]>) {
    match (flexible, b) {
        (true, None) => put_uvarint(out, 0),
        (true, Some(b)) => {
            put_uvarint(out, (b.len() + 1).min(u32::MAX as usize) as u32);
            out.put_slice(b);
        }
        (false, None) => out.put_i32(-1),
        (false, Some(b)) => {
            out.put_i32(b.len().min(i32::MAX as usize) as i32);
            out.put_slice(b);
        }
    }
}

/// The raw bytes of a tagged-field section (empty before flexible versions).
fn tagged_raw<'a>(r: &mut WireReader<'a>, flexible: bool) -> Result<&'a [u8], WireError> {
    if !flexible {
        return Ok(&[]);
    }
    let start = r.clone();
    r.skip_tagged_fields()?;
    let used = start.remaining() - r.remaining();
    start.clone().take(used, "tagged fields")
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::{ProduceRequest, RequestHeader, TopicName};
    use kafka_protocol::protocol::{Encodable, StrBytes};
    use proptest::prelude::*;

    /// A Produce request encoded by kafka-protocol (an independent encoder) for `version`.
    fn sample(version: i16) -> (Vec<u8>, usize) {
        let header = RequestHeader::default()
            .with_request_api_key(0)
            .with_request_api_version(version)
            .with_correlation_id(42)
            .with_client_id(Some(StrBytes::from_static_str("c1")));
        let part = |i: i32, data: &'static [u8]| {
            PartitionProduceData::default()
                .with_index(i)
                .with_records(Some(Bytes::from_static(data)))
        };
        let req = ProduceRequest::default()
            .with_transactional_id(None)
            .with_acks(-1)
            .with_timeout_ms(30_000)
            .with_topic_data(vec![
                TopicProduceData::default()
                    .with_name(TopicName(StrBytes::from_static_str("orders")))
                    .with_topic_id(uuid::Uuid::from_u128(7))
                    .with_partition_data(vec![part(0, b"batch-zero"), part(1, b"batch-one")]),
                TopicProduceData::default()
                    .with_name(TopicName(StrBytes::from_static_str("audit")))
                    .with_partition_data(vec![part(3, b"batch-three")]),
            ]);
        let header_version = if version >= 9 { 2 } else { 1 };
        let mut buf = BytesMut::new();
        header.encode(&mut buf, header_version).unwrap();
        let body_offset = buf.len();
        req.encode(&mut buf, version).unwrap();
        (buf.to_vec(), body_offset)
    }

    #[test]
    fn parses_and_re_encodes_identically_for_every_version() {
        for version in 3..=13 {
            let (frame, off) = sample(version);
            let view = ProduceRequestView::parse(&frame, version, off).unwrap();
            assert_eq!(view.acks, -1);
            assert_eq!(view.topics.len(), 2);
            if version < TOPIC_ID_FROM {
                assert_eq!(view.topics[0].name, b"orders");
            } else {
                assert_eq!(
                    view.topics[0].topic_id,
                    Some(&uuid::Uuid::from_u128(7).as_bytes()[..])
                );
            }
            assert_eq!(view.topics[0].partitions[1].index, 1);
            assert_eq!(
                view.topics[0].partitions[1].records,
                Some(&b"batch-one"[..])
            );
            assert_eq!(view.encode(|_, _| PartitionEdit::Keep), frame, "v{version}");
        }
    }

    #[test]
    fn edits_drop_and_replace_partitions() {
        for version in [3, 8, 9, 13] {
            let (frame, off) = sample(version);
            let view = ProduceRequestView::parse(&frame, version, off).unwrap();
            let out = view.encode(|t, p| match (t, p) {
                (0, 0) => PartitionEdit::Replace(Bytes::from_static(b"new")),
                (0, 1) | (1, 0) => PartitionEdit::Drop,
                _ => PartitionEdit::Keep,
            });
            let again = ProduceRequestView::parse(&out, version, off).unwrap();
            assert_eq!(again.topics.len(), 1, "audit lost its only partition");
            assert_eq!(again.topics[0].partitions.len(), 1);
            assert_eq!(again.topics[0].partitions[0].records, Some(&b"new"[..]));
        }
    }

    /// Found by the `produce_view` and `diff_produce_view` fuzz targets: a topic sent without
    /// partitions was dropped from a rebuild that kept everything, so the frame changed.
    #[test]
    fn a_topic_without_partitions_survives_a_rebuild() {
        for version in [3, 8, 9, 12, 13] {
            let header = RequestHeader::default()
                .with_request_api_key(0)
                .with_request_api_version(version)
                .with_correlation_id(7)
                .with_client_id(Some(StrBytes::from_static_str("fuzz")));
            let req = ProduceRequest::default()
                .with_acks(-1)
                .with_topic_data(vec![
                    TopicProduceData::default()
                        .with_name(TopicName(StrBytes::from_static_str("empty")))
                        .with_topic_id(uuid::Uuid::from_u128(1)),
                    TopicProduceData::default()
                        .with_name(TopicName(StrBytes::from_static_str("orders")))
                        .with_topic_id(uuid::Uuid::from_u128(2))
                        .with_partition_data(vec![PartitionProduceData::default()
                            .with_index(0)
                            .with_records(Some(Bytes::from_static(b"batch")))]),
                ]);
            let mut buf = BytesMut::new();
            header
                .encode(&mut buf, if version >= 9 { 2 } else { 1 })
                .unwrap();
            let off = buf.len();
            req.encode(&mut buf, version).unwrap();
            let view = ProduceRequestView::parse(&buf, version, off).unwrap();
            assert_eq!(view.encode(|_, _| PartitionEdit::Keep), buf, "v{version}");
            // Dropping the only partition of `orders` drops `orders`, not `empty`.
            let edited = view.encode(|_, _| PartitionEdit::Drop);
            let again = ProduceRequestView::parse(&edited, version, off).unwrap();
            assert_eq!(again.topics.len(), 1, "v{version}");
            assert!(again.topics[0].partitions.is_empty());
        }
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256), version in 3i16..=13) {
            let _ = ProduceRequestView::parse(&bytes, version, 0);
        }

        #[test]
        fn truncations_are_errors(cut in 0usize..200, version in 3i16..=13) {
            let (frame, off) = sample(version);
            let cut = cut % frame.len();
            prop_assume!(cut > off);
            prop_assert!(ProduceRequestView::parse(&frame[..cut], version, off).is_err());
        }
    }
}
