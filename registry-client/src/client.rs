//! [`RegistryClient`]: the cached, coalescing face of the registry that the proxy calls.

use std::sync::Arc;
use std::time::Instant;

use contract::avro::AvroSchema;
use contract::{ParsedSchema, ResolvedReference, SchemaId, SchemaReference, SchemaType};
use prometheus_client::registry::Registry;
use sha2::{Digest, Sha256};

use crate::cache::{CachePolicy, LookupCache};
use crate::config::{BindingCheck, CacheConfig, RegistryConfig};
use crate::error::{BuildError, Missing, RegistryError};
use crate::metrics::{CacheKind, Metrics};
use crate::references::{self, Limits, ReferencedSchema};
use crate::rest::{self, VersionRecord};
use crate::subject::{Subject, VersionSpec};
use crate::transport::Transport;

/// A schema fetched by id and parsed once; shared by every record that names the id.
#[derive(Debug)]
pub struct RegisteredSchema {
    /// The global id.
    pub id: SchemaId,
    /// Its format.
    pub schema_type: SchemaType,
    /// The text as the registry returned it.
    pub text: String,
    /// Its direct references as the registry listed them.
    pub references: Vec<SchemaReference>,
    /// The parsed schema, ready to validate payloads.
    pub parsed: ParsedSchema,
}

/// A schema registered under a subject: which version, which id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectVersion {
    /// The subject.
    pub subject: Subject,
    /// The version within the subject.
    pub version: i32,
    /// The global schema id.
    pub id: SchemaId,
}

/// Key of the lookup cache: the subject plus a digest of type, text and references.
type LookupKey = (Subject, [u8; 32]);

/// Cached, coalescing access to one Confluent-compatible registry. Clones share everything.
#[derive(Clone)]
pub struct RegistryClient {
    inner: Arc<Inner>,
}

struct Inner {
    transport: Transport,
    metrics: Metrics,
    cache: CacheConfig,
    limits: Limits,
    schemas: LookupCache<u32, Arc<RegisteredSchema>>,
    bindings: LookupCache<(Subject, u32), i32>,
    bound: LookupCache<(Subject, u32), Arc<RegisteredSchema>>,
    /// Whether `?subject=` filters, once known (set at build time unless `Auto`).
    subject_param: tokio::sync::OnceCell<bool>,
    versions: LookupCache<(Subject, VersionSpec), SubjectVersion>,
    lookups: LookupCache<LookupKey, SubjectVersion>,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient")
            .field("transport", &self.inner.transport)
            .field("cache", &self.inner.cache)
            .finish_non_exhaustive()
    }
}

impl RegistryClient {
    /// Builds a client; no request is sent until the first lookup.
    pub fn new(config: RegistryConfig) -> Result<Self, BuildError> {
        let metrics = Metrics::default();
        let transport = Transport::new(&config, metrics.clone())?;
        let c = config.cache;
        let policy = |capacity| CachePolicy {
            enabled: c.enabled,
            capacity,
            negative_ttl: c.negative_ttl,
        };
        let inner = Inner {
            schemas: LookupCache::new(policy(c.max_schemas), metrics.counters(CacheKind::Schema)),
            bindings: LookupCache::new(
                policy(c.max_bindings),
                metrics.counters(CacheKind::Binding),
            ),
            bound: LookupCache::new(policy(c.max_bindings), metrics.counters(CacheKind::Binding)),
            subject_param: match config.binding_check {
                BindingCheck::Auto => tokio::sync::OnceCell::new(),
                BindingCheck::SubjectParam => tokio::sync::OnceCell::new_with(Some(true)),
                BindingCheck::IdVersions => tokio::sync::OnceCell::new_with(Some(false)),
            },
            versions: LookupCache::new(
                policy(c.max_bindings),
                metrics.counters(CacheKind::SubjectVersion),
            ),
            lookups: LookupCache::new(
                policy(c.max_bindings),
                metrics.counters(CacheKind::SchemaLookup),
            ),
            transport,
            metrics,
            cache: c,
            limits: Limits {
                max_references: config.max_references,
                max_depth: config.max_reference_depth,
            },
        };
        Ok(RegistryClient {
            inner: Arc::new(inner),
        })
    }

