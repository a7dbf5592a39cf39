//! A broker with the proxy in front: what every integration test starts.

use std::net::SocketAddr;

use crate::{env, Broker, HarnessError, Proxy};

/// The shared Apache Kafka cluster and, unless `SCHEMAGATE_TEST_DIRECT=1`, a `schemagate proxy`
/// of the test's own in front of it. Dropping the stack stops the proxy; the cluster stays.
pub struct Stack {
    // Declared first so that it is dropped (killed) before the broker.
    proxy: Option<Proxy>,
    broker: Broker,
    // Last: fails a test that ran without the proxy once everything else is stopped.
    _direct: Option<env::NotAPass>,
}

impl Stack {
    /// Starts a proxy in front of the shared cluster.
    pub fn start() -> Result<Self, HarnessError> {
        let broker = Broker::shared()?;
        let direct = env::NotAPass::if_direct();
        let proxy = match direct {
            Some(_) => None,
            None => Some(Proxy::start(broker.addrs())?),
        };
        Ok(Self {
            proxy,
            broker,
            _direct: direct,
        })
    }

    /// The address clients bootstrap from.
    pub fn bootstrap(&self) -> SocketAddr {
        self.proxy
            .as_ref()
            .map_or(self.broker.addr(), |p| p.listen())
    }

    /// The broker behind the proxy.
    pub fn broker(&self) -> &Broker {
        &self.broker
    }

    /// The proxy, when the stack has one.
    pub fn proxy(&self) -> Option<&Proxy> {
        self.proxy.as_ref()
    }

    /// Checks one broker address that a client learned from metadata: through the proxy it
    /// must be the proxy's host and one of its ports, never the upstream broker's address.
    pub fn check_advertised(&self, host: &str, port: u16) -> Result<(), String> {
        let upstream = self.broker.addrs();
        let Some(proxy) = &self.proxy else {
            return match upstream
                .iter()
                .any(|b| host == b.ip().to_string() && port == b.port())
            {
                true => Ok(()),
                false => Err(format!("{host}:{port} is not a broker of {upstream:?}")),
            };
        };
        if let Some(leaked) = upstream.iter().find(|b| b.port() == port) {
            return Err(format!(
                "{host}:{port} leaks the upstream broker's port {leaked}"
            ));
        }
        if host != proxy.listen().ip().to_string() || !proxy.ports().contains(&port) {
            return Err(format!(
                "{host}:{port} is not a proxy address (host {}, ports {:?})",
                proxy.listen().ip(),
                proxy.ports()
            ));
        }
        Ok(())
    }

    /// What a failing test should show: whether the proxy is still running, and the tails of
    /// the proxy's and the broker's logs.
    pub fn diagnostics(&mut self) -> String {
        let mut out = String::new();
        if let Some(proxy) = &mut self.proxy {
            let state = if proxy.is_running() {
                "running"
            } else {
                "EXITED"
            };
            out.push_str(&format!(
                "--- schemagate proxy ({state}) log tail ---\n{}\n",
                proxy.log_tail()
            ));
        }
        out.push_str(&format!(
            "--- kafka log tails ---\n{}\n",
            self.broker.log_tail()
        ));
        out
    }
}
