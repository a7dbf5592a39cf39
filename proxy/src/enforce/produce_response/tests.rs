//! Responses are built with kafka-protocol's encoder, merged with the bounded walk, and read
//! back with kafka-protocol's decoder, an implementation independent of ours. The expected
//! message is computed on kafka-protocol's own types by [`oracle`].

use super::*;
use crate::codec::WireError;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, LeaderIdAndEpoch, NodeEndpoint, PartitionProduceResponse,
    TopicProduceResponse,
};
use kafka_protocol::messages::{BrokerId, ProduceResponse, ResponseHeader, TopicName};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
use proptest::prelude::*;

const VERSIONS: std::ops::RangeInclusive<i16> = FIRST_VERSION..=LAST_VERSION;

fn encode(version: i16, header: &ResponseHeader, resp: &ProduceResponse) -> Bytes {
    let mut out = BytesMut::new();
    header
        .encode(&mut out, ProduceResponse::header_version(version))
        .unwrap();
    resp.encode(&mut out, version).unwrap();
    out.freeze()
}

fn decode(mut body: Bytes, version: i16) -> (ResponseHeader, ProduceResponse) {
    let header =
        ResponseHeader::decode(&mut body, ProduceResponse::header_version(version)).unwrap();
    let resp = ProduceResponse::decode(&mut body, version).unwrap();
    assert!(body.is_empty(), "trailing bytes");
    (header, resp)
}

/// The message as the version carries it (fields the version lacks are left out on encode).
fn in_version(version: i16, resp: &ProduceResponse) -> ProduceResponse {
    decode(encode(version, &ResponseHeader::default(), resp), version).1
}

