//! `loadgen fleet`: N producers interleaving writer versions on one topic, and consumers in
//! several groups, each group pinned to a reader version, with a live progress bar and a
//! final [`summary::FleetSummary`].
//!
//! - [`consumer`]: one decoding consumer and its counters;
//! - [`metrics`]: the Prometheus metrics served on `--metrics-addr`;
//! - [`summary`]: the summary and its rendering.

pub mod consumer;
pub mod metrics;
pub mod summary;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use contract::SchemaId;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

use crate::order::OrderGenerator;
use crate::produce::{self, Limit, ProduceSpec, ProduceStats};
use crate::registry::RegistryClient;
use crate::render::{Codec, Format, RenderError};
use crate::version::SchemaVersion;
use consumer::{ConsumerHandle, ConsumerSpec, ConsumerStats};
use metrics::{FleetMetrics, LagLabels, ReaderLabels};
use summary::{ConsumerSummary, FleetSummary, LagSample};

/// Why the fleet could not run.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// The options ask for something the fleet cannot do.
    #[error("{0}")]
    Options(&'static str),
    /// The writer versions could not be registered.
    #[error("registering schemas")]
    Registry(#[from] crate::registry::RegistryError),
    /// The Kafka admin client failed.
    #[error("kafka admin client")]
    Kafka(#[from] KafkaError),
    /// The broker refused to create the topic.
    #[error("creating topic {topic}: {code}")]
    Topic {
        /// The topic.
        topic: String,
        /// The broker's error code.
        code: RDKafkaErrorCode,
    },
    /// The schemas could not be loaded for encoding.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// The metrics listener could not bind.
    #[error("metrics listener on {addr}")]
    Metrics {
        /// The address asked for.
        addr: SocketAddr,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
}

/// How long consumers may trail after producers stop before the fleet gives up on them.
const DRAIN_GRACE: Duration = Duration::from_secs(20);

/// What `loadgen fleet` runs (its command-line arguments, less `--out`).
#[derive(Debug, Clone, clap::Args)]
pub struct FleetOptions {
    /// bootstrap.servers: the broker directly, or schemagate in front of it.
    #[arg(long)]
    pub bootstrap: String,
    /// Registry URL to register the versions in (ids = version numbers without one).
    #[arg(long)]
    pub registry: Option<String>,
    /// avro or protobuf.
    #[arg(long, default_value = "avro")]
    pub format: Format,
    /// Topic.
    #[arg(long, default_value = "orders")]
    pub topic: String,
    /// Partitions if the topic is created.
    #[arg(long, default_value_t = 3)]
    pub partitions: i32,
    /// Producer tasks.
    #[arg(long, default_value_t = 2)]
    pub producers: u32,
    /// Writer versions interleaved on every producer.
    #[arg(long, value_delimiter = ',', default_value = "v1,v2,v6")]
    pub writers: Vec<SchemaVersion>,
    /// Reader versions: one consumer group each (at least two).
    #[arg(long, value_delimiter = ',', default_value = "v1,v7")]
    pub readers: Vec<SchemaVersion>,
    /// Consumers per group.
    #[arg(long, default_value_t = 1)]
    pub consumers_per_group: u32,
    /// Total records per second (omit for flat out).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Seconds producers run.
    #[arg(long, default_value = "10", value_parser = seconds)]
    pub duration: Duration,
    /// Generator seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Serve the consumers' Prometheus metrics on GET /metrics here while the fleet runs
    /// (e.g. 127.0.0.1:9645; port 0 picks one, printed on stderr).
    #[arg(long)]
    pub metrics_addr: Option<SocketAddr>,
}

/// `--duration`: whole seconds.
fn seconds(text: &str) -> Result<Duration, std::num::ParseIntError> {
    text.parse().map(Duration::from_secs)
}

/// Resolves schema ids: registered in the registry (compatibility NONE on the subject, so every
/// class registers), or the version numbers when there is no registry.
async fn schema_ids(opts: &FleetOptions) -> Result<BTreeMap<SchemaVersion, SchemaId>, FleetError> {
    let mut versions: Vec<SchemaVersion> =
        opts.writers.iter().chain(&opts.readers).copied().collect();
    versions.sort();
    versions.dedup();
    match &opts.registry {
        Some(url) => {
            let subject = format!("{}-value", opts.topic);
            Ok(RegistryClient::new(url)
                .register_all(&subject, opts.format, &versions, "NONE")
                .await?)
        }
        None => Ok(versions
            .into_iter()
            .map(|v| (v, SchemaId(v.number())))
            .collect()),
    }
}

async fn ensure_topic(opts: &FleetOptions) -> Result<(), FleetError> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &opts.bootstrap)
        .create()?;
    let topic = NewTopic::new(&opts.topic, opts.partitions, TopicReplication::Fixed(1));
    let admin_opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for r in admin.create_topics([&topic], &admin_opts).await? {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => return Err(FleetError::Topic { topic, code }),
        }
    }
    Ok(())
}

