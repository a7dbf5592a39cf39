//! A tansu broker (one per process, node id 111, in-memory storage) on a free loopback port.

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use crate::process::Server;
use crate::{env, net, HarnessError};

/// A running tansu broker, killed on drop.
pub struct Broker {
    addr: SocketAddr,
    server: Server,
}

impl Broker {
    /// Starts tansu from `TANSU_BIN` and waits until it accepts connections.
    pub fn start() -> Result<Self, HarnessError> {
        let bin = env::tansu_bin()?;
        let port = net::free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let url = format!("tcp://{addr}");
        let mut command = Command::new(bin);
        command
            .args(["broker", "--listener-url", &url])
            .args(["--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://tansu/"]);
        let mut server = Server::spawn("tansu", command)?;
        server.wait_for_listener(addr, Duration::from_secs(20))?;
        Ok(Self { addr, server })
    }

    /// The address the broker listens on and advertises.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The broker's log so far (tail).
    pub fn log_tail(&self) -> String {
        self.server.log_tail()
    }
}
