//! The README's main-job command, `scripts/up`, exercised end to end: `--smoke` installs (or
//! finds in the cache) Apache Kafka and the Python client, starts a one-node Kafka, the registry and the
//! enforcing proxy under test, runs the demo (one valid Order flows, one bad record is
//! quarantined), sends one more record through the proxy and back, and stops everything.

use std::path::PathBuf;
use std::time::Duration;

use schemagate_tests::{env, ClientRun};

#[test]
fn scripts_up_smoke_sends_a_record_through_the_proxy_and_stops_cleanly() {
    let bin = env::schemagate_bin().unwrap_or_else(|e| panic!("{e}"));
    let up = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/up");
    let out = ClientRun::program("scripts/up --smoke", PathBuf::from("bash"))
        .arg(up)
        .args(["--smoke", "--bin"])
        .arg(bin)
        .timeout(Duration::from_secs(300))
        .run()
        .unwrap_or_else(|e| panic!("{e}"));
    let summary = out
        .summary("scripts/up --smoke")
        .unwrap_or_else(|e| panic!("{e}"));
    let brokers = summary["brokers"].as_array().cloned().unwrap_or_default();
    assert_eq!(brokers.len(), 1, "{summary}");
    assert!(out.stderr.contains("smoke test passed"), "{}", out.stderr);
    // The main job's demonstration: the valid Order on `orders`, the bad record quarantined.
    assert!(out.stdout.contains("demo ok"), "{}", out.stdout);
    assert!(
        out.stdout.contains("schemagate.reason: no-magic-byte"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("stopping registry") || out.stderr.contains("stopping registry"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("stopping proxy"), "{}", out.stderr);
    assert!(out.stderr.contains("stopping kafka"), "{}", out.stderr);
}
