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
    upstream: Vec<SocketAddr>,
    extra: Vec<String>,
    /// Earlier runs' log tails, from before a [`Proxy::kill_and_restart`].
    earlier_logs: String,
    /// Earlier runs' whole logs.
    earlier_full: String,
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
        let listen = SocketAddr::from(([127, 0, 0, 1], net::free_port_range(BROKER_PORTS)?));
        Self::start_at(listen, upstream, extra)
    }

    /// As [`start_with`](Proxy::start_with), listening at `listen` (broker N at `listen + N`),
    /// for a test that holds one of those ports itself.
    pub fn start_at(
        listen: SocketAddr,
        upstream: &[SocketAddr],
        extra: &[String],
    ) -> Result<Self, HarnessError> {
        let admin = SocketAddr::from(([127, 0, 0, 1], net::free_port()?));
        let command = Self::command(upstream, extra, listen, admin)?;
        let mut server = Server::spawn("schemagate-proxy", command)?;
        server.wait_for_listener(listen, Duration::from_secs(20))?;
        Ok(Self {
            listen,
            admin,
            server,
            upstream: upstream.to_vec(),
            extra: extra.to_vec(),
            earlier_logs: String::new(),
            earlier_full: String::new(),
        })
    }

    fn command(
        upstream: &[SocketAddr],
        extra: &[String],
        listen: SocketAddr,
        admin: SocketAddr,
    ) -> Result<Command, HarnessError> {
        let mut command = Command::new(env::schemagate_bin()?);
        command.arg("proxy");
        for addr in upstream {
            command.args(["--upstream", &addr.to_string()]);
        }
        command
            .args(["--listen", &listen.to_string()])
            .args(["--advertised-host", "127.0.0.1"])
            .args(["--admin", &admin.to_string()])
            .args(extra)
            .args(
                std::env::var("SCHEMAGATE_TEST_PROXY_ARGS")
                    .unwrap_or_default()
                    .split_whitespace(),
            )
            .env(
                "RUST_LOG",
                // The sequence rewrite's decisions (one line per batch of an idempotent producer
                // in a partition with bad records) are what a failed idempotence test needs.
                std::env::var("SCHEMAGATE_TEST_PROXY_LOG")
                    .unwrap_or_else(|_| "info,schemagate::sequence=debug".to_owned()),
            );
        Ok(command)
    }

    /// Kills the proxy with SIGKILL, as a crash would, and starts it again on the same ports
    /// with the same flags; returns once it listens.
    pub fn kill_and_restart(&mut self) -> Result<(), HarnessError> {
        self.server.kill();
        const RESTARTED: &str = "\n--- killed (SIGKILL) and restarted ---\n";
        self.earlier_logs.push_str(&self.server.log_tail());
        self.earlier_logs.push_str(RESTARTED);
        self.earlier_full
            .push_str(&std::fs::read_to_string(self.server.log_path()).unwrap_or_default());
        self.earlier_full.push_str(RESTARTED);
        let command = Self::command(&self.upstream, &self.extra, self.listen, self.admin)?;
        // The kernel may hold the ports for a moment after the kill: retry the start briefly.
        let mut last = None;
        for _ in 0..50 {
            let mut server = Server::spawn("schemagate-proxy", Self::clone_command(&command))?;
            match server.wait_for_listener(self.listen, Duration::from_secs(20)) {
                Ok(()) => {
                    self.server = server;
                    return Ok(());
                }
                Err(e) => last = Some(e),
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Err(last.unwrap_or_else(|| {
            HarnessError::io("restarting the proxy", std::io::Error::other("no attempt"))
        }))
    }

    /// The running proxy's process id (a new one after [`Proxy::kill_and_restart`]).
    pub fn pid(&self) -> u32 {
        self.server.pid()
    }

    fn clone_command(command: &Command) -> Command {
        let mut copy = Command::new(command.get_program());
        copy.args(command.get_args());
        for (k, v) in command.get_envs() {
            if let Some(v) = v {
                copy.env(k, v);
            }
        }
        copy
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

    /// The warnings and errors of the proxy's current run (its whole log, not a tail), at
    /// most `max` lines.
    pub fn warnings(&self, max: usize) -> Vec<String> {
        std::fs::read_to_string(self.server.log_path())
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
            .take(max)
            .map(str::to_owned)
            .collect()
    }

    /// The proxy's whole log so far, with the whole logs of runs before a restart.
    pub fn full_log(&self) -> String {
        format!(
            "{}{}",
            self.earlier_full,
            std::fs::read_to_string(self.server.log_path()).unwrap_or_default()
        )
    }

    /// The proxy's log so far (tail), with the tails of runs before a restart.
    pub fn log_tail(&self) -> String {
        format!("{}{}", self.earlier_logs, self.server.log_tail())
    }
}
