//! The quarantine writer: bad records, byte-identical, with `schemagate.*` headers, written
//! durably (acks=all, idempotent) before the client hears anything.
//!
//! It is a librdkafka producer bootstrapped from the proxy's upstreams: quarantine writes go
//! straight to the brokers, never back through the proxy, so they cannot loop.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use futures::future::join_all;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::{Header as KHeader, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

use super::reason::Violation;
use crate::batch::Record;

/// Settings of the quarantine writer.
#[derive(Debug, Clone)]
pub struct QuarantineConfig {
    /// Broker bootstrap list (the proxy's upstreams).
    pub bootstrap: String,
    /// Partitions of a quarantine topic the proxy creates.
    pub partitions: i32,
    /// Replication factor of a quarantine topic the proxy creates.
    pub replication: i32,
    /// How long one write may take before the batch is answered with a retriable error.
    pub timeout: Duration,
    /// Extra librdkafka settings (`security.protocol`, `ssl.*`, `sasl.*`): the quarantine
    /// producer's own connection and identity.
    pub overrides: Vec<(String, String)>,
}

/// Why quarantine writes failed; the caller answers the client with a retriable error.
#[derive(Debug, thiserror::Error)]
pub enum QuarantineError {
    /// The producer could not be created.
    #[error("cannot create the quarantine producer: {0}")]
    Setup(String),
    /// Creating the quarantine topic failed.
    #[error("cannot create quarantine topic {topic}: {reason}")]
    CreateTopic {
        /// The topic.
        topic: String,
        /// Why.
        reason: String,
    },
    /// A record was not acknowledged by the brokers.
    #[error("quarantine write to {topic} failed: {reason}")]
    Write {
        /// The topic.
        topic: String,
        /// Why.
        reason: String,
    },
}

/// One bad record on its way to quarantine.
pub struct QuarantineRecord<'a> {
    /// The quarantine topic.
    pub topic: &'a str,
    /// The topic the client produced to.
    pub source_topic: &'a str,
    /// The partition the client produced to.
    pub source_partition: i32,
    /// The record as the client sent it.
    pub record: &'a Record<'a>,
    /// Its absolute timestamp (batch base timestamp + delta).
    pub timestamp: i64,
    /// Why it is here.
    pub violation: &'a Violation,
    /// The producing client's id, if it sent one.
    pub client_id: Option<&'a str>,
}

/// Writes quarantine records durably.
pub struct QuarantineWriter {
    producer: FutureProducer,
    admin: AdminClient<DefaultClientContext>,
    config: QuarantineConfig,
    created: Mutex<HashSet<String>>,
}

impl QuarantineWriter {
    /// Creates the producer and admin client (connections are made lazily).
    pub fn new(config: QuarantineConfig) -> Result<Self, QuarantineError> {
        let mut base = ClientConfig::new();
        base.set("bootstrap.servers", &config.bootstrap)
            .set("client.id", "schemagate-quarantine");
        for (key, value) in &config.overrides {
            base.set(key, value);
        }
        let producer = base
            .clone()
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("linger.ms", "0")
            .set("message.timeout.ms", config.timeout.as_millis().to_string())
            .create()
            .map_err(|e| QuarantineError::Setup(e.to_string()))?;
        let admin = base
            .create()
            .map_err(|e| QuarantineError::Setup(e.to_string()))?;
        Ok(Self {
            producer,
            admin,
            config,
            created: Mutex::new(HashSet::new()),
        })
    }

    /// Writes every record and waits until the brokers acknowledged all of them.
    pub async fn write_all(&self, records: &[QuarantineRecord<'_>]) -> Result<(), QuarantineError> {
        for r in records {
            self.ensure_topic(r.topic).await?;
        }
        let sends = records.iter().map(|r| {
            let record = FutureRecord::<[u8], [u8]>::to(r.topic)
                .timestamp(r.timestamp)
                .headers(headers_for(r));
            let record = match r.record.key {
                Some(k) => record.key(k),
                None => record,
            };
            let record = match r.record.value {
                Some(v) => record.payload(v),
                None => record,
            };
            self.producer.send(record, self.config.timeout)
        });
        for (result, r) in join_all(sends).await.into_iter().zip(records) {
            if let Err((e, _)) = result {
                return Err(QuarantineError::Write {
                    topic: r.topic.to_string(),
                    reason: e.to_string(),
                });
            }
        }
        Ok(())
    }

    async fn ensure_topic(&self, topic: &str) -> Result<(), QuarantineError> {
        if self
            .created
            .lock()
            .map(|s| s.contains(topic))
            .unwrap_or(false)
        {
            return Ok(());
        }
        let new = NewTopic::new(
            topic,
            self.config.partitions,
            TopicReplication::Fixed(self.config.replication),
        );
        let opts = AdminOptions::new().operation_timeout(Some(self.config.timeout));
        let results = self.admin.create_topics([&new], &opts).await.map_err(|e| {
            QuarantineError::CreateTopic {
                topic: topic.to_string(),
                reason: e.to_string(),
            }
        })?;
        for r in results {
            match r {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((_, code)) => {
                    return Err(QuarantineError::CreateTopic {
                        topic: topic.to_string(),
                        reason: code.to_string(),
                    })
                }
            }
        }
        if let Ok(mut s) = self.created.lock() {
            s.insert(topic.to_string());
        }
        Ok(())
    }
}

/// The record's own headers in wire order (duplicates kept), then the `schemagate.*` ones.
fn headers_for(r: &QuarantineRecord<'_>) -> OwnedHeaders {
    let mut h = OwnedHeaders::new_with_capacity(r.record.header_count.max(0) as usize + 6);
    for original in r.record.headers() {
        h = h.insert(KHeader {
            key: &String::from_utf8_lossy(original.key),
            value: original.value,
        });
    }
    let partition = r.source_partition.to_string();
    let schema_id = r
        .violation
        .schema_id
        .map(|i| i.to_string())
        .unwrap_or_default();
    let ours: [(&str, &str); 6] = [
        ("schemagate.reason", r.violation.reason.as_str()),
        ("schemagate.detail", &r.violation.detail),
        ("schemagate.topic", r.source_topic),
        ("schemagate.partition", &partition),
        ("schemagate.schema-id", &schema_id),
        ("schemagate.client-id", r.client_id.unwrap_or("")),
    ];
    for (key, value) in ours {
        h = h.insert(KHeader {
            key,
            value: Some(value.as_bytes()),
        });
    }
    h
}
