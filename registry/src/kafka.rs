//! The `_schemas` topic as the registry's write-ahead log, through librdkafka (rdkafka).
//!
//! One partition, compacted, created if missing. A reader task consumes the partition from the
//! beginning, applies every record to the shared [`State`](crate::state::State) and publishes
//! the next offset it will read. A write is produced with `acks=all` and returns once the
//! reader has moved past the write's offset (read-your-writes).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::RegistryError;
use crate::record::LogRecord;
use crate::state::{apply, SharedState};

/// How long a write or the start-up replay may wait on Kafka.
const KAFKA_TIMEOUT: Duration = Duration::from_secs(15);

/// Where the log lives in Kafka.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// `host:port[,host:port...]`.
    pub bootstrap: String,
    /// Topic name (Confluent's default is `_schemas`).
    pub topic: String,
    /// Replication factor used when the topic has to be created.
    pub replication: i32,
    /// Extra librdkafka settings (`security.protocol`, `ssl.*`, `sasl.*`) for every client.
    pub overrides: Vec<(String, String)>,
}

impl KafkaConfig {
    /// A client configuration for this store: bootstrap servers plus the overrides.
    fn client(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap);
        for (key, value) in &self.overrides {
            c.set(key, value);
        }
        c
    }
}

/// How often the topic's end offset is read for the lag gauge.
const END_REFRESH: Duration = Duration::from_secs(5);

/// A Kafka-backed log: a producer for writes, a reader task that applies records, and a task
/// that reads the topic's end offset now and then (for [`KafkaLog::lag`]).
pub struct KafkaLog {
    producer: FutureProducer,
    topic: String,
    applied: watch::Receiver<i64>,
    end: Arc<AtomicI64>,
    reader: JoinHandle<()>,
    end_reader: JoinHandle<()>,
}

impl Drop for KafkaLog {
    fn drop(&mut self) {
        self.reader.abort();
        self.end_reader.abort();
    }
}

fn kafka_err(e: impl std::fmt::Display) -> RegistryError {
    RegistryError::Store(e.to_string())
}

impl KafkaLog {
    /// Creates the topic if missing, replays it into `state`, and keeps following it.
    pub async fn open(cfg: &KafkaConfig, state: SharedState) -> Result<Self, RegistryError> {
        create_topic(cfg).await?;
        let producer: FutureProducer = cfg
            .client()
            .set("acks", "all")
            .set("enable.idempotence", "false")
            .set("max.in.flight.requests.per.connection", "1")
            .set("linger.ms", "0")
            .set("message.timeout.ms", "30000")
            .create()
            .map_err(kafka_err)?;
        let high = high_watermark(cfg).await?;
        let consumer: StreamConsumer = cfg
            .client()
            .set("group.id", "schemagate-registry-reader")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "false")
            .set("fetch.wait.max.ms", "10")
            .create()
            .map_err(kafka_err)?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&cfg.topic, 0, Offset::Beginning)
            .map_err(kafka_err)?;
        consumer.assign(&tpl).map_err(kafka_err)?;
        let (tx, mut applied) = watch::channel(0i64);
        let reader = tokio::spawn(follow(consumer, state, tx));
        tokio::time::timeout(KAFKA_TIMEOUT, applied.wait_for(|&next| next >= high))
            .await
            .map_err(|_| {
                RegistryError::Timeout(format!("replaying {} to offset {high}", cfg.topic))
            })?
            .map_err(|_| kafka_err("log reader stopped"))?;
        tracing::info!(topic = %cfg.topic, records = high, "replayed the schema log");
        let end = Arc::new(AtomicI64::new(high));
        let end_reader = tokio::spawn(follow_end(cfg.clone(), end.clone()));
        Ok(KafkaLog {
            producer,
            topic: cfg.topic.clone(),
            applied,
            end,
            reader,
            end_reader,
        })
    }

    /// Records between what this instance has applied and the topic's end as last read
    /// (at most [`END_REFRESH`] old; never negative).
    pub fn lag(&self) -> i64 {
        let applied = *self.applied.borrow();
        (self.end.load(Ordering::Relaxed) - applied).max(0)
    }

    /// Produces `rec` (acks=all) and waits until this instance's reader has applied it.
    pub async fn append(&self, rec: LogRecord) -> Result<(), RegistryError> {
        let key = rec.key_bytes();
        let mut record = FutureRecord::<Vec<u8>, Vec<u8>>::to(&self.topic)
            .key(&key)
            .partition(0);
        if let Some(v) = rec.value.as_ref() {
            record = record.payload(v);
        }
        let delivery = self
            .producer
            .send(record, KAFKA_TIMEOUT)
            .await
            .map_err(|(e, _)| kafka_err(e))?;
        // Without an offset there is nothing to wait for and no proof the record is stored
        // (librdkafka reports some answers so; see the proxy's quarantine writer): refuse.
        if delivery.offset < 0 {
            return Err(kafka_err(format!(
                "{} reported our write delivered without an offset ({})",
                self.topic, delivery.offset
            )));
        }
        let mut applied = self.applied.clone();
        tokio::time::timeout(
            KAFKA_TIMEOUT,
            applied.wait_for(|&next| next > delivery.offset),
        )
        .await
        .map_err(|_| RegistryError::Timeout("waiting to read back our own write".into()))?
        .map_err(|_| kafka_err("log reader stopped"))?;
        Ok(())
    }
}

