//! A producer and a consumer group running through the proxy while a test breaks the cluster,
//! and the accounting afterwards: produced, acknowledged, consumed, duplicates, missing.
//!
//! The producer is librdkafka's idempotent one (`acks=all`), so the log itself must hold every
//! acknowledged record exactly once. The group is at-least-once by nature; its duplicates are
//! counted and reported, not hidden.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use futures::executor::block_on;
use rdkafka::admin::TopicReplication;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};
use schemagate_tests::topics;

/// Records sent per round of the producer (each round waits for all its acknowledgements).
const ROUND: u64 = 50;

/// Creates `topic` with `partitions` partitions and three replicas, the replicas of partition
/// `p` starting with broker `p % 3 + 1` so that every broker leads one.
pub fn create_spread_topic(bootstrap: &str, topic: &str, partitions: i32) {
    let assignment: Vec<Vec<i32>> = (0..partitions)
        .map(|p| (0..3).map(|r| (p + r) % 3 + 1).collect())
        .collect();
    let refs: Vec<&[i32]> = assignment.iter().map(Vec::as_slice).collect();
    topics::create(
        bootstrap,
        topic,
        partitions,
        TopicReplication::Variable(&refs),
    )
    .unwrap_or_else(|e| panic!("{e}"));
}

/// What the producer did.
#[derive(Debug, Default)]
pub struct Produced {
    /// Records handed to the client.
    pub sent: u64,
    /// Ids the broker acknowledged (through the proxy).
    pub acked: HashSet<u64>,
    /// Failed deliveries, by error.
    pub errors: BTreeMap<String, u64>,
}

/// A producer and a group consumer running in threads until [`Workload::finish`].
pub struct Workload {
    topic: String,
    bootstrap: String,
    group: String,
    stop_producing: Arc<AtomicBool>,
    acked_count: Arc<AtomicU64>,
    producer: Option<JoinHandle<Produced>>,
    consumer: Option<GroupMember>,
    /// Ids each finished group member saw, in order of the members.
    members: Vec<HashMap<u64, u32>>,
}

/// One consumer-group member in a thread.
struct GroupMember {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<HashMap<u64, u32>>>,
    handle: JoinHandle<()>,
}

impl Workload {
    /// Starts producing to `topic` and consuming it in group `group`, through `bootstrap`.
    pub fn start(bootstrap: &str, topic: &str, group: &str) -> Self {
        let stop_producing = Arc::new(AtomicBool::new(false));
        let acked_count = Arc::new(AtomicU64::new(0));
        let producer = {
            let (bootstrap, topic) = (bootstrap.to_owned(), topic.to_owned());
            let (stop, count) = (stop_producing.clone(), acked_count.clone());
            std::thread::spawn(move || produce(&bootstrap, &topic, &stop, &count))
        };
        let mut workload = Self {
            topic: topic.to_owned(),
            bootstrap: bootstrap.to_owned(),
            group: group.to_owned(),
            stop_producing,
            acked_count,
            producer: Some(producer),
            consumer: None,
            members: Vec::new(),
        };
        workload.consumer = Some(workload.member());
        workload
    }

