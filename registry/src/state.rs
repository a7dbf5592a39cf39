//! The registry's in-memory state, built only by applying log records in log order.
//!
//! Every instance applies the same records in the same order with the same rules, so every
//! instance reaches the same state. The rules that settle races (see `apply_schema`):
//! - a schema id belongs to the content (type, canonical text, references) of the first SCHEMA
//!   record that carries it; a later record giving that id to other content is ignored;
//! - a content keeps the first id it was given; a later record giving it another id is ignored;
//! - a subject version belongs to the id of the first SCHEMA record for it; later records for
//!   the same key only change its `deleted` flag, and only when they carry the same id.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use contract::{CompatibilityMode, ParsedSchema, ResolvedReference, SchemaReference, SchemaType};
use sha2::{Digest, Sha256};

use crate::error::RegistryError;
use crate::record::{
    ClearSubjectValue, ConfigValue, DeleteSubjectValue, LogRecord, ModeValue, RecordKey,
    SchemaValue,
};

/// How deep and how many references one schema may pull in.
const MAX_REFERENCE_DEPTH: usize = 32;
const MAX_REFERENCES: usize = 1024;

/// SHA-256 over a schema's type, canonical text and references: equal means one id.
pub type Fingerprint = [u8; 32];

/// The registry's write mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Normal operation.
    ReadWrite,
    /// Every write is refused with 42205.
    ReadOnly,
    /// Registrations carry their own id and version; no compatibility checks.
    Import,
}

impl Mode {
    /// Confluent's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::ReadWrite => "READWRITE",
            Mode::ReadOnly => "READONLY",
            Mode::Import => "IMPORT",
        }
    }

    /// Parses Confluent's spelling (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "READWRITE" => Some(Mode::ReadWrite),
            "READONLY" | "READONLY_OVERRIDE" => Some(Mode::ReadOnly),
            "IMPORT" => Some(Mode::Import),
            _ => None,
        }
    }
}

/// One registered schema, shared by every subject version that carries its id.
#[derive(Debug)]
pub struct StoredSchema {
    /// Global id.
    pub id: i32,
    /// Format.
    pub schema_type: SchemaType,
    /// Text as first registered.
    pub schema: String,
    /// References as registered.
    pub references: Vec<SchemaReference>,
    /// Identity of the content.
    pub fingerprint: Fingerprint,
    /// Parsed form (absent only if a log record holds a schema this build cannot parse).
    pub parsed: Option<Arc<ParsedSchema>>,
}

/// One version of one subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionEntry {
    /// The schema id it points at.
    pub id: i32,
    /// Soft-deleted flag.
    pub deleted: bool,
}

/// A version found by a query: subject version, its flag, and the schema.
#[derive(Debug, Clone)]
pub struct FoundVersion {
    /// Subject name.
    pub subject: String,
    /// Version number.
    pub version: i32,
    /// Soft-deleted flag.
    pub deleted: bool,
    /// The schema.
    pub schema: Arc<StoredSchema>,
}

/// Which version a request names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionSpec {
    /// `latest` or `-1`.
    Latest,
    /// A positive version number.
    Number(i32),
}

impl VersionSpec {
    /// Parses a path segment: `latest`, `-1` or 1..=i32::MAX; anything else is 42202.
    pub fn parse(s: &str) -> Result<Self, RegistryError> {
        if s.eq_ignore_ascii_case("latest") || s == "-1" {
            return Ok(VersionSpec::Latest);
        }
        match s.parse::<i32>() {
            Ok(n) if n >= 1 => Ok(VersionSpec::Number(n)),
            _ => Err(RegistryError::InvalidVersion(s.to_string())),
        }
    }
}

/// What [`State::counts`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Distinct schemas (ids), deleted versions included.
    pub schemas: usize,
    /// Subjects with at least one version that is not soft-deleted.
    pub subjects: usize,
}

/// The state every handler reads, shared with the log reader that writes it.
pub type SharedState = Arc<RwLock<State>>;

/// Applies a record to shared state; a poisoned lock (a panic elsewhere) is taken over.
pub fn apply(state: &SharedState, rec: &LogRecord) {
    let mut guard = state.write().unwrap_or_else(|e| e.into_inner());
    guard.apply(rec);
}

/// Everything the registry knows, rebuilt from the log.
#[derive(Debug, Default)]
pub struct State {
    ids: HashMap<i32, Arc<StoredSchema>>,
    by_fingerprint: HashMap<Fingerprint, i32>,
    subjects: BTreeMap<String, BTreeMap<i32, VersionEntry>>,
    max_id: i32,
    global_config: Option<CompatibilityMode>,
    subject_config: HashMap<String, CompatibilityMode>,
    global_mode: Option<Mode>,
    subject_mode: HashMap<String, Mode>,
}

