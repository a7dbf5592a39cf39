//! Faults on a real three-node cluster of the test's own, under load through an enforcing
//! proxy: the four idempotent producers of [`crate::idempotent_quarantine`] (Java, librdkafka,
//! franz-go, kafkajs), each on a topic of its own with 1% bad records at random positions,
//! and the same accounting after each run: produced, acknowledged, on the topic, in
//! quarantine, duplicates, reordering and client errors by kind. "Nothing lost" means every
//! acknowledged good record is on the topic and every acknowledged bad one in quarantine.
//!
//! Faults: the active KRaft controller killed (`kill -9`) and restarted; the leader of the
//! quarantine topic killed and restarted; a rolling restart of all three brokers; the proxy
//! killed three times in one run; a slow broker (200 ms added to every response of one
//! broker, by a delaying relay the broker advertises); the quarantine made unwritable for 15 s
//! (its topics' `max.message.bytes` set to 1) and, separately, its topics deleted while the
//! producers run. Each prints a `RELIABILITY {json}` line with its counts and the
//! proxy's peak memory.
//!
//! These are heavy (a cluster each): they are `#[ignore]`d and run with
//! `scripts/test --reliability`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures::executor::block_on;
use rdkafka::admin::{AdminClient, AdminOptions, AlterConfig, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use schemagate_tests::{KafkaCluster, KafkaConfig, ProcSample};

use crate::idempotent_quarantine::{Cluster, Lab, Load};
use crate::raw_kafka::active_controller;

/// When the first fault happens, after the producers start.
const FAULT_AFTER: Duration = Duration::from_secs(5);
/// How long a killed broker stays down.
const DOWN_FOR: Duration = Duration::from_secs(4);
/// A short run: about 15 s of producing.
const SHORT: Load = Load {
    count: 20_000,
    rate: 1_300,
};
/// A long run, for faults that take a while: about 45 s of producing.
const LONG: Load = Load {
    count: 45_000,
    rate: 1_000,
};

fn own_cluster() -> KafkaCluster {
    KafkaCluster::start(KafkaConfig::nodes(3)).unwrap_or_else(|e| panic!("{e}"))
}

fn cluster(lab: &mut Lab) -> &mut KafkaCluster {
    match &mut lab.cluster {
        Cluster::Own(c) => c,
        Cluster::Shared(_) => panic!("a reliability scenario needs its own cluster"),
    }
}

/// What a scenario tolerates besides the accounting's own rules.
#[derive(Debug, Clone, Copy, Default)]
struct Tolerate {
    /// Clients may give up on records (which must then not be stored: the accounting checks).
    failures: bool,
    /// Acknowledged bad records may be missing from quarantine: the run deletes it.
    vanished_quarantine: bool,
}

/// Runs one scenario: the producers under `fault`, then the accounting (which fails the test
/// on any loss, duplicate or reordering, less what `tolerate` allows).
fn scenario(
    name: &str,
    cluster: KafkaCluster,
    load: Load,
    tolerate: Tolerate,
    fault: impl FnOnce(&mut Lab),
) -> serde_json::Value {
    let mut lab = Lab::start_on(name, Cluster::Own(cluster), true, load, &[]);
    let started = Instant::now();
    let outputs = lab.run_with(fault);
    let elapsed = started.elapsed();
    let reports = lab.check_with(&outputs, tolerate.vanished_quarantine);
    let proxy = ProcSample::read(lab.proxy.pid()).unwrap_or_default();
    // Partitions the proxy answered with a retriable error, by topic and cause (the last
    // proxy process's count, when the run restarts it).
    let retriable: Vec<String> = lab
        .proxy
        .admin_get("/metrics")
        .map(|(_, body)| {
            body.lines()
                .filter(|l| l.starts_with("schemagate_retriable_total{"))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let line = serde_json::json!({
        "scenario": name,
        "seconds": elapsed.as_secs(),
        "producers": reports,
        "proxy_retriable_answers": retriable,
        "proxy_peak_rss_mib": proxy.peak_rss_kib / 1024,
        "proxy_threads": proxy.threads,
        "proxy_fds": proxy.fds,
    });
    eprintln!("RELIABILITY {line}");
    if !tolerate.failures {
        for r in &reports {
            assert_eq!(r["failed"], 0, "{name}: a producer gave up on records: {r}");
        }
    }
    line
}

/// Kills node `id` (SIGKILL), waits, restarts it.
fn kill_and_restart(lab: &mut Lab, id: i32, what: &str) {
    eprintln!("killing broker {id} (SIGKILL), {what}");
    let c = cluster(lab);
    c.kill(id).unwrap_or_else(|e| panic!("{e}"));
    std::thread::sleep(DOWN_FOR);
    c.restart(id).unwrap_or_else(|e| panic!("{e}"));
    eprintln!("broker {id} restarted");
}

#[test]
#[ignore = "heavy: scripts/test --reliability"]
fn the_active_controller_killed() {
    scenario(
        "rel-controller",
        own_cluster(),
        SHORT,
        Tolerate::default(),
        |lab| {
            std::thread::sleep(FAULT_AFTER);
            let c = cluster(lab);
            let addr = c.addrs()[0];
            let id = active_controller(addr).unwrap_or_else(|| panic!("no active controller"));
            kill_and_restart(lab, id, "the active controller");
            let now = active_controller(cluster(lab).addrs()[0]);
            eprintln!("active controller after the restart: {now:?} (was {id})");
        },
    );
}

#[test]
#[ignore = "heavy: scripts/test --reliability"]
fn the_quarantine_topics_leader_killed() {
    scenario(
        "rel-qleader",
        own_cluster(),
        SHORT,
        Tolerate::default(),
        |lab| {
            std::thread::sleep(FAULT_AFTER);
            let quarantine = format!("{}.quarantine", lab.topics[0]);
            let deadline = Instant::now() + Duration::from_secs(30);
            let leader = loop {
                let view = cluster(lab).view().unwrap_or_else(|e| panic!("{e}"));
                if let Some(p) = view.topic(&quarantine).first().filter(|p| p.leader >= 0) {
                    break p.leader;
                }
                assert!(Instant::now() < deadline, "{quarantine} never appeared");
                std::thread::sleep(Duration::from_millis(200));
            };
            kill_and_restart(lab, leader, &format!("leader of {quarantine}"));
        },
    );
}

#[test]
#[ignore = "heavy: scripts/test --reliability"]
fn a_rolling_restart_of_every_broker() {
    scenario(
        "rel-rolling",
        own_cluster(),
        LONG,
        Tolerate::default(),
        |lab| {
            std::thread::sleep(FAULT_AFTER);
            for id in 1..=3 {
                let c = cluster(lab);
                eprintln!("rolling restart: stopping broker {id}");
                let clean = c.stop(id).unwrap_or_else(|e| panic!("{e}"));
                c.restart(id).unwrap_or_else(|e| panic!("{e}"));
                c.wait_fully_replicated(Duration::from_secs(120))
                    .unwrap_or_else(|e| panic!("{e}"));
                eprintln!("rolling restart: broker {id} back (clean stop: {clean})");
            }
        },
    );
}

#[test]
#[ignore = "heavy: scripts/test --reliability"]
fn the_proxy_killed_three_times() {
    scenario(
        "rel-proxy3",
        own_cluster(),
        LONG,
        Tolerate::default(),
        |lab| {
            for _ in 0..3 {
                std::thread::sleep(FAULT_AFTER);
                lab.kill_proxy();
            }
        },
    );
}

/// Added to every response of the slow broker.
const SLOW_BY: Duration = Duration::from_millis(200);

#[test]
#[ignore = "heavy: scripts/test --reliability"]
fn a_slow_broker() {
    let mut c = own_cluster();
    let slow = 3;
    let real = c.addr_of(slow).unwrap_or_else(|| panic!("no node {slow}"));
    let relay = DelayRelay::start(real, SLOW_BY);
    // The broker advertises the relay, so the proxy (and the other brokers' followers) reach
    // it only through the delay.
    c.stop(slow).unwrap_or_else(|e| panic!("{e}"));
    let config = c
        .dir()
        .join(format!("node-{slow}"))
        .join("server.properties");
    let mut props = std::fs::read_to_string(&config).unwrap_or_else(|e| panic!("{e}"));
    props.push_str(&format!(
        "advertised.listeners=PLAINTEXT://127.0.0.1:{}\n",
        relay.port()
    ));
    std::fs::write(&config, props).unwrap_or_else(|e| panic!("{e}"));
    c.restart(slow).unwrap_or_else(|e| panic!("{e}"));
    eprintln!("broker {slow} now answers through a relay adding {SLOW_BY:?}");
    scenario("rel-slow", c, SHORT, Tolerate::default(), |_| {});
}

/// Deleting the quarantine topics takes the records already in them along, so this run cannot
/// tell a bad record lost by the proxy from one the deletion removed: it checks the good
/// records only (each acknowledged one on the topic exactly once, in order) and reports the
/// bad ones missing. `the_quarantine_made_unwritable_while_running` checks both exactly.
#[test]
#[ignore = "heavy: scripts/test --reliability"]
fn the_quarantine_topics_deleted_while_running() {
    let tolerate = Tolerate {
        failures: true,
        vanished_quarantine: true,
    };
    scenario("rel-qdelete", own_cluster(), SHORT, tolerate, |lab| {
        std::thread::sleep(FAULT_AFTER);
        let bootstrap = cluster(lab).bootstrap();
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .create()
            .unwrap_or_else(|e| panic!("admin client: {e}"));
        let names: Vec<String> = lab
            .topics
            .iter()
            .map(|t| format!("{t}.quarantine"))
            .collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let results = block_on(admin.delete_topics(&refs, &AdminOptions::new()))
            .unwrap_or_else(|e| panic!("deleting {refs:?}: {e}"));
        eprintln!("deleted the quarantine topics while running: {results:?}");
    });
}

/// How long the quarantine topics refuse writes.
const UNWRITABLE_FOR: Duration = Duration::from_secs(15);
/// Kafka's default `max.message.bytes`, restored afterwards.
const DEFAULT_MAX_MESSAGE_BYTES: &str = "1048588";

/// The quarantine made unwritable without losing what it holds: its topics'
/// `max.message.bytes` set to 1 so that the brokers refuse every write (MESSAGE_TOO_LARGE),
/// restored after [`UNWRITABLE_FOR`]. (Raising `min.insync.replicas` above the replicas does
/// not do it on Kafka 4.4: a topic with 3 replicas and `min.insync.replicas=4` still takes
/// `acks=all` writes.) The proxy must answer the partitions with bad records with a retriable
/// error until quarantine takes them again, so clients retry and nothing is lost.
#[test]
#[ignore = "heavy: scripts/test --reliability"]
fn the_quarantine_made_unwritable_while_running() {
    let line = scenario(
        "rel-qunwritable",
        own_cluster(),
        LONG,
        Tolerate::default(),
        |lab| {
            std::thread::sleep(FAULT_AFTER);
            let bootstrap = cluster(lab).bootstrap();
            let names: Vec<String> = lab
                .topics
                .iter()
                .map(|t| format!("{t}.quarantine"))
                .collect();
            let deadline = Instant::now() + Duration::from_secs(30);
            while !names.iter().all(|q| {
                cluster(lab)
                    .view()
                    .is_ok_and(|v| v.topic(q).first().is_some_and(|p| p.leader >= 0))
            }) {
                assert!(
                    Instant::now() < deadline,
                    "the quarantine topics never appeared"
                );
                std::thread::sleep(Duration::from_millis(200));
            }
            set_max_message_bytes(&bootstrap, &names, "1");
            eprintln!("quarantine topics unwritable (max.message.bytes=1) for {UNWRITABLE_FOR:?}");
            std::thread::sleep(UNWRITABLE_FOR);
            set_max_message_bytes(&bootstrap, &names, DEFAULT_MAX_MESSAGE_BYTES);
            eprintln!("quarantine topics writable again");
        },
    );
    let answered = line["proxy_retriable_answers"]
        .as_array()
        .map_or(0, Vec::len);
    assert!(
        answered > 0,
        "the proxy never answered retriable: the fault did not bite {line}"
    );
}

fn set_max_message_bytes(bootstrap: &str, topics: &[String], value: &str) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap_or_else(|e| panic!("admin client: {e}"));
    let configs: Vec<AlterConfig<'_>> = topics
        .iter()
        .map(|t| AlterConfig::new(ResourceSpecifier::Topic(t)).set("max.message.bytes", value))
        .collect();
    let results = block_on(admin.alter_configs(&configs, &AdminOptions::new()))
        .unwrap_or_else(|e| panic!("altering {topics:?}: {e}"));
    for r in results {
        r.unwrap_or_else(|(t, e)| panic!("altering {t:?}: {e}"));
    }
}

/// A TCP relay to one address that holds every chunk coming back for a fixed delay (requests
/// go through at once), so the peer sees a broker that answers late without being slower to
/// accept. It runs until the test process ends.
struct DelayRelay {
    port: u16,
}

impl DelayRelay {
    fn start(to: SocketAddr, delay: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(upstream) = TcpStream::connect(to) else {
                    continue;
                };
                relay(client, upstream, delay);
            }
        });
        Self { port }
    }

    fn port(&self) -> u16 {
        self.port
    }
}

/// Pumps `client` → `upstream` at once and `upstream` → `client` after `delay`.
fn relay(client: TcpStream, upstream: TcpStream, delay: Duration) {
    let (Ok(mut client_in), Ok(mut upstream_out)) = (client.try_clone(), upstream.try_clone())
    else {
        return;
    };
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_in, &mut upstream_out);
        let _ = upstream_out.shutdown(std::net::Shutdown::Write);
    });
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    let mut upstream_in = upstream;
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 << 10];
        while let Ok(n) = upstream_in.read(&mut buf) {
            if n == 0
                || tx
                    .send((Instant::now() + delay, buf[..n].to_vec()))
                    .is_err()
            {
                break;
            }
        }
    });
    let mut client_out = client;
    std::thread::spawn(move || {
        for (due, chunk) in rx {
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
            if client_out.write_all(&chunk).is_err() {
                break;
            }
        }
        let _ = client_out.shutdown(std::net::Shutdown::Both);
    });
}
