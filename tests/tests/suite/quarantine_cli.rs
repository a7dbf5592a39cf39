//! `schemagate quarantine list|show|replay` against real parts: Apache Kafka, `schemagate registry
//! --store memory`, the enforcing `schemagate proxy`, and rdkafka producing bad records
//! through it. The quarantine records are the proxy's own, never written by the test.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use futures::executor::block_on;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders, Timestamp};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use schemagate_tests::process::Server;
use schemagate_tests::{env, net, Broker};
use serde_json::{json, Value};

const TOPIC: &str = "orders";
const QUARANTINE: &str = "orders.quarantine";
const CLIENT_ID: &str = "qcli-test";
const ORDER: &str = r#"{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"long"},{"name":"item","type":"string"}]}"#;
/// Protobuf, so `show --registry` labels the message indexes.
const OTHER: &str = "syntax = \"proto3\"; package shop; message Other { int32 n = 1; }";
const MISMATCH_TS: i64 = 1_700_000_000_000;

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

/// One HTTP/1.1 request with a JSON body; returns status and body.
fn http(addr: SocketAddr, method: &str, path: &str, body: &Value) -> (u16, Value) {
    let body = body.to_string();
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("registry {addr}: {e}"));
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/vnd.schemaregistry.v1+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(request.as_bytes())
        .unwrap_or_else(|e| panic!("write: {e}"));
    let mut response = String::new();
    s.read_to_string(&mut response)
        .unwrap_or_else(|e| panic!("read: {e}"));
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {response:?}"));
    let text = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, serde_json::from_str(text).unwrap_or(Value::Null))
}

fn register(registry: SocketAddr, subject: &str, schema_type: &str, schema: &str) -> u32 {
    let (status, body) = http(
        registry,
        "POST",
        &format!("/subjects/{subject}/versions"),
        &json!({ "schemaType": schema_type, "schema": schema }),
    );
    assert_eq!(status, 200, "registering under {subject}: {body}");
    body["id"]
        .as_u64()
        .and_then(|i| u32::try_from(i).ok())
        .unwrap_or_else(|| panic!("no id in {body}"))
}

fn start_registry() -> (Server, SocketAddr) {
    let addr = SocketAddr::from(([127, 0, 0, 1], free(net::free_port())));
    let mut cmd = Command::new(bin());
    cmd.args([
        "registry",
        "--listen",
        &addr.to_string(),
        "--store",
        "memory",
    ]);
    let mut server =
        Server::spawn("schemagate-registry", cmd).unwrap_or_else(|e| panic!("registry: {e}"));
    server
        .wait_for_listener(addr, Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{e}"));
    (server, addr)
}

fn start_proxy(broker: &Broker, registry: SocketAddr, policy: &str) -> (Server, SocketAddr) {
    let listen = SocketAddr::from(([127, 0, 0, 1], free(net::free_port_range(4))));
    let mut cmd = Command::new(bin());
    cmd.arg("proxy");
    for addr in broker.addrs() {
        cmd.args(["--upstream", &addr.to_string()]);
    }
    cmd.args(["--listen", &listen.to_string()])
        .args(["--advertised-host", "127.0.0.1"])
        .args(["--registry", &format!("http://{registry}")])
        .args(["--policy", policy]);
    let mut server = Server::spawn("schemagate-proxy", cmd).unwrap_or_else(|e| panic!("{e}"));
    server
        .wait_for_listener(listen, Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{e}"));
    (server, listen)
}

fn free<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

fn bin() -> std::path::PathBuf {
    free(env::schemagate_bin())
}

fn create_topic(bootstrap: SocketAddr, topic: &str) {
    create_topic_with(bootstrap, topic, 1);
}

fn create_topic_with(bootstrap: SocketAddr, topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap.to_string())
        .create()
        .unwrap_or_else(|e| panic!("admin: {e}"));
    let results = block_on(admin.create_topics(
        &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
        &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
    ))
    .unwrap_or_else(|e| panic!("create {topic}: {e}"));
    for r in results {
        r.unwrap_or_else(|(t, e)| panic!("create {t}: {e}"));
    }
}

/// Produces each record through the proxy, one at a time so quarantine order is send order.
fn produce(proxy: SocketAddr, records: &[Sent]) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", proxy.to_string())
        .set("client.id", CLIENT_ID)
        .set("linger.ms", "0")
        .create()
        .unwrap_or_else(|e| panic!("producer: {e}"));
    for (i, r) in records.iter().enumerate() {
        let mut headers = OwnedHeaders::new();
        for (key, value) in &r.headers {
            headers = headers.insert(Header { key, value: *value });
        }
        let mut fr = FutureRecord::to(TOPIC)
            .key(r.key)
            .payload(&r.value)
            .headers(headers);
        if let Some(ts) = r.timestamp {
            fr = fr.timestamp(ts);
        }
        block_on(producer.send(fr, Duration::from_secs(30)))
            .unwrap_or_else(|(e, _)| panic!("record {i} not acknowledged: {e}"));
    }
}

