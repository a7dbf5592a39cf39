//! TLS on both sides of the proxy, over real sockets: scripted TLS brokers (tokio-rustls
//! servers), tokio-rustls clients, and certificates generated per test with rcgen.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::ApiKey;
use proxy::config::{ListenerTlsConfig, UpstreamTlsConfig};
use proxy::ProxyConfig;
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::{TlsAcceptor, TlsConnector};

mod common;
use common::{closed, http_get, produce, recv};

// ---------------------------------------------------------------- certificates

/// A certificate with its key, as PEM and DER.
struct Issued {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Issued {
    fn der(&self) -> CertificateDer<'static> {
        self.cert.der().clone()
    }
    fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::try_from(self.key.serialize_der()).unwrap()
    }
    /// Writes `<name>.pem` and `<name>.key` into `dir`.
    fn write(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let cert = dir.join(format!("{name}.pem"));
        let key = dir.join(format!("{name}.key"));
        std::fs::write(&cert, self.cert.pem()).unwrap();
        std::fs::write(&key, self.key.serialize_pem()).unwrap();
        (cert, key)
    }
}

fn ca() -> Issued {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    // Distinct names, as real CAs have: two CAs with one name make an unknown issuer look
    // like a bad signature to the chain builder.
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("schemagate test CA {n}"));
    let cert = params.self_signed(&key).unwrap();
    Issued { cert, key }
}

fn leaf(ca: &Issued, names: &[&str], expired: bool) -> Issued {
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    if expired {
        params.not_before = rcgen::date_time_ymd(2000, 1, 1);
        params.not_after = rcgen::date_time_ymd(2001, 1, 1);
    }
    let cert = params.signed_by(&key, &ca.cert, &ca.key).unwrap();
    Issued { cert, key }
}

const LOCAL: &[&str] = &["localhost", "127.0.0.1"];

fn roots(ca: &Issued) -> Arc<RootCertStore> {
    let mut roots = RootCertStore::empty();
    roots.add(ca.der()).unwrap();
    Arc::new(roots)
}

fn provider() -> Arc<tokio_rustls::rustls::crypto::CryptoProvider> {
    Arc::new(tokio_rustls::rustls::crypto::ring::default_provider())
}

fn server_config(server: &Issued, client_ca: Option<&Issued>) -> Arc<ServerConfig> {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match client_ca {
        Some(ca) => builder.with_client_cert_verifier(
            WebPkiClientVerifier::builder_with_provider(roots(ca), provider())
                .build()
                .unwrap(),
        ),
        None => builder.with_no_client_auth(),
    };
    Arc::new(
        builder
            .with_single_cert(vec![server.der()], server.key_der())
            .unwrap(),
    )
}

fn client_config(ca: &Issued, identity: Option<&Issued>) -> Arc<ClientConfig> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots(ca));
    Arc::new(match identity {
        Some(id) => builder
            .with_client_auth_cert(vec![id.der()], id.key_der())
            .unwrap(),
        None => builder.with_no_client_auth(),
    })
}

// ---------------------------------------------------------------- logs

/// Every log line of this test binary, for tests that check what the proxy said.
fn logs() -> &'static Mutex<Vec<u8>> {
    static LOGS: OnceLock<&'static Mutex<Vec<u8>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf: &'static Mutex<Vec<u8>> = Box::leak(Box::new(Mutex::new(Vec::new())));
        let _ = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_env_filter("proxy=debug")
            .with_writer(move || LogWriter(buf))
            .try_init();
        buf
    })
}

