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
//!   optional basic auth on writes.
//! - [`serialized`]: `?format=serialized` for Protobuf (a base64 `FileDescriptorProto`).
//! - [`error`]: [`error::RegistryError`], each variant mapped to Confluent's status and code.
//!
//! [`open`] builds a registry over a store and [`serve`] runs it until a shutdown signal.
#![forbid(unsafe_code)]

pub mod error;
pub mod http;
pub mod kafka;
pub mod record;
pub mod serialized;
pub mod service;
pub mod state;
pub mod store;

use std::future::Future;
use std::sync::{Arc, RwLock};

pub use error::RegistryError;
pub use http::{router, BasicAuth, HttpConfig};
pub use kafka::KafkaConfig;
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

/// Serves `registry` on `listener` until `shutdown` completes, then drains in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    registry: Arc<Registry>,
    cfg: HttpConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(registry, cfg))
        .with_graceful_shutdown(shutdown)
        .await
}
