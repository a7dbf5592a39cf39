//! A broker, a `schemagate registry` and an enforcing `schemagate proxy` with a policy file:
//! what every enforcement test starts.

use std::net::SocketAddr;

use crate::metrics::Metrics;
use crate::{Broker, HarnessError, Proxy, Registry};

/// Where the registry keeps its schemas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistryStore {
    /// In memory: a restart forgets everything.
    Memory,
    /// A `_schemas` topic of the test's own on the shared cluster: a restart replays it, ids
    /// survive.
    Kafka,
}

/// Registry and enforcing proxy on free ports in front of the shared cluster; dropping it
/// stops both.
pub struct EnforcedStack {
    // Field order is drop order: the proxy goes first, the broker last.
    proxy: Proxy,
    registry: Registry,
    broker: Broker,
    policy: std::path::PathBuf,
    _policy_dir: tempfile::TempDir,
}

impl EnforcedStack {
    /// Starts the broker, the registry on `store`, then the proxy with `policy` (TOML text).
    pub fn start(policy: &str, store: RegistryStore) -> Result<Self, HarnessError> {
        Self::start_with_flags(policy, store, &[])
    }

    /// As [`EnforcedStack::start`], with `extra` flags for the proxy.
    pub fn start_with_flags(
        policy: &str,
        store: RegistryStore,
        extra: &[&str],
    ) -> Result<Self, HarnessError> {
        let broker = Broker::shared()?;
        let registry = match store {
            RegistryStore::Memory => Registry::start("memory")?,
            RegistryStore::Kafka => Registry::start_kafka(&broker)?,
        };
        let dir = tempfile::Builder::new()
            .prefix("schemagate-policy-")
            .tempdir()
            .map_err(|e| HarnessError::io("creating a policy directory", e))?;
        let path = dir.path().join("policy.toml");
        std::fs::write(&path, policy).map_err(|e| HarnessError::io("writing the policy", e))?;
        let mut flags = vec![
            "--registry".to_owned(),
            registry.url(),
            "--policy".to_owned(),
            path.display().to_string(),
        ];
        flags.extend(extra.iter().map(|f| (*f).to_owned()));
        let proxy = Proxy::start_with(broker.addrs(), &flags)?;
        Ok(Self {
            proxy,
            registry,
            broker,
            policy: path,
            _policy_dir: dir,
        })
    }

    /// The address clients bootstrap from (the proxy).
    pub fn bootstrap(&self) -> SocketAddr {
        self.proxy.listen()
    }

    /// The registry URL.
    pub fn registry_url(&self) -> String {
        self.registry.url()
    }

    /// The registry, to register schemas.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The registry, to stop and restart it.
    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// The policy file the proxy was started with (for tools that take the same policy, such
    /// as `schemagate quarantine replay --policy`).
    pub fn policy_path(&self) -> &std::path::Path {
        &self.policy
    }

    /// The broker behind the proxy.
    pub fn broker(&self) -> &Broker {
        &self.broker
    }

    /// The proxy.
    pub fn proxy(&self) -> &Proxy {
        &self.proxy
    }

    /// A scrape of the proxy's `/metrics`.
    pub fn metrics(&self) -> Result<Metrics, HarnessError> {
        match self.proxy.admin_get("/metrics")? {
            (200, body) => Ok(Metrics::parse(&body)),
            (status, body) => Err(HarnessError::io(
                "GET /metrics",
                std::io::Error::other(format!("status {status}: {body}")),
            )),
        }
    }

    /// What a failing test should show: the tails of all three logs.
    pub fn diagnostics(&mut self) -> String {
        let state = match self.proxy.is_running() {
            true => "running",
            false => "EXITED",
        };
        format!(
            "--- schemagate proxy ({state}) log tail ---\n{}\n--- schemagate registry log tail ---\n{}\n--- kafka log tails ---\n{}\n",
            self.proxy.log_tail(),
            self.registry.log_tail(),
            self.broker.log_tail()
        )
    }
}
