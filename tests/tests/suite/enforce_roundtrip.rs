//! Valid Order events, framed by Confluent's own Python serializers, pass an enforcing proxy
//! unchanged and read back with Confluent's deserializers: Avro, Protobuf and JSON Schema.

use schemagate_tests::RegistryStore;

use crate::enforce_support::{metrics, number, policy, python, records, run, start_enforced};

const RECORDS: u64 = 500;

fn round_trip(format: &str) {
    let topic = format!("orders-{format}");
    let mut stack = start_enforced(&policy("orders-*", "quarantine"), RegistryStore::Memory);
    let client = python(&stack, "enforce_roundtrip.py")
        .args(["--format", format, "--topic", &topic])
        .args(["--records", &RECORDS.to_string()]);
    let summary = run(&mut stack, "enforce_roundtrip.py", client);
    assert_eq!(number(&summary, "records"), RECORDS, "{summary}");
    assert_eq!(number(&summary, "acked"), RECORDS, "{summary}");
    assert_eq!(number(&summary, "quarantined"), 0, "{summary}");
    let m = metrics(&mut stack);
    // Every record was inspected and found valid: the proxy did check them.
    assert_eq!(records(&m, &topic, "valid"), RECORDS, "{}", m.text());
    for outcome in ["quarantined", "rejected", "audited", "passthrough"] {
        assert_eq!(records(&m, &topic, outcome), 0, "{outcome}\n{}", m.text());
    }
    assert_eq!(
        m.sum("schemagate_quarantined_total", &[("topic", &topic)]),
        0.0,
        "{}",
        m.text()
    );
}

#[test]
fn avro_orders_pass_unchanged_and_deserialize() {
    round_trip("avro");
}

#[test]
fn protobuf_orders_pass_unchanged_and_deserialize() {
    round_trip("protobuf");
}

#[test]
fn json_schema_orders_pass_unchanged_and_deserialize() {
    round_trip("json");
}
