//! `/config`, `/mode` and `/compatibility`: levels, modes and compatibility tests.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use contract::CompatibilityMode;
use serde::Deserialize;
use serde_json::json;

use super::{flag, ok, AppState, JsonBody};
use crate::error::RegistryError;
use crate::request::SchemaRequest;
use crate::state::{Mode, VersionSpec};

type Q = Query<HashMap<String, String>>;

/// PUT /config body: Confluent clients send `compatibility`; `compatibilityLevel` is accepted too.
#[derive(Debug, Deserialize)]
pub struct ConfigRequest {
    #[serde(default)]
    compatibility: Option<String>,
    #[serde(rename = "compatibilityLevel", default)]
    compatibility_level: Option<String>,
}

impl ConfigRequest {
    /// The compatibility level asked for (`compatibility`, else `compatibilityLevel`).
    pub fn level(&self) -> Result<CompatibilityMode, RegistryError> {
        self.compatibility
            .as_deref()
            .or(self.compatibility_level.as_deref())
            .ok_or(RegistryError::InvalidCompatibilityLevel)?
            .parse()
            .map_err(|_| RegistryError::InvalidCompatibilityLevel)
    }
}

/// PUT /mode body.
#[derive(Debug, Deserialize)]
pub struct ModeRequest {
    mode: String,
}

impl ModeRequest {
    /// The mode asked for. `IMPORT` is refused while `found` names what already stands there
    /// (`subjects`, `subject s`), unless `?force=true`.
    fn mode(
        &self,
        q: &HashMap<String, String>,
        found: impl FnOnce() -> Option<String>,
    ) -> Result<Mode, RegistryError> {
        let mode = Mode::parse(&self.mode).ok_or(RegistryError::InvalidMode)?;
        if mode == Mode::Import && !flag(q, "force") {
            if let Some(what) = found() {
                return Err(RegistryError::OperationNotPermitted(format!(
                    "Cannot import since found existing {what}"
                )));
            }
        }
        Ok(mode)
    }
}

/// GET /config
pub async fn get_global(State(st): State<AppState>) -> Response {
    let level = st.registry.read().global_config();
    ok(&json!({ "compatibilityLevel": level.as_str() }))
}

/// PUT /config
pub async fn put_global(
    State(st): State<AppState>,
    JsonBody(body): JsonBody<ConfigRequest>,
) -> Result<Response, RegistryError> {
    let level = body.level()?;
    st.registry.set_config(None, Some(level)).await?;
    Ok(ok(&json!({ "compatibility": level.as_str() })))
}

/// DELETE /config — back to the default (BACKWARD); answers the previous level.
pub async fn delete_global(State(st): State<AppState>) -> Result<Response, RegistryError> {
    let before = st.registry.read().global_config();
    st.registry.set_config(None, None).await?;
    Ok(ok(&json!({ "compatibilityLevel": before.as_str() })))
}

/// A subject's own setting, else (with `?defaultToGlobal=true`) the global one.
fn own_or_global<T>(
    own: Option<T>,
    q: &HashMap<String, String>,
    global: impl FnOnce() -> T,
) -> Option<T> {
    own.or_else(|| flag(q, "defaultToGlobal").then(global))
}

/// GET /config/{s} (`?defaultToGlobal=true` falls back to the global level)
pub async fn get_subject(
    State(st): State<AppState>,
    Path(subject): Path<String>,
    Query(q): Q,
) -> Result<Response, RegistryError> {
    let state = st.registry.read();
    let level = own_or_global(state.subject_config(&subject), &q, || state.global_config())
        .ok_or(RegistryError::SubjectConfigNotFound(subject))?;
    Ok(ok(&json!({ "compatibilityLevel": level.as_str() })))
}

/// PUT /config/{s}
pub async fn put_subject(
    State(st): State<AppState>,
    Path(subject): Path<String>,
    JsonBody(body): JsonBody<ConfigRequest>,
) -> Result<Response, RegistryError> {
    let level = body.level()?;
    st.registry.set_config(Some(&subject), Some(level)).await?;
    Ok(ok(&json!({ "compatibility": level.as_str() })))
}

