//! Produce-path enforcement: from a partition's record batch to a decision.
//!
//! - [`reason`]: the published reason codes and [`reason::Violation`].
//! - [`resolve`]: one registry round per batch for its distinct schema ids, readers included.
//! - [`record_check`]: frame reading and per-record verdicts, synchronous and allocation-light.
pub mod reason;
pub mod record_check;
pub mod resolve;
