//! Failure injection: a scripted HTTP server that answers the way a broken or hostile registry
//! would (5xx, 429, slowness, garbage, oversized bodies, 401). This is NOT a registry: every
//! behaviour a real registry has is tested against the real one in `real_registry.rs`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use contract::SchemaId;
use registry_client::{
    Auth, CallerAction, RegistryClient, RegistryConfig, RegistryError, RetryPolicy,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// One scripted answer.
#[derive(Clone)]
struct Reply {
    status: u16,
    body: Vec<u8>,
    delay: Duration,
    extra_headers: String,
    /// Send the body chunked, with no content-length, so only the streaming cap can stop it.
    chunked: bool,
}

fn reply(status: u16, body: &str) -> Reply {
    Reply {
        status,
        body: body.as_bytes().to_vec(),
        delay: Duration::ZERO,
        extra_headers: String::new(),
        chunked: false,
    }
}

type Script = Arc<dyn Fn(usize, &str) -> Reply + Send + Sync>;

/// A tiny HTTP/1.1 server answering each request from `script(n, request_head)`.
struct Injector {
    url: String,
    hits: Arc<AtomicUsize>,
    heads: Arc<Mutex<Vec<String>>>,
}

async fn injector(script: Script) -> Injector {
    injector_counting(script, Arc::default()).await
}

/// [`injector`] that also counts, in `answered`, the answers it has started writing.
async fn injector_counting(script: Script, answered: Arc<AtomicUsize>) -> Injector {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let url = format!("http://{}", listener.local_addr().expect("bound address"));
    let hits = Arc::new(AtomicUsize::new(0));
    let heads = Arc::new(Mutex::new(Vec::new()));
    let (h, hd) = (hits.clone(), heads.clone());
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let (script, h, hd) = (script.clone(), h.clone(), hd.clone());
            let answered = answered.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf).to_string();
                let n = h.fetch_add(1, Ordering::SeqCst);
                hd.lock().expect("lock").push(head.clone());
                let r = script(n, &head);
                tokio::time::sleep(r.delay).await;
                let length = if r.chunked {
                    "transfer-encoding: chunked".to_string()
                } else {
                    format!("content-length: {}", r.body.len())
                };
                let mut out = format!(
                    "HTTP/1.1 {} X\r\ncontent-type: application/json\r\n{length}\r\nconnection: close\r\n{}\r\n",
                    r.status, r.extra_headers
                )
                .into_bytes();
                if r.chunked {
                    for piece in r.body.chunks(1024) {
                        out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                        out.extend_from_slice(piece);
                        out.extend_from_slice(b"\r\n");
                    }
                    out.extend_from_slice(b"0\r\n\r\n");
                } else {
                    out.extend_from_slice(&r.body);
                }
                // Counted before the write, so a client that reads the answer and sends its
                // next request at once can never be seen as one request too many.
                answered.fetch_add(1, Ordering::SeqCst);
                let _ = conn.write_all(&out).await;
                let _ = conn.shutdown().await;
            });
        }
    });
    Injector { url, hits, heads }
}

fn config(url: &str) -> RegistryConfig {
    let mut c = RegistryConfig::new(url);
    c.request_timeout = Duration::from_millis(500);
    c.connect_timeout = Duration::from_millis(300);
    c.retry = RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(40),
        max_elapsed: Duration::from_secs(2),
    };
    c
}

const GOOD: &str = r#"{"schema":"\"string\""}"#;

#[tokio::test]
async fn retries_5xx_then_succeeds() {
    let inj = injector(Arc::new(|n, _| {
        if n < 2 {
            reply(503, "{}")
        } else {
            reply(200, GOOD)
        }
    }))
    .await;
    let client = RegistryClient::new(config(&inj.url)).expect("client");
    let schema = client
        .schema(SchemaId(1))
        .await
        .expect("third attempt succeeds");
    assert_eq!(schema.text, "\"string\"");
    assert_eq!(inj.hits.load(Ordering::SeqCst), 3);
    assert_eq!(client.registry_requests(), 3);
}

#[tokio::test]
async fn persistent_5xx_and_429_are_unavailable_after_bounded_attempts() {
    for status in [500u16, 429] {
        let inj = injector(Arc::new(move |_, _| reply(status, "{}"))).await;
        let client = RegistryClient::new(config(&inj.url)).expect("client");
        let err = client
            .schema(SchemaId(1))
            .await
            .expect_err("never succeeds");
        assert!(matches!(err, RegistryError::Unavailable { .. }), "{err:?}");
        assert_eq!(err.action(), CallerAction::RetryLater);
        assert_eq!(inj.hits.load(Ordering::SeqCst), 3, "status {status}");
        // Transient errors are not cached: the next lookup asks again.
        let _ = client.schema(SchemaId(1)).await;
        assert_eq!(inj.hits.load(Ordering::SeqCst), 6);
    }
}

