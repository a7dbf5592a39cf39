//! Tests of the Avro module, one file per concern.

mod canonical;
mod compat;
mod nesting;
mod parse;
mod program;
mod random_schemas;
mod random_values;
mod validate;
mod validate_props;

use crate::schema::ResolvedReference;

use super::AvroSchema;

/// The 12-field `Order` schema the benchmark uses.
pub(super) const ORDER: &str = include_str!("../../../benches/order.avsc");

/// Parses a schema that must be valid.
pub(super) fn schema(text: &str) -> AvroSchema {
    match AvroSchema::parse(text, &[]) {
        Ok(s) => s,
        Err(e) => panic!("{text} should parse: {e}"),
    }
}

/// Parses a schema that must be invalid and returns the reason.
pub(super) fn invalid(text: &str) -> String {
    match AvroSchema::parse(text, &[]) {
        Ok(s) => panic!("{text} should be invalid, parsed as {}", s.canonical()),
        Err(e) => e.to_string(),
    }
}

/// A reference for `parse`.
pub(super) fn reference(name: &str, schema: &str) -> ResolvedReference {
    ResolvedReference {
        name: name.to_string(),
        schema: schema.to_string(),
    }
}

#[test]
fn schemas_can_be_shared_across_threads() {
    fn shareable<T: Send + Sync + Clone>() {}
    shareable::<AvroSchema>();
}
