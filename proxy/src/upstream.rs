//! Connections to brokers: connecting with a timeout, and the proxy's own metadata fetch.

use std::time::Duration;

use bytes::{BufMut, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::codec::put_string;
use crate::frame::{read_frame, write_frame, FrameError, FrameLimits};
use crate::rewrite::metadata;

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
}

/// Connects to `addr` (`host:port`) within `timeout`.
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
    addr: &str,
    timeout: Duration,
    limits: FrameLimits,
) -> Result<Vec<(i32, String, i32)>, UpstreamError> {
    let bad = |detail: String| UpstreamError::Response {
        addr: addr.to_owned(),
        detail,
    };
    let mut stream = connect(addr, timeout).await?;
    let mut req = BytesMut::new();
    req.put_i16(3); // Metadata
    req.put_i16(DISCOVERY_METADATA_VERSION);
    req.put_i32(1); // correlation id
    put_string(&mut req, false, Some(b"schemagate-proxy"));
    req.put_i32(0); // empty topic list: brokers only
    let exchange = async {
        write_frame(&mut stream, &req).await?;
        stream.flush().await?;
        read_frame(&mut stream, limits).await
    };
    let frame = tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| bad(format!("no metadata response within {timeout:?}")))?
        .map_err(|e: FrameError| bad(e.to_string()))?
        .ok_or_else(|| bad("connection closed".into()))?;
    metadata::brokers(&frame, DISCOVERY_METADATA_VERSION).map_err(|e| bad(e.to_string()))
}
