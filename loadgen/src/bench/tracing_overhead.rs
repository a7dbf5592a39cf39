//! The tracing-overhead experiment of the bench: the `proxy_validating` workload with
//! schemagate's span export off, sampled at 1% and at 100%, interleaved round by round, each
//! variant exporting to a real OpenTelemetry Collector (`sgotelcol` from `SCHEMAGATE_OTELCOL`,
//! built by `scripts/install otelcol`) that writes what it receives to a file. Reported: median
//! events/s and schemagate CPU per variant, their ratios to "off", and the spans the collector
//! received per variant (counted by `service.name`, so each variant's export is proven).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use super::path::{BenchPath, Validation};
use super::report::{median, round3};
use super::BenchError;
use super::{measure, BenchOptions, Workload};
use crate::process::{self, ChildProcess};

/// The variants, in interleaving order: `(name, OTEL_TRACES_SAMPLER_ARG)`; `None` = export
/// off (no OTLP variable set at all, which is how schemagate runs by default).
const VARIANTS: [(&str, Option<&str>); 3] = [
    ("off", None),
    ("sampled_1pct", Some("0.01")),
    ("sampled_100pct", Some("1.0")),
];

/// Why the experiment cannot run, if it cannot.
fn unavailable(opts: &BenchOptions) -> Option<String> {
    if let Some(reason) = opts
        .binaries
        .unavailable(BenchPath::ProxyValidating, opts.broker)
    {
        return Some(reason);
    }
    match otelcol() {
        Some(_) => None,
        None => Some(
            "SCHEMAGATE_OTELCOL is not set to a collector binary (scripts/install otelcol)".into(),
        ),
    }
}

fn otelcol() -> Option<PathBuf> {
    std::env::var_os("SCHEMAGATE_OTELCOL")
        .map(PathBuf::from)
        .filter(|p| p.is_file())
}

/// Runs the experiment (or says why not) and returns its JSON.
pub async fn run(opts: &BenchOptions, pool: &[Vec<u8>]) -> Value {
    if let Some(reason) = unavailable(opts) {
        eprintln!("bench: tracing overhead not run: {reason}");
        return json!({ "status": "not_run", "reason": reason });
    }
    experiment(opts, pool)
        .await
        .unwrap_or_else(|e| json!({ "status": "failed", "error": e.to_string() }))
}

/// A running collector receiving OTLP/HTTP and writing spans as JSON lines; killed on drop.
struct Collector {
    endpoint: String,
    traces: PathBuf,
    _process: ChildProcess,
}

impl Collector {
    fn start(bin: &Path, dir: &Path) -> Result<Self, BenchError> {
        std::fs::create_dir_all(dir)?;
        let addr = process::loopback(process::free_port()?);
        let traces = dir.join("traces.jsonl");
        let _ = std::fs::remove_file(&traces);
        let config = format!(
            "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: {addr}\n\
             exporters:\n  file:\n    path: {}\n    flush_interval: 1s\n\
             service:\n  telemetry:\n    metrics:\n      level: none\n\
             \x20 pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [file]\n",
            traces.display()
        );
        let config_path = dir.join("otelcol.yaml");
        std::fs::write(&config_path, config)?;
        let args = ["--config".to_string(), config_path.display().to_string()];
        let mut process = ChildProcess::spawn("otelcol", bin, &args, dir)?;
        process.wait_listening(addr, Duration::from_secs(30))?;
        Ok(Collector {
            endpoint: format!("http://{addr}"),
            traces,
            _process: process,
        })
    }

    /// Spans received so far, by `service.name`.
    fn spans_by_service(&self) -> BTreeMap<String, u64> {
        spans_in(&self.traces)
    }
}

/// Spans in a file exporter's JSON lines, by `service.name` (unreadable lines are skipped).
fn spans_in(traces: &Path) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let text = std::fs::read_to_string(traces).unwrap_or_default();
    for line in text.lines() {
        let Ok(batch) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        for rs in batch["resourceSpans"].as_array().into_iter().flatten() {
            let service = rs["resource"]["attributes"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|a| a["key"] == "service.name")
                .and_then(|a| a["value"]["stringValue"].as_str())
                .unwrap_or("?")
                .to_string();
            let spans: usize = rs["scopeSpans"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|ss| ss["spans"].as_array().map_or(0, Vec::len))
                .sum();
            *out.entry(service).or_default() += spans as u64;
        }
    }
    out
}

