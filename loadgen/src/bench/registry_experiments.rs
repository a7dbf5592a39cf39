//! The registry experiments of the bench; they need schemagate's enforcement
//! (`proxy --registry --policy`, and `--no-schema-cache` for the first):
//!
//! - **cache on versus off**: the `proxy_validating` workload with schemagate's schema caches
//!   on, then off, interleaved; throughput and registry requests per second;
//! - **cold-fleet stampede**: [`STAMPEDE_PROCESSES`] producer processes, each behind its own
//!   schemagate sidecar, all cold, start at once writing [`STAMPEDE_VERSIONS`]; peak registry
//!   RPS, first-event latency p99, registry requests against processes × distinct ids, and
//!   registry requests once the fleet is warm (should be zero).
//!
//! Registry requests are counted by [`RegistryCounter`], outside the proxy.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::broker::{self, BrokerKind};
use super::path::{self, BenchPath, Validation, SUBJECT, TOPIC};
use super::registry_counter::{peak_rps, RegistryCounter};
use super::report::{median, round3};
use super::{measure, BenchError, BenchOptions, Workload};
use crate::process::{self, ChildProcess};
use crate::registry::RegistryClient;
use crate::render::Format;
use crate::version::SchemaVersion;

/// Producer processes in the cold-fleet stampede.
pub const STAMPEDE_PROCESSES: u32 = 24;
/// Writer versions every stampede producer interleaves (so distinct ids = 3).
pub const STAMPEDE_VERSIONS: [SchemaVersion; 3] =
    [SchemaVersion::V1, SchemaVersion::V2, SchemaVersion::V6];
/// How long each stampede producer runs; the last part is the warm steady state.
const STAMPEDE_SECONDS: f64 = 6.0;
/// Warm-up allowed before registry traffic must have stopped.
const STAMPEDE_WARMUP: Duration = Duration::from_secs(3);
/// Records per second per stampede producer.
const STAMPEDE_RATE: f64 = 200.0;

/// Why the experiments cannot run with these binaries, if they cannot.
fn unavailable(opts: &BenchOptions) -> Option<String> {
    if opts.broker != BrokerKind::Tansu {
        return Some("the registry experiments run on tansu (--broker tansu)".into());
    }
    if let Some(reason) = opts
        .binaries
        .unavailable(BenchPath::ProxyValidating, opts.broker)
    {
        return Some(reason);
    }
    let bin = opts.binaries.schemagate.as_deref()?;
    (!process::schemagate_proxy_supports(bin, "--no-schema-cache"))
        .then(|| format!("{} proxy has no --no-schema-cache", bin.display()))
}

/// Runs both experiments (or says why not) and returns their JSON.
pub async fn run(opts: &BenchOptions, pool: &[Vec<u8>]) -> Value {
    if let Some(reason) = unavailable(opts) {
        let not_run = json!({ "status": "not_run", "reason": reason });
        return json!({ "cache_on_vs_off": not_run, "cold_fleet_stampede": not_run });
    }
    let cache = cache_on_vs_off(opts, pool)
        .await
        .unwrap_or_else(|e| json!({ "status": "failed", "error": e.to_string() }));
    let failed = |e: BenchError| json!({ "status": "failed", "error": e.to_string() });
    // The registry here is schemagate's, which filters `?subject=`: `subject-param` is the
    // setting for it; `auto` (the default) adds one probe per process.
    let exact = stampede(opts, "subject-param").await.unwrap_or_else(failed);
    let auto = stampede(opts, "auto").await.unwrap_or_else(failed);
    json!({
        "cache_on_vs_off": cache,
        "cold_fleet_stampede": exact,
        "cold_fleet_stampede_auto": auto,
    })
}

