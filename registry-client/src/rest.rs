//! The Confluent REST endpoints this client uses, and the strict reading of their answers.
//!
//! Only a Confluent error body with a 404xx code counts as "not found": a bare 404 (a wrong
//! base path, a load balancer) proves nothing about a record and is a [`RegistryError::BadResponse`].

use contract::{SchemaReference, SchemaType};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::error::{Missing, RegistryError};
use crate::subject::{Subject, VersionSpec};
use crate::transport::{Answer, Method, Transport};

/// Endpoint templates: the only values of the `endpoint` metric label.
pub(crate) mod endpoint {
    /// `GET /schemas/ids/{id}`.
    pub(crate) const SCHEMA_BY_ID: &str = "/schemas/ids/{id}";
    /// `GET /schemas/ids/{id}?subject={subject}`.
    pub(crate) const SCHEMA_BY_ID_IN_SUBJECT: &str = "/schemas/ids/{id}?subject={subject}";
    /// `GET /schemas/ids/{id}/versions`.
    pub(crate) const ID_VERSIONS: &str = "/schemas/ids/{id}/versions";
    /// `GET /subjects/{subject}/versions/{version}`.
    pub(crate) const SUBJECT_VERSION: &str = "/subjects/{subject}/versions/{version}";
    /// `POST /subjects/{subject}`.
    pub(crate) const LOOKUP: &str = "/subjects/{subject}";
    /// `POST /subjects/{subject}/versions`.
    pub(crate) const REGISTER: &str = "/subjects/{subject}/versions";
    /// `GET` and `PUT /config/{subject}`.
    pub(crate) const CONFIG: &str = "/config/{subject}";
    /// `POST /compatibility/subjects/{subject}/versions/{version}`.
    pub(crate) const COMPATIBILITY: &str = "/compatibility/subjects/{subject}/versions/{version}";
}

/// A schema as `GET /schemas/ids/{id}` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct SchemaText {
    /// The schema text.
    pub(crate) schema: String,
    /// Absent means AVRO.
    #[serde(rename = "schemaType", default)]
    pub(crate) schema_type: Option<String>,
    /// Direct references.
    #[serde(default)]
    pub(crate) references: Vec<SchemaReference>,
}

impl SchemaText {
    /// The declared type; an unknown one makes the schema unusable.
    pub(crate) fn parsed_type(&self) -> Result<SchemaType, RegistryError> {
        match &self.schema_type {
            None => Ok(SchemaType::Avro),
            Some(t) => t
                .parse()
                .map_err(|e: contract::SchemaError| RegistryError::InvalidSchema {
                    reason: e.to_string(),
                }),
        }
    }
}

/// One `(subject, version)` pair from `GET /schemas/ids/{id}/versions`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct SubjectVersionRef {
    pub(crate) subject: String,
    pub(crate) version: i32,
}

/// A registered schema version as `GET /subjects/{s}/versions/{v}` and lookup return it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct VersionRecord {
    pub(crate) subject: String,
    pub(crate) id: u32,
    pub(crate) version: i32,
    #[serde(default)]
    pub(crate) schema: Option<String>,
    #[serde(rename = "schemaType", default)]
    pub(crate) schema_type: Option<String>,
    #[serde(default)]
    pub(crate) references: Vec<SchemaReference>,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    error_code: i32,
    #[serde(default)]
    message: String,
}

/// `GET /schemas/ids/{id}`.
pub(crate) async fn schema_by_id(t: &Transport, id: u32) -> Result<SchemaText, RegistryError> {
    let ep = endpoint::SCHEMA_BY_ID;
    let answer = t
        .send(ep, &["schemas", "ids", &id.to_string()], None)
        .await?;
    read(ep, answer, Missing::SchemaId)
}

/// `GET /schemas/ids/{id}?subject={subject}`: registries that look the id up within the
/// subject (schemagate's, and Confluent's context-aware cache) answer 404 when the id is not
/// registered under it; older ones ignore the parameter (see `client::BindingMode`).
pub(crate) async fn schema_by_id_in_subject(
    t: &Transport,
    id: u32,
    subject: &str,
) -> Result<SchemaText, RegistryError> {
    let ep = endpoint::SCHEMA_BY_ID_IN_SUBJECT;
    let answer = t
        .send_query(
            ep,
            &["schemas", "ids", &id.to_string()],
            &[("subject", subject)],
            None,
        )
        .await?;
    read(ep, answer, Missing::SchemaId)
}

