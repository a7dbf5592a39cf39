//! The `_schemas` log records in Confluent's key/value JSON format.
//!
//! Keys: `{"keytype":"SCHEMA","subject":S,"version":V,"magic":1}`,
//! `{"keytype":"CONFIG","subject":S|null,"magic":0}`, `{"keytype":"MODE","subject":S|null,"magic":0}`,
//! `{"keytype":"NOOP","magic":0}`, `{"keytype":"DELETE_SUBJECT","subject":S,"magic":0}`,
//! `{"keytype":"CLEAR_SUBJECT","subject":S,"magic":0}`. A null value is a tombstone.

use contract::SchemaReference;
use serde::{Deserialize, Serialize};

/// Largest key or value accepted from the log; anything bigger is skipped as hostile.
pub const MAX_RECORD_BYTES: usize = 8 * 1024 * 1024;

/// A record key, tagged by `keytype` as Confluent writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "keytype", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RecordKey {
    /// One version of one subject.
    Schema {
        /// Subject name.
        subject: String,
        /// Version within the subject.
        version: i32,
        /// Key format version (1 for SCHEMA).
        magic: i32,
    },
    /// Compatibility level, global when `subject` is null.
    Config {
        /// Subject name, or null for the global level.
        subject: Option<String>,
        /// Key format version (0).
        magic: i32,
    },
    /// Mode, global when `subject` is null.
    Mode {
        /// Subject name, or null for the global mode.
        subject: Option<String>,
        /// Key format version (0).
        magic: i32,
    },
    /// A no-op marker (written by Confluent to find the end of the log).
    Noop {
        /// Key format version (0).
        magic: i32,
    },
    /// Soft delete of a whole subject.
    DeleteSubject {
        /// Subject name.
        subject: String,
        /// Key format version (0).
        magic: i32,
    },
    /// Permanent delete of a subject's soft-deleted versions.
    ClearSubject {
        /// Subject name.
        subject: String,
        /// Key format version (0).
        magic: i32,
    },
}

impl RecordKey {
    /// The key of one subject version.
    pub fn schema(subject: &str, version: i32) -> Self {
        RecordKey::Schema {
            subject: subject.to_string(),
            version,
            magic: 1,
        }
    }
}

/// The value of a SCHEMA record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaValue {
    /// Subject name.
    pub subject: String,
    /// Version within the subject.
    pub version: i32,
    /// Global schema id.
    pub id: i32,
    /// `AVRO` is omitted, as Confluent does.
    #[serde(
        rename = "schemaType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub schema_type: Option<String>,
    /// References, omitted when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<SchemaReference>,
    /// The schema text as registered.
    pub schema: String,
    /// Soft-deleted flag.
    #[serde(default)]
    pub deleted: bool,
}

/// The value of a CONFIG record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigValue {
    /// `BACKWARD`, `FULL_TRANSITIVE`, ...
    #[serde(rename = "compatibilityLevel")]
    pub compatibility_level: String,
}

/// The value of a MODE record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModeValue {
    /// `READWRITE`, `READONLY` or `IMPORT`.
    pub mode: String,
}

/// The value of a DELETE_SUBJECT record: every version up to `version` is soft-deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteSubjectValue {
    /// Subject name.
    pub subject: String,
    /// Highest version deleted.
    pub version: i32,
}

/// The value of a CLEAR_SUBJECT record: soft-deleted versions are dropped for good.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClearSubjectValue {
    /// Subject name.
    pub subject: String,
}

/// One decoded log record: a key and an optional (tombstone when `None`) JSON value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// The key.
    pub key: RecordKey,
    /// The raw JSON value, or `None` for a tombstone.
    pub value: Option<Vec<u8>>,
}

impl LogRecord {
    /// A record whose value is `value` serialized as JSON.
    pub fn new<T: Serialize>(key: RecordKey, value: &T) -> Self {
        LogRecord {
            key,
            // Serializing plain structs of strings and numbers cannot fail.
            value: Some(serde_json::to_vec(value).unwrap_or_default()),
        }
    }

    /// A tombstone for `key`.
    pub fn tombstone(key: RecordKey) -> Self {
        LogRecord { key, value: None }
    }

    /// The key bytes as written to Kafka.
    pub fn key_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.key).unwrap_or_default()
    }

    /// Decodes a record read from the log; `None` when the key is not one we know (skipped).
    pub fn decode(key: &[u8], value: Option<&[u8]>) -> Option<Self> {
        if key.len() > MAX_RECORD_BYTES || value.is_some_and(|v| v.len() > MAX_RECORD_BYTES) {
            return None;
        }
        let key: RecordKey = serde_json::from_slice(key).ok()?;
        Some(LogRecord {
            key,
            value: value.map(<[u8]>::to_vec),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_key_matches_confluent_bytes() {
        let key = RecordKey::schema("orders-value", 1);
        assert_eq!(
            String::from_utf8(LogRecord::tombstone(key).key_bytes()).unwrap(),
            r#"{"keytype":"SCHEMA","subject":"orders-value","version":1,"magic":1}"#
        );
    }

    #[test]
    fn schema_value_omits_avro_type_and_empty_refs() {
        let v = SchemaValue {
            subject: "orders-value".into(),
            version: 1,
            id: 3,
            schema_type: None,
            references: vec![],
            schema: "\"string\"".into(),
            deleted: false,
        };
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"subject":"orders-value","version":1,"id":3,"schema":"\"string\"","deleted":false}"#
        );
    }

    #[test]
    fn decodes_confluent_keys_and_skips_unknown() {
        let k = br#"{"keytype":"CONFIG","subject":null,"magic":0}"#;
        let r = LogRecord::decode(k, Some(br#"{"compatibilityLevel":"FULL"}"#)).unwrap();
        assert_eq!(
            r.key,
            RecordKey::Config {
                subject: None,
                magic: 0
            }
        );
        assert!(LogRecord::decode(br#"{"keytype":"OTHER"}"#, None).is_none());
        assert!(LogRecord::decode(b"\xff\x00garbage", None).is_none());
        let noop = LogRecord::decode(br#"{"keytype":"NOOP","magic":0}"#, None).unwrap();
        assert_eq!(noop.key, RecordKey::Noop { magic: 0 });
    }

    proptest::proptest! {
        #[test]
        fn schema_keys_round_trip(subject in ".{0,40}", version in 1i32..i32::MAX) {
            let key = RecordKey::schema(&subject, version);
            let rec = LogRecord::tombstone(key.clone());
            let back = LogRecord::decode(&rec.key_bytes(), None).unwrap();
            proptest::prop_assert_eq!(back.key, key);
        }
    }
}
