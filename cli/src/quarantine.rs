//! `schemagate quarantine list|show|replay`: flags and wiring; the logic is in
//! `proxy::enforce::audit`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use contract::{SchemaId, SchemaType};
use proxy::enforce::audit::recheck::Rechecker;
use proxy::enforce::audit::replay::{replay, ReplayConfig};
use proxy::enforce::audit::show::{self, ShowOptions, Which};
use proxy::enforce::audit::summary::summarize;
use proxy::enforce::audit::ReadConfig;
use proxy::policy::Policy;
use registry_client::RegistryClient;

use crate::registry_auth::RegistryAuth;

/// Flags of `schemagate quarantine`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Count quarantined records by reason, schema id and client id.
    List {
        #[command(flatten)]
        source: Source,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one record: headers and an annotated hexdump of its value.
    Show {
        #[command(flatten)]
        source: Source,
        /// Offset of the record (with --partition, default 0).
        #[arg(long, conflicts_with = "index", required_unless_present = "index")]
        offset: Option<i64>,
        /// Partition of --offset.
        #[arg(long, requires = "offset", default_value_t = 0)]
        partition: i32,
        /// The N-th record (from 0), partitions in ascending order, then offsets.
        #[arg(long)]
        index: Option<u64>,
        /// Bytes of the value to dump.
        #[arg(long, default_value_t = 64)]
        bytes: usize,
        /// Registry to ask for the schema's type, so Protobuf message indexes are labelled.
        #[arg(long, value_name = "URL")]
        registry: Option<String>,
        #[command(flatten)]
        registry_auth: RegistryAuth,
    },
    /// Re-check records against the registry as it is now and re-produce those that pass.
    Replay {
        #[command(flatten)]
        source: Source,
        /// Topic to produce passing records to.
        #[arg(long, value_name = "TOPIC")]
        to: String,
        /// Confluent-compatible Schema Registry URL.
        #[arg(long, value_name = "URL")]
        registry: String,
        #[command(flatten)]
        registry_auth: RegistryAuth,
        /// Policy file: the rule for each record's original topic decides what is checked.
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
        /// Judge and report only; produce nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Where the quarantine topic is.
#[derive(clap::Args)]
struct Source {
    /// Kafka bootstrap servers, HOST:PORT[,HOST:PORT...] (the brokers, not the proxy).
    #[arg(long, value_name = "HOST:PORT")]
    bootstrap: String,
    /// The quarantine topic.
    #[arg(long, value_name = "TOPIC")]
    topic: String,
    /// Extra librdkafka setting, KEY=VALUE (e.g. security.protocol=SASL_SSL); repeatable.
    #[arg(short = 'X', long = "kafka-config", value_name = "KEY=VALUE")]
    kafka_config: Vec<String>,
    /// Seconds to wait for metadata or the next record before giving up.
    #[arg(long, default_value_t = 30)]
    timeout_secs: u64,
}

/// Runs `schemagate quarantine`.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::List { source, json } => {
            let read = read_config(&source)?;
            let summary = summarize(&read, &source.topic).await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&summary.report(&source.topic))?
                );
            } else if summary.total() == 0 {
                println!("quarantine topic {} is empty", source.topic);
            } else {
                print!("{}", summary.table());
            }
        }
        Command::Show {
            source,
            offset,
            partition,
            index,
            bytes,
            registry,
            registry_auth,
        } => {
            let read = read_config(&source)?;
            let which = match (offset, index) {
                (Some(offset), _) => Which::Offset { partition, offset },
                (None, Some(n)) => Which::Index(n),
                (None, None) => anyhow::bail!("give --offset or --index"),
            };
            let record = show::fetch(&read, &source.topic, which).await?;
            let protobuf = match (registry, record.schema_id()) {
                (Some(url), Some(id)) => is_protobuf(&url, &registry_auth, id).await,
                _ => false,
            };
            let opts = ShowOptions { bytes, protobuf };
            print!("{}", show::render(&source.topic, &record, opts));
        }
        Command::Replay {
            source,
            to,
            registry,
            registry_auth,
            policy,
            dry_run,
            json,
        } => {
            let policy = policy.as_deref().map(Policy::load).transpose()?;
            let client = registry_client(&registry, &registry_auth)?;
            let rechecker = Rechecker::new(client, policy, &to);
            let cfg = ReplayConfig {
                read: read_config(&source)?,
                topic: source.topic.clone(),
                to,
                dry_run,
            };
            let report = replay(&cfg, &rechecker).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.text());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn read_config(source: &Source) -> anyhow::Result<ReadConfig> {
    let overrides = crate::kafka_config::parse(&source.kafka_config)?;
    Ok(ReadConfig {
        bootstrap: source.bootstrap.clone(),
        overrides,
        timeout: Duration::from_secs(source.timeout_secs.max(1)),
    })
}

fn registry_client(url: &str, auth: &RegistryAuth) -> anyhow::Result<RegistryClient> {
    RegistryClient::new(auth.config(url)?).context("registry client")
}

/// Whether schema `id` is Protobuf; a registry that cannot say only costs the labels.
async fn is_protobuf(url: &str, auth: &RegistryAuth, id: u32) -> bool {
    let schema = match registry_client(url, auth) {
        Ok(client) => client.schema(SchemaId(id)).await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    match schema {
        Ok(s) => s.schema_type == SchemaType::Protobuf,
        Err(e) => {
            tracing::warn!(id, error = %e, "cannot read the schema type; the bytes after the id are labelled as payload");
            false
        }
    }
}
