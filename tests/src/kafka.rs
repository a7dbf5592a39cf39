//! Apache Kafka 4.4 in KRaft mode, run from the jars `scripts/install kafka` fetched
//! (`SCHEMAGATE_KAFKA_LIBS`): one or more combined broker/controller nodes on free loopback
//! ports, each with its `server.properties`, data folder and log under one directory.
//!
//! A node is ready when a Metadata answer from it lists every running node; nothing waits for a
//! fixed time. A node that does not come up fails with the tail of its log.

pub mod acl;
pub mod election;
pub mod metadata;
mod wire;

use std::fmt::Write as _;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub use metadata::{ClusterView, PartitionView};

use crate::process::Server;
use crate::{env, net, HarnessError};

/// How long a node may take to format or to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(90);
/// How long a node gets to shut down cleanly after SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(60);

/// The log4j2 configuration every node runs with: everything at INFO to stdout (the node's log
/// file), so a node that dies says why at the end of its log.
const LOG4J2: &str = "\
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p [%t] %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.cleaner.name = kafka.log.LogCleaner
logger.cleaner.level = WARN
";

/// How a cluster is laid out.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// Number of combined broker/controller nodes (1 or 3 in practice).
    pub nodes: usize,
    /// The client port of node 1 (node N gets `first_port + N - 1`); `None` picks free ports.
    pub first_port: Option<u16>,
    /// Extra `server.properties` lines for every node, e.g. `("connections.max.reauth.ms", "5000")`.
    pub extra: Vec<(String, String)>,
    /// The directory holding every node's folder; `None` is a fresh folder under `target/kafka`.
    pub dir: Option<PathBuf>,
    /// Remove the directory when the cluster is dropped.
    pub remove_on_drop: bool,
    /// SASL on the clients' listener (and ACLs), or `None` for plaintext without auth.
    pub sasl: Option<Sasl>,
    /// TLS on the clients' listener (`SSL`, or `SASL_SSL` with [`sasl`](KafkaConfig::sasl)).
    pub tls: Option<BrokerTls>,
    /// Per node (node 1 first), an extra plaintext listener `FRONT` on the first port that
    /// advertises the second: for a TCP relay that rewrites nothing, listening on the
    /// advertised port and forwarding to the listener (`loadgen bench`'s relay paths).
    /// Brokers keep talking to each other on their own listener.
    pub front: Vec<(u16, u16)>,
}

/// TLS on the clients' listener, from PEM files (see [`crate::certs`]).
#[derive(Debug, Clone)]
pub struct BrokerTls {
    /// Private key then certificate chain in one PEM file (`ssl.keystore.type=PEM`).
    pub keystore: PathBuf,
    /// When set, clients must present a certificate this CA signed (mTLS).
    pub client_ca: Option<PathBuf>,
}

/// SASL on the clients' listener: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 and OAUTHBEARER (Kafka's
/// unsecured JWTs, for tests), and optionally KRaft's `StandardAuthorizer`. The brokers talk to
/// each other and to the harness on a second, plaintext loopback listener whose principal
/// (`User:ANONYMOUS`) is a super user; clients never learn its address.
#[derive(Debug, Clone, Default)]
pub struct Sasl {
    /// (user, password) pairs accepted with PLAIN and both SCRAMs.
    pub users: Vec<(String, String)>,
    /// Deny whatever no ACL allows (`StandardAuthorizer`, `allow.everyone.if.no.acl.found=false`).
    pub acls: bool,
    /// Principals allowed everything besides `User:ANONYMOUS`, e.g. `User:admin`.
    pub super_users: Vec<String>,
}

impl KafkaConfig {
    /// `nodes` nodes on free ports in a fresh folder under `target/kafka`, removed on drop.
    pub fn nodes(nodes: usize) -> Self {
        Self {
            nodes,
            first_port: None,
            extra: Vec::new(),
            dir: None,
            remove_on_drop: true,
            sasl: None,
            tls: None,
            front: Vec::new(),
        }
    }
}

/// One combined broker/controller node.
struct Node {
    id: i32,
    addr: SocketAddr,
    /// The plaintext listener the harness probes (the client listener without SASL).
    probe: SocketAddr,
    dir: PathBuf,
    server: Option<Server>,
}

impl Node {
    fn config_path(&self) -> PathBuf {
        self.dir.join("server.properties")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("kafka.log")
    }
}

