//! Admin HTTP: `/metrics` (Prometheus text), `/healthz` (process up), `/readyz` (upstream
//! reachable on the latest metadata fetch, every known broker has its listener, and the inspector
//! is ready).

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

async fn ready(State(state): State<AdminState>) -> (StatusCode, String) {
    if !state.shared.ready.load(Ordering::SeqCst) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "upstream not reachable\n".into(),
        );
    }
    if let Some(why) = state.shared.unbound.not_ready() {
        return (StatusCode::SERVICE_UNAVAILABLE, why);
    }
    match state.shared.inspector.not_ready() {
        Some(why) => (StatusCode::SERVICE_UNAVAILABLE, why.into()),
        None => (StatusCode::OK, "ready\n".into()),
    }
}
