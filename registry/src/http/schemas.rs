//! `/schemas/...`: schemas by global id, and the supported types.

use std::collections::HashMap;

use axum::extract::{Extension, Path, Query, State};
use axum::response::Response;
use contract::SchemaType;
use serde_json::json;

use super::guard::{readable, ReadableSubjects};
use super::subjects::raw_schema;
use super::{flag, ok, AppState};
use crate::error::RegistryError;
use crate::state::StoredSchema;

type Q = Query<HashMap<String, String>>;

fn parse_id(s: &str) -> Result<i32, RegistryError> {
    s.parse::<i32>()
        .ok()
        .filter(|&i| i > 0)
        .ok_or(RegistryError::SchemaNotFound)
}

/// The schema for `id`; with `?subject=` it must also be registered under that subject.
fn lookup(
    st: &AppState,
    id: &str,
    q: &HashMap<String, String>,
) -> Result<std::sync::Arc<StoredSchema>, RegistryError> {
    let id = parse_id(id)?;
    let state = st.registry.read();
    let schema = state.schema(id).ok_or(RegistryError::SchemaNotFound)?;
    if let Some(subject) = q.get("subject").filter(|s| !s.is_empty()) {
        if !state
            .versions_of_id(id, true)
            .iter()
            .any(|(s, _)| s == subject)
        {
            return Err(RegistryError::SchemaNotFound);
        }
    }
    Ok(schema)
}

/// GET /schemas/ids/{id}
pub async fn by_id(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, RegistryError> {
    let schema = lookup(&st, &id, &q)?;
    let text = super::subjects::schema_text(&schema, &q);
    let mut v = json!({ "schema": text });
    if schema.schema_type != SchemaType::Avro {
        v["schemaType"] = json!(schema.schema_type.as_str());
    }
    if !schema.references.is_empty() {
        v["references"] = json!(schema.references);
    }
    Ok(ok(&v))
}

/// GET /schemas/ids/{id}/schema — the schema text alone.
pub async fn raw_by_id(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, RegistryError> {
    Ok(raw_schema(&lookup(&st, &id, &q)?.schema))
}

/// GET /schemas/ids/{id}/versions (only subjects the caller may read)
pub async fn versions_of_id(
    State(st): State<AppState>,
    filter: Option<Extension<ReadableSubjects>>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, RegistryError> {
    let list: Vec<_> = readable_versions_of_id(&st, filter, &id, &q)?
        .into_iter()
        .map(|(subject, version)| json!({"subject": subject, "version": version}))
        .collect();
    Ok(ok(&list))
}

/// GET /schemas/ids/{id}/subjects (only subjects the caller may read)
pub async fn subjects_of_id(
    State(st): State<AppState>,
    filter: Option<Extension<ReadableSubjects>>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, RegistryError> {
    let mut subjects: Vec<String> = readable_versions_of_id(&st, filter, &id, &q)?
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    subjects.dedup();
    Ok(ok(&subjects))
}

/// The (subject, version) pairs holding schema `id` that the caller may read (soft-deleted
/// ones too with `?deleted=true`); 404 when no schema has that id.
fn readable_versions_of_id(
    st: &AppState,
    filter: Option<Extension<ReadableSubjects>>,
    id: &str,
    q: &HashMap<String, String>,
) -> Result<Vec<(String, i32)>, RegistryError> {
    let filter = filter.map(|Extension(f)| f);
    let id = parse_id(id)?;
    let state = st.registry.read();
    state.schema(id).ok_or(RegistryError::SchemaNotFound)?;
    Ok(state
        .versions_of_id(id, flag(q, "deleted"))
        .into_iter()
        .filter(|(s, _)| readable(filter.as_ref(), s))
        .collect())
}

/// GET /schemas/types
pub async fn types() -> Response {
    ok(&["JSON", "PROTOBUF", "AVRO"])
}
