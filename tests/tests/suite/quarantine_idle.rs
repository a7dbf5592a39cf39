//! The quarantine producer is opened by the first quarantined record and closed again after
//! `--quarantine-idle-close-secs` without one: an idle librdkafka producer spins through rdkafka's
//! poll loop (about 1% of a core). Real parts: Apache Kafka, `schemagate registry`, the enforcing
//! `schemagate proxy`, rdkafka producing bad records through it.

use std::time::{Duration, Instant};

use futures::executor::block_on;
use rdkafka::admin::TopicReplication;
use rdkafka::config::ClientConfig;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use schemagate_tests::procstat::ProcSample;
use schemagate_tests::topics::{self, unique};
use schemagate_tests::{EnforcedStack, RegistryStore};

use crate::enforce_support::{policy, start_enforced_with};
use crate::quarantine_cli::consume_all;

fn free<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

/// The proxy's threads named as rdkafka names a producer's polling thread (the kernel keeps
/// 15 bytes of a thread's name).
fn polling_threads(pid: u32) -> usize {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
        .filter(|name| name.trim_end() == "producer pollin")
        .count()
}

/// Waits up to `within` for the proxy to have `want` producer polling threads.
fn wait_threads(stack: &mut EnforcedStack, want: usize, within: Duration) {
    let pid = stack.proxy().pid();
    let deadline = Instant::now() + within;
    while polling_threads(pid) != want {
        if Instant::now() > deadline {
            panic!(
                "the proxy has {} producer polling threads, not {want}, after {within:?}\n{}",
                polling_threads(pid),
                stack.diagnostics()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Sends one record without a Confluent frame through the proxy; it must be acknowledged
/// (the proxy quarantines it).
fn send_bad(stack: &mut EnforcedStack, producer: &FutureProducer, topic: &str, n: u8) {
    let value = [
        b'n', b'o', b't', b'-', b'f', b'r', b'a', b'm', b'e', b'd', n,
    ];
    let key = [n];
    let record = FutureRecord::to(topic).key(&key[..]).payload(&value[..]);
    if let Err((e, _)) = block_on(producer.send(record, Duration::from_secs(30))) {
        panic!(
            "bad record {n} not acknowledged: {e}\n{}",
            stack.diagnostics()
        );
    }
}

/// The keys of the records on partition 0 of `topic`, read from the broker.
fn keys_on(broker: &str, topic: &str, expected: usize) -> Vec<Vec<u8>> {
    consume_all(broker, topic, expected)
        .iter()
        .map(|m| m.key().unwrap_or_default().to_vec())
        .collect()
}

#[test]
fn the_quarantine_producer_closes_when_idle_and_reopens_for_the_next_record() {
    let topic = unique("idle-close");
    let mut stack = start_enforced_with(
        &policy(&topic, "quarantine"),
        RegistryStore::Memory,
        &["--quarantine-idle-close-secs", "3"],
    );
    let broker = stack.broker().addr().to_string();
    free(topics::create(
        &broker,
        &topic,
        1,
        TopicReplication::Fixed(1),
    ));
    let pid = stack.proxy().pid();
    assert_eq!(
        polling_threads(pid),
        0,
        "no producer before the first bad record"
    );

    let producer: FutureProducer = free(
        ClientConfig::new()
            .set("bootstrap.servers", stack.bootstrap().to_string())
            .set("linger.ms", "0")
            .create(),
    );
    send_bad(&mut stack, &producer, &topic, 1);
    assert_eq!(
        polling_threads(pid),
        1,
        "the first bad record opened the producer"
    );

    // Idle for 3 s: closed within 3 s + the 1.5 s check interval, with slack for load.
    wait_threads(&mut stack, 0, Duration::from_secs(15));
    let closed = ProcSample::read(pid).map(|s| s.cpu_ticks);
    std::thread::sleep(Duration::from_secs(3));
    let after = ProcSample::read(pid).map(|s| s.cpu_ticks);
    eprintln!("proxy CPU ticks over 3 s with the producer closed: {closed:?} -> {after:?}");

    // The next bad record opens a new producer, and lands in quarantine like the first.
    send_bad(&mut stack, &producer, &topic, 2);
    assert_eq!(polling_threads(pid), 1, "the second bad record reopened it");
    let keys = keys_on(&broker, &format!("{topic}.quarantine"), 2);
    assert_eq!(
        keys,
        vec![vec![1u8], vec![2u8]],
        "both bad records in quarantine"
    );
    let on_topic = keys_on(&broker, &topic, 0);
    assert!(
        on_topic.is_empty(),
        "a bad record reached the topic: {on_topic:?}"
    );
    wait_threads(&mut stack, 0, Duration::from_secs(15));
}
