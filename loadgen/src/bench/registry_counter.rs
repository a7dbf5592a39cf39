//! A relay in front of the registry that counts HTTP requests as they pass, with their times,
//! so registry load is measured outside the proxy (no trust in the proxy's own metrics).
//!
//! It counts request lines by the `HTTP/1.1\r\n` that ends them in the client-to-registry
//! byte stream (JSON bodies never contain a raw CRLF after that token).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// What ends every HTTP/1.1 request line.
const REQUEST_LINE_END: &[u8] = b"HTTP/1.1\r\n";

/// Requests seen: their times, and counts per endpoint (`GET /schemas/ids/{n}`).
#[derive(Debug, Default)]
struct Hits {
    times: Vec<Instant>,
    endpoints: BTreeMap<String, u64>,
}

/// A running counting relay; dropping it stops it.
#[derive(Debug)]
pub struct RegistryCounter {
    local: SocketAddr,
    hits: Arc<Mutex<Hits>>,
    accept: JoinHandle<()>,
}

impl RegistryCounter {
    /// Relays `listen` → `upstream` (the registry), counting requests.
    pub async fn start(listen: SocketAddr, upstream: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(listen).await?;
        let local = listener.local_addr()?;
        let hits = Arc::new(Mutex::new(Hits::default()));
        let shared = hits.clone();
        let accept = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                let hits = shared.clone();
                connections.spawn(async move {
                    let _ = pipe(client, upstream, hits).await;
                });
            }
        });
        Ok(Self {
            local,
            hits,
            accept,
        })
    }

    /// The URL clients should use instead of the registry's.
    pub fn url(&self) -> String {
        format!("http://{}", self.local)
    }

    /// Requests seen so far.
    pub fn requests(&self) -> u64 {
        self.hits.lock().map(|h| h.times.len() as u64).unwrap_or(0)
    }

    /// Requests per window of `window`, from `start` to now.
    pub fn timeline(&self, start: Instant, window: Duration) -> Vec<u64> {
        let hits = self
            .hits
            .lock()
            .map(|h| h.times.clone())
            .unwrap_or_default();
        let n = (start.elapsed().as_secs_f64() / window.as_secs_f64()).ceil() as usize;
        let mut buckets = vec![0u64; n.max(1)];
        for t in hits {
            let i =
                (t.saturating_duration_since(start).as_secs_f64() / window.as_secs_f64()) as usize;
            if let Some(b) = buckets.get_mut(i) {
                *b += 1;
            }
        }
        buckets
    }

    /// Requests since `since`.
    pub fn requests_since(&self, since: Instant) -> u64 {
        self.hits
            .lock()
            .map(|h| h.times.iter().filter(|t| **t >= since).count() as u64)
            .unwrap_or(0)
    }

    /// Requests per endpoint (method and path, digit runs as `{n}`), best effort: a request
    /// line split across reads is counted under its visible tail.
    pub fn endpoints(&self) -> BTreeMap<String, u64> {
        self.hits
            .lock()
            .map(|h| h.endpoints.clone())
            .unwrap_or_default()
    }
}

