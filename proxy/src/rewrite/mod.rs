//! Responses the proxy must change before a client sees them.
//!
//! Every broker address a client can learn is rewritten to the proxy's advertised host and
//! the port of that broker's listener: Metadata, FindCoordinator, DescribeCluster, and the
//! node endpoints of Produce v10+ and Fetch v16+ responses. ApiVersions is narrowed to what the
//! proxy can handle (see [`proxy_range`]) and re-encoded the way Apache Kafka encodes it.
//!
//! Each rewriter walks the message with the bounded [`crate::codec::WireReader`] and copies
//! every byte it does not change, so everything else stays byte-identical.

pub mod api_versions;
pub mod describe_cluster;
pub mod find_coordinator;
pub mod metadata;
pub mod node_endpoints;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::ApiKey;

use crate::broker_map::{BrokerMap, MapError};
use crate::codec::{put_string, WireError, WireReader};

/// Why a response could not be rewritten.
#[derive(Debug, thiserror::Error)]
pub enum RewriteError {
    /// The response is malformed.
    #[error("malformed {api} v{version} response: {cause}")]
    Wire {
        /// API of the response.
        api: &'static str,
        /// Its version.
        version: i16,
        /// What was wrong.
        cause: WireError,
    },
    /// A broker address could not be mapped to a proxy port.
    #[error("cannot map broker address: {0}")]
    Map(MapError),
}

// The cause is in the message, so not also a `source()` (`#[from]` would make it one).
impl From<MapError> for RewriteError {
    fn from(e: MapError) -> Self {
        Self::Map(e)
    }
}

/// Internal error of one rewriter, before the API name is attached.
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    /// The response is malformed.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// A broker address could not be mapped.
    #[error(transparent)]
    Map(#[from] MapError),
}

/// The versions the proxy handles for an API it reads or rewrites; `None` for APIs it only
/// forwards (those keep the broker's range).
pub fn proxy_range(key: ApiKey) -> Option<(i16, i16)> {
    match key {
        ApiKey::ApiVersions => Some((0, api_versions::MAX_VERSION)),
        ApiKey::Metadata => Some((0, 13)),
        ApiKey::FindCoordinator => Some((0, 6)),
        ApiKey::DescribeCluster => Some((0, 2)),
        // v3 is the oldest kafka-protocol decodes, which produce inspection relies on; v13 and
        // v18 are the newest whose response layout the node-endpoint rewriter knows.
        ApiKey::Produce => Some((3, 13)),
        ApiKey::Fetch => Some((4, 18)),
        // v0 switches the connection to headerless SASL tokens, which cannot be framed.
        ApiKey::SaslHandshake => Some((1, 1)),
        _ => None,
    }
}

/// True when responses of this API and version must pass through [`rewrite_response`].
pub fn needs_rewrite(key: ApiKey, version: i16) -> bool {
    match key {
        ApiKey::ApiVersions
        | ApiKey::Metadata
        | ApiKey::FindCoordinator
        | ApiKey::DescribeCluster => true,
        ApiKey::Produce => version >= node_endpoints::PRODUCE_FIRST_VERSION,
        ApiKey::Fetch => version >= node_endpoints::FETCH_FIRST_VERSION,
        _ => false,
    }
}

/// Rewrites one response frame body (header included) of the given API and version.
pub fn rewrite_response(
    key: ApiKey,
    version: i16,
    body: Bytes,
    map: &BrokerMap,
    produce_max: i16,
) -> Result<Bytes, RewriteError> {
    let result = match key {
        ApiKey::ApiVersions => {
            api_versions::rewrite(&body, version, produce_max).map_err(WalkError::from)
        }
        ApiKey::Metadata => metadata::rewrite(&body, version, map),
        ApiKey::FindCoordinator => find_coordinator::rewrite(&body, version, map),
        ApiKey::DescribeCluster => describe_cluster::rewrite(&body, version, map),
        ApiKey::Produce => node_endpoints::rewrite_produce(&body, version, map),
        ApiKey::Fetch => node_endpoints::rewrite_fetch(&body, version, map),
        _ => return Ok(body),
    };
    result.map_err(|e| match e {
        WalkError::Wire(cause) => RewriteError::Wire {
            api: crate::metrics::api_label(key),
            version,
            cause,
        },
        WalkError::Map(m) => RewriteError::Map(m),
    })
}

