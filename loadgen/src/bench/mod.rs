//! `loadgen bench`: one workload through every path, interleaved, each run on a fresh
//! broker; medians and spread per path, ratios from medians, schemagate's CPU per MB/s, JSON
//! for `docs/BENCHMARKS.md`.
//!
//! - [`error`]: [`BenchError`], why a run failed;
//! - [`kroxylicious`]: the Kroxylicious peer (its launcher and config);
//! - [`broker`]: the broker each run starts (tansu, or Apache Kafka with a TLS listener);
//! - [`path`]: the paths and how each is stood up;
//! - [`report`]: aggregation and the JSON shape;
//! - [`registry_experiments`]: cache on/off and the cold-fleet stampede;
//! - [`registry_counter`]: the relay that counts registry requests;
//! - [`tracing_overhead`]: span export off, sampled at 1% and at 100% (opt-in).

pub mod broker;
pub mod error;
pub mod kroxylicious;
pub mod path;
pub mod registry_counter;
pub mod registry_experiments;
pub mod report;
pub mod tracing_overhead;

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use serde_json::json;

use crate::order::OrderGenerator;
use crate::process;
use crate::produce::{self, Limit, ProduceSpec, ProduceStats};
use crate::render::{wire, Codec, Format};
use crate::version::SchemaVersion;
use broker::BrokerKind;
pub use error::BenchError;
use path::{BenchPath, Binaries, RunningPath, Validation, TOPIC};
use report::{Measurements, RunResult};

/// Least CPU time of schemagate's worth reporting per run: ten 10 ms clock ticks of
/// `/proc/<pid>/stat`, below which one tick is more than a tenth of the figure.
const MIN_PROXY_CPU_SECONDS: f64 = 0.1;

/// The bad record of the idempotent paths: not in the Confluent frame.
const BAD_RECORD: &[u8] = b"{\"not\": \"a framed record\"}";

/// Distinct records cycled through by the bench producer (generated before timing starts).
const POOL_SIZE: u64 = 1024;

/// What `loadgen bench` runs.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Records per saturation run.
    pub records: u64,
    /// Rounds (each path once per round, interleaved).
    pub rounds: u32,
    /// Paths to run, in interleaving order.
    pub paths: Vec<BenchPath>,
    /// Length of each half-of-saturation latency run (zero skips the phase).
    pub half_load: Duration,
    /// Partitions of the bench topic.
    pub partitions: i32,
    /// Generator seed.
    pub seed: u64,
    /// Binaries for broker, peer and schemagate.
    pub binaries: Binaries,
    /// The broker every run starts.
    pub broker: BrokerKind,
    /// Where process logs go.
    pub log_dir: PathBuf,
    /// The command line, recorded in the JSON.
    pub command: String,
    /// Run the registry experiments (cache on/off, stampede) after the paths.
    pub registry_experiments: bool,
    /// Run the tracing-overhead experiment after the paths.
    pub tracing_overhead: bool,
}

