//! KIP-951 leader hints through the proxy, against real Apache Kafka: a Fetch (v16+) or a
//! Produce (v10+) sent to a broker that is not the partition's leader is answered with
//! NOT_LEADER_OR_FOLLOWER, the leader's id in `current_leader`, and the leader's address in the
//! top-level `node_endpoints`. Through the proxy those endpoints must be proxy addresses; sent
//! straight to the broker they are the broker's own, which is what shows this test would notice
//! a missing rewrite.
//!
//! Produce goes to a follower of a replication-factor-3 topic. Fetch cannot: Kafka serves a
//! consumer Fetch v11+ from a follower (KIP-392), with error 0 and no hint, which the test checks
//! and records. Fetch therefore goes to a broker holding no replica of a second topic (two
//! replicas), which answers NOT_LEADER_OR_FOLLOWER with the hint.
//!
//! Requests are encoded and answers decoded with the `kafka-protocol` crate, over a plain socket
//! with Kafka's 4-byte size framing, so that nothing between the test and the bytes (no client
//! library retrying against the hinted leader) hides what came back.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::metadata_response::MetadataResponseTopic;
use kafka_protocol::messages::{
    fetch_request, metadata_request, produce_request, ApiKey, ApiVersionsRequest,
    ApiVersionsResponse, FetchRequest, FetchResponse, MetadataRequest, MetadataResponse,
    ProduceRequest, ProduceResponse, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use kafka_protocol::records::{Record, TimestampType};
use rdkafka::admin::TopicReplication;
use schemagate_tests::kafka::metadata;
use schemagate_tests::topics;
use schemagate_tests::{Broker, Stack};

use crate::support::{start_stack, unique};

/// NOT_LEADER_OR_FOLLOWER.
const NOT_LEADER_OR_FOLLOWER: i16 = 6;
/// How long one request, or the wait for the new topic's leader, may take.
const TIMEOUT: Duration = Duration::from_secs(30);
/// Newest Fetch and Produce versions this test knows.
const FETCH_MAX: i16 = 18;
const PRODUCE_MAX: i16 = 13;

/// One request on a fresh connection; the decoded answer. Panics with `what` on any failure.
fn call<Req: Encodable, Resp: Decodable>(
    addr: SocketAddr,
    key: ApiKey,
    version: i16,
    request: &Req,
    what: &str,
) -> Resp {
    let correlation_id = 951;
    let frame = crate::raw_kafka::frame(key, version, correlation_id, request);
    let mut body = crate::raw_kafka::exchange(addr, &frame, TIMEOUT)
        .unwrap_or_else(|| panic!("{what}: no answer from {addr}"));
    let header = ResponseHeader::decode(&mut body, key.response_header_version(version))
        .unwrap_or_else(|e| panic!("{what}: decoding the response header: {e}"));
    assert_eq!(
        header.correlation_id, correlation_id,
        "{what}: correlation id"
    );
    let response = Resp::decode(&mut body, version)
        .unwrap_or_else(|e| panic!("{what}: decoding the response from {addr}: {e}"));
    assert!(
        body.is_empty(),
        "{what}: {} bytes left after the response",
        body.len()
    );
    response
}

/// The newest version of `key` that `addr` advertises, capped at `max`.
fn newest_version(addr: SocketAddr, key: ApiKey, max: i16) -> i16 {
    let versions: ApiVersionsResponse = call(
        addr,
        ApiKey::ApiVersions,
        0,
        &ApiVersionsRequest::default(),
        &format!("ApiVersions v0 to {addr}"),
    );
    assert_eq!(versions.error_code, 0, "ApiVersions error from {addr}");
    let range = versions
        .api_keys
        .iter()
        .find(|k| k.api_key == key as i16)
        .unwrap_or_else(|| panic!("{addr} does not advertise {key:?}: {versions:?}"));
    range.max_version.min(max)
}

/// Creates `topic` (one partition, replicated as `replication` says) through the proxy.
fn create_topic(stack: &mut Stack, topic: &str, replication: TopicReplication<'_>) {
    let bootstrap = stack.bootstrap().to_string();
    if let Err(e) = topics::create(&bootstrap, topic, 1, replication) {
        panic!("{e}\n{}", stack.diagnostics());
    }
}

/// What the cluster agrees on about the topic's one partition.
struct Placement {
    leader: i32,
    replicas: Vec<i32>,
    /// Node id and real address of every broker.
    brokers: BTreeMap<i32, SocketAddr>,
}

/// Waits until every broker reports the same leader for partition 0 of `topic`, with all
/// `replication` replicas in sync, so that any other broker's answer names that leader.
fn placement(cluster: &Broker, topic: &str, replication: usize) -> Placement {
    let deadline = Instant::now() + TIMEOUT;
    let mut last = String::new();
    loop {
        let views: Vec<_> = cluster
            .addrs()
            .iter()
            .map(|&addr| metadata::fetch(addr, TIMEOUT).map(|v| (addr, v)))
            .collect();
        let mut leaders = Vec::new();
        let mut settled = true;
        for view in &views {
            match view {
                Ok((_, v)) => match v.topic(topic).as_slice() {
                    [p] if p.leader >= 0
                        && p.replicas.len() == replication
                        && p.isr.len() == replication =>
                    {
                        leaders.push((p.leader, p.replicas.clone()))
                    }
                    other => {
                        settled = false;
                        last = format!("{other:?}");
                    }
                },
                Err(e) => {
                    settled = false;
                    last = e.to_string();
                }
            }
        }
        if settled && leaders.windows(2).all(|w| w[0] == w[1]) {
            let (leader, replicas) = leaders[0].clone();
            let Ok((_, view)) = &views[0] else {
                unreachable!("settled views are all Ok")
            };
            let brokers = view
                .brokers
                .iter()
                .map(|(id, host, port)| {
                    let addr = format!("{host}:{port}")
                        .parse()
                        .unwrap_or_else(|e| panic!("broker {id} at {host}:{port}: {e}"));
                    (*id, addr)
                })
                .collect();
            return Placement {
                leader,
                replicas,
                brokers,
            };
        }
        assert!(
            Instant::now() < deadline,
            "{topic}: no settled leader after {TIMEOUT:?}; last view: {last}; leaders {leaders:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The topic as a Metadata v12 answer of `addr` describes it (name and topic id).
fn topic_metadata(addr: SocketAddr, topic: &str) -> MetadataResponseTopic {
    let name = TopicName(StrBytes::from_string(topic.to_owned()));
    let request = MetadataRequest::default().with_topics(Some(vec![
        metadata_request::MetadataRequestTopic::default().with_name(Some(name.clone())),
    ]));
    let response: MetadataResponse = call(
        addr,
        ApiKey::Metadata,
        12,
        &request,
        &format!("Metadata v12 to {addr}"),
    );
    let found = response
        .topics
        .into_iter()
        .find(|t| t.name.as_ref() == Some(&name))
        .unwrap_or_else(|| panic!("Metadata v12 from {addr} does not list {topic}"));
    assert_eq!(found.error_code, 0, "Metadata v12: error for {topic}");
    assert!(
        !found.topic_id.is_nil(),
        "Metadata v12: {topic} has a nil id"
    );
    found
}

/// What a NOT_LEADER answer says about partition 0, whatever the message.
#[derive(Debug)]
struct Hint {
    error_code: i16,
    leader_id: i32,
    leader_epoch: i32,
    /// Node id, host, port.
    endpoints: Vec<(i32, String, i32)>,
}

/// The leader hint of the one partition of a one-topic Fetch or Produce response
/// (`$partitions`: the field of its topic that lists the partitions).
macro_rules! one_partition_hint {
    ($response:expr, $partitions:ident, $what:expr) => {{
        let (response, what) = ($response, $what);
        let [topic] = response.responses.as_slice() else {
            panic!("{what}: expected one topic, got {response:?}")
        };
        let [p] = topic.$partitions.as_slice() else {
            panic!("{what}: expected one partition, got {response:?}")
        };
        Hint {
            error_code: p.error_code,
            leader_id: p.current_leader.leader_id.0,
            leader_epoch: p.current_leader.leader_epoch,
            endpoints: response
                .node_endpoints
                .iter()
                .map(|e| (e.node_id.0, e.host.to_string(), e.port))
                .collect(),
        }
    }};
}

fn fetch_hint(response: &FetchResponse, what: &str) -> Hint {
    assert_eq!(response.error_code, 0, "{what}: top-level error");
    one_partition_hint!(response, partitions, what)
}

fn produce_hint(response: &ProduceResponse, what: &str) -> Hint {
    one_partition_hint!(response, partition_responses, what)
}

fn fetch_request(topic: &MetadataResponseTopic, version: i16) -> FetchRequest {
    let mut fetch_topic = fetch_request::FetchTopic::default().with_partitions(vec![
        fetch_request::FetchPartition::default()
            .with_partition(0)
            .with_fetch_offset(0)
            .with_partition_max_bytes(1 << 20),
    ]);
    // Fetch v13+ names topics by id only.
    fetch_topic.topic_id = topic.topic_id;
    if version < 13 {
        fetch_topic.topic = topic.name.clone().unwrap_or_default();
    }
    FetchRequest::default()
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(vec![fetch_topic])
}

fn produce_request(topic: &MetadataResponseTopic, version: i16) -> ProduceRequest {
    let record = Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: 0,
        key: None,
        value: Some(Bytes::from_static(b"kip951")),
        headers: Default::default(),
    };
    let batch = crate::raw_kafka::record_batch(&[record]);
    let mut data = produce_request::TopicProduceData::default().with_partition_data(vec![
        produce_request::PartitionProduceData::default()
            .with_index(0)
            .with_records(Some(batch.freeze())),
    ]);
    // Produce v13 names topics by id only.
    if version >= 13 {
        data.topic_id = topic.topic_id;
    } else {
        data.name = topic.name.clone().unwrap_or_default();
    }
    ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![data])
}

/// The test's view of the cluster and the proxy in front of it.
struct Setup {
    /// Real address of every broker, by node id.
    brokers: BTreeMap<i32, SocketAddr>,
    /// The proxy's listen port: broker index `i` (node ids in ascending order) is `listen + i`.
    listen: SocketAddr,
}

impl Setup {
    /// The proxy address serving node `id`.
    fn proxy_addr(&self, id: i32) -> SocketAddr {
        let index = self
            .brokers
            .keys()
            .position(|&k| k == id)
            .unwrap_or_else(|| panic!("node {id} is not among {:?}", self.brokers));
        let index = u16::try_from(index).expect("a handful of brokers");
        SocketAddr::new(self.listen.ip(), self.listen.port() + index)
    }

    /// A NOT_LEADER answer that came through the proxy: the real leader, and only proxy
    /// addresses in the hints, each the one that serves its node.
    fn assert_through_proxy(&self, stack: &Stack, leader: i32, hint: &Hint, what: &str) {
        assert_not_leader(leader, hint, what);
        for (id, host, port) in &hint.endpoints {
            let port = u16::try_from(*port)
                .unwrap_or_else(|_| panic!("{what}: node {id} has port {port}: {hint:?}"));
            if let Err(why) = stack.check_advertised(host, port) {
                panic!("{what}: node_endpoints entry for node {id}: {why}; {hint:?}");
            }
            let expected = self.proxy_addr(*id);
            assert_eq!(
                (host.as_str(), port),
                (expected.ip().to_string().as_str(), expected.port()),
                "{what}: node {id} should be the proxy listener that serves it: {hint:?}"
            );
        }
    }

    /// A NOT_LEADER answer straight from the broker: the real leader and real addresses.
    fn assert_direct(&self, leader: i32, hint: &Hint, what: &str) {
        assert_not_leader(leader, hint, what);
        for (id, host, port) in &hint.endpoints {
            let real = self
                .brokers
                .get(id)
                .unwrap_or_else(|| panic!("{what}: unknown node {id}: {hint:?}"));
            assert_eq!(
                (host.as_str(), *port),
                (real.ip().to_string().as_str(), i32::from(real.port())),
                "{what}: node {id} should be its real address: {hint:?}"
            );
        }
    }
}

/// Where [`Setup::compare`] sends its probes: one broker, through the proxy and (when `direct`
/// is set) straight to it, about one topic.
struct Target<'a> {
    topic: &'a MetadataResponseTopic,
    via_proxy: SocketAddr,
    direct: Option<SocketAddr>,
}

/// One kind of request, in every version of `versions`: what [`Setup::compare`] sends.
struct Probe<Req> {
    key: ApiKey,
    versions: std::ops::RangeInclusive<i16>,
    /// Builds the request of a version for the target's topic.
    request: fn(&MetadataResponseTopic, i16) -> Req,
    /// `acks=-1 to follower 1`: the label after `Produce v10`, completed with how it was sent.
    label: String,
}

impl<'a> Target<'a> {
    fn new(topic: &'a MetadataResponseTopic, via_proxy: SocketAddr, direct: SocketAddr) -> Self {
        Target {
            topic,
            via_proxy,
            direct: Some(direct),
        }
    }
}

impl<Req> Probe<Req> {
    fn new(
        key: ApiKey,
        versions: std::ops::RangeInclusive<i16>,
        request: fn(&MetadataResponseTopic, i16) -> Req,
        label: String,
    ) -> Self {
        Probe {
            key,
            versions,
            request,
            label,
        }
    }
}

impl Setup {
    /// Sends the probe's request, in each of its versions, through the proxy (the hint must
    /// name the proxy's port for `leader`) and, if asked, straight to the broker (the hint must
    /// name its real address).
    fn compare<Req: Encodable, Resp: Decodable>(
        &self,
        stack: &Stack,
        target: &Target<'_>,
        probe: Probe<Req>,
        leader: i32,
        hint_of: fn(&Resp, &str) -> Hint,
    ) {
        for version in probe.versions.clone() {
            let request = (probe.request)(target.topic, version);
            let label = format!("{:?} v{version} {}", probe.key, probe.label);
            let what = format!("{label} through the proxy");
            let response: Resp = call(target.via_proxy, probe.key, version, &request, &what);
            let hint = hint_of(&response, &what);
            eprintln!("kip951: {what}: {hint:?}");
            self.assert_through_proxy(stack, leader, &hint, &what);
            if let Some(direct) = target.direct {
                let what = format!("{label} straight");
                let response: Resp = call(direct, probe.key, version, &request, &what);
                let hint = hint_of(&response, &what);
                eprintln!("kip951: {what}: {hint:?}");
                self.assert_direct(leader, &hint, &what);
            }
        }
    }
}

/// NOT_LEADER_OR_FOLLOWER, naming `leader` (with its epoch) and giving its endpoint.
fn assert_not_leader(leader: i32, hint: &Hint, what: &str) {
    assert_eq!(
        hint.error_code, NOT_LEADER_OR_FOLLOWER,
        "{what}: expected NOT_LEADER_OR_FOLLOWER: {hint:?}"
    );
    assert_eq!(
        hint.leader_id, leader,
        "{what}: current_leader should name the real leader: {hint:?}"
    );
    assert!(
        hint.leader_epoch >= 0,
        "{what}: current_leader should carry the leader epoch: {hint:?}"
    );
    assert!(
        hint.endpoints.iter().any(|(id, _, _)| *id == leader),
        "{what}: node_endpoints should include the leader {leader}: {hint:?}"
    );
}

/// The newest version of `key` both the proxy's listener and the broker behind it offer.
fn common_version(via_proxy: SocketAddr, direct: SocketAddr, key: ApiKey, max: i16) -> i16 {
    newest_version(via_proxy, key, max).min(newest_version(direct, key, max))
}

#[test]
fn not_leader_answers_carry_proxy_addresses_in_their_kip951_leader_hints() {
    let mut stack = start_stack();
    let Some(listen) = stack.proxy().map(|p| p.listen()) else {
        panic!("this test needs the proxy; unset SCHEMAGATE_TEST_DIRECT")
    };
    let ids: Vec<i32> = {
        let view = metadata::fetch(stack.broker().addr(), TIMEOUT)
            .unwrap_or_else(|e| panic!("metadata of the shared cluster: {e}"));
        let mut ids = view.broker_ids();
        ids.sort_unstable();
        ids
    };
    assert_eq!(
        ids.len(),
        3,
        "the shared cluster should have 3 nodes: {ids:?}"
    );

    // Topic A: replication factor 3, so every broker is a replica. Produce to a follower is
    // refused with NOT_LEADER_OR_FOLLOWER and a leader hint.
    let all = unique("kip951-rf3");
    create_topic(&mut stack, &all, TopicReplication::Fixed(3));
    let a = placement(stack.broker(), &all, 3);
    let setup = Setup {
        brokers: a.brokers,
        listen,
    };
    let follower = *a
        .replicas
        .iter()
        .find(|&&r| r != a.leader)
        .unwrap_or_else(|| panic!("no follower among {:?}", a.replicas));
    let (via_proxy, direct) = (setup.proxy_addr(follower), setup.brokers[&follower]);
    let meta = topic_metadata(direct, &all);
    eprintln!(
        "kip951: topic {all} id {} replicas {:?} leader {} follower {follower}: direct \
         {direct}, through the proxy {via_proxy} (proxy ports {:?}); brokers {:?}",
        meta.topic_id,
        a.replicas,
        a.leader,
        stack.proxy().map(|p| p.ports()),
        setup.brokers
    );

    let produce_max = common_version(via_proxy, direct, ApiKey::Produce, PRODUCE_MAX);
    assert!(
        produce_max >= 10,
        "Produce v10+ not offered: max {produce_max}"
    );
    let target = Target::new(&meta, via_proxy, direct);
    let label = format!("acks=-1 to follower {follower}");
    let probe = Probe::new(ApiKey::Produce, 10..=produce_max, produce_request, label);
    setup.compare(&stack, &target, probe, a.leader, produce_hint);

    // A consumer Fetch v11+ to a follower is served by that follower (KIP-392 fetch from
    // follower; Kafka requires the leader only for replica fetches and consumer fetches below
    // v11), so it carries no leader hint: error 0, no current leader, no node endpoints.
    let fetch_max = common_version(via_proxy, direct, ApiKey::Fetch, FETCH_MAX);
    assert!(fetch_max >= 16, "Fetch v16+ not offered: max {fetch_max}");
    for (addr, how) in [(via_proxy, "through the proxy"), (direct, "straight")] {
        let what = format!("Fetch v16 to follower {follower} {how}");
        let response: FetchResponse =
            call(addr, ApiKey::Fetch, 16, &fetch_request(&meta, 16), &what);
        let hint = fetch_hint(&response, &what);
        eprintln!("kip951: {what}: {hint:?} (served by the follower, no hint)");
        assert_eq!(
            (hint.error_code, hint.leader_id, hint.endpoints.len()),
            (0, -1, 0),
            "{what}: Kafka 4.4 serves consumer fetches from followers: {hint:?}"
        );
    }

    // Topic B: two replicas, so one broker holds no replica of it. A Fetch there (and a Produce)
    // is refused with NOT_LEADER_OR_FOLLOWER and a leader hint. The outsider is node index 0 and
    // the preferred leader the last node, so the hint's proxy port is not the bootstrap port.
    let outsider = ids[0];
    let assignment: &[&[i32]] = &[&[ids[2], ids[1]]];
    let two = unique("kip951-rf2");
    create_topic(&mut stack, &two, TopicReplication::Variable(assignment));
    let b = placement(stack.broker(), &two, 2);
    assert!(!b.replicas.contains(&outsider), "{two}: {:?}", b.replicas);
    let (via_proxy, direct) = (setup.proxy_addr(outsider), setup.brokers[&outsider]);
    let meta = topic_metadata(direct, &two);
    eprintln!(
        "kip951: topic {two} id {} replicas {:?} leader {} non-replica {outsider}: direct \
         {direct}, through the proxy {via_proxy}",
        meta.topic_id, b.replicas, b.leader,
    );
    let fetch_max = common_version(via_proxy, direct, ApiKey::Fetch, FETCH_MAX);
    assert!(fetch_max >= 16, "Fetch v16+ not offered: max {fetch_max}");
    let mut target = Target::new(&meta, via_proxy, direct);
    let label = format!("to non-replica {outsider}");
    let fetches = Probe::new(ApiKey::Fetch, 16..=fetch_max, fetch_request, label);
    setup.compare(&stack, &target, fetches, b.leader, fetch_hint);
    let produce_max = common_version(via_proxy, direct, ApiKey::Produce, PRODUCE_MAX);
    target.direct = None;
    let label = format!("acks=-1 to non-replica {outsider}");
    let produces = Probe::new(ApiKey::Produce, 10..=produce_max, produce_request, label);
    setup.compare(&stack, &target, produces, b.leader, produce_hint);
}
