//! The `loadgen` command line: `schemas`, `register`, `fleet` and `bench`.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use loadgen::bench::broker::BrokerKind;
use loadgen::bench::{self, path::BenchPath, path::Binaries, BenchOptions};
use loadgen::fleet::{self, FleetOptions};
use loadgen::process;
use loadgen::registry::RegistryClient;
use loadgen::render::Format;
use loadgen::version::SchemaVersion;

/// Deterministic Order event fleet and the schemagate benchmark.
#[derive(Parser)]
#[command(name = "loadgen", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print one bundled schema version (Avro .avsc or Protobuf .proto).
    Schemas {
        /// avro or protobuf.
        #[arg(long, default_value = "avro")]
        format: Format,
        /// v1..v7.
        #[arg(long = "schema-version", default_value = "v1")]
        version: SchemaVersion,
    },
    /// Register schema versions under a subject (compatibility set first) and print the ids.
    Register {
        /// Registry base URL.
        #[arg(long)]
        registry: String,
        /// Subject, e.g. orders-value.
        #[arg(long)]
        subject: String,
        /// avro or protobuf.
        #[arg(long, default_value = "avro")]
        format: Format,
        /// Versions to register, in order.
        #[arg(long, value_delimiter = ',', default_value = "v1,v2,v3,v4,v5,v6,v7")]
        versions: Vec<SchemaVersion>,
        /// Compatibility level set on the subject first.
        #[arg(long, default_value = "NONE")]
        compatibility: String,
    },
    /// Run producers and reader-pinned consumer groups against a broker or a proxy.
    Fleet {
        #[command(flatten)]
        opts: FleetOptions,
        /// Also write the summary as JSON here.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// One producer process: interleaved writer versions, prints a JSON report on stdout.
    Produce {
        /// bootstrap.servers.
        #[arg(long)]
        bootstrap: String,
        /// Topic.
        #[arg(long, default_value = "orders")]
        topic: String,
        /// avro or protobuf.
        #[arg(long, default_value = "avro")]
        format: Format,
        /// Writer versions interleaved record by record.
        #[arg(long, value_delimiter = ',', default_value = "v1")]
        writers: Vec<SchemaVersion>,
        /// Registry ids of the writer versions, same order (default: the version numbers).
        #[arg(long, value_delimiter = ',')]
        ids: Vec<u32>,
        /// Records per second (omit for flat out).
        #[arg(long)]
        rate: Option<f64>,
        /// Seconds to run (ignored with --count).
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        /// Records to send instead of a duration.
        #[arg(long)]
        count: Option<u64>,
        /// Generator seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Draw the ratio chart (PNG) of a saved `loadgen bench` report.
    BenchChart {
        /// The report JSON.
        #[arg(long)]
        from: PathBuf,
        /// The PNG (default: the JSON's path with `.png`).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Run loadgen's raw TCP relay as a process of its own (the `relay_process` bench path).
    Relay {
        /// Address to listen on.
        #[arg(long)]
        listen: std::net::SocketAddr,
        /// Address to relay to.
        #[arg(long)]
        upstream: std::net::SocketAddr,
        /// Read each request whole before forwarding it.
        #[arg(long)]
        framed: bool,
    },
    /// The evolution lab's experiments (issue 12): JSON under docs/lab/ for docs/EVOLUTION.md.
    Lab {
        #[command(subcommand)]
        experiment: LabCommand,
    },
    /// Benchmark direct, relay, proxy, proxy_validating and peer paths (and the TLS paths on
    /// Kafka), interleaved.
    Bench {
        /// Small runs that finish in under two minutes.
        #[arg(long)]
        quick: bool,
        /// Write the JSON report here.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Records per saturation run (default 2000000, 800000 with --quick).
        #[arg(long)]
        records: Option<u64>,
        /// Rounds (default 3).
        #[arg(long, default_value_t = 3)]
        rounds: u32,
        /// Paths to run.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "direct,relay,proxy,proxy_validating,peer"
        )]
        paths: Vec<String>,
        /// Seconds per half-of-saturation latency run (default 10, 2.5 with --quick; 0 skips).
        #[arg(long)]
        half_load_secs: Option<f64>,
        /// Partitions of the bench topic.
        #[arg(long, default_value_t = 1)]
        partitions: i32,
        /// Generator seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Directory for broker and proxy logs (default: a new
        /// `loadgen-bench-<time>-<pid>-0` in the system temp dir, named on stderr).
        #[arg(long)]
        log_dir: Option<PathBuf>,
        /// Skip the registry experiments (cache on/off, cold-fleet stampede).
        #[arg(long)]
        no_registry_experiments: bool,
        /// Also run the tracing-overhead experiment: proxy_validating with span export off,
        /// sampled at 1% and at 100%, interleaved, into a real collector (SCHEMAGATE_OTELCOL).
        #[arg(long)]
        tracing_overhead: bool,
        /// The broker each run starts: `tansu` (TANSU_BIN) or `kafka`, one Apache Kafka node
        /// with a TLS listener beside the plaintext one (KAFKA_CLUSTER_BIN, the tests'
        /// kafka-cluster, which needs SCHEMAGATE_KAFKA_LIBS); direct_tls and
        /// proxy_validating_tls run on kafka only, relay and peer on tansu only. The opt-in
        /// peer_kroxylicious, peer_kroxylicious_validating (KROXYLICIOUS_BIN, from
        /// `scripts/install kroxylicious`), proxy_validating_json and proxy_validating_protobuf
        /// run on either.
        /// `kafka3` is a three-node Apache Kafka cluster (KAFKA_CLUSTER_BIN) started once for
        /// the bench, each run on a fresh topic with replication factor 3 and
        /// min.insync.replicas=2 (use --partitions 12 for the issue 15 workload); relay paths
        /// get one relay per broker, schemagate maps every broker (port-per-broker).
        #[arg(long, default_value = "tansu")]
        broker: BrokerKind,
        /// Concurrent producers per run, e.g. `1,8`: each count is run in every round, the
        /// records split between the producers, their throughput summed.
        #[arg(long, value_delimiter = ',', default_value = "1")]
        producers: Vec<u32>,
    },
}

