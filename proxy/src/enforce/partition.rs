//! One partition's records through the contract: scan frames, resolve ids once, judge each
//! record, then apply the topic's `on_invalid` policy.

use bytes::Bytes;
use contract::{SchemaId, WireFrame};

use super::metrics::Outcome;
use super::produce_response::{codes, LocalPartition};
use super::quarantine::QuarantineRecord;
use super::reason::{Part, Violation};
use super::record_check::{frame_of, verdict, FrameCheck, Resolved};
use super::resolve::Resolver;
use super::Enforcer;
use crate::batch::{encode_batch, BatchError, Record, RecordBatch};
use crate::policy::{OnInvalid, TopicPolicy};

/// What the proxy does with one partition of a Produce request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartitionOutcome {
    /// Forward the client's bytes unchanged.
    Forward,
    /// Forward these batches (the good records) instead.
    Replace(Bytes),
    /// Do not forward; answer for the partition.
    Local(LocalPartition),
}

/// One record with what its frames said.
struct Scanned<'b> {
    record: Record<'b>,
    timestamp: i64,
    batch: usize,
    index_in_batch: i32,
    frames: [Option<WireFrame<'b>>; 2],
    bad: Option<Violation>,
}

const PARTS: [Part; 2] = [Part::Key, Part::Value];

/// Most per-record errors in one partition's response; the message still gives the total.
const MAX_RECORD_ERRORS: usize = 100;

/// The partition being judged.
pub struct PartitionInput<'a> {
    /// Topic name.
    pub topic: &'a str,
    /// Partition index.
    pub index: i32,
    /// Its record batches.
    pub records: &'a [u8],
    /// The topic's policy.
    pub policy: &'a TopicPolicy,
    /// The producing client's id.
    pub client_id: Option<&'a str>,
}

impl Enforcer {
    /// Judges one partition and carries out its policy (quarantine writes included).
    pub async fn check_partition(&self, input: &PartitionInput<'_>) -> PartitionOutcome {
        let (topic, policy) = (input.topic, input.policy);
        let batches = match RecordBatch::parse_all(input.records, self.limits) {
            Ok(b) => b,
            Err(e) => return self.refuse_unreadable(input, &e),
        };
        let mut scanned = Vec::new();
        let mut ids: Vec<(Part, SchemaId)> = Vec::new();
        for (bi, batch) in batches.iter().enumerate() {
            if batch.header.is_control() {
                continue;
            }
            for (index_in_batch, record) in batch.records().enumerate() {
                let record = match record {
                    Ok(r) => r,
                    Err(e) => return self.refuse_unreadable(input, &e),
                };
                let mut s = Scanned {
                    timestamp: batch
                        .header
                        .base_timestamp
                        .saturating_add(record.timestamp_delta),
                    batch: bi,
                    index_in_batch: i32::try_from(index_in_batch).unwrap_or(i32::MAX),
                    frames: [None, None],
                    bad: None,
                    record,
                };
                for (i, part) in PARTS.into_iter().enumerate() {
                    let (payload, req) = match part {
                        Part::Key => (s.record.key, policy.key),
                        Part::Value => (s.record.value, policy.value),
                    };
                    match frame_of(part, payload, req) {
                        FrameCheck::Skip => {}
                        FrameCheck::Bad(v) => s.bad = s.bad.take().or(Some(v)),
                        FrameCheck::Framed(f) => {
                            ids.push((part, f.schema_id));
                            s.frames[i] = Some(f);
                        }
                    }
                }
                scanned.push(s);
            }
        }
        ids.sort_unstable();
        ids.dedup();
        let resolved = if ids.is_empty() {
            Resolved::new()
        } else {
            let resolver = Resolver {
                client: &self.client,
                topic,
                policy,
                verdicts: &self.verdicts,
            };
            match resolver.resolve(&ids).await {
                Ok(r) => r,
                Err(e) => return self.retriable(input, "registry", e.to_string()),
            }
        };
        for s in scanned.iter_mut().filter(|s| s.bad.is_none()) {
            s.bad = PARTS
                .iter()
                .zip(&s.frames)
                .find_map(|(part, f)| f.as_ref().and_then(|f| verdict(*part, f, &resolved)));
        }
        let bad = scanned.iter().filter(|s| s.bad.is_some()).count();
        let good = scanned.len() - bad;
        if bad == 0 {
            self.metrics.count(topic, Outcome::valid, good);
            return PartitionOutcome::Forward;
        }
        let sequenced = batches.iter().any(|b| b.header.has_sequences());
        if let Err(outcome) = self.quarantine_copies(input, &scanned).await {
            return outcome;
        }
        match policy.on_invalid {
            OnInvalid::Audit => {
                self.metrics.count(topic, Outcome::valid, good);
                self.metrics.count(topic, Outcome::audited, bad);
                PartitionOutcome::Forward
            }
            OnInvalid::Reject => self.reject(input, &scanned, None),
            OnInvalid::Quarantine if sequenced => self.reject(
                input,
                &scanned,
                Some("the batch comes from an idempotent or transactional producer, whose sequence numbers forbid dropping records, so it is refused whole"),
            ),
            OnInvalid::Quarantine => self.forward_good(input, &batches, &scanned, bad),
        }
    }

