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

/// One stored record: partition, offset, key and value.
pub type Stored = (i32, i64, Option<Vec<u8>>, Option<Vec<u8>>);

/// Every record of every partition of `topic`, from the beginning to each partition's end as
/// it was when reading began, read with `config`; at most `within`. A topic that does not
/// exist reads as empty.
pub fn all_partitions(config: &ClientConfig, topic: &str, within: Duration) -> Vec<Stored> {
    let consumer: BaseConsumer = config
        .clone()
        .set("group.id", "schemagate-tests-read-back")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap_or_else(|e| panic!("read-back consumer: {e}"));
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("metadata of {topic}: {e}"));
    let mut ends = std::collections::HashMap::new();
    let mut tpl = TopicPartitionList::new();
    for t in md.topics().iter().filter(|t| t.error().is_none()) {
        for p in t.partitions() {
            let (low, high) = consumer
                .fetch_watermarks(topic, p.id(), Duration::from_secs(10))
                .unwrap_or_else(|e| panic!("watermarks of {topic}-{}: {e}", p.id()));
            if high > low {
                ends.insert(p.id(), high);
                tpl.add_partition_offset(topic, p.id(), Offset::Beginning)
                    .unwrap_or_else(|e| panic!("{e}"));
            }
        }
    }
    let mut out = Vec::new();
    if ends.is_empty() {
        return out;
    }
    consumer.assign(&tpl).unwrap_or_else(|e| panic!("{e}"));
    let deadline = Instant::now() + within;
    while !ends.is_empty() && Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            let (p, offset) = (m.partition(), m.offset());
            out.push((
                p,
                offset,
                m.key().map(<[u8]>::to_vec),
                m.payload().map(<[u8]>::to_vec),
            ));
            if ends.get(&p).is_some_and(|end| offset + 1 >= *end) {
                ends.remove(&p);
            }
        }
    }
    assert!(
        ends.is_empty(),
        "{topic}: partitions {ends:?} not read to their end within {within:?}"
    );
    out
}
