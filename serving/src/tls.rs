//! TLS with rustls on the `ring` provider, for the proxy's listeners and broker connections
//! and for the registry's listener.
//!
//! - [`pem`]: certificates and keys read from PEM files, every error naming its file.
//! - [`server`]: [`ServerTls`], the server side of a listener, whose certificate is reloaded
//!   when its files change without touching open connections.
//!
//! Everything that can be judged offline (a missing file, PEM that does not parse, a key
//! rustls refuses) is a [`TlsError`] at start, so a bad flag never surfaces as handshake
//! failures later.

pub mod pem;
pub mod server;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::rustls::{self, crypto::CryptoProvider};

pub use server::{ServerTls, ServerTlsConfig};

/// TLS material that cannot be used: the server refuses to start, a reload keeps the old config.
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
    /// rustls refused the material of `path`.
    pub fn refused(path: &Path, e: impl std::fmt::Display) -> Self {
        Self::Refused {
            path: path.to_owned(),
            detail: e.to_string(),
        }
    }

    /// rustls refused a certificate and key as a pair: a key that is not the certificate's is
    /// named as such; anything else is blamed on the key.
    pub fn identity(cert: &Path, key: &Path, e: rustls::Error) -> Self {
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

/// The crypto provider of every TLS config schemagate builds: ring, chosen explicitly so the
/// process-wide default (which another crate might set) never matters.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(tokio_rustls::rustls::crypto::ring::default_provider())
}