/// `GET /schemas/ids/{id}/versions?deleted=true`.
pub(crate) async fn id_versions(
    t: &Transport,
    id: u32,
) -> Result<Vec<SubjectVersionRef>, RegistryError> {
    let ep = endpoint::ID_VERSIONS;
    // Soft-deleted versions included, as `?subject=` lookups include them.
    let answer = t
        .send_query(
            ep,
            &["schemas", "ids", &id.to_string(), "versions"],
            &[("deleted", "true")],
            None,
        )
        .await?;
    read(ep, answer, Missing::SchemaId)
}

/// `GET /subjects/{subject}/versions/{version}`.
pub(crate) async fn subject_version(
    t: &Transport,
    subject: &str,
    version: VersionSpec,
) -> Result<VersionRecord, RegistryError> {
    let ep = endpoint::SUBJECT_VERSION;
    let v = version.path_segment();
    let answer = t
        .send(ep, &["subjects", subject, "versions", &v], None)
        .await?;
    read(ep, answer, Missing::Version)
}

/// `POST /subjects/{subject}`: is this schema registered under the subject, and as what?
pub(crate) async fn lookup(
    t: &Transport,
    subject: &Subject,
    schema_type: SchemaType,
    text: &str,
    references: &[SchemaReference],
) -> Result<VersionRecord, RegistryError> {
    let ep = endpoint::LOOKUP;
    let body = schema_body(ep, schema_type, text, references)?;
    let answer = t
        .send(ep, &["subjects", subject.as_str()], Some(&body))
        .await?;
    read(ep, answer, Missing::Schema)
}

/// The JSON body that names a schema: `schema`, `schemaType` (absent for Avro), `references`.
fn schema_body(
    ep: &'static str,
    schema_type: SchemaType,
    text: &str,
    references: &[SchemaReference],
) -> Result<serde_json::Value, RegistryError> {
    let mut body = serde_json::json!({ "schema": text });
    if schema_type != SchemaType::Avro {
        body["schemaType"] = schema_type.as_str().into();
    }
    if !references.is_empty() {
        body["references"] =
            serde_json::to_value(references).map_err(|e| RegistryError::BadResponse {
                endpoint: ep,
                reason: format!("encoding references: {e}"),
            })?;
    }
    Ok(body)
}

/// The answer to a registration.
#[derive(Debug, Deserialize)]
pub(crate) struct Registered {
    pub(crate) id: u32,
}

/// `POST /subjects/{subject}/versions`: registers the schema (or finds it registered).
pub(crate) async fn register(
    t: &Transport,
    subject: &Subject,
    schema_type: SchemaType,
    text: &str,
    references: &[SchemaReference],
) -> Result<Registered, RegistryError> {
    let ep = endpoint::REGISTER;
    let body = schema_body(ep, schema_type, text, references)?;
    let answer = t
        .request(
            Method::Post,
            ep,
            &["subjects", subject.as_str(), "versions"],
            &[],
            Some(&body),
        )
        .await?;
    read_verdict(ep, answer, Missing::Subject)
}

/// A compatibility level as `GET`/`PUT /config/{subject}` return it (Confluent answers
/// `compatibilityLevel` to a GET and `compatibility` to a PUT).
#[derive(Debug, Deserialize)]
pub(crate) struct Level {
    #[serde(rename = "compatibilityLevel", alias = "compatibility")]
    pub(crate) level: String,
}

/// `GET /config/{subject}?defaultToGlobal=true`: the level that applies to the subject.
pub(crate) async fn config(t: &Transport, subject: &Subject) -> Result<Level, RegistryError> {
    let ep = endpoint::CONFIG;
    let answer = t
        .send_query(
            ep,
            &["config", subject.as_str()],
            &[("defaultToGlobal", "true")],
            None,
        )
        .await?;
    read(ep, answer, Missing::Subject)
}

/// `PUT /config/{subject}`: sets the subject's compatibility level.
pub(crate) async fn set_config(
    t: &Transport,
    subject: &Subject,
    level: &str,
) -> Result<Level, RegistryError> {
    let ep = endpoint::CONFIG;
    let body = serde_json::json!({ "compatibility": level });
    let answer = t
        .request(
            Method::Put,
            ep,
            &["config", subject.as_str()],
            &[],
            Some(&body),
        )
        .await?;
    read_verdict(ep, answer, Missing::Subject)
}

/// The answer to a compatibility check.
#[derive(Debug, Deserialize)]
pub(crate) struct CompatibilityAnswer {
    pub(crate) is_compatible: bool,
    #[serde(default)]
    pub(crate) messages: Vec<String>,
}

