//! The request path as a tower stack, outermost first:
//!
//! ```text
//! Traced            one `registry lookup` span per request, retries included
//!   Retry<Retrying> backoff with jitter for connect errors, 5xx and 429, within the policy
//!     ConcurrencyLimit  at most `max_in_flight` attempts on the wire (backoff holds no permit)
//!       Measured    one count and one latency sample per attempt, labelled by outcome
//!         Http      one HTTP attempt with reqwest, the body read within its cap
//! ```
//!
//! Every layer keeps the typed [`AttemptError`]: none of them boxes errors, so the caller
//! still tells a refused connection from an oversized answer without downcasting.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use reqwest::{header, Url};
use tower::retry::Policy;
use tower::{Layer, Service};
use tracing::Instrument;

use crate::config::{Auth, RetryPolicy};
use crate::error::RegistryError;
use crate::metrics::Metrics;
use crate::retry::{backoff, jitter_seed, status_is_retryable};

/// The media type Confluent registries speak.
const MEDIA_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// The per-attempt part of the stack, built once per client.
pub(crate) type ConcurrencyLimited = tower::limit::ConcurrencyLimit<Observed<Http, Measured>>;

/// What every layer's future is: boxed once per layer, which costs nothing that matters on a
/// path that only cache misses take.
type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// The HTTP methods the client sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Post,
    Put,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
        }
    }
}

/// One registry request, owned and cheap to clone so a retry can send it again.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub(crate) method: Method,
    /// The bounded endpoint template, the metric label and span attribute.
    pub(crate) endpoint: &'static str,
    pub(crate) url: Url,
    /// The encoded JSON body, if any.
    pub(crate) body: Option<Bytes>,
}

/// A registry answer: its status and a size-capped body.
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

/// Why an attempt (or, after [`Retrying`], a request) produced no answer.
#[derive(Debug)]
pub(crate) enum AttemptError {
    /// No connection: worth another attempt.
    Connect(String),
    /// Connected, but the request or its body took longer than the timeout: not retried (a
    /// slow registry does not get faster from more load).
    Timeout(String),
    /// Any other transport failure; not retried.
    Other(String),
    /// The answer is bigger than the body cap; refused unread or part-read.
    TooLarge(String),
    /// Retryable failures used up the policy; the last reason and the attempts made.
    GaveUp { reason: String, attempts: u32 },
}

impl AttemptError {
    fn from_reqwest(e: &reqwest::Error) -> Self {
        let chain = error_chain(e);
        if e.is_connect() {
            AttemptError::Connect(format!("connect: {chain}"))
        } else if e.is_timeout() {
            AttemptError::Timeout(chain)
        } else {
            AttemptError::Other(chain)
        }
    }

    /// The bounded label of an attempt's outcome in metrics and spans.
    fn label(&self) -> &'static str {
        match self {
            AttemptError::Connect(_) => "connect-error",
            AttemptError::Timeout(_) => "timeout",
            AttemptError::Other(_) => "error",
            AttemptError::TooLarge(_) => "too-large",
            AttemptError::GaveUp { .. } => "unavailable",
        }
    }

    /// The error the client's callers see.
    pub(crate) fn into_registry_error(
        self,
        endpoint: &'static str,
        elapsed: Duration,
    ) -> RegistryError {
        let unavailable = |reason| RegistryError::Unavailable {
            endpoint,
            reason,
            elapsed,
        };
        match self {
            AttemptError::TooLarge(reason) => RegistryError::BadResponse { endpoint, reason },
            AttemptError::GaveUp { reason, attempts } => {
                unavailable(format!("{reason} (after {attempts} attempt(s))"))
            }
            AttemptError::Connect(reason)
            | AttemptError::Timeout(reason)
            | AttemptError::Other(reason) => unavailable(reason),
        }
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

/// The innermost service: one HTTP attempt.
#[derive(Debug, Clone)]
pub(crate) struct Http {
    pub(crate) client: reqwest::Client,
    pub(crate) auth: Option<Arc<Auth>>,
    pub(crate) max_body: usize,
}

impl Http {
    fn build(&self, call: &Call) -> reqwest::RequestBuilder {
        let mut request = match call.method {
            Method::Get => self.client.get(call.url.clone()),
            Method::Post => self.client.post(call.url.clone()),
            Method::Put => self.client.put(call.url.clone()),
        };
        if let Some(body) = &call.body {
            request = request
                .header(header::CONTENT_TYPE, MEDIA_TYPE)
                .body(body.clone());
        }
        request = request.header(
            header::ACCEPT,
            "application/vnd.schemaregistry.v1+json, application/json",
        );
        match self.auth.as_deref() {
            Some(Auth::Basic { username, password }) => {
                request.basic_auth(username, Some(password))
            }
            Some(Auth::Bearer(token)) => request.bearer_auth(token),
            None => request,
        }
    }
}

impl Service<Call> for Http {
    type Response = Answer;
    type Error = AttemptError;
    type Future = BoxFuture<Result<Answer, AttemptError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), AttemptError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, call: Call) -> Self::Future {
        let request = self.build(&call);
        let max_body = self.max_body;
        Box::pin(async move {
            let response = request
                .send()
                .await
                .map_err(|e| AttemptError::from_reqwest(&e))?;
            read_body(response, max_body).await
        })
    }
}

