//! Prometheus metrics: cache hits and misses, registry requests by endpoint and status, latency.
//!
//! Labels stay bounded: `endpoint` is a path template such as `/schemas/ids/{id}`, never an id
//! or a subject; `status` is the HTTP status or one of `connect-error`, `timeout`, `error`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Which cache a hit or miss belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum CacheKind {
    /// id → parsed schema.
    Schema,
    /// (subject, id) → binding.
    Binding,
    /// (subject, version) → id.
    SubjectVersion,
    /// (subject, schema text) → id.
    SchemaLookup,
}

impl CacheKind {
    fn label(self) -> &'static str {
        match self {
            CacheKind::Schema => "schema",
            CacheKind::Binding => "binding",
            CacheKind::SubjectVersion => "subject_version",
            CacheKind::SchemaLookup => "schema_lookup",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CacheLabels {
    cache: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    endpoint: &'static str,
    status: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: &'static str,
}

/// Counters for one cache, fetched once so a hit costs one atomic add.
#[derive(Debug, Clone)]
pub(crate) struct CacheCounters {
    pub(crate) hits: Counter,
    pub(crate) misses: Counter,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms .. ~16 s
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// The client's metrics; clones share the same counters.
#[derive(Debug, Clone)]
pub struct Metrics {
    hits: Family<CacheLabels, Counter>,
    misses: Family<CacheLabels, Counter>,
    requests: Family<RequestLabels, Counter>,
    latency: Family<EndpointLabels, Histogram, fn() -> Histogram>,
    sent: Arc<AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            hits: Family::default(),
            misses: Family::default(),
            requests: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            sent: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl Metrics {
    /// Adds every metric to `registry` (which should carry no prefix: names are complete).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "schemagate_schema_cache_hits",
            "Schema cache lookups answered from memory",
            self.hits.clone(),
        );
        registry.register(
            "schemagate_schema_cache_misses",
            "Schema cache lookups that had to ask the registry (or wait for a request in flight)",
            self.misses.clone(),
        );
        registry.register(
            "schemagate_registry_requests",
            "HTTP requests sent to the schema registry, by endpoint template and status",
            self.requests.clone(),
        );
        registry.register(
            "schemagate_registry_request_seconds",
            "Latency of schema registry HTTP requests, by endpoint template",
            self.latency.clone(),
        );
    }

    /// HTTP requests sent to the registry so far, retries included (cheap; for tests and benches).
    pub fn registry_requests(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Cache hits so far, all caches together.
    pub fn cache_hits(&self) -> u64 {
        ALL_KINDS.iter().map(|k| self.counters(*k).hits.get()).sum()
    }

    /// Cache misses so far, all caches together.
    pub fn cache_misses(&self) -> u64 {
        ALL_KINDS
            .iter()
            .map(|k| self.counters(*k).misses.get())
            .sum()
    }

    pub(crate) fn counters(&self, kind: CacheKind) -> CacheCounters {
        let labels = CacheLabels {
            cache: kind.label(),
        };
        CacheCounters {
            hits: self.hits.get_or_create(&labels).clone(),
            misses: self.misses.get_or_create(&labels).clone(),
        }
    }

    /// Records one HTTP attempt.
    pub(crate) fn request(&self, endpoint: &'static str, status: &str, elapsed: Duration) {
        self.sent.fetch_add(1, Ordering::Relaxed);
        self.requests
            .get_or_create(&RequestLabels {
                endpoint,
                status: status.to_string(),
            })
            .inc();
        self.latency
            .get_or_create(&EndpointLabels { endpoint })
            .observe(elapsed.as_secs_f64());
    }
}

const ALL_KINDS: [CacheKind; 4] = [
    CacheKind::Schema,
    CacheKind::Binding,
    CacheKind::SubjectVersion,
    CacheKind::SchemaLookup,
];

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::encoding::text::encode;

    #[test]
    fn exposition_uses_stable_names_and_bounded_labels() {
        let metrics = Metrics::default();
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        metrics.counters(CacheKind::Schema).hits.inc();
        metrics.counters(CacheKind::Schema).misses.inc();
        metrics.request("/schemas/ids/{id}", "200", Duration::from_millis(3));
        let mut text = String::new();
        encode(&mut text, &registry).expect("encoding into a String cannot fail");
        assert!(text.contains("schemagate_schema_cache_hits_total{cache=\"schema\"} 1"));
        assert!(text.contains("schemagate_schema_cache_misses_total{cache=\"schema\"} 1"));
        assert!(text.contains(
            "schemagate_registry_requests_total{endpoint=\"/schemas/ids/{id}\",status=\"200\"} 1"
        ));
        assert!(text.contains(
            "schemagate_registry_request_seconds_count{endpoint=\"/schemas/ids/{id}\"} 1"
        ));
        assert_eq!(metrics.registry_requests(), 1);
        assert_eq!(metrics.cache_hits(), 1);
        assert_eq!(metrics.cache_misses(), 1);
    }
}
