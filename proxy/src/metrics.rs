//! Prometheus metrics of the proxy. Labels are bounded: api names come from the fixed set
//! kafka-protocol knows, error reasons from a fixed enum.

use std::collections::HashMap;
use std::sync::OnceLock;

use kafka_protocol::messages::ApiKey;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::tls::TlsFailure;

/// Label set carrying the API name.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ApiLabels {
    /// Api name, e.g. `Produce`.
    pub api: &'static str,
}

/// Why a connection was closed by the proxy.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum CloseReason {
    /// Frame above the size cap.
    frame_too_large,
    /// Peer closed inside a frame.
    truncated,
    /// Peer stalled inside a frame.
    stalled,
    /// Unknown api key or a version the proxy does not offer.
    unsupported_api,
    /// Malformed header or body.
    malformed,
    /// Upstream unreachable, closed or misbehaving.
    upstream,
    /// Produce inspector asked to close.
    inspector,
    /// Other socket errors.
    io,
    /// A TLS ClientHello arrived on a plaintext listener.
    tls_on_plaintext,
    /// Plaintext arrived on a TLS listener.
    plaintext_on_tls,
    /// The TLS handshake with the client failed (e.g. no or an untrusted client certificate).
    tls_handshake,
}

/// Label set carrying a close reason.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// Why the connection was closed.
    pub reason: CloseReason,
}

/// Label set carrying the reason a TLS handshake with a broker failed.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TlsFailureLabels {
    /// Why the handshake failed.
    pub reason: TlsFailure,
}

pub use serving::{ReloadLabels, ReloadResult};

/// Every metric the proxy publishes.
#[derive(Debug)]
pub struct Metrics {
    /// Open client connections.
    pub connections: Gauge,
    /// Requests received, by API.
    pub requests: Family<ApiLabels, Counter>,
    /// Bytes received from clients (frames, size prefix included).
    pub bytes_in: Counter,
    /// Bytes sent to clients.
    pub bytes_out: Counter,
    /// Upstream round-trip time, by API.
    pub upstream_seconds: Family<ApiLabels, Histogram>,
    /// Connections the proxy closed because of bad input or failures, by reason.
    pub closed: Family<ReasonLabels, Counter>,
    /// Connections refused because the connection cap was reached.
    pub refused: Counter,
    /// Failed attempts to bind a broker's listener (its port was taken, or not allowed).
    pub bind_failures: Counter,
    /// Failed TLS handshakes with brokers, by reason.
    pub upstream_tls_failures: Family<TlsFailureLabels, Counter>,
    /// Listener certificate reloads, by outcome.
    pub tls_reloads: Family<ReloadLabels, Counter>,
    /// Produce requests answered retriable because the batch before one whose records all
    /// went to quarantine was refused (see `ProduceDecision::Hold`).
    pub held_produce_answers: Counter,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

impl Metrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self {
            connections: Gauge::default(),
            requests: Family::default(),
            bytes_in: Counter::default(),
            bytes_out: Counter::default(),
            upstream_seconds: Family::new_with_constructor(latency_histogram),
            closed: Family::default(),
            refused: Counter::default(),
            bind_failures: Counter::default(),
            upstream_tls_failures: Family::default(),
            tls_reloads: Family::default(),
            held_produce_answers: Counter::default(),
        };
        registry.register(
            "schemagate_connections",
            "Open client connections",
            m.connections.clone(),
        );
        registry.register(
            "schemagate_requests",
            "Requests received, by API",
            m.requests.clone(),
        );
        registry.register(
            "schemagate_bytes_in",
            "Bytes received from clients",
            m.bytes_in.clone(),
        );
        registry.register(
            "schemagate_bytes_out",
            "Bytes sent to clients",
            m.bytes_out.clone(),
        );
        registry.register(
            "schemagate_upstream_request_seconds",
            "Time from forwarding a request to receiving the broker's response, by API",
            m.upstream_seconds.clone(),
        );
        registry.register(
            "schemagate_connections_closed",
            "Client connections closed by the proxy, by reason",
            m.closed.clone(),
        );
        registry.register(
            "schemagate_connections_refused",
            "Client connections refused at the connection cap",
            m.refused.clone(),
        );
        registry.register(
            "schemagate_listener_bind_failures",
            "Failed attempts to bind the listener of a broker found after start (retried until bound)",
            m.bind_failures.clone(),
        );
        registry.register(
            "schemagate_upstream_tls_failures",
            "Failed TLS handshakes with brokers, by reason",
            m.upstream_tls_failures.clone(),
        );
        registry.register(
            "schemagate_tls_reloads",
            "Listener TLS certificate reloads, by result",
            m.tls_reloads.clone(),
        );
        registry.register(
            "schemagate_sequence_held_answers",
            "Produce requests answered retriable because the batch before one whose records all went to quarantine was refused",
            m.held_produce_answers.clone(),
        );
        m
    }

    /// Counts a connection closed for `reason`.
    pub fn closed(&self, reason: CloseReason) {
        self.closed.get_or_create(&ReasonLabels { reason }).inc();
    }
}

/// The name of an API as used in labels and logs, e.g. `Produce`.
pub fn api_label(key: ApiKey) -> &'static str {
    static NAMES: OnceLock<HashMap<i16, &'static str>> = OnceLock::new();
    let names = NAMES.get_or_init(|| {
        // One leaked string per api key kafka-protocol knows: a fixed, bounded set.
        ApiKey::iter()
            .map(|k| {
                let name: &'static str = Box::leak(format!("{k:?}").into_boxed_str());
                (k as i16, name)
            })
            .collect()
    });
    names.get(&(key as i16)).copied().unwrap_or("Unknown")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_the_published_names() {
        let mut registry = Registry::default();
        let m = Metrics::register(&mut registry);
        m.requests
            .get_or_create(&ApiLabels {
                api: api_label(ApiKey::Produce),
            })
            .inc();
        m.upstream_seconds
            .get_or_create(&ApiLabels {
                api: api_label(ApiKey::Fetch),
            })
            .observe(0.002);
        m.closed(CloseReason::frame_too_large);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains("schemagate_requests_total{api=\"Produce\"} 1"),
            "{text}"
        );
        assert!(text.contains("schemagate_upstream_request_seconds_count{api=\"Fetch\"} 1"));
        assert!(text.contains("schemagate_connections_closed_total{reason=\"frame_too_large\"} 1"));
        assert!(text.contains("schemagate_connections 0"));
    }
}
