//! The real `schemagate registry` binary on a free loopback port, which a test can stop and
//! start again on the same port (to prove the proxy rides out a registry outage).

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use crate::process::Server;
use crate::{env, net, HarnessError};

/// A `schemagate registry`, killed on drop.
pub struct Registry {
    addr: SocketAddr,
    /// Where `--admin` serves `/metrics` and `/healthz`.
    admin: SocketAddr,
    /// `http` or `https` (a registry started with `--tls-cert`).
    scheme: &'static str,
    store: String,
    /// Flags after `--store` (the Kafka store's own topic and replication).
    extra: Vec<String>,
    server: Option<Server>,
    /// Log tails of earlier runs, kept across restarts for diagnostics.
    history: String,
}

impl Registry {
    /// Starts `SCHEMAGATE_BIN registry --listen 127.0.0.1:<free> --store <store>`, where
    /// `store` is `memory` or `kafka://HOST:PORT`, and waits for its listener.
    pub fn start(store: &str) -> Result<Self, HarnessError> {
        Self::start_with(store, Vec::new())
    }

    /// Starts a registry whose store is a `_schemas` topic of its own on `cluster` (a unique
    /// name, so tests sharing the cluster never share schemas), replicated as widely as the
    /// cluster allows ([`Broker::schemas_replication`](crate::Broker::schemas_replication)).
    pub fn start_kafka(cluster: &crate::Broker) -> Result<Self, HarnessError> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let topic = format!(
            "_schemas-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let replication = cluster.schemas_replication().to_string();
        let extra = ["--topic", &topic, "--topic-replication", &replication].map(String::from);
        Self::start_with(&format!("kafka://{}", cluster.bootstrap()), extra.to_vec())
    }

    /// As [`start`](Registry::start), with `extra` flags after `--store` (e.g. `-X` settings).
    pub fn start_with_flags(store: &str, extra: Vec<String>) -> Result<Self, HarnessError> {
        Self::start_with(store, extra)
    }

    /// As [`start_with_flags`](Registry::start_with_flags), where `extra` holds `--tls-cert`
    /// and `--tls-key`: [`url`](Registry::url) is `https://127.0.0.1:PORT`.
    pub fn start_https(store: &str, extra: Vec<String>) -> Result<Self, HarnessError> {
        let mut registry = Self::unstarted(store, extra)?;
        registry.scheme = "https";
        registry.restart()?;
        Ok(registry)
    }

    /// `GET path` on the REST API: the status and the body.
    pub fn get(&self, path: &str) -> Result<(u16, String), HarnessError> {
        crate::http::request(self.addr, "GET", path, None)
    }

    /// `POST path` with a JSON body on the REST API: the status and the body.
    pub fn post(&self, path: &str, body: &str) -> Result<(u16, String), HarnessError> {
        crate::http::request(self.addr, "POST", path, Some(body))
    }

    /// `PUT path` with a JSON body on the REST API (`/config/SUBJECT`, `/mode`): the status
    /// and the body.
    pub fn put(&self, path: &str, body: &str) -> Result<(u16, String), HarnessError> {
        crate::http::request(self.addr, "PUT", path, Some(body))
    }

    /// Registers `schema` of `schema_type` (`AVRO`, `PROTOBUF`, `JSON`) under `subject`; the
    /// id the registry gave it, or an error with the status and body of any other answer.
    pub fn register(
        &self,
        subject: &str,
        schema_type: &str,
        schema: &str,
    ) -> Result<u32, HarnessError> {
        let body = serde_json::json!({ "schemaType": schema_type, "schema": schema });
        let (status, answer) =
            self.post(&format!("/subjects/{subject}/versions"), &body.to_string())?;
        let id = serde_json::from_str::<serde_json::Value>(&answer)
            .ok()
            .and_then(|v| v["id"].as_u64())
            .and_then(|id| u32::try_from(id).ok());
        match (status, id) {
            (200, Some(id)) => Ok(id),
            _ => Err(HarnessError::io(
                format!("registering a schema under {subject}"),
                std::io::Error::other(format!("status {status}: {answer}")),
            )),
        }
    }

    fn start_with(store: &str, extra: Vec<String>) -> Result<Self, HarnessError> {
        let mut registry = Self::unstarted(store, extra)?;
        registry.restart()?;
        Ok(registry)
    }

    fn unstarted(store: &str, extra: Vec<String>) -> Result<Self, HarnessError> {
        let addr = SocketAddr::from(([127, 0, 0, 1], net::free_port()?));
        Ok(Self {
            addr,
            admin: SocketAddr::from(([127, 0, 0, 1], other_free_port(addr.port())?)),
            scheme: "http",
            extra,
            store: store.to_owned(),
            server: None,
            history: String::new(),
        })
    }

    /// `GET path` on the admin port (`/metrics`, `/healthz`) the harness chose (not one a test
    /// passed in its own flags): the status and the body.
    pub fn admin_get(&self, path: &str) -> Result<(u16, String), HarnessError> {
        crate::http::request(self.admin, "GET", path, None)
    }

    /// The base URL clients and the proxy use.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// Kills the registry process (SIGKILL, no goodbye) and waits until its port is closed.
    pub fn stop(&mut self) -> Result<(), HarnessError> {
        if let Some(server) = self.server.take() {
            self.history.push_str(&server.log_tail());
            drop(server);
        }
        match net::wait_until(Duration::from_secs(10), || !net::accepts(self.addr)) {
            true => Ok(()),
            false => Err(HarnessError::NotReady {
                name: "schemagate-registry".into(),
                reason: format!("{} still accepts connections after the kill", self.addr),
                log: self.history.clone(),
            }),
        }
    }

    /// Starts the registry again on the same port and store (a no-op when it runs).
    pub fn restart(&mut self) -> Result<(), HarnessError> {
        if self.server.is_some() {
            return Ok(());
        }
        let mut command = Command::new(env::schemagate_bin()?);
        command
            .arg("registry")
            .args(["--listen", &self.addr.to_string()])
            .args(["--store", &self.store])
            .args(&self.extra)
            .env("RUST_LOG", "info");
        // A test that names its own --admin keeps it (the flag may be given once).
        if !self
            .extra
            .iter()
            .any(|f| f == "--admin" || f.starts_with("--admin="))
        {
            command.args(["--admin", &self.admin.to_string()]);
        }
        let mut server = Server::spawn("schemagate-registry", command)?;
        server.wait_for_listener(self.addr, Duration::from_secs(30))?;
        self.server = Some(server);
        Ok(())
    }

    /// The registry's log (all runs so far, tail).
    pub fn log_tail(&self) -> String {
        let current = self
            .server
            .as_ref()
            .map(Server::log_tail)
            .unwrap_or_default();
        crate::process::tail_of_bytes(format!("{}{current}", self.history).as_bytes(), 6000)
    }
}

/// A free port other than `taken` (two quick asks can get the same one back).
fn other_free_port(taken: u16) -> Result<u16, HarnessError> {
    loop {
        let port = net::free_port()?;
        if port != taken {
            return Ok(port);
        }
    }
}
