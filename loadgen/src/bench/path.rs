//! The five measured paths and how each is stood up in front of a fresh broker.

use std::fmt;
use std::path::{Path as FsPath, PathBuf};

use anyhow::Context as _;
use contract::SchemaId;

use super::registry_counter::RegistryCounter;
use crate::process::{self, ChildProcess};
use crate::registry::RegistryClient;
use crate::relay::Relay;
use crate::render::Format;
use crate::version::SchemaVersion;

/// One way from the producer to the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BenchPath {
    /// Straight to the broker.
    Direct,
    /// Through loadgen's raw TCP relay.
    Relay,
    /// Through loadgen's relay reading each request whole before forwarding it (opt-in).
    RelayFrames,
    /// Through loadgen's raw relay run as a process of its own, as a sidecar is (opt-in).
    RelayProcess,
    /// Through schemagate with no policy.
    Proxy,
    /// Through schemagate validating every record as Avro against the registry.
    ProxyValidating,
    /// Through tansu's own pass-through proxy.
    Peer,
}

impl BenchPath {
    /// Every path, in the interleaving order.
    pub const ALL: [BenchPath; 7] = [
        BenchPath::Direct,
        BenchPath::Relay,
        BenchPath::RelayFrames,
        BenchPath::RelayProcess,
        BenchPath::Proxy,
        BenchPath::ProxyValidating,
        BenchPath::Peer,
    ];

    /// The JSON key.
    pub fn key(self) -> &'static str {
        match self {
            BenchPath::Direct => "direct",
            BenchPath::Relay => "relay",
            BenchPath::RelayFrames => "relay_frames",
            BenchPath::RelayProcess => "relay_process",
            BenchPath::Proxy => "proxy",
            BenchPath::ProxyValidating => "proxy_validating",
            BenchPath::Peer => "peer",
        }
    }

    /// Parses a JSON key.
    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.key() == key)
    }
}

impl fmt::Display for BenchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.key())
    }
}

/// The binaries the paths need.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// tansu (broker and peer proxy), from `TANSU_BIN`.
    pub tansu: PathBuf,
    /// schemagate, from `SCHEMAGATE_BIN`, if set.
    pub schemagate: Option<PathBuf>,
}

