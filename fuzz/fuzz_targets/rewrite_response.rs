//! Every response rewriter (ApiVersions, Metadata, FindCoordinator, DescribeCluster, Produce
//! and Fetch node endpoints) on arbitrary response bodies; the first two bytes pick API and
//! version.
#![no_main]

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;
use libfuzzer_sys::fuzz_target;
use proxy::broker_map::BrokerMap;
use proxy::rewrite::{metadata, rewrite_response};

const APIS: [ApiKey; 6] = [
    ApiKey::ApiVersions,
    ApiKey::Metadata,
    ApiKey::FindCoordinator,
    ApiKey::DescribeCluster,
    ApiKey::Produce,
    ApiKey::Fetch,
];

fuzz_target!(|data: &[u8]| {
    let [api, version, body @ ..] = data else {
        return;
    };
    // The api key byte as the proxy's frame capture writes it; others pick one of the six.
    let key = APIS
        .into_iter()
        .find(|k| *k as i16 == i16::from(*api))
        .unwrap_or(APIS[usize::from(*api) % APIS.len()]);
    let version = i16::from(*version % 20);
    let (map, _announced) = BrokerMap::new(29092, "proxy.example".into(), 8);
    let body = Bytes::copy_from_slice(body);
    if key == ApiKey::Metadata {
        let _ = metadata::brokers(&body, version);
    }
    let _ = rewrite_response(key, version, body, &map, 13);
});
