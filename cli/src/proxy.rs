//! `schemagate proxy`: flags and wiring of the transparent Kafka proxy.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use proxy::{PassThrough, Proxy, ProxyConfig};

/// Flags of `schemagate proxy`.
#[derive(clap::Args)]
pub struct Args {
    /// Bootstrap broker, HOST:PORT. Repeat for several; the rest are learned from metadata.
    #[arg(long = "upstream", required = true, value_name = "HOST:PORT")]
    upstreams: Vec<String>,
    /// Listener for broker index 0; broker index i is served on this port + i.
    #[arg(long, value_name = "HOST:PORT")]
    listen: SocketAddr,
    /// Host clients are told to connect to (default: the listen IP; required for 0.0.0.0).
    #[arg(long, value_name = "HOST")]
    advertised_host: Option<String>,
    /// Admin HTTP address serving /metrics, /healthz and /readyz.
    #[arg(long, value_name = "HOST:PORT")]
    admin: Option<SocketAddr>,
    /// Largest frame accepted from a client or broker, in bytes.
    #[arg(long, default_value_t = proxy::config::DEFAULT_MAX_FRAME_BYTES)]
    max_frame_bytes: usize,
    /// Most client connections open at once; more are refused.
    #[arg(long, default_value_t = 4096)]
    max_connections: usize,
    /// Most brokers (and so listeners) served.
    #[arg(long, default_value_t = 256)]
    max_brokers: usize,
    /// Seconds of silence tolerated inside a frame before the connection is closed.
    #[arg(long, default_value_t = 30)]
    stall_timeout_secs: u64,
    /// Seconds allowed for connecting to a broker.
    #[arg(long, default_value_t = 10)]
    connect_timeout_secs: u64,
    /// Seconds between the proxy's own metadata fetches.
    #[arg(long, default_value_t = 30)]
    metadata_refresh_secs: u64,
    /// Seconds in-flight requests get to finish after SIGTERM or Ctrl-C.
    #[arg(long, default_value_t = 30)]
    shutdown_grace_secs: u64,
}

/// Runs `schemagate proxy` until SIGTERM or Ctrl-C.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut config = ProxyConfig::new(args.upstreams, args.listen);
    if let Some(host) = args.advertised_host {
        config.advertised_host = host;
    }
    config.admin = args.admin;
    config.max_frame_bytes = args.max_frame_bytes;
    config.max_connections = args.max_connections;
    config.max_brokers = args.max_brokers;
    config.stall_timeout = Duration::from_secs(args.stall_timeout_secs);
    config.connect_timeout = Duration::from_secs(args.connect_timeout_secs);
    config.metadata_refresh = Duration::from_secs(args.metadata_refresh_secs.max(1));
    config.shutdown_grace = Duration::from_secs(args.shutdown_grace_secs);
    let proxy = Proxy::new(config, Arc::new(PassThrough))?;
    proxy.run(proxy::shutdown::signal()).await?;
    Ok(ExitCode::SUCCESS)
}
