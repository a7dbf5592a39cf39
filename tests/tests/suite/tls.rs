//! TLS against real Apache Kafka listeners, with certificates made in the test:
//!
//! - upstream TLS: clients speak plaintext to the proxy, the proxy speaks TLS to an `SSL`
//!   listener, verifying each broker's advertised address; the quarantine producer follows the
//!   same settings, so a bad record is quarantined over TLS;
//! - SASL over TLS (`SASL_SSL`), the Confluent Cloud shape (PLAIN) and the MSK shape (SCRAM);
//! - a broker certificate from an unknown CA: nothing flows, `/readyz` stays 503, and the
//!   failure is counted by reason and logged with the broker's address;
//! - mTLS to the brokers (`ssl.client.auth=required`): with `--upstream-cert/--upstream-key`
//!   records and quarantine flow; without, the broker's refusal is counted, logged and keeps
//!   `/readyz` at 503;
//!
//! Downstream TLS (clients to the proxy) is in `tls_downstream`.

use std::path::Path;
use std::time::Duration;

use futures::executor::block_on;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use schemagate_tests::certs::{Issued, TestCa, Validity, LOOPBACK};
use schemagate_tests::kafka::{BrokerTls, Sasl};
use schemagate_tests::{ClientRun, KafkaCluster, KafkaConfig, Metrics, Proxy, Registry};

/// A one-node cluster whose client listener is TLS (SASL_SSL when `sasl`), its certificate
/// signed by a CA made for this test.
fn tls_cluster(dir: &Path, sasl: bool) -> (KafkaCluster, TestCa) {
    tls_cluster_with(dir, sasl, LOOPBACK, Validity::Current)
}

/// As [`tls_cluster`], with a broker certificate for `hosts`, valid or expired.
fn tls_cluster_with(
    dir: &Path,
    sasl: bool,
    hosts: &[&str],
    validity: Validity,
) -> (KafkaCluster, TestCa) {
    let ca =
        TestCa::new(&dir.join("ca"), "schemagate test broker CA").unwrap_or_else(|e| panic!("{e}"));
    let broker = ca
        .issue("broker", hosts, validity)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut config = KafkaConfig::nodes(1);
    config.tls = Some(BrokerTls {
        keystore: broker.key_and_cert,
        client_ca: None,
    });
    if sasl {
        config.sasl = Some(Sasl {
            users: vec![("alice".into(), "alice-secret".into())],
            acls: false,
            super_users: Vec::new(),
        });
    }
    let cluster = KafkaCluster::start(config).unwrap_or_else(|e| panic!("{e}"));
    (cluster, ca)
}

fn upstream_tls_flags(ca: &Path) -> Vec<String> {
    [
        "--upstream-tls",
        "--upstream-no-system-roots",
        "--upstream-ca-file",
        &ca.display().to_string(),
    ]
    .map(String::from)
    .to_vec()
}

/// Sends one record with a producer of its own (20 s to deliver unless `config` says).
pub(crate) fn produce(config: &ClientConfig, topic: &str, value: &[u8]) -> Result<(), String> {
    Producer::new(config)?.send(topic, value)
}

/// A producer that can be kept, so its connections stay open between sends.
pub(crate) struct Producer(FutureProducer);

impl Producer {
    /// A producer with `config`; `message.timeout.ms` is 20 s unless `config` sets it.
    pub(crate) fn new(config: &ClientConfig) -> Result<Self, String> {
        let mut config = config.clone();
        if config.get("message.timeout.ms").is_none() {
            config.set("message.timeout.ms", "20000");
        }
        config.create().map(Self).map_err(|e| e.to_string())
    }

    /// Sends one record and waits for its acknowledgement.
    pub(crate) fn send(&self, topic: &str, value: &[u8]) -> Result<(), String> {
        block_on(self.0.send(
            FutureRecord::to(topic).key("k").payload(value),
            Duration::from_secs(0),
        ))
        .map(|_| ())
        .map_err(|(e, _)| e.to_string())
    }
}

pub(crate) fn read_all(config: &ClientConfig, topic: &str) -> Vec<Vec<u8>> {
    crate::read_back::partition_zero(config, topic)
}

pub(crate) fn plaintext(bootstrap: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap);
    c
}

#[test]
fn upstream_tls_carries_records_and_quarantine_over_tls() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (cluster, ca) = tls_cluster(dir.path(), false);
    carries_records_and_quarantine(&cluster, &ca, dir.path(), &[]);
}