struct LogWriter(&'static Mutex<Vec<u8>>);

impl Write for LogWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The log lines containing every one of `needles`.
fn log_lines_with(needles: &[&str]) -> Vec<String> {
    let text = String::from_utf8_lossy(&logs().lock().unwrap()).into_owned();
    text.lines()
        .filter(|l| needles.iter().all(|n| l.contains(n)))
        .map(str::to_owned)
        .collect()
}

// ---------------------------------------------------------------- brokers

/// What a scripted broker saw: the client certificate of each TLS connection, if any.
type Seen = Arc<Mutex<Vec<Option<CertificateDer<'static>>>>>;

/// A broker answering Metadata v1 with itself (`advertised`, its port) as node 1 and every
/// other request with its correlation id followed by `b"upstream"`; TLS when `tls` is given.
async fn broker(tls: Option<Arc<ServerConfig>>, advertised: &'static str) -> (SocketAddr, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Seen = Arc::default();
    let seen2 = seen.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            let tls = tls.clone();
            let seen = seen2.clone();
            tokio::spawn(async move {
                let Some(tls) = tls else {
                    return answer(s, advertised, addr.port()).await;
                };
                let Ok(s) = TlsAcceptor::from(tls).accept(s).await else {
                    return;
                };
                let cert = s
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first().cloned());
                seen.lock().unwrap().push(cert);
                answer(s, advertised, addr.port()).await;
            });
        }
    });
    (addr, seen)
}

async fn answer<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, host: &str, port: u16) {
    while let Ok(len) = s.read_i32().await {
        let mut req = vec![0u8; len as usize];
        if s.read_exact(&mut req).await.is_err() {
            return;
        }
        let mut resp = BytesMut::new();
        resp.put_slice(&req[4..8]);
        if i16::from_be_bytes([req[0], req[1]]) == ApiKey::Metadata as i16 {
            resp.put_i32(1);
            resp.put_i32(1);
            resp.put_i16(host.len() as i16);
            resp.put_slice(host.as_bytes());
            resp.put_i32(i32::from(port));
            resp.put_i16(-1); // rack
            resp.put_i32(1); // controller
            resp.put_i32(0); // topics
        } else {
            resp.put_slice(b"upstream");
        }
        if s.write_i32(resp.len() as i32).await.is_err() || s.write_all(&resp).await.is_err() {
            return;
        }
        let _ = s.flush().await;
    }
}

// ---------------------------------------------------------------- proxy and clients

/// Starts a proxy in front of `upstream`, after `tune` adjusted its config.
async fn start(upstream: &str, tune: impl FnOnce(&mut ProxyConfig)) -> (SocketAddr, SocketAddr) {
    logs();
    let mut config = common::config(upstream);
    config.stall_timeout = Duration::from_millis(500);
    config.connect_timeout = Duration::from_secs(2);
    tune(&mut config);
    let admin = |c: &ProxyConfig| c.admin.unwrap();
    common::spawn(config, Arc::new(proxy::PassThrough), admin).await
}

/// Sends a Produce with `corr` and returns the answer, or `None` if the connection failed.
async fn round_trip<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S, corr: i32) -> Option<Vec<u8>> {
    let body = produce(corr, "tls-test", 1);
    s.write_i32(body.len() as i32).await.ok()?;
    s.write_all(&body).await.ok()?;
    s.flush().await.ok()?;
    recv(s).await
}

fn upstream_answer(corr: i32) -> Vec<u8> {
    [&corr.to_be_bytes()[..], b"upstream"].concat()
}

async fn tls_client(
    listen: SocketAddr,
    config: Arc<ClientConfig>,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(listen).await?;
    TlsConnector::from(config)
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
}

