//! A bounded, zero-copy view of a Produce request: topics, partitions and each partition's
//! record data as a slice of the original frame.
//!
//! This is what produce inspection reads instead of decoding the request with kafka-protocol
//! (which trusts wire counts when reserving memory). Every count is checked against the bytes
//! left, and record data is never copied: `records` are `Bytes` slices of the frame, ready
//! for a bounded record-batch decoder.

use bytes::Bytes;

use crate::codec::{WireError, WireReader};
use crate::header::request_header_len;

/// Size of a topic id (UUID).
const UUID_BYTES: usize = 16;

/// One Produce request, as read from its frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProduceRequestView {
    /// Transactional id, if the producer is transactional.
    pub transactional_id: Option<String>,
    /// Acknowledgements required: 0, 1 or -1 (all).
    pub acks: i16,
    /// Broker-side timeout.
    pub timeout_ms: i32,
    /// Per-topic data, in request order.
    pub topics: Vec<TopicView>,
}

/// One topic of a Produce request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicView {
    /// Topic name (versions up to 12).
    pub name: Option<String>,
    /// Topic id (version 13 and later).
    pub topic_id: Option<[u8; UUID_BYTES]>,
    /// Partitions, in request order.
    pub partitions: Vec<PartitionView>,
}

/// One partition of a Produce request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionView {
    /// Partition index.
    pub index: i32,
    /// The partition's record batches, as a slice of the frame; `None` when null.
    pub records: Option<Bytes>,
}

impl ProduceRequestView {
    /// Reads a Produce request frame body (header included) of the given version (3 to 13).
    pub fn parse(frame: &Bytes, version: i16) -> Result<Self, WireError> {
        if !(3..=13).contains(&version) {
            return Err(WireError::Invalid {
                field: "produce version",
                detail: format!("v{version} is not read by the proxy"),
            });
        }
        let flexible = version >= 9;
        let start = request_header_len(frame, kafka_protocol::messages::ApiKey::Produce, version)?;
        let body = frame.slice(start..);
        let mut r = WireReader::new(&body);
        let transactional_id = r.any_string(flexible, "transactional id")?.map(lossy);
        let acks = r.i16("acks")?;
        let timeout_ms = r.i32("timeout")?;
        let n_topics = r.array_len(flexible, 2, "topics")?;
        let mut topics = Vec::with_capacity(n_topics);
        for _ in 0..n_topics {
            let (name, topic_id) = if version >= 13 {
                let id = r.take(UUID_BYTES, "topic id")?;
                let mut out = [0u8; UUID_BYTES];
                out.copy_from_slice(id);
                (None, Some(out))
            } else {
                (r.any_string(flexible, "topic name")?.map(lossy), None)
            };
            let n_partitions = r.array_len(flexible, 5, "partitions")?;
            let mut partitions = Vec::with_capacity(n_partitions);
            for _ in 0..n_partitions {
                let index = r.i32("partition index")?;
                let records = records(&mut r, &body, flexible)?;
                if flexible {
                    r.skip_tagged_fields()?;
                }
                partitions.push(PartitionView { index, records });
            }
            if flexible {
                r.skip_tagged_fields()?;
            }
            topics.push(TopicView {
                name,
                topic_id,
                partitions,
            });
        }
        if flexible {
            r.skip_tagged_fields()?;
        }
        if r.remaining() != 0 {
            // Bytes the view does not account for could carry records it never showed.
            return Err(WireError::Invalid {
                field: "produce request",
                detail: format!("{} trailing bytes", r.remaining()),
            });
        }
        Ok(Self {
            transactional_id,
            acks,
            timeout_ms,
            topics,
        })
    }
}

