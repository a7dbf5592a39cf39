//! The evolution lab (issue 12): experiments that prove from runs which schema changes are
//! safe, under which compatibility mode and in which order. Each is one `loadgen lab`
//! command with a committed config (`loadgen/lab/*.toml`) that writes JSON under `docs/lab/`,
//! from which `scripts/lab` regenerates `docs/EVOLUTION.md`.
//!
//! - [`stack`]: the broker and `schemagate registry` an experiment runs against (given, or
//!   started for the run);
//! - [`topic`]: creating a topic, producing framed records, reading a topic back whole;
//! - [`verdict`]: the registry's answer to registering a version under a mode (the lab's one
//!   place that talks to the registry);
//! - [`decode`]: counting what a reader decodes from a topic, with the exact errors;
//! - [`readers`]: the reader programs in other languages (Java, Go, Python), run as processes;
//! - [`matrix`]: experiment 1 (change class × mode, registry verdict against live decode);
//! - [`upgrade`]: experiment 3 (upgrade order per mode: rolling upgrades of producers and
//!   consumers in both orders, then the failing order through an enforcing proxy and a replay);
//! - [`rollout`]: experiment 4 (mixed-version live rollout: N producers through the proxy and
//!   M consumers in several groups, upgraded in batches under load, sampled every ~500 ms);
//! - [`replay`]: experiment 6 (historical replay: millions of records of several writer
//!   versions in one partition, decoded by one reader, against a single-version replay);
//! - [`chart`]: the rollout's PNG charts (errors, lag, throughput, instances upgraded);
//! - [`formats`]: experiment 5 (Avro against Protobuf: sizes through Kafka, the classes each
//!   format permits, criterion's CPU numbers) and [`reuse`], its field-number reuse against
//!   alias rename cases;
//! - [`gate`]: experiment 7 (defense in depth: `schemagate check`, the registry's 409, the
//!   proxy's quarantine).

pub mod chart;
pub mod decode;
pub mod formats;
pub mod gate;
pub mod matrix;
pub mod readers;
pub mod replay;
pub mod reuse;
pub mod rollout;
pub mod stack;
pub mod topic;
pub mod upgrade;
pub mod verdict;

use std::path::PathBuf;

/// Why a lab experiment could not run (a finding is never an error: it is in the report).
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// The config file is missing, unreadable or invalid.
    #[error("config {path}: {detail}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A child process (broker, registry, proxy, reader program) could not be started.
    #[error(transparent)]
    Process(#[from] crate::process::ProcessError),
    /// The registry could not be reached or answered something unusable.
    #[error(transparent)]
    Registry(#[from] crate::registry::RegistryError),
    /// Kafka (librdkafka) failed outside of what the experiment measures.
    #[error(transparent)]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// The bundled schemas did not load.
    #[error(transparent)]
    Render(#[from] crate::render::RenderError),
    /// A step of the experiment did not go as its setup requires.
    #[error("{0}")]
    Setup(String),
    /// Writing the report or a scratch file.
    #[error("{path}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error (in the message, not also a `source()`).
        cause: std::io::Error,
    },
}

/// Seconds since the Unix epoch: a tag that keeps one run's topics and subjects apart from
/// an earlier run's on the same broker and registry.
pub fn run_tag() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!("{secs}")
}

/// Turns a detail into the error of the config file at `path` (every loader's `bad`).
pub fn config_error(path: &std::path::Path) -> impl Fn(String) -> LabError + '_ {
    move |detail| LabError::Config {
        path: path.to_path_buf(),
        detail,
    }
}

/// Reads and parses a TOML config into `T`; with it, the maker of that file's errors.
pub fn load_config<T: serde::de::DeserializeOwned>(
    path: &std::path::Path,
) -> Result<(T, impl Fn(String) -> LabError + '_), LabError> {
    Ok((read_config(path)?, config_error(path)))
}

/// The fields every experiment's report starts with.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReportHead {
    /// The experiment's name, e.g. `matrix`.
    pub experiment: &'static str,
    /// The command line.
    pub command: String,
    /// Config file.
    pub config: String,
    /// Broker used.
    pub broker: String,
}

/// What every experiment starts with: its clock, the machine ([`machine`]), its broker and
/// registry (used or started, see [`stack::LabStack`]), a client of that registry, and the
/// tag of this run ([`run_tag`]).
pub fn begin(
    stack: &stack::StackOptions,
) -> Result<
    (
        std::time::Instant,
        serde_json::Value,
        stack::LabStack,
        crate::registry::RegistryClient,
        String,
    ),
    LabError,
> {
    let begin = std::time::Instant::now();
    let machine = machine();
    let lab = tokio::task::block_in_place(|| stack::LabStack::start(stack))?;
    let registry = crate::registry::RegistryClient::new(&lab.registry);
    Ok((begin, machine, lab, registry, run_tag()))
}

impl stack::LabStack {
    /// The registry for the report: the given URL, or what the lab started.
    pub fn registry_label(&self, opts: &stack::StackOptions) -> String {
        if opts.registry.is_some() {
            self.registry.clone()
        } else {
            "schemagate registry --store memory, started for this run".into()
        }
    }

    /// The head of the report of `experiment`, run by `command` with the config at `config`.
    pub fn head(
        &self,
        experiment: &'static str,
        command: String,
        config: &std::path::Path,
    ) -> ReportHead {
        ReportHead {
            experiment,
            command,
            config: config.display().to_string(),
            broker: self.broker_kind.clone(),
        }
    }
}

/// Reads and parses a TOML config into `T`.
pub fn read_config<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> Result<T, LabError> {
    let err = config_error(path);
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    toml::from_str(&text).map_err(|e| err(e.to_string()))
}

/// Writes `value` as pretty JSON to `path`, creating its directory.
pub fn write_json<T: serde::Serialize>(path: &std::path::Path, value: &T) -> Result<(), LabError> {
    let io = |cause| LabError::Io {
        path: path.to_path_buf(),
        cause,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| io(std::io::Error::other(e.to_string())))?;
    std::fs::write(path, text + "\n").map_err(io)
}

/// The machine an experiment ran on, and its load when it started (`/proc/loadavg`).
pub fn machine() -> serde_json::Value {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string));
    serde_json::json!({ "cpus": cpus, "loadavg_1m_at_start": load })
}
