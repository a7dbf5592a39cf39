//! Produce responses the proxy answers for itself, whole or merged into the broker's.
//!
//! The broker's response is decoded with kafka-protocol only on this path (when the proxy
//! changed the request); it comes from the broker, within the frame cap, and is re-encoded
//! because partitions must be added to it.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceResponse, ResponseHeader, TopicName};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};

/// Error codes the proxy answers with.
pub mod codes {
    /// The record batch is corrupt (CRC, framing).
    pub const CORRUPT_MESSAGE: i16 = 2;
    /// Not enough in-sync replicas: retriable, and clients know nothing was written.
    pub const NOT_ENOUGH_REPLICAS: i16 = 19;
    /// A record failed validation.
    pub const INVALID_RECORD: i16 = 87;
}

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

impl LocalPartition {
    fn to_response(&self) -> PartitionProduceResponse {
        PartitionProduceResponse::default()
            .with_index(self.index)
            .with_error_code(self.error_code)
            .with_base_offset(-1)
            .with_log_append_time_ms(-1)
            .with_log_start_offset(-1)
            .with_record_errors(
                self.record_errors
                    .iter()
                    .map(|(i, m)| {
                        BatchIndexAndErrorMessage::default()
                            .with_batch_index(*i)
                            .with_batch_index_error_message(Some(StrBytes::from_string(m.clone())))
                    })
                    .collect(),
            )
            .with_error_message(self.error_message.clone().map(StrBytes::from_string))
    }
}

/// Why a response could not be built or merged.
#[derive(Debug, thiserror::Error)]
#[error("produce response: {0}")]
pub struct ResponseError(pub String);

/// A whole response made by the proxy (no partition was forwarded).
pub fn local_response(
    correlation_id: i32,
    version: i16,
    parts: &[LocalPartition],
) -> Result<Bytes, ResponseError> {
    let mut resp = ProduceResponse::default();
    add(&mut resp, parts);
    encode(correlation_id, version, &resp)
}

/// The broker's response (whole frame body, header included) with `parts` added.
pub fn merge(
    broker: Bytes,
    version: i16,
    parts: &[LocalPartition],
) -> Result<Bytes, ResponseError> {
    let mut buf = broker;
    let header_version = ProduceResponse::header_version(version);
    let header = ResponseHeader::decode(&mut buf, header_version)
        .map_err(|e| ResponseError(e.to_string()))?;
    let mut resp =
        ProduceResponse::decode(&mut buf, version).map_err(|e| ResponseError(e.to_string()))?;
    add(&mut resp, parts);
    encode(header.correlation_id, version, &resp)
}

fn add(resp: &mut ProduceResponse, parts: &[LocalPartition]) {
    for p in parts {
        let name = TopicName(StrBytes::from_string(p.topic.clone()));
        match resp.responses.iter_mut().find(|t| t.name == name) {
            Some(t) => t.partition_responses.push(p.to_response()),
            None => resp.responses.push(
                TopicProduceResponse::default()
                    .with_name(name)
                    .with_partition_responses(vec![p.to_response()]),
            ),
        }
    }
}

fn encode(
    correlation_id: i32,
    version: i16,
    resp: &ProduceResponse,
) -> Result<Bytes, ResponseError> {
    let mut out = BytesMut::new();
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut out, ProduceResponse::header_version(version))
        .map_err(|e| ResponseError(e.to_string()))?;
    resp.encode(&mut out, version)
        .map_err(|e| ResponseError(e.to_string()))?;
    Ok(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(mut b: Bytes, version: i16) -> (i32, ProduceResponse) {
        let h = ResponseHeader::decode(&mut b, ProduceResponse::header_version(version)).unwrap();
        (
            h.correlation_id,
            ProduceResponse::decode(&mut b, version).unwrap(),
        )
    }

    fn rejected() -> LocalPartition {
        LocalPartition {
            topic: "orders".into(),
            index: 2,
            error_code: codes::INVALID_RECORD,
            error_message: Some("1 invalid record".into()),
            record_errors: vec![(4, "orders/2 record 4: decode-failed".into())],
        }
    }

    #[test]
    fn local_responses_carry_record_errors_in_every_version() {
        for version in 3..=9 {
            let (corr, resp) = decode(local_response(7, version, &[rejected()]).unwrap(), version);
            assert_eq!(corr, 7);
            let p = &resp.responses[0].partition_responses[0];
            assert_eq!((p.index, p.error_code), (2, codes::INVALID_RECORD));
            if version >= 8 {
                assert_eq!(p.record_errors[0].batch_index, 4);
                assert_eq!(p.error_message.as_deref(), Some("1 invalid record"));
            }
        }
    }

    #[test]
    fn merge_adds_partitions_to_the_brokers_answer() {
        for version in [3, 8, 9] {
            let ok = PartitionProduceResponse::default()
                .with_index(0)
                .with_base_offset(100);
            let broker =
                ProduceResponse::default().with_responses(vec![TopicProduceResponse::default()
                    .with_name(TopicName(StrBytes::from_static_str("orders")))
                    .with_partition_responses(vec![ok])]);
            let raw = encode(9, version, &broker).unwrap();
            let (corr, merged) = decode(merge(raw, version, &[rejected()]).unwrap(), version);
            assert_eq!(corr, 9);
            assert_eq!(merged.responses.len(), 1);
            let parts = &merged.responses[0].partition_responses;
            assert_eq!(parts.len(), 2);
            assert_eq!((parts[0].index, parts[0].base_offset), (0, 100));
            assert_eq!(
                (parts[1].index, parts[1].error_code),
                (2, codes::INVALID_RECORD)
            );
        }
    }

    #[test]
    fn garbage_broker_response_is_an_error_not_a_panic() {
        assert!(merge(Bytes::from_static(&[0, 0, 0, 1, 0xff]), 8, &[rejected()]).is_err());
    }
}
