//! Protobuf schemas: run-time compilation of `.proto` text, canonical form, payload
//! validation and Confluent's schema-diff compatibility.
//!
//! - [`compile`](self): protox + prost-reflect, imports from references and built-ins;
//! - [`canonical`](self): normalized `.proto` text printed from the descriptor;
//! - [`payload`]: the validating wire walker ([`UnknownFieldPolicy`] says what to do with
//!   undeclared fields), with a fast path of key-indexed tables tried first;
//! - [`diff`]: Confluent's `SchemaDiff`, behind [`can_read`].

mod canonical;
mod compile;
pub mod diff;
pub mod payload;

use prost_reflect::FileDescriptor;

use crate::schema::{DecodeError, ResolvedReference, SchemaError};
use crate::verdict::Incompatibility;

pub use payload::UnknownFieldPolicy;

/// The file name Confluent's registry gives the descriptor it serves as `?format=serialized`
/// (clients rename it to the reference name or their own anyway).
const SERIALIZED_NAME: &str = "default";

/// A compiled Protobuf schema: its descriptor pool, canonical text and validation plan.
#[derive(Debug, Clone)]
pub struct ProtobufSchema {
    file: FileDescriptor,
    canonical: String,
    plan: payload::Plan,
    unknown_fields: UnknownFieldPolicy,
}

impl ProtobufSchema {
    /// Compiles `.proto` text or a base64 `FileDescriptorProto`; `refs` supply its imports
    /// (name = import path), each in either form.
    pub fn parse(text: &str, refs: &[ResolvedReference]) -> Result<Self, SchemaError> {
        let (pool, file) = compile::compile(text, refs)?;
        let canonical = canonical::print(&file);
        let plan = payload::Plan::build(&pool, &file);
        Ok(Self {
            file,
            canonical,
            plan,
            unknown_fields: UnknownFieldPolicy::default(),
        })
    }

    /// The first message's full name, which Confluent's record-name strategies use.
    pub fn record_name(&self) -> Option<String> {
        self.file
            .messages()
            .next()
            .map(|m| m.full_name().to_string())
    }

    /// Normalized `.proto` text printed from the descriptor (same schema, same text).
    pub fn canonical(&self) -> String {
        self.canonical.clone()
    }

    /// Sets what [`validate`](Self::validate) does with undeclared field numbers.
    pub fn with_unknown_fields(mut self, policy: UnknownFieldPolicy) -> Self {
        self.unknown_fields = policy;
        self
    }

    /// Checks a payload body: message-index list, then the selected message's wire format.
    pub fn validate(&self, body: &[u8]) -> Result<(), DecodeError> {
        self.plan.validate(body, self.unknown_fields)
    }

    /// The schema as an encoded `FileDescriptorProto` named `default`, extension options
    /// included: Confluent's `?format=serialized` before base64. Its `dependency` entries are
    /// the import paths, i.e. the reference names.
    pub fn serialized(&self) -> Vec<u8> {
        compile::renamed(self.file.encode_to_vec(), SERIALIZED_NAME)
    }

    /// The compiled schema file (its imports live in the same descriptor pool), e.g. for
    /// encoding test records with prost-reflect.
    pub fn file(&self) -> &FileDescriptor {
        &self.file
    }
}

/// Can `reader` read data written with `writer`? Confluent's `reader.isBackwardCompatible(writer)`:
/// every difference from writer to reader outside Confluent's compatible set. Empty means yes.
pub fn can_read(reader: &ProtobufSchema, writer: &ProtobufSchema) -> Vec<Incompatibility> {
    diff::compare(writer, reader)
        .into_iter()
        .filter(|d| !d.kind.is_compatible())
        .map(|d| Incompatibility {
            path: d.path,
            message: format!("{:?}: {} ({})", d.kind, d.kind.explain(), d.detail),
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests;
