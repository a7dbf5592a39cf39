//! Go clients through the proxy: franz-go (kgo with kadm) and sarama, from the `sgclients`
//! binary built out of `tests/clients/go`.
//!
//! Each run creates its own topic (3 partitions, replication factor 3), produces `RECORDS`
//! with acks=all, consumes them in a consumer group and commits, produces `MORE`, and a second
//! session of the same group must resume at the committed offsets. The binary matches every
//! delivered record by its unique value against the partition and offset the producer's
//! acknowledgement named; the test checks its counts exactly.

use std::time::Duration;

use schemagate_tests::{ClientRun, Stack};
use serde_json::Value;

use crate::support::{assert_proxy_addresses, number, run_client, start_stack, unique};

/// Records before the first group session.
const RECORDS: u64 = 3000;
/// Records before the second (resumed) session.
const MORE: u64 = 1000;
/// Partitions of each test's topic.
const PARTITIONS: usize = 3;

/// A topic name of this test's own (see [`unique`]).
fn unique_topic(test: &str) -> String {
    unique(test)
}

/// Runs `sgclients SUBCOMMAND [EXTRA...]` through the stack on a topic and group of its own.
fn run_go(stack: &mut Stack, subcommand: &str, test: &str, extra: &[&str]) -> Value {
    let topic = unique_topic(test);
    let run = ClientRun::go(subcommand)
        .unwrap_or_else(|e| panic!("{e}"))
        .args(["--bootstrap", &stack.bootstrap().to_string()])
        .args(["--topic", &topic])
        .args(["--group", &format!("{topic}-group")])
        .args(["--records", &RECORDS.to_string()])
        .args(["--more", &MORE.to_string()])
        .args(["--partitions", &PARTITIONS.to_string()])
        .args(["--replication-factor", "3"])
        .args(extra)
        // Each phase has 60 s inside the binary; this only catches a hang of the whole run.
        .timeout(Duration::from_secs(300));
    run_client(stack, &format!("sgclients {subcommand}"), run)
}

/// Both producers are idempotent with acks=all, so the counts are exact: every record is
/// acknowledged and delivered exactly once, where its acknowledgement said, and the second
/// session starts at the first session's commits.
fn assert_exactly_once(summary: &Value) {
    let total = RECORDS + MORE;
    // Both producers are idempotent (kgo by default, sarama configured so), so nothing is
    // excused: a non-idempotent run would report "at least once" and tolerate the duplicates
    // of retried produces, which would make the exact counts below meaningless.
    assert_eq!(summary["idempotent"], Value::Bool(true), "{summary}");
    assert_eq!(summary["delivery"], "exactly once", "{summary}");
    assert_eq!(number(summary, "produced"), total, "{summary}");
    assert_eq!(number(summary, "acked"), total, "{summary}");
    assert_eq!(number(summary, "produce_errors"), 0, "{summary}");
    assert_eq!(number(summary, "consumed"), total, "{summary}");
    assert_eq!(number(summary, "duplicates"), 0, "{summary}");
    assert_eq!(number(summary, "missing"), 0, "{summary}");
    assert_eq!(number(summary, "unexpected"), 0, "{summary}");
    assert_eq!(number(summary, "misplaced"), 0, "{summary}");
    // The first session saw only the first phase, the second only what came after its commit.
    assert_eq!(number(summary, "first_session"), RECORDS, "{summary}");
    assert_eq!(number(summary, "second_session"), MORE, "{summary}");
    // Committed offsets cover every record: offsets are dense (no transactions, so no
    // control records), so the sum of the end offsets is the number of records.
    assert_eq!(number(summary, "committed"), total, "{summary}");
    assert_eq!(number(summary, "end_offsets"), total, "{summary}");
    let resumed = summary["resumed"].as_array().cloned().unwrap_or_default();
    // 64 distinct keys spread the second phase over every partition.
    assert_eq!(resumed.len(), PARTITIONS, "{summary}");
    for r in &resumed {
        assert_eq!(
            number(r, "first"),
            number(r, "committed"),
            "second session did not resume at the commit: {r}"
        );
        assert!(number(r, "committed") > 0, "nothing was committed: {r}");
    }
    assert_eq!(number(summary, "resume_mismatches"), 0, "{summary}");
    assert_eq!(summary["ok"], Value::Bool(true), "{summary}");
}

/// Every address the client used or was told about is the proxy's: the brokers its metadata
/// listed (and that it connected to), each partition's leader and the group coordinator.
fn assert_only_proxy_addresses(stack: &Stack, client: &str, summary: &Value) {
    assert_proxy_addresses(stack, &format!("{client} brokers"), &summary["brokers"]);
    let leaders = summary["leaders"].as_array().map_or(0, Vec::len);
    assert_eq!(
        leaders, PARTITIONS,
        "{client}: one leader per partition: {summary}"
    );
    assert_proxy_addresses(stack, &format!("{client} leaders"), &summary["leaders"]);
    assert_proxy_addresses(
        stack,
        &format!("{client} group coordinator"),
        &summary["coordinators"],
    );
}

#[test]
fn franz_go_produces_idempotently_and_a_group_resumes_at_its_commits() {
    let mut stack = start_stack();
    let summary = run_go(&mut stack, "franz", "go-franz", &[]);
    assert_eq!(summary["group_protocol"], "classic", "{summary}");
    assert_exactly_once(&summary);
    assert_only_proxy_addresses(
        &stack,
        "franz-go (kadm ListBrokers, kgo connections)",
        &summary,
    );
}

#[test]
fn sarama_produces_idempotently_and_a_group_resumes_at_its_commits() {
    let mut stack = start_stack();
    let summary = run_go(&mut stack, "sarama", "go-sarama", &[]);
    assert_exactly_once(&summary);
    assert_only_proxy_addresses(
        &stack,
        "sarama (DescribeCluster, client.Brokers())",
        &summary,
    );
}

/// The same with KIP-848 groups (Kafka 4's "consumer" protocol): the broker assigns partitions
/// over ConsumerGroupHeartbeat, which must reach the coordinator through the proxy, and the
/// group is described with ConsumerGroupDescribe.
#[test]
fn franz_go_kip848_group_resumes_at_its_commits() {
    let mut stack = start_stack();
    let summary = run_go(
        &mut stack,
        "franz",
        "go-franz-kip848",
        &["--group-protocol", "consumer"],
    );
    assert_eq!(summary["group_protocol"], "consumer", "{summary}");
    assert_exactly_once(&summary);
    assert_only_proxy_addresses(&stack, "franz-go KIP-848 group", &summary);
}
