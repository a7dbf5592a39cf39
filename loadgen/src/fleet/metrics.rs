//! The fleet's Prometheus metrics, served on `GET /metrics` of `--metrics-addr` (OpenMetrics
//! text, through [`serving::metrics_text`] like the proxy's and the registry's admin ports).
//!
//! Every label is bounded: groups and reader versions are the fleet's own (one group per
//! `--readers` entry), the subject is the topic's value subject, writer versions are v1..v7 or
//! `unknown`, and a reason is one per [`DecodeFailure`](crate::render::DecodeFailure) variant.
//!
//! - `schemagate_fleet_deserialize_errors_total{subject,reason,group,writer_version}`;
//! - `schemagate_fleet_reader_info{group,subject,reader_version} 1`: the reader each group runs;
//! - `schemagate_fleet_consumer_lag_records{group,topic}`: librdkafka's consumer lag (high
//!   watermark minus the consumer's position, or its committed offset when nothing was
//!   consumed yet) summed over the group's assigned partitions, from the statistics every
//!   member emits each [`STATS_INTERVAL_MS`];
//! - `schemagate_fleet_decode_seconds{group,outcome}`: the time of the decode call alone
//!   (frame, schema lookup, Avro/Protobuf decode and resolution), never the poll's network
//!   wait.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use serde::Deserialize;

/// How often every consumer's librdkafka emits statistics (and so how fresh lag is).
pub const STATS_INTERVAL_MS: u32 = 1000;

/// Labels of `schemagate_fleet_deserialize_errors_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// The value subject of the topic (`{topic}-value`).
    pub subject: String,
    /// Why the record did not decode (`reader-incompatible`, `unknown-schema-id`, ...).
    pub reason: String,
    /// The consumer group (one per reader version).
    pub group: String,
    /// The writer version of the record, or `unknown` when its id was not one of the fleet's.
    pub writer_version: String,
}

/// Labels of `schemagate_fleet_reader_info`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReaderLabels {
    /// The consumer group.
    pub group: String,
    /// The value subject of the topic.
    pub subject: String,
    /// The schema version the group's consumers read as.
    pub reader_version: String,
}

/// Labels of `schemagate_fleet_consumer_lag_records`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LagLabels {
    /// The consumer group.
    pub group: String,
    /// The topic it reads.
    pub topic: String,
}

/// How a decode went.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Outcome {
    /// The record decoded with the reader schema.
    decoded,
    /// It did not (counted in the errors by reason).
    failed,
}

/// Labels of `schemagate_fleet_decode_seconds`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecodeLabels {
    /// The consumer group.
    pub group: String,
    /// How the decode went.
    pub outcome: Outcome,
}

fn decode_histogram() -> Histogram {
    // 1 µs .. ~0.5 s: a 512-byte Order decodes in microseconds.
    Histogram::new(exponential_buckets(1e-6, 2.0, 20))
}

/// Every metric the fleet publishes, cheap to clone (the families are shared).
#[derive(Debug, Clone)]
pub struct FleetMetrics {
    /// Deserialize errors.
    pub errors: Family<ErrorLabels, Counter>,
    /// The reader version of every group.
    pub readers: Family<ReaderLabels, Gauge>,
    /// Consumer lag per group.
    pub lag: Family<LagLabels, Gauge>,
    /// Decode time.
    pub decode: Family<DecodeLabels, Histogram>,
}

impl FleetMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = FleetMetrics {
            errors: Family::default(),
            readers: Family::default(),
            lag: Family::default(),
            decode: Family::new_with_constructor(decode_histogram),
        };
        registry.register(
            "schemagate_fleet_deserialize_errors",
            "Records a fleet consumer could not decode with its reader schema, by subject, reason, group and writer version",
            m.errors.clone(),
        );
        registry.register(
            "schemagate_fleet_reader_info",
            "The schema version each consumer group reads as (always 1)",
            m.readers.clone(),
        );
        registry.register(
            "schemagate_fleet_consumer_lag_records",
            "Consumer lag from librdkafka's statistics (high watermark minus position), summed over the group's assigned partitions",
            m.lag.clone(),
        );
        registry.register(
            "schemagate_fleet_decode_seconds",
            "Time of one record's decode call alone (no network time), by group and outcome",
            m.decode.clone(),
        );
        m
    }
}

/// Serves `GET /metrics` of `registry` on `addr`; returns the bound address (so port 0 works).
pub async fn serve(addr: SocketAddr, registry: Arc<Registry>) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let registry = registry.clone();
            async move { serving::metrics_text::response(&registry) }
        }),
    );
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("fleet metrics server stopped: {e}");
        }
    });
    Ok(bound)
}

/// One member's view of its assigned partitions' lag, replaced by each statistics report.
#[derive(Debug, Default)]
pub struct MemberLag {
    by_partition: Mutex<Option<BTreeMap<i32, i64>>>,
}

impl MemberLag {
    /// The member's lag summed over its partitions, or `None` before librdkafka knew any.
    pub fn total(&self) -> Option<i64> {
        let guard = self.by_partition.lock().ok()?;
        guard.as_ref().map(|m| m.values().sum())
    }