/// Runs the fleet and returns its summary.
pub async fn run(opts: &FleetOptions) -> Result<FleetSummary, FleetError> {
    if opts.writers.is_empty() {
        return Err(FleetError::Options("at least one writer version"));
    }
    if opts.readers.len() < 2 {
        return Err(FleetError::Options(
            "at least two reader versions (consumer groups)",
        ));
    }
    let mut registry = prometheus_client::registry::Registry::default();
    let fleet_metrics = FleetMetrics::register(&mut registry);
    if let Some(addr) = opts.metrics_addr {
        let bound = metrics::serve(addr, Arc::new(registry))
            .await
            .map_err(|source| FleetError::Metrics { addr, source })?;
        eprintln!("serving metrics on http://{bound}/metrics");
    }
    let subject = format!("{}-value", opts.topic);
    let ids = schema_ids(opts).await?;
    ensure_topic(opts).await?;
    let codec = Arc::new(Codec::new(opts.format)?);
    let writers_by_id: HashMap<SchemaId, SchemaVersion> =
        ids.iter().map(|(v, id)| (*id, *v)).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);

    let mut consumers = Vec::new();
    let mut threads = Vec::new();
    for reader in &opts.readers {
        let group = format!("loadgen-{reader}-{nonce}");
        fleet_metrics
            .readers
            .get_or_create(&ReaderLabels {
                group: group.clone(),
                subject: subject.clone(),
                reader_version: reader.to_string(),
            })
            .set(1);
        for member in 0..opts.consumers_per_group {
            let handle = ConsumerHandle {
                label: format!("{group}/{member}"),
                group: group.clone(),
                reader: *reader,
                stats: Arc::new(ConsumerStats::default()),
            };
            let spec = ConsumerSpec {
                bootstrap: opts.bootstrap.clone(),
                topic: opts.topic.clone(),
                group: group.clone(),
                reader: *reader,
                writers: writers_by_id.clone(),
                subject: subject.clone(),
                metrics: fleet_metrics.clone(),
            };
            let (codec, stats, stop) = (codec.clone(), handle.stats.clone(), stop.clone());
            threads.push(std::thread::spawn(move || {
                consumer::run(&spec, &codec, &stats, &stop)
            }));
            consumers.push(handle);
        }
    }

    let start = Instant::now();
    let produced_by_writer: Arc<Vec<AtomicU64>> =
        Arc::new(opts.writers.iter().map(|_| AtomicU64::new(0)).collect());
    let mut producers = Vec::new();
    for p in 0..opts.producers {
        let stats = ProduceStats::new(Instant::now());
        let spec = ProduceSpec {
            bootstrap: opts.bootstrap.clone(),
            topic: opts.topic.clone(),
            rate: opts.rate.map(|r| r / f64::from(opts.producers.max(1))),
            limit: Limit::Duration(opts.duration),
            config: vec![],
        };
        let generator = OrderGenerator::new(opts.seed);
        let (codec, ids, writers, by_writer) = (
            codec.clone(),
            ids.clone(),
            opts.writers.clone(),
            produced_by_writer.clone(),
        );
        let n = u64::from(opts.producers.max(1));
        let thread_stats = stats.clone();
        let thread = std::thread::spawn(move || {
            produce::produce(&spec, thread_stats, |i| {
                let slot = (i % writers.len() as u64) as usize;
                let version = writers.get(slot).copied().unwrap_or(SchemaVersion::V1);
                let id = ids.get(&version).copied().unwrap_or(SchemaId(0));
                if let Some(c) = by_writer.get(slot) {
                    c.fetch_add(1, Ordering::Relaxed);
                }
                Cow::Owned(
                    codec
                        .frame(&generator.order(i * n + u64::from(p)), version, id)
                        .unwrap_or_default(),
                )
            })
        });
        producers.push((stats, thread));
    }

    let bar = indicatif::ProgressBar::new(opts.duration.as_secs().max(1));
    bar.set_style(
        indicatif::ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len}s {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let delivered = |ps: &[(Arc<ProduceStats>, _)]| -> u64 {
        ps.iter()
            .map(|(s, _)| s.delivered.load(Ordering::Relaxed))
            .sum()
    };
    let mut lag = Vec::new();
    let mut last_sample = Instant::now() - Duration::from_secs(1);
    let mut drain_started: Option<Instant> = None;
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let acked = delivered(&producers);
        let groups = group_consumed(&consumers);
        publish_lag(&fleet_metrics, &consumers, &opts.topic);
        let producing = producers.iter().any(|(_, t)| !t.is_finished());
        if last_sample.elapsed() >= Duration::from_secs(1) {
            last_sample = Instant::now();
            lag.push(LagSample {
                t_s: crate::bench::report::round3(start.elapsed().as_secs_f64()),
                lag: groups
                    .iter()
                    .map(|(g, c)| (g.clone(), acked as i64 - *c as i64))
                    .collect(),
            });
        }
        bar.set_position(start.elapsed().as_secs().min(opts.duration.as_secs()));
        bar.set_message(format!(
            "acked {acked} ({:.0}/s)  consumed {:?}",
            acked as f64 / start.elapsed().as_secs_f64().max(1e-3),
            groups.values().collect::<Vec<_>>()
        ));
        if producing {
            continue;
        }
        let drained = groups.values().all(|c| *c >= acked);
        let since = *drain_started.get_or_insert_with(Instant::now);
        if drained || since.elapsed() > DRAIN_GRACE {
            break;
        }
    }
    bar.finish();
    stop.store(true, Ordering::Relaxed);

    let produced = delivered(&producers);
    let mut histogram = crate::latency::new_histogram();
    let mut produce_errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut duration = Duration::ZERO;
    for (stats, thread) in producers {
        match thread.join() {
            Ok(Ok(d)) => duration = duration.max(d),
            Ok(Err(e)) => *produce_errors.entry(format!("producer: {e}")).or_default() += 1,
            Err(_) => {
                *produce_errors
                    .entry("producer thread panicked".into())
                    .or_default() += 1
            }
        }
        let _ = histogram.add(stats.histogram());
        for (k, v) in stats.errors() {
            *produce_errors.entry(k).or_default() += v;
        }
    }
    for t in threads {
        if let Ok(Err(e)) = t.join() {
            *produce_errors.entry(format!("consumer: {e}")).or_default() += 1;
        }
    }
    let secs = duration.as_secs_f64().max(1e-9);
    Ok(FleetSummary {
        duration_s: crate::bench::report::round3(secs),
        produced,
        events_per_sec: crate::bench::report::round3(produced as f64 / secs),
        produce_latency: crate::latency::LatencySummary::of(&histogram),
        produce_errors,
        produced_by_writer: opts.writers.iter().zip(produced_by_writer.iter()).fold(
            BTreeMap::new(),
            |mut m, (v, c)| {
                *m.entry(v.to_string()).or_default() += c.load(Ordering::Relaxed);
                m
            },
        ),
        consumers: consumers
            .iter()
            .map(|c| (c.label.clone(), consumer_summary(c)))
            .collect(),
        lag,
    })
}

