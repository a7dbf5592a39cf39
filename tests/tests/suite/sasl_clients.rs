//! SASL passed through the proxy unchanged, for four real clients — librdkafka
//! (confluent-kafka), the Java client, kafkajs and franz-go — and four mechanisms: PLAIN,
//! SCRAM-SHA-256, SCRAM-SHA-512 and OAUTHBEARER (Kafka's unsecured JWTs). A wrong password is an
//! authentication failure through the proxy, and with `connections.max.reauth.ms` short each
//! client re-authenticates (KIP-368) on the same connection while it keeps producing.

use std::time::Duration;

use schemagate_tests::kafka::Sasl;
use schemagate_tests::{ClientRun, KafkaCluster, KafkaConfig, Proxy};
use serde_json::Value;

use crate::support::unique;

const MECHANISMS: &[&str] = &["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"];
/// The broker's session lifetime: short, so a 12-second run re-authenticates at least twice.
const REAUTH_MS: &str = "5000";

fn cluster() -> KafkaCluster {
    let mut config = KafkaConfig::nodes(1);
    config.sasl = Some(Sasl {
        users: vec![("alice".into(), "alice-secret".into())],
        acls: false,
        super_users: Vec::new(),
    });
    config
        .extra
        .push(("connections.max.reauth.ms".into(), REAUTH_MS.into()));
    KafkaCluster::start(config).unwrap_or_else(|e| panic!("{e}"))
}

/// One run of `client` (a [`ClientRun`] maker) as alice with `mechanism`; its summary.
fn run(
    client: &dyn Fn() -> ClientRun,
    proxy: &Proxy,
    mechanism: &str,
    password: &str,
    seconds: Option<u32>,
) -> Value {
    let mut run = client()
        .args(["--bootstrap", &proxy.listen().to_string()])
        .args(["--topic", &unique("sasl")])
        .args(["--mechanism", mechanism, "--user", "alice"])
        .args(["--password", password])
        .timeout(Duration::from_secs(120));
    if let Some(s) = seconds {
        run = run.args(["--seconds", &s.to_string()]);
    }
    run.run()
        .and_then(|out| out.summary("sasl client"))
        .unwrap_or_else(|e| panic!("{e}\n--- proxy ---\n{}", proxy.log_tail()))
}

fn matrix(name: &str, client: &dyn Fn() -> ClientRun) {
    let cluster = cluster();
    let proxy = Proxy::start(&cluster.addrs()).unwrap_or_else(|e| panic!("{e}"));
    for mechanism in MECHANISMS {
        let s = run(client, &proxy, mechanism, "alice-secret", None);
        assert_eq!(s["ok"], true, "{name} {mechanism}: {s}");
        assert_eq!(
            (&s["produced"], &s["acked"], &s["consumed"]),
            (&Value::from(100), &Value::from(100), &Value::from(100)),
            "{name} {mechanism}: {s}"
        );
    }
    for mechanism in ["PLAIN", "SCRAM-SHA-512"] {
        let s = run(client, &proxy, mechanism, "wrong", None);
        assert_eq!(
            s["ok"], false,
            "{name} {mechanism} with a wrong password: {s}"
        );
        assert_eq!(s["error_kind"], "authentication", "{name} {mechanism}: {s}");
        assert_eq!(s["acked"], 0, "{name}: {s}");
    }
    // KIP-368: the broker ends each session after 5 s unless the client re-authenticates; the
    // timed phase keeps one producer connection busy for 12 s through the proxy.
    let s = run(client, &proxy, "SCRAM-SHA-256", "alice-secret", Some(12));
    assert_eq!(s["ok"], true, "{name} re-authentication: {s}");
    assert_eq!(s["timed_acked"], s["timed_produced"], "{name}: {s}");
    assert!(
        s["timed_acked"].as_u64().unwrap_or_default() >= 10,
        "{name}: {s}"
    );
    assert_eq!(
        s["timed_connects"], 0,
        "{name}: a new connection instead: {s}"
    );
    if s["reauthentications_known"] == true {
        assert!(
            s["reauthentications"].as_u64().unwrap_or_default() >= 2,
            "{name}: {s}"
        );
    }
    eprintln!("{name} re-authentication run: {s}");
}

fn python() -> ClientRun {
    ClientRun::python("sasl_client.py").unwrap_or_else(|e| panic!("{e}"))
}

fn java() -> ClientRun {
    ClientRun::java("sasl").unwrap_or_else(|e| panic!("{e}"))
}

fn node() -> ClientRun {
    ClientRun::node("sasl_client.js").unwrap_or_else(|e| panic!("{e}"))
}

fn franz() -> ClientRun {
    ClientRun::go("sasl").unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn librdkafka_authenticates_with_every_mechanism_through_the_proxy() {
    matrix("confluent-kafka", &python);
}

#[test]
fn the_java_client_authenticates_with_every_mechanism_through_the_proxy() {
    matrix("java", &java);
}

#[test]
fn kafkajs_authenticates_with_every_mechanism_through_the_proxy() {
    matrix("kafkajs", &node);
}

#[test]
fn franz_go_authenticates_with_every_mechanism_through_the_proxy() {
    matrix("franz-go", &franz);
}
