//! [`ParsedSchema`]: a schema of any format, and the one place that dispatches to the format
//! modules. The types they share ([`SchemaType`], [`SchemaError`], ...) live in the leaf
//! module [`crate::schema`], so the formats never import this one.

use crate::avro::AvroSchema;
use crate::json::JsonSchema;
use crate::protobuf::ProtobufSchema;
use crate::schema::{DecodeError, ResolvedReference, SchemaError, SchemaType};

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
