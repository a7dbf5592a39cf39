//! `schemagate proxy`: flags and wiring of the transparent Kafka proxy.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use prometheus_client::registry::Registry;
use proxy::batch::BatchLimits;
use proxy::config::{ListenerTlsConfig, UpstreamTlsConfig};
use proxy::enforce::metrics::EnforceMetrics;
use proxy::enforce::partition::Judge;
use proxy::enforce::quarantine::{QuarantineConfig, QuarantineWriter};
use proxy::enforce::sequence_store::{SequenceConfig, SequenceMetrics, SequenceStore};
use proxy::enforce::Enforcer;
use proxy::policy::Policy;
use proxy::{PassThrough, ProduceInspector, Proxy, ProxyConfig};
use registry_client::RegistryClient;

use crate::listener_tls::ListenerTlsArgs;
use crate::registry_auth::RegistryAuth;

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
    #[command(flatten)]
    tls: TlsArgs,
    #[command(flatten)]
    enforcement: EnforcementArgs,
}

/// Flags of TLS towards brokers and on the client listeners (all off by default).
#[derive(clap::Args)]
struct TlsArgs {
    /// Connect to brokers over TLS; each broker's certificate must be valid for the host it
    /// advertises (bootstrap: the --upstream host).
    #[arg(long)]
    upstream_tls: bool,
    /// PEM file of CA certificates trusted for brokers (repeatable; a bundle is fine).
    #[arg(
        long = "upstream-ca-file",
        value_name = "PEM",
        requires = "upstream_tls"
    )]
    upstream_ca_files: Vec<PathBuf>,
    /// Trust only --upstream-ca-file, not the built-in web roots.
    #[arg(long, requires = "upstream_tls")]
    upstream_no_system_roots: bool,
    /// Client certificate chain (PEM) presented to brokers (mTLS).
    #[arg(long, value_name = "PEM", requires_all = ["upstream_tls", "upstream_key"])]
    upstream_cert: Option<PathBuf>,
    /// Private key (PEM) of --upstream-cert.
    #[arg(long, value_name = "PEM", requires = "upstream_cert")]
    upstream_key: Option<PathBuf>,
    #[command(flatten)]
    listener: ListenerTlsArgs,
}

impl TlsArgs {
    fn upstream(&self) -> Option<UpstreamTlsConfig> {
        self.upstream_tls.then(|| UpstreamTlsConfig {
            ca_files: self.upstream_ca_files.clone(),
            system_roots: !self.upstream_no_system_roots,
            client_identity: self.upstream_cert.clone().zip(self.upstream_key.clone()),
        })
    }

    fn listener(&self) -> Option<ListenerTlsConfig> {
        self.listener.config()
    }
}

/// Flags of schema enforcement (all optional: without `--policy` the proxy only forwards).
#[derive(clap::Args)]
struct EnforcementArgs {
    /// Confluent-compatible Schema Registry URL.
    #[arg(long, value_name = "URL", requires = "policy")]
    registry: Option<String>,
    /// Per-topic policy file (TOML); enforcement is on when given.
    #[arg(long, value_name = "FILE", requires = "registry")]
    policy: Option<std::path::PathBuf>,
    #[command(flatten)]
    registry_auth: RegistryAuth,
    /// Milliseconds one registry request may take.
    #[arg(long, default_value_t = 2000)]
    registry_timeout_ms: u64,
    /// Most registry requests on the wire at once (cache misses for distinct ids beyond it
    /// wait for a slot; misses for one id always share one request).
    #[arg(long, default_value_t = 32, value_name = "N")]
    registry_max_in_flight: usize,
    /// How a schema id's binding to the topic's subject is checked: `subject-param` (one
    /// request, `GET /schemas/ids/{id}?subject=`, for registries that filter by it: schemagate's,
    /// recent Confluent), `id-versions` (two requests, any registry) or `auto` (one probe
    /// request at the first lookup decides).
    #[arg(long, default_value = "auto", value_name = "MODE")]
    registry_binding_check: registry_client::BindingCheck,
    /// Seconds a definitive "not found" from the registry is remembered.
    #[arg(long, default_value_t = 5)]
    negative_cache_secs: u64,
    /// Disable the schema caches (every lookup asks the registry; for benchmarks).
    #[arg(long)]
    no_schema_cache: bool,
    /// Partitions of a quarantine topic the proxy creates.
    #[arg(long, default_value_t = 1)]
    quarantine_partitions: i32,
    /// Replication factor of a quarantine topic the proxy creates (-1: broker default).
    #[arg(long, default_value_t = -1, allow_hyphen_values = true)]
    quarantine_replication: i32,
    /// Seconds a quarantine write may take before the client gets a retriable error.
    #[arg(long, default_value_t = 10)]
    quarantine_timeout_secs: u64,
    /// Seconds without a quarantine write after which the quarantine producer is closed (the
    /// next write opens a new one); 0 keeps it open. An idle librdkafka producer costs about
    /// 1% of a core through rdkafka's poll loop.
    #[arg(long, default_value_t = 60)]
    quarantine_idle_close_secs: u64,
    /// librdkafka setting for the quarantine producer, KEY=VALUE (e.g.
    /// security.protocol=SASL_SSL, sasl.username=...): its own identity; repeatable.
    #[arg(short = 'X', long = "kafka-config", value_name = "KEY=VALUE")]
    kafka_config: Vec<String>,
    /// Largest decompressed size of one record batch on an enforced topic.
    #[arg(long, default_value_t = 64 << 20)]
    max_decompressed_bytes: usize,
    /// Most records in one batch on an enforced topic.
    #[arg(long, default_value_t = 1 << 20)]
    max_batch_records: usize,
    /// Refuse a whole batch of an idempotent or transactional producer when one of its
    /// records is bad under `quarantine` (the behaviour before the sequence rewrite), instead
    /// of forwarding its good records with rewritten sequence numbers.
    #[arg(long)]
    no_sequence_rewrite: bool,
    /// The compacted topic where the proxy stores its sequence shifts (read at start).
    #[arg(long, default_value = "_schemagate_sequences")]
    sequence_topic: String,
    /// Seconds after which an unused sequence shift is forgotten: at least the brokers'
    /// producer.id.expiration.ms (a day by default).
    #[arg(long, default_value_t = 86_400)]
    producer_state_expiry_secs: u64,
    /// Most producer partitions with a sequence shift held in memory.
    #[arg(long, default_value_t = 100_000)]
    max_producer_states: usize,
}