    /// Records the lag a statistics report gives for `topic`'s actively fetched partitions; a
    /// report without any known lag leaves the previous view alone.
    pub fn update(&self, stats_json: &[u8], topic: &str) {
        if let Some(lag) = partition_lag(stats_json, topic) {
            if let Ok(mut guard) = self.by_partition.lock() {
                *guard = Some(lag);
            }
        }
    }
}

#[derive(Deserialize)]
struct Stats {
    #[serde(default)]
    topics: BTreeMap<String, TopicStats>,
}

#[derive(Deserialize)]
struct TopicStats {
    #[serde(default)]
    partitions: BTreeMap<String, PartitionStats>,
}

#[derive(Deserialize)]
struct PartitionStats {
    partition: i32,
    #[serde(default)]
    fetch_state: String,
    #[serde(default = "unknown_lag")]
    consumer_lag: i64,
}

fn unknown_lag() -> i64 {
    -1
}

/// The consumer lag of every partition of `topic` librdkafka is actively fetching, from one
/// statistics JSON report; `None` if the report does not parse or has no known lag. librdkafka
/// reports -1 for a lag it does not know yet, and the internal partition -1 is skipped.
pub fn partition_lag(stats_json: &[u8], topic: &str) -> Option<BTreeMap<i32, i64>> {
    let stats: Stats = serde_json::from_slice(stats_json).ok()?;
    let partitions = &stats.topics.get(topic)?.partitions;
    let lag: BTreeMap<i32, i64> = partitions
        .values()
        .filter(|p| p.partition >= 0 && p.fetch_state == "active" && p.consumer_lag >= 0)
        .map(|p| (p.partition, p.consumer_lag))
        .collect();
    (!lag.is_empty()).then_some(lag)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Trimmed from a librdkafka 2.12 consumer's statistics: partition 0 fetching with a lag of
    // 7, partition 1 not assigned to this member, the internal UA partition -1.
    const STATS: &str = r#"{"name":"rdkafka#consumer-1","type":"consumer","topics":{"orders":{
        "topic":"orders","partitions":{
          "0":{"partition":0,"fetch_state":"active","hi_offset":107,"committed_offset":100,"consumer_lag":7},
          "1":{"partition":1,"fetch_state":"none","hi_offset":50,"consumer_lag":-1},
          "-1":{"partition":-1,"fetch_state":"none","consumer_lag":-1}}},
        "other":{"topic":"other","partitions":{"0":{"partition":0,"fetch_state":"active","consumer_lag":99}}}}}"#;

    #[test]
    fn lag_counts_only_actively_fetched_partitions_of_the_topic() {
        let lag = partition_lag(STATS.as_bytes(), "orders").expect("known lag");
        assert_eq!(lag, BTreeMap::from([(0, 7)]));
        assert_eq!(partition_lag(STATS.as_bytes(), "absent"), None);
        assert_eq!(partition_lag(b"not json", "orders"), None);
    }

    #[test]
    fn a_member_keeps_its_last_known_lag() {
        let member = MemberLag::default();
        assert_eq!(member.total(), None);
        member.update(STATS.as_bytes(), "orders");
        assert_eq!(member.total(), Some(7));
        let unknown = r#"{"topics":{"orders":{"partitions":{"0":{"partition":0,"fetch_state":"offset-query","consumer_lag":-1}}}}}"#;
        member.update(unknown.as_bytes(), "orders");
        assert_eq!(
            member.total(),
            Some(7),
            "an unknown report keeps the last view"
        );
        let caught_up = r#"{"topics":{"orders":{"partitions":{"0":{"partition":0,"fetch_state":"active","consumer_lag":0}}}}}"#;
        member.update(caught_up.as_bytes(), "orders");
        assert_eq!(member.total(), Some(0));
    }

    #[test]
    fn the_families_encode_as_openmetrics() {
        let mut registry = Registry::default();
        let m = FleetMetrics::register(&mut registry);
        m.errors
            .get_or_create(&ErrorLabels {
                subject: "orders-value".into(),
                reason: "reader-incompatible".into(),
                group: "g".into(),
                writer_version: "v1".into(),
            })
            .inc();
        m.readers
            .get_or_create(&ReaderLabels {
                group: "g".into(),
                subject: "orders-value".into(),
                reader_version: "v7".into(),
            })
            .set(1);
        m.decode
            .get_or_create(&DecodeLabels {
                group: "g".into(),
                outcome: Outcome::failed,
            })
            .observe(2e-6);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encodes");
        assert!(text.contains("schemagate_fleet_deserialize_errors_total{subject=\"orders-value\",reason=\"reader-incompatible\",group=\"g\",writer_version=\"v1\"} 1"), "{text}");
        assert!(text.contains("schemagate_fleet_reader_info{group=\"g\",subject=\"orders-value\",reader_version=\"v7\"} 1"), "{text}");
        assert!(
            text.contains(
                "schemagate_fleet_decode_seconds_count{group=\"g\",outcome=\"failed\"} 1"
            ),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
