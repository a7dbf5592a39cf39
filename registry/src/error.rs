//! Errors a client sees, with Confluent's HTTP status and `error_code`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Every way a registry request can fail, each mapped to Confluent's status and error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// 40401: the subject has no live versions (or never existed).
    #[error("Subject '{0}' not found.")]
    SubjectNotFound(String),
    /// 40402: the version does not exist in the subject.
    #[error("Version {0} not found.")]
    VersionNotFound(String),
    /// 40403: no schema with this id, or the schema is not registered under the subject.
    #[error("Schema not found")]
    SchemaNotFound,
    /// 40404: a soft-deleted subject was asked to be soft-deleted again.
    #[error("Subject '{0}' was soft deleted. Set permanent=true to delete permanently")]
    SubjectSoftDeleted(String),
    /// 40405: a permanent delete of a subject that was not soft-deleted first.
    #[error("Subject '{0}' was not deleted first before being permanently deleted")]
    SubjectNotSoftDeleted(String),
    /// 40406: a soft-deleted version was asked to be soft-deleted again.
    #[error(
        "Subject '{0}' Version {1} was soft deleted. Set permanent=true to delete permanently"
    )]
    VersionSoftDeleted(String, i32),
    /// 40407: a permanent delete of a version that was not soft-deleted first.
    #[error("Subject '{0}' Version {1} was not deleted first before being permanently deleted")]
    VersionNotSoftDeleted(String, i32),
    /// 40408: no subject-level compatibility is configured.
    #[error("Subject '{0}' does not have subject-level compatibility configured")]
    SubjectConfigNotFound(String),
    /// 40409: no subject-level mode is configured.
    #[error("Subject '{0}' does not have subject-level mode configured")]
    SubjectModeNotFound(String),
    /// 409: the schema breaks the subject's compatibility level.
    #[error("{0}")]
    Incompatible(String),
    /// 42201: the schema does not parse, or its references cannot be resolved.
    #[error("{0}")]
    InvalidSchema(String),
    /// 42202: a version that is not a positive integer, `latest` or `-1`.
    #[error("The specified version '{0}' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"")]
    InvalidVersion(String),
    /// 42203: an unknown compatibility level.
    #[error("Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive")]
    InvalidCompatibilityLevel,
    /// 42204: an unknown mode.
    #[error("Invalid mode. Valid values are READWRITE, READONLY, IMPORT")]
    InvalidMode,
    /// 42205: a write while the registry (or subject) is READONLY, or a mode change refused.
    #[error("{0}")]
    OperationNotPermitted(String),
    /// 42206: the version is referenced by another schema and cannot be deleted.
    #[error("One or more references exist to the schema {{subject={0},version={1}}}")]
    ReferenceExists(String, i32),
    /// 400: the body is not JSON at all.
    #[error("Unexpected request body: {0}")]
    MalformedJson(String),
    /// 422: the body is JSON of the wrong shape.
    #[error("Unprocessable request body: {0}")]
    UnprocessableBody(String),
    /// 401: no valid credential where one is needed.
    #[error("Unauthorized")]
    Unauthorized,
    /// 403 (40301): the principal lacks the role the request asks for.
    #[error("{0}")]
    Forbidden(String),
    /// 50001: the backing store (Kafka) failed.
    #[error("Error in the backend data store: {0}")]
    Store(String),
    /// 50002: the store did not answer in time.
    #[error("Operation timed out: {0}")]
    Timeout(String),
}

impl RegistryError {
    /// The HTTP status Confluent answers with.
    pub fn status(&self) -> StatusCode {
        use RegistryError::*;
        match self {
            SubjectNotFound(_)
            | VersionNotFound(_)
            | SchemaNotFound
            | SubjectSoftDeleted(_)
            | SubjectNotSoftDeleted(_)
            | VersionSoftDeleted(..)
            | VersionNotSoftDeleted(..)
            | SubjectConfigNotFound(_)
            | SubjectModeNotFound(_) => StatusCode::NOT_FOUND,
            Incompatible(_) => StatusCode::CONFLICT,
            InvalidSchema(_)
            | InvalidVersion(_)
            | InvalidCompatibilityLevel
            | InvalidMode
            | OperationNotPermitted(_)
            | ReferenceExists(..)
            | UnprocessableBody(_) => StatusCode::UNPROCESSABLE_ENTITY,
            MalformedJson(_) => StatusCode::BAD_REQUEST,
            Unauthorized => StatusCode::UNAUTHORIZED,
            Forbidden(_) => StatusCode::FORBIDDEN,
            Store(_) | Timeout(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Confluent's `error_code`.
    pub fn code(&self) -> u32 {
        use RegistryError::*;
        match self {
            SubjectNotFound(_) => 40401,
            VersionNotFound(_) => 40402,
            SchemaNotFound => 40403,
            SubjectSoftDeleted(_) => 40404,
            SubjectNotSoftDeleted(_) => 40405,
            VersionSoftDeleted(..) => 40406,
            VersionNotSoftDeleted(..) => 40407,
            SubjectConfigNotFound(_) => 40408,
            SubjectModeNotFound(_) => 40409,
            Incompatible(_) => 409,
            InvalidSchema(_) => 42201,
            InvalidVersion(_) => 42202,
            InvalidCompatibilityLevel => 42203,
            InvalidMode => 42204,
            OperationNotPermitted(_) => 42205,
            ReferenceExists(..) => 42206,
            MalformedJson(_) => 400,
            UnprocessableBody(_) => 422,
            Unauthorized => 401,
            Forbidden(_) => 40301,
            Store(_) => 50001,
            Timeout(_) => 50002,
        }
    }
}

impl IntoResponse for RegistryError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error_code": self.code(), "message": self.to_string()});
        let mut resp = crate::json::json_response(self.status(), &body);
        if self == RegistryError::Unauthorized {
            resp.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Basic realm=\"schemagate\""),
            );
        }
        resp
    }
}
