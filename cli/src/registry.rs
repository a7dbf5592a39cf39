//! `schemagate registry`: a Confluent-compatible schema registry, in memory or on Kafka.

use std::process::ExitCode;

use anyhow::Context;
use registry::{BasicAuth, HttpConfig, KafkaConfig, StoreConfig};

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
}

/// Runs `schemagate registry` until SIGTERM or Ctrl-C.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
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
    let registry = registry::open(&store).await.context("opening the store")?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    tracing::info!(listen = %listener.local_addr()?, store = %args.store, "schema registry ready");
    let cfg = HttpConfig {
        body_limit: args.max_body_bytes,
        basic_auth,
    };
    registry::serve(listener, registry, cfg, shutdown_signal()).await?;
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

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
