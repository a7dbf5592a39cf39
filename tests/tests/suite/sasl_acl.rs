//! SASL passed through the proxy unchanged, and identity: against an Apache Kafka node whose
//! client listener requires SASL and whose `StandardAuthorizer` denies what no ACL allows.
//!
//! - A client authenticated as `bob`, with no WRITE on a topic, gets TOPIC_AUTHORIZATION_FAILED
//!   through the proxy exactly as it does direct; `alice`, who has WRITE, produces.
//! - The quarantine producer authenticates as the proxy's own principal (`-X sasl.*`). Without
//!   its ACLs the client gets a retriable error and nothing is lost; once they are granted the
//!   client's retry lands the bad record in quarantine.
//! - The registry's Kafka store runs as its own principal.

use std::time::Duration;

use futures::executor::block_on;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord};
use schemagate_tests::kafka::acl::{Acl, Operation, Resource};
use schemagate_tests::kafka::Sasl;
use schemagate_tests::{KafkaCluster, KafkaConfig, Proxy, Registry};

const USERS: &[(&str, &str)] = &[
    ("alice", "alice-secret"),
    ("bob", "bob-secret"),
    ("sgproxy", "sgproxy-secret"),
    ("registry", "registry-secret"),
];

fn sasl_cluster() -> KafkaCluster {
    let mut config = KafkaConfig::nodes(1);
    config.sasl = Some(Sasl {
        users: USERS
            .iter()
            .map(|(u, p)| ((*u).to_owned(), (*p).to_owned()))
            .collect(),
        acls: true,
        super_users: Vec::new(),
    });
    KafkaCluster::start(config).unwrap_or_else(|e| panic!("{e}"))
}

fn password(user: &str) -> &'static str {
    USERS
        .iter()
        .find(|(u, _)| *u == user)
        .map(|(_, p)| *p)
        .unwrap_or_else(|| panic!("no user {user}"))
}

/// librdkafka settings for `user` with SASL PLAIN.
fn as_user(bootstrap: &str, user: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("security.protocol", "SASL_PLAINTEXT")
        .set("sasl.mechanism", "PLAIN")
        .set("sasl.username", user)
        .set("sasl.password", password(user));
    c
}

/// `-X` flags that make a schemagate component authenticate as `user`.
fn x_flags(user: &str) -> Vec<String> {
    [
        "security.protocol=SASL_PLAINTEXT".to_owned(),
        "sasl.mechanism=PLAIN".to_owned(),
        format!("sasl.username={user}"),
        format!("sasl.password={}", password(user)),
    ]
    .into_iter()
    .flat_map(|kv| ["-X".to_owned(), kv])
    .collect()
}

/// Produces one record as `user`; the delivery outcome.
fn produce_as(
    bootstrap: &str,
    user: &str,
    topic: &str,
    value: &[u8],
    timeout_ms: u32,
) -> Result<(i32, i64), KafkaError> {
    let producer: FutureProducer = as_user(bootstrap, user)
        .set("message.timeout.ms", timeout_ms.to_string())
        .create()
        .unwrap_or_else(|e| panic!("producer: {e}"));
    block_on(producer.send(
        FutureRecord::to(topic).key("k").payload(value),
        Duration::from_secs(0),
    ))
    .map(|d| (d.partition, d.offset))
    .map_err(|(e, _)| e)
}

