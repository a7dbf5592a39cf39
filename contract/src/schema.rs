//! Schema types, references, and the format-independent [`ParsedSchema`].

use serde::{Deserialize, Serialize};

use crate::{avro::AvroSchema, json::JsonSchema, protobuf::ProtobufSchema};

/// The three schema formats a Confluent-compatible registry knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum SchemaType {
    /// Apache Avro (the registry's default when `schemaType` is absent).
    Avro,
    /// Protocol Buffers, as `.proto` text.
    Protobuf,
    /// JSON Schema.
    Json,
}

impl SchemaType {
    /// The registry's spelling: `AVRO`, `PROTOBUF`, `JSON`.
    pub fn as_str(self) -> &'static str {
        match self {
            SchemaType::Avro => "AVRO",
            SchemaType::Protobuf => "PROTOBUF",
            SchemaType::Json => "JSON",
        }
    }
}

impl std::str::FromStr for SchemaType {
    type Err = SchemaError;
    fn from_str(s: &str) -> Result<Self, SchemaError> {
        match s.to_ascii_uppercase().as_str() {
            "AVRO" => Ok(SchemaType::Avro),
            "PROTOBUF" => Ok(SchemaType::Protobuf),
            "JSON" => Ok(SchemaType::Json),
            other => Err(SchemaError::UnknownType(other.to_string())),
        }
    }
}

impl std::fmt::Display for SchemaType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A reference as the registry stores it: `{name, subject, version}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SchemaReference {
    /// For Protobuf the import path; for Avro the full name of the referenced type.
    pub name: String,
    /// The subject that holds the referenced schema.
    pub subject: String,
    /// The version of that subject.
    pub version: i32,
}

/// A reference whose schema text has been looked up by the caller (registry or client).
///
/// Callers pass references in dependency order: a referenced schema appears before the
/// schemas that reference it, and transitive references are included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedReference {
    /// The reference's `name` (Protobuf import path, or Avro full name).
    pub name: String,
    /// The referenced schema's text.
    pub schema: String,
}

/// Why a schema text is not a valid schema (HTTP 422 / error code 42201 in the registry).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// The `schemaType` is not one of AVRO, PROTOBUF, JSON.
    #[error("unknown schema type {0:?}")]
    UnknownType(String),
    /// The text does not parse or is not a valid schema of its type.
    #[error("invalid {schema_type} schema: {reason}")]
    Invalid {
        /// Format of the schema that failed.
        schema_type: SchemaType,
        /// One human line.
        reason: String,
    },
    /// A reference could not be resolved.
    #[error("unresolved reference {0:?}")]
    UnresolvedReference(String),
}

/// Why a payload does not decode under its writer schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason} at {path}")]
pub struct DecodeError {
    /// Field path where decoding stopped, e.g. `Order.items[2].qty`.
    pub path: String,
    /// One human line.
    pub reason: String,
}

/// A schema of any format, parsed once and shared (it is immutable after parsing).
#[derive(Debug, Clone)]
pub enum ParsedSchema {
    /// An Avro schema.
    Avro(AvroSchema),
    /// A Protobuf file descriptor plus its message set.
    Protobuf(ProtobufSchema),
    /// A compiled JSON Schema.
    Json(JsonSchema),
}

impl ParsedSchema {
    /// Parses `text` as a schema of `schema_type`, resolving references from `refs`.
    pub fn parse(
        schema_type: SchemaType,
        text: &str,
        refs: &[ResolvedReference],
    ) -> Result<Self, SchemaError> {
        Ok(match schema_type {
            SchemaType::Avro => ParsedSchema::Avro(AvroSchema::parse(text, refs)?),
            SchemaType::Protobuf => ParsedSchema::Protobuf(ProtobufSchema::parse(text, refs)?),
            SchemaType::Json => ParsedSchema::Json(JsonSchema::parse(text, refs)?),
        })
    }

    /// The format of this schema.
    pub fn schema_type(&self) -> SchemaType {
        match self {
            ParsedSchema::Avro(_) => SchemaType::Avro,
            ParsedSchema::Protobuf(_) => SchemaType::Protobuf,
            ParsedSchema::Json(_) => SchemaType::Json,
        }
    }

    /// Canonical text: two schemas that mean the same get the same canonical form.
    pub fn canonical(&self) -> String {
        match self {
            ParsedSchema::Avro(s) => s.canonical(),
            ParsedSchema::Protobuf(s) => s.canonical(),
            ParsedSchema::Json(s) => s.canonical(),
        }
    }

    /// SHA-256 of the type and canonical form; equal fingerprints mean one registry id.
    pub fn fingerprint(&self) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(self.schema_type().as_str().as_bytes());
        h.update([0u8]);
        h.update(self.canonical().as_bytes());
        h.finalize().into()
    }

    /// The fully qualified record name Confluent's `RecordNameStrategy` uses: the Avro
    /// top-level named type, the first Protobuf message, the JSON Schema `title`.
    pub fn record_name(&self) -> Option<String> {
        match self {
            ParsedSchema::Avro(s) => s.record_name(),
            ParsedSchema::Protobuf(s) => s.record_name(),
            ParsedSchema::Json(s) => s.record_name(),
        }
    }

    /// Checks that `body` (the bytes after the 5-byte wire header; for Protobuf starting with
    /// the message-index list) decodes completely under this writer schema.
    pub fn validate(&self, body: &[u8]) -> Result<(), DecodeError> {
        match self {
            ParsedSchema::Avro(s) => s.validate(body),
            ParsedSchema::Protobuf(s) => s.validate(body),
            ParsedSchema::Json(s) => s.validate(body),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_names_follow_confluents_strategies() {
        let avro = r#"{"type":"record","name":"Order","namespace":"shop","fields":[]}"#;
        let proto =
            "syntax = \"proto3\"; package shop; message Order { string id = 1; } message Other {}";
        let json = r#"{"title":"Order","type":"object"}"#;
        let name = |t, s| ParsedSchema::parse(t, s, &[]).unwrap().record_name();
        assert_eq!(name(SchemaType::Avro, avro).as_deref(), Some("shop.Order"));
        assert_eq!(
            name(SchemaType::Protobuf, proto).as_deref(),
            Some("shop.Order")
        );
        assert_eq!(name(SchemaType::Json, json).as_deref(), Some("Order"));
        assert_eq!(name(SchemaType::Avro, "\"string\""), None);
    }
}
