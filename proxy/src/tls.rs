//! TLS on both sides of the proxy, with rustls on the `ring` provider.
//!
//! - [`pem`]: certificates and keys read from PEM files, every error naming its file.
//! - [`upstream`]: [`UpstreamTls`], the client side towards brokers: trust (web roots and/or
//!   CA files), optional client certificate, and the bounded [`TlsFailure`] reason of a failed
//!   handshake.
//! - [`listener`]: [`ListenerTls`], the server side of the client listeners, whose
//!   certificate is reloaded when its files change without touching open connections.
//!
//! Everything that can be judged offline (a missing file, PEM that does not parse, a key
//! rustls refuses) is a [`TlsError`] at start, so a bad flag never surfaces as handshake
//! failures later.

pub mod listener;
pub mod pem;
pub mod upstream;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::rustls::{self, crypto::CryptoProvider};

pub use listener::ListenerTls;
pub use upstream::{TlsFailure, UpstreamTls};

/// The first byte of a TLS record carrying a handshake (a ClientHello opens with it).
pub const HANDSHAKE_RECORD: u8 = 0x16;

/// TLS material that cannot be used: the proxy refuses to start, a reload keeps the old config.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The file could not be read.
    /// The cause is part of the message, not a `source()`, so a chain prints it once.
    #[error("cannot read {}: {cause}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
    /// The file is not PEM, or a PEM section does not decode.
    #[error("{} is not valid PEM: {detail}", path.display())]
    BadPem {
        /// The file.
        path: PathBuf,
        /// What the PEM reader said.
        detail: String,
    },
    /// The file holds no certificate.
    #[error("{} holds no PEM certificate", path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The file holds no private key.
    #[error("{} holds no PEM private key", path.display())]
    NoKey {
        /// The file.
        path: PathBuf,
    },
    /// The private key is not the key of the certificate.
    #[error("{} is not the private key of the certificate in {}", key.display(), cert.display())]
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// rustls refused the material (a CA it cannot parse, a key that does not fit the
    /// certificate, an unsupported key type).
    #[error("{} is refused by rustls: {detail}", path.display())]
    Refused {
        /// The file at fault (for a certificate/key pair: the key).
        path: PathBuf,
        /// rustls's reason.
        detail: String,
    },
}

impl TlsError {
    fn refused(path: &Path, e: impl std::fmt::Display) -> Self {
        Self::Refused {
            path: path.to_owned(),
            detail: e.to_string(),
        }
    }

    /// rustls refused a certificate and key as a pair: a key that is not the certificate's is
    /// named as such; anything else is blamed on the key.
    fn identity(cert: &Path, key: &Path, e: rustls::Error) -> Self {
        match e {
            rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
                Self::KeyMismatch {
                    cert: cert.to_owned(),
                    key: key.to_owned(),
                }
            }
            e => Self::refused(key, e),
        }
    }
}

/// The crypto provider of every TLS config the proxy builds: ring, chosen explicitly so the
/// process-wide default (which another crate might set) never matters.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(tokio_rustls::rustls::crypto::ring::default_provider())
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;
    use std::time::Duration;

    use super::*;
    use crate::config::{ListenerTlsConfig, UpstreamTlsConfig};

    /// Writes a self-signed certificate and its key as `<name>.pem` and `<name>.key`.
    fn identity(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let (cert_path, key_path) = (
            dir.join(format!("{name}.pem")),
            dir.join(format!("{name}.key")),
        );
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        (cert_path, key_path)
    }

    #[test]
    fn the_key_of_another_certificate_is_named_a_mismatch_on_both_sides() {
        let dir = tempfile::tempdir().unwrap();
        let (cert_a, _) = identity(dir.path(), "a");
        let (_, key_b) = identity(dir.path(), "b");
        let listener = ListenerTls::load(ListenerTlsConfig {
            cert: cert_a.clone(),
            key: key_b.clone(),
            client_ca: None,
            reload_interval: Duration::from_secs(1),
        });
        let upstream = UpstreamTls::load(&UpstreamTlsConfig {
            ca_files: vec![],
            system_roots: true,
            client_identity: Some((cert_a, key_b)),
        });
        for e in [listener.err(), upstream.err()] {
            let e = e.expect("a mismatched pair is refused");
            assert!(matches!(e, TlsError::KeyMismatch { .. }), "{e:?}");
            let text = e.to_string();
            assert!(
                text.contains("b.key is not the private key") && text.contains("a.pem"),
                "{text}"
            );
        }
    }

    #[test]
    fn a_missing_file_states_its_cause_once() {
        let e = pem::read(Path::new("/nonexistent/ca.pem")).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("/nonexistent/ca.pem"), "{text}");
        // The cause is in the message, so it is not also a source a chain would print again.
        assert!(e.source().is_none(), "{text}");
    }
}
