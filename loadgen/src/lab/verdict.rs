//! The registry's verdict on a schema change: set a subject's compatibility mode, register a
//! version, and keep the answer (the id, or the rejection with its status and message). This
//! is the lab's only use of loadgen's registry client.

use contract::SchemaId;
use serde::Serialize;

use crate::lab::LabError;
use crate::registry::{RegistryClient, RegistryError};
use crate::render::Format;
use crate::version::SchemaVersion;

/// What the registry answered to one registration.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// Whether the version was registered.
    pub accepted: bool,
    /// Its id, when accepted.
    pub id: Option<u32>,
    /// The HTTP status of a rejection (409: incompatible, 422: invalid).
    pub status: Option<u16>,
    /// The registry's message for a rejection, as it sent it.
    pub message: Option<String>,
}

/// Sets `subject`'s compatibility level.
pub async fn set_mode(client: &RegistryClient, subject: &str, mode: &str) -> Result<(), LabError> {
    Ok(client.set_compatibility(subject, mode).await?)
}

/// Registers `version` under `subject`: a 409 or 422 is a verdict, anything else an error.
pub async fn register(
    client: &RegistryClient,
    subject: &str,
    format: Format,
    version: SchemaVersion,
) -> Result<Verdict, LabError> {
    register_text(client, subject, format, format.schema_text(version)).await
}

/// Registers the schema `text` under `subject`: a 409 or 422 is a verdict, anything else an
/// error.
pub async fn register_text(
    client: &RegistryClient,
    subject: &str,
    format: Format,
    text: &str,
) -> Result<Verdict, LabError> {
    match client.register_text(subject, format, text).await {
        Ok(SchemaId(id)) => Ok(Verdict {
            accepted: true,
            id: Some(id),
            status: None,
            message: None,
        }),
        Err(RegistryError::Status { status, body, .. }) if status == 409 || status == 422 => {
            Ok(Verdict {
                accepted: false,
                id: None,
                status: Some(status),
                message: Some(message_of(&body)),
            })
        }
        Err(e) => Err(e.into()),
    }
}

/// The `message` of a Confluent error body, or the body itself.
fn message_of(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| body.to_string())
}

/// Registers `versions` in order under `subject` with compatibility NONE and returns their ids
/// (for writing records whose frames carry real registry ids).
pub async fn register_ids(
    client: &RegistryClient,
    subject: &str,
    format: Format,
    versions: &[SchemaVersion],
) -> Result<Vec<(SchemaVersion, SchemaId)>, LabError> {
    Ok(client
        .register_all(subject, format, versions, "NONE")
        .await?
        .into_iter()
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_come_from_the_confluent_body() {
        assert_eq!(
            message_of(r#"{"error_code":409,"message":"incompatible: x"}"#),
            "incompatible: x"
        );
        assert_eq!(message_of("plain text"), "plain text");
    }
}
