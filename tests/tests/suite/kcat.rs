//! Debian's kcat (librdkafka 2.0.2) through the proxy. Direct to tansu this old librdkafka
//! misreads the broker's ApiVersions response and never gets further; through the proxy, which
//! re-encodes ApiVersions as Apache Kafka does, metadata, produce and consume must work.

use std::time::Duration;

use schemagate_tests::ClientRun;
use serde_json::Value;

use crate::support::{assert_proxy_addresses, start_stack};

const TOPIC: &str = "kcat";
const RECORDS: usize = 20;

fn kcat(bootstrap: &str) -> ClientRun {
    ClientRun::kcat()
        .unwrap_or_else(|e| panic!("{e}"))
        .args(["-b", bootstrap])
        .timeout(Duration::from_secs(60))
}

/// Runs kcat and returns its stdout; a failure carries kcat's stderr and the stack's logs.
fn run(stack: &mut schemagate_tests::Stack, run: ClientRun) -> String {
    match run.run() {
        Ok(out) => out.stdout,
        Err(e) => panic!("{e}\n{}", stack.diagnostics()),
    }
}

#[test]
fn old_librdkafka_kcat_lists_produces_and_consumes() {
    let mut stack = start_stack();
    let bootstrap = stack.bootstrap().to_string();

    // The point of this test is the old librdkafka: make sure that is what runs.
    let version = run(&mut stack, kcat(&bootstrap).arg("-V"));
    assert!(
        version.contains("librdkafka 2.0.2"),
        "expected Debian's kcat linked against librdkafka 2.0.2, got: {version}"
    );

    let lines: String = (0..RECORDS).map(|i| format!("k{i}:v{i}\n")).collect();
    let produce = kcat(&bootstrap)
        .args(["-P", "-t", TOPIC, "-K:", "-z", "gzip"])
        .args(["-H", "dup=a", "-H", "dup=b"])
        .stdin(lines);
    run(&mut stack, produce);

    let metadata = run(&mut stack, kcat(&bootstrap).args(["-L", "-J"]));
    let metadata: Value = serde_json::from_str(metadata.trim())
        .unwrap_or_else(|e| panic!("kcat -L -J printed no JSON ({e}): {metadata}"));
    let brokers: Vec<Value> = metadata["brokers"]
        .as_array()
        .unwrap_or_else(|| panic!("no brokers in {metadata}"))
        .iter()
        .map(|b| b["name"].clone())
        .collect();
    // kcat names a broker "host:port/id".
    let brokers: Vec<Value> = brokers
        .iter()
        .filter_map(Value::as_str)
        .map(|n| Value::from(n.split('/').next().unwrap_or(n)))
        .collect();
    assert_proxy_addresses(&stack, "kcat -L", &Value::from(brokers));
    let topics = metadata["topics"].as_array().cloned().unwrap_or_default();
    assert!(
        topics.iter().any(|t| t["topic"] == TOPIC),
        "kcat -L does not list {TOPIC}: {metadata}"
    );

    let consumed = run(
        &mut stack,
        kcat(&bootstrap).args([
            "-C",
            "-t",
            TOPIC,
            "-o",
            "beginning",
            "-e",
            "-c",
            &RECORDS.to_string(),
            "-J",
        ]),
    );
    let mut got: Vec<(String, String)> = Vec::new();
    for line in consumed.lines().filter(|l| !l.trim().is_empty()) {
        let m: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("kcat -J line {line:?}: {e}"));
        let headers = m["headers"].as_array().cloned().unwrap_or_default();
        assert_eq!(
            headers,
            vec![
                Value::from("dup"),
                Value::from("a"),
                Value::from("dup"),
                Value::from("b")
            ],
            "headers of {line}"
        );
        let field = |f: &str| m[f].as_str().unwrap_or_default().to_owned();
        got.push((field("key"), field("payload")));
    }
    got.sort();
    let mut want: Vec<(String, String)> = (0..RECORDS)
        .map(|i| (format!("k{i}"), format!("v{i}")))
        .collect();
    want.sort();
    assert_eq!(got, want, "kcat consumed other records than it produced");
}
