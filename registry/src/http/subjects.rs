//! `/subjects/...`: list, register, look up, read and delete versions.

use std::collections::HashMap;

use axum::extract::{Extension, Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use contract::SchemaType;
use serde_json::json;

use super::guard::{readable, ReadableSubjects};
use super::{flag, ok, AppState, JsonBody};
use crate::error::RegistryError;
use crate::request::SchemaRequest;
use crate::state::{FoundVersion, StoredSchema, VersionSpec};

/// The schema text in the requested `?format=`: for Protobuf, `serialized` is the base64
/// `FileDescriptorProto` (Confluent's Python and Go deserializers ask for it).
pub fn schema_text(schema: &StoredSchema, q: &HashMap<String, String>) -> String {
    let serialized = q.get("format").is_some_and(|f| f == "serialized");
    if serialized {
        if let Some(b64) = schema
            .parsed
            .as_deref()
            .and_then(crate::serialized::protobuf_descriptor)
        {
            return b64;
        }
    }
    schema.schema.clone()
}

/// The JSON of one subject version, as Confluent shows it, with the schema as `text`.
pub fn version_json(f: &FoundVersion, text: &str) -> serde_json::Value {
    let mut v = json!({
        "subject": f.subject,
        "version": f.version,
        "id": f.schema.id,
        "schema": text,
    });
    if f.schema.schema_type != SchemaType::Avro {
        v["schemaType"] = json!(f.schema.schema_type.as_str());
    }
    if !f.schema.references.is_empty() {
        v["references"] = json!(f.schema.references);
    }
    if f.deleted {
        v["deleted"] = json!(true);
    }
    v
}

type Q = Query<HashMap<String, String>>;

/// GET /subjects (`?deleted=true`, `?deleted_only=true`, `?subjectPrefix=`, `?offset=&limit=`)
pub async fn list(
    State(st): State<AppState>,
    filter: Option<Extension<ReadableSubjects>>,
    Query(q): Q,
) -> Response {
    let filter = filter.map(|Extension(f)| f);
    let state = st.registry.read();
    let deleted_only = flag(&q, "deleted_only");
    let live = state.subjects(false);
    let prefix = q.get("subjectPrefix").map_or("", String::as_str);
    let offset = q
        .get("offset")
        .and_then(|o| o.parse::<usize>().ok())
        .unwrap_or(0);
    let limit = q
        .get("limit")
        .and_then(|l| l.parse::<i64>().ok())
        .filter(|&l| l >= 0)
        .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
    let subjects: Vec<String> = state
        .subjects(flag(&q, "deleted") || deleted_only)
        .into_iter()
        .filter(|s| s.starts_with(prefix))
        .filter(|s| !deleted_only || !live.contains(s))
        .filter(|s| readable(filter.as_ref(), s))
        .skip(offset)
        .take(limit)
        .collect();
    ok(&subjects)
}

/// GET /subjects/{s}/versions
pub async fn versions(
    State(st): State<AppState>,
    Path(subject): Path<String>,
    Query(q): Q,
) -> Result<Response, RegistryError> {
    let v = st.registry.read().versions(&subject, flag(&q, "deleted"))?;
    Ok(ok(&v))
}

/// POST /subjects/{s}/versions
pub async fn register(
    State(st): State<AppState>,
    Path(subject): Path<String>,
    JsonBody(body): JsonBody<SchemaRequest>,
) -> Result<Response, RegistryError> {
    let id = st.registry.register(&subject, body.submitted()?).await?;
    Ok(ok(&json!({ "id": id })))
}

/// POST /subjects/{s}
pub async fn lookup(
    State(st): State<AppState>,
    Path(subject): Path<String>,
    Query(q): Q,
    JsonBody(body): JsonBody<SchemaRequest>,
) -> Result<Response, RegistryError> {
    let found = st
        .registry
        .lookup(&subject, &body.submitted()?, flag(&q, "deleted"))?;
    let text = schema_text(&found.schema, &q);
    Ok(ok(&version_json(&found, &text)))
}

/// GET /subjects/{s}/versions/{v}
pub async fn get_version(
    State(st): State<AppState>,
    Path((subject, version)): Path<(String, String)>,
    Query(q): Q,
) -> Result<Response, RegistryError> {
    let spec = VersionSpec::parse(&version)?;
    let state = st.registry.read();
    let found = state.version(&subject, spec, flag(&q, "deleted"))?;
    Ok(ok(&version_json(&found, &schema_text(&found.schema, &q))))
}

/// GET /subjects/{s}/versions/{v}/schema — the schema text alone.
pub async fn get_raw(
    State(st): State<AppState>,
    Path((subject, version)): Path<(String, String)>,
    Query(q): Q,
) -> Result<Response, RegistryError> {
    let spec = VersionSpec::parse(&version)?;
    let found = st
        .registry
        .read()
        .version(&subject, spec, flag(&q, "deleted"))?;
    Ok(raw_schema(&found.schema.schema))
}

/// A bare schema text with the registry's content type.
pub fn raw_schema(text: &str) -> Response {
    let mut resp = (StatusCode::OK, text.to_string()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(super::CONTENT_TYPE),
    );
    resp
}

/// GET /subjects/{s}/versions/{v}/referencedby
pub async fn referenced_by(
    State(st): State<AppState>,
    Path((subject, version)): Path<(String, String)>,
) -> Result<Response, RegistryError> {
    let spec = VersionSpec::parse(&version)?;
    let state = st.registry.read();
    let found = state.version(&subject, spec, true)?;
    Ok(ok(&state.referenced_by(&subject, found.version)))
}

/// DELETE /subjects/{s}/versions/{v}
pub async fn delete_version(
    State(st): State<AppState>,
    Path((subject, version)): Path<(String, String)>,
    Query(q): Q,
) -> Result<Response, RegistryError> {
    let spec = VersionSpec::parse(&version)?;
    let permanent = flag(&q, "permanent");
    if !permanent {
        // A second soft delete of the same version is 40406, as Confluent answers.
        let state = st.registry.read();
        if let Ok(found) = state.version(&subject, spec, true) {
            if found.deleted && state.version(&subject, spec, false).is_err() {
                return Err(RegistryError::VersionSoftDeleted(subject, found.version));
            }
        }
    }
    let v = st
        .registry
        .delete_version(&subject, spec, permanent)
        .await?;
    Ok(ok(&v))
}

/// DELETE /subjects/{s}
pub async fn delete_subject(
    State(st): State<AppState>,
    Path(subject): Path<String>,
    Query(q): Q,
) -> Result<Response, RegistryError> {
    let v = st
        .registry
        .delete_subject(&subject, flag(&q, "permanent"))
        .await?;
    Ok(ok(&v))
}
