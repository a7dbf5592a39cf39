//! Writes and checks: registering a schema, reading and setting a subject's compatibility
//! level, fetching a version with its text, and asking the registry whether a schema is
//! compatible. What the CLI's `check --registry` and loadgen need; the proxy never writes.
//!
//! Nothing here is cached: each call is one request (with the transport's retries; every
//! request here is idempotent). A registry's refusal (409, 422) is [`RegistryError::Refused`].

use contract::{SchemaId, SchemaReference, SchemaType};

use crate::client::RegistryClient;
use crate::error::RegistryError;
use crate::rest::{self, SchemaText};
use crate::subject::{Subject, VersionSpec};

/// A subject's version with its schema, as `GET /subjects/{s}/versions/{v}` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionedSchema {
    /// The subject.
    pub subject: Subject,
    /// The version within the subject.
    pub version: i32,
    /// The global schema id.
    pub id: SchemaId,
    /// Its format.
    pub schema_type: SchemaType,
    /// The schema text.
    pub schema: String,
    /// Its direct references.
    pub references: Vec<SchemaReference>,
}

/// The registry's answer to a compatibility check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompatibilityReport {
    /// Whether the proposed schema may be registered.
    pub is_compatible: bool,
    /// The registry's reasons when it is not (`verbose=true`).
    pub messages: Vec<String>,
}

impl RegistryClient {
    /// Registers the schema under `subject` and returns its id (the existing id when the
    /// subject already holds it). `Refused` with status 409: incompatible; 422: invalid.
    pub async fn register(
        &self,
        subject: &Subject,
        schema_type: SchemaType,
        text: &str,
        references: &[SchemaReference],
    ) -> Result<SchemaId, RegistryError> {
        let t = self.transport();
        let registered = rest::register(t, subject, schema_type, text, references).await?;
        Ok(SchemaId(registered.id))
    }

    /// Sets `subject`'s compatibility level (`NONE`, `BACKWARD`, … as the registry names them).
    pub async fn set_compatibility(
        &self,
        subject: &Subject,
        level: &str,
    ) -> Result<(), RegistryError> {
        rest::set_config(self.transport(), subject, level)
            .await
            .map(drop)
    }

    /// The compatibility level that applies to `subject` (its own, else the global one).
    pub async fn compatibility_level(&self, subject: &Subject) -> Result<String, RegistryError> {
        Ok(rest::config(self.transport(), subject).await?.level)
    }

    /// `subject` at `version` with its schema text, uncached. `NotFound { what: Subject }`
    /// when the subject does not exist.
    pub async fn version_schema(
        &self,
        subject: &Subject,
        version: VersionSpec,
    ) -> Result<VersionedSchema, RegistryError> {
        let ep = rest::endpoint::SUBJECT_VERSION;
        let record = rest::subject_version(self.transport(), subject.as_str(), version).await?;
        let schema = record.schema.ok_or_else(|| RegistryError::BadResponse {
            endpoint: ep,
            reason: "no schema text in the answer".into(),
        })?;
        let text = SchemaText {
            schema,
            schema_type: record.schema_type,
            references: record.references,
        };
        Ok(VersionedSchema {
            subject: Subject::from(record.subject),
            version: record.version,
            id: SchemaId(record.id),
            schema_type: text.parsed_type()?,
            schema: text.schema,
            references: text.references,
        })
    }

    /// Would the registry accept this schema as a new version of `subject`, judged against
    /// `version` (or every version the subject's level asks for)? With the registry's reasons.
    pub async fn check_compatibility(
        &self,
        subject: &Subject,
        version: VersionSpec,
        schema_type: SchemaType,
        text: &str,
        references: &[SchemaReference],
    ) -> Result<CompatibilityReport, RegistryError> {
        let t = self.transport();
        let answer =
            rest::compatibility(t, subject, version, schema_type, text, references).await?;
        Ok(CompatibilityReport {
            is_compatible: answer.is_compatible,
            messages: answer.messages,
        })
    }
}
