//! The measured paths and how each is stood up in front of a fresh broker.

use std::path::{Path as FsPath, PathBuf};

use contract::SchemaId;

use super::broker::{self, BrokerKind, RunningBroker, SharedCluster};
use super::kroxylicious::{self, SchemaDocument};
use super::registry_counter::RegistryCounter;
use super::BenchError;
use crate::process::{self, ChildProcess};
use crate::registry::RegistryClient;
use crate::relay::Relay;
use crate::render::Format;
use crate::version::SchemaVersion;

pub use super::kinds::BenchPath;

/// The binaries the paths need.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// tansu (broker and peer proxy), from `TANSU_BIN`; needed with `--broker tansu`.
    pub tansu: Option<PathBuf>,
    /// The tests' `kafka-cluster`, from `KAFKA_CLUSTER_BIN`; needed with `--broker kafka`.
    pub kafka_cluster: Option<PathBuf>,
    /// schemagate, from `SCHEMAGATE_BIN`, if set.
    pub schemagate: Option<PathBuf>,
    /// Kroxylicious' launcher, from `KROXYLICIOUS_BIN` (`scripts/install kroxylicious`).
    pub kroxylicious: Option<PathBuf>,
}

impl Binaries {
    /// Why `path` cannot run on `broker` with these binaries, if it cannot.
    pub fn unavailable(&self, path: BenchPath, broker: BrokerKind) -> Option<String> {
        if let Some(reason) = path.unsupported_on(broker) {
            return Some(reason.into());
        }
        if path.runs_kroxylicious() && self.kroxylicious.is_none() {
            return Some(
                "KROXYLICIOUS_BIN is not set (`scripts/install kroxylicious` prints it)".into(),
            );
        }
        let needs_schemagate = path.runs_schemagate();
        match (&self.schemagate, needs_schemagate) {
            (_, false) => None,
            (None, true) => Some("SCHEMAGATE_BIN is not set to a schemagate binary".into()),
            (Some(bin), true) => {
                if !process::schemagate_proxy_supports(bin, "--upstream") {
                    return Some(format!(
                        "{} has no working `proxy` subcommand",
                        bin.display()
                    ));
                }
                let enforcing = process::schemagate_proxy_supports(bin, "--policy")
                    && process::schemagate_proxy_supports(bin, "--registry");
                let validating = path != BenchPath::Proxy;
                if validating && !enforcing {
                    return Some(format!(
                        "{} proxy has no --registry/--policy (enforcement not merged yet)",
                        bin.display()
                    ));
                }
                None
            }
        }
    }
}

/// The topic every bench run writes to (matched by the validating policy); on a shared
/// cluster, each run's topic is this with a run number after it ([`run_topic`]).
pub const TOPIC: &str = "bench-orders";
/// Its value subject under the topic name strategy.
pub const SUBJECT: &str = "bench-orders-value";

/// The topic of a run: [`TOPIC`] on a broker of its own, `TOPIC-<n>` (`n` counting the runs of
/// this process) on the shared cluster, so no run sees another's records or topic deletion.
pub fn run_topic(shared: bool) -> String {
    static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    match shared {
        false => TOPIC.to_string(),
        true => format!(
            "{TOPIC}-{}",
            RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1
        ),
    }
}

/// The value subject of `topic` under the topic name strategy.
pub fn subject_of(topic: &str) -> String {
    format!("{topic}-value")
}

/// A path stood up for one run; dropping it stops every process and the relay.
pub struct RunningPath {
    /// Where the producer bootstraps.
    pub bootstrap: String,
    /// librdkafka settings the producer needs on this path (TLS to the broker).
    pub client_config: Vec<(String, String)>,
    /// schemagate's process id, when the path runs it (for its CPU time).
    pub proxy_pid: Option<u32>,
    /// The id records must carry (the registry's id for v1 when validating).
    pub schema_id: SchemaId,
    /// The topic this run writes (see [`run_topic`]).
    pub topic: String,
    /// The relays, one per broker, when the path has them (their byte count proves traffic
    /// went through them).
    pub relays: Vec<Relay>,
    /// The counter in front of the registry, when the path validates.
    pub registry: Option<RegistryCounter>,
    /// The schema Kroxylicious' filter reads, when that path validates.
    pub schema_document: Option<SchemaDocument>,
    // Field order is drop order: front processes stop before the broker.
    _front: Vec<ChildProcess>,
    _broker: RunningBroker,
}

