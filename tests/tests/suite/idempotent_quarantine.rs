//! Quarantine for idempotent producers, proved against the three-node Apache Kafka cluster.
//!
//! Four real idempotent producers run at once through one enforcing proxy, each on a topic of
//! its own (3 partitions, replication 3, `acks=all`): the Java client with its default config,
//! librdkafka (confluent-kafka) with `enable.idempotence=true`, franz-go with its defaults and
//! kafkajs with `idempotent: true`. Each sends 20,000 records, 1% of them bad at random
//! positions; a record's key is its index, so order and duplicates can be checked.
//!
//! Conditions: steady; the leader of a partition killed (`kill -9`) mid-run and restarted; the
//! proxy killed (`kill -9`) mid-run and restarted on the same ports. After each run the topic
//! and the quarantine topic are read back straight from the brokers, and for every producer:
//! - every acknowledged good record is on the topic exactly once, in the producer's order
//!   within its partition, and no bad record is;
//! - every acknowledged bad record is in quarantine;
//! - acknowledged = on the topic + in quarantine;
//! - the client's own log shows no OUT_OF_ORDER_SEQUENCE_NUMBER, no fencing and no fatal
//!   error.
//!
//! The same steady run with `--no-sequence-rewrite` shows the behaviour before: batches
//! refused whole, good records failed with them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use schemagate_tests::{
    env, Broker, ClientOutput, ClientRun, HarnessError, KafkaCluster, KafkaConfig, Proxy, Registry,
};
use serde_json::Value;

use crate::cluster_workload::create_spread_topic;
use crate::enforce_support::policy;
use crate::read_back::all_partitions;
use crate::support::unique;

/// Records each producer sends.
const COUNT: usize = 20_000;
/// Records per second each producer sends (four at once: about 15 s per run).
const RATE: usize = 1_300;
/// One record in a hundred is bad.
const BAD_EVERY: usize = 100;
/// When the fault happens, after the producers start.
const FAULT_AFTER: Duration = Duration::from_secs(5);

/// The producers under test: name and how to start one.
const PRODUCERS: [&str; 4] = ["java", "librdkafka", "franz-go", "kafkajs"];

pub(crate) fn producer(
    name: &str,
    bootstrap: &str,
    topic: &str,
    bad_file: &Path,
    schema_id: u64,
    load: Load,
) -> ClientRun {
    let run = match name {
        "java" => ClientRun::java("seq-load"),
        "librdkafka" => ClientRun::python("seq_load.py"),
        "franz-go" => ClientRun::go("seqload"),
        "kafkajs" => ClientRun::node("seq_load.js"),
        other => panic!("no producer {other}"),
    }
    .unwrap_or_else(|e| panic!("{e}"));
    run.args([
        "--bootstrap".to_owned(),
        bootstrap.to_owned(),
        "--topic".to_owned(),
        topic.to_owned(),
        "--count".to_owned(),
        load.count.to_string(),
        "--rate".to_owned(),
        load.rate.to_string(),
        "--schema-id".to_owned(),
        schema_id.to_string(),
        "--bad-file".to_owned(),
    ])
    .arg(bad_file)
    .timeout(Duration::from_secs(300))
}

/// How many records each producer sends, and how fast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Load {
    /// Records each producer sends.
    pub count: usize,
    /// Records per second each producer sends.
    pub rate: usize,
}

/// The load of this file's runs.
const STEADY: Load = Load {
    count: COUNT,
    rate: RATE,
};

/// What breaks mid-run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    KillLeader,
    KillProxy,
}

/// The cluster a run uses: the shared one, or its own when the run breaks it.
pub(crate) enum Cluster {
    Shared(Broker),
    Own(KafkaCluster),
}

impl Cluster {
    pub(crate) fn addrs(&self) -> Vec<SocketAddr> {
        match self {
            Cluster::Shared(b) => b.addrs().to_vec(),
            Cluster::Own(c) => c.addrs(),
        }
    }

    /// Client settings that read straight from the brokers.
    fn reader(&self) -> ClientConfig {
        let addrs: Vec<String> = self.addrs().iter().map(ToString::to_string).collect();
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", addrs.join(","));
        config
    }

    fn logs(&self) -> String {
        match self {
            Cluster::Shared(b) => b.log_tail(),
            Cluster::Own(c) => c.log_tails(),
        }
    }
}

/// One run's setup: cluster, registry, enforcing proxy, topics and the bad positions.
pub(crate) struct Lab {
    // Field order is drop order: the proxy goes first.
    pub proxy: Proxy,
    pub registry: Registry,
    pub cluster: Cluster,
    pub dir: tempfile::TempDir,
    pub topics: Vec<String>,
    pub bad: BTreeSet<usize>,
    pub schema_id: u64,
    pub load: Load,
    // SCHEMAGATE_TEST_DIRECT=1 (producers straight to the brokers): the test fails at the end.
    pub direct: Option<env::NotAPass>,
}

impl Lab {
    fn start(name: &str, fault: Fault, rewrite: bool) -> Self {
        let cluster = match fault {
            Fault::KillLeader => Cluster::Own(
                KafkaCluster::start(KafkaConfig::nodes(3)).unwrap_or_else(|e| panic!("{e}")),
            ),
            _ => Cluster::Shared(Broker::shared().unwrap_or_else(|e| panic!("{e}"))),
        };
        Self::start_on(name, cluster, rewrite, STEADY, &[])
    }