/// A running Apache Kafka cluster; dropping it stops every node.
pub struct KafkaCluster {
    dir: PathBuf,
    nodes: Vec<Node>,
    libs: PathBuf,
    remove_on_drop: bool,
}

impl KafkaCluster {
    /// Writes the configs, formats every node's storage and starts them all; returns when
    /// every node lists every node.
    pub fn start(config: KafkaConfig) -> Result<Self, HarnessError> {
        let libs = env::kafka_libs()?;
        let n = config.nodes.max(1);
        let dir = match &config.dir {
            Some(dir) => dir.clone(),
            None => fresh_dir(&format!("cluster{n}"))?,
        };
        let ports: Vec<(u16, u16, u16)> = (0..n as u16)
            .map(|i| {
                let client = match config.first_port {
                    Some(first) => first + i,
                    None => net::free_port()?,
                };
                let internal = match config.sasl.is_some() || config.tls.is_some() {
                    true => net::free_port()?,
                    false => client,
                };
                Ok((client, net::free_port()?, internal))
            })
            .collect::<Result<_, HarnessError>>()?;
        let voters = ports
            .iter()
            .enumerate()
            .map(|(i, (_, c, _))| format!("{}@127.0.0.1:{c}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        let mut nodes = Vec::with_capacity(n);
        for (i, (port, controller, internal)) in ports.iter().enumerate() {
            let id = i as i32 + 1;
            let node_dir = dir.join(format!("node-{id}"));
            std::fs::create_dir_all(node_dir.join("data"))
                .map_err(|e| HarnessError::io(format!("creating {}", node_dir.display()), e))?;
            let listeners = Listeners {
                client: *port,
                controller: *controller,
                internal: *internal,
            };
            let props = server_properties(id, listeners, &voters, &node_dir, &config);
            let node = Node {
                id,
                addr: SocketAddr::from(([127, 0, 0, 1], *port)),
                probe: SocketAddr::from(([127, 0, 0, 1], *internal)),
                dir: node_dir,
                server: None,
            };
            std::fs::write(node.config_path(), props)
                .map_err(|e| HarnessError::io("writing server.properties", e))?;
            nodes.push(node);
        }
        std::fs::write(dir.join("log4j2.properties"), LOG4J2)
            .map_err(|e| HarnessError::io("writing log4j2.properties", e))?;
        let mut cluster = Self {
            dir,
            nodes,
            libs,
            remove_on_drop: config.remove_on_drop,
        };
        cluster.format(&cluster_id(), config.sasl.as_ref())?;
        for i in 0..cluster.nodes.len() {
            cluster.spawn(i)?;
        }
        cluster.wait_ready(READY_TIMEOUT)?;
        Ok(cluster)
    }

    /// The client addresses of every node, by node id (node 1 first).
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.nodes.iter().map(|n| n.addr).collect()
    }

    /// `host:port,host:port,...` of every node, for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        let addrs: Vec<String> = self.addrs().iter().map(ToString::to_string).collect();
        addrs.join(",")
    }

    /// `host:port,...` of every node's internal plaintext listener, whose principal is a super
    /// user, when the cluster has SASL (for reading what a test must check, bypassing ACLs).
    pub fn internal_bootstrap(&self) -> Option<String> {
        let internal: Vec<String> = self
            .nodes
            .iter()
            .filter(|n| n.probe != n.addr)
            .map(|n| n.probe.to_string())
            .collect();
        (!internal.is_empty()).then(|| internal.join(","))
    }

    /// The folder holding every node's config, data and log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The client address of node `id`.
    pub fn addr_of(&self, id: i32) -> Option<SocketAddr> {
        self.node(id).map(|n| n.addr)
    }

    /// The node ids whose processes run.
    pub fn running(&mut self) -> Vec<i32> {
        let mut ids = Vec::new();
        for node in &mut self.nodes {
            if node.server.as_mut().is_some_and(Server::is_running) {
                ids.push(node.id);
            }
        }
        ids
    }

    /// What a running node says about the cluster (the first running node that answers).
    pub fn view(&mut self) -> Result<ClusterView, HarnessError> {
        let mut last = None;
        for id in self.running() {
            let Some(addr) = self.probe_of(id) else {
                continue;
            };
            match metadata::fetch(addr, Duration::from_secs(5)) {
                Ok(view) => return Ok(view),
                Err(e) => last = Some(e),
            }
        }
        Err(HarnessError::io(
            "asking the cluster for metadata",
            last.unwrap_or_else(|| std::io::Error::other("no node is running")),
        ))
    }