/// Reads the response header (correlation id, plus tagged fields for flexible headers).
fn skip_response_header(
    r: &mut WireReader<'_>,
    key: ApiKey,
    version: i16,
) -> Result<(), WireError> {
    r.i32("correlation id")?;
    if key != ApiKey::ApiVersions && key.response_header_version(version) >= 1 {
        r.skip_tagged_fields()?;
    }
    Ok(())
}

/// Reads one broker endpoint (node id, host, port), maps it and writes the rewritten triple.
/// Negative node ids (no coordinator, errors) get an empty host and port -1.
fn map_endpoint(
    r: &mut WireReader<'_>,
    out: &mut BytesMut,
    flexible: bool,
    map: &BrokerMap,
) -> Result<(), WalkError> {
    map_endpoint_as(r, out, flexible, map, Endpoint::Broker)
}

/// What kind of endpoint a response lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    /// A broker: its address is learned and served.
    Broker,
    /// A KRaft controller (DescribeCluster with endpoint type 2). Controllers are not proxied
    /// and, in combined mode, share node ids with brokers, so their addresses are not learned:
    /// a known node id gets its broker's proxy port, an unknown one `""` and -1.
    Controller,
}

/// Like [`map_endpoint`], for the given kind of endpoint.
fn map_endpoint_as(
    r: &mut WireReader<'_>,
    out: &mut BytesMut,
    flexible: bool,
    map: &BrokerMap,
    kind: Endpoint,
) -> Result<(), WalkError> {
    let node_id = r.i32("node id")?;
    let host = r.any_string(flexible, "host")?.unwrap_or_default();
    let port = r.i32("port")?;
    out.put_i32(node_id);
    if node_id < 0 {
        // No broker (an error, or no coordinator yet): Kafka sends "" and -1; so do we,
        // whatever the upstream put there, so no upstream address leaks.
        put_string(out, flexible, Some(b""));
        out.put_i32(-1);
        return Ok(());
    }
    let proxy_port = match kind {
        Endpoint::Broker => Some(map.observe(node_id, &String::from_utf8_lossy(host), port)?),
        Endpoint::Controller => map.known_port(node_id),
    };
    match proxy_port {
        Some(p) => {
            put_string(out, flexible, Some(map.advertised_host().as_bytes()));
            out.put_i32(i32::from(p));
        }
        None => {
            put_string(out, flexible, Some(b""));
            out.put_i32(-1);
        }
    }
    Ok(())
}

/// Reads fields with `read` and copies the bytes it passed over to `out`, unchanged.
fn copy_fields<'a>(
    r: &mut WireReader<'a>,
    out: &mut BytesMut,
    body: &[u8],
    read: impl FnOnce(&mut WireReader<'a>) -> Result<(), WireError>,
) -> Result<(), WireError> {
    let start = r.position();
    read(r)?;
    out.put_slice(body.get(start..r.position()).unwrap_or_default());
    Ok(())
}

/// A buffer for a rewritten response, holding the bytes the reader has passed so far.
fn copy_head(body: &[u8], r: &WireReader<'_>) -> BytesMut {
    let mut out = BytesMut::with_capacity(body.len() + 64);
    out.put_slice(body.get(..r.position()).unwrap_or_default());
    out
}

/// The rewritten response: `out`, then what the reader has not passed, unchanged.
fn finish(mut out: BytesMut, r: &WireReader<'_>) -> Bytes {
    out.put_slice(r.rest());
    out.freeze()
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Shared helpers for the rewriter tests: encode with kafka-protocol, an independent
    //! encoder, then decode the rewritten bytes with it.
    use bytes::BytesMut;
    use kafka_protocol::messages::{ApiKey, ResponseHeader};
    use kafka_protocol::protocol::{Decodable, Encodable};

    use crate::broker_map::BrokerMap;

    pub fn encode<T: Encodable>(key: ApiKey, version: i16, msg: &T) -> bytes::Bytes {
        let mut buf = BytesMut::new();
        ResponseHeader::default()
            .with_correlation_id(77)
            .encode(&mut buf, key.response_header_version(version))
            .unwrap();
        msg.encode(&mut buf, version).unwrap();
        buf.freeze()
    }

    pub fn decode<T: Decodable>(key: ApiKey, version: i16, mut body: bytes::Bytes) -> T {
        let header =
            ResponseHeader::decode(&mut body, key.response_header_version(version)).unwrap();
        assert_eq!(header.correlation_id, 77);
        let msg = T::decode(&mut body, version).unwrap();
        assert!(body.is_empty(), "trailing bytes after rewrite");
        msg
    }

    pub fn map() -> BrokerMap {
        BrokerMap::new(29092, "proxy.example".into(), 64).0
    }
}
