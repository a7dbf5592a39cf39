//! The bench's three-node cluster (`--broker kafka3`) end to end: one cluster for every run,
//! and direct, relay (one relay per broker), proxy and proxy_validating (schemagate mapping
//! all three brokers) each measured with two producers on a fresh RF 3 topic of 12 partitions;
//! every record is acknowledged with acks=all, through the path.
//!
//! It starts three Kafka JVMs (about a minute on two cores), so it is `#[ignore]`d; run it with
//!   eval "$(scripts/install)"; cargo build -p schemagate-tests --bin kafka-cluster
//!   cargo build -p schemagate
//!   KAFKA_CLUSTER_BIN=target/debug/kafka-cluster SCHEMAGATE_BIN=target/debug/schemagate \
//!     cargo nextest run -p loadgen --test cluster --run-ignored only

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use loadgen::bench::broker::{BrokerKind, SharedCluster};
use loadgen::bench::path::{BenchPath, Binaries, Validation};
use loadgen::bench::{measure, BenchOptions, Workload};
use loadgen::order::OrderGenerator;
use loadgen::render::{Codec, Format};
use loadgen::version::SchemaVersion;

const RECORDS: u64 = 4000;

fn binary(name: &str) -> PathBuf {
    let path = PathBuf::from(
        std::env::var_os(name).unwrap_or_else(|| panic!("{name} is not set (see the header)")),
    );
    assert!(path.exists(), "{name}={} does not exist", path.display());
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts a 3-node Kafka cluster (about a minute): --run-ignored, see the header"]
async fn every_path_delivers_through_the_three_node_cluster() {
    let log_dir = std::env::temp_dir().join(format!("loadgen-cluster-{}", std::process::id()));
    std::fs::create_dir_all(&log_dir).expect("log dir");
    let binaries = Binaries {
        tansu: None,
        kafka_cluster: Some(binary("KAFKA_CLUSTER_BIN")),
        schemagate: Some(binary("SCHEMAGATE_BIN")),
        kroxylicious: None,
    };
    let cluster = SharedCluster::start(
        binaries.kafka_cluster.as_deref().expect("set"),
        BrokerKind::KafkaCluster,
        &log_dir,
    )
    .await
    .unwrap_or_else(|e| {
        panic!(
            "starting the cluster: {e:#} (logs in {})",
            log_dir.display()
        )
    });
    let paths = [
        BenchPath::Direct,
        BenchPath::Relay,
        BenchPath::Proxy,
        BenchPath::ProxyValidating,
    ];
    let opts = BenchOptions {
        records: RECORDS,
        rounds: 1,
        paths: paths.to_vec(),
        half_load: Duration::ZERO,
        partitions: 12,
        seed: 1,
        binaries: binaries.clone(),
        broker: BrokerKind::KafkaCluster,
        producers: vec![2],
        shared: Some(Arc::new(cluster)),
        log_dir: log_dir.clone(),
        command: "test".into(),
        registry_experiments: false,
        tracing_overhead: false,
    };
    let codec = Codec::new(Format::Avro).expect("codec");
    let generator = OrderGenerator::new(1);
    let pool: Vec<Vec<u8>> = (0..64)
        .map(|i| {
            codec
                .frame(
                    &generator.order(i),
                    SchemaVersion::V1,
                    contract::SchemaId(1),
                )
                .expect("frame")
        })
        .collect();
    for path in paths {
        assert_eq!(binaries.unavailable(path, BrokerKind::KafkaCluster), None);
        let r = measure(
            &opts,
            path,
            1,
            2,
            &pool,
            Workload::Count(RECORDS),
            Validation::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("{path}: {e:#} (logs in {})", log_dir.display()));
        assert_eq!(r.records, RECORDS, "{path}: every record acknowledged");
        assert!(r.errors.is_empty(), "{path}: {:?}", r.errors);
        assert_eq!(r.producers, 2);
        if path == BenchPath::Relay {
            // The relays count a connection's bytes when it closes, which may be after the
            // run is read; that the producers bootstrapped at the relays and every broker
            // advertises its relay's port is what sends the traffic through them.
            assert!(r.relay_bytes.is_some(), "{path}: the path ran its relays");
        }
        if path == BenchPath::ProxyValidating {
            assert!(
                r.registry_requests.is_some_and(|n| n > 0),
                "{path}: schemagate resolved the schema"
            );
        }
    }
    // TLS and tansu's proxy do not run on the cluster, and say why.
    for path in [BenchPath::DirectTls, BenchPath::Peer] {
        assert!(binaries
            .unavailable(path, BrokerKind::KafkaCluster)
            .is_some());
    }
}
