//! The Kroxylicious peer: Kroxylicious 0.12.0 run from its jars (`KROXYLICIOUS_BIN`, made by
//! `scripts/install kroxylicious`) with a generated YAML configuration, in port-per-broker
//! mode (`portIdentifiesNode`) in front of the bench broker.
//!
//! - `peer_kroxylicious`: no filters;
//! - `peer_kroxylicious_validating`: the Record Validation filter with a JSON Schema rule on the
//!   bench topic, so every record value is JSON validated against [`ORDER_JSON_SCHEMA`];
//! - and, for the comparison, `proxy_validating_json`: schemagate validating the same Orders
//!   (in the Confluent frame) against the same schema, registered in its registry.
//!
//! The filter resolves its schema by Apicurio global id from an Apicurio Registry (v2 API).
//! Apicurio Registry itself is a Quarkus application that cannot be run from the jars Maven
//! Central serves here, so [`SchemaDocument`] answers the two Apicurio v2 reads the filter
//! makes (`GET .../ids/globalIds/{id}` and `.../ids/globalIds/{id}/references`) with the one
//! schema. The filter fetches it once and caches it, so the server is off the measured path;
//! it counts the requests it answers, so a run proves the schema was fetched from it.

use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use contract::{SchemaId, SchemaType};
use registry_client::{RegistryConfig, Subject};

use super::BenchError;
use crate::order::Order;
use crate::process::{self, ChildProcess};

/// The JSON Schema of loadgen's v1 Order that `peer_kroxylicious_validating` enforces.
pub const ORDER_JSON_SCHEMA: &str = include_str!("order-v1.schema.json");

/// The Apicurio global id the validation rule names (and [`SchemaDocument`] serves).
pub const GLOBAL_ID: u64 = 1;

/// Node ids Kroxylicious maps to ports: 0 to this, inclusive (the tests' Kafka numbers nodes
/// from 1, so 1-node and 3-node clusters both fit)...
const MAX_NODE_ID: u16 = 3;
/// ...and tansu's one node (its default node id), mapped to the port after them.
const TANSU_NODE_ID: u16 = 111;
/// Ports Kroxylicious listens on: bootstrap, nodes 0 to [`MAX_NODE_ID`], and tansu's node.
const PORTS: u16 = MAX_NODE_ID + 3;

/// How long the JVM gets to start listening (slower than the native processes on a busy
/// machine).
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Longest request head [`SchemaDocument`] reads before giving up on a connection.
const MAX_REQUEST_HEAD: usize = 16 * 1024;

/// Registers [`ORDER_JSON_SCHEMA`] as a JSON Schema under `subject` in the registry at `url`
/// (for `proxy_validating_json`, which validates the same documents through schemagate).
pub async fn register_json_schema(url: &str, subject: &str) -> Result<SchemaId, BenchError> {
    let during = || format!("registering the Order JSON Schema at {url}");
    let client = registry_client::RegistryClient::new(RegistryConfig::new(url))
        .map_err(|e| BenchError::from(e).during(during()))?;
    client
        .register(
            &Subject::new(subject),
            SchemaType::Json,
            ORDER_JSON_SCHEMA,
            &[],
        )
        .await
        .map_err(|e| BenchError::from(e).during(during()))
}

/// `order` as the JSON document [`ORDER_JSON_SCHEMA`] describes (the same fields and values
/// as the Avro v1 datum of the other paths).
pub fn order_json(order: &Order) -> Vec<u8> {
    let items: Vec<_> = order
        .items
        .iter()
        .map(|i| json!({"sku": i.sku, "qty": i.qty, "price_cents": i.price_cents}))
        .collect();
    let doc = json!({
        "order_id": order.order_id,
        "account_id": order.account_id,
        "status": order.status.symbol(),
        "amount_cents": order.amount_cents,
        "currency": order.currency,
        "ts": order.ts_millis,
        "items": items,
        "customer_email": order.customer_email,
        "shipping_address": order.shipping_address,
        "channel": order.channel,
        "priority": order.priority,
        "notes": order.notes,
    });
    // A `Value` built from strings and integers always serializes.
    serde_json::to_vec(&doc).unwrap_or_default()
}

