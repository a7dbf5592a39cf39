//! The broker every bench run starts fresh: tansu (one in-memory process, ready in under a
//! second; the default) or a one-node Apache Kafka 4.4 with a plaintext and an `SSL` listener
//! (started by the tests' `kafka-cluster`), so plaintext and TLS paths meet the same broker.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::BenchError;
use crate::process::{self, ChildProcess};

/// Which broker the runs start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BrokerKind {
    /// tansu, memory storage.
    #[default]
    Tansu,
    /// Apache Kafka 4.4, one combined KRaft node, with an `SSL` listener beside the plaintext.
    Kafka,
}

impl BrokerKind {
    /// How the report names the broker.
    pub fn describe(self) -> &'static str {
        match self {
            BrokerKind::Tansu => "tansu 0.6.0, memory storage, restarted before every run",
            BrokerKind::Kafka => {
                "Apache Kafka 4.4.0, one combined KRaft node (JVM -Xmx768m, SerialGC) with a \
                 PLAINTEXT and an SSL listener (rustls-made certificate, PEM keystore), formatted \
                 and started fresh before every run"
            }
        }
    }
}

impl fmt::Display for BrokerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BrokerKind::Tansu => "tansu",
            BrokerKind::Kafka => "kafka",
        })
    }
}

impl FromStr for BrokerKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "tansu" => Ok(BrokerKind::Tansu),
            "kafka" => Ok(BrokerKind::Kafka),
            other => Err(format!("unknown broker {other:?} (tansu or kafka)")),
        }
    }
}

/// A broker's TLS listener and the CA file clients trust for it.
#[derive(Debug, Clone)]
pub struct TlsListener {
    /// The listener.
    pub addr: SocketAddr,
    /// The CA that signed its certificate (PEM).
    pub ca: PathBuf,
}

/// A broker started for one run; dropping it stops it.
#[derive(Debug)]
pub struct RunningBroker {
    /// The plaintext listener.
    pub plaintext: SocketAddr,
    /// The TLS listener (Kafka only).
    pub tls: Option<TlsListener>,
    _process: ChildProcess,
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
        tls: None,
        _process: process,
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
        tls: Some(TlsListener {
            addr: node.tls,
            ca: node.ca,
        }),
        _process: node.process,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_names_round_trip() {
        for kind in [BrokerKind::Tansu, BrokerKind::Kafka] {
            assert_eq!(kind.to_string().parse::<BrokerKind>(), Ok(kind));
        }
        assert!("redpanda".parse::<BrokerKind>().is_err());
    }
}