    fn member(&self) -> GroupMember {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(HashMap::new()));
        let handle = {
            let (bootstrap, topic, group) = (
                self.bootstrap.clone(),
                self.topic.clone(),
                self.group.clone(),
            );
            let (stop, seen) = (stop.clone(), seen.clone());
            std::thread::spawn(move || consume(&bootstrap, &topic, &group, &stop, &seen))
        };
        GroupMember { stop, seen, handle }
    }

    /// Acknowledged records so far.
    pub fn acked(&self) -> u64 {
        self.acked_count.load(Ordering::Relaxed)
    }

    /// Waits until `more` further records are acknowledged (or `timeout` passes).
    pub fn wait_for_more_acks(&self, more: u64, timeout: Duration) -> bool {
        let target = self.acked() + more;
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.acked() >= target {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Stops the current group member cleanly (its offsets committed) and starts a new one in
    /// the same group, which must resume where the first left off.
    pub fn replace_group_member(&mut self) {
        if let Some(member) = self.consumer.take() {
            self.members.push(stop_member(member));
        }
        self.consumer = Some(self.member());
    }

    /// Stops producing, lets the group catch up with every acknowledged record (up to
    /// `timeout`), stops it, and reads the whole topic back for the accounting.
    pub fn finish(mut self, timeout: Duration) -> Report {
        self.stop_producing.store(true, Ordering::Relaxed);
        let produced = self
            .producer
            .take()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| panic!("producer thread panicked"))
            })
            .unwrap_or_default();
        let deadline = Instant::now() + timeout;
        if let Some(member) = &self.consumer {
            let earlier: HashSet<u64> = self
                .members
                .iter()
                .flat_map(|m| m.keys().copied())
                .collect();
            while Instant::now() < deadline {
                let caught_up = member.seen.lock().is_ok_and(|now| {
                    produced
                        .acked
                        .iter()
                        .all(|id| now.contains_key(id) || earlier.contains(id))
                });
                if caught_up {
                    break;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        if let Some(member) = self.consumer.take() {
            self.members.push(stop_member(member));
        }
        let log = read_back(&self.bootstrap, &self.topic);
        Report::new(produced, &self.members, &log)
    }
}

fn stop_member(member: GroupMember) -> HashMap<u64, u32> {
    member.stop.store(true, Ordering::Relaxed);
    member
        .handle
        .join()
        .unwrap_or_else(|_| panic!("consumer thread panicked"));
    let seen = member.seen.lock().map(|s| s.clone()).unwrap_or_default();
    seen
}

fn produce(bootstrap: &str, topic: &str, stop: &AtomicBool, acked: &AtomicU64) -> Produced {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        // Long enough to ride out a leader election or a broker restart.
        .set("message.timeout.ms", "120000")
        .create()
        .unwrap_or_else(|e| panic!("producer: {e}"));
    let mut out = Produced::default();
    let mut next = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let ids: Vec<u64> = (next..next + ROUND).collect();
        next += ROUND;
        let keys: Vec<String> = ids.iter().map(u64::to_string).collect();
        let sends: Vec<_> = keys
            .iter()
            .map(|k| {
                producer.send(
                    FutureRecord::to(topic).key(k.as_str()).payload(k.as_str()),
                    Duration::from_secs(0),
                )
            })
            .collect();
        out.sent += ROUND;
        for (id, result) in ids.iter().zip(block_on(futures::future::join_all(sends))) {
            match result {
                Ok(_) => {
                    out.acked.insert(*id);
                    acked.fetch_add(1, Ordering::Relaxed);
                }
                Err((e, _)) => *out.errors.entry(e.to_string()).or_default() += 1,
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    out
}

fn consume(
    bootstrap: &str,
    topic: &str,
    group: &str,
    stop: &AtomicBool,
    seen: &Mutex<HashMap<u64, u32>>,
) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "10000")
        .create()
        .unwrap_or_else(|e| panic!("consumer: {e}"));
    consumer
        .subscribe(&[topic])
        .unwrap_or_else(|e| panic!("subscribe: {e}"));
    let mut last_commit = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            let id = m
                .payload()
                .and_then(|p| std::str::from_utf8(p).ok())
                .and_then(|s| s.parse::<u64>().ok());
            if let (Some(id), Ok(mut seen)) = (id, seen.lock()) {
                *seen.entry(id).or_default() += 1;
            }
        }
        if last_commit.elapsed() > Duration::from_millis(500) {
            // A failed async commit (broker gone) is retried by the next one.
            let _ = consumer.commit_consumer_state(CommitMode::Async);
            last_commit = Instant::now();
        }
    }
    // Positions of everything seen, committed before leaving, so the next member resumes there.
    // "No offset stored" means the last async commit already covered everything.
    let mut last = None;
    for _ in 0..40 {
        match consumer.commit_consumer_state(CommitMode::Sync) {
            Ok(()) => return,
            Err(e) if e.rdkafka_error_code() == Some(RDKafkaErrorCode::NoOffset) => return,
            Err(e) => last = Some(e),
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!("the group member could not commit its offsets: {last:?}");
}

/// Every record of every partition of `topic`, read from the beginning to the end offsets:
/// what the log holds, id → copies.
fn read_back(bootstrap: &str, topic: &str) -> HashMap<u64, u32> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("{topic}-read-back"))
        .set("enable.auto.commit", "false")
        .create()
        .unwrap_or_else(|e| panic!("consumer: {e}"));
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("metadata: {e}"));
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    let mut tpl = TopicPartitionList::new();
    let mut remaining = 0i64;
    for p in &partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, *p, Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("watermarks: {e}"));
        remaining += high - low;
        tpl.add_partition_offset(topic, *p, Offset::Beginning)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    consumer.assign(&tpl).unwrap_or_else(|e| panic!("{e}"));
    let mut log = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while remaining > 0 && Instant::now() < deadline {
        if let Some(m) = consumer.poll(Duration::from_millis(200)) {
            let m = m.unwrap_or_else(|e| panic!("read back: {e}"));
            remaining -= 1;
            if let Some(id) = m
                .payload()
                .and_then(|p| std::str::from_utf8(p).ok())
                .and_then(|s| s.parse::<u64>().ok())
            {
                *log.entry(id).or_insert(0u32) += 1;
            }
        }
    }
    assert_eq!(
        remaining, 0,
        "the topic could not be read to its end offsets"
    );
    log
}

