//! What operators watch, checked against the running binaries: after real traffic through an
//! enforcing proxy (with a registry on a Kafka store), every metric the Grafana dashboard and
//! the Prometheus alert rules name is served by a scrape of the proxy or of the registry, and
//! the registry's own metrics count what happened.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use schemagate_tests::{EnforcedStack, Metrics, RegistryStore};

use crate::enforce_support::{metrics, number, policy, python, run, start_enforced};
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