/// Where a lab experiment's broker and registry come from, and where its JSON goes.
#[derive(clap::Args)]
struct LabArgs {
    /// The experiment's committed config (TOML).
    #[arg(long)]
    config: PathBuf,
    /// Write the JSON report here (default: the config's `out`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// bootstrap.servers of a running broker (default: start a one-node Apache Kafka with
    /// KAFKA_CLUSTER_BIN).
    #[arg(long)]
    bootstrap: Option<String>,
    /// URL of a running registry (default: start `schemagate registry --store memory` with
    /// SCHEMAGATE_BIN).
    #[arg(long)]
    registry: Option<String>,
    /// Override the config's record count (smoke runs).
    #[arg(long)]
    records: Option<u64>,
    /// Directory for logs and scratch files of what the lab starts (default: a new
    /// `loadgen-lab-<time>-<pid>-0` in the system temp dir, named on stderr).
    #[arg(long)]
    log_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum LabCommand {
    /// Experiment 1: change class × compatibility mode, registry verdict against live decode.
    Matrix(LabArgs),
    /// Experiment 3: upgrade order per mode (producers first against consumers first, then the
    /// failing order through an enforcing proxy and `schemagate quarantine replay`).
    Upgrade(LabArgs),
    /// Experiment 4: mixed-version live rollout (N producers through the proxy, M consumers in
    /// groups, upgraded in batches under load per mode), with a chart per run.
    Rollout(LabArgs),
    /// Experiment 5: Avro against Protobuf (sizes through Kafka, the classes each format permits,
    /// field-number reuse against alias rename, criterion's CPU numbers).
    Formats(LabArgs),
    /// Experiment 6: historical replay (records of several writer versions interleaved in one
    /// partition, read back and decoded by one reader, against a single-version replay).
    Replay(LabArgs),
    /// Experiment 7: a breaking schema against `schemagate check`, the registry and the proxy.
    Gate(LabArgs),
}

impl LabArgs {
    /// Where the lab's parts run (given ones, or started by the lab).
    fn stack(&self) -> loadgen::lab::stack::StackOptions {
        loadgen::lab::stack::StackOptions {
            bootstrap: self.bootstrap.clone(),
            registry: self.registry.clone(),
            log_dir: log_dir_or_new(self.log_dir.clone(), "lab"),
        }
    }