async fn cache_on_vs_off(opts: &BenchOptions, pool: &[Vec<u8>]) -> Result<Value, BenchError> {
    let mut on = Vec::new();
    let mut off = Vec::new();
    for round in 1..=opts.rounds {
        for no_schema_cache in [false, true] {
            let validation = Validation {
                no_schema_cache,
                ..Validation::default()
            };
            let workload = Workload::Count(opts.records);
            let r = measure(
                opts,
                BenchPath::ProxyValidating,
                round,
                1,
                pool,
                workload,
                validation,
            )
            .await
            .map_err(|e| {
                e.during(format!(
                    "cache {} round {round}",
                    if no_schema_cache { "off" } else { "on" }
                ))
            })?;
            let rps = r.registry_requests.unwrap_or(0) as f64 / r.elapsed_s.max(1e-9);
            eprintln!(
                "bench: registry cache {} round {round}: {:.0} ev/s, {} registry requests ({rps:.0}/s)",
                if no_schema_cache { "off" } else { "on " },
                r.events_per_sec,
                r.registry_requests.unwrap_or(0)
            );
            let entry = (
                r.events_per_sec,
                rps,
                r.registry_requests.unwrap_or(0),
                r.errors.clone(),
            );
            if no_schema_cache {
                off.push(entry)
            } else {
                on.push(entry)
            }
        }
    }
    let summarize = |runs: &[(f64, f64, u64, std::collections::BTreeMap<String, u64>)]| {
        json!({
            "events_per_sec": round3(median(&runs.iter().map(|r| r.0).collect::<Vec<_>>())),
            "registry_rps": round3(median(&runs.iter().map(|r| r.1).collect::<Vec<_>>())),
            "registry_requests": runs.iter().map(|r| r.2).collect::<Vec<_>>(),
            "errors": runs.iter().map(|r| r.3.clone()).collect::<Vec<_>>(),
        })
    };
    Ok(json!({ "status": "ok", "cache_on": summarize(&on), "cache_off": summarize(&off) }))
}

