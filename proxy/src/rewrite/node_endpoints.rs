//! Node endpoints in Produce v10+ and Fetch v16+ responses (KIP-951 leader discovery).
//!
//! They sit in the top-level tagged field 0, after everything else, so the rewriter walks the
//! whole response with the bounded reader, skipping record data by its length. A response
//! without node endpoints (the usual case: they only come with NOT_LEADER errors) is returned
//! unchanged, without a copy; otherwise only the tagged section is re-written.

use bytes::{BufMut, Bytes, BytesMut};

use super::{copy_fields, map_endpoint, WalkError};
use crate::broker_map::BrokerMap;
use crate::codec::{put_array_len, put_uvarint, WireError, WireReader};

/// First Produce version whose response carries node endpoints.
pub const PRODUCE_FIRST_VERSION: i16 = 10;
/// First Fetch version whose response carries node endpoints.
pub const FETCH_FIRST_VERSION: i16 = 16;

/// Tag of the `NodeEndpoints` field in both responses.
const NODE_ENDPOINTS_TAG: u32 = 0;
/// Smallest node endpoint: node id, host, port, rack, tags.
const MIN_ENDPOINT_BYTES: usize = 11;
/// Smallest Fetch partition: 30 fixed bytes, aborted list, preferred replica, records, tags.
const MIN_FETCH_PARTITION_BYTES: usize = 30 + 1 + 4 + 1 + 1;
/// Smallest Produce partition: 30 fixed bytes, record errors, error message, tags.
const MIN_PRODUCE_PARTITION_BYTES: usize = 30 + 1 + 1 + 1;
/// Size of a topic id (UUID).
const UUID_BYTES: usize = 16;

/// Rewrites the node endpoints of a Produce v10+ response; `body` is the whole frame body.
pub fn rewrite_produce(body: &Bytes, version: i16, map: &BrokerMap) -> Result<Bytes, WalkError> {
    if version < PRODUCE_FIRST_VERSION {
        return Ok(body.clone());
    }
    let mut r = WireReader::new(body);
    r.i32("correlation id")?;
    r.skip_tagged_fields()?;
    let topics = r.array_len(true, 2, "topics")?;
    for _ in 0..topics {
        if version >= 13 {
            r.take(UUID_BYTES, "topic id")?;
        } else {
            r.compact_string("topic name")?;
        }
        let partitions = r.array_len(true, MIN_PRODUCE_PARTITION_BYTES, "partitions")?;
        for _ in 0..partitions {
            r.take(4 + 2 + 8 + 8 + 8, "partition response")?;
            let errors = r.array_len(true, 6, "record errors")?;
            for _ in 0..errors {
                r.i32("batch index")?;
                r.compact_string("batch error message")?;
                r.skip_tagged_fields()?;
            }
            r.compact_string("error message")?;
            r.skip_tagged_fields()?;
        }
        r.skip_tagged_fields()?;
    }
    r.i32("throttle time")?;
    rewrite_top_tags(body, r, map)
}

/// Rewrites the node endpoints of a Fetch v16+ response; `body` is the whole frame body.
pub fn rewrite_fetch(body: &Bytes, version: i16, map: &BrokerMap) -> Result<Bytes, WalkError> {
    if version < FETCH_FIRST_VERSION {
        return Ok(body.clone());
    }
    let mut r = WireReader::new(body);
    r.i32("correlation id")?;
    r.skip_tagged_fields()?;
    r.take(4 + 2 + 4, "throttle, error code, session id")?;
    let topics = r.array_len(true, UUID_BYTES + 1, "topics")?;
    for _ in 0..topics {
        r.take(UUID_BYTES, "topic id")?;
        let partitions = r.array_len(true, MIN_FETCH_PARTITION_BYTES, "partitions")?;
        for _ in 0..partitions {
            r.take(4 + 2 + 8 + 8 + 8, "partition header")?;
            let aborted = r.array_len(true, 17, "aborted transactions")?;
            for _ in 0..aborted {
                r.take(16, "aborted transaction")?;
                r.skip_tagged_fields()?;
            }
            r.i32("preferred read replica")?;
            r.compact_string("records")?;
            r.skip_tagged_fields()?;
        }
        r.skip_tagged_fields()?;
    }
    rewrite_top_tags(body, r, map)
}

