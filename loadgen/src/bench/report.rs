//! Aggregating runs into the bench report: medians, spread, ratios from medians, and the
//! JSON written by `--out` (`{"paths": {...}, "machine": "..."}` plus context fields).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{json, Value};

use super::path::BenchPath;

/// One measured run of one path.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    /// 1-based round.
    pub round: u32,
    /// Concurrent producers of the run (their records and latencies summed).
    pub producers: u32,
    /// Records acknowledged.
    pub records: u64,
    /// First send to last acknowledgement, seconds.
    pub elapsed_s: f64,
    /// Acknowledged records per second.
    pub events_per_sec: f64,
    /// Acknowledged value megabytes (10^6) per second.
    pub mb_per_sec: f64,
    /// Produce latency median, ms.
    pub p50_ms: f64,
    /// Produce latency p99, ms.
    pub p99_ms: f64,
    /// Produce latency p99.9, ms.
    pub p999_ms: f64,
    /// Failed deliveries by error kind.
    pub errors: BTreeMap<String, u64>,
    /// Bytes the relay copied (relay path only): proof the traffic went through it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relay_bytes: Option<u64>,
    /// Registry requests seen by the counting relay (validating path only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry_requests: Option<u64>,
    /// schemagate's average CPU over the produce phase, millicores (schemagate paths only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_millicores: Option<f64>,
    /// schemagate's CPU per MB/s acknowledged: 1000 × CPU seconds / MB (schemagate paths only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_millicores_per_mb_s: Option<f64>,
    /// schemagate's CPU per acknowledged record, microseconds (schemagate paths only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_cpu_us_per_record: Option<f64>,
    /// The proxy process's peak resident set (`VmHWM`) at the end of the run, MB (10^6).
    /// schemagate's, or Kroxylicious' JVM on its paths (which also report their CPU in the
    /// `proxy_*` fields).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_peak_rss_mb: Option<f64>,
}

/// Median of `xs` (mean of the middle two when even); 0 when empty.
pub fn median(xs: &[f64]) -> f64 {
    let mut v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => v.get(n / 2).copied().unwrap_or(0.0),
        _ => {
            (v.get(n / 2 - 1).copied().unwrap_or(0.0) + v.get(n / 2).copied().unwrap_or(0.0)) / 2.0
        }
    }
}

/// Min, max and (max − min) / median of `xs`.
pub fn spread(xs: &[f64]) -> Value {
    let min = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let m = median(xs);
    json!({
        "min": round3(min),
        "max": round3(max),
        "relative": if m > 0.0 { round3((max - min) / m) } else { 0.0 },
    })
}

/// Rounds to 3 decimals for readable JSON.
pub fn round3(x: f64) -> f64 {
    if x.is_finite() {
        (x * 1000.0).round() / 1000.0
    } else {
        0.0
    }
}

/// The runs of every path, in both phases, plus paths that could not run.
#[derive(Debug, Default)]
pub struct Measurements {
    /// Saturation runs per path.
    pub saturation: BTreeMap<BenchPath, Vec<RunResult>>,
    /// Half-of-saturation runs per path.
    pub half_load: BTreeMap<BenchPath, Vec<RunResult>>,
    /// The paced rate of the half-load phase (records/s).
    pub half_load_rate: Option<f64>,
    /// Paths not run, with the reason.
    pub not_run: BTreeMap<BenchPath, String>,
}

fn field(runs: &[RunResult], f: impl Fn(&RunResult) -> f64) -> Vec<f64> {
    runs.iter().map(f).collect()
}

