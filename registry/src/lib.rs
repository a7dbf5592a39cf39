//! # registry — a Confluent-compatible schema registry server
//!
//! A tour of the crate:
//! - [`record`]: the `_schemas` log records in Confluent's key/value JSON format.
//! - [`state`]: the in-memory [`state::State`] every instance rebuilds by applying the log in
//!   order, with the rules that settle races (an id belongs to the first record carrying it).
//! - [`store`]: where the log lives: memory (tests) or Kafka ([`kafka`]); a write returns only
//!   after this instance has applied it (read-your-writes).
//! - [`service`]: the operations ([`service::Registry`]): register (with retry when a race in
//!   the log is lost), lookup, compatibility, deletes, config and mode.
//! - [`http`]: the REST surface (axum), Confluent's content type and error codes, body cap,
//!   the guard in front of every route, and the listener (TLS when configured).
//! - [`security`]: who may do what: basic auth (one user, or a file of hashed passwords),
//!   OAuth2 bearer JWTs, per-subject permissions, and the audit trail.
//! - [`metrics`]: access by outcome, file reloads, JWKS fetches.
//! - [`serialized`]: `?format=serialized` for Protobuf (a base64 `FileDescriptorProto`).
//! - [`error`]: [`error::RegistryError`], each variant mapped to Confluent's status and code;
//!   beside it [`request`] (the request bodies) and [`json`] (JSON answers in Confluent's type).
//!
//! [`open`] builds a registry over a store and [`serve`] runs it until a shutdown signal.
#![forbid(unsafe_code)]

pub mod error;
pub mod http;
pub mod json;
pub mod kafka;
pub mod metrics;
pub mod record;
pub mod request;
pub mod security;
pub mod serialized;
pub mod service;
pub mod state;
pub mod store;

use std::future::Future;
use std::sync::{Arc, RwLock};

pub use error::RegistryError;
pub use http::{router, HttpConfig};
pub use kafka::KafkaConfig;
pub use security::{BasicAuth, Security, SecurityConfig};
pub use service::Registry;

/// Which store to open.
#[derive(Debug, Clone)]
pub enum StoreConfig {
    /// Nothing survives a restart.
    Memory,
    /// The log lives in a Kafka topic.
    Kafka(KafkaConfig),
}

/// Opens the store (replaying the Kafka log, if any) and returns the registry over it.
pub async fn open(cfg: &StoreConfig) -> Result<Arc<Registry>, RegistryError> {
    let state = Arc::new(RwLock::new(state::State::default()));
    let store = match cfg {
        StoreConfig::Memory => store::Store::Memory,
        StoreConfig::Kafka(k) => {
            store::Store::Kafka(kafka::KafkaLog::open(k, state.clone()).await?)
        }
    };
    Ok(Registry::new(state, store))
}

/// Serves `registry` on `listener` (over TLS when configured) until `shutdown` completes,
/// then drains in-flight requests. Meanwhile the TLS, credentials, permissions and JWKS files
/// are reloaded when they change.
pub async fn serve(
    listener: tokio::net::TcpListener,
    registry: Arc<Registry>,
    cfg: HttpConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let security = cfg.security();
    let cfg = HttpConfig {
        security: Some(security.clone()),
        ..cfg
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut reloads = tokio::task::JoinSet::new();
    reloads.spawn(security.clone().run_reloads(stop_rx.clone()));
    if let Some(tls) = &cfg.tls {
        let (interval, file) = (tls.config().reload_interval, metrics::WatchedFile::tls);
        let watch = security
            .metrics()
            .watch(tls.watched(), interval, file, stop_rx.clone());
        reloads.spawn(watch);
    }
    let served =
        http::server::serve(listener, router(registry, &cfg), cfg.tls.clone(), shutdown).await;
    let _ = stop_tx.send(true);
    while reloads.join_next().await.is_some() {}
    served
}
