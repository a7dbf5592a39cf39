//! `schemagate quarantine list|show|replay` against real parts: Apache Kafka, `schemagate registry
//! --store memory`, the enforcing `schemagate proxy`, and rdkafka producing bad records
//! through it. The quarantine records are the proxy's own, never written by the test (except
//! in the reader tests for empty, batched and missing topics).

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use futures::executor::block_on;
use rdkafka::admin::TopicReplication;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders, OwnedMessage, Timestamp};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use schemagate_tests::topics::{self, unique};
use schemagate_tests::{env, Broker, EnforcedStack, RegistryStore};
use serde_json::{json, Value};

use crate::enforce_support::{policy, start_enforced};

const CLIENT_ID: &str = "qcli-test";
const ORDER: &str = r#"{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"long"},{"name":"item","type":"string"}]}"#;
/// Protobuf, so `show --registry` labels the message indexes.
const OTHER: &str = "syntax = \"proto3\"; package shop; message Other { int32 n = 1; }";

/// The mismatched record's timestamp: the last whole hour, in ms. Recent on purpose: a fixed
/// 2023 timestamp is past the brokers' 7-day retention, so a retention check (every 5 minutes)
/// could delete the quarantine copy this file reads before it reads it.
/// Computed once per process, so the send and the checks agree across an hour's turn.
fn mismatch_ts() -> i64 {
    static TS: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *TS.get_or_init(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        (now / 3600 - 1) * 3600 * 1000
    })
}

/// `ms` as `schemagate quarantine show` prints it: `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn utc(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .unwrap_or_else(|e| panic!("{e}"));
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        ms.rem_euclid(1000)
    )
}

#[test]
fn utc_prints_as_the_cli_does() {
    assert_eq!(utc(1_700_000_000_000), "2023-11-14T22:13:20.000Z");
    assert_eq!(utc(1_700_000_000_042), "2023-11-14T22:13:20.042Z");
}

/// One record to produce: key, value, headers, timestamp.
struct Sent {
    key: &'static [u8],
    value: Vec<u8>,
    headers: Vec<(&'static str, Option<&'static [u8]>)>,
    timestamp: Option<i64>,
}

fn framed(id: u32, body: &[u8]) -> Vec<u8> {
    let mut v = vec![0];
    v.extend_from_slice(&id.to_be_bytes());
    v.extend_from_slice(body);
    v
}

fn free<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

/// An enforcing stack whose proxy has quarantined five of six records sent to a topic of the
/// test's own: one of each reason (no magic byte, too short, unknown id, decode failed,
/// subject mismatch) after one good record.
struct Quarantined {
    stack: EnforcedStack,
    topic: String,
    quarantine: String,
    /// The broker (node 1), where the quarantine command reads.
    bootstrap: String,
    order_id: u32,
    other_id: u32,
    /// The good record (passes the proxy).
    good: Vec<u8>,
    /// The subject-mismatch record (quarantine index 4; passes once the registry learns it).
    mismatch: Vec<u8>,
}

impl Quarantined {
    fn start(test: &str) -> Self {
        let topic = unique(test);
        let stack = start_enforced(&policy(&topic, "quarantine"), RegistryStore::Memory);
        let order_id = free(
            stack
                .registry()
                .register(&format!("{topic}-value"), "AVRO", ORDER),
        );
        let other_id = free(stack.registry().register("other-value", "PROTOBUF", OTHER));
        free(topics::create(
            &stack.broker().addr().to_string(),
            &topic,
            1,
            TopicReplication::Fixed(1),
        ));
        let mut q = Self {
            bootstrap: stack.broker().addr().to_string(),
            quarantine: format!("{topic}.quarantine"),
            topic,
            stack,
            order_id,
            other_id,
            good: framed(order_id, &[0x54, 0x06, b'a', b'b', b'c']),
            // Message indexes [0] (one byte 0), then field 1 (n) = 1.
            mismatch: framed(other_id, &[0x00, 0x08, 0x01]),
        };
        let records = [
            Sent {
                key: b"k0",
                value: q.good.clone(),
                headers: vec![("trace", Some(b"t0"))],
                timestamp: None,
            },
            Sent {
                key: b"k1",
                value: br#"{"id":1}"#.to_vec(),
                headers: vec![("dup", Some(b"one")), ("nul", None), ("dup", Some(b"two"))],
                timestamp: None,
            },
            Sent {
                key: b"k2",
                value: vec![0, 0],
                headers: Vec::new(),
                timestamp: None,
            },
            Sent {
                key: b"k3",
                value: framed(9999, &[0x02]),
                headers: Vec::new(),
                timestamp: None,
            },
            Sent {
                key: b"k4",
                value: framed(order_id, &[0x54, 0x06, b'a']),
                headers: Vec::new(),
                timestamp: None,
            },
            Sent {
                key: b"k5",
                value: q.mismatch.clone(),
                headers: vec![("h", Some(b"v"))],
                timestamp: Some(mismatch_ts()),
            },
        ];
        q.produce(&records);
        q
    }