/// Reads the top-level tagged fields at `r` and rewrites field 0 if present.
fn rewrite_top_tags(
    body: &Bytes,
    mut r: WireReader<'_>,
    map: &BrokerMap,
) -> Result<Bytes, WalkError> {
    let tags_start = r.position();
    let tags = r.tagged_fields()?;
    if r.remaining() != 0 {
        return Err(WireError::Invalid {
            field: "response",
            detail: format!("{} trailing bytes", r.remaining()).into(),
        }
        .into());
    }
    if !tags.iter().any(|(tag, _)| *tag == NODE_ENDPOINTS_TAG) {
        return Ok(body.clone());
    }
    let mut out = BytesMut::with_capacity(body.len() + 64);
    out.put_slice(body.get(..tags_start).unwrap_or_default());
    put_uvarint(&mut out, tags.len() as u32);
    for (tag, value) in tags {
        put_uvarint(&mut out, tag);
        if tag == NODE_ENDPOINTS_TAG {
            let endpoints = rewrite_endpoint_list(value, map)?;
            put_uvarint(&mut out, endpoints.len() as u32);
            out.put_slice(&endpoints);
        } else {
            put_uvarint(&mut out, value.len() as u32);
            out.put_slice(value);
        }
    }
    Ok(out.freeze())
}

