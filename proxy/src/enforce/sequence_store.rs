//! The proxy's sequence shifts in memory, and their durable copy in a compacted Kafka topic.
//!
//! Every shift that changes is written to the sequence topic (key `pid:partition:topic`, value
//! the whole [`Shift`] as JSON) and acknowledged by the brokers *before* the rewritten batch is
//! forwarded, so a proxy that is killed and restarted maps the next batch exactly as the one
//! before it did. At start the proxy reads the topic to its end, and until it has, `/readyz`
//! answers 503 and a batch that may need a shift gets a retriable error.
//!
//! The state is bounded: a shift not used for the expiry (the broker's
//! `producer.id.expiration.ms`, a day by default, after which the broker forgets the producer
//! too) is dropped, and at most `max_producers` shifts are held; past that the least recently
//! used is dropped, with a warning.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::Mutex;

use super::sequence::{ProducerPartition, Shift};

/// Largest sequence-topic value read back; a shift lists at most 1 024 sequences.
const MAX_VALUE_BYTES: usize = 64 << 10;

/// Settings of the sequence rewrite.
#[derive(Debug, Clone)]
pub struct SequenceConfig {
    /// Rewrite idempotent batches (true), or refuse them whole when a record is bad.
    pub enabled: bool,
    /// The compacted topic that holds the shifts.
    pub topic: String,
    /// A shift unused for this long is dropped.
    pub expiry: Duration,
    /// Most shifts held in memory.
    pub max_producers: usize,
    /// How long reading the topic at start may take before it is retried.
    pub restore_timeout: Duration,
}

impl Default for SequenceConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            topic: "_schemagate_sequences".into(),
            expiry: Duration::from_secs(24 * 3600),
            max_producers: 100_000,
            restore_timeout: Duration::from_secs(60),
        }
    }
}

/// Why the sequence topic could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// librdkafka refused a call.
    #[error("reading sequence topic {topic}: {cause}")]
    Kafka {
        /// The topic.
        topic: String,
        /// The cause.
        cause: rdkafka::error::KafkaError,
    },
    /// The end of the topic was not reached in time.
    #[error("reading sequence topic {0}: the end was not reached in time")]
    Timeout(String),
}

/// Metrics of the rewrite path.
#[derive(Clone, Default)]
pub struct SequenceMetrics {
    /// `schemagate_sequence_records_removed_total`.
    pub removed: Counter,
    /// `schemagate_sequence_batches_rewritten_total`.
    pub rewritten: Counter,
    /// `schemagate_sequence_producers`: shifts held in memory.
    pub producers: Gauge,
    /// `schemagate_sequence_restored_total`: shifts read back at start.
    pub restored: Counter,
}

impl SequenceMetrics {
    /// Creates and registers the metrics.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        let r = registry.sub_registry_with_prefix("schemagate_sequence");
        r.register(
            "records_removed",
            "Records removed (to quarantine) from idempotent producers' batches",
            m.removed.clone(),
        );
        r.register(
            "batches_rewritten",
            "Idempotent batches forwarded with rewritten sequence numbers",
            m.rewritten.clone(),
        );
        r.register(
            "producers",
            "Producer partitions with a sequence shift in memory",
            m.producers.clone(),
        );
        r.register(
            "restored",
            "Sequence shifts read back from the sequence topic at start",
            m.restored.clone(),
        );
        m
    }
}

/// One shift and the lock that serializes its producer's batches.
pub type ShiftSlot = Arc<Mutex<Shift>>;

/// Every shift in memory.
pub struct SequenceStore {
    config: SequenceConfig,
    shifts: RwLock<HashMap<ProducerPartition, ShiftSlot>>,
    producer_ids: RwLock<std::collections::HashSet<i64>>,
    gaps: std::sync::Mutex<HashMap<ProducerPartition, Gap>>,
    gap_count: std::sync::atomic::AtomicUsize,
    restored: AtomicBool,
    metrics: SequenceMetrics,
}

/// A batch of an idempotent producer that the proxy answered with a retriable error itself
/// (registry or quarantine unavailable, shifts still loading). Until it comes back, the
/// producer's later batches on that partition are answered the same way: forwarding them
/// would let the broker store them first (it takes any first sequence from a producer it does
/// not know yet) and the retried batch would then land out of order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Gap {
    epoch: i16,
    sequence: i32,
    opened: Instant,
}