    /// Sets up a run on `cluster` (topics, registry, enforcing proxy with `extra` flags) for
    /// producers sending `load`.
    pub(crate) fn start_on(
        name: &str,
        mut cluster: Cluster,
        rewrite: bool,
        load: Load,
        extra: &[String],
    ) -> Self {
        let prefix = unique(name);
        let direct: Vec<String> = cluster.addrs().iter().map(ToString::to_string).collect();
        let direct = direct.join(",");
        let topics: Vec<String> = PRODUCERS.iter().map(|p| format!("{prefix}-{p}")).collect();
        for t in &topics {
            create_spread_topic(&direct, t, 3);
        }
        if let Cluster::Own(c) = &mut cluster {
            c.wait_fully_replicated(Duration::from_secs(60))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let registry = Registry::start("memory").unwrap_or_else(|e| panic!("{e}"));
        let mut schema_id = 0;
        for t in &topics {
            schema_id = registry
                .register(&format!("{t}-value"), "AVRO", r#""string""#)
                .map(u64::from)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let policy_path = dir.path().join("policy.toml");
        std::fs::write(&policy_path, policy(&format!("{prefix}-*"), "quarantine"))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut flags = vec![
            "--registry".to_owned(),
            registry.url(),
            "--policy".to_owned(),
            policy_path.display().to_string(),
            "--sequence-topic".to_owned(),
            format!("{prefix}-sequences"),
        ];
        if !rewrite {
            flags.push("--no-sequence-rewrite".to_owned());
        }
        flags.extend_from_slice(extra);
        let proxy = Proxy::start_with(&cluster.addrs(), &flags)
            .unwrap_or_else(|e| panic!("{e}\n{}", cluster.logs()));
        assert_eq!(
            proxy.wait_for_readyz(200, Duration::from_secs(60)),
            Some(200),
            "the proxy never became ready\n{}",
            proxy.log_tail()
        );
        let direct = env::NotAPass::if_direct();
        let bad = match direct {
            Some(_) => BTreeSet::new(),
            None => bad_positions(load.count),
        };
        let bad_file = dir.path().join("bad.txt");
        let lines: Vec<String> = bad.iter().map(ToString::to_string).collect();
        std::fs::write(&bad_file, lines.join("\n")).unwrap_or_else(|e| panic!("{e}"));
        Self {
            proxy,
            registry,
            cluster,
            dir,
            topics,
            bad,
            schema_id,
            load,
            direct,
        }
    }

    pub(crate) fn diagnostics(&self) -> String {
        format!(
            "--- proxy ---\n{}\n--- registry ---\n{}\n--- kafka ---\n{}",
            self.proxy.log_tail(),
            self.registry.log_tail(),
            self.cluster.logs()
        )
    }

    /// Runs the four producers at once, with `fault` after [`FAULT_AFTER`]; their outputs.
    fn run(&mut self, fault: Fault) -> Vec<(String, ClientOutput)> {
        self.run_with(|lab| {
            std::thread::sleep(FAULT_AFTER);
            match fault {
                Fault::None => {}
                Fault::KillLeader => {
                    lab.wait_for_every_partition(Duration::from_secs(60));
                    lab.kill_a_leader()
                }
                Fault::KillProxy => lab.kill_proxy(),
            }
        })
    }

    /// Waits (at most `within`) until every partition of every producer's topic holds a
    /// record, so that every producer has state on every partition's leader and its
    /// followers before a leader is killed.
    ///
    /// A leader killed earlier meets a broker bug, KAFKA-15591 (fixed in Kafka 4.5): a new
    /// leader without state for a producer takes any first sequence, so when a producer's
    /// first batch on a partition failed on the old leader and a later batch is stored, the
    /// first can only come back out of order. Java did exactly that twice in this test (its
    /// JVM starts last, and its first batches met the kill; RELIABILITY.md), which measures
    /// the broker, not the proxy's rewrite. The order check stays for everything after.
    fn wait_for_every_partition(&self, within: Duration) {
        use rdkafka::consumer::{BaseConsumer, Consumer};
        let started = Instant::now();
        let consumer: BaseConsumer = self
            .cluster
            .reader()
            .create()
            .unwrap_or_else(|e| panic!("watermark reader: {e}"));
        // The partitions of `topic` that hold no record yet (the topic itself while its
        // metadata cannot be read).
        let empty = |topic: &str| -> Vec<String> {
            let partitions: Vec<i32> = consumer
                .fetch_metadata(Some(topic), Duration::from_secs(5))
                .map(|md| {
                    md.topics()
                        .iter()
                        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
                        .collect()
                })
                .unwrap_or_default();
            if partitions.is_empty() {
                return vec![topic.to_owned()];
            }
            partitions
                .into_iter()
                .filter(|&p| {
                    !matches!(consumer.fetch_watermarks(topic, p, Duration::from_secs(5)),
                        Ok((low, high)) if high > low)
                })
                .map(|p| format!("{topic}-{p}"))
                .collect()
        };
        loop {
            let waiting: Vec<String> = self.topics.iter().flat_map(|t| empty(t)).collect();
            if waiting.is_empty() {
                eprintln!(
                    "every partition holds a record {} ms after the fault's delay",
                    started.elapsed().as_millis()
                );
                return;
            }
            if started.elapsed() > within {
                eprintln!("still empty after {within:?}, the fault goes ahead: {waiting:?}");
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Kills the proxy (SIGKILL) and restarts it on the same ports; returns once it is ready.
    pub(crate) fn kill_proxy(&mut self) {
        eprintln!("killing the proxy (SIGKILL) and restarting it");
        let started = Instant::now();
        self.proxy
            .kill_and_restart()
            .unwrap_or_else(|e| panic!("{e}\n{}", self.diagnostics()));
        let ready = self.proxy.wait_for_readyz(200, Duration::from_secs(60));
        eprintln!(
            "proxy back and ready ({ready:?}) {} ms after the kill",
            started.elapsed().as_millis()
        );
    }

    /// Runs the four producers at once while `fault` runs on this thread; their outputs.
    pub(crate) fn run_with(&mut self, fault: impl FnOnce(&mut Lab)) -> Vec<(String, ClientOutput)> {
        // SCHEMAGATE_TEST_DIRECT=1: the same run straight to the brokers (no bad records), to
        // tell a client's own behaviour under the fault from the proxy's.
        let direct = self.direct.is_some();
        // Every broker's address, as a user lists several: the proxy's bootstrap port is
        // broker index 0's, so a client that knew only it could not start while that broker
        // is down (README, Known gaps).
        let brokers = self.cluster.addrs();
        let bootstrap: Vec<String> = match direct {
            true => brokers.iter().map(ToString::to_string).collect(),
            false => {
                let listen = self.proxy.listen();
                (0..brokers.len() as u16)
                    .map(|i| format!("{}:{}", listen.ip(), listen.port() + i))
                    .collect()
            }
        };
        let bootstrap = bootstrap.join(",");
        let bad_file = self.dir.path().join("bad.txt");
        let handles: Vec<_> = PRODUCERS
            .iter()
            .zip(&self.topics)
            .map(|(name, topic)| {
                let run = producer(
                    name,
                    &bootstrap,
                    topic,
                    &bad_file,
                    self.schema_id,
                    self.load,
                );
                let name = (*name).to_owned();
                std::thread::spawn(move || (name, run.run()))
            })
            .collect();
        fault(self);
        handles
            .into_iter()
            .map(|h| {
                let (name, out) = h
                    .join()
                    .unwrap_or_else(|_| panic!("producer thread panicked"));
                let out = out.unwrap_or_else(|e| panic!("{name}: {e}\n{}", self.diagnostics()));
                (name, out)
            })
            .collect()
    }

    fn kill_a_leader(&mut self) {
        let Cluster::Own(cluster) = &mut self.cluster else {
            panic!("a leader kill needs the run's own cluster");
        };
        let view = cluster.view().unwrap_or_else(|e| panic!("{e}"));
        let victim = view.topic(&self.topics[0])[0].leader;
        eprintln!(
            "killing broker {victim} (SIGKILL), leader of {}-0",
            self.topics[0]
        );
        cluster.kill(victim).unwrap_or_else(|e| panic!("{e}"));
        std::thread::sleep(Duration::from_secs(4));
        cluster.restart(victim).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("broker {victim} restarted");
    }

    /// Reads back the topic and its quarantine for each producer and checks the accounting.
    pub(crate) fn check(&self, outputs: &[(String, ClientOutput)]) -> Vec<Value> {
        self.check_with(outputs, false)
    }

    /// As [`Lab::check`]; with `bad_may_vanish`, acknowledged bad records missing from
    /// quarantine are counted (`lost_bad`) but not a failure: for a run that deletes the
    /// quarantine topics, which takes the records stored before with them.
    pub(crate) fn check_with(
        &self,
        outputs: &[(String, ClientOutput)],
        bad_may_vanish: bool,
    ) -> Vec<Value> {
        let config = self.cluster.reader();
        let mut reports = Vec::new();
        let mut problems = Vec::new();
        for ((name, out), topic) in outputs.iter().zip(&self.topics) {
            let summary = out
                .summary(name)
                .unwrap_or_else(|e| panic!("{e}\n{}", self.diagnostics()));
            let stored = all_partitions(&config, topic, Duration::from_secs(60));
            let quarantined = all_partitions(
                &config,
                &format!("{topic}.quarantine"),
                Duration::from_secs(60),
            );
            let log = log_problems(&out.stderr);
            let run = Run {
                bad: &self.bad,
                count: self.load.count,
                bad_may_vanish,
            };
            match account(name, &summary, &run, &stored, &quarantined) {
                Ok(report) => {
                    eprintln!("{name}: {report} log: {log:?}");
                    reports.push(report);
                }
                Err(e) => problems.push(e),
            }
            if log.values().any(|n| *n > 0) {
                problems.push(format!(
                    "{name}: the client's log shows {log:?}\n{}",
                    problem_lines(&out.stderr)
                ));
            }
        }
        let unconfirmed = self
            .proxy
            .full_log()
            .lines()
            .filter(|l| l.contains("WARN") && l.contains("delivered without an offset"))
            .count();
        eprintln!("proxy: {unconfirmed} quarantine copies reported delivered without an offset (sent again)");
        if unconfirmed > 0 && problems.is_empty() {
            // Rare, and the case a librdkafka debug log (SCHEMAGATE_TEST_PROXY_ARGS) explains.
            eprintln!("(logs kept in {})", keep_logs(outputs, &self.proxy));
        }
        if !problems.is_empty() {
            let kept = keep_logs(outputs, &self.proxy);
            panic!(
                "{}\n(client and proxy logs kept in {kept})\n--- proxy warnings (first 40) ---\n{}\n{}",
                problems.join("\n"),
                self.proxy.warnings(40).join("\n"),
                self.diagnostics()
            );
        }
        reports
    }
}

/// Writes every client's stdout and stderr and the proxy's log to a folder that outlives the
/// test, for the post-mortem of a failed run; returns the folder.
fn keep_logs(outputs: &[(String, ClientOutput)], proxy: &Proxy) -> String {
    let Ok(dir) = tempfile::Builder::new().prefix("seqq-failure-").tempdir() else {
        return "(nowhere: no temporary folder)".into();
    };
    let dir = dir.keep();
    for (name, out) in outputs {
        let _ = std::fs::write(dir.join(format!("{name}.stderr")), &out.stderr);
        let _ = std::fs::write(dir.join(format!("{name}.stdout")), &out.stdout);
    }
    let _ = std::fs::write(dir.join("proxy.log"), proxy.full_log());
    let _ = std::fs::write(
        dir.join("proxy-warnings.log"),
        proxy.warnings(usize::MAX).join("\n"),
    );
    dir.display().to_string()
}

/// Java's retried produce errors: OUT_OF_ORDER_SEQUENCE_NUMBER answers that follow a
/// CONCURRENT_TRANSACTIONS on the same partition and are retried (explained), and the others.
fn explain_out_of_order(stderr: &str) -> (usize, usize) {
    let mut concurrent: BTreeSet<String> = BTreeSet::new();
    let (mut explained, mut unexplained) = (0, 0);
    for line in stderr.lines() {
        let Some(rest) = line.split("on topic-partition ").nth(1) else {
            continue;
        };
        let partition = rest.split(',').next().unwrap_or_default().to_owned();
        if line.contains("Error: CONCURRENT_TRANSACTIONS") {
            concurrent.insert(partition);
        } else if line.contains("Error: OUT_OF_ORDER_SEQUENCE_NUMBER") {
            if line.contains("retrying") && concurrent.contains(&partition) {
                explained += 1;
            } else {
                unexplained += 1;
            }
        }
    }
    // Out-of-order lines outside Sender's retry lines (e.g. a fatal one) count as unexplained.
    let all = stderr
        .lines()
        .filter(|l| problem(l) == Some("out_of_order"))
        .count();
    (
        explained,
        unexplained + all.saturating_sub(explained + unexplained),
    )
}

/// The Java client's stderr as kept by [`keep_logs`].
fn kept_stderr(dir: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(dir).join("java.stderr")).unwrap_or_default()
}

/// 1% of the positions, at random (the seed is printed so a failure can be replayed).
fn bad_positions(count: usize) -> BTreeSet<usize> {
    let mut seed = std::env::var("SG_BAD_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
                | 1
        });
    eprintln!("bad positions from seed {seed} (SG_BAD_SEED={seed} replays them)");
    let mut out = BTreeSet::new();
    while out.len() < count / BAD_EVERY {
        // xorshift64
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        out.insert((seed % count as u64) as usize);
    }
    out
}

/// The index a record's key carries.
fn index_of(key: &Option<Vec<u8>>) -> Option<usize> {
    std::str::from_utf8(key.as_deref()?).ok()?.parse().ok()
}

/// What a producer's run is checked against.
struct Run<'a> {
    /// The bad positions.
    bad: &'a BTreeSet<usize>,
    /// Records sent.
    count: usize,
    /// Whether acknowledged bad records may be missing from quarantine (deleted with it).
    bad_may_vanish: bool,
}

/// Checks one producer's run; returns its counts as JSON.
fn account(
    name: &str,
    summary: &Value,
    run: &Run<'_>,
    stored: &[crate::read_back::Stored],
    quarantined: &[crate::read_back::Stored],
) -> Result<Value, String> {
    let (bad, count) = (run.bad, run.count);
    let number = |f: &str| {
        summary[f]
            .as_u64()
            .unwrap_or_else(|| panic!("{name}: no {f} in {summary}"))
    };
    let (sent, acked, failed) = (number("sent"), number("acked"), number("failed"));
    assert_eq!(sent as usize, count, "{name}: {summary}");
    let failed_indexes: BTreeSet<usize> = summary["failed_indexes"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_u64())
                .map(|v| v as usize)
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        failed_indexes.len() as u64,
        failed,
        "{name}: failed indexes listed {summary}"
    );
    // On the topic: each index once, none bad, in order within each partition.
    let mut on_topic: BTreeMap<usize, usize> = BTreeMap::new();
    let mut last_in_partition: HashMap<i32, usize> = HashMap::new();
    let mut reordered = 0;
    for crate::read_back::Stored {
        partition,
        offset,
        key,
        value,
        ..
    } in stored
    {
        let i = index_of(key)
            .unwrap_or_else(|| panic!("{name}: unreadable key at {partition}/{offset}"));
        *on_topic.entry(i).or_default() += 1;
        assert!(
            !bad.contains(&i),
            "{name}: bad record {i} is on the topic at {partition}/{offset}: {value:?}"
        );
        if let Some(prev) = last_in_partition.insert(*partition, i) {
            if prev >= i {
                reordered += 1;
                eprintln!("{name}: partition {partition} offset {offset}: index {i} after {prev}");
            }
        }
    }
    let duplicates: usize = on_topic.values().map(|n| n - 1).sum();
    let in_quarantine: BTreeSet<usize> = quarantined
        .iter()
        .filter_map(|r| index_of(&r.key))
        .collect();
    let quarantine_copies = quarantined.len();
    // Every copy names its producer, epoch and original sequence: at least one distinct
    // (producer, epoch, partition, sequence) per record (more if an epoch bump re-sent it).
    let stamps: BTreeSet<(String, String, String, String)> = quarantined
        .iter()
        .filter_map(|r| {
            Some((
                r.header("schemagate.producer-id")?,
                r.header("schemagate.producer-epoch")?,
                r.header("schemagate.partition")?,
                r.header("schemagate.sequence")?,
            ))
        })
        .collect();
    let unstamped = quarantined
        .iter()
        .filter(|r| r.header("schemagate.sequence").is_none())
        .count();
    let acked_good: Vec<usize> = (0..count)
        .filter(|i| !bad.contains(i) && !failed_indexes.contains(i))
        .collect();
    let acked_bad: Vec<usize> = bad
        .iter()
        .copied()
        .filter(|i| !failed_indexes.contains(i))
        .collect();
    let lost: Vec<usize> = acked_good
        .iter()
        .copied()
        .filter(|i| !on_topic.contains_key(i))
        .collect();
    let bad_lost: Vec<usize> = acked_bad
        .iter()
        .copied()
        .filter(|i| !in_quarantine.contains(i))
        .collect();
    let report = serde_json::json!({
        "producer": name,
        "sent": sent,
        "acked": acked,
        "failed": failed,
        "on_topic": on_topic.len(),
        "in_quarantine": in_quarantine.len(),
        "quarantine_copies": quarantine_copies,
        "quarantine_stamps": stamps.len(),
        "unstamped": unstamped,
        "duplicates": duplicates,
        "reordered": reordered,
        "lost_good": lost.len(),
        "lost_bad": bad_lost.len(),
        "errors": summary["errors"],
    });
    let problem = if acked + failed != sent {
        Some(format!(
            "acknowledged {acked} + failed {failed} is not the {sent} sent"
        ))
    } else if !lost.is_empty() {
        Some(format!(
            "acknowledged good records missing from the topic: {:?}",
            &lost[..lost.len().min(20)]
        ))
    } else if !bad_lost.is_empty() && !run.bad_may_vanish {
        Some(format!(
            "acknowledged bad records missing from quarantine: {:?}",
            &bad_lost[..bad_lost.len().min(20)]
        ))
    } else if duplicates != 0 || reordered != 0 {
        Some(format!(
            "{duplicates} duplicates, {reordered} out of order within a partition"
        ))
    } else if unstamped > 0 || stamps.len() < in_quarantine.len() {
        Some(format!(
            "{unstamped} quarantine copies without a producer stamp; {} distinct stamps for {} records",
            stamps.len(),
            in_quarantine.len()
        ))
    } else if acked as usize != on_topic.len() + in_quarantine.len() && !run.bad_may_vanish {
        Some("acknowledged != on the topic + in quarantine".to_owned())
    } else {
        None
    };
    match problem {
        Some(p) => Err(format!("{name}: {p} {report}")),
        None => Ok(report),
    }
}

/// Lines of a client's log that would show a broken sequence, a fenced producer or a fatal
/// error, counted by kind.
fn log_problems(stderr: &str) -> BTreeMap<&'static str, usize> {
    let mut out = BTreeMap::from([("out_of_order", 0), ("fenced", 0), ("fatal", 0)]);
    for line in stderr.lines() {
        if let Some(kind) = problem(line) {
            *out.entry(kind).or_default() += 1;
        }
    }
    out
}

fn problem(line: &str) -> Option<&'static str> {
    // Kafka 4's Node prints "isFenced: false" in every connection line.
    let l = line.to_ascii_lowercase().replace("isfenced: false", "");
    if l.contains("out_of_order_sequence")
        || l.contains("outofordersequence")
        || l.contains("out of order sequence")
    {
        Some("out_of_order")
    } else if l.contains("fenced")
        || l.contains("invalid_producer_epoch")
        || l.contains("invalidproducerepoch")
    {
        Some("fenced")
    } else if l.contains("fatal") && !l.contains("fatal=false") {
        Some("fatal")
    } else {
        None
    }
}

