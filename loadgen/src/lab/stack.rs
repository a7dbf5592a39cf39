//! The broker and registry an experiment runs against: the ones given on the command line
//! (e.g. `scripts/up`'s), or a fresh one-node Apache Kafka (the tests' `kafka-cluster`) and a
//! `schemagate registry --store memory` started for the run and stopped with it.

use std::path::{Path, PathBuf};

use crate::lab::LabError;
use crate::process::{self, ChildProcess, KafkaNode};

/// Where the broker and registry come from.
#[derive(Debug, Clone, Default)]
pub struct StackOptions {
    /// `bootstrap.servers` of a running broker; `None` starts a one-node Kafka.
    pub bootstrap: Option<String>,
    /// URL of a running registry; `None` starts `schemagate registry --store memory`.
    pub registry: Option<String>,
    /// Directory for the logs and data of what the lab starts.
    pub log_dir: PathBuf,
}

/// A broker and a registry, and whatever the lab started to have them.
#[derive(Debug)]
pub struct LabStack {
    /// `bootstrap.servers`.
    pub bootstrap: String,
    /// Registry base URL.
    pub registry: String,
    /// How the broker was obtained, for the report.
    pub broker_kind: String,
    /// Declared before `kafka` so the registry stops first.
    _registry: Option<ChildProcess>,
    _kafka: Option<KafkaNode>,
}

impl LabStack {
    /// Uses or starts the broker and registry.
    pub fn start(opts: &StackOptions) -> Result<Self, LabError> {
        let (bootstrap, kafka, broker_kind) = match &opts.bootstrap {
            Some(b) => (b.clone(), None, format!("given: {b}")),
            None => {
                let bin = process::binary_from_env(
                    "KAFKA_CLUSTER_BIN",
                    "kafka-cluster (cargo build -p schemagate-tests --bin kafka-cluster)",
                )?;
                let node = process::start_kafka_node(&bin, &opts.log_dir)?;
                (
                    node.plaintext.to_string(),
                    Some(node),
                    "one-node Apache Kafka 4.4 (kafka-cluster), started for this run".to_string(),
                )
            }
        };
        let (registry, child) = match &opts.registry {
            Some(r) => (r.trim_end_matches('/').to_string(), None),
            None => {
                let port = process::free_port()?;
                let child =
                    process::start_schemagate_registry(&schemagate_bin()?, port, &opts.log_dir)?;
                (format!("http://{}", process::loopback(port)), Some(child))
            }
        };
        Ok(Self {
            bootstrap,
            registry,
            broker_kind,
            _registry: child,
            _kafka: kafka,
        })
    }

    /// Starts `schemagate proxy` (the binary `schemagate`, logging under `log_dir`) on a free
    /// port in front of the first broker, enforcing the policy file `policy` against this
    /// registry; answers the process and the address producers write to.
    pub fn start_proxy(
        &self,
        schemagate: &Path,
        policy: &Path,
        log_dir: &Path,
    ) -> Result<(ChildProcess, String), LabError> {
        let upstream: std::net::SocketAddr = self
            .bootstrap
            .split(',')
            .next()
            .and_then(|a| a.trim().parse().ok())
            .ok_or_else(|| {
                LabError::Setup(format!("bootstrap {} is not IP:PORT", self.bootstrap))
            })?;
        let port = process::free_port()?;
        let child = tokio::task::block_in_place(|| {
            process::start_schemagate_proxy(
                schemagate,
                port,
                upstream.port(),
                Some((&self.registry, policy)),
                &[],
                log_dir,
            )
        })?;
        Ok((child, process::loopback(port).to_string()))
    }
}

/// The `schemagate` binary (`SCHEMAGATE_BIN`).
pub fn schemagate_bin() -> Result<PathBuf, LabError> {
    Ok(process::binary_from_env("SCHEMAGATE_BIN", "schemagate")?)
}

/// `dir/name`, with `dir` created.
pub fn scratch(dir: &Path, name: &str) -> Result<PathBuf, LabError> {
    std::fs::create_dir_all(dir).map_err(|cause| LabError::Io {
        path: dir.to_path_buf(),
        cause,
    })?;
    Ok(dir.join(name))
}
