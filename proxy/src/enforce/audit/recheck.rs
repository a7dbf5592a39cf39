//! Judging quarantined records again, against the registry as it is now, with the same steps
//! the proxy takes ([`frame_of`], [`Resolver`], [`verdict`]): no second checker.
//!
//! Each record is judged under the contract of the topic it was produced to (its
//! `schemagate.topic` header, else the replay's destination): that topic's policy rule when a
//! policy is given and a rule matches, else the default (value required, key off, topic
//! strategy), and subjects named after that topic.

use std::collections::BTreeMap;

use contract::SchemaId;
use registry_client::{RegistryClient, RegistryError};

use super::record::QuarantinedRecord;
use crate::enforce::reason::{Part, Violation};
use crate::enforce::record_check::{frame_of, verdict, FrameCheck, Resolved};
use crate::enforce::resolve::{reader_verdicts, ReaderVerdicts, Resolver};
use crate::policy::{OnInvalid, Policy, Requirement, SubjectStrategy, TopicPolicy};

/// The rule used when no policy is given or none of its rules matches the topic.
pub fn default_rule() -> TopicPolicy {
    TopicPolicy {
        pattern: "*".to_string(),
        value: Requirement::Required,
        key: Requirement::Off,
        strategy: SubjectStrategy::Topic,
        on_invalid: OnInvalid::Quarantine,
        quarantine: "{topic}.quarantine".to_string(),
        readers: Vec::new(),
    }
}

/// Re-checks records against the registry.
pub struct Rechecker {
    client: RegistryClient,
    policy: Option<Policy>,
    fallback_topic: String,
    verdicts: ReaderVerdicts,
}

impl Rechecker {
    /// `fallback_topic` names the contract of records without a `schemagate.topic` header.
    pub fn new(client: RegistryClient, policy: Option<Policy>, fallback_topic: &str) -> Self {
        Self {
            client,
            policy,
            fallback_topic: fallback_topic.to_string(),
            verdicts: reader_verdicts(),
        }
    }

    /// The topic whose contract a record is judged under.
    pub fn contract_topic(&self, record: &QuarantinedRecord) -> String {
        record
            .source_topic()
            .unwrap_or_else(|| self.fallback_topic.clone())
    }

    /// The rule for `topic`: the policy's first match, else [`default_rule`].
    pub fn rule_for(&self, topic: &str) -> TopicPolicy {
        self.policy
            .as_ref()
            .and_then(|p| p.for_topic(topic))
            .cloned()
            .unwrap_or_else(default_rule)
    }