impl RunningPath {
    /// The broker's own plaintext listener (behind the path).
    pub fn broker_addr(&self) -> std::net::SocketAddr {
        self._broker.plaintext
    }

    /// Every broker node's own plaintext listener, `host:port,...`.
    pub fn broker_bootstrap(&self) -> String {
        join_addrs(&self._broker.nodes)
    }

    /// Bytes the in-process relays copied, when the path has them.
    pub fn relay_bytes(&self) -> Option<u64> {
        (!self.relays.is_empty()).then(|| self.relays.iter().map(Relay::bytes_copied).sum())
    }
}

/// `host:port,host:port,...`.
pub fn join_addrs(addrs: &[std::net::SocketAddr]) -> String {
    addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Knobs of a validating path.
#[derive(Debug, Clone, Default)]
pub struct Validation {
    /// Start schemagate with `--no-schema-cache` (every lookup asks the registry).
    pub no_schema_cache: bool,
    /// Extra environment of schemagate (the tracing experiment's `OTEL_*` variables).
    pub proxy_env: Vec<(String, String)>,
}

/// Starts a fresh `broker` (or takes the `shared` cluster) and `path` in front of it;
/// `log_dir` collects process logs.
pub async fn start(
    path: BenchPath,
    bins: &Binaries,
    broker: BrokerKind,
    shared: Option<&SharedCluster>,
    log_dir: &FsPath,
    validation: Validation,
) -> Result<RunningPath, BenchError> {
    let topic = run_topic(broker.shared());
    let subject = subject_of(&topic);
    // schemagate serves broker index i on front_port + i: a block as long as the cluster.
    let front_port = match broker.nodes() {
        1 => process::free_port()?,
        n => process::free_block(n as u16)?,
    };
    let broker = match broker {
        BrokerKind::Tansu => {
            let tansu = bins
                .tansu
                .as_deref()
                .ok_or(BenchError::Unset("TANSU_BIN"))?;
            let port = process::free_port()?;
            let advertised = if path.advertises_front() {
                front_port
            } else {
                port
            };
            broker::start_tansu(tansu, port, advertised, log_dir).await?
        }
        BrokerKind::Kafka => {
            let bin = bins
                .kafka_cluster
                .as_deref()
                .ok_or(BenchError::Unset("KAFKA_CLUSTER_BIN"))?;
            broker::start_kafka(bin, log_dir).await?
        }
        BrokerKind::KafkaCluster => shared
            .ok_or(BenchError::Unset("KAFKA_CLUSTER_BIN"))?
            .for_run(),
    };
    // Where each relay listens and what it forwards to: the front port to the broker (tansu
    // advertises the front port), or, on the cluster, each node's advertised front port to
    // that node's front listener.
    let relay_pairs: Vec<(std::net::SocketAddr, std::net::SocketAddr)> =
        match broker.front.is_empty() {
            true => vec![(process::loopback(front_port), broker.plaintext)],
            false => broker
                .front
                .iter()
                .map(|(listen, advertised)| (process::loopback(*advertised), *listen))
                .collect(),
        };
    let relay_bootstrap = join_addrs(&relay_pairs.iter().map(|(l, _)| *l).collect::<Vec<_>>());
    let broker_addr = broker.plaintext;
    let tls = || broker.tls.clone().ok_or(BenchError::NoTls(path));
    let mut front = Vec::new();
    let mut relays = Vec::new();
    let mut counter = None;
    let mut proxy_pid = None;
    let mut kroxylicious_front = None;
    let mut schema_document = None;
    let mut schema_id = SchemaId(1);
    let front_addr = process::loopback(front_port);
    let schemagate = || {
        bins.schemagate
            .clone()
            .ok_or(BenchError::Unset("SCHEMAGATE_BIN"))
    };
    match path {
        BenchPath::Direct | BenchPath::DirectTls | BenchPath::DirectIdempotent => {}
        BenchPath::Relay => {
            for (listen, upstream) in &relay_pairs {
                relays.push(Relay::start(*listen, *upstream).await?);
            }
        }
        BenchPath::RelayFrames => {
            for (listen, upstream) in &relay_pairs {
                relays.push(Relay::start_framed(*listen, *upstream).await?);
            }
        }
        BenchPath::RelayProcess => {
            let exe = std::env::current_exe()?;
            for (i, (listen, upstream)) in relay_pairs.iter().enumerate() {
                let args: Vec<String> = [
                    "relay",
                    "--listen",
                    &listen.to_string(),
                    "--upstream",
                    &upstream.to_string(),
                ]
                .iter()
                .map(|a| a.to_string())
                .collect();
                let name = format!("loadgen-relay-{i}");
                let mut child = ChildProcess::spawn(&name, &exe, &args, log_dir)?;
                child.wait_listening(*listen, std::time::Duration::from_secs(10))?;
                front.push(child);
            }
        }
        BenchPath::Peer => {
            let tansu = bins
                .tansu
                .as_deref()
                .ok_or(BenchError::Unset("TANSU_BIN"))?;
            front.push(process::start_tansu_proxy(
                tansu,
                front_port,
                broker_addr.port(),
                log_dir,
            )?);
        }
        BenchPath::PeerKroxylicious | BenchPath::PeerKroxyliciousValidating => {
            let bin = bins
                .kroxylicious
                .clone()
                .ok_or(BenchError::Unset("KROXYLICIOUS_BIN"))?;
            let doc = match path {
                BenchPath::PeerKroxyliciousValidating => {
                    Some(SchemaDocument::start(kroxylicious::ORDER_JSON_SCHEMA).await?)
                }
                _ => None,
            };
            let url = doc.as_ref().map(SchemaDocument::url);
            let dir = log_dir.to_path_buf();
            let rule_topic = topic.clone();
            let (proxy, listen) = tokio::task::spawn_blocking(move || {
                let rule = url.as_deref().map(|u| (u, rule_topic.as_str()));
                kroxylicious::start(&bin, broker_addr, rule, &dir)
            })
            .await??;
            proxy_pid = Some(proxy.id());
            front.push(proxy);
            kroxylicious_front = Some(listen);
            schema_document = doc;
        }
        BenchPath::Proxy => {
            let mut proxy = process::start_schemagate_proxy_to(
                &schemagate()?,
                front_port,
                &broker.nodes,
                None,
                &[],
                &[],
                log_dir,
            )?;
            wait_broker_ports(&mut proxy, front_port, broker.nodes.len())?;
            proxy_pid = Some(proxy.id());
            front.push(proxy);
        }
        BenchPath::ProxyValidating
        | BenchPath::ProxyValidatingTls
        | BenchPath::ProxyIdempotentQuarantine
        | BenchPath::ProxyValidatingJson
        | BenchPath::ProxyValidatingProtobuf => {
            let bin = schemagate()?;
            let (registry, url) = start_registry(&bin, log_dir).await?;
            front.push(registry);
            schema_id = match path {
                BenchPath::ProxyValidatingJson => {
                    kroxylicious::register_json_schema(&url, &subject).await?
                }
                BenchPath::ProxyValidatingProtobuf => {
                    RegistryClient::new(&url)
                        .register(&subject, Format::Protobuf, SchemaVersion::V1)
                        .await?
                }
                _ => {
                    RegistryClient::new(&url)
                        .register(&subject, Format::Avro, SchemaVersion::V1)
                        .await?
                }
            };
            let counting =
                RegistryCounter::start(process::loopback(0), registry_addr(&url)?).await?;
            let on_invalid = match path {
                BenchPath::ProxyIdempotentQuarantine => "quarantine",
                _ => "reject",
            };
            let policy = write_policy(log_dir, &topic, on_invalid)?;
            let mut extra = Vec::new();
            if validation.no_schema_cache {
                extra.push("--no-schema-cache".to_string());
            }
            let mut upstreams = broker.nodes.clone();
            if path == BenchPath::ProxyValidatingTls {
                let tls = tls()?;
                upstreams = vec![tls.addr];
                extra.extend([
                    "--upstream-tls".to_string(),
                    "--upstream-no-system-roots".into(),
                    "--upstream-ca-file".into(),
                    tls.ca.display().to_string(),
                ]);
            }
            let mut proxy = process::start_schemagate_proxy_to(
                &bin,
                front_port,
                &upstreams,
                Some((&counting.url(), &policy)),
                &extra,
                &validation.proxy_env,
                log_dir,
            )?;
            wait_broker_ports(&mut proxy, front_port, upstreams.len())?;
            proxy_pid = Some(proxy.id());
            front.push(proxy);
            counter = Some(counting);
        }
    }
    let idempotent = || vec![("enable.idempotence".to_string(), "true".to_string())];
    let (bootstrap, client_config) = match path {
        BenchPath::Direct => (join_addrs(&broker.nodes), vec![]),
        BenchPath::DirectIdempotent => (join_addrs(&broker.nodes), idempotent()),
        BenchPath::ProxyIdempotentQuarantine => (front_addr.to_string(), idempotent()),
        BenchPath::DirectTls => {
            let tls = tls()?;
            let config = vec![
                ("security.protocol".to_string(), "SSL".to_string()),
                ("ssl.ca.location".to_string(), tls.ca.display().to_string()),
            ];
            (tls.addr.to_string(), config)
        }
        BenchPath::Relay | BenchPath::RelayFrames | BenchPath::RelayProcess => {
            (relay_bootstrap, vec![])
        }
        _ => match kroxylicious_front {
            Some(listen) => (listen.to_string(), vec![]),
            None => (front_addr.to_string(), vec![]),
        },
    };
    Ok(RunningPath {
        bootstrap,
        client_config,
        proxy_pid,
        schema_id,
        topic,
        relays,
        registry: counter,
        schema_document,
        _front: front,
        _broker: broker,
    })
}

/// Waits until schemagate listens for every broker index (`front_port + i`): the ports past
/// the first open when its first metadata fetch has mapped the brokers.
fn wait_broker_ports(
    proxy: &mut ChildProcess,
    front_port: u16,
    brokers: usize,
) -> Result<(), BenchError> {
    for i in 1..brokers {
        let port = u16::try_from(i)
            .ok()
            .and_then(|i| front_port.checked_add(i))
            .ok_or(BenchError::NoPortBlock(brokers as u16))?;
        proxy.wait_listening(process::loopback(port), std::time::Duration::from_secs(30))?;
    }
    Ok(())
}

/// Starts `schemagate registry --store memory` on a free port; returns it and its URL.
pub async fn start_registry(
    bin: &FsPath,
    log_dir: &FsPath,
) -> Result<(ChildProcess, String), BenchError> {
    let port = process::free_port()?;
    let (bin, dir) = (bin.to_path_buf(), log_dir.to_path_buf());
    let child =
        tokio::task::spawn_blocking(move || process::start_schemagate_registry(&bin, port, &dir))
            .await??;
    Ok((child, format!("http://{}", process::loopback(port))))
}

/// The address of a registry at `http://IP:PORT`.
pub fn registry_addr(url: &str) -> Result<std::net::SocketAddr, BenchError> {
    url.trim_start_matches("http://")
        .parse()
        .map_err(|cause| BenchError::RegistryUrl {
            url: url.to_string(),
            cause,
        })
}

/// The policy of the validating paths: every value of the bench topic must be valid data of
/// a registered schema (Avro, Protobuf or JSON Schema, by what the path registered); a bad record is handled by `on_invalid` (`reject` for
/// `proxy_validating`, so the count of errors is honest; `quarantine` for
/// `proxy_idempotent_quarantine`).
pub fn write_policy(dir: &FsPath, topic: &str, on_invalid: &str) -> Result<PathBuf, BenchError> {
    let policy = format!(
        "[[topic]]\nmatch = \"{topic}\"\nvalue = \"required\"\nkey = \"off\"\n\
         strategy = \"topic\"\non_invalid = \"{on_invalid}\"\n"
    );
    let file = dir.join("policy.toml");
    std::fs::write(&file, policy)?;
    Ok(file)
}
