//! Judging a partition: one partition's records through the contract. Scan frames, resolve
//! ids once, judge each record, then apply the topic's `on_invalid` policy. [`Judge`] holds
//! what that needs; the answers it gives are built by [`super::answer`].

use std::sync::Arc;

use bytes::Bytes;
use contract::SchemaId;
use registry_client::{RegisteredSchema, RegistryClient};

use super::answer::{
    local, refuse_unreadable, reject, retriable, PartitionInput, PartitionOutcome, Scanned,
};
use super::idempotent::Sequenced;
use super::metrics::EnforceMetrics;
use super::outcome::Outcome;
use super::produce_response::codes;
use super::quarantine::{ProducerStamp, QuarantineRecord, QuarantineWriter};
use super::reason::Part;
use super::record_check::{frame_of, passes, verdict, FrameCheck, IdVerdict, Resolved};
use super::resolve::{reader_verdicts, ReaderVerdicts, Resolver};
use super::sequence::ProducerPartition;
use super::sequence_store::{producer_of, SequenceStore};
use crate::batch::{encode_batch, BatchError, BatchHeader, BatchLimits, Record, RecordBatch};
use crate::policy::{OnInvalid, Requirement, TopicPolicy};

const PARTS: [Part; 2] = [Part::Key, Part::Value];

/// Judges partitions: the registry, the quarantine writer and the sequence shifts a judgement
/// needs, and the metrics it counts into.
pub struct Judge {
    pub(super) client: RegistryClient,
    pub(super) quarantine: QuarantineWriter,
    verdicts: ReaderVerdicts,
    limits: BatchLimits,
    pub(super) metrics: EnforceMetrics,
    pub(super) sequences: Arc<SequenceStore>,
}

impl Judge {
    /// Builds the judge from its parts.
    pub fn new(
        client: RegistryClient,
        quarantine: QuarantineWriter,
        limits: BatchLimits,
        metrics: EnforceMetrics,
        sequences: Arc<SequenceStore>,
    ) -> Self {
        Self {
            client,
            quarantine,
            verdicts: reader_verdicts(),
            limits,
            metrics,
            sequences,
        }
    }

