//! One fleet consumer: a librdkafka consumer in a group pinned to a reader version, decoding
//! every record with its reader schema and counting failures by writer version and kind.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use contract::SchemaId;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::Message;

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
}

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
    stats: &ConsumerStats,
    stop: &AtomicBool,
) -> Result<(), rdkafka::error::KafkaError> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &spec.bootstrap)
        .set("group.id", &spec.group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "true")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "1000")
        .create()?;
    consumer.subscribe(&[spec.topic.as_str()])?;
    while !stop.load(Ordering::Relaxed) {
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Err(e)) => {
                if let Ok(mut m) = stats.client_errors.lock() {
                    *m.entry(crate::produce::error_kind(&e)).or_default() += 1;
                }
            }
            Some(Ok(message)) => {
                stats.consumed.fetch_add(1, Ordering::Relaxed);
                let payload = message.payload().unwrap_or(&[]);
                match codec.decode(payload, &spec.writers, spec.reader) {
                    Ok(_) => {
                        stats.decoded.fetch_add(1, Ordering::Relaxed);
                    }
                    Err((writer, failure)) => {
                        let writer = writer.map_or("unknown".to_string(), |w| w.to_string());
                        ConsumerStats::count(
                            &stats.errors,
                            (writer, failure_kind(&failure).into()),
                        );
                    }
                }
            }
        }
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
