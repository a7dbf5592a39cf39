//! The registry is killed mid-stream and comes back: records with cached schemas keep flowing,
//! records with an uncached schema are retried by the client until it returns, and nothing is
//! quarantined by mistake.

use std::path::Path;
use std::thread::JoinHandle;
use std::time::Duration;

use schemagate_tests::{net, EnforcedStack, RegistryStore};
use serde_json::Value;

use crate::enforce_support::{
    metrics, number, policy, python, records, run_summary, sample, start_enforced,
};

const TOPIC: &str = "e2e-outage";
const RECORDS: u64 = 50;

type Client = JoinHandle<Result<Value, String>>;

/// Waits for the client's signal file `name`; fails when the client exits first or stalls.
fn wait_for(dir: &Path, name: &str, client: &Client) -> Result<(), String> {
    net::wait_until(Duration::from_secs(120), || {
        dir.join(name).exists() || client.is_finished()
    });
    match dir.join(name).exists() {
        true => Ok(()),
        false => Err(format!("the client never signalled '{name}'")),
    }
}

fn signal(dir: &Path, name: &str) -> Result<(), String> {
    std::fs::write(dir.join(name), b"1").map_err(|e| format!("writing signal {name}: {e}"))
}

/// The test's half of the script's protocol: kill the registry once the proxy has cached id
/// A, wait until the proxy answers the uncached id B with a retriable error, bring it back.
fn drive_outage(stack: &mut EnforcedStack, dir: &Path, client: &Client) -> Result<(), String> {
    wait_for(dir, "warm", client)?;
    stack.registry_mut().stop().map_err(|e| e.to_string())?;
    signal(dir, "registry-down")?;
    wait_for(dir, "uncached-sent", client)?;
    let labels = [("topic", TOPIC), ("cause", "registry")];
    let retried = net::wait_until(Duration::from_secs(30), || {
        stack.metrics().is_ok_and(|m| {
            m.value("schemagate_retriable_total", &labels)
                .is_some_and(|v| v > 0.0)
        })
    });
    if !retried {
        return Err("the proxy gave no retriable answer while the registry was down".into());
    }
    // Let the client retry a while against the dead registry before it returns.
    std::thread::sleep(Duration::from_secs(2));
    // Signalled first: from here on the client may see its waiting records acknowledged.
    signal(dir, "registry-up")?;
    stack.registry_mut().restart().map_err(|e| e.to_string())
}

#[test]
fn a_registry_outage_quarantines_nothing_and_uncached_records_arrive_after_it() {
    // The Kafka-backed store replays `_schemas` on restart, so ids survive the outage.
    let mut stack = start_enforced(&policy("e2e-*", "quarantine"), RegistryStore::Kafka);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("signal dir: {e}"));
    let run = python(&stack, "enforce_outage.py")
        .arg("--signal-dir")
        .arg(dir.path())
        .args(["--records", &RECORDS.to_string()]);
    let client: Client = std::thread::spawn(move || run_summary(run, "enforce_outage.py"));
    let driven = drive_outage(&mut stack, dir.path(), &client);
    let joined = client
        .join()
        .unwrap_or_else(|_| Err("the client thread panicked".into()));
    let summary = match (driven, joined) {
        (Ok(()), Ok(summary)) => summary,
        (driven, joined) => panic!(
            "test driver: {driven:?}\nclient: {}\n{}",
            joined.err().unwrap_or_default(),
            stack.diagnostics()
        ),
    };

    let total = 4 * RECORDS;
    assert_eq!(number(&summary, "acked"), total, "{summary}");
    assert_eq!(number(&summary, "on_topic"), total, "{summary}");
    assert_eq!(number(&summary, "quarantined"), 0, "{summary}");
    assert_eq!(
        number(&summary, "cached_while_down"),
        2 * RECORDS,
        "{summary}"
    );
    assert_eq!(number(&summary, "uncached"), RECORDS, "{summary}");
    let m = metrics(&mut stack);
    // Each record counted once, as valid: retried requests are answered before judging.
    assert_eq!(records(&m, TOPIC, "valid"), total, "{}", m.text());
    for outcome in ["quarantined", "rejected", "audited"] {
        assert_eq!(records(&m, TOPIC, outcome), 0, "{outcome}\n{}", m.text());
    }
    assert_eq!(
        m.sum("schemagate_quarantined_total", &[]),
        0.0,
        "{}",
        m.text()
    );
    let labels = [("topic", TOPIC), ("cause", "registry")];
    assert!(
        sample(&m, "schemagate_retriable_total", &labels) > 0,
        "{}",
        m.text()
    );
}
