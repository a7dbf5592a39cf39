//! The broker of the bench runs: tansu (one in-memory process, ready in under a second; the
//! default) or a one-node Apache Kafka 4.4 with a plaintext and an `SSL` listener (started by
//! the tests' `kafka-cluster`), so plaintext and TLS paths meet the same broker, both started
//! fresh for every run; or a three-node Apache Kafka cluster, started once per bench (three
//! JVMs take most of a minute to start on two cores) with a fresh RF 3 topic for every run,
//! deleted after it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::BenchError;
use crate::process::{self, ChildProcess};

pub use super::kinds::BrokerKind;

/// A broker's TLS listener and the CA file clients trust for it.
#[derive(Debug, Clone)]
pub struct TlsListener {
    /// The listener.
    pub addr: SocketAddr,
    /// The CA that signed its certificate (PEM).
    pub ca: PathBuf,
}

/// A broker started for one run (dropping it stops it), or the bench's shared cluster.
#[derive(Debug)]
pub struct RunningBroker {
    /// The plaintext listener (node 1's).
    pub plaintext: SocketAddr,
    /// Every node's plaintext listener, node 1 first.
    pub nodes: Vec<SocketAddr>,
    /// The TLS listener (Kafka only).
    pub tls: Option<TlsListener>,
    /// Per node, the extra listener that advertises another port, and that port (the shared
    /// cluster only: for the relays, which rewrite nothing).
    pub front: Vec<(SocketAddr, u16)>,
    _process: Option<ChildProcess>,
}

/// The three-node cluster one bench shares across its runs; dropping it stops it.
#[derive(Debug)]
pub struct SharedCluster {
    nodes: Vec<SocketAddr>,
    front: Vec<(SocketAddr, u16)>,
    _process: ChildProcess,
}

impl SharedCluster {
    /// Starts `kind.nodes()` fresh Kafka nodes with `kafka-cluster`, each with a front
    /// listener advertising a port of its own (where a relay path's relay listens).
    pub async fn start(
        kafka_cluster: &Path,
        kind: BrokerKind,
        log_dir: &Path,
    ) -> Result<Self, BenchError> {
        let n = kind.nodes();
        // The brokers hold their front listeners from now on; the relays bind the advertised
        // ports only during relay runs, so those come from outside the ephemeral range.
        let advertised = process::free_block(n as u16)?;
        let pairs = (0..n as u16)
            .map(|i| Ok((process::free_port()?, advertised + i)))
            .collect::<Result<Vec<(u16, u16)>, BenchError>>()?;
        let (bin, dir, front) = (kafka_cluster.to_path_buf(), log_dir.join("cluster"), pairs);
        std::fs::create_dir_all(&dir)?;
        let given = front.clone();
        let nodes = tokio::task::spawn_blocking(move || {
            process::start_kafka_cluster(&bin, &dir, n, false, &given)
        })
        .await??;
        Ok(Self {
            nodes: nodes.plaintext,
            front: front
                .into_iter()
                .map(|(listen, advertised)| (process::loopback(listen), advertised))
                .collect(),
            _process: nodes.process,
        })
    }

    /// A handle for one run (stopping nothing when dropped).
    pub fn for_run(&self) -> RunningBroker {
        RunningBroker {
            plaintext: self.nodes.first().copied().unwrap_or(process::loopback(0)),
            nodes: self.nodes.clone(),
            tls: None,
            front: self.front.clone(),
            _process: None,
        }
    }
}

/// Starts a fresh tansu broker on `port`, telling clients to reach it at `advertised` (its own
/// port, or the port of a relay or proxy in front of it).
pub async fn start_tansu(
    tansu: &Path,
    port: u16,
    advertised: u16,
    log_dir: &Path,
) -> Result<RunningBroker, BenchError> {
    let (tansu, dir) = (tansu.to_path_buf(), log_dir.to_path_buf());
    let process = tokio::task::spawn_blocking(move || {
        process::start_tansu_broker(&tansu, port, advertised, &dir)
    })
    .await??;
    Ok(RunningBroker {
        plaintext: process::loopback(port),
        nodes: vec![process::loopback(port)],
        tls: None,
        front: Vec::new(),
        _process: Some(process),
    })
}

/// Starts a fresh one-node Kafka with `kafka-cluster`; it advertises its own addresses.
pub async fn start_kafka(
    kafka_cluster: &Path,
    log_dir: &Path,
) -> Result<RunningBroker, BenchError> {
    let (bin, dir) = (kafka_cluster.to_path_buf(), log_dir.to_path_buf());
    let node = tokio::task::spawn_blocking(move || process::start_kafka_node(&bin, &dir)).await??;
    Ok(RunningBroker {
        plaintext: node.plaintext,
        nodes: vec![node.plaintext],
        tls: Some(TlsListener {
            addr: node.tls,
            ca: node.ca,
        }),
        front: Vec::new(),
        _process: Some(node.process),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_names_round_trip() {
        for kind in [
            BrokerKind::Tansu,
            BrokerKind::Kafka,
            BrokerKind::KafkaCluster,
        ] {
            assert_eq!(kind.to_string().parse::<BrokerKind>(), Ok(kind));
        }
        assert_eq!(BrokerKind::KafkaCluster.replication(), 3);
        assert_eq!(
            BrokerKind::KafkaCluster.topic_configs(),
            &[("min.insync.replicas", "2")]
        );
        assert!(BrokerKind::KafkaCluster.shared() && !BrokerKind::Kafka.shared());
        assert!("redpanda".parse::<BrokerKind>().is_err());
    }
}
