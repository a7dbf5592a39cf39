//! The `/metrics` answer: a metrics registry in the OpenMetrics text format.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use prometheus_client::registry::Registry;

/// The content type of the body: prometheus-client writes OpenMetrics 1.0 (`# EOF`, counters
/// typed by their family name with `_total` samples), which a 0.0.4 parser would misread.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// OpenMetrics text of `registry`, or a 500 naming the encoding error.
pub fn response(registry: &Registry) -> Response {
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, registry) {
        Ok(()) => (StatusCode::OK, [(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("cannot encode metrics: {e}\n"),
        )
            .into_response(),
    }
}
