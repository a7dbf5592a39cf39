//! The test run's shared Apache Kafka cluster, which `scripts/test` starts before the tests
//! (three KRaft nodes) and stops after them. Tests share it and keep to their own topics; a test
//! that breaks a cluster starts its own [`KafkaCluster`](crate::kafka::KafkaCluster).

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::{env, HarnessError};

/// The shared cluster's addresses (and, when `SCHEMAGATE_KAFKA_DIR` names its folder, its logs).
#[derive(Debug, Clone)]
pub struct Broker {
    addrs: Vec<SocketAddr>,
    dir: Option<PathBuf>,
}

impl Broker {
    /// The cluster named by `SCHEMAGATE_KAFKA_BOOTSTRAP`; fails (never skips) without it.
    pub fn shared() -> Result<Self, HarnessError> {
        Ok(Self {
            addrs: env::shared_kafka()?,
            dir: std::env::var_os("SCHEMAGATE_KAFKA_DIR").map(PathBuf::from),
        })
    }

    /// A cluster of the test's own, seen as a [`Broker`] for code that takes one (its
    /// addresses and its folder; the cluster itself keeps running its nodes).
    pub fn of(cluster: &crate::KafkaCluster) -> Self {
        Self {
            addrs: cluster.addrs(),
            dir: Some(cluster.dir().to_path_buf()),
        }
    }

    /// How many copies a `_schemas` topic gets on this cluster: as many as it has nodes, at
    /// most three (three copies, `min.insync.replicas=2`, on the three-node cluster).
    pub fn schemas_replication(&self) -> usize {
        self.addrs.len().min(3)
    }

    /// The address of node 1, a bootstrap address for tools that take one.
    pub fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// Every node's client address.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// `host:port,...` of every node.
    pub fn bootstrap(&self) -> String {
        let all: Vec<String> = self.addrs.iter().map(ToString::to_string).collect();
        all.join(",")
    }

    /// The nodes' log lines that contain `needle` (e.g. a test's unique topic prefix), at
    /// most `max` of them, first ones first: what the brokers said about one test's topics
    /// long after those lines left the tails. Empty when the cluster's folder is unknown.
    pub fn log_lines(&self, needle: &str, max: usize) -> Vec<String> {
        let Some(dir) = &self.dir else {
            return Vec::new();
        };
        (1..=self.addrs.len())
            .flat_map(|id| {
                let log = dir.join(format!("node-{id}")).join("kafka.log");
                std::fs::read_to_string(log)
                    .unwrap_or_default()
                    .lines()
                    .filter(|l| l.contains(needle))
                    .map(|l| format!("node {id}: {l}"))
                    .collect::<Vec<_>>()
            })
            .take(max)
            .collect()
    }

    /// The tails of the nodes' logs, when the cluster's folder is known.
    pub fn log_tail(&self) -> String {
        let Some(dir) = &self.dir else {
            return "(SCHEMAGATE_KAFKA_DIR not set: no broker logs)".into();
        };
        (1..=self.addrs.len())
            .map(|id| {
                let log = dir.join(format!("node-{id}")).join("kafka.log");
                format!(
                    "--- kafka node {id} ({}) ---\n{}\n",
                    log.display(),
                    crate::process::tail_of_file(&log, 2000)
                )
            })
            .collect()
    }
}
