//! DescribeCluster responses: the broker list is rewritten.

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;

use super::{
    copy_fields, copy_head, finish, map_endpoint_as, skip_response_header, Endpoint, WalkError,
};
use crate::broker_map::BrokerMap;
use crate::codec::{put_array_len, WireReader};

/// `endpoint_type` value listing KRaft controllers instead of brokers.
const CONTROLLER_ENDPOINTS: i8 = 2;

/// Smallest broker entry: id, host, port, rack, tags.
const MIN_BROKER_BYTES: usize = 11;

/// Rewrites every broker of a DescribeCluster response to its proxy address.
pub fn rewrite(body: &[u8], version: i16, map: &BrokerMap) -> Result<Bytes, WalkError> {
    let mut r = WireReader::new(body);
    skip_response_header(&mut r, ApiKey::DescribeCluster, version)?;
    r.i32("throttle time")?;
    r.i16("error code")?;
    r.compact_string("error message")?;
    let kind = if version >= 1 && r.i8("endpoint type")? == CONTROLLER_ENDPOINTS {
        Endpoint::Controller
    } else {
        Endpoint::Broker
    };
    r.compact_string("cluster id")?;
    r.i32("controller id")?;
    let mut out = copy_head(body, &r);
    let n = r.array_len(true, MIN_BROKER_BYTES, "brokers")?;
    put_array_len(&mut out, true, n);
    for _ in 0..n {
        map_endpoint_as(&mut r, &mut out, true, map, kind)?;
        copy_fields(&mut r, &mut out, body, |r| {
            r.compact_string("rack")?;
            if version >= 2 {
                r.i8("is fenced")?;
            }
            r.skip_tagged_fields()
        })?;
    }
    Ok(finish(out, &r))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rewrite::test_support::{decode, encode, map};
    use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
    use kafka_protocol::messages::{BrokerId, DescribeClusterResponse};
    use kafka_protocol::protocol::StrBytes;
    use proptest::prelude::*;

    #[test]
    fn every_version_maps_every_broker() {
        for version in 0..=2 {
            let b = |id: i32, rack: Option<&'static str>| {
                DescribeClusterBroker::default()
                    .with_broker_id(BrokerId(id))
                    .with_host(StrBytes::from_string(format!("kafka-{id}.internal")))
                    .with_port(9092)
                    .with_rack(rack.map(StrBytes::from_static_str))
                    .with_is_fenced(version >= 2 && id == 9)
            };
            let original = DescribeClusterResponse::default()
                .with_cluster_id(StrBytes::from_static_str("cluster-x"))
                .with_controller_id(BrokerId(1))
                .with_endpoint_type(1)
                .with_brokers(vec![b(9, Some("r1")), b(1, None), b(4, Some("r2"))])
                .with_cluster_authorized_operations(1234);
            let m = map();
            m.observe_all(&[
                (1, "kafka-1.internal".into(), 9092),
                (4, "kafka-4.internal".into(), 9092),
            ])
            .unwrap();
            let out = rewrite(
                &encode(ApiKey::DescribeCluster, version, &original),
                version,
                &m,
            )
            .unwrap();
            let got: DescribeClusterResponse = decode(ApiKey::DescribeCluster, version, out);
            let mut expected = original.clone();
            for (b, port) in expected.brokers.iter_mut().zip([29094, 29092, 29093]) {
                b.host = StrBytes::from_static_str("proxy.example");
                b.port = port;
            }
            assert_eq!(got, expected, "v{version}");
        }
    }

    #[test]
    fn controller_endpoints_are_not_learned() {
        let b = |id: i32| {
            DescribeClusterBroker::default()
                .with_broker_id(BrokerId(id))
                .with_host(StrBytes::from_static_str("controller.internal"))
                .with_port(9093)
        };
        let original = DescribeClusterResponse::default()
            .with_endpoint_type(CONTROLLER_ENDPOINTS)
            .with_cluster_id(StrBytes::from_static_str("c"))
            .with_brokers(vec![b(1), b(5)]);
        let m = map();
        m.observe(1, "kafka-1.internal", 9092).unwrap();
        let out = rewrite(&encode(ApiKey::DescribeCluster, 1, &original), 1, &m).unwrap();
        let got: DescribeClusterResponse = decode(ApiKey::DescribeCluster, 1, out);
        assert_eq!(
            (got.brokers[0].host.as_str(), got.brokers[0].port),
            ("proxy.example", 29092)
        );
        assert_eq!(
            (got.brokers[1].host.as_str(), got.brokers[1].port),
            ("", -1)
        );
        // The broker's upstream address is untouched and node 5 was not added.
        assert_eq!(m.slot(0).unwrap().upstream, "kafka-1.internal:9092");
        assert_eq!(m.slots().len(), 1);
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..128), v in 0i16..3) {
            let _ = rewrite(&bytes, v, &map());
        }
    }
}
