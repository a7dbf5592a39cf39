//! Experiment 3, upgrade order per mode. For each compatibility mode of the config, a change
//! class the registry accepts under that mode is rolled out twice on a fresh topic, in steps:
//! producers first (each of N producer instances switches from v1 to the new version in turn,
//! then each of M consumer instances of one group is replaced by one reading as the new
//! version), and consumers first (the reverse). After every step each producer writes the same
//! number of records and the lab waits until the group has read everything on the topic.
//!
//! The consumers are the fleet's ([`crate::fleet::consumer`]): real librdkafka group members
//! pinned to a reader version, counting `schemagate_fleet_deserialize_errors_total`. The order
//! a mode forces is then *derived* from the two runs' error counts ([`derive_order`]), and
//! compared with what the mode's registry check promises ([`promise`]).
//!
//! Last, the failing order of one mode is run again with the producers writing through an
//! enforcing `schemagate proxy` whose policy declares the reader version in use
//! (`readers = [1]`): no consumer may fail, the records the old readers could not read must be
//! in the quarantine topic, and after the consumers upgrade, `schemagate quarantine replay`
//! (with the policy's readers now `["latest"]`) must deliver them to the upgraded consumers.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use contract::SchemaId;
use serde::{Deserialize, Serialize};

use crate::fleet::consumer::{self, ConsumerSpec, ConsumerStats};
use crate::fleet::metrics::FleetMetrics;
use crate::lab::stack::{schemagate_bin, LabStack, StackOptions};
use crate::lab::verdict::{self, Verdict};
use crate::lab::ReportHead;
use crate::lab::{topic, LabError};
use crate::order::OrderGenerator;
use crate::registry::RegistryClient;
use crate::render::{Codec, Format};
use crate::version::SchemaVersion;

/// `loadgen/lab/upgrade.toml` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    format: String,
    producers: u32,
    consumers: u32,
    records: u64,
    #[serde(default)]
    seed: u64,
    #[serde(default = "default_drain")]
    drain_timeout_secs: u64,
    out: Option<PathBuf>,
    modes: Vec<RawMode>,
    proxy: Option<RawProxy>,
}

fn default_drain() -> u64 {
    60
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMode {
    mode: String,
    change: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProxy {
    mode: String,
}

/// One mode and the change class rolled out under it.
#[derive(Debug, Clone)]
pub struct ModeChange {
    /// The subject's compatibility level.
    pub mode: String,
    /// The new version (compared with v1).
    pub change: SchemaVersion,
}

/// The upgrade experiment's config, validated.
#[derive(Debug, Clone)]
pub struct UpgradeConfig {
    /// Format.
    pub format: Format,
    /// Producer instances.
    pub producers: u32,
    /// Consumer instances (one group; the topic has this many partitions).
    pub consumers: u32,
    /// Records each producer writes after every step.
    pub records: u64,
    /// Generator seed.
    pub seed: u64,
    /// How long the lab waits for the group to read a step's records.
    pub drain_timeout: Duration,
    /// Default output.
    pub out: Option<PathBuf>,
    /// The modes, each with its change.
    pub modes: Vec<ModeChange>,
    /// The mode whose failing order is run again through the enforcing proxy.
    pub proxy_mode: Option<String>,
}

impl UpgradeConfig {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Self, LabError> {
        let (raw, bad) = crate::lab::load_config::<RawConfig>(path)?;
        let modes = raw
            .modes
            .into_iter()
            .map(|m| {
                Ok(ModeChange {
                    mode: m.mode.to_ascii_uppercase(),
                    change: m.change.parse().map_err(|e| bad(format!("{e}")))?,
                })
            })
            .collect::<Result<Vec<_>, LabError>>()?;
        if modes.is_empty() {
            return Err(bad("no [[modes]]".into()));
        }
        if modes.iter().any(|m| m.change == SchemaVersion::V1) {
            return Err(bad("a change must be one of v2..v7".into()));
        }
        let proxy_mode = raw.proxy.map(|p| p.mode.to_ascii_uppercase());
        if let Some(p) = &proxy_mode {
            if !modes.iter().any(|m| &m.mode == p) {
                return Err(bad(format!("[proxy] mode {p} is not one of the [[modes]]")));
            }
        }
        if !(1..=16).contains(&raw.producers) || !(1..=16).contains(&raw.consumers) {
            return Err(bad("producers and consumers must be 1..=16".into()));
        }
        Ok(Self {
            format: raw.format.parse().map_err(&bad)?,
            producers: raw.producers,
            consumers: raw.consumers,
            records: raw.records.max(1),
            seed: raw.seed,
            drain_timeout: Duration::from_secs(raw.drain_timeout_secs.clamp(1, 600)),
            out: raw.out,
            modes,
            proxy_mode,
        })
    }
}

/// Which side of the topic upgrades first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpgradeOrder {
    /// Every producer switches to the new version, then every consumer.
    ProducersFirst,
    /// Every consumer switches to the new version, then every producer.
    ConsumersFirst,
}

impl UpgradeOrder {
    fn name(self) -> &'static str {
        match self {
            UpgradeOrder::ProducersFirst => "producers-first",
            UpgradeOrder::ConsumersFirst => "consumers-first",
        }
    }
}

