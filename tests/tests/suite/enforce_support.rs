//! What every enforcement test does: start broker + registry + enforcing proxy with a policy,
//! run a Python client against it, and read the proxy's metrics.

use std::time::Duration;

use schemagate_tests::{ClientRun, EnforcedStack, Metrics, RegistryStore};
use serde_json::Value;

/// The number in a client's summary (the same for every suite).
pub use crate::support::number;

/// Starts the stack with `policy` (TOML text), or fails the test with the reason.
pub fn start_enforced(policy: &str, store: RegistryStore) -> EnforcedStack {
    EnforcedStack::start(policy, store)
        .unwrap_or_else(|e| panic!("cannot start the enforcing stack: {e}"))
}

/// As [`start_enforced`], with `flags` for the proxy.
pub fn start_enforced_with(policy: &str, store: RegistryStore, flags: &[&str]) -> EnforcedStack {
    EnforcedStack::start_with_flags(policy, store, flags)
        .unwrap_or_else(|e| panic!("cannot start the enforcing stack: {e}"))
}

/// A Python script under tests/clients/python with `--bootstrap` and `--registry` of `stack`.
pub fn python(stack: &EnforcedStack, script: &str) -> ClientRun {
    ClientRun::python(script)
        .unwrap_or_else(|e| panic!("{e}"))
        .args(["--bootstrap", &stack.bootstrap().to_string()])
        .args(["--registry", &stack.registry_url()])
        .timeout(Duration::from_secs(300))
}

/// Runs a client to completion and returns its JSON summary; on failure the test fails with
/// the client's output and the logs of proxy, registry and broker.
pub fn run(stack: &mut EnforcedStack, name: &str, run: ClientRun) -> Value {
    match run.run().and_then(|out| out.summary(name)) {
        Ok(summary) => summary,
        Err(e) => panic!("{e}\n{}", stack.diagnostics()),
    }
}

/// Runs a client to completion and returns its JSON summary, or the error as text (for a
/// client run on another thread while the test drives the stack).
pub fn run_summary(run: ClientRun, name: &str) -> Result<Value, String> {
    run.run()
        .and_then(|out| out.summary(name))
        .map_err(|e| e.to_string())
}

/// A scrape of the proxy's /metrics, or a test failure.
pub fn metrics(stack: &mut EnforcedStack) -> Metrics {
    match stack.metrics() {
        Ok(m) => m,
        Err(e) => panic!("cannot scrape /metrics: {e}\n{}", stack.diagnostics()),
    }
}

/// `schemagate_records_total{topic, outcome}` as an integer (0 when absent).
pub fn records(m: &Metrics, topic: &str, outcome: &str) -> u64 {
    sample(
        m,
        "schemagate_records_total",
        &[("topic", topic), ("outcome", outcome)],
    )
}

/// `schemagate_quarantined_total{topic, reason}` as an integer (0 when absent).
pub fn quarantined(m: &Metrics, topic: &str, reason: &str) -> u64 {
    sample(
        m,
        "schemagate_quarantined_total",
        &[("topic", topic), ("reason", reason)],
    )
}

/// One sample as an integer, failing on an ambiguous match.
pub fn sample(m: &Metrics, name: &str, labels: &[(&str, &str)]) -> u64 {
    m.value(name, labels)
        .unwrap_or_else(|| panic!("several {name} samples match {labels:?}:\n{}", m.text()))
        as u64
}

/// A quarantine policy for topics matching `glob` (value required, topic strategy).
pub fn policy(glob: &str, on_invalid: &str) -> String {
    format!(
        "[[topic]]\nmatch = \"{glob}\"\nvalue = \"required\"\nkey = \"off\"\nstrategy = \"topic\"\n\
         on_invalid = \"{on_invalid}\"\nquarantine = \"{{topic}}.quarantine\"\n"
    )
}