fn rewrite_endpoint_list(value: &[u8], map: &BrokerMap) -> Result<BytesMut, WalkError> {
    let mut r = WireReader::new(value);
    let mut out = BytesMut::with_capacity(value.len() + 32);
    let n = r.array_len(true, MIN_ENDPOINT_BYTES, "node endpoints")?;
    put_array_len(&mut out, true, n);
    for _ in 0..n {
        map_endpoint(&mut r, &mut out, true, map)?;
        copy_fields(&mut r, &mut out, value, |r| {
            r.compact_string("rack")?;
            r.skip_tagged_fields()
        })?;
    }
    if r.remaining() != 0 {
        return Err(WireError::Invalid {
            field: "node endpoints",
            detail: format!("{} trailing bytes", r.remaining()).into(),
        }
        .into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rewrite::test_support::{decode, encode, map};
    use kafka_protocol::messages::{fetch_response as f, produce_response as p};
    use kafka_protocol::messages::{ApiKey, BrokerId, FetchResponse, ProduceResponse, TopicName};
    use kafka_protocol::protocol::StrBytes;
    use proptest::prelude::*;

    fn produce_response(version: i16, with_endpoints: bool) -> ProduceResponse {
        let partition = p::PartitionProduceResponse::default()
            .with_index(2)
            .with_error_code(6)
            .with_base_offset(-1)
            .with_record_errors(vec![p::BatchIndexAndErrorMessage::default()
                .with_batch_index(3)
                .with_batch_index_error_message(Some(StrBytes::from_static_str("bad")))])
            .with_error_message(Some(StrBytes::from_static_str("NOT_LEADER")))
            .with_current_leader(
                p::LeaderIdAndEpoch::default()
                    .with_leader_id(BrokerId(8))
                    .with_leader_epoch(4),
            );
        let mut topic =
            p::TopicProduceResponse::default().with_partition_responses(vec![partition]);
        if version >= 13 {
            topic.topic_id = Default::default();
        } else {
            topic.name = TopicName(StrBytes::from_static_str("orders"));
        }
        let endpoints = if with_endpoints {
            vec![
                p::NodeEndpoint::default()
                    .with_node_id(BrokerId(8))
                    .with_host(StrBytes::from_static_str("kafka-8.internal"))
                    .with_port(9092)
                    .with_rack(Some(StrBytes::from_static_str("r8"))),
                p::NodeEndpoint::default()
                    .with_node_id(BrokerId(2))
                    .with_host(StrBytes::from_static_str("kafka-2.internal"))
                    .with_port(9092),
            ]
        } else {
            vec![]
        };
        ProduceResponse::default()
            .with_responses(vec![topic])
            .with_throttle_time_ms(1)
            .with_node_endpoints(endpoints)
    }

    fn fetch_response(with_endpoints: bool) -> FetchResponse {
        let partition = f::PartitionData::default()
            .with_partition_index(1)
            .with_high_watermark(100)
            .with_aborted_transactions(Some(vec![f::AbortedTransaction::default()
                .with_producer_id(kafka_protocol::messages::ProducerId(5))
                .with_first_offset(10)]))
            .with_current_leader(
                f::LeaderIdAndEpoch::default()
                    .with_leader_id(BrokerId(8))
                    .with_leader_epoch(2),
            )
            .with_records(Some(bytes::Bytes::from_static(&[0xab; 300])));
        let topic = f::FetchableTopicResponse::default()
            .with_topic_id(Default::default())
            .with_partitions(vec![
                partition,
                f::PartitionData::default().with_records(None),
            ]);
        let endpoints = if with_endpoints {
            vec![f::NodeEndpoint::default()
                .with_node_id(BrokerId(8))
                .with_host(StrBytes::from_static_str("kafka-8.internal"))
                .with_port(9093)]
        } else {
            vec![]
        };
        FetchResponse::default()
            .with_session_id(9)
            .with_responses(vec![topic])
            .with_node_endpoints(endpoints)
    }

    #[test]
    fn produce_endpoints_are_rewritten_in_every_version() {
        for version in 10..=13 {
            let original = produce_response(version, true);
            let body = encode(ApiKey::Produce, version, &original);
            let m = map();
            m.observe(2, "kafka-2.internal", 9092).unwrap();
            let got: ProduceResponse = decode(
                ApiKey::Produce,
                version,
                rewrite_produce(&body, version, &m).unwrap(),
            );
            let mut expected = original.clone();
            expected.node_endpoints[0].host = StrBytes::from_static_str("proxy.example");
            expected.node_endpoints[0].port = 29093;
            expected.node_endpoints[1].host = StrBytes::from_static_str("proxy.example");
            expected.node_endpoints[1].port = 29092;
            assert_eq!(got, expected, "v{version}");
        }
    }

    #[test]
    fn fetch_endpoints_are_rewritten_in_every_version() {
        for version in 16..=18 {
            let original = fetch_response(true);
            let body = encode(ApiKey::Fetch, version, &original);
            let got: FetchResponse = decode(
                ApiKey::Fetch,
                version,
                rewrite_fetch(&body, version, &map()).unwrap(),
            );
            let mut expected = original.clone();
            expected.node_endpoints[0].host = StrBytes::from_static_str("proxy.example");
            expected.node_endpoints[0].port = 29092;
            assert_eq!(got, expected, "v{version}");
        }
    }

    #[test]
    fn smallest_partitions_are_accepted() {
        // Empty partitions are as small as the wire allows; the count check must let them by.
        let topic = f::FetchableTopicResponse::default()
            .with_partitions(vec![f::PartitionData::default().with_records(None); 5]);
        let original = FetchResponse::default().with_responses(vec![topic]);
        let body = encode(ApiKey::Fetch, 16, &original);
        assert_eq!(rewrite_fetch(&body, 16, &map()).unwrap(), body);
        let topic = p::TopicProduceResponse::default()
            .with_partition_responses(vec![p::PartitionProduceResponse::default(); 5]);
        let original = ProduceResponse::default().with_responses(vec![topic]);
        let body = encode(ApiKey::Produce, 10, &original);
        assert_eq!(rewrite_produce(&body, 10, &map()).unwrap(), body);
    }

    #[test]
    fn responses_without_endpoints_are_not_copied() {
        for version in 10..=13 {
            let body = encode(ApiKey::Produce, version, &produce_response(version, false));
            let out = rewrite_produce(&body, version, &map()).unwrap();
            assert_eq!(out.as_ptr(), body.as_ptr(), "v{version}");
        }
        for version in 16..=18 {
            let body = encode(ApiKey::Fetch, version, &fetch_response(false));
            let out = rewrite_fetch(&body, version, &map()).unwrap();
            assert_eq!(out.as_ptr(), body.as_ptr(), "v{version}");
        }
    }

    #[test]
    fn truncated_responses_are_errors() {
        let body = encode(ApiKey::Fetch, 17, &fetch_response(true));
        for cut in 0..body.len() {
            assert!(
                rewrite_fetch(&body.slice(..cut), 17, &map()).is_err(),
                "cut at {cut}"
            );
        }
        let body = encode(ApiKey::Produce, 11, &produce_response(11, true));
        for cut in 0..body.len() {
            assert!(
                rewrite_produce(&body.slice(..cut), 11, &map()).is_err(),
                "cut at {cut}"
            );
        }
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256), v in 10i16..19) {
            let b = Bytes::from(bytes);
            let _ = rewrite_produce(&b, v.min(13), &map());
            let _ = rewrite_fetch(&b, v.max(16), &map());
        }
    }
}