/// What a failed client run leaves for the post-mortem, in the order it happened: the
/// client's first retried and failed produce answers (the head of its log, where the tail the
/// error shows has scrolled past them), the proxy's sequence decisions for the run's topics,
/// and its warnings; the proxy's whole log is kept next to the client's output.
fn client_failure_report(error: &HarnessError, lab: &Lab) -> String {
    let HarnessError::ClientFailed {
        name, status, kept, ..
    } = error
    else {
        return format!("{error}\n{}", lab.diagnostics());
    };
    let _ = std::fs::write(Path::new(kept).join("proxy.log"), lab.proxy.full_log());
    let stderr = std::fs::read_to_string(Path::new(kept).join("stderr")).unwrap_or_default();
    let answers: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("Error: ") || l.contains(" failed: ") || problem(l).is_some())
        .take(40)
        .collect();
    let log = lab.proxy.full_log();
    let decisions: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("schemagate::sequence"))
        .take(60)
        .collect();
    // The brokers' refusals name the sequence they expected: the other half of the story.
    let refusals = match &lab.cluster {
        Cluster::Shared(b) => b
            .log_lines(&lab.topics[0], 200)
            .into_iter()
            .filter(|l| l.contains("Exception"))
            .take(30)
            .collect(),
        Cluster::Own(_) => Vec::new(),
    };
    format!(
        "{name} failed ({status}); whole output and the proxy's log kept in {kept}\n--- {name}: first produce errors and failures ---\n{}\n--- proxy: first sequence decisions ---\n{}\n--- proxy warnings (first 40) ---\n{}\n--- brokers: refusals on {} ---\n{}",
        answers.join("\n"),
        decisions.join("\n"),
        lab.proxy.warnings(40).join("\n"),
        lab.topics[0],
        refusals.join("\n")
    )
}

