//! Peeking at request and response headers without decoding the message.
//!
//! Every Kafka request starts with INT16 api key, INT16 api version and INT32 correlation id;
//! every response starts with the INT32 correlation id. Those fixed offsets are all the proxy
//! needs to route and order messages. The one body field read on the request path is `acks`
//! of Produce, because `acks=0` produces get no response.

use kafka_protocol::messages::ApiKey;

use crate::codec::{WireError, WireReader};

/// The fixed-offset part of a request header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestHeaderPeek {
    /// The API this request calls.
    pub api_key: ApiKey,
    /// The version of that API.
    pub api_version: i16,
    /// Chosen by the client; the response carries it back.
    pub correlation_id: i32,
}

/// Why a request header is not acceptable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HeaderError {
    /// Fewer than 8 bytes: not even the fixed header fits.
    #[error("request of {0} bytes is shorter than a request header")]
    TooShort(usize),
    /// The api key is not one the proxy knows.
    #[error("unknown api key {0}")]
    UnknownApiKey(i16),
    /// A field after the fixed header could not be read.
    #[error("malformed request: {0}")]
    Malformed(WireError),
}

// The cause is in the message, so not also a `source()` (`#[from]` would make it one).
impl From<WireError> for HeaderError {
    fn from(e: WireError) -> Self {
        Self::Malformed(e)
    }
}

impl RequestHeaderPeek {
    /// Reads the fixed header of a request frame body.
    pub fn parse(body: &[u8]) -> Result<Self, HeaderError> {
        let mut r = WireReader::new(body);
        let (Ok(key), Ok(version), Ok(correlation_id)) = (r.i16("k"), r.i16("v"), r.i32("c"))
        else {
            return Err(HeaderError::TooShort(body.len()));
        };
        let api_key = ApiKey::try_from(key).map_err(|_| HeaderError::UnknownApiKey(key))?;
        Ok(Self {
            api_key,
            api_version: version,
            correlation_id,
        })
    }

    /// Name of the API, for logs and metric labels (a bounded set).
    pub fn api_name(&self) -> &'static str {
        api_name(self.api_key)
    }
}

/// Name of an API, for logs and metric labels.
pub fn api_name(key: ApiKey) -> &'static str {
    crate::metrics::api_label(key)
}

/// Reads the correlation id that opens every response.
pub fn response_correlation_id(body: &[u8]) -> Result<i32, WireError> {
    WireReader::new(body).i32("correlation id")
}

/// Reads `acks` from a Produce request frame body.
///
/// Layout: header (key, version, correlation id, client id as INT16-length string, then tagged
/// fields when the header is flexible, i.e. Produce v9+), then `transactional_id` (v3+,
/// compact from v9), then `acks`.
pub fn produce_acks(body: &[u8], version: i16) -> Result<i16, WireError> {
    let flexible = version >= 9;
    let mut r = WireReader::new(body);
    r.take(8, "request header")?;
    r.string("client id")?;
    if flexible {
        r.skip_tagged_fields()?;
    }
    if version >= 3 {
        r.any_string(flexible, "transactional id")?;
    }
    r.i16("acks")
}

/// Length of the request header (through the client id and any tagged fields), i.e. the offset
/// where the request body starts.
pub fn request_header_len(body: &[u8], api_key: ApiKey, version: i16) -> Result<usize, WireError> {
    let mut r = WireReader::new(body);
    r.take(8, "request header")?;
    r.string("client id")?;
    if api_key.request_header_version(version) >= 2 {
        r.skip_tagged_fields()?;
    }
    Ok(r.position())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::messages::{ProduceRequest, RequestHeader, TransactionalId};
    use kafka_protocol::protocol::{Encodable, StrBytes};
    use proptest::prelude::*;

    fn encode_produce(version: i16, acks: i16, txn: Option<&'static str>) -> Vec<u8> {
        let header = RequestHeader::default()
            .with_request_api_key(ApiKey::Produce as i16)
            .with_request_api_version(version)
            .with_correlation_id(42)
            .with_client_id(Some(StrBytes::from_static_str("client-1")));
        let req = ProduceRequest::default()
            .with_acks(acks)
            .with_timeout_ms(1000)
            .with_transactional_id(txn.map(|t| TransactionalId(StrBytes::from_static_str(t))));
        let mut buf = BytesMut::new();
        header
            .encode(&mut buf, ApiKey::Produce.request_header_version(version))
            .unwrap();
        req.encode(&mut buf, version).unwrap();
        buf.to_vec()
    }

    #[test]
    fn produce_acks_in_every_version() {
        for version in 3..=13 {
            for (acks, txn) in [(0, None), (1, Some("tx-a")), (-1, None)] {
                let body = encode_produce(version, acks, txn);
                assert_eq!(produce_acks(&body, version), Ok(acks), "v{version}");
                let peek = RequestHeaderPeek::parse(&body).unwrap();
                assert_eq!(peek.api_key, ApiKey::Produce);
                assert_eq!(peek.api_version, version);
                assert_eq!(peek.correlation_id, 42);
            }
        }
    }

    #[test]
    fn unknown_and_short_headers_are_refused() {
        assert_eq!(
            RequestHeaderPeek::parse(&[0, 3, 0]),
            Err(HeaderError::TooShort(3))
        );
        let unknown = [0x7f, 0x00, 0, 0, 0, 0, 0, 1];
        assert_eq!(
            RequestHeaderPeek::parse(&unknown),
            Err(HeaderError::UnknownApiKey(0x7f00))
        );
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64), v in 0i16..14) {
            let _ = RequestHeaderPeek::parse(&bytes);
            let _ = produce_acks(&bytes, v);
            let _ = request_header_len(&bytes, ApiKey::Metadata, v);
            let _ = response_correlation_id(&bytes);
        }
    }
}
