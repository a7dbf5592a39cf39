//! The registry's operations: registration (with the id race protocol), lookup,
//! compatibility, deletes, config and mode. HTTP handlers are thin wrappers over these.

use std::sync::{Arc, RwLockReadGuard};

use contract::{compat, CompatibilityMode, ParsedSchema, SchemaReference, SchemaType};
use tokio::sync::Mutex;

use crate::error::RegistryError;
use crate::record::{
    ClearSubjectValue, ConfigValue, DeleteSubjectValue, LogRecord, ModeValue, RecordKey,
    SchemaValue,
};
use crate::state::SharedState;
use crate::state::{fingerprint, Fingerprint, FoundVersion, Mode, State, VersionSpec};
use crate::store::Store;

/// How many times a registration retries after losing a race in the log.
const MAX_ATTEMPTS: usize = 32;

/// A schema as a client submits it.
#[derive(Debug, Clone)]
pub struct Submitted {
    /// Format (AVRO when absent).
    pub schema_type: SchemaType,
    /// Schema text.
    pub schema: String,
    /// References, as `{name, subject, version}`.
    pub references: Vec<SchemaReference>,
    /// IMPORT mode only: the id to use.
    pub id: Option<i32>,
    /// IMPORT mode only: the version to use.
    pub version: Option<i32>,
}

/// A submitted schema after parsing and reference resolution.
struct Prepared {
    parsed: ParsedSchema,
    fp: Fingerprint,
}

/// The registry: shared state, its log, and a lock that serializes this instance's writes.
pub struct Registry {
    state: SharedState,
    store: Store,
    writes: Mutex<()>,
}

impl Registry {
    /// A registry over `store`, whose reader (if any) already fills `state`.
    pub fn new(state: SharedState, store: Store) -> Arc<Self> {
        Arc::new(Registry {
            state,
            store,
            writes: Mutex::new(()),
        })
    }

    /// Read access to the state (never held across an await).
    pub fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Schemas and subjects held.
    pub fn counts(&self) -> crate::state::Counts {
        self.read().counts()
    }

    /// Records of the store's topic not applied yet (`None` for the memory store).
    pub fn store_lag(&self) -> Option<i64> {
        self.store.lag()
    }

    fn prepare(&self, s: &Submitted) -> Result<Prepared, RegistryError> {
        if s.schema.trim().is_empty() {
            return Err(RegistryError::InvalidSchema("Empty schema".into()));
        }
        let refs = self.read().resolve(&s.references)?;
        let parsed = ParsedSchema::parse(s.schema_type, &s.schema, &refs).map_err(|e| {
            RegistryError::InvalidSchema(format!("Invalid schema {}: {e}", s.schema_type))
        })?;
        let fp = fingerprint(s.schema_type, &s.schema, &s.references, Some(&parsed));
        Ok(Prepared { parsed, fp })
    }

    fn writable(&self, subject: Option<&str>) -> Result<Mode, RegistryError> {
        let state = self.read();
        let mode = match subject {
            Some(s) => state.effective_mode(s),
            None => state.global_mode(),
        };
        if mode == Mode::ReadOnly {
            let what = subject.map_or("the registry".to_string(), |s| format!("Subject {s}"));
            return Err(RegistryError::OperationNotPermitted(format!(
                "{what} is in read-only mode"
            )));
        }
        Ok(mode)
    }