fn problem_lines(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| problem(l).is_some())
        .take(20)
        .collect();
    lines.join("\n")
}

fn run_all(name: &str, fault: Fault) {
    let mut lab = Lab::start(name, fault, true);
    let outputs = lab.run(fault);
    let reports = lab.check(&outputs);
    if let Some(r) = reports.iter().find(|r| r["failed"] != 0) {
        let kept = keep_logs(&outputs, &lab.proxy);
        panic!(
            "a producer saw failures: {r}\n(client and proxy logs kept in {kept})\n--- proxy warnings (first 40) ---\n{}",
            lab.proxy.warnings(40).join("\n")
        );
    }
    let metrics = lab
        .proxy
        .admin_get("/metrics")
        .unwrap_or_else(|e| panic!("{e}"))
        .1;
    eprintln!(
        "{}",
        metrics
            .lines()
            .filter(|l| l.starts_with("schemagate_sequence"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn idempotent_producers_keep_flowing_when_records_are_quarantined() {
    run_all("seqq-steady", Fault::None);
}

#[test]
fn idempotent_quarantine_survives_a_leader_kill() {
    run_all("seqq-leader", Fault::KillLeader);
}

#[test]
fn idempotent_quarantine_survives_a_proxy_kill() {
    run_all("seqq-proxy", Fault::KillProxy);
}

/// Before: with the rewrite off, a bad record fails its whole batch, good records with it.
#[test]
fn without_the_rewrite_idempotent_batches_are_refused_whole() {
    let mut lab = Lab::start("seqq-off", Fault::None, false);
    let outputs = lab.run(Fault::None);
    for ((name, out), topic) in outputs.iter().zip(&lab.topics) {
        let summary = out.summary(name).unwrap_or_else(|e| panic!("{e}"));
        let failed = summary["failed"].as_u64().unwrap_or(0);
        eprintln!("{name} ({topic}) without the rewrite: {summary}");
        assert!(
            failed > (COUNT / BAD_EVERY) as u64,
            "{name}: only {failed} failed records: good ones should fail with the bad ones {summary}"
        );
    }
}

/// A transactional producer under the same rewrite: every third transaction aborted. The
/// good records of committed transactions are read exactly once, in order, by read_committed;
/// those of aborted transactions never; the bad records of both are in quarantine (its
/// writer is not part of the client's transaction, so an aborted transaction's copies stay).
#[test]
fn transactional_producers_commit_good_records_and_abort_cleanly() {
    const TXN: usize = 100;
    let lab = Lab::start("seqq-txn", Fault::None, true);
    let topic = &lab.topics[0];
    // SCHEMAGATE_TEST_DIRECT=1: the same producer straight to the brokers (bad records then
    // land on the topic, so only the client's log is comparable).
    let bootstrap = match lab.direct {
        Some(_) => lab.cluster.addrs()[0].to_string(),
        None => lab.proxy.listen().to_string(),
    };
    let run = producer(
        "java",
        &bootstrap,
        topic,
        &lab.dir.path().join("bad.txt"),
        lab.schema_id,
        lab.load,
    )
    .args(["--transactional", &TXN.to_string()]);
    let out = run
        .run()
        .unwrap_or_else(|e| panic!("{}", client_failure_report(&e, &lab)));
    let summary = out.summary("java").unwrap_or_else(|e| panic!("{e}"));
    eprintln!("java transactional: {summary}");
    let aborted = |i: usize| (i / TXN) % 3 == 2;
    let mut config = lab.cluster.reader();
    config.set("isolation.level", "read_committed");
    let stored = all_partitions(&config, topic, Duration::from_secs(60));
    let quarantined = all_partitions(
        &config,
        &format!("{topic}.quarantine"),
        Duration::from_secs(60),
    );
    let mut seen: BTreeMap<usize, usize> = BTreeMap::new();
    let mut last: HashMap<i32, usize> = HashMap::new();
    for r in &stored {
        let (p, offset) = (&r.partition, r.offset);
        let i = index_of(&r.key).unwrap_or_else(|| panic!("unreadable key at {p}/{offset}"));
        *seen.entry(i).or_default() += 1;
        assert!(!lab.bad.contains(&i), "bad record {i} on the topic");
        assert!(
            !aborted(i),
            "record {i} of an aborted transaction read as committed"
        );
        if let Some(prev) = last.insert(*p, i) {
            assert!(prev < i, "partition {p}: {i} after {prev}");
        }
    }
    let expected: Vec<usize> = (0..COUNT)
        .filter(|i| !aborted(*i) && !lab.bad.contains(i))
        .collect();
    let missing: Vec<&usize> = expected.iter().filter(|i| !seen.contains_key(i)).collect();
    assert!(
        missing.is_empty(),
        "committed good records missing: {:?}",
        &missing[..missing.len().min(20)]
    );
    assert!(
        seen.values().all(|n| *n == 1),
        "duplicates under read_committed"
    );
    let in_quarantine: BTreeSet<usize> = quarantined
        .iter()
        .filter_map(|r| index_of(&r.key))
        .collect();
    let bad_missing: Vec<&usize> = lab
        .bad
        .iter()
        .filter(|i| !in_quarantine.contains(i))
        .collect();
    assert!(
        bad_missing.is_empty(),
        "bad records missing from quarantine: {bad_missing:?}"
    );
    assert_eq!(summary["failed"], 0, "{summary}");
    // Kafka 4's transactions (v2) add a partition to the transaction with its first batch;
    // while the previous transaction's markers are still being written the broker answers
    // CONCURRENT_TRANSACTIONS, and a batch pipelined behind it may then get
    // OUT_OF_ORDER_SEQUENCE_NUMBER (the first was not written). Java retries both. Seen
    // straight to the brokers too (CONCURRENT_TRANSACTIONS 2-6 times per run); so an
    // out-of-order answer is accepted here only when retried and preceded by a
    // CONCURRENT_TRANSACTIONS on the same partition. Fencing and fatal errors are not.
    let (explained, unexplained) = explain_out_of_order(&out.stderr);
    eprintln!("java transactional: {explained} OUT_OF_ORDER_SEQUENCE_NUMBER answers retried after CONCURRENT_TRANSACTIONS on their partition");
    let mut log = log_problems(&out.stderr);
    log.insert("out_of_order", unexplained);
    if log.values().any(|n| *n > 0) {
        let kept = keep_logs(&[("java".to_owned(), out)], &lab.proxy);
        panic!(
            "{log:?}\n{}\n(logs kept in {kept})\n--- proxy warnings ---\n{}",
            problem_lines(&kept_stderr(&kept)),
            lab.proxy.warnings(40).join("\n")
        );
    }
    eprintln!(
        "read_committed: {} records, {} expected; quarantine: {} distinct bad ({} of them in aborted transactions)",
        stored.len(),
        expected.len(),
        in_quarantine.len(),
        in_quarantine.iter().filter(|i| aborted(**i)).count()
    );
}

/// The explanation rule on lines of a real run (Java 4.4.0's Sender, shortened prefixes).
#[test]
fn out_of_order_answers_are_explained_only_after_concurrent_transactions() {
    let ct = |p: u32, id: u32| {
        format!("WARN Sender - Got error produce response with correlation id {id} on topic-partition t-{p}, retrying (2147483646 attempts left). Error: CONCURRENT_TRANSACTIONS")
    };
    let oos = |p: u32, id: u32| {
        format!("WARN Sender - Got error produce response with correlation id {id} on topic-partition t-{p}, retrying (2147483646 attempts left). Error: OUT_OF_ORDER_SEQUENCE_NUMBER")
    };
    let log = [
        ct(1, 20),
        ct(2, 21),
        oos(2, 24),
        oos(0, 33),
        ct(0, 35),
        oos(0, 36),
    ]
    .join("\n");
    // t-0's first out-of-order answer came before any CONCURRENT_TRANSACTIONS on t-0.
    assert_eq!(explain_out_of_order(&log), (2, 1));
    let fatal = format!("{}\nERROR OutOfOrderSequenceException: fatal", ct(1, 1));
    assert_eq!(explain_out_of_order(&fatal), (0, 1));
}

/// One request frame for the raw-protocol test below (correlation ids count up).
fn raw_frame<T: kafka_protocol::protocol::Encodable>(
    key: kafka_protocol::messages::ApiKey,
    version: i16,
    id: i32,
    body: &T,
) -> Vec<u8> {
    crate::raw_kafka::frame(key, version, id, body)
}

/// One idempotent batch of one record at `sequence`, value `value`; with `corrupt` its CRC
/// is broken (the broker refuses it with CORRUPT_MESSAGE and stores nothing).
fn idempotent_batch(
    producer: (i64, i16),
    sequence: i32,
    value: Vec<u8>,
    corrupt: bool,
) -> bytes::Bytes {
    use kafka_protocol::records::{Record, TimestampType};
    let record = Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id: producer.0,
        producer_epoch: producer.1,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence,
        timestamp: 1_700_000_000_000,
        key: Some(bytes::Bytes::from(sequence.to_string())),
        value: Some(bytes::Bytes::from(value)),
        headers: Default::default(),
    };
    let mut batch = crate::raw_kafka::record_batch(&[record]);
    if corrupt {
        // The CRC-32C sits at bytes 17..21 of a v2 batch.
        batch[20] ^= 0xff;
    }
    batch.freeze()
}

/// A batch whose every record goes to quarantine is answered with success by the proxy
/// itself (the broker never sees it). That answer must not overtake a refusal of the batch
/// before it: a client told "stored" for sequence 1 while sequence 0 was refused reads the
/// broker's refusal of sequence 2 as a gap in its sequence (fatal for a transactional Java
/// producer; CI saw it once under load). Here, by hand over one pipelined connection:
/// sequence 0 with a broken CRC (refused by the broker), then sequence 1 all bad. The second
/// must be answered retriable; once sequence 0 is stored its retry gets success, and
/// sequence 2 lands right after sequence 0 with its one bad predecessor in quarantine once.
#[test]
fn a_batch_removed_whole_is_not_acknowledged_ahead_of_a_refused_predecessor() {
    use kafka_protocol::messages::{
        metadata_request, ApiKey, InitProducerIdRequest, InitProducerIdResponse, MetadataRequest,
        MetadataResponse, ResponseHeader, TopicName,
    };
    use kafka_protocol::protocol::{Decodable, StrBytes};
    use std::io::Write;

    let lab = Lab::start("seqq-held", Fault::None, true);
    let topic = lab.topics[0].clone();
    let listen = lab.proxy.listen();
    let decode = |mut body: bytes::Bytes, key: ApiKey, version: i16| {
        ResponseHeader::decode(&mut body, key.response_header_version(version))
            .unwrap_or_else(|e| panic!("response header: {e}"));
        body
    };
    // Partition 0's leader, as the proxy names it (one of its own addresses).
    let name = TopicName(StrBytes::from_string(topic.clone()));
    let request = MetadataRequest::default().with_topics(Some(vec![
        metadata_request::MetadataRequestTopic::default().with_name(Some(name.clone())),
    ]));
    let body = crate::raw_kafka::exchange(
        listen,
        &raw_frame(ApiKey::Metadata, 9, 1, &request),
        Duration::from_secs(30),
    )
    .expect("a Metadata answer from the proxy");
    let metadata = MetadataResponse::decode(&mut decode(body, ApiKey::Metadata, 9), 9)
        .unwrap_or_else(|e| panic!("metadata: {e}"));
    let leader = metadata
        .topics
        .iter()
        .find(|t| t.name.as_ref() == Some(&name))
        .and_then(|t| t.partitions.iter().find(|p| p.partition_index == 0))
        .map(|p| p.leader_id)
        .unwrap_or_else(|| panic!("no leader for {topic}-0 in {metadata:?}"));
    let broker = metadata
        .brokers
        .iter()
        .find(|b| b.node_id == leader)
        .unwrap_or_else(|| panic!("leader {leader:?} not among the brokers"));
    let leader_addr: SocketAddr = format!("{}:{}", broker.host, broker.port)
        .parse()
        .unwrap_or_else(|e| panic!("leader address: {e}"));
    assert_eq!(leader_addr.ip(), listen.ip(), "a proxy address");
    // An idempotent producer id.
    let body = crate::raw_kafka::exchange(
        leader_addr,
        &raw_frame(
            ApiKey::InitProducerId,
            4,
            2,
            // kafka-protocol's default is an empty transactional id, which Kafka refuses.
            &InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(60_000)
                .with_producer_id((-1).into())
                .with_producer_epoch(-1),
        ),
        Duration::from_secs(30),
    )
    .expect("an InitProducerId answer");
    let init = InitProducerIdResponse::decode(&mut decode(body, ApiKey::InitProducerId, 4), 4)
        .unwrap_or_else(|e| panic!("init producer id: {e}"));
    assert_eq!(init.error_code, 0, "{init:?}");
    let producer = (init.producer_id.0, init.producer_epoch);
    let good = |n: u8| {
        let mut v = vec![0u8];
        v.extend_from_slice(&(lab.schema_id as u32).to_be_bytes());
        v.extend_from_slice(&[2, b'0' + n]); // the Avro string "<n>"
        v
    };
    let bad = b"not a framed record".to_vec();
    let produce = |id: i32, batch: bytes::Bytes| {
        raw_frame(
            ApiKey::Produce,
            9,
            id,
            &crate::raw_kafka::produce(&topic, batch),
        )
    };
    let mut stream = std::net::TcpStream::connect(leader_addr).expect("connect to the leader");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("read timeout");
    let mut answers = |frames: Vec<Vec<u8>>| -> Vec<i16> {
        // Every frame written before any answer is read: the client pipelines.
        for f in &frames {
            stream.write_all(f).expect("write a request");
        }
        frames
            .iter()
            .flat_map(|_| {
                let body = crate::raw_kafka::read_response(&mut stream).expect("an answer");
                crate::raw_kafka::produce_errors(body)
            })
            .collect()
    };
    // Sequence 0 refused by the broker (CORRUPT_MESSAGE), sequence 1 all bad: retriable.
    assert_eq!(
        answers(vec![
            produce(10, idempotent_batch(producer, 0, good(0), true)),
            produce(11, idempotent_batch(producer, 1, bad.clone(), false)),
        ]),
        vec![2, 19],
        "{}",
        lab.proxy.log_tail()
    );
    // The client retries in order: sequence 0 stored, then 1 acknowledged here, then 2.
    assert_eq!(
        answers(vec![
            produce(12, idempotent_batch(producer, 0, good(0), false)),
            produce(13, idempotent_batch(producer, 1, bad, false)),
            produce(14, idempotent_batch(producer, 2, good(2), false)),
        ]),
        vec![0, 0, 0],
        "{}",
        lab.proxy.log_tail()
    );
    let config = lab.cluster.reader();
    let stored = all_partitions(&config, &topic, Duration::from_secs(60));
    let keys: Vec<Option<Vec<u8>>> = stored.iter().map(|r| r.key.clone()).collect();
    assert_eq!(keys, vec![Some(b"0".to_vec()), Some(b"2".to_vec())]);
    let quarantined = all_partitions(
        &config,
        &format!("{topic}.quarantine"),
        Duration::from_secs(60),
    );
    let keys: Vec<Option<Vec<u8>>> = quarantined.iter().map(|r| r.key.clone()).collect();
    assert_eq!(keys, vec![Some(b"1".to_vec())], "one copy of sequence 1");
    let (_, metrics) = lab
        .proxy
        .admin_get("/metrics")
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        metrics
            .lines()
            .any(|l| l == "schemagate_sequence_held_answers_total 1"),
        "{metrics}"
    );
}
