//! One hand-made bad record for each reason, mixed into batches of good Avro, Protobuf and
//! JSON Schema records (and a reader contract on one topic): each lands in quarantine byte-identical with the right reason, and the
//! proxy's metrics agree with what the client counted.

use schemagate_tests::RegistryStore;
use serde_json::Value;

use crate::enforce_support::{metrics, number, python, quarantined, records, run, start_enforced};

/// Every reason the issue lists, by the case name the script gives its bad record.
const CASES: [(&str, &str); 14] = [
    ("too-short", "too-short"),
    ("no-magic-byte", "no-magic-byte"),
    ("unknown-schema-id", "unknown-schema-id"),
    ("subject-mismatch", "subject-mismatch"),
    ("truncated", "decode-failed"),
    ("trailing-bytes", "decode-failed"),
    ("enum-out-of-range", "decode-failed"),
    ("message-index", "decode-failed"),
    ("proto-truncated", "decode-failed"),
    ("proto-no-magic-byte", "no-magic-byte"),
    ("json-fails-schema", "decode-failed"),
    ("json-not-json", "decode-failed"),
    ("json-short", "too-short"),
    ("reader-incompatible", "reader-incompatible"),
];

/// e2e-readers declares a reader contract; every other e2e-* topic is checked plainly.
const POLICY: &str = r#"
[[topic]]
match = "e2e-readers"
value = "required"
on_invalid = "quarantine"
readers = ["latest"]

[[topic]]
match = "e2e-*"
value = "required"
key = "off"
strategy = "topic"
on_invalid = "quarantine"
quarantine = "{topic}.quarantine"
"#;

#[test]
fn each_bad_record_lands_in_quarantine_with_its_reason_and_the_counts_add_up() {
    let mut stack = start_enforced(POLICY, RegistryStore::Memory);
    let client = python(&stack, "enforce_bad_records.py");
    let summary = run(&mut stack, "enforce_bad_records.py", client);
    // The script checked every record byte for byte; here the totals and the reasons.
    let (sent, acked) = (number(&summary, "sent"), number(&summary, "acked"));
    let (on_topics, in_quarantine) = (
        number(&summary, "on_topics"),
        number(&summary, "quarantined"),
    );
    assert_eq!(acked, sent, "{summary}");
    assert_eq!(acked, on_topics + in_quarantine, "{summary}");
    assert_eq!(in_quarantine, CASES.len() as u64, "{summary}");
    for (case, reason) in CASES {
        assert_eq!(summary["reasons"][case], reason, "{case}: {summary}");
    }

    let m = metrics(&mut stack);
    let topics = summary["topics"]
        .as_object()
        .unwrap_or_else(|| panic!("no per-topic counts: {summary}"));
    assert_eq!(topics.len(), 4, "{summary}");
    for (topic, counts) in topics {
        let (good, bad) = (number(counts, "good"), number(counts, "bad"));
        assert_eq!(records(&m, topic, "valid"), good, "{topic}\n{}", m.text());
        assert_eq!(
            records(&m, topic, "quarantined"),
            bad,
            "{topic}\n{}",
            m.text()
        );
        assert_eq!(records(&m, topic, "rejected"), 0, "{topic}\n{}", m.text());
        let by_reason = counts["by_reason"].as_object().cloned().unwrap_or_default();
        for reason in [
            "too-short",
            "no-magic-byte",
            "unknown-schema-id",
            "subject-mismatch",
            "decode-failed",
            "reader-incompatible",
        ] {
            let want = by_reason.get(reason).and_then(Value::as_u64).unwrap_or(0);
            assert_eq!(
                quarantined(&m, topic, reason),
                want,
                "{topic} {reason}\n{}",
                m.text()
            );
        }
    }
}