/// The reader task: applies every record in order and publishes the next offset.
async fn follow(consumer: StreamConsumer, state: SharedState, applied: watch::Sender<i64>) {
    loop {
        match consumer.recv().await {
            Ok(msg) => {
                if let Some(rec) = LogRecord::decode(msg.key().unwrap_or_default(), msg.payload()) {
                    apply(&state, &rec);
                } else {
                    tracing::warn!(offset = msg.offset(), "skipping an unreadable log record");
                }
                applied.send_replace(msg.offset().saturating_add(1));
            }
            Err(e) => {
                tracing::warn!(error = %e, "schema log reader");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// Reads the topic's end offset into `end` every [`END_REFRESH`]; a failed read keeps the
/// last value (and is logged at debug: the reader's own errors are the ones that matter).
async fn follow_end(cfg: KafkaConfig, end: Arc<AtomicI64>) {
    let consumer: Arc<BaseConsumer> = match cfg.client().create() {
        Ok(c) => Arc::new(c),
        Err(e) => {
            tracing::warn!(error = %e, "no end-offset reader: the store lag gauge stays at its start value");
            return;
        }
    };
    loop {
        tokio::time::sleep(END_REFRESH).await;
        let (consumer, topic) = (consumer.clone(), cfg.topic.clone());
        let read = tokio::task::spawn_blocking(move || {
            consumer.fetch_watermarks(&topic, 0, Duration::from_secs(5))
        })
        .await;
        match read {
            Ok(Ok((_, high))) => end.store(high, Ordering::Relaxed),
            Ok(Err(e)) => tracing::debug!(error = %e, "reading the schema log's end offset"),
            Err(_) => return,
        }
    }
}

async fn create_topic(cfg: &KafkaConfig) -> Result<(), RegistryError> {
    let admin: AdminClient<DefaultClientContext> = cfg.client().create().map_err(kafka_err)?;
    let mut topic = NewTopic::new(&cfg.topic, 1, TopicReplication::Fixed(cfg.replication))
        .set("cleanup.policy", "compact");
    // With three replicas, an acknowledged schema is on two of them: losing one broker loses
    // nothing and writes go on (Confluent's recommended shape for `_schemas`).
    if cfg.replication >= 3 {
        topic = topic.set("min.insync.replicas", "2");
    }
    let opts = AdminOptions::new()
        .operation_timeout(Some(KAFKA_TIMEOUT))
        .request_timeout(Some(KAFKA_TIMEOUT));
    let results = tokio::time::timeout(KAFKA_TIMEOUT, admin.create_topics([&topic], &opts))
        .await
        .map_err(|_| {
            RegistryError::Timeout(format!(
                "no answer from Kafka at {} while creating topic {}",
                cfg.bootstrap, cfg.topic
            ))
        })?
        .map_err(kafka_err)?;
    for r in results {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => return Err(kafka_err(format!("creating topic {name}: {code}"))),
        }
    }
    Ok(())
}

/// The partition's end offset right now: replay is complete once the reader gets there.
async fn high_watermark(cfg: &KafkaConfig) -> Result<i64, RegistryError> {
    let cfg = cfg.clone();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = cfg.client().create().map_err(kafka_err)?;
        // Metadata for a just-created topic can lag for a moment: retry briefly.
        let mut last = None;
        for _ in 0..50 {
            match consumer.fetch_watermarks(&cfg.topic, 0, Duration::from_secs(5)) {
                Ok((_, high)) => return Ok(high),
                Err(e) => {
                    last = Some(e);
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
        Err(kafka_err(format!(
            "reading the end offset of {}: {}",
            cfg.topic,
            last.map(|e| e.to_string()).unwrap_or_default()
        )))
    })
    .await
    .map_err(kafka_err)?
}