/// The first batch header's producer fields of a partition's records, read at fixed offsets:
/// producer id, epoch and base sequence, when the batch has a producer id.
pub fn producer_of(records: &[u8]) -> Option<(i64, i16, i32)> {
    let id = i64::from_be_bytes(records.get(43..51)?.try_into().ok()?);
    let epoch = i16::from_be_bytes(records.get(51..53)?.try_into().ok()?);
    let sequence = i32::from_be_bytes(records.get(53..57)?.try_into().ok()?);
    (id >= 0 && sequence >= 0).then_some((id, epoch, sequence))
}

/// Gaps older than this are dropped: the client gave up on the batch long ago.
const GAP_EXPIRY: Duration = Duration::from_secs(300);

/// True when `sequence` comes after `gap` (within half the sequence space, past a wrap).
fn is_after(sequence: i32, gap: i32) -> bool {
    let d = (i64::from(sequence) - i64::from(gap)).rem_euclid(1 << 31);
    d > 0 && d < (1 << 30)
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl SequenceStore {
    /// An empty store; not ready until [`SequenceStore::restore`] finished (or at once when
    /// the rewrite is off).
    pub fn new(config: SequenceConfig, metrics: SequenceMetrics) -> Self {
        let restored = AtomicBool::new(!config.enabled);
        Self {
            config,
            shifts: RwLock::new(HashMap::new()),
            producer_ids: RwLock::new(std::collections::HashSet::new()),
            gaps: std::sync::Mutex::new(HashMap::new()),
            gap_count: std::sync::atomic::AtomicUsize::new(0),
            restored,
            metrics,
        }
    }

    /// True when some producer partition has a gap open (one atomic load).
    pub fn any_gap(&self) -> bool {
        self.gap_count.load(Ordering::Relaxed) > 0
    }

    /// True when an earlier batch of this producer partition was answered with a retriable
    /// error by the proxy and has not come back: this later one must wait for it.
    pub fn behind_gap(&self, key: &ProducerPartition, epoch: i16, sequence: i32) -> bool {
        if self.gap_count.load(Ordering::Relaxed) == 0 {
            return false;
        }
        let Ok(mut gaps) = self.gaps.lock() else {
            return false;
        };
        let Some(gap) = gaps.get(key).copied() else {
            return false;
        };
        if epoch > gap.epoch || gap.opened.elapsed() > GAP_EXPIRY {
            gaps.remove(key);
            self.gap_count.store(gaps.len(), Ordering::Relaxed);
            return false;
        }
        epoch == gap.epoch && is_after(sequence, gap.sequence)
    }

    /// Notes the outcome of a batch starting at `sequence`: a retriable answer of the proxy's
    /// own opens a gap there (the earliest one stays); any other answer closes the gap the
    /// batch was holding open.
    pub fn note_outcome(
        &self,
        key: &ProducerPartition,
        epoch: i16,
        sequence: i32,
        retriable_locally: bool,
    ) {
        if !retriable_locally && self.gap_count.load(Ordering::Relaxed) == 0 {
            return;
        }
        let Ok(mut gaps) = self.gaps.lock() else {
            return;
        };
        match (gaps.get(key).copied(), retriable_locally) {
            (Some(gap), true) if gap.epoch == epoch && is_after(sequence, gap.sequence) => {}
            (_, true) if gaps.len() < self.config.max_producers => {
                gaps.insert(
                    key.clone(),
                    Gap {
                        epoch,
                        sequence,
                        opened: Instant::now(),
                    },
                );
            }
            (Some(gap), false) if gap.epoch != epoch || gap.sequence == sequence => {
                gaps.remove(key);
            }
            _ => {}
        }
        self.gap_count.store(gaps.len(), Ordering::Relaxed);
    }

    /// The settings.
    pub fn config(&self) -> &SequenceConfig {
        &self.config
    }

    /// The metrics.
    pub fn metrics(&self) -> &SequenceMetrics {
        &self.metrics
    }

    /// True once the shifts of the sequence topic are in memory.
    pub fn is_ready(&self) -> bool {
        self.restored.load(Ordering::SeqCst)
    }

    /// The shift of `key`, if the proxy ever removed a record of that producer there.
    pub fn get(&self, key: &ProducerPartition) -> Option<ShiftSlot> {
        self.shifts.read().ok()?.get(key).cloned()
    }

    /// True when some shift belongs to producer `id`: the clean path asks this first, so a
    /// producer that never lost a record costs no key (no allocation) and no map lookup.
    pub fn has_producer(&self, id: i64) -> bool {
        self.producer_ids.read().is_ok_and(|ids| ids.contains(&id))
    }

    /// Rebuilds the producer ids after shifts were dropped.
    fn reindex(&self, shifts: &HashMap<ProducerPartition, ShiftSlot>) {
        if let Ok(mut ids) = self.producer_ids.write() {
            *ids = shifts.keys().map(|k| k.producer_id).collect();
        }
    }

    /// The shift of `key`, created empty for `epoch` when there is none.
    pub fn get_or_create(&self, key: &ProducerPartition, epoch: i16, base: i32) -> ShiftSlot {
        if let Some(slot) = self.get(key) {
            return slot;
        }
        let Ok(mut shifts) = self.shifts.write() else {
            return Arc::new(Mutex::new(Shift::new(epoch, base, now_ms())));
        };
        if shifts.len() >= self.config.max_producers {
            self.evict(&mut shifts);
        }
        let slot = shifts
            .entry(key.clone())
            .or_insert_with(|| Arc::new(Mutex::new(Shift::new(epoch, base, now_ms()))))
            .clone();
        if let Ok(mut ids) = self.producer_ids.write() {
            ids.insert(key.producer_id);
        }
        self.metrics.producers.set(shifts.len() as i64);
        slot
    }

    /// Drops expired shifts, then the least recently used ones, to make room.
    fn evict(&self, shifts: &mut HashMap<ProducerPartition, ShiftSlot>) {
        let oldest_kept = now_ms() - self.config.expiry.as_millis() as i64;
        // A shift whose lock is held is in use: never dropped.
        let touched = |slot: &ShiftSlot| slot.try_lock().map(|s| s.touched_ms).ok();
        shifts.retain(|_, slot| touched(slot).is_none_or(|t| t >= oldest_kept));
        while shifts.len() >= self.config.max_producers {
            let victim = shifts
                .iter()
                .filter_map(|(k, slot)| touched(slot).map(|t| (t, k.clone())))
                .min();
            let Some((_, key)) = victim else { break };
            tracing::warn!(
                producer_id = key.producer_id,
                topic = %key.topic,
                partition = key.partition,
                max = self.config.max_producers,
                "dropping the sequence shift of the least recently used producer: over the limit"
            );
            shifts.remove(&key);
        }
        self.reindex(shifts);
    }

    /// Drops shifts unused for the expiry; run periodically.
    pub fn expire(&self) {
        if let Ok(mut shifts) = self.shifts.write() {
            let oldest_kept = now_ms() - self.config.expiry.as_millis() as i64;
            shifts.retain(|_, slot| {
                slot.try_lock()
                    .map(|s| s.touched_ms >= oldest_kept)
                    .unwrap_or(true)
            });
            self.reindex(&shifts);
            self.metrics.producers.set(shifts.len() as i64);
        }
    }

    /// Reads the sequence topic to its end into memory, retrying until it succeeds, then
    /// marks the store ready. Runs in the background from the proxy's start.
    pub async fn restore(self: Arc<Self>, client: ClientConfig) {
        if self.is_ready() {
            return;
        }
        let started = Instant::now();
        loop {
            let store = self.clone();
            let config = client.clone();
            let read = tokio::task::spawn_blocking(move || store.read_topic(&config)).await;
            match read {
                Ok(Ok(n)) => {
                    tracing::info!(
                        topic = %self.config.topic,
                        shifts = n,
                        ms = started.elapsed().as_millis() as u64,
                        "sequence shifts restored"
                    );
                    self.restored.store(true, Ordering::SeqCst);
                    return;
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "cannot restore sequence shifts yet; retrying")
                }
                Err(e) => tracing::error!(error = %e, "sequence restore task failed; retrying"),
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }

    /// Reads every record of the topic up to the end it had when reading began.
    fn read_topic(&self, client: &ClientConfig) -> Result<usize, RestoreError> {
        let topic = self.config.topic.as_str();
        let err = |cause| RestoreError::Kafka {
            topic: topic.to_owned(),
            cause,
        };
        let consumer: BaseConsumer = client
            .clone()
            .set("group.id", "schemagate-sequence-restore")
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "false")
            .create()
            .map_err(err)?;
        let timeout = self.config.restore_timeout;
        let metadata = consumer.fetch_metadata(Some(topic), timeout).map_err(err)?;
        let partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .filter(|t| t.name() == topic && t.error().is_none())
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        let mut ends = HashMap::new();
        let mut list = TopicPartitionList::new();
        for p in partitions {
            let (low, high) = consumer.fetch_watermarks(topic, p, timeout).map_err(err)?;
            if high > low {
                ends.insert(p, high);
                list.add_partition_offset(topic, p, Offset::Beginning)
                    .map_err(err)?;
            }
        }
        if ends.is_empty() {
            return Ok(0);
        }
        consumer.assign(&list).map_err(err)?;
        let deadline = Instant::now() + timeout;
        let mut read = HashMap::new();
        while !ends.is_empty() {
            if Instant::now() > deadline {
                return Err(RestoreError::Timeout(topic.to_owned()));
            }
            // Done by position, not by the last record seen: compaction may leave gaps.
            if let Ok(positions) = consumer.position() {
                for e in positions.elements_for_topic(topic) {
                    if let (Offset::Offset(at), Some(end)) = (e.offset(), ends.get(&e.partition()))
                    {
                        if at >= *end {
                            ends.remove(&e.partition());
                        }
                    }
                }
            }
            if ends.is_empty() {
                break;
            }
            let Some(message) = consumer.poll(Duration::from_millis(200)) else {
                continue;
            };
            let message = message.map_err(err)?;
            let (p, offset) = (message.partition(), message.offset());
            if let Some(key) = message.key() {
                let value = message.payload();
                match parse_entry(key, value) {
                    Ok(Some((k, shift))) => {
                        read.insert(k, Some(shift));
                    }
                    Ok(None) => {
                        if let Some(k) = std::str::from_utf8(key)
                            .ok()
                            .and_then(ProducerPartition::from_key)
                        {
                            read.insert(k, None);
                        }
                    }
                    Err(why) => tracing::warn!(
                        partition = p,
                        offset,
                        why,
                        "skipping a sequence-topic record"
                    ),
                }
            }
            if ends.get(&p).is_some_and(|end| offset + 1 >= *end) {
                ends.remove(&p);
            }
        }
        let oldest_kept = now_ms() - self.config.expiry.as_millis() as i64;
        let mut shifts = self.shifts.write().map_err(|_| {
            RestoreError::Timeout(format!("{topic}: the shift map's lock is poisoned"))
        })?;
        let mut n = 0;
        for (key, shift) in read {
            let Some(shift) = shift.filter(|s| s.touched_ms >= oldest_kept) else {
                continue;
            };
            n += 1;
            // A batch handled since the proxy started has the newer shift: keep it.
            shifts
                .entry(key)
                .or_insert_with(|| Arc::new(Mutex::new(shift)));
        }
        self.reindex(&shifts);
        self.metrics.restored.inc_by(n as u64);
        self.metrics.producers.set(shifts.len() as i64);
        Ok(n)
    }
}

/// One sequence-topic record: its key, and its shift (None for a tombstone).
fn parse_entry(
    key: &[u8],
    value: Option<&[u8]>,
) -> Result<Option<(ProducerPartition, Shift)>, &'static str> {
    let key = std::str::from_utf8(key)
        .ok()
        .and_then(ProducerPartition::from_key)
        .ok_or("key is not pid:partition:topic")?;
    let Some(value) = value else { return Ok(None) };
    if value.len() > MAX_VALUE_BYTES {
        return Err("value over 64 KiB");
    }
    let shift: Shift = serde_json::from_slice(value).map_err(|_| "value is not a shift")?;
    shift.validate()?;
    Ok(Some((key, shift)))
}

