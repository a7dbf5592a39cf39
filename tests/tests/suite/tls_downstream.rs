//! TLS between clients and the proxy (`--tls-cert/--tls-key`), in front of the run's shared
//! Apache Kafka cluster, with librdkafka clients (rdkafka, in process):
//!
//! - a TLS client produces and reads back; a plaintext client on the TLS listener is closed
//!   with its own counted reason;
//! - certificate rotation: the files are replaced while a producer holds its connections open;
//!   new connections get the new certificate, the open ones keep working;
//! - client-certificate auth (`--tls-client-ca`): no certificate, or one from another CA, is
//!   refused and counted; the right one produces.

use std::path::Path;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use schemagate_tests::certs::{Issued, LOOPBACK};
use schemagate_tests::{net, Broker, Proxy};

use crate::support::unique;
use crate::tls::{issue, metric, new_ca, path, plaintext, produce, read_all, Producer};

/// Starts a proxy serving TLS with `server` in front of the shared cluster, plus `extra` flags.
fn tls_proxy(server: &Issued, extra: &[String]) -> Proxy {
    let broker = Broker::shared().unwrap_or_else(|e| panic!("{e}"));
    let mut flags = vec![
        "--tls-cert".to_owned(),
        path(&server.cert),
        "--tls-key".to_owned(),
        path(&server.key),
    ];
    flags.extend_from_slice(extra);
    Proxy::start_with(broker.addrs(), &flags).unwrap_or_else(|e| panic!("{e}"))
}

/// A client config for `proxy` over TLS, trusting `ca`, presenting `identity` if given.
fn tls_client(proxy: &Proxy, ca: &Path, identity: Option<&Issued>) -> ClientConfig {
    let mut c = plaintext(&proxy.listen().to_string());
    c.set("security.protocol", "SSL")
        .set("ssl.ca.location", path(ca));
    if let Some(id) = identity {
        c.set("ssl.certificate.location", path(&id.cert))
            .set("ssl.key.location", path(&id.key));
    }
    c
}

fn closed(proxy: &Proxy, reason: &str) -> f64 {
    metric(
        proxy,
        "schemagate_connections_closed_total",
        &[("reason", reason)],
    )
}

#[test]
fn a_client_speaks_tls_to_the_proxy() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let ca = new_ca(dir.path(), "proxy-ca");
    let proxy = tls_proxy(&issue(&ca, "proxy", LOOPBACK), &[]);
    let topic = unique("tls-down");
    let tls = tls_client(&proxy, &ca.ca_path(), None);
    produce(&tls, &topic, b"hello").unwrap_or_else(|e| panic!("{e}\n{}", proxy.log_tail()));
    assert_eq!(read_all(&tls, &topic), vec![b"hello".to_vec()]);
    // A plaintext client on the TLS listener is closed with its own counted reason.
    let sent = produce(
        plaintext(&proxy.listen().to_string()).set("message.timeout.ms", "3000"),
        &topic,
        b"plain",
    );
    assert!(sent.is_err());
    assert!(closed(&proxy, "plaintext_on_tls") >= 1.0);
}

