//! Produce-path enforcement: from a partition's record batch to a decision.
//!
//! - [`reason`]: the published reason codes and [`reason::Violation`].
//! - [`resolve`]: one registry round per batch for its distinct schema ids, readers included.
//! - [`produce_request`]: the bounded Produce request view and its rebuilder.
//! - [`produce_response`]: responses the proxy makes or merges, with its error codes.
//! - [`quarantine`]: the durable writer of bad records with `schemagate.*` headers.
//! - [`record_check`]: frame reading and per-record verdicts, synchronous and allocation-light.
pub mod produce_request;
pub mod produce_response;
pub mod quarantine;
pub mod reason;
pub mod record_check;
pub mod resolve;