    /// One verdict per record (None: passes). Err only when the registry could not answer,
    /// in which case nothing may be counted as failing.
    pub async fn check(
        &self,
        records: &[QuarantinedRecord],
    ) -> Result<Vec<Option<Violation>>, RegistryError> {
        let mut by_topic: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, r) in records.iter().enumerate() {
            by_topic.entry(self.contract_topic(r)).or_default().push(i);
        }
        let mut out = vec![None; records.len()];
        for (topic, members) in by_topic {
            let rule = self.rule_for(&topic);
            let group: Vec<&QuarantinedRecord> =
                members.iter().filter_map(|&i| records.get(i)).collect();
            let verdicts = self.check_topic(&topic, &rule, &group).await?;
            for (i, v) in members.into_iter().zip(verdicts) {
                if let Some(slot) = out.get_mut(i) {
                    *slot = v;
                }
            }
        }
        Ok(out)
    }

    async fn check_topic(
        &self,
        topic: &str,
        rule: &TopicPolicy,
        records: &[&QuarantinedRecord],
    ) -> Result<Vec<Option<Violation>>, RegistryError> {
        let mut framed = Vec::with_capacity(records.len());
        let mut ids: Vec<(Part, SchemaId)> = Vec::new();
        for r in records {
            let parts = [
                (Part::Key, r.key.as_deref(), rule.key),
                (Part::Value, r.value.as_deref(), rule.value),
            ];
            let mut bad = None;
            let mut frames = Vec::new();
            for (part, payload, requirement) in parts {
                match frame_of(part, payload, requirement) {
                    FrameCheck::Skip => {}
                    FrameCheck::Bad(v) => bad = bad.or(Some(v)),
                    FrameCheck::Framed(f) => {
                        ids.push((part, f.schema_id));
                        frames.push((part, f));
                    }
                }
            }
            framed.push((bad, frames));
        }
        ids.sort_unstable();
        ids.dedup();
        let resolved = if ids.is_empty() {
            Resolved::new()
        } else {
            Resolver {
                client: &self.client,
                topic,
                policy: rule,
                verdicts: &self.verdicts,
            }
            .resolve(&ids)
            .await?
        };
        Ok(framed
            .into_iter()
            .map(|(bad, frames)| {
                bad.or_else(|| {
                    frames
                        .iter()
                        .find_map(|(part, f)| verdict(*part, f, &resolved))
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::super::record::tests::quarantined;
    use super::*;
    use crate::enforce::reason::Reason;
    use registry_client::RegistryConfig;

    fn rechecker(policy: Option<&str>) -> Rechecker {
        // Nothing below reaches the registry: frame checks need no lookup.
        let client = RegistryClient::new(RegistryConfig::new("http://127.0.0.1:9"))
            .unwrap_or_else(|e| panic!("{e}"));
        let policy = policy.map(|p| Policy::parse(p, "p.toml").unwrap_or_else(|e| panic!("{e}")));
        Rechecker::new(client, policy, "replayed")
    }

    #[test]
    fn rules_come_from_the_source_topic_then_the_default() {
        let r = rechecker(Some(
            "[[topic]]\nmatch = \"orders\"\nvalue = \"optional\"\nkey = \"required\"\nstrategy = \"record\"\n",
        ));
        let rec = quarantined(Vec::new(), "decode-failed", "1", "c");
        assert_eq!(r.contract_topic(&rec), "orders");
        let rule = r.rule_for("orders");
        assert_eq!(
            (rule.value, rule.key, rule.strategy),
            (
                Requirement::Optional,
                Requirement::Required,
                SubjectStrategy::Record
            )
        );
        assert_eq!(r.rule_for("elsewhere"), default_rule());
        let mut bare = rec;
        bare.headers.clear();
        assert_eq!(r.contract_topic(&bare), "replayed");
        assert_eq!(rechecker(None).rule_for("orders"), default_rule());
    }

    #[tokio::test]
    async fn frame_errors_fail_without_asking_the_registry() {
        let r = rechecker(None);
        let mut short = quarantined(Vec::new(), "too-short", "", "");
        short.value = Some(vec![0, 0]);
        let mut plain = quarantined(Vec::new(), "no-magic-byte", "", "");
        plain.value = Some(b"hello".to_vec());
        let mut tombstone = quarantined(Vec::new(), "no-magic-byte", "", "");
        tombstone.value = None;
        let got = r
            .check(&[short, plain, tombstone])
            .await
            .unwrap_or_else(|e| panic!("no registry call expected: {e}"));
        let reasons: Vec<Option<Reason>> =
            got.iter().map(|v| v.as_ref().map(|v| v.reason)).collect();
        assert_eq!(
            reasons,
            vec![Some(Reason::TooShort), Some(Reason::NoMagicByte), None]
        );
    }

    #[tokio::test]
    async fn an_unreachable_registry_is_an_error_not_a_verdict() {
        let r = rechecker(None);
        let mut framed = quarantined(Vec::new(), "unknown-schema-id", "5", "");
        framed.value = Some(vec![0, 0, 0, 0, 5, 2]);
        let err = r.check(&[framed]).await.err();
        assert!(
            err.as_ref().is_some_and(RegistryError::is_transient),
            "{err:?}"
        );
    }
}