    /// Kills node `id` at once (SIGKILL), as a crash would.
    pub fn kill(&mut self, id: i32) -> Result<(), HarnessError> {
        let node = self.node_mut(id)?;
        if let Some(mut server) = node.server.take() {
            server.kill();
        }
        Ok(())
    }

    /// Stops node `id` cleanly (SIGTERM, controlled shutdown); kills it after a grace period.
    pub fn stop(&mut self, id: i32) -> Result<bool, HarnessError> {
        let node = self.node_mut(id)?;
        Ok(node
            .server
            .take()
            .is_none_or(|mut server| server.terminate(STOP_GRACE)))
    }

    /// Starts node `id` again (same config and data) and waits until every running node is
    /// listed by every running node.
    pub fn restart(&mut self, id: i32) -> Result<(), HarnessError> {
        let index = self.index_of(id)?;
        if self.nodes[index].server.is_none() {
            self.spawn(index)?;
        }
        self.wait_ready(READY_TIMEOUT)
    }

    /// Runs a preferred-leader election for `partitions` of `topic` through a running node.
    pub fn elect_preferred(
        &mut self,
        topic: &str,
        partitions: &[i32],
    ) -> Result<Vec<election::ElectionResult>, HarnessError> {
        let running = self.running();
        let addr = running
            .first()
            .and_then(|id| self.probe_of(*id))
            .ok_or_else(|| {
                HarnessError::io("electing leaders", std::io::Error::other("no node runs"))
            })?;
        election::elect_preferred(addr, topic, partitions, Duration::from_secs(30))
            .map_err(|e| HarnessError::io(format!("electing preferred leaders of {topic}"), e))
    }