    /// Registers `s` under `subject` and returns its id (the existing id when already there).
    pub async fn register(&self, subject: &str, s: Submitted) -> Result<i32, RegistryError> {
        let mode = self.writable(Some(subject))?;
        if mode != Mode::Import && (s.id.is_some() || s.version.is_some()) {
            return Err(RegistryError::OperationNotPermitted(format!(
                "Subject {subject} is not in import mode"
            )));
        }
        let prepared = self.prepare(&s)?;
        let _write = self.writes.lock().await;
        for _ in 0..MAX_ATTEMPTS {
            let (id, version) = {
                let state = self.read();
                if let Some(found) = state.find_in_subject(subject, &prepared.fp, false) {
                    return Ok(found.schema.id);
                }
                if mode != Mode::Import {
                    let existing: Vec<ParsedSchema> = state
                        .live_parsed(subject)
                        .iter()
                        .map(|p| (**p).clone())
                        .collect();
                    let level = state.effective_config(subject);
                    let problems = compat::check(level, &existing, &prepared.parsed);
                    if !problems.is_empty() {
                        return Err(incompatible(subject, level, &problems));
                    }
                }
                let id =
                    s.id.or_else(|| state.id_for(&prepared.fp))
                        .unwrap_or_else(|| state.next_id());
                (id, s.version.unwrap_or_else(|| state.next_version(subject)))
            };
            let value = SchemaValue {
                subject: subject.to_string(),
                version,
                id,
                schema_type: (s.schema_type != SchemaType::Avro)
                    .then(|| s.schema_type.as_str().to_string()),
                references: s.references.clone(),
                schema: s.schema.clone(),
                deleted: false,
            };
            let key = RecordKey::schema(subject, version);
            self.store
                .append(&self.state, LogRecord::new(key.clone(), &value))
                .await?;
            let (won, repair) = {
                let state = self.read();
                let holder = state.entry(subject, version);
                let won = holder.is_some_and(|e| e.id == id)
                    && state
                        .schema(id)
                        .is_some_and(|x| x.fingerprint == prepared.fp);
                // A lost record shares its key with the winner's: write the winner's value
                // again so that compaction (which keeps the last record per key) keeps it.
                let repair = match (won, holder) {
                    (false, Some(e)) => state.schema(e.id).map(|x| SchemaValue {
                        id: e.id,
                        deleted: e.deleted,
                        schema_type: (x.schema_type != SchemaType::Avro)
                            .then(|| x.schema_type.as_str().to_string()),
                        references: x.references.clone(),
                        schema: x.schema.clone(),
                        ..value.clone()
                    }),
                    _ => None,
                };
                (won, repair)
            };
            if won {
                return Ok(id);
            }
            if s.id.is_some() || s.version.is_some() {
                return Err(RegistryError::OperationNotPermitted(format!(
                    "id {id} or version {version} of subject {subject} is already taken"
                )));
            }
            if let Some(repair) = repair {
                self.store
                    .append(&self.state, LogRecord::new(key, &repair))
                    .await?;
            }
            tracing::info!(%subject, id, version, "registration lost a race in the log; retrying");
        }
        Err(RegistryError::Store(
            "registration kept losing races in the log".into(),
        ))
    }

    /// Finds `s` among the versions of `subject` (POST /subjects/{s}).
    pub fn lookup(
        &self,
        subject: &str,
        s: &Submitted,
        deleted: bool,
    ) -> Result<FoundVersion, RegistryError> {
        let prepared = self.prepare(s)?;
        let state = self.read();
        if state.versions(subject, deleted).is_err() {
            return Err(RegistryError::SubjectNotFound(subject.to_string()));
        }
        state
            .find_in_subject(subject, &prepared.fp, deleted)
            .ok_or(RegistryError::SchemaNotFound)
    }

    /// Checks `s` against a version (or, for `None`/latest, per the subject's level).
    pub fn check(
        &self,
        subject: &str,
        version: Option<VersionSpec>,
        s: &Submitted,
    ) -> Result<Vec<String>, RegistryError> {
        let prepared = self.prepare(s)?;
        let state = self.read();
        let level = state.effective_config(subject);
        // One named version is checked alone; otherwise the subject's level picks the latest
        // or every live version. Nothing registered yet means compatible, as Confluent answers.
        let (existing, level): (Vec<ParsedSchema>, _) = match version {
            Some(spec @ VersionSpec::Number(_)) => {
                let found = state.version(subject, spec, false)?;
                let parsed = found.schema.parsed.iter().map(|p| (**p).clone()).collect();
                (parsed, non_transitive(level))
            }
            _ => {
                let parsed = state
                    .live_parsed(subject)
                    .iter()
                    .map(|p| (**p).clone())
                    .collect();
                (parsed, level)
            }
        };
        Ok(compat::check(level, &existing, &prepared.parsed)
            .iter()
            .map(ToString::to_string)
            .collect())
    }

    /// Soft- or permanently deletes one version; returns its number.
    pub async fn delete_version(
        &self,
        subject: &str,
        spec: VersionSpec,
        permanent: bool,
    ) -> Result<i32, RegistryError> {
        self.writable(Some(subject))?;
        let _write = self.writes.lock().await;
        let (key, rec) = {
            let state = self.read();
            let found = state.version(subject, spec, permanent)?;
            let v = found.version;
            if permanent && !found.deleted {
                return Err(RegistryError::VersionNotSoftDeleted(subject.into(), v));
            }
            if !state.referenced_by(subject, v).is_empty() {
                return Err(RegistryError::ReferenceExists(subject.into(), v));
            }
            let key = RecordKey::schema(subject, v);
            let rec = if permanent {
                LogRecord::tombstone(key)
            } else {
                LogRecord::new(key, &schema_value(&found, true))
            };
            (v, rec)
        };
        self.store.append(&self.state, rec).await?;
        Ok(key)
    }

