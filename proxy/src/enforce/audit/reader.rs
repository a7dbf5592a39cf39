//! Reading a quarantine topic from its start to its end, then stopping: a snapshot, not a
//! tail.
//!
//! Partitions are read one after another in ascending order, each from its low watermark to
//! its end (bounded near the high watermark taken at the start, see [`read_partition`]), so
//! every command sees records in the same order
//! (partition, then offset) and `show --index N` names the same record as a later run would.
//! librdkafka's consumer blocks, so the reading runs on a blocking thread and hands records
//! to async code through a bounded channel.

use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Headers, Message, Timestamp};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::mpsc;

use super::record::{QuarantinedRecord, RecordHeader, RecordTime};
use super::AuditError;

/// Records buffered between the reading thread and its consumer.
const CHANNEL_DEPTH: usize = 1024;
/// Records a read may go past the watermark taken at the start, at least.
const MIN_PAST_END: i64 = 10_000;

/// Where to read from and how patiently.
#[derive(Debug, Clone)]
pub struct ReadConfig {
    /// Kafka bootstrap servers.
    pub bootstrap: String,
    /// Extra librdkafka settings (`security.protocol`, `sasl.*`, ...).
    pub overrides: Vec<(String, String)>,
    /// Longest wait for metadata, watermarks, or the next record of a partition.
    pub timeout: Duration,
}

impl ReadConfig {
    /// The librdkafka configuration shared by every client this module makes.
    pub fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap)
            .set("client.id", "schemagate-quarantine-cli");
        for (k, v) in &self.overrides {
            c.set(k, v);
        }
        c
    }

    fn consumer(&self) -> Result<Reader, AuditError> {
        self.client_config()
            // Assigned partitions only: no group is joined and nothing is committed.
            .set("group.id", "schemagate-quarantine-cli")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "true")
            .set("allow.auto.create.topics", "false")
            // A snapshot up to the high watermark; an open transaction must not stall it.
            .set("isolation.level", "read_uncommitted")
            // An empty fetch answers sooner, so the end of a partition is seen sooner.
            .set("fetch.wait.max.ms", "100")
            .create_with_context(ReaderContext)
            .map_err(|e| AuditError::Kafka {
                doing: "creating a consumer".into(),
                reason: e.to_string(),
            })
    }
}

/// Keeps end-of-partition, which this reader waits for, out of the error log.
struct ReaderContext;

impl ClientContext for ReaderContext {
    fn error(&self, error: KafkaError, reason: &str) {
        if !matches!(error, KafkaError::Global(RDKafkaErrorCode::PartitionEOF)) {
            tracing::error!(%error, reason, "kafka client error");
        }
    }
}

impl ConsumerContext for ReaderContext {}

/// The consumer every read uses.
type Reader = BaseConsumer<ReaderContext>;

/// The offsets of one partition to read: `start..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionRange {
    /// Partition id.
    pub partition: i32,
    /// First offset to read (the low watermark, or a chosen offset).
    pub start: i64,
    /// The high watermark at the start; the read goes on to the end of the log, but stops
    /// at most [`past_end`] records beyond this.
    pub end: i64,
}

/// What a read covers: a topic and a range per partition, ascending by partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extent {
    /// The topic.
    pub topic: String,
    /// The partitions' ranges.
    pub ranges: Vec<PartitionRange>,
}

impl Extent {
    /// True when no partition holds a record to read.
    pub fn is_empty(&self) -> bool {
        self.ranges.iter().all(|r| r.start >= r.end)
    }
}

/// The partitions of `topic`, ascending; [`AuditError::MissingTopic`] when it does not exist.
pub fn partitions(config: &ReadConfig, topic: &str) -> Result<Vec<i32>, AuditError> {
    let consumer = config.consumer()?;
    partitions_with(&consumer, config, topic)
}

fn partitions_with(
    consumer: &Reader,
    config: &ReadConfig,
    topic: &str,
) -> Result<Vec<i32>, AuditError> {
    let metadata = consumer
        .fetch_metadata(Some(topic), config.timeout)
        .map_err(|e| AuditError::Kafka {
            doing: format!("fetching metadata of {topic} from {}", config.bootstrap),
            reason: e.to_string(),
        })?;
    let missing = || AuditError::MissingTopic {
        topic: topic.to_string(),
        bootstrap: config.bootstrap.clone(),
    };
    let entry = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .ok_or_else(missing)?;
    if let Some(err) = entry.error() {
        return match RDKafkaErrorCode::from(err) {
            RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic => {
                Err(missing())
            }
            code => Err(AuditError::Kafka {
                doing: format!("fetching metadata of {topic}"),
                reason: code.to_string(),
            }),
        };
    }
    let mut ids: Vec<i32> = entry.partitions().iter().map(|p| p.id()).collect();
    if ids.is_empty() {
        return Err(missing());
    }
    ids.sort_unstable();
    Ok(ids)
}

