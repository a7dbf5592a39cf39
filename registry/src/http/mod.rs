//! The REST surface: routes, shared handler state, JSON bodies in and out.

use std::sync::Arc;

use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::RegistryError;
use crate::metrics::HttpMetrics;
use crate::service::Registry;

pub mod admin;
pub mod config;
pub mod guard;
mod schemas;
pub mod server;
pub mod subjects;

pub use crate::security::BasicAuth;
use crate::security::Security;

pub use crate::json::{json_response, CONTENT_TYPE};

/// Default cap on request bodies (1 MiB).
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// How the HTTP side is set up.
#[derive(Clone)]
pub struct HttpConfig {
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// One user whose credentials writes must present (used when `security` is not set).
    pub basic_auth: Option<BasicAuth>,
    /// Who may do what; `None` means `basic_auth` alone, or nothing: open to anyone.
    pub security: Option<Arc<Security>>,
    /// TLS on the listener.
    pub tls: Option<Arc<serving::ServerTls>>,
    /// Where requests are counted and timed (not counted when `None`).
    pub metrics: Option<crate::metrics::HttpMetrics>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            body_limit: DEFAULT_BODY_LIMIT,
            basic_auth: None,
            security: None,
            tls: None,
            metrics: None,
        }
    }
}

impl HttpConfig {
    /// The security in force: `security`, else `basic_auth` guarding writes, else none.
    pub fn security(&self) -> Arc<Security> {
        match (&self.security, &self.basic_auth) {
            (Some(s), _) => s.clone(),
            (None, Some(user)) => Arc::new(Security::single_user(user.clone())),
            (None, None) => Arc::new(Security::open()),
        }
    }
}

/// What every handler gets.
#[derive(Clone)]
pub struct AppState {
    registry: Arc<Registry>,
    body_limit: usize,
}

/// Builds the router for `registry`.
pub fn router(registry: Arc<Registry>, cfg: &HttpConfig) -> Router {
    let guard = guard::GuardState {
        security: cfg.security(),
        registry: registry.clone(),
    };
    let state = AppState {
        registry,
        body_limit: cfg.body_limit,
    };
    let routes = Router::new()
        .route(
            "/",
            get(|| async { json_response(StatusCode::OK, &serde_json::json!({})) }),
        )
        .route("/subjects", get(subjects::list))
        .route(
            "/subjects/{subject}",
            post(subjects::lookup).delete(subjects::delete_subject),
        )
        .route(
            "/subjects/{subject}/versions",
            get(subjects::versions).post(subjects::register),
        )
        .route(
            "/subjects/{subject}/versions/{version}",
            get(subjects::get_version).delete(subjects::delete_version),
        )
        .route(
            "/subjects/{subject}/versions/{version}/schema",
            get(subjects::get_raw),
        )
        .route(
            "/subjects/{subject}/versions/{version}/referencedby",
            get(subjects::referenced_by),
        )
        .route("/schemas/types", get(schemas::types))
        .route("/schemas/ids/{id}", get(schemas::by_id))
        .route("/schemas/ids/{id}/schema", get(schemas::raw_by_id))
        .route("/schemas/ids/{id}/versions", get(schemas::versions_of_id))
        .route("/schemas/ids/{id}/subjects", get(schemas::subjects_of_id))
        .route(
            "/compatibility/subjects/{subject}/versions",
            post(config::check_all),
        )
        .route(
            "/compatibility/subjects/{subject}/versions/{version}",
            post(config::check_version),
        )
        .route(
            "/config",
            get(config::get_global)
                .put(config::put_global)
                .delete(config::delete_global),
        )
        .route(
            "/config/{subject}",
            get(config::get_subject)
                .put(config::put_subject)
                .delete(config::delete_subject),
        )
        .route(
            "/mode",
            get(config::get_mode_global).put(config::put_mode_global),
        )
        .route(
            "/mode/{subject}",
            get(config::get_mode_subject)
                .put(config::put_mode_subject)
                .delete(config::delete_mode_subject),
        )
        .route_layer(axum::middleware::from_fn_with_state(guard, guard::guard));
    // Outside the guard, so refused requests are counted too; a route layer, so the matched
    // route's template is the label.
    let routes = match &cfg.metrics {
        Some(m) => routes.route_layer(axum::middleware::from_fn_with_state(
            m.clone(),
            HttpMetrics::track,
        )),
        None => routes,
    };
    let unmatched = cfg.metrics.clone();
    routes
        .fallback(move |request: Request| async move {
            if let Some(m) = &unmatched {
                m.observe(crate::metrics::UNMATCHED, request.method(), 404, 0.0);
            }
            json_response(
                StatusCode::NOT_FOUND,
                &serde_json::json!({"error_code": 404, "message": "HTTP 404 Not Found"}),
            )
        })
        .with_state(state)
}

/// 200 with a JSON body.
fn ok<T: Serialize + ?Sized>(body: &T) -> Response {
    json_response(StatusCode::OK, body)
}

/// A JSON request body, read within the size cap whatever its content type
/// (Confluent accepts its own type, `application/json` and `application/octet-stream`).
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let limit = state.body_limit;
        let bytes = axum::body::to_bytes(req.into_body(), limit)
            .await
            .map_err(|_| {
                json_response(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &serde_json::json!({
                        "error_code": 413,
                        "message": format!("request body larger than {limit} bytes"),
                    }),
                )
            })?;
        parse_json(&bytes)
            .map(JsonBody)
            .map_err(IntoResponse::into_response)
    }
}

/// Malformed JSON is 400 (error code 400); JSON of the wrong shape is 422 (error code 422).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, RegistryError> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| RegistryError::MalformedJson(e.to_string()))?;
    serde_json::from_value(value).map_err(|e| RegistryError::UnprocessableBody(e.to_string()))
}

/// True when a `?flag=true` query parameter is set.
fn flag(q: &std::collections::HashMap<String, String>, name: &str) -> bool {
    q.get(name).is_some_and(|v| v.eq_ignore_ascii_case("true"))
}