/// The stampede: fresh broker and registry, N sidecars (checking bindings as `binding_check`
/// says), N producer processes at once.
async fn stampede(opts: &BenchOptions, binding_check: &str) -> Result<Value, BenchError> {
    let bin = opts
        .binaries
        .schemagate
        .clone()
        .ok_or(BenchError::Unset("SCHEMAGATE_BIN"))?;
    let log_dir = opts.log_dir.join(format!("stampede-{binding_check}"));
    let broker_port = process::free_port()?;
    let tansu = opts
        .binaries
        .tansu
        .as_deref()
        .ok_or(BenchError::Unset("TANSU_BIN"))?;
    let _broker = broker::start_tansu(tansu, broker_port, broker_port, &log_dir).await?;
    let (_registry, url) = path::start_registry(&bin, &log_dir).await?;
    let ids = RegistryClient::new(&url)
        .register_all(SUBJECT, Format::Avro, &STAMPEDE_VERSIONS, "NONE")
        .await?;
    let counter = RegistryCounter::start(process::loopback(0), path::registry_addr(&url)?).await?;
    let policy = path::write_policy(&log_dir, TOPIC, "reject")?;
    let extra = if process::schemagate_proxy_supports(&bin, "--registry-binding-check") {
        vec![
            "--registry-binding-check".to_string(),
            binding_check.to_string(),
        ]
    } else {
        Vec::new()
    };
    let sidecars =
        start_sidecars(&bin, broker_port, &counter.url(), &policy, &extra, &log_dir).await?;
    let direct = crate::process::loopback(broker_port).to_string();
    super::create_topic_at(&direct, &[], TOPIC, 1, opts.broker).await?;
    let before_fleet = counter.requests();

    let exe = std::env::current_exe()?;
    let id_list: Vec<String> = STAMPEDE_VERSIONS
        .iter()
        .map(|v| ids.get(v).map(|id| id.0.to_string()).unwrap_or_default())
        .collect();
    let versions: Vec<String> = STAMPEDE_VERSIONS.iter().map(|v| v.to_string()).collect();
    let start = Instant::now();
    let children: Vec<std::process::Child> = sidecars
        .iter()
        .enumerate()
        .map(|(i, (port, _))| {
            Command::new(&exe)
                .args([
                    "produce",
                    "--bootstrap",
                    &process::loopback(*port).to_string(),
                ])
                .args([
                    "--topic",
                    TOPIC,
                    "--writers",
                    &versions.join(","),
                    "--ids",
                    &id_list.join(","),
                ])
                .args([
                    "--rate",
                    &STAMPEDE_RATE.to_string(),
                    "--duration",
                    &STAMPEDE_SECONDS.to_string(),
                ])
                .args(["--seed", &i.to_string()])
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
        })
        .collect::<Result<_, _>>()?;
    let outputs = tokio::task::spawn_blocking(move || {
        children
            .into_iter()
            .map(|c| c.wait_with_output())
            .collect::<Result<Vec<_>, _>>()
    })
    .await??;
    let step = Duration::from_millis(100);
    let timeline = counter.timeline(start, step);
    let warm = counter.requests_since(start + STAMPEDE_WARMUP);
    let warm_secs = (start.elapsed() - STAMPEDE_WARMUP).as_secs_f64().max(1e-9);
    let reports: Vec<Value> = outputs
        .iter()
        .filter_map(|o| serde_json::from_slice(&o.stdout).ok())
        .collect();
    let mut first: Vec<f64> = reports
        .iter()
        .filter_map(|r| r["first_event_ms"].as_f64())
        .collect();
    first.sort_by(f64::total_cmp);
    let p99 = first
        .get(((first.len() as f64 * 0.99).ceil() as usize).saturating_sub(1))
        .copied();
    let requests = counter.requests() - before_fleet;
    let expected = u64::from(STAMPEDE_PROCESSES) * STAMPEDE_VERSIONS.len() as u64;
    Ok(json!({
        "status": "ok",
        "binding_check": if extra.is_empty() { "unsupported by this binary" } else { binding_check },
        "processes": STAMPEDE_PROCESSES,
        "producers_reporting": reports.len(),
        "distinct_schema_ids": STAMPEDE_VERSIONS.len(),
        "registry_requests": requests,
        "registry_requests_by_endpoint": counter.endpoints(),
        "expected_requests": expected,
        "requests_equal_processes_times_ids": requests == expected,
        "peak_registry_rps": peak_rps(&timeline, step),
        "first_event_ms_p99": p99.map(round3),
        "first_event_ms_max": first.last().copied().map(round3),
        "steady_state_registry_requests": warm,
        "steady_state_registry_rps": round3(warm as f64 / warm_secs),
        "steady_state_window_s": round3(warm_secs),
        "delivered": reports.iter().filter_map(|r| r["delivered"].as_u64()).sum::<u64>(),
        "produce_errors": reports.iter().map(|r| r["errors"].clone()).filter(|e| e.as_object().is_some_and(|o| !o.is_empty())).collect::<Vec<_>>(),
        "registry_rps_timeline_100ms": timeline,
    }))
}

/// One cold schemagate sidecar per producer process, all pointing at the counted registry.
async fn start_sidecars(
    bin: &Path,
    broker_port: u16,
    registry_url: &str,
    policy: &Path,
    extra: &[String],
    log_dir: &Path,
) -> Result<Vec<(u16, ChildProcess)>, BenchError> {
    let mut sidecars = Vec::new();
    for _ in 0..STAMPEDE_PROCESSES {
        let port = process::free_port()?;
        let (bin, url, policy, extra, dir) = (
            bin.to_path_buf(),
            registry_url.to_string(),
            policy.to_path_buf(),
            extra.to_vec(),
            log_dir.to_path_buf(),
        );
        let child = tokio::task::spawn_blocking(move || {
            process::start_schemagate_proxy(
                &bin,
                port,
                broker_port,
                Some((&url, &policy)),
                &extra,
                &dir,
            )
        })
        .await??;
        sidecars.push((port, child));
    }
    Ok(sidecars)
}
