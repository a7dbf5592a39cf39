//! FindCoordinator responses: the single coordinator before v4, the coordinator list from v4.

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;

use super::{copy_fields, copy_head, finish, map_endpoint, skip_response_header, WalkError};
use crate::broker_map::BrokerMap;
use crate::codec::{put_array_len, WireReader};

/// Smallest v4+ coordinator entry: key, node id, host, port, error code, message, tags.
const MIN_COORDINATOR_BYTES: usize = 14;

/// Rewrites the coordinator address(es) of a FindCoordinator response.
pub fn rewrite(body: &[u8], version: i16, map: &BrokerMap) -> Result<Bytes, WalkError> {
    let flexible = version >= 3;
    let mut r = WireReader::new(body);
    skip_response_header(&mut r, ApiKey::FindCoordinator, version)?;
    if version >= 1 {
        r.i32("throttle time")?;
    }
    if version < 4 {
        r.i16("error code")?;
        if version >= 1 {
            r.any_string(flexible, "error message")?;
        }
        let mut out = copy_head(body, &r);
        map_endpoint(&mut r, &mut out, flexible, map)?;
        return Ok(finish(out, &r));
    }
    let mut out = copy_head(body, &r);
    let n = r.array_len(true, MIN_COORDINATOR_BYTES, "coordinators")?;
    put_array_len(&mut out, true, n);
    for _ in 0..n {
        copy_fields(&mut r, &mut out, body, |r| {
            r.compact_string("key").map(drop)
        })?;
        map_endpoint(&mut r, &mut out, true, map)?;
        copy_fields(&mut r, &mut out, body, |r| {
            r.i16("error code")?;
            r.compact_string("error message")?;
            r.skip_tagged_fields()
        })?;
    }
    Ok(finish(out, &r))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rewrite::test_support::{decode, encode, map};
    use kafka_protocol::messages::find_coordinator_response::Coordinator;
    use kafka_protocol::messages::{BrokerId, FindCoordinatorResponse};
    use kafka_protocol::protocol::StrBytes;
    use proptest::prelude::*;

    #[test]
    fn single_coordinator_before_v4() {
        for version in 0..=3 {
            let original = FindCoordinatorResponse::default()
                .with_throttle_time_ms(if version >= 1 { 3 } else { 0 })
                .with_error_message(Some(StrBytes::from_static_str(if version >= 1 {
                    "NONE"
                } else {
                    ""
                })))
                .with_node_id(BrokerId(5))
                .with_host(StrBytes::from_static_str("kafka-5.internal"))
                .with_port(9092);
            let m = map();
            m.observe(4, "kafka-4.internal", 9092).unwrap();
            let out = rewrite(
                &encode(ApiKey::FindCoordinator, version, &original),
                version,
                &m,
            )
            .unwrap();
            let got: FindCoordinatorResponse = decode(ApiKey::FindCoordinator, version, out);
            let expected = original
                .with_host(StrBytes::from_static_str("proxy.example"))
                .with_port(29093);
            assert_eq!(got, expected, "v{version}");
        }
    }

    #[test]
    fn coordinator_list_from_v4() {
        for version in 4..=6 {
            let c = |key: &'static str, id: i32, host: &'static str, err: i16| {
                Coordinator::default()
                    .with_key(StrBytes::from_static_str(key))
                    .with_node_id(BrokerId(id))
                    .with_host(StrBytes::from_static_str(host))
                    .with_port(if id < 0 { -1 } else { 9092 })
                    .with_error_code(err)
            };
            let original = FindCoordinatorResponse::default().with_coordinators(vec![
                c("group-a", 7, "kafka-7.internal", 0),
                c("group-b", -1, "kafka-9.internal", 15),
                c("group-c", 2, "kafka-2.internal", 0),
            ]);
            let out = rewrite(
                &encode(ApiKey::FindCoordinator, version, &original),
                version,
                &map(),
            )
            .unwrap();
            let got: FindCoordinatorResponse = decode(ApiKey::FindCoordinator, version, out);
            let mut expected = original.clone();
            expected.coordinators[0].host = StrBytes::from_static_str("proxy.example");
            expected.coordinators[0].port = 29092;
            expected.coordinators[2].host = StrBytes::from_static_str("proxy.example");
            // No coordinator: whatever the broker wrote, the client sees "" and -1.
            expected.coordinators[1].host = StrBytes::from_static_str("");
            expected.coordinators[2].port = 29093;
            assert_eq!(got, expected, "v{version}");
        }
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..128), v in 0i16..7) {
            let _ = rewrite(&bytes, v, &map());
        }
    }
}