    /// Adds this client's metrics to `registry` (names are complete; use no prefix).
    pub fn register_metrics(&self, registry: &mut Registry) {
        self.inner.metrics.register(registry);
    }

    /// The client's metrics (hit, miss and request counts).
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// HTTP requests sent so far, retries included: a cheap counter for tests and benches.
    pub fn registry_requests(&self) -> u64 {
        self.inner.metrics.registry_requests()
    }

    /// Schemas held parsed in the id cache now (approximate).
    pub fn cached_schemas(&self) -> u64 {
        self.inner.schemas.len()
    }

    /// The transport, for the uncached calls in `admin`.
    pub(crate) fn transport(&self) -> &Transport {
        &self.inner.transport
    }

    /// The parsed schema for `id`, from cache or `GET /schemas/ids/{id}` plus its references.
    /// `NotFound` means no such id (the record is invalid); `InvalidSchema` means the registry's
    /// schema does not parse; `Unavailable`/`BadResponse` mean retry later.
    pub async fn schema(&self, id: SchemaId) -> Result<Arc<RegisteredSchema>, RegistryError> {
        let inner = &self.inner;
        inner
            .schemas
            .get_or_fetch(id.0, None, || inner.fetch_schema(id))
            .await
    }

    /// The schema for `id` if the cache holds it now: no request, no await, no lookup counted.
    pub fn peek_schema(&self, id: SchemaId) -> Option<Arc<RegisteredSchema>> {
        self.inner.schemas.peek(&id.0)
    }

    /// What [`Self::bound_schema`] would answer at once for `(subject, id)` if it holds a
    /// value now (the same `Arc`): no request, no await, no lookup counted.
    pub fn peek_bound(&self, subject: &Subject, id: SchemaId) -> Option<Arc<RegisteredSchema>> {
        self.inner.bound.peek(&(subject.clone(), id.0))
    }

    /// The version under which schema `id` is registered in `subject` (the highest, if several).
    /// `NotFound { what: Binding }` means the id exists but not under this subject;
    /// `NotFound { what: SchemaId }` means the id does not exist.
    pub async fn binding(&self, subject: &Subject, id: SchemaId) -> Result<i32, RegistryError> {
        let inner = &self.inner;
        inner
            .bindings
            .get_or_fetch((subject.clone(), id.0), inner.cache.binding_ttl, || {
                inner.fetch_binding(subject, id)
            })
            .await
    }

    /// The parsed schema for `id`, provided `id` is registered under `subject`: what the proxy
    /// asks for every new (subject, id). One request, `GET /schemas/ids/{id}?subject=`, where
    /// the registry honours the parameter; else the schema by id plus `/versions`.
    /// `NotFound { what: SchemaId }`: no such id; `NotFound { what: Binding }`: the id exists
    /// but not under `subject`; `InvalidSchema`: the schema does not parse.
    pub async fn bound_schema(
        &self,
        subject: &Subject,
        id: SchemaId,
    ) -> Result<Arc<RegisteredSchema>, RegistryError> {
        let inner = &self.inner;
        inner
            .bound
            .get_or_fetch((subject.clone(), id.0), inner.cache.binding_ttl, || {
                inner.fetch_bound(subject, id)
            })
            .await
    }

    /// The id behind `subject` at `version` (reader contracts). `latest` is cached only for
    /// the short latest TTL.
    pub async fn subject_version(
        &self,
        subject: &Subject,
        version: VersionSpec,
    ) -> Result<SubjectVersion, RegistryError> {
        let inner = &self.inner;
        let ttl = match version {
            VersionSpec::Latest => Some(inner.cache.latest_ttl),
            VersionSpec::Number(_) => inner.cache.binding_ttl,
        };
        inner
            .versions
            .get_or_fetch((subject.clone(), version), ttl, || async {
                let record =
                    rest::subject_version(&inner.transport, subject.as_str(), version).await?;
                Ok(subject_version_of(record))
            })
            .await
    }