/// `POST /compatibility/subjects/{subject}/versions/{version}?verbose=true`.
pub(crate) async fn compatibility(
    t: &Transport,
    subject: &Subject,
    version: VersionSpec,
    schema_type: SchemaType,
    text: &str,
    references: &[SchemaReference],
) -> Result<CompatibilityAnswer, RegistryError> {
    let ep = endpoint::COMPATIBILITY;
    let body = schema_body(ep, schema_type, text, references)?;
    let v = version.path_segment();
    let answer = t
        .request(
            Method::Post,
            ep,
            &[
                "compatibility",
                "subjects",
                subject.as_str(),
                "versions",
                &v,
            ],
            &[("verbose", "true")],
            Some(&body),
        )
        .await?;
    read_verdict(ep, answer, Missing::Version)
}

/// [`read`] for writes and checks: a 409 or 422 with a Confluent error body is the registry's
/// definitive refusal ([`RegistryError::Refused`]), not a bad answer.
pub(crate) fn read_verdict<T: DeserializeOwned>(
    ep: &'static str,
    answer: Answer,
    missing: Missing,
) -> Result<T, RegistryError> {
    if matches!(answer.status, 409 | 422) {
        if let Ok(err) = serde_json::from_slice::<ErrorBody>(&answer.body) {
            return Err(RegistryError::Refused {
                endpoint: ep,
                status: answer.status,
                error_code: err.error_code,
                message: printable(&err.message),
            });
        }
    }
    read(ep, answer, missing)
}

/// Turns an answer into `T` (200), a definitive [`RegistryError::NotFound`] (404 with a
/// Confluent 404xx code), or [`RegistryError::BadResponse`] (anything else).
pub(crate) fn read<T: DeserializeOwned>(
    ep: &'static str,
    answer: Answer,
    missing: Missing,
) -> Result<T, RegistryError> {
    let bad = |reason: String| RegistryError::BadResponse {
        endpoint: ep,
        reason,
    };
    match answer.status {
        200 => serde_json::from_slice(&answer.body)
            .map_err(|e| bad(format!("malformed JSON in HTTP 200 body: {e}"))),
        404 => match serde_json::from_slice::<ErrorBody>(&answer.body) {
            Ok(err) if (40400..40500).contains(&err.error_code) => Err(RegistryError::NotFound {
                what: match err.error_code {
                    40401 => Missing::Subject,
                    40402 => Missing::Version,
                    _ => missing,
                },
                error_code: err.error_code,
                message: printable(&err.message),
            }),
            _ => Err(bad(format!(
                "HTTP 404 without a Confluent 404xx error code: {}",
                snippet(&answer.body)
            ))),
        },
        status => Err(bad(format!("HTTP {status}: {}", snippet(&answer.body)))),
    }
}

/// At most 200 printable characters of a body, for error messages and logs.
fn snippet(body: &[u8]) -> String {
    printable(&String::from_utf8_lossy(&body[..body.len().min(400)]))
}