    /// The quarantine with sequence rewriting, for idempotent producers.
    fn sequenced(&self) -> Sequenced<'_> {
        Sequenced {
            sequences: &self.sequences,
            quarantine: &self.quarantine,
            metrics: &self.metrics,
        }
    }

    /// Judges one partition and carries out its policy (quarantine writes included).
    ///
    /// Three passes over the records, none of which keeps anything per record in the common
    /// case: read every record and collect the distinct schema ids, resolve them (one await),
    /// then check every record against the answers. Only when some record fails are the
    /// records scanned again into [`Scanned`] entries, to say which and why.
    ///
    /// For an idempotent producer, a batch the proxy answers with a retriable error of its
    /// own holds the producer's later batches on the partition back (the same answer) until
    /// it comes back: see [`super::sequence_store::SequenceStore::behind_gap`].
    pub async fn check_partition(&self, input: &PartitionInput<'_>) -> PartitionOutcome {
        let Some((id, epoch, sequence)) = producer_of(input.records) else {
            return self.judge_partition(input).await;
        };
        // Keys are built only when a gap exists or opens: the common case allocates nothing.
        let key = || ProducerPartition {
            topic: input.topic.to_owned(),
            partition: input.index,
            producer_id: id,
        };
        if self.sequences.any_gap() && self.sequences.behind_gap(&key(), epoch, sequence) {
            return retriable(
                &self.metrics,
                input,
                "order",
                format!("an earlier batch of producer {id} (sequence before {sequence}) is still to be retried"),
            );
        }
        let outcome = self.judge_partition(input).await;
        let retriable = matches!(&outcome, PartitionOutcome::Local(l) if l.error_code == codes::NOT_ENOUGH_REPLICAS);
        if retriable || self.sequences.any_gap() {
            self.sequences
                .note_outcome(&key(), epoch, sequence, retriable);
        }
        outcome
    }

    async fn judge_partition(&self, input: &PartitionInput<'_>) -> PartitionOutcome {
        let (topic, policy, metrics) = (input.topic, input.policy, &self.metrics);
        // CRCs are checked only before the proxy acts on the content (quarantine, reject,
        // rewrite, refuse): a batch forwarded untouched is checked by the broker.
        let batches = match RecordBatch::parse_all_deferring_crc(input.records, self.limits) {
            Ok(b) => b,
            Err(e) => return refuse_unreadable(metrics, input, &e),
        };
        let resolver = Resolver {
            client: &self.client,
            topic,
            policy,
            verdicts: &self.verdicts,
        };
        let first = match first_pass(&batches, policy, |part, id| resolver.peek(part, id)) {
            Ok(first) => first,
            Err(e) => return refuse_unreadable(metrics, input, &crc_error(&batches).unwrap_or(e)),
        };
        let resolved = if first.ids.is_empty() {
            Resolved::new()
        } else {
            match resolver.resolve(&first.ids).await {
                Ok(r) => r,
                Err(e) => return retriable(metrics, input, "registry", e.to_string()),
            }
        };
        let sequenced = batches.iter().any(|b| b.header.has_sequences());
        let rewrite = sequenced
            && policy.on_invalid == OnInvalid::Quarantine
            && self.sequences.config().enabled;
        let good = first
            .confirmed(&resolved)
            .or_else(|| all_pass(&batches, policy, &resolved));
        if let Some(good) = good {
            if rewrite {
                // Clean, but an earlier batch of the producer may have lost records.
                if let Some(outcome) = self.sequenced().shift_clean(input, &batches).await {
                    return outcome;
                }
            }
            metrics.count(topic, Outcome::valid, good);
            return PartitionOutcome::Forward;
        }
        if let Some(e) = crc_error(&batches) {
            return refuse_unreadable(metrics, input, &e);
        }
        let scanned = match scan(&batches, policy, &resolved) {
            Ok(s) => s,
            Err(e) => return refuse_unreadable(metrics, input, &e),
        };
        let bad = scanned.iter().filter(|s| s.bad.is_some()).count();
        let good = scanned.len() - bad;
        if bad == 0 {
            metrics.count(topic, Outcome::valid, good);
            return PartitionOutcome::Forward;
        }
        if rewrite {
            return self
                .sequenced()
                .quarantine_sequenced(input, &batches, &scanned)
                .await;
        }
        if let Err(outcome) = self.quarantine_copies(input, &scanned).await {
            return outcome;
        }
        match policy.on_invalid {
            OnInvalid::Audit => {
                metrics.count(topic, Outcome::valid, good);
                metrics.count(topic, Outcome::audited, bad);
                PartitionOutcome::Forward
            }
            OnInvalid::Reject => reject(metrics, input, &scanned, None),
            OnInvalid::Quarantine if sequenced => reject(
                metrics,
                input,
                &scanned,
                Some("the batch comes from an idempotent or transactional producer and the proxy's sequence rewrite is off, so it is refused whole"),
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
            .filter_map(|s| s.quarantine_record(&topic_name, input))
            .collect();
        match self.quarantine.write_all(&records).await {
            Ok(()) => {
                for r in &records {
                    self.metrics.quarantined(input.topic, r.violation.reason);
                }
                Ok(())
            }
            Err(e) => Err(retriable(&self.metrics, input, "quarantine", e.to_string())),
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
                Err(e) => return retriable(&self.metrics, input, "encode", e.to_string()),
            }
        }
        self.metrics.count(input.topic, Outcome::quarantined, bad);
        self.metrics
            .count(input.topic, Outcome::valid, scanned.len() - bad);
        if out.is_empty() {
            // Every record is in quarantine: the write is complete and durable, so succeed.
            return local(input, 0, None, Vec::new());
        }
        PartitionOutcome::Replace(Bytes::from(out))
    }
}

/// The key or value of `record` with the requirement the policy puts on it.
fn part_of<'b>(
    record: &Record<'b>,
    part: Part,
    policy: &TopicPolicy,
) -> (Option<&'b [u8]>, Requirement) {
    match part {
        Part::Key => (record.key, policy.key),
        Part::Value => (record.value, policy.value),
    }
}