/// The value written for a shift.
pub fn encode_shift(shift: &Shift) -> Vec<u8> {
    serde_json::to_vec(shift).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(pid: i64) -> ProducerPartition {
        ProducerPartition {
            topic: "t".into(),
            partition: 0,
            producer_id: pid,
        }
    }

    #[test]
    fn entries_round_trip_and_hostile_ones_are_refused() {
        let mut shift = Shift::new(2, 5, 1);
        shift.removed.insert(7);
        let k = key(9);
        let value = encode_shift(&shift);
        assert_eq!(
            parse_entry(k.key().as_bytes(), Some(&value)),
            Ok(Some((k.clone(), shift)))
        );
        assert_eq!(parse_entry(k.key().as_bytes(), None), Ok(None));
        assert!(parse_entry(b"nonsense", Some(&value)).is_err());
        assert!(parse_entry(k.key().as_bytes(), Some(b"{\"epoch\":1}")).is_err());
        assert!(parse_entry(k.key().as_bytes(), Some(&vec![b' '; MAX_VALUE_BYTES + 1])).is_err());
    }

    #[test]
    fn the_store_holds_at_most_its_limit_and_drops_the_least_recent() {
        let config = SequenceConfig {
            max_producers: 3,
            ..SequenceConfig::default()
        };
        let store = SequenceStore::new(config, SequenceMetrics::default());
        assert!(!store.is_ready());
        for pid in 0..3 {
            let slot = store.get_or_create(&key(pid), 0, 0);
            slot.try_lock().expect("free").touched_ms = now_ms() - 1000 + pid;
        }
        store.get_or_create(&key(3), 0, 0);
        assert!(store.get(&key(0)).is_none(), "the least recently used went");
        assert!(!store.has_producer(0) && store.has_producer(1) && store.has_producer(3));
        assert!(store.get(&key(1)).is_some());
        assert!(store.get(&key(3)).is_some());
        assert_eq!(store.metrics.producers.get(), 3);
        // Expired shifts go at the next sweep.
        store
            .get(&key(1))
            .expect("held")
            .try_lock()
            .expect("free")
            .touched_ms = 0;
        store.expire();
        assert!(store.get(&key(1)).is_none());
        assert!(!store.has_producer(1));
        assert_eq!(store.metrics.producers.get(), 2);
    }

    #[test]
    fn a_gap_holds_later_batches_until_its_batch_comes_back() {
        let store = SequenceStore::new(SequenceConfig::default(), SequenceMetrics::default());
        let k = key(1);
        assert!(!store.behind_gap(&k, 0, 10));
        store.note_outcome(&k, 0, 10, true);
        assert!(store.behind_gap(&k, 0, 15), "a later batch waits");
        assert!(
            !store.behind_gap(&k, 0, 10),
            "the batch itself goes through"
        );
        assert!(
            !store.behind_gap(&k, 0, 5),
            "an earlier one (a retry) goes through"
        );
        assert!(
            !store.behind_gap(&key(2), 0, 15),
            "other producers are not held"
        );
        // A later batch refused too does not move the gap forward.
        store.note_outcome(&k, 0, 15, true);
        assert!(store.behind_gap(&k, 0, 12));
        // The batch forwarded: the gap closes.
        store.note_outcome(&k, 0, 10, false);
        assert!(!store.behind_gap(&k, 0, 15));
        // Past a wrap, and a new epoch clears it.
        store.note_outcome(&k, 0, i32::MAX - 1, true);
        assert!(store.behind_gap(&k, 0, 3));
        assert!(!store.behind_gap(&k, 1, 3));
        assert!(!store.behind_gap(&k, 0, 3), "cleared by the new epoch");
    }

    #[test]
    fn producer_fields_are_read_from_the_first_header() {
        let mut b = vec![0u8; 61];
        b[43..51].copy_from_slice(&7i64.to_be_bytes());
        b[51..53].copy_from_slice(&2i16.to_be_bytes());
        b[53..57].copy_from_slice(&40i32.to_be_bytes());
        assert_eq!(producer_of(&b), Some((7, 2, 40)));
        b[43..51].copy_from_slice(&(-1i64).to_be_bytes());
        assert_eq!(producer_of(&b), None);
        assert_eq!(producer_of(&b[..50]), None);
    }

    #[test]
    fn a_store_with_the_rewrite_off_is_ready_at_once() {
        let config = SequenceConfig {
            enabled: false,
            ..SequenceConfig::default()
        };
        assert!(SequenceStore::new(config, SequenceMetrics::default()).is_ready());
    }
}