/// An enforcing proxy in front of `cluster` (TLS upstream, trusting `ca`, plus `extra` flags)
/// carries a record of an unenforced topic there and back, and quarantines a bad record of an
/// enforced one through its quarantine producer, which follows the same TLS settings.
fn carries_records_and_quarantine(
    cluster: &KafkaCluster,
    ca: &TestCa,
    dir: &Path,
    extra: &[String],
) {
    let registry = Registry::start("memory").unwrap_or_else(|e| panic!("{e}"));
    let policy = dir.join("policy.toml");
    std::fs::write(
        &policy,
        "[[topic]]\nmatch = \"tls-orders\"\nvalue = \"required\"\non_invalid = \"quarantine\"\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut flags = upstream_tls_flags(&ca.ca_path());
    flags.extend([
        "--registry".to_owned(),
        registry.url(),
        "--policy".to_owned(),
        policy.display().to_string(),
    ]);
    flags.extend_from_slice(extra);
    let proxy = Proxy::start_with(&cluster.addrs(), &flags).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        proxy.wait_for_readyz(200, Duration::from_secs(30)),
        Some(200),
        "{}",
        proxy.log_tail()
    );
    let via = plaintext(&proxy.listen().to_string());
    // An unenforced topic: the record goes through, over TLS upstream, and back.
    produce(&via, "tls-plain", b"hello over tls")
        .unwrap_or_else(|e| panic!("{e}\n{}", proxy.log_tail()));
    assert_eq!(
        read_all(&via, "tls-plain"),
        vec![b"hello over tls".to_vec()]
    );
    // An enforced topic: the bad record is quarantined by the quarantine producer, which
    // follows --upstream-tls (librdkafka with SSL, trusting the same CA).
    produce(&via, "tls-orders", b"not framed")
        .unwrap_or_else(|e| panic!("{e}\n{}", proxy.log_tail()));
    assert_eq!(
        read_all(&via, "tls-orders.quarantine"),
        vec![b"not framed".to_vec()]
    );
    assert!(read_all(&via, "tls-orders").is_empty());
}

/// Starts a proxy trusting `ca` in front of `cluster` and checks that nothing flows: a record
/// is not acknowledged, `/readyz` stays 503, and a handshake failure is counted as `reason`.
fn assert_refused(cluster: &KafkaCluster, ca: &Path, reason: &str, case: &str) -> Proxy {
    let proxy = Proxy::start_with(&cluster.addrs(), &upstream_tls_flags(ca))
        .unwrap_or_else(|e| panic!("{e}"));
    let via = plaintext(&proxy.listen().to_string());
    let sent = produce(
        via.clone().set("message.timeout.ms", "5000"),
        "tls-never",
        b"x",
    );
    assert!(sent.is_err(), "{case}: a record went through");
    assert_eq!(
        proxy.wait_for_readyz(200, Duration::from_secs(2)),
        Some(503),
        "{case}: /readyz must stay 503 while no upstream answers"
    );
    assert!(
        tls_failures(&proxy, reason) >= 1.0,
        "{case}: no {reason} counted\n{}",
        proxy.log_tail()
    );
    proxy
}

#[test]
fn a_broker_certificate_from_an_unknown_ca_is_refused_counted_and_logged() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (cluster, _ca) = tls_cluster(dir.path(), false);
    let other = new_ca(dir.path(), "other");
    let proxy = assert_refused(&cluster, &other.ca_path(), "unknown_issuer", "unknown CA");
    let log = proxy.log_tail();
    let broker = cluster.addrs()[0].to_string();
    assert!(
        log.contains(&broker) && log.contains("UnknownIssuer"),
        "the log does not name the broker and the reason:\n{log}"
    );
}

/// The `schemagate_upstream_tls_failures_total` sample for `reason`, or 0.
fn tls_failures(proxy: &Proxy, reason: &str) -> f64 {
    metric(
        proxy,
        "schemagate_upstream_tls_failures_total",
        &[("reason", reason)],
    )
}

/// The proxy's sample `name` with `labels`, or 0.
pub(crate) fn metric(proxy: &Proxy, name: &str, labels: &[(&str, &str)]) -> f64 {
    let (_, text) = proxy
        .admin_get("/metrics")
        .unwrap_or_else(|e| panic!("{e}"));
    Metrics::parse(&text)
        .value(name, labels)
        .unwrap_or_else(|| panic!("several samples of {name} {labels:?}:\n{text}"))
}

/// A broker whose certificate names another host, or has expired, is refused by the proxy
/// with that reason counted, and nothing flows.
#[test]
fn a_misnamed_or_expired_broker_certificate_is_refused_with_its_reason() {
    for (case, hosts, validity, reason) in [
        (
            "misnamed",
            &["10.9.8.7"][..],
            Validity::Current,
            "name_mismatch",
        ),
        ("expired", LOOPBACK, Validity::Expired, "expired"),
    ] {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (cluster, ca) = tls_cluster_with(dir.path(), false, hosts, validity);
        assert_refused(&cluster, &ca.ca_path(), reason, case);
    }
}

/// Makes one run of a client program.
type MakeClient = fn() -> ClientRun;

