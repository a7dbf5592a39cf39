//! Produce-path enforcement: from a partition's record batch to a decision.
//!
//! - [`reason`]: the published reason codes and [`reason::Violation`].
//! - [`resolve`]: one registry round per batch for its distinct schema ids, readers included.
//! - [`quarantine`]: the durable writer of bad records with `schemagate.*` headers.
//! - [`record_check`]: frame reading and per-record verdicts, synchronous and allocation-light.
pub mod quarantine;
pub mod reason;
pub mod record_check;
pub mod resolve;
