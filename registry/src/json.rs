//! JSON answers in Confluent's content type: what the REST handlers and the error type both
//! write (a leaf module, so that `error` and `http` need not import each other).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Confluent's response content type.
pub const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// A JSON response with Confluent's content type.
pub fn json_response<T: Serialize + ?Sized>(status: StatusCode, body: &T) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut resp = (status, bytes).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    resp
}