/// The accounting of one run.
#[derive(Debug)]
pub struct Report {
    /// Records handed to the producer.
    pub produced: u64,
    /// Records the broker acknowledged.
    pub acknowledged: u64,
    /// Failed deliveries, by error (each was reported to the producer, none acknowledged).
    pub errors: BTreeMap<String, u64>,
    /// Records in the log (read back from the beginning).
    pub in_log: u64,
    /// Copies beyond the first of any id in the log (the idempotent producer promises 0).
    pub log_duplicates: u64,
    /// Acknowledged ids missing from the log.
    pub lost: u64,
    /// Records the consumer group delivered, over all members.
    pub consumed: u64,
    /// Deliveries beyond the first of an id within the group (at-least-once redelivery).
    pub group_duplicates: u64,
    /// Acknowledged ids the group never delivered.
    pub group_missing: u64,
    /// Records each group member delivered, in order.
    pub per_member: Vec<u64>,
}

impl Report {
    fn new(produced: Produced, members: &[HashMap<u64, u32>], log: &HashMap<u64, u32>) -> Self {
        let mut group: HashMap<u64, u32> = HashMap::new();
        for m in members {
            for (id, n) in m {
                *group.entry(*id).or_default() += n;
            }
        }
        let sum = |m: &HashMap<u64, u32>| m.values().map(|n| u64::from(*n)).sum::<u64>();
        Self {
            produced: produced.sent,
            acknowledged: produced.acked.len() as u64,
            errors: produced.errors,
            in_log: sum(log),
            log_duplicates: sum(log) - log.len() as u64,
            lost: produced
                .acked
                .iter()
                .filter(|id| !log.contains_key(id))
                .count() as u64,
            consumed: sum(&group),
            group_duplicates: sum(&group) - group.len() as u64,
            group_missing: produced
                .acked
                .iter()
                .filter(|id| !group.contains_key(id))
                .count() as u64,
            per_member: members.iter().map(sum).collect(),
        }
    }

    /// Fails the test unless no acknowledged record was lost, the log holds each once, and the
    /// group delivered every acknowledged record. Prints the counts either way.
    pub fn assert_nothing_lost(&self, what: &str, diagnostics: impl FnOnce() -> String) {
        eprintln!("{what}: {self:?}");
        let failed: u64 = self.errors.values().sum();
        let ok = self.acknowledged > 0
            // Every record handed over was either acknowledged or reported failed.
            && self.acknowledged + failed == self.produced
            && self.in_log >= self.acknowledged
            && self.consumed >= self.acknowledged
            && self.lost == 0
            && self.log_duplicates == 0
            && self.group_missing == 0;
        assert!(ok, "{what}: {self:#?}\n{}", diagnostics());
    }
}
