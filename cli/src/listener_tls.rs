//! TLS flags of a listener, shared by `schemagate proxy` and `schemagate registry`.

use std::path::PathBuf;
use std::time::Duration;

use serving::ServerTlsConfig;

/// `--tls-cert`, `--tls-key`, `--tls-client-ca`, `--tls-reload-secs`.
#[derive(clap::Args)]
pub struct ListenerTlsArgs {
    /// Serve clients over TLS with this certificate chain (PEM); reloaded when it changes.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Require client certificates issued by a CA in this PEM file.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_client_ca: Option<PathBuf>,
    /// Seconds between checks of the listener's certificate files for changes.
    #[arg(long, default_value_t = 10)]
    tls_reload_secs: u64,
}

impl ListenerTlsArgs {
    /// The listener's TLS, when `--tls-cert` and `--tls-key` are given.
    pub fn config(&self) -> Option<ServerTlsConfig> {
        let (cert, key) = self.tls_cert.clone().zip(self.tls_key.clone())?;
        Some(ServerTlsConfig {
            cert,
            key,
            client_ca: self.tls_client_ca.clone(),
            reload_interval: Duration::from_secs(self.tls_reload_secs.max(1)),
        })
    }
}
