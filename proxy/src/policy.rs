//! Per-topic enforcement policy: parsed once from TOML into a runtime form.
//!
//! ```toml
//! [[topic]]
//! match = "orders*"          # glob; the first matching rule wins
//! value = "required"         # required | optional | off
//! key = "off"
//! strategy = "topic"         # topic | record | topic_record
//! on_invalid = "quarantine"  # quarantine | reject | audit
//! quarantine = "{topic}.quarantine"
//! readers = ["latest", 3]    # optional: versions of the subject that must read the writer
//! ```

use std::path::Path;

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Deserialize;

/// Whether a record's key or value must carry a Confluent wire frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Requirement {
    /// Every non-null payload must be framed and valid.
    Required,
    /// Payloads without the magic byte pass; framed ones must be valid.
    Optional,
    /// Not inspected.
    Off,
}

/// Confluent subject name strategies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectStrategy {
    /// `{topic}-value` / `{topic}-key`.
    Topic,
    /// The record's fully qualified name.
    Record,
    /// `{topic}-{record name}`.
    TopicRecord,
}

/// What happens to a batch with invalid records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnInvalid {
    /// Bad records go to quarantine, good ones to the topic.
    Quarantine,
    /// The partition's batch is refused with INVALID_RECORD (copies go to quarantine).
    Reject,
    /// Everything is forwarded; bad records are counted and copied to quarantine.
    Audit,
}

/// A reader contract: a version of the subject that must be able to read the writer schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReaderVersion {
    /// The subject's latest version at the time of the check (cached briefly).
    Latest,
    /// A fixed version number.
    Version(i32),
}

impl<'de> Deserialize<'de> for ReaderVersion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Num(i64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Num(n) if n >= 1 && n <= i64::from(i32::MAX) => {
                Ok(ReaderVersion::Version(n as i32))
            }
            Raw::Text(t) if t == "latest" => Ok(ReaderVersion::Latest),
            Raw::Text(t) => t
                .parse::<i32>()
                .ok()
                .filter(|v| *v >= 1)
                .map(ReaderVersion::Version)
                .ok_or_else(|| {
                    serde::de::Error::custom(format!(
                        "reader {t:?} is neither \"latest\" nor a version number"
                    ))
                }),
            Raw::Num(n) => Err(serde::de::Error::custom(format!(
                "reader version {n} must be 1 or more"
            ))),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    topic: Vec<RawRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(rename = "match")]
    pattern: String,
    #[serde(default = "default_value")]
    value: Requirement,
    #[serde(default = "default_key")]
    key: Requirement,
    #[serde(default = "default_strategy")]
    strategy: SubjectStrategy,
    #[serde(default = "default_on_invalid")]
    on_invalid: OnInvalid,
    #[serde(default = "default_quarantine")]
    quarantine: String,
    #[serde(default)]
    readers: Vec<ReaderVersion>,
}

fn default_value() -> Requirement {
    Requirement::Required
}
fn default_key() -> Requirement {
    Requirement::Off
}
fn default_strategy() -> SubjectStrategy {
    SubjectStrategy::Topic
}
fn default_on_invalid() -> OnInvalid {
    OnInvalid::Quarantine
}
fn default_quarantine() -> String {
    "{topic}.quarantine".to_string()
}

/// The policy for one topic, as resolved from the first matching rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicPolicy {
    /// The glob that matched.
    pub pattern: String,
    /// Requirement on record values.
    pub value: Requirement,
    /// Requirement on record keys.
    pub key: Requirement,
    /// How subjects are named.
    pub strategy: SubjectStrategy,
    /// What to do with invalid records.
    pub on_invalid: OnInvalid,
    /// Quarantine topic template; `{topic}` is replaced by the record's topic.
    pub quarantine: String,
    /// Reader contracts checked against each writer schema.
    pub readers: Vec<ReaderVersion>,
}

impl TopicPolicy {
    /// True when neither keys nor values are inspected.
    pub fn is_off(&self) -> bool {
        self.key == Requirement::Off && self.value == Requirement::Off
    }

    /// The quarantine topic for records of `topic`.
    pub fn quarantine_topic(&self, topic: &str) -> String {
        self.quarantine.replace("{topic}", topic)
    }
}

/// Why a policy file was refused at start.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be read.
    /// The cause is part of the message, not a `source()`, so a chain prints it once.
    #[error("cannot read policy file {path}: {cause}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// The TOML is malformed or a field is wrong.
    #[error("policy file {path}, line {line}: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// 1-based line of the problem.
        line: usize,
        /// One human line.
        reason: String,
    },
}

/// All rules, in file order, with a compiled glob set for matching.
#[derive(Debug, Clone)]
pub struct Policy {
    rules: Vec<TopicPolicy>,
    globs: GlobSet,
}

impl Policy {
    /// A policy with no rules: every topic is passed through uninspected.
    pub fn empty() -> Self {
        Self {
            rules: Vec::new(),
            globs: GlobSet::empty(),
        }
    }