    /// Writes a copy of every bad record to quarantine, durably; on failure the partition
    /// is answered with a retriable error so the client sends it again.
    async fn quarantine_copies(
        &self,
        input: &PartitionInput<'_>,
        scanned: &[Scanned<'_>],
    ) -> Result<(), PartitionOutcome> {
        let topic_name = input.policy.quarantine_topic(input.topic);
        let records: Vec<QuarantineRecord<'_>> = scanned
            .iter()
            .filter_map(|s| {
                s.bad.as_ref().map(|violation| QuarantineRecord {
                    topic: &topic_name,
                    source_topic: input.topic,
                    source_partition: input.index,
                    record: &s.record,
                    timestamp: s.timestamp,
                    violation,
                    client_id: input.client_id,
                })
            })
            .collect();
        match self.quarantine.write_all(&records).await {
            Ok(()) => {
                for r in &records {
                    self.metrics.quarantined(input.topic, r.violation.reason);
                }
                Ok(())
            }
            Err(e) => Err(self.retriable(input, "quarantine", e.to_string())),
        }
    }

    /// Forwards the good records in place of the batch (the bad ones are in quarantine).
    fn forward_good(
        &self,
        input: &PartitionInput<'_>,
        batches: &[RecordBatch<'_>],
        scanned: &[Scanned<'_>],
        bad: usize,
    ) -> PartitionOutcome {
        let mut out = Vec::new();
        for (bi, batch) in batches.iter().enumerate() {
            let good: Vec<Record<'_>> = scanned
                .iter()
                .filter(|s| s.batch == bi && s.bad.is_none())
                .map(|s| s.record.clone())
                .collect();
            if good.is_empty() {
                continue;
            }
            match encode_batch(&batch.header, batch.compression, &good) {
                Ok(bytes) => out.extend_from_slice(&bytes),
                Err(e) => return self.retriable(input, "encode", e.to_string()),
            }
        }
        self.metrics.count(input.topic, Outcome::quarantined, bad);
        self.metrics
            .count(input.topic, Outcome::valid, scanned.len() - bad);
        if out.is_empty() {
            // Every record is in quarantine: the write is complete and durable, so succeed.
            return PartitionOutcome::Local(LocalPartition {
                topic: input.topic.to_string(),
                index: input.index,
                error_code: 0,
                error_message: None,
                record_errors: Vec::new(),
            });
        }
        PartitionOutcome::Replace(Bytes::from(out))
    }

    /// Refuses the partition with INVALID_RECORD and one record error per bad record.
    fn reject(
        &self,
        input: &PartitionInput<'_>,
        scanned: &[Scanned<'_>],
        why_whole: Option<&str>,
    ) -> PartitionOutcome {
        let bad = scanned.iter().filter(|s| s.bad.is_some()).count();
        // Kafka's batch_index is the record's index within its batch; the message also gives
        // its index within the partition's records. Capped: the response must stay small.
        let record_errors: Vec<(i32, String)> = scanned
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                s.bad.as_ref().map(|v| {
                    (
                        s.index_in_batch,
                        format!(
                            "topic {} partition {} record {}: {}: {}",
                            input.topic, input.index, i, v.reason, v.detail
                        ),
                    )
                })
            })
            .take(MAX_RECORD_ERRORS)
            .collect();
        let first = record_errors
            .first()
            .map(|(_, m)| m.as_str())
            .unwrap_or_default();
        let mut message = format!(
            "schemagate: {bad} of {} records break the contract of {}; first: {first}",
            scanned.len(),
            input.topic
        );
        if let Some(why) = why_whole {
            message.push_str("; ");
            message.push_str(why);
        }
        self.metrics
            .count(input.topic, Outcome::rejected, scanned.len());
        PartitionOutcome::Local(LocalPartition {
            topic: input.topic.to_string(),
            index: input.index,
            error_code: codes::INVALID_RECORD,
            error_message: Some(message),
            record_errors,
        })
    }

    /// A batch that cannot be read is refused: it could hide records from inspection.
    fn refuse_unreadable(&self, input: &PartitionInput<'_>, e: &BatchError) -> PartitionOutcome {
        let code = match e {
            BatchError::Truncated(_) | BatchError::Malformed(..) => codes::CORRUPT_MESSAGE,
            _ => codes::INVALID_RECORD,
        };
        self.metrics.count(input.topic, Outcome::rejected, 1);
        PartitionOutcome::Local(LocalPartition {
            topic: input.topic.to_string(),
            index: input.index,
            error_code: code,
            error_message: Some(format!(
                "schemagate: cannot inspect {} partition {}: {e}",
                input.topic, input.index
            )),
            record_errors: Vec::new(),
        })
    }

    /// A dependency could not answer: the client retries, nothing is judged.
    fn retriable(
        &self,
        input: &PartitionInput<'_>,
        cause: &str,
        reason: String,
    ) -> PartitionOutcome {
        self.metrics
            .retriable
            .get_or_create(&super::metrics::RetriableLabels {
                topic: input.topic.to_string(),
                cause: cause.to_string(),
            })
            .inc();
        tracing::warn!(topic = input.topic, partition = input.index, cause, %reason, "answering a produce partition with a retriable error");
        PartitionOutcome::Local(LocalPartition {
            topic: input.topic.to_string(),
            index: input.index,
            error_code: codes::NOT_ENOUGH_REPLICAS,
            error_message: Some(format!("schemagate: {cause} unavailable, retry: {reason}")),
            record_errors: Vec::new(),
        })
    }
}
