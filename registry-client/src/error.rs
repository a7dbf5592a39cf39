//! Errors, grouped by what the caller should do about them.
//!
//! The proxy must tell "this record is invalid" apart from "the registry could not answer":
//! only the first may ever quarantine or reject a record. [`RegistryError::action`] says which.

use std::time::Duration;

/// What a caller should do with a failed lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerAction {
    /// The registry answered definitively: the id or binding does not exist, or its schema is
    /// unusable. The record that named it is invalid.
    RecordInvalid,
    /// The registry could not give an answer now. Answer the client with a retriable error;
    /// never quarantine or reject on this.
    RetryLater,
}

/// What was looked up and not found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// No schema has this id (40403).
    SchemaId,
    /// The subject does not exist (40401).
    Subject,
    /// The subject has no such version (40402).
    Version,
    /// The schema id exists but is not registered under the subject.
    Binding,
    /// The schema is not registered under the subject (lookup by schema text).
    Schema,
}

/// Why a registry lookup failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// Definitive "not found" from the registry (cached for the negative TTL).
    #[error("not found ({what:?}, error code {error_code}): {message}")]
    NotFound {
        /// What kind of thing is missing.
        what: Missing,
        /// Confluent error code, e.g. 40403; 0 when the answer came from a list.
        error_code: i32,
        /// The registry's message, or ours.
        message: String,
    },
    /// The registry returned a schema that does not parse (cached for the negative TTL).
    #[error("registry schema does not parse: {reason}")]
    InvalidSchema {
        /// One human line from the parser.
        reason: String,
    },
    /// No answer: connection refused, timeout, 5xx or 429 after the retries ran out.
    #[error("registry unavailable at {endpoint}: {reason}")]
    Unavailable {
        /// The endpoint template, e.g. `/schemas/ids/{id}`.
        endpoint: &'static str,
        /// One human line.
        reason: String,
        /// How long the lookup tried before giving up.
        elapsed: Duration,
    },
    /// The registry refused a write or a check with a Confluent error (409 incompatible, 422
    /// invalid schema or level): definitive, the same request gets the same answer.
    #[error("registry refused {endpoint} with HTTP {status} (error code {error_code}): {message}")]
    Refused {
        /// The endpoint template.
        endpoint: &'static str,
        /// HTTP status, e.g. 409.
        status: u16,
        /// Confluent error code, e.g. 42201.
        error_code: i32,
        /// The registry's message.
        message: String,
    },
    /// The registry answered something unusable: unexpected status (401, 403, a 404 without a
    /// Confluent error code), an oversized or malformed body. Never proof a record is bad.
    #[error("unusable registry response from {endpoint}: {reason}")]
    BadResponse {
        /// The endpoint template.
        endpoint: &'static str,
        /// One human line.
        reason: String,
    },
}

impl RegistryError {
    /// What the caller should do: reject the record, or ask the client to retry.
    pub fn action(&self) -> CallerAction {
        match self {
            RegistryError::NotFound { .. }
            | RegistryError::InvalidSchema { .. }
            | RegistryError::Refused { .. } => CallerAction::RecordInvalid,
            RegistryError::Unavailable { .. } | RegistryError::BadResponse { .. } => {
                CallerAction::RetryLater
            }
        }
    }

    /// True when the failure is transient (the caller must not quarantine on it).
    pub fn is_transient(&self) -> bool {
        self.action() == CallerAction::RetryLater
    }
}

/// Why a [`crate::RegistryClient`] could not be built from its configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// The registry URL does not parse or is not http/https.
    #[error("registry URL {url:?}: {reason}")]
    Url {
        /// The URL as given.
        url: String,
        /// One human line.
        reason: String,
    },
    /// The extra CA file could not be read or holds no usable certificate.
    #[error("CA file {path}: {reason}")]
    CaFile {
        /// The path as given.
        path: String,
        /// One human line.
        reason: String,
    },
    /// The HTTP client refused the configuration.
    #[error("HTTP client: {0}")]
    Http(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_definitive_answers_invalidate_records() {
        let not_found = RegistryError::NotFound {
            what: Missing::SchemaId,
            error_code: 40403,
            message: "Schema not found".into(),
        };
        let invalid = RegistryError::InvalidSchema {
            reason: "bad".into(),
        };
        let down = RegistryError::Unavailable {
            endpoint: "/schemas/ids/{id}",
            reason: "connection refused".into(),
            elapsed: Duration::from_millis(5),
        };
        let garbage = RegistryError::BadResponse {
            endpoint: "/schemas/ids/{id}",
            reason: "not JSON".into(),
        };
        assert_eq!(not_found.action(), CallerAction::RecordInvalid);
        assert_eq!(invalid.action(), CallerAction::RecordInvalid);
        assert!(down.is_transient());
        assert!(garbage.is_transient());
    }
}