impl Binaries {
    /// Why `path` cannot run with these binaries, if it cannot.
    pub fn unavailable(&self, path: BenchPath) -> Option<String> {
        let needs_schemagate = matches!(path, BenchPath::Proxy | BenchPath::ProxyValidating);
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
                if path == BenchPath::ProxyValidating && !enforcing {
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

/// The topic every bench run writes to (matched by the validating policy).
pub const TOPIC: &str = "bench-orders";
/// Its value subject under the topic name strategy.
pub const SUBJECT: &str = "bench-orders-value";

/// A path stood up for one run; dropping it stops every process and the relay.
pub struct RunningPath {
    /// Where the producer bootstraps.
    pub bootstrap: String,
    /// The id records must carry (the registry's id for v1 when validating).
    pub schema_id: SchemaId,
    /// The relay, when the path has one (its byte count proves traffic went through it).
    pub relay: Option<Relay>,
    /// The counter in front of the registry, when the path validates.
    pub registry: Option<RegistryCounter>,
    // Field order is drop order: front processes stop before the broker.
    _front: Vec<ChildProcess>,
    _broker: ChildProcess,
}

/// Knobs of a validating path.
#[derive(Debug, Clone, Copy, Default)]
pub struct Validation {
    /// Start schemagate with `--no-schema-cache` (every lookup asks the registry).
    pub no_schema_cache: bool,
}

/// Starts a fresh broker and `path` in front of it; `log_dir` collects process logs.
pub async fn start(
    path: BenchPath,
    bins: &Binaries,
    log_dir: &FsPath,
    validation: Validation,
) -> anyhow::Result<RunningPath> {
    let broker_port = process::free_port()?;
    let front_port = process::free_port()?;
    // Relay and peer rewrite nothing, so the broker must advertise the front port itself;
    // schemagate rewrites broker addresses, so behind it the broker advertises its own.
    let advertised = match path {
        BenchPath::Relay | BenchPath::RelayFrames | BenchPath::RelayProcess | BenchPath::Peer => {
            front_port
        }
        _ => broker_port,
    };
    let tansu = bins.tansu.clone();
    let dir = log_dir.to_path_buf();
    let broker = tokio::task::spawn_blocking(move || {
        process::start_tansu_broker(&tansu, broker_port, advertised, &dir)
    })
    .await??;
    let mut front = Vec::new();
    let mut relay = None;
    let mut counter = None;
    let mut schema_id = SchemaId(1);
    let front_addr = process::loopback(front_port);
    let schemagate = || bins.schemagate.clone().context("SCHEMAGATE_BIN is not set");
    match path {
        BenchPath::Direct => {}
        BenchPath::Relay => {
            relay = Some(Relay::start(front_addr, process::loopback(broker_port)).await?);
        }
        BenchPath::RelayFrames => {
            relay = Some(Relay::start_framed(front_addr, process::loopback(broker_port)).await?);
        }
        BenchPath::RelayProcess => {
            let exe = std::env::current_exe()?;
            let args: Vec<String> = [
                "relay",
                "--listen",
                &front_addr.to_string(),
                "--upstream",
                &process::loopback(broker_port).to_string(),
            ]
            .iter()
            .map(|a| a.to_string())
            .collect();
            let mut child = ChildProcess::spawn("loadgen-relay", &exe, &args, log_dir)?;
            child.wait_listening(front_addr, std::time::Duration::from_secs(10))?;
            front.push(child);
        }
        BenchPath::Peer => {
            front.push(process::start_tansu_proxy(
                &bins.tansu,
                front_port,
                broker_port,
                log_dir,
            )?);
        }
        BenchPath::Proxy => {
            front.push(process::start_schemagate_proxy(
                &schemagate()?,
                front_port,
                broker_port,
                None,
                &[],
                log_dir,
            )?);
        }
        BenchPath::ProxyValidating => {
            let bin = schemagate()?;
            let (registry, url) = start_registry(&bin, log_dir).await?;
            front.push(registry);
            schema_id = RegistryClient::new(&url)
                .register(SUBJECT, Format::Avro, SchemaVersion::V1)
                .await?;
            let counting =
                RegistryCounter::start(process::loopback(0), registry_addr(&url)?).await?;
            let policy = write_policy(log_dir)?;
            let mut extra = Vec::new();
            if validation.no_schema_cache {
                extra.push("--no-schema-cache".to_string());
            }
            front.push(process::start_schemagate_proxy(
                &bin,
                front_port,
                broker_port,
                Some((&counting.url(), &policy)),
                &extra,
                log_dir,
            )?);
            counter = Some(counting);
        }
    }
    let bootstrap = match path {
        BenchPath::Direct => process::loopback(broker_port).to_string(),
        _ => front_addr.to_string(),
    };
    Ok(RunningPath {
        bootstrap,
        schema_id,
        relay,
        registry: counter,
        _front: front,
        _broker: broker,
    })
}

/// Starts `schemagate registry --store memory` on a free port; returns it and its URL.
pub async fn start_registry(
    bin: &FsPath,
    log_dir: &FsPath,
) -> anyhow::Result<(ChildProcess, String)> {
    let port = process::free_port()?;
    let (bin, dir) = (bin.to_path_buf(), log_dir.to_path_buf());
    let child =
        tokio::task::spawn_blocking(move || process::start_schemagate_registry(&bin, port, &dir))
            .await??;
    Ok((child, format!("http://{}", process::loopback(port))))
}

fn registry_addr(url: &str) -> anyhow::Result<std::net::SocketAddr> {
    url.trim_start_matches("http://")
        .parse()
        .with_context(|| format!("registry URL {url} is not http://IP:PORT"))
}

/// The policy for `proxy_validating`: every value of the bench topic must be valid Avro of a
/// registered schema; a bad record rejects the batch (so the count of errors is honest).
pub fn write_policy(dir: &FsPath) -> anyhow::Result<PathBuf> {
    let policy = format!(
        "[[topic]]\nmatch = \"{TOPIC}\"\nvalue = \"required\"\nkey = \"off\"\n\
         strategy = \"topic\"\non_invalid = \"reject\"\n"
    );
    let file = dir.join("policy.toml");
    std::fs::write(&file, policy)?;
    Ok(file)
}
