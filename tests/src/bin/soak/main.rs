//! `soak`: a long run through the validating proxy against a three-node Apache Kafka cluster,
//! watching the proxy's resources. `scripts/soak` builds and starts it; it is not part of CI.
//!
//! It starts the cluster, a registry and an enforcing proxy (quarantine policy), measures the
//! saturation rate of one idempotent librdkafka producer through the proxy (unless `--rate`
//! is given), then produces at half of it with 0.1% bad records while a broker is restarted
//! every `--restart-every-secs`, and samples the proxy's RSS, CPU, open descriptors and threads
//! every `--sample-secs`. It writes `samples.csv`, `chart.png` and `summary.json` to `--out`.
#![forbid(unsafe_code)]

mod chart;
mod load;

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use schemagate_tests::{KafkaCluster, KafkaConfig, ProcSample, Proxy, Registry};

/// Command-line settings.
#[derive(Debug, Clone)]
struct Args {
    minutes: f64,
    restart_every: Duration,
    sample_every: Duration,
    bad_per_million: u64,
    rate: Option<u64>,
    first_port: Option<u16>,
    out: PathBuf,
}

impl Args {
    fn parse() -> Result<Self, String> {
        let mut a = Args {
            minutes: 30.0,
            restart_every: Duration::from_secs(300),
            sample_every: Duration::from_secs(10),
            bad_per_million: 1_000,
            rate: None,
            first_port: None,
            out: PathBuf::from("target/soak"),
        };
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            let mut value = || it.next().ok_or(format!("{flag} needs a value"));
            let num = |v: String| v.parse::<f64>().map_err(|e| format!("{flag}: {e}"));
            match flag.as_str() {
                "--minutes" => a.minutes = num(value()?)?,
                "--restart-every-secs" => a.restart_every = Duration::from_secs_f64(num(value()?)?),
                "--sample-secs" => a.sample_every = Duration::from_secs_f64(num(value()?)?),
                "--bad-per-million" => a.bad_per_million = num(value()?)? as u64,
                "--rate" => a.rate = Some(num(value()?)? as u64),
                "--first-port" => a.first_port = Some(num(value()?)? as u16),
                "--out" => a.out = PathBuf::from(value()?),
                other => return Err(format!("unknown flag {other}")),
            }
        }
        Ok(a)
    }
}

/// One sample of the proxy, as written to `samples.csv`.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Seconds since the soak (after calibration) began.
    pub at_s: f64,
    /// Resident memory, MiB.
    pub rss_mib: f64,
    /// CPU use since the previous sample, percent of one core.
    pub cpu_pct: f64,
    /// Open file descriptors.
    pub fds: u64,
    /// Threads.
    pub threads: u64,
    /// Records acknowledged so far.
    pub acked: u64,
}