/// Reads the body chunk by chunk, refusing to hold more than `max_body` bytes.
async fn read_body(
    mut response: reqwest::Response,
    max_body: usize,
) -> Result<Answer, AttemptError> {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let too_large = |size: String| {
        AttemptError::TooLarge(format!(
            "HTTP {status} body of {size} bytes exceeds the cap of {max_body}"
        ))
    };
    if let Some(len) = response.content_length() {
        if len > max_body as u64 {
            return Err(too_large(len.to_string()));
        }
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| AttemptError::from_reqwest(&e))?
    {
        if body.len() + chunk.len() > max_body {
            return Err(too_large(format!("more than {}", body.len())));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Answer {
        status,
        body: body.freeze(),
        retry_after,
    })
}

/// One attempt's answer, as every layer's future resolves.
type Attempt = BoxFuture<Result<Answer, AttemptError>>;

/// The future of the service below a wrapping layer.
pub(crate) trait AttemptFuture:
    Future<Output = Result<Answer, AttemptError>> + Send + 'static
{
}

impl<F: Future<Output = Result<Answer, AttemptError>> + Send + 'static> AttemptFuture for F {}

/// What a wrapping layer of this stack does around each call of the service below it: `start`
/// hands the call down and returns that service's future.
pub(crate) trait Observe {
    /// Wraps one call.
    fn observe<F: AttemptFuture>(&self, call: Call, start: impl FnOnce(Call) -> F) -> Attempt;
}

/// The layer that puts an [`Observe`] around the service below it.
#[derive(Debug, Clone)]
pub(crate) struct Observing<O>(pub(crate) O);

impl<S, O: Clone> Layer<S> for Observing<O> {
    type Service = Observed<S, O>;
    fn layer(&self, inner: S) -> Observed<S, O> {
        Observed {
            inner,
            observer: self.0.clone(),
        }
    }
}

/// See [`Observing`].
#[derive(Debug, Clone)]
pub(crate) struct Observed<S, O> {
    inner: S,
    observer: O,
}

impl<S, O> Service<Call> for Observed<S, O>
where
    S: Service<Call, Response = Answer, Error = AttemptError>,
    S::Future: Send + 'static,
    O: Observe,
{
    type Response = Answer;
    type Error = AttemptError;
    type Future = BoxFuture<Result<Answer, AttemptError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), AttemptError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, call: Call) -> Self::Future {
        let inner = &mut self.inner;
        self.observer.observe(call, |call| inner.call(call))
    }
}

/// Counts every attempt by endpoint and outcome, with its latency (excluding the wait for a
/// concurrency permit, which sits outside this layer).
#[derive(Debug, Clone)]
pub(crate) struct Measured(pub(crate) Metrics);

impl Observe for Measured {
    fn observe<F: AttemptFuture>(&self, call: Call, start: impl FnOnce(Call) -> F) -> Attempt {
        let endpoint = call.endpoint;
        let metrics = self.0.clone();
        let started = Instant::now();
        let attempt = start(call);
        Box::pin(async move {
            let result = attempt.await;
            let status = match &result {
                Ok(answer) => answer.status.to_string(),
                Err(e) => e.label().to_string(),
            };
            metrics.request(endpoint, &status, started.elapsed());
            result
        })
    }
}

/// The retry policy of one request: connect errors, 5xx and 429 are retried with capped
/// exponential backoff and equal jitter, honouring `Retry-After` up to the backoff cap, until
/// `max_attempts` or `max_elapsed` runs out; then the result becomes [`AttemptError::GaveUp`].
#[derive(Debug, Clone)]
pub(crate) struct Retrying {
    policy: RetryPolicy,
    attempts: u32,
    started: Instant,
}

impl Retrying {
    /// A fresh policy for one request, starting its clock now.
    pub(crate) fn new(policy: RetryPolicy) -> Self {
        Retrying {
            policy,
            attempts: 0,
            started: Instant::now(),
        }
    }
}

impl Policy<Call, Answer, AttemptError> for Retrying {
    type Future = tokio::time::Sleep;