    /// Soft- or permanently deletes a subject; returns the versions deleted.
    pub async fn delete_subject(
        &self,
        subject: &str,
        permanent: bool,
    ) -> Result<Vec<i32>, RegistryError> {
        self.writable(Some(subject))?;
        let _write = self.writes.lock().await;
        let (versions, records) = {
            let state = self.read();
            let all = state.versions(subject, true)?;
            let live = state.versions(subject, false).unwrap_or_default();
            if permanent && !live.is_empty() {
                return Err(RegistryError::SubjectNotSoftDeleted(subject.into()));
            }
            if !permanent && live.is_empty() {
                return Err(RegistryError::SubjectSoftDeleted(subject.into()));
            }
            for v in &all {
                if !state.referenced_by(subject, *v).is_empty() {
                    return Err(RegistryError::ReferenceExists(subject.into(), *v));
                }
            }
            let mut records = Vec::new();
            if permanent {
                for v in &all {
                    records.push(LogRecord::tombstone(RecordKey::schema(subject, *v)));
                }
                records.push(LogRecord::new(
                    RecordKey::ClearSubject {
                        subject: subject.into(),
                        magic: 0,
                    },
                    &ClearSubjectValue {
                        subject: subject.into(),
                    },
                ));
                (all, records)
            } else {
                let last = live.last().copied().unwrap_or(0);
                records.push(LogRecord::new(
                    RecordKey::DeleteSubject {
                        subject: subject.into(),
                        magic: 0,
                    },
                    &DeleteSubjectValue {
                        subject: subject.into(),
                        version: last,
                    },
                ));
                for v in &live {
                    if let Ok(found) = state.version(subject, VersionSpec::Number(*v), true) {
                        records.push(LogRecord::new(
                            RecordKey::schema(subject, *v),
                            &schema_value(&found, true),
                        ));
                    }
                }
                (live, records)
            }
        };
        for rec in records {
            self.store.append(&self.state, rec).await?;
        }
        Ok(versions)
    }

    /// Sets (or with `None` removes) the compatibility level, globally or for a subject.
    pub async fn set_config(
        &self,
        subject: Option<&str>,
        level: Option<CompatibilityMode>,
    ) -> Result<(), RegistryError> {
        self.writable(subject)?;
        let key = RecordKey::Config {
            subject: subject.map(str::to_string),
            magic: 0,
        };
        let rec = match level {
            Some(l) => LogRecord::new(
                key,
                &ConfigValue {
                    compatibility_level: l.as_str().to_string(),
                },
            ),
            None => LogRecord::tombstone(key),
        };
        let _write = self.writes.lock().await;
        self.store.append(&self.state, rec).await
    }

    /// Sets (or with `None` removes) the mode, globally or for a subject.
    pub async fn set_mode(
        &self,
        subject: Option<&str>,
        mode: Option<Mode>,
    ) -> Result<(), RegistryError> {
        let key = RecordKey::Mode {
            subject: subject.map(str::to_string),
            magic: 0,
        };
        let rec = match mode {
            Some(m) => LogRecord::new(
                key,
                &ModeValue {
                    mode: m.as_str().to_string(),
                },
            ),
            None => LogRecord::tombstone(key),
        };
        let _write = self.writes.lock().await;
        self.store.append(&self.state, rec).await
    }
}

fn schema_value(found: &FoundVersion, deleted: bool) -> SchemaValue {
    SchemaValue {
        subject: found.subject.clone(),
        version: found.version,
        id: found.schema.id,
        schema_type: (found.schema.schema_type != SchemaType::Avro)
            .then(|| found.schema.schema_type.as_str().to_string()),
        references: found.schema.references.clone(),
        schema: found.schema.schema.clone(),
        deleted,
    }
}

fn non_transitive(level: CompatibilityMode) -> CompatibilityMode {
    match level {
        CompatibilityMode::BackwardTransitive => CompatibilityMode::Backward,
        CompatibilityMode::ForwardTransitive => CompatibilityMode::Forward,
        CompatibilityMode::FullTransitive => CompatibilityMode::Full,
        other => other,
    }
}

fn incompatible(
    subject: &str,
    level: CompatibilityMode,
    problems: &[contract::Incompatibility],
) -> RegistryError {
    let details: Vec<String> = problems.iter().map(ToString::to_string).collect();
    RegistryError::Incompatible(format!(
        "Schema being registered is incompatible with an earlier schema for subject \"{subject}\" ({level}), details: [{}]",
        details.join(", ")
    ))
}
