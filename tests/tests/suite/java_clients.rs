//! Apache Kafka's own Java client (kafka-clients 4.4.0, `tests/clients/java`) through the proxy:
//! an idempotent producer and consumer groups (classic and KIP-848), transactions, the
//! AdminClient, preferred-leader election, and per-send outcomes of an idempotent producer.
//!
//! All tests of a run may share one cluster, so each uses topics and group ids of its own.

use std::time::Duration;

use schemagate_tests::{ClientRun, Stack};
use serde_json::Value;

use crate::support::{assert_proxy_addresses, number, run_client, start_stack, unique};

/// The JVM starts in about a second; the slowest scenario takes about ten through the proxy.
const TIMEOUT: Duration = Duration::from_secs(180);

/// A topic name of this test's own (see [`unique`]).
fn unique_topic(test: &str) -> String {
    unique(&format!("java-{test}"))
}

/// Runs one Java scenario against the stack with `--bootstrap` and `--topic` set.
fn run_java(stack: &mut Stack, scenario: &str, topic: &str, extra: &[&str]) -> Value {
    let run = ClientRun::java(scenario)
        .unwrap_or_else(|e| panic!("{e}"))
        .args(["--bootstrap", &stack.bootstrap().to_string()])
        .args(["--topic", topic])
        .args(extra)
        .timeout(TIMEOUT);
    let summary = run_client(stack, &format!("java {scenario}"), run);
    eprintln!("java {scenario}: {summary}");
    summary
}

/// The string in `summary[field]`, or a test failure naming the field.
fn text<'a>(summary: &'a Value, field: &str) -> &'a str {
    summary[field]
        .as_str()
        .unwrap_or_else(|| panic!("summary has no string {field}: {summary}"))
}

/// The numbers in the array `summary[field]`.
fn numbers(summary: &Value, field: &str) -> Vec<u64> {
    summary[field]
        .as_array()
        .unwrap_or_else(|| panic!("summary has no array {field}: {summary}"))
        .iter()
        .map(|v| {
            v.as_u64()
                .unwrap_or_else(|| panic!("{field}: {v} is not a number"))
        })
        .collect()
}

/// The shared checks of `produce-consume` and `consumer-protocol`: 3000 records, a group reads
/// and commits them, 1000 more, and a second consumer of the group reads exactly those.
fn assert_group_resumes(stack: &Stack, summary: &Value, group_type: &str) {
    assert_eq!(text(summary, "group_type"), group_type, "{summary}");
    assert_eq!(number(summary, "produced"), 4000, "{summary}");
    // Default producer config: idempotent, acks=all; every record acknowledged, none failed.
    assert_eq!(number(summary, "acked"), 4000, "{summary}");
    assert_eq!(number(summary, "send_errors"), 0, "{summary}");
    // Every acknowledged record consumed exactly once across the two consumers.
    assert_eq!(number(summary, "consumed"), 4000, "{summary}");
    assert_eq!(number(summary, "duplicates"), 0, "{summary}");
    assert_eq!(number(summary, "missing"), 0, "{summary}");
    assert_eq!(number(summary, "unexpected"), 0, "{summary}");
    // The second consumer got only the new records, starting each of the 3 partitions
    // exactly at the offset the first one committed.
    assert_eq!(number(summary, "consumed_first"), 3000, "{summary}");
    assert_eq!(number(summary, "consumed_second"), 1000, "{summary}");
    assert_eq!(number(summary, "resumed_partitions"), 3, "{summary}");
    assert_eq!(number(summary, "resume_mismatches"), 0, "{summary}");
    // Offsets start at 0 and a non-transactional producer writes no markers, so the committed
    // offsets add up to the record count.
    assert_eq!(number(summary, "committed_total"), 4000, "{summary}");
    // 3 partitions with RF 3 on 3 brokers: each broker leads one.
    let mut leaders = numbers(summary, "leaders");
    leaders.sort_unstable();
    leaders.dedup();
    assert_eq!(leaders.len(), 3, "{summary}");
    assert_eq!(
        summary["brokers"].as_array().map(Vec::len),
        Some(3),
        "{summary}"
    );
    assert_proxy_addresses(stack, "kafka-clients metadata", &summary["brokers"]);
}

#[test]
fn java_default_producer_and_classic_group_resume_at_committed_offsets() {
    let mut stack = start_stack();
    let topic = unique_topic("produce-consume");
    let summary = run_java(&mut stack, "produce-consume", &topic, &[]);
    assert_group_resumes(&stack, &summary, "classic");
}

#[test]
fn java_consumer_group_protocol_resumes_at_committed_offsets() {
    let mut stack = start_stack();
    let topic = unique_topic("consumer-protocol");
    let summary = run_java(&mut stack, "consumer-protocol", &topic, &[]);
    // group.protocol=consumer (KIP-848): the broker must have made it a consumer group, not a
    // classic one, or the test proved nothing new.
    assert_group_resumes(&stack, &summary, "consumer");
}