/// The order a mode forces, derived from the error counts of the two rollouts: the order to
/// use is the one that did not fail.
pub fn derive_order(producers_first_errors: u64, consumers_first_errors: u64) -> &'static str {
    match (producers_first_errors > 0, consumers_first_errors > 0) {
        (true, false) => "consumers first",
        (false, true) => "producers first",
        (false, false) => "any",
        (true, true) => "none: both orders failed",
    }
}

/// What the mode's registry check promises (the documented claim the runs test), and the
/// order that promise leaves unprotected (`None`: neither, `Some(both)` is not a promise).
pub fn promise(mode: &str) -> (&'static str, Option<UpgradeOrder>, bool) {
    let base = mode.trim_end_matches("_TRANSITIVE");
    match base {
        "BACKWARD" => (
            "a new reader reads data of the previous version; nothing about old readers on new data",
            Some(UpgradeOrder::ProducersFirst),
            false,
        ),
        "FORWARD" => (
            "an old reader reads data of the new version; nothing about new readers on old data",
            Some(UpgradeOrder::ConsumersFirst),
            false,
        ),
        "FULL" => ("both directions", None, false),
        _ => ("nothing", None, true),
    }
}

/// One step of a rollout.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    /// 0 is the start (everything on v1).
    pub step: usize,
    /// What changed before the step's records were written.
    pub action: String,
    /// Each producer's writer version during the step.
    pub producers: Vec<String>,
    /// Each consumer's reader version during the step.
    pub consumers: Vec<String>,
    /// Records acknowledged in the step, by writer version.
    pub produced: BTreeMap<String, u64>,
    /// Records the group decoded in the step.
    pub decoded: u64,
    /// Deserialize errors in the step, by the reader version of the consumer that failed.
    pub deserialize_errors: BTreeMap<String, u64>,
    /// Whether the group read everything on the topic within the drain timeout.
    pub drained: bool,
    /// Seconds the step took.
    pub seconds: f64,
}

/// A consumer that failed at least once.
#[derive(Debug, Clone, Serialize)]
pub struct FailedConsumer {
    /// `group/slot.generation`.
    pub consumer: String,
    /// Its reader version.
    pub reader: String,
    /// Its deserialize errors by writer version and kind.
    pub errors: BTreeMap<String, BTreeMap<String, u64>>,
}

/// What `schemagate quarantine replay --json` reported.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ReplayCounts {
    /// The command after `schemagate`.
    pub args: Vec<String>,
    /// Exit code.
    pub exit_code: Option<i32>,
    /// Records read from quarantine.
    pub read: u64,
    /// Records that pass the registry as it is now.
    pub passed: u64,
    /// Records produced to the topic.
    pub produced: u64,
    /// Records still failing, by reason.
    pub still_failing: BTreeMap<String, u64>,
    /// Its stderr when it failed, or its stdout when that was not the JSON report.
    pub problem: Option<String>,
}

/// The enforcing proxy's part of a rollout.
#[derive(Debug, Clone, Serialize)]
pub struct ProxyOutcome {
    /// The policy while old consumers were in use.
    pub policy: String,
    /// The policy given to the replay, after every consumer upgraded.
    pub policy_after_upgrade: String,
    /// The quarantine topic.
    pub quarantine_topic: String,
    /// Records the producers had acknowledged (the proxy acknowledges quarantined ones too).
    pub acknowledged: u64,
    /// Records that reached the topic.
    pub on_topic: i64,
    /// Records in the quarantine topic after the rollout.
    pub quarantined: i64,
    /// `schemagate.reason` of the quarantined records, with counts.
    pub reasons: BTreeMap<String, u64>,
    /// `replay --dry-run` with the first policy: the old readers are still declared, so
    /// nothing may pass.
    pub replay_dry_run_before_upgrade: ReplayCounts,
    /// The replay after the consumers upgraded.
    pub replay: ReplayCounts,
    /// Records the upgraded consumers decoded after the replay.
    pub decoded_after_replay: u64,
    /// Deserialize errors after the replay.
    pub errors_after_replay: u64,
    /// Whether the group read the replayed records within the drain timeout.
    pub drained_after_replay: bool,
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
    /// Which side upgraded first.
    pub order: UpgradeOrder,
    /// Whether the producers wrote through the enforcing proxy.
    pub through_proxy: bool,
    /// The topic.
    pub topic: String,
    /// The consumer group.
    pub group: String,
    /// The registry's answers to registering v1 and then the new version under the mode.
    pub registrations: Vec<Verdict>,
    /// Each step.
    pub steps: Vec<StepReport>,
    /// Records acknowledged to the producers.
    pub produced: u64,
    /// Records the consumers received (a record redelivered after a rebalance counts twice).
    pub consumed: u64,
    /// Records decoded.
    pub decoded: u64,
    /// Deserialize errors counted by the consumers.
    pub deserialize_errors: u64,
    /// The floor the mode's promise predicts: the records of the unprotected writer version
    /// written in steps where every consumer read as the unprotected reader version (each of
    /// them can only reach a reader that cannot read it). 0 when the mode promises both ways.
    pub predicted_errors_at_least: u64,
    /// The same, as `schemagate_fleet_deserialize_errors_total` summed from the metrics text.
    pub deserialize_errors_total_metric: u64,
    /// Deserialize errors by the failing consumer's reader version.
    pub errors_by_reader: BTreeMap<String, u64>,
    /// The consumers that failed.
    pub failed_consumers: Vec<FailedConsumer>,
    /// Client-side (librdkafka) consumer errors by kind.
    pub client_errors: BTreeMap<String, u64>,
    /// Every step drained.
    pub drained: bool,
    /// The proxy's part, for the run through it.
    pub proxy: Option<ProxyOutcome>,
    /// Seconds the rollout took.
    pub wall_seconds: f64,
}

