//! The soak's load: one idempotent librdkafka producer through the proxy at a fixed rate,
//! counting acknowledgements and errors by kind; the saturation probe; topic bookkeeping.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::admin::TopicReplication;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseRecord, Producer as _, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;

/// Counts shared by the producer thread and its delivery callbacks.
#[derive(Default)]
struct Counts {
    acked_good: AtomicU64,
    acked_bad: AtomicU64,
    failed: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
}

struct Ctx(Arc<Counts>);

impl ClientContext for Ctx {}

impl ProducerContext for Ctx {
    /// Whether the record was a bad one.
    type DeliveryOpaque = Box<bool>;

    fn delivery(&self, result: &DeliveryResult<'_>, bad: Self::DeliveryOpaque) {
        match result {
            Ok(_) if *bad => self.0.acked_bad.fetch_add(1, Ordering::Relaxed),
            Ok(_) => self.0.acked_good.fetch_add(1, Ordering::Relaxed),
            Err((e, _)) => {
                if let Ok(mut m) = self.0.errors.lock() {
                    *m.entry(kind(e)).or_default() += 1;
                }
                self.0.failed.fetch_add(1, Ordering::Relaxed)
            }
        };
    }
}

fn kind(e: &KafkaError) -> String {
    match e.rdkafka_error_code() {
        Some(code) => format!("{code:?}"),
        None => e.to_string(),
    }
}

/// What the producer did, at the end.
#[derive(Debug, Default)]
pub struct Produced {
    /// Records handed to the client.
    pub sent: u64,
    /// Good records acknowledged.
    pub acked_good: u64,
    /// Bad records acknowledged (the proxy quarantined them).
    pub acked_bad: u64,
    /// Records the client gave up on.
    pub failed: u64,
    /// Failures by error kind.
    pub errors: BTreeMap<String, u64>,
}

/// A producer thread sending at a fixed rate until [`Producer::finish`].
pub struct Producer {
    counts: Arc<Counts>,
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Result<u64, String>>,
}

fn client(bootstrap: &str, counts: Arc<Counts>) -> Result<ThreadedProducer<Ctx>, String> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "120000")
        .set("queue.buffering.max.messages", "200000")
        .create_with_context(Ctx(counts))
        .map_err(|e| format!("producer: {e}"))
}

/// The value of record `i`: a Confluent-framed Avro string, or (one in `bad_every`) plain text.
fn value(i: u64, schema_id: u32, bad: bool) -> Vec<u8> {
    if bad {
        return format!("not-avro-{i}").into_bytes();
    }
    let text = format!("order-{i}");
    let mut v = vec![0];
    v.extend_from_slice(&schema_id.to_be_bytes());
    // Avro string: zig-zag varint length, then the bytes (all lengths here are < 64).
    v.push((text.len() as u8) << 1);
    v.extend_from_slice(text.as_bytes());
    v
}

impl Producer {
    /// Starts sending `rate` records a second to `topic`; `bad_per_million` of them bad.
    pub fn start(
        bootstrap: &str,
        topic: &str,
        schema_id: u32,
        rate: u64,
        bad_per_million: u64,
    ) -> Result<Self, String> {
        let counts = Arc::new(Counts::default());
        let producer = client(bootstrap, counts.clone())?;
        let stop = Arc::new(AtomicBool::new(false));
        let topic = topic.to_owned();
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let started = Instant::now();
            let mut sent = 0u64;
            while !flag.load(Ordering::Relaxed) {
                let due = (started.elapsed().as_secs_f64() * rate as f64) as u64;
                while sent < due && !flag.load(Ordering::Relaxed) {
                    // Spread the bad records evenly: record i is bad when the running count
                    // of bad records steps up at it.
                    let bad = (sent + 1) * bad_per_million / 1_000_000
                        > sent * bad_per_million / 1_000_000;
                    let key = sent.to_string();
                    let payload = value(sent, schema_id, bad);
                    let record = BaseRecord::with_opaque_to(&topic, Box::new(bad))
                        .key(&key)
                        .payload(&payload);
                    match producer.send(record) {
                        Ok(()) => sent += 1,
                        Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                            std::thread::sleep(Duration::from_millis(10));
                        }
                        Err((e, _)) => return Err(format!("send: {e}")),
                    }
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            let _ = producer.flush(Duration::from_secs(120));
            Ok(sent)
        });
        Ok(Self {
            counts,
            stop,
            handle,
        })
    }

    /// Records acknowledged so far, good and bad.
    pub fn acked(&self) -> u64 {
        self.counts.acked_good.load(Ordering::Relaxed)
            + self.counts.acked_bad.load(Ordering::Relaxed)
    }

    /// Stops sending, waits for the outstanding acknowledgements, and returns the counts.
    pub fn finish(self, _within: Duration) -> Produced {
        self.stop.store(true, Ordering::Relaxed);
        let sent = match self.handle.join() {
            Ok(Ok(n)) => n,
            Ok(Err(e)) => {
                eprintln!("soak: producer stopped early: {e}");
                0
            }
            Err(_) => 0,
        };
        let c = &self.counts;
        Produced {
            sent,
            acked_good: c.acked_good.load(Ordering::Relaxed),
            acked_bad: c.acked_bad.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            errors: c.errors.lock().map(|m| m.clone()).unwrap_or_default(),
        }
    }
}

/// Records acknowledged per second by an unthrottled producer over `window` (after a 5 s
/// warm-up), all good.
pub fn saturation(
    bootstrap: &str,
    topic: &str,
    schema_id: u32,
    window: Duration,
) -> Result<u64, String> {
    let p = Producer::start(bootstrap, topic, schema_id, u64::MAX / 4_000_000, 0)?;
    std::thread::sleep(Duration::from_secs(5));
    let (t0, a0) = (Instant::now(), p.acked());
    std::thread::sleep(window);
    let rate = ((p.acked() - a0) as f64 / t0.elapsed().as_secs_f64()) as u64;
    let _ = p.finish(Duration::from_secs(120));
    Ok(rate)
}

/// Creates `topic` with `partitions` partitions, replicated three times.
pub fn create_topic(bootstrap: &str, topic: &str, partitions: i32) -> Result<(), String> {
    schemagate_tests::topics::create(bootstrap, topic, partitions, TopicReplication::Fixed(3))
        .map_err(|e| e.to_string())
}

/// Records stored in `topic` (sum over partitions of high minus low watermark; with an
/// idempotent producer and no transactions, exactly the records written).
pub fn stored(bootstrap: &str, topic: &str) -> Result<i64, String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .map_err(|e| format!("consumer: {e}"))?;
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .map_err(|e| format!("metadata of {topic}: {e}"))?;
    let mut total = 0;
    for t in md.topics().iter().filter(|t| t.error().is_none()) {
        for p in t.partitions() {
            let (low, high) = consumer
                .fetch_watermarks(topic, p.id(), Duration::from_secs(10))
                .map_err(|e| format!("watermarks of {topic}-{}: {e}", p.id()))?;
            total += high - low;
        }
    }
    Ok(total)
}