/// The environment of one variant's schemagate.
fn variant_env(name: &str, sampler_arg: Option<&str>, endpoint: &str) -> Vec<(String, String)> {
    let Some(arg) = sampler_arg else {
        return Vec::new();
    };
    [
        // The traces endpoint only: spans are what is measured, not the metrics bridge.
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            format!("{endpoint}/v1/traces"),
        ),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf".into()),
        ("OTEL_SERVICE_NAME", format!("bench-{name}")),
        ("OTEL_TRACES_SAMPLER", "traceidratio".into()),
        ("OTEL_TRACES_SAMPLER_ARG", arg.to_string()),
        // Export every 200 ms, as a long-running proxy does at steady state: with the default
        // 5 s a run ends (and its proxy is killed) before its first export.
        ("OTEL_BSP_SCHEDULE_DELAY", "200".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

async fn experiment(opts: &BenchOptions, pool: &[Vec<u8>]) -> Result<Value, BenchError> {
    let bin = otelcol().ok_or(BenchError::Unset("SCHEMAGATE_OTELCOL"))?;
    let collector = Collector::start(&bin, &opts.log_dir.join("otelcol"))?;
    let mut runs: BTreeMap<&str, Vec<(f64, Option<f64>)>> = BTreeMap::new();
    for round in 1..=opts.rounds {
        for (name, sampler_arg) in VARIANTS {
            let validation = Validation {
                proxy_env: variant_env(name, sampler_arg, &collector.endpoint),
                ..Validation::default()
            };
            let r = measure(
                opts,
                BenchPath::ProxyValidating,
                round,
                1,
                pool,
                Workload::Count(opts.records),
                validation,
            )
            .await
            .map_err(|e| e.during(format!("tracing {name} round {round}")))?;
            eprintln!(
                "bench: tracing {name:<15} round {round}: {:.0} ev/s, proxy {:?} mcores per MB/s, errors {:?}",
                r.events_per_sec, r.proxy_millicores_per_mb_s, r.errors
            );
            runs.entry(name)
                .or_default()
                .push((r.events_per_sec, r.proxy_millicores_per_mb_s));
        }
    }
    // The collector flushes its file every second; the last variant's batch processor every 5 s
    // by default, and schemagate flushes on exit.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let spans = collector.spans_by_service();
    let eps = |name: &str| {
        median(
            &runs
                .get(name)
                .map(|v| v.iter().map(|r| r.0).collect::<Vec<_>>())
                .unwrap_or_default(),
        )
    };
    let cpu = |name: &str| {
        median(
            &runs
                .get(name)
                .map(|v| v.iter().filter_map(|r| r.1).collect::<Vec<_>>())
                .unwrap_or_default(),
        )
    };
    let mut variants = serde_json::Map::new();
    for (name, _) in VARIANTS {
        let ratio = |x: f64, base: f64| (base > 0.0).then(|| round3(x / base));
        variants.insert(
            name.to_string(),
            json!({
                "events_per_sec": round3(eps(name)),
                "events_per_sec_runs": runs.get(name).map(|v| v.iter().map(|r| r.0).collect::<Vec<_>>()),
                "proxy_millicores_per_mb_s": round3(cpu(name)),
                "throughput_vs_off": ratio(eps(name), eps("off")),
                "cpu_per_mb_vs_off": ratio(cpu(name), cpu("off")),
                "spans_received": spans.get(&format!("bench-{name}")).copied().unwrap_or(0),
            }),
        );
    }
    // Without spans at the collector the comparison would measure nothing but disabled
    // call sites: say so instead of reporting ratios.
    let exported = spans.get("bench-sampled_100pct").copied().unwrap_or(0);
    let status = if exported > 0 { "ok" } else { "failed" };
    Ok(json!({
        "status": status,
        "error": (exported == 0).then_some("the collector received no span from the 100% variant"),
        "collector": "sgotelcol (OTLP/HTTP receiver, file exporter), on this machine",
        "variants": variants,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_off_sets_no_variable_and_sampled_variants_export_traces_only() {
        assert!(variant_env("off", None, "http://127.0.0.1:1").is_empty());
        let env: BTreeMap<String, String> = variant_env("one", Some("0.01"), "http://h:1")
            .into_iter()
            .collect();
        assert_eq!(
            env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
                .map(String::as_str),
            Some("http://h:1/v1/traces")
        );
        assert_eq!(
            env.get("OTEL_TRACES_SAMPLER_ARG").map(String::as_str),
            Some("0.01")
        );
        assert_eq!(
            env.get("OTEL_SERVICE_NAME").map(String::as_str),
            Some("bench-one")
        );
        assert!(!env.contains_key("OTEL_EXPORTER_OTLP_ENDPOINT"));
    }

    #[test]
    fn spans_are_counted_per_service_from_the_file_exporter_lines() {
        let dir = std::env::temp_dir().join(format!("sg-tracing-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let traces = dir.join("traces.jsonl");
        let batch = |service: &str, spans: usize| {
            json!({"resourceSpans": [{
                "resource": {"attributes": [
                    {"key": "service.name", "value": {"stringValue": service}}
                ]},
                "scopeSpans": [{"spans": vec![json!({"name": "produce"}); spans]}]
            }]})
            .to_string()
        };
        let text = [
            batch("bench-a", 3),
            "not json".into(),
            batch("bench-a", 2),
            batch("bench-b", 1),
        ]
        .join("\n");
        std::fs::write(&traces, text).expect("write");
        let counted = spans_in(&traces);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(counted.get("bench-a"), Some(&5));
        assert_eq!(counted.get("bench-b"), Some(&1));
        assert_eq!(counted.len(), 2);
    }
}
