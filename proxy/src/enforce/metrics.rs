//! Enforcement metrics, with the names ARCHITECTURE.md publishes. Labels stay bounded: topic
//! (only topics a policy rule matched), outcome and reason; never ids, client ids or keys.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use super::outcome::Outcome;
use super::reason::Reason;

/// Labels of `schemagate_records_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RecordLabels {
    /// Topic.
    pub topic: String,
    /// Outcome.
    pub outcome: Outcome,
}

/// Labels of `schemagate_quarantined_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct QuarantineLabels {
    /// Topic the record was produced to.
    pub topic: String,
    /// Published reason spelling.
    pub reason: String,
}

/// Labels of `schemagate_retriable_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RetriableLabels {
    /// Topic.
    pub topic: String,
    /// `registry` or `quarantine`: which dependency could not answer.
    pub cause: String,
}

/// Every enforcement metric.
#[derive(Clone)]
pub struct EnforceMetrics {
    /// `schemagate_records_total{topic,outcome}`.
    pub records: Family<RecordLabels, Counter>,
    /// `schemagate_quarantined_total{topic,reason}`.
    pub quarantined: Family<QuarantineLabels, Counter>,
    /// `schemagate_retriable_total{topic,cause}`: partitions answered with a retriable error.
    pub retriable: Family<RetriableLabels, Counter>,
    /// `schemagate_validate_seconds`: time to inspect one Produce request.
    pub validate_seconds: Histogram,
}

impl EnforceMetrics {
    /// Creates and registers the metrics.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self {
            records: Family::default(),
            quarantined: Family::default(),
            retriable: Family::default(),
            validate_seconds: Histogram::new(exponential_buckets(0.000_005, 2.0, 20)),
        };
        let r = registry.sub_registry_with_prefix("schemagate");
        r.register(
            "records",
            "Records inspected on the produce path, by topic and outcome",
            m.records.clone(),
        );
        r.register(
            "quarantined",
            "Records written to quarantine, by topic and reason",
            m.quarantined.clone(),
        );
        r.register(
            "retriable",
            "Partitions answered with a retriable error because a dependency could not answer",
            m.retriable.clone(),
        );
        r.register(
            "validate_seconds",
            "Time to inspect one Produce request",
            m.validate_seconds.clone(),
        );
        m
    }

    /// Counts `n` records of `topic` with `outcome`.
    pub fn count(&self, topic: &str, outcome: Outcome, n: usize) {
        if n > 0 {
            super::trace::count(topic, outcome, n);
            self.records
                .get_or_create(&RecordLabels {
                    topic: topic.to_string(),
                    outcome,
                })
                .inc_by(n as u64);
        }
    }

    /// Counts one quarantined record.
    pub fn quarantined(&self, topic: &str, reason: Reason) {
        self.quarantined
            .get_or_create(&QuarantineLabels {
                topic: topic.to_string(),
                reason: reason.as_str().to_string(),
            })
            .inc();
    }
}
