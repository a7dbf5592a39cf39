//! Metadata responses (all versions): the broker list is rewritten.
//!
//! The brokers array sits right after the header and `throttle_time_ms` (v3+) in every
//! version, so the rewriter rewrites that array and copies the rest verbatim.

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;

use super::{copy_fields, copy_head, finish, map_endpoint, skip_response_header, WalkError};
use crate::broker_map::BrokerMap;
use crate::codec::{put_array_len, WireError, WireReader};

/// Smallest broker entry on the wire: node id, empty host, port.
const MIN_BROKER_BYTES: usize = 9;

/// Rewrites every broker of a Metadata response to its proxy address.
pub fn rewrite(body: &[u8], version: i16, map: &BrokerMap) -> Result<Bytes, WalkError> {
    let flexible = version >= 9;
    let mut r = WireReader::new(body);
    skip_response_header(&mut r, ApiKey::Metadata, version)?;
    if version >= 3 {
        r.i32("throttle time")?;
    }
    let mut out = copy_head(body, &r);
    let n = r.array_len(flexible, MIN_BROKER_BYTES, "brokers")?;
    put_array_len(&mut out, flexible, n);
    for _ in 0..n {
        map_endpoint(&mut r, &mut out, flexible, map)?;
        copy_fields(&mut r, &mut out, body, |r| {
            if version >= 1 {
                r.any_string(flexible, "rack")?;
            }
            if flexible {
                r.skip_tagged_fields()?;
            }
            Ok(())
        })?;
    }
    Ok(finish(out, &r))
}

/// Reads the broker list (node id, host, port) of a Metadata response without changing it.
pub fn brokers(body: &[u8], version: i16) -> Result<Vec<(i32, String, i32)>, WireError> {
    let flexible = version >= 9;
    let mut r = WireReader::new(body);
    skip_response_header(&mut r, ApiKey::Metadata, version)?;
    if version >= 3 {
        r.i32("throttle time")?;
    }
    let n = r.array_len(flexible, MIN_BROKER_BYTES, "brokers")?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let node_id = r.i32("node id")?;
        let host = r.any_string(flexible, "host")?.unwrap_or_default();
        let port = r.i32("port")?;
        if version >= 1 {
            r.any_string(flexible, "rack")?;
        }
        if flexible {
            r.skip_tagged_fields()?;
        }
        out.push((node_id, String::from_utf8_lossy(host).into_owned(), port));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rewrite::test_support::{decode, encode, map};
    use kafka_protocol::messages::metadata_response::{
        MetadataResponseBroker, MetadataResponseTopic,
    };
    use kafka_protocol::messages::{BrokerId, MetadataResponse, TopicName};
    use kafka_protocol::protocol::StrBytes;
    use proptest::prelude::*;

    fn crafted(version: i16) -> MetadataResponse {
        let broker = |id: i32, host: &'static str, rack: Option<&'static str>| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(id))
                .with_host(StrBytes::from_static_str(host))
                .with_port(9092 + id)
                .with_rack(if version >= 1 {
                    rack.map(StrBytes::from_static_str)
                } else {
                    None
                })
        };
        let mut topic = MetadataResponseTopic::default()
            .with_name(Some(TopicName(StrBytes::from_static_str("orders"))));
        if version >= 10 {
            topic = topic.with_topic_id(Default::default());
        }
        MetadataResponse::default()
            .with_throttle_time_ms(if version >= 3 { 5 } else { 0 })
            .with_brokers(vec![
                broker(3, "kafka-3.internal", Some("rack-c")),
                broker(1, "kafka-1.internal", None),
                broker(2, "kafka-2.internal", Some("rack-b")),
            ])
            .with_controller_id(BrokerId(if version >= 1 { 2 } else { -1 }))
            .with_topics(vec![topic])
    }

    #[test]
    fn every_version_maps_every_broker() {
        for version in 0..=12 {
            let original = crafted(version);
            let body = encode(ApiKey::Metadata, version, &original);
            let m = map();
            m.observe_all(&brokers(&body, version).unwrap()).unwrap();
            let out = rewrite(&body, version, &m).unwrap();
            let got: MetadataResponse = decode(ApiKey::Metadata, version, out);
            let addrs: Vec<_> = got
                .brokers
                .iter()
                .map(|b| (b.node_id.0, b.host.to_string(), b.port))
                .collect();
            assert_eq!(
                addrs,
                vec![
                    (3, "proxy.example".into(), 29094),
                    (1, "proxy.example".into(), 29092),
                    (2, "proxy.example".into(), 29093),
                ],
                "v{version}"
            );
            // Everything but the addresses is unchanged.
            let mut expected = original.clone();
            for (b, g) in expected.brokers.iter_mut().zip(&got.brokers) {
                b.host = g.host.clone();
                b.port = g.port;
            }
            assert_eq!(got, expected, "v{version}");
        }
    }

    #[test]
    fn truncated_response_is_an_error() {
        let body = encode(ApiKey::Metadata, 9, &crafted(9));
        for cut in 0..body.len() - 1 {
            // Cutting inside the broker list must fail; the tail is copied unread.
            let res = rewrite(&body[..cut], 9, &map());
            if cut < 80 {
                assert!(res.is_err(), "cut at {cut}");
            }
        }
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..128), v in 0i16..14) {
            let _ = rewrite(&bytes, v, &map());
            let _ = brokers(&bytes, v);
        }
    }
}
