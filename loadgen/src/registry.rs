//! Registering the `Order` versions in a Confluent-compatible registry over its REST API.

use std::collections::BTreeMap;

use contract::SchemaId;
use serde::Deserialize;

use crate::render::Format;
use crate::version::SchemaVersion;

/// Registry media type (Confluent's).
const MEDIA_TYPE: &str = "application/vnd.schemaregistry.v1+json";
/// Largest registry response body accepted.
const MAX_RESPONSE_LEN: usize = 64 * 1024;

/// Why talking to the registry failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Transport failure.
    #[error("registry request to {url}: {source}")]
    Http {
        /// The request URL.
        url: String,
        /// What reqwest said.
        source: reqwest::Error,
    },
    /// A non-success status, with the registry's body (truncated).
    #[error("registry answered {status} to {url}: {body}")]
    Status {
        /// The request URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// Body text, at most 512 bytes.
        body: String,
    },
    /// A body too large or not the expected JSON.
    #[error("registry response from {url} is not understood: {detail}")]
    Response {
        /// The request URL.
        url: String,
        /// Why.
        detail: String,
    },
}

#[derive(Deserialize)]
struct Registered {
    id: u32,
}

/// A small REST client bound to one registry base URL.
#[derive(Debug, Clone)]
pub struct RegistryClient {
    base: String,
    http: reqwest::Client,
}

impl RegistryClient {
    /// A client for `base` (e.g. `http://127.0.0.1:8081`).
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
        }
    }

    /// Sets the subject's compatibility level (e.g. `NONE` so every version registers).
    pub async fn set_compatibility(&self, subject: &str, level: &str) -> Result<(), RegistryError> {
        let url = format!("{}/config/{subject}", self.base);
        let body = serde_json::json!({ "compatibility": level });
        self.send(self.http.put(&url).json(&body), &url)
            .await
            .map(drop)
    }

    /// Registers `version` under `subject`, returning its id (existing id if already there).
    pub async fn register(
        &self,
        subject: &str,
        format: Format,
        version: SchemaVersion,
    ) -> Result<SchemaId, RegistryError> {
        let url = format!("{}/subjects/{subject}/versions", self.base);
        let mut body = serde_json::json!({ "schema": format.schema_text(version) });
        if let (Some(t), Some(obj)) = (format.schema_type(), body.as_object_mut()) {
            obj.insert("schemaType".into(), t.into());
        }
        let bytes = self.send(self.http.post(&url).json(&body), &url).await?;
        let parsed: Registered =
            serde_json::from_slice(&bytes).map_err(|e| RegistryError::Response {
                url: url.clone(),
                detail: e.to_string(),
            })?;
        Ok(SchemaId(parsed.id))
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

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        url: &str,
    ) -> Result<Vec<u8>, RegistryError> {
        let http = |source| RegistryError::Http {
            url: url.to_string(),
            source,
        };
        let response = request
            .header(reqwest::header::CONTENT_TYPE, MEDIA_TYPE)
            .header(reqwest::header::ACCEPT, MEDIA_TYPE)
            .send()
            .await
            .map_err(http)?;
        let status = response.status();
        let too_long = response
            .content_length()
            .is_some_and(|n| n > MAX_RESPONSE_LEN as u64);
        let bytes = response.bytes().await.map_err(http)?;
        if too_long || bytes.len() > MAX_RESPONSE_LEN {
            return Err(RegistryError::Response {
                url: url.to_string(),
                detail: format!("body longer than {MAX_RESPONSE_LEN} bytes"),
            });
        }
        if !status.is_success() {
            let text = String::from_utf8_lossy(bytes.get(..512).unwrap_or(&bytes)).into_owned();
            return Err(RegistryError::Status {
                url: url.to_string(),
                status: status.as_u16(),
                body: text,
            });
        }
        Ok(bytes.to_vec())
    }
}
