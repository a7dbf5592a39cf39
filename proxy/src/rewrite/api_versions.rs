//! ApiVersions responses: the broker's ranges narrowed to what the proxy handles, re-encoded
//! the way Apache Kafka encodes them.
//!
//! Apache Kafka lists api keys in ascending order and writes a tagged field only when it
//! differs from its default. tansu 0.6 lists its keys unsorted and always writes four tagged
//! fields, two of them defaults (`FinalizedFeaturesEpoch = -1`, `ZkMigrationReady = false`).
//! librdkafka before 2.2 (Debian's kcat links 2.0.2) skips `length - 1` bytes per tagged field
//! (fixed in librdkafka PR #4278), so several tagged fields misalign its parse and it fails with
//! "Read underflow". Dropping the default-valued fields is what fixes it (checked with a relay
//! that only strips them); sorting matches Kafka but librdkafka does not need it. The response
//! header is always v0 (no tagged fields), even for flexible versions, as in Kafka.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::ApiKey;

use super::proxy_range;
use crate::codec::{put_array_len, put_uvarint, WireError, WireReader};

/// Highest ApiVersions version the proxy reads (v4 has the v3 layout).
pub const MAX_VERSION: i16 = 4;

/// Kafka's UNSUPPORTED_VERSION error code.
pub const UNSUPPORTED_VERSION: i16 = 35;

/// Top-level tagged fields whose value equals the field's default; Kafka omits them.
const DEFAULT_TAGGED_FIELDS: [(u32, &[u8]); 4] = [
    (0, &[0x01]),                                           // SupportedFeatures: empty
    (1, &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), // FinalizedFeaturesEpoch: -1
    (2, &[0x01]),                                           // FinalizedFeatures: empty
    (3, &[0x00]),                                           // ZkMigrationReady: false
];

/// One supported api key with its version range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiRange {
    /// The api key.
    pub key: i16,
    /// Lowest supported version.
    pub min: i16,
    /// Highest supported version.
    pub max: i16,
}

/// Narrows the broker's ApiVersions response. Error responses (which Kafka encodes as v0
/// whatever the request version) pass through unchanged.
pub fn rewrite(body: &[u8], version: i16, produce_max: i16) -> Result<Bytes, WireError> {
    let flexible = version >= 3;
    let mut r = WireReader::new(body);
    let correlation_id = r.i32("correlation id")?;
    let error_code = r.i16("error code")?;
    if error_code != 0 {
        return Ok(Bytes::copy_from_slice(body));
    }
    let n = r.array_len(flexible, 6, "api keys")?;
    let mut ranges = Vec::with_capacity(n);
    for _ in 0..n {
        let key = r.i16("api key")?;
        let min = r.i16("min version")?;
        let max = r.i16("max version")?;
        if flexible {
            r.skip_tagged_fields()?;
        }
        ranges.push(ApiRange { key, min, max });
    }
    let throttle = if version >= 1 {
        r.i32("throttle time")?
    } else {
        0
    };
    let tagged = if flexible {
        r.tagged_fields()?
    } else {
        Vec::new()
    };
    if r.remaining() != 0 {
        // Every field of v0-v4 is known: anything left would be silently dropped.
        return Err(WireError::Invalid {
            field: "api versions response",
            detail: format!("{} trailing bytes", r.remaining()).into(),
        });
    }
    let ranges = intersect(&ranges, produce_max);
    let mut out = BytesMut::with_capacity(body.len());
    out.put_i32(correlation_id);
    out.put_i16(0);
    put_array_len(&mut out, flexible, ranges.len());
    for a in &ranges {
        out.put_i16(a.key);
        out.put_i16(a.min);
        out.put_i16(a.max);
        if flexible {
            put_uvarint(&mut out, 0);
        }
    }
    if version >= 1 {
        out.put_i32(throttle);
    }
    if flexible {
        let mut kept: Vec<_> = tagged
            .into_iter()
            .filter(|field| !DEFAULT_TAGGED_FIELDS.contains(field))
            .collect();
        kept.sort_by_key(|(tag, _)| *tag);
        kept.dedup_by_key(|(tag, _)| *tag);
        put_uvarint(&mut out, kept.len() as u32);
        for (tag, value) in kept {
            put_uvarint(&mut out, tag);
            put_uvarint(&mut out, value.len() as u32);
            out.put_slice(value);
        }
    }
    Ok(out.freeze())
}

/// The ranges the proxy advertises: keys it does not know are dropped, keys it reads or
/// rewrites are narrowed to [`proxy_range`], the rest keep the broker's range; sorted by key.
/// `produce_max` lowers Produce further (enforcement reads topic names, gone in v13).
pub fn intersect(broker: &[ApiRange], produce_max: i16) -> Vec<ApiRange> {
    let mut out: Vec<ApiRange> = broker
        .iter()
        .filter_map(|a| {
            let key = ApiKey::try_from(a.key).ok()?;
            let (min, max) = match proxy_range(key) {
                Some((pmin, pmax)) if key == ApiKey::Produce => {
                    (a.min.max(pmin), a.max.min(pmax).min(produce_max))
                }
                Some((pmin, pmax)) => (a.min.max(pmin), a.max.min(pmax)),
                None => (a.min, a.max),
            };
            (min <= max).then_some(ApiRange {
                key: a.key,
                min,
                max,
            })
        })
        .collect();
    out.sort_by_key(|a| a.key);
    out.dedup_by_key(|a| a.key);
    out
}

