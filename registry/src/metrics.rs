//! The registry's metrics (Prometheus text on `--admin`): REST requests by route and status
//! with their latency, schemas and subjects held, the Kafka store's lag, access by outcome,
//! reloads of its watched files, and JWKS fetches. Labels stay bounded: never a principal, a
//! subject or a raw path.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeLabelValue, EncodeMetric,
};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serving::{Reload, ReloadResult, Source, Watched};
use tokio::sync::watch;

use crate::security::audit::AccessLabels;

/// A file the registry watches for changes.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum WatchedFile {
    /// The listener's certificate, key and client CA.
    tls,
    /// The credentials file.
    credentials,
    /// The permissions file.
    permissions,
    /// The JWKS file.
    jwks,
}

/// Labels of `schemagate_registry_reloads_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReloadLabels {
    /// Which file.
    pub file: WatchedFile,
    /// How the reload went.
    pub result: ReloadResult,
}

/// Labels of `schemagate_registry_jwks_fetches_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FetchLabels {
    /// How the fetch went.
    pub result: ReloadResult,
}

/// Every metric the registry publishes.
#[derive(Debug, Clone, Default)]
pub struct RegistryMetrics {
    /// Checked requests, by access asked for and outcome.
    pub access: Family<AccessLabels, Counter>,
    /// Reloads of watched files that did something, by file and result.
    pub reloads: Family<ReloadLabels, Counter>,
    /// Fetches of a JWKS URL, by result.
    pub jwks_fetches: Family<FetchLabels, Counter>,
}

impl RegistryMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "schemagate_registry_access",
            "Registry requests by access asked for (read, write, admin) and outcome (allowed, denied, unauthenticated)",
            m.access.clone(),
        );
        registry.register(
            "schemagate_registry_reloads",
            "Reloads of the registry's watched files (tls, credentials, permissions, jwks) by result",
            m.reloads.clone(),
        );
        registry.register(
            "schemagate_registry_jwks_fetches",
            "Fetches of the JWKS URL by result",
            m.jwks_fetches.clone(),
        );
        m
    }

    /// Checks `watched` (which is `file`) every `interval` until `stop` is set, logging and
    /// counting each reload that did something.
    pub fn watch<S: Source>(
        &self,
        watched: Arc<Watched<S>>,
        interval: Duration,
        file: WatchedFile,
        mut stop: watch::Receiver<bool>,
    ) -> impl Future<Output = ()> + Send + 'static {
        let metrics = self.clone();
        serving::watch::run(
            watched,
            interval,
            move |outcome| metrics.reloaded(file, outcome),
            async move {
                let _ = stop.wait_for(|s| *s).await;
            },
        )
    }

    /// Logs and counts one reload of `file` that did something.
    pub fn reloaded<E: std::fmt::Display>(&self, file: WatchedFile, outcome: Reload<E>) {
        match &outcome {
            Reload::Failed(e) => {
                tracing::error!(?file, error = %e, "reload failed, keeping the previous version")
            }
            _ => tracing::info!(?file, "reloaded"),
        }
        let result = outcome.result();
        self.reloads
            .get_or_create(&ReloadLabels { file, result })
            .inc();
    }
}

/// The HTTP methods the registry answers; anything else is `other` (labels stay bounded).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
pub enum Method {
    /// GET.
    GET,
    /// POST.
    POST,
    /// PUT.
    PUT,
    /// DELETE.
    DELETE,
    /// Any other method.
    other,
}

impl Method {
    fn of(m: &axum::http::Method) -> Self {
        match *m {
            axum::http::Method::GET => Method::GET,
            axum::http::Method::POST => Method::POST,
            axum::http::Method::PUT => Method::PUT,
            axum::http::Method::DELETE => Method::DELETE,
            _ => Method::other,
        }
    }
}

/// Labels of `schemagate_registry_http_request_seconds`: the route's template (one of the
/// router's paths, or `unmatched`) and the method.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// The route template, e.g. `/subjects/{subject}/versions`.
    pub route: String,
    /// The request's method.
    pub method: Method,
}

/// Labels of `schemagate_registry_http_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The route template.
    pub route: String,
    /// The request's method.
    pub method: Method,
    /// The response's status code.
    pub status: u16,
}

