//! # proxy — the schemagate sidecar
//!
//! A transparent Kafka proxy: clients point `bootstrap.servers` at it and every request goes
//! to a real broker over one upstream connection per client connection.
//!
//! Tour, in the order a request travels:
//! - [`config`]: [`ProxyConfig`], validated once.
//! - [`listener`]: one TCP listener per broker index (`listen_port + index`), capped connections.
//! - [`connection`]: the per-client handler; request side and response side with an in-flight
//!   queue ([`inflight`]) so responses leave in request order.
//! - [`frame`]: length-prefixed frames with a size cap and a mid-frame stall timeout.
//! - [`header`]: api key, version and correlation id at fixed offsets; Produce `acks`.
//! - [`inspect`]: the produce-inspection seam ([`ProduceInspector`]); default [`PassThrough`];
//!   [`produce_view`] reads a Produce request within limits (records as zero-copy slices)
//!   and rebuilds it when enforcement drops or replaces partitions.
//! - [`rewrite`]: responses that carry broker addresses (Metadata, FindCoordinator,
//!   DescribeCluster) and ApiVersions, walked with the bounded reader in [`codec`].
//! - [`broker_map`]: node id to proxy port, learned from upstream metadata ([`discovery`],
//!   [`upstream`]) and from rewritten responses.
//! - [`admin`], [`metrics`]: `/metrics`, `/healthz`, `/readyz`.
//! - [`enforce`]: schema enforcement plugged into the seam: [`policy`] per topic, [`batch`]
//!   record batches, registry resolution, verdicts, quarantine.
//! - [`tls`]: TLS towards brokers ([`upstream::Connector`]) and on the client listeners
//!   (certificate reloaded when its files change).
//! - [`capture`]: frames written to a folder for the fuzz corpora (`SCHEMAGATE_CAPTURE_FRAMES`).
//! - Shutdown: [`Proxy::run`] stops accepting and drains when its signal future completes
//!   (the CLI passes `serving::shutdown::signal`, SIGTERM or Ctrl-C).
#![forbid(unsafe_code)]

pub mod admin;
pub mod batch;
pub mod broker_map;
pub mod capture;
pub mod close_log;
pub mod codec;
pub mod config;
pub mod connection;
pub mod discovery;
pub mod enforce;
pub mod frame;
pub mod header;
pub mod inflight;
pub mod inspect;
pub mod listener;
pub mod metrics;
pub mod policy;
pub mod produce_view;
pub mod rewrite;
pub mod tls;
pub mod upstream;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use prometheus_client::registry::Registry;
use tokio::sync::{mpsc, watch, Semaphore};

pub use config::{ConfigError, ProxyConfig};
pub use inspect::{PassThrough, ProduceDecision, ProduceInspector, ProduceRequestFrame};

use broker_map::BrokerMap;
use frame::FrameLimits;
use metrics::{Metrics, ReloadLabels};
use tls::{ListenerTls, TlsError, UpstreamTls};
use upstream::Connector;

/// State shared by every listener and connection.
pub struct Shared {
    /// The validated configuration.
    pub config: ProxyConfig,
    /// Frame limits for client and upstream frames.
    pub limits: FrameLimits,
    /// Node id to proxy port.
    pub brokers: BrokerMap,
    /// Published metrics.
    pub metrics: Metrics,
    /// The Produce hook.
    pub inspector: Arc<dyn ProduceInspector>,
    /// True while the latest metadata fetch reached an upstream broker.
    pub ready: AtomicBool,
    /// One permit per open client connection.
    pub connection_permits: Arc<Semaphore>,
    /// Makes broker connections (TLS when configured).
    pub connector: Connector,
    /// TLS of the client listeners, if on.
    pub listener_tls: Option<Arc<ListenerTls>>,
    /// Limits the WARN lines of closed connections (the counter sees every close).
    pub close_log: close_log::CloseLog,
    /// Brokers whose listener is not bound yet (their port was taken).
    pub unbound: listener::Unbound,
}

/// Why the proxy could not run.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A TLS file is missing or unusable.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// A listener could not be bound.
    /// The cause is part of the message, not a `source()`, so a chain prints it once.
    #[error("cannot listen on {addr}: {cause}")]
    Bind {
        /// The address.
        addr: String,
        /// The cause.
        cause: std::io::Error,
    },
}

/// A configured proxy, ready to run.
pub struct Proxy {
    shared: Arc<Shared>,
    registry: Arc<Registry>,
    new_index: mpsc::UnboundedReceiver<usize>,
}

impl Proxy {
    /// Validates `config` and builds the proxy with the given Produce inspector.
    pub fn new(
        config: ProxyConfig,
        inspector: Arc<dyn ProduceInspector>,
    ) -> Result<Self, ProxyError> {
        Self::with_metrics(config, inspector, Registry::default())
    }