fn str(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

/// A local partition as kafka-protocol would hold it.
fn as_kafka(p: &LocalPartition) -> PartitionProduceResponse {
    PartitionProduceResponse::default()
        .with_index(p.index)
        .with_error_code(p.error_code)
        .with_base_offset(-1)
        .with_log_append_time_ms(-1)
        .with_log_start_offset(-1)
        .with_record_errors(
            p.record_errors
                .iter()
                .map(|(i, m)| {
                    BatchIndexAndErrorMessage::default()
                        .with_batch_index(*i)
                        .with_batch_index_error_message(Some(str(m)))
                })
                .collect(),
        )
        .with_error_message(p.error_message.as_deref().map(str))
}

/// What the merge must produce, on kafka-protocol's types: each local partition goes to the
/// first topic of its name, or to a new topic after the broker's.
fn oracle(mut resp: ProduceResponse, parts: &[LocalPartition]) -> ProduceResponse {
    for p in parts {
        let name = TopicName(str(&p.topic));
        match resp.responses.iter_mut().find(|t| t.name == name) {
            Some(t) => t.partition_responses.push(as_kafka(p)),
            None => resp.responses.push(
                TopicProduceResponse::default()
                    .with_name(name)
                    .with_partition_responses(vec![as_kafka(p)]),
            ),
        }
    }
    resp
}

fn local(topic: &str, index: i32, record_errors: Vec<(i32, String)>) -> LocalPartition {
    LocalPartition {
        topic: topic.into(),
        index,
        error_code: codes::INVALID_RECORD,
        error_message: Some(format!("{} invalid records", record_errors.len())),
        record_errors,
    }
}

fn locals() -> Vec<LocalPartition> {
    vec![
        local(
            "orders",
            2,
            vec![(4, "orders/2 record 4: decode-failed".into())],
        ),
        local("payments", 0, vec![]),
        local("orders", 5, vec![(0, "a".into()), (9, "b".into())]),
        LocalPartition {
            error_message: None,
            ..local("payments", 1, vec![])
        },
    ]
}

/// A broker response using every field the version has, tagged ones included.
fn rich_broker(version: i16) -> (ResponseHeader, ProduceResponse) {
    let tag = |s: &'static [u8]| Bytes::from_static(s);
    let mut header = ResponseHeader::default().with_correlation_id(9);
    let mut written = PartitionProduceResponse::default()
        .with_index(0)
        .with_base_offset(100)
        .with_log_append_time_ms(1_700_000_000_000)
        .with_log_start_offset(5)
        .with_record_errors(vec![BatchIndexAndErrorMessage::default()
            .with_batch_index(3)
            .with_batch_index_error_message(None)])
        .with_error_message(Some(str("partly")));
    let mut moved = PartitionProduceResponse::default()
        .with_index(7)
        .with_error_code(6)
        .with_error_message(Some(str("NOT_LEADER_OR_FOLLOWER")));
    let mut orders = TopicProduceResponse::default().with_name(TopicName(str("orders")));
    let mut resp = ProduceResponse::default().with_throttle_time_ms(17);
    if version >= FLEXIBLE_FROM {
        header = header.with_unknown_tagged_field(3, tag(b"hdr"));
        written = written.with_unknown_tagged_field(5, tag(b"part"));
        written.record_errors[0] = written.record_errors[0]
            .clone()
            .with_unknown_tagged_field(2, tag(b"rec"));
        orders = orders.with_unknown_tagged_field(4, tag(b"topic"));
        resp = resp.with_unknown_tagged_field(6, tag(b"top"));
    }
    if version >= 10 {
        moved = moved.with_current_leader(
            LeaderIdAndEpoch::default()
                .with_leader_id(BrokerId(8))
                .with_leader_epoch(4),
        );
        resp = resp.with_node_endpoints(vec![NodeEndpoint::default()
            .with_node_id(BrokerId(8))
            .with_host(str("kafka-8.internal"))
            .with_port(9092)
            .with_rack(Some(str("r1")))]);
    }
    let audit = TopicProduceResponse::default()
        .with_name(TopicName(str("audit")))
        .with_partition_responses(vec![PartitionProduceResponse::default().with_index(1)]);
    let resp = resp.with_responses(vec![
        orders.with_partition_responses(vec![written, moved]),
        audit,
    ]);
    (header, resp)
}

/// Every partition answer of a response, as `visit_partitions` reports it.
fn visited(raw: &[u8], version: i16) -> Result<Vec<(String, i32, i16)>, ResponseError> {
    let mut seen = Vec::new();
    visit_partitions(raw, version, |topic, index, code| {
        seen.push((String::from_utf8_lossy(topic).into_owned(), index, code));
    })?;
    Ok(seen)
}

#[test]
fn the_visit_names_each_partition_answer_with_its_error_code() {
    for version in VERSIONS {
        let (header, resp) = rich_broker(version);
        let raw = encode(version, &header, &in_version(version, &resp));
        assert_eq!(
            visited(&raw, version).unwrap(),
            vec![
                ("orders".to_owned(), 0, 0),
                ("orders".to_owned(), 7, 6),
                ("audit".to_owned(), 1, 0)
            ],
            "v{version}"
        );
        assert!(
            visited(&raw[..raw.len() - 5], version).is_err(),
            "v{version}"
        );
    }
    // Versions the proxy does not read are not walked.
    assert_eq!(visited(b"\0\0\0\x01", 2).unwrap(), vec![]);
}

#[test]
fn merge_keeps_every_broker_field_and_adds_local_partitions() {
    for version in VERSIONS {
        let (header, resp) = rich_broker(version);
        let raw = encode(version, &header, &resp);
        // What the broker said, as far as this version carries it.
        let (header, said) = decode(raw.clone(), version);
        let expected = oracle(said, &locals());

        let merged = merge(raw.clone(), version, &locals()).unwrap();
        let (got_header, got) = decode(merged.clone(), version);
        assert_eq!(got_header, header, "v{version}");
        assert_eq!(got, in_version(version, &expected), "v{version}");
        assert_eq!(
            merged,
            encode(version, &header, &expected),
            "v{version} bytes"
        );
        if version >= 10 {
            assert_eq!(got.node_endpoints.len(), 1);
            assert_eq!(
                got.responses[0].partition_responses[1]
                    .current_leader
                    .leader_id,
                8
            );
        }
        let orders: Vec<_> = got.responses[0]
            .partition_responses
            .iter()
            .map(|p| p.index)
            .collect();
        assert_eq!(orders, [0, 7, 2, 5], "v{version}");
        assert_eq!(got.responses.len(), 3, "v{version}");
        assert_eq!(got.responses[2].name.0.as_str(), "payments");
    }
}

#[test]
fn untouched_bytes_are_copied_not_re_encoded() {
    // v9, the topic name's length written as a two-byte varint (0x87 0x00 = 7): an encoder
    // would write 0x07. The merge must keep it, and change only the partition count after it.
    let mut body = vec![0, 0, 0, 9, 0, 2, 0x87, 0x00];
    body.extend_from_slice(b"orders");
    let prefix = body.len();
    body.push(2);
    let partition_at = body.len();
    body.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    body.extend_from_slice(&100i64.to_be_bytes());
    body.extend_from_slice(&[0xff; 16]);
    body.extend_from_slice(&[1, 0, 0]); // no record errors, null message, no tags
    let partition_end = body.len();
    body.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // topic tags, throttle, tags
    let merged = merge(Bytes::from(body.clone()), 9, &[local("orders", 2, vec![])]).unwrap();
    assert_eq!(merged[..prefix], body[..prefix]);
    assert_eq!(merged[prefix], 3);
    assert_eq!(
        merged[prefix + 1..][..partition_end - partition_at],
        body[partition_at..partition_end]
    );
    let (_, got) = decode(merged, 9);
    let indexes: Vec<_> = got.responses[0]
        .partition_responses
        .iter()
        .map(|p| p.index)
        .collect();
    assert_eq!(indexes, [0, 2]);
}

#[test]
fn no_local_partitions_returns_the_input_unchanged() {
    for version in VERSIONS {
        let (header, resp) = rich_broker(version);
        let raw = encode(version, &header, &resp);
        let merged = merge(raw.clone(), version, &[]).unwrap();
        assert_eq!(merged, raw, "v{version}");
        assert_eq!(merged.as_ptr(), raw.as_ptr(), "v{version}: copied");
    }
}

#[test]
fn an_empty_broker_answer_gains_new_topics() {
    for version in VERSIONS {
        let raw = encode(
            version,
            &ResponseHeader::default(),
            &ProduceResponse::default(),
        );
        let merged = merge(raw, version, &locals()).unwrap();
        let (_, got) = decode(merged, version);
        let expected = oracle(ProduceResponse::default(), &locals());
        assert_eq!(got, in_version(version, &expected), "v{version}");
    }
}

#[test]
fn local_responses_are_what_kafka_protocol_encodes() {
    for version in VERSIONS {
        let header = ResponseHeader::default().with_correlation_id(7);
        let expected = oracle(ProduceResponse::default(), &locals());
        let got = local_response(7, version, &locals()).unwrap();
        assert_eq!(got, encode(version, &header, &expected), "v{version}");
    }
}

#[test]
fn local_response_golden_bytes() {
    let part = LocalPartition {
        error_message: None,
        ..local("t", 2, vec![(4, "bad".into())])
    };
    let minus_one = [0xff; 8];
    let mut v3 = vec![
        0, 0, 0, 7, 0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 1, 0, 0, 0, 2, 0, 87,
    ];
    v3.extend_from_slice(&[minus_one, minus_one].concat());
    v3.extend_from_slice(&[0, 0, 0, 0]);
    assert_eq!(
        local_response(7, 3, std::slice::from_ref(&part)).unwrap(),
        v3
    );

    let mut v9 = vec![0, 0, 0, 7, 0, 2, 2, b't', 2, 0, 0, 0, 2, 0, 87];
    v9.extend_from_slice(&[minus_one, minus_one, minus_one].concat());
    v9.extend_from_slice(&[2, 0, 0, 0, 4, 4, b'b', b'a', b'd', 0]); // one record error
    v9.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]); // null message, tags, topic tags, throttle, tags
    assert_eq!(local_response(7, 9, &[part]).unwrap(), v9);
}