/// Whether `/readyz` answers 200 within a few seconds (the first metadata fetch runs after
/// the admin listener is up).
async fn becomes_ready(admin: SocketAddr) -> bool {
    for _ in 0..60 {
        if http_get(admin, "/readyz").await.starts_with("HTTP/1.0 200") {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// The value of the metric line starting with `series`, if present.
async fn metric(admin: SocketAddr, series: &str) -> Option<f64> {
    http_get(admin, "/metrics")
        .await
        .lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

/// Polls `metric` until it is at least `want` (metrics are counted just after a close).
async fn wait_metric(admin: SocketAddr, series: &str, want: f64) -> f64 {
    let mut last = 0.0;
    for _ in 0..100 {
        last = metric(admin, series).await.unwrap_or(0.0);
        if last >= want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    last
}

fn upstream_tls(ca: &Path, identity: Option<(PathBuf, PathBuf)>) -> UpstreamTlsConfig {
    UpstreamTlsConfig {
        ca_files: vec![ca.to_owned()],
        system_roots: false,
        client_identity: identity,
    }
}

// ---------------------------------------------------------------- upstream TLS

#[tokio::test]
async fn upstream_tls_works_end_to_end_and_presents_the_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca();
    let server = leaf(&ca, LOCAL, false);
    let client = leaf(&ca, &["schemagate-proxy"], false);
    let (ca_file, _) = ca.write(dir.path(), "ca");
    let identity = client.write(dir.path(), "client");
    // The broker requires a client certificate from the same CA.
    let (broker_addr, seen) = broker(Some(server_config(&server, Some(&ca))), "127.0.0.1").await;
    let (listen, admin) = start(&broker_addr.to_string(), |c| {
        c.upstream_tls = Some(upstream_tls(&ca_file, Some(identity)));
    })
    .await;
    assert!(becomes_ready(admin).await);
    let mut c = TcpStream::connect(listen).await.unwrap();
    assert_eq!(round_trip(&mut c, 7).await, Some(upstream_answer(7)));
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.len() >= 2,
        "discovery and the client connection: {seen:?}"
    );
    assert!(
        seen.iter().all(|cert| cert.as_ref() == Some(&client.der())),
        "every upstream connection presented the proxy's client certificate"
    );
}

#[tokio::test]
async fn a_broker_refusing_the_missing_client_certificate_is_counted_and_logged() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca();
    let server = leaf(&ca, LOCAL, false);
    let (ca_file, _) = ca.write(dir.path(), "ca");
    // TLS 1.3: the proxy's handshake completes; the refusal is an alert at its first read.
    let (broker_addr, _) = broker(Some(server_config(&server, Some(&ca))), "127.0.0.1").await;
    let (listen, admin) = start(&broker_addr.to_string(), |c| {
        c.upstream_tls = Some(upstream_tls(&ca_file, None));
    })
    .await;
    let mut c = TcpStream::connect(listen).await.unwrap();
    assert_eq!(round_trip(&mut c, 1).await, None);
    let series = "schemagate_upstream_tls_failures_total{reason=\"refused_by_broker\"}";
    assert!(
        wait_metric(admin, series, 2.0).await >= 2.0,
        "discovery + client"
    );
    assert!(http_get(admin, "/readyz").await.starts_with("HTTP/1.0 503"));
    let field = format!("broker={broker_addr}");
    let lines = log_lines_with(&["broker refused the TLS connection", &field]);
    assert!(
        lines.iter().any(|l| l.contains("CertificateRequired")),
        "{lines:?}"
    );
}

#[tokio::test]
async fn upstream_tls_failures_close_with_a_counted_reason_and_a_log() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca();
    let other_ca = self::ca();
    let (ca_file, _) = ca.write(dir.path(), "ca");
    let cases = [
        (
            "unknown_issuer",
            leaf(&other_ca, LOCAL, false),
            "UnknownIssuer",
        ),
        ("expired", leaf(&ca, LOCAL, true), "expired"),
        (
            "name_mismatch",
            leaf(&ca, &["other.example"], false),
            "not valid for name",
        ),
    ];
    for (reason, cert, rustls_words) in cases {
        let (broker_addr, _) = broker(Some(server_config(&cert, None)), "127.0.0.1").await;
        let (listen, admin) = start(&broker_addr.to_string(), |c| {
            c.upstream_tls = Some(upstream_tls(&ca_file, None));
        })
        .await;
        let mut c = TcpStream::connect(listen).await.unwrap();
        assert_eq!(round_trip(&mut c, 1).await, None, "{reason}");
        assert!(closed(&mut c).await, "{reason}");
        let closed_upstream = "schemagate_connections_closed_total{reason=\"upstream\"}";
        assert_eq!(
            wait_metric(admin, closed_upstream, 1.0).await,
            1.0,
            "{reason}"
        );
        let series = format!("schemagate_upstream_tls_failures_total{{reason=\"{reason}\"}}");
        let n = wait_metric(admin, &series, 2.0).await;
        assert!(n >= 2.0, "{reason}: discovery + client: {n}");
        // Every handshake failed, so the proxy's own metadata fetch never succeeded.
        assert!(
            http_get(admin, "/readyz").await.starts_with("HTTP/1.0 503"),
            "{reason}: /readyz"
        );
        let broker_field = format!("broker={broker_addr}");
        let lines = log_lines_with(&["TLS handshake with broker failed", &broker_field, reason]);
        assert!(
            !lines.is_empty(),
            "{reason}: no log line naming {broker_addr}"
        );
        assert!(
            lines.iter().any(|l| l.contains(rustls_words)),
            "{reason}: rustls's reason missing from {lines:?}"
        );
    }
}

#[tokio::test]
async fn brokers_are_verified_against_the_host_they_advertise() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca();
    let (ca_file, _) = ca.write(dir.path(), "ca");
    // Valid for the bootstrap address only; the broker advertises "localhost".
    let server = leaf(&ca, &["127.0.0.1"], false);
    let (broker_addr, _) = broker(Some(server_config(&server, None)), "localhost").await;
    let (listen, admin) = start(&broker_addr.to_string(), |c| {
        c.upstream_tls = Some(upstream_tls(&ca_file, None));
    })
    .await;
    // The bootstrap fetch verified against 127.0.0.1 and succeeded.
    assert!(becomes_ready(admin).await);
    // The client's connection goes to broker index 0, advertised as localhost: refused.
    let mut c = TcpStream::connect(listen).await.unwrap();
    assert_eq!(round_trip(&mut c, 1).await, None);
    let series = "schemagate_upstream_tls_failures_total{reason=\"name_mismatch\"}";
    assert_eq!(wait_metric(admin, series, 1.0).await, 1.0);
    let field = format!("broker=localhost:{}", broker_addr.port());
    assert!(!log_lines_with(&["TLS handshake with broker failed", &field]).is_empty());
}

