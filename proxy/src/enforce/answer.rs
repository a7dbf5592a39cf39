//! Building the answer: what one partition's judgement becomes ([`PartitionOutcome`]: forward,
//! replace, or the proxy's own answer with its error code and message), and how the outcomes
//! of every partition become one [`ProduceDecision`] for the request.
//!
//! This module only builds answers; it decides nothing about records and calls nothing that
//! judges them, so the judging modules ([`super::partition`], `idempotent`) and the request
//! level ([`super::enforcer`]) import it, never the other way round.

use bytes::Bytes;
use contract::WireFrame;

use super::metrics::{EnforceMetrics, RetriableLabels};
use super::outcome::Outcome;
use super::produce_response::{codes, local_response, merge, LocalPartition};
use super::quarantine::{ProducerStamp, QuarantineRecord};
use super::reason::Violation;
use crate::batch::{BatchError, Record};
use crate::inspect::{CloseCause, MergeError, ProduceDecision, ProduceRequestFrame};
use crate::policy::TopicPolicy;
use crate::produce_view::{PartitionEdit, ProduceRequestView};

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

/// What the proxy does with one partition of a Produce request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartitionOutcome {
    /// Forward the client's bytes unchanged.
    Forward,
    /// Forward these batches (the good records) instead.
    Replace(Bytes),
    /// Do not forward; answer for the partition.
    Local(LocalPartition),
    /// Every record of an idempotent producer's batches went to quarantine: answered with
    /// success here, but only once the batch before it on the partition is known stored (see
    /// [`ProduceDecision::Hold`]). A success the broker would not have given (its predecessor
    /// was refused) would tell the client a later sequence is acknowledged, and the client
    /// would then take the broker's refusal of the next batch as a fatal sequence gap.
    Removed(LocalPartition),
}

/// One record with what its frames said.
pub(super) struct Scanned<'b> {
    pub(super) record: Record<'b>,
    pub(super) timestamp: i64,
    pub(super) batch: usize,
    pub(super) index_in_batch: i32,
    pub(super) frames: [Option<WireFrame<'b>>; 2],
    pub(super) bad: Option<Violation>,
    /// The producer and original sequence, for a record of an idempotent batch.
    pub(super) producer: Option<ProducerStamp>,
}

impl<'b> Scanned<'b> {
    /// The quarantine copy of this record, if it is bad.
    pub(super) fn quarantine_record<'s>(
        &'s self,
        topic: &'s str,
        input: &'s PartitionInput<'_>,
    ) -> Option<QuarantineRecord<'s>> {
        self.bad.as_ref().map(|violation| QuarantineRecord {
            topic,
            source_topic: input.topic,
            source_partition: input.index,
            record: &self.record,
            timestamp: self.timestamp,
            violation,
            client_id: input.client_id,
            producer: self.producer,
        })
    }
}

/// The proxy's own answer for the partition.
pub(super) fn local(
    input: &PartitionInput<'_>,
    error_code: i16,
    error_message: Option<String>,
    record_errors: Vec<(i32, String)>,
) -> PartitionOutcome {
    PartitionOutcome::Local(LocalPartition {
        topic: input.topic.to_string(),
        index: input.index,
        error_code,
        error_message,
        record_errors,
    })
}

/// Refuses the partition with INVALID_RECORD and one record error per bad record.
pub(super) fn reject(
    metrics: &EnforceMetrics,
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
    metrics.count(input.topic, Outcome::rejected, scanned.len());
    local(input, codes::INVALID_RECORD, Some(message), record_errors)
}

/// A batch that cannot be read is refused: it could hide records from inspection.
pub(super) fn refuse_unreadable(
    metrics: &EnforceMetrics,
    input: &PartitionInput<'_>,
    e: &BatchError,
) -> PartitionOutcome {
    let code = match e {
        BatchError::Truncated(_) | BatchError::Malformed(..) => codes::CORRUPT_MESSAGE,
        _ => codes::INVALID_RECORD,
    };
    metrics.count(input.topic, Outcome::rejected, 1);
    let message = format!(
        "schemagate: cannot inspect {} partition {}: {e}",
        input.topic, input.index
    );
    local(input, code, Some(message), Vec::new())
}