#[test]
fn overlong_messages_are_cut_at_a_character_boundary() {
    let long = "é".repeat(20_000);
    let part = local("t", 0, vec![(1, long.clone())]);
    let (_, got) = decode(local_response(1, 8, &[part]).unwrap(), 8);
    let message = got.responses[0].partition_responses[0].record_errors[0]
        .batch_index_error_message
        .clone()
        .unwrap();
    assert_eq!(message.len(), MAX_STRING_BYTES - 1);
    assert!(long.starts_with(message.as_str()));
}

#[test]
fn unhandled_versions_are_refused() {
    for version in [0, 2, 13, 14] {
        assert_eq!(
            local_response(1, version, &locals()),
            Err(ResponseError::UnsupportedVersion(version))
        );
        assert_eq!(
            merge(Bytes::new(), version, &locals()),
            Err(ResponseError::UnsupportedVersion(version))
        );
    }
}

#[test]
fn truncated_or_overlong_responses_are_errors() {
    for version in VERSIONS {
        let (header, resp) = rich_broker(version);
        let raw = encode(version, &header, &resp);
        for cut in 0..raw.len() {
            assert!(
                merge(raw.slice(..cut), version, &locals()).is_err(),
                "v{version} cut {cut}"
            );
            assert!(
                merge(raw.slice(..cut), version, &[]).is_err(),
                "v{version} cut {cut}"
            );
        }
        let mut long = raw.to_vec();
        long.push(0);
        assert!(
            merge(Bytes::from(long), version, &locals()).is_err(),
            "v{version}"
        );
    }
}