/// What the runs of one mode show.
#[derive(Debug, Clone, Serialize)]
pub struct ModeReport {
    /// The mode.
    pub mode: String,
    /// The new version.
    pub change: String,
    /// Its change class.
    pub change_class: String,
    /// What the mode's check promises.
    pub promise: String,
    /// The order the promise leaves unprotected, if any.
    pub predicted_failing_order: Option<UpgradeOrder>,
    /// Deserialize errors of the producers-first rollout.
    pub producers_first_errors: u64,
    /// Deserialize errors of the consumers-first rollout.
    pub consumers_first_errors: u64,
    /// The order the mode forces, derived from the two counts.
    pub order: String,
    /// Whether the measured order is the one the promise predicts.
    pub as_predicted: bool,
}

/// The upgrade experiment's report (`docs/lab/upgrade.json`).
#[derive(Debug, Clone, Serialize)]
pub struct UpgradeReport {
    /// Experiment (always `upgrade`), command line, config file, broker.
    #[serde(flatten)]
    pub head: ReportHead,
    /// Registry used.
    pub registry: String,
    /// CPUs and load.
    pub machine: serde_json::Value,
    /// Format.
    pub format: String,
    /// Producer instances.
    pub producers: u32,
    /// Consumer instances.
    pub consumers: u32,
    /// Records per producer per step.
    pub records_per_step: u64,
    /// Generator seed.
    pub seed: u64,
    /// Per mode: the derived order.
    pub modes: Vec<ModeReport>,
    /// Every rollout, the proxy's last.
    pub runs: Vec<RunReport>,
    /// Why the proxy run did not happen, when it did not.
    pub proxy_skipped: Option<String>,
    /// Seconds the experiment took.
    pub wall_seconds: f64,
}

/// Runs the experiment.
pub async fn run(
    config: &UpgradeConfig,
    config_path: &Path,
    stack: &StackOptions,
    command: String,
) -> Result<UpgradeReport, LabError> {
    let (begin, machine, lab, registry, tag) = crate::lab::begin(stack)?;
    let codec = Arc::new(Codec::new(config.format)?);
    let shared = Shared {
        config,
        lab: &lab,
        registry: &registry,
        codec: &codec,
        tag: &tag,
        log_dir: &stack.log_dir,
    };
    let mut runs = vec![];
    let mut modes = vec![];
    for m in &config.modes {
        let mut errors = BTreeMap::new();
        for order in [UpgradeOrder::ProducersFirst, UpgradeOrder::ConsumersFirst] {
            let r = rollout(shared, m, order, None).await?;
            errors.insert(order.name(), r.deserialize_errors);
            runs.push(r);
        }
        let pf = errors.get("producers-first").copied().unwrap_or(0);
        let cf = errors.get("consumers-first").copied().unwrap_or(0);
        let (text, failing, unknown) = promise(&m.mode);
        let predicted = match failing {
            Some(UpgradeOrder::ProducersFirst) => derive_order(1, 0),
            Some(UpgradeOrder::ConsumersFirst) => derive_order(0, 1),
            None => derive_order(0, 0),
        };
        let order = derive_order(pf, cf);
        eprintln!(
            "upgrade: {} {}: producers first {pf} errors, consumers first {cf}: order {order}",
            m.mode, m.change
        );
        modes.push(ModeReport {
            mode: m.mode.clone(),
            change: m.change.to_string(),
            change_class: m.change.change().to_string(),
            promise: text.to_string(),
            predicted_failing_order: failing,
            producers_first_errors: pf,
            consumers_first_errors: cf,
            order: order.to_string(),
            as_predicted: !unknown && order == predicted,
        });
    }
    let mut proxy_skipped = None;
    if let Some(pm) = &config.proxy_mode {
        let measured = modes.iter().find(|r| &r.mode == pm);
        let wrong = match measured.map(|r| r.order.as_str()) {
            Some("consumers first") => Some(UpgradeOrder::ProducersFirst),
            Some("producers first") => Some(UpgradeOrder::ConsumersFirst),
            _ => None,
        };
        match (wrong, config.modes.iter().find(|m| &m.mode == pm)) {
            (Some(UpgradeOrder::ProducersFirst), Some(m)) => {
                let proxy = Some(schemagate_bin()?);
                let r = rollout(shared, m, UpgradeOrder::ProducersFirst, proxy).await?;
                runs.push(r);
            }
            (Some(w), _) => {
                proxy_skipped = Some(format!(
                    "{pm}'s failing order is {}: the records held back would be v1 records that \
                     the upgraded readers cannot read either, so there is nothing a replay could \
                     repair; the proxy run covers a producers-first failure",
                    w.name()
                ))
            }
            (None, _) => {
                proxy_skipped = Some(format!(
                    "{pm} has no single failing order in this run ({}), so there is no wrong \
                     order to prevent",
                    measured.map_or("not run", |r| r.order.as_str())
                ))
            }
        }
    }
    Ok(UpgradeReport {
        head: lab.head("upgrade", command, config_path),
        registry: lab.registry.clone(),
        machine,
        format: config.format.to_string(),
        producers: config.producers,
        consumers: config.consumers,
        records_per_step: config.records,
        seed: config.seed,
        modes,
        runs,
        proxy_skipped,
        wall_seconds: begin.elapsed().as_secs_f64(),
    })
}