#[tokio::test]
async fn garbage_unauthorized_and_bare_404_are_transient_and_not_retried() {
    for (status, body) in [
        (200u16, "\u{0}\u{1}garbage{{{"),
        (200, r#"{"schema": 12}"#),
        (401, r#"{"error_code":40101,"message":"Unauthorized"}"#),
        (404, "<html>not here</html>"),
    ] {
        let body = body.to_string();
        let inj = injector(Arc::new(move |_, _| reply(status, &body))).await;
        let client = RegistryClient::new(config(&inj.url)).expect("client");
        let err = client
            .schema(SchemaId(1))
            .await
            .expect_err("unusable answer");
        assert!(matches!(err, RegistryError::BadResponse { .. }), "{err:?}");
        assert!(err.is_transient());
        assert_eq!(
            inj.hits.load(Ordering::SeqCst),
            1,
            "{status} must not be retried"
        );
    }
}

#[tokio::test]
async fn oversized_body_is_refused_with_or_without_content_length() {
    for chunked in [false, true] {
        let big = format!(r#"{{"schema":"{}"}}"#, "x".repeat(64 * 1024));
        let inj = injector(Arc::new(move |_, _| Reply {
            chunked,
            ..reply(200, &big)
        }))
        .await;
        let mut c = config(&inj.url);
        c.max_body_bytes = 16 * 1024;
        let client = RegistryClient::new(c).expect("client");
        let err = client.schema(SchemaId(1)).await.expect_err("too big");
        assert!(
            matches!(&err, RegistryError::BadResponse { reason, .. } if reason.contains("exceeds")),
            "chunked={chunked}: {err:?}"
        );
    }
}

#[tokio::test]
async fn retry_after_is_honoured_up_to_the_backoff_cap() {
    let inj = injector(Arc::new(|n, _| {
        if n == 0 {
            Reply {
                extra_headers: "retry-after: 30\r\n".into(),
                ..reply(429, "{}")
            }
        } else {
            reply(200, GOOD)
        }
    }))
    .await;
    let client = RegistryClient::new(config(&inj.url)).expect("client");
    let started = Instant::now();
    client
        .schema(SchemaId(1))
        .await
        .expect("second attempt succeeds");
    // Waited, but no longer than max_backoff (40 ms) plus slack, never the 30 s asked for.
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(inj.hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn slow_registry_times_out_without_retry() {
    let inj = injector(Arc::new(|_, _| Reply {
        delay: Duration::from_secs(3),
        ..reply(200, GOOD)
    }))
    .await;
    let client = RegistryClient::new(config(&inj.url)).expect("client");
    let started = Instant::now();
    let err = client.schema(SchemaId(1)).await.expect_err("timeout");
    assert!(matches!(err, RegistryError::Unavailable { .. }), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(inj.hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn connection_refused_is_unavailable_within_the_time_budget() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    let client = RegistryClient::new(config(&url)).expect("client");
    let started = Instant::now();
    let err = client
        .schema(SchemaId(1))
        .await
        .expect_err("nobody listens");
    assert!(
        matches!(&err, RegistryError::Unavailable { reason, .. } if reason.contains("3 attempt")),
        "{err:?}"
    );
    assert_eq!(client.registry_requests(), 3);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn basic_and_bearer_auth_are_sent() {
    for (auth, expected) in [
        (
            Auth::Basic {
                username: "key".into(),
                password: "secret".into(),
            },
            "authorization: Basic a2V5OnNlY3JldA==",
        ),
        (Auth::Bearer("tok".into()), "authorization: Bearer tok"),
    ] {
        let inj = injector(Arc::new(|_, _| reply(200, GOOD))).await;
        let mut c = config(&inj.url);
        c.auth = Some(auth);
        let client = RegistryClient::new(c).expect("client");
        client.schema(SchemaId(1)).await.expect("ok");
        let heads = inj.heads.lock().expect("lock").clone();
        assert!(
            heads[0]
                .to_ascii_lowercase()
                .contains(&expected.to_ascii_lowercase()),
            "{heads:?}"
        );
        assert!(heads[0].starts_with("GET /schemas/ids/1 HTTP/1.1"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distinct_misses_in_a_burst_keep_at_most_max_in_flight_requests_on_the_wire() {
    // Every answer takes 150 ms. A request is open at the server from its head until its
    // answer starts; the client frees its slot only after reading that answer, so the
    // server's count never runs ahead of the client's.
    let answered = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (a, p) = (answered.clone(), peak.clone());
    let inj = injector_counting(
        Arc::new(move |n, _| {
            p.fetch_max(
                (n + 1).saturating_sub(a.load(Ordering::SeqCst)),
                Ordering::SeqCst,
            );
            Reply {
                delay: Duration::from_millis(150),
                ..reply(200, GOOD)
            }
        }),
        answered,
    )
    .await;
    let mut c = config(&inj.url);
    c.max_in_flight = 4;
    let client = Arc::new(RegistryClient::new(c).expect("client"));
    let tasks: Vec<_> = (1..=20u32)
        .map(|id| {
            let client = client.clone();
            tokio::spawn(async move { client.schema(SchemaId(id)).await })
        })
        .collect();
    for task in tasks {
        task.await
            .expect("task completes")
            .expect("every lookup succeeds");
    }
    assert_eq!(inj.hits.load(Ordering::SeqCst), 20, "one request per id");
    let peak = peak.load(Ordering::SeqCst);
    assert!(
        (2..=4).contains(&peak),
        "peak of {peak} requests at once with max_in_flight = 4"
    );
}