/// Runs `schemagate proxy` until SIGTERM or Ctrl-C.
pub async fn run(
    args: Args,
    telemetry: &mut serving::telemetry::Telemetry,
) -> anyhow::Result<ExitCode> {
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
    config.upstream_tls = args.tls.upstream();
    config.listener_tls = args.tls.listener();
    let mut metrics = Registry::default();
    let inspector = enforcer(&args.enforcement, &config, &mut metrics)?;
    let proxy = Proxy::with_metrics(config, inspector, metrics)?;
    telemetry.export_metrics(proxy.metrics_registry())?;
    proxy.run(serving::shutdown::signal()).await?;
    Ok(ExitCode::SUCCESS)
}

/// The Produce inspector: the enforcer when a policy is given, else pass-through.
fn enforcer(
    a: &EnforcementArgs,
    proxy: &ProxyConfig,
    metrics: &mut Registry,
) -> anyhow::Result<Arc<dyn ProduceInspector>> {
    // Judged offline whether or not they are used, so a typo never waits for a policy.
    let settings = crate::kafka_config::parse(&a.kafka_config)?;
    let (Some(url), Some(policy_file)) = (&a.registry, &a.policy) else {
        if !settings.is_empty() {
            tracing::warn!(
                "-X settings are for the quarantine producer, which runs only with --policy"
            );
        }
        return Ok(Arc::new(PassThrough));
    };
    let policy = Policy::load(policy_file)?;
    let mut rc = a.registry_auth.config(url)?;
    rc.request_timeout = Duration::from_millis(a.registry_timeout_ms.max(1));
    rc.max_in_flight = a.registry_max_in_flight.max(1);
    rc.cache.enabled = !a.no_schema_cache;
    rc.binding_check = a.registry_binding_check;
    rc.cache.negative_ttl = Duration::from_secs(a.negative_cache_secs);
    let client = RegistryClient::new(rc).context("registry client")?;
    client.register_metrics(metrics);
    let quarantine = QuarantineWriter::new(QuarantineConfig {
        bootstrap: proxy.upstreams.join(","),
        partitions: a.quarantine_partitions.max(1),
        replication: a.quarantine_replication,
        timeout: Duration::from_secs(a.quarantine_timeout_secs.max(1)),
        overrides: quarantine_overrides(proxy, settings),
        idle_close: (a.quarantine_idle_close_secs > 0)
            .then(|| Duration::from_secs(a.quarantine_idle_close_secs)),
    })?;
    let limits = BatchLimits {
        max_decompressed_bytes: a.max_decompressed_bytes,
        max_records: a.max_batch_records,
    };
    let enforce_metrics = EnforceMetrics::register(metrics);
    let sequences = SequenceStore::new(
        SequenceConfig {
            enabled: !a.no_sequence_rewrite,
            topic: a.sequence_topic.clone(),
            expiry: Duration::from_secs(a.producer_state_expiry_secs.max(1)),
            max_producers: a.max_producer_states.max(1),
            ..SequenceConfig::default()
        },
        SequenceMetrics::register(metrics),
    );
    tracing::info!(policy = %policy_file.display(), registry = %url, "schema enforcement on");
    let judge = Judge::new(
        client,
        quarantine,
        limits,
        enforce_metrics,
        Arc::new(sequences),
    );
    let enforcer = Arc::new(Enforcer::new(policy, judge));
    tokio::spawn(enforcer.clone().maintain_sequences());
    tokio::spawn(enforcer.clone().maintain_quarantine());
    Ok(enforcer)
}

/// The quarantine producer's librdkafka settings: the proxy's upstream TLS, translated (it talks
/// to the same brokers), then every `-X KEY=VALUE`, which wins.
fn quarantine_overrides(
    proxy: &ProxyConfig,
    settings: Vec<(String, String)>,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(tls) = &proxy.upstream_tls {
        out.push(("security.protocol".to_owned(), "SSL".to_owned()));
        // librdkafka takes one CA file; with none it uses the system's store.
        if let Some(ca) = tls.ca_files.first() {
            out.push(("ssl.ca.location".to_owned(), ca.display().to_string()));
            if tls.ca_files.len() > 1 {
                tracing::warn!("the quarantine producer trusts only the first --upstream-ca-file");
            }
        }
        if let Some((cert, key)) = &tls.client_identity {
            out.push((
                "ssl.certificate.location".to_owned(),
                cert.display().to_string(),
            ));
            out.push(("ssl.key.location".to_owned(), key.display().to_string()));
        }
    }
    out.extend(settings);
    out
}
