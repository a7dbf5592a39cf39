//! Configuration: where the registry is, how to authenticate, how long to wait, how much to cache.

use std::path::PathBuf;
use std::time::Duration;

/// Credentials sent with every registry request.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    /// HTTP basic auth (Confluent Cloud: API key and secret).
    Basic {
        /// User name or API key.
        username: String,
        /// Password or API secret.
        password: String,
    },
    /// `Authorization: Bearer <token>`.
    Bearer(String),
}

impl std::fmt::Debug for Auth {
    // Secrets never reach logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
            Auth::Bearer(_) => f.write_str("Bearer(***)"),
        }
    }
}

/// Retries with exponential backoff and jitter, on connect errors, 5xx and 429 only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included (1 = no retry).
    pub max_attempts: u32,
    /// Backoff before the first retry; doubles each retry.
    pub initial_backoff: Duration,
    /// Upper bound of one backoff.
    pub max_backoff: Duration,
    /// No retry starts once this much time has passed since the first attempt.
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(500),
            max_elapsed: Duration::from_secs(2),
        }
    }
}

/// Sizes and lifetimes of the caches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheConfig {
    /// Off: every lookup goes to the registry (for benchmarks and debugging).
    pub enabled: bool,
    /// Most schema ids kept parsed in memory.
    pub max_schemas: u64,
    /// Most (subject, id) bindings and (subject, version) entries kept, each.
    pub max_bindings: u64,
    /// Lifetime of a positive binding, so a deleted subject version stops matching eventually.
    /// `None` keeps bindings until evicted. Schema ids never change meaning and never expire.
    pub binding_ttl: Option<Duration>,
    /// Lifetime of `(subject, latest)` → id; short, because `latest` moves.
    pub latest_ttl: Duration,
    /// Lifetime of a definitive "not found" or unparseable schema.
    pub negative_ttl: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            enabled: true,
            max_schemas: 10_000,
            max_bindings: 100_000,
            binding_ttl: Some(Duration::from_secs(300)),
            latest_ttl: Duration::from_secs(30),
            negative_ttl: Duration::from_secs(5),
        }
    }
}

/// How the client proves that a schema id is registered under a subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BindingCheck {
    /// Use `?subject=` once a one-time probe shows the registry honours it, else `IdVersions`.
    #[default]
    Auto,
    /// `GET /schemas/ids/{id}?subject={subject}`: schema and binding in one request. Right for
    /// registries that look the id up within the subject (schemagate's registry, recent
    /// Confluent Schema Registry); a registry that ignores the parameter would let ids of
    /// other subjects through.
    SubjectParam,
    /// `GET /schemas/ids/{id}` then `GET /schemas/ids/{id}/versions`: two requests per new id,
    /// right with any Confluent-compatible registry.
    IdVersions,
}

impl std::str::FromStr for BindingCheck {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(BindingCheck::Auto),
            "subject-param" => Ok(BindingCheck::SubjectParam),
            "id-versions" => Ok(BindingCheck::IdVersions),
            other => Err(format!(
                "unknown binding check {other:?}: expected auto, subject-param or id-versions"
            )),
        }
    }
}

/// Everything needed to build a [`crate::RegistryClient`].
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// Base URL, e.g. `http://127.0.0.1:8081` or `https://host/prefix/`.
    pub url: String,
    /// Credentials, if the registry wants them.
    pub auth: Option<Auth>,
    /// Extra PEM CA certificates trusted in addition to the built-in web roots.
    pub ca_file: Option<PathBuf>,
    /// Limit on establishing a TCP (and TLS) connection.
    pub connect_timeout: Duration,
    /// Limit on one request, from sending to the last byte of the body.
    pub request_timeout: Duration,
    /// Retry behaviour.
    pub retry: RetryPolicy,
    /// Most HTTP requests on the wire to the registry at once; more wait for a slot (a retry's
    /// backoff holds none). Concurrent misses on one key already share a request, so this
    /// bounds a burst of distinct misses, e.g. a cold start against many ids.
    pub max_in_flight: usize,
    /// Largest response body accepted; bigger answers are refused unread.
    pub max_body_bytes: usize,
    /// Most references followed when resolving one schema (transitively).
    pub max_references: usize,
    /// Deepest reference chain followed.
    pub max_reference_depth: usize,
    /// Cache sizes and TTLs.
    pub cache: CacheConfig,
    /// How a (subject, id) binding is checked.
    pub binding_check: BindingCheck,
}

impl RegistryConfig {
    /// Defaults for a registry at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        RegistryConfig {
            url: url.into(),
            auth: None,
            ca_file: None,
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
            retry: RetryPolicy::default(),
            max_in_flight: 32,
            max_body_bytes: 8 * 1024 * 1024,
            max_references: 256,
            max_reference_depth: 32,
            cache: CacheConfig::default(),
            binding_check: BindingCheck::Auto,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_debug_hides_secrets() {
        let basic = Auth::Basic {
            username: "key".into(),
            password: "s3cret".into(),
        };
        let bearer = Auth::Bearer("t0ken".into());
        assert_eq!(format!("{basic:?}"), "Basic(key, ***)");
        assert_eq!(format!("{bearer:?}"), "Bearer(***)");
    }

    #[test]
    fn binding_check_parses_its_three_names_only() {
        assert_eq!("auto".parse(), Ok(BindingCheck::Auto));
        assert_eq!("subject-param".parse(), Ok(BindingCheck::SubjectParam));
        assert_eq!("id-versions".parse(), Ok(BindingCheck::IdVersions));
        let err = "Subject-Param".parse::<BindingCheck>().unwrap_err();
        assert!(
            err.contains("expected auto, subject-param or id-versions"),
            "{err}"
        );
    }
}
