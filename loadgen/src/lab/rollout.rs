//! Experiment 4, mixed-version live rollout. N producers write through the real
//! `schemagate proxy` (enforcing: every value must carry a registered schema id and decode with
//! its writer schema) at the highest rate the machine sustains, found by a short ramp first,
//! while M consumers in several groups (the fleet's consumers, pinned to a reader version) read
//! the topic. Under each mode of the config, the instances are then upgraded to the mode's
//! change in batches while the load runs: producers first, consumers first, or a seeded random
//! order of both sides.
//!
//! Every `sample_ms` the lab samples the acknowledged records, each group's records received
//! and its lag (acknowledged minus received), the deserialize errors, how many instances run
//! the new version, and the CPU the proxy and loadgen itself have used. Per run it reports the
//! errors, how long both versions coexisted, the rate reached, and draws the series
//! ([`crate::lab::chart`]). From the proxy's and loadgen's CPU per record it derives what the
//! seed's 200k events/s for 20 minutes needs ([`Costs`]).
//!
//! It reuses experiment 3's consumer groups ([`crate::lab::upgrade`]): a consumer upgrade is a
//! rolling restart of the member with the new reader.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use contract::SchemaId;
use serde::{Deserialize, Serialize};

use crate::fleet::consumer::{ConsumerSpec, ConsumerStats};
use crate::fleet::metrics::FleetMetrics;
use crate::lab::stack::{schemagate_bin, LabStack, StackOptions};
use crate::lab::upgrade::{self, promise, Group, ModeChange, UpgradeOrder};
use crate::lab::verdict::Verdict;
use crate::lab::ReportHead;
use crate::lab::{topic, LabError};
use crate::order::{OrderGenerator, SplitMix64};
use crate::process::{self, ChildProcess};
use crate::produce::{self, Limit, ProduceSpec, ProduceStats};
use crate::registry::RegistryClient;
use crate::render::{Codec, Format};
use crate::version::SchemaVersion;

/// The seed's target: 200k events/s for 20 minutes.
pub const SEED_RATE: f64 = 200_000.0;
/// The seed's duration, seconds.
pub const SEED_SECONDS: f64 = 20.0 * 60.0;

/// `loadgen/lab/rollout.toml` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    format: String,
    producers: u32,
    consumers: u32,
    groups: u32,
    partitions: Option<u32>,
    #[serde(default)]
    seed: u64,
    #[serde(default = "default_sample_ms")]
    sample_ms: u64,
    warmup_secs: f64,
    step_secs: f64,
    tail_secs: f64,
    batch: u32,
    #[serde(default = "default_pool")]
    pool: u32,
    #[serde(default = "default_drain")]
    drain_timeout_secs: u64,
    out: Option<PathBuf>,
    rate: RawRate,
    modes: Vec<RawMode>,
}

fn default_sample_ms() -> u64 {
    500
}

fn default_pool() -> u32 {
    256
}

fn default_drain() -> u64 {
    60
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRate {
    fixed: Option<f64>,
    #[serde(default)]
    ramp: Vec<f64>,
    #[serde(default = "default_stage")]
    stage_secs: f64,
    #[serde(default = "default_sustain")]
    sustain: f64,
    #[serde(default = "default_lag_secs")]
    lag_secs: f64,
}

fn default_stage() -> f64 {
    3.0
}

fn default_sustain() -> f64 {
    0.9
}

fn default_lag_secs() -> f64 {
    2.0
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMode {
    mode: String,
    change: String,
    orders: Vec<String>,
}

/// The order instances are upgraded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RolloutOrder {
    /// One side, then the other.
    Sided(UpgradeOrder),
    /// Producers and consumers shuffled together (seeded).
    Random,
}

impl RolloutOrder {
    /// Its name in the config and the report.
    pub fn name(self) -> &'static str {
        match self {
            RolloutOrder::Sided(UpgradeOrder::ProducersFirst) => "producers-first",
            RolloutOrder::Sided(UpgradeOrder::ConsumersFirst) => "consumers-first",
            RolloutOrder::Random => "random",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "producers-first" => Some(RolloutOrder::Sided(UpgradeOrder::ProducersFirst)),
            "consumers-first" => Some(RolloutOrder::Sided(UpgradeOrder::ConsumersFirst)),
            "random" => Some(RolloutOrder::Random),
            _ => None,
        }
    }
}

/// How the producers' rate is chosen.
#[derive(Debug, Clone)]
pub enum RateChoice {
    /// This many records per second, no ramp.
    Fixed(f64),
    /// The highest of these targets the machine sustains.
    Ramp {
        /// Targets tried in order (records/s, all producers together).
        targets: Vec<f64>,
        /// Seconds per target.
        stage: Duration,
        /// Sustained: acknowledged ≥ `sustain` × target.
        sustain: f64,
        /// Sustained: every group's lag at the stage's end ≤ `lag_secs` × target.
        lag_secs: f64,
    },
}

/// The rollout experiment's config, validated.
#[derive(Debug, Clone)]
pub struct RolloutConfig {
    /// Format.
    pub format: Format,
    /// Producer instances (N).
    pub producers: u32,
    /// Consumer instances (M), split evenly over the groups.
    pub consumers: u32,
    /// Consumer groups.
    pub groups: u32,
    /// Partitions of each topic.
    pub partitions: u32,
    /// Generator seed (also the random order's).
    pub seed: u64,
    /// Sampling period.
    pub sample: Duration,
    /// Load before the first upgrade.
    pub warmup: Duration,
    /// Time between upgrade batches.
    pub step: Duration,
    /// Load after the last upgrade.
    pub tail: Duration,
    /// Instances upgraded per step.
    pub batch: usize,
    /// Records encoded ahead per writer version (the producers cycle through them).
    pub pool: u32,
    /// How long the groups may take to read the rest after the producers stop.
    pub drain_timeout: Duration,
    /// Default output.
    pub out: Option<PathBuf>,
    /// The rate.
    pub rate: RateChoice,
    /// The modes, each with its change and the orders to run it in.
    pub modes: Vec<(ModeChange, Vec<RolloutOrder>)>,
}

