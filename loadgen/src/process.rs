//! Child processes the bench and fleet drive: the tansu broker, a one-node Apache Kafka (through
//! the tests' `kafka-cluster`), tansu's proxy (the peer), schemagate's proxy and registry. Each
//! is stopped when its handle drops; and the CPU time a process has used, from `/proc`.

use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
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
    /// Spawning failed (the cause is in the message, not also a `source()`).
    #[error("starting {name}: {cause}")]
    Spawn {
        /// Process label.
        name: String,
        /// The OS error.
        cause: std::io::Error,
    },
    /// The process exited or never wrote its ready file in time.
    #[error("{name} did not write {file} within {waited:?}; log {log}:\n{tail}")]
    NoReadyFile {
        /// Process label.
        name: String,
        /// The ready file.
        file: String,
        /// How long we waited.
        waited: Duration,
        /// Log file path.
        log: String,
        /// Last lines of the log.
        tail: String,
    },
    /// A ready file does not say what it should.
    #[error("{file}: {problem}")]
    BadReadyFile {
        /// The ready file.
        file: String,
        /// What is wrong with it.
        problem: String,
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
    #[error(transparent)]
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

/// A loopback port that was free a moment ago, outside the OS's ephemeral range (see
/// [`loopback`]).
pub fn free_port() -> Result<u16, ProcessError> {
    free_block(1)
}

/// A base port `p` with `p .. p + count` free a moment ago, for servers on consecutive ports.
pub fn free_block(count: u16) -> Result<u16, ProcessError> {
    loopback::free_block(count)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::AddrInUse, e.to_string()).into())
}

/// A fresh directory name for one run's logs and scratch files: `loadgen-<kind>-<unix
/// seconds>-<pid>-<n>` in the system temp dir (`TMPDIR`, else `/tmp`). Unique per run and per
/// call, so two runs never mix their logs; nothing is created here (whoever writes first
/// creates it).
pub fn run_dir(kind: &str) -> PathBuf {
    static CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    std::env::temp_dir().join(format!("loadgen-{kind}-{secs}-{}-{n}", std::process::id()))
}

/// `127.0.0.1:port`.
pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A running child process, stopped on drop; its stdout and stderr go to a log file.
#[derive(Debug)]
pub struct ChildProcess {
    name: String,
    child: Child,
    log: PathBuf,
    /// Held open for a child that runs until its standard input closes (`kafka-cluster`):
    /// dropping it asks the child to stop and clean up its own children.
    stdin: Option<ChildStdin>,
}

/// How long a child that stops on EOF gets before it is killed.
const STOP_ON_EOF_GRACE: Duration = Duration::from_secs(60);

impl ChildProcess {
    /// Starts `program args`, logging to `log_dir/name.log`.
    pub fn spawn(
        name: &str,
        program: &Path,
        args: &[String],
        log_dir: &Path,
    ) -> Result<Self, ProcessError> {
        Self::start(name, program, args, &[], log_dir, false)
    }

    /// As [`spawn`](Self::spawn), with `env` added to the inherited environment.
    pub fn spawn_with_env(
        name: &str,
        program: &Path,
        args: &[String],
        env: &[(String, String)],
        log_dir: &Path,
    ) -> Result<Self, ProcessError> {
        Self::start(name, program, args, env, log_dir, false)
    }

    /// As [`spawn`](Self::spawn), for a child that runs until its standard input closes:
    /// dropping the handle closes it and waits for the child to stop by itself.
    pub fn spawn_until_eof(
        name: &str,
        program: &Path,
        args: &[String],
        log_dir: &Path,
    ) -> Result<Self, ProcessError> {
        Self::start(name, program, args, &[], log_dir, true)
    }