/// One step's change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Start,
    Producer(usize),
    Consumer(usize),
}

/// The steps of a rollout: the start, then one upgrade per instance, the first side first.
fn plan(order: UpgradeOrder, producers: usize, consumers: usize) -> Vec<Action> {
    let p = (0..producers).map(Action::Producer);
    let c = (0..consumers).map(Action::Consumer);
    let mut out = vec![Action::Start];
    match order {
        UpgradeOrder::ProducersFirst => out.extend(p.chain(c)),
        UpgradeOrder::ConsumersFirst => out.extend(c.chain(p)),
    }
    out
}

/// A consumer instance of the group.
pub(crate) struct Member {
    pub(crate) label: String,
    pub(crate) reader: SchemaVersion,
    pub(crate) stats: Arc<ConsumerStats>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<(), rdkafka::error::KafkaError>>>,
}

impl Member {
    pub(crate) fn errors(&self) -> u64 {
        self.stats
            .errors
            .lock()
            .map(|m| m.values().sum())
            .unwrap_or(0)
    }

    /// Stops the consumer (it commits and leaves the group) and waits for it.
    fn stop(&mut self, client_errors: &mut BTreeMap<String, u64>) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            match t.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => *client_errors.entry(format!("consumer: {e}")).or_default() += 1,
                Err(_) => *client_errors.entry("consumer panicked".into()).or_default() += 1,
            }
        }
    }
}

/// The group: its active members by slot, and the ones replaced.
pub(crate) struct Group {
    spec: ConsumerSpec,
    codec: Arc<Codec>,
    pub(crate) active: Vec<Member>,
    retired: Vec<Member>,
    generation: usize,
    pub(crate) client_errors: BTreeMap<String, u64>,
}

impl Group {
    /// Starts `members` consumers of `spec`'s group, each reading as `spec.reader`.
    pub(crate) fn start(spec: ConsumerSpec, codec: Arc<Codec>, members: usize) -> Self {
        let reader = spec.reader;
        let mut g = Group {
            spec,
            codec,
            active: vec![],
            retired: vec![],
            generation: 0,
            client_errors: BTreeMap::new(),
        };
        for slot in 0..members {
            let member = g.start_member(slot, reader);
            g.active.push(member);
        }
        g
    }

