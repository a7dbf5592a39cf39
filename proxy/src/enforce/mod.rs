//! Produce-path enforcement: from a partition's record batch to a decision.
//!
//! - [`reason`]: the published reason codes and [`reason::Violation`].
//! - [`record_check`]: frame reading and per-record verdicts, synchronous and allocation-light.
pub mod reason;
pub mod record_check;