    /// Produces each record through the proxy, one at a time so quarantine order is send order.
    fn produce(&mut self, records: &[Sent]) {
        let producer: FutureProducer = free(
            ClientConfig::new()
                .set("bootstrap.servers", self.stack.bootstrap().to_string())
                .set("client.id", CLIENT_ID)
                .set("linger.ms", "0")
                .create(),
        );
        for (i, r) in records.iter().enumerate() {
            let mut headers = OwnedHeaders::new();
            for (key, value) in &r.headers {
                headers = headers.insert(Header { key, value: *value });
            }
            let mut record = FutureRecord::to(&self.topic)
                .key(r.key)
                .payload(&r.value)
                .headers(headers);
            if let Some(ts) = r.timestamp {
                record = record.timestamp(ts);
            }
            if let Err((e, _)) = block_on(producer.send(record, Duration::from_secs(30))) {
                panic!(
                    "record {i} not acknowledged: {e}\n{}",
                    self.stack.diagnostics()
                );
            }
        }
    }

    /// `schemagate quarantine replay` of the quarantine topic to the topic, judged with the
    /// proxy's registry and policy: exit code, stdout and stderr.
    fn replay(&self, extra: &[&str]) -> (Option<i32>, String, String) {
        let url = self.stack.registry_url();
        let policy = self.stack.policy_path().to_string_lossy().into_owned();
        let mut args = vec![
            "replay",
            "--bootstrap",
            &self.bootstrap,
            "--topic",
            &self.quarantine,
            "--to",
            &self.topic,
            "--registry",
            &url,
            "--policy",
            &policy,
            "--json",
        ];
        args.extend_from_slice(extra);
        let out = quarantine(&args);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// A successful replay's JSON report.
    fn replay_report(&self, extra: &[&str]) -> Value {
        let (code, stdout, stderr) = self.replay(extra);
        assert_eq!(code, Some(0), "{stderr}");
        free(serde_json::from_str(&stdout))
    }
}

/// `schemagate quarantine list --json` of `topic`: the report.
fn list_json(bootstrap: &str, topic: &str) -> Value {
    let args = ["list", "--bootstrap", bootstrap, "--topic", topic, "--json"];
    free(serde_json::from_str(&ok_stdout(&args)))
}

/// A topic of the test's own named after `name`, with `partitions` partitions, made straight on
/// the shared cluster (no proxy): the broker address the quarantine command reads from, and the
/// topic.
fn topic_on_the_broker(name: &str, partitions: i32) -> (String, String) {
    let b = free(Broker::shared()).addr().to_string();
    let topic = unique(name);
    free(topics::create(
        &b,
        &topic,
        partitions,
        TopicReplication::Fixed(1),
    ));
    (b, topic)
}

/// The named fields of a replay report, as numbers (`None` for a field that is not one).
fn numbers(report: &Value, fields: &[&str]) -> Vec<Option<u64>> {
    fields.iter().map(|f| report[*f].as_u64()).collect()
}

/// Runs `schemagate quarantine ARGS` to completion.
fn quarantine(args: &[&str]) -> Output {
    Command::new(free(env::schemagate_bin()))
        .arg("quarantine")
        .args(args)
        .env_remove("LD_LIBRARY_PATH")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap_or_else(|e| panic!("running schemagate quarantine: {e}"))
}

fn ok_stdout(args: &[&str]) -> String {
    let out = quarantine(args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?}\nstdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Reads every record of partition 0 of `topic` straight from the broker.
pub(crate) fn consume_all(broker: &str, topic: &str, expected: usize) -> Vec<OwnedMessage> {
    let consumer: BaseConsumer = free(
        ClientConfig::new()
            .set("bootstrap.servers", broker)
            .set("group.id", "qcli-check")
            .set("enable.auto.commit", "false")
            .create(),
    );
    let mut tpl = TopicPartitionList::new();
    free(tpl.add_partition_offset(topic, 0, Offset::Beginning));
    free(consumer.assign(&tpl));
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while got.len() < expected && Instant::now() < deadline {
        if let Some(m) = consumer.poll(Duration::from_millis(200)) {
            got.push(free(m).detach());
        }
    }
    // A little longer, to see records that should not be there.
    let settle = Instant::now() + Duration::from_secs(2);
    while Instant::now() < settle {
        if let Some(m) = consumer.poll(Duration::from_millis(200)) {
            got.push(free(m).detach());
        }
    }
    got
}

#[test]
fn list_counts_the_proxys_quarantine_by_reason_schema_and_client() {
    let q = Quarantined::start("qcli-list");
    let (b, other_id) = (q.bootstrap.as_str(), q.other_id);

    // As JSON.
    let report = list_json(b, &q.quarantine);
    assert_eq!(report["total"], 5, "{report}");
    assert_eq!(
        report["by_reason"],
        json!({"decode-failed": 1, "no-magic-byte": 1, "subject-mismatch": 1,
               "too-short": 1, "unknown-schema-id": 1}),
        "{report}"
    );
    let groups = report["groups"].as_array().cloned().unwrap_or_default();
    assert_eq!(groups.len(), 5, "{report}");
    assert!(
        groups.iter().all(|g| g["client_id"] == CLIENT_ID),
        "{report}"
    );
    let id_of = |reason: &str| {
        groups
            .iter()
            .find(|g| g["reason"] == reason)
            .map(|g| g["schema_id"].clone())
    };
    assert_eq!(id_of("decode-failed"), Some(json!(q.order_id)));
    assert_eq!(id_of("subject-mismatch"), Some(json!(other_id)));
    assert_eq!(id_of("unknown-schema-id"), Some(json!(9999)));
    assert_eq!(id_of("no-magic-byte"), Some(Value::Null));

    // As a table.
    let table = ok_stdout(&["list", "--bootstrap", b, "--topic", &q.quarantine]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines
            .first()
            .is_some_and(|l| l.starts_with("REASON") && l.ends_with("COUNT")),
        "{table}"
    );
    let row = lines
        .iter()
        .find(|l| l.starts_with("subject-mismatch"))
        .unwrap_or_else(|| panic!("{table}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cells,
        ["subject-mismatch", &other_id.to_string(), CLIENT_ID, "1"],
        "{table}"
    );
    assert_eq!(
        lines
            .last()
            .map(|l| l.split_whitespace().collect::<Vec<_>>()),
        Some(vec!["total", "5"])
    );
}

#[test]
fn show_prints_a_quarantined_record_by_index_and_by_offset() {
    let q = Quarantined::start("qcli-show");
    let (b, other_id) = (q.bootstrap.as_str(), q.other_id);

    // By index, with the registry naming the message indexes.
    let shown = ok_stdout(&[
        "show",
        "--bootstrap",
        b,
        "--topic",
        &q.quarantine,
        "--index",
        "4",
        "--registry",
        &q.stack.registry_url(),
    ]);
    for want in [
        "offset     4\n",
        &format!(
            "timestamp  {} ({}, create time)\n",
            mismatch_ts(),
            utc(mismatch_ts())
        ),
        "key        \"k5\"\n",
        "headers    1 from the client, 6 from schemagate\n",
        "  schemagate.reason     \"subject-mismatch\"\n",
        &format!("  schemagate.schema-id  \"{other_id}\"\n"),
        &format!("  schemagate.client-id  \"{CLIENT_ID}\"\n"),
        &format!("  schemagate.topic      \"{}\"\n", q.topic),
        "value      8 bytes, first 8 shown\n",
        "magic byte 0x00\n",
        &format!("schema id {other_id}\n"),
        "0005  00 ",
        "message indexes [0]\n",
        "0006  08 01 ",
        "payload (2 bytes)\n",
    ] {
        assert!(shown.contains(want), "missing {want:?} in\n{shown}");
    }

    // By partition and offset: the client's headers in order, duplicates and nulls kept.
    let first = ok_stdout(&[
        "show",
        "--bootstrap",
        b,
        "--topic",
        &q.quarantine,
        "--offset",
        "0",
        "--partition",
        "0",
    ]);
    assert!(first.contains("  dup                   \"one\"\n  nul                   null\n  dup                   \"two\"\n"), "{first}");
    assert!(
        first.contains("not a Confluent frame: first byte is 0x7b, not the magic byte 0x00"),
        "{first}"
    );

    // An index past the end is a usage error that says how many records there are.
    let beyond = quarantine(&[
        "show",
        "--bootstrap",
        b,
        "--topic",
        &q.quarantine,
        "--index",
        "5",
    ]);
    assert_eq!(beyond.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&beyond.stderr).contains("holds 5 records"));
}

#[test]
fn replay_sends_back_what_the_registry_now_accepts() {
    let q = Quarantined::start("qcli-replay");

    // Nothing passes yet.
    let r = q.replay_report(&["--dry-run"]);
    assert_eq!(
        numbers(&r, &["read", "passed", "produced"]),
        [Some(5), Some(0), Some(0)],
        "{r}"
    );
    assert_eq!(r["still_failing"]["subject-mismatch"], 1, "{r}");

    // The registry learns that OTHER belongs to the topic's subject.
    let subject = format!("{}-value", q.topic);
    let (status, body) = free(q.stack.registry().put(
        &format!("/config/{subject}"),
        r#"{"compatibility": "NONE"}"#,
    ));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        free(q.stack.registry().register(&subject, "PROTOBUF", OTHER)),
        q.other_id,
        "same schema, same id"
    );

    let r = q.replay_report(&["--dry-run"]);
    assert_eq!(
        numbers(&r, &["passed", "produced"]),
        [Some(1), Some(0)],
        "{r}"
    );
    assert_eq!(
        r["still_failing"],
        json!({"decode-failed": 1, "no-magic-byte": 1, "too-short": 1, "unknown-schema-id": 1}),
        "{r}"
    );

    let r = q.replay_report(&[]);
    assert_eq!(
        numbers(&r, &["read", "passed", "produced"]),
        [Some(5), Some(1), Some(1)],
        "{r}"
    );

    let on_topic = consume_all(&q.bootstrap, &q.topic, 2);
    assert_eq!(on_topic.len(), 2, "the good record and the replayed one");
    let first_value = on_topic
        .first()
        .and_then(|m| m.payload().map(<[u8]>::to_vec));
    assert_eq!(
        first_value,
        Some(q.good.clone()),
        "the good record passed the proxy unchanged"
    );
    let replayed = on_topic
        .get(1)
        .unwrap_or_else(|| panic!("no replayed record"));
    assert_eq!(replayed.key(), Some(&b"k5"[..]));
    assert_eq!(replayed.payload(), Some(q.mismatch.as_slice()));
    assert_eq!(replayed.timestamp(), Timestamp::CreateTime(mismatch_ts()));
    let headers: Vec<(String, Option<Vec<u8>>)> = replayed.headers().map_or_else(Vec::new, |h| {
        h.iter()
            .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
            .collect()
    });
    assert_eq!(
        headers,
        vec![("h".to_string(), Some(b"v".to_vec()))],
        "schemagate.* headers dropped"
    );
}

#[test]
fn replay_stops_with_exit_2_and_judges_nothing_when_the_registry_is_gone() {
    let mut q = Quarantined::start("qcli-replay-gone");
    free(q.stack.registry_mut().stop());
    let (code, stdout, stderr) = q.replay(&[]);
    assert_eq!(code, Some(2), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.is_empty(), "no report on stdout: {stdout}");
    assert!(stderr.contains("registry did not answer"), "{stderr}");
}

#[test]
fn list_reports_an_empty_topic() {
    let (b, topic) = topic_on_the_broker("empty.quarantine", 1);
    let stdout = ok_stdout(&["list", "--bootstrap", &b, "--topic", &topic]);
    assert_eq!(stdout, format!("quarantine topic {topic} is empty\n"));
    let json = list_json(&b, &topic);
    assert_eq!(
        (json["total"].clone(), json["groups"].clone()),
        (json!(0), json!([]))
    );
}

/// Records that share one batch are all read, on every partition (tansu, the light broker,
/// reports a high watermark of the last batch's base offset + 1, so the reader must not stop
/// there).
#[test]
fn list_and_show_read_every_record_of_a_batch_on_every_partition() {
    let (b, topic) = topic_on_the_broker("batched.quarantine", 2);
    let producer: FutureProducer = free(
        ClientConfig::new()
            .set("bootstrap.servers", b.as_str())
            .set("linger.ms", "200")
            .create(),
    );
    let keys: Vec<String> = (0..7).map(|i| format!("k{i}")).collect();
    let sends: Vec<_> = (0i32..)
        .zip(&keys)
        .map(|(i, key)| {
            let client = if i % 2 == 0 { "c0" } else { "c1" };
            let headers = OwnedHeaders::new()
                .insert(Header {
                    key: "schemagate.reason",
                    value: Some("too-short"),
                })
                .insert(Header {
                    key: "schemagate.client-id",
                    value: Some(client),
                });
            producer.send(
                FutureRecord::to(&topic)
                    .partition(i % 2)
                    .key(key.as_str())
                    .payload(&[0u8][..])
                    .headers(headers),
                Duration::from_secs(30),
            )
        })
        .collect();
    for s in block_on(futures::future::join_all(sends)) {
        s.unwrap_or_else(|(e, _)| panic!("produce: {e}"));
    }
    let json = list_json(&b, &topic);
    assert_eq!(json["total"], 7, "{json}");
    let last = ok_stdout(&["show", "--bootstrap", &b, "--topic", &topic, "--index", "6"]);
    assert!(last.contains("partition  1\noffset     2\n"), "{last}");
}

#[test]
fn list_fails_with_exit_2_on_a_missing_topic() {
    let broker = free(Broker::shared());
    let b = broker.addr().to_string();
    let topic = unique("no.such.topic");
    let missing = quarantine(&["list", "--bootstrap", &b, "--topic", &topic]);
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(missing.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("topic {topic} does not exist")),
        "{stderr}"
    );
}
