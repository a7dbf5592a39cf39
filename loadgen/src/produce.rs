//! One librdkafka producer driven from a blocking thread: paced or flat-out sends, delivery
//! latency from send to acknowledgement, and errors counted by kind. Used by bench and fleet.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;

use crate::latency::{new_histogram, LatencySummary};

/// Counters shared between a producer's delivery callback and whoever watches it.
#[derive(Debug)]
pub struct ProduceStats {
    start: Instant,
    /// Records handed to librdkafka.
    pub sent: AtomicU64,
    /// Records acknowledged by the broker.
    pub delivered: AtomicU64,
    /// Value bytes acknowledged.
    pub delivered_bytes: AtomicU64,
    /// Records that failed delivery.
    pub failed: AtomicU64,
    /// Send-to-acknowledgement latency of the first acknowledged record, µs (0: none yet).
    pub first_event_us: AtomicU64,
    latency: Mutex<Histogram<u64>>,
    errors: Mutex<BTreeMap<String, u64>>,
}

impl ProduceStats {
    /// Fresh counters; latencies are measured from `start`.
    pub fn new(start: Instant) -> Arc<Self> {
        Arc::new(Self {
            start,
            sent: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            delivered_bytes: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            first_event_us: AtomicU64::new(0),
            latency: Mutex::new(new_histogram()),
            errors: Mutex::new(BTreeMap::new()),
        })
    }

    /// Produce latency percentiles so far.
    pub fn latency(&self) -> LatencySummary {
        self.latency
            .lock()
            .map(|h| LatencySummary::of(&h))
            .unwrap_or_default()
    }

    /// A copy of the latency histogram (to merge across producers).
    pub fn histogram(&self) -> Histogram<u64> {
        self.latency
            .lock()
            .map(|h| h.clone())
            .unwrap_or_else(|_| new_histogram())
    }

    /// Errors by kind so far.
    pub fn errors(&self) -> BTreeMap<String, u64> {
        self.errors.lock().map(|e| e.clone()).unwrap_or_default()
    }

    fn count_error(&self, kind: String) {
        if let Ok(mut e) = self.errors.lock() {
            *e.entry(kind).or_default() += 1;
        }
    }

    fn micros_since_start(&self) -> usize {
        self.start.elapsed().as_micros() as usize
    }
}

/// The producer context: records each delivery into [`ProduceStats`].
struct Context {
    stats: Arc<ProduceStats>,
}

impl ClientContext for Context {}

impl ProducerContext for Context {
    /// Microseconds since the run started, at send time.
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, sent_at: usize) {
        match result {
            Ok(message) => {
                let now = self.stats.micros_since_start();
                let latency = now.saturating_sub(sent_at).max(1) as u64;
                if let Ok(mut h) = self.stats.latency.lock() {
                    let _ = h.record(latency);
                }
                let _ = self.stats.first_event_us.compare_exchange(
                    0,
                    latency,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
                let len = message.payload_len() as u64;
                self.stats.delivered.fetch_add(1, Ordering::Relaxed);
                self.stats.delivered_bytes.fetch_add(len, Ordering::Relaxed);
            }
            Err((e, _)) => {
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
                self.stats.count_error(error_kind(e));
            }
        }
    }
}

/// A short stable label for an error (the librdkafka code name when there is one).
pub fn error_kind(e: &KafkaError) -> String {
    match e.rdkafka_error_code() {
        Some(code) => format!("{code:?}"),
        None => format!("{e}").chars().take(60).collect(),
    }
}

/// When a producer stops sending.
#[derive(Debug, Clone)]
pub enum Limit {
    /// After this many records.
    Count(u64),
    /// After this long.
    Duration(Duration),
    /// When the flag is set (by whoever runs the producer).
    Until(Arc<AtomicBool>),
}

/// What one producer sends and how fast.
#[derive(Debug, Clone)]
pub struct ProduceSpec {
    /// `bootstrap.servers`.
    pub bootstrap: String,
    /// Target topic.
    pub topic: String,
    /// Records per second, or flat out.
    pub rate: Option<f64>,
    /// When to stop.
    pub limit: Limit,
    /// Extra librdkafka settings (override the defaults).
    pub config: Vec<(String, String)>,
}

/// The librdkafka settings every loadgen producer starts from.
pub fn base_config(bootstrap: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "200000")
        .set("compression.type", "none")
        .set("message.timeout.ms", "30000")
        .set("enable.idempotence", "false");
    c
}

/// Sends records from `next(i)` until the limit, then waits for every acknowledgement.
/// Returns how long the run took from the first send to the last acknowledgement.
pub fn produce<'p, F>(
    spec: &ProduceSpec,
    stats: Arc<ProduceStats>,
    mut next: F,
) -> Result<Duration, KafkaError>
where
    F: FnMut(u64) -> Cow<'p, [u8]>,
{
    let mut config = base_config(&spec.bootstrap);
    for (k, v) in &spec.config {
        config.set(k, v);
    }
    let producer: BaseProducer<Context> = config.create_with_context(Context {
        stats: stats.clone(),
    })?;
    let begin = Instant::now();
    let mut i: u64 = 0;
    loop {
        let done = match spec.limit {
            Limit::Count(n) => i >= n,
            Limit::Duration(d) => begin.elapsed() >= d,
            Limit::Until(ref stop) => stop.load(Ordering::Relaxed),
        };
        if done {
            break;
        }
        if let Some(rate) = spec.rate {
            pace(&producer, begin, i, rate);
        }
        let value = next(i);
        send_one(&producer, &spec.topic, &value, &stats)?;
        stats.sent.fetch_add(1, Ordering::Relaxed);
        i += 1;
        if i.is_multiple_of(64) {
            producer.poll(Duration::ZERO);
        }
    }
    producer.flush(Duration::from_secs(60))?;
    Ok(begin.elapsed())
}

/// Sleeps (serving callbacks) until record `i` is due at `rate` per second.
fn pace(producer: &BaseProducer<Context>, begin: Instant, i: u64, rate: f64) {
    let due = begin + Duration::from_secs_f64(i as f64 / rate.max(1e-9));
    loop {
        let now = Instant::now();
        if now >= due {
            return;
        }
        let wait = due - now;
        if wait > Duration::from_millis(2) {
            producer.poll(wait - Duration::from_millis(1));
        } else {
            producer.poll(Duration::ZERO);
            std::thread::yield_now();
        }
    }
}

fn send_one(
    producer: &BaseProducer<Context>,
    topic: &str,
    value: &[u8],
    stats: &ProduceStats,
) -> Result<(), KafkaError> {
    loop {
        let record =
            BaseRecord::<(), [u8], usize>::with_opaque_to(topic, stats.micros_since_start())
                .payload(value);
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                producer.poll(Duration::from_millis(5));
            }
            Err((e, _)) => return Err(e),
        }
    }
}