/// Every user record of the batches (control batches carry none), in order, with the index
/// of its batch and its index within that batch.
fn user_records<'r, 'b>(
    batches: &'r [RecordBatch<'b>],
) -> impl Iterator<
    Item = (
        usize,
        usize,
        &'r RecordBatch<'b>,
        Result<Record<'r>, BatchError>,
    ),
> + 'r {
    batches
        .iter()
        .enumerate()
        .filter(|(_, b)| !b.header.is_control())
        .flat_map(|(bi, b)| b.records().enumerate().map(move |(i, r)| (bi, i, b, r)))
}

/// The first batch whose CRC does not match, as an error.
fn crc_error(batches: &[RecordBatch<'_>]) -> Option<BatchError> {
    batches.iter().find_map(|b| b.verify_crc().err())
}

/// Schemas the first pass checks records against before giving up on deciding the batch in
/// one pass (most batches name one or two).
const MAX_GUESSES: usize = 8;

/// What the first pass over a partition's records found.
#[derive(Debug)]
struct FirstPass {
    /// The distinct (part, schema id) pairs the records' frames name, sorted.
    ids: Vec<(Part, SchemaId)>,
    /// The schema each (part, id) was checked against: the registry client's cached answer.
    guesses: Vec<((Part, SchemaId), Arc<RegisteredSchema>)>,
    /// The number of user records, when every one passed under the guesses.
    passed: Option<usize>,
}

impl FirstPass {
    /// The number of user records when they all passed under exactly the schemas the batch's
    /// resolution names valid, else None (then [`all_pass`] decides with the resolution).
    fn confirmed(&self, resolved: &Resolved) -> Option<usize> {
        let count = self.passed?;
        self.guesses
            .iter()
            .all(|(key, guess)| {
                matches!(resolved.get(key), Some(IdVerdict::Valid(s)) if Arc::ptr_eq(s, guess))
            })
            .then_some(count)
    }
}

/// Reads every record once: collects the distinct schema ids (an error when a record cannot be
/// read) and, while every record passes, checks each one against the schema `peek` guesses for
/// its id (the cached answer of the registry client, no I/O). So a batch whose schemas are
/// cached is read and checked in this one pass; the resolution after it still decides, since
/// [`FirstPass::confirmed`] holds only if it names the very schemas guessed.
fn first_pass(
    batches: &[RecordBatch<'_>],
    policy: &TopicPolicy,
    peek: impl Fn(Part, SchemaId) -> Option<Arc<RegisteredSchema>>,
) -> Result<FirstPass, BatchError> {
    let mut ids: Vec<(Part, SchemaId)> = Vec::new();
    let mut guesses: Vec<((Part, SchemaId), Arc<RegisteredSchema>)> = Vec::new();
    let mut passing = true;
    let mut count = 0usize;
    // Consecutive records mostly share their ids: the guess used last is tried first.
    let mut last = 0usize;
    // Nested loops rather than `user_records`, so that reading a record is inlined here.
    for batch in batches.iter().filter(|b| !b.header.is_control()) {
        for record in batch.records() {
            let record = record?;
            for part in PARTS {
                let (payload, req) = part_of(&record, part, policy);
                let frame = match frame_of(part, payload, req) {
                    FrameCheck::Skip => continue,
                    FrameCheck::Bad(_) => {
                        passing = false;
                        continue;
                    }
                    FrameCheck::Framed(f) => f,
                };
                let key = (part, frame.schema_id);
                // Most batches name one or two ids: skip the ones just seen, dedup the rest.
                if !ids.iter().rev().take(4).any(|k| *k == key) {
                    ids.push(key);
                }
                if !passing {
                    continue;
                }
                let at = match guesses.get(last) {
                    Some((k, _)) if *k == key => Some(last),
                    _ => guesses.iter().position(|(k, _)| *k == key),
                };
                let schema = match at {
                    Some(i) => guesses.get(i).map(|(_, s)| s),
                    None if guesses.len() < MAX_GUESSES => match peek(part, frame.schema_id) {
                        Some(s) => {
                            guesses.push((key, s));
                            guesses.last().map(|(_, s)| s)
                        }
                        None => None,
                    },
                    None => None,
                };
                last = at.unwrap_or(guesses.len().saturating_sub(1));
                passing = schema.is_some_and(|s| s.parsed.validate(frame.body).is_ok());
            }
            count += 1;
        }
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(FirstPass {
        ids,
        guesses,
        passed: passing.then_some(count),
    })
}

/// The number of user records when every one of them passes, else None; allocates nothing.
fn all_pass(
    batches: &[RecordBatch<'_>],
    policy: &TopicPolicy,
    resolved: &Resolved,
) -> Option<usize> {
    let mut count = 0usize;
    // Consecutive records mostly share their ids: look each answer up once per run of them.
    let mut last: Option<((Part, SchemaId), Option<&IdVerdict>)> = None;
    for (_, _, _, record) in user_records(batches) {
        let record = record.ok()?;
        for part in PARTS {
            let (payload, req) = part_of(&record, part, policy);
            match frame_of(part, payload, req) {
                FrameCheck::Skip => {}
                FrameCheck::Bad(_) => return None,
                FrameCheck::Framed(f) => {
                    let key = (part, f.schema_id);
                    let answer = match last {
                        Some((k, answer)) if k == key => answer,
                        _ => {
                            let answer = resolved.get(&key);
                            last = Some((key, answer));
                            answer
                        }
                    };
                    if !passes(&f, answer) {
                        return None;
                    }
                }
            }
        }
        count += 1;
    }
    Some(count)
}

/// The producer and original sequence of record `index` of a batch, if it has them.
fn stamp(header: &BatchHeader, index: usize) -> Option<ProducerStamp> {
    (header.producer_id >= 0 && header.base_sequence >= 0).then(|| ProducerStamp {
        id: header.producer_id,
        epoch: header.producer_epoch,
        // Kafka's incrementSequence: past i32::MAX the count goes on from 0.
        sequence: ((i64::from(header.base_sequence) + index as i64) % (1 << 31)) as i32,
    })
}

/// Every user record with what its frames and the resolved ids say about it.
fn scan<'b>(
    batches: &'b [RecordBatch<'_>],
    policy: &TopicPolicy,
    resolved: &Resolved,
) -> Result<Vec<Scanned<'b>>, BatchError> {
    let mut scanned = Vec::new();
    for (bi, index_in_batch, batch, record) in user_records(batches) {
        let record = record?;
        let mut s = Scanned {
            timestamp: batch
                .header
                .base_timestamp
                .saturating_add(record.timestamp_delta),
            batch: bi,
            index_in_batch: i32::try_from(index_in_batch).unwrap_or(i32::MAX),
            frames: [None, None],
            bad: None,
            producer: stamp(&batch.header, index_in_batch),
            record,
        };
        for (i, part) in PARTS.into_iter().enumerate() {
            let (payload, req) = part_of(&s.record, part, policy);
            match frame_of(part, payload, req) {
                FrameCheck::Skip => {}
                FrameCheck::Bad(v) => s.bad = s.bad.take().or(Some(v)),
                FrameCheck::Framed(f) => s.frames[i] = Some(f),
            }
        }
        if s.bad.is_none() {
            s.bad = PARTS
                .iter()
                .zip(&s.frames)
                .find_map(|(part, f)| f.as_ref().and_then(|f| verdict(*part, f, resolved)));
        }
        scanned.push(s);
    }
    Ok(scanned)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use contract::{ParsedSchema, SchemaType, WireFrame};
    use registry_client::RegisteredSchema;

    use super::*;
    use crate::batch::{BatchHeader, BatchLimits, Compression};
    use crate::policy::SubjectStrategy;

    fn policy() -> TopicPolicy {
        TopicPolicy {
            pattern: "*".into(),
            value: Requirement::Required,
            key: Requirement::Optional,
            strategy: SubjectStrategy::Topic,
            on_invalid: OnInvalid::Reject,
            quarantine: "{topic}.quarantine".into(),
            readers: Vec::new(),
        }
    }

    /// Schema id 1, `"int"`; each call parses it anew.
    fn int_schema() -> Arc<RegisteredSchema> {
        Arc::new(RegisteredSchema {
            id: SchemaId(1),
            schema_type: SchemaType::Avro,
            text: "\"int\"".into(),
            references: Vec::new(),
            parsed: ParsedSchema::parse(SchemaType::Avro, "\"int\"", &[]).unwrap(),
        })
    }

    fn resolved() -> Resolved {
        let schema = int_schema();
        let mut r = Resolved::new();
        r.insert((Part::Value, SchemaId(1)), IdVerdict::Valid(schema.clone()));
        r.insert((Part::Key, SchemaId(1)), IdVerdict::Valid(schema));
        r.insert((Part::Value, SchemaId(2)), IdVerdict::Unknown);
        r
    }

    fn framed(id: u32, body: &[u8]) -> Vec<u8> {
        WireFrame {
            schema_id: SchemaId(id),
            body,
        }
        .to_bytes()
    }

    /// A record's key and value.
    type KeyValue = (Option<Vec<u8>>, Option<Vec<u8>>);

    /// Key and value variants: valid, undecodable, unknown id, unresolved id, unframed, null.
    fn variants() -> Vec<KeyValue> {
        vec![
            (None, Some(framed(1, &[0x02]))),
            (Some(b"plain key".to_vec()), Some(framed(1, &[0x04]))),
            (Some(framed(1, &[0x02])), Some(framed(1, &[0x02]))),
            (Some(framed(1, &[0x80])), Some(framed(1, &[0x02]))),
            (None, Some(framed(1, &[0x80]))),
            (None, Some(framed(1, &[]))),
            (None, Some(framed(2, &[0x02]))),
            (None, Some(framed(3, &[0x02]))),
            (None, Some(b"no magic".to_vec())),
            (None, None),
        ]
    }

    fn batch(picks: &[usize]) -> Vec<u8> {
        let all = variants();
        let pairs: Vec<_> = picks
            .iter()
            .map(|&p| (all[p].0.as_deref(), all[p].1.as_deref()))
            .collect();
        plain_batch(&pairs)
    }

    /// A record's key and value, either possibly null.
    pub(super) type KeyValueRef<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);

    /// One uncompressed batch of (key, value) records without headers.
    pub(super) fn plain_batch(pairs: &[KeyValueRef<'_>]) -> Vec<u8> {
        let records: Vec<Record<'_>> = pairs
            .iter()
            .enumerate()
            .map(|(i, &(key, value))| Record {
                attributes: 0,
                timestamp_delta: 0,
                offset_delta: i as i32,
                key,
                value,
                header_count: 0,
                headers_raw: &[],
            })
            .collect();
        let header = BatchHeader::plain(0);
        encode_batch(&header, Compression::None, &records).unwrap()
    }

    /// The registry client's cached answer as `resolved` names it: the same `Arc`s.
    fn peek_from(
        resolved: &Resolved,
    ) -> impl Fn(Part, SchemaId) -> Option<Arc<RegisteredSchema>> + '_ {
        |part, id| match resolved.get(&(part, id)) {
            Some(IdVerdict::Valid(s)) => Some(s.clone()),
            _ => None,
        }
    }

    #[test]
    fn distinct_ids_are_sorted_and_unique() {
        let bytes = batch(&[2, 6, 0, 3, 7, 1, 6, 7]);
        let batches = RecordBatch::parse_all(&bytes, BatchLimits::default()).unwrap();
        let first = first_pass(&batches, &policy(), |_, _| None).unwrap();
        assert_eq!(
            first.ids,
            vec![
                (Part::Key, SchemaId(1)),
                (Part::Value, SchemaId(1)),
                (Part::Value, SchemaId(2)),
                (Part::Value, SchemaId(3)),
            ]
        );
        assert_eq!(first.passed, None, "nothing cached: nothing decided");
    }

    /// The allocation-free check and, with the cache holding what the resolution names, the
    /// first pass decide exactly what the full scan does; the first pass in one pass.
    #[test]
    fn the_fast_check_and_the_first_pass_agree_with_the_full_scan() {
        let (policy, resolved) = (policy(), resolved());
        let n = variants().len();
        let mut seen = [0usize; 2];
        for a in 0..n {
            for b in 0..n {
                for c in 0..n {
                    let bytes = batch(&[a, b, c]);
                    let batches = RecordBatch::parse_all(&bytes, BatchLimits::default()).unwrap();
                    let scanned = scan(&batches, &policy, &resolved).unwrap();
                    let all_good = scanned.iter().all(|s| s.bad.is_none());
                    let expected = all_good.then_some(3);
                    let fast = all_pass(&batches, &policy, &resolved);
                    assert_eq!(fast, expected, "all_pass, records {a} {b} {c}");
                    let first = first_pass(&batches, &policy, peek_from(&resolved)).unwrap();
                    let one_pass = first.confirmed(&resolved);
                    assert_eq!(one_pass, expected, "first pass, records {a} {b} {c}");
                    let ids = distinct(&batches, &policy);
                    assert_eq!(first.ids, ids, "records {a} {b} {c}");
                    seen[usize::from(all_good)] += 1;
                }
            }
        }
        // Both outcomes are exercised: 4 of the variants are clean.
        assert_eq!(seen[1], 4 * 4 * 4);
        assert_eq!(seen[0], n * n * n - 64);
    }

    /// Every framed (part, id), sorted and unique, the slow way.
    fn distinct(batches: &[RecordBatch<'_>], policy: &TopicPolicy) -> Vec<(Part, SchemaId)> {
        let mut ids: Vec<_> = user_records(batches)
            .flat_map(|(_, _, _, r)| {
                let r = r.unwrap();
                PARTS
                    .into_iter()
                    .filter_map(|part| {
                        let (payload, req) = part_of(&r, part, policy);
                        match frame_of(part, payload, req) {
                            FrameCheck::Framed(f) => Some((part, f.schema_id)),
                            _ => None,
                        }
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// A guess the resolution does not name (another `Arc`, or an id it calls unknown) never
    /// decides: the records are checked again against the resolution.
    #[test]
    fn a_guess_the_resolution_does_not_confirm_decides_nothing() {
        let (policy, resolved) = (policy(), resolved());
        let bytes = batch(&[0, 0, 1]);
        let batches = RecordBatch::parse_all(&bytes, BatchLimits::default()).unwrap();
        let same = first_pass(&batches, &policy, peek_from(&resolved)).unwrap();
        assert_eq!(same.confirmed(&resolved), Some(3));

        // The same schema, parsed again (a cache entry refreshed in between).
        let again = |_: Part, _: SchemaId| Some(int_schema());
        let refreshed = first_pass(&batches, &policy, again).unwrap();
        assert_eq!(refreshed.passed, Some(3), "the records pass under the copy");
        assert_eq!(refreshed.confirmed(&resolved), None);
        assert_eq!(all_pass(&batches, &policy, &resolved), Some(3));

        // Id 2 decodes under the guess, but the registry says it is unknown.
        let bytes = batch(&[6]);
        let batches = RecordBatch::parse_all(&bytes, BatchLimits::default()).unwrap();
        let wrong = first_pass(&batches, &policy, again).unwrap();
        assert_eq!(wrong.passed, Some(1));
        assert_eq!(wrong.confirmed(&resolved), None);
        assert_eq!(all_pass(&batches, &policy, &resolved), None);
    }

    /// A batch naming more ids than the first pass guesses is left to the resolution, and
    /// every id is still collected.
    #[test]
    fn past_the_guess_limit_the_first_pass_only_collects() {
        let values: Vec<Vec<u8>> = (0..=MAX_GUESSES as u32 + 1)
            .map(|id| framed(id + 10, &[0x02]))
            .collect();
        let pairs: Vec<_> = values.iter().map(|v| (None, Some(&v[..]))).collect();
        let bytes = plain_batch(&pairs);
        let batches = RecordBatch::parse_all(&bytes, BatchLimits::default()).unwrap();
        let (_, resolved) = (policy(), resolved());
        let any = |_: Part, _: SchemaId| match resolved.get(&(Part::Value, SchemaId(1))) {
            Some(IdVerdict::Valid(s)) => Some(s.clone()),
            _ => None,
        };
        let first = first_pass(&batches, &policy(), any).unwrap();
        assert_eq!(first.passed, None);
        assert_eq!(first.guesses.len(), MAX_GUESSES);
        assert_eq!(first.ids.len(), MAX_GUESSES + 2);
    }
}

/// The deferred CRC check through a real registry: a corrupt batch whose records all pass is
/// forwarded untouched (the broker refuses it), one with a failing record is refused as
/// corrupt before anything is quarantined.
#[cfg(test)]
mod deferred_crc {
    use std::time::Duration;

    use registry_client::{BindingCheck, RegistryClient, RegistryConfig};

    use super::*;
    use crate::enforce::produce_response::codes;
    use crate::enforce::quarantine::QuarantineConfig;
    use crate::enforce::sequence_store::{SequenceConfig, SequenceMetrics};
    use crate::policy::Policy;

    const POLICY: &str =
        "[[topic]]\nmatch = \"t\"\nvalue = \"required\"\non_invalid = \"quarantine\"\n";

    /// A registry with `"string"` as id 1 under `t-value`, served on loopback.
    async fn registry() -> String {
        let reg = registry::open(&registry::StoreConfig::Memory)
            .await
            .expect("memory store");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(registry::serve(
            listener,
            reg,
            registry::HttpConfig::default(),
            std::future::pending::<()>(),
        ));
        let answer = reqwest::Client::new()
            .post(format!("{url}/subjects/t-value/versions"))
            .header("content-type", "application/vnd.schemaregistry.v1+json")
            .body(r#"{"schema":"\"string\""}"#)
            .send()
            .await
            .expect("register");
        assert!(answer.status().is_success(), "{}", answer.status());
        url
    }

    fn judge(url: &str) -> Judge {
        let mut rc = RegistryConfig::new(url);
        rc.binding_check = BindingCheck::SubjectParam;
        // Nothing listens here: a quarantine write would only fail (after a long wait).
        let quarantine = QuarantineWriter::new(QuarantineConfig {
            bootstrap: "127.0.0.1:9".into(),
            partitions: 1,
            replication: -1,
            timeout: Duration::from_secs(1),
            overrides: Vec::new(),
            idle_close: None,
        })
        .expect("quarantine writer");
        let mut metrics = prometheus_client::registry::Registry::default();
        Judge::new(
            RegistryClient::new(rc).expect("client"),
            quarantine,
            BatchLimits::default(),
            EnforceMetrics::register(&mut metrics),
            std::sync::Arc::new(SequenceStore::new(
                SequenceConfig::default(),
                SequenceMetrics::default(),
            )),
        )
    }

    fn batch(values: &[&[u8]], corrupt: bool) -> Vec<u8> {
        let pairs: Vec<_> = values.iter().map(|v| (None, Some(*v))).collect();
        let mut bytes = super::tests::plain_batch(&pairs);
        if corrupt {
            bytes[17] ^= 0x55; // the stored CRC
        }
        bytes
    }

    async fn outcome(e: &Judge, bytes: &[u8]) -> PartitionOutcome {
        let policy = Policy::parse(POLICY, "test").expect("policy");
        let policy = policy.rule_for("t").expect("rule");
        e.check_partition(&PartitionInput {
            topic: "t",
            index: 0,
            records: bytes,
            policy,
            client_id: None,
        })
        .await
    }

    const GOOD: &[u8] = &[0, 0, 0, 0, 1, 0x06, b'a', b'b', b'c'];
    const BAD: &[u8] = &[0, 0, 0, 0, 1, 0x06, b'a'];

    #[tokio::test]
    async fn a_corrupt_batch_is_forwarded_when_clean_and_refused_when_not() {
        let e = judge(&registry().await);
        assert_eq!(
            outcome(&e, &batch(&[GOOD, GOOD], false)).await,
            PartitionOutcome::Forward
        );
        // All records pass: the bytes go to the broker as they are, and it checks the CRC.
        assert_eq!(
            outcome(&e, &batch(&[GOOD, GOOD], true)).await,
            PartitionOutcome::Forward
        );
        // A record fails: the CRC is checked before anything is quarantined (a quarantine
        // write would have been tried, and failed as retriable, otherwise).
        match outcome(&e, &batch(&[GOOD, BAD], true)).await {
            PartitionOutcome::Local(p) => {
                assert_eq!(p.error_code, codes::CORRUPT_MESSAGE, "{p:?}");
                let m = p.error_message.unwrap_or_default();
                assert!(m.contains("CRC-32C does not match"), "{m}");
            }
            other => panic!("expected a local CORRUPT_MESSAGE answer, got {other:?}"),
        }
    }
}
