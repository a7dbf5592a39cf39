//! Sequence shifts: how the proxy keeps an idempotent producer's sequence numbers consistent
//! after it removed records (to quarantine) from the producer's batches.
//!
//! The broker expects the `baseSequence` of each batch of a (producer id, epoch, partition) to
//! continue exactly where the last batch it stored ended. When the proxy forwards only the good
//! records of a batch, every later batch of that producer and partition must move down by the
//! number of records removed before it. [`Shift`] holds, per producer and partition, the
//! original sequences the proxy removed; [`Shift::plan`] maps a batch's original sequence to
//! the one forwarded, the same way every time, so a retried batch gets the same rewritten
//! sequence and the broker's duplicate detection keeps working.
//!
//! Sequences live in `0..=i32::MAX` and wrap to 0 after `i32::MAX` (Kafka's
//! `incrementSequence`). A [`Shift`] works on *unwrapped* sequences (an `i64` that keeps
//! counting past the wrap), unwrapping each batch's sequence to the value nearest the last
//! one seen.
//!
//! A new epoch (KIP-360's bump, or Kafka 4's per-transaction bump) restarts the sequences at
//! 0, so it starts a new, empty [`Shift`]. A batch of an older epoch than the one held is a
//! zombie's: the broker fences it, and the proxy does not rewrite it.
//!
//! Memory is bounded: at most [`MAX_LISTED`] removed sequences are listed one by one; older
//! ones fold into a count below a floor. A batch below the floor is older than any retry can
//! be (a producer has at most 5 batches in flight per partition); it is mapped with the
//! folded count, which puts it below what the broker expects next, so the broker answers it as
//! a duplicate or out of order and never stores it as new.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// Size of the sequence space: sequences run from 0 to `i32::MAX`, then wrap.
const SPACE: i64 = 1 << 31;

/// Most removed sequences listed one by one in a [`Shift`] before the oldest half is folded.
pub const MAX_LISTED: usize = 1024;

/// One producer on one partition: the unit sequences are counted in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProducerPartition {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The idempotent producer id.
    pub producer_id: i64,
}

impl ProducerPartition {
    /// The key of this producer partition in the sequence topic: `pid:partition:topic` (a
    /// topic name cannot contain `:`... but may contain anything else the broker allows, so it
    /// comes last).
    pub fn key(&self) -> String {
        format!("{}:{}:{}", self.producer_id, self.partition, self.topic)
    }

    /// Parses [`ProducerPartition::key`]'s format.
    pub fn from_key(key: &str) -> Option<Self> {
        let mut parts = key.splitn(3, ':');
        let producer_id = parts.next()?.parse().ok()?;
        let partition = parts.next()?.parse().ok()?;
        let topic = parts.next().filter(|t| !t.is_empty())?.to_owned();
        Some(Self {
            topic,
            partition,
            producer_id,
        })
    }
}

/// The sequences removed from one producer's batches on one partition, in one epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shift {
    /// The producer epoch these sequences belong to.
    pub epoch: i16,
    /// The highest unwrapped sequence seen: the next batch unwraps to the value nearest it.
    pub anchor: i64,
    /// Removed sequences below this are no longer listed, only counted.
    pub floor: i64,
    /// How many removed sequences lie below `floor`.
    pub below_floor: u64,
    /// Removed unwrapped sequences at or above `floor`.
    pub removed: BTreeSet<i64>,
    /// When this shift last changed or was used, in ms since the Unix epoch (for expiry).
    pub touched_ms: i64,
}

/// What to do with one batch, from [`Shift::plan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// The batch is older than the epoch held: a zombie's. Leave it as it is.
    OlderEpoch,
    /// Forward the batch's kept records with `base_sequence`.
    Forward(Rewrite),
}