/// The route label of a request no route matched.
pub const UNMATCHED: &str = "unmatched";

/// Requests served by the REST listener: counts by route, method and status, and latency by
/// route and method. The route is the router's template, never the path a client sent.
#[derive(Debug, Clone)]
pub struct HttpMetrics {
    /// Requests answered, by route, method and status.
    pub requests: Family<RequestLabels, Counter>,
    /// Time from the request's arrival to its response, by route and method.
    pub latency: Family<RouteLabels, Histogram>,
}

fn latency_histogram() -> Histogram {
    // 100 µs .. ~13 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 18))
}

impl Default for HttpMetrics {
    fn default() -> Self {
        HttpMetrics {
            requests: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
        }
    }
}

impl HttpMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "schemagate_registry_http_requests",
            "REST requests answered, by route template, method and status code",
            m.requests.clone(),
        );
        registry.register(
            "schemagate_registry_http_request_seconds",
            "REST request latency from arrival to response, by route template and method",
            m.latency.clone(),
        );
        m
    }

    /// Counts one answered request.
    pub fn observe(&self, route: &str, method: &axum::http::Method, status: u16, secs: f64) {
        let method = Method::of(method);
        let route = route.to_string();
        self.latency
            .get_or_create(&RouteLabels {
                route: route.clone(),
                method,
            })
            .observe(secs);
        self.requests
            .get_or_create(&RequestLabels {
                route,
                method,
                status,
            })
            .inc();
    }

    /// Middleware (an axum `route_layer`, so the matched route is known) that times and
    /// counts every request it wraps, and traces it when spans are exported.
    pub async fn track(
        axum::extract::State(metrics): axum::extract::State<HttpMetrics>,
        request: axum::extract::Request,
        next: axum::middleware::Next,
    ) -> axum::response::Response {
        let started = std::time::Instant::now();
        let method = request.method().clone();
        let route = request
            .extensions()
            .get::<axum::extract::MatchedPath>()
            .map(|p| p.as_str().to_string());
        let route = route.as_deref().unwrap_or(UNMATCHED);
        // One span per request when spans are exported (`serving::telemetry`), named and
        // labelled by the route template (HTTP server semantic conventions).
        let span = tracing::info_span!(
            target: serving::telemetry::TARGET,
            "request",
            otel.name = format!("{method} {route}"),
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            http.request.method = method.as_str(),
            http.route = route,
            http.response.status_code = tracing::field::Empty,
        );
        let response = tracing::Instrument::instrument(next.run(request), span.clone()).await;
        let status = response.status().as_u16();
        span.record("http.response.status_code", status);
        if status >= 500 {
            span.record("otel.status_code", "ERROR");
        }
        metrics.observe(route, &method, status, started.elapsed().as_secs_f64());
        response
    }
}

/// Gauges read from the registry's state at scrape time: schemas and subjects held, and how
/// far the Kafka store's reader is behind the end of its topic.
pub struct StateCollector {
    registry: Arc<crate::Registry>,
}

impl std::fmt::Debug for StateCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateCollector").finish_non_exhaustive()
    }
}

impl StateCollector {
    /// Registers the gauges of `registry` in `metrics`.
    pub fn register(metrics: &mut Registry, registry: Arc<crate::Registry>) {
        metrics.register_collector(Box::new(StateCollector { registry }));
    }
}

impl Collector for StateCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let counts = self.registry.counts();
        let mut gauge = |name: &str, help: &str, value: i64| {
            let gauge = ConstGauge::new(value);
            let metric = encoder.encode_descriptor(name, help, None, gauge.metric_type())?;
            gauge.encode(metric)
        };
        gauge(
            "schemagate_registry_schemas",
            "Distinct schemas (ids) held, deleted versions included",
            counts.schemas as i64,
        )?;
        gauge(
            "schemagate_registry_subjects",
            "Subjects with at least one version that is not soft-deleted",
            counts.subjects as i64,
        )?;
        if let Some(lag) = self.registry.store_lag() {
            gauge(
                "schemagate_registry_store_lag_records",
                "Records of the Kafka store's topic this instance has not applied yet (end offset refreshed every few seconds)",
                lag,
            )?;
        }
        Ok(())
    }
}