/// The Kroxylicious configuration: one virtual cluster in front of `upstream`, bootstrap on
/// `listen`, node `n` on port `node_start_port + n` (tansu's node after them); with `registry` (an Apicurio v2 base URL),
/// the Record Validation filter checks every value on `topic` against global id
/// [`GLOBAL_ID`].
pub fn config_yaml(
    listen: SocketAddr,
    node_start_port: u16,
    upstream: SocketAddr,
    validation: Option<(&str, &str)>,
) -> String {
    let mut yaml = format!(
        "virtualClusters:\n\
         \x20 - name: bench\n\
         \x20   targetCluster:\n\
         \x20     bootstrapServers: {upstream}\n\
         \x20   gateways:\n\
         \x20     - name: plain\n\
         \x20       portIdentifiesNode:\n\
         \x20         bootstrapAddress: {listen}\n\
         \x20         nodeStartPort: {node_start_port}\n\
         \x20         nodeIdRanges:\n\
         \x20           - name: brokers\n\
         \x20             start: 0\n\
         \x20             end: {MAX_NODE_ID}\n\
         \x20           - name: tansu\n\
         \x20             start: {TANSU_NODE_ID}\n\
         \x20             end: {TANSU_NODE_ID}\n\
         \x20   logNetwork: false\n\
         \x20   logFrames: false\n"
    );
    match validation {
        None => yaml.push_str("defaultFilters: []\n"),
        Some((registry, topic)) => {
            let _ = write!(
                yaml,
                "filterDefinitions:\n\
                 \x20 - name: validate\n\
                 \x20   type: RecordValidation\n\
                 \x20   config:\n\
                 \x20     rules:\n\
                 \x20       - topicNames:\n\
                 \x20           - {topic}\n\
                 \x20         valueRule:\n\
                 \x20           allowNulls: false\n\
                 \x20           allowEmpty: false\n\
                 \x20           schemaValidationConfig:\n\
                 \x20             apicurioGlobalId: {GLOBAL_ID}\n\
                 \x20             apicurioRegistryUrl: {registry}\n\
                 defaultFilters:\n\
                 \x20 - validate\n"
            );
        }
    }
    yaml
}

/// A free loopback port `p` with `p + 1 .. p + count` free too (bound and released at once,
/// as [`process::free_port`] does).
fn free_port_block(count: u16) -> Result<u16, BenchError> {
    for _ in 0..50 {
        let first = process::free_port()?;
        let Some(last) = first.checked_add(count - 1) else {
            continue;
        };
        let all_free = (first..=last).all(|p| StdListener::bind(process::loopback(p)).is_ok());
        if all_free {
            return Ok(first);
        }
    }
    Err(BenchError::NoPortBlock(count))
}

/// Starts Kroxylicious with bootstrap on `port` in front of `upstream`, validating `topic`
/// against the schema at `registry` when given; waits until it listens.
pub fn start(
    bin: &Path,
    upstream: SocketAddr,
    validation: Option<(&str, &str)>,
    log_dir: &Path,
) -> Result<(ChildProcess, SocketAddr), BenchError> {
    let first = free_port_block(PORTS)?;
    let listen = process::loopback(first);
    let config = config_yaml(listen, first + 1, upstream, validation);
    std::fs::create_dir_all(log_dir)?;
    let file = log_dir.join("kroxylicious.yaml");
    std::fs::write(&file, config)
        .map_err(|e| BenchError::from(e).during(format!("writing {}", file.display())))?;
    let args = [file.display().to_string()];
    let mut child = ChildProcess::spawn("kroxylicious", bin, &args, log_dir)?;
    child.wait_listening(listen, READY_TIMEOUT)?;
    Ok((child, listen))
}

/// Peak resident set of `pid` (`VmHWM` in `/proc/<pid>/status`), megabytes (10^6 bytes).
pub fn peak_rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_vm_hwm_kb(&status).map(|kb| kb as f64 * 1024.0 / 1e6)
}

fn parse_vm_hwm_kb(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let mut words = line.split_whitespace().skip(1);
    let kb = words.next()?.parse().ok()?;
    (words.next() == Some("kB")).then_some(kb)
}

