//! Resolving the distinct schema ids of one batch against the registry, once per batch.
//!
//! For each (part, id): the subject the topic's strategy names, the schema by id provided it is
//! bound to that subject (one registry request under the topic strategy), and each declared
//! reader's verdict (cached per writer/reader pair, since a compatibility check costs far more
//! than a record). A registry that cannot answer makes the whole batch retriable; it never
//! makes a record invalid.

use std::sync::Arc;

use contract::{compat, SchemaId};
use futures::future::try_join_all;
use registry_client::{
    CallerAction, Missing, RegisteredSchema, RegistryClient, RegistryError, Subject, VersionSpec,
};

use super::reason::Part;
use super::record_check::{IdVerdict, Resolved};
use crate::policy::{ReaderVersion, SubjectStrategy, TopicPolicy};

/// Compatibility verdicts per (writer id, reader id): None when readable, else the reason.
pub type ReaderVerdicts = moka::sync::Cache<(u32, u32), Option<Arc<str>>>;

/// A new bounded reader-verdict cache.
pub fn reader_verdicts() -> ReaderVerdicts {
    moka::sync::Cache::new(10_000)
}

/// Everything resolution needs besides the ids.
pub struct Resolver<'a> {
    /// The registry client (cached, coalescing).
    pub client: &'a RegistryClient,
    /// The record's topic.
    pub topic: &'a str,
    /// The topic's policy.
    pub policy: &'a TopicPolicy,
    /// Reader verdict cache shared by all connections.
    pub verdicts: &'a ReaderVerdicts,
}

impl Resolver<'_> {
    /// Resolves every (part, id); Err only when the registry could not answer.
    pub async fn resolve(&self, ids: &[(Part, SchemaId)]) -> Result<Resolved, RegistryError> {
        let answers = try_join_all(ids.iter().map(|&(part, id)| self.one(part, id))).await?;
        Ok(ids.iter().copied().zip(answers).collect())
    }

    /// The writer schema [`Self::resolve`] would name valid for (part, id), if the registry
    /// client's cache holds it now: no request, no await. Only a guess (the subject's binding
    /// is cached, the declared readers are not consulted): the resolution still decides.
    pub fn peek(&self, part: Part, id: SchemaId) -> Option<Arc<RegisteredSchema>> {
        let subject = match self.policy.strategy {
            SubjectStrategy::Topic => Subject::new(&self.topic_subject(part)),
            SubjectStrategy::Record | SubjectStrategy::TopicRecord => {
                Subject::new(&self.subject_for(part, &*self.client.peek_schema(id)?))
            }
        };
        self.client.peek_bound(&subject, id)
    }

    async fn one(&self, part: Part, id: SchemaId) -> Result<IdVerdict, RegistryError> {
        let subject = match self.policy.strategy {
            // The subject is known before the schema: one lookup proves both.
            SubjectStrategy::Topic => Subject::new(&self.topic_subject(part)),
            // The subject comes from the writer schema's record name.
            SubjectStrategy::Record | SubjectStrategy::TopicRecord => {
                match definitive(self.client.schema(id).await)? {
                    Some(w) => Subject::new(&self.subject_for(part, &w)),
                    None => return Ok(IdVerdict::Unknown),
                }
            }
        };
        let writer = match self.client.bound_schema(&subject, id).await {
            Ok(w) => w,
            Err(e) if e.action() == CallerAction::RecordInvalid => {
                return Ok(match e {
                    RegistryError::NotFound {
                        what: Missing::Binding,
                        ..
                    } => IdVerdict::NotBound {
                        subject: subject.as_str().to_string(),
                    },
                    _ => IdVerdict::Unknown,
                });
            }
            Err(e) => return Err(e),
        };
        for reader in &self.policy.readers {
            if let Some(why) = self.reader_problem(&subject, *reader, &writer).await? {
                return Ok(IdVerdict::ReaderIncompatible(why.to_string()));
            }
        }
        Ok(IdVerdict::Valid(writer))
    }

    /// `{topic}-key` or `{topic}-value`.
    fn topic_subject(&self, part: Part) -> String {
        format!("{}-{}", self.topic, part.as_str())
    }

    /// The subject named by the topic's strategy, as Confluent's serializers name it.
    fn subject_for(&self, part: Part, writer: &RegisteredSchema) -> String {
        let record = || writer.parsed.record_name().unwrap_or_default();
        match self.policy.strategy {
            SubjectStrategy::Topic => self.topic_subject(part),
            SubjectStrategy::Record => record(),
            SubjectStrategy::TopicRecord => format!("{}-{}", self.topic, record()),
        }
    }

    async fn reader_problem(
        &self,
        subject: &Subject,
        reader: ReaderVersion,
        writer: &RegisteredSchema,
    ) -> Result<Option<Arc<str>>, RegistryError> {
        let spec = match reader {
            ReaderVersion::Latest => VersionSpec::Latest,
            ReaderVersion::Version(v) => VersionSpec::Number(v),
        };
        let Some(version) = definitive(self.client.subject_version(subject, spec).await)? else {
            return Ok(Some(
                format!(
                    "declared reader {} of subject {} does not exist",
                    spec.path_segment(),
                    subject.as_str()
                )
                .into(),
            ));
        };
        let key = (writer.id.0, version.id.0);
        if let Some(cached) = self.verdicts.get(&key) {
            return Ok(cached);
        }
        let Some(reader_schema) = definitive(self.client.schema(version.id).await)? else {
            return Ok(Some(
                format!("reader schema id {} does not exist", version.id.0).into(),
            ));
        };
        let problems = compat::can_read(&reader_schema.parsed, &writer.parsed);
        let verdict = (!problems.is_empty()).then(|| {
            let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
            Arc::from(format!(
                "reader version {} (id {}) of {} cannot read writer id {}: {}",
                version.version,
                version.id.0,
                subject.as_str(),
                writer.id.0,
                list.join("; ")
            ))
        });
        self.verdicts.insert(key, verdict.clone());
        Ok(verdict)
    }
}

/// Ok(Some) for an answer, Ok(None) for a definitive "no", Err when the registry could not say.
fn definitive<T>(r: Result<T, RegistryError>) -> Result<Option<T>, RegistryError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.action() == CallerAction::RecordInvalid => Ok(None),
        Err(e) => Err(e),
    }
}
