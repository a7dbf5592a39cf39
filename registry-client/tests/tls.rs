//! TLS: the real registry served over rustls with a certificate from a private test CA
//! (`tests/fixtures`, generated with openssl for 127.0.0.1; test material only). The client
//! trusts it only when given the CA file.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use contract::SchemaId;
use registry::{HttpConfig, StoreConfig};
use registry_client::{RegistryClient, RegistryConfig, RegistryError, RetryPolicy};
use tokio::net::TcpListener;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{crypto, ServerConfig};
use tokio_rustls::TlsAcceptor;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Serves the real registry over HTTPS on a free loopback port; returns its URL and the id of
/// one registered schema.
async fn https_registry() -> (String, SchemaId) {
    let registry = registry::open(&StoreConfig::Memory)
        .await
        .expect("memory store");
    let id = registry
        .register(
            "orders-value",
            registry::service::Submitted {
                schema: "\"string\"".into(),
                schema_type: contract::SchemaType::Avro,
                references: vec![],
                id: None,
                version: None,
            },
        )
        .await
        .expect("register");
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(fixture("server.pem"))
        .expect("server.pem")
        .collect::<Result<_, _>>()
        .expect("certificates");
    let key = PrivateKeyDer::from_pem_file(fixture("server.key")).expect("server.key");
    let tls = ServerConfig::builder_with_provider(Arc::new(crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server certificate");
    let acceptor = TlsAcceptor::from(Arc::new(tls));
    let app = registry::router(registry, &HttpConfig::default());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!(
        "https://127.0.0.1:{}",
        listener.local_addr().expect("addr").port()
    );
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, app) = (acceptor.clone(), app.clone());
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(tcp).await else {
                    return;
                };
                let io = hyper_util::rt::TokioIo::new(stream);
                let service = hyper_util::service::TowerToHyperService::new(app);
                let _ = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .serve_connection(io, service)
                .await;
            });
        }
    });
    (url, SchemaId(id as u32))
}

fn config(url: &str) -> RegistryConfig {
    let mut c = RegistryConfig::new(url);
    c.retry = RetryPolicy {
        max_attempts: 2,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(20),
        max_elapsed: Duration::from_secs(1),
    };
    c
}

#[tokio::test]
async fn https_with_the_extra_ca_file_works() {
    let (url, id) = https_registry().await;
    let mut c = config(&url);
    c.ca_file = Some(fixture("ca.pem"));
    let client = RegistryClient::new(c).expect("client");
    let schema = client.schema(id).await.expect("TLS lookup");
    assert_eq!(schema.text, "\"string\"");
}

#[tokio::test]
async fn https_without_the_ca_is_refused_as_unavailable_never_not_found() {
    let (url, id) = https_registry().await;
    let client = RegistryClient::new(config(&url)).expect("client");
    let err = client.schema(id).await.expect_err("untrusted certificate");
    assert!(matches!(err, RegistryError::Unavailable { .. }), "{err:?}");
    assert!(err.is_transient());
}