/// The Apicurio v2 reads of one JSON Schema, served over HTTP/1.1 on loopback; stops on drop.
pub struct SchemaDocument {
    addr: SocketAddr,
    requests: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl SchemaDocument {
    /// Serves `schema` as global id [`GLOBAL_ID`] on a free loopback port.
    pub async fn start(schema: &'static str) -> Result<Self, BenchError> {
        let listener = TcpListener::bind(process::loopback(0)).await?;
        let addr = listener.local_addr()?;
        let requests = Arc::new(AtomicU64::new(0));
        let counted = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let counted = counted.clone();
                tokio::spawn(async move {
                    let Some(head) = read_head(&mut stream).await else {
                        return;
                    };
                    let (status, body) = respond(&head, schema);
                    if status == 200 {
                        counted.fetch_add(1, Ordering::Relaxed);
                    }
                    let reply = format!(
                        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\n\
                         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        if status == 200 { "OK" } else { "Not Found" },
                        body.len()
                    );
                    let _ = stream.write_all(reply.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        Ok(Self {
            addr,
            requests,
            task,
        })
    }

    /// The base URL to configure as `apicurioRegistryUrl`.
    pub fn url(&self) -> String {
        format!("http://{}/apis/registry/v2", self.addr)
    }

    /// Requests answered with the schema or its (empty) references.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}

impl Drop for SchemaDocument {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads a request head (up to the blank line), or `None` if it is longer than
/// [`MAX_REQUEST_HEAD`], not UTF-8, or the peer goes away.
async fn read_head(stream: &mut tokio::net::TcpStream) -> Option<String> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(chunk.get(..n)?);
        if buf.windows(4).any(|w| w == b"\r\n\r\n") {
            return String::from_utf8(buf).ok();
        }
        if buf.len() > MAX_REQUEST_HEAD {
            return None;
        }
    }
}

/// Status and body for a request head: the schema for `GET .../ids/globalIds/{GLOBAL_ID}`,
/// `[]` for its references, 404 otherwise.
fn respond(head: &str, schema: &'static str) -> (u16, &'static str) {
    let mut words = head.lines().next().unwrap_or("").split_whitespace();
    let (Some("GET"), Some(target)) = (words.next(), words.next()) else {
        return (404, "{}");
    };
    let path = target.split('?').next().unwrap_or("");
    let Some(rest) = path.strip_prefix("/apis/registry/v2/ids/globalIds/") else {
        return (404, "{}");
    };
    let (id, tail) = rest.split_once('/').unwrap_or((rest, ""));
    if id.parse::<u64>().ok() != Some(GLOBAL_ID) {
        return (404, "{}");
    }
    match tail {
        "" => (200, schema),
        "references" => (200, "[]"),
        _ => (404, "{}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::OrderGenerator;

    #[test]
    fn orders_are_json_of_every_schema_field() {
        let schema: serde_json::Value = serde_json::from_str(ORDER_JSON_SCHEMA).unwrap();
        let required: Vec<&str> = schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let doc: serde_json::Value =
            serde_json::from_slice(&order_json(&OrderGenerator::new(7).order(3))).unwrap();
        let mut keys: Vec<&str> = doc
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut want = required.clone();
        keys.sort_unstable();
        want.sort_unstable();
        assert_eq!(keys, want);
        assert!(["PLACED", "PAID", "SHIPPED"].contains(&doc["status"].as_str().unwrap()));
    }

    #[test]
    fn config_names_the_upstream_the_ports_and_the_rule() {
        let listen = process::loopback(9100);
        let up = process::loopback(9092);
        let plain = config_yaml(listen, 9101, up, None);
        assert!(
            plain.contains("bootstrapServers: 127.0.0.1:9092"),
            "{plain}"
        );
        assert!(
            plain.contains("bootstrapAddress: 127.0.0.1:9100"),
            "{plain}"
        );
        assert!(plain.contains("nodeStartPort: 9101"), "{plain}");
        assert!(plain.contains("defaultFilters: []"), "{plain}");
        assert!(!plain.contains("RecordValidation"), "{plain}");
        let validating = config_yaml(listen, 9101, up, Some(("http://r/apis/registry/v2", "t")));
        assert!(
            validating.contains("type: RecordValidation"),
            "{validating}"
        );
        assert!(validating.contains("- t\n"), "{validating}");
        assert!(
            validating.contains("apicurioRegistryUrl: http://r/apis/registry/v2"),
            "{validating}"
        );
    }

    #[test]
    fn vm_hwm_parses_only_kilobytes() {
        let status = "Name:\tjava\nVmPeak:\t 100 kB\nVmHWM:\t   51200 kB\nVmRSS:\t 40000 kB\n";
        assert_eq!(parse_vm_hwm_kb(status), Some(51200));
        assert_eq!(parse_vm_hwm_kb("VmHWM:\t12 MB\n"), None);
        assert_eq!(parse_vm_hwm_kb("VmRSS:\t12 kB\n"), None);
        assert!(peak_rss_mb(std::process::id()).is_some_and(|mb| mb > 0.0));
    }

    #[test]
    fn only_the_schema_and_its_references_are_served() {
        let get = |t: &str| respond(&format!("GET {t} HTTP/1.1\r\nHost: x\r\n\r\n"), "S");
        assert_eq!(get("/apis/registry/v2/ids/globalIds/1"), (200, "S"));
        assert_eq!(
            get("/apis/registry/v2/ids/globalIds/1?dereference=false"),
            (200, "S")
        );
        assert_eq!(
            get("/apis/registry/v2/ids/globalIds/1/references"),
            (200, "[]")
        );
        assert_eq!(get("/apis/registry/v2/ids/globalIds/2").0, 404);
        assert_eq!(get("/apis/registry/v2/ids/globalIds/x").0, 404);
        assert_eq!(get("/other").0, 404);
        assert_eq!(
            respond("POST /apis/registry/v2/ids/globalIds/1 HTTP/1.1", "S").0,
            404
        );
        assert_eq!(respond("", "S").0, 404);
    }

    async fn http_get(addr: SocketAddr, target: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).await.unwrap();
        reply
    }

    #[tokio::test]
    async fn serves_the_schema_over_http_and_counts() {
        let doc = SchemaDocument::start(ORDER_JSON_SCHEMA).await.unwrap();
        let base = doc
            .url()
            .trim_start_matches(&format!("http://{}", doc.addr))
            .to_string();
        let found = http_get(doc.addr, &format!("{base}/ids/globalIds/{GLOBAL_ID}")).await;
        assert!(found.starts_with("HTTP/1.1 200 OK\r\n"), "{found}");
        assert!(found.ends_with(ORDER_JSON_SCHEMA), "{found}");
        let missing = http_get(doc.addr, &format!("{base}/ids/globalIds/9")).await;
        assert!(missing.starts_with("HTTP/1.1 404 "), "{missing}");
        assert_eq!(doc.requests(), 1);
    }
}
