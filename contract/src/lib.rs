//! # contract — what a schema contract means, with no I/O
//!
//! A tour of the crate:
//! - [`wire`]: the Confluent wire frame (magic `0x00`, 4-byte big-endian [`wire::SchemaId`],
//!   and for Protobuf the message-index list).
//! - [`schema`]: [`schema::SchemaType`], references and errors: the leaf every format uses.
//! - [`parsed`]: [`parsed::ParsedSchema`] (parse, canonical form, fingerprint, "does this
//!   payload decode under this writer schema"), dispatching to the formats.
//! - [`compat`]: [`compat::CompatibilityMode`] and [`compat::check`], which returns every
//!   [`Incompatibility`] (in the leaf module [`verdict`]) with the field path and the rule
//!   it breaks.
//! - [`avro`], [`protobuf`], [`json`]: the per-format implementations behind those types.
//!
//! This crate knows no sockets and no async runtime: everything here is a pure function of its
//! input, which is what lets the proxy, the registry and `schemagate check` agree exactly.
#![forbid(unsafe_code)]

pub mod avro;
pub mod compat;
pub mod json;
pub mod parsed;
pub mod protobuf;
pub mod schema;
mod swar;
mod utf8;
pub mod verdict;
pub mod wire;

pub use compat::CompatibilityMode;
pub use parsed::ParsedSchema;
pub use schema::{DecodeError, ResolvedReference, SchemaError, SchemaReference, SchemaType};
pub use verdict::Incompatibility;
pub use wire::{FrameError, SchemaId, WireFrame};
