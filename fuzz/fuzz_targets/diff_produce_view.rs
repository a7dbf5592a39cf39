//! Differential: the Produce request view against kafka-protocol, on requests kafka-protocol
//! encoded from fuzzer-chosen fields. The view must read every field as encoded, rebuild the
//! frame byte for byte, and an edited rebuild must decode with kafka-protocol as the edit says.
#![no_main]

use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ProduceRequest, RequestHeader, TopicName, TransactionalId};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use proxy::produce_view::{PartitionEdit, ProduceRequestView, TOPIC_ID_FROM};

fn string(u: &mut Unstructured<'_>) -> Result<StrBytes> {
    let len = u.int_in_range(0..=24)?;
    let s: String = (0..len)
        .map(|_| u.int_in_range(b'a'..=b'z').map(char::from))
        .collect::<Result<_>>()?;
    Ok(StrBytes::from_string(s))
}

fn tagged(u: &mut Unstructured<'_>, flexible: bool) -> Result<BTreeMap<i32, Bytes>> {
    let mut out = BTreeMap::new();
    if flexible {
        for _ in 0..u.int_in_range(0..=2)? {
            let len = u.int_in_range(0..=8)?;
            out.insert(
                u.int_in_range(0..=300)?,
                Bytes::copy_from_slice(u.bytes(len)?),
            );
        }
    }
    Ok(out)
}

fn request(u: &mut Unstructured<'_>, version: i16) -> Result<ProduceRequest> {
    let flexible = version >= 9;
    let mut topics = Vec::new();
    for _ in 0..u.int_in_range(0..=3)? {
        let mut partitions = Vec::new();
        for _ in 0..u.int_in_range(0..=3)? {
            let records = match u.arbitrary::<bool>()? {
                true => {
                    let len = u.int_in_range(0..=64)?;
                    Some(Bytes::copy_from_slice(u.bytes(len)?))
                }
                false => None,
            };
            partitions.push(
                PartitionProduceData::default()
                    .with_index(u.arbitrary()?)
                    .with_records(records)
                    .with_unknown_tagged_fields(tagged(u, flexible)?),
            );
        }
        let mut topic = TopicProduceData::default()
            .with_partition_data(partitions)
            .with_unknown_tagged_fields(tagged(u, flexible)?);
        if version >= TOPIC_ID_FROM {
            topic = topic.with_topic_id(uuid::Uuid::from_bytes(u.arbitrary()?));
        } else {
            topic = topic.with_name(TopicName(string(u)?));
        }
        topics.push(topic);
    }
    let transactional_id = match u.arbitrary::<bool>()? {
        true => Some(TransactionalId(string(u)?)),
        false => None,
    };
    Ok(ProduceRequest::default()
        .with_transactional_id(transactional_id)
        .with_acks(u.arbitrary()?)
        .with_timeout_ms(u.arbitrary()?)
        .with_topic_data(topics)
        .with_unknown_tagged_fields(tagged(u, flexible)?))
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(version) = u.int_in_range(3i16..=13) else {
        return;
    };
    let Ok(req) = request(&mut u, version) else {
        return;
    };
    let header = RequestHeader::default()
        .with_request_api_key(0)
        .with_request_api_version(version)
        .with_correlation_id(7)
        .with_client_id(Some(StrBytes::from_static_str("fuzz")));
    let mut buf = BytesMut::new();
    if header
        .encode(&mut buf, if version >= 9 { 2 } else { 1 })
        .is_err()
    {
        return;
    }
    let offset = buf.len();
    if req.encode(&mut buf, version).is_err() {
        return;
    }
    let frame = buf.freeze();
    let view = ProduceRequestView::parse(&frame, version, offset).unwrap_or_else(|e| {
        panic!("v{version}: a frame kafka-protocol encoded does not read: {e}")
    });
    assert_eq!(view.acks, req.acks);
    assert_eq!(view.topics.len(), req.topic_data.len());
    for (ours, theirs) in view.topics.iter().zip(&req.topic_data) {
        if version >= TOPIC_ID_FROM {
            assert_eq!(ours.topic_id, Some(&theirs.topic_id.as_bytes()[..]));
        } else {
            assert_eq!(ours.name, theirs.name.0.as_bytes());
        }
        assert_eq!(ours.partitions.len(), theirs.partition_data.len());
        for (p, q) in ours.partitions.iter().zip(&theirs.partition_data) {
            assert_eq!(p.index, q.index);
            assert_eq!(p.records, q.records.as_deref());
        }
    }
    assert_eq!(
        view.encode(|_, _| PartitionEdit::Keep),
        frame,
        "v{version}: rebuilt differs"
    );
    // Drop the first partition of every topic; kafka-protocol must decode the rest unchanged
    // (a topic left without partitions goes; one that came without any stays).
    let edited = view.encode(|_, p| match p {
        0 => PartitionEdit::Drop,
        _ => PartitionEdit::Keep,
    });
    let mut body = edited.slice(offset..);
    let decoded = ProduceRequest::decode(&mut body, version)
        .unwrap_or_else(|e| panic!("v{version}: kafka-protocol cannot decode our rebuild: {e}"));
    assert!(body.is_empty(), "bytes left after our rebuild");
    let expected: Vec<TopicProduceData> = req
        .topic_data
        .iter()
        .filter(|t| t.partition_data.len() != 1)
        .map(|t| {
            let mut t = t.clone();
            if !t.partition_data.is_empty() {
                t.partition_data.remove(0);
            }
            t
        })
        .collect();
    assert_eq!(decoded.topic_data, expected);
    assert_eq!(decoded.transactional_id, req.transactional_id);
    assert_eq!(decoded.unknown_tagged_fields, req.unknown_tagged_fields);
});
