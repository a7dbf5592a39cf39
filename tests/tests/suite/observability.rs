//! What operators watch, checked against the running binaries: after real traffic through an
//! enforcing proxy (with a registry on a Kafka store) and a short `loadgen fleet` through it,
//! every metric the Grafana dashboard and the Prometheus alert rules name is served by a scrape
//! of the proxy, the registry or the fleet; the registry's and the fleet's own metrics count
//! what happened; and with OTLP export configured, the spans and metrics of a quarantined
//! record reach a real OpenTelemetry Collector.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use schemagate_tests::{ClientRun, Collector, EnforcedStack, Metrics, RegistryStore};
use serde_json::Value;

use crate::enforce_support::{metrics, number, policy, python, run, run_summary, start_enforced};
use crate::support::unique;

fn deploy_file(rel: &str) -> String {
    let path: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy")
        .join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `schemagate_*` names a PromQL expression uses, as served base names (histogram series
/// suffixes stripped).
fn metric_names(expr: &str) -> Vec<String> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("schemagate_"))
        .map(|name| {
            ["_bucket", "_count", "_sum"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(name)
                .to_owned()
        })
        .collect()
}

/// Every metric family a scrape serves: sample names and `# TYPE` names (a labelled family
/// with no sample yet shows only its `# TYPE` line, which names a counter without `_total`).
fn served(scrape: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in scrape.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            if let (Some(name), Some(kind)) = (parts.next(), parts.next()) {
                names.insert(name.to_owned());
                if kind == "counter" {
                    names.insert(format!("{name}_total"));
                }
            }
        } else if !line.starts_with('#') {
            if let Some(name) = line.split(['{', ' ']).next() {
                names.insert(name.to_owned());
            }
        }
    }
    names
}

fn registry_scrape(stack: &mut EnforcedStack) -> String {
    match stack.registry().admin_get("/metrics") {
        Ok((200, body)) => body,
        Ok((status, body)) => panic!("registry /metrics: {status} {body}"),
        Err(e) => panic!("registry /metrics: {e}\n{}", stack.diagnostics()),
    }
}

#[test]
fn dashboards_and_alerts_name_only_metrics_the_running_binaries_serve() {
    let topic = unique("obs-audit");
    let mut stack = start_enforced(&policy(&topic, "audit"), RegistryStore::Kafka);
    let client =
        python(&stack, "enforce_policies.py").args(["--scenario", "audit", "--topic", &topic]);
    let summary = run(&mut stack, "enforce_policies.py", client);
    assert!(number(&summary, "bad") > 0, "{summary}");

    let proxy: Metrics = metrics(&mut stack);
    let registry_text = registry_scrape(&mut stack);
    let registry = Metrics::parse(&registry_text);
    let mut names = served(proxy.text());
    names.extend(served(&registry_text));
    names.extend(served(&fleet_scrape(&mut stack)));

    // The registry counted the traffic it served, by route template, and holds what was
    // registered; its Kafka store has caught up with its topic.
    let registered = registry.sum(
        "schemagate_registry_http_requests_total",
        &[
            ("route", "/subjects/{subject}/versions"),
            ("method", "POST"),
            ("status", "200"),
        ],
    );
    assert!(
        registered >= 1.0,
        "no registration counted:\n{registry_text}"
    );
    let lookups = registry.sum(
        "schemagate_registry_http_requests_total",
        &[("route", "/schemas/ids/{id}"), ("method", "GET")],
    );
    assert!(
        lookups >= 1.0,
        "the proxy's id lookups were not counted:\n{registry_text}"
    );
    assert!(
        registry
            .value("schemagate_registry_schemas", &[])
            .unwrap_or_default()
            >= 1.0,
        "{registry_text}"
    );
    assert!(
        registry
            .value("schemagate_registry_subjects", &[])
            .unwrap_or_default()
            >= 1.0,
        "{registry_text}"
    );
    assert_eq!(
        registry.value("schemagate_registry_store_lag_records", &[]),
        Some(0.0),
        "{registry_text}"
    );

    // Every panel and every alert rule names only served metrics.
    let dash: serde_json::Value =
        serde_json::from_str(&deploy_file("grafana/dashboards/schemagate.json")).unwrap();
    let mut exprs: Vec<(String, String)> = Vec::new();
    for panel in dash["panels"].as_array().into_iter().flatten() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().unwrap_or_default().to_owned();
            exprs.push((format!("panel {}", panel["title"]), expr));
        }
    }
    let alerts: serde_yaml::Value =
        serde_yaml::from_str(&deploy_file("prometheus/alerts.yml")).unwrap();
    let mut rules = 0;
    for group in alerts["groups"].as_sequence().into_iter().flatten() {
        for rule in group["rules"].as_sequence().into_iter().flatten() {
            rules += 1;
            let name = rule["alert"].as_str().unwrap_or("?");
            let expr = rule["expr"].as_str().unwrap_or_default().to_owned();
            exprs.push((format!("alert {name}"), expr));
        }
    }
    assert!(rules >= 6, "alerts.yml has {rules} rules");
    let mut unserved = Vec::new();
    for (what, expr) in &exprs {
        let used = metric_names(expr);
        assert!(
            !used.is_empty(),
            "{what} names no schemagate metric: {expr}"
        );
        for name in used {
            let histogram = names.contains(&format!("{name}_bucket"));
            if !names.contains(&name) && !histogram {
                unserved.push(format!("{what}: {name}"));
            }
        }
    }
    assert!(
        unserved.is_empty(),
        "named but not served: {unserved:#?}\nserved: {names:#?}"
    );
}

