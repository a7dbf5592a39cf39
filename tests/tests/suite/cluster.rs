//! schemagate in front of a three-node Apache Kafka cluster whose leaders live on every broker,
//! move when a broker is killed, and come back after a preferred-leader election; and a
//! rolling restart of every broker under load. The proxy is never restarted; no acknowledged
//! record may be lost.
//!
//! The leaders test uses the run's shared cluster. The others break a cluster, so each starts
//! its own.

use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use schemagate_tests::kafka::election::ELECTION_NOT_NEEDED;
use schemagate_tests::{KafkaCluster, KafkaConfig, Proxy};

use crate::cluster_workload::{create_spread_topic, Workload};
use crate::support::{start_stack, unique};

const PARTITIONS: i32 = 3;

fn own_cluster() -> KafkaCluster {
    KafkaCluster::start(KafkaConfig::nodes(3)).unwrap_or_else(|e| panic!("{e}"))
}

fn proxy_for(cluster: &KafkaCluster) -> Proxy {
    Proxy::start(&cluster.addrs()).unwrap_or_else(|e| panic!("{e}\n{}", cluster.log_tails()))
}

/// The leader of each partition of `topic`, as the cluster itself says.
fn leaders(cluster: &mut KafkaCluster, topic: &str) -> Vec<i32> {
    let view = cluster.view().unwrap_or_else(|e| panic!("{e}"));
    view.topic(topic).iter().map(|p| p.leader).collect()
}

