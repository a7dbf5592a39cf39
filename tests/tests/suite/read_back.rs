//! Reading a partition back with an in-process librdkafka consumer, to check what was stored.

use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{Message, Offset, TopicPartitionList};

/// Every value of partition 0 of `topic`, from the beginning to the partition's end, read with
/// `config` (bootstrap and security settings); at most 30 s.
pub fn partition_zero(config: &ClientConfig, topic: &str) -> Vec<Vec<u8>> {
    let consumer: BaseConsumer = config
        .clone()
        .set("group.id", "schemagate-tests-read-back")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()
        .unwrap_or_else(|e| panic!("read-back consumer: {e}"));
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap_or_else(|e| panic!("{e}"));
    consumer.assign(&tpl).unwrap_or_else(|e| panic!("{e}"));
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => out.push(m.payload().unwrap_or_default().to_vec()),
            Some(Err(KafkaError::PartitionEOF(_))) => break,
            _ => {}
        }
    }
    out
}
