//! kafka-python (pure Python protocol code) through the proxy.

use schemagate_tests::ClientRun;

use crate::support::{assert_proxy_addresses, number, run_client, start_stack, unique};

#[test]
fn kafka_python_produces_every_codec_and_consumes_in_a_group() {
    let mut stack = start_stack();
    let per_codec = 300;
    let run = ClientRun::python("kafka_python_roundtrip.py")
        .unwrap_or_else(|e| panic!("{e}"))
        .args(["--bootstrap", &stack.bootstrap().to_string()])
        .args(["--records", &per_codec.to_string()])
        .args(["--topic", &unique("kafka-python")]);
    let summary = run_client(&mut stack, "kafka_python_roundtrip.py", run);
    assert_eq!(number(&summary, "records"), 5 * per_codec, "{summary}");
    assert_proxy_addresses(
        &stack,
        "kafka-python describe_cluster()",
        &summary["admin_brokers"],
    );
    assert_proxy_addresses(
        &stack,
        "kafka-python cluster metadata",
        &summary["client_brokers"],
    );
}