#[test]
fn java_read_committed_sees_committed_transactions_only() {
    let mut stack = start_stack();
    let topic = unique_topic("transactions");
    let summary = run_java(&mut stack, "transactions", &topic, &[]);
    // 10 transactions of 50 records: the even ones committed, the odd ones aborted.
    assert_eq!(number(&summary, "transactions_committed"), 5, "{summary}");
    assert_eq!(number(&summary, "transactions_aborted"), 5, "{summary}");
    assert_eq!(number(&summary, "committed"), 250, "{summary}");
    assert_eq!(number(&summary, "aborted"), 250, "{summary}");
    assert_eq!(number(&summary, "seen_committed"), 250, "{summary}");
    assert_eq!(number(&summary, "seen_aborted"), 0, "{summary}");
    assert_eq!(number(&summary, "duplicates"), 0, "{summary}");
    // read_uncommitted sees the aborted records too: they really were written.
    assert_eq!(
        number(&summary, "uncommitted_seen_committed"),
        250,
        "{summary}"
    );
    assert_eq!(
        number(&summary, "uncommitted_seen_aborted"),
        250,
        "{summary}"
    );
    assert_eq!(number(&summary, "uncommitted_duplicates"), 0, "{summary}");
    assert_proxy_addresses(&stack, "kafka-clients transactions", &summary["brokers"]);
}

#[test]
fn java_admin_client_topics_cluster_offsets_and_configs() {
    let mut stack = start_stack();
    let topic = unique_topic("admin");
    let summary = run_java(&mut stack, "admin", &topic, &[]);
    assert_eq!(number(&summary, "topics_created"), 2, "{summary}");
    assert_eq!(number(&summary, "topics_listed"), 2, "{summary}");
    // Two topics of 6 partitions, every partition with 3 replicas, leaders on all 3 brokers.
    assert_eq!(number(&summary, "partitions"), 12, "{summary}");
    assert_eq!(numbers(&summary, "replication_factors"), [3], "{summary}");
    let nodes = numbers(&summary, "node_ids");
    assert_eq!(nodes.len(), 3, "{summary}");
    assert_eq!(numbers(&summary, "leader_ids"), nodes, "{summary}");
    assert!(
        nodes.contains(&number(&summary, "controller_id")),
        "describeCluster's controller is not one of its nodes: {summary}"
    );
    // 5 records on partition 0 of the first topic, none elsewhere.
    assert_eq!(number(&summary, "earliest"), 0, "{summary}");
    assert_eq!(number(&summary, "latest"), 5, "{summary}");
    assert_eq!(number(&summary, "latest_sum"), 5, "{summary}");
    assert!(number(&summary, "topic_config_entries") > 0, "{summary}");
    assert_eq!(
        text(&summary, "topic_cleanup_policy"),
        "delete",
        "{summary}"
    );
    // A broker's configs are asked of that broker itself: its node.id proves the proxy
    // routed the request to the right one.
    assert!(number(&summary, "broker_config_entries") > 0, "{summary}");
    assert_eq!(
        text(&summary, "broker_node_id"),
        text(&summary, "broker_config_id"),
        "{summary}"
    );
    assert_eq!(
        summary["brokers"].as_array().map(Vec::len),
        Some(3),
        "{summary}"
    );
    assert_proxy_addresses(&stack, "kafka-clients AdminClient", &summary["brokers"]);
}

#[test]
fn java_preferred_leader_election_answers_every_partition() {
    let mut stack = start_stack();
    let topic = unique_topic("elect-leaders");
    let summary = run_java(
        &mut stack,
        "elect-leaders",
        &topic,
        &["--create-partitions", "6"],
    );
    // A new topic's leaders are already the preferred ones: each partition answers "not
    // needed" (or "elected" if a broker had moved it meanwhile), none an error.
    assert_eq!(number(&summary, "failed"), 0, "{summary}");
    assert_eq!(
        number(&summary, "elected") + number(&summary, "not_needed"),
        6,
        "{summary}"
    );
    let partitions = summary["partitions"]
        .as_array()
        .unwrap_or_else(|| panic!("no partitions: {summary}"));
    assert_eq!(partitions.len(), 6, "{summary}");
    for p in partitions {
        assert_eq!(p["leader_after"], p["preferred"], "{summary}");
    }
    assert_proxy_addresses(&stack, "kafka-clients electLeaders", &summary["brokers"]);
}

#[test]
fn java_idempotent_producer_reports_each_send() {
    let mut stack = start_stack();
    let topic = unique_topic("idempotent");
    // Five values, hex, one per line; each is flushed as its own batch. Through a proxy that
    // enforces nothing, every one is acknowledged at the next offset.
    let values = "68656c6c6f\n776f726c64\n\n00ff\n0001020304\n";
    let run = ClientRun::java("idempotent-reject")
        .unwrap_or_else(|e| panic!("{e}"))
        .args(["--bootstrap", &stack.bootstrap().to_string()])
        .args(["--topic", &topic])
        .args(["--create-partitions", "1", "--values-file", "-"])
        .stdin(values)
        .timeout(TIMEOUT);
    let summary = run_client(&mut stack, "java idempotent-reject", run);
    eprintln!("java idempotent-reject: {summary}");
    assert_eq!(number(&summary, "sent"), 5, "{summary}");
    assert_eq!(number(&summary, "ok"), 5, "{summary}");
    assert_eq!(number(&summary, "failed"), 0, "{summary}");
    let results = summary["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results: {summary}"));
    let offsets: Vec<u64> = results.iter().map(|r| number(r, "offset")).collect();
    assert_eq!(offsets, [0, 1, 2, 3, 4], "{summary}");
    assert_proxy_addresses(&stack, "kafka-clients producer", &summary["brokers"]);
}
