//! HTTP transport: one reqwest client (rustls) with its timeouts and trusted CAs, the base URL,
//! and auth. Every request goes through the tower stack in [`crate::stack`].

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use reqwest::Url;
use tower::limit::ConcurrencyLimitLayer;
use tower::{ServiceBuilder, ServiceExt};

use crate::config::{Auth, RegistryConfig, RetryPolicy};
use crate::error::{BuildError, RegistryError};
use crate::metrics::Metrics;
pub(crate) use crate::stack::{Answer, Method};
use crate::stack::{Call, ConcurrencyLimited, Http, Measured, Observing, Retrying, Traced};

/// Sends requests to one registry.
#[derive(Debug)]
pub(crate) struct Transport {
    base: Url,
    retry: RetryPolicy,
    /// The per-attempt part of the stack, shared: clones share the concurrency limit.
    attempts: ConcurrencyLimited,
}

impl Transport {
    /// Builds the HTTP client from the configuration.
    pub(crate) fn new(config: &RegistryConfig, metrics: Metrics) -> Result<Self, BuildError> {
        let (base, auth) = base_and_auth(config)?;
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .user_agent(concat!(
                "schemagate-registry-client/",
                env!("CARGO_PKG_VERSION")
            ));
        if let Some(path) = &config.ca_file {
            let ca_error = |reason: String| BuildError::CaFile {
                path: path.display().to_string(),
                reason,
            };
            let pem = std::fs::read(path).map_err(|e| ca_error(e.to_string()))?;
            let certs =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| ca_error(e.to_string()))?;
            if certs.is_empty() {
                return Err(ca_error("no PEM certificate found".into()));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder
            .build()
            .map_err(|e| BuildError::Http(e.to_string()))?;
        let attempts = ServiceBuilder::new()
            .layer(ConcurrencyLimitLayer::new(config.max_in_flight.max(1)))
            .layer(Observing(Measured(metrics)))
            .service(Http {
                client,
                auth: auth.map(Arc::new),
                max_body: config.max_body_bytes,
            });
        Ok(Transport {
            base,
            retry: config.retry,
            attempts,
        })
    }

    /// The URL for path `segments` under the base URL, each segment percent-encoded, with
    /// `query` pairs (also encoded) appended.
    pub(crate) fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let mut url = self.base.clone();
        // `parse_base_url` refused cannot-be-a-base URLs, so this branch always runs.
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    /// Sends a GET (no `body`) or POST (`body`), retrying connect errors, 5xx and 429 within
    /// the retry policy. `endpoint` is the bounded template used as the metric label.
    pub(crate) async fn send(
        &self,
        endpoint: &'static str,
        segments: &[&str],
        body: Option<&serde_json::Value>,
    ) -> Result<Answer, RegistryError> {
        self.send_query(endpoint, segments, &[], body).await
    }

    /// [`Transport::send`] with query parameters. Every call is a cache miss (hits never get
    /// here), so each is one `registry lookup` span when spans are exported.
    pub(crate) async fn send_query(
        &self,
        endpoint: &'static str,
        segments: &[&str],
        query: &[(&str, &str)],
        body: Option<&serde_json::Value>,
    ) -> Result<Answer, RegistryError> {
        let method = if body.is_some() {
            Method::Post
        } else {
            Method::Get
        };
        self.request(method, endpoint, segments, query, body).await
    }

    /// Sends `method` with an optional JSON `body` through the stack (span, retry, limit,
    /// metrics, attempt). Only idempotent requests go through here (Confluent's register and
    /// config writes are).
    pub(crate) async fn request(
        &self,
        method: Method,
        endpoint: &'static str,
        segments: &[&str],
        query: &[(&str, &str)],
        body: Option<&serde_json::Value>,
    ) -> Result<Answer, RegistryError> {
        let body = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| RegistryError::BadResponse {
                endpoint,
                reason: format!("encoding request: {e}"),
            })?
            .map(Bytes::from);
        let call = Call {
            method,
            endpoint,
            url: self.url(segments, query),
            body,
        };
        let started = Instant::now();
        ServiceBuilder::new()
            .layer(Observing(Traced))
            .retry(Retrying::new(self.retry))
            .service(self.attempts.clone())
            .oneshot(call)
            .await
            .map_err(|e| e.into_registry_error(endpoint, started.elapsed()))
    }
}

