//! kafkajs (Node, its own Produce versions and gzip batches) through an enforcing proxy: bad
//! records go to quarantine, good ones to the topic, and the counts agree with the metrics.

use std::time::Duration;

use schemagate_tests::{ClientRun, RegistryStore};

use crate::enforce_support::{metrics, number, policy, quarantined, records, run, start_enforced};

#[test]
fn kafkajs_gzip_batches_are_sorted_into_topic_and_quarantine() {
    let topic = "e2e-kafkajs";
    let mut stack = start_enforced(&policy("e2e-*", "quarantine"), RegistryStore::Memory);
    let client = ClientRun::node("enforce_kafkajs.js")
        .unwrap_or_else(|e| panic!("{e}"))
        .args(["--bootstrap", &stack.bootstrap().to_string()])
        .args(["--registry", &stack.registry_url()])
        .args(["--topic", topic, "--records", "60"])
        .timeout(Duration::from_secs(180));
    let summary = run(&mut stack, "enforce_kafkajs.js", client);
    assert_eq!(number(&summary, "acked"), 65, "{summary}");
    assert_eq!(number(&summary, "on_topic"), 60, "{summary}");
    assert_eq!(number(&summary, "quarantined"), 5, "{summary}");
    let m = metrics(&mut stack);
    assert_eq!(records(&m, topic, "valid"), 60, "{}", m.text());
    assert_eq!(records(&m, topic, "quarantined"), 5, "{}", m.text());
    for (reason, n) in [
        ("too-short", 1),
        ("no-magic-byte", 1),
        ("unknown-schema-id", 1),
        ("decode-failed", 2),
    ] {
        assert_eq!(quarantined(&m, topic, reason), n, "{reason}\n{}", m.text());
    }
}
