//! What every test does: start a stack, run a client, check the broker addresses it saw.

use schemagate_tests::{ClientRun, Stack};

/// The metrics `schemagate proxy` serves today (exposition names; histograms by base name).
pub const PROXY_METRICS: &[&str] = &[
    "schemagate_connections",
    "schemagate_requests_total",
    "schemagate_bytes_in_total",
    "schemagate_bytes_out_total",
    "schemagate_upstream_request_seconds",
    "schemagate_connections_closed_total",
    "schemagate_connections_refused_total",
];

/// The enforcement metrics ARCHITECTURE.md publishes; they appear once enforcement lands.
pub const ENFORCEMENT_METRICS: &[&str] = &[
    "schemagate_records_total",
    "schemagate_quarantined_total",
    "schemagate_registry_requests_total",
    "schemagate_schema_cache_hits_total",
    "schemagate_schema_cache_misses_total",
    "schemagate_validate_seconds",
];
use serde_json::Value;

/// A topic name of this test's own (the harness's, shared with the registry's store tests).
pub use schemagate_tests::topics::unique;

/// Starts a broker and the proxy, or fails the test with the reason.
pub fn start_stack() -> Stack {
    Stack::start().unwrap_or_else(|e| panic!("cannot start the test stack: {e}"))
}

/// Runs a client script to completion and returns its JSON summary; on failure the test fails
/// with the client's stderr and the proxy's and broker's logs.
pub fn run_client(stack: &mut Stack, name: &str, run: ClientRun) -> Value {
    match run.run().and_then(|out| out.summary(name)) {
        Ok(summary) => summary,
        Err(e) => panic!("{e}\n{}", stack.diagnostics()),
    }
}

/// Asserts that `brokers` (a JSON array of "host:port") is non-empty and that every entry is
/// an address of the proxy, never the upstream broker's.
pub fn assert_proxy_addresses(stack: &Stack, client: &str, brokers: &Value) {
    let list = brokers
        .as_array()
        .unwrap_or_else(|| panic!("{client}: no broker list in its summary: {brokers}"));
    assert!(!list.is_empty(), "{client}: metadata listed no brokers");
    for entry in list {
        let text = entry.as_str().unwrap_or_default();
        let (host, port) = text
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
            .unwrap_or_else(|| panic!("{client}: broker entry {entry} is not host:port"));
        if let Err(why) = stack.check_advertised(host, port) {
            panic!("{client}: metadata shows {why}");
        }
    }
}

/// The number in `summary[field]`, or a test failure naming the field.
pub fn number(summary: &Value, field: &str) -> u64 {
    summary[field]
        .as_u64()
        .unwrap_or_else(|| panic!("summary has no number {field}: {summary}"))
}
