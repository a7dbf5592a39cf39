//! Registry credentials and TLS flags, shared by every subcommand that talks to a registry.

use std::path::PathBuf;

use anyhow::Context;
use registry_client::{Auth, RegistryConfig};

/// `--registry-basic-auth`, `--registry-bearer-token`, `--registry-ca-file`.
#[derive(clap::Args)]
pub struct RegistryAuth {
    /// Registry basic auth as USER:PASSWORD (Confluent Cloud: KEY:SECRET).
    #[arg(
        long,
        env = "SCHEMAGATE_REGISTRY_BASIC_AUTH",
        value_name = "USER:PASSWORD",
        hide_env_values = true
    )]
    registry_basic_auth: Option<String>,
    /// Registry bearer token.
    #[arg(
        long,
        env = "SCHEMAGATE_REGISTRY_BEARER_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true,
        conflicts_with = "registry_basic_auth"
    )]
    registry_bearer_token: Option<String>,
    /// Extra PEM CA certificates for the registry's TLS (the web roots are trusted too).
    #[arg(long, value_name = "FILE")]
    registry_ca_file: Option<PathBuf>,
}

impl RegistryAuth {
    /// A client configuration for the registry at `url` with these credentials.
    pub fn config(&self, url: &str) -> anyhow::Result<RegistryConfig> {
        let mut rc = RegistryConfig::new(url.to_string());
        rc.auth = match (&self.registry_basic_auth, &self.registry_bearer_token) {
            (Some(up), _) => {
                let (username, password) = up
                    .split_once(':')
                    .context("--registry-basic-auth must be USER:PASSWORD")?;
                Some(Auth::Basic {
                    username: username.into(),
                    password: password.into(),
                })
            }
            (None, Some(token)) => Some(Auth::Bearer(token.clone())),
            (None, None) => None,
        };
        rc.ca_file = self.registry_ca_file.clone();
        Ok(rc)
    }
}
