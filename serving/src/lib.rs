//! # serving — what schemagate's two servers (the proxy and the registry) share
//!
//! A tour of the crate:
//! - [`watch`]: [`Watched`], a value built from small files that are re-read every interval
//!   and rebuilt when their bytes change; a broken new version is reported and the old value
//!   stays. TLS certificates, the registry's credentials, permissions and JWKS files use it.
//! - [`tls`]: rustls on the `ring` provider: PEM files ([`tls::pem`]), [`TlsError`] naming the
//!   file at fault, and [`ServerTls`], a listener's certificate (with optional client-certificate
//!   verification) as a [`Watched`] value.
//! - [`metrics_text`]: the `/metrics` answer, OpenMetrics text of a metrics registry.
//! - [`shutdown`]: [`shutdown::signal`], completing on SIGTERM or Ctrl-C.
//! - [`telemetry`]: the log subscriber and OpenTelemetry (OTLP) export of every binary;
//!   [`sampling`]: the head sampling of its spans, decided before a span is built.
#![forbid(unsafe_code)]

pub mod metrics_text;
pub mod sampling;
pub mod shutdown;
pub mod telemetry;
pub mod tls;
pub mod watch;

pub use tls::{ServerTls, ServerTlsConfig, TlsError};
pub use watch::{FileSource, FromText, Reload, ReloadLabels, ReloadResult, Source, Watched};
