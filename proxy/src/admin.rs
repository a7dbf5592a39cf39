//! Admin HTTP: `/metrics` (Prometheus text), `/healthz` (process up), `/readyz` (upstream
//! reachable on the latest metadata fetch).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use prometheus_client::registry::Registry;

use crate::Shared;

/// State of the admin endpoints.
#[derive(Clone)]
pub struct AdminState {
    /// The proxy's shared state (readiness).
    pub shared: Arc<Shared>,
    /// The metrics registry.
    pub registry: Arc<Registry>,
}

/// The admin routes.
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .with_state(state)
}

async fn metrics(State(state): State<AdminState>) -> Response {
    serving::metrics_text::response(&state.registry)
}

async fn ready(State(state): State<AdminState>) -> (StatusCode, &'static str) {
    if !state.shared.ready.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "upstream not reachable\n");
    }
    match state.shared.inspector.not_ready() {
        Some(why) => (StatusCode::SERVICE_UNAVAILABLE, why),
        None => (StatusCode::OK, "ready\n"),
    }
}
