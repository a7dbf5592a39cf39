//! Produce-path enforcement, plugged into the proxy's [`crate::inspect`] seam.
//!
//! Three files carry a request, each with one job; imports run downwards only:
//! - [`enforcer`]: deciding a request. [`Enforcer`], the inspector: per request, the rule of
//!   each partition, one decision.
//! - [`partition`]: judging a partition. [`partition::Judge`] takes one partition through the
//!   contract and its `on_invalid` policy (`idempotent` for idempotent producers).
//! - [`answer`]: building the answer. What a partition's judgement becomes, and the
//!   outcomes of a request as one decision.
//! - [`record_check`]: frame reading and per-record verdicts, synchronous and allocation-light.
//! - [`resolve`]: one registry round per batch for its distinct schema ids, readers included.
//! - [`reason`]: the published reason codes and [`reason::Violation`].
//! - [`produce_response`]: responses the proxy makes or merges, with its error codes.
//! - [`sequence`], [`sequence_store`], `idempotent`: quarantine for idempotent producers,
//!   whose later batches move down by the records removed before them, stored durably.
//! - [`quarantine`]: the durable writer of bad records with `schemagate.*` headers.
//! - [`audit`]: reading, summarizing, showing and replaying quarantine topics (the CLI's
//!   `schemagate quarantine`).
//! - [`metrics`]: `schemagate_records_total`, `schemagate_quarantined_total`, ...; by
//!   [`outcome::Outcome`], which the `produce` span counts too.
//! - [`trace`]: OpenTelemetry spans (a `produce` span per request, the quarantine write,
//!   links to producers' traces), exported only when configured.
pub mod answer;
pub mod audit;
pub mod enforcer;
mod idempotent;
pub mod metrics;
pub mod outcome;
pub mod partition;
pub mod produce_response;
pub mod quarantine;
pub mod reason;
pub mod record_check;
pub mod resolve;
pub mod sequence;
pub mod sequence_store;
pub mod trace;

pub use enforcer::Enforcer;
