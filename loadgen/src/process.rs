//! Child processes the bench and fleet drive: the tansu broker, tansu's proxy (the peer),
//! schemagate's proxy and registry. Each is killed when its handle drops.

use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Why a child process could not be found, started or reached.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The environment variable naming a binary is unset or points nowhere.
    #[error("{var} must name the {what} binary (got {got:?})")]
    MissingBinary {
        /// Variable name, e.g. `TANSU_BIN`.
        var: &'static str,
        /// What the binary is.
        what: &'static str,
        /// The value found, if any.
        got: Option<String>,
    },
    /// Spawning failed.
    #[error("starting {name}: {source}")]
    Spawn {
        /// Process label.
        name: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The process exited or never listened in time.
    #[error("{name} did not listen on {addr} within {waited:?}; log {log}:\n{tail}")]
    NotReady {
        /// Process label.
        name: String,
        /// The address polled.
        addr: SocketAddr,
        /// How long we waited.
        waited: Duration,
        /// Log file path.
        log: String,
        /// Last lines of the log.
        tail: String,
    },
    /// Other I/O (ports, log files).
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The binary named by `var`, which must exist.
pub fn binary_from_env(var: &'static str, what: &'static str) -> Result<PathBuf, ProcessError> {
    let got = std::env::var(var).ok();
    match got.as_deref().map(PathBuf::from) {
        Some(p) if p.is_file() => Ok(p),
        _ => Err(ProcessError::MissingBinary { var, what, got }),
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> Result<u16, ProcessError> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// `127.0.0.1:port`.
pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A running child process, killed on drop; its stdout and stderr go to a log file.
#[derive(Debug)]
pub struct ChildProcess {
    name: String,
    child: Child,
    log: PathBuf,
}

impl ChildProcess {
    /// Starts `program args`, logging to `log_dir/name.log`.
    pub fn spawn(
        name: &str,
        program: &Path,
        args: &[String],
        log_dir: &Path,
    ) -> Result<Self, ProcessError> {
        std::fs::create_dir_all(log_dir)?;
        let log = log_dir.join(format!("{name}.log"));
        let out = File::create(&log)?;
        let err = out.try_clone()?;
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|source| ProcessError::Spawn {
                name: name.to_string(),
                source,
            })?;
        Ok(Self {
            name: name.to_string(),
            child,
            log,
        })
    }

    /// Waits until `addr` accepts connections, failing early if the process exits.
    pub fn wait_listening(
        &mut self,
        addr: SocketAddr,
        timeout: Duration,
    ) -> Result<(), ProcessError> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(ProcessError::NotReady {
            name: self.name.clone(),
            addr,
            waited: start.elapsed(),
            log: self.log.display().to_string(),
            tail: log_tail(&self.log),
        })
    }

    /// The operating-system process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// How long any child gets to start listening.
pub const READY_TIMEOUT: Duration = Duration::from_secs(15);

/// `tcp://127.0.0.1:port`, tansu's URL form.
fn tcp_url(port: u16) -> String {
    format!("tcp://127.0.0.1:{port}")
}

/// Starts a fresh in-memory tansu broker on `port` that tells clients to reach it at
/// `advertised` (its own port, or the port of a relay or proxy in front of it).
pub fn start_tansu_broker(
    tansu: &Path,
    port: u16,
    advertised: u16,
    log_dir: &Path,
) -> Result<ChildProcess, ProcessError> {
    let args = [
        "broker".to_string(),
        "--listener-url".into(),
        tcp_url(port),
        "--advertised-listener-url".into(),
        tcp_url(advertised),
        "--storage-engine".into(),
        "memory://tansu/".into(),
    ];
    let mut broker = ChildProcess::spawn("tansu-broker", tansu, &args, log_dir)?;
    broker.wait_listening(loopback(port), READY_TIMEOUT)?;
    Ok(broker)
}

/// Starts tansu's own pass-through proxy on `port` in front of the broker at `origin`.
pub fn start_tansu_proxy(
    tansu: &Path,
    port: u16,
    origin: u16,
    log_dir: &Path,
) -> Result<ChildProcess, ProcessError> {
    let args = [
        "proxy".to_string(),
        "--listener-url".into(),
        tcp_url(port),
        "--advertised-listener-url".into(),
        tcp_url(port),
        "--origin-url".into(),
        tcp_url(origin),
    ];
    let mut proxy = ChildProcess::spawn("tansu-proxy", tansu, &args, log_dir)?;
    proxy.wait_listening(loopback(port), READY_TIMEOUT)?;
    Ok(proxy)
}

/// Starts `schemagate proxy` on `port` in front of the broker at `upstream`, with an optional
/// registry URL and policy file (enforcement) and extra flags.
pub fn start_schemagate_proxy(
    schemagate: &Path,
    port: u16,
    upstream: u16,
    enforcement: Option<(&str, &Path)>,
    extra: &[String],
    log_dir: &Path,
) -> Result<ChildProcess, ProcessError> {
    let mut args = vec![
        "proxy".to_string(),
        "--upstream".into(),
        loopback(upstream).to_string(),
        "--listen".into(),
        loopback(port).to_string(),
    ];
    if let Some((registry, policy)) = enforcement {
        args.extend([
            "--registry".into(),
            registry.to_string(),
            "--policy".into(),
            policy.display().to_string(),
        ]);
    }
    args.extend(extra.iter().cloned());
    let name = format!("schemagate-proxy-{port}");
    let mut proxy = ChildProcess::spawn(&name, schemagate, &args, log_dir)?;
    proxy.wait_listening(loopback(port), READY_TIMEOUT)?;
    Ok(proxy)
}

/// Starts `schemagate registry --store memory` on `port`.
pub fn start_schemagate_registry(
    schemagate: &Path,
    port: u16,
    log_dir: &Path,
) -> Result<ChildProcess, ProcessError> {
    let args = [
        "registry".to_string(),
        "--listen".into(),
        loopback(port).to_string(),
        "--store".into(),
        "memory".into(),
    ];
    let mut registry = ChildProcess::spawn("schemagate-registry", schemagate, &args, log_dir)?;
    registry.wait_listening(loopback(port), READY_TIMEOUT)?;
    Ok(registry)
}

/// Whether `schemagate proxy --help` mentions `flag` (enforcement may not have landed yet).
pub fn schemagate_proxy_supports(schemagate: &Path, flag: &str) -> bool {
    Command::new(schemagate)
        .args(["proxy", "--help"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout).contains(flag)
                || String::from_utf8_lossy(&o.stderr).contains(flag)
        })
        .unwrap_or(false)
}