impl State {
    /// Applies one log record. Records that break the race rules are ignored (and logged).
    pub fn apply(&mut self, rec: &LogRecord) {
        let value = rec.value.as_deref();
        match &rec.key {
            RecordKey::Schema {
                subject, version, ..
            } => match value {
                None => self.remove_version(subject, *version),
                Some(v) => match serde_json::from_slice::<SchemaValue>(v) {
                    Ok(v) if &v.subject == subject && v.version == *version => {
                        self.apply_schema(&v)
                    }
                    _ => tracing::warn!(%subject, version, "skipping malformed SCHEMA record"),
                },
            },
            RecordKey::Config { subject, .. } => {
                let level = value
                    .and_then(|v| serde_json::from_slice::<ConfigValue>(v).ok())
                    .and_then(|c| c.compatibility_level.parse::<CompatibilityMode>().ok());
                match subject {
                    None => self.global_config = level,
                    Some(s) => match level {
                        Some(l) => {
                            self.subject_config.insert(s.clone(), l);
                        }
                        None => {
                            self.subject_config.remove(s);
                        }
                    },
                }
            }
            RecordKey::Mode { subject, .. } => {
                let mode = value
                    .and_then(|v| serde_json::from_slice::<ModeValue>(v).ok())
                    .and_then(|m| Mode::parse(&m.mode));
                match subject {
                    None => self.global_mode = mode,
                    Some(s) => match mode {
                        Some(m) => {
                            self.subject_mode.insert(s.clone(), m);
                        }
                        None => {
                            self.subject_mode.remove(s);
                        }
                    },
                }
            }
            RecordKey::Noop { .. } => {}
            RecordKey::DeleteSubject { subject, .. } => {
                let upto = value
                    .and_then(|v| serde_json::from_slice::<DeleteSubjectValue>(v).ok())
                    .map_or(i32::MAX, |d| d.version);
                if let Some(versions) = self.subjects.get_mut(subject) {
                    for (_, e) in versions.range_mut(..=upto) {
                        e.deleted = true;
                    }
                }
            }
            RecordKey::ClearSubject { subject, .. } => {
                let ok = value
                    .and_then(|v| serde_json::from_slice::<ClearSubjectValue>(v).ok())
                    .is_some_and(|c| &c.subject == subject);
                if let (true, Some(versions)) = (ok, self.subjects.get_mut(subject)) {
                    versions.retain(|_, e| !e.deleted);
                    if versions.is_empty() {
                        self.subjects.remove(subject);
                    }
                }
            }
        }
    }

    fn apply_schema(&mut self, v: &SchemaValue) {
        self.max_id = self.max_id.max(v.id);
        if let Some(existing) = self
            .subjects
            .get_mut(&v.subject)
            .and_then(|m| m.get_mut(&v.version))
        {
            if existing.id == v.id {
                existing.deleted = v.deleted;
            } else {
                tracing::debug!(subject = %v.subject, version = v.version, "version already taken; record lost the race");
            }
            return;
        }
        let schema_type = match v.schema_type.as_deref() {
            None => SchemaType::Avro,
            Some(t) => match t.parse() {
                Ok(t) => t,
                Err(_) => return,
            },
        };
        let parsed = self
            .resolve(&v.references)
            .ok()
            .and_then(|refs| ParsedSchema::parse(schema_type, &v.schema, &refs).ok());
        let fp = fingerprint(schema_type, &v.schema, &v.references, parsed.as_ref());
        match (self.ids.get(&v.id), self.by_fingerprint.get(&fp)) {
            (Some(s), _) if s.fingerprint != fp => return,
            (_, Some(&id)) if id != v.id => return,
            (Some(_), _) => {}
            (None, _) => {
                self.ids.insert(
                    v.id,
                    Arc::new(StoredSchema {
                        id: v.id,
                        schema_type,
                        schema: v.schema.clone(),
                        references: v.references.clone(),
                        fingerprint: fp,
                        parsed: parsed.map(Arc::new),
                    }),
                );
                self.by_fingerprint.insert(fp, v.id);
            }
        }
        self.subjects.entry(v.subject.clone()).or_default().insert(
            v.version,
            VersionEntry {
                id: v.id,
                deleted: v.deleted,
            },
        );
    }

