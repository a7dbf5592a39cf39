//! The server side of TLS on the client listeners, reloaded when its files change.
//!
//! The current [`ServerConfig`] sits behind a lock that is only held to clone an `Arc`: a
//! connection takes the config at accept time and keeps it, so a reload never touches an open
//! connection. The files are re-read every reload interval and compared by content (mtime
//! can miss a replacement within its granularity, and the files are small).

use std::sync::{Arc, Mutex, PoisonError, RwLock};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tokio::sync::watch;
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{RootCertStore, ServerConfig};
use tokio_rustls::TlsAcceptor;

use super::{pem, provider, TlsError};
use crate::config::ListenerTlsConfig;
use crate::metrics::{ReloadLabels, ReloadResult};

/// The contents of the files a config was built from.
#[derive(PartialEq, Eq)]
struct Files {
    cert: Vec<u8>,
    key: Vec<u8>,
    client_ca: Option<Vec<u8>>,
}

/// TLS for the client listeners, with its current server config.
pub struct ListenerTls {
    config: ListenerTlsConfig,
    current: RwLock<Arc<ServerConfig>>,
    /// The files last tried, so a broken file is reported once, not every interval.
    last_tried: Mutex<Files>,
}

/// What one reload check did.
#[derive(Debug)]
pub enum Reload {
    /// The files are as last tried.
    Unchanged,
    /// A new config is in use for new connections.
    Reloaded,
    /// The files changed but cannot be used; the old config stays.
    Failed(TlsError),
}

impl ListenerTls {
    /// Reads the certificate, key and optional client CA; any unusable file is an error.
    pub fn load(config: ListenerTlsConfig) -> Result<Self, TlsError> {
        let files = read_files(&config)?;
        let server = build(&config, &files)?;
        Ok(Self {
            config,
            current: RwLock::new(Arc::new(server)),
            last_tried: Mutex::new(files),
        })
    }

    /// An acceptor with the config in force now.
    pub fn acceptor(&self) -> TlsAcceptor {
        // A poisoned lock still holds a complete config: the writer only swaps an Arc.
        let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
        TlsAcceptor::from(current.clone())
    }

    /// Re-reads the files and swaps in a new config if they changed and are usable.
    pub fn reload_if_changed(&self) -> Reload {
        let files = match read_files(&self.config) {
            Ok(f) => f,
            // A file mid-replacement may be missing for a moment; retried next interval.
            Err(e) => return Reload::Failed(e),
        };
        let mut last = self
            .last_tried
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if *last == files {
            return Reload::Unchanged;
        }
        let built = build(&self.config, &files);
        *last = files;
        match built {
            Ok(server) => {
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(server);
                Reload::Reloaded
            }
            Err(e) => Reload::Failed(e),
        }
    }
}

fn read_files(config: &ListenerTlsConfig) -> Result<Files, TlsError> {
    Ok(Files {
        cert: pem::read(&config.cert)?,
        key: pem::read(&config.key)?,
        client_ca: config.client_ca.as_deref().map(pem::read).transpose()?,
    })
}

fn build(config: &ListenerTlsConfig, files: &Files) -> Result<ServerConfig, TlsError> {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::refused(&config.cert, e))?;
    let builder = match (&config.client_ca, &files.client_ca) {
        (Some(path), Some(bytes)) => {
            let mut roots = RootCertStore::empty();
            for cert in pem::certificates(path, bytes)? {
                roots.add(cert).map_err(|e| TlsError::refused(path, e))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .map_err(|e| TlsError::refused(path, e))?;
            builder.with_client_cert_verifier(verifier)
        }
        _ => builder.with_no_client_auth(),
    };
    let certs = pem::certificates(&config.cert, &files.cert)?;
    let key = pem::private_key(&config.key, &files.key)?;
    builder
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::identity(&config.cert, &config.key, e))
}

/// Checks the files every reload interval until shutdown, logging and counting each outcome.
pub async fn run_reload(
    tls: Arc<ListenerTls>,
    reloads: Family<ReloadLabels, Counter>,
    mut shutdown: watch::Receiver<bool>,
) {
    let interval = tls.config.reload_interval;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        let check = tls.clone();
        // Reading files and parsing keys is blocking work; keep it off the network threads.
        let Ok(outcome) = tokio::task::spawn_blocking(move || check.reload_if_changed()).await
        else {
            continue;
        };
        let result = match outcome {
            Reload::Unchanged => continue,
            Reload::Reloaded => {
                tracing::info!(cert = %tls.config.cert.display(), "listener TLS certificate reloaded");
                ReloadResult::ok
            }
            Reload::Failed(e) => {
                tracing::error!(error = %e, "listener TLS reload failed, keeping the previous certificate");
                ReloadResult::error
            }
        };
        reloads.get_or_create(&ReloadLabels { result }).inc();
    }
}
