//! Where the log lives: in memory (tests) or in a Kafka topic (see [`crate::kafka`]).
//!
//! Either way a write returns only once the record has been applied to this instance's
//! [`crate::state::State`], so every answer reflects the caller's own writes.

use crate::error::RegistryError;
use crate::kafka::KafkaLog;
use crate::record::LogRecord;
use crate::state::{apply, SharedState};

/// Which log backs the registry.
pub enum Store {
    /// Records are applied in place and forgotten (tests, demos).
    Memory,
    /// Records go to a Kafka topic and come back through this instance's reader.
    Kafka(KafkaLog),
}

impl Store {
    /// Records of the log not applied yet (`None` for the memory store, which has no lag).
    pub fn lag(&self) -> Option<i64> {
        match self {
            Store::Memory => None,
            Store::Kafka(log) => Some(log.lag()),
        }
    }

    /// Appends `rec` and returns once this instance has applied it.
    pub async fn append(&self, state: &SharedState, rec: LogRecord) -> Result<(), RegistryError> {
        match self {
            Store::Memory => {
                apply(state, &rec);
                Ok(())
            }
            Store::Kafka(log) => log.append(rec).await,
        }
    }
}
