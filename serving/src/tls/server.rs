//! The server side of TLS on a listener, reloaded when its files change.
//!
//! A connection takes the config in force at accept time and keeps it, so a reload never
//! touches an open connection (see [`crate::watch`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{RootCertStore, ServerConfig};
use tokio_rustls::TlsAcceptor;

use super::{pem, provider, TlsError};
use crate::watch::{Reload, Source, Watched};

/// A listener's certificate, optional client-certificate CA, and how often they are reloaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTlsConfig {
    /// Certificate chain (PEM), leaf first.
    pub cert: PathBuf,
    /// Private key (PEM).
    pub key: PathBuf,
    /// When set, clients must present a certificate issued by a CA in this PEM file.
    pub client_ca: Option<PathBuf>,
    /// How often the files are checked for changes.
    pub reload_interval: Duration,
}

/// The contents of the files a config was built from.
#[derive(PartialEq, Eq)]
pub struct Files {
    cert: Vec<u8>,
    key: Vec<u8>,
    client_ca: Option<Vec<u8>>,
}

impl Source for ServerTlsConfig {
    type Files = Files;
    type Value = ServerConfig;
    type Error = TlsError;

    fn read(&self) -> Result<Files, TlsError> {
        Ok(Files {
            cert: pem::read(&self.cert)?,
            key: pem::read(&self.key)?,
            client_ca: self.client_ca.as_deref().map(pem::read).transpose()?,
        })
    }

    fn build(&self, files: &Files) -> Result<ServerConfig, TlsError> {
        let builder = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::refused(&self.cert, e))?;
        let builder = match (&self.client_ca, &files.client_ca) {
            (Some(path), Some(bytes)) => {
                let mut roots = RootCertStore::empty();
                for cert in pem::certificates(path, bytes)? {
                    roots.add(cert).map_err(|e| TlsError::refused(path, e))?;
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                        .build()
                        .map_err(|e| TlsError::refused(path, e))?;
                builder.with_client_cert_verifier(verifier)
            }
            _ => builder.with_no_client_auth(),
        };
        let certs = pem::certificates(&self.cert, &files.cert)?;
        let key = pem::private_key(&self.key, &files.key)?;
        builder
            .with_single_cert(certs, key)
            .map_err(|e| TlsError::identity(&self.cert, &self.key, e))
    }
}

/// TLS for a listener, with its current server config.
pub struct ServerTls {
    watched: Arc<Watched<ServerTlsConfig>>,
}

impl ServerTls {
    /// Reads the certificate, key and optional client CA; any unusable file is an error.
    pub fn load(config: ServerTlsConfig) -> Result<Self, TlsError> {
        Ok(Self {
            watched: Arc::new(Watched::load(config)?),
        })
    }

    /// An acceptor with the config in force now.
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.watched.current())
    }

    /// Re-reads the files and swaps in a new config if they changed and are usable.
    pub fn reload_if_changed(&self) -> Reload<TlsError> {
        self.watched.reload_if_changed()
    }

    /// The files and reload interval.
    pub fn config(&self) -> &ServerTlsConfig {
        self.watched.source()
    }

    /// The watched config, for [`crate::watch::run`].
    pub fn watched(&self) -> Arc<Watched<ServerTlsConfig>> {
        self.watched.clone()
    }
}
