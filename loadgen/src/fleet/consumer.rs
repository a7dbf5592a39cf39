//! One fleet consumer: a librdkafka consumer in a group pinned to a reader version, decoding
//! every record with its reader schema and counting failures by writer version and kind.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use contract::SchemaId;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaResult;
use rdkafka::message::BorrowedMessage;
use rdkafka::{ClientContext, Message};

use super::metrics::{DecodeLabels, ErrorLabels, FleetMetrics, MemberLag, Outcome};
use crate::render::avro::AvroError;
use crate::render::{Codec, DecodeFailure};
use crate::version::SchemaVersion;

/// Live counters of one consumer.
#[derive(Debug, Default)]
pub struct ConsumerStats {
    /// Records received.
    pub consumed: AtomicU64,
    /// Records that decoded with the reader schema.
    pub decoded: AtomicU64,
    /// Deserialize errors by (writer version or "unknown", error kind).
    pub errors: Mutex<BTreeMap<(String, String), u64>>,
    /// Consumer-side (librdkafka) errors by kind.
    pub client_errors: Mutex<BTreeMap<String, u64>>,
    /// Lag of this member's partitions, from librdkafka's statistics.
    pub lag: MemberLag,
}

impl ConsumerStats {
    fn count(map: &Mutex<BTreeMap<(String, String), u64>>, key: (String, String)) {
        if let Ok(mut m) = map.lock() {
            *m.entry(key).or_default() += 1;
        }
    }
}

/// What a consumer needs to run.
#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    /// `bootstrap.servers`.
    pub bootstrap: String,
    /// Topic to read.
    pub topic: String,
    /// Consumer group id.
    pub group: String,
    /// The version this consumer's application reads as.
    pub reader: SchemaVersion,
    /// Registered ids → writer versions (the fleet registered them all).
    pub writers: HashMap<SchemaId, SchemaVersion>,
    /// The topic's value subject, a label of the metrics.
    pub subject: String,
    /// Where decode times and errors are published.
    pub metrics: FleetMetrics,
}

/// The consumer's librdkafka context: hands each statistics report to the member's lag view.
struct StatsContext {
    stats: Arc<ConsumerStats>,
    topic: String,
}

impl ClientContext for StatsContext {
    fn stats_raw(&self, statistics: &[u8]) {
        self.stats.lag.update(statistics, &self.topic);
    }
}

impl ConsumerContext for StatsContext {}

/// A label for a decode failure (bounded: one per variant).
fn failure_kind(f: &DecodeFailure) -> &'static str {
    match f {
        DecodeFailure::Frame(e) => e.reason(),
        DecodeFailure::UnknownId(_) => "unknown-schema-id",
        DecodeFailure::Indexes(_) => "message-indexes",
        DecodeFailure::Avro(AvroError::Trailing(_)) => "trailing-bytes",
        DecodeFailure::Avro(AvroError::Incompatible { .. }) => "reader-incompatible",
        DecodeFailure::Avro(_) => "avro-decode",
        DecodeFailure::Protobuf(_) => "protobuf-decode",
    }
}

/// Polls until `stop` is set, decoding each record.
pub fn run(
    spec: &ConsumerSpec,
    codec: &Codec,
    stats: &Arc<ConsumerStats>,
    stop: &AtomicBool,
) -> Result<(), rdkafka::error::KafkaError> {
    let context = StatsContext {
        stats: stats.clone(),
        topic: spec.topic.clone(),
    };
    // Owned handles: a family's guard held across the loop would block other groups' inserts.
    let decode_time = |outcome| {
        spec.metrics
            .decode
            .get_or_create(&DecodeLabels {
                group: spec.group.clone(),
                outcome,
            })
            .clone()
    };
    let (decoded_time, failed_time) = (decode_time(Outcome::decoded), decode_time(Outcome::failed));
    let consumer: BaseConsumer<StatsContext> = ClientConfig::new()
        .set("bootstrap.servers", &spec.bootstrap)
        .set("group.id", &spec.group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "true")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "1000")
        .set(
            "statistics.interval.ms",
            super::metrics::STATS_INTERVAL_MS.to_string(),
        )
        .create_with_context(context)?;
    consumer.subscribe(&[spec.topic.as_str()])?;
    let handle = |polled: Option<KafkaResult<BorrowedMessage<'_>>>| match polled {
        None => {}
        Some(Err(e)) => {
            if let Ok(mut m) = stats.client_errors.lock() {
                *m.entry(crate::produce::error_kind(&e)).or_default() += 1;
            }
        }
        Some(Ok(message)) => {
            stats.consumed.fetch_add(1, Ordering::Relaxed);
            let payload = message.payload().unwrap_or(&[]);
            // Only the decode call is timed: the poll above is the network's time.
            let started = Instant::now();
            let decoded = codec.decode(payload, &spec.writers, spec.reader);
            let secs = started.elapsed().as_secs_f64();
            match decoded {
                Ok(_) => {
                    decoded_time.observe(secs);
                    stats.decoded.fetch_add(1, Ordering::Relaxed);
                }
                Err((writer, failure)) => {
                    failed_time.observe(secs);
                    let writer = writer.map_or("unknown".to_string(), |w| w.to_string());
                    let reason = failure_kind(&failure);
                    spec.metrics
                        .errors
                        .get_or_create(&ErrorLabels {
                            subject: spec.subject.clone(),
                            reason: reason.into(),
                            group: spec.group.clone(),
                            writer_version: writer.clone(),
                        })
                        .inc();
                    ConsumerStats::count(&stats.errors, (writer, reason.into()));
                }
            }
        }
    };
    while !stop.load(Ordering::Relaxed) {
        handle(consumer.poll(Duration::from_millis(100)));
    }
    // Leave the group here, handling what the close still hands back. rust-rdkafka's Drop
    // closes by polling and discarding those messages, while librdkafka (auto offset store)
    // stores and commits their offsets: the group then skipped them. That was the rollout's
    // "unread" records after a rolling restart (docs/FINDINGS.md).
    consumer.close_queue()?;
    while !consumer.closed() {
        handle(consumer.poll(Duration::from_millis(100)));
    }
    Ok(())
}

/// Shared handle to a consumer's stats with its label.
#[derive(Debug, Clone)]
pub struct ConsumerHandle {
    /// `group/member`.
    pub label: String,
    /// Its group.
    pub group: String,
    /// Its reader version.
    pub reader: SchemaVersion,
    /// Its counters.
    pub stats: Arc<ConsumerStats>,
}
