//! `schemagate registry`: a Confluent-compatible schema registry, in memory or on Kafka.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use registry::metrics::RegistryMetrics;
use registry::security::{JwksConfig, JwtConfig, RemoteJwksConfig};
use registry::{BasicAuth, HttpConfig, KafkaConfig, Security, SecurityConfig, StoreConfig};

use crate::listener_tls::ListenerTlsArgs;

/// Flags of `schemagate registry`.
#[derive(clap::Args)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8081", value_name = "HOST:PORT")]
    listen: String,
    /// `memory` (nothing survives a restart) or `kafka://HOST:PORT[,HOST:PORT...]`.
    #[arg(
        long,
        default_value = "memory",
        value_name = "memory|kafka://HOST:PORT"
    )]
    store: String,
    /// Kafka topic holding the schema log.
    #[arg(long, default_value = "_schemas")]
    topic: String,
    /// Replication factor used when the topic has to be created.
    #[arg(long, default_value_t = 1)]
    topic_replication: i32,
    /// librdkafka setting for the Kafka store's clients, KEY=VALUE (e.g.
    /// security.protocol=SASL_SSL): the registry's own identity; repeatable.
    #[arg(short = 'X', long = "kafka-config", value_name = "KEY=VALUE")]
    kafka_config: Vec<String>,
    /// Require HTTP basic auth on write endpoints: `user:password`, or `@FILE` holding it.
    #[arg(
        long,
        value_name = "USER:PASSWORD|@FILE",
        env = "SCHEMAGATE_REGISTRY_BASIC_AUTH"
    )]
    basic_auth: Option<String>,
    /// Largest request body accepted, in bytes.
    #[arg(long, default_value_t = registry::http::DEFAULT_BODY_LIMIT)]
    max_body_bytes: usize,
    #[command(flatten)]
    tls: ListenerTlsArgs,
    #[command(flatten)]
    security: SecurityArgs,
    /// Serve /metrics (Prometheus text) and /healthz here.
    #[arg(long, value_name = "HOST:PORT")]
    admin: Option<SocketAddr>,
}

/// Who may do what: users, bearer tokens, permissions.
#[derive(clap::Args)]
struct SecurityArgs {
    /// Basic-auth users, one `user:hash` a line (argon2 from `schemagate hash-password`, or
    /// bcrypt from `htpasswd -B`); reloaded when it changes.
    #[arg(long, value_name = "FILE")]
    credentials: Option<PathBuf>,
    /// Per-subject permissions (TOML); without it, reads are open to anyone. Reloaded when
    /// it changes.
    #[arg(long, value_name = "FILE")]
    permissions: Option<PathBuf>,
    /// Accept OAuth2 bearer JWTs signed by a key of this JWKS file (reloaded when it changes).
    #[arg(long, value_name = "FILE", conflicts_with = "jwks_url", requires_all = ["jwt_issuer", "jwt_audience"])]
    jwks_file: Option<PathBuf>,
    /// Accept OAuth2 bearer JWTs signed by a key of the JWKS at this URL (https, or http on
    /// loopback), fetched at start and every --jwks-refresh-secs.
    #[arg(long, value_name = "URL", requires_all = ["jwt_issuer", "jwt_audience"])]
    jwks_url: Option<String>,
    /// Extra PEM CA certificates for --jwks-url (the web roots are trusted too).
    #[arg(long, value_name = "PEM", requires = "jwks_url")]
    jwks_ca_file: Option<PathBuf>,
    /// Seconds between fetches of --jwks-url.
    #[arg(long, default_value_t = 300)]
    jwks_refresh_secs: u64,
    /// The `iss` every token must carry.
    #[arg(long, value_name = "ISSUER")]
    jwt_issuer: Option<String>,
    /// The `aud` every token must carry (or list).
    #[arg(long, value_name = "AUDIENCE")]
    jwt_audience: Option<String>,
    /// The token claim naming the principal.
    #[arg(long, default_value = "sub", value_name = "CLAIM")]
    jwt_principal_claim: String,
    /// A token claim listing the principal's groups (matched against the permissions file).
    #[arg(long, value_name = "CLAIM")]
    jwt_groups_claim: Option<String>,
    /// Seconds of clock skew allowed on a token's `exp` and `nbf`.
    #[arg(long, default_value_t = 30)]
    jwt_leeway_secs: u64,
    /// Seconds between checks of the credentials, permissions and JWKS files for changes.
    #[arg(long, default_value_t = 5)]
    reload_secs: u64,
}

