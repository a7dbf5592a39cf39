//! One client connection: its own upstream connection, a request side and a response side.
//!
//! The request side reads client frames, peeks at the header, sends Produce requests through
//! the inspector, forwards bytes upstream and queues one [`Pending`] entry per request that
//! expects a response. The response side pops entries in order, reads the matching upstream
//! response (or takes the local one), rewrites it if needed and writes it to the client.
//! Both run in the same task; when the request side ends (client EOF or shutdown) the response
//! side drains what is in flight and the connection closes.
//!
//! Both sides are generic over the halves of the client and broker streams, so a plaintext
//! connection keeps `TcpStream`'s owned halves (no lock) and only TLS pays for
//! `tokio::io::split`. The first client bytes are peeked before anything is read, so a TLS
//! client on a plaintext listener (and the reverse) is told apart from a malformed frame.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::codec::WireError;
use crate::frame::{read_frame, write_frame, FrameError};
use crate::header::{self, HeaderError, RequestHeaderPeek};
use crate::inflight::{Pending, ResponseAction};
use crate::inspect::{CloseCause, MergeError, ProduceDecision, ProduceRequestFrame};
use crate::metrics::{ApiLabels, CloseReason};
use crate::rewrite::{self, api_versions, RewriteError};
use crate::tls::HANDSHAKE_RECORD;
use crate::upstream::{BrokerStream, UpstreamError};
use crate::Shared;

/// Requests that may wait for their responses on one connection.
const MAX_IN_FLIGHT: usize = 256;

/// Most partitions remembered as refused on one connection (a client that produces to more
/// partitions than this at once with errors on all of them only gets fewer holds).
const MAX_REFUSED: usize = 4096;

/// What the two sides of one connection share about its Produce answers, for
/// [`ProduceDecision::Hold`]: which topic partitions' latest answer was an error, and how
/// many queue entries the response side has finished.
struct ProduceAnswers {
    refused: std::sync::Mutex<std::collections::HashSet<(String, i32)>>,
    finished: watch::Sender<u64>,
}

impl ProduceAnswers {
    fn new() -> Self {
        Self {
            refused: std::sync::Mutex::new(std::collections::HashSet::new()),
            finished: watch::channel(0).0,
        }
    }

    /// Notes every partition answer of a Produce response: an error marks the partition
    /// refused, a success clears it.
    fn note(&self, header: &RequestHeaderPeek, response: &[u8]) {
        let Ok(mut refused) = self.refused.lock() else {
            return;
        };
        // A response the proxy relays was checked when it was merged or is the broker's
        // own; one it cannot walk is not noted (the partition keeps its last state).
        let _ = crate::enforce::produce_response::visit_partitions(
            response,
            header.api_version,
            |topic, index, code| {
                if code != 0 {
                    if refused.len() < MAX_REFUSED {
                        refused.insert((String::from_utf8_lossy(topic).into_owned(), index));
                    }
                } else if !refused.is_empty() {
                    refused.remove(&(String::from_utf8_lossy(topic).into_owned(), index));
                }
            },
        );
    }

    /// True when the latest answer on one of `partitions` was an error; forgets them, so the
    /// client's retry of the held request goes through unless a new refusal comes first.
    fn take_refused(&self, partitions: &[(String, i32)]) -> bool {
        let Ok(mut refused) = self.refused.lock() else {
            return false;
        };
        // Every one of them is forgotten, not only the first found.
        let before = refused.len();
        for p in partitions {
            refused.remove(p);
        }
        refused.len() < before
    }
}

