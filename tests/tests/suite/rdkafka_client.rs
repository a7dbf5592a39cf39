//! Rust rdkafka (bundled librdkafka 2.12) through the proxy: admin, produce, group consume.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::executor::block_on;
use rdkafka::admin::TopicReplication;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::TopicPartitionList;

use schemagate_tests::topics;

use crate::support::start_stack;

const TOPIC: &str = "rdkafka";
const PARTITIONS: i32 = 3;
const RECORDS: usize = 1_000;

/// Key, value and headers (name, value) of one record as sent or received.
type Record = (
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Vec<(String, Option<Vec<u8>>)>,
);

fn config(bootstrap: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap);
    c
}

fn record(i: usize) -> Record {
    let key = (i % 101 != 7).then(|| format!("rd-key-{}", i % 13).into_bytes());
    let value = Some(format!("rd|{i}|{}", "0123456789".repeat(i % 40)).into_bytes());
    let headers = vec![
        ("dup".to_owned(), Some(b"one".to_vec())),
        ("seq".to_owned(), Some(i.to_string().into_bytes())),
        ("dup".to_owned(), Some(b"two".to_vec())),
        ("null".to_owned(), None),
    ];
    (key, value, headers)
}

fn produce_all(bootstrap: &str) -> BTreeMap<(i32, i64), Record> {
    let producer: FutureProducer = config(bootstrap)
        .set("compression.type", "lz4")
        .set("enable.idempotence", "true")
        .set("linger.ms", "10")
        .create()
        .unwrap_or_else(|e| panic!("rdkafka producer: {e}"));
    let mut pending = Vec::with_capacity(RECORDS);
    for i in 0..RECORDS {
        let rec = record(i);
        let mut headers = OwnedHeaders::new();
        for (name, value) in &rec.2 {
            headers = headers.insert(Header {
                key: name,
                value: value.as_deref(),
            });
        }
        let mut fr = FutureRecord::to(TOPIC).headers(headers);
        if let Some(k) = rec.0.as_deref() {
            fr = fr.key(k);
        }
        if let Some(v) = rec.1.as_deref() {
            fr = fr.payload(v);
        }
        let fut = producer
            .send_result(fr)
            .unwrap_or_else(|(e, _)| panic!("rdkafka enqueue record {i}: {e}"));
        pending.push((fut, rec));
    }
    let mut sent = BTreeMap::new();
    for (fut, rec) in pending {
        let delivery = match block_on(fut) {
            Ok(Ok(delivery)) => delivery,
            Ok(Err((e, _))) => panic!("rdkafka delivery failed: {e}"),
            Err(_) => panic!("rdkafka delivery future cancelled"),
        };
        sent.insert((delivery.partition, delivery.offset), rec);
    }
    sent
}

fn received(msg: &rdkafka::message::BorrowedMessage<'_>) -> Record {
    let headers = msg.headers().map_or_else(Vec::new, |h| {
        h.iter()
            .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
            .collect()
    });
    (
        msg.key().map(<[u8]>::to_vec),
        msg.payload().map(<[u8]>::to_vec),
        headers,
    )
}

#[test]
fn rdkafka_produces_and_consumes_in_a_group() {
    let mut stack = start_stack();
    let bootstrap = stack.bootstrap().to_string();

    if let Err(e) = topics::create(&bootstrap, TOPIC, PARTITIONS, TopicReplication::Fixed(1)) {
        panic!("{e}\n{}", stack.diagnostics());
    }

    let sent = produce_all(&bootstrap);
    assert_eq!(sent.len(), RECORDS, "offsets reused across deliveries");

    let consumer: BaseConsumer = config(&bootstrap)
        .set("group.id", "rdkafka-group")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "1000")
        .create()
        .unwrap_or_else(|e| panic!("rdkafka consumer: {e}"));
    consumer
        .subscribe(&[TOPIC])
        .unwrap_or_else(|e| panic!("subscribe: {e}"));
    let mut got = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    while got.len() < sent.len() {
        assert!(
            Instant::now() < deadline,
            "timed out with {}/{} records\n{}",
            got.len(),
            sent.len(),
            stack.diagnostics()
        );
        if let Some(result) = consumer.poll(Duration::from_millis(500)) {
            let msg =
                result.unwrap_or_else(|e| panic!("rdkafka consume: {e}\n{}", stack.diagnostics()));
            let k = (msg.partition(), msg.offset());
            assert!(got.insert(k, received(&msg)).is_none(), "{k:?} twice");
        }
    }
    consumer
        .commit_consumer_state(CommitMode::Sync)
        .unwrap_or_else(|e| panic!("commit: {e}\n{}", stack.diagnostics()));
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition(TOPIC, p);
    }
    let committed = consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("committed offsets: {e}\n{}", stack.diagnostics()));
    let committed_total: i64 = committed
        .elements()
        .iter()
        .filter_map(|e| e.offset().to_raw())
        .filter(|o| *o >= 0)
        .sum();
    assert_eq!(
        committed_total, RECORDS as i64,
        "committed offsets {committed:?}"
    );

    assert_eq!(got, sent, "records differ between produce and consume");

    let metadata = consumer
        .fetch_metadata(None, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("metadata: {e}\n{}", stack.diagnostics()));
    assert!(!metadata.brokers().is_empty(), "metadata listed no brokers");
    for b in metadata.brokers() {
        let port = u16::try_from(b.port()).unwrap_or_else(|_| panic!("port {}", b.port()));
        if let Err(why) = stack.check_advertised(b.host(), port) {
            panic!("rdkafka metadata shows {why}");
        }
    }
}