/// How one batch is forwarded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite {
    /// The sequence of the first kept record, as forwarded.
    pub base_sequence: i32,
    /// Per record of the batch: forwarded (true) or removed (false).
    pub kept: Vec<bool>,
    /// The records removed now for the first time (their indexes in the batch): these need
    /// a quarantine copy. Records removed by an earlier attempt of the same batch are already
    /// in quarantine.
    pub newly_removed: Vec<usize>,
    /// The shift after this batch, to store durably before the batch is forwarded; None when
    /// nothing changed that a restart would need (no record removed now, same epoch).
    pub next: Option<Shift>,
    /// True when the batch is older than the listed window (see the module docs).
    pub below_floor: bool,
}

impl Rewrite {
    /// True when the batch goes out exactly as it came in.
    pub fn is_identity(&self, original_base: i32) -> bool {
        self.base_sequence == original_base && self.kept.iter().all(|k| *k)
    }
}

impl Shift {
    /// An empty shift for `epoch`, anchored at the batch's first sequence.
    pub fn new(epoch: i16, base_sequence: i32, now_ms: i64) -> Self {
        Self {
            epoch,
            anchor: i64::from(base_sequence.max(0)),
            floor: 0,
            below_floor: 0,
            removed: BTreeSet::new(),
            touched_ms: now_ms,
        }
    }

    /// True when nothing was ever removed: batches go out unchanged.
    pub fn is_empty(&self) -> bool {
        self.below_floor == 0 && self.removed.is_empty()
    }

    /// The unwrapped value of `sequence` nearest the anchor.
    fn unwrap_seq(&self, sequence: i32) -> i64 {
        let seq = i64::from(sequence.max(0));
        let diff = (seq - self.anchor).rem_euclid(SPACE);
        if diff < SPACE / 2 {
            self.anchor + diff
        } else {
            self.anchor + diff - SPACE
        }
    }

    /// Removed sequences below `u`, and whether `u` is below the listed window.
    fn removed_before(&self, u: i64) -> (u64, bool) {
        if u < self.floor {
            return (self.below_floor, true);
        }
        (
            self.below_floor + self.removed.range(self.floor..u).count() as u64,
            false,
        )
    }

    /// Plans one batch of `bad.len()` records starting at `base_sequence` in `epoch`;
    /// `bad[i]` says whether record `i` fails its contract.
    ///
    /// A record at a sequence removed before (an earlier attempt of the same batch) stays
    /// removed whatever it is judged now, so a retry maps exactly as its first attempt did.
    pub fn plan(&self, epoch: i16, base_sequence: i32, bad: &[bool], now_ms: i64) -> Plan {
        if epoch < self.epoch {
            return Plan::OlderEpoch;
        }
        let fresh;
        let this = if epoch > self.epoch {
            fresh = Shift::new(epoch, base_sequence, now_ms);
            &fresh
        } else {
            self
        };
        let u = this.unwrap_seq(base_sequence);
        let (before, below_floor) = this.removed_before(u);
        let mut kept = Vec::with_capacity(bad.len());
        let mut newly_removed = Vec::new();
        for (i, is_bad) in bad.iter().enumerate() {
            let seq = u + i as i64;
            let was_removed = seq >= this.floor && this.removed.contains(&seq);
            let removed_now = *is_bad && !was_removed && !below_floor;
            if removed_now {
                newly_removed.push(i);
            }
            kept.push(!(was_removed || removed_now));
        }
        let base = (u - before as i64).rem_euclid(SPACE) as i32;
        let last = u + bad.len().saturating_sub(1) as i64;
        let changed = !newly_removed.is_empty() || epoch != self.epoch;
        let next = changed.then(|| {
            let mut next = this.clone();
            next.removed
                .extend(newly_removed.iter().map(|i| u + *i as i64));
            next.anchor = next.anchor.max(last);
            next.touched_ms = now_ms;
            next.fold();
            next
        });
        Plan::Forward(Rewrite {
            base_sequence: base,
            kept,
            newly_removed,
            next,
            below_floor,
        })
    }

    /// Notes a batch that changed nothing (moves the anchor and the expiry clock).
    pub fn touch(&mut self, base_sequence: i32, records: usize, now_ms: i64) {
        let last = self.unwrap_seq(base_sequence) + records.saturating_sub(1) as i64;
        self.anchor = self.anchor.max(last);
        self.touched_ms = now_ms;
    }