impl RolloutConfig {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Self, LabError> {
        let (raw, bad) = crate::lab::load_config::<RawConfig>(path)?;
        let mut modes = vec![];
        for m in raw.modes {
            let change: SchemaVersion = m.change.parse().map_err(|e| bad(format!("{e}")))?;
            if change == SchemaVersion::V1 {
                return Err(bad("a change must be one of v2..v7".into()));
            }
            let orders = m
                .orders
                .iter()
                .map(|o| {
                    RolloutOrder::parse(o).ok_or_else(|| {
                        bad(format!(
                            "order {o:?}: producers-first, consumers-first or random"
                        ))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            if orders.is_empty() {
                return Err(bad(format!("{}: no orders", m.mode)));
            }
            let mode = ModeChange {
                mode: m.mode.to_ascii_uppercase(),
                change,
            };
            modes.push((mode, orders));
        }
        if modes.is_empty() {
            return Err(bad("no [[modes]]".into()));
        }
        if !(1..=64).contains(&raw.producers) || !(1..=128).contains(&raw.consumers) {
            return Err(bad("producers must be 1..=64 and consumers 1..=128".into()));
        }
        if raw.groups == 0 || !raw.consumers.is_multiple_of(raw.groups) {
            return Err(bad("groups must be ≥ 1 and divide consumers".into()));
        }
        let secs = |s: f64| Duration::from_secs_f64(s.clamp(0.0, 600.0));
        let rate = match (raw.rate.fixed, raw.rate.ramp.is_empty()) {
            (Some(r), true) if r > 0.0 => RateChoice::Fixed(r),
            (None, false) if raw.rate.ramp.iter().all(|r| *r > 0.0) => RateChoice::Ramp {
                targets: raw.rate.ramp,
                stage: secs(raw.rate.stage_secs).max(Duration::from_millis(500)),
                sustain: raw.rate.sustain.clamp(0.1, 1.0),
                lag_secs: raw.rate.lag_secs.max(0.1),
            },
            _ => {
                return Err(bad(
                    "[rate]: either fixed = R (> 0) or ramp = [R, ...] (each > 0)".into(),
                ))
            }
        };
        Ok(Self {
            format: raw.format.parse().map_err(&bad)?,
            producers: raw.producers,
            consumers: raw.consumers,
            groups: raw.groups,
            partitions: raw
                .partitions
                .unwrap_or(raw.consumers / raw.groups)
                .clamp(1, 256),
            seed: raw.seed,
            sample: Duration::from_millis(raw.sample_ms.clamp(50, 10_000)),
            warmup: secs(raw.warmup_secs),
            step: secs(raw.step_secs),
            tail: secs(raw.tail_secs),
            batch: raw.batch.max(1) as usize,
            pool: raw.pool.clamp(1, 100_000),
            drain_timeout: Duration::from_secs(raw.drain_timeout_secs.clamp(1, 600)),
            out: raw.out,
            rate,
            modes,
        })
    }
}

/// One instance's upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upgrade {
    /// Producer `i` switches its writer version.
    Producer(usize),
    /// Member `slot` of group `g` restarts reading as the new version.
    Consumer {
        /// The group.
        group: usize,
        /// The member.
        slot: usize,
    },
}

/// The batches of a rollout: every producer and every consumer exactly once, `batch` per step,
/// in `order` (consumers alternate between the groups; `Random` shuffles both sides together
/// with `seed`).
pub fn plan(
    order: RolloutOrder,
    producers: usize,
    groups: usize,
    per_group: usize,
    batch: usize,
    seed: u64,
) -> Vec<Vec<Upgrade>> {
    let p: Vec<Upgrade> = (0..producers).map(Upgrade::Producer).collect();
    let c: Vec<Upgrade> = (0..per_group)
        .flat_map(|slot| (0..groups).map(move |group| Upgrade::Consumer { group, slot }))
        .collect();
    let all: Vec<Upgrade> = match order {
        RolloutOrder::Sided(UpgradeOrder::ProducersFirst) => p.into_iter().chain(c).collect(),
        RolloutOrder::Sided(UpgradeOrder::ConsumersFirst) => c.into_iter().chain(p).collect(),
        RolloutOrder::Random => {
            let mut all: Vec<Upgrade> = p.into_iter().chain(c).collect();
            let mut rng = SplitMix64(seed);
            for i in (1..all.len()).rev() {
                let j = rng.below(i as u64 + 1) as usize;
                all.swap(i, j);
            }
            all
        }
    };
    let batch = batch.max(1);
    match order {
        // A batch never mixes the two sides of a sided order: the side boundary is a step.
        RolloutOrder::Sided(_) => {
            let first_side = |u: &Upgrade| matches!(u, Upgrade::Producer(_));
            let split = all
                .iter()
                .position(|u| first_side(u) != all.first().is_some_and(first_side))
                .unwrap_or(all.len());
            let (a, b) = all.split_at(split);
            a.chunks(batch)
                .chain(b.chunks(batch))
                .map(<[Upgrade]>::to_vec)
                .collect()
        }
        RolloutOrder::Random => all.chunks(batch).map(<[Upgrade]>::to_vec).collect(),
    }
}

/// One sample of a run.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct Sample {
    /// Seconds since the run's load started.
    pub t_s: f64,
    /// Records acknowledged to the producers so far.
    pub acked: u64,
    /// Records acknowledged per second since the previous sample.
    pub acked_per_s: f64,
    /// Records each group received so far.
    pub received: Vec<u64>,
    /// Each group's lag: acknowledged minus received (at least 0).
    pub lag: Vec<u64>,
    /// Deserialize errors so far, every group.
    pub errors: u64,
    /// Producers writing the new version.
    pub producers_new: usize,
    /// Consumers reading as the new version.
    pub consumers_new: usize,
    /// CPU seconds the proxy has used since the run started.
    pub proxy_cpu_s: f64,
}

/// One step of a run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StepReport {
    /// When the step began, seconds since the load started.
    pub t_s: f64,
    /// When its last instance ran the new version.
    pub done_s: f64,
    /// The instances upgraded, e.g. `producer 3`, `g1 consumer 5`.
    pub upgraded: Vec<String>,
}

/// How long both versions were in use at once.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct Coexistence {
    /// The first upgrade began (seconds since the load started).
    pub from_s: f64,
    /// The last instance ran the new version.
    pub to_s: f64,
    /// `to_s - from_s`: both writer or both reader versions were in use.
    pub seconds: f64,
    /// The writers' part: first producer switched → last producer switched (0 with one).
    pub writers_seconds: f64,
    /// The readers' part: first consumer restart began → last consumer restarted.
    pub readers_seconds: f64,
}

/// One rollout.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// Compatibility mode of the subject.
    pub mode: String,
    /// The new version.
    pub change: String,
    /// Its change class.
    pub change_class: String,
    /// The upgrade order.
    pub order: String,
    /// The order the mode's promise leaves unprotected, if any.
    pub predicted_failing_order: Option<String>,
    /// The topic.
    pub topic: String,
    /// The consumer groups (each `consumers / groups` members).
    pub groups: Vec<String>,
    /// The registry's answers to registering v1 and the change under the mode.
    pub registrations: Vec<Verdict>,
    /// The producers' target rate (records/s, all together).
    pub rate_target: f64,
    /// Acknowledged records per second from the first sample to the last one before the
    /// producers stopped (the groups' join, before the samples' clock, is not counted).
    pub rate_reached: f64,
    /// Seconds the producers ran, their start included.
    pub produce_seconds: f64,
    /// Records written (handed to the producer client), by writer version; every one was
    /// acknowledged when `client_errors` has no producer entry.
    pub produced: BTreeMap<String, u64>,
    /// Records each group received.
    pub received: Vec<u64>,
    /// Records decoded (every group).
    pub decoded: u64,
    /// Deserialize errors (every group).
    pub deserialize_errors: u64,
    /// The same, from `schemagate_fleet_deserialize_errors_total`.
    pub deserialize_errors_total_metric: u64,
    /// Errors by the failing consumer's reader version.
    pub errors_by_reader: BTreeMap<String, u64>,
    /// Errors while both versions coexisted, and outside that window.
    pub errors_in_window: u64,
    /// Client-side (librdkafka) errors, producers and consumers, by kind.
    pub client_errors: BTreeMap<String, u64>,
    /// Every group read everything on the topic within the drain timeout.
    pub drained: bool,
    /// Per group, records on the topic the group had not received when the drain ended
    /// (0 when drained).
    pub unread: Vec<u64>,
    /// Seconds from the producers' start until every group had received a record (the
    /// samples' clock starts then).
    pub ready_seconds: f64,
    /// The steps.
    pub steps: Vec<StepReport>,
    /// The window where both versions were in use.
    pub coexistence: Coexistence,
    /// Highest lag of any group, records.
    pub max_lag: u64,
    /// Proxy CPU seconds over the produce phase.
    pub proxy_cpu_s: f64,
    /// loadgen's own CPU seconds (producers, consumers, sampler) over the produce phase.
    pub loadgen_cpu_s: f64,
    /// Mean value bytes per acknowledged record.
    pub mean_record_bytes: f64,
    /// The chart (a PNG next to the JSON), relative to the JSON's directory.
    pub chart: Option<String>,
    /// The samples.
    pub samples: Vec<Sample>,
}