/// A dependency could not answer: the client retries, nothing is judged.
pub(super) fn retriable(
    metrics: &EnforceMetrics,
    input: &PartitionInput<'_>,
    cause: &str,
    reason: String,
) -> PartitionOutcome {
    metrics
        .retriable
        .get_or_create(&RetriableLabels {
            topic: input.topic.to_string(),
            cause: cause.to_string(),
        })
        .inc();
    tracing::warn!(topic = input.topic, partition = input.index, cause, %reason, "answering a produce partition with a retriable error");
    let message = format!("schemagate: {cause} unavailable, retry: {reason}");
    local(input, codes::NOT_ENOUGH_REPLICAS, Some(message), Vec::new())
}

/// Turns per-partition outcomes into one decision: the original bytes when nothing changed,
/// a local response when nothing is forwarded, else a rebuilt request and a merge.
pub(super) fn decision(
    view: &ProduceRequestView<'_>,
    req: &ProduceRequestFrame,
    outcomes: Vec<Vec<PartitionOutcome>>,
) -> ProduceDecision {
    let all = || outcomes.iter().flatten();
    if all().all(|o| *o == PartitionOutcome::Forward) {
        return ProduceDecision::Forward;
    }
    let locals: Vec<_> = all()
        .filter_map(|o| match o {
            PartitionOutcome::Local(l) | PartitionOutcome::Removed(l) => Some(l.clone()),
            _ => None,
        })
        .collect();
    let held: Vec<(String, i32)> = all()
        .filter_map(|o| match o {
            PartitionOutcome::Removed(l) => Some((l.topic.clone(), l.index)),
            _ => None,
        })
        .collect();
    let version = req.header.api_version;
    let decision = if locals.len() == all().count() {
        match local_response(req.header.correlation_id, version, &locals) {
            Ok(b) => ProduceDecision::Respond(b),
            Err(e) => return ProduceDecision::Close(CloseCause::Inspector, e.to_string()),
        }
    } else {
        let request = view.encode(|t, p| match &outcomes[t][p] {
            PartitionOutcome::Forward => PartitionEdit::Keep,
            PartitionOutcome::Replace(b) => PartitionEdit::Replace(b.clone()),
            PartitionOutcome::Local(_) | PartitionOutcome::Removed(_) => PartitionEdit::Drop,
        });
        ProduceDecision::ForwardModified {
            request,
            merge: Box::new(move |broker| {
                merge(broker, version, &locals).map_err(|e| MergeError(e.to_string()))
            }),
        }
    };
    if held.is_empty() {
        return decision;
    }
    // The whole request answered as retriable, should the batch before a removed one have
    // been refused: nothing of it is forwarded then, and the client sends it all again.
    let fallback: Vec<LocalPartition> = view
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| LocalPartition {
                topic: String::from_utf8_lossy(t.name).into_owned(),
                index: p.index,
                error_code: codes::NOT_ENOUGH_REPLICAS,
                error_message: Some(HELD_MESSAGE.to_owned()),
                record_errors: Vec::new(),
            })
        })
        .collect();
    match local_response(req.header.correlation_id, version, &fallback) {
        Ok(fallback) => ProduceDecision::Hold {
            decision: Box::new(decision),
            partitions: held,
            fallback,
        },
        Err(e) => ProduceDecision::Close(CloseCause::Inspector, e.to_string()),
    }
}

/// The message of a request held back because the batch before a removed one was refused.
pub const HELD_MESSAGE: &str = "schemagate: the batch before this one on the partition was not \
     stored, so a batch whose records all went to quarantine is not acknowledged yet; retry";
