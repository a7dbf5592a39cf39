//! Connections to brokers: connecting with a timeout (and TLS when on), and the proxy's own
//! metadata fetch.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use crate::codec::put_string;
use crate::frame::{read_frame, write_frame, FrameError, FrameLimits};
use crate::metrics::TlsFailureLabels;
use crate::rewrite::metadata;
use crate::tls::{TlsFailure, UpstreamTls};

/// Why talking to a broker failed.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The TCP connection could not be made.
    #[error("cannot connect to {addr}: {detail}")]
    Connect {
        /// The broker address.
        addr: String,
        /// What went wrong.
        detail: String,
    },
    /// The broker's response could not be read.
    #[error("bad response from {addr}: {detail}")]
    Response {
        /// The broker address.
        addr: String,
        /// What went wrong.
        detail: String,
    },
    /// The TLS handshake failed (untrusted, expired, wrong name, refused client certificate).
    #[error("TLS handshake with {addr} failed ({reason:?}): {detail}")]
    Tls {
        /// The broker address.
        addr: String,
        /// The bounded reason.
        reason: TlsFailure,
        /// rustls's error.
        detail: String,
    },
}

/// A connection to a broker: plain TCP or TLS over it. Kept as an enum so the plaintext
/// path splits into owned halves with no lock.
pub enum BrokerStream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP (boxed: the TLS state is large and the enum is moved around).
    Tls(Box<WatchedTls>),
}

/// A TLS stream to a broker that logs and counts, once, a fatal alert the broker sends after
/// the handshake. Under TLS 1.3 the proxy's side of the handshake ends before the broker has
/// judged the proxy's certificate, so a broker refusing it is only heard at the first read.
pub struct WatchedTls {
    inner: tokio_rustls::client::TlsStream<TcpStream>,
    broker: String,
    tls_failures: Family<TlsFailureLabels, Counter>,
    reported: bool,
}

impl WatchedTls {
    fn report(&mut self, e: &std::io::Error) {
        if self.reported {
            return;
        }
        let Some(alert) = crate::tls::upstream::alert_received(e) else {
            return;
        };
        self.reported = true;
        let reason = TlsFailure::refused_by_broker;
        self.tls_failures
            .get_or_create(&TlsFailureLabels { reason })
            .inc();
        tracing::warn!(
            broker = %self.broker,
            ?reason,
            ?alert,
            "broker refused the TLS connection after the handshake (BadCertificate or \
             CertificateRequired: it wants a client certificate it trusts, see --upstream-cert)"
        );
    }
}

impl AsyncRead for WatchedTls {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Err(e)) = &polled {
            self.report(e);
        }
        polled
    }
}

impl AsyncWrite for WatchedTls {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Makes broker connections: TCP within the connect timeout, then TLS if configured. Failed
/// handshakes, and a broker's refusal that TLS 1.3 delivers after them ([`WatchedTls`]), are
/// logged with the broker's address and counted by reason here, once per connection.
pub struct Connector {
    timeout: Duration,
    tls: Option<UpstreamTls>,
    tls_failures: Family<TlsFailureLabels, Counter>,
}

impl Connector {
    /// A connector; `tls_failures` counts failed handshakes.
    pub fn new(
        timeout: Duration,
        tls: Option<UpstreamTls>,
        tls_failures: Family<TlsFailureLabels, Counter>,
    ) -> Self {
        Self {
            timeout,
            tls,
            tls_failures,
        }
    }

    /// Connects to `addr` (`host:port`); with TLS the certificate must be valid for `host`.
    /// The timeout covers the TCP connect and the handshake together.
    pub async fn connect(&self, addr: &str) -> Result<BrokerStream, UpstreamError> {
        let timeout = self.timeout;
        let attempt = async {
            let tcp = connect(addr, timeout).await?;
            let Some(tls) = &self.tls else {
                return Ok(BrokerStream::Plain(tcp));
            };
            match tls.handshake(addr, tcp).await {
                Ok(s) => Ok(BrokerStream::Tls(Box::new(WatchedTls {
                    inner: s,
                    broker: addr.to_owned(),
                    tls_failures: self.tls_failures.clone(),
                    reported: false,
                }))),
                Err(e) => {
                    self.tls_failures
                        .get_or_create(&TlsFailureLabels { reason: e.reason })
                        .inc();
                    tracing::warn!(broker = %addr, reason = ?e.reason, error = %e.detail, "TLS handshake with broker failed");
                    Err(UpstreamError::Tls {
                        addr: addr.to_owned(),
                        reason: e.reason,
                        detail: e.detail,
                    })
                }
            }
        };
        tokio::time::timeout(timeout, attempt)
            .await
            .map_err(|_| UpstreamError::Connect {
                addr: addr.to_owned(),
                detail: format!("timed out after {timeout:?} (TCP connect and TLS handshake)"),
            })?
    }
}

/// Connects to `addr` (`host:port`) within `timeout`, plain TCP.
pub async fn connect(addr: &str, timeout: Duration) -> Result<TcpStream, UpstreamError> {
    let err = |detail: String| UpstreamError::Connect {
        addr: addr.to_owned(),
        detail,
    };
    let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| err(format!("timed out after {timeout:?}")))?
        .map_err(|e| err(e.to_string()))?;
    // Kafka traffic is request/response; waiting to coalesce small writes only adds latency.
    stream.set_nodelay(true).map_err(|e| err(e.to_string()))?;
    Ok(stream)
}

/// Version of the proxy's own Metadata request: oldest with racks, no topics wanted.
const DISCOVERY_METADATA_VERSION: i16 = 1;

/// Asks the broker at `addr` for the broker list: (node id, host, port) of each broker.
pub async fn fetch_brokers(
    connector: &Connector,
    addr: &str,
    limits: FrameLimits,
) -> Result<Vec<(i32, String, i32)>, UpstreamError> {
    let timeout = connector.timeout;
    let bad = |detail: String| UpstreamError::Response {
        addr: addr.to_owned(),
        detail,
    };
    let mut req = BytesMut::new();
    req.put_i16(3); // Metadata
    req.put_i16(DISCOVERY_METADATA_VERSION);
    req.put_i32(1); // correlation id
    put_string(&mut req, false, Some(b"schemagate-proxy"));
    req.put_i32(0); // empty topic list: brokers only
    let frame = tokio::time::timeout(timeout, one_exchange(connector, addr, &req, limits))
        .await
        .map_err(|_| bad(format!("no metadata response within {timeout:?}")))??
        .map_err(|e: FrameError| bad(e.to_string()))?
        .ok_or_else(|| bad("connection closed".into()))?;
    metadata::brokers(&frame, DISCOVERY_METADATA_VERSION).map_err(|e| bad(e.to_string()))
}

/// Sends one request frame to `addr` on a fresh connection (TLS if configured) and reads one
/// answer; the proxy's own requests (metadata, the ApiVersions reachability probe).
pub async fn one_exchange(
    connector: &Connector,
    addr: &str,
    req: &[u8],
    limits: FrameLimits,
) -> Result<Result<Option<Bytes>, FrameError>, UpstreamError> {
    Ok(match connector.connect(addr).await? {
        BrokerStream::Plain(mut s) => exchange(&mut s, req, limits).await,
        BrokerStream::Tls(mut s) => exchange(&mut s, req, limits).await,
    })
}

/// Sends one request frame and reads one response frame.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    req: &[u8],
    limits: FrameLimits,
) -> Result<Option<Bytes>, FrameError> {
    write_frame(stream, req).await?;
    stream.flush().await?;
    read_frame(stream, limits).await
}