/// cert-manager's rotation: new files appear under the same names while clients are connected.
/// The open producer trusts only the old CA, so a reconnect of its would fail: its later
/// records prove its connections were kept.
#[test]
fn a_rotated_certificate_reaches_new_connections_and_spares_open_ones() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (old_ca, new_ca) = (new_ca(dir.path(), "old-ca"), new_ca(dir.path(), "new-ca"));
    let served = issue(&old_ca, "proxy", LOOPBACK);
    let proxy = tls_proxy(&served, &["--tls-reload-secs".to_owned(), "1".to_owned()]);
    let topic = unique("tls-rotate");
    let trusting_old = tls_client(&proxy, &old_ca.ca_path(), None);
    let open = Producer::new(&trusting_old).unwrap_or_else(|e| panic!("{e}"));
    open.send(&topic, b"before rotation")
        .unwrap_or_else(|e| panic!("{e}\n{}", proxy.log_tail()));

    // The new pair is written beside the old and renamed over it, key first, as an atomic
    // volume update would leave it.
    let staged = issue(&new_ca, "staged", LOOPBACK);
    let rotated_at = Instant::now();
    std::fs::rename(&staged.key, &served.key).unwrap_or_else(|e| panic!("{e}"));
    std::fs::rename(&staged.cert, &served.cert).unwrap_or_else(|e| panic!("{e}"));
    let reloaded = net::wait_until(Duration::from_secs(20), || {
        metric(&proxy, "schemagate_tls_reloads_total", &[("result", "ok")]) >= 1.0
    });
    assert!(reloaded, "no reload counted\n{}", proxy.log_tail());
    let reload_secs = rotated_at.elapsed().as_secs_f64();

    // New connections get the new certificate: a client trusting only the old CA is refused
    // at its handshake, one trusting the new CA produces.
    let refused_before = closed(&proxy, "tls_handshake");
    let stale = produce(
        trusting_old.clone().set("message.timeout.ms", "4000"),
        &topic,
        b"stale client",
    );
    assert!(
        stale.is_err(),
        "a new connection still got the old certificate"
    );
    assert!(closed(&proxy, "tls_handshake") > refused_before);
    let trusting_new = tls_client(&proxy, &new_ca.ca_path(), None);
    produce(&trusting_new, &topic, b"new client")
        .unwrap_or_else(|e| panic!("{e}\n{}", proxy.log_tail()));

    // The producer connected before the rotation goes on over its open connections.
    for i in 0..10 {
        open.send(&topic, format!("after rotation {i}").as_bytes())
            .unwrap_or_else(|e| panic!("the open connection broke: {e}\n{}", proxy.log_tail()));
    }
    let mut got = read_all(&trusting_new, &topic);
    got.sort();
    let mut want: Vec<Vec<u8>> = ["before rotation", "new client"]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .chain((0..10).map(|i| format!("after rotation {i}").into_bytes()))
        .collect();
    want.sort();
    assert_eq!(got, want);
    eprintln!("reload seen {reload_secs:.1} s after the rename (--tls-reload-secs 1)");
}

#[test]
fn client_certificates_are_required_when_a_client_ca_is_given() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let server_ca = new_ca(dir.path(), "server-ca");
    let client_ca = new_ca(dir.path(), "client-ca");
    let stranger_ca = new_ca(dir.path(), "stranger-ca");
    let proxy = tls_proxy(
        &issue(&server_ca, "proxy", LOOPBACK),
        &["--tls-client-ca".to_owned(), path(&client_ca.ca_path())],
    );
    let topic = unique("tls-mtls");
    let app = issue(&client_ca, "app", &["app.example"]);
    let stranger = issue(&stranger_ca, "stranger", &["app.example"]);
    for (case, identity) in [
        ("no client certificate", None),
        ("a certificate from another CA", Some(&stranger)),
    ] {
        let before = closed(&proxy, "tls_handshake");
        let sent = produce(
            tls_client(&proxy, &server_ca.ca_path(), identity).set("message.timeout.ms", "4000"),
            &topic,
            case.as_bytes(),
        );
        assert!(sent.is_err(), "{case}: a record went through");
        let after = closed(&proxy, "tls_handshake");
        assert!(after > before, "{case}: not counted ({before} -> {after})");
    }
    let log = proxy.log_tail();
    assert!(
        log.contains("TLS handshake with the client failed"),
        "no log line for the refused clients:\n{log}"
    );
    let trusted = tls_client(&proxy, &server_ca.ca_path(), Some(&app));
    produce(&trusted, &topic, b"from app").unwrap_or_else(|e| panic!("{e}\n{}", proxy.log_tail()));
    assert_eq!(read_all(&trusted, &topic), vec![b"from app".to_vec()]);
}