/// Runs the bench and returns the report JSON.
pub async fn run(opts: &BenchOptions) -> Result<serde_json::Value, BenchError> {
    let started = Instant::now();
    let codec = Codec::new(Format::Avro)?;
    let generator = OrderGenerator::new(opts.seed);
    let pool: Vec<Vec<u8>> = (0..POOL_SIZE)
        .map(|i| {
            codec.frame(
                &generator.order(i),
                SchemaVersion::V1,
                contract::SchemaId(1),
            )
        })
        .collect::<Result<_, _>>()?;
    let mut m = Measurements::default();
    let mut paths = Vec::new();
    for &p in &opts.paths {
        match opts.binaries.unavailable(p, opts.broker) {
            Some(reason) => {
                eprintln!("bench: {p} not run: {reason}");
                m.not_run.insert(p, reason);
            }
            None => paths.push(p),
        }
    }
    for round in 1..=opts.rounds {
        for &p in &paths {
            let spec = Workload::Count(opts.records);
            let r = measure(opts, p, round, &pool, spec, Validation::default())
                .await
                .map_err(|e| e.during(format!("{p} round {round}")))?;
            let cpu = r
                .proxy_millicores_per_mb_s
                .map(|c| format!(" proxy {c:.1} mcores per MB/s"))
                .unwrap_or_default();
            eprintln!(
                "bench: round {round} {p:<20} {:>9.0} ev/s {:>7.1} MB/s p50 {:.2} ms p99 {:.2} ms errors {:?}{cpu}",
                r.events_per_sec, r.mb_per_sec, r.p50_ms, r.p99_ms, r.errors
            );
            m.saturation.entry(p).or_default().push(r);
        }
    }
    // Half of the slowest path's saturation, so every path has headroom at the same rate.
    let slowest = paths
        .iter()
        .filter_map(|p| m.median_eps(*p))
        .min_by(f64::total_cmp);
    if let (false, Some(slowest)) = (opts.half_load.is_zero(), slowest) {
        let rate = slowest / 2.0;
        m.half_load_rate = Some(rate);
        for round in 1..=opts.rounds {
            for &p in &paths {
                let spec = Workload::Paced(rate, opts.half_load);
                let r = measure(opts, p, round, &pool, spec, Validation::default())
                    .await
                    .map_err(|e| e.during(format!("{p} half-load round {round}")))?;
                eprintln!(
                    "bench: half-load {rate:.0}/s round {round} {p:<16} p50 {:.2} ms p99 {:.2} ms p999 {:.2} ms",
                    r.p50_ms, r.p99_ms, r.p999_ms
                );
                m.half_load.entry(p).or_default().push(r);
            }
        }
    }
    let registry = if opts.registry_experiments {
        registry_experiments::run(opts, &pool).await
    } else {
        let skipped = json!({ "status": "not_run", "reason": "--no-registry-experiments" });
        json!({ "cache_on_vs_off": skipped, "cold_fleet_stampede": skipped })
    };
    let tracing = if opts.tracing_overhead {
        tracing_overhead::run(opts, &pool).await
    } else {
        json!({ "status": "not_run", "reason": "no --tracing-overhead" })
    };
    let context = json!({
        "machine": machine(),
        "workload": {
            "records_per_run": opts.records,
            "record_value_bytes": crate::order::TARGET_FRAMED_LEN,
            "format": "avro v1 in the Confluent frame",
            "producers": 1,
            "client": format!("rdkafka {} (librdkafka {})", "0.38", rdkafka::util::get_rdkafka_version().1),
            "producer_config": "acks=all linger.ms=5 batch.num.messages=10000 compression=none",
            "partitions": opts.partitions,
            "rounds": opts.rounds,
            "half_load_seconds": opts.half_load.as_secs_f64(),
            "half_load_rate": "half of the slowest path's median saturation events/s",
            "broker": opts.broker.describe(),
            "proxy_cpu": "schemagate's user+system CPU from /proc/<pid>/stat over the produce phase: millicores = 1000 × CPU s / wall s; per MB/s = 1000 × CPU s / MB acknowledged",
            "proxy_rss": "the proxy process's peak resident set (VmHWM of /proc/<pid>/status) at the end of each run, MB",
            "peer_kroxylicious": "Kroxylicious 0.12.0 (runtime and Record Validation filter from Maven Central, JVM defaults, port-per-broker); proxy_* CPU and RSS on its paths are its JVM's; peer_kroxylicious_validating sends the same Orders as unframed JSON, validated against the Order JSON Schema (Apicurio global id 1)",
        },
        "command": opts.command,
        "binaries": {
            "tansu": opts.binaries.tansu.as_ref().map(|p| p.display().to_string()),
            "kafka_cluster": opts.binaries.kafka_cluster.as_ref().map(|p| p.display().to_string()),
            "schemagate": opts.binaries.schemagate.as_ref().map(|p| p.display().to_string()),
            "kroxylicious": opts.binaries.kroxylicious.as_ref().map(|p| p.display().to_string()),
        },
        "wall_seconds": report::round3(started.elapsed().as_secs_f64()),
        "registry_experiments": registry,
        "tracing_overhead": tracing,
    });
    Ok(m.to_json(context))
}

/// How much one run sends.
#[derive(Debug, Clone, Copy)]
pub enum Workload {
    /// This many records, flat out.
    Count(u64),
    /// This rate, for this long.
    Paced(f64, Duration),
}

