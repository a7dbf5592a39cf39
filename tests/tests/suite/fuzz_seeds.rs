//! Seeds the fuzz corpora from real traffic: the four idempotent producers (Java, librdkafka,
//! franz-go, kafkajs) and a librdkafka consumer run through an enforcing proxy started with
//! `SCHEMAGATE_CAPTURE_FRAMES`, which writes the frames it sees in the fuzz targets' layouts.
//!
//! Run on demand (`#[ignore]`d): `SCHEMAGATE_FUZZ_SEED_DIR=DIR cargo nextest run
//! --run-ignored only -E 'test(fuzz_seeds::)'`; fuzz/README.md says how the capture becomes
//! the committed corpus.

use std::time::Duration;

use rdkafka::config::ClientConfig;
use schemagate_tests::Broker;

use crate::idempotent_quarantine::{Cluster, Lab, Load};
use crate::read_back::all_partitions;

#[test]
#[ignore = "on demand: seeds the fuzz corpora"]
fn capture_frames_from_real_clients() {
    let dir = std::env::var("SCHEMAGATE_FUZZ_SEED_DIR")
        .unwrap_or_else(|_| panic!("set SCHEMAGATE_FUZZ_SEED_DIR to the capture folder"));
    // nextest runs each test in a process of its own: the proxy this test starts inherits it.
    std::env::set_var("SCHEMAGATE_CAPTURE_FRAMES", &dir);
    let shared = Cluster::Shared(Broker::shared().unwrap_or_else(|e| panic!("{e}")));
    let load = Load {
        count: 2_000,
        rate: 1_000,
    };
    let mut lab = Lab::start_on("fuzz-seed", shared, true, load, &[]);
    let outputs = lab.run_with(|_| {});
    lab.check(&outputs);
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", lab.proxy.listen().to_string());
    let read = all_partitions(&config, &lab.topics[0], Duration::from_secs(60));
    assert!(!read.is_empty(), "nothing read back through the proxy");
    for kind in [
        "frame_header",
        "produce_view",
        "record_batch",
        "rewrite_response",
    ] {
        let n = std::fs::read_dir(std::path::Path::new(&dir).join(kind))
            .map(|d| d.count())
            .unwrap_or(0);
        eprintln!("captured {n} {kind} seeds");
        assert!(n > 0, "no {kind} frames captured");
    }
}