impl Drop for RegistryCounter {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Largest number of requests per second in any one-second window (sliding by `step`).
pub fn peak_rps(timeline: &[u64], step: Duration) -> f64 {
    let per_second = (1.0 / step.as_secs_f64()).round().max(1.0) as usize;
    timeline
        .windows(per_second.min(timeline.len()).max(1))
        .map(|w| w.iter().sum::<u64>())
        .max()
        .unwrap_or(0) as f64
}

async fn pipe(
    client: TcpStream,
    upstream: SocketAddr,
    hits: Arc<Mutex<Hits>>,
) -> std::io::Result<()> {
    let server = TcpStream::connect(upstream).await?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let up = async move {
        let mut buf = vec![0u8; 16 * 1024];
        // The tail of the previous read, so a token split across reads is still seen.
        let mut carry: Vec<u8> = Vec::with_capacity(REQUEST_LINE_END.len() * 2);
        loop {
            let n = client_read.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            let chunk = buf.get(..n).unwrap_or(&[]);
            carry.extend_from_slice(chunk);
            let lines: Vec<String> = carry
                .windows(REQUEST_LINE_END.len())
                .enumerate()
                .filter(|(_, w)| *w == REQUEST_LINE_END)
                .map(|(end, _)| endpoint(carry.get(..end).unwrap_or(&[])))
                .collect();
            if !lines.is_empty() {
                if let Ok(mut h) = hits.lock() {
                    let now = Instant::now();
                    for line in lines {
                        h.times.push(now);
                        *h.endpoints.entry(line).or_default() += 1;
                    }
                }
            }
            // Keep one byte less than a token: never a whole (already counted) token.
            let drop_to = carry.len().saturating_sub(REQUEST_LINE_END.len() - 1);
            carry.drain(..drop_to);
            server_write.write_all(chunk).await?;
        }
        server_write.shutdown().await
    };
    let down = async move {
        tokio::io::copy(&mut server_read, &mut client_write).await?;
        client_write.shutdown().await
    };
    let (a, b) = tokio::join!(up, down);
    a.and(b)
}

/// `METHOD /path` of the request line ending at the end of `before`, digits as `{n}`.
fn endpoint(before: &[u8]) -> String {
    let start = before
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    let line = String::from_utf8_lossy(before.get(start..).unwrap_or(&[]));
    let line = line.trim_end();
    let (path, query) = line.split_once('?').unwrap_or((line, ""));
    let mut out = String::with_capacity(path.len().min(80) + 24);
    let mut in_digits = false;
    for c in path.chars().take(80) {
        if c.is_ascii_digit() {
            if !in_digits {
                out.push_str("{n}");
            }
            in_digits = true;
        } else {
            in_digits = false;
            out.push(c);
        }
    }
    // Query names only (values may be anything), and the binding probe by name.
    if query.contains("subject=schemagate-binding-probe") {
        out.push_str("?subject=(probe)");
    } else if !query.is_empty() {
        let names: Vec<&str> = query
            .split('&')
            .filter_map(|kv| kv.split('=').next())
            .filter(|k| k.len() <= 32 && k.bytes().all(|b| b.is_ascii_alphanumeric()))
            .take(4)
            .collect();
        out.push('?');
        out.push_str(&names.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_keep_alive_requests_split_anywhere() {
        let server = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = server.accept().await.unwrap();
            let mut sink = vec![0u8; 4096];
            while s.read(&mut sink).await.unwrap_or(0) > 0 {}
        });
        let counter = RegistryCounter::start("127.0.0.1:0".parse().unwrap(), addr)
            .await
            .unwrap();
        let mut c = TcpStream::connect(counter.local).await.unwrap();
        let one = b"GET /schemas/ids/1 HTTP/1.1\r\nHost: x\r\n\r\n";
        let body = b"POST /subjects/s/versions HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}";
        let mut all = Vec::new();
        for _ in 0..3 {
            all.extend_from_slice(one);
            all.extend_from_slice(body);
        }
        // Write in 7-byte pieces so tokens straddle reads.
        for piece in all.chunks(7) {
            c.write_all(piece).await.unwrap();
            c.flush().await.unwrap();
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        drop(c);
        for _ in 0..100 {
            if counter.requests() == 6 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(counter.requests(), 6);
        assert_eq!(counter.endpoints().values().sum::<u64>(), 6);
    }

    #[test]
    fn endpoints_are_method_and_path_with_digits_folded() {
        assert_eq!(
            endpoint(b"x\r\nGET /schemas/ids/17?subject=a "),
            "GET /schemas/ids/{n}?subject"
        );
        assert_eq!(
            endpoint(b"GET /schemas/ids/17?subject=schemagate-binding-probe-x "),
            "GET /schemas/ids/{n}?subject=(probe)"
        );
        assert_eq!(endpoint(b"GET /schemas/ids/9 "), "GET /schemas/ids/{n}");
        assert_eq!(
            endpoint(b"POST /subjects/orders-value/versions "),
            "POST /subjects/orders-value/versions"
        );
        assert_eq!(endpoint(b""), "");
    }

    #[test]
    fn peak_over_sliding_seconds() {
        let t = [0, 5, 5, 0, 0, 0, 0, 0, 0, 0, 0, 3];
        assert_eq!(peak_rps(&t, Duration::from_millis(100)), 10.0);
        assert_eq!(peak_rps(&[], Duration::from_millis(100)), 0.0);
    }
}