fn printable(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn answer(status: u16, body: &str) -> Answer {
        Answer::for_test(status, Bytes::copy_from_slice(body.as_bytes()))
    }

    #[test]
    fn confluent_404_codes_are_definitive() {
        let body = r#"{"error_code":40403,"message":"Schema 9 not found"}"#;
        let r: Result<SchemaText, _> = read("/x", answer(404, body), Missing::SchemaId);
        assert_eq!(
            r,
            Err(RegistryError::NotFound {
                what: Missing::SchemaId,
                error_code: 40403,
                message: "Schema 9 not found".into()
            })
        );
        let body = r#"{"error_code":40401,"message":"Subject 'x' not found."}"#;
        let r: Result<VersionRecord, _> = read("/x", answer(404, body), Missing::Version);
        assert!(matches!(
            r,
            Err(RegistryError::NotFound {
                what: Missing::Subject,
                ..
            })
        ));
    }

    #[test]
    fn bare_404_and_other_statuses_are_not_proof() {
        for (status, body) in [
            (404, "<html>nginx</html>"),
            (404, r#"{"error_code":50001,"message":"x"}"#),
            (401, r#"{"error_code":40101,"message":"unauthorized"}"#),
            (200, "{not json"),
            (200, r#"{"schemaType":"AVRO"}"#),
            (200, "[1,2,3]"),
        ] {
            let r: Result<SchemaText, _> = read("/x", answer(status, body), Missing::SchemaId);
            match r {
                Err(e @ RegistryError::BadResponse { .. }) => assert!(e.is_transient()),
                other => panic!("{status} {body}: {other:?}"),
            }
        }
    }

    #[test]
    fn schema_text_defaults_to_avro_and_refuses_unknown_types() {
        let r: SchemaText = read(
            "/x",
            answer(200, r#"{"schema":"\"int\""}"#),
            Missing::SchemaId,
        )
        .expect("valid body");
        assert_eq!(r.parsed_type(), Ok(SchemaType::Avro));
        assert!(r.references.is_empty());
        let r: SchemaText = read(
            "/x",
            answer(200, r#"{"schema":"x","schemaType":"XML","references":[]}"#),
            Missing::SchemaId,
        )
        .expect("valid body");
        assert!(matches!(
            r.parsed_type(),
            Err(RegistryError::InvalidSchema { .. })
        ));
    }

    proptest::proptest! {
        #[test]
        fn hostile_answers_never_panic(status in 100u16..600, body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let a: Result<SchemaText, _> = read("/x", Answer::for_test(status, Bytes::from(body.clone())), Missing::SchemaId);
            let b: Result<Vec<SubjectVersionRef>, _> = read("/x", Answer::for_test(status, Bytes::from(body.clone())), Missing::SchemaId);
            let c: Result<VersionRecord, _> = read("/x", Answer::for_test(status, Bytes::from(body)), Missing::Version);
            // Only a 200 can succeed, and only a 404 can be a definitive "not found".
            for outcome in [a.map(|_| ()), b.map(|_| ()), c.map(|_| ())] {
                match outcome {
                    Ok(()) => proptest::prop_assert_eq!(status, 200),
                    Err(RegistryError::NotFound { .. }) => proptest::prop_assert_eq!(status, 404),
                    Err(e) => proptest::prop_assert!(e.is_transient()),
                }
            }
        }

        #[test]
        fn json_shaped_garbage_never_panics(body in "[\\[\\]{}\":,0-9a-z_ ]{0,200}") {
            let ok: Result<VersionRecord, _> = read("/x", Answer::for_test(200, Bytes::from(body.clone())), Missing::Version);
            let usable = ok.is_ok() || matches!(ok, Err(RegistryError::BadResponse { .. }));
            proptest::prop_assert!(usable, "200 gave {:?}", ok);
            let missing: Result<SchemaText, _> = read("/x", Answer::for_test(404, Bytes::from(body)), Missing::SchemaId);
            let classified = matches!(
                missing,
                Err(RegistryError::NotFound { .. } | RegistryError::BadResponse { .. })
            );
            proptest::prop_assert!(classified, "404 gave {:?}", missing);
        }
    }

    #[test]
    fn confluent_refusals_of_writes_are_definitive() {
        let body = r#"{"error_code":409,"message":"Schema being registered is incompatible"}"#;
        let r: Result<Registered, _> = read_verdict("/x", answer(409, body), Missing::Subject);
        assert_eq!(
            r.map(|r| r.id),
            Err(RegistryError::Refused {
                endpoint: "/x",
                status: 409,
                error_code: 409,
                message: "Schema being registered is incompatible".into()
            })
        );
        let body = r#"{"error_code":42201,"message":"Invalid schema"}"#;
        let r: Result<Registered, _> = read_verdict("/x", answer(422, body), Missing::Subject);
        assert!(matches!(
            r,
            Err(RegistryError::Refused {
                status: 422,
                error_code: 42201,
                ..
            })
        ));
        // Without a Confluent body, or with another status, it is read as any answer is.
        let r: Result<Registered, _> =
            read_verdict("/x", answer(409, "conflict"), Missing::Subject);
        assert!(matches!(r, Err(RegistryError::BadResponse { .. })));
        let r: Result<Registered, _> =
            read_verdict("/x", answer(200, r#"{"id":7}"#), Missing::Subject);
        assert_eq!(r.map(|r| r.id), Ok(7));
        let r: Result<Level, _> = read_verdict(
            "/x",
            answer(200, r#"{"compatibility":"NONE"}"#),
            Missing::Subject,
        );
        assert_eq!(r.map(|l| l.level), Ok("NONE".to_string()));
    }

    #[test]
    fn error_text_is_bounded_and_printable() {
        let long = format!("{}\u{7}\n", "x".repeat(5000));
        assert_eq!(snippet(long.as_bytes()).len(), 200);
        assert!(!printable("a\u{1b}[31mb\n").contains('\u{1b}'));
    }
}