    /// Waits until no partition is under-replicated or leaderless (as an operator does between
    /// the steps of a rolling restart).
    pub fn wait_fully_replicated(&mut self, timeout: Duration) -> Result<(), HarnessError> {
        let deadline = Instant::now() + timeout;
        let mut last = String::new();
        while Instant::now() < deadline {
            match self.view() {
                Ok(view) if view.under_replicated().is_empty() => return Ok(()),
                Ok(view) => last = format!("{:?}", view.under_replicated()),
                Err(e) => last = e.to_string(),
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Err(HarnessError::NotReady {
            name: "kafka cluster".into(),
            reason: format!("partitions still under-replicated after {timeout:?}: {last}"),
            log: self.log_tails(),
        })
    }

    /// The tail of every node's log, for a failing test.
    pub fn log_tails(&self) -> String {
        let mut out = String::new();
        for node in &self.nodes {
            let tail = crate::process::tail_of_file(&node.log_path(), 3000);
            let _ = write!(out, "--- kafka node {} log tail ---\n{tail}\n", node.id);
        }
        out
    }

    /// The plaintext address the harness talks to node `id` on (its client address unless the
    /// cluster has SASL).
    fn probe_of(&self, id: i32) -> Option<SocketAddr> {
        self.node(id).map(|n| n.probe)
    }

    /// Creates ACLs (through a node's internal listener, as a super user).
    pub fn create_acls(&mut self, acls: &[acl::Acl]) -> Result<(), HarnessError> {
        let addr = self
            .running()
            .first()
            .and_then(|id| self.probe_of(*id))
            .ok_or_else(|| {
                HarnessError::io("creating ACLs", std::io::Error::other("no node runs"))
            })?;
        acl::create(addr, acls, Duration::from_secs(30))
            .map_err(|e| HarnessError::io("creating ACLs", e))
    }

    fn node(&self, id: i32) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }

    fn index_of(&self, id: i32) -> Result<usize, HarnessError> {
        self.nodes.iter().position(|n| n.id == id).ok_or_else(|| {
            HarnessError::io(
                format!("kafka node {id}"),
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such node"),
            )
        })
    }

    fn node_mut(&mut self, id: i32) -> Result<&mut Node, HarnessError> {
        let index = self.index_of(id)?;
        Ok(&mut self.nodes[index])
    }

    fn java(&self) -> Command {
        let mut command = Command::new(env::java());
        command
            .arg("-Xms128m")
            .arg("-Xmx768m")
            .arg("-XX:+UseSerialGC")
            .arg("-XX:+ExitOnOutOfMemoryError")
            .arg("-Djava.awt.headless=true")
            .arg(format!(
                "-Dlog4j2.configurationFile={}",
                self.dir.join("log4j2.properties").display()
            ))
            .arg("-cp")
            .arg(format!("{}/*", self.libs.display()));
        command
    }

    /// Formats every node's storage with one cluster id, all nodes at once; SCRAM users are
    /// written into the metadata log here, as KRaft allows before the first start.
    fn format(&mut self, cluster_id: &str, sasl: Option<&Sasl>) -> Result<(), HarnessError> {
        let mut children = Vec::new();
        for node in &self.nodes {
            let mut command = self.java();
            command
                .arg("kafka.tools.StorageTool")
                .args(["format", "--ignore-formatted", "-t", cluster_id, "-c"])
                .arg(node.config_path());
            for (user, password) in sasl.map(|s| s.users.as_slice()).unwrap_or_default() {
                for mechanism in ["SCRAM-SHA-256", "SCRAM-SHA-512"] {
                    command
                        .arg("--add-scram")
                        .arg(format!("{mechanism}=[name={user},password={password}]"));
                }
            }
            let server = Server::spawn_logging_to(
                &format!("kafka-format-{}", node.id),
                command,
                node.log_path(),
            )?;
            children.push((node.id, server));
        }
        for (id, mut server) in children {
            let done = net::wait_until(READY_TIMEOUT, || !server.is_running());
            let ok = done && server.exit_success();
            if !ok {
                return Err(HarnessError::NotReady {
                    name: format!("kafka node {id} (storage format)"),
                    reason: "kafka.tools.StorageTool format failed".into(),
                    log: server.log_tail(),
                });
            }
        }
        Ok(())
    }

    fn spawn(&mut self, index: usize) -> Result<(), HarnessError> {
        let mut command = self.java();
        let node = &self.nodes[index];
        command.arg("kafka.Kafka").arg(node.config_path());
        let server =
            Server::spawn_logging_to(&format!("kafka-{}", node.id), command, node.log_path())?;
        self.nodes[index].server = Some(server);
        Ok(())
    }

    /// Waits until every running node answers Metadata listing every running node.
    fn wait_ready(&mut self, timeout: Duration) -> Result<(), HarnessError> {
        let deadline = Instant::now() + timeout;
        let mut why = String::new();
        loop {
            let want = self.running();
            let mut all = want.len() == self.nodes.iter().filter(|n| n.server.is_some()).count();
            if !all {
                let died: Vec<i32> = self
                    .nodes
                    .iter()
                    .filter(|n| n.server.is_some() && !want.contains(&n.id))
                    .map(|n| n.id)
                    .collect();
                return Err(HarnessError::NotReady {
                    name: format!("kafka node(s) {died:?}"),
                    reason: "the JVM exited while starting".into(),
                    log: self.log_tails(),
                });
            }
            for id in &want {
                let Some(addr) = self.probe_of(*id) else {
                    continue;
                };
                match metadata::fetch(addr, Duration::from_secs(2)) {
                    Ok(view) if view.broker_ids() == want && view.controller_id >= 0 => {}
                    Ok(view) => {
                        all = false;
                        why = format!("node {id} lists {:?}", view.broker_ids());
                    }
                    Err(e) => {
                        all = false;
                        why = format!("node {id}: {e}");
                    }
                }
            }
            if all {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(HarnessError::NotReady {
                    name: "kafka cluster".into(),
                    reason: format!("not every node listed every node within {timeout:?}: {why}"),
                    log: self.log_tails(),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for KafkaCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut server) = node.server.take() {
                // A clean stop is not needed: the data goes with the folder.
                server.kill();
            }
        }
        if self.remove_on_drop {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The ports of one node: clients', controller's, and the internal (inter-broker and harness)
/// one, which equals the clients' when there is no SASL.
#[derive(Debug, Clone, Copy)]
struct Listeners {
    client: u16,
    controller: u16,
    internal: u16,
}

/// The `server.properties` of node `id`. Internal topics and defaults are production-shaped
/// (RF 3, `min.insync.replicas=2` when there are three nodes) but small, so a cluster starts in
/// seconds on two cores.
fn server_properties(
    id: i32,
    ports: Listeners,
    voters: &str,
    dir: &Path,
    config: &KafkaConfig,
) -> String {
    let Listeners {
        client: port,
        controller,
        internal,
    } = ports;
    let rf = config.nodes.clamp(1, 3);
    let min_isr = rf.min(2);
    let mut p = format!(
        "process.roles=broker,controller\n\
         node.id={id}\n\
         controller.listener.names=CONTROLLER\n\
         controller.quorum.voters={voters}\n\
         log.dirs={data}\n\
         num.partitions=1\n\
         default.replication.factor={rf}\n\
         min.insync.replicas={min_isr}\n\
         offsets.topic.replication.factor={rf}\n\
         offsets.topic.num.partitions=10\n\
         transaction.state.log.replication.factor={rf}\n\
         transaction.state.log.min.isr={min_isr}\n\
         transaction.state.log.num.partitions=10\n\
         share.coordinator.state.topic.replication.factor={rf}\n\
         share.coordinator.state.topic.min.isr={min_isr}\n\
         group.initial.rebalance.delay.ms=0\n\
         auto.create.topics.enable=true\n\
         num.network.threads=2\n\
         num.io.threads=4\n\
         log.flush.interval.messages=9223372036854775807\n",
        data = dir.join("data").display(),
    );
    match (&config.sasl, &config.tls) {
        (None, None) => {
            let _ = write!(
                p,
                "listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}\n\
                 advertised.listeners=PLAINTEXT://127.0.0.1:{port}\n\
                 listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n\
                 inter.broker.listener.name=PLAINTEXT\n"
            );
        }
        (sasl, tls) => p.push_str(&secured_properties(
            Listeners {
                client: port,
                controller,
                internal,
            },
            sasl.as_ref(),
            tls.as_ref(),
        )),
    }
    if let Some(&(listen, advertised)) = usize::try_from(id - 1)
        .ok()
        .and_then(|i| config.front.get(i))
    {
        p = with_front_listener(&p, listen, advertised);
    }
    for (key, value) in &config.extra {
        let _ = writeln!(p, "{key}={value}");
    }
    p
}

/// `props` with a plaintext `FRONT` listener on `listen` that advertises `advertised`, added
/// to the `listeners`, `advertised.listeners` and protocol map lines.
fn with_front_listener(props: &str, listen: u16, advertised: u16) -> String {
    let mut out = String::with_capacity(props.len() + 128);
    for line in props.lines() {
        out.push_str(line);
        if line.starts_with("listeners=") {
            let _ = write!(out, ",FRONT://127.0.0.1:{listen}");
        } else if line.starts_with("advertised.listeners=") {
            let _ = write!(out, ",FRONT://127.0.0.1:{advertised}");
        } else if line.starts_with("listener.security.protocol.map=") {
            out.push_str(",FRONT:PLAINTEXT");
        }
        out.push('\n');
    }
    out
}

/// The listener lines of a secured node: `CLIENT` (SASL_PLAINTEXT, SSL or SASL_SSL: what
/// clients and the proxy see) and `INTERNAL` (plaintext, brokers and the harness), plus the
/// SASL, TLS and authorizer settings.
fn secured_properties(ports: Listeners, sasl: Option<&Sasl>, tls: Option<&BrokerTls>) -> String {
    let Listeners {
        client: port,
        controller,
        internal,
    } = ports;
    let protocol = match (sasl.is_some(), tls.is_some()) {
        (true, true) => "SASL_SSL",
        (true, false) => "SASL_PLAINTEXT",
        _ => "SSL",
    };
    let mut p = format!(
        "listeners=CLIENT://127.0.0.1:{port},INTERNAL://127.0.0.1:{internal},CONTROLLER://127.0.0.1:{controller}\n\
         advertised.listeners=CLIENT://127.0.0.1:{port},INTERNAL://127.0.0.1:{internal}\n\
         listener.security.protocol.map=CLIENT:{protocol},INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT\n\
         inter.broker.listener.name=INTERNAL\n"
    );
    if let Some(tls) = tls {
        let _ = writeln!(
            p,
            "listener.name.client.ssl.keystore.type=PEM\n\
             listener.name.client.ssl.keystore.location={}",
            tls.keystore.display()
        );
        if let Some(ca) = &tls.client_ca {
            let _ = writeln!(
                p,
                "listener.name.client.ssl.truststore.type=PEM\n\
                 listener.name.client.ssl.truststore.location={}\n\
                 listener.name.client.ssl.client.auth=required",
                ca.display()
            );
        }
    }
    if let Some(sasl) = sasl {
        p.push_str(&sasl_properties(sasl));
    }
    p
}

/// The SASL mechanisms and authorizer lines of the `CLIENT` listener.
fn sasl_properties(sasl: &Sasl) -> String {
    let plain_users: String = sasl
        .users
        .iter()
        .map(|(u, pw)| format!(" user_{u}=\"{pw}\""))
        .collect();
    let mut p = format!(
        "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER\n\
         listener.name.client.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required{plain_users};\n\
         listener.name.client.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;\n\
         listener.name.client.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;\n\
         listener.name.client.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub=\"broker\";\n"
    );
    if sasl.acls {
        let supers: Vec<String> = std::iter::once("User:ANONYMOUS".to_owned())
            .chain(sasl.super_users.iter().cloned())
            .collect();
        let _ = write!(
            p,
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer\n\
             allow.everyone.if.no.acl.found=false\n\
             super.users={}\n",
            supers.join(";")
        );
    }
    p
}

/// A fresh folder under `<target>/kafka` named after `label`, the process and a counter.
fn fresh_dir(label: &str) -> Result<PathBuf, HarnessError> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = env::target_dir()
        .join("kafka")
        .join(format!("{label}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)
        .map_err(|e| HarnessError::io(format!("creating {}", dir.display()), e))?;
    Ok(dir)
}

/// A random cluster id as Kafka writes it: 16 bytes, URL-safe base64 without padding, never
/// starting with `-` (the storage tool would read it as an option; Kafka's own
/// `Uuid.randomUuid` draws again in that case too).
fn cluster_id() -> String {
    loop {
        let id = random_id();
        if !id.starts_with('-') {
            return id;
        }
    }
}

fn random_id() -> String {
    let state = std::collections::hash_map::RandomState::new();
    let mut bytes = Vec::with_capacity(16);
    for salt in 0..2u64 {
        let mut h = state.build_hasher();
        h.write_u64(salt);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        bytes.extend_from_slice(&h.finish().to_be_bytes());
    }
    base64_url(&bytes)
}

/// URL-safe base64 without padding.
fn base64_url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_ids_are_22_url_safe_characters_and_differ() {
        let (a, b) = (cluster_id(), cluster_id());
        assert_eq!(a.len(), 22, "{a}");
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_ne!(a, b);
        assert!((0..2000).all(|_| !cluster_id().starts_with('-')));
    }

    #[test]
    fn base64_matches_known_vectors() {
        assert_eq!(base64_url(b"f"), "Zg");
        assert_eq!(base64_url(b"fo"), "Zm8");
        assert_eq!(base64_url(b"foo"), "Zm9v");
        assert_eq!(base64_url(&[0xfb, 0xff]), "-_8");
    }

    /// `server.properties` of node 2 of a three-node cluster under `config`.
    fn node_2_of_3(config: &KafkaConfig) -> String {
        let ports = Listeners {
            client: 9092,
            controller: 9093,
            internal: 9092,
        };
        server_properties(2, ports, "1@a:1", Path::new("/x"), config)
    }

    /// Fails naming the first of `lines` that `p` does not have as a whole line.
    fn assert_has_lines<'a>(p: &str, lines: impl IntoIterator<Item = &'a str>) {
        for line in lines {
            assert!(p.lines().any(|l| l == line), "missing {line} in\n{p}");
        }
    }

    #[test]
    fn three_nodes_get_production_shaped_defaults_and_extras() {
        let mut config = KafkaConfig::nodes(3);
        config
            .extra
            .push(("connections.max.reauth.ms".into(), "5000".into()));
        assert_has_lines(
            &node_2_of_3(&config),
            [
                "node.id=2",
                "default.replication.factor=3",
                "min.insync.replicas=2",
                "controller.quorum.voters=1@a:1",
                "connections.max.reauth.ms=5000",
                "log.dirs=/x/data",
            ],
        );
        let ports = Listeners {
            client: 1,
            controller: 2,
            internal: 1,
        };
        let one = server_properties(1, ports, "1@a:2", Path::new("/x"), &KafkaConfig::nodes(1));
        assert!(one.lines().any(|l| l == "min.insync.replicas=1"));
    }

    #[test]
    fn a_front_listener_is_added_to_its_node_only() {
        let mut config = KafkaConfig::nodes(3);
        config.front = vec![(7001, 8001), (7002, 8002), (7003, 8003)];
        assert_has_lines(
            &node_2_of_3(&config),
            [
                "listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093,FRONT://127.0.0.1:7002",
                "advertised.listeners=PLAINTEXT://127.0.0.1:9092,FRONT://127.0.0.1:8002",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,FRONT:PLAINTEXT",
                "inter.broker.listener.name=PLAINTEXT",
            ],
        );
        let plain = node_2_of_3(&KafkaConfig::nodes(3));
        assert!(!plain.contains("FRONT"), "{plain}");
    }
}