fn main() {
    let args = match Args::parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("soak: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&args) {
        eprintln!("soak: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<(), String> {
    std::fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    let mut config = KafkaConfig::nodes(3);
    config.first_port = args.first_port;
    let cluster = KafkaCluster::start(config).map_err(|e| e.to_string())?;
    let direct = cluster.bootstrap();
    let registry = Registry::start("memory").map_err(|e| e.to_string())?;
    let topic = "soak-orders";
    let (status, body) = registry
        .post(
            &format!("/subjects/{topic}-value/versions"),
            r#"{"schema":"\"string\""}"#,
        )
        .map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("registering the schema: {status} {body}"));
    }
    let schema_id: u32 = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["id"].as_u64())
        .ok_or(format!("no id in {body}"))? as u32;
    let policy = args.out.join("policy.toml");
    std::fs::write(
        &policy,
        format!(
            "[[topic]]\nmatch = \"{topic}\"\nvalue = \"required\"\nkey = \"off\"\n\
             strategy = \"topic\"\non_invalid = \"quarantine\"\nquarantine = \"{{topic}}.quarantine\"\n"
        ),
    )
    .map_err(|e| e.to_string())?;
    load::create_topic(&cluster.bootstrap(), topic, 6)?;
    let flags = [
        "--registry".to_owned(),
        registry.url(),
        "--policy".to_owned(),
        policy.display().to_string(),
    ];
    let proxy = Proxy::start_with(&cluster.addrs(), &flags).map_err(|e| e.to_string())?;
    proxy.wait_for_readyz(200, Duration::from_secs(60));
    let bootstrap = proxy.listen().to_string();
    let rate = match args.rate {
        Some(r) => r,
        None => {
            let saturation =
                load::saturation(&bootstrap, topic, schema_id, Duration::from_secs(20))?;
            eprintln!("soak: saturation {saturation} records/s; soaking at half");
            (saturation / 2).max(1)
        }
    };
    // The saturation probe's records are on the topic already: counted out below.
    let probed = load::stored(&direct, topic)?;
    let producer = load::Producer::start(&bootstrap, topic, schema_id, rate, args.bad_per_million)?;
    let ticks_per_s = clock_ticks();
    let total = Duration::from_secs_f64(args.minutes * 60.0);
    let started = Instant::now();
    let mut samples = Vec::new();
    let restarter = Restarter::start(cluster, args.restart_every, started, total);
    let mut last = (
        Instant::now(),
        ProcSample::read(proxy.pid()).unwrap_or_default(),
    );
    let mut csv = std::fs::File::create(args.out.join("samples.csv")).map_err(|e| e.to_string())?;
    let _ = writeln!(csv, "seconds,rss_mib,cpu_pct,fds,threads,acked");
    while started.elapsed() < total {
        std::thread::sleep(
            args.sample_every
                .min(total.saturating_sub(started.elapsed())),
        );
        // A restart that failed ended the restart thread and, with it, the cluster: a soak
        // that went on would sample a proxy with no brokers behind it. Stop and say why.
        if restarter.ended_early() {
            let at = started.elapsed().as_secs_f64();
            return Err(match restarter.finish() {
                Err(e) => format!("a broker restart failed, soak stopped at {at:.0} s: {e}"),
                Ok(_) => format!("the restart thread ended early, soak stopped at {at:.0} s"),
            });
        }
        let now = ProcSample::read(proxy.pid()).ok_or("the proxy is gone")?;
        let dt = last.0.elapsed().as_secs_f64().max(1e-3);
        let cpu =
            (now.cpu_ticks.saturating_sub(last.1.cpu_ticks)) as f64 / ticks_per_s / dt * 100.0;
        last = (Instant::now(), now);
        let s = Sample {
            at_s: started.elapsed().as_secs_f64(),
            rss_mib: now.rss_kib as f64 / 1024.0,
            cpu_pct: cpu,
            fds: now.fds,
            threads: now.threads,
            acked: producer.acked(),
        };
        let _ = writeln!(
            csv,
            "{:.1},{:.1},{:.1},{},{},{}",
            s.at_s, s.rss_mib, s.cpu_pct, s.fds, s.threads, s.acked
        );
        eprintln!("soak: {s:?}");
        samples.push(s);
    }
    let (_cluster, restarts) = restarter.finish()?;
    let result = producer.finish(Duration::from_secs(120));
    let stored = load::stored(&direct, topic)?;
    let quarantined = load::stored(&direct, &format!("{topic}.quarantine"))?;
    let peak = ProcSample::read(proxy.pid())
        .unwrap_or_default()
        .peak_rss_kib;
    let growth = chart::growth(&samples);
    let summary = serde_json::json!({
        "minutes": args.minutes,
        "rate": rate,
        "bad_per_million": args.bad_per_million,
        "broker_restarts": restarts.len(),
        "sent": result.sent,
        "acked_good": result.acked_good,
        "acked_bad": result.acked_bad,
        "failed": result.failed,
        "errors": result.errors,
        "topic_records": stored - probed,
        "probe_records": probed,
        "quarantine_records": quarantined,
        "proxy_peak_rss_mib": peak / 1024,
        "growth_after_warmup": growth,
    });
    std::fs::write(args.out.join("summary.json"), format!("{summary:#}\n"))
        .map_err(|e| e.to_string())?;
    chart::draw(&args.out.join("chart.png"), &samples, &restarts)?;
    println!("{summary:#}");
    Ok(())
}

/// The cluster back, and each restart's (start, end) in seconds since the soak began.
type Restarted = Result<(KafkaCluster, Vec<(f64, f64)>), String>;

/// Restarts one broker after another (SIGTERM, restart, wait until every node lists every
/// node) every `every`, on a thread of its own so that sampling goes on meanwhile.
struct Restarter {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: std::thread::JoinHandle<Restarted>,
}

impl Restarter {
    fn start(mut cluster: KafkaCluster, every: Duration, t0: Instant, total: Duration) -> Self {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut restarts = Vec::new();
            let (mut next, mut node) = (every, 1);
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(200));
                let now = t0.elapsed();
                if now < next || now + every / 10 >= total {
                    continue;
                }
                eprintln!("soak: restarting broker {node}");
                cluster.stop(node).map_err(|e| e.to_string())?;
                cluster.restart(node).map_err(|e| e.to_string())?;
                restarts.push((now.as_secs_f64(), t0.elapsed().as_secs_f64()));
                eprintln!("soak: broker {node} back");
                node = node % 3 + 1;
                next += every;
            }
            Ok((cluster, restarts))
        });
        Self { stop, handle }
    }

    /// Whether the restart thread ended before it was told to stop (a restart failed).
    fn ended_early(&self) -> bool {
        self.handle.is_finished() && !self.stop.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Stops restarting; the cluster and each restart's (start, end) in seconds.
    fn finish(self) -> Restarted {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.handle
            .join()
            .map_err(|_| "the restart thread panicked".to_owned())?
    }
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on Linux when it cannot be asked).
fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}