/// One stage of the ramp.
#[derive(Debug, Clone, Serialize)]
pub struct RampStage {
    /// Target records/s.
    pub target: f64,
    /// Acknowledged records/s.
    pub reached: f64,
    /// Each group's lag at the stage's end.
    pub lag: Vec<u64>,
    /// Whether it counts as sustained.
    pub sustained: bool,
}

/// How the rate was chosen.
#[derive(Debug, Clone, Serialize)]
pub struct RateReport {
    /// `fixed` or `ramp`.
    pub how: String,
    /// The ramp's stages (empty for a fixed rate).
    pub stages: Vec<RampStage>,
    /// The rate the rollouts ran at.
    pub chosen: f64,
    /// Why.
    pub rule: String,
}

/// Per-record costs over every run, and what the seed's rate needs at them.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Costs {
    /// Records acknowledged over every run.
    pub records: u64,
    /// Proxy CPU seconds.
    pub proxy_cpu_s: f64,
    /// Proxy CPU per record, microseconds.
    pub proxy_us_per_record: f64,
    /// loadgen CPU seconds (one produce and `groups` consumes per record).
    pub loadgen_cpu_s: f64,
    /// loadgen CPU per record, microseconds.
    pub loadgen_us_per_record: f64,
    /// Consumer groups (each record is read once per group).
    pub groups: u32,
    /// Mean value bytes per record.
    pub mean_record_bytes: f64,
    /// The highest rate reached in a run.
    pub best_rate: f64,
    /// Cores the proxy needs for the seed's rate.
    pub seed_proxy_cores: f64,
    /// Cores the clients (loadgen's share) need for it.
    pub seed_client_cores: f64,
    /// Records in 20 minutes at the seed's rate.
    pub seed_records: f64,
    /// Value bytes of those, GB (10^9), one replica.
    pub seed_gb_one_replica: f64,
    /// The seed's rate over the best rate reached here.
    pub seed_over_best: f64,
    /// Whether the binaries were debug builds (their CPU per record is an upper bound).
    pub debug_build: bool,
}

impl Costs {
    /// Sums the runs' measurements and scales them to the seed's rate and duration.
    pub fn of(runs: &[RunReport], groups: u32, debug_build: bool) -> Self {
        let records: u64 = runs.iter().map(|r| r.produced.values().sum::<u64>()).sum();
        let proxy: f64 = runs.iter().map(|r| r.proxy_cpu_s).sum();
        let own: f64 = runs.iter().map(|r| r.loadgen_cpu_s).sum();
        let bytes: f64 = runs
            .iter()
            .map(|r| r.mean_record_bytes * r.produced.values().sum::<u64>() as f64)
            .sum();
        let n = (records as f64).max(1.0);
        let best = runs.iter().map(|r| r.rate_reached).fold(0.0, f64::max);
        let per = |cpu: f64| cpu / n * 1e6;
        let mean_bytes = bytes / n;
        Costs {
            records,
            proxy_cpu_s: round(proxy, 3),
            proxy_us_per_record: round(per(proxy), 2),
            loadgen_cpu_s: round(own, 3),
            loadgen_us_per_record: round(per(own), 2),
            groups,
            mean_record_bytes: round(mean_bytes, 1),
            best_rate: round(best, 0),
            seed_proxy_cores: round(SEED_RATE * per(proxy) / 1e6, 2),
            seed_client_cores: round(SEED_RATE * per(own) / 1e6, 2),
            seed_records: SEED_RATE * SEED_SECONDS,
            seed_gb_one_replica: round(SEED_RATE * SEED_SECONDS * mean_bytes / 1e9, 1),
            seed_over_best: if best > 0.0 {
                round(SEED_RATE / best, 1)
            } else {
                0.0
            },
            debug_build,
        }
    }
}

fn round(x: f64, places: i32) -> f64 {
    let k = 10f64.powi(places);
    (x * k).round() / k
}

/// The rollout experiment's report (`docs/lab/rollout.json`).
#[derive(Debug, Clone, Serialize)]
pub struct RolloutReport {
    /// Experiment (always `rollout`), command line, config file, broker.
    #[serde(flatten)]
    pub head: ReportHead,
    /// The proxy's command line and policy.
    pub proxy: serde_json::Value,
    /// CPUs and load.
    pub machine: serde_json::Value,
    /// Format.
    pub format: String,
    /// Producer instances.
    pub producers: u32,
    /// Consumer instances.
    pub consumers: u32,
    /// Consumer groups.
    pub groups: u32,
    /// Partitions per topic.
    pub partitions: u32,
    /// Instances upgraded per step.
    pub batch: usize,
    /// Seconds between steps.
    pub step_secs: f64,
    /// Sampling period, ms.
    pub sample_ms: u64,
    /// Seed.
    pub seed: u64,
    /// How the rate was chosen.
    pub rate: RateReport,
    /// Every run.
    pub runs: Vec<RunReport>,
    /// Per-record costs and the seed's needs.
    pub costs: Costs,
    /// Seconds the experiment took.
    pub wall_seconds: f64,
}

/// The encoded records producers cycle through, per writer version.
type Pools = Arc<HashMap<SchemaVersion, Vec<Vec<u8>>>>;

/// N producers writing to one topic until stopped, each switchable to the new version.
struct Producers {
    stats: Vec<Arc<ProduceStats>>,
    upgraded: Vec<Arc<AtomicBool>>,
    /// Records written as the old version and as the new one, every producer.
    written: Arc<[AtomicU64; 2]>,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<Result<Duration, rdkafka::error::KafkaError>>>,
    started: Instant,
}

/// Producers running until stopped stop when dropped (an error path must not leave them on).
impl Drop for Producers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Sets its flag when dropped: stops the sampler on every path out of a run.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

