//! Avro schemas: parsing, canonical form, payload validation, and reader/writer compatibility.
//!
//! - `model`: the schema as a graph of type nodes (named types are shared, so recursion is
//!   a cycle of ids).
//! - `parse`: schema JSON to model with Java Avro's rules, references first (`json_text`
//!   reads the text, `defaults` checks field defaults).
//! - `canonical`: one JSON spelling per meaning (defaults kept), hence one registry id.
//! - `validate`: checks a binary datum under the writer schema without building values: a
//!   `program` compiled at parse time answers whether it is valid, and on failure the detailed
//!   walker of `validate` says where and why.
//! - `compat`: Java's `SchemaCompatibility`, reporting every incompatibility with a path.
//!
//! The schema model is our own, built from `serde_json`, rather than apache-avro's: Confluent's
//! verdicts come from Java Avro, and apache-avro differs from it on compatibility (unions, enum
//! defaults, aliases) and does not reject trailing bytes when reading a datum.

use std::sync::Arc;

use crate::schema::{DecodeError, ResolvedReference, SchemaError, SchemaType};
use crate::verdict::Incompatibility;

mod canonical;
mod compat;
mod defaults;
mod json_text;
mod limits;
mod model;
#[cfg(any(test, feature = "fuzzing"))]
mod nesting;
mod parse;
mod program;
mod validate;

#[cfg(test)]
mod tests;

pub use limits::{MAX_NESTING, MAX_ZERO_SIZE_ITEMS};

/// How deep a datum handed to apache-avro may nest (as [`AvroSchema::decode_depth_bound`]
/// counts): its decoder, encoder and the `Clone`, `Debug` and `Drop` of its values recurse once
/// per level without a limit of their own. [`MAX_NESTING`]: every datum this shallow passes our
/// own nesting limit, and it fits in an 8 MiB stack even in a debug build (`tests::nesting`).
#[cfg(any(test, feature = "fuzzing"))]
pub const APACHE_AVRO_SAFE_DEPTH: usize = MAX_NESTING;

/// A parsed Avro schema. Cheap to clone; immutable after parsing.
#[derive(Clone)]
pub struct AvroSchema {
    inner: Arc<Inner>,
}

struct Inner {
    model: model::Model,
    canonical: String,
    zero_size: Vec<bool>,
    /// The compiled fast path of `validate`; `None` only for schemas too big to compile.
    program: Option<program::Program>,
}

impl std::fmt::Debug for AvroSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("AvroSchema")
            .field(&self.inner.canonical)
            .finish()
    }
}

impl AvroSchema {
    /// Parses a new schema as the registry does when one is registered: references are parsed
    /// first (dependency order) so their named types resolve, and field defaults must match
    /// their types.
    pub fn parse(text: &str, refs: &[ResolvedReference]) -> Result<Self, SchemaError> {
        Self::parse_with(text, refs, true)
    }

    /// Parses a schema that is already registered: like [`AvroSchema::parse`] but, as
    /// Confluent does for stored schemas, without checking field defaults against their types.
    pub fn parse_registered(text: &str, refs: &[ResolvedReference]) -> Result<Self, SchemaError> {
        Self::parse_with(text, refs, false)
    }

    fn parse_with(
        text: &str,
        refs: &[ResolvedReference],
        validate_defaults: bool,
    ) -> Result<Self, SchemaError> {
        let invalid = |reason: String| SchemaError::Invalid {
            schema_type: SchemaType::Avro,
            reason,
        };
        let mut parser = parse::Parser::new();
        let mut seen: Vec<&str> = Vec::with_capacity(refs.len());
        for r in refs {
            // A diamond of references may list one schema twice; it is defined once.
            if seen.contains(&r.name.as_str()) {
                continue;
            }
            seen.push(&r.name);
            parser.add_reference(&r.name, &r.schema).map_err(invalid)?;
        }
        let model = parser.finish(text, validate_defaults).map_err(invalid)?;
        let canonical = canonical::canonical(&model);
        let zero_size = validate::zero_size_nodes(&model);
        let program = program::Program::compile(&model, &zero_size);
        Ok(AvroSchema {
            inner: Arc::new(Inner {
                model,
                canonical,
                zero_size,
                program,
            }),
        })
    }

    /// Canonical form: compact JSON with a fixed key order, full names, defaults, aliases,
    /// `order`, `doc`, logical types and other properties kept (not Parsing Canonical Form).
    pub fn canonical(&self) -> String {
        self.inner.canonical.clone()
    }

    /// The full name of the top-level record, as Confluent's record name strategies use it.
    pub fn record_name(&self) -> Option<String> {
        let m = &self.inner.model;
        match &m.node(m.root).kind {
            model::Kind::Record(r) => Some(r.named.name.full()),
            _ => None,
        }
    }

    /// Validates a payload body (after the 5-byte wire header): it must be exactly one datum
    /// of this schema.
    pub fn validate(&self, body: &[u8]) -> Result<(), DecodeError> {
        let inner = &self.inner;
        validate::validate(&inner.model, &inner.zero_size, inner.program.as_ref(), body)
    }

    /// The two verdicts on `body`, for the differential fuzz target: the compiled program's
    /// (`None` when the schema was too big to compile) and the detailed walker's. They must
    /// agree; [`AvroSchema::validate`] relies on it.
    #[cfg(feature = "fuzzing")]
    pub fn program_and_walker(&self, body: &[u8]) -> (Option<bool>, Result<(), DecodeError>) {
        let inner = &self.inner;
        let fast = inner.program.as_ref().map(|p| p.accepts(body));
        (fast, validate::walk(&inner.model, &inner.zero_size, body))
    }
}

impl AvroSchema {
    /// The most levels a decoder that recurses once per record, union, array and map value,
    /// with no limit of its own (apache-avro's), can be inside reading at most `len` bytes as
    /// one datum of this schema; `None` when a cycle of records alone makes it unbounded. A
    /// caller that hands such a decoder hostile bytes checks this against
    /// [`APACHE_AVRO_SAFE_DEPTH`] first (the `diff_avro_apache` fuzz target does).
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn decode_depth_bound(&self, len: usize) -> Option<usize> {
        nesting::decode_depth_bound(&self.inner.model, len)
    }
}

/// Can `reader` read data written with `writer`? Empty means yes; otherwise every reason,
/// each with the reader's field path.
pub fn can_read(reader: &AvroSchema, writer: &AvroSchema) -> Vec<Incompatibility> {
    compat::can_read(&reader.inner.model, &writer.inner.model)
}