// ---------------------------------------------------------------- listener TLS

fn listener_tls(cert: PathBuf, key: PathBuf, client_ca: Option<PathBuf>) -> ListenerTlsConfig {
    ListenerTlsConfig {
        cert,
        key,
        client_ca,
        reload_interval: Duration::from_millis(200),
    }
}

#[tokio::test]
async fn a_tls_listener_serves_tls_clients_and_closes_plaintext_ones() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca();
    let (cert, key) = leaf(&ca, LOCAL, false).write(dir.path(), "server");
    let (broker_addr, _) = broker(None, "127.0.0.1").await;
    let (listen, admin) = start(&broker_addr.to_string(), |c| {
        c.listener_tls = Some(listener_tls(cert, key, None));
    })
    .await;
    let mut c = tls_client(listen, client_config(&ca, None)).await.unwrap();
    assert_eq!(round_trip(&mut c, 3).await, Some(upstream_answer(3)));
    assert_eq!(round_trip(&mut c, 4).await, Some(upstream_answer(4)));

    let mut plain = TcpStream::connect(listen).await.unwrap();
    assert_eq!(round_trip(&mut plain, 5).await, None);
    let series = "schemagate_connections_closed_total{reason=\"plaintext_on_tls\"}";
    assert_eq!(wait_metric(admin, series, 1.0).await, 1.0);
    assert!(
        !log_lines_with(&["plaintext", "to a TLS listener", "security.protocol=SSL"]).is_empty()
    );
}