/// `sasl_client` runs of every client shape that matter for managed Kafka, through the proxy
/// (SASL_PLAINTEXT to it, TLS from it to a SASL_SSL listener).
#[test]
fn sasl_over_tls_upstream_confluent_cloud_and_msk_shapes() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (cluster, ca) = tls_cluster(dir.path(), true);
    // Proxy A: clients speak SASL_PLAINTEXT to it, it speaks TLS to the brokers.
    let plain_side = Proxy::start_with(&cluster.addrs(), &upstream_tls_flags(&ca.ca_path()))
        .unwrap_or_else(|e| panic!("{e}"));
    // Proxy B: TLS on both sides, so clients speak SASL_SSL to it (its own certificate).
    let proxy_ca = new_ca(dir.path(), "proxy-ca");
    let proxy_cert = issue(&proxy_ca, "proxy", LOOPBACK);
    let mut flags = upstream_tls_flags(&ca.ca_path());
    flags.extend([
        "--tls-cert".to_owned(),
        path(&proxy_cert.cert),
        "--tls-key".to_owned(),
        path(&proxy_cert.key),
    ]);
    let tls_side = Proxy::start_with(&cluster.addrs(), &flags).unwrap_or_else(|e| panic!("{e}"));
    let proxy_ca_file = path(&proxy_ca.ca_path());
    let clients: [(&str, MakeClient); 4] = [
        ("confluent-kafka", || {
            ClientRun::python("sasl_client.py").unwrap_or_else(|e| panic!("{e}"))
        }),
        ("java", || {
            ClientRun::java("sasl").unwrap_or_else(|e| panic!("{e}"))
        }),
        ("kafkajs", || {
            ClientRun::node("sasl_client.js").unwrap_or_else(|e| panic!("{e}"))
        }),
        ("franz-go", || {
            ClientRun::go("sasl").unwrap_or_else(|e| panic!("{e}"))
        }),
    ];
    for (name, client) in clients {
        // Confluent Cloud: SASL_SSL + PLAIN; MSK: TLS + SCRAM-SHA-512.
        for (mechanism, proxy, client_tls) in [
            ("PLAIN", &plain_side, false),
            ("SCRAM-SHA-512", &plain_side, false),
            ("SCRAM-SHA-512", &tls_side, true),
        ] {
            let mut run = client()
                .args(["--bootstrap", &proxy.listen().to_string()])
                .args([
                    "--topic",
                    &format!("tls-sasl-{name}-{mechanism}-{client_tls}"),
                ])
                .args(["--mechanism", mechanism, "--user", "alice"])
                .args(["--password", "alice-secret"])
                .timeout(Duration::from_secs(120));
            if client_tls {
                run = run
                    .args(["--security-protocol", "SASL_SSL"])
                    .args(["--ca-file", &proxy_ca_file]);
            }
            let summary = run
                .run()
                .and_then(|out| out.summary(name))
                .unwrap_or_else(|e| panic!("{e}\n{}", proxy.log_tail()));
            let what = format!("{name} {mechanism} (client TLS: {client_tls})");
            assert_eq!(summary["ok"], true, "{what}: {summary}");
            assert_eq!(summary["consumed"], 100, "{what}: {summary}");
        }
    }
}

/// A CA of the test's own, in `dir/<name>`.
pub(crate) fn new_ca(dir: &Path, name: &str) -> TestCa {
    TestCa::new(&dir.join(name), &format!("schemagate test {name}"))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A current certificate named `name` from `ca`, for `hosts`.
pub(crate) fn issue(ca: &TestCa, name: &str, hosts: &[&str]) -> Issued {
    ca.issue(name, hosts, Validity::Current)
        .unwrap_or_else(|e| panic!("{e}"))
}

pub(crate) fn path(p: &Path) -> String {
    p.display().to_string()
}

/// mTLS to the brokers: a listener with `ssl.client.auth=required`. A proxy presenting
/// `--upstream-cert/--upstream-key` carries records and quarantines over it (the quarantine
/// producer presents the same certificate); a proxy without one gets nothing through, stays
/// unready, and counts and logs the broker's refusal.
#[test]
fn brokers_requiring_a_client_certificate() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let ca = new_ca(dir.path(), "ca");
    let broker = issue(&ca, "broker", LOOPBACK);
    let identity = issue(&ca, "schemagate-proxy", &["schemagate-proxy"]);
    let mut config = KafkaConfig::nodes(1);
    config.tls = Some(BrokerTls {
        keystore: broker.key_and_cert,
        client_ca: Some(ca.ca_path()),
    });
    let cluster = KafkaCluster::start(config).unwrap_or_else(|e| panic!("{e}"));
    let with_identity = [
        "--upstream-cert".to_owned(),
        path(&identity.cert),
        "--upstream-key".to_owned(),
        path(&identity.key),
    ];
    carries_records_and_quarantine(&cluster, &ca, dir.path(), &with_identity);

    // Without a certificate: Kafka answers the proxy's first read with a fatal alert.
    let proxy = assert_refused(
        &cluster,
        &ca.ca_path(),
        "refused_by_broker",
        "no client certificate",
    );
    let (_, metrics) = proxy
        .admin_get("/metrics")
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("schemagate_connections_closed_total{reason=\"upstream\"}")),
        "the client's connection is closed as an upstream failure\n{metrics}"
    );
    let broker = cluster.addrs()[0].to_string();
    let log = proxy.log_tail();
    assert!(
        log.lines()
            .any(|l| l.contains("broker refused the TLS connection")
                && l.contains(&broker)
                && l.contains("BadCertificate")),
        "no log line names the broker and the alert:\n{log}"
    );
}