/// The whole topic as it stands now: every partition from its low to its high watermark.
/// With `only`, just that partition (which must exist).
pub fn snapshot(config: &ReadConfig, topic: &str, only: Option<i32>) -> Result<Extent, AuditError> {
    let consumer = config.consumer()?;
    let mut ids = partitions_with(&consumer, config, topic)?;
    if let Some(p) = only {
        if !ids.contains(&p) {
            return Err(AuditError::NoSuchRecord(format!(
                "{topic} has no partition {p} (partitions: {ids:?})"
            )));
        }
        ids = vec![p];
    }
    let mut ranges = Vec::with_capacity(ids.len());
    for partition in ids {
        let (start, end) = consumer
            .fetch_watermarks(topic, partition, config.timeout)
            .map_err(|e| AuditError::Kafka {
                doing: format!("reading the watermarks of {topic} partition {partition}"),
                reason: e.to_string(),
            })?;
        ranges.push(PartitionRange {
            partition,
            start,
            end,
        });
    }
    Ok(Extent {
        topic: topic.to_string(),
        ranges,
    })
}

/// Reads `extent` on a blocking thread; records (or the one error that ended the read)
/// arrive on the returned channel in partition, then offset order. Dropping the receiver
/// stops the read.
pub fn stream(
    config: ReadConfig,
    extent: Extent,
) -> mpsc::Receiver<Result<QuarantinedRecord, AuditError>> {
    let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
    tokio::task::spawn_blocking(move || {
        if let Err(e) = read_into(&config, &extent, &tx) {
            // The receiver may be gone already; then nobody needs the error.
            let _ = tx.blocking_send(Err(e));
        }
    });
    rx
}

/// Sends every record of `extent`; Ok also when the receiver hung up.
fn read_into(
    config: &ReadConfig,
    extent: &Extent,
    tx: &mpsc::Sender<Result<QuarantinedRecord, AuditError>>,
) -> Result<(), AuditError> {
    let consumer = config.consumer()?;
    for range in extent.ranges.iter().filter(|r| r.start < r.end) {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&extent.topic, range.partition, Offset::Offset(range.start))
            .map_err(|e| AuditError::Kafka {
                doing: "building an assignment".into(),
                reason: e.to_string(),
            })?;
        consumer.assign(&tpl).map_err(|e| AuditError::Kafka {
            doing: format!("assigning {} partition {}", extent.topic, range.partition),
            reason: e.to_string(),
        })?;
        if !read_partition(&consumer, config, &extent.topic, range, tx)? {
            return Ok(());
        }
    }
    Ok(())
}

/// Reads one partition up to its end; false when the receiver hung up.
///
/// The end is librdkafka's end-of-partition event, not the watermark itself: tansu 0.6
/// reports a high watermark of the last batch's base offset + 1, so cutting at the watermark
/// would drop the rest of a multi-record batch. So that a topic still being written cannot
/// keep the read going forever, it stops [`past_end`] records beyond the watermark at the
/// latest.
fn read_partition(
    consumer: &Reader,
    config: &ReadConfig,
    topic: &str,
    range: &PartitionRange,
    tx: &mpsc::Sender<Result<QuarantinedRecord, AuditError>>,
) -> Result<bool, AuditError> {
    let stop = range.end.saturating_add(past_end(range));
    let mut next = range.start;
    let mut last_progress = Instant::now();
    while next < stop {
        if last_progress.elapsed() > config.timeout {
            return Err(AuditError::Stalled {
                topic: topic.to_string(),
                partition: range.partition,
                offset: next,
                end: range.end,
                waited: config.timeout,
            });
        }
        match consumer.poll(Duration::from_millis(200)) {
            None => {}
            Some(Err(KafkaError::PartitionEOF(p))) if p == range.partition => return Ok(true),
            Some(Err(KafkaError::PartitionEOF(_))) => {}
            Some(Err(e)) => {
                return Err(AuditError::Kafka {
                    doing: format!("reading {topic} partition {}", range.partition),
                    reason: e.to_string(),
                })
            }
            Some(Ok(msg)) => {
                if msg.partition() != range.partition || msg.offset() < next {
                    continue;
                }
                next = msg.offset().saturating_add(1);
                last_progress = Instant::now();
                if msg.offset() >= stop {
                    break;
                }
                if tx.blocking_send(Ok(owned(&msg))).is_err() {
                    return Ok(false);
                }
            }
        }
    }
    Ok(true)
}

/// How far past the watermark taken at the start a read may go: the snapshot's own size, at
/// least [`MIN_PAST_END`] records (enough for any batch a broker under-reported).
pub fn past_end(range: &PartitionRange) -> i64 {
    range.end.saturating_sub(range.start).max(MIN_PAST_END)
}

/// Copies a consumed message out of librdkafka's buffers.
fn owned(msg: &BorrowedMessage<'_>) -> QuarantinedRecord {
    let headers = msg.headers().map_or_else(Vec::new, |hs| {
        hs.iter()
            .map(|h| RecordHeader {
                key: h.key.to_string(),
                value: h.value.map(<[u8]>::to_vec),
            })
            .collect()
    });
    QuarantinedRecord {
        partition: msg.partition(),
        offset: msg.offset(),
        timestamp: match msg.timestamp() {
            Timestamp::CreateTime(ms) => RecordTime::CreateTime(ms),
            Timestamp::LogAppendTime(ms) => RecordTime::LogAppendTime(ms),
            Timestamp::NotAvailable => RecordTime::None,
        },
        key: msg.key().map(<[u8]>::to_vec),
        value: msg.payload().map(<[u8]>::to_vec),
        headers,
    }
}

/// Runs librdkafka's blocking calls (metadata, watermarks) off the async threads.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, AuditError> + Send + 'static,
) -> Result<T, AuditError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AuditError::Kafka {
            doing: "waiting for a blocking Kafka call".into(),
            reason: e.to_string(),
        })?
}
