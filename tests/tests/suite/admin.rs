//! The proxy's admin port, scraped after real traffic: health, readiness, and every proxy
//! metric the Grafana dashboard shows is really served.

use schemagate_tests::ClientRun;

use crate::support::{run_client, start_stack, unique, PROXY_METRICS};

/// The value of the first sample line starting with `prefix` (name plus labels).
fn sample(metrics: &str, prefix: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn admin_serves_health_readiness_and_the_dashboards_metrics_after_traffic() {
    let mut stack = start_stack();
    let run = ClientRun::python("kafka_python_roundtrip.py")
        .unwrap_or_else(|e| panic!("{e}"))
        .args(["--bootstrap", &stack.bootstrap().to_string()])
        .args(["--records", "50"])
        .args(["--topic", &unique("admin-traffic")]);
    run_client(&mut stack, "kafka_python_roundtrip.py", run);

    let Some(proxy) = stack.proxy() else {
        panic!("the admin test needs the proxy; unset SCHEMAGATE_TEST_DIRECT")
    };
    let get = |path: &str| {
        proxy
            .admin_get(path)
            .unwrap_or_else(|e| panic!("{e}\n{}", proxy.log_tail()))
    };
    assert_eq!(get("/healthz").0, 200, "/healthz");
    assert_eq!(get("/readyz").0, 200, "/readyz with the cluster up");
    let (status, metrics) = get("/metrics");
    assert_eq!(status, 200, "/metrics");
    for name in PROXY_METRICS {
        // A labelled family with no sample yet shows only its `# TYPE` line, which names a
        // counter without its `_total` suffix.
        let family = name.strip_suffix("_total").unwrap_or(name);
        let served = metrics.lines().any(|l| {
            let sample = l
                .strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(['{', ' ', '_']));
            let declared = l
                .strip_prefix("# TYPE ")
                .and_then(|t| t.split_whitespace().next())
                .is_some_and(|t| t == family);
            sample || declared
        });
        assert!(served, "/metrics does not serve {name}:\n{metrics}");
    }
    for api in ["Produce", "Fetch", "Metadata", "ApiVersions"] {
        let prefix = format!("schemagate_requests_total{{api=\"{api}\"}}");
        let n = sample(&metrics, &prefix).unwrap_or_default();
        assert!(n > 0.0, "no {api} requests counted:\n{metrics}");
    }
    for counter in ["schemagate_bytes_in_total", "schemagate_bytes_out_total"] {
        let n = sample(&metrics, counter).unwrap_or_default();
        assert!(n > 0.0, "{counter} is {n}");
    }

    // A real OpenMetrics parser (prometheus_client's, strict about `# EOF` and counter
    // families) reads the scrape, and the header names the format the body is in.
    let url = format!("http://{}/metrics", proxy.admin());
    let parse = ClientRun::python("openmetrics_scrape.py")
        .unwrap_or_else(|e| panic!("{e}"))
        .args(["--url", &url])
        .args(["--counter", "schemagate_requests"])
        .args(["--counter", "schemagate_bytes_in"]);
    let parsed = run_client(&mut stack, "openmetrics_scrape.py", parse);
    assert!(
        parsed["samples"].as_u64().unwrap_or_default() > 0,
        "the parser read no samples: {parsed}"
    );
}
