//! Schema types, references and errors: what every format module shares. A leaf: it imports
//! no format, so the formats and the dispatcher ([`crate::parsed::ParsedSchema`]) both use it.

use serde::{Deserialize, Serialize};

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
