//! The `on_invalid` policies end to end: an idempotent producer's batch refused whole (with
//! `--no-sequence-rewrite`; the rewrite itself is proved in `idempotent_quarantine`),
//! `reject`, `audit`, and `acks=0` under `quarantine`.

use schemagate_tests::{EnforcedStack, RegistryStore};
use serde_json::Value;

use crate::enforce_support::{
    metrics, number, policy, python, quarantined, records, run, start_enforced,
};
use crate::support::unique;

fn scenario(name: &str, topic: &str, on_invalid: &str) -> (EnforcedStack, Value) {
    let mut stack = match name {
        // The refusal of today's proxy without the sequence rewrite.
        "idempotent" => EnforcedStack::start_with_flags(
            &policy(topic, on_invalid),
            RegistryStore::Memory,
            &["--no-sequence-rewrite"],
        )
        .unwrap_or_else(|e| panic!("{e}")),
        _ => start_enforced(&policy(topic, on_invalid), RegistryStore::Memory),
    };
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

/// Java's default producer is idempotent. After the proxy refuses one of its batches with
/// INVALID_RECORD (the bad record quarantined), do its later batches still succeed? On Apache
/// Kafka they do: the client resets its sequence for the partition and goes on.
#[test]
fn java_idempotent_producer_goes_on_after_a_refused_batch() {
    let summary = java_idempotent(false);
    assert_eq!(number(&summary, "failed"), 1, "{summary}");
    assert_eq!(number(&summary, "ok"), 4, "{summary}");
}

/// The same five sends with the sequence rewrite on (the default): the bad record goes to
/// quarantine, and all five sends succeed.
#[test]
fn java_idempotent_producer_has_every_send_acknowledged_with_the_rewrite() {
    let summary = java_idempotent(true);
    assert_eq!(number(&summary, "failed"), 0, "{summary}");
    assert_eq!(number(&summary, "ok"), 5, "{summary}");
}

/// Java's default producer sends good, good, bad, good, good through an enforcing proxy, one
/// batch each; its summary.
fn java_idempotent(rewrite: bool) -> Value {
    let topic = unique("e2e-java-idem");
    let flags: &[&str] = if rewrite {
        &[]
    } else {
        &["--no-sequence-rewrite"]
    };
    let mut stack = EnforcedStack::start_with_flags(
        &policy(&topic, "quarantine"),
        RegistryStore::Memory,
        flags,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let id = stack
        .registry()
        .register(&format!("{topic}-value"), "AVRO", r#""string""#)
        .unwrap_or_else(|e| panic!("{e}"));
    // Avro "hello": zigzag length 10, then the bytes, behind the Confluent header.
    let good = format!("00{id:08x}0a68656c6c6f");
    let bad = "68656c6c6f"; // the bare string: no magic byte
    let values = [good.as_str(), &good, bad, &good, &good].join("\n");
    let run = schemagate_tests::ClientRun::java("idempotent-reject")
        .unwrap_or_else(|e| panic!("{e}"))
        .args(["--bootstrap", &stack.bootstrap().to_string()])
        .args([
            "--topic",
            &topic,
            "--values-file",
            "-",
            "--flush-after",
            "all",
        ])
        .args(["--create-partitions", "1"])
        .stdin(values.into_bytes())
        .timeout(std::time::Duration::from_secs(180));
    let summary = run
        .run()
        .and_then(|out| out.summary("java idempotent-reject"))
        .unwrap_or_else(|e| panic!("{e}\n{}", stack.diagnostics()));
    eprintln!("java idempotent-reject (rewrite {rewrite}): {summary}");
    assert_eq!(number(&summary, "sent"), 5, "{summary}");
    let m = metrics(&mut stack);
    assert_eq!(records(&m, &topic, "valid"), 4, "{}", m.text());
    if rewrite {
        // Each record its own batch: the bad one is removed whole and answered locally.
        assert_eq!(records(&m, &topic, "quarantined"), 1, "{}", m.text());
        assert_eq!(records(&m, &topic, "rejected"), 0, "{}", m.text());
    } else {
        assert_eq!(number(&summary, "ok_after_first_failure"), 2, "{summary}");
        assert!(
            summary["first_error"]
                .as_str()
                .is_some_and(|e| e.contains("InvalidRecord")),
            "{summary}"
        );
        assert_eq!(records(&m, &topic, "rejected"), 1, "{}", m.text());
    }
    assert_eq!(quarantined(&m, &topic, "no-magic-byte"), 1, "{}", m.text());
    summary
}
