//! Quarantine for idempotent (and transactional) producers: the bad records go to quarantine,
//! the good ones are forwarded with their sequence numbers moved down by the records removed
//! before them, so the broker sees one unbroken sequence (see [`super::sequence`]).
//!
//! Order of events for a batch with bad records:
//! 1. lock the producer partition's shift (one batch of a producer partition at a time);
//! 2. plan every batch of the partition against it;
//! 3. write the quarantine copies of the records removed now, wait for the brokers to
//!    acknowledge them, *then* write the new shift and wait for that (a durable shift so
//!    always stands for durable copies: a retry trusts it and does not copy those records
//!    again);
//! 4. only then update the shift in memory and forward the rebuilt batches.
//!
//! A failure at 3 answers the partition with a retriable error; nothing was forwarded and the
//! shift in memory is unchanged, so the retry plans the same way.

use std::collections::BTreeMap;

use bytes::Bytes;
use tokio::sync::OwnedMutexGuard;

use super::answer::{
    local, refuse_unreadable, reject, retriable, PartitionInput, PartitionOutcome, Scanned,
};
use super::metrics::EnforceMetrics;
use super::outcome::Outcome;
use super::quarantine::{QuarantineRecord, QuarantineWriter, StateRecord};
use super::sequence::{Plan, ProducerPartition, Rewrite, Shift};
use super::sequence_store::{encode_shift, now_ms, SequenceStore};
use crate::batch::{encode_batch, BatchHeader, Record, RecordBatch};

/// What happens to one batch of the partition.
enum BatchPlan {
    /// Not from an idempotent producer (or a control batch): the good records, as before.
    Unsequenced,
    /// From an idempotent producer.
    Sequenced(Rewrite),
}

/// What the quarantine of an idempotent producer's batches needs: the sequence shifts, the
/// quarantine writer (copies and shifts are written together) and the metrics.
pub(super) struct Sequenced<'a> {
    pub(super) sequences: &'a SequenceStore,
    pub(super) quarantine: &'a QuarantineWriter,
    pub(super) metrics: &'a EnforceMetrics,
}