#[test]
fn each_partition_leader_is_reached_through_its_own_proxy_port() {
    let mut stack = start_stack();
    let bootstrap = stack.bootstrap().to_string();
    let topic = unique("spread");
    create_spread_topic(&bootstrap, &topic, PARTITIONS);
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .unwrap_or_else(|e| panic!("{e}"));
    // Leadership of a new topic can take a moment to settle on the preferred replicas.
    let mut seen = Vec::new();
    for _ in 0..50 {
        let md = consumer
            .fetch_metadata(Some(&topic), Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("{e}"));
        let brokers: Vec<(i32, String)> = md
            .brokers()
            .iter()
            .map(|b| (b.id(), format!("{}:{}", b.host(), b.port())))
            .collect();
        seen = md
            .topics()
            .iter()
            .flat_map(|t| t.partitions().iter().map(|p| p.leader()))
            .filter_map(|leader| brokers.iter().find(|b| b.0 == leader).cloned())
            .collect();
        if seen.len() == PARTITIONS as usize {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut ids: Vec<i32> = seen.iter().map(|b| b.0).collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        vec![1, 2, 3],
        "every broker leads one partition: {seen:?}"
    );
    let mut ports: Vec<&str> = seen.iter().map(|b| b.1.as_str()).collect();
    ports.dedup();
    assert_eq!(ports.len(), 3, "three leaders, three proxy ports: {seen:?}");
    for (_, addr) in &seen {
        let (host, port) = addr.rsplit_once(':').unwrap_or_default();
        let port: u16 = port.parse().unwrap_or_default();
        stack
            .check_advertised(host, port)
            .unwrap_or_else(|why| panic!("leader address {addr}: {why}"));
    }
    // Records reach all three leaders through their proxy ports and come back.
    let workload = Workload::start(&bootstrap, &topic, &unique("spread-group"));
    assert!(
        workload.wait_for_more_acks(3000, Duration::from_secs(60)),
        "3000 records not acknowledged in 60 s\n{}",
        stack.diagnostics()
    );
    let report = workload.finish(Duration::from_secs(60));
    report.assert_nothing_lost("leaders on three brokers", || stack.diagnostics());
    assert_eq!(report.group_duplicates, 0, "{report:?}");
}

/// Kills the leader of partition 0 (SIGKILL) under load, brings it back, runs a
/// preferred-leader election, and swaps the group member half way: nothing acknowledged is
/// lost, and the group resumes from its committed offsets.
#[test]
fn killing_a_leader_loses_no_acknowledged_record_and_the_group_resumes() {
    let mut cluster = own_cluster();
    let proxy = proxy_for(&cluster);
    let bootstrap = proxy.listen().to_string();
    let topic = "kill-leader";
    create_spread_topic(&bootstrap, topic, PARTITIONS);
    cluster
        .wait_fully_replicated(Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut workload = Workload::start(&bootstrap, topic, "kill-leader-group");
    let diag = |cluster: &KafkaCluster, proxy: &Proxy| {
        format!(
            "--- proxy ---\n{}\n{}",
            proxy.log_tail(),
            cluster.log_tails()
        )
    };
    assert!(workload.wait_for_more_acks(2000, Duration::from_secs(60)));

    let victim = leaders(&mut cluster, topic)[0];
    eprintln!("killing broker {victim}, leader of {topic}-0");
    cluster.kill(victim).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        workload.wait_for_more_acks(2000, Duration::from_secs(120)),
        "no progress after broker {victim} died\n{}",
        diag(&cluster, &proxy)
    );
    let after_kill = leaders(&mut cluster, topic);
    assert!(
        !after_kill.contains(&victim),
        "leaders {after_kill:?} still name the dead broker {victim}"
    );
    // A new group member resumes where the first committed.
    workload.replace_group_member();

    cluster.restart(victim).unwrap_or_else(|e| panic!("{e}"));
    cluster
        .wait_fully_replicated(Duration::from_secs(120))
        .unwrap_or_else(|e| panic!("{e}"));
    let results = cluster
        .elect_preferred(topic, &[0, 1, 2])
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        results
            .iter()
            .all(|(_, code, _)| *code == 0 || *code == ELECTION_NOT_NEEDED),
        "election results {results:?}"
    );
    let mut back = Vec::new();
    for _ in 0..100 {
        back = leaders(&mut cluster, topic);
        if back.first() == Some(&victim) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(back, vec![1, 2, 3], "preferred leaders restored");
    assert!(
        workload.wait_for_more_acks(2000, Duration::from_secs(120)),
        "no progress after the election\n{}",
        diag(&cluster, &proxy)
    );
    let report = workload.finish(Duration::from_secs(120));
    report.assert_nothing_lost("leader kill", || diag(&cluster, &proxy));
    assert_eq!(report.per_member.len(), 2, "{report:?}");
}

/// Stops and restarts every broker in turn (SIGTERM, controlled shutdown), waiting for full
/// replication between steps as an operator would, while the producer and the group run.
#[test]
fn a_rolling_restart_under_load_loses_no_acknowledged_record() {
    let mut cluster = own_cluster();
    let proxy = proxy_for(&cluster);
    let bootstrap = proxy.listen().to_string();
    let topic = "rolling";
    create_spread_topic(&bootstrap, topic, PARTITIONS);
    cluster
        .wait_fully_replicated(Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e}"));
    let workload = Workload::start(&bootstrap, topic, "rolling-group");
    let diag = |cluster: &KafkaCluster, proxy: &Proxy| {
        format!(
            "--- proxy ---\n{}\n{}",
            proxy.log_tail(),
            cluster.log_tails()
        )
    };
    assert!(workload.wait_for_more_acks(1000, Duration::from_secs(60)));
    for node in 1..=3 {
        let clean = cluster.stop(node).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("broker {node} stopped (clean shutdown: {clean})");
        assert!(
            workload.wait_for_more_acks(500, Duration::from_secs(120)),
            "no progress while broker {node} was down\n{}",
            diag(&cluster, &proxy)
        );
        cluster.restart(node).unwrap_or_else(|e| panic!("{e}"));
        cluster
            .wait_fully_replicated(Duration::from_secs(120))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    assert!(
        workload.wait_for_more_acks(1000, Duration::from_secs(120)),
        "no progress after the rolling restart\n{}",
        diag(&cluster, &proxy)
    );
    let report = workload.finish(Duration::from_secs(120));
    report.assert_nothing_lost("rolling restart", || diag(&cluster, &proxy));
}

/// Another program holds the port the proxy would give broker index 1 when the proxy starts.
/// The proxy keeps trying: `/readyz` is 503 and names the broker, every attempt is counted.
/// Once the port is free the proxy binds it, is ready, and a producer reaches the leaders on
/// every broker with nothing refused.
#[test]
fn a_taken_broker_port_is_retried_until_free_and_readiness_says_why() {
    use rdkafka::producer::{FutureProducer, FutureRecord};
    use schemagate_tests::{net, Broker};

    let broker = Broker::shared().unwrap_or_else(|e| panic!("{e}"));
    let base = net::free_port_range(schemagate_tests::proxy::BROKER_PORTS)
        .unwrap_or_else(|e| panic!("{e}"));
    let squatter = std::net::TcpListener::bind(("127.0.0.1", base + 1))
        .unwrap_or_else(|e| panic!("holding port {}: {e}", base + 1));
    let listen = std::net::SocketAddr::from(([127, 0, 0, 1], base));
    let proxy = Proxy::start_at(listen, broker.addrs(), &[]).unwrap_or_else(|e| panic!("{e}"));

    let mut last = (0, String::new());
    let named = net::wait_until(Duration::from_secs(30), || {
        last = proxy.admin_get("/readyz").unwrap_or_default();
        last.0 == 503 && last.1.contains("no listener for broker index 1")
    });
    assert!(
        named,
        "readyz never named the taken port: {last:?}\n{}",
        proxy.log_tail()
    );
    let retried = net::wait_until(Duration::from_secs(10), || {
        let body = proxy.admin_get("/metrics").unwrap_or_default().1;
        schemagate_tests::metrics::Metrics::parse(&body)
            .value("schemagate_listener_bind_failures_total", &[])
            .unwrap_or(0.0)
            >= 2.0
    });
    assert!(
        retried,
        "fewer than 2 counted bind attempts\n{}",
        proxy.log_tail()
    );

    drop(squatter);
    assert_eq!(
        proxy.wait_for_readyz(200, Duration::from_secs(30)),
        Some(200),
        "{}",
        proxy.log_tail()
    );
    assert!(net::accepts(std::net::SocketAddr::from((
        [127, 0, 0, 1],
        base + 1
    ))));

    let topic = unique("taken-port");
    create_spread_topic(&broker.bootstrap(), &topic, PARTITIONS);
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", proxy.listen().to_string())
        .set("message.timeout.ms", "30000")
        .create()
        .unwrap_or_else(|e| panic!("{e}"));
    for partition in 0..PARTITIONS {
        let key = format!("k{partition}");
        let record = FutureRecord::to(&topic)
            .partition(partition)
            .key(&key)
            .payload("after the port came free");
        let sent = futures::executor::block_on(producer.send(record, Duration::from_secs(30)));
        assert!(
            sent.is_ok(),
            "partition {partition}: {:?}\n{}",
            sent.err(),
            proxy.log_tail()
        );
    }
}
