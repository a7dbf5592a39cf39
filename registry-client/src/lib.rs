//! # registry-client — talking to any Confluent-compatible schema registry
//!
//! The proxy calls this crate for every record batch it inspects, so its job is to keep the
//! registry off the hot path: answers are cached, concurrent misses share one request, and a
//! definitive "not found" is remembered for a few seconds.
//!
//! A tour of the crate:
//! - [`client`]: [`RegistryClient`], the entry point: [`RegistryClient::schema`] (id → parsed
//!   schema), [`RegistryClient::binding`] (is this id registered under this subject),
//!   [`RegistryClient::subject_version`] (reader contracts) and [`RegistryClient::lookup`]
//!   (schema text → id).
//! - [`error`]: [`RegistryError`], classified by [`CallerAction`]: a record is invalid only on
//!   a definitive answer, never because the registry is down.
//! - [`config`]: URL, auth, TLS CA, timeouts, retries, cache sizes and TTLs.
//! - [`metrics`]: Prometheus counters and histograms, plus a cheap request counter.
//! - [`subject`]: [`Subject`] and [`VersionSpec`].
//! - Inside: `cache` (coalescing moka cache with negative entries), `transport` (reqwest +
//!   rustls, retries, body cap), `rest` (endpoints and strict answer reading), `references`
//!   (transitive reference resolution), `retry` (backoff with jitter).
#![forbid(unsafe_code)]

mod cache;
pub mod client;
pub mod config;
pub mod error;
pub mod metrics;
mod references;
mod rest;
mod retry;
pub mod subject;
mod transport;

pub use client::{RegisteredSchema, RegistryClient, SubjectVersion};
pub use config::{Auth, CacheConfig, RegistryConfig, RetryPolicy};
pub use error::{BuildError, CallerAction, Missing, RegistryError};
pub use metrics::Metrics;
pub use subject::{Subject, VersionSpec};