impl Sequenced<'_> {
    /// For a partition whose records all pass: moves the sequences of producers that lost
    /// records before. None when nothing moves (the bytes go out as they came).
    pub(super) async fn shift_clean(
        &self,
        input: &PartitionInput<'_>,
        batches: &[RecordBatch<'_>],
    ) -> Option<PartitionOutcome> {
        if !self.sequences.is_ready() {
            return Some(self.not_ready(input));
        }
        let mut moved: Vec<Option<i32>> = vec![None; batches.len()];
        for (bi, b) in batches.iter().enumerate() {
            let h = &b.header;
            if h.producer_id < 0 || h.is_control() || !self.sequences.has_producer(h.producer_id) {
                continue;
            }
            // Most producers never lost a record: one map lookup and nothing else.
            let Some(slot) = self.sequences.get(&key(input, h.producer_id)) else {
                continue;
            };
            let mut shift = slot.lock().await;
            let n = usize::try_from(h.record_count).unwrap_or(0);
            let Plan::Forward(plan) =
                shift.plan(h.producer_epoch, h.base_sequence, &vec![false; n], now_ms())
            else {
                continue;
            };
            match plan.next {
                // A new epoch with nothing removed: an empty shift, no need to store it.
                Some(next) => *shift = next,
                None => shift.touch(h.base_sequence, n, now_ms()),
            }
            if plan.base_sequence != h.base_sequence {
                moved[bi] = Some(plan.base_sequence);
            }
        }
        if moved.iter().all(Option::is_none) {
            return None;
        }
        // The proxy is about to change the bytes: their CRC must hold first, or the rewrite
        // would launder a corrupt batch.
        if let Some(e) = batches.iter().find_map(|b| b.verify_crc().err()) {
            return Some(refuse_unreadable(self.metrics, input, &e));
        }
        let mut out = Vec::with_capacity(input.records.len());
        for (b, base) in batches.iter().zip(&moved) {
            match base {
                Some(base) => {
                    out.extend_from_slice(&b.with_base_sequence(*base));
                    self.sequences.metrics().rewritten.inc();
                }
                None => out.extend_from_slice(b.bytes()),
            }
        }
        let good = batches
            .iter()
            .map(|b| usize::try_from(b.header.record_count).unwrap_or(0))
            .sum();
        self.metrics.count(input.topic, Outcome::valid, good);
        Some(PartitionOutcome::Replace(Bytes::from(out)))
    }

    /// For a partition with bad records under `quarantine`, from idempotent producers: the
    /// steps in the module docs.
    pub(super) async fn quarantine_sequenced(
        &self,
        input: &PartitionInput<'_>,
        batches: &[RecordBatch<'_>],
        scanned: &[Scanned<'_>],
    ) -> PartitionOutcome {
        if !self.sequences.is_ready() {
            return self.not_ready(input);
        }
        let mut bad_flags: Vec<Vec<bool>> = vec![Vec::new(); batches.len()];
        for s in scanned {
            bad_flags[s.batch].push(s.bad.is_some());
        }
        // 1. Lock each producer's shift, in producer id order (no two requests wait on each
        // other's locks in opposite orders).
        let mut guards: BTreeMap<i64, (OwnedMutexGuard<Shift>, Shift, bool)> = BTreeMap::new();
        for b in batches {
            let h = &b.header;
            if h.producer_id >= 0 && !h.is_control() && !guards.contains_key(&h.producer_id) {
                let slot = self.sequences.get_or_create(
                    &key(input, h.producer_id),
                    h.producer_epoch,
                    h.base_sequence,
                );
                let guard = slot.lock_owned().await;
                let working = guard.clone();
                guards.insert(h.producer_id, (guard, working, false));
            }
        }
        // 2. Plan every batch.
        let now = now_ms();
        let mut plans = Vec::with_capacity(batches.len());
        for (b, bad) in batches.iter().zip(&bad_flags) {
            let h = &b.header;
            let Some((_, working, changed)) = guards.get_mut(&h.producer_id) else {
                plans.push(BatchPlan::Unsequenced);
                continue;
            };
            if h.is_control() {
                plans.push(BatchPlan::Unsequenced);
                continue;
            }
            let any_bad = bad.iter().any(|b| *b);
            let plan = working.plan(h.producer_epoch, h.base_sequence, bad, now);
            tracing::debug!(
                target: "schemagate::sequence",
                topic = input.topic,
                partition = input.index,
                producer = h.producer_id,
                epoch = h.producer_epoch,
                base_sequence = h.base_sequence,
                records = bad.len(),
                bad = ?bad.iter().enumerate().filter(|(_, b)| **b).map(|(i, _)| i).collect::<Vec<_>>(),
                plan = ?plan_summary(&plan),
                "planned a batch with bad records in its partition"
            );
            match plan {
                Plan::OlderEpoch if any_bad => {
                    return reject(self.metrics, input, scanned, Some("the batch comes from a fenced producer epoch (an older epoch than the proxy has seen), so it is refused whole"));
                }
                Plan::OlderEpoch => plans.push(BatchPlan::Sequenced(identity(bad.len(), h))),
                Plan::Forward(r) if r.below_floor && any_bad => {
                    return reject(self.metrics, input, scanned, Some("the batch's sequence is older than any retry the proxy keeps a mapping for, so it is refused whole"));
                }
                Plan::Forward(r) => {
                    match &r.next {
                        Some(next) => {
                            *working = next.clone();
                            *changed = true;
                        }
                        None => working.touch(h.base_sequence, bad.len(), now),
                    }
                    plans.push(BatchPlan::Sequenced(r));
                }
            }
        }
        // 3. The quarantine copies of what is removed now, then the new shifts, durably.
        let topic_name = input.policy.quarantine_topic(input.topic);
        let records: Vec<QuarantineRecord<'_>> = scanned
            .iter()
            .filter(|s| match &plans[s.batch] {
                BatchPlan::Unsequenced => true,
                BatchPlan::Sequenced(r) => r
                    .newly_removed
                    .contains(&usize::try_from(s.index_in_batch).unwrap_or(usize::MAX)),
            })
            .filter_map(|s| s.quarantine_record(&topic_name, input))
            .collect();
        let states: Vec<StateRecord> = guards
            .iter()
            .filter(|(_, (_, _, changed))| *changed)
            .map(|(pid, (_, working, _))| StateRecord {
                topic: self.sequences.config().topic.clone(),
                key: key(input, *pid).key(),
                value: encode_shift(working),
            })
            .collect();
        if let Err(e) = self.quarantine.write_with_states(&records, &states).await {
            return retriable(self.metrics, input, "quarantine", e.to_string());
        }
        for r in &records {
            self.metrics.quarantined(input.topic, r.violation.reason);
        }
        // 4. Durable: now the shifts change in memory, and the batches go out.
        for (_, (mut guard, working, _)) in guards {
            *guard = working;
        }
        self.forward_kept(input, batches, scanned, &plans)
    }

    /// Rebuilds the partition's records from the plans: each batch with its kept records.
    fn forward_kept(
        &self,
        input: &PartitionInput<'_>,
        batches: &[RecordBatch<'_>],
        scanned: &[Scanned<'_>],
        plans: &[BatchPlan],
    ) -> PartitionOutcome {
        let mut out = Vec::with_capacity(input.records.len());
        let (mut kept_total, mut removed_total) = (0usize, 0usize);
        for (bi, (batch, plan)) in batches.iter().zip(plans).enumerate() {
            let in_batch = scanned.iter().filter(|s| s.batch == bi);
            let (template, keep): (BatchHeader, Vec<Record<'_>>) = match plan {
                BatchPlan::Unsequenced => (
                    batch.header,
                    in_batch
                        .filter(|s| s.bad.is_none())
                        .map(|s| s.record.clone())
                        .collect(),
                ),
                BatchPlan::Sequenced(r) if r.is_identity(batch.header.base_sequence) => {
                    out.extend_from_slice(batch.bytes());
                    kept_total += r.kept.len();
                    continue;
                }
                BatchPlan::Sequenced(r) if r.kept.iter().all(|k| *k) => {
                    out.extend_from_slice(&batch.with_base_sequence(r.base_sequence));
                    self.sequences.metrics().rewritten.inc();
                    kept_total += r.kept.len();
                    continue;
                }
                BatchPlan::Sequenced(r) => {
                    let keep = in_batch
                        .filter(|s| {
                            usize::try_from(s.index_in_batch)
                                .ok()
                                .and_then(|i| r.kept.get(i))
                                .copied()
                                .unwrap_or(false)
                        })
                        .map(|s| s.record.clone())
                        .collect();
                    // Counted once: a retry's records removed before are not counted again.
                    self.sequences
                        .metrics()
                        .removed
                        .inc_by(r.newly_removed.len() as u64);
                    (
                        BatchHeader {
                            base_sequence: r.base_sequence,
                            ..batch.header
                        },
                        keep,
                    )
                }
            };
            removed_total += scanned.iter().filter(|s| s.batch == bi).count() - keep.len();
            kept_total += keep.len();
            if keep.is_empty() {
                continue;
            }
            match encode_batch(&template, batch.compression, &keep) {
                Ok(bytes) => {
                    out.extend_from_slice(&bytes);
                    if matches!(plan, BatchPlan::Sequenced(_)) {
                        self.sequences.metrics().rewritten.inc();
                    }
                }
                Err(e) => return retriable(self.metrics, input, "encode", e.to_string()),
            }
        }
        self.metrics
            .count(input.topic, Outcome::quarantined, removed_total);
        self.metrics.count(input.topic, Outcome::valid, kept_total);
        if out.is_empty() {
            // Every record is in quarantine and the shift is stored: the batch is complete.
            tracing::debug!(
                target: "schemagate::sequence",
                topic = input.topic,
                partition = input.index,
                removed = removed_total,
                "every record of the partition is in quarantine: answered here once the batch before it is stored"
            );
            return match local(input, 0, None, Vec::new()) {
                PartitionOutcome::Local(l) => PartitionOutcome::Removed(l),
                other => other,
            };
        }
        PartitionOutcome::Replace(Bytes::from(out))
    }

    /// The shifts are still being read at start: the client retries.
    fn not_ready(&self, input: &PartitionInput<'_>) -> PartitionOutcome {
        retriable(
            self.metrics,
            input,
            "sequences",
            "the proxy is still reading its sequence shifts".to_owned(),
        )
    }
}

/// The producer partition of a batch of `input`.
fn key(input: &PartitionInput<'_>, producer_id: i64) -> ProducerPartition {
    ProducerPartition {
        topic: input.topic.to_owned(),
        partition: input.index,
        producer_id,
    }
}

/// A short form of a plan for the debug log: forwarded base sequence, records kept, the
/// indexes removed now and whether a new shift is stored.
fn plan_summary(plan: &Plan) -> String {
    match plan {
        Plan::OlderEpoch => "older epoch".to_owned(),
        Plan::Forward(r) => format!(
            "base {} kept {}/{} newly removed {:?} store {} below floor {}",
            r.base_sequence,
            r.kept.iter().filter(|k| **k).count(),
            r.kept.len(),
            r.newly_removed,
            r.next.is_some(),
            r.below_floor
        ),
    }
}

/// A plan that forwards the batch as it came.
fn identity(records: usize, header: &BatchHeader) -> Rewrite {
    Rewrite {
        base_sequence: header.base_sequence,
        kept: vec![true; records],
        newly_removed: Vec::new(),
        next: None,
        below_floor: false,
    }
}