/// DELETE /config/{s} — answers the level that was removed.
pub async fn delete_subject(
    State(st): State<AppState>,
    Path(subject): Path<String>,
) -> Result<Response, RegistryError> {
    let before = st.registry.read().subject_config(&subject);
    let missing = || RegistryError::SubjectConfigNotFound(subject.clone());
    let clear = st.registry.set_config(Some(&subject), None);
    delete_own(
        before.map(CompatibilityMode::as_str),
        missing,
        clear,
        "compatibilityLevel",
    )
    .await
}

/// DELETE of a subject's own level or mode: `before` is its name (absent: the error `missing`
/// makes), `clear` the write that removes it; answers `{field: before}`.
async fn delete_own(
    before: Option<&'static str>,
    missing: impl FnOnce() -> RegistryError,
    clear: impl std::future::Future<Output = Result<(), RegistryError>>,
    field: &str,
) -> Result<Response, RegistryError> {
    let before = before.ok_or_else(missing)?;
    clear.await?;
    Ok(ok(&json!({ field: before })))
}

/// GET /mode
pub async fn get_mode_global(State(st): State<AppState>) -> Response {
    ok(&json!({ "mode": st.registry.read().global_mode().as_str() }))
}

/// PUT /mode (`IMPORT` needs an empty registry unless `?force=true`)
pub async fn put_mode_global(
    State(st): State<AppState>,
    Query(q): Q,
    JsonBody(body): JsonBody<ModeRequest>,
) -> Result<Response, RegistryError> {
    let found = || (!st.registry.read().subjects(true).is_empty()).then(|| "subjects".into());
    let mode = body.mode(&q, found)?;
    st.registry.set_mode(None, Some(mode)).await?;
    Ok(ok(&json!({ "mode": mode.as_str() })))
}

/// GET /mode/{s} (`?defaultToGlobal=true` falls back to the global mode)
pub async fn get_mode_subject(
    State(st): State<AppState>,
    Path(subject): Path<String>,
    Query(q): Q,
) -> Result<Response, RegistryError> {
    let state = st.registry.read();
    let mode = own_or_global(state.subject_mode(&subject), &q, || state.global_mode())
        .ok_or(RegistryError::SubjectModeNotFound(subject))?;
    Ok(ok(&json!({ "mode": mode.as_str() })))
}

/// PUT /mode/{s}
pub async fn put_mode_subject(
    State(st): State<AppState>,
    Path(subject): Path<String>,
    Query(q): Q,
    JsonBody(body): JsonBody<ModeRequest>,
) -> Result<Response, RegistryError> {
    let found = || {
        let has_versions = st.registry.read().versions(&subject, true).is_ok();
        has_versions.then(|| format!("subject {subject}"))
    };
    let mode = body.mode(&q, found)?;
    st.registry.set_mode(Some(&subject), Some(mode)).await?;
    Ok(ok(&json!({ "mode": mode.as_str() })))
}

/// DELETE /mode/{s}
pub async fn delete_mode_subject(
    State(st): State<AppState>,
    Path(subject): Path<String>,
) -> Result<Response, RegistryError> {
    let before = st.registry.read().subject_mode(&subject);
    let missing = || RegistryError::SubjectModeNotFound(subject.clone());
    let clear = st.registry.set_mode(Some(&subject), None);
    delete_own(before.map(Mode::as_str), missing, clear, "mode").await
}

fn verdict(messages: Vec<String>, verbose: bool) -> Response {
    let mut v = json!({ "is_compatible": messages.is_empty() });
    if verbose {
        v["messages"] = json!(messages);
    }
    ok(&v)
}

/// POST /compatibility/subjects/{s}/versions — against all versions, per the subject's level.
pub async fn check_all(
    State(st): State<AppState>,
    Path(subject): Path<String>,
    Query(q): Q,
    JsonBody(body): JsonBody<SchemaRequest>,
) -> Result<Response, RegistryError> {
    let messages = st.registry.check(&subject, None, &body.submitted()?)?;
    Ok(verdict(messages, flag(&q, "verbose")))
}

/// POST /compatibility/subjects/{s}/versions/{v|latest}
pub async fn check_version(
    State(st): State<AppState>,
    Path((subject, version)): Path<(String, String)>,
    Query(q): Q,
    JsonBody(body): JsonBody<SchemaRequest>,
) -> Result<Response, RegistryError> {
    let spec = VersionSpec::parse(&version)?;
    let messages = st
        .registry
        .check(&subject, Some(spec), &body.submitted()?)?;
    Ok(verdict(messages, flag(&q, "verbose")))
}
