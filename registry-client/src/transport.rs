//! HTTP transport: one reqwest client (rustls), auth, timeouts, retries with backoff, and a cap
//! on how much of a response body is read.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use reqwest::{header, Url};

use crate::config::{Auth, RegistryConfig, RetryPolicy};
use crate::error::{BuildError, RegistryError};
use crate::metrics::Metrics;
use crate::retry::{backoff, jitter_seed, status_is_retryable};

/// The media type Confluent registries speak.
const MEDIA_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// The HTTP methods the client sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Post,
    Put,
}

/// A registry answer that is not worth retrying: its status and a size-capped body.
#[derive(Debug)]
pub(crate) struct Answer {
    /// HTTP status code.
    pub(crate) status: u16,
    /// The whole body, at most `max_body_bytes`.
    pub(crate) body: Bytes,
    /// The `Retry-After` hint in seconds, if the registry sent one.
    retry_after: Option<Duration>,
}

impl Answer {
    /// An answer built by hand, for tests of response reading.
    #[cfg(test)]
    pub(crate) fn for_test(status: u16, body: Bytes) -> Self {
        Answer {
            status,
            body,
            retry_after: None,
        }
    }
}

/// Sends requests to one registry.
#[derive(Debug)]
pub(crate) struct Transport {
    http: reqwest::Client,
    base: Url,
    auth: Option<Auth>,
    retry: RetryPolicy,
    max_body: usize,
    metrics: Metrics,
}

/// How one attempt ended, before retry policy is applied.
enum Attempt {
    Done(Answer),
    Retryable(String, Option<Duration>),
    Fatal(RegistryError),
}

