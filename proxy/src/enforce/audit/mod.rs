//! Auditing and replaying quarantine topics: the library behind `schemagate quarantine`.
//!
//! - [`reader`]: a snapshot read of a topic (low to high watermark at the start, then stop),
//!   partitions in ascending order, on a blocking thread feeding a bounded channel.
//! - [`record`]: [`QuarantinedRecord`], the client's headers told apart from `schemagate.*`.
//! - [`summary`]: `list`, counts by reason, schema id and client id, as a table or JSON data.
//! - [`show`]: `show`, one record with its headers and [`hexdump`]: magic byte | schema id |
//!   Protobuf message indexes | payload.
//! - [`recheck`]: judging records again with the proxy's own checker and today's registry.
//! - [`replay`]: `replay`, two passes (judge, then produce what passed, acks=all).

pub mod hexdump;
pub mod reader;
pub mod recheck;
pub mod record;
pub mod replay;
pub mod show;
pub mod summary;

use std::time::Duration;

use registry_client::RegistryError;

pub use reader::ReadConfig;
pub use record::QuarantinedRecord;

/// Why a quarantine command could not do its job (the CLI exits 2 on any of these).
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// A Kafka client call failed.
    #[error("{doing}: {reason}")]
    Kafka {
        /// What was being done.
        doing: String,
        /// librdkafka's words.
        reason: String,
    },
    /// The topic does not exist.
    #[error("topic {topic} does not exist at {bootstrap}")]
    MissingTopic {
        /// The topic.
        topic: String,
        /// Where we asked.
        bootstrap: String,
    },
    /// A partition stopped delivering before its end.
    #[error(
        "reading {topic} partition {partition} stalled at offset {offset} (end {end}) for {waited:?}"
    )]
    Stalled {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The next offset expected.
        offset: i64,
        /// The end of the snapshot.
        end: i64,
        /// How long nothing arrived.
        waited: Duration,
    },
    /// The command's arguments cannot work.
    #[error("{0}")]
    Usage(String),
    /// The record asked for is not there.
    #[error("{0}")]
    NoSuchRecord(String),
    /// The registry could not answer; nothing was judged failing and nothing was produced.
    #[error("the schema registry did not answer after {checked} records were checked, so nothing was produced and no record was counted as failing: {error}")]
    RegistryUnavailable {
        /// Records judged before the registry failed.
        checked: u64,
        /// The registry client's error.
        error: RegistryError,
    },
    /// Producing replayed records failed.
    #[error("producing to {to} failed after {produced} records were acknowledged: {reason}")]
    Produce {
        /// The destination topic.
        to: String,
        /// Records acknowledged before the failure.
        produced: u64,
        /// Why.
        reason: String,
    },
}
