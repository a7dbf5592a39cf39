//! Harness for schemagate's integration tests: real parts, started as a user would start them.
//!
//! - [`env`]: where the real parts are (`TANSU_BIN`, `SCHEMAGATE_BIN`, `SCHEMAGATE_PYTHON`,
//!   `SCHEMAGATE_NODE_MODULES`, `SCHEMAGATE_KCAT`, `SCHEMAGATE_GO_CLIENTS`). `scripts/test` sets
//!   them; a test run without them fails with a message that says so, it never skips.
//! - [`net`]: free loopback ports and waiting for a listener.
//! - [`process`]: a child process that logs to a file, is killed on drop, and reports its log
//!   when it dies early.
//! - [`broker`]: a tansu broker on a free port.
//! - [`proxy`]: the real `schemagate proxy` binary in front of a broker.
//! - [`stack`]: broker + proxy, the address clients bootstrap from, and the addresses metadata
//!   may show them.
//! - [`registry`]: the real `schemagate registry` binary, which a test can stop and restart.
//! - [`enforced`]: broker + registry + an enforcing proxy with a policy file.
//! - [`metrics`]: the proxy's admin `/metrics`, parsed for assertions.
//! - [`client`]: runs a Python or Node client script, a Go client or kcat, and fails with its
//!   stderr.
//! - [`error`]: [`HarnessError`], the one error type of the harness.
#![forbid(unsafe_code)]

pub mod broker;
pub mod client;
pub mod enforced;
pub mod env;
pub mod error;
pub mod metrics;
pub mod net;
pub mod process;
pub mod proxy;
pub mod registry;
pub mod stack;

pub use broker::Broker;
pub use client::{ClientOutput, ClientRun};
pub use enforced::{EnforcedStack, RegistryStore};
pub use error::HarnessError;
pub use metrics::Metrics;
pub use proxy::Proxy;
pub use registry::Registry;
pub use stack::Stack;
