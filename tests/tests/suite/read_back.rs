//! Reading a partition back with an in-process librdkafka consumer, to check what was stored.

use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Headers;
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

/// One stored record as read back.
#[derive(Debug, Clone)]
pub struct Stored {
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Its key.
    pub key: Option<Vec<u8>>,
    /// Its value.
    pub value: Option<Vec<u8>>,
    /// Its headers in order.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

impl Stored {
    /// The value of the first header named `name`, as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.as_deref())
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }
}

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
            let headers = m
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
                        .collect()
                })
                .unwrap_or_default();
            out.push(Stored {
                partition: m.partition(),
                offset: m.offset(),
                key: m.key().map(<[u8]>::to_vec),
                value: m.payload().map(<[u8]>::to_vec),
                headers,
            });
        }
        // By position, not by the last record seen: under read_committed the log ends with
        // transaction markers, which are never returned.
        if let Ok(positions) = consumer.position() {
            for e in positions.elements_for_topic(topic) {
                if let (Offset::Offset(at), Some(end)) = (e.offset(), ends.get(&e.partition())) {
                    if at >= *end {
                        ends.remove(&e.partition());
                    }
                }
            }
        }
    }
    assert!(
        ends.is_empty(),
        "{topic}: partitions {ends:?} not read to their end within {within:?}"
    );
    out
}
