//! Field defaults checked against their types, as Java's `Schema.Parser` does for a schema
//! being registered (Confluent turns the check on for new schemas only).

use serde_json::Value;

use super::model::{Kind, Model, NodeId, Primitive};

/// How deep a default value may nest before it is refused (recursive records).
const MAX_DEFAULT_DEPTH: usize = 64;

/// Checks every field default against its field's type, as Java does for new schemas.
pub(crate) fn check_defaults(model: &Model) -> Result<(), String> {
    for node in &model.nodes {
        let Kind::Record(r) = &node.kind else {
            continue;
        };
        for f in &r.fields {
            if let Some(d) = &f.default {
                if !valid_default(model, f.ty, d, 0) {
                    return Err(format!(
                        "{}.{}: default {d} is not a valid {}",
                        r.named.name.name,
                        f.name,
                        model.node(f.ty).kind.describe()
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Java's `Schema.isValidDefault`, as in Avro 1.11+ (what current Confluent releases ship).
fn valid_default(model: &Model, ty: NodeId, v: &Value, depth: usize) -> bool {
    if depth > MAX_DEFAULT_DEPTH {
        return false;
    }
    match &model.node(ty).kind {
        Kind::Primitive(p) => match p {
            Primitive::Null => v.is_null(),
            Primitive::Boolean => v.is_boolean(),
            Primitive::Int => v.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
            Primitive::Long => v.is_i64(),
            Primitive::Float | Primitive::Double => v.is_number(),
            Primitive::Bytes | Primitive::String => v.is_string(),
        },
        Kind::Enum(_) | Kind::Fixed(_) => v.is_string(),
        Kind::Array(items) => v
            .as_array()
            .is_some_and(|a| a.iter().all(|e| valid_default(model, *items, e, depth + 1))),
        Kind::Map(values) => v.as_object().is_some_and(|m| {
            m.values()
                .all(|e| valid_default(model, *values, e, depth + 1))
        }),
        // Java 1.11 and later accept a default matching any branch (the spec says the first).
        Kind::Union(branches) => branches
            .iter()
            .any(|b| valid_default(model, *b, v, depth + 1)),
        Kind::Record(r) => v.as_object().is_some_and(|m| {
            r.fields
                .iter()
                .all(|f| match m.get(&f.name).or(f.default.as_ref()) {
                    Some(fv) => valid_default(model, f.ty, fv, depth + 1),
                    None => false,
                })
        }),
    }
}