    fn start(
        name: &str,
        program: &Path,
        args: &[String],
        env: &[(String, String)],
        log_dir: &Path,
        hold_stdin: bool,
    ) -> Result<Self, ProcessError> {
        std::fs::create_dir_all(log_dir)?;
        let log = log_dir.join(format!("{name}.log"));
        let out = File::create(&log)?;
        let err = out.try_clone()?;
        let mut child = Command::new(program)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(if hold_stdin {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|cause| ProcessError::Spawn {
                name: name.to_string(),
                cause,
            })?;
        Ok(Self {
            name: name.to_string(),
            stdin: child.stdin.take(),
            child,
            log,
        })
    }

    /// Waits until `file` exists, failing early if the process exits; returns its text.
    pub fn wait_for_file(
        &mut self,
        file: &Path,
        timeout: Duration,
    ) -> Result<String, ProcessError> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            if let Ok(text) = std::fs::read_to_string(file) {
                return Ok(text);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(ProcessError::NoReadyFile {
            name: self.name.clone(),
            file: file.display().to_string(),
            waited: start.elapsed(),
            log: self.log.display().to_string(),
            tail: log_tail(&self.log),
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
        if let Some(stdin) = self.stdin.take() {
            drop(stdin);
            let start = Instant::now();
            while start.elapsed() < STOP_ON_EOF_GRACE {
                if !matches!(self.child.try_wait(), Ok(None)) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
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
    start_schemagate_proxy_with_env(schemagate, port, upstream, enforcement, extra, &[], log_dir)
}

/// As [`start_schemagate_proxy`], with `env` added to the proxy's environment (e.g. the
/// `OTEL_*` variables of the bench's tracing experiment).
pub fn start_schemagate_proxy_with_env(
    schemagate: &Path,
    port: u16,
    upstream: u16,
    enforcement: Option<(&str, &Path)>,
    extra: &[String],
    env: &[(String, String)],
    log_dir: &Path,
) -> Result<ChildProcess, ProcessError> {
    let upstreams = [loopback(upstream)];
    start_schemagate_proxy_to(
        schemagate,
        port,
        &upstreams,
        enforcement,
        extra,
        env,
        log_dir,
    )
}

/// As [`start_schemagate_proxy_with_env`], bootstrapping from every address in `upstreams`
/// (the proxy serves broker index `i` on `port + i`; this waits for index 0 only).
pub fn start_schemagate_proxy_to(
    schemagate: &Path,
    port: u16,
    upstreams: &[SocketAddr],
    enforcement: Option<(&str, &Path)>,
    extra: &[String],
    env: &[(String, String)],
    log_dir: &Path,
) -> Result<ChildProcess, ProcessError> {
    let mut args = vec!["proxy".to_string()];
    for upstream in upstreams {
        args.extend(["--upstream".to_string(), upstream.to_string()]);
    }
    args.extend(["--listen".to_string(), loopback(port).to_string()]);
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
    let mut proxy = ChildProcess::spawn_with_env(&name, schemagate, &args, env, log_dir)?;
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

/// How long a one-node Kafka may take to format and start on a busy machine.
pub const KAFKA_READY_TIMEOUT: Duration = Duration::from_secs(180);

/// A fresh one-node Apache Kafka with a plaintext and an `SSL` listener.
#[derive(Debug)]
pub struct KafkaNode {
    /// The plaintext listener.
    pub plaintext: SocketAddr,
    /// The `SSL` listener (certificate for 127.0.0.1 and localhost).
    pub tls: SocketAddr,
    /// The CA that signed the listener's certificate (PEM).
    pub ca: PathBuf,
    /// The `kafka-cluster` process; dropping it stops the node.
    pub process: ChildProcess,
}

/// Starts a fresh one-node Apache Kafka with `kafka-cluster` (the tests' binary, which runs the
/// jars named by `SCHEMAGATE_KAFKA_LIBS`), data and certificates under `dir`.
pub fn start_kafka_node(kafka_cluster: &Path, dir: &Path) -> Result<KafkaNode, ProcessError> {
    let cluster = start_kafka_cluster(kafka_cluster, dir, 1, true, &[])?;
    let plaintext = cluster.plaintext.first().copied();
    match (plaintext, cluster.tls) {
        (Some(plaintext), Some(tls)) => Ok(KafkaNode {
            plaintext,
            tls,
            ca: dir.join("kafka-tls").join("ca.pem"),
            process: cluster.process,
        }),
        _ => Err(ProcessError::BadReadyFile {
            file: dir.join("kafka.ready").display().to_string(),
            problem: "no SSL and plaintext addresses (was --tls-dir honoured?)".into(),
        }),
    }
}

/// A fresh Apache Kafka cluster of one or more nodes.
#[derive(Debug)]
pub struct KafkaNodes {
    /// Every node's plaintext listener, node 1 first.
    pub plaintext: Vec<SocketAddr>,
    /// Node 1's `SSL` listener, when started with TLS.
    pub tls: Option<SocketAddr>,
    /// The `kafka-cluster` process; dropping it stops the nodes.
    pub process: ChildProcess,
}

/// Starts `nodes` fresh Apache Kafka nodes with `kafka-cluster`, data under `dir`: with `tls`,
/// an `SSL` client listener beside the plaintext one (certificates in `dir/kafka-tls`); with
/// `front` (one `(listen, advertised)` pair per node), an extra plaintext listener per node
/// advertising another port, for a relay that rewrites nothing.
pub fn start_kafka_cluster(
    kafka_cluster: &Path,
    dir: &Path,
    nodes: usize,
    tls: bool,
    front: &[(u16, u16)],
) -> Result<KafkaNodes, ProcessError> {
    let ready = dir.join("kafka.ready");
    let tls_dir = dir.join("kafka-tls");
    let _ = std::fs::remove_file(&ready);
    let mut args = vec![
        "--nodes".to_string(),
        nodes.to_string(),
        "--dir".into(),
        dir.join("kafka").display().to_string(),
        "--ready-file".into(),
        ready.display().to_string(),
    ];
    if tls {
        args.extend(["--tls-dir".to_string(), tls_dir.display().to_string()]);
    }
    if !front.is_empty() {
        let pairs: Vec<String> = front.iter().map(|(l, a)| format!("{l}:{a}")).collect();
        args.extend(["--front".to_string(), pairs.join(",")]);
    }
    let mut process = ChildProcess::spawn_until_eof("kafka-cluster", kafka_cluster, &args, dir)?;
    let text = process.wait_for_file(&ready, KAFKA_READY_TIMEOUT)?;
    let (tls, plaintext) =
        parse_ready(&text, tls, nodes).map_err(|problem| ProcessError::BadReadyFile {
            file: ready.display().to_string(),
            problem,
        })?;
    Ok(KafkaNodes {
        plaintext,
        tls,
        process,
    })
}

/// The addresses in a `kafka-cluster` ready file: with TLS, the `SSL` listeners' line then the
/// plaintext one; without, the plaintext line alone. Returns node 1's `SSL` address (with TLS)
/// and every plaintext address, which must number `nodes`.
fn parse_ready(
    text: &str,
    tls: bool,
    nodes: usize,
) -> Result<(Option<SocketAddr>, Vec<SocketAddr>), String> {
    let mut lines = text.lines();
    let mut addrs = |what: &str| -> Result<Vec<SocketAddr>, String> {
        let line = lines.next().ok_or(format!("no {what} line"))?;
        line.split(',')
            .map(|a| {
                a.trim()
                    .parse()
                    .map_err(|e| format!("{what} address {a:?}: {e}"))
            })
            .collect()
    };
    let tls = match tls {
        true => Some(addrs("SSL")?.first().copied().ok_or("no SSL address")?),
        false => None,
    };
    let plaintext = addrs("plaintext")?;
    if plaintext.len() != nodes {
        return Err(format!(
            "{} plaintext addresses for {nodes} nodes",
            plaintext.len()
        ));
    }
    Ok((tls, plaintext))
}

/// CPU seconds (user + system, every thread) process `pid` has used, from `/proc/<pid>/stat`.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let ticks = cpu_ticks(&stat)?;
    Some(ticks as f64 / clock_ticks_per_second())
}

/// utime + stime from the text of `/proc/<pid>/stat`. The command name (field 2) may hold
/// spaces and parentheses, so fields are counted after its last `)`: the state is field 3,
/// utime 14 and stime 15.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    utime.checked_add(stime)
}

/// `getconf CLK_TCK` (100 on every Linux in practice), asked once.
fn clock_ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .trim()
                    .parse::<f64>()
                    .ok()
            })
            .filter(|t| *t > 0.0)
            .unwrap_or(100.0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_dirs_are_unique_and_in_the_temp_dir() {
        let (a, b) = (run_dir("bench"), run_dir("bench"));
        assert_ne!(a, b);
        assert_eq!(a.parent(), Some(std::env::temp_dir().as_path()));
        let name = a.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        assert!(name.starts_with("loadgen-bench-"), "{name}");
        assert!(
            !a.exists(),
            "nothing is created until a process writes its log"
        );
    }

    #[test]
    fn cpu_ticks_are_counted_after_the_command_name() {
        let stat = "4242 (odd) name (x)) S 1 2 3 4 5 6 7 8 9 10 250 75 0 0 20 0 9 0 100 0 0";
        assert_eq!(cpu_ticks(stat), Some(325));
        assert_eq!(cpu_ticks("4242 (cut short) S 1 2"), None);
        assert_eq!(cpu_ticks("no parenthesis at all"), None);
    }

    #[test]
    fn this_process_has_used_some_cpu() {
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        assert!(x != 1);
        let used = cpu_seconds(std::process::id());
        assert!(used.is_some_and(|s| s > 0.0), "{used:?}");
    }

    #[test]
    fn ready_files_name_every_node() {
        let (tls, plain) = parse_ready("127.0.0.1:1\n127.0.0.1:2\n", true, 1).unwrap();
        assert_eq!(tls, Some(loopback(1)));
        assert_eq!(plain, vec![loopback(2)]);
        let three = "127.0.0.1:5,127.0.0.1:6,127.0.0.1:7\n";
        let (tls, plain) = parse_ready(three, false, 3).unwrap();
        assert_eq!(tls, None);
        assert_eq!(plain, vec![loopback(5), loopback(6), loopback(7)]);
        assert!(parse_ready(three, false, 1).is_err());
        assert!(parse_ready("127.0.0.1:1\n", true, 1).is_err());
        assert!(parse_ready("nonsense\n", false, 1).is_err());
    }
}
