//! The `on_invalid` policies end to end: an idempotent producer's batch refused whole,
//! `reject`, `audit`, and `acks=0` under `quarantine`.

use schemagate_tests::{EnforcedStack, RegistryStore};
use serde_json::Value;

use crate::enforce_support::{
    metrics, number, policy, python, quarantined, records, run, start_enforced,
};
use crate::support::unique;

fn scenario(name: &str, topic: &str, on_invalid: &str) -> (EnforcedStack, Value) {
    let mut stack = start_enforced(&policy(topic, on_invalid), RegistryStore::Memory);
    let client = python(&stack, "enforce_policies.py").args(["--scenario", name, "--topic", topic]);
    let summary = run(&mut stack, "enforce_policies.py", client);
    (stack, summary)
}

#[test]
fn an_idempotent_batch_with_one_bad_record_is_refused_whole_with_a_readable_message() {
    let topic = unique("e2e-idem");
    let (mut stack, summary) = scenario("idempotent", &topic, "quarantine");
    assert_eq!(number(&summary, "acked"), 20, "{summary}");
    // On Apache Kafka the same librdkafka producer goes on after the refusal: its next batch
    // of 10 is acknowledged (on tansu it was fenced).
    assert_eq!(number(&summary, "later_acked"), 10, "{summary}");
    assert_eq!(summary["later_errors"], serde_json::json!([]), "{summary}");
    assert_eq!(number(&summary, "on_topic"), 30, "{summary}");
    assert_eq!(number(&summary, "refused"), 11, "{summary}");
    assert_eq!(number(&summary, "quarantined"), 1, "{summary}");
    assert!(
        summary["error"]
            .as_str()
            .is_some_and(|e| e.contains("INVALID_RECORD")),
        "{summary}"
    );
    let message = summary["kafka_python_message"].as_str().unwrap_or_default();
    eprintln!("kafka-python saw: {message}");
    let m = metrics(&mut stack);
    assert_eq!(records(&m, &topic, "valid"), 30, "{}", m.text());
    // confluent-kafka's batch of 11, then kafka-python's batch of 6, each refused whole.
    assert_eq!(records(&m, &topic, "rejected"), 17, "{}", m.text());
    // One copy from each client's bad record.
    assert_eq!(quarantined(&m, &topic, "decode-failed"), 2, "{}", m.text());
}

#[test]
fn reject_refuses_the_partition_and_keeps_a_copy_in_quarantine() {
    let topic = unique("e2e-reject");
    let (mut stack, summary) = scenario("reject", &topic, "reject");
    assert_eq!(number(&summary, "refused"), 15, "{summary}");
    assert_eq!(number(&summary, "acked"), 20, "{summary}");
    assert_eq!(number(&summary, "on_topic"), 20, "{summary}");
    assert_eq!(number(&summary, "quarantined"), 3, "{summary}");
    assert!(
        summary["error"]
            .as_str()
            .is_some_and(|e| e.contains("INVALID_RECORD")),
        "{summary}"
    );
    let m = metrics(&mut stack);
    assert_eq!(records(&m, &topic, "valid"), 20, "{}", m.text());
    assert_eq!(records(&m, &topic, "rejected"), 15, "{}", m.text());
    assert_eq!(records(&m, &topic, "quarantined"), 0, "{}", m.text());
    for reason in ["too-short", "unknown-schema-id", "decode-failed"] {
        assert_eq!(quarantined(&m, &topic, reason), 1, "{}", m.text());
    }
}

#[test]
fn audit_stores_everything_and_copies_the_bad_records() {
    let topic = unique("e2e-audit");
    let (mut stack, summary) = scenario("audit", &topic, "audit");
    assert_eq!(number(&summary, "acked"), 23, "{summary}");
    assert_eq!(number(&summary, "on_topic"), 23, "{summary}");
    assert_eq!(number(&summary, "quarantined"), 3, "{summary}");
    let m = metrics(&mut stack);
    assert_eq!(records(&m, &topic, "valid"), 20, "{}", m.text());
    assert_eq!(records(&m, &topic, "audited"), 3, "{}", m.text());
    assert_eq!(records(&m, &topic, "quarantined"), 0, "{}", m.text());
}

#[test]
fn acks_zero_still_sorts_good_from_bad() {
    let topic = unique("e2e-acks0");
    let (mut stack, summary) = scenario("acks0", &topic, "quarantine");
    assert_eq!(number(&summary, "sent"), 23, "{summary}");
    assert_eq!(number(&summary, "on_topic"), 20, "{summary}");
    assert_eq!(number(&summary, "quarantined"), 3, "{summary}");
    let m = metrics(&mut stack);
    assert_eq!(records(&m, &topic, "valid"), 20, "{}", m.text());
    assert_eq!(records(&m, &topic, "quarantined"), 3, "{}", m.text());
}
