//! The real `schemagate proxy` binary in front of a broker, started as a user would start it.

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use crate::process::Server;
use crate::{env, net, HarnessError};

/// Ports reserved above the listen port: the listener for broker N is `base + N`.
pub const BROKER_PORTS: u16 = 4;

/// A running `schemagate proxy`, killed on drop.
pub struct Proxy {
    listen: SocketAddr,
    admin: SocketAddr,
    server: Server,
}

impl Proxy {
    /// Starts `SCHEMAGATE_BIN proxy --upstream <each upstream> --listen 127.0.0.1:<free>
    /// --advertised-host 127.0.0.1 --admin 127.0.0.1:<free>` and waits for its listener.
    pub fn start(upstream: &[SocketAddr]) -> Result<Self, HarnessError> {
        Self::start_with(upstream, &[])
    }

    /// Starts an enforcing proxy: as [`start`](Proxy::start), plus `--registry <registry>
    /// --policy <policy>`.
    pub fn start_enforcing(
        upstream: &[SocketAddr],
        registry: &str,
        policy: &std::path::Path,
    ) -> Result<Self, HarnessError> {
        let policy = policy.to_string_lossy().into_owned();
        let extra = ["--registry", registry, "--policy", &policy].map(String::from);
        Self::start_with(upstream, &extra)
    }

    /// As [`start`](Proxy::start), with `extra` flags appended to the command line.
    pub fn start_with(upstream: &[SocketAddr], extra: &[String]) -> Result<Self, HarnessError> {
        let bin = env::schemagate_bin()?;
        let listen = SocketAddr::from(([127, 0, 0, 1], net::free_port_range(BROKER_PORTS)?));
        let admin = SocketAddr::from(([127, 0, 0, 1], net::free_port()?));
        let mut command = Command::new(bin);
        command.arg("proxy");
        for addr in upstream {
            command.args(["--upstream", &addr.to_string()]);
        }
        command
            .args(["--listen", &listen.to_string()])
            .args(["--advertised-host", "127.0.0.1"])
            .args(["--admin", &admin.to_string()])
            .args(extra)
            .env("RUST_LOG", "info");
        let mut server = Server::spawn("schemagate-proxy", command)?;
        server.wait_for_listener(listen, Duration::from_secs(20))?;
        Ok(Self {
            listen,
            admin,
            server,
        })
    }

    /// The bootstrap address clients use (the listener for broker index 0).
    pub fn listen(&self) -> SocketAddr {
        self.listen
    }

    /// The admin HTTP address (`/metrics`, `/healthz`, `/readyz`).
    pub fn admin(&self) -> SocketAddr {
        self.admin
    }

    /// `GET path` on the admin port: the status code and the body.
    pub fn admin_get(&self, path: &str) -> Result<(u16, String), HarnessError> {
        crate::http::request(self.admin, "GET", path, None)
    }

    /// Polls `/readyz` until it answers `want` or `within` passes; the last status seen.
    pub fn wait_for_readyz(&self, want: u16, within: Duration) -> Option<u16> {
        let deadline = std::time::Instant::now() + within;
        let mut last = None;
        while std::time::Instant::now() < deadline {
            last = self.admin_get("/readyz").ok().map(|(status, _)| status);
            if last == Some(want) {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        last
    }

    /// The ports this proxy may hand out to clients: `listen .. listen + BROKER_PORTS`.
    pub fn ports(&self) -> std::ops::Range<u16> {
        self.listen.port()..self.listen.port().saturating_add(BROKER_PORTS)
    }

    /// Whether the proxy process is still running (a crash is a failure of its own).
    pub fn is_running(&mut self) -> bool {
        self.server.is_running()
    }

    /// The proxy's log so far (tail).
    pub fn log_tail(&self) -> String {
        self.server.log_tail()
    }
}