impl Producers {
    /// Starts `n` producers at `rate` records/s together (`limit`: until stopped, or for a
    /// duration), writing `old` until upgraded, then `new`.
    fn start(
        n: usize,
        bootstrap: &str,
        topic: &str,
        rate: f64,
        pools: &Pools,
        (old, new): (SchemaVersion, SchemaVersion),
        duration: Option<Duration>,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let mut p = Producers {
            stats: vec![],
            upgraded: vec![],
            written: Arc::new([AtomicU64::new(0), AtomicU64::new(0)]),
            stop: stop.clone(),
            threads: vec![],
            started: Instant::now(),
        };
        for i in 0..n {
            let stats = ProduceStats::new(Instant::now());
            let flag = Arc::new(AtomicBool::new(false));
            let spec = ProduceSpec {
                bootstrap: bootstrap.to_string(),
                topic: topic.to_string(),
                rate: Some(rate / n as f64),
                limit: duration.map_or_else(|| Limit::Until(stop.clone()), Limit::Duration),
                config: vec![],
            };
            let (pools, t_stats, t_flag) = (pools.clone(), stats.clone(), flag.clone());
            let written = p.written.clone();
            p.threads.push(std::thread::spawn(move || {
                let empty = vec![];
                let (a, b) = (
                    pools.get(&old).unwrap_or(&empty),
                    pools.get(&new).unwrap_or(&empty),
                );
                produce::produce(&spec, t_stats, |k| {
                    let new = t_flag.load(Ordering::Relaxed);
                    written[usize::from(new)].fetch_add(1, Ordering::Relaxed);
                    let pool = if new { b } else { a };
                    let at = (k as usize).wrapping_mul(n).wrapping_add(i) % pool.len().max(1);
                    Cow::Borrowed(pool.get(at).map_or(&[][..], Vec::as_slice))
                })
            }));
            p.stats.push(stats);
            p.upgraded.push(flag);
        }
        p
    }

    fn acked(&self) -> u64 {
        self.stats
            .iter()
            .map(|s| s.delivered.load(Ordering::Relaxed))
            .sum()
    }

    fn bytes(&self) -> u64 {
        self.stats
            .iter()
            .map(|s| s.delivered_bytes.load(Ordering::Relaxed))
            .sum()
    }

    fn upgraded_count(&self) -> usize {
        self.upgraded
            .iter()
            .filter(|f| f.load(Ordering::Relaxed))
            .count()
    }

    /// Stops them (if running until stopped) and waits for every acknowledgement; returns
    /// the errors by kind.
    fn finish(&mut self) -> BTreeMap<String, u64> {
        self.stop.store(true, Ordering::Relaxed);
        let mut errors: BTreeMap<String, u64> = BTreeMap::new();
        for t in self.threads.drain(..) {
            match t.join() {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => *errors.entry(format!("producer: {e}")).or_default() += 1,
                Err(_) => *errors.entry("producer panicked".into()).or_default() += 1,
            }
        }
        for s in &self.stats {
            for (k, v) in s.errors() {
                *errors.entry(k).or_default() += v;
            }
        }
        errors
    }
}

/// Every consumer's counters (members replaced stay in), by group, for the sampler.
type Members = Arc<Mutex<Vec<(usize, Arc<ConsumerStats>)>>>;

fn register_members(members: &Members, group: usize, g: &Group) {
    if let Ok(mut m) = members.lock() {
        for member in &g.active {
            if !m.iter().any(|(_, s)| Arc::ptr_eq(s, &member.stats)) {
                m.push((group, member.stats.clone()));
            }
        }
    }
}

/// What the sampler reads.
struct Probe {
    members: Members,
    groups: usize,
    consumers_new: Arc<AtomicU64>,
    proxy_pid: u32,
}

impl Probe {
    fn received(&self) -> Vec<u64> {
        let mut out = vec![0; self.groups];
        if let Ok(m) = self.members.lock() {
            for (g, s) in m.iter() {
                if let Some(x) = out.get_mut(*g) {
                    *x += s.consumed.load(Ordering::Relaxed);
                }
            }
        }
        out
    }

    fn errors(&self) -> u64 {
        self.members.lock().map_or(0, |m| {
            m.iter()
                .map(|(_, s)| s.errors.lock().map_or(0, |e| e.values().sum::<u64>()))
                .sum()
        })
    }

    fn sample(&self, t_s: f64, p: &Producers, prev: Option<&Sample>, cpu0: f64) -> Sample {
        let acked = p.acked();
        let received = self.received();
        let acked_per_s = prev.map_or(0.0, |s| {
            let dt = t_s - s.t_s;
            if dt > 0.0 {
                acked.saturating_sub(s.acked) as f64 / dt
            } else {
                0.0
            }
        });
        Sample {
            t_s: round(t_s, 3),
            acked,
            acked_per_s: round(acked_per_s, 1),
            lag: received.iter().map(|r| acked.saturating_sub(*r)).collect(),
            received,
            errors: self.errors(),
            producers_new: p.upgraded_count(),
            consumers_new: self.consumers_new.load(Ordering::Relaxed) as usize,
            proxy_cpu_s: round(
                process::cpu_seconds(self.proxy_pid).map_or(0.0, |c| c - cpu0),
                3,
            ),
        }
    }
}

/// Waits until every group has received a record (its members joined and were given
/// partitions), at most `timeout`; returns the seconds it took.
fn wait_first_records(probe: &Probe, timeout: Duration) -> f64 {
    let begin = Instant::now();
    while probe.received().contains(&0) && begin.elapsed() < timeout {
        std::thread::sleep(Duration::from_millis(100));
    }
    round(begin.elapsed().as_secs_f64(), 3)
}