fn allow_writer(cluster: &mut KafkaCluster, principal: &str, prefix: &str) {
    let acls: Vec<Acl> = [Operation::Write, Operation::Create, Operation::Describe]
        .into_iter()
        .map(|op| Acl::allow_prefix(principal, Resource::Topic, prefix, op))
        .collect();
    cluster.create_acls(&acls).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn acls_apply_through_the_proxy_exactly_as_direct() {
    let mut cluster = sasl_cluster();
    allow_writer(&mut cluster, "User:alice", "alice-");
    cluster
        .create_acls(&[Acl::allow_prefix(
            "User:bob",
            Resource::Topic,
            "alice-",
            Operation::Describe,
        )])
        .unwrap_or_else(|e| panic!("{e}"));
    let proxy = Proxy::start(&cluster.addrs()).unwrap_or_else(|e| panic!("{e}"));
    let via = proxy.listen().to_string();
    let direct = cluster.bootstrap();
    // The proxy cannot read metadata from a SASL listener (it authenticates as no one), but
    // the broker answers its ApiVersions: ready.
    let ready = proxy.wait_for_readyz(200, Duration::from_secs(30));
    assert_eq!(ready, Some(200), "{}", proxy.log_tail());

    for (path, bootstrap) in [("proxy", via.as_str()), ("direct", direct.as_str())] {
        let ok = produce_as(bootstrap, "alice", "alice-t", b"hello", 30_000);
        assert!(ok.is_ok(), "alice via {path}: {ok:?}\n{}", proxy.log_tail());
        let denied = produce_as(bootstrap, "bob", "alice-t", b"hello", 30_000);
        assert_eq!(
            denied.err().and_then(|e| e.rdkafka_error_code()),
            Some(RDKafkaErrorCode::TopicAuthorizationFailed),
            "bob via {path}"
        );
    }
    // A wrong password fails authentication through the proxy too.
    let producer: FutureProducer = as_user(&via, "alice")
        .set("sasl.password", "wrong")
        .set("message.timeout.ms", "5000")
        .create()
        .unwrap_or_else(|e| panic!("{e}"));
    let failed = block_on(producer.send(
        FutureRecord::to("alice-t").key("k").payload("x"),
        Duration::from_secs(0),
    ));
    assert!(failed.is_err(), "a wrong password produced");
}

/// Every record of partition 0 of `topic`, read as a super user on the internal listener.
fn read_all(cluster: &mut KafkaCluster, topic: &str) -> Vec<Vec<u8>> {
    let view = cluster.view().unwrap_or_else(|e| panic!("{e}"));
    assert!(!view.topic(topic).is_empty(), "{topic} does not exist");
    let internal = cluster
        .internal_bootstrap()
        .unwrap_or_else(|| panic!("no internal listener"));
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", internal);
    crate::read_back::partition_zero(&config, topic)
}

#[test]
fn the_quarantine_producer_is_the_proxys_own_principal_and_nothing_is_lost_without_its_acls() {
    let mut cluster = sasl_cluster();
    allow_writer(&mut cluster, "User:alice", "alice-");
    let registry = Registry::start("memory").unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        "[[topic]]\nmatch = \"alice-orders\"\nvalue = \"required\"\non_invalid = \"quarantine\"\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut flags = vec![
        "--registry".to_owned(),
        registry.url(),
        "--policy".to_owned(),
        policy.to_string_lossy().into_owned(),
        "--quarantine-timeout-secs".to_owned(),
        "3".to_owned(),
    ];
    flags.extend(x_flags("sgproxy"));
    let proxy = Proxy::start_with(&cluster.addrs(), &flags).unwrap_or_else(|e| panic!("{e}"));
    let via = proxy.listen().to_string();

    // sgproxy has no ACL yet: the bad record cannot be quarantined, so the client is told to
    // retry (it is not acknowledged) and nothing reaches the topic.
    let early = produce_as(&via, "alice", "alice-orders", b"not framed", 8_000);
    assert!(
        early.is_err(),
        "acknowledged without a quarantine write: {early:?}\n{}",
        proxy.log_tail()
    );
    let log = proxy.log_tail();
    assert!(
        log.contains("alice-orders.quarantine") && log.to_lowercase().contains("authoriz"),
        "the proxy log does not say which authorization is missing:\n{log}"
    );

    // Grant what the README lists; the next attempt is quarantined and acknowledged.
    allow_writer(&mut cluster, "User:sgproxy", "alice-orders.quarantine");
    cluster
        .create_acls(&[Acl::allow(
            "User:sgproxy",
            Resource::Cluster,
            "kafka-cluster",
            Operation::IdempotentWrite,
        )])
        .unwrap_or_else(|e| panic!("{e}"));
    let mut acked = None;
    for _ in 0..10 {
        match produce_as(&via, "alice", "alice-orders", b"not framed", 15_000) {
            Ok(at) => {
                acked = Some(at);
                break;
            }
            Err(e) => eprintln!("still refused after the grant: {e}"),
        }
    }
    assert!(acked.is_some(), "never acknowledged\n{}", proxy.log_tail());
    let quarantined = read_all(&mut cluster, "alice-orders.quarantine");
    assert_eq!(
        quarantined,
        vec![b"not framed".to_vec()],
        "exactly one copy"
    );
}

#[test]
fn the_registry_store_runs_as_its_own_principal() {
    let mut cluster = sasl_cluster();
    let topic = "_schemas";
    for op in [
        Operation::Read,
        Operation::Write,
        Operation::Create,
        Operation::Describe,
    ] {
        cluster
            .create_acls(&[Acl::allow("User:registry", Resource::Topic, topic, op)])
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let store = format!("kafka://{}", cluster.bootstrap());
    let mut registry =
        Registry::start_with_flags(&store, x_flags("registry")).unwrap_or_else(|e| panic!("{e}"));
    let body = r#"{"schema": "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"x\",\"type\":\"int\"}]}"}"#;
    let (status, answer) = registry
        .post("/subjects/r-value/versions", body)
        .unwrap_or_else(|e| panic!("{e}\n{}", registry.log_tail()));
    assert_eq!(status, 200, "{answer}\n{}", registry.log_tail());
    // A fresh instance replays the topic it can read as `registry`.
    registry.stop().unwrap_or_else(|e| panic!("{e}"));
    registry.restart().unwrap_or_else(|e| panic!("{e}"));
    let (status, answer) = registry
        .get("/subjects/r-value/versions")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((status, answer.trim()), (200, "[1]"));
}
