//! The admin endpoint (`--admin`): `/metrics` (Prometheus text) and `/healthz`, apart from the
//! REST listener so scraping needs no registry credential.

use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use prometheus_client::registry::Registry;

/// The admin routes over `metrics`.
pub fn router(metrics: Arc<Registry>) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(move || {
                let metrics = metrics.clone();
                async move { serving::metrics_text::response(&metrics) }
            }),
        )
        .route("/healthz", get(|| async { "ok\n" }))
}
