//! Registering the `Order` versions in a Confluent-compatible registry, through the
//! `registry-client` crate (the one REST client of the workspace).

use std::collections::BTreeMap;

use contract::{SchemaId, SchemaType};
use registry_client::{BuildError, RegistryConfig, Subject};

use crate::render::Format;
use crate::version::SchemaVersion;

/// Why talking to the registry failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry URL cannot be used.
    #[error("registry client for {url}: {cause}")]
    Build {
        /// The base URL as given.
        url: String,
        /// Why the client refused it (in the message, not also a `source()`).
        cause: BuildError,
    },
    /// The registry refused the request (409 incompatible, 422 invalid), with its message.
    #[error("registry answered {status} to {url}: {body}")]
    Status {
        /// The base URL and endpoint template.
        url: String,
        /// HTTP status.
        status: u16,
        /// The registry's message.
        body: String,
    },
    /// No usable answer (transport failure, unexpected status or body).
    #[error("registry at {url}: {cause}")]
    Client {
        /// The base URL.
        url: String,
        /// What the client said (in the message, not also a `source()`).
        cause: registry_client::RegistryError,
    },
}

/// Registers schemas in one registry (base URL such as `http://127.0.0.1:8081`).
#[derive(Debug, Clone)]
pub struct RegistryClient {
    base: String,
    /// A bad URL is reported by the first call, so that building stays infallible.
    client: Result<registry_client::RegistryClient, BuildError>,
}

impl RegistryClient {
    /// A client for `base` (e.g. `http://127.0.0.1:8081`).
    pub fn new(base: &str) -> Self {
        let client = registry_client::RegistryClient::new(RegistryConfig::new(base));
        Self {
            base: base.to_string(),
            client,
        }
    }

    fn client(&self) -> Result<&registry_client::RegistryClient, RegistryError> {
        self.client.as_ref().map_err(|e| RegistryError::Build {
            url: self.base.clone(),
            cause: e.clone(),
        })
    }

    fn error(&self, source: registry_client::RegistryError) -> RegistryError {
        match source {
            registry_client::RegistryError::Refused {
                endpoint,
                status,
                message,
                ..
            } => RegistryError::Status {
                url: format!("{}{endpoint}", self.base.trim_end_matches('/')),
                status,
                body: message,
            },
            cause => RegistryError::Client {
                url: self.base.clone(),
                cause,
            },
        }
    }

    /// Sets the subject's compatibility level (e.g. `NONE` so every version registers).
    pub async fn set_compatibility(&self, subject: &str, level: &str) -> Result<(), RegistryError> {
        self.client()?
            .set_compatibility(&Subject::new(subject), level)
            .await
            .map_err(|e| self.error(e))
    }

    /// Registers `version` under `subject`, returning its id (existing id if already there).
    pub async fn register(
        &self,
        subject: &str,
        format: Format,
        version: SchemaVersion,
    ) -> Result<SchemaId, RegistryError> {
        self.register_text(subject, format, format.schema_text(version))
            .await
    }

    /// Registers the schema `text` of `format` under `subject` (a schema outside the seven
    /// bundled versions, e.g. the lab's variants), returning its id.
    pub async fn register_text(
        &self,
        subject: &str,
        format: Format,
        text: &str,
    ) -> Result<SchemaId, RegistryError> {
        let schema_type = match format {
            Format::Avro => SchemaType::Avro,
            Format::Protobuf => SchemaType::Protobuf,
        };
        self.client()?
            .register(&Subject::new(subject), schema_type, text, &[])
            .await
            .map_err(|e| self.error(e))
    }

    /// Sets `compatibility` on the subject, then registers `versions` in order.
    pub async fn register_all(
        &self,
        subject: &str,
        format: Format,
        versions: &[SchemaVersion],
        compatibility: &str,
    ) -> Result<BTreeMap<SchemaVersion, SchemaId>, RegistryError> {
        self.set_compatibility(subject, compatibility).await?;
        let mut ids = BTreeMap::new();
        for &v in versions {
            ids.insert(v, self.register(subject, format, v).await?);
        }
        Ok(ids)
    }
}
