//! `loadgen bench`: one workload through every path, interleaved, each run on a fresh
//! broker; medians and spread per path, ratios from medians, schemagate's CPU per MB/s, JSON
//! for `docs/BENCHMARKS.md`.
//!
//! - [`error`]: [`BenchError`], why a run failed;
//! - [`kroxylicious`]: the Kroxylicious peer (its launcher and config);
//! - [`broker`]: the broker each run starts (tansu, or Apache Kafka with a TLS listener), or
//!   the three-node Kafka cluster the bench shares;
//! - [`producers`]: several producers in one run (records split, throughput summed);
//! - [`chart`]: the PNG of every path's ratio to direct;
//! - [`path`]: the paths and how each is stood up;
//! - [`report`]: aggregation and the JSON shape;
//! - [`registry_experiments`]: cache on/off and the cold-fleet stampede;
//! - [`registry_counter`]: the relay that counts registry requests;
//! - [`tracing_overhead`]: span export off, sampled at 1% and at 100% (opt-in).

pub mod broker;
pub mod chart;
pub mod error;
pub mod kinds;
pub mod kroxylicious;
pub mod path;
pub mod producers;
pub mod registry_counter;
pub mod registry_experiments;
pub mod report;
pub mod tracing_overhead;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use serde_json::json;