    /// Reads and validates a policy file.
    pub fn load(path: &Path) -> Result<Self, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|cause| PolicyError::Read {
            path: path.display().to_string(),
            cause,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses policy text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, PolicyError> {
        let invalid = |offset: Option<usize>, reason: String| PolicyError::Invalid {
            path: origin.to_string(),
            line: offset.map_or(1, |o| text[..o.min(text.len())].matches('\n').count() + 1),
            reason,
        };
        let raw: RawFile = toml::from_str(text)
            .map_err(|e| invalid(e.span().map(|s| s.start), e.message().to_string()))?;
        let mut builder = GlobSetBuilder::new();
        let mut rules = Vec::with_capacity(raw.topic.len());
        for rule in raw.topic {
            let at = text.find(&format!("\"{}\"", rule.pattern));
            let glob = Glob::new(&rule.pattern)
                .map_err(|e| invalid(at, format!("bad glob {:?}: {e}", rule.pattern)))?;
            if rule.quarantine.trim().is_empty() {
                return Err(invalid(at, "quarantine topic must not be empty".into()));
            }
            builder.add(glob);
            rules.push(TopicPolicy {
                pattern: rule.pattern,
                value: rule.value,
                key: rule.key,
                strategy: rule.strategy,
                on_invalid: rule.on_invalid,
                quarantine: rule.quarantine,
                readers: rule.readers,
            });
        }
        let globs = builder
            .build()
            .map_err(|e| invalid(None, format!("cannot compile globs: {e}")))?;
        Ok(Self { rules, globs })
    }

    /// The first rule matching `topic`, or None when the topic is not enforced.
    pub fn for_topic(&self, topic: &str) -> Option<&TopicPolicy> {
        self.rule_for(topic).filter(|r| !r.is_off())
    }

    /// The first rule matching `topic`, including rules that inspect nothing.
    pub fn rule_for(&self, topic: &str) -> Option<&TopicPolicy> {
        let first = self.globs.matches(topic).into_iter().min()?;
        self.rules.get(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
[[topic]]
match = "orders*"
value = "required"
on_invalid = "reject"
readers = ["latest", 2]

[[topic]]
match = "orders-legacy"
value = "off"

[[topic]]
match = "*"
value = "optional"
strategy = "topic_record"
quarantine = "dlq.{topic}"
"#;

    #[test]
    fn first_match_wins() {
        let p = Policy::parse(SAMPLE, "t.toml").unwrap();
        let orders = p.for_topic("orders-legacy").unwrap();
        assert_eq!(
            orders.pattern, "orders*",
            "orders* comes first, so it wins over the exact rule"
        );
        assert_eq!(orders.on_invalid, OnInvalid::Reject);
        assert_eq!(
            orders.readers,
            vec![ReaderVersion::Latest, ReaderVersion::Version(2)]
        );
        let other = p.for_topic("payments").unwrap();
        assert_eq!(other.value, Requirement::Optional);
        assert_eq!(other.strategy, SubjectStrategy::TopicRecord);
        assert_eq!(other.quarantine_topic("payments"), "dlq.payments");
    }

    #[test]
    fn off_rules_and_unmatched_topics_are_not_enforced() {
        let p = Policy::parse("[[topic]]\nmatch = \"x*\"\nvalue = \"off\"\n", "t").unwrap();
        assert!(p.for_topic("xy").is_none());
        assert!(p.for_topic("other").is_none());
        assert!(Policy::empty().for_topic("any").is_none());
    }

    #[test]
    fn defaults_are_as_documented() {
        let p = Policy::parse("[[topic]]\nmatch = \"a\"\n", "t").unwrap();
        let r = p.for_topic("a").unwrap();
        assert_eq!(
            (r.value, r.key, r.strategy, r.on_invalid),
            (
                Requirement::Required,
                Requirement::Off,
                SubjectStrategy::Topic,
                OnInvalid::Quarantine
            )
        );
        assert_eq!(r.quarantine_topic("a"), "a.quarantine");
    }

    #[test]
    fn errors_name_the_line_and_reason() {
        let text = "[[topic]]\nmatch = \"a\"\non_invalid = \"drop\"\n";
        let err = Policy::parse(text, "p.toml").unwrap_err().to_string();
        assert!(err.contains("p.toml, line 3"), "{err}");
        assert!(
            err.contains("quarantine") && err.contains("reject"),
            "{err}"
        );

        let err = Policy::parse("[[topic]]\nmatch = \"a\"\ncolour = 1\n", "p.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 3") && err.contains("colour"), "{err}");

        let err = Policy::parse("[[topic]]\nmatch = \"a[\"\n", "p.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2") && err.contains("bad glob"), "{err}");

        let err = Policy::parse("[[topic]]\nmatch = \"a\"\nreaders = [0]\n", "p.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 3") && err.contains("1 or more"), "{err}");
    }
}