impl SecurityArgs {
    fn config(&self, single_user: Option<BasicAuth>) -> SecurityConfig {
        let jwks = match (&self.jwks_file, &self.jwks_url) {
            (Some(path), _) => Some(JwksConfig::File(path.clone())),
            (None, Some(url)) => Some(JwksConfig::Url {
                remote: RemoteJwksConfig {
                    url: url.clone(),
                    ca_file: self.jwks_ca_file.clone(),
                    timeout: Duration::from_secs(5),
                },
                refresh: Duration::from_secs(self.jwks_refresh_secs),
            }),
            (None, None) => None,
        };
        let jwt = jwks.map(|keys| {
            let config = JwtConfig {
                issuer: self.jwt_issuer.clone().unwrap_or_default(),
                audience: self.jwt_audience.clone().unwrap_or_default(),
                principal_claim: self.jwt_principal_claim.clone(),
                groups_claim: self.jwt_groups_claim.clone(),
                leeway: Duration::from_secs(self.jwt_leeway_secs),
            };
            (config, keys)
        });
        SecurityConfig {
            single_user,
            credentials: self.credentials.clone(),
            jwt,
            permissions: self.permissions.clone(),
            reload_interval: Duration::from_secs(self.reload_secs.max(1)),
        }
    }
}

/// Runs `schemagate registry` until SIGTERM or Ctrl-C.
pub async fn run(
    args: Args,
    telemetry: &mut serving::telemetry::Telemetry,
) -> anyhow::Result<ExitCode> {
    let store = parse_store(&args)?;
    let basic_auth = match args.basic_auth.as_deref() {
        None => None,
        Some(spec) => {
            let text = match spec.strip_prefix('@') {
                Some(path) => std::fs::read_to_string(path)
                    .with_context(|| format!("reading basic-auth file {path}"))?,
                None => spec.to_string(),
            };
            Some(BasicAuth::parse(&text).context("--basic-auth must be user:password")?)
        }
    };
    let mut metrics = prometheus_client::registry::Registry::default();
    let security = Security::load(
        args.security.config(basic_auth),
        RegistryMetrics::register(&mut metrics),
    )
    .await?;
    let tls = args
        .tls
        .config()
        .map(serving::ServerTls::load)
        .transpose()?
        .map(Arc::new);
    let registry = registry::open(&store).await.context("opening the store")?;
    let http_metrics = registry::metrics::HttpMetrics::register(&mut metrics);
    registry::metrics::StateCollector::register(&mut metrics, registry.clone());
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let metrics = Arc::new(metrics);
    telemetry.export_metrics(metrics.clone())?;
    if let Some(addr) = args.admin {
        let admin = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding --admin {addr}"))?;
        let app = registry::http::admin::router(metrics);
        tokio::spawn(async move {
            if let Err(e) = axum::serve(admin, app).await {
                tracing::error!(error = %e, "admin endpoint stopped");
            }
        });
    }
    let access = match security.mode() {
        registry::security::Mode::Open => "open to anyone who can reach it",
        registry::security::Mode::WritesNeedPrincipal => "reads open, writes need a credential",
        registry::security::Mode::Permissions => {
            "every request needs a credential and a permission"
        }
    };
    tracing::info!(
        listen = %listener.local_addr()?,
        store = %args.store,
        tls = tls.is_some(),
        access,
        "schema registry ready"
    );
    let cfg = HttpConfig {
        body_limit: args.max_body_bytes,
        basic_auth: None,
        security: Some(Arc::new(security)),
        tls,
        metrics: Some(http_metrics),
    };
    registry::serve(listener, registry, cfg, serving::shutdown::signal()).await?;
    tracing::info!("schema registry stopped");
    Ok(ExitCode::SUCCESS)
}

fn parse_store(args: &Args) -> anyhow::Result<StoreConfig> {
    if args.store == "memory" {
        return Ok(StoreConfig::Memory);
    }
    let bootstrap = args
        .store
        .strip_prefix("kafka://")
        .filter(|b| !b.is_empty())
        .context("--store must be `memory` or `kafka://HOST:PORT`")?;
    Ok(StoreConfig::Kafka(KafkaConfig {
        bootstrap: bootstrap.trim_end_matches('/').to_string(),
        topic: args.topic.clone(),
        replication: args.topic_replication,
        overrides: crate::kafka_config::parse(&args.kafka_config)?,
    }))
}