impl Transport {
    /// Builds the HTTP client from the configuration.
    pub(crate) fn new(config: &RegistryConfig, metrics: Metrics) -> Result<Self, BuildError> {
        let mut base = parse_base_url(&config.url)?;
        // Credentials in the URL are the fallback for the configured ones; left in the URL,
        // reqwest would send them as a second Authorization header.
        let from_url = (!base.username().is_empty()).then(|| Auth::Basic {
            username: base.username().to_string(),
            password: base.password().unwrap_or_default().to_string(),
        });
        let _ = base.set_username("");
        let _ = base.set_password(None);
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
        let http = builder
            .build()
            .map_err(|e| BuildError::Http(e.to_string()))?;
        Ok(Transport {
            http,
            base,
            auth: config.auth.clone().or(from_url),
            retry: config.retry,
            max_body: config.max_body_bytes,
            metrics,
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
    /// here), so each is one `registry lookup` span when spans are exported
    /// (`serving::telemetry`), with the endpoint template and the registry's host.
    #[tracing::instrument(
        target = "schemagate::otel",
        name = "registry lookup",
        level = "info",
        skip_all,
        fields(
            otel.kind = "client",
            http.request.method = if body.is_some() { "POST" } else { "GET" },
            url.template = endpoint,
            server.address = self.base.host_str().unwrap_or_default(),
        )
    )]
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

    /// Sends `method` with an optional JSON `body`, retrying as [`Transport::send`] does. Only
    /// idempotent requests go through here (Confluent's register and config writes are).
    pub(crate) async fn request(
        &self,
        method: Method,
        endpoint: &'static str,
        segments: &[&str],
        query: &[(&str, &str)],
        body: Option<&serde_json::Value>,
    ) -> Result<Answer, RegistryError> {
        let url = self.url(segments, query);
        let post =
            body.map(serde_json::to_vec)
                .transpose()
                .map_err(|e| RegistryError::BadResponse {
                    endpoint,
                    reason: format!("encoding request: {e}"),
                })?;
        let start = Instant::now();
        let mut attempt = 1u32;
        loop {
            let (reason, retry_after) =
                match self.attempt(method, endpoint, &url, post.as_deref()).await {
                    Attempt::Done(answer) => return Ok(answer),
                    Attempt::Fatal(err) => return Err(err),
                    Attempt::Retryable(reason, retry_after) => (reason, retry_after),
                };
            let pause = backoff(&self.retry, attempt, jitter_seed(u64::from(attempt)))
                .max(retry_after.unwrap_or(Duration::ZERO))
                .min(self.retry.max_backoff);
            let out_of_time = start.elapsed() + pause > self.retry.max_elapsed;
            if attempt >= self.retry.max_attempts || out_of_time {
                return Err(RegistryError::Unavailable {
                    endpoint,
                    reason: format!("{reason} (after {attempt} attempt(s))"),
                    elapsed: start.elapsed(),
                });
            }
            tracing::debug!(endpoint, attempt, ?pause, %reason, "registry retry");
            tokio::time::sleep(pause).await;
            attempt += 1;
        }
    }

    async fn attempt(
        &self,
        method: Method,
        endpoint: &'static str,
        url: &Url,
        body: Option<&[u8]>,
    ) -> Attempt {
        let mut request = match method {
            Method::Get => self.http.get(url.clone()),
            Method::Post => self.http.post(url.clone()),
            Method::Put => self.http.put(url.clone()),
        };
        if let Some(bytes) = body {
            request = request
                .header(header::CONTENT_TYPE, MEDIA_TYPE)
                .body(bytes.to_vec());
        }
        request = request.header(
            header::ACCEPT,
            "application/vnd.schemaregistry.v1+json, application/json",
        );
        request = match &self.auth {
            Some(Auth::Basic { username, password }) => {
                request.basic_auth(username, Some(password))
            }
            Some(Auth::Bearer(token)) => request.bearer_auth(token),
            None => request,
        };
        let started = Instant::now();
        let outcome = match request.send().await {
            Ok(response) => self.read_body(endpoint, response).await,
            Err(e) => Err(e),
        };
        let elapsed = started.elapsed();
        match outcome {
            Ok(Ok(answer)) => {
                let status = answer.status;
                self.metrics.request(endpoint, &status.to_string(), elapsed);
                if status_is_retryable(status) {
                    Attempt::Retryable(format!("HTTP {status}"), answer.retry_after)
                } else {
                    Attempt::Done(answer)
                }
            }
            Ok(Err(err)) => {
                self.metrics.request(endpoint, "too-large", elapsed);
                Attempt::Fatal(err)
            }
            Err(e) if e.is_connect() => {
                self.metrics.request(endpoint, "connect-error", elapsed);
                Attempt::Retryable(format!("connect: {}", error_chain(&e)), None)
            }
            Err(e) => {
                let label = if e.is_timeout() { "timeout" } else { "error" };
                self.metrics.request(endpoint, label, elapsed);
                Attempt::Fatal(RegistryError::Unavailable {
                    endpoint,
                    reason: error_chain(&e),
                    elapsed,
                })
            }
        }
    }

    /// Reads the body chunk by chunk, refusing to hold more than `max_body` bytes.
    async fn read_body(
        &self,
        endpoint: &'static str,
        mut response: reqwest::Response,
    ) -> Result<Result<Answer, RegistryError>, reqwest::Error> {
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let too_large = |size: String| RegistryError::BadResponse {
            endpoint,
            reason: format!(
                "HTTP {status} body of {size} bytes exceeds the cap of {}",
                self.max_body
            ),
        };
        if let Some(len) = response.content_length() {
            if len > self.max_body as u64 {
                return Ok(Err(too_large(len.to_string())));
            }
        }
        let mut body = BytesMut::new();
        while let Some(chunk) = response.chunk().await? {
            if body.len() + chunk.len() > self.max_body {
                return Ok(Err(too_large(format!("more than {}", body.len()))));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Ok(Answer {
            status,
            body: body.freeze(),
            retry_after,
        }))
    }
}

/// reqwest hides the useful part ("connection refused") in the source chain.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
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
        assert_eq!(t.auth, Some(basic));
        let mut config = RegistryConfig::new("http://key:s3cret@127.0.0.1:8081/");
        config.auth = Some(Auth::Bearer("t".into()));
        let t = Transport::new(&config, Metrics::default()).expect("valid test config");
        assert_eq!(t.auth, Some(Auth::Bearer("t".into())));
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