/// One run: fresh broker, path up, topic created, producer timed, everything torn down.
pub async fn measure(
    opts: &BenchOptions,
    path: BenchPath,
    round: u32,
    pool: &[Vec<u8>],
    workload: Workload,
    validation: Validation,
) -> Result<RunResult, BenchError> {
    let running = path::start(path, &opts.binaries, opts.broker, &opts.log_dir, validation).await?;
    create_topic(&running, opts.partitions).await?;
    let records = if path.values_are_json() {
        let generator = OrderGenerator::new(opts.seed);
        (0..POOL_SIZE)
            .map(|i| kroxylicious::order_json(&generator.order(i)))
            .map(|json| match path.runs_schemagate() {
                // The Confluent frame a JSON Schema serializer writes: magic, id, document.
                true => contract::wire::WireFrame {
                    schema_id: running.schema_id,
                    body: &json,
                }
                .to_bytes(),
                false => json,
            })
            .collect()
    } else {
        let mut records = pool.to_vec();
        for r in &mut records {
            wire::set_schema_id(r, running.schema_id);
        }
        records
    };
    let spec = ProduceSpec {
        bootstrap: running.bootstrap.clone(),
        topic: TOPIC.into(),
        rate: match workload {
            Workload::Count(_) => None,
            Workload::Paced(rate, _) => Some(rate),
        },
        limit: match workload {
            Workload::Count(n) => Limit::Count(n),
            Workload::Paced(_, d) => Limit::Duration(d),
        },
        config: running.client_config.clone(),
    };
    let cpu_before = running.proxy_pid.and_then(process::cpu_seconds);
    let wall = Instant::now();
    let stats = ProduceStats::new(Instant::now());
    let producer_stats = stats.clone();
    let records = Arc::new(records);
    let bad_every = path.bad_every();
    let elapsed = tokio::task::spawn_blocking(move || {
        let n = records.len() as u64;
        produce::produce(&spec, producer_stats, |i| match bad_every {
            // An unframed value (no magic byte): the proxy quarantines it.
            Some(k) if i % k == k - 1 => Cow::Borrowed(BAD_RECORD),
            _ => Cow::Borrowed(
                records
                    .get((i % n) as usize)
                    .map(Vec::as_slice)
                    .unwrap_or(&[]),
            ),
        })
    })
    .await??;
    let wall = wall.elapsed().as_secs_f64().max(1e-9);
    let cpu = running
        .proxy_pid
        .and_then(process::cpu_seconds)
        .zip(cpu_before)
        .map(|(after, before)| after - before)
        .filter(|used| *used >= MIN_PROXY_CPU_SECONDS);
    let delivered = stats.delivered.load(std::sync::atomic::Ordering::Relaxed);
    let bytes = stats
        .delivered_bytes
        .load(std::sync::atomic::Ordering::Relaxed);
    let secs = elapsed.as_secs_f64().max(1e-9);
    let latency = stats.latency();
    let megabytes = bytes as f64 / 1e6;
    let relay_bytes = running.relay.as_ref().map(|r| r.bytes_copied());
    let registry_requests = running.registry.as_ref().map(|r| r.requests());
    let peak_rss = running.proxy_pid.and_then(kroxylicious::peak_rss_mb);
    if let Some(doc) = &running.schema_document {
        // The filter resolves the schema on the first batch: a run that never asked for it
        // validated nothing.
        if doc.requests() == 0 && delivered > 0 {
            return Err(BenchError::SchemaNeverFetched {
                path,
                url: doc.url(),
            });
        }
    }
    drop(running);
    Ok(RunResult {
        round,
        records: delivered,
        elapsed_s: report::round3(secs),
        events_per_sec: report::round3(delivered as f64 / secs),
        mb_per_sec: report::round3(bytes as f64 / secs / 1e6),
        p50_ms: latency.p50_ms,
        p99_ms: latency.p99_ms,
        p999_ms: latency.p999_ms,
        errors: stats.errors(),
        relay_bytes,
        registry_requests,
        proxy_millicores: cpu.map(|c| report::round3(1000.0 * c / wall)),
        proxy_millicores_per_mb_s: cpu
            .filter(|_| megabytes > 0.0)
            .map(|c| report::round3(1000.0 * c / megabytes)),
        proxy_peak_rss_mb: peak_rss.map(report::round3),
        proxy_cpu_us_per_record: cpu
            .filter(|_| delivered > 0)
            .map(|c| report::round3(1e6 * c / delivered as f64)),
    })
}

/// Creates the bench topic through the path itself (so a broken path fails here, loudly).
pub async fn create_topic(running: &RunningPath, partitions: i32) -> Result<(), BenchError> {
    create_topic_at(&running.bootstrap, &running.client_config, partitions).await
}

/// Creates the bench topic through `bootstrap`, with extra librdkafka `settings`.
pub async fn create_topic_at(
    bootstrap: &str,
    settings: &[(String, String)],
    partitions: i32,
) -> Result<(), BenchError> {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap);
    for (k, v) in settings {
        config.set(k, v);
    }
    let admin: AdminClient<DefaultClientContext> = config.create()?;
    let topic = NewTopic::new(TOPIC, partitions, TopicReplication::Fixed(1));
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = admin.create_topics([&topic], &opts).await?;
    for r in results {
        r.map_err(|(topic, code)| BenchError::CreateTopic { topic, code })?;
    }
    Ok(())
}

/// `nproc` and the CPU model, as `lscpu` would show them.
pub fn machine() -> String {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .next()
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_string())
        })
        .and_then(|kb| kb.parse::<u64>().ok())
        .map(|kb| format!(", {} GiB RAM", kb / 1024 / 1024))
        .unwrap_or_default();
    format!("{cpus} CPUs (nproc), {model}{mem}, shared by broker, proxy and loadgen")
}
