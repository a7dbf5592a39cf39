//! # registry-client — talking to any Confluent-compatible schema registry
//!
//! The proxy calls this crate for every record batch it inspects, so its job is to keep the
//! registry off the hot path: answers are cached, concurrent misses share one request, and a
//! definitive "not found" is remembered for a few seconds.
//!
//! A tour of the crate:
//! - [`client`]: [`RegistryClient`], the entry point: [`RegistryClient::bound_schema`] (id →
//!   parsed schema, provided it is registered under a subject: one request where the registry
//!   filters `?subject=`), [`RegistryClient::schema`] (id → parsed schema),
//!   [`RegistryClient::binding`] (is this id registered under this subject, and as which version),
//!   [`RegistryClient::subject_version`] (reader contracts) and [`RegistryClient::lookup`]
//!   (schema text → id).
//! - [`admin`]: the uncached writes and checks: [`RegistryClient::register`],
//!   [`RegistryClient::set_compatibility`], [`RegistryClient::compatibility_level`],
//!   [`RegistryClient::version_schema`] and [`RegistryClient::check_compatibility`] (the CLI's
//!   `check --registry` and loadgen use them; the proxy never writes).
//! - [`error`]: [`RegistryError`], classified by [`CallerAction`]: a record is invalid only on
//!   a definitive answer, never because the registry is down.
//! - [`config`]: URL, auth, TLS CA, timeouts, retries, cache sizes and TTLs.
//! - [`metrics`]: Prometheus counters and histograms, plus a cheap request counter.
//! - [`subject`]: [`Subject`] and [`VersionSpec`].
//! - Inside: `cache` (coalescing moka cache with negative entries), `hot` (lock-light index
//!   of warm values in front of moka), `transport` (one reqwest +
//!   rustls client, URLs, auth), `stack` (the tower layers every request goes through: span,
//!   retry, concurrency limit, metrics, one HTTP attempt with its body cap), `rest` (endpoints and strict answer reading), `references`
//!   (transitive reference resolution), `retry` (backoff with jitter).
//!
//! How the proxy uses it, per record (memoize per batch: most records share one id):
//!
//! ```no_run
//! # async fn check(client: &registry_client::RegistryClient) {
//! use registry_client::{CallerAction, Missing, RegistryError, Subject};
//! let subject = Subject::new("orders-value"); // built once per topic, cheap to clone
//! let id = contract::SchemaId(7); // from the wire frame
//! match client.bound_schema(&subject, id).await {
//!     Ok(schema) => { let _ = schema.parsed.validate(&[]); }
//!     Err(e) if e.action() == CallerAction::RetryLater => { /* retriable error, never quarantine */ }
//!     Err(RegistryError::NotFound { what: Missing::Binding, .. }) => { /* subject-mismatch */ }
//!     Err(RegistryError::NotFound { .. }) => { /* unknown-schema-id */ }
//!     Err(_) => { /* InvalidSchema: the writer schema cannot be used; the record is invalid */ }
//! }
//! # }
//! ```
#![forbid(unsafe_code)]

pub mod admin;
mod cache;
pub mod client;
pub mod config;
pub mod error;
mod hot;
pub mod metrics;
mod references;
mod rest;
mod retry;
mod stack;
pub mod subject;
mod transport;

pub use admin::{CompatibilityReport, VersionedSchema};
pub use client::{RegisteredSchema, RegistryClient, SubjectVersion};
pub use config::{Auth, BindingCheck, CacheConfig, RegistryConfig, RetryPolicy};
pub use error::{BuildError, CallerAction, Missing, RegistryError};
pub use metrics::Metrics;
pub use subject::{Subject, VersionSpec};