    fn remove_version(&mut self, subject: &str, version: i32) {
        if let Some(versions) = self.subjects.get_mut(subject) {
            versions.remove(&version);
            if versions.is_empty() {
                self.subjects.remove(subject);
            }
        }
    }

    /// Resolves references transitively into dependency order (dependencies first).
    pub fn resolve(
        &self,
        refs: &[SchemaReference],
    ) -> Result<Vec<ResolvedReference>, RegistryError> {
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        self.resolve_into(refs, 0, &mut seen, &mut out)?;
        Ok(out)
    }

    fn resolve_into(
        &self,
        refs: &[SchemaReference],
        depth: usize,
        seen: &mut std::collections::HashSet<String>,
        out: &mut Vec<ResolvedReference>,
    ) -> Result<(), RegistryError> {
        if depth > MAX_REFERENCE_DEPTH {
            return Err(RegistryError::InvalidSchema(
                "references nest too deeply".into(),
            ));
        }
        for r in refs {
            if seen.contains(&r.name) {
                continue;
            }
            if out.len() >= MAX_REFERENCES {
                return Err(RegistryError::InvalidSchema("too many references".into()));
            }
            let spec = if r.version == -1 {
                VersionSpec::Latest
            } else {
                VersionSpec::Number(r.version)
            };
            let found = self.version(&r.subject, spec, true).map_err(|_| {
                RegistryError::InvalidSchema(format!(
                    "Invalid schema: reference {{name={}, subject={}, version={}}} does not exist",
                    r.name, r.subject, r.version
                ))
            })?;
            seen.insert(r.name.clone());
            self.resolve_into(&found.schema.references, depth + 1, seen, out)?;
            out.push(ResolvedReference {
                name: r.name.clone(),
                schema: found.schema.schema.clone(),
            });
        }
        Ok(())
    }

    /// How much is held: schemas (ids) and subjects with a live version.
    pub fn counts(&self) -> Counts {
        Counts {
            schemas: self.ids.len(),
            subjects: self
                .subjects
                .values()
                .filter(|v| v.values().any(|e| !e.deleted))
                .count(),
        }
    }

    /// Subjects with at least one live version (or any version when `deleted`).
    pub fn subjects(&self, deleted: bool) -> Vec<String> {
        self.subjects
            .iter()
            .filter(|(_, v)| deleted || v.values().any(|e| !e.deleted))
            .map(|(s, _)| s.clone())
            .collect()
    }

    /// Version numbers of a subject; 40401 when it has none to show.
    pub fn versions(&self, subject: &str, deleted: bool) -> Result<Vec<i32>, RegistryError> {
        let out: Vec<i32> = self
            .subjects
            .get(subject)
            .map(|m| {
                m.iter()
                    .filter(|(_, e)| deleted || !e.deleted)
                    .map(|(v, _)| *v)
                    .collect()
            })
            .unwrap_or_default();
        if out.is_empty() {
            return Err(RegistryError::SubjectNotFound(subject.to_string()));
        }
        Ok(out)
    }

    /// One version of a subject (40401 / 40402 when absent).
    pub fn version(
        &self,
        subject: &str,
        spec: VersionSpec,
        deleted: bool,
    ) -> Result<FoundVersion, RegistryError> {
        let versions = self
            .subjects
            .get(subject)
            .filter(|m| deleted || m.values().any(|e| !e.deleted))
            .ok_or_else(|| RegistryError::SubjectNotFound(subject.to_string()))?;
        let hit = match spec {
            VersionSpec::Latest => versions.iter().rev().find(|(_, e)| deleted || !e.deleted),
            VersionSpec::Number(n) => versions
                .get_key_value(&n)
                .filter(|(_, e)| deleted || !e.deleted),
        };
        let (version, entry) = hit.ok_or_else(|| {
            RegistryError::VersionNotFound(match spec {
                VersionSpec::Latest => "latest".into(),
                VersionSpec::Number(n) => n.to_string(),
            })
        })?;
        let schema = self
            .ids
            .get(&entry.id)
            .cloned()
            .ok_or(RegistryError::SchemaNotFound)?;
        Ok(FoundVersion {
            subject: subject.to_string(),
            version: *version,
            deleted: entry.deleted,
            schema,
        })
    }