/// A `loadgen fleet` process (the real binary), killed on drop.
struct Fleet {
    child: Child,
    log: PathBuf,
    out: PathBuf,
    _dir: tempfile::TempDir,
}

impl Fleet {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The samples named `sample` of a family `openmetrics_scrape.py --samples` parsed (each with
/// its labels and value) that carry every one of `labels`.
fn parsed_samples<'a>(
    parsed: &'a Value,
    family: &str,
    sample: &str,
    labels: &[(&str, &str)],
) -> Vec<&'a Value> {
    parsed["parsed"][family]["samples"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["name"] == sample)
        .filter(|s| labels.iter().all(|(k, v)| s["labels"][*k] == *v))
        .collect()
}

/// The sum of the values of [`parsed_samples`].
fn parsed_sum(parsed: &Value, family: &str, sample: &str, labels: &[(&str, &str)]) -> f64 {
    parsed_samples(parsed, family, sample, labels)
        .iter()
        .map(|s| s["value"].as_f64().unwrap_or_default())
        .sum()
}

/// Runs a short `loadgen fleet` through the stack's proxy (writers v1 and v2; readers v1, which
/// reads both, and v7, whose int → string change reads neither), scrapes its `/metrics` while
/// it runs, parses the scrape with prometheus_client's OpenMetrics parser and checks the
/// values: the reader of each group, deserialize errors for v7 only, lag of both groups,
/// decode times. Returns the scrape's text.
fn fleet_scrape(stack: &mut EnforcedStack) -> String {
    let bin = schemagate_tests::env::target_dir()
        .join("debug")
        .join("loadgen");
    assert!(
        bin.is_file(),
        "{} is missing: cargo build -p loadgen",
        bin.display()
    );
    let topic = unique("obs-fleet");
    let subject = format!("{topic}-value");
    let port = schemagate_tests::net::free_port().unwrap_or_else(|e| panic!("{e}"));
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let dir = tempfile::tempdir().expect("temp dir");
    let (log, out) = (dir.path().join("fleet.log"), dir.path().join("fleet.json"));
    let log_file = std::fs::File::create(&log).expect("log file");
    let child = Command::new(&bin)
        .args(["fleet", "--bootstrap", &stack.bootstrap().to_string()])
        .args(["--registry", &stack.registry_url(), "--topic", &topic])
        .args(["--partitions", "2", "--producers", "1", "--rate", "300"])
        .args([
            "--writers",
            "v1,v2",
            "--readers",
            "v1,v7",
            "--duration",
            "10",
        ])
        .args(["--metrics-addr", &addr.to_string()])
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .expect("loadgen runs");
    let mut fleet = Fleet {
        child,
        log,
        out,
        _dir: dir,
    };

    // Wait until both groups have decoded, v7's has failed, and librdkafka knows both lags.
    let deadline = Instant::now() + Duration::from_secs(40);
    let ready = |m: &Metrics| {
        let count = "schemagate_fleet_decode_seconds_count";
        m.sum("schemagate_fleet_reader_info", &[("reader_version", "v1")]) == 1.0
            && m.sum("schemagate_fleet_reader_info", &[("reader_version", "v7")]) == 1.0
            && m.sum(count, &[("outcome", "decoded")]) > 0.0
            && m.sum(count, &[("outcome", "failed")]) > 0.0
            && m.text()
                .lines()
                .filter(|l| l.starts_with("schemagate_fleet_consumer_lag_records{"))
                .count()
                == 2
    };
    let text = loop {
        if let Ok(Some(status)) = fleet.child.try_wait() {
            panic!(
                "the fleet exited ({status}) before its metrics were complete:\n{}\n{}",
                fleet.log(),
                stack.diagnostics()
            );
        }
        let scrape = schemagate_tests::http::request(addr, "GET", "/metrics", None);
        if let Ok((200, text)) = &scrape {
            if ready(&Metrics::parse(text)) {
                break text.clone();
            }
        }
        assert!(
            Instant::now() < deadline,
            "the fleet's metrics were not complete within 40 s: {scrape:?}\n{}",
            fleet.log()
        );
        std::thread::sleep(Duration::from_millis(300));
    };

    // A real OpenMetrics parser reads the live endpoint.
    let parse = ClientRun::python("openmetrics_scrape.py")
        .unwrap_or_else(|e| panic!("{e}"))
        .args(["--url", &format!("http://{addr}/metrics"), "--samples"])
        .args(["--counter", "schemagate_fleet_deserialize_errors"]);
    let parsed = run_summary(parse, "openmetrics_scrape.py")
        .unwrap_or_else(|e| panic!("{e}\n{}", fleet.log()));

    // Each group's reader version, as an info-style gauge of 1.
    assert_eq!(
        parsed["parsed"]["schemagate_fleet_reader_info"]["type"], "gauge",
        "{parsed}"
    );
    let group_of = |reader: &str| -> String {
        let one = parsed_samples(
            &parsed,
            "schemagate_fleet_reader_info",
            "schemagate_fleet_reader_info",
            &[("reader_version", reader), ("subject", &subject)],
        );
        assert_eq!(one.len(), 1, "reader {reader}: {parsed}");
        assert_eq!(one[0]["value"].as_f64(), Some(1.0), "{parsed}");
        one[0]["labels"]["group"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let (g1, g7) = (group_of("v1"), group_of("v7"));
    assert_ne!(g1, g7);

    // Deserialize errors: v7 cannot read v1 or v2 (int → string); v1 reads both.
    const ERRORS: [&str; 2] = [
        "schemagate_fleet_deserialize_errors",
        "schemagate_fleet_deserialize_errors_total",
    ];
    let errors = parsed_samples(&parsed, ERRORS[0], ERRORS[1], &[]);
    let errors_of = |group: &str| parsed_sum(&parsed, ERRORS[0], ERRORS[1], &[("group", group)]);
    assert!(errors_of(&g7) > 0.0, "{parsed}");
    assert_eq!(errors_of(&g1), 0.0, "{parsed}");
    for e in &errors {
        assert_eq!(e["labels"]["subject"], subject.as_str(), "{e}");
        assert_eq!(e["labels"]["reason"], "reader-incompatible", "{e}");
        let writer = e["labels"]["writer_version"].as_str().unwrap_or_default();
        assert!(["v1", "v2"].contains(&writer), "{e}");
    }

    // Lag of both groups from librdkafka: known, not negative, below what was produced.
    for g in [&g1, &g7] {
        let lag = parsed_samples(
            &parsed,
            "schemagate_fleet_consumer_lag_records",
            "schemagate_fleet_consumer_lag_records",
            &[("group", g.as_str())],
        );
        assert_eq!(lag.len(), 1, "{g}: {parsed}");
        assert_eq!(lag[0]["labels"]["topic"], topic.as_str(), "{parsed}");
        let v = lag[0]["value"].as_f64().unwrap_or(-1.0);
        assert!((0.0..=2400.0).contains(&v), "lag {v}: {parsed}");
    }

    // Decode time: decoded records in v1's group, failed ones in v7's, each a few µs to ms.
    assert_eq!(
        parsed["parsed"]["schemagate_fleet_decode_seconds"]["type"],
        "histogram"
    );
    let decode = |group: &str, outcome: &str, sample: &str| -> f64 {
        parsed_sum(
            &parsed,
            "schemagate_fleet_decode_seconds",
            sample,
            &[("group", group), ("outcome", outcome)],
        )
    };
    for (g, outcome) in [(&g1, "decoded"), (&g7, "failed")] {
        let count = decode(g, outcome, "schemagate_fleet_decode_seconds_count");
        let sum = decode(g, outcome, "schemagate_fleet_decode_seconds_sum");
        assert!(count > 0.0, "{g} {outcome}: {parsed}");
        // Network time is not in it: a 512-byte record decodes far below 10 ms.
        assert!(
            sum > 0.0 && sum / count < 0.01,
            "{g} {outcome}: mean {} s",
            sum / count
        );
    }
    assert_eq!(
        decode(&g1, "failed", "schemagate_fleet_decode_seconds_count"),
        0.0
    );

    // The fleet finishes, and its JSON summary agrees with what was scraped.
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Ok(Some(status)) = fleet.child.try_wait() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the fleet did not finish:\n{}",
            fleet.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(status.success(), "fleet: {status}\n{}", fleet.log());
    let summary: Value =
        serde_json::from_slice(&std::fs::read(&fleet.out).expect("summary")).expect("summary JSON");
    let summarised: f64 = summary["consumers"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, c)| c["group"] == g7.as_str())
        .flat_map(|(_, c)| {
            c["deserialize_errors"]
                .as_object()
                .cloned()
                .unwrap_or_default()
        })
        .flat_map(|(_, kinds)| kinds.as_object().cloned().unwrap_or_default())
        .map(|(_, n)| n.as_f64().unwrap_or_default())
        .sum();
    assert!(
        summarised >= errors_of(&g7),
        "summary {summarised} < scraped: {summary}"
    );
    text
}

/// The trace id of a `traceparent` value.
fn trace_of(traceparent: &str) -> String {
    traceparent.split('-').nth(1).unwrap_or_default().to_owned()
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect()
}

#[test]
fn a_quarantined_record_s_trace_reaches_a_real_collector_linked_to_the_producer_s() {
    let collector = Collector::start().unwrap_or_else(|e| panic!("cannot start otelcol: {e}"));
    // Every binary this test starts (proxy, registry) exports to the collector, configured
    // the way users configure it: the standard OTEL_* variables. nextest runs each test in
    // its own process, so the environment is this test's alone.
    for (key, value) in collector.exporter_env() {
        std::env::set_var(key, value);
    }
    let topic = unique("obs-traced");
    let mut stack = start_enforced(&policy(&topic, "quarantine"), RegistryStore::Memory);
    let client =
        python(&stack, "enforce_policies.py").args(["--scenario", "traced", "--topic", &topic]);
    let summary = run(&mut stack, "enforce_policies.py", client);
    let producer_traces = strings(&summary["producer_traces"]);
    let proxy_traces: Vec<String> = strings(&summary["proxy_traceparents"])
        .iter()
        .map(|tp| trace_of(tp))
        .collect();
    assert_eq!(producer_traces.len(), 3, "{summary}");
    assert!(!proxy_traces.is_empty(), "{summary}");

    // The quarantine write span: in the trace its copies name, linked to every producer trace,
    // a child of the produce span, which counts the records by outcome.
    let found = collector.wait_for_spans(Duration::from_secs(30), |spans| {
        let writes: Vec<&Value> = spans
            .iter()
            .filter(|s| s["name"] == "quarantine write")
            .filter(|s| {
                proxy_traces.contains(&s["traceId"].as_str().unwrap_or_default().to_owned())
            })
            .collect();
        let linked: BTreeSet<String> = writes
            .iter()
            .flat_map(|s| s["links"].as_array().cloned().unwrap_or_default())
            .filter_map(|l| l["traceId"].as_str().map(str::to_owned))
            .collect();
        if !producer_traces.iter().all(|t| linked.contains(t)) {
            return None;
        }
        let parents: Vec<&Value> = writes
            .iter()
            .filter_map(|w| {
                spans.iter().find(|s| {
                    s["name"] == "produce"
                        && s["spanId"] == w["parentSpanId"]
                        && s["traceId"] == w["traceId"]
                })
            })
            .collect();
        let lookups = spans
            .iter()
            .filter(|s| s["name"] == "registry lookup")
            .count();
        let served = spans
            .iter()
            .filter(|s| s["resource"]["service.name"] == "schemagate-registry")
            .filter(|s| s["attrs"]["http.route"] == "/schemas/ids/{id}")
            .count();
        (parents.len() == writes.len() && lookups > 0 && served > 0).then(|| {
            (
                writes.iter().map(|w| (*w).clone()).collect::<Vec<_>>(),
                parents.iter().map(|p| (*p).clone()).collect::<Vec<_>>(),
            )
        })
    });
    let Some((writes, produces)) = found else {
        let names: Vec<String> = collector
            .spans()
            .iter()
            .map(|s| {
                format!(
                    "{} {} {}",
                    s["resource"]["service.name"], s["name"], s["attrs"]
                )
            })
            .collect();
        panic!(
            "the expected spans did not arrive within 30 s; got {names:#?}\nsummary {summary}\n{}\n{}",
            collector.log_tail(),
            stack.diagnostics()
        );
    };
    for w in &writes {
        assert_eq!(w["resource"]["service.name"], "schemagate-proxy", "{w}");
        assert_eq!(w["attrs"]["messaging.system"], "kafka", "{w}");
        assert_eq!(
            w["attrs"]["messaging.destination.name"],
            format!("{topic}.quarantine"),
            "{w}"
        );
    }
    let quarantined: i64 = produces
        .iter()
        .map(|p| {
            p["attrs"]["schemagate.records.quarantined"]
                .as_i64()
                .unwrap_or_default()
        })
        .sum();
    assert_eq!(quarantined, 3, "{produces:#?}");
    for p in &produces {
        assert_eq!(
            p["attrs"]["messaging.destination.name"],
            topic.as_str(),
            "{p}"
        );
        assert_eq!(p["attrs"]["messaging.operation.type"], "send", "{p}");
        assert_eq!(p["kind"], 2, "a produce span is a SERVER span: {p}");
    }

    // `schemagate quarantine show` prints both trace ids of a copy.
    let out = std::process::Command::new(schemagate_tests::env::schemagate_bin().unwrap())
        .args([
            "quarantine",
            "show",
            "--bootstrap",
            &stack.broker().bootstrap(),
        ])
        .args(["--topic", &format!("{topic}.quarantine"), "--index", "0"])
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{shown}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        proxy_traces
            .iter()
            .any(|t| shown.contains(&format!("trace      {t} (schemagate's quarantine span)"))),
        "{shown}"
    );
    assert!(
        producer_traces
            .iter()
            .any(|t| shown.contains(&format!("trace      {t} (the producer's"))),
        "{shown}"
    );

    // The metrics arrive too: the proxy's enforcement counters and the registry's own.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let want = [
        ("schemagate-proxy", "schemagate_records_total"),
        ("schemagate-proxy", "schemagate_quarantined_total"),
        (
            "schemagate-registry",
            "schemagate_registry_http_requests_total",
        ),
    ];
    loop {
        let got = collector.metric_names();
        let missing: Vec<_> = want
            .iter()
            .filter(|(svc, name)| !got.iter().any(|(s, n)| s == svc && n == name))
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "metrics {missing:?} not received; got {got:?}\n{}",
            collector.log_tail()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}