#[tokio::test]
async fn a_tls_client_on_a_plaintext_listener_is_closed_with_its_reason() {
    let ca = ca();
    let (broker_addr, _) = broker(None, "127.0.0.1").await;
    let (listen, admin) = start(&broker_addr.to_string(), |_| {}).await;
    assert!(tls_client(listen, client_config(&ca, None)).await.is_err());
    let series = "schemagate_connections_closed_total{reason=\"tls_on_plaintext\"}";
    assert_eq!(wait_metric(admin, series, 1.0).await, 1.0);
    assert!(!log_lines_with(&["TLS ClientHello to a plaintext listener", "--tls-cert"]).is_empty());
    // A plaintext client is still served.
    let mut c = TcpStream::connect(listen).await.unwrap();
    assert_eq!(round_trip(&mut c, 8).await, Some(upstream_answer(8)));
}

#[tokio::test]
async fn client_certificate_auth_refuses_a_client_without_a_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca();
    let (cert, key) = leaf(&ca, LOCAL, false).write(dir.path(), "server");
    let (client_ca, _) = ca.write(dir.path(), "client-ca");
    let client = leaf(&ca, &["app"], false);
    let (broker_addr, _) = broker(None, "127.0.0.1").await;
    let (listen, admin) = start(&broker_addr.to_string(), |c| {
        c.listener_tls = Some(listener_tls(cert, key, Some(client_ca)));
    })
    .await;
    // TLS 1.3: the client may finish its side before the server refuses; either way no
    // request gets through.
    if let Ok(mut c) = tls_client(listen, client_config(&ca, None)).await {
        assert_eq!(round_trip(&mut c, 1).await, None);
    }
    let series = "schemagate_connections_closed_total{reason=\"tls_handshake\"}";
    assert_eq!(wait_metric(admin, series, 1.0).await, 1.0);
    let mut c = tls_client(listen, client_config(&ca, Some(&client)))
        .await
        .unwrap();
    assert_eq!(round_trip(&mut c, 2).await, Some(upstream_answer(2)));
}

#[tokio::test]
async fn certificate_reload_serves_new_connections_and_keeps_open_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (old_ca, new_ca) = (ca(), ca());
    let (cert, key) = leaf(&old_ca, LOCAL, false).write(dir.path(), "server");
    let (broker_addr, _) = broker(None, "127.0.0.1").await;
    let (listen, admin) = start(&broker_addr.to_string(), |c| {
        c.listener_tls = Some(listener_tls(cert.clone(), key.clone(), None));
    })
    .await;
    let mut open = tls_client(listen, client_config(&old_ca, None))
        .await
        .unwrap();
    assert_eq!(round_trip(&mut open, 1).await, Some(upstream_answer(1)));

    // A broken certificate file is refused and the old certificate stays in use.
    std::fs::write(
        &cert,
        "-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let failed = "schemagate_tls_reloads_total{result=\"error\"}";
    assert_eq!(wait_metric(admin, failed, 1.0).await, 1.0);
    assert!(!log_lines_with(&["listener TLS reload failed", "server.pem"]).is_empty());
    let mut c = tls_client(listen, client_config(&old_ca, None))
        .await
        .unwrap();
    assert_eq!(round_trip(&mut c, 2).await, Some(upstream_answer(2)));

    // A new certificate from another CA: new connections get it.
    let replacement = leaf(&new_ca, LOCAL, false);
    let staged = replacement.write(dir.path(), "staged");
    std::fs::rename(&staged.1, &key).unwrap();
    std::fs::rename(&staged.0, &cert).unwrap();
    let reloaded = "schemagate_tls_reloads_total{result=\"ok\"}";
    assert!(wait_metric(admin, reloaded, 1.0).await >= 1.0);
    let mut fresh = tls_client(listen, client_config(&new_ca, None))
        .await
        .unwrap();
    assert_eq!(round_trip(&mut fresh, 3).await, Some(upstream_answer(3)));
    assert!(tls_client(listen, client_config(&old_ca, None))
        .await
        .is_err());

    // The connection opened before the reload still works.
    assert_eq!(round_trip(&mut open, 4).await, Some(upstream_answer(4)));
}