    /// Live versions of a subject, oldest first, as parsed schemas for compatibility checks.
    pub fn live_parsed(&self, subject: &str) -> Vec<Arc<ParsedSchema>> {
        self.subjects
            .get(subject)
            .map(|m| {
                m.values()
                    .filter(|e| !e.deleted)
                    .filter_map(|e| self.ids.get(&e.id).and_then(|s| s.parsed.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The version of `subject` holding content `fp`, if any (live only unless `deleted`).
    pub fn find_in_subject(
        &self,
        subject: &str,
        fp: &Fingerprint,
        deleted: bool,
    ) -> Option<FoundVersion> {
        let id = *self.by_fingerprint.get(fp)?;
        let (version, entry) = self
            .subjects
            .get(subject)?
            .iter()
            .rev()
            .find(|(_, e)| e.id == id && (deleted || !e.deleted))?;
        Some(FoundVersion {
            subject: subject.to_string(),
            version: *version,
            deleted: entry.deleted,
            schema: self.ids.get(&id)?.clone(),
        })
    }

    /// The schema with this id.
    pub fn schema(&self, id: i32) -> Option<Arc<StoredSchema>> {
        self.ids.get(&id).cloned()
    }

    /// The id already given to this content.
    pub fn id_for(&self, fp: &Fingerprint) -> Option<i32> {
        self.by_fingerprint.get(fp).copied()
    }

    /// The id a new content would get.
    pub fn next_id(&self) -> i32 {
        self.max_id.saturating_add(1)
    }

    /// The version a new registration in `subject` would get.
    pub fn next_version(&self, subject: &str) -> i32 {
        self.subjects
            .get(subject)
            .and_then(|m| m.keys().next_back().copied())
            .unwrap_or(0)
            .saturating_add(1)
    }

    /// Raw entry of a subject version, deleted or not.
    pub fn entry(&self, subject: &str, version: i32) -> Option<VersionEntry> {
        self.subjects.get(subject)?.get(&version).copied()
    }

    /// Every (subject, version) that carries `id`.
    pub fn versions_of_id(&self, id: i32, deleted: bool) -> Vec<(String, i32)> {
        let mut out = Vec::new();
        for (s, m) in &self.subjects {
            for (v, e) in m {
                if e.id == id && (deleted || !e.deleted) {
                    out.push((s.clone(), *v));
                }
            }
        }
        out
    }

    /// Ids of live schemas that reference `subject` version `version`.
    pub fn referenced_by(&self, subject: &str, version: i32) -> Vec<i32> {
        let mut out: Vec<i32> = self
            .ids
            .values()
            .filter(|s| {
                s.references
                    .iter()
                    .any(|r| r.subject == subject && r.version == version)
            })
            .filter(|s| !self.versions_of_id(s.id, false).is_empty())
            .map(|s| s.id)
            .collect();
        out.sort_unstable();
        out
    }

    /// Subject-level compatibility, if set.
    pub fn subject_config(&self, subject: &str) -> Option<CompatibilityMode> {
        self.subject_config.get(subject).copied()
    }

    /// Global compatibility (BACKWARD unless set).
    pub fn global_config(&self) -> CompatibilityMode {
        self.global_config.unwrap_or(CompatibilityMode::Backward)
    }

    /// The compatibility that applies to `subject`.
    pub fn effective_config(&self, subject: &str) -> CompatibilityMode {
        self.subject_config(subject)
            .unwrap_or_else(|| self.global_config())
    }

    /// Subject-level mode, if set.
    pub fn subject_mode(&self, subject: &str) -> Option<Mode> {
        self.subject_mode.get(subject).copied()
    }

    /// Global mode (READWRITE unless set).
    pub fn global_mode(&self) -> Mode {
        self.global_mode.unwrap_or(Mode::ReadWrite)
    }

    /// The mode that applies to `subject`.
    pub fn effective_mode(&self, subject: &str) -> Mode {
        self.subject_mode(subject)
            .unwrap_or_else(|| self.global_mode())
    }
}

/// The identity of a schema: type, canonical text (raw text if unparsable) and references.
pub fn fingerprint(
    schema_type: SchemaType,
    text: &str,
    references: &[SchemaReference],
    parsed: Option<&ParsedSchema>,
) -> Fingerprint {
    let mut h = Sha256::new();
    h.update(schema_type.as_str().as_bytes());
    h.update([0u8]);
    match parsed {
        Some(p) => h.update(p.canonical().as_bytes()),
        None => h.update(text.as_bytes()),
    }
    for r in references {
        h.update([0u8]);
        h.update(r.name.as_bytes());
        h.update([0u8]);
        h.update(r.subject.as_bytes());
        h.update(r.version.to_be_bytes());
    }
    h.finalize().into()
}

#[cfg(test)]
mod tests;