/// Waits until every group received `expected` records; gives up at `timeout`, or once no
/// group has received anything for [`STALL`] (a record a group will not get does not cost the
/// whole timeout). True when drained.
fn drain(probe: &Probe, expected: u64, timeout: Duration) -> bool {
    let begin = Instant::now();
    let (mut last, mut moved) = (probe.received(), Instant::now());
    loop {
        let now = probe.received();
        if now.iter().all(|r| *r >= expected) {
            return true;
        }
        if now != last {
            (last, moved) = (now, Instant::now());
        }
        if begin.elapsed() > timeout || moved.elapsed() > STALL {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// How long a drain waits without progress.
const STALL: Duration = Duration::from_secs(15);

/// The proxy in front of the cluster, with a policy enforcing every lab topic of this run.
struct Proxy {
    child: ChildProcess,
    address: String,
    policy: String,
    args: Vec<String>,
}

fn start_proxy(lab: &LabStack, tag: &str, scratch: &Path) -> Result<Proxy, LabError> {
    let policy = format!(
        "[[topic]]\nmatch = \"lab-rollout-{tag}-*\"\nvalue = \"required\"\nkey = \"off\"\n\
         strategy = \"topic\"\non_invalid = \"reject\"\n"
    );
    let file = crate::lab::stack::scratch(scratch, "rollout-policy.toml")?;
    std::fs::write(&file, &policy).map_err(|cause| LabError::Io {
        path: file.clone(),
        cause,
    })?;
    let upstreams: Vec<std::net::SocketAddr> = lab
        .bootstrap
        .split(',')
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    let first = upstreams.first().ok_or_else(|| {
        LabError::Setup(format!(
            "bootstrap {} is not IP:PORT[,IP:PORT...]",
            lab.bootstrap
        ))
    })?;
    // Broker index i is served on port + i: room for a few more brokers than given.
    const BROKERS: u16 = 8;
    let port = process::free_block(BROKERS)?;
    let mut extra = vec!["--max-brokers".to_string(), BROKERS.to_string()];
    for u in upstreams.iter().skip(1) {
        extra.extend(["--upstream".to_string(), u.to_string()]);
    }
    let child = process::start_schemagate_proxy(
        &schemagate_bin()?,
        port,
        first.port(),
        Some((&lab.registry, &file)),
        &extra,
        scratch,
    )?;
    let mut args = vec!["proxy".to_string(), "--upstream".into(), first.to_string()];
    args.extend(extra);
    args.extend([
        "--registry".into(),
        "<lab registry>".into(),
        "--policy".into(),
        "<the policy>".into(),
    ]);
    Ok(Proxy {
        child,
        address: process::loopback(port).to_string(),
        policy,
        args,
    })
}

/// Everything a run needs that the experiment sets up once.
struct Shared<'a> {
    config: &'a RolloutConfig,
    lab: &'a LabStack,
    registry: RegistryClient,
    codec: Arc<Codec>,
    proxy: Proxy,
    tag: String,
}

/// Encodes `pool` orders as each version (ids from the registry).
fn pools(
    codec: &Codec,
    seed: u64,
    pool: u32,
    ids: &BTreeMap<SchemaVersion, SchemaId>,
) -> Result<Pools, LabError> {
    let generator = OrderGenerator::new(seed);
    let mut out = HashMap::new();
    for (v, id) in ids {
        let values = (0..u64::from(pool))
            .map(|k| codec.frame(&generator.order(k), *v, *id))
            .collect::<Result<Vec<_>, _>>()?;
        out.insert(*v, values);
    }
    Ok(Arc::new(out))
}

/// Starts the consumer groups on `topic`, every member reading as v1.
fn start_groups(
    s: &Shared<'_>,
    topic_name: &str,
    ids: &BTreeMap<SchemaVersion, SchemaId>,
    metrics: &FleetMetrics,
) -> (Vec<Group>, Vec<String>) {
    let writers: HashMap<SchemaId, SchemaVersion> = ids.iter().map(|(v, id)| (*id, *v)).collect();
    let per_group = (s.config.consumers / s.config.groups) as usize;
    let mut groups = vec![];
    let mut names = vec![];
    for g in 0..s.config.groups {
        let name = format!("{topic_name}-g{g}");
        let spec = ConsumerSpec {
            bootstrap: s.lab.bootstrap.clone(),
            topic: topic_name.to_string(),
            group: name.clone(),
            reader: SchemaVersion::V1,
            writers: writers.clone(),
            subject: format!("{topic_name}-value"),
            metrics: metrics.clone(),
        };
        groups.push(Group::start(spec, s.codec.clone(), per_group));
        names.push(name);
    }
    (groups, names)
}

/// Finds the rate: each target in turn for a stage, while the groups read; the highest
/// sustained target wins (the first target when none is).
async fn ramp(s: &Shared<'_>) -> Result<RateReport, LabError> {
    let (targets, stage, sustain, lag_secs) = match &s.config.rate {
        RateChoice::Fixed(r) => {
            return Ok(RateReport {
                how: "fixed".into(),
                stages: vec![],
                chosen: *r,
                rule: "the config's fixed rate".into(),
            })
        }
        RateChoice::Ramp {
            targets,
            stage,
            sustain,
            lag_secs,
        } => (targets.clone(), *stage, *sustain, *lag_secs),
    };
    let topic_name = format!("lab-rollout-{}-ramp", s.tag);
    let m = ModeChange {
        mode: "BACKWARD".into(),
        change: SchemaVersion::V2,
    };
    let (_, ids) = upgrade::register_change(
        &s.registry,
        &format!("{topic_name}-value"),
        s.config.format,
        &m,
    )
    .await?;
    topic::create_partitioned(
        &s.lab.bootstrap,
        &topic_name,
        i32::try_from(s.config.partitions).unwrap_or(1),
    )
    .await?;
    let pools = pools(&s.codec, s.config.seed, s.config.pool, &ids)?;
    let mut prom = prometheus_client::registry::Registry::default();
    let metrics = FleetMetrics::register(&mut prom);
    let (mut groups, _) = start_groups(s, &topic_name, &ids, &metrics);
    let members: Members = Arc::new(Mutex::new(vec![]));
    for (i, g) in groups.iter().enumerate() {
        register_members(&members, i, g);
    }
    let probe = Probe {
        members,
        groups: groups.len(),
        consumers_new: Arc::new(AtomicU64::new(0)),
        proxy_pid: s.proxy.child.id(),
    };
    let n = s.config.producers as usize;
    let stages = tokio::task::block_in_place(|| {
        let mut acked_before = 0u64;
        // Warm-up at the first target, not counted: the groups join and get their partitions.
        let first = targets.first().copied().unwrap_or(1000.0);
        let mut warm = Producers::start(
            n,
            &s.proxy.address,
            &topic_name,
            first,
            &pools,
            (SchemaVersion::V1, SchemaVersion::V1),
            None,
        );
        wait_first_records(&probe, s.config.drain_timeout);
        std::thread::sleep(s.config.warmup);
        warm.finish();
        acked_before += warm.acked();
        let mut stages = vec![];
        for target in targets {
            let mut p = Producers::start(
                n,
                &s.proxy.address,
                &topic_name,
                target,
                &pools,
                (SchemaVersion::V1, SchemaVersion::V1),
                None,
            );
            // The first third is the producers' start (connections, metadata): not counted.
            std::thread::sleep(stage / 3);
            let (a0, t0) = (p.acked(), Instant::now());
            std::thread::sleep(stage - stage / 3);
            let (a1, secs) = (p.acked(), t0.elapsed().as_secs_f64().max(1e-3));
            let errors = p.finish();
            acked_before += p.acked();
            let reached = a1.saturating_sub(a0) as f64 / secs;
            let lag: Vec<u64> = probe
                .received()
                .iter()
                .map(|r| acked_before.saturating_sub(*r))
                .collect();
            let sustained = errors.is_empty()
                && reached >= sustain * target
                && lag.iter().all(|l| (*l as f64) <= lag_secs * target);
            eprintln!(
                "rollout: ramp {target}/s: reached {reached:.0}/s, lag {lag:?}, sustained {sustained}"
            );
            stages.push(RampStage {
                target,
                reached: round(reached, 1),
                lag,
                sustained,
            });
            if !sustained {
                break;
            }
        }
        stages
    });
    tokio::task::block_in_place(|| {
        for g in groups.iter_mut() {
            g.stop_all();
        }
    });
    let chosen = stages
        .iter()
        .filter(|x| x.sustained)
        .map(|x| x.target)
        .fold(None, |m: Option<f64>, t| Some(m.map_or(t, |m| m.max(t))))
        .unwrap_or_else(|| stages.first().map_or(1000.0, |x| x.target));
    Ok(RateReport {
        how: "ramp".into(),
        stages,
        chosen,
        rule: format!(
            "the highest target where the producers' acknowledged rate reached {sustain} of it \
             and every group's lag at the stage's end was at most {lag_secs} s of it"
        ),
    })
}

/// One rollout of `m.change` in `order` at `rate`.
async fn run_one(
    s: &Shared<'_>,
    m: &ModeChange,
    order: RolloutOrder,
    rate: f64,
) -> Result<RunReport, LabError> {
    let c = s.config;
    let topic_name = format!(
        "lab-rollout-{}-{}-{}-{}",
        s.tag,
        m.mode.to_ascii_lowercase(),
        m.change,
        order.name()
    );
    let (registrations, ids) =
        upgrade::register_change(&s.registry, &format!("{topic_name}-value"), c.format, m).await?;
    let partitions = i32::try_from(c.partitions).unwrap_or(1);
    topic::create_partitioned(&s.lab.bootstrap, &topic_name, partitions).await?;
    let pools = pools(&s.codec, c.seed, c.pool, &ids)?;
    let mut prom = prometheus_client::registry::Registry::default();
    let metrics = FleetMetrics::register(&mut prom);
    let (mut groups, names) = start_groups(s, &topic_name, &ids, &metrics);
    let members: Members = Arc::new(Mutex::new(vec![]));
    for (i, g) in groups.iter().enumerate() {
        register_members(&members, i, g);
    }
    let consumers_new = Arc::new(AtomicU64::new(0));
    let probe = Arc::new(Probe {
        members: members.clone(),
        groups: groups.len(),
        consumers_new: consumers_new.clone(),
        proxy_pid: s.proxy.child.id(),
    });
    let per_group = (c.consumers / c.groups) as usize;
    let batches = plan(
        order,
        c.producers as usize,
        groups.len(),
        per_group,
        c.batch,
        c.seed ^ m.change.number() as u64,
    );
    let own_pid = std::process::id();
    let outcome = tokio::task::block_in_place(|| {
        let proxy_cpu0 = process::cpu_seconds(probe.proxy_pid).unwrap_or(0.0);
        let own_cpu0 = process::cpu_seconds(own_pid).unwrap_or(0.0);
        let producers = Arc::new(Mutex::new(Producers::start(
            c.producers as usize,
            &s.proxy.address,
            &topic_name,
            rate,
            &pools,
            (SchemaVersion::V1, m.change),
            None,
        )));
        // The clock starts when every group reads: joining a group of many members on a
        // machine this loaded takes seconds, and a rollout before that would upgrade
        // consumers that never read anything.
        let ready_s = wait_first_records(&probe, c.drain_timeout);
        let started = Instant::now();
        let stop_sampling = Arc::new(AtomicBool::new(false));
        let _stop_sampler = StopOnDrop(stop_sampling.clone());
        let sampler = {
            let (probe, stop, period) = (probe.clone(), stop_sampling.clone(), c.sample);
            let producers = producers.clone();
            std::thread::spawn(move || {
                let mut samples: Vec<Sample> = vec![];
                let mut next = started;
                loop {
                    let done = stop.load(Ordering::Relaxed);
                    let sample = producers.lock().ok().map(|p| {
                        probe.sample(
                            started.elapsed().as_secs_f64(),
                            &p,
                            samples.last(),
                            proxy_cpu0,
                        )
                    });
                    samples.extend(sample);
                    if done {
                        return samples;
                    }
                    next += period;
                    std::thread::sleep(next.saturating_duration_since(Instant::now()));
                }
            })
        };
        std::thread::sleep(c.warmup);
        let mut steps = vec![];
        for batch in &batches {
            let t = started.elapsed().as_secs_f64();
            let mut by_group: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
            let mut names_up = vec![];
            for u in batch {
                match *u {
                    Upgrade::Producer(i) => {
                        if let Ok(p) = producers.lock() {
                            if let Some(f) = p.upgraded.get(i) {
                                f.store(true, Ordering::Relaxed);
                            }
                        }
                        names_up.push(format!("producer {i}"));
                    }
                    Upgrade::Consumer { group, slot } => {
                        by_group.entry(group).or_default().push(slot);
                        names_up.push(format!("g{group} consumer {slot}"));
                    }
                }
            }
            for (g, slots) in &by_group {
                if let Some(group) = groups.get_mut(*g) {
                    group.replace_many(slots, m.change);
                    register_members(&members, *g, group);
                    consumers_new.fetch_add(slots.len() as u64, Ordering::Relaxed);
                }
            }
            let done = started.elapsed().as_secs_f64();
            eprintln!(
                "rollout: {topic_name} at {t:.1}s: {} ({:.1}s)",
                names_up.join(", "),
                done - t
            );
            steps.push(StepReport {
                t_s: round(t, 3),
                done_s: round(done, 3),
                upgraded: names_up,
            });
            std::thread::sleep(
                (started + Duration::from_secs_f64(t) + c.step)
                    .saturating_duration_since(Instant::now()),
            );
        }
        std::thread::sleep(c.tail);
        let produce_end_s = started.elapsed().as_secs_f64();
        let (client_errors, produce_seconds, acked, bytes, by_writer) = {
            let mut p = producers
                .lock()
                .map_err(|_| LabError::Setup("producers lock poisoned".into()))?;
            let errors = p.finish();
            let secs = p.started.elapsed().as_secs_f64();
            let by_writer = BTreeMap::from([
                (
                    SchemaVersion::V1.to_string(),
                    p.written[0].load(Ordering::Relaxed),
                ),
                (m.change.to_string(), p.written[1].load(Ordering::Relaxed)),
            ]);
            (errors, secs, p.acked(), p.bytes(), by_writer)
        };
        let proxy_cpu = process::cpu_seconds(probe.proxy_pid).unwrap_or(0.0) - proxy_cpu0;
        let own_cpu = process::cpu_seconds(own_pid).unwrap_or(0.0) - own_cpu0;
        let on_topic = topic::total_records(&s.lab.bootstrap, &topic_name, partitions)?;
        let expected = u64::try_from(on_topic).unwrap_or(0);
        let drained = drain(&probe, expected, c.drain_timeout);
        stop_sampling.store(true, Ordering::Relaxed);
        let samples = sampler
            .join()
            .map_err(|_| LabError::Setup("sampler panicked".into()))?;
        for g in groups.iter_mut() {
            g.stop_all();
        }
        Ok::<_, LabError>(Load {
            steps,
            samples,
            client_errors,
            produce_seconds,
            acked,
            bytes,
            proxy_cpu,
            own_cpu,
            drained,
            by_writer,
            ready_s,
            expected,
            produce_end_s,
        })
    });
    let mut load = match outcome {
        Ok(x) => x,
        Err(e) => {
            tokio::task::block_in_place(|| {
                for g in groups.iter_mut() {
                    g.stop_all();
                }
            });
            return Err(e);
        }
    };
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &prom)
        .map_err(|e| LabError::Setup(format!("encoding metrics: {e}")))?;
    let mut errors_by_reader: BTreeMap<String, u64> = BTreeMap::new();
    let mut decoded = 0;
    for g in &groups {
        for (k, v) in g.errors_by_reader() {
            if v > 0 {
                *errors_by_reader.entry(k).or_default() += v;
            }
        }
        decoded += g.decoded();
        for (k, v) in &g.client_errors {
            *load
                .client_errors
                .entry(format!("consumer: {k}"))
                .or_default() += v;
        }
        for member in g.all() {
            if let Ok(map) = member.stats.client_errors.lock() {
                for (k, v) in map.iter() {
                    *load
                        .client_errors
                        .entry(format!("consumer: {k}"))
                        .or_default() += v;
                }
            }
        }
    }
    let coexistence = coexistence(&load.steps, &batches);
    let errors_in_window = errors_between(&load.samples, coexistence.from_s, coexistence.to_s);
    let received = load
        .samples
        .last()
        .map(|x| x.received.clone())
        .unwrap_or_default();
    let max_lag = load
        .samples
        .iter()
        .flat_map(|x| x.lag.iter().copied())
        .max()
        .unwrap_or(0);
    let (_, failing, _) = promise(&m.mode);
    Ok(RunReport {
        mode: m.mode.clone(),
        change: m.change.to_string(),
        change_class: m.change.change().to_string(),
        order: match order {
            RolloutOrder::Random => format!("random (seed {})", c.seed ^ m.change.number() as u64),
            o => o.name().to_string(),
        },
        predicted_failing_order: failing.map(|o| RolloutOrder::Sided(o).name().to_string()),
        topic: topic_name,
        groups: names,
        registrations,
        rate_target: rate,
        rate_reached: round(rate_until(&load.samples, load.produce_end_s), 1),
        produce_seconds: round(load.produce_seconds, 3),
        produced: load.by_writer,
        received,
        decoded,
        deserialize_errors: errors_by_reader.values().sum(),
        deserialize_errors_total_metric: upgrade::metric_sum(&text),
        errors_by_reader,
        errors_in_window,
        client_errors: load.client_errors,
        drained: load.drained,
        unread: groups
            .iter()
            .map(|g| load.expected.saturating_sub(g.consumed()))
            .collect(),
        ready_seconds: load.ready_s,
        steps: load.steps,
        coexistence,
        max_lag,
        proxy_cpu_s: round(load.proxy_cpu, 3),
        loadgen_cpu_s: round(load.own_cpu, 3),
        mean_record_bytes: round(load.bytes as f64 / (load.acked as f64).max(1.0), 1),
        chart: None,
        samples: load.samples,
    })
}

/// What the load phase of one run measured, handed out of its blocking section.
struct Load {
    steps: Vec<StepReport>,
    samples: Vec<Sample>,
    client_errors: BTreeMap<String, u64>,
    produce_seconds: f64,
    acked: u64,
    bytes: u64,
    proxy_cpu: f64,
    own_cpu: f64,
    drained: bool,
    by_writer: BTreeMap<String, u64>,
    ready_s: f64,
    expected: u64,
    produce_end_s: f64,
}

/// The coexistence window from the steps: from the first step's start to the last step's end;
/// per side, from the first step touching it to the last.
pub fn coexistence(steps: &[StepReport], batches: &[Vec<Upgrade>]) -> Coexistence {
    let side = |producer: bool| {
        let touched: Vec<&StepReport> = steps
            .iter()
            .zip(batches)
            .filter(|(_, b)| {
                b.iter()
                    .any(|u| matches!(u, Upgrade::Producer(_)) == producer)
            })
            .map(|(s, _)| s)
            .collect();
        match (touched.first(), touched.last()) {
            (Some(a), Some(b)) => round(b.done_s - a.t_s, 3),
            _ => 0.0,
        }
    };
    match (steps.first(), steps.last()) {
        (Some(a), Some(b)) => Coexistence {
            from_s: a.t_s,
            to_s: b.done_s,
            seconds: round(b.done_s - a.t_s, 3),
            writers_seconds: side(true),
            readers_seconds: side(false),
        },
        _ => Coexistence::default(),
    }
}

/// Acknowledged records per second from the first sample to the last at or before `until`.
pub fn rate_until(samples: &[Sample], until: f64) -> f64 {
    match (
        samples.first(),
        samples.iter().take_while(|s| s.t_s <= until).last(),
    ) {
        (Some(a), Some(b)) if b.t_s > a.t_s => {
            b.acked.saturating_sub(a.acked) as f64 / (b.t_s - a.t_s)
        }
        _ => 0.0,
    }
}

/// Errors counted between `from` and `to` seconds (sample to sample).
pub fn errors_between(samples: &[Sample], from: f64, to: f64) -> u64 {
    let at = |t: f64| {
        samples
            .iter()
            .take_while(|s| s.t_s <= t)
            .last()
            .map_or(0, |s| s.errors)
    };
    let end = samples
        .iter()
        .find(|s| s.t_s >= to)
        .map_or_else(|| samples.last().map_or(0, |s| s.errors), |s| s.errors);
    end.saturating_sub(at(from))
}

/// Runs the experiment: the proxy, the ramp, then every mode's rollouts; draws one chart per
/// run next to `out` ([`chart_path`]).
pub async fn run(
    config: &RolloutConfig,
    config_path: &Path,
    stack: &StackOptions,
    command: String,
    out: &Path,
) -> Result<RolloutReport, LabError> {
    let (begin, machine, lab, registry, tag) = crate::lab::begin(stack)?;
    let scratch = stack.log_dir.join(format!("rollout-{tag}"));
    let proxy = tokio::task::block_in_place(|| start_proxy(&lab, &tag, &scratch))?;
    let shared = Shared {
        config,
        lab: &lab,
        registry,
        codec: Arc::new(Codec::new(config.format)?),
        proxy,
        tag,
    };
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|cause| LabError::Io {
            path: dir.to_path_buf(),
            cause,
        })?;
    }
    let rate = ramp(&shared).await?;
    eprintln!("rollout: rate {} records/s ({})", rate.chosen, rate.how);
    let mut runs = vec![];
    for (m, orders) in &config.modes {
        for order in orders {
            let mut r = run_one(&shared, m, *order, rate.chosen).await?;
            eprintln!(
                "rollout: {} {} {}: {} errors, coexistence {:.1}s, rate {:.0}/s, max lag {}",
                r.mode,
                r.change,
                r.order,
                r.deserialize_errors,
                r.coexistence.seconds,
                r.rate_reached,
                r.max_lag
            );
            let png = chart_path(out, &r);
            crate::lab::chart::draw(&png, &r).map_err(LabError::Setup)?;
            r.chart = png.file_name().map(|f| f.to_string_lossy().into_owned());
            runs.push(r);
        }
    }
    let costs = Costs::of(&runs, config.groups, cfg!(debug_assertions));
    Ok(RolloutReport {
        head: lab.head("rollout", command, config_path),
        proxy: serde_json::json!({
            "args": shared.proxy.args,
            "policy": shared.proxy.policy,
            "binary": schemagate_bin()?.display().to_string(),
        }),
        machine,
        format: config.format.to_string(),
        producers: config.producers,
        consumers: config.consumers,
        groups: config.groups,
        partitions: config.partitions,
        batch: config.batch,
        step_secs: config.step.as_secs_f64(),
        sample_ms: config.sample.as_millis() as u64,
        seed: config.seed,
        rate,
        runs,
        costs,
        wall_seconds: round(begin.elapsed().as_secs_f64(), 1),
    })
}

