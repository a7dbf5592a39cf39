//! Kafka requests sent by hand over a plain socket, for what no client library does: frames
//! a hostile client would send, and DescribeQuorum (which names the active KRaft controller).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::describe_quorum_request::{self, DescribeQuorumRequest};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, DescribeQuorumResponse, ProduceRequest, ProduceResponse, RequestHeader, ResponseHeader,
    TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

/// Largest response read back.
const MAX_RESPONSE: usize = 16 << 20;
/// The client id of every request sent here.
pub const CLIENT_ID: &str = "schemagate-tests";

/// A request frame (size prefix included) of `key` at `version` with `body` encoded after
/// the header.
pub fn frame<T: Encodable>(key: ApiKey, version: i16, correlation_id: i32, body: &T) -> Vec<u8> {
    let mut buf = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str(CLIENT_ID)))
        .encode(&mut buf, key.request_header_version(version))
        .unwrap_or_else(|e| panic!("request header: {e}"));
    body.encode(&mut buf, version)
        .unwrap_or_else(|e| panic!("request body: {e}"));
    let mut out = (buf.len() as i32).to_be_bytes().to_vec();
    out.extend_from_slice(&buf);
    out
}

/// A Produce v9 request with `records` as partition 0 of `topic` (acks=all).
pub fn produce(topic: &str, records: Bytes) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_owned())))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(records))])])
}

/// `records` as one uncompressed v2 record batch (kafka-protocol computes the CRC).
pub fn record_batch(records: &[kafka_protocol::records::Record]) -> BytesMut {
    use kafka_protocol::records::{Compression, RecordBatchEncoder, RecordEncodeOptions};
    let mut batch = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut batch,
        records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .unwrap_or_else(|e| panic!("encoding a record batch: {e}"));
    batch
}

/// Reads one response frame body, or `None` when the peer closed (or failed) first.
pub fn read_response(stream: &mut TcpStream) -> Option<Bytes> {
    let mut size = [0u8; 4];
    stream.read_exact(&mut size).ok()?;
    let size = usize::try_from(i32::from_be_bytes(size)).ok()?;
    if size > MAX_RESPONSE {
        return None;
    }
    let mut body = vec![0u8; size];
    stream.read_exact(&mut body).ok()?;
    Some(Bytes::from(body))
}

/// Sends `frame` on a new connection to `addr` and reads one response (`None`: closed).
pub fn exchange(addr: SocketAddr, frame: &[u8], timeout: Duration) -> Option<Bytes> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    stream.write_all(frame).ok()?;
    read_response(&mut stream)
}

/// The partition error codes of a Produce v9 response body.
pub fn produce_errors(mut body: Bytes) -> Vec<i16> {
    ResponseHeader::decode(&mut body, ApiKey::Produce.response_header_version(9))
        .unwrap_or_else(|e| panic!("produce response header: {e}"));
    let response =
        ProduceResponse::decode(&mut body, 9).unwrap_or_else(|e| panic!("produce response: {e}"));
    response
        .responses
        .iter()
        .flat_map(|t| t.partition_responses.iter().map(|p| p.error_code))
        .collect()
}

/// The node id of the active KRaft controller, asked of the broker at `addr`.
pub fn active_controller(addr: SocketAddr) -> Option<i32> {
    let request = DescribeQuorumRequest::default().with_topics(vec![
        describe_quorum_request::TopicData::default()
            .with_topic_name(TopicName(StrBytes::from_static_str("__cluster_metadata")))
            .with_partitions(vec![
                describe_quorum_request::PartitionData::default().with_partition_index(0)
            ]),
    ]);
    let frame = frame(ApiKey::DescribeQuorum, 0, 1, &request);
    let mut body = exchange(addr, &frame, Duration::from_secs(10))?;
    ResponseHeader::decode(&mut body, ApiKey::DescribeQuorum.response_header_version(0)).ok()?;
    let response = DescribeQuorumResponse::decode(&mut body, 0).ok()?;
    let partition = response.topics.first()?.partitions.first()?;
    (partition.error_code == 0 && partition.leader_id.0 >= 0).then_some(partition.leader_id.0)
}