fn path_json(saturation: &[RunResult], half: &[RunResult], half_rate: Option<f64>) -> Value {
    let eps = field(saturation, |r| r.events_per_sec);
    let mut v = json!({
        "status": "ok",
        "events_per_sec": round3(median(&eps)),
        "mb_per_sec": round3(median(&field(saturation, |r| r.mb_per_sec))),
        "p50_ms": round3(median(&field(saturation, |r| r.p50_ms))),
        "p99_ms": round3(median(&field(saturation, |r| r.p99_ms))),
        "spread_events_per_sec": spread(&eps),
        "runs": saturation,
    });
    let cpu: Vec<f64> = saturation
        .iter()
        .filter_map(|r| r.proxy_millicores_per_mb_s)
        .collect();
    if let (false, Some(obj)) = (cpu.is_empty(), v.as_object_mut()) {
        let millicores: Vec<f64> = saturation
            .iter()
            .filter_map(|r| r.proxy_millicores)
            .collect();
        obj.insert(
            "proxy_millicores".into(),
            json!(round3(median(&millicores))),
        );
        obj.insert(
            "proxy_millicores_per_mb_s".into(),
            json!(round3(median(&cpu))),
        );
        let per_record: Vec<f64> = saturation
            .iter()
            .filter_map(|r| r.proxy_cpu_us_per_record)
            .collect();
        if !per_record.is_empty() {
            obj.insert(
                "proxy_cpu_us_per_record".into(),
                json!(round3(median(&per_record))),
            );
        }
    }
    let rss: Vec<f64> = saturation
        .iter()
        .filter_map(|r| r.proxy_peak_rss_mb)
        .collect();
    if let (false, Some(obj)) = (rss.is_empty(), v.as_object_mut()) {
        obj.insert("proxy_peak_rss_mb".into(), json!(round3(median(&rss))));
        let max = rss.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        obj.insert("proxy_peak_rss_mb_max".into(), json!(round3(max)));
    }
    if let (Some(rate), false, Some(obj)) = (half_rate, half.is_empty(), v.as_object_mut()) {
        obj.insert(
            "half_load".into(),
            json!({
                "rate_per_sec": round3(rate),
                "p50_ms": round3(median(&field(half, |r| r.p50_ms))),
                "p99_ms": round3(median(&field(half, |r| r.p99_ms))),
                "p999_ms": round3(median(&field(half, |r| r.p999_ms))),
                "spread_p99_ms": spread(&field(half, |r| r.p99_ms)),
                "runs": half,
            }),
        );
    }
    v
}

impl Measurements {
    /// Median events/s of `path`, if it ran.
    pub fn median_eps(&self, path: BenchPath) -> Option<f64> {
        self.saturation
            .get(&path)
            .filter(|r| !r.is_empty())
            .map(|r| median(&field(r, |x| x.events_per_sec)))
    }

    /// Median half-load p99 of `path`, if it ran.
    pub fn half_load_p99(&self, path: BenchPath) -> Option<f64> {
        self.half_load
            .get(&path)
            .filter(|r| !r.is_empty())
            .map(|r| median(&field(r, |x| x.p99_ms)))
    }

    /// `a / b` of median events/s, when both ran.
    pub fn ratio(&self, a: BenchPath, b: BenchPath) -> Option<f64> {
        match (self.median_eps(a), self.median_eps(b)) {
            (Some(x), Some(y)) if y > 0.0 => Some(round3(x / y)),
            _ => None,
        }
    }

