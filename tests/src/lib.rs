//! Harness for schemagate's integration tests: real parts, started as a user would start them.
//!
//! - [`env`]: where the real parts are (`SCHEMAGATE_KAFKA_LIBS`, `SCHEMAGATE_KAFKA_BOOTSTRAP`,
//!   `SCHEMAGATE_BIN`, `SCHEMAGATE_PYTHON`, `SCHEMAGATE_NODE_MODULES`, `SCHEMAGATE_KCAT`,
//!   `SCHEMAGATE_JAVA_CLASSPATH`, `SCHEMAGATE_GO_CLIENTS`). `scripts/test` sets them; a test run
//!   without them fails with a message that says so, it never skips.
//! - [`net`]: free loopback ports and waiting for a listener.
//! - [`process`]: a child process that logs to a file, is killed on drop, and reports its log
//!   when it dies early.
//! - [`certs`]: a test CA and certificates it signs (rcgen), as PEM files.
//! - [`kafka`]: Apache Kafka 4.4 KRaft nodes run from their jars; a cluster a test may break.
//! - [`broker`]: the test run's shared three-node cluster (started by `scripts/test`).
//! - [`proxy`]: the real `schemagate proxy` binary in front of a broker.
//! - [`stack`]: broker + proxy, the address clients bootstrap from, and the addresses metadata
//!   may show them.
//! - [`registry`]: the real `schemagate registry` binary, which a test can stop and restart.
//! - [`enforced`]: broker + registry + an enforcing proxy with a policy file.
//! - [`metrics`]: the proxy's admin `/metrics`, parsed for assertions.
//! - [`client`]: runs a Python or Node client script, a Java client scenario, a Go client, or
//!   kcat, and fails with its stderr.
//! - [`procstat`]: a process's memory (now and peak), CPU time, descriptors and threads.
//! - [`topics`]: a topic name of a test's own, and creating a topic.
//! - [`http`]: one HTTP/1.0 request (admin endpoints, the registry's REST API).
//! - [`error`]: [`HarnessError`], the one error type of the harness.
#![forbid(unsafe_code)]

pub mod broker;
pub mod certs;
pub mod client;
pub mod enforced;
pub mod env;
pub mod error;
pub mod http;
pub mod kafka;
pub mod metrics;
pub mod net;
pub mod otelcol;
pub mod process;
pub mod procstat;
pub mod proxy;
pub mod registry;
pub mod stack;
pub mod topics;

pub use broker::Broker;
pub use client::{ClientOutput, ClientRun};
pub use enforced::{EnforcedStack, RegistryStore};
pub use error::HarnessError;
pub use kafka::{KafkaCluster, KafkaConfig};
pub use metrics::Metrics;
pub use otelcol::Collector;
pub use procstat::ProcSample;
pub use proxy::Proxy;
pub use registry::Registry;
pub use stack::Stack;
