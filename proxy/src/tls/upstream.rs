//! The client side of TLS towards brokers: what is trusted, what is presented, and why a
//! handshake failed.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelValue;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{self, CertificateError, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

use super::{pem, provider, TlsError};
use crate::config::UpstreamTlsConfig;

/// Why a handshake with a broker failed, as a bounded metric label.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum TlsFailure {
    /// The broker's chain does not lead to a trusted CA.
    unknown_issuer,
    /// The broker's certificate (or one in its chain) is expired or not yet valid.
    expired,
    /// The certificate is not valid for the host the proxy dialled.
    name_mismatch,
    /// The broker ended the connection with a fatal TLS alert, such as `BadCertificate` or
    /// `CertificateRequired` for a client certificate it refuses. Under TLS 1.3 this arrives
    /// after the proxy's side of the handshake has finished, at the first read.
    refused_by_broker,
    /// Anything else: a protocol error, a reset.
    other,
}

/// A failed handshake: the bounded reason and rustls's own words.
#[derive(Debug, thiserror::Error)]
#[error("{detail}")]
pub struct HandshakeError {
    /// The bounded reason.
    pub reason: TlsFailure,
    /// What rustls (or the socket) said.
    pub detail: String,
}

/// TLS towards brokers: built once at start from [`UpstreamTlsConfig`].
#[derive(Clone)]
pub struct UpstreamTls {
    connector: TlsConnector,
}

impl std::fmt::Debug for UpstreamTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UpstreamTls")
    }
}

impl UpstreamTls {
    /// Reads the CA files and client identity; any unusable file is an error naming it.
    pub fn load(config: &UpstreamTlsConfig) -> Result<Self, TlsError> {
        let mut roots = RootCertStore::empty();
        if config.system_roots {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        for path in &config.ca_files {
            pem::add_cas(&mut roots, path)?;
        }
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::refused(std::path::Path::new("(protocol versions)"), e))?
            .with_root_certificates(roots);
        let client = match &config.client_identity {
            None => builder.with_no_client_auth(),
            Some((cert_path, key_path)) => {
                let certs = pem::certificates(cert_path, &pem::read(cert_path)?)?;
                let key = pem::private_key(key_path, &pem::read(key_path)?)?;
                builder
                    .with_client_auth_cert(certs, key)
                    .map_err(|e| TlsError::identity(cert_path, key_path, e))?
            }
        };
        Ok(Self {
            connector: TlsConnector::from(Arc::new(client)),
        })
    }

    /// Runs the handshake over `tcp`, verifying the certificate against the host of `addr`
    /// (`host:port`; an IP literal is checked against the certificate's IP addresses).
    pub async fn handshake(
        &self,
        addr: &str,
        tcp: TcpStream,
    ) -> Result<TlsStream<TcpStream>, HandshakeError> {
        let host = host_of(addr);
        let name = ServerName::try_from(host.to_owned()).map_err(|e| HandshakeError {
            reason: TlsFailure::other,
            detail: format!("{host:?} is not a DNS name or IP address: {e}"),
        })?;
        self.connector
            .connect(name, tcp)
            .await
            .map_err(|e| HandshakeError {
                reason: classify(&e),
                detail: e.to_string(),
            })
    }
}

/// The host part of `host:port`, without the brackets of an IPv6 literal.
fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// The bounded reason of a failed handshake: tokio-rustls wraps rustls's error in the
/// `io::Error` it returns.
fn classify(e: &std::io::Error) -> TlsFailure {
    if alert_received(e).is_some() {
        return TlsFailure::refused_by_broker;
    }
    let Some(rustls::Error::InvalidCertificate(cert)) = rustls_error(e) else {
        return TlsFailure::other;
    };
    match cert {
        CertificateError::UnknownIssuer => TlsFailure::unknown_issuer,
        CertificateError::Expired
        | CertificateError::ExpiredContext { .. }
        | CertificateError::NotValidYet
        | CertificateError::NotValidYetContext { .. } => TlsFailure::expired,
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            TlsFailure::name_mismatch
        }
        _ => TlsFailure::other,
    }
}

/// The rustls error tokio-rustls wrapped in `e`, if any.
fn rustls_error(e: &std::io::Error) -> Option<&rustls::Error> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

/// The fatal alert the broker sent, when `e` (from a handshake or a read) reports one.
pub fn alert_received(e: &std::io::Error) -> Option<rustls::AlertDescription> {
    match rustls_error(e) {
        Some(rustls::Error::AlertReceived(alert)) => Some(*alert),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_is_the_part_before_the_port() {
        assert_eq!(host_of("broker-1.example:9093"), "broker-1.example");
        assert_eq!(host_of("10.0.0.7:9093"), "10.0.0.7");
        assert_eq!(host_of("[::1]:9093"), "::1");
        assert!(matches!(
            ServerName::try_from(host_of("[::1]:9093").to_owned()),
            Ok(ServerName::IpAddress(_))
        ));
    }

    #[test]
    fn rustls_errors_map_to_bounded_reasons() {
        let wrap = |e: rustls::Error| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
        let cert = |c: CertificateError| wrap(rustls::Error::InvalidCertificate(c));
        assert_eq!(
            classify(&cert(CertificateError::UnknownIssuer)),
            TlsFailure::unknown_issuer
        );
        assert_eq!(
            classify(&cert(CertificateError::Expired)),
            TlsFailure::expired
        );
        assert_eq!(
            classify(&cert(CertificateError::NotValidForName)),
            TlsFailure::name_mismatch
        );
        assert_eq!(
            classify(&cert(CertificateError::BadSignature)),
            TlsFailure::other
        );
        let alert = wrap(rustls::Error::AlertReceived(
            rustls::AlertDescription::CertificateRequired,
        ));
        assert_eq!(classify(&alert), TlsFailure::refused_by_broker);
        assert_eq!(
            alert_received(&alert),
            Some(rustls::AlertDescription::CertificateRequired)
        );
        assert_eq!(alert_received(&cert(CertificateError::Expired)), None);
        assert_eq!(
            classify(&std::io::ErrorKind::ConnectionReset.into()),
            TlsFailure::other
        );
    }

    #[test]
    fn no_trust_and_missing_files_are_refused_at_load() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("ca-missing.pem");
        let e = UpstreamTls::load(&UpstreamTlsConfig {
            ca_files: vec![missing],
            system_roots: true,
            client_identity: None,
        })
        .unwrap_err();
        assert!(e.to_string().contains("ca-missing.pem"), "{e}");
        UpstreamTls::load(&UpstreamTlsConfig {
            ca_files: vec![],
            system_roots: true,
            client_identity: None,
        })
        .unwrap();
    }
}
