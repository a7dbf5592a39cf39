//! Proxy configuration, validated once into its runtime form.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Default cap on a single frame: 100 MiB.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 100 * 1024 * 1024;

/// Everything the proxy needs to run.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Bootstrap brokers (`host:port`), tried in order for the proxy's own metadata fetches.
    pub upstreams: Vec<String>,
    /// Listener for broker index 0; broker index `i` is served on this port + `i`.
    pub listen: SocketAddr,
    /// Host name clients are told to connect to.
    pub advertised_host: String,
    /// Admin HTTP address (`/metrics`, `/healthz`, `/readyz`), if any.
    pub admin: Option<SocketAddr>,
    /// Largest frame accepted from a client or a broker.
    pub max_frame_bytes: usize,
    /// Most client connections open at once; more are refused.
    pub max_connections: usize,
    /// Most brokers (and so listeners) the proxy serves.
    pub max_brokers: usize,
    /// Longest silence tolerated inside a frame.
    pub stall_timeout: Duration,
    /// Timeout for connecting to a broker.
    pub connect_timeout: Duration,
    /// How often the proxy refreshes the broker list from upstream metadata.
    pub metadata_refresh: Duration,
    /// How long in-flight requests may take to finish after a shutdown signal.
    pub shutdown_grace: Duration,
    /// TLS towards the brokers, if on.
    pub upstream_tls: Option<UpstreamTlsConfig>,
    /// TLS on the client listeners, if on.
    pub listener_tls: Option<ListenerTlsConfig>,
}

/// Where the proxy's trust and identity for broker connections come from (files, read once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamTlsConfig {
    /// PEM files of CA certificates trusted for brokers (each may hold a bundle).
    pub ca_files: Vec<PathBuf>,
    /// Whether the built-in web roots (Mozilla's, from `webpki-roots`) are trusted too.
    pub system_roots: bool,
    /// Client certificate chain and private key (PEM) presented to brokers that ask (mTLS).
    pub client_identity: Option<(PathBuf, PathBuf)>,
}

/// The listeners' certificate, optional client-certificate CA, and how often they are reloaded.
pub use serving::ServerTlsConfig as ListenerTlsConfig;

/// A configuration that cannot run.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// No `--upstream` given.
    #[error("at least one upstream broker is required")]
    NoUpstream,
    /// An upstream is not `host:port`.
    #[error("upstream {0:?} is not HOST:PORT")]
    BadUpstream(String),
    /// Listening on a wildcard address without saying what to advertise.
    #[error("listening on {0} needs an advertised host (--advertised-host)")]
    NoAdvertisedHost(SocketAddr),
    /// Port 0 cannot be advertised, and broker ports are counted from it.
    #[error("the listen port must be given explicitly (not 0): broker i is served on port + i")]
    ZeroListenPort,
    /// A limit is zero.
    #[error("{0} must be greater than zero")]
    Zero(&'static str),
    /// Upstream TLS with neither the web roots nor a CA file would trust no broker.
    #[error("upstream TLS without system roots needs at least one --upstream-ca-file")]
    NoTrustRoots,
}

impl ProxyConfig {
    /// A configuration with the defaults for everything but the addresses. The advertised
    /// host defaults to the listen IP.
    pub fn new(upstreams: Vec<String>, listen: SocketAddr) -> Self {
        Self {
            upstreams,
            advertised_host: listen.ip().to_string(),
            listen,
            admin: None,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            max_connections: 4096,
            max_brokers: 256,
            stall_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            metadata_refresh: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(30),
            upstream_tls: None,
            listener_tls: None,
        }
    }

    /// Checks the configuration once, before anything starts.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.upstreams.is_empty() {
            return Err(ConfigError::NoUpstream);
        }
        for u in &self.upstreams {
            let ok = u
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if !ok {
                return Err(ConfigError::BadUpstream(u.clone()));
            }
        }
        if self.listen.port() == 0 {
            return Err(ConfigError::ZeroListenPort);
        }
        if self.advertised_host.is_empty()
            || self
                .advertised_host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_unspecified())
        {
            return Err(ConfigError::NoAdvertisedHost(self.listen));
        }
        for (name, v) in [
            ("max frame bytes", self.max_frame_bytes),
            ("max connections", self.max_connections),
            ("max brokers", self.max_brokers),
        ] {
            if v == 0 {
                return Err(ConfigError::Zero(name));
            }
        }
        if let Some(tls) = &self.upstream_tls {
            if !tls.system_roots && tls.ca_files.is_empty() {
                return Err(ConfigError::NoTrustRoots);
            }
        }
        if self
            .listener_tls
            .as_ref()
            .is_some_and(|t| t.reload_interval.is_zero())
        {
            return Err(ConfigError::Zero("tls reload interval"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        let listen: SocketAddr = "127.0.0.1:9092".parse().unwrap();
        assert_eq!(
            ProxyConfig::new(vec![], listen).validate(),
            Err(ConfigError::NoUpstream)
        );
        assert!(ProxyConfig::new(vec!["b:9092".into()], listen)
            .validate()
            .is_ok());
        assert_eq!(
            ProxyConfig::new(vec!["b".into()], listen).validate(),
            Err(ConfigError::BadUpstream("b".into()))
        );
        let wildcard: SocketAddr = "0.0.0.0:9092".parse().unwrap();
        let mut c = ProxyConfig::new(vec!["b:1".into()], wildcard);
        assert_eq!(c.validate(), Err(ConfigError::NoAdvertisedHost(wildcard)));
        c.advertised_host = "proxy.example".into();
        assert!(c.validate().is_ok());
        let zero: SocketAddr = "127.0.0.1:0".parse().unwrap();
        assert_eq!(
            ProxyConfig::new(vec!["b:1".into()], zero).validate(),
            Err(ConfigError::ZeroListenPort)
        );
        let mut c = ProxyConfig::new(vec!["b:1".into()], listen);
        c.upstream_tls = Some(UpstreamTlsConfig {
            ca_files: vec![],
            system_roots: false,
            client_identity: None,
        });
        assert_eq!(c.validate(), Err(ConfigError::NoTrustRoots));
    }
}
