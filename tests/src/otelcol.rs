//! A real OpenTelemetry Collector (`sgotelcol`, built from `tests/otelcol`) on loopback: an
//! OTLP/HTTP receiver on a free port and a file exporter writing everything it receives as
//! OTLP JSON lines, which the tests read back.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::process::Server;
use crate::{env, net, HarnessError};

/// A running collector, killed on drop.
pub struct Collector {
    http: SocketAddr,
    traces: PathBuf,
    metrics: PathBuf,
    server: Server,
    _dir: tempfile::TempDir,
}

impl Collector {
    /// Starts the collector and waits for its OTLP/HTTP listener.
    pub fn start() -> Result<Self, HarnessError> {
        let dir = tempfile::Builder::new()
            .prefix("schemagate-otelcol-")
            .tempdir()
            .map_err(|e| HarnessError::io("creating the collector's directory", e))?;
        let http = SocketAddr::from(([127, 0, 0, 1], net::free_port()?));
        let (traces, metrics) = (
            dir.path().join("traces.jsonl"),
            dir.path().join("metrics.jsonl"),
        );
        let config = format!(
            "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: {http}\n\
             exporters:\n  file/traces:\n    path: {traces}\n    flush_interval: 100ms\n\
             \x20 file/metrics:\n    path: {metrics}\n    flush_interval: 100ms\n\
             service:\n  telemetry:\n    metrics:\n      level: none\n\
             \x20 pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [file/traces]\n\
             \x20   metrics:\n      receivers: [otlp]\n      exporters: [file/metrics]\n",
            traces = traces.display(),
            metrics = metrics.display(),
        );
        let config_path = dir.path().join("config.yaml");
        std::fs::write(&config_path, config)
            .map_err(|e| HarnessError::io("writing the collector's config", e))?;
        let mut command = Command::new(env::otelcol()?);
        command.arg("--config").arg(&config_path);
        let mut server = Server::spawn("otelcol", command)?;
        server.wait_for_listener(http, Duration::from_secs(30))?;
        Ok(Self {
            http,
            traces,
            metrics,
            server,
            _dir: dir,
        })
    }

    /// `OTEL_EXPORTER_OTLP_ENDPOINT` for a binary exporting here.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.http)
    }

    /// The environment that makes a schemagate binary export here promptly (spans batched
    /// for 100 ms, metrics every second).
    pub fn exporter_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT", self.endpoint()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf".into()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100".into()),
            ("OTEL_METRIC_EXPORT_INTERVAL", "1000".into()),
        ]
    }

    /// Every span received so far, each with its `resource` attributes merged in under
    /// `"resource"` (OTLP JSON: resourceSpans → scopeSpans → spans).
    pub fn spans(&self) -> Vec<Value> {
        let mut out = Vec::new();
        for batch in read_lines(&self.traces) {
            for rs in batch["resourceSpans"].as_array().into_iter().flatten() {
                let resource = attributes(&rs["resource"]["attributes"]);
                for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                    for span in ss["spans"].as_array().into_iter().flatten() {
                        let mut span = span.clone();
                        span["resource"] = resource.clone();
                        span["attrs"] = attributes(&span["attributes"]);
                        out.push(span);
                    }
                }
            }
        }
        out
    }

    /// The names of every metric received so far, by the `service.name` that sent it.
    pub fn metric_names(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for batch in read_lines(&self.metrics) {
            for rm in batch["resourceMetrics"].as_array().into_iter().flatten() {
                let resource = attributes(&rm["resource"]["attributes"]);
                let service = resource["service.name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                for sm in rm["scopeMetrics"].as_array().into_iter().flatten() {
                    for m in sm["metrics"].as_array().into_iter().flatten() {
                        let name = m["name"].as_str().unwrap_or_default().to_owned();
                        out.push((service.clone(), name));
                    }
                }
            }
        }
        out
    }

    /// Polls `check` over the received spans until it returns Some, or `within` passes.
    pub fn wait_for_spans<T>(
        &self,
        within: Duration,
        mut check: impl FnMut(&[Value]) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(found) = check(&self.spans()) {
                return Some(found);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The collector's log (tail), for a failing test.
    pub fn log_tail(&self) -> String {
        self.server.log_tail()
    }
}

fn read_lines(path: &PathBuf) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// OTLP JSON attributes (`[{key, value: {stringValue|intValue|...}}]`) as one JSON object.
pub fn attributes(list: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for kv in list.as_array().into_iter().flatten() {
        let key = kv["key"].as_str().unwrap_or_default().to_owned();
        let v = &kv["value"];
        let value = if let Some(s) = v["stringValue"].as_str() {
            Value::from(s)
        } else if let Some(i) = v["intValue"].as_str().and_then(|s| s.parse::<i64>().ok()) {
            Value::from(i)
        } else if let Some(i) = v["intValue"].as_i64() {
            Value::from(i)
        } else if let Some(b) = v["boolValue"].as_bool() {
            Value::from(b)
        } else if let Some(d) = v["doubleValue"].as_f64() {
            Value::from(d)
        } else {
            v.clone()
        };
        out.insert(key, value);
    }
    Value::Object(out)
}