/// The base URL without credentials, and the auth to send: the configured one, else the
/// credentials that were in the URL (left there, reqwest would send them as a second
/// Authorization header).
fn base_and_auth(config: &RegistryConfig) -> Result<(Url, Option<Auth>), BuildError> {
    let mut base = parse_base_url(&config.url)?;
    let from_url = (!base.username().is_empty()).then(|| Auth::Basic {
        username: base.username().to_string(),
        password: base.password().unwrap_or_default().to_string(),
    });
    let _ = base.set_username("");
    let _ = base.set_password(None);
    Ok((base, config.auth.clone().or(from_url)))
}

fn parse_base_url(raw: &str) -> Result<Url, BuildError> {
    let refuse = |reason: &str| BuildError::Url {
        url: raw.to_string(),
        reason: reason.to_string(),
    };
    let url = Url::parse(raw).map_err(|e| refuse(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(refuse("scheme must be http or https"));
    }
    if url.cannot_be_a_base() || url.host_str().is_none() {
        return Err(refuse("not a base URL with a host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(refuse("must not carry a query or fragment"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transport(url: &str) -> Transport {
        Transport::new(&RegistryConfig::new(url), Metrics::default()).expect("valid test config")
    }

    #[test]
    fn paths_are_joined_and_percent_encoded() {
        let t = transport("http://127.0.0.1:8081");
        assert_eq!(
            t.url(&["subjects", "a/b c", "versions", "latest"], &[])
                .as_str(),
            "http://127.0.0.1:8081/subjects/a%2Fb%20c/versions/latest"
        );
        let t = transport("https://host.example/prefix/");
        assert_eq!(
            t.url(&["schemas", "ids", "7"], &[]).as_str(),
            "https://host.example/prefix/schemas/ids/7"
        );
        assert_eq!(
            t.url(&["schemas", "ids", "7"], &[("subject", "a&b=c d")])
                .as_str(),
            "https://host.example/prefix/schemas/ids/7?subject=a%26b%3Dc+d"
        );
    }

    #[test]
    fn credentials_in_the_url_are_the_fallback_auth() {
        let t = transport("http://key:s3cret@127.0.0.1:8081/");
        assert_eq!(t.url(&["x"], &[]).as_str(), "http://127.0.0.1:8081/x");
        let basic = Auth::Basic {
            username: "key".into(),
            password: "s3cret".into(),
        };
        let mut config = RegistryConfig::new("http://key:s3cret@127.0.0.1:8081/");
        let (base, auth) = base_and_auth(&config).expect("valid test config");
        assert_eq!(base.as_str(), "http://127.0.0.1:8081/");
        assert_eq!(auth, Some(basic));
        config.auth = Some(Auth::Bearer("t".into()));
        let (_, auth) = base_and_auth(&config).expect("valid test config");
        assert_eq!(auth, Some(Auth::Bearer("t".into())));
    }

    #[test]
    fn bad_base_urls_are_refused() {
        for raw in ["", "ftp://h/", "mailto:x@y", "http://h/?q=1", "not a url"] {
            let err = Transport::new(&RegistryConfig::new(raw), Metrics::default());
            assert!(
                matches!(err, Err(BuildError::Url { .. })),
                "{raw:?} accepted"
            );
        }
    }

    #[test]
    fn missing_or_empty_ca_file_is_refused() {
        let mut config = RegistryConfig::new("https://127.0.0.1:1");
        config.ca_file = Some("/nonexistent/ca.pem".into());
        assert!(matches!(
            Transport::new(&config, Metrics::default()),
            Err(BuildError::CaFile { .. })
        ));
        let dir = std::env::temp_dir().join(format!("regclient-ca-{}", std::process::id()));
        std::fs::write(&dir, b"no certificate here").expect("temp dir is writable");
        config.ca_file = Some(dir.clone());
        let result = Transport::new(&config, Metrics::default());
        let _ = std::fs::remove_file(&dir);
        assert!(matches!(result, Err(BuildError::CaFile { .. })));
    }
}
