//! The produce-inspection seam: every Produce request passes through one async hook.
//!
//! The default [`PassThrough`] forwards the original bytes without decoding anything. Schema
//! enforcement plugs in here by implementing [`ProduceInspector`] and handing it to
//! [`crate::Proxy::new`]. The hook runs on the connection's request path, one request at a
//! time, so whatever it decides keeps the client's request order: a response it makes itself
//! is queued between the responses of forwarded requests exactly where the request was.

use std::net::SocketAddr;

use bytes::Bytes;
use futures::future::BoxFuture;

use crate::codec::WireError;
use crate::header::RequestHeaderPeek;
use crate::produce_view::ProduceRequestView;

/// A Produce request as the client sent it.
#[derive(Debug, Clone)]
pub struct ProduceRequestFrame {
    /// Api key (always Produce), version and correlation id.
    pub header: RequestHeaderPeek,
    /// The request's `acks`; with 0 the client expects no response at all.
    pub acks: i16,
    /// The whole frame body (request header included, size prefix excluded), untouched.
    pub frame: Bytes,
    /// Offset in `frame` where the request body starts (after the header's tagged fields).
    pub body_offset: usize,
    /// The client's address, for logs.
    pub peer: SocketAddr,
    /// Index of the broker this connection is served by.
    pub broker_index: usize,
}

impl ProduceRequestFrame {
    /// Reads topics, partitions and record data within limits (see [`ProduceRequestView`]).
    pub fn view(&self) -> Result<ProduceRequestView<'_>, WireError> {
        ProduceRequestView::parse(&self.frame, self.header.api_version, self.body_offset)
    }
}

/// Builds the client's response from the broker's response to a modified request.
/// Both are whole frame bodies, response header included.
pub type MergeFn = Box<dyn FnOnce(Bytes) -> Result<Bytes, MergeError> + Send>;

/// A merge that could not produce a response; the connection is closed with this reason.
#[derive(Debug, thiserror::Error)]
#[error("cannot merge produce response: {0}")]
pub struct MergeError(pub String);

/// What to do with one Produce request.
pub enum ProduceDecision {
    /// Forward the original bytes unchanged.
    Forward,
    /// Do not forward; send this response frame body (header included, correlation id of the
    /// request) to the client in the request's place. Dropped when `acks` is 0.
    Respond(Bytes),
    /// Forward `request` (a whole frame body, same correlation id) instead of the original;
    /// `merge` turns the broker's response into the client's. With `acks` 0 there is no
    /// response, so `merge` is never called.
    ForwardModified {
        /// The request to send upstream.
        request: Bytes,
        /// Builds the client's response.
        merge: MergeFn,
    },
    /// `decision`, once every earlier request on the connection has been answered, unless
    /// the latest answer on one of `partitions` was an error: then `fallback` (every partition
    /// retriable) instead. The partitions are those where every record of an idempotent
    /// producer's batch went to quarantine and the proxy answers success itself: the broker
    /// never sees such a batch, so the proxy must not acknowledge it ahead of a refused
    /// predecessor (a client would then read the broker's refusal of the next batch as a gap
    /// in its sequence, which is fatal for a transactional producer).
    Hold {
        /// What to do when the batches before are stored.
        decision: Box<ProduceDecision>,
        /// The (topic, partition)s answered with success here.
        partitions: Vec<(String, i32)>,
        /// The response (frame body) that answers every partition as retriable.
        fallback: Bytes,
    },
    /// Close the client connection; the reason is logged and counted by its cause.
    Close(CloseCause, String),
}

/// Why an inspector closes a connection: the `reason` label under which
/// `schemagate_connections_closed_total` counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseCause {
    /// The Produce request does not decode (`reason="malformed"`).
    Malformed,
    /// The request uses a form the inspector cannot judge, e.g. topics by id
    /// (`reason="unsupported_api"`).
    Unsupported,
    /// The inspector itself failed, e.g. building its answer (`reason="inspector"`).
    Inspector,
}

impl std::fmt::Debug for ProduceDecision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Forward => f.write_str("Forward"),
            Self::Respond(b) => write!(f, "Respond({} bytes)", b.len()),
            Self::ForwardModified { request, .. } => {
                write!(f, "ForwardModified({} bytes)", request.len())
            }
            Self::Hold {
                decision,
                partitions,
                ..
            } => write!(f, "Hold({decision:?} on {partitions:?})"),
            Self::Close(cause, reason) => write!(f, "Close({cause:?}, {reason})"),
        }
    }
}

/// The hook every Produce request passes through.
pub trait ProduceInspector: Send + Sync + 'static {
    /// Decides what happens to one Produce request.
    fn inspect<'a>(&'a self, request: &'a ProduceRequestFrame) -> BoxFuture<'a, ProduceDecision>;

    /// Highest Produce version the inspector can read; ApiVersions advertises no more.
    fn max_produce_version(&self) -> i16 {
        i16::MAX
    }

    /// Why the inspector cannot decide yet (state still loading), or None when it can;
    /// `/readyz` answers 503 with the reason meanwhile.
    fn not_ready(&self) -> Option<&'static str> {
        None
    }
}

/// The default inspector: forwards every Produce request untouched, decoding nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct PassThrough;

impl ProduceInspector for PassThrough {
    fn inspect<'a>(&'a self, _request: &'a ProduceRequestFrame) -> BoxFuture<'a, ProduceDecision> {
        Box::pin(std::future::ready(ProduceDecision::Forward))
    }
}