#[test]
fn hostile_counts_are_refused_before_allocating() {
    let topics = Bytes::from_static(&[0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
    let err = merge(topics, 8, &locals()).unwrap_err();
    assert!(matches!(
        err,
        ResponseError::Malformed {
            cause: WireError::Invalid { .. },
            ..
        }
    ));
    let partitions = Bytes::from_static(&[0, 0, 0, 1, 0, 2, 2, b'x', 0xff, 0xff, 0xff, 0x0f, 0]);
    let err = merge(partitions, 9, &locals()).unwrap_err();
    assert!(matches!(
        err,
        ResponseError::Malformed {
            cause: WireError::Invalid { .. },
            ..
        }
    ));
}

fn partition_strategy() -> impl Strategy<Value = PartitionProduceResponse> {
    let record_error = (any::<i32>(), proptest::option::of("[a-z]{0,6}"));
    (
        (
            any::<i32>(),
            any::<i16>(),
            any::<i64>(),
            any::<i64>(),
            any::<i64>(),
        ),
        proptest::collection::vec(record_error, 0..3),
        proptest::option::of("[ -~]{0,12}"),
        (any::<i32>(), any::<i32>()),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..6)),
    )
        .prop_map(
            |((index, error, base, append, start), errors, message, leader, tag)| {
                let errors = errors
                    .into_iter()
                    .map(|(i, m)| {
                        BatchIndexAndErrorMessage::default()
                            .with_batch_index(i)
                            .with_batch_index_error_message(m.as_deref().map(str))
                    })
                    .collect();
                let mut p = PartitionProduceResponse::default()
                    .with_index(index)
                    .with_error_code(error)
                    .with_base_offset(base)
                    .with_log_append_time_ms(append)
                    .with_log_start_offset(start)
                    .with_record_errors(errors)
                    .with_error_message(message.as_deref().map(str))
                    .with_current_leader(
                        LeaderIdAndEpoch::default()
                            .with_leader_id(BrokerId(leader.0))
                            .with_leader_epoch(leader.1),
                    );
                if let Some(tag) = tag {
                    p = p.with_unknown_tagged_field(9, Bytes::from(tag));
                }
                p
            },
        )
}

fn broker_strategy() -> impl Strategy<Value = (i16, Bytes)> {
    let topic = (
        "[ab]{0,2}",
        proptest::collection::vec(partition_strategy(), 0..3),
    )
        .prop_map(|(name, partitions)| {
            TopicProduceResponse::default()
                .with_name(TopicName(str(&name)))
                .with_partition_responses(partitions)
        });
    (
        VERSIONS,
        proptest::collection::vec(topic, 0..4),
        any::<i32>(),
        any::<i32>(),
    )
        .prop_map(|(version, topics, throttle, correlation_id)| {
            let resp = ProduceResponse::default()
                .with_responses(topics)
                .with_throttle_time_ms(throttle);
            let header = ResponseHeader::default().with_correlation_id(correlation_id);
            (version, encode(version, &header, &resp))
        })
}

fn locals_strategy() -> impl Strategy<Value = Vec<LocalPartition>> {
    let part = (
        "[ab]{0,2}",
        any::<i32>(),
        any::<i16>(),
        proptest::option::of("[ -~]{0,12}"),
        proptest::collection::vec((any::<i32>(), "[a-z]{0,6}"), 0..3),
    )
        .prop_map(
            |(topic, index, error_code, error_message, record_errors)| LocalPartition {
                topic,
                index,
                error_code,
                error_message,
                record_errors,
            },
        );
    proptest::collection::vec(part, 0..5)
}

proptest! {
    #[test]
    fn merges_match_the_oracle((version, raw) in broker_strategy(), parts in locals_strategy()) {
        let (header, said) = decode(raw.clone(), version);
        let expected = oracle(said, &parts);
        let merged = merge(raw, version, &parts).unwrap();
        prop_assert_eq!(&merged, &encode(version, &header, &expected));
    }

    #[test]
    fn the_visit_matches_kafka_protocols_decoding((version, raw) in broker_strategy()) {
        let (_, said) = decode(raw.clone(), version);
        let expected: Vec<(String, i32, i16)> = said
            .responses
            .iter()
            .flat_map(|t| {
                t.partition_responses
                    .iter()
                    .map(|p| (t.name.0.to_string(), p.index, p.error_code))
            })
            .collect();
        prop_assert_eq!(visited(&raw, version).unwrap(), expected);
    }

    #[test]
    fn truncations_are_errors(
        (version, raw) in broker_strategy(),
        parts in locals_strategy(),
        cut in any::<prop::sample::Index>(),
    ) {
        let cut = cut.index(raw.len());
        prop_assert!(merge(raw.slice(..cut), version, &parts).is_err());
    }

    #[test]
    fn corrupted_responses_never_panic(
        (version, raw) in broker_strategy(),
        parts in locals_strategy(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let mut bytes = raw.to_vec();
        let at = at.index(bytes.len());
        bytes[at] = byte;
        if let Ok(merged) = merge(Bytes::from(bytes), version, &parts) {
            // Whatever the walk accepts, it leaves well formed.
            prop_assert_eq!(merge(merged.clone(), version, &[]), Ok(merged));
        }
    }

    #[test]
    fn random_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..256),
        version in VERSIONS,
        parts in locals_strategy(),
    ) {
        if let Ok(merged) = merge(Bytes::from(bytes), version, &parts) {
            prop_assert_eq!(merge(merged.clone(), version, &[]), Ok(merged));
        }
    }
}