    /// Folds the oldest half of the listed sequences into the count below the floor.
    fn fold(&mut self) {
        if self.removed.len() <= MAX_LISTED {
            return;
        }
        let keep_from = *self
            .removed
            .iter()
            .nth(self.removed.len() - MAX_LISTED / 2)
            .unwrap_or(&self.floor);
        let kept = self.removed.split_off(&keep_from);
        self.below_floor += self.removed.len() as u64;
        self.floor = self.removed.last().map_or(self.floor, |last| last + 1);
        self.removed = kept;
    }

    /// Checks a shift read back from the sequence topic (hostile until checked).
    pub fn validate(&self) -> Result<(), &'static str> {
        if self.removed.len() > MAX_LISTED {
            return Err("too many listed sequences");
        }
        if self.epoch < 0 || self.anchor < 0 || self.floor < 0 {
            return Err("negative epoch, anchor or floor");
        }
        if self.removed.iter().next().is_some_and(|s| *s < self.floor) {
            return Err("a listed sequence is below the floor");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forward(plan: Plan) -> Rewrite {
        match plan {
            Plan::Forward(r) => r,
            Plan::OlderEpoch => panic!("unexpected OlderEpoch"),
        }
    }

    /// Runs batches of (base, bad flags) through one shift, applying each plan, and returns the
    /// forwarded base sequences.
    fn run(epoch: i16, batches: &[(i32, Vec<bool>)]) -> (Shift, Vec<i32>) {
        let mut shift = Shift::new(epoch, batches[0].0, 0);
        let mut bases = Vec::new();
        for (base, bad) in batches {
            let r = forward(shift.plan(epoch, *base, bad, 1));
            bases.push(r.base_sequence);
            if let Some(next) = r.next {
                shift = next;
            } else {
                shift.touch(*base, bad.len(), 1);
            }
        }
        (shift, bases)
    }

    #[test]
    fn later_batches_move_down_by_the_records_removed_before_them() {
        let (shift, bases) = run(
            0,
            &[
                (0, vec![false, true, false, false]),
                (4, vec![false; 3]),
                (7, vec![true, true]),
                (9, vec![false]),
            ],
        );
        assert_eq!(bases, vec![0, 3, 6, 6]);
        assert_eq!(shift.removed, BTreeSet::from([1, 7, 8]));
    }

    #[test]
    fn the_forwarded_sequences_are_contiguous() {
        // Whatever is removed, the kept records are numbered without gaps from 0.
        let batches: Vec<(i32, Vec<bool>)> = (0..50)
            .map(|i| (i * 7, (0..7).map(|j| (i * 7 + j) % 5 == 3).collect()))
            .collect();
        let mut shift = Shift::new(0, 0, 0);
        let mut next_expected = 0i32;
        for (base, bad) in &batches {
            let r = forward(shift.plan(0, *base, bad, 0));
            let kept = r.kept.iter().filter(|k| **k).count() as i32;
            if kept > 0 {
                assert_eq!(r.base_sequence, next_expected, "batch at {base}");
            }
            next_expected += kept;
            if let Some(n) = r.next {
                shift = n;
            }
        }
        assert_eq!(next_expected, 350 - 70);
    }

    #[test]
    fn a_retry_maps_exactly_as_its_first_attempt() {
        let mut shift = Shift::new(0, 0, 0);
        let first = forward(shift.plan(0, 0, &[false, true, false], 0));
        shift = first.next.clone().expect("changed");
        let second = forward(shift.plan(0, 3, &[true, false], 0));
        shift = second.next.clone().expect("changed");
        // The first batch again: same base, same record removed, nothing new to quarantine.
        let retry = forward(shift.plan(0, 0, &[false, true, false], 0));
        assert_eq!(retry.base_sequence, first.base_sequence);
        assert_eq!(retry.kept, first.kept);
        assert!(retry.newly_removed.is_empty());
        assert_eq!(retry.next, None);
        // Pinned: judged clean this time, the record removed before stays removed.
        let pinned = forward(shift.plan(0, 3, &[false, false], 0));
        assert_eq!(pinned.base_sequence, second.base_sequence);
        assert_eq!(pinned.kept, vec![false, true]);
    }

    #[test]
    fn sequences_wrap_at_i32_max() {
        let start = i32::MAX - 2;
        let mut shift = Shift::new(0, start, 0);
        let r = forward(shift.plan(0, start, &[false, true, false], 0));
        assert_eq!(r.base_sequence, start);
        shift = r.next.expect("changed");
        // The next batch starts at 0 after the wrap and moves down by one: to i32::MAX.
        let r = forward(shift.plan(0, 0, &[false, false], 0));
        assert_eq!(r.base_sequence, i32::MAX);
        shift.touch(0, 2, 0);
        let r = forward(shift.plan(0, 2, &[false], 0));
        assert_eq!(r.base_sequence, 1);
        // A retry from before the wrap still maps as it did.
        let r = forward(shift.plan(0, start, &[false, true, false], 0));
        assert_eq!(r.base_sequence, start);
    }

    #[test]
    fn a_new_epoch_starts_over_and_an_old_one_is_left_alone() {
        let mut shift = Shift::new(3, 0, 0);
        shift = forward(shift.plan(3, 0, &[true, false], 0))
            .next
            .expect("changed");
        assert_eq!(
            forward(shift.plan(3, 2, &[false], 0)).base_sequence,
            1,
            "same epoch: shifted"
        );
        // KIP-360 bump: sequences restart at 0 with nothing removed yet.
        let bumped = forward(shift.plan(4, 0, &[false, false], 0));
        assert_eq!(bumped.base_sequence, 0);
        let next = bumped.next.expect("the new epoch is stored");
        assert_eq!(next.epoch, 4);
        assert!(next.is_empty());
        assert_eq!(next.plan(3, 2, &[false], 0), Plan::OlderEpoch);
    }

    #[test]
    fn a_batch_removed_whole_still_counts() {
        let (_, bases) = run(
            0,
            &[
                (0, vec![false]),
                (1, vec![true, true, true]),
                (4, vec![false]),
            ],
        );
        assert_eq!(bases[2], 1);
    }

    #[test]
    fn folding_keeps_the_mapping_for_every_listed_batch() {
        let mut shift = Shift::new(0, 0, 0);
        let mut expected = Vec::new();
        // Every other record bad, 3 000 batches of 2: 3 000 removals, folded twice or more.
        for i in 0..3000i32 {
            let r = forward(shift.plan(0, i * 2, &[true, false], 0));
            expected.push(r.base_sequence);
            shift = r.next.expect("changed");
            assert!(shift.removed.len() <= MAX_LISTED);
        }
        shift.validate().expect("valid");
        assert!(shift.below_floor > 0);
        // Every batch within the listed window still maps as it did.
        for i in (3000 - MAX_LISTED as i32 / 2)..3000 {
            let r = forward(shift.plan(0, i * 2, &[true, false], 0));
            assert_eq!(r.base_sequence, expected[i as usize], "batch {i}");
            assert!(!r.below_floor);
        }
        // A batch below the floor maps no higher than it did: the broker will not take it as new.
        let r = forward(shift.plan(0, 0, &[true, false], 0));
        assert!(r.below_floor);
        assert!(r.newly_removed.is_empty());
    }

    #[test]
    fn keys_round_trip_and_hostile_shifts_are_refused() {
        let k = ProducerPartition {
            topic: "orders.v1".into(),
            partition: 7,
            producer_id: 123,
        };
        assert_eq!(ProducerPartition::from_key(&k.key()), Some(k));
        assert_eq!(ProducerPartition::from_key("1:2:"), None);
        assert_eq!(ProducerPartition::from_key("x:2:t"), None);
        let mut s = Shift::new(0, 0, 0);
        s.floor = 10;
        s.removed.insert(3);
        assert!(s.validate().is_err());
    }
}