/// Reads nullable BYTES / COMPACT_NULLABLE_BYTES and returns them as a slice of `body`.
fn records(
    r: &mut WireReader<'_>,
    body: &Bytes,
    flexible: bool,
) -> Result<Option<Bytes>, WireError> {
    let data = if flexible {
        r.compact_string("records")?
    } else {
        match r.i32("records length")? {
            -1 => None,
            n if n >= 0 => Some(r.take(n as usize, "records")?),
            n => {
                return Err(WireError::Invalid {
                    field: "records length",
                    detail: format!("negative length {n}"),
                })
            }
        }
    };
    Ok(data.map(|d| body.slice_ref(d)))
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::{
        ApiKey, ProduceRequest, RequestHeader, TopicName, TransactionalId,
    };
    use kafka_protocol::protocol::{Encodable, StrBytes};
    use proptest::prelude::*;

    fn request(version: i16) -> ProduceRequest {
        let partition = |index: i32, fill: Option<u8>| {
            PartitionProduceData::default()
                .with_index(index)
                .with_records(fill.map(|b| Bytes::from(vec![b; 40 + index as usize])))
        };
        let topic = |name: &'static str, parts: Vec<PartitionProduceData>| {
            let t = TopicProduceData::default().with_partition_data(parts);
            if version >= 13 {
                t.with_topic_id(Default::default())
            } else {
                t.with_name(TopicName(StrBytes::from_static_str(name)))
            }
        };
        ProduceRequest::default()
            .with_transactional_id(Some(TransactionalId(StrBytes::from_static_str("tx-1"))))
            .with_acks(-1)
            .with_timeout_ms(30_000)
            .with_topic_data(vec![
                topic("orders", vec![partition(0, Some(1)), partition(3, None)]),
                topic("payments", vec![partition(7, Some(2))]),
            ])
    }

    fn frame(version: i16, req: &ProduceRequest) -> Bytes {
        let mut buf = BytesMut::new();
        RequestHeader::default()
            .with_request_api_key(ApiKey::Produce as i16)
            .with_request_api_version(version)
            .with_correlation_id(5)
            .with_client_id(Some(StrBytes::from_static_str("c")))
            .encode(&mut buf, ApiKey::Produce.request_header_version(version))
            .unwrap();
        req.encode(&mut buf, version).unwrap();
        buf.freeze()
    }

    #[test]
    fn every_version_reads_like_kafka_protocol_encodes() {
        for version in 3..=13 {
            let req = request(version);
            let frame = frame(version, &req);
            let view = ProduceRequestView::parse(&frame, version).unwrap();
            assert_eq!(view.transactional_id.as_deref(), Some("tx-1"), "v{version}");
            assert_eq!((view.acks, view.timeout_ms), (-1, 30_000));
            assert_eq!(view.topics.len(), 2);
            for (t, expected) in view.topics.iter().zip(&req.topic_data) {
                if version >= 13 {
                    assert_eq!(t.topic_id, Some([0; 16]));
                    assert_eq!(t.name, None);
                } else {
                    assert_eq!(t.name.as_deref(), Some(expected.name.0.as_str()));
                }
                let got: Vec<_> = t
                    .partitions
                    .iter()
                    .map(|p| (p.index, p.records.clone()))
                    .collect();
                let want: Vec<_> = expected
                    .partition_data
                    .iter()
                    .map(|p| (p.index, p.records.clone()))
                    .collect();
                assert_eq!(got, want, "v{version}");
            }
            // Records are slices of the frame, not copies.
            let records = view.topics[0].partitions[0].records.as_ref().unwrap();
            let frame_range = frame.as_ptr() as usize..frame.as_ptr() as usize + frame.len();
            assert!(frame_range.contains(&(records.as_ptr() as usize)));
        }
    }

    #[test]
    fn trailing_bytes_are_errors() {
        let mut f = frame(9, &request(9)).to_vec();
        f.push(0);
        assert!(ProduceRequestView::parse(&Bytes::from(f), 9).is_err());
    }

    #[test]
    fn truncated_requests_are_errors() {
        let f = frame(9, &request(9));
        for cut in 0..f.len() {
            assert!(
                ProduceRequestView::parse(&f.slice(..cut), 9).is_err(),
                "cut at {cut}"
            );
        }
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256), v in 0i16..15) {
            let _ = ProduceRequestView::parse(&Bytes::from(bytes), v);
        }
    }
}
