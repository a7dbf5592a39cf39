//! kafkajs (Node) through the proxy.

use schemagate_tests::ClientRun;

use crate::support::{assert_proxy_addresses, number, run_client, start_stack, unique};

#[test]
fn kafkajs_produces_and_consumes_in_a_group() {
    let mut stack = start_stack();
    let per_codec = 300;
    let run = ClientRun::node("kafkajs_roundtrip.js")
        .unwrap_or_else(|e| panic!("{e}"))
        .args(["--bootstrap", &stack.bootstrap().to_string()])
        .args(["--records", &per_codec.to_string()])
        .args(["--topic", &unique("kafkajs")]);
    let summary = run_client(&mut stack, "kafkajs_roundtrip.js", run);
    // none, gzip and snappy.
    assert_eq!(number(&summary, "records"), 3 * per_codec, "{summary}");
    // Offsets were committed through the group coordinator for every record.
    assert_eq!(
        number(&summary, "committed_total"),
        3 * per_codec,
        "{summary}"
    );
    assert_proxy_addresses(
        &stack,
        "kafkajs admin.describeCluster()",
        &summary["brokers"],
    );
}