    /// Like [`Proxy::new`], serving `registry` (with metrics already registered by the
    /// inspector and the registry client) on `/metrics` beside the proxy's own.
    pub fn with_metrics(
        config: ProxyConfig,
        inspector: Arc<dyn ProduceInspector>,
        mut registry: Registry,
    ) -> Result<Self, ProxyError> {
        config.validate()?;
        let upstream_tls = config
            .upstream_tls
            .as_ref()
            .map(UpstreamTls::load)
            .transpose()?;
        let listener_tls = config
            .listener_tls
            .clone()
            .map(ListenerTls::load)
            .transpose()?
            .map(Arc::new);
        let metrics = Metrics::register(&mut registry);
        let connector = Connector::new(
            config.connect_timeout,
            upstream_tls,
            metrics.upstream_tls_failures.clone(),
        );
        let (brokers, new_index) = BrokerMap::new(
            config.listen.port(),
            config.advertised_host.clone(),
            config.max_brokers,
        );
        let shared = Shared {
            limits: FrameLimits {
                max_frame_bytes: config.max_frame_bytes,
                stall_timeout: config.stall_timeout,
            },
            brokers,
            metrics,
            inspector,
            ready: AtomicBool::new(false),
            connection_permits: Arc::new(Semaphore::new(config.max_connections)),
            connector,
            listener_tls,
            close_log: close_log::CloseLog::default(),
            unbound: listener::Unbound::default(),
            config,
        };
        Ok(Self {
            shared: Arc::new(shared),
            registry: Arc::new(registry),
            new_index,
        })
    }

    /// Everything `/metrics` serves (for export elsewhere, e.g. over OTLP).
    pub fn metrics_registry(&self) -> Arc<Registry> {
        self.registry.clone()
    }

    /// Runs until `stop` completes, then stops accepting, lets in-flight requests finish
    /// within the grace period and returns.
    pub async fn run(mut self, stop: impl Future<Output = ()>) -> Result<(), ProxyError> {
        let shared = self.shared.clone();
        let (stop_tx, stop_rx) = watch::channel(false);
        let base = listener::bind(&shared, 0)
            .await
            .map_err(|cause| ProxyError::Bind {
                addr: shared.config.listen.to_string(),
                cause,
            })?;
        if let Some(addr) = shared.config.admin {
            self.start_admin(addr, stop_rx.clone()).await?;
        }
        let mut tasks = tokio::task::JoinSet::new();
        if let Some(tls) = &shared.listener_tls {
            let reloads = shared.metrics.tls_reloads.clone();
            let cert = tls.config().cert.clone();
            let mut stop = stop_rx.clone();
            tasks.spawn(serving::watch::run(
                tls.watched(),
                tls.config().reload_interval,
                move |outcome| {
                    match &outcome {
                        serving::Reload::Failed(e) => tracing::error!(
                            error = %e,
                            "listener TLS reload failed, keeping the previous certificate"
                        ),
                        _ => tracing::info!(cert = %cert.display(), "listener TLS certificate reloaded"),
                    }
                    let result = outcome.result();
                    reloads.get_or_create(&ReloadLabels { result }).inc();
                },
                async move {
                    let _ = stop.wait_for(|stop| *stop).await;
                },
            ));
        }
        tasks.spawn(listener::serve(shared.clone(), 0, base, stop_rx.clone()));
        discovery::refresh(&shared).await;
        tasks.spawn(discovery::run(shared.clone(), stop_rx.clone()));
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                Some(index) = self.new_index.recv() => {
                    if index == 0 {
                        continue;
                    }
                    tasks.spawn(listener::bind_until_stopped(shared.clone(), index, stop_rx.clone()));
                }
            }
        }
        tracing::info!("shutting down: no new connections, draining in-flight requests");
        let _ = stop_tx.send(true);
        while tasks.join_next().await.is_some() {}
        self.drain().await;
        Ok(())
    }

    async fn start_admin(
        &self,
        addr: SocketAddr,
        mut stop: watch::Receiver<bool>,
    ) -> Result<(), ProxyError> {
        let listener =
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|cause| ProxyError::Bind {
                    addr: addr.to_string(),
                    cause,
                })?;
        let app = admin::router(admin::AdminState {
            shared: self.shared.clone(),
            registry: self.registry.clone(),
        });
        tracing::info!(%addr, "admin http listening");
        tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stop.wait_for(|s| *s).await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "admin http failed");
            }
        });
        Ok(())
    }

    /// Waits until every connection has closed, or the grace period ends.
    async fn drain(&self) {
        let all = u32::try_from(self.shared.config.max_connections).unwrap_or(u32::MAX);
        let grace = self.shared.config.shutdown_grace;
        let permits = self.shared.connection_permits.clone();
        match tokio::time::timeout(grace, permits.acquire_many_owned(all)).await {
            Ok(_) => tracing::info!("all connections drained"),
            Err(_) => tracing::warn!(?grace, "grace period over, dropping remaining connections"),
        }
    }
}