    fn retry(
        &mut self,
        call: &mut Call,
        result: &mut Result<Answer, AttemptError>,
    ) -> Option<Self::Future> {
        self.attempts += 1;
        let (reason, hint) = match result {
            Ok(answer) if status_is_retryable(answer.status) => {
                (format!("HTTP {}", answer.status), answer.retry_after)
            }
            Err(AttemptError::Connect(reason)) => (std::mem::take(reason), None),
            _ => return None,
        };
        let pause = backoff(
            &self.policy,
            self.attempts,
            jitter_seed(self.attempts.into()),
        )
        .max(hint.unwrap_or(Duration::ZERO))
        .min(self.policy.max_backoff);
        let out_of_time = self.started.elapsed() + pause > self.policy.max_elapsed;
        if self.attempts >= self.policy.max_attempts || out_of_time {
            *result = Err(AttemptError::GaveUp {
                reason,
                attempts: self.attempts,
            });
            return None;
        }
        tracing::debug!(endpoint = call.endpoint, attempt = self.attempts, ?pause, %reason, "registry retry");
        Some(tokio::time::sleep(pause))
    }

    fn clone_request(&mut self, call: &Call) -> Option<Call> {
        Some(call.clone())
    }
}

/// One `registry lookup` span (CLIENT) per request, around its retries, when spans are
/// exported (`serving::telemetry`): the endpoint template, the registry's host, and the
/// answer's status or the error's label.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Traced;

impl Observe for Traced {
    fn observe<F: AttemptFuture>(&self, call: Call, start: impl FnOnce(Call) -> F) -> Attempt {
        let span = tracing::info_span!(
            target: "schemagate::otel",
            "registry lookup",
            otel.kind = "client",
            http.request.method = call.method.as_str(),
            url.template = call.endpoint,
            server.address = call.url.host_str().unwrap_or_default(),
            http.response.status_code = tracing::field::Empty,
            error.r#type = tracing::field::Empty,
        );
        let future = span.in_scope(|| start(call));
        let recorder = span.clone();
        Box::pin(
            async move {
                let result = future.await;
                match &result {
                    Ok(answer) => recorder.record("http.response.status_code", answer.status),
                    Err(e) => recorder.record("error.type", e.label()),
                };
                result
            }
            .instrument(span),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call() -> Call {
        Call {
            method: Method::Get,
            endpoint: "/schemas/ids/{id}",
            url: Url::parse("http://127.0.0.1:1/schemas/ids/1").expect("valid"),
            body: None,
        }
    }

    fn policy(max_attempts: u32, max_elapsed: Duration) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(4),
            max_elapsed,
        }
    }

    fn answer(status: u16) -> Result<Answer, AttemptError> {
        Ok(Answer::for_test(status, Bytes::new()))
    }

    #[tokio::test]
    async fn retries_connect_5xx_and_429_then_gives_up_with_the_count() {
        let mut p = Retrying::new(policy(3, Duration::from_secs(60)));
        let mut c = call();
        assert!(p.retry(&mut c, &mut answer(503)).is_some());
        let mut refused = Err(AttemptError::Connect("connect: refused".into()));
        assert!(p.retry(&mut c, &mut refused).is_some());
        let mut last = answer(429);
        assert!(p.retry(&mut c, &mut last).is_none());
        match last {
            Err(AttemptError::GaveUp { reason, attempts }) => {
                assert_eq!((reason.as_str(), attempts), ("HTTP 429", 3));
            }
            other => panic!("expected GaveUp, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn answers_and_fatal_errors_are_final_and_untouched() {
        let mut p = Retrying::new(policy(5, Duration::from_secs(60)));
        let mut c = call();
        for status in [200u16, 404, 401, 422] {
            let mut result = answer(status);
            assert!(p.retry(&mut c, &mut result).is_none());
            assert!(matches!(result, Ok(ref a) if a.status == status));
        }
        let mut slow = Err(AttemptError::Timeout("timed out".into()));
        assert!(p.retry(&mut c, &mut slow).is_none());
        assert!(matches!(slow, Err(AttemptError::Timeout(_))));
        let mut big = Err(AttemptError::TooLarge("big".into()));
        assert!(p.retry(&mut c, &mut big).is_none());
        assert!(matches!(big, Err(AttemptError::TooLarge(_))));
    }

    #[tokio::test]
    async fn no_retry_starts_past_the_time_budget() {
        let mut p = Retrying::new(policy(100, Duration::ZERO));
        let mut result = answer(500);
        assert!(p.retry(&mut call(), &mut result).is_none());
        assert!(matches!(
            result,
            Err(AttemptError::GaveUp { attempts: 1, .. })
        ));
    }

    #[test]
    fn registry_errors_keep_the_reason_and_the_attempts() {
        let e = AttemptError::GaveUp {
            reason: "HTTP 503".into(),
            attempts: 3,
        }
        .into_registry_error("/x", Duration::from_millis(5));
        assert!(
            e.to_string().contains("HTTP 503 (after 3 attempt(s))"),
            "{e}"
        );
        let e = AttemptError::TooLarge("HTTP 200 body of 9 bytes exceeds the cap of 8".into())
            .into_registry_error("/x", Duration::ZERO);
        assert!(matches!(e, RegistryError::BadResponse { .. }), "{e:?}");
    }
}
