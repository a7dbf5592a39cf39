//! Kafka for the lab: a one-partition topic, records produced to it (every one acknowledged or
//! the step fails), and a topic read back whole from its first offset.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::lab::LabError;
use crate::produce::{self, Limit, ProduceSpec, ProduceStats};

/// How long reading a topic back may take before the lab gives up on missing records.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Creates `topic` with one partition (so records keep the order they were written in).
pub async fn create(bootstrap: &str, topic: &str) -> Result<(), LabError> {
    create_partitioned(bootstrap, topic, 1).await
}

/// Creates `topic` with `partitions` partitions (one per member of a consumer group).
pub async fn create_partitioned(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
) -> Result<(), LabError> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    let new = NewTopic::new(topic, partitions.max(1), TopicReplication::Fixed(1));
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(20)));
    for r in admin.create_topics([&new], &opts).await? {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((t, e)) => return Err(LabError::Setup(format!("creating topic {t}: {e}"))),
        }
    }
    Ok(())
}

/// Produces `values` to `topic` (acks=all) and returns how many were acknowledged, and the
/// delivery errors by kind.
pub fn produce_all(
    bootstrap: &str,
    topic: &str,
    values: &[Vec<u8>],
) -> Result<(u64, std::collections::BTreeMap<String, u64>), LabError> {
    let spec = ProduceSpec {
        bootstrap: bootstrap.to_string(),
        topic: topic.to_string(),
        rate: None,
        limit: Limit::Count(values.len() as u64),
        config: vec![],
    };
    let stats = ProduceStats::new(Instant::now());
    produce::produce(&spec, stats.clone(), |i| {
        Cow::Borrowed(
            values
                .get(usize::try_from(i).unwrap_or(usize::MAX))
                .map_or(&[][..], |v| v.as_slice()),
        )
    })?;
    Ok((
        stats.delivered.load(std::sync::atomic::Ordering::Relaxed),
        stats.errors(),
    ))
}

/// Creates `topic` (one partition), produces `values` to it (every one acknowledged, or the
/// step fails) and reads them back in offset order.
pub async fn round_trip(
    bootstrap: &str,
    topic: &str,
    values: &[Vec<u8>],
) -> Result<Vec<Vec<u8>>, LabError> {
    create(bootstrap, topic).await?;
    let (produced, errors) = tokio::task::block_in_place(|| produce_all(bootstrap, topic, values))?;
    if produced != values.len() as u64 {
        return Err(LabError::Setup(format!(
            "{produced} of {} records acknowledged on {topic}: {errors:?}",
            values.len()
        )));
    }
    tokio::task::block_in_place(|| read_all(bootstrap, topic, values.len()))
}

/// A consumer of partition 0 of `topic`, assigned at `offset`, that commits nothing.
fn reader_at(bootstrap: &str, topic: &str, offset: Offset) -> Result<BaseConsumer, LabError> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("loadgen-lab-{topic}"))
        .set("enable.auto.commit", "false")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, offset)?;
    consumer.assign(&tpl)?;
    Ok(consumer)
}

/// Reads partition 0 of `topic` from the beginning until `expected` values arrived (or the
/// timeout passed) and returns the values in offset order.
pub fn read_all(bootstrap: &str, topic: &str, expected: usize) -> Result<Vec<Vec<u8>>, LabError> {
    let consumer = reader_at(bootstrap, topic, Offset::Beginning)?;
    let start = Instant::now();
    let mut values = Vec::with_capacity(expected);
    while values.len() < expected && start.elapsed() < READ_TIMEOUT {
        if let Some(m) = consumer.poll(Duration::from_millis(200)) {
            let m = m?;
            values.push(m.payload().unwrap_or(&[]).to_vec());
        }
    }
    if values.len() < expected {
        return Err(LabError::Setup(format!(
            "read {} of {expected} records back from {topic} within {READ_TIMEOUT:?}",
            values.len()
        )));
    }
    Ok(values)
}

/// The offset after the last record of partition 0 of `topic` (its high watermark).
pub fn end_offset(bootstrap: &str, topic: &str) -> Result<i64, LabError> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("loadgen-lab-{topic}"))
        .create()?;
    let (_, high) = consumer.fetch_watermarks(topic, 0, Duration::from_secs(20))?;
    Ok(high)
}

/// The sum over `partitions` partitions of `topic` of their high watermarks (the records the
/// topic holds when it started empty).
pub fn total_records(bootstrap: &str, topic: &str, partitions: i32) -> Result<i64, LabError> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("loadgen-lab-{topic}"))
        .create()?;
    let mut total = 0;
    for p in 0..partitions {
        let (_, high) = consumer.fetch_watermarks(topic, p, Duration::from_secs(20))?;
        total += high;
    }
    Ok(total)
}

/// The `header`'s value of each record at offsets `from..to` of partition 0 of `topic`
/// (empty when the record has no such header).
pub fn header_values(
    bootstrap: &str,
    topic: &str,
    from: i64,
    to: i64,
    header: &str,
) -> Result<Vec<String>, LabError> {
    use rdkafka::message::Headers;
    let consumer = reader_at(bootstrap, topic, Offset::Offset(from))?;
    let start = Instant::now();
    let mut out = vec![];
    while (out.len() as i64) < to - from && start.elapsed() < READ_TIMEOUT {
        if let Some(m) = consumer.poll(Duration::from_millis(200)) {
            let m = m?;
            if m.offset() >= to {
                break;
            }
            let value = m
                .headers()
                .and_then(|h| {
                    h.iter()
                        .find(|x| x.key == header)
                        .and_then(|x| x.value.map(|v| String::from_utf8_lossy(v).into_owned()))
                })
                .unwrap_or_default();
            out.push(value);
        }
    }
    Ok(out)
}
