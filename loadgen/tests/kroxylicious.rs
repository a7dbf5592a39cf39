//! Smoke test of the Kroxylicious bench paths: each is stood up the way `loadgen bench` does
//! (a fresh one-node Apache Kafka from `kafka-cluster`, Kroxylicious 0.12.0 in front of it in
//! port-per-broker mode), records are produced through it and read back from the broker
//! itself; on `peer_kroxylicious_validating` an Order that breaks the JSON Schema is refused
//! and never lands.
//!
//! Kroxylicious is a bench-only install, so this test is `#[ignore]`d (nextest lists it as
//! skipped, with the reason). Run it with
//!   eval "$(scripts/install kafka kroxylicious)"; cargo build -p schemagate-tests --bin kafka-cluster
//!   KAFKA_CLUSTER_BIN=target/debug/kafka-cluster cargo nextest run -p loadgen \
//!     --test kroxylicious --run-ignored only
//! When it runs without `KROXYLICIOUS_BIN` or `KAFKA_CLUSTER_BIN` it fails, saying which.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use loadgen::bench::broker::BrokerKind;
use loadgen::bench::kroxylicious::order_json;
use loadgen::bench::path::{self, BenchPath, Binaries, RunningPath, Validation, TOPIC};
use loadgen::order::OrderGenerator;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::Message as _;

const RECORDS: u64 = 20;

fn binaries() -> Binaries {
    let var = |name: &str| -> PathBuf {
        let value = std::env::var_os(name).unwrap_or_else(|| {
            panic!(
                "{name} is not set: this test needs Kroxylicious (`scripts/install kroxylicious`) \
                 and kafka-cluster (`cargo build -p schemagate-tests --bin kafka-cluster`)"
            )
        });
        let path = PathBuf::from(value);
        assert!(path.exists(), "{name}={} does not exist", path.display());
        path
    };
    Binaries {
        tansu: None,
        kafka_cluster: Some(var("KAFKA_CLUSTER_BIN")),
        schemagate: None,
        kroxylicious: Some(var("KROXYLICIOUS_BIN")),
    }
}

async fn start(p: BenchPath, log_dir: &std::path::Path) -> RunningPath {
    let bins = binaries();
    assert_eq!(bins.unavailable(p, BrokerKind::Kafka), None);
    let running = path::start(
        p,
        &bins,
        BrokerKind::Kafka,
        None,
        log_dir,
        Validation::default(),
    )
    .await
    .unwrap_or_else(|e| panic!("starting {p}: {e:#} (logs in {})", log_dir.display()));
    loadgen::bench::create_topic(&running, 1, BrokerKind::Kafka)
        .await
        .expect("topic created through the path");
    running
}

fn producer(bootstrap: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("message.timeout.ms", "20000")
        .create()
        .expect("producer")
}

async fn send(p: &FutureProducer, value: &[u8]) -> Result<(), KafkaError> {
    let record = FutureRecord::<(), [u8]>::to(TOPIC).payload(value);
    p.send(record, Duration::from_secs(20))
        .await
        .map(|_| ())
        .map_err(|(e, _)| e)
}

/// The values on the bench topic, read from the broker directly (not through the path):
/// polls until `expected` arrived (or 30 s passed), then 2 s more for any extra.
fn landed(running: &RunningPath, expected: usize) -> Vec<Vec<u8>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", running.broker_addr().to_string())
        .set("group.id", "kroxylicious-smoke")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&[TOPIC]).expect("subscribe");
    let mut values = Vec::new();
    let poll_until = |deadline: Instant, values: &mut Vec<Vec<u8>>, stop_at: usize| {
        while Instant::now() < deadline && values.len() < stop_at {
            match consumer.poll(Duration::from_millis(200)) {
                Some(Ok(m)) => values.push(m.payload().unwrap_or_default().to_vec()),
                Some(Err(e)) => panic!("consuming from the broker: {e}"),
                None => {}
            }
        }
    };
    poll_until(
        Instant::now() + Duration::from_secs(30),
        &mut values,
        expected,
    );
    poll_until(
        Instant::now() + Duration::from_secs(2),
        &mut values,
        usize::MAX,
    );
    values
}

fn log_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "loadgen-kroxylicious-{name}-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("log dir");
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Kroxylicious (bench-only install): scripts/install kroxylicious, then --run-ignored"]
async fn peer_kroxylicious_forwards_records_to_the_broker() {
    let dir = log_dir("plain");
    let running = start(BenchPath::PeerKroxylicious, &dir).await;
    assert_ne!(running.bootstrap, running.broker_addr().to_string());
    assert!(
        running.proxy_pid.is_some(),
        "the bench measures Kroxylicious' CPU"
    );
    let p = producer(&running.bootstrap);
    let sent: Vec<Vec<u8>> = (0..RECORDS)
        .map(|i| format!("plain record {i}").into_bytes())
        .collect();
    for v in &sent {
        send(&p, v).await.expect("delivered through Kroxylicious");
    }
    let got = landed(&running, sent.len());
    assert_eq!(got, sent, "every record landed on the broker, in order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Kroxylicious (bench-only install): scripts/install kroxylicious, then --run-ignored"]
async fn peer_kroxylicious_validating_lands_valid_orders_and_refuses_invalid_json() {
    let dir = log_dir("validating");
    let running = start(BenchPath::PeerKroxyliciousValidating, &dir).await;
    let doc = running
        .schema_document
        .as_ref()
        .expect("the validating path serves its schema");
    let p = producer(&running.bootstrap);
    let generator = OrderGenerator::new(42);
    let sent: Vec<Vec<u8>> = (0..RECORDS)
        .map(|i| order_json(&generator.order(i)))
        .collect();
    for v in &sent {
        send(&p, v).await.expect("a valid Order is delivered");
    }
    assert!(doc.requests() > 0, "Kroxylicious fetched the JSON Schema");
    // Valid JSON, but `status` is not one of the enum's symbols and the required fields are
    // missing: only a schema check refuses it.
    let bad = br#"{"order_id": "o-1", "status": "LOST"}"#;
    let refused = send(&p, bad)
        .await
        .expect_err("an Order breaking the schema is refused");
    assert_eq!(
        refused.rdkafka_error_code(),
        Some(RDKafkaErrorCode::InvalidRecord),
        "{refused}"
    );
    let not_json = b"not json at all";
    let refused = send(&p, not_json)
        .await
        .expect_err("a non-JSON value is refused");
    assert_eq!(
        refused.rdkafka_error_code(),
        Some(RDKafkaErrorCode::InvalidRecord)
    );
    let got = landed(&running, sent.len());
    assert_eq!(got, sent, "exactly the valid Orders landed");
}