use crate::order::OrderGenerator;
use crate::process;
use crate::produce::{self, Limit, ProduceSpec, ProduceStats};
use crate::render::{wire, Codec, Format};
use crate::version::SchemaVersion;
use broker::{BrokerKind, SharedCluster};
pub use error::BenchError;
use kinds::Values;
use path::{BenchPath, Binaries, RunningPath, Validation};
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
    /// Concurrent producers per run, each its own librdkafka producer; every count is run
    /// (interleaved within each round).
    pub producers: Vec<u32>,
    /// The cluster the runs share ([`BrokerKind::shared`]), started by [`run`].
    pub shared: Option<Arc<SharedCluster>>,
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
    let mut owned = opts.clone();
    if opts.broker.shared() && opts.shared.is_none() {
        let bin = opts
            .binaries
            .kafka_cluster
            .as_deref()
            .ok_or(BenchError::Unset("KAFKA_CLUSTER_BIN"))?;
        eprintln!(
            "bench: starting the {}-node Kafka cluster",
            opts.broker.nodes()
        );
        let cluster = SharedCluster::start(bin, opts.broker, &opts.log_dir).await?;
        owned.shared = Some(Arc::new(cluster));
    }
    let opts = &owned;
    let producer_counts: Vec<u32> = match opts.producers.is_empty() {
        true => vec![1],
        false => opts.producers.iter().map(|n| (*n).max(1)).collect(),
    };
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
    let mut by_producers: BTreeMap<u32, Measurements> = BTreeMap::new();
    let mut paths = Vec::new();
    let mut not_run = BTreeMap::new();
    for &p in &opts.paths {
        match opts.binaries.unavailable(p, opts.broker) {
            Some(reason) => {
                eprintln!("bench: {p} not run: {reason}");
                not_run.insert(p, reason);
            }
            None => paths.push(p),
        }
    }
    for &n in &producer_counts {
        by_producers.entry(n).or_default().not_run = not_run.clone();
    }
    for round in 1..=opts.rounds {
        for &n in &producer_counts {
            for &p in &paths {
                let spec = Workload::Count(opts.records);
                let r = measure(opts, p, round, n, &pool, spec, Validation::default())
                    .await
                    .map_err(|e| e.during(format!("{p} round {round} producers {n}")))?;
                let cpu = r
                    .proxy_millicores_per_mb_s
                    .map(|c| format!(" proxy {c:.1} mcores per MB/s"))
                    .unwrap_or_default();
                eprintln!(
                    "bench: round {round} x{n:<2} {p:<20} {:>9.0} ev/s {:>7.1} MB/s p50 {:.2} ms p99 {:.2} ms errors {:?}{cpu}",
                    r.events_per_sec, r.mb_per_sec, r.p50_ms, r.p99_ms, r.errors
                );
                by_producers
                    .entry(n)
                    .or_default()
                    .saturation
                    .entry(p)
                    .or_default()
                    .push(r);
            }
        }
    }
    for (&n, m) in by_producers.iter_mut() {
        // Half of the slowest path's saturation, so every path has headroom at the same rate.
        let slowest = paths
            .iter()
            .filter_map(|p| m.median_eps(*p))
            .min_by(f64::total_cmp);
        let (false, Some(slowest)) = (opts.half_load.is_zero(), slowest) else {
            continue;
        };
        let rate = slowest / 2.0;
        m.half_load_rate = Some(rate);
        for round in 1..=opts.rounds {
            for &p in &paths {
                let spec = Workload::Paced(rate, opts.half_load);
                let r = measure(opts, p, round, n, &pool, spec, Validation::default())
                    .await
                    .map_err(|e| e.during(format!("{p} half-load round {round} producers {n}")))?;
                eprintln!(
                    "bench: half-load {rate:.0}/s round {round} x{n:<2} {p:<16} p50 {:.2} ms p99 {:.2} ms p999 {:.2} ms",
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
            "format": "avro v1 in the Confluent frame; proxy_validating_protobuf: the same Orders as protobuf v1 in the Confluent frame with the message-index list [0]; proxy_validating_json: the same Orders as JSON documents in the Confluent frame",
            "producers": producer_counts,
            "producers_note": "each count is run in every round; N producers are N librdkafka producers in N threads of loadgen, the run's records split evenly between them; events/s and MB/s are every producer's acknowledged records over the window from the first send to the last acknowledgement of any; p50/p99 are over every record of every producer",
            "client": format!("rdkafka {} (librdkafka {})", "0.38", rdkafka::util::get_rdkafka_version().1),
            "producer_config": "acks=all linger.ms=5 batch.num.messages=10000 compression=none",
            "partitions": opts.partitions,
            "replication_factor": opts.broker.replication(),
            "topic_configs": opts.broker.topic_configs().iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
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
    let mut counts = by_producers.iter();
    let first = counts
        .next()
        .map(|(_, m)| m.to_json(context.clone()))
        .unwrap_or(context);
    let mut report = first;
    if by_producers.len() > 1 {
        let each: serde_json::Map<String, serde_json::Value> = by_producers
            .iter()
            .map(|(n, m)| (n.to_string(), m.to_json(json!({"producers": n}))))
            .collect();
        if let Some(o) = report.as_object_mut() {
            o.insert("by_producers".into(), serde_json::Value::Object(each));
        }
    }
    Ok(report)
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
#[allow(clippy::too_many_arguments)]
pub async fn measure(
    opts: &BenchOptions,
    path: BenchPath,
    round: u32,
    producers: u32,
    pool: &[Vec<u8>],
    workload: Workload,
    validation: Validation,
) -> Result<RunResult, BenchError> {
    let running = path::start(
        path,
        &opts.binaries,
        opts.broker,
        opts.shared.as_deref(),
        &opts.log_dir,
        validation,
    )
    .await?;
    create_topic(&running, opts.partitions, opts.broker).await?;
    if opts.broker.shared() {
        // Not timed: every partition led and fully in sync before the first send.
        let (bootstrap, topic) = (running.broker_bootstrap(), running.topic.clone());
        let (partitions, replicas) = (opts.partitions, opts.broker.replication());
        tokio::task::spawn_blocking(move || {
            wait_topic_ready(&bootstrap, &topic, partitions, replicas)
        })
        .await??;
    }
    let records = match path.values() {
        Values::Json => {
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
        }
        Values::Protobuf => protobuf_pool(opts.seed, running.schema_id)?,
        Values::Avro => {
            let mut records = pool.to_vec();
            for r in &mut records {
                wire::set_schema_id(r, running.schema_id);
            }
            records
        }
    };
    let producers = producers.max(1);
    let limits: Vec<Limit> = match workload {
        Workload::Count(n) => producers::split_count(n, producers)
            .into_iter()
            .map(Limit::Count)
            .collect(),
        Workload::Paced(_, d) => vec![Limit::Duration(d); producers as usize],
    };
    let rate = match workload {
        Workload::Count(_) => None,
        Workload::Paced(rate, _) => Some(rate / f64::from(producers)),
    };
    let cpu_before = running.proxy_pid.and_then(process::cpu_seconds);
    let wall = Instant::now();
    // One set of counters for every producer: deliveries, bytes and latencies add up.
    let stats = ProduceStats::new(Instant::now());
    let records = Arc::new(records);
    let bad_every = path.bad_every();
    let mut threads = Vec::with_capacity(limits.len());
    for (k, limit) in limits.into_iter().enumerate() {
        let spec = ProduceSpec {
            bootstrap: running.bootstrap.clone(),
            topic: running.topic.clone(),
            rate,
            limit,
            config: running.client_config.clone(),
        };
        let (producer_stats, records, common) = (stats.clone(), records.clone(), wall);
        // Each producer starts at another place in the pool.
        let shift = k as u64 * 131;
        threads.push(tokio::task::spawn_blocking(move || {
            let n = records.len() as u64;
            let elapsed = produce::produce(&spec, producer_stats, |i| match bad_every {
                // An unframed value (no magic byte): the proxy quarantines it.
                Some(b) if i % b == b - 1 => Cow::Borrowed(BAD_RECORD),
                _ => Cow::Borrowed(
                    records
                        .get(((i + shift) % n.max(1)) as usize)
                        .map(Vec::as_slice)
                        .unwrap_or(&[]),
                ),
            })?;
            Ok::<_, KafkaError>((common.elapsed(), elapsed))
        }));
    }
    let mut spans = Vec::with_capacity(threads.len());
    for t in threads {
        spans.push(t.await??);
    }
    let elapsed = producers::window(&spans);
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
    let relay_bytes = running.relay_bytes();
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
    if opts.broker.shared() {
        // The shared cluster keeps no run's records: the topic goes with its run.
        delete_topic(&running.broker_bootstrap(), &running.topic).await;
    }
    drop(running);
    Ok(RunResult {
        round,
        producers,
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

/// The records of the Protobuf path: the same Orders as the Avro pool (`seed`, indexes
/// `0..POOL_SIZE`), each the v1 `Order` message in the Confluent frame with the message-index
/// list `[0]` (the file's first message), tagged with `id`, as a Protobuf serializer writes them.
pub fn protobuf_pool(seed: u64, id: contract::SchemaId) -> Result<Vec<Vec<u8>>, BenchError> {
    let codec = Codec::new(Format::Protobuf)?;
    let generator = OrderGenerator::new(seed);
    (0..POOL_SIZE)
        .map(|i| Ok(codec.frame(&generator.order(i), SchemaVersion::V1, id)?))
        .collect()
}

/// Creates the run's topic through the path itself (so a broken path fails here, loudly), with
/// the broker's replication factor and topic configs.
pub async fn create_topic(
    running: &RunningPath,
    partitions: i32,
    broker: BrokerKind,
) -> Result<(), BenchError> {
    create_topic_at(
        &running.bootstrap,
        &running.client_config,
        &running.topic,
        partitions,
        broker,
    )
    .await
}

/// Creates `topic` through `bootstrap`, with extra librdkafka `settings`.
pub async fn create_topic_at(
    bootstrap: &str,
    settings: &[(String, String)],
    topic: &str,
    partitions: i32,
    broker: BrokerKind,
) -> Result<(), BenchError> {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap);
    for (k, v) in settings {
        config.set(k, v);
    }
    let admin: AdminClient<DefaultClientContext> = config.create()?;
    let mut topic = NewTopic::new(
        topic,
        partitions,
        TopicReplication::Fixed(broker.replication()),
    );
    for (k, v) in broker.topic_configs() {
        topic = topic.set(k, v);
    }
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = admin.create_topics([&topic], &opts).await?;
    for r in results {
        r.map_err(|(topic, code)| BenchError::CreateTopic { topic, code })?;
    }
    Ok(())
}

/// How long a new topic gets to have a leader and a full ISR on every partition.
const TOPIC_READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Waits until every one of `partitions` partitions of `topic` has a leader and `replicas`
/// in-sync replicas, as the brokers at `bootstrap` report it.
pub fn wait_topic_ready(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    replicas: i32,
) -> Result<(), BenchError> {
    use rdkafka::producer::{BaseProducer, Producer as _};
    let client: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    let deadline = Instant::now() + TOPIC_READY_TIMEOUT;
    let mut seen = String::from("no metadata yet");
    while Instant::now() < deadline {
        if let Ok(md) = client
            .client()
            .fetch_metadata(Some(topic), Duration::from_secs(5))
        {
            let ready = md.topics().iter().find(|t| t.name() == topic).map(|t| {
                let good = t
                    .partitions()
                    .iter()
                    .filter(|p| p.leader() >= 0 && p.isr().len() == replicas as usize)
                    .count();
                (good, t.partitions().len())
            });
            match ready {
                Some((good, all)) if all == partitions as usize && good == all => return Ok(()),
                Some((good, all)) => seen = format!("{good} of {all} partitions ready"),
                None => seen = "topic not in metadata".into(),
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(BenchError::TopicNotReady {
        topic: topic.to_string(),
        seen,
    })
}

/// Deletes `topic` through `bootstrap` (the broker's own listeners); a failure is reported on
/// stderr and otherwise ignored: the run is measured, and the topic only takes disk.
pub async fn delete_topic(bootstrap: &str, topic: &str) {
    let admin: Result<AdminClient<DefaultClientContext>, _> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let outcome = match admin {
        Ok(admin) => admin.delete_topics(&[topic], &opts).await.map(|_| ()),
        Err(e) => Err(e),
    };
    if let Err(e) = outcome {
        eprintln!("bench: deleting topic {topic}: {e}");
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use contract::wire::{MessageIndexes, WireFrame};
    use contract::SchemaId;
    use prost_reflect::Value;

    #[test]
    fn protobuf_pool_is_the_same_orders_framed_with_the_first_message_index() {
        let pool = protobuf_pool(7, SchemaId(42)).unwrap();
        assert_eq!(pool.len() as u64, POOL_SIZE);
        let schemas = crate::render::protobuf::ProtobufSchemas::load().unwrap();
        let generator = OrderGenerator::new(7);
        for (i, record) in pool.iter().enumerate() {
            let frame = WireFrame::decode(record).unwrap();
            assert_eq!(frame.schema_id, SchemaId(42));
            let (indexes, body) = MessageIndexes::decode(frame.body).unwrap();
            assert_eq!(indexes, MessageIndexes::FIRST, "record {i}");
            let message = schemas.decode(body, SchemaVersion::V1).unwrap();
            let order = generator.order(i as u64);
            let field = |name: &str| message.get_field_by_name(name).unwrap().into_owned();
            assert_eq!(field("order_id"), Value::String(order.order_id.clone()));
            assert_eq!(field("amount_cents"), Value::I64(order.amount_cents));
            let items = field("items");
            assert_eq!(items.as_list().map(<[Value]>::len), Some(order.items.len()));
        }
        // The pool's records are Protobuf, not the Avro pool's bytes under another id.
        let avro = Codec::new(Format::Avro).unwrap();
        let avro_first = avro
            .frame(&generator.order(0), SchemaVersion::V1, SchemaId(42))
            .unwrap();
        assert_ne!(pool[0], avro_first);
    }
}