    /// The report JSON; `context` fields (machine, workload, commands...) are merged in.
    pub fn to_json(&self, context: Value) -> Value {
        let mut paths = serde_json::Map::new();
        for path in BenchPath::ALL {
            let runs = self.saturation.get(&path).map(Vec::as_slice).unwrap_or(&[]);
            let entry = match (self.not_run.get(&path), runs.is_empty()) {
                (Some(reason), _) => json!({
                    "status": "not_run", "reason": reason,
                    "events_per_sec": null, "mb_per_sec": null, "p50_ms": null, "p99_ms": null,
                    "runs": [],
                }),
                (None, true) => continue,
                (None, false) => {
                    let half = self.half_load.get(&path).map(Vec::as_slice).unwrap_or(&[]);
                    path_json(runs, half, self.half_load_rate)
                }
            };
            paths.insert(path.key().into(), entry);
        }
        use BenchPath::*;
        let ratios = json!({
            "relay/direct": self.ratio(Relay, Direct),
            "proxy/direct": self.ratio(Proxy, Direct),
            "proxy/relay": self.ratio(Proxy, Relay),
            "relay_frames/direct": self.ratio(RelayFrames, Direct),
            "proxy/relay_frames": self.ratio(Proxy, RelayFrames),
            "relay_process/direct": self.ratio(RelayProcess, Direct),
            "proxy/relay_process": self.ratio(Proxy, RelayProcess),
            "proxy_validating/direct": self.ratio(ProxyValidating, Direct),
            "peer/direct": self.ratio(Peer, Direct),
            "proxy_validating/peer": self.ratio(ProxyValidating, Peer),
            "direct_tls/direct": self.ratio(DirectTls, Direct),
            "proxy_validating_tls/direct_tls": self.ratio(ProxyValidatingTls, DirectTls),
            "proxy_validating_tls/proxy_validating": self.ratio(ProxyValidatingTls, ProxyValidating),
            "proxy_idempotent_quarantine/direct_idempotent": self.ratio(ProxyIdempotentQuarantine, DirectIdempotent),
            "proxy_idempotent_quarantine/direct": self.ratio(ProxyIdempotentQuarantine, Direct),
            "peer_kroxylicious/direct": self.ratio(PeerKroxylicious, Direct),
            "peer_kroxylicious_validating/direct": self.ratio(PeerKroxyliciousValidating, Direct),
            "proxy/peer_kroxylicious": self.ratio(Proxy, PeerKroxylicious),
            "proxy_validating/peer_kroxylicious_validating": self.ratio(ProxyValidating, PeerKroxyliciousValidating),
            "proxy_validating_json/direct": self.ratio(ProxyValidatingJson, Direct),
            "proxy_validating_json/peer_kroxylicious_validating": self.ratio(ProxyValidatingJson, PeerKroxyliciousValidating),
            "proxy_validating_protobuf/direct": self.ratio(ProxyValidatingProtobuf, Direct),
            "proxy_validating_protobuf/proxy_validating": self.ratio(ProxyValidatingProtobuf, ProxyValidating),
        });
        let added_p99: BTreeMap<&str, Option<f64>> = BenchPath::ALL
            .into_iter()
            .filter(|p| *p != Direct)
            .map(|p| {
                let added = match (self.half_load_p99(p), self.half_load_p99(Direct)) {
                    (Some(a), Some(d)) => Some(round3(a - d)),
                    _ => None,
                };
                (p.key(), added)
            })
            .collect();
        let mut out = json!({
            "paths": paths,
            "ratios_from_medians": ratios,
            "added_p99_ms_at_half_load": added_p99,
        });
        if let (Some(o), Value::Object(ctx)) = (out.as_object_mut(), context) {
            o.extend(ctx);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(eps: f64) -> RunResult {
        RunResult {
            round: 1,
            producers: 1,
            records: 10,
            elapsed_s: 1.0,
            events_per_sec: eps,
            mb_per_sec: eps * 512.0 / 1e6,
            p50_ms: 1.0,
            p99_ms: 2.0,
            p999_ms: 3.0,
            errors: BTreeMap::new(),
            relay_bytes: None,
            registry_requests: None,
            proxy_millicores: None,
            proxy_millicores_per_mb_s: None,
            proxy_cpu_us_per_record: None,
            proxy_peak_rss_mb: None,
        }
    }

    #[test]
    fn medians_and_spread() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
        assert_eq!(spread(&[90.0, 100.0, 120.0])["relative"], json!(0.3));
    }

    #[test]
    fn ratios_come_from_medians_and_the_shape_is_the_issues() {
        let mut m = Measurements::default();
        m.saturation
            .insert(BenchPath::Direct, vec![run(100.0), run(300.0), run(200.0)]);
        m.saturation
            .insert(BenchPath::Relay, vec![run(150.0), run(10.0), run(170.0)]);
        m.not_run
            .insert(BenchPath::ProxyValidating, "no enforcement".into());
        assert_eq!(m.ratio(BenchPath::Relay, BenchPath::Direct), Some(0.75));
        let j = m.to_json(json!({"machine": "test"}));
        assert_eq!(j["machine"], "test");
        for key in ["events_per_sec", "mb_per_sec", "p50_ms", "p99_ms", "runs"] {
            assert!(j["paths"]["direct"].get(key).is_some(), "{key}");
        }
        assert_eq!(j["paths"]["direct"]["events_per_sec"], json!(200.0));
        assert_eq!(j["paths"]["proxy_validating"]["status"], "not_run");
        assert!(j["paths"].get("peer").is_none());
        assert!(j["paths"]["direct"]
            .get("proxy_millicores_per_mb_s")
            .is_none());
    }

    #[test]
    fn proxy_cpu_is_the_median_of_the_runs_that_measured_it() {
        let mut m = Measurements::default();
        let with_cpu = |eps: f64, per_mb: f64| RunResult {
            proxy_millicores: Some(per_mb * 10.0),
            proxy_millicores_per_mb_s: Some(per_mb),
            ..run(eps)
        };
        m.saturation.insert(
            BenchPath::ProxyValidatingTls,
            vec![
                with_cpu(100.0, 30.0),
                with_cpu(90.0, 10.0),
                with_cpu(80.0, 20.0),
            ],
        );
        m.saturation.insert(
            BenchPath::DirectTls,
            vec![run(200.0), run(200.0), run(200.0)],
        );
        let j = m.to_json(json!({}));
        let tls = &j["paths"]["proxy_validating_tls"];
        assert_eq!(tls["proxy_millicores_per_mb_s"], json!(20.0));
        assert_eq!(tls["proxy_millicores"], json!(200.0));
        assert_eq!(
            j["ratios_from_medians"]["proxy_validating_tls/direct_tls"],
            json!(0.45)
        );
    }
}