    /// Is this schema registered under `subject`, and as which version and id?
    /// (`POST /subjects/{subject}`; `NotFound` when it is not.)
    pub async fn lookup(
        &self,
        subject: &Subject,
        schema_type: SchemaType,
        text: &str,
        references: &[SchemaReference],
    ) -> Result<SubjectVersion, RegistryError> {
        let inner = &self.inner;
        let key = (
            subject.clone(),
            lookup_digest(schema_type, text, references),
        );
        inner
            .lookups
            .get_or_fetch(key, inner.cache.binding_ttl, || async {
                let record =
                    rest::lookup(&inner.transport, subject, schema_type, text, references).await?;
                Ok(subject_version_of(record))
            })
            .await
    }
}

impl Inner {
    async fn fetch_schema(&self, id: SchemaId) -> Result<Arc<RegisteredSchema>, RegistryError> {
        let fetched = rest::schema_by_id(&self.transport, id.0).await?;
        self.parse_fetched(id, fetched).await
    }

    /// `bound_schema` on a miss.
    async fn fetch_bound(
        &self,
        subject: &Subject,
        id: SchemaId,
    ) -> Result<Arc<RegisteredSchema>, RegistryError> {
        if self.subject_param.get() == Some(&false) {
            return self.bound_by_id_versions(subject, id).await;
        }
        match rest::schema_by_id_in_subject(&self.transport, id.0, subject.as_str()).await {
            Ok(fetched) => {
                // Parsed into the id cache (or taken from it): one parse per id.
                let schema = self
                    .schemas
                    .get_or_fetch(id.0, None, || self.parse_fetched(id, fetched))
                    .await?;
                match self.filters_by_subject(id).await {
                    Some(true) => Ok(schema),
                    // The parameter may have been ignored: prove the binding the long way.
                    Some(false) | None => {
                        self.fetch_binding(subject, id).await?;
                        Ok(schema)
                    }
                }
            }
            Err(RegistryError::NotFound { .. }) => {
                // No such id, or not under this subject: the id alone tells which.
                self.schemas
                    .get_or_fetch(id.0, None, || self.fetch_schema(id))
                    .await?;
                Err(not_bound(subject, id))
            }
            Err(e) => Err(e),
        }
    }

    async fn bound_by_id_versions(
        &self,
        subject: &Subject,
        id: SchemaId,
    ) -> Result<Arc<RegisteredSchema>, RegistryError> {
        let schema = self
            .schemas
            .get_or_fetch(id.0, None, || self.fetch_schema(id))
            .await?;
        self.fetch_binding(subject, id).await?;
        Ok(schema)
    }

    /// Does the registry filter `GET /schemas/ids/{id}?subject=` by subject? Probed once,
    /// with an id known to exist and a subject nobody registers: 404 means it filters.
    /// `None` when the probe could not get an answer (asked again next time).
    async fn filters_by_subject(&self, existing: SchemaId) -> Option<bool> {
        let probe = self
            .subject_param
            .get_or_try_init(|| async {
                match rest::schema_by_id_in_subject(&self.transport, existing.0, PROBE_SUBJECT)
                    .await
                {
                    Err(RegistryError::NotFound { .. }) => Ok(true),
                    Ok(_) => {
                        tracing::warn!(
                            "the schema registry ignores ?subject= on /schemas/ids/{{id}}: \
                             checking bindings with a second request per new id \
                             (--registry-binding-check id-versions skips this probe)"
                        );
                        Ok(false)
                    }
                    Err(e) => Err(e),
                }
            })
            .await;
        match probe {
            Ok(filters) => Some(*filters),
            Err(e) => {
                tracing::debug!(error = %e, "binding probe got no answer");
                None
            }
        }
    }