/// `<out's stem>-<mode>-<order>.png` next to `out`.
pub fn chart_path(out: &Path, r: &RunReport) -> PathBuf {
    let stem = out
        .file_stem()
        .map_or("rollout".into(), |s| s.to_string_lossy().into_owned());
    let order = r.order.split_whitespace().next().unwrap_or("order");
    out.with_file_name(format!(
        "{stem}-{}-{order}.png",
        r.mode.to_ascii_lowercase()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(batches: &[Vec<Upgrade>]) -> (usize, usize) {
        let all: Vec<&Upgrade> = batches.iter().flatten().collect();
        (
            all.iter()
                .filter(|u| matches!(u, Upgrade::Producer(_)))
                .count(),
            all.iter()
                .filter(|u| matches!(u, Upgrade::Consumer { .. }))
                .count(),
        )
    }

    #[test]
    fn sided_plans_finish_one_side_before_the_other() {
        let b = plan(
            RolloutOrder::Sided(UpgradeOrder::ProducersFirst),
            3,
            2,
            2,
            2,
            0,
        );
        assert_eq!(count(&b), (3, 4));
        // 3 producers in batches of 2, then 4 consumers: a batch never mixes the sides.
        assert_eq!(b.len(), 4);
        assert_eq!(b[1], [Upgrade::Producer(2)]);
        assert_eq!(
            b[2],
            [
                Upgrade::Consumer { group: 0, slot: 0 },
                Upgrade::Consumer { group: 1, slot: 0 }
            ]
        );
        let c = plan(
            RolloutOrder::Sided(UpgradeOrder::ConsumersFirst),
            1,
            1,
            2,
            5,
            0,
        );
        assert_eq!(
            c,
            [
                vec![
                    Upgrade::Consumer { group: 0, slot: 0 },
                    Upgrade::Consumer { group: 0, slot: 1 }
                ],
                vec![Upgrade::Producer(0)]
            ]
        );
    }

    #[test]
    fn random_plans_are_seeded_permutations_that_mix_the_sides() {
        let a = plan(RolloutOrder::Random, 6, 2, 6, 3, 7);
        assert_eq!(count(&a), (6, 12));
        assert_eq!(a, plan(RolloutOrder::Random, 6, 2, 6, 3, 7));
        assert_ne!(a, plan(RolloutOrder::Random, 6, 2, 6, 3, 8));
        let flat: Vec<Upgrade> = a.into_iter().flatten().collect();
        let first_consumer = flat
            .iter()
            .position(|u| matches!(u, Upgrade::Consumer { .. }));
        let last_producer = flat.iter().rposition(|u| matches!(u, Upgrade::Producer(_)));
        assert!(first_consumer < last_producer, "{flat:?}");
    }

    fn sample(t_s: f64, errors: u64) -> Sample {
        Sample {
            t_s,
            errors,
            ..Sample::default()
        }
    }

    #[test]
    fn errors_are_counted_inside_the_window() {
        let s = [
            sample(0.0, 0),
            sample(1.0, 0),
            sample(2.0, 5),
            sample(3.0, 9),
            sample(4.0, 9),
        ];
        assert_eq!(errors_between(&s, 1.0, 3.0), 9);
        assert_eq!(errors_between(&s, 2.5, 4.0), 4);
        assert_eq!(errors_between(&[], 0.0, 1.0), 0);
    }

    #[test]
    fn the_rate_runs_from_the_first_sample_to_the_producers_stop() {
        let s: Vec<Sample> = [(0.0, 100), (1.0, 1100), (2.0, 2100), (3.0, 2200)]
            .iter()
            .map(|&(t_s, acked)| Sample {
                t_s,
                acked,
                ..Sample::default()
            })
            .collect();
        assert_eq!(rate_until(&s, 2.0), 1000.0);
        assert_eq!(rate_until(&s, 2.5), 1000.0);
        assert_eq!(rate_until(&s[..1], 5.0), 0.0);
    }

    #[test]
    fn coexistence_spans_the_steps_and_each_side() {
        let step = |t_s, done_s| StepReport {
            t_s,
            done_s,
            upgraded: vec![],
        };
        let batches = [
            vec![Upgrade::Producer(0)],
            vec![Upgrade::Consumer { group: 0, slot: 0 }],
            vec![Upgrade::Consumer { group: 0, slot: 1 }],
        ];
        let c = coexistence(
            &[step(5.0, 5.0), step(8.0, 9.5), step(11.0, 12.0)],
            &batches,
        );
        assert_eq!(c.seconds, 7.0);
        assert_eq!(c.writers_seconds, 0.0);
        assert_eq!(c.readers_seconds, 4.0);
        assert_eq!(coexistence(&[], &[]), Coexistence::default());
    }

    #[test]
    fn costs_scale_to_the_seed() {
        let mut r = RunReport {
            mode: "FULL".into(),
            change: "v2".into(),
            change_class: String::new(),
            order: "random".into(),
            predicted_failing_order: None,
            topic: String::new(),
            groups: vec![],
            registrations: vec![],
            rate_target: 0.0,
            rate_reached: 10_000.0,
            produce_seconds: 10.0,
            produced: BTreeMap::from([("v1".into(), 60_000), ("v2".into(), 40_000)]),
            received: vec![],
            decoded: 0,
            deserialize_errors: 0,
            deserialize_errors_total_metric: 0,
            errors_by_reader: BTreeMap::new(),
            errors_in_window: 0,
            client_errors: BTreeMap::new(),
            drained: true,
            unread: vec![0],
            ready_seconds: 1.0,
            steps: vec![],
            coexistence: Coexistence::default(),
            max_lag: 0,
            proxy_cpu_s: 2.0,
            loadgen_cpu_s: 5.0,
            mean_record_bytes: 500.0,
            chart: None,
            samples: vec![],
        };
        let c = Costs::of(std::slice::from_ref(&r), 2, false);
        // 2 CPU s over 100k records: 20 µs a record; 200k/s × 20 µs = 4 cores.
        assert_eq!(c.proxy_us_per_record, 20.0);
        assert_eq!(c.seed_proxy_cores, 4.0);
        assert_eq!(c.seed_client_cores, 10.0);
        // 240 M records × 500 B = 120 GB.
        assert_eq!(c.seed_gb_one_replica, 120.0);
        assert_eq!(c.seed_over_best, 20.0);
        r.rate_reached = 0.0;
        assert_eq!(Costs::of(&[r], 2, false).seed_over_best, 0.0);
    }
}