/// Why a connection was closed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    /// A client frame was refused.
    #[error("client frame: {0}")]
    ClientFrame(FrameError),
    /// An upstream frame was refused.
    #[error("upstream frame: {0}")]
    UpstreamFrame(FrameError),
    /// The request header is unusable.
    #[error(transparent)]
    Header(#[from] HeaderError),
    /// A version the proxy does not offer for an API it reads or rewrites.
    #[error("{api} v{version} is not offered by the proxy")]
    UnsupportedVersion {
        /// The API.
        api: &'static str,
        /// The requested version.
        version: i16,
    },
    /// A Produce request body could not be read.
    #[error("malformed produce request: {0}")]
    MalformedProduce(WireError),
    /// The broker could not be reached.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// Writing to the broker failed.
    #[error("upstream write failed: {0}")]
    UpstreamIo(std::io::Error),
    /// The broker closed while responses were owed.
    #[error("upstream closed with {0} response(s) owed")]
    UpstreamClosed(usize),
    /// The broker answered out of order.
    #[error("upstream response correlation id {got}, expected {expected}")]
    CorrelationMismatch {
        /// The id of the oldest request in flight.
        expected: i32,
        /// The id the broker sent.
        got: i32,
    },
    /// A response could not be rewritten.
    #[error(transparent)]
    Rewrite(#[from] RewriteError),
    /// The inspector's merge failed.
    #[error(transparent)]
    Merge(#[from] MergeError),
    /// The inspector asked to close.
    #[error("produce inspector closed the connection: {1}")]
    Inspector(CloseCause, String),
    /// A client sent a TLS ClientHello to a plaintext listener.
    #[error("client sent a TLS ClientHello to a plaintext listener: set security.protocol=PLAINTEXT (or SASL_PLAINTEXT) in the client, or start the proxy with --tls-cert/--tls-key")]
    TlsOnPlaintext,
    /// A client sent something other than a TLS handshake to a TLS listener.
    #[error("client sent plaintext (first byte {0:#04x}) to a TLS listener: set security.protocol=SSL (or SASL_SSL) in the client, or start the proxy without --tls-cert")]
    PlaintextOnTls(u8),
    /// The TLS handshake with the client failed.
    #[error("TLS handshake with the client failed: {0}")]
    ClientTls(std::io::Error),
    /// A socket failed.
    #[error("i/o error: {0}")]
    Io(std::io::Error),
}

// The cause is in the message, so not also a `source()` (`#[from]` would make it one).
impl From<std::io::Error> for ConnectionError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

impl ConnectionError {
    /// True when the client reset or closed the socket under us: a normal end, not bad input.
    pub fn is_client_gone(&self) -> bool {
        let io = match self {
            Self::Io(e) | Self::ClientFrame(FrameError::Io(e)) => e,
            _ => return false,
        };
        matches!(
            io.kind(),
            std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
        )
    }

    /// The bounded metric label for this error.
    pub fn reason(&self) -> CloseReason {
        match self {
            Self::ClientFrame(FrameError::TooLarge { .. } | FrameError::NegativeSize(_)) => {
                CloseReason::frame_too_large
            }
            Self::ClientFrame(FrameError::Truncated { .. }) => CloseReason::truncated,
            Self::ClientFrame(FrameError::Stalled(_)) => CloseReason::stalled,
            Self::ClientFrame(FrameError::Io(_)) | Self::Io(_) => CloseReason::io,
            Self::Header(HeaderError::UnknownApiKey(_)) | Self::UnsupportedVersion { .. } => {
                CloseReason::unsupported_api
            }
            Self::Header(_) | Self::MalformedProduce(_) => CloseReason::malformed,
            Self::UpstreamFrame(_)
            | Self::Upstream(_)
            | Self::UpstreamIo(_)
            | Self::UpstreamClosed(_)
            | Self::CorrelationMismatch { .. }
            | Self::Rewrite(_) => CloseReason::upstream,
            Self::Inspector(CloseCause::Malformed, _) => CloseReason::malformed,
            Self::Inspector(CloseCause::Unsupported, _) => CloseReason::unsupported_api,
            Self::Merge(_) | Self::Inspector(CloseCause::Inspector, _) => CloseReason::inspector,
            Self::TlsOnPlaintext => CloseReason::tls_on_plaintext,
            Self::PlaintextOnTls(_) => CloseReason::plaintext_on_tls,
            Self::ClientTls(_) => CloseReason::tls_handshake,
        }
    }
}

/// Serves one client connection accepted on the listener of broker `index`.
pub async fn handle(
    shared: Arc<Shared>,
    client: TcpStream,
    peer: SocketAddr,
    index: usize,
    shutdown: watch::Receiver<bool>,
) {
    shared.metrics.connections.inc();
    let result = serve(&shared, client, peer, index, shutdown).await;
    shared.metrics.connections.dec();
    match result {
        Ok(()) => tracing::debug!(%peer, index, "connection closed"),
        Err(e) if e.is_client_gone() => {
            tracing::debug!(%peer, index, reason = %e, "client went away");
        }
        Err(e) => {
            let reason = e.reason();
            shared.metrics.closed(reason);
            let admit = shared.close_log.admit(reason, std::time::Instant::now());
            if admit.suppressed > 0 {
                tracing::warn!(
                    ?reason,
                    suppressed = admit.suppressed,
                    "suppressed the log lines of more closed client connections \
                     (schemagate_connections_closed_total counts them all)"
                );
            }
            if admit.log {
                tracing::warn!(%peer, index, reason = %e, "closing client connection");
            }
        }
    }
}

async fn serve(
    shared: &Arc<Shared>,
    client: TcpStream,
    peer: SocketAddr,
    index: usize,
    shutdown: watch::Receiver<bool>,
) -> Result<(), ConnectionError> {
    // Latency matters more than packet count for request/response traffic.
    client.set_nodelay(true)?;
    // The broker is dialled while the client's first bytes arrive (and, with TLS, while its
    // handshake runs), as before TLS existed: no added round trip on connect.
    let Some(tls) = &shared.listener_tls else {
        let joined = tokio::try_join!(
            first_byte(&client, shutdown.clone()),
            connect_upstream(shared, index)
        );
        let (first, upstream) = joined.inspect_err(|e| reset_if_unreachable(&client, e))?;
        if first == Some(HANDSHAKE_RECORD) {
            return Err(ConnectionError::TlsOnPlaintext);
        }
        return with_upstream(shared, peer, index, client.into_split(), upstream, shutdown).await;
    };
    let acceptor = tls.acceptor();
    // A second handle on the socket, to reset it if the broker cannot be reached: the TLS
    // handshake owns the stream meanwhile.
    let socket = client.into_std()?;
    let spare = socket.try_clone()?;
    let client = TcpStream::from_std(socket)?;
    let joined = tokio::try_join!(
        accept_tls(shared, acceptor, client, shutdown.clone()),
        connect_upstream(shared, index)
    );
    let (client, upstream) = joined.inspect_err(|e| reset_if_unreachable(&spare, e))?;
    drop(spare);
    let Some(client) = client else {
        return Ok(()); // shutdown before the client said anything
    };
    let halves = tokio::io::split(client);
    with_upstream(shared, peer, index, halves, upstream, shutdown).await
}

/// When the broker behind this listener cannot be reached, makes the client's connection close
/// with a reset (`SO_LINGER` 0) instead of an orderly close; nothing has been sent to the
/// client yet, so nothing is lost. A client then sees what a dead broker gives it directly, a
/// failed connection it retries, where an orderly close during its first request reads as a
/// TLS or SASL mistake: franz-go does not retry an EOF on a connection's first read, and
/// failed buffered records that way when a broker was killed.
fn reset_if_unreachable(client: &impl std::os::fd::AsFd, error: &ConnectionError) {
    if matches!(error, ConnectionError::Upstream(_)) {
        if let Err(e) = socket2::SockRef::from(client).set_linger(Some(Duration::ZERO)) {
            tracing::debug!(error = %e, "could not set SO_LINGER 0 on a client connection");
        }
    }
}

/// The client's first byte, without consuming it; `None` on EOF or shutdown.
async fn first_byte(
    client: &TcpStream,
    mut shutdown: watch::Receiver<bool>,
) -> Result<Option<u8>, ConnectionError> {
    let mut byte = [0u8; 1];
    tokio::select! {
        n = client.peek(&mut byte) => Ok((n? == 1).then_some(byte[0])),
        _ = shutdown.wait_for(|stop| *stop) => Ok(None),
    }
}

/// The TLS handshake with the client, after checking that it starts one at all.
async fn accept_tls(
    shared: &Shared,
    acceptor: TlsAcceptor,
    client: TcpStream,
    shutdown: watch::Receiver<bool>,
) -> Result<Option<TlsStream<TcpStream>>, ConnectionError> {
    match first_byte(&client, shutdown).await? {
        None => return Ok(None),
        Some(HANDSHAKE_RECORD) => {}
        Some(other) => return Err(ConnectionError::PlaintextOnTls(other)),
    }
    // A client that stops mid-handshake is treated like one that stalls mid-frame.
    let stall = shared.limits.stall_timeout;
    match tokio::time::timeout(stall, acceptor.accept(client)).await {
        Ok(Ok(s)) => Ok(Some(s)),
        Ok(Err(e)) => Err(ConnectionError::ClientTls(e)),
        Err(_) => Err(ConnectionError::ClientFrame(FrameError::Stalled(stall))),
    }
}

/// Splits the broker stream and runs both sides over the client halves.
async fn with_upstream<CR, CW>(
    shared: &Arc<Shared>,
    peer: SocketAddr,
    index: usize,
    client: (CR, CW),
    upstream: BrokerStream,
    shutdown: watch::Receiver<bool>,
) -> Result<(), ConnectionError>
where
    CR: AsyncRead + Unpin,
    CW: AsyncWrite + Unpin,
{
    let at = (shared, peer, index);
    match upstream {
        BrokerStream::Plain(s) => relay(at, client, s.into_split(), shutdown).await,
        BrokerStream::Tls(s) => relay(at, client, tokio::io::split(*s), shutdown).await,
    }
}

/// Runs the request and response sides until the client is done and nothing is owed.
async fn relay<CR, CW, UR, UW>(
    (shared, peer, index): (&Arc<Shared>, SocketAddr, usize),
    (client_read, client_write): (CR, CW),
    (upstream_read, upstream_write): (UR, UW),
    shutdown: watch::Receiver<bool>,
) -> Result<(), ConnectionError>
where
    CR: AsyncRead + Unpin,
    CW: AsyncWrite + Unpin,
    UR: AsyncRead + Unpin,
    UW: AsyncWrite + Unpin,
{
    let (tx, rx) = mpsc::channel(MAX_IN_FLIGHT);
    let answers = ProduceAnswers::new();
    let requests = RequestSide {
        shared,
        peer,
        index,
        client: client_read,
        upstream: BufWriter::new(upstream_write),
        queue: tx,
        answers: &answers,
        enqueued: 0,
    };
    let responses = ResponseSide {
        shared,
        upstream: upstream_read,
        client: BufWriter::new(client_write),
        queue: rx,
        unanswered: VecDeque::new(),
        answers: &answers,
    };
    let request_side = requests.run(shutdown);
    let response_side = responses.run();
    tokio::pin!(request_side, response_side);
    tokio::select! {
        r = &mut request_side => {
            // Keep the upstream write half open until every owed response has arrived: a
            // broker that sees EOF (dropping the half sends FIN) may drop in-flight requests.
            let _upstream_writer = r?;
            response_side.await
        }
        r = &mut response_side => r,
    }
}

async fn connect_upstream(shared: &Shared, index: usize) -> Result<BrokerStream, ConnectionError> {
    if let Some(slot) = shared.brokers.slot(index) {
        return Ok(shared.connector.connect(&slot.upstream).await?);
    }
    // Before the first metadata fetch only the bootstrap listener exists; it goes to the
    // first bootstrap broker that answers.
    let mut last = None;
    for addr in &shared.config.upstreams {
        match shared.connector.connect(addr).await {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(last
        .unwrap_or(UpstreamError::Connect {
            addr: format!("broker index {index}"),
            detail: "no known upstream".into(),
        })
        .into())
}

struct RequestSide<'a, CR, UW> {
    shared: &'a Shared,
    peer: SocketAddr,
    index: usize,
    client: CR,
    upstream: BufWriter<UW>,
    queue: mpsc::Sender<Pending>,
    answers: &'a ProduceAnswers,
    /// Entries queued so far.
    enqueued: u64,
}

impl<CR: AsyncRead + Unpin, UW: AsyncWrite + Unpin> RequestSide<'_, CR, UW> {
    /// Reads requests until client EOF or shutdown; returns the upstream writer, which must
    /// stay open while responses are owed.
    async fn run(
        mut self,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<BufWriter<UW>, ConnectionError> {
        let limits = self.shared.limits;
        loop {
            let frame = tokio::select! {
                r = read_frame(&mut self.client, limits) => r.map_err(ConnectionError::ClientFrame)?,
                _ = shutdown.wait_for(|stop| *stop) => None,
            };
            let Some(frame) = frame else {
                break;
            };
            self.shared.metrics.bytes_in.inc_by(frame.len() as u64 + 4);
            self.request(frame).await?;
        }
        Ok(self.upstream)
    }

    async fn request(&mut self, frame: Bytes) -> Result<(), ConnectionError> {
        let header = RequestHeaderPeek::parse(&frame)?;
        crate::capture::request(&header, &frame);
        let api = header.api_name();
        tracing::trace!(
            api,
            version = header.api_version,
            correlation_id = header.correlation_id,
            "request"
        );
        self.shared
            .metrics
            .requests
            .get_or_create(&ApiLabels { api })
            .inc();
        if let Some((min, max)) = rewrite::proxy_range(header.api_key) {
            let version = header.api_version;
            if header.api_key == ApiKey::ApiVersions && version > max {
                // As Kafka does: answer in v0 with the supported range so the client retries.
                let response = api_versions::unsupported_version_response(header.correlation_id);
                return self.enqueue(Pending::Local { header, response }).await;
            }
            if header.api_key == ApiKey::SaslHandshake && version == 0 {
                // v0 is followed by raw SASL tokens without Kafka framing, which a proxy that
                // reads every request's header cannot relay. Refuse it in the protocol, so the
                // client reports the reason instead of a dropped connection.
                tracing::warn!(
                    peer = %self.peer,
                    "SaslHandshake v0 (headerless SASL tokens) is not supported; clients since \
                     Kafka 1.0 use v1 with SaslAuthenticate"
                );
                let response = api_versions::sasl_handshake_v0_refusal(header.correlation_id);
                return self.enqueue(Pending::Local { header, response }).await;
            }
            if version < min || version > max {
                return Err(ConnectionError::UnsupportedVersion { api, version });
            }
        }
        if header.api_key == ApiKey::Produce {
            return self.produce(header, frame).await;
        }
        self.forward(header, &frame, ResponseAction::Relay).await
    }

    async fn produce(
        &mut self,
        header: RequestHeaderPeek,
        frame: Bytes,
    ) -> Result<(), ConnectionError> {
        let acks = header::produce_acks(&frame, header.api_version)
            .map_err(ConnectionError::MalformedProduce)?;
        let body_offset = header::request_header_len(&frame, header.api_key, header.api_version)
            .map_err(ConnectionError::MalformedProduce)?;
        let request = ProduceRequestFrame {
            header,
            acks,
            frame,
            body_offset,
            peer: self.peer,
            broker_index: self.index,
        };
        let decision = self.shared.inspector.inspect(&request).await;
        let expects_response = acks != 0;
        let decision = match decision {
            ProduceDecision::Hold {
                decision,
                partitions,
                fallback,
            } if expects_response => {
                // Every answer before this one first: the latest on each held partition.
                self.drain().await?;
                if self.answers.take_refused(&partitions) {
                    tracing::debug!(
                        target: "schemagate::sequence",
                        ?partitions,
                        "the batch before one answered here was refused: the request is answered retriable"
                    );
                    self.shared.metrics.held_produce_answers.inc();
                    return self.enqueue(Pending::Held { response: fallback }).await;
                }
                *decision
            }
            ProduceDecision::Hold { decision, .. } => *decision,
            other => other,
        };
        match decision {
            ProduceDecision::Respond(response) if expects_response => {
                self.enqueue(Pending::Local { header, response }).await
            }
            ProduceDecision::ForwardModified { request, merge } if expects_response => {
                self.forward(header, &request, ResponseAction::Merge(merge))
                    .await
            }
            ProduceDecision::ForwardModified { request, .. } => {
                self.send_unanswered(header, &request).await
            }
            ProduceDecision::Forward if expects_response => {
                self.forward(header, &request.frame, ResponseAction::Relay)
                    .await
            }
            ProduceDecision::Forward => self.send_unanswered(header, &request.frame).await,
            ProduceDecision::Respond(_) => Ok(()),
            ProduceDecision::Hold { .. } => Err(ConnectionError::Inspector(
                CloseCause::Inspector,
                "a held produce decision held another".into(),
            )),
            ProduceDecision::Close(cause, reason) => Err(ConnectionError::Inspector(cause, reason)),
        }
    }

    /// Waits until the response side has finished every entry queued so far.
    async fn drain(&mut self) -> Result<(), ConnectionError> {
        let enqueued = self.enqueued;
        self.answers
            .finished
            .subscribe()
            .wait_for(|done| *done >= enqueued)
            .await
            .map(|_| ())
            .map_err(|_| ConnectionError::Io(std::io::ErrorKind::BrokenPipe.into()))
    }

    async fn forward(
        &mut self,
        header: RequestHeaderPeek,
        frame: &[u8],
        action: ResponseAction,
    ) -> Result<(), ConnectionError> {
        let sent_at = Instant::now();
        self.send(frame).await?;
        self.enqueue(Pending::Upstream {
            header,
            sent_at,
            action,
        })
        .await
    }

    /// Sends an `acks=0` Produce, noting its place so a broker's stray answer is dropped.
    async fn send_unanswered(
        &mut self,
        header: RequestHeaderPeek,
        frame: &[u8],
    ) -> Result<(), ConnectionError> {
        self.send(frame).await?;
        self.enqueue(Pending::Unanswered {
            correlation_id: header.correlation_id,
        })
        .await
    }

    async fn send(&mut self, frame: &[u8]) -> Result<(), ConnectionError> {
        write_frame(&mut self.upstream, frame)
            .await
            .map_err(ConnectionError::UpstreamIo)?;
        self.upstream
            .flush()
            .await
            .map_err(ConnectionError::UpstreamIo)
    }

    async fn enqueue(&mut self, pending: Pending) -> Result<(), ConnectionError> {
        // The response side only drops its receiver when it failed; its error is reported.
        self.queue
            .send(pending)
            .await
            .map_err(|_| ConnectionError::Io(std::io::ErrorKind::BrokenPipe.into()))?;
        self.enqueued += 1;
        Ok(())
    }
}

struct ResponseSide<'a, UR, CW> {
    shared: &'a Shared,
    upstream: UR,
    client: BufWriter<CW>,
    queue: mpsc::Receiver<Pending>,
    /// Correlation ids of recent `acks=0` Produce requests (bounded), whose answers are dropped.
    unanswered: VecDeque<i32>,
    answers: &'a ProduceAnswers,
}

/// Most `acks=0` correlation ids remembered; a broker answers them before the next response.
const MAX_UNANSWERED: usize = 256;

impl<UR: AsyncRead + Unpin, CW: AsyncWrite + Unpin> ResponseSide<'_, UR, CW> {
    async fn run(mut self) -> Result<(), ConnectionError> {
        while let Some(pending) = self.queue.recv().await {
            let response = match pending {
                Pending::Unanswered { correlation_id } => {
                    if self.unanswered.len() == MAX_UNANSWERED {
                        self.unanswered.pop_front();
                    }
                    self.unanswered.push_back(correlation_id);
                    self.answers.finished.send_modify(|n| *n += 1);
                    continue;
                }
                Pending::Local { header, response } => {
                    if header.api_key == ApiKey::Produce {
                        self.answers.note(&header, &response);
                    }
                    response
                }
                Pending::Held { response } => response,
                Pending::Upstream {
                    header,
                    sent_at,
                    action,
                } => {
                    // Answers already written go out before waiting on the broker: held back,
                    // each would wait for the broker's next answer, a whole request later.
                    if !self.client.buffer().is_empty() {
                        self.client.flush().await?;
                    }
                    let response = self.upstream_response(header, sent_at, action).await?;
                    if header.api_key == ApiKey::Produce {
                        self.answers.note(&header, &response);
                    }
                    response
                }
            };
            self.answers.finished.send_modify(|n| *n += 1);
            write_frame(&mut self.client, &response).await?;
            self.shared
                .metrics
                .bytes_out
                .inc_by(response.len() as u64 + 4);
            if self.queue.is_empty() {
                self.client.flush().await?;
            }
        }
        self.client.shutdown().await.ok();
        Ok(())
    }

    /// The next upstream frame answering `expected`, dropping answers to `acks=0` requests.
    async fn next_answer(&mut self, expected: i32) -> Result<Bytes, ConnectionError> {
        loop {
            let frame = read_frame(&mut self.upstream, self.shared.limits)
                .await
                .map_err(ConnectionError::UpstreamFrame)?
                .ok_or(ConnectionError::UpstreamClosed(self.queue.len() + 1))?;
            let got = header::response_correlation_id(&frame).map_err(|_| {
                ConnectionError::UpstreamFrame(FrameError::Truncated {
                    got: frame.len(),
                    want: 4,
                })
            })?;
            if got == expected {
                return Ok(frame);
            }
            match self.unanswered.iter().position(|id| *id == got) {
                Some(i) => {
                    self.unanswered.remove(i);
                    tracing::trace!(correlation_id = got, "dropped a broker's answer to acks=0");
                }
                None => return Err(ConnectionError::CorrelationMismatch { expected, got }),
            }
        }
    }

    async fn upstream_response(
        &mut self,
        header: RequestHeaderPeek,
        sent_at: Instant,
        action: ResponseAction,
    ) -> Result<Bytes, ConnectionError> {
        let frame = self.next_answer(header.correlation_id).await?;
        let api = header.api_name();
        self.shared
            .metrics
            .upstream_seconds
            .get_or_create(&ApiLabels { api })
            .observe(sent_at.elapsed().as_secs_f64());
        // A merged Produce response still carries broker endpoints (v10+): rewrite it too.
        let frame = match action {
            ResponseAction::Relay => frame,
            ResponseAction::Merge(merge) => merge(frame)?,
        };
        Ok(
            if rewrite::needs_rewrite(header.api_key, header.api_version) {
                crate::capture::response(header.api_key, header.api_version, &frame);
                rewrite::rewrite_response(
                    header.api_key,
                    header.api_version,
                    frame,
                    &self.shared.brokers,
                    self.shared.inspector.max_produce_version(),
                )?
            } else {
                frame
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Produce v9 response answering `parts` (topic, partition, error code).
    fn produce_response(parts: &[(&str, i32, i16)]) -> (RequestHeaderPeek, Bytes) {
        use crate::enforce::produce_response::{local_response, LocalPartition};
        let parts: Vec<LocalPartition> = parts
            .iter()
            .map(|(topic, index, error_code)| LocalPartition {
                topic: (*topic).to_owned(),
                index: *index,
                error_code: *error_code,
                error_message: None,
                record_errors: Vec::new(),
            })
            .collect();
        let header = RequestHeaderPeek {
            api_key: ApiKey::Produce,
            api_version: 9,
            correlation_id: 7,
        };
        (header, local_response(7, 9, &parts).expect("a response"))
    }

    #[test]
    fn a_refusal_is_remembered_until_a_success_or_one_hold() {
        let answers = ProduceAnswers::new();
        let (h, r) = produce_response(&[("t", 0, 0), ("t", 1, 2), ("u", 0, 51)]);
        answers.note(&h, &r);
        // Partition t-0 was answered with success; t-1 and u-0 were refused.
        assert!(!answers.take_refused(&[("t".into(), 0)]));
        assert!(answers.take_refused(&[("t".into(), 0), ("t".into(), 1)]));
        // A hold forgets what it used: the client's retry goes through.
        assert!(!answers.take_refused(&[("t".into(), 1)]));
        // A later success clears a refusal.
        let (h, r) = produce_response(&[("u", 0, 0)]);
        answers.note(&h, &r);
        assert!(!answers.take_refused(&[("u".into(), 0)]));
    }

    #[test]
    fn inspector_closes_are_counted_by_their_cause() {
        let reason = |cause| ConnectionError::Inspector(cause, "x".into()).reason();
        assert_eq!(reason(CloseCause::Malformed), CloseReason::malformed);
        assert_eq!(
            reason(CloseCause::Unsupported),
            CloseReason::unsupported_api
        );
        assert_eq!(reason(CloseCause::Inspector), CloseReason::inspector);
    }
}