/// Runs `schemagate quarantine ARGS` to completion.
fn quarantine(args: &[&str]) -> Output {
    Command::new(bin())
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
fn consume_all(
    broker: SocketAddr,
    topic: &str,
    expected: usize,
) -> Vec<rdkafka::message::OwnedMessage> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.to_string())
        .set("group.id", "qcli-check")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap_or_else(|e| panic!("consumer: {e}"));
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
fn list_show_and_replay_the_proxys_quarantine() {
    let broker = free(Broker::shared());
    let b = broker.addr().to_string();
    let (registry, reg) = start_registry();
    let order_id = register(reg, "orders-value", "AVRO", ORDER);
    let other_id = register(reg, "other-value", "PROTOBUF", OTHER);
    let policy = free(tempfile::NamedTempFile::new());
    free(std::fs::write(
        policy.path(),
        format!("[[topic]]\nmatch = \"{TOPIC}\"\nvalue = \"required\"\non_invalid = \"quarantine\"\nquarantine = \"{QUARANTINE}\"\n"),
    ));
    let policy_path = policy.path().to_string_lossy().into_owned();
    let (_proxy, proxy_addr) = start_proxy(&broker, reg, &policy_path);
    create_topic(broker.addr(), TOPIC);

    let good = framed(order_id, &[0x54, 0x06, b'a', b'b', b'c']);
    // Message indexes [0] (one byte 0), then field 1 (n) = 1.
    let mismatch_value = framed(other_id, &[0x00, 0x08, 0x01]);
    let records = [
        Sent {
            key: b"k0",
            value: good.clone(),
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
            value: mismatch_value.clone(),
            headers: vec![("h", Some(b"v"))],
            timestamp: Some(MISMATCH_TS),
        },
    ];
    produce(proxy_addr, &records);

    // list, as JSON and as a table.
    let report: Value = free(serde_json::from_str(&ok_stdout(&[
        "list",
        "--bootstrap",
        &b,
        "--topic",
        QUARANTINE,
        "--json",
    ])));
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
    assert_eq!(id_of("decode-failed"), Some(json!(order_id)));
    assert_eq!(id_of("subject-mismatch"), Some(json!(other_id)));
    assert_eq!(id_of("unknown-schema-id"), Some(json!(9999)));
    assert_eq!(id_of("no-magic-byte"), Some(Value::Null));

    let table = ok_stdout(&["list", "--bootstrap", &b, "--topic", QUARANTINE]);
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

    // show, by index and by offset.
    let shown = ok_stdout(&[
        "show",
        "--bootstrap",
        &b,
        "--topic",
        QUARANTINE,
        "--index",
        "4",
        "--registry",
        &format!("http://{reg}"),
    ]);
    for want in [
        "offset     4\n",
        &format!("timestamp  {MISMATCH_TS} (2023-11-14T22:13:20.000Z, create time)\n"),
        "key        \"k5\"\n",
        "headers    1 from the client, 6 from schemagate\n",
        "  schemagate.reason     \"subject-mismatch\"\n",
        &format!("  schemagate.schema-id  \"{other_id}\"\n"),
        &format!("  schemagate.client-id  \"{CLIENT_ID}\"\n"),
        "  schemagate.topic      \"orders\"\n",
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
    let first = ok_stdout(&[
        "show",
        "--bootstrap",
        &b,
        "--topic",
        QUARANTINE,
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
    let beyond = quarantine(&[
        "show",
        "--bootstrap",
        &b,
        "--topic",
        QUARANTINE,
        "--index",
        "5",
    ]);
    assert_eq!(beyond.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&beyond.stderr).contains("holds 5 records"));

    // replay: nothing passes yet; then the registry learns that OTHER belongs to orders-value.
    let url = format!("http://{reg}");
    let replay = |extra: &[&str]| {
        let mut args = vec![
            "replay",
            "--bootstrap",
            &b,
            "--topic",
            QUARANTINE,
            "--to",
            TOPIC,
            "--registry",
            &url,
            "--policy",
            &policy_path,
            "--json",
        ];
        args.extend_from_slice(extra);
        let out = quarantine(&args);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stdout, stderr) = replay(&["--dry-run"]);
    assert_eq!(code, Some(0), "{stderr}");
    let r: Value = free(serde_json::from_str(&stdout));
    assert_eq!(
        (
            r["read"].clone(),
            r["passed"].clone(),
            r["produced"].clone()
        ),
        (json!(5), json!(0), json!(0)),
        "{r}"
    );
    assert_eq!(r["still_failing"]["subject-mismatch"], 1, "{r}");

    let (status, body) = http(
        reg,
        "PUT",
        "/config/orders-value",
        &json!({"compatibility": "NONE"}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        register(reg, "orders-value", "PROTOBUF", OTHER),
        other_id,
        "same schema, same id"
    );

    let (code, stdout, stderr) = replay(&["--dry-run"]);
    assert_eq!(code, Some(0), "{stderr}");
    let r: Value = free(serde_json::from_str(&stdout));
    assert_eq!(
        (r["passed"].clone(), r["produced"].clone()),
        (json!(1), json!(0)),
        "{r}"
    );
    assert_eq!(
        r["still_failing"],
        json!({"decode-failed": 1, "no-magic-byte": 1, "too-short": 1, "unknown-schema-id": 1}),
        "{r}"
    );

    let (code, stdout, stderr) = replay(&[]);
    assert_eq!(code, Some(0), "{stderr}");
    let r: Value = free(serde_json::from_str(&stdout));
    assert_eq!(
        (
            r["read"].clone(),
            r["passed"].clone(),
            r["produced"].clone()
        ),
        (json!(5), json!(1), json!(1)),
        "{r}"
    );

    let on_topic = consume_all(broker.addr(), TOPIC, 2);
    assert_eq!(on_topic.len(), 2, "the good record and the replayed one");
    let first_value = on_topic
        .first()
        .and_then(|m| m.payload().map(<[u8]>::to_vec));
    assert_eq!(
        first_value,
        Some(good),
        "the good record passed the proxy unchanged"
    );
    let replayed = on_topic
        .get(1)
        .unwrap_or_else(|| panic!("no replayed record"));
    assert_eq!(replayed.key(), Some(&b"k5"[..]));
    assert_eq!(replayed.payload(), Some(mismatch_value.as_slice()));
    assert_eq!(replayed.timestamp(), Timestamp::CreateTime(MISMATCH_TS));
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

    // A registry that is gone stops the replay with exit 2 and judges nothing.
    drop(registry);
    let (code, stdout, stderr) = replay(&[]);
    assert_eq!(code, Some(2), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.is_empty(), "no report on stdout: {stdout}");
    assert!(stderr.contains("registry did not answer"), "{stderr}");
}

#[test]
fn list_reports_empty_and_missing_topics() {
    let broker = free(Broker::shared());
    let b = broker.addr().to_string();
    create_topic(broker.addr(), "empty.quarantine");
    let stdout = ok_stdout(&["list", "--bootstrap", &b, "--topic", "empty.quarantine"]);
    assert_eq!(stdout, "quarantine topic empty.quarantine is empty\n");
    let json: Value = free(serde_json::from_str(&ok_stdout(&[
        "list",
        "--bootstrap",
        &b,
        "--topic",
        "empty.quarantine",
        "--json",
    ])));
    assert_eq!(
        (json["total"].clone(), json["groups"].clone()),
        (json!(0), json!([]))
    );

    // Records that share one batch are all read, on every partition (tansu, the light broker,
    // reports a high watermark of the last batch's base offset + 1, so the reader must not stop
    // there).
    create_topic_with(broker.addr(), "batched.quarantine", 2);
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", b.as_str())
        .set("linger.ms", "200")
        .create()
        .unwrap_or_else(|e| panic!("producer: {e}"));
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
                FutureRecord::to("batched.quarantine")
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
    let json: Value = free(serde_json::from_str(&ok_stdout(&[
        "list",
        "--bootstrap",
        &b,
        "--topic",
        "batched.quarantine",
        "--json",
    ])));
    assert_eq!(json["total"], 7, "{json}");
    let last = ok_stdout(&[
        "show",
        "--bootstrap",
        &b,
        "--topic",
        "batched.quarantine",
        "--index",
        "6",
    ]);
    assert!(last.contains("partition  1\noffset     2\n"), "{last}");

    let missing = quarantine(&["list", "--bootstrap", &b, "--topic", "no.such.topic"]);
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(missing.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("topic no.such.topic does not exist"),
        "{stderr}"
    );
}