    async fn parse_fetched(
        &self,
        id: SchemaId,
        fetched: rest::SchemaText,
    ) -> Result<Arc<RegisteredSchema>, RegistryError> {
        let schema_type = fetched.parsed_type()?;
        let resolved = references::resolve(&fetched.references, self.limits, |r| {
            self.fetch_reference(r)
        })
        .await?;
        let (parsed, text) = parse_off_runtime(schema_type, fetched.schema, resolved).await?;
        Ok(Arc::new(RegisteredSchema {
            id,
            schema_type,
            text,
            references: fetched.references,
            parsed,
        }))
    }

    async fn fetch_reference(
        &self,
        reference: SchemaReference,
    ) -> Result<ReferencedSchema, RegistryError> {
        let version = VersionSpec::Number(reference.version);
        let record = rest::subject_version(&self.transport, &reference.subject, version).await?;
        let schema = record.schema.ok_or_else(|| RegistryError::BadResponse {
            endpoint: rest::endpoint::SUBJECT_VERSION,
            reason: "no schema text in the answer".into(),
        })?;
        Ok(ReferencedSchema {
            schema,
            references: record.references,
        })
    }

    async fn fetch_binding(&self, subject: &Subject, id: SchemaId) -> Result<i32, RegistryError> {
        let pairs = rest::id_versions(&self.transport, id.0).await?;
        pairs
            .iter()
            .filter(|p| p.subject == subject.as_str())
            .map(|p| p.version)
            .max()
            .ok_or_else(|| not_bound(subject, id))
    }
}

/// A subject no registry holds: the binding probe asks for an existing id under it.
pub const PROBE_SUBJECT: &str = "schemagate-binding-probe-not-a-subject";

fn not_bound(subject: &Subject, id: SchemaId) -> RegistryError {
    RegistryError::NotFound {
        what: Missing::Binding,
        error_code: 0,
        message: format!(
            "schema id {} is not registered under subject {subject}",
            id.0
        ),
    }
}

/// Parses on the blocking pool: a Protobuf compile can take milliseconds, and a parser that
/// panics on hostile text must not take a runtime worker with it.
async fn parse_off_runtime(
    schema_type: SchemaType,
    text: String,
    resolved: Vec<ResolvedReference>,
) -> Result<(ParsedSchema, String), RegistryError> {
    let started = Instant::now();
    let joined = tokio::task::spawn_blocking(move || {
        let parsed = match schema_type {
            // Stored Avro schemas are read as Confluent reads them: defaults are not re-checked.
            SchemaType::Avro => {
                AvroSchema::parse_registered(&text, &resolved).map(ParsedSchema::Avro)
            }
            _ => ParsedSchema::parse(schema_type, &text, &resolved),
        };
        (parsed, text)
    })
    .await;
    match joined {
        Ok((Ok(parsed), text)) => Ok((parsed, text)),
        Ok((Err(e), _)) => Err(RegistryError::InvalidSchema {
            reason: e.to_string(),
        }),
        Err(e) if e.is_panic() => Err(RegistryError::InvalidSchema {
            reason: "schema parser panicked".into(),
        }),
        Err(e) => Err(RegistryError::Unavailable {
            endpoint: rest::endpoint::SCHEMA_BY_ID,
            reason: format!("schema parse cancelled: {e}"),
            elapsed: started.elapsed(),
        }),
    }
}

fn subject_version_of(record: VersionRecord) -> SubjectVersion {
    SubjectVersion {
        subject: Subject::from(record.subject),
        version: record.version,
        id: SchemaId(record.id),
    }
}

fn lookup_digest(schema_type: SchemaType, text: &str, references: &[SchemaReference]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(schema_type.as_str().as_bytes());
    h.update([0u8]);
    h.update((text.len() as u64).to_be_bytes());
    h.update(text.as_bytes());
    for r in references {
        for part in [r.name.as_bytes(), r.subject.as_bytes()] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
        h.update(r.version.to_be_bytes());
    }
    h.finalize().into()
}
