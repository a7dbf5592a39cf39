//! deploy/ has no Docker engine to run on here, so its files are checked by parsing: every
//! YAML and JSON file must parse, and the wiring between services must agree (names, ports,
//! bootstrap lists, scrape targets, dashboard metric names).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize as _;
use serde_json::Value as Json;
use serde_yaml::Value as Yaml;

use crate::support::{ENFORCEMENT_METRICS, PROXY_METRICS};

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

fn files_with(dir: &Path, exts: &[&str], out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_with(&path, exts, out);
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| exts.contains(&e))
        {
            out.push(path);
        }
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn yaml(rel: &str) -> Yaml {
    let path = deploy_dir().join(rel);
    serde_yaml::from_str(&read(&path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The value of `--flag=value` or `--flag value` in every occurrence, in order.
fn flag_values(args: &[String], flag: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if let Some(v) = arg.strip_prefix(&format!("{flag}=")) {
            out.push(v.to_owned());
        } else if arg == flag {
            out.extend(it.next().cloned());
        }
    }
    out
}

fn strings(v: &Yaml) -> Vec<String> {
    v.as_sequence()
        .map(|s| {
            s.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn port_of(addr: &str) -> u16 {
    addr.rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or_else(|| panic!("{addr} has no port"))
}

#[test]
fn every_yaml_and_json_file_in_deploy_parses() {
    let mut files = Vec::new();
    files_with(&deploy_dir(), &["yml", "yaml", "json"], &mut files);
    assert!(
        files.len() >= 6,
        "expected the deploy files, found {files:?}"
    );
    for path in files {
        let text = read(&path);
        if path.extension().is_some_and(|e| e == "json") {
            serde_json::from_str::<Json>(&text)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        } else {
            for doc in serde_yaml::Deserializer::from_str(&text) {
                Yaml::deserialize(doc).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            }
        }
    }
}

#[test]
fn compose_wires_kraft_registry_schemagate_prometheus_and_grafana() {
    let compose = yaml("docker-compose.yml");
    let services = &compose["services"];
    let env = |svc: &str, key: &str| -> String {
        // Merge keys (<<: *kafka-env) are resolved by looking in the anchor's target too.
        let e = &services[svc]["environment"];
        e[key]
            .as_str()
            .or_else(|| e["<<"][key].as_str())
            .unwrap_or_else(|| panic!("{svc} has no environment {key}"))
            .to_owned()
    };

    // Three KRaft nodes, combined roles, one cluster id, a quorum naming each of them.
    let kafkas = ["kafka-1", "kafka-2", "kafka-3"];
    let voters = env("kafka-1", "KAFKA_CONTROLLER_QUORUM_VOTERS");
    let cluster = env("kafka-1", "CLUSTER_ID");
    let mut advertised = Vec::new();
    for (i, k) in kafkas.iter().enumerate() {
        assert_eq!(env(k, "KAFKA_NODE_ID"), (i + 1).to_string(), "{k}");
        assert_eq!(env(k, "KAFKA_PROCESS_ROLES"), "broker,controller", "{k}");
        assert_eq!(env(k, "CLUSTER_ID"), cluster, "{k}");
        assert!(voters.contains(&format!("{}@{k}:9093", i + 1)), "{voters}");
        let listener = env(k, "KAFKA_ADVERTISED_LISTENERS");
        let addr = listener.trim_start_matches("PLAINTEXT://").to_owned();
        assert_eq!(addr, format!("{k}:9092"), "{k} advertises {listener}");
        advertised.push(addr);
        // The same Apache Kafka the tests and scripts/up run (pinned in scripts/kafka/pom.xml).
        let image = services[k]["image"].as_str().unwrap_or_default();
        assert_eq!(
            image,
            format!("apache/kafka:{}", pinned_kafka_version()),
            "{k}"
        );
    }

    // Schema Registry stores its log in that cluster.
    let sr = env(
        "schema-registry",
        "SCHEMA_REGISTRY_KAFKASTORE_BOOTSTRAP_SERVERS",
    );
    for a in &advertised {
        assert!(sr.contains(a), "schema registry bootstrap {sr} lacks {a}");
    }

    // schemagate: one --upstream per broker, a port per broker published, admin port published.
    let sg = &services["schemagate"];
    let args = strings(&sg["command"]);
    assert_eq!(args.first().map(String::as_str), Some("proxy"), "{args:?}");
    assert_eq!(flag_values(&args, "--upstream"), advertised, "{args:?}");
    let listen = port_of(&flag_values(&args, "--listen")[0]);
    let admin = port_of(&flag_values(&args, "--admin")[0]);
    let published: BTreeSet<String> = strings(&sg["ports"]).into_iter().collect();
    for i in 0..kafkas.len() as u16 {
        let p = listen + i;
        assert!(
            published.contains(&format!("{p}:{p}")),
            "broker port {p} not published as itself: {published:?}"
        );
    }
    assert!(
        published.contains(&format!("{admin}:{admin}")),
        "{published:?}"
    );
    let dockerfile = sg["build"]["dockerfile"].as_str().unwrap_or_default();
    let context = sg["build"]["context"].as_str().unwrap_or_default();
    assert!(
        deploy_dir().join(context).join(dockerfile).is_file(),
        "{context}/{dockerfile}"
    );
    let health = strings(&sg["healthcheck"]["test"]).join(" ");
    assert!(
        health.contains(&format!("localhost:{admin}/readyz")),
        "{health}"
    );

    // Prometheus scrapes that admin port; its config file is the one mounted.
    let prom = yaml("prometheus/prometheus.yml");
    let targets: Vec<String> = prom["scrape_configs"]
        .as_sequence()
        .into_iter()
        .flatten()
        .flat_map(|job| job["static_configs"].as_sequence().into_iter().flatten())
        .flat_map(|sc| strings(&sc["targets"]))
        .collect();
    assert!(
        targets.contains(&format!("schemagate:{admin}")),
        "{targets:?}"
    );
    // The opt-in fleet (profile "fleet") runs the image's loadgen, and Prometheus scrapes the
    // port its consumers serve /metrics on.
    let fleet = &services["fleet"];
    assert_eq!(strings(&fleet["profiles"]), ["fleet"], "{fleet:?}");
    assert_eq!(fleet["image"], sg["image"], "{fleet:?}");
    assert_eq!(strings(&fleet["entrypoint"]), ["/usr/local/bin/loadgen"]);
    let fleet_args = strings(&fleet["command"]);
    assert_eq!(fleet_args.first().map(String::as_str), Some("fleet"));
    let fleet_metrics = port_of(&flag_values(&fleet_args, "--metrics-addr")[0]);
    assert!(
        targets.contains(&format!("fleet:{fleet_metrics}")),
        "{targets:?}"
    );
    let dockerfile_text = read(&deploy_dir().join(context).join(dockerfile));
    assert!(
        dockerfile_text.contains("/src/target/release/loadgen /usr/local/bin/loadgen"),
        "the image has no loadgen:\n{dockerfile_text}"
    );
    let mounts = strings(&services["prometheus"]["volumes"]).join(" ");
    assert!(
        mounts.contains("./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml"),
        "{mounts}"
    );
    // The alert rules it loads are the mounted deploy/prometheus/alerts.yml.
    let rule_files = strings(&prom["rule_files"]);
    assert_eq!(rule_files, ["/etc/prometheus/alerts.yml"], "{rule_files:?}");
    assert!(
        mounts.contains("./prometheus/alerts.yml:/etc/prometheus/alerts.yml"),
        "{mounts}"
    );

    // Grafana reads Prometheus and the provisioned dashboard directory.
    let ds = yaml("grafana/provisioning/datasources/prometheus.yml");
    assert_eq!(
        ds["datasources"][0]["url"].as_str(),
        Some("http://prometheus:9090")
    );
    let provider = yaml("grafana/provisioning/dashboards/schemagate.yml");
    let dash_path = provider["providers"][0]["options"]["path"]
        .as_str()
        .unwrap_or_default();
    let mounts = strings(&services["grafana"]["volumes"]).join(" ");
    assert!(
        mounts.contains(&format!("./grafana/dashboards:{dash_path}")),
        "{mounts}"
    );
    assert!(
        mounts.contains("./grafana/provisioning:/etc/grafana/provisioning"),
        "{mounts}"
    );
}

#[test]
fn dashboard_queries_only_published_metrics() {
    let path = deploy_dir().join("grafana/dashboards/schemagate.json");
    let dash: Json = serde_json::from_str(&read(&path)).unwrap_or_else(|e| panic!("{e}"));
    let panels = dash["panels"].as_array().cloned().unwrap_or_default();
    assert!(!panels.is_empty(), "dashboard has no panels");
    let mut used = BTreeSet::new();
    for panel in &panels {
        assert_eq!(
            panel["datasource"]["uid"], "prometheus",
            "{}",
            panel["title"]
        );
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().unwrap_or_default();
            let names: Vec<&str> = expr
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| w.starts_with("schemagate_"))
                .collect();
            assert!(
                !names.is_empty(),
                "{} queries no schemagate metric",
                panel["title"]
            );
            for name in names {
                let base = ["_bucket", "_count", "_sum"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s))
                    .unwrap_or(name);
                // Whether the binaries serve it is checked against live scrapes in
                // observability.rs; here, that every published metric has a panel.
                used.insert(base);
            }
        }
    }
    let missing: Vec<_> = PROXY_METRICS
        .iter()
        .chain(ENFORCEMENT_METRICS)
        .filter(|m| !used.contains(*m))
        .collect();
    assert!(missing.is_empty(), "no panel shows {missing:?}");
}

#[test]
fn kubernetes_sidecar_serves_the_app_on_localhost_and_probes_admin() {
    let text = read(&deploy_dir().join("kubernetes/sidecar.yaml"));
    let docs: Vec<Yaml> = serde_yaml::Deserializer::from_str(&text)
        .map(|d| Yaml::deserialize(d).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let deployment = docs
        .iter()
        .find(|d| d["kind"] == "Deployment")
        .unwrap_or_else(|| panic!("no Deployment in sidecar.yaml"));
    let spec = &deployment["spec"]["template"]["spec"];
    let sidecar = spec["initContainers"]
        .as_sequence()
        .and_then(|s| s.iter().find(|c| c["name"] == "schemagate"))
        .unwrap_or_else(|| panic!("no schemagate init container"));
    assert_eq!(sidecar["restartPolicy"], "Always", "native sidecar");
    let args = strings(&sidecar["args"]);
    let listen = flag_values(&args, "--listen");
    let admin = port_of(&flag_values(&args, "--admin")[0]);
    assert!(!flag_values(&args, "--upstream").is_empty(), "{args:?}");
    let app = &spec["containers"][0];
    let bootstrap = app["env"]
        .as_sequence()
        .and_then(|e| e.iter().find(|v| v["name"] == "KAFKA_BOOTSTRAP_SERVERS"))
        .and_then(|v| v["value"].as_str())
        .unwrap_or_default();
    assert_eq!(
        listen,
        vec![bootstrap.to_owned()],
        "the app must bootstrap from the sidecar"
    );
    let admin_port = sidecar["ports"][0]["containerPort"].as_u64();
    assert_eq!(admin_port, Some(u64::from(admin)));
    for probe in ["startupProbe", "readinessProbe", "livenessProbe"] {
        assert_eq!(sidecar[probe]["httpGet"]["port"], "admin", "{probe}");
    }
    let annotations = &deployment["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(
        annotations["prometheus.io/port"].as_str(),
        Some(admin.to_string().as_str())
    );
}

/// The `kafka_2.13` version pinned by `scripts/kafka/pom.xml`.
fn pinned_kafka_version() -> String {
    let pom = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/kafka/pom.xml");
    let text = std::fs::read_to_string(&pom).unwrap_or_else(|e| panic!("{}: {e}", pom.display()));
    let after = text
        .split("<artifactId>kafka_2.13</artifactId>")
        .nth(1)
        .unwrap_or_else(|| panic!("no kafka_2.13 in {}", pom.display()));
    after
        .split("<version>")
        .nth(1)
        .and_then(|v| v.split("</version>").next())
        .unwrap_or_else(|| panic!("no version after kafka_2.13 in {}", pom.display()))
        .trim()
        .to_owned()
}