fn group_consumed(consumers: &[ConsumerHandle]) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for c in consumers {
        *m.entry(format!("{}({})", c.group, c.reader)).or_default() +=
            c.stats.consumed.load(Ordering::Relaxed);
    }
    m
}

/// Sets each group's lag gauge to the sum of its members' librdkafka lag, once any member
/// knows its lag (a group with no known lag yet has no series).
fn publish_lag(m: &FleetMetrics, consumers: &[ConsumerHandle], topic: &str) {
    let mut by_group: BTreeMap<&str, i64> = BTreeMap::new();
    for c in consumers {
        if let Some(lag) = c.stats.lag.total() {
            *by_group.entry(c.group.as_str()).or_default() += lag;
        }
    }
    for (group, lag) in by_group {
        m.lag
            .get_or_create(&LagLabels {
                group: group.to_owned(),
                topic: topic.to_owned(),
            })
            .set(lag);
    }
}

fn consumer_summary(c: &ConsumerHandle) -> ConsumerSummary {
    let mut deserialize_errors: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    if let Ok(errors) = c.stats.errors.lock() {
        for ((writer, kind), n) in errors.iter() {
            *deserialize_errors
                .entry(writer.clone())
                .or_default()
                .entry(kind.clone())
                .or_default() += n;
        }
    }
    ConsumerSummary {
        group: c.group.clone(),
        reader: c.reader.to_string(),
        consumed: c.stats.consumed.load(Ordering::Relaxed),
        decoded: c.stats.decoded.load(Ordering::Relaxed),
        deserialize_errors,
        client_errors: c
            .stats
            .client_errors
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default(),
    }
}