    fn start_member(&mut self, slot: usize, reader: SchemaVersion) -> Member {
        self.generation += 1;
        let stats = Arc::new(ConsumerStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let spec = ConsumerSpec {
            reader,
            ..self.spec.clone()
        };
        let (codec, t_stats, t_stop) = (self.codec.clone(), stats.clone(), stop.clone());
        let thread = std::thread::spawn(move || consumer::run(&spec, &codec, &t_stats, &t_stop));
        Member {
            label: format!("{}/{slot}.{}", self.spec.group, self.generation),
            reader,
            stats,
            stop,
            thread: Some(thread),
        }
    }

    /// Replaces the member in `slot` by one reading as `reader` (a rolling restart).
    fn replace(&mut self, slot: usize, reader: SchemaVersion) {
        self.replace_many(&[slot], reader);
    }

    /// Replaces the members in `slots` at once (one batch of a rolling restart): every one is
    /// told to stop, each is waited for (it commits and leaves the group), then the new ones
    /// start reading as `reader`.
    pub(crate) fn replace_many(&mut self, slots: &[usize], reader: SchemaVersion) {
        for &slot in slots {
            if let Some(old) = self.active.get(slot) {
                old.stop.store(true, Ordering::Relaxed);
            }
        }
        for &slot in slots {
            if let Some(old) = self.active.get_mut(slot) {
                old.stop(&mut self.client_errors);
            }
        }
        for &slot in slots {
            let new = self.start_member(slot, reader);
            if let Some(s) = self.active.get_mut(slot) {
                let old = std::mem::replace(s, new);
                self.retired.push(old);
            }
        }
    }

    pub(crate) fn all(&self) -> impl Iterator<Item = &Member> {
        self.active.iter().chain(&self.retired)
    }

    pub(crate) fn consumed(&self) -> u64 {
        self.all()
            .map(|m| m.stats.consumed.load(Ordering::Relaxed))
            .sum()
    }

    pub(crate) fn decoded(&self) -> u64 {
        self.all()
            .map(|m| m.stats.decoded.load(Ordering::Relaxed))
            .sum()
    }

    pub(crate) fn errors_by_reader(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for m in self.all() {
            *out.entry(m.reader.to_string()).or_default() += m.errors();
        }
        out
    }

    /// Waits until the group received at least `expected` records; false on the timeout.
    pub(crate) fn wait_drained(&self, expected: u64, timeout: Duration) -> bool {
        let start = Instant::now();
        loop {
            if self.consumed() >= expected {
                return true;
            }
            if start.elapsed() > timeout {
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub(crate) fn stop_all(&mut self) {
        for m in self.active.iter_mut() {
            m.stop(&mut self.client_errors);
        }
    }
}

/// `after - before` per key.
fn delta(after: &BTreeMap<String, u64>, before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0).min(*v)))
        .filter(|(_, v)| *v > 0)
        .collect()
}

/// Sums `schemagate_fleet_deserialize_errors_total` over its series in a metrics text.
pub(crate) fn metric_sum(text: &str) -> u64 {
    text.lines()
        .filter(|l| l.starts_with("schemagate_fleet_deserialize_errors_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

/// Sets `subject` to `m.mode`, then registers v1 and `m.change` (which must be accepted: a
/// rollout is of a change the mode allows). Returns the registry's answers and the ids.
pub(crate) async fn register_change(
    registry: &RegistryClient,
    subject: &str,
    format: Format,
    m: &ModeChange,
) -> Result<(Vec<Verdict>, BTreeMap<SchemaVersion, SchemaId>), LabError> {
    verdict::set_mode(registry, subject, &m.mode).await?;
    let mut registrations = vec![];
    let mut ids = BTreeMap::new();
    for v in [SchemaVersion::V1, m.change] {
        let answer = verdict::register(registry, subject, format, v).await?;
        let id = answer.id.ok_or_else(|| {
            LabError::Setup(format!(
                "{v} refused on {subject} under {}: {:?} (choose a change the mode accepts)",
                m.mode, answer.message
            ))
        })?;
        ids.insert(v, SchemaId(id));
        registrations.push(answer);
    }
    Ok((registrations, ids))
}

/// What every rollout of one experiment shares.
#[derive(Clone, Copy)]
struct Shared<'a> {
    config: &'a UpgradeConfig,
    lab: &'a LabStack,
    registry: &'a RegistryClient,
    codec: &'a Arc<Codec>,
    tag: &'a str,
    log_dir: &'a Path,
}

/// One rollout of `m.change` in `order`, producing directly or through an enforcing proxy
/// (`proxy`: the schemagate binary).
async fn rollout(
    shared: Shared<'_>,
    m: &ModeChange,
    order: UpgradeOrder,
    proxy: Option<PathBuf>,
) -> Result<RunReport, LabError> {
    let Shared {
        config,
        lab,
        registry,
        codec,
        tag,
        log_dir,
    } = shared;
    let begin = Instant::now();
    let format = config.format;
    let via = if proxy.is_some() { "-proxy" } else { "" };
    let topic_name = format!(
        "lab-upgrade-{tag}-{}-{}-{}{via}",
        m.mode.to_ascii_lowercase(),
        m.change,
        order.name()
    );
    let subject = format!("{topic_name}-value");
    let group = format!("{topic_name}-app");
    let (registrations, ids) = register_change(registry, &subject, format, m).await?;
    let partitions = i32::try_from(config.consumers).unwrap_or(1);
    topic::create_partitioned(&lab.bootstrap, &topic_name, partitions).await?;
    let quarantine = format!("{topic_name}.quarantine");
    let scratch = log_dir.join(format!("upgrade-{tag}"));
    let policy_with = |readers: &str| {
        format!(
            "[[topic]]\nmatch = \"{topic_name}\"\nvalue = \"required\"\nkey = \"off\"\n\
             strategy = \"topic\"\non_invalid = \"quarantine\"\nquarantine = \"{{topic}}.quarantine\"\n\
             readers = {readers}\n"
        )
    };
    let write = |name: &str, text: &str| -> Result<PathBuf, LabError> {
        let p = crate::lab::stack::scratch(&scratch, name)?;
        std::fs::write(&p, text).map_err(|cause| LabError::Io {
            path: p.clone(),
            cause,
        })?;
        Ok(p)
    };
    // Version 1 of the subject is v1: the readers in use while the consumers are old.
    let (policy, policy_after) = (policy_with("[1]"), policy_with("[\"latest\"]"));
    let mut proxy_child = None;
    let mut produce_to = lab.bootstrap.clone();
    let mut policy_files = None;
    if let Some(schemagate) = &proxy {
        let during = write(&format!("{topic_name}-policy.toml"), &policy)?;
        let after = write(&format!("{topic_name}-policy-after.toml"), &policy_after)?;
        topic::create(&lab.bootstrap, &quarantine).await?;
        let (child, address) = lab.start_proxy(schemagate, &during, &scratch)?;
        proxy_child = Some(child);
        produce_to = address;
        policy_files = Some((during, after));
    }

    let mut prom = prometheus_client::registry::Registry::default();
    let metrics = FleetMetrics::register(&mut prom);
    let writers: HashMap<SchemaId, SchemaVersion> = ids.iter().map(|(v, id)| (*id, *v)).collect();
    let spec = ConsumerSpec {
        bootstrap: lab.bootstrap.clone(),
        topic: topic_name.clone(),
        group: group.clone(),
        reader: SchemaVersion::V1,
        writers,
        subject: subject.clone(),
        metrics,
    };
    let n_consumers = config.consumers as usize;
    let mut g = Group::start(spec, codec.clone(), n_consumers);

    let result = tokio::task::block_in_place(|| {
        let generator = OrderGenerator::new(config.seed);
        let mut writer = vec![SchemaVersion::V1; config.producers as usize];
        let mut next_order = 0u64;
        let mut acknowledged = 0u64;
        let mut steps = vec![];
        for (n, action) in plan(order, writer.len(), n_consumers)
            .into_iter()
            .enumerate()
        {
            let started = Instant::now();
            let what = match action {
                Action::Start => "start: every producer and consumer on v1".to_string(),
                Action::Producer(i) => {
                    if let Some(w) = writer.get_mut(i) {
                        *w = m.change;
                    }
                    format!("producer {i} → {}", m.change)
                }
                Action::Consumer(i) => {
                    g.replace(i, m.change);
                    format!("consumer {i} → {}", m.change)
                }
            };
            let (decoded0, errors0) = (g.decoded(), g.errors_by_reader());
            let mut produced: BTreeMap<String, u64> = BTreeMap::new();
            for w in &writer {
                let id = ids.get(w).copied().unwrap_or(SchemaId(0));
                let values: Vec<Vec<u8>> = (0..config.records)
                    .map(|k| codec.frame(&generator.order(next_order + k), *w, id))
                    .collect::<Result<_, _>>()?;
                next_order += config.records;
                let (acked, errors) = topic::produce_all(&produce_to, &topic_name, &values)?;
                if !errors.is_empty() {
                    return Err(LabError::Setup(format!(
                        "producing to {topic_name}: {errors:?}"
                    )));
                }
                acknowledged += acked;
                *produced.entry(w.to_string()).or_default() += acked;
            }
            let on_topic = topic::total_records(&lab.bootstrap, &topic_name, partitions)?;
            let drained =
                g.wait_drained(u64::try_from(on_topic).unwrap_or(0), config.drain_timeout);
            let errors = delta(&g.errors_by_reader(), &errors0);
            eprintln!(
                "upgrade: {topic_name} step {n} ({what}): produced {produced:?}, errors {errors:?}, drained {drained}"
            );
            steps.push(StepReport {
                step: n,
                action: what,
                producers: writer.iter().map(ToString::to_string).collect(),
                consumers: g.active.iter().map(|m| m.reader.to_string()).collect(),
                produced,
                decoded: g.decoded() - decoded0,
                deserialize_errors: errors,
                drained,
                seconds: started.elapsed().as_secs_f64(),
            });
        }

        let proxy_outcome = match (&proxy, &policy_files) {
            (Some(schemagate), Some((during, after))) => Some(repair(
                schemagate,
                lab,
                &g,
                &topic_name,
                &quarantine,
                partitions,
                (during, after),
                (&policy, &policy_after),
                acknowledged,
                config.drain_timeout,
            )?),
            _ => None,
        };
        Ok::<_, LabError>((steps, acknowledged, proxy_outcome))
    });
    drop(proxy_child);
    tokio::task::block_in_place(|| g.stop_all());
    let (steps, produced, proxy_outcome) = result?;
    let predicted_errors_at_least = predicted_floor(&m.mode, m.change, &steps);

    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &prom)
        .map_err(|e| LabError::Setup(format!("encoding metrics: {e}")))?;
    let errors_by_reader: BTreeMap<String, u64> = g
        .errors_by_reader()
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .collect();
    let failed_consumers = g
        .all()
        .filter(|m| m.errors() > 0)
        .map(|m| {
            let mut errors: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
            if let Ok(map) = m.stats.errors.lock() {
                for ((writer, kind), n) in map.iter() {
                    *errors
                        .entry(writer.clone())
                        .or_default()
                        .entry(kind.clone())
                        .or_default() += n;
                }
            }
            FailedConsumer {
                consumer: m.label.clone(),
                reader: m.reader.to_string(),
                errors,
            }
        })
        .collect();
    let mut client_errors = g.client_errors.clone();
    for m in g.all() {
        if let Ok(map) = m.stats.client_errors.lock() {
            for (k, v) in map.iter() {
                *client_errors.entry(k.clone()).or_default() += v;
            }
        }
    }
    Ok(RunReport {
        mode: m.mode.clone(),
        change: m.change.to_string(),
        change_class: m.change.change().to_string(),
        order,
        through_proxy: proxy.is_some(),
        topic: topic_name,
        group,
        registrations,
        drained: steps.iter().all(|s| s.drained)
            && proxy_outcome
                .as_ref()
                .is_none_or(|p| p.drained_after_replay),
        steps,
        produced,
        consumed: g.consumed(),
        decoded: g.decoded(),
        deserialize_errors: g.errors_by_reader().values().sum(),
        predicted_errors_at_least,
        deserialize_errors_total_metric: metric_sum(&text),
        errors_by_reader,
        failed_consumers,
        client_errors,
        proxy: proxy_outcome,
        wall_seconds: begin.elapsed().as_secs_f64(),
    })
}

/// The errors the mode's promise predicts at least (see
/// [`RunReport::predicted_errors_at_least`]): BACKWARD leaves (new writer, old reader)
/// unprotected, FORWARD (old writer, new reader).
fn predicted_floor(mode: &str, change: SchemaVersion, steps: &[StepReport]) -> u64 {
    let (writer, reader) = match promise(mode).1 {
        Some(UpgradeOrder::ProducersFirst) => (change, SchemaVersion::V1),
        Some(UpgradeOrder::ConsumersFirst) => (SchemaVersion::V1, change),
        None => return 0,
    };
    let (writer, reader) = (writer.to_string(), reader.to_string());
    steps
        .iter()
        .filter(|s| !s.consumers.is_empty() && s.consumers.iter().all(|c| *c == reader))
        .map(|s| s.produced.get(&writer).copied().unwrap_or(0))
        .sum()
}

/// After a rollout through the proxy: count the quarantine, show that a replay with the old
/// readers declared releases nothing, replay with the upgraded readers, and count what the
/// upgraded consumers decode of it.
#[allow(clippy::too_many_arguments)]
fn repair(
    schemagate: &Path,
    lab: &LabStack,
    g: &Group,
    topic_name: &str,
    quarantine: &str,
    partitions: i32,
    files: (&Path, &Path),
    policies: (&str, &str),
    acknowledged: u64,
    drain_timeout: Duration,
) -> Result<ProxyOutcome, LabError> {
    let on_topic = topic::total_records(&lab.bootstrap, topic_name, partitions)?;
    let quarantined = topic::end_offset(&lab.bootstrap, quarantine)?;
    let mut reasons = BTreeMap::new();
    for r in topic::header_values(
        &lab.bootstrap,
        quarantine,
        0,
        quarantined,
        "schemagate.reason",
    )? {
        *reasons.entry(r).or_default() += 1;
    }
    let replay = |policy: &Path, dry_run: bool| {
        let mut args = vec![
            "quarantine".to_string(),
            "replay".into(),
            "--bootstrap".into(),
            lab.bootstrap.clone(),
            "--topic".into(),
            quarantine.to_string(),
            "--to".into(),
            topic_name.to_string(),
            "--registry".into(),
            lab.registry.clone(),
            "--policy".into(),
            policy.display().to_string(),
            "--json".into(),
        ];
        if dry_run {
            args.push("--dry-run".into());
        }
        run_replay(schemagate, args)
    };
    let dry = replay(files.0, true);
    let (decoded0, errors0) = (g.decoded(), g.errors_by_reader().values().sum::<u64>());
    let done = replay(files.1, false);
    let now_on_topic = topic::total_records(&lab.bootstrap, topic_name, partitions)?;
    let drained = g.wait_drained(u64::try_from(now_on_topic).unwrap_or(0), drain_timeout);
    eprintln!(
        "upgrade: {topic_name}: {quarantined} quarantined {reasons:?}; replay produced {}, decoded after {}",
        done.produced,
        g.decoded() - decoded0
    );
    Ok(ProxyOutcome {
        policy: policies.0.to_string(),
        policy_after_upgrade: policies.1.to_string(),
        quarantine_topic: quarantine.to_string(),
        acknowledged,
        on_topic,
        quarantined,
        reasons,
        replay_dry_run_before_upgrade: dry,
        replay: done,
        decoded_after_replay: g.decoded() - decoded0,
        errors_after_replay: g.errors_by_reader().values().sum::<u64>() - errors0,
        drained_after_replay: drained,
    })
}

/// Runs `schemagate ARGS` (a `quarantine replay --json`) and reads its report.
fn run_replay(schemagate: &Path, args: Vec<String>) -> ReplayCounts {
    let mut counts = ReplayCounts {
        args: args.clone(),
        ..ReplayCounts::default()
    };
    match Command::new(schemagate).args(&args).output() {
        Err(e) => counts.problem = Some(format!("could not run: {e}")),
        Ok(o) => {
            counts.exit_code = o.status.code();
            match serde_json::from_slice::<serde_json::Value>(&o.stdout) {
                Ok(v) if o.status.success() => {
                    let n = |k: &str| v.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0);
                    counts.read = n("read");
                    counts.passed = n("passed");
                    counts.produced = n("produced");
                    counts.still_failing = v
                        .get("still_failing")
                        .and_then(|s| serde_json::from_value(s.clone()).ok())
                        .unwrap_or_default();
                }
                _ => {
                    counts.problem = Some(format!(
                        "{}{}",
                        String::from_utf8_lossy(&o.stdout),
                        String::from_utf8_lossy(&o.stderr)
                    ))
                }
            }
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_order_is_the_one_that_did_not_fail() {
        assert_eq!(derive_order(12, 0), "consumers first");
        assert_eq!(derive_order(0, 3), "producers first");
        assert_eq!(derive_order(0, 0), "any");
        assert_eq!(derive_order(1, 1), "none: both orders failed");
    }

    #[test]
    fn promises_name_the_unprotected_order() {
        assert_eq!(
            promise("BACKWARD_TRANSITIVE").1,
            Some(UpgradeOrder::ProducersFirst)
        );
        assert_eq!(promise("FORWARD").1, Some(UpgradeOrder::ConsumersFirst));
        assert_eq!(promise("FULL").1, None);
        assert!(promise("NONE").2);
    }

    #[test]
    fn plans_upgrade_one_side_then_the_other() {
        use Action::*;
        assert_eq!(
            plan(UpgradeOrder::ProducersFirst, 2, 1),
            [Start, Producer(0), Producer(1), Consumer(0)]
        );
        assert_eq!(
            plan(UpgradeOrder::ConsumersFirst, 1, 2),
            [Start, Consumer(0), Consumer(1), Producer(0)]
        );
    }

    #[test]
    fn the_floor_counts_unprotected_records_that_only_failing_readers_could_get() {
        let step = |p: &[(&str, u64)], c: &[&str]| StepReport {
            step: 0,
            action: String::new(),
            producers: vec![],
            consumers: c.iter().map(ToString::to_string).collect(),
            produced: p.iter().map(|(k, n)| (k.to_string(), *n)).collect(),
            decoded: 0,
            deserialize_errors: BTreeMap::new(),
            drained: true,
            seconds: 0.0,
        };
        let steps = [
            step(&[("v1", 10)], &["v1", "v1"]),
            step(&[("v1", 5), ("v4", 5)], &["v1", "v1"]),
            step(&[("v4", 10)], &["v4", "v1"]),
            step(&[("v4", 10)], &["v4", "v4"]),
        ];
        assert_eq!(predicted_floor("BACKWARD", SchemaVersion::V4, &steps), 5);
        assert_eq!(predicted_floor("FULL", SchemaVersion::V4, &steps), 0);
        // FORWARD: v1 records read only by v4 readers: none here.
        assert_eq!(predicted_floor("FORWARD", SchemaVersion::V4, &steps), 0);
    }

    #[test]
    fn metric_sum_reads_every_series() {
        let text = "# TYPE schemagate_fleet_deserialize_errors counter\n\
            schemagate_fleet_deserialize_errors_total{subject=\"s\",reason=\"r\",group=\"g\",writer_version=\"v4\"} 7\n\
            schemagate_fleet_deserialize_errors_total{subject=\"s\",reason=\"q\",group=\"g\",writer_version=\"v1\"} 2\n\
            schemagate_fleet_reader_info{group=\"g\"} 1\n";
        assert_eq!(metric_sum(text), 9);
        assert_eq!(metric_sum(""), 0);
    }

    #[test]
    fn deltas_keep_what_grew() {
        let before = BTreeMap::from([("v1".to_string(), 3)]);
        let after = BTreeMap::from([("v1".to_string(), 5), ("v4".to_string(), 0)]);
        assert_eq!(delta(&after, &before), BTreeMap::from([("v1".into(), 2)]));
    }
}
