//! The in-flight queue entry: what the response side must do for each request, in order.
//!
//! The request side pushes one entry per request that expects a response; the response side
//! pops them in order. An entry either waits for the broker's next response or carries a
//! response the proxy made itself, so local answers sit in order between forwarded ones.

use std::time::Instant;

use bytes::Bytes;

use crate::header::RequestHeaderPeek;
use crate::inspect::MergeFn;

/// One request awaiting its response.
pub enum Pending {
    /// The request went upstream; the next upstream response is its answer.
    Upstream {
        /// The request's header.
        header: RequestHeaderPeek,
        /// When it was written upstream, for the latency histogram.
        sent_at: Instant,
        /// What to do with the response.
        action: ResponseAction,
    },
    /// The proxy answers itself with this frame body.
    Local {
        /// The request's header.
        header: RequestHeaderPeek,
        /// The response frame body.
        response: Bytes,
    },
    /// The proxy answers a Produce itself with `fallback` of [`crate::inspect::ProduceDecision::Hold`]:
    /// like `Local`, but its retriable answers are not noted as the partitions' latest answers
    /// (so the client's retry is not held back again by the proxy's own refusal).
    Held {
        /// The response frame body.
        response: Bytes,
    },
    /// An `acks=0` Produce went upstream. Kafka never answers it, but some brokers (tansu)
    /// do; such an answer is recognised by this correlation id and dropped, never relayed.
    Unanswered {
        /// The request's correlation id.
        correlation_id: i32,
    },
}

/// How an upstream response becomes the client's response.
pub enum ResponseAction {
    /// Send it unchanged, or through the address rewriter for APIs that need it.
    Relay,
    /// Hand it to the produce inspector's merge function.
    Merge(MergeFn),
}