    /// The config's record count, unless `--records` overrides it.
    fn records(&self, configured: u64) -> u64 {
        self.records.map_or(configured, |n| n.max(1))
    }

    /// `--out`, else the config's `out`.
    fn out(&self, configured: Option<PathBuf>) -> anyhow::Result<PathBuf> {
        self.out
            .clone()
            .or(configured)
            .context("no --out and no `out` in the config")
    }
}

/// `--log-dir`, else a new per-run directory in the system temp dir; said on stderr either way.
fn log_dir_or_new(given: Option<PathBuf>, kind: &str) -> PathBuf {
    let dir = given.unwrap_or_else(|| process::run_dir(kind));
    eprintln!("{kind}: logs and scratch files in {}", dir.display());
    dir
}

/// Runs one lab experiment and writes its JSON.
async fn lab(experiment: LabCommand) -> anyhow::Result<()> {
    use loadgen::lab;
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    match experiment {
        LabCommand::Matrix(args) => {
            let mut config = lab::matrix::MatrixConfig::load(&args.config)?;
            config.records = args.records(config.records);
            let out = args.out(config.out.clone())?;
            let report = lab::matrix::run(&config, &args.config, &args.stack(), command).await?;
            lab::write_json(&out, &report)?;
            let disagree = report.cells.iter().filter(|c| !c.agrees).count();
            eprintln!(
                "matrix: {} cells, {disagree} where verdict and live decode disagree; wrote {}",
                report.cells.len(),
                out.display()
            );
        }
        LabCommand::Upgrade(args) => {
            let mut config = lab::upgrade::UpgradeConfig::load(&args.config)?;
            config.records = args.records(config.records);
            let out = args.out(config.out.clone())?;
            let report = lab::upgrade::run(&config, &args.config, &args.stack(), command).await?;
            lab::write_json(&out, &report)?;
            for m in &report.modes {
                eprintln!(
                    "upgrade: {} ({} {}): order {}{}",
                    m.mode,
                    m.change,
                    m.change_class,
                    m.order,
                    if m.as_predicted {
                        ""
                    } else {
                        " (NOT as predicted)"
                    }
                );
            }
            eprintln!("upgrade: wrote {}", out.display());
        }
        LabCommand::Rollout(args) => {
            let config = lab::rollout::RolloutConfig::load(&args.config)?;
            let out = args.out(config.out.clone())?;
            let report =
                lab::rollout::run(&config, &args.config, &args.stack(), command, &out).await?;
            lab::write_json(&out, &report)?;
            eprintln!(
                "rollout: {} runs at {:.0} records/s; proxy {} µs/record; wrote {}",
                report.runs.len(),
                report.rate.chosen,
                report.costs.proxy_us_per_record,
                out.display()
            );
        }
        LabCommand::Formats(args) => {
            let mut config = lab::formats::FormatsConfig::load(&args.config)?;
            config.records = args.records(config.records);
            let out = args.out(config.out.clone())?;
            let report = lab::formats::run(&config, &args.config, &args.stack(), command).await?;
            lab::write_json(&out, &report)?;
            for s in report.sizes.iter().filter(|s| s.version == "v1") {
                eprintln!("formats: {} v1 mean {:.1} bytes framed", s.format, s.mean);
            }
            eprintln!(
                "formats: criterion numbers found: {}; wrote {}",
                report.cpu["found"],
                out.display()
            );
        }
        LabCommand::Replay(args) => {
            let mut config = lab::replay::ReplayConfig::load(&args.config)?;
            config.records = args.records(config.records);
            config.baseline_records = config.baseline_records.min(config.records);
            let out = args.out(config.out.clone())?;
            let report = lab::replay::run(&config, &args.config, &args.stack(), command).await?;
            lab::write_json(&out, &report)?;
            eprintln!(
                "replay: {:.2}% of {} records decoded as {}, {:.0} records/s ({:.2} of a \
                 single-version replay); wrote {}",
                report.decoded_percent,
                report.mixed.replayed.records,
                report.reader,
                report.mixed.replayed.records_per_sec,
                report.rate_vs_single,
                out.display()
            );
        }
        LabCommand::Gate(args) => {
            let mut config = lab::gate::GateConfig::load(&args.config)?;
            config.records = args.records(config.records);
            let out = args.out(config.out.clone())?;
            let report = lab::gate::run(&config, &args.config, &args.stack(), command).await?;
            lab::write_json(&out, &report)?;
            eprintln!(
                "gate: every line held: {}; wrote {}",
                report.all_held,
                out.display()
            );
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Schemas { format, version } => print!("{}", format.schema_text(version)),
        Command::Register {
            registry,
            subject,
            format,
            versions,
            compatibility,
        } => {
            let ids = RegistryClient::new(&registry)
                .register_all(&subject, format, &versions, &compatibility)
                .await?;
            for (v, id) in ids {
                println!("{v} {} id {id}", v.change());
            }
        }
        Command::Fleet { opts, out } => {
            let summary = fleet::run(&opts).await?;
            print!("{}", summary.render());
            if let Some(out) = out {
                std::fs::write(&out, serde_json::to_string_pretty(&summary)?)
                    .with_context(|| format!("writing {}", out.display()))?;
            }
        }
        Command::Produce {
            bootstrap,
            topic,
            format,
            writers,
            ids,
            rate,
            duration,
            count,
            seed,
        } => {
            let report = tokio::task::spawn_blocking(move || {
                produce_process(
                    bootstrap, topic, format, writers, ids, rate, duration, count, seed,
                )
            })
            .await??;
            println!("{report}");
        }
        Command::BenchChart { from, out } => {
            let text = std::fs::read_to_string(&from)
                .with_context(|| format!("reading {}", from.display()))?;
            let report: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("parsing {}", from.display()))?;
            let png = out.unwrap_or_else(|| from.with_extension("png"));
            bench::chart::draw_ratios(&report, &png)
                .map_err(|e| anyhow::anyhow!("drawing {}: {e}", png.display()))?;
            eprintln!("wrote {}", png.display());
        }
        Command::Relay {
            listen,
            upstream,
            framed,
        } => {
            let _relay = if framed {
                loadgen::relay::Relay::start_framed(listen, upstream).await?
            } else {
                loadgen::relay::Relay::start(listen, upstream).await?
            };
            eprintln!("relaying {listen} -> {upstream}");
            // Until killed: the bench stops it with the path.
            std::future::pending::<()>().await;
        }
        Command::Lab { experiment } => lab(experiment).await?,
        Command::Bench {
            quick,
            out,
            records,
            rounds,
            paths,
            half_load_secs,
            partitions,
            seed,
            log_dir,
            no_registry_experiments,
            tracing_overhead,
            broker,
            producers,
        } => {
            let paths = paths
                .iter()
                .map(|p| BenchPath::from_key(p).with_context(|| format!("unknown path {p:?}")))
                .collect::<anyhow::Result<Vec<_>>>()?;
            // The chosen broker's binary is required; the other is only reported.
            let tansu = process::binary_from_env("TANSU_BIN", "tansu");
            let kafka_cluster = process::binary_from_env(
                "KAFKA_CLUSTER_BIN",
                "kafka-cluster (cargo build -p schemagate-tests --bin kafka-cluster)",
            );
            let binaries = Binaries {
                tansu: match broker {
                    BrokerKind::Tansu => Some(tansu?),
                    BrokerKind::Kafka | BrokerKind::KafkaCluster => tansu.ok(),
                },
                kafka_cluster: match broker {
                    BrokerKind::Kafka | BrokerKind::KafkaCluster => Some(kafka_cluster?),
                    BrokerKind::Tansu => kafka_cluster.ok(),
                },
                schemagate: process::binary_from_env("SCHEMAGATE_BIN", "schemagate").ok(),
                kroxylicious: process::binary_from_env(
                    "KROXYLICIOUS_BIN",
                    "Kroxylicious (scripts/install kroxylicious)",
                )
                .ok(),
            };
            let default_half = if quick { 2.5 } else { 10.0 };
            let opts = BenchOptions {
                records: records.unwrap_or(if quick { 800_000 } else { 2_000_000 }),
                rounds: rounds.max(1),
                paths,
                half_load: Duration::from_secs_f64(half_load_secs.unwrap_or(default_half).max(0.0)),
                partitions,
                seed,
                binaries,
                broker,
                producers,
                shared: None,
                log_dir: log_dir_or_new(log_dir, "bench"),
                command: std::env::args().collect::<Vec<_>>().join(" "),
                registry_experiments: !no_registry_experiments,
                tracing_overhead,
            };
            let report = bench::run(&opts).await?;
            let text = serde_json::to_string_pretty(&report)?;
            match out {
                Some(out) => {
                    std::fs::write(&out, text + "\n")
                        .with_context(|| format!("writing {}", out.display()))?;
                    let png = out.with_extension("png");
                    bench::chart::draw_ratios(&report, &png)
                        .map_err(|e| anyhow::anyhow!("drawing {}: {e}", png.display()))?;
                }
                None => println!("{text}"),
            }
        }
    }
    Ok(())
}

/// `loadgen produce`: one producer, then its JSON report.
#[allow(clippy::too_many_arguments)]
fn produce_process(
    bootstrap: String,
    topic: String,
    format: Format,
    writers: Vec<SchemaVersion>,
    ids: Vec<u32>,
    rate: Option<f64>,
    duration: f64,
    count: Option<u64>,
    seed: u64,
) -> anyhow::Result<serde_json::Value> {
    use loadgen::produce::{self, Limit, ProduceSpec, ProduceStats};
    use std::sync::atomic::Ordering;
    anyhow::ensure!(!writers.is_empty(), "at least one writer version");
    anyhow::ensure!(
        ids.is_empty() || ids.len() == writers.len(),
        "--ids must match --writers"
    );
    let codec = loadgen::render::Codec::new(format)?;
    let generator = loadgen::order::OrderGenerator::new(seed);
    let framed: Vec<(SchemaVersion, contract::SchemaId)> = writers
        .iter()
        .enumerate()
        .map(|(i, v)| {
            (
                *v,
                contract::SchemaId(ids.get(i).copied().unwrap_or(v.number())),
            )
        })
        .collect();
    let spec = ProduceSpec {
        bootstrap,
        topic,
        rate,
        limit: match count {
            Some(n) => Limit::Count(n),
            None => Limit::Duration(Duration::from_secs_f64(duration.max(0.0))),
        },
        config: vec![],
    };
    let stats = ProduceStats::new(std::time::Instant::now());
    let elapsed = produce::produce(&spec, stats.clone(), |i| {
        let (version, id) = framed
            .get((i % framed.len() as u64) as usize)
            .copied()
            .unwrap_or((SchemaVersion::V1, contract::SchemaId(1)));
        std::borrow::Cow::Owned(
            codec
                .frame(&generator.order(i), version, id)
                .unwrap_or_default(),
        )
    })?;
    let delivered = stats.delivered.load(Ordering::Relaxed);
    let first = stats.first_event_us.load(Ordering::Relaxed);
    Ok(serde_json::json!({
        "delivered": delivered,
        "failed": stats.failed.load(Ordering::Relaxed),
        "errors": stats.errors(),
        "elapsed_s": elapsed.as_secs_f64(),
        "events_per_sec": delivered as f64 / elapsed.as_secs_f64().max(1e-9),
        "latency": stats.latency(),
        "first_event_ms": (first > 0).then(|| first as f64 / 1000.0),
    }))
}