/// The response Kafka sends to an ApiVersions request whose version it does not support:
/// v0 encoding, UNSUPPORTED_VERSION, and the ApiVersions range so the client can retry.
pub fn unsupported_version_response(correlation_id: i32) -> Bytes {
    let mut out = BytesMut::with_capacity(16);
    out.put_i32(correlation_id);
    out.put_i16(UNSUPPORTED_VERSION);
    out.put_i32(1);
    out.put_i16(ApiKey::ApiVersions as i16);
    out.put_i16(0);
    out.put_i16(MAX_VERSION);
    out.freeze()
}

/// The answer to a SaslHandshake v0 request: UNSUPPORTED_VERSION with no mechanisms (v0's
/// body: error code, mechanism array). The proxy offers SaslHandshake v1 only.
pub fn sasl_handshake_v0_refusal(correlation_id: i32) -> Bytes {
    let mut out = BytesMut::with_capacity(10);
    out.put_i32(correlation_id);
    out.put_i16(UNSUPPORTED_VERSION);
    out.put_i32(0);
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::ApiVersionsResponse;
    use kafka_protocol::protocol::Decodable;
    use proptest::prelude::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn golden_v3_unsorted_with_default_tags() {
        // tansu style: unsorted keys, an unknown key, default-valued tagged fields.
        let input = hex("00000007 0000 06
             0003 0000 000c 00   0000 0000 000e 00   03e7 0000 0001 00
             0001 0000 0014 00   0011 0000 0001 00
             00000000
             04 00 01 01   01 08 ffffffffffffffff   02 01 01   03 01 00");
        let expected = hex("00000007 0000 05
             0000 0003 000d 00   0001 0004 0012 00   0003 0000 000c 00   0011 0001 0001 00
             00000000
             00");
        assert_eq!(rewrite(&input, 3, i16::MAX).unwrap().to_vec(), expected);
    }

    #[test]
    fn golden_v0_and_v1() {
        let input = hex("0000002a 0000 00000002 0012 0000 0004 0000 0000 000e");
        let expected = hex("0000002a 0000 00000002 0000 0003 000d 0012 0000 0004");
        assert_eq!(rewrite(&input, 0, i16::MAX).unwrap().to_vec(), expected);
        let input = hex("0000002a 0000 00000001 0012 0000 0009 00000064");
        let expected = hex("0000002a 0000 00000001 0012 0000 0004 00000064");
        assert_eq!(rewrite(&input, 1, i16::MAX).unwrap().to_vec(), expected);
    }

    #[test]
    fn non_default_tags_are_kept_in_tag_order() {
        let input = hex("00000001 0000 01 00000000 02 03 01 01 01 08 0000000000000005");
        let expected = hex("00000001 0000 01 00000000 02 01 08 0000000000000005 03 01 01");
        assert_eq!(rewrite(&input, 3, i16::MAX).unwrap().to_vec(), expected);
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let input = hex("00000001 0000 01 00000000 00 ff");
        assert!(rewrite(&input, 3, i16::MAX).is_err());
    }

    #[test]
    fn error_responses_pass_through_and_local_reply_is_v0() {
        let input = hex("00000009 0023 00000001 0012 0000 0003");
        assert_eq!(rewrite(&input, 4, i16::MAX).unwrap().to_vec(), input);
        assert_eq!(
            unsupported_version_response(9).to_vec(),
            hex("00000009 0023 00000001 0012 0000 0004")
        );
    }

    #[test]
    fn tansu_response_decodes_as_kafka_would() {
        // Captured from tansu 0.6.0 (ApiVersions v3, correlation id 7).
        let tansu = hex(include_str!("testdata/tansu_api_versions_v3.hex"));
        let out = rewrite(&tansu, 3, i16::MAX).unwrap();
        let mut body = out.slice(4..);
        let decoded = ApiVersionsResponse::decode(&mut body, 3).unwrap();
        assert!(body.is_empty());
        let keys: Vec<i16> = decoded.api_keys.iter().map(|k| k.api_key).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        assert_eq!(decoded.finalized_features_epoch, -1);
        assert!(decoded.unknown_tagged_fields.is_empty());
        let produce = decoded.api_keys.iter().find(|k| k.api_key == 0).unwrap();
        // tansu offers 0..=11; kafka-protocol (and so produce inspection) starts at 3.
        assert_eq!((produce.min_version, produce.max_version), (3, 11));
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..128), v in 0i16..5) {
            let _ = rewrite(&bytes, v, i16::MAX);
        }

        #[test]
        fn intersection_is_sorted_known_and_within_both(
            raw in proptest::collection::vec((0i16..90, 0i16..20, 0i16..20), 0..40)
        ) {
            let broker: Vec<_> = raw.iter().map(|&(key, min, max)| ApiRange { key, min, max }).collect();
            let out = intersect(&broker, i16::MAX);
            for w in out.windows(2) {
                prop_assert!(w[0].key < w[1].key);
            }
            for a in &out {
                let key = ApiKey::try_from(a.key).unwrap();
                prop_assert!(a.min <= a.max);
                prop_assert!(broker.iter().any(|b| b.key == a.key && b.min <= a.min && a.max <= b.max));
                if let Some((pmin, pmax)) = proxy_range(key) {
                    prop_assert!(pmin <= a.min && a.max <= pmax);
                }
            }
        }
    }
}
