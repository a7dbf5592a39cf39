//! Shared test plumbing: a registry served over loopback HTTP, and a small JSON client.
#![allow(dead_code)]

use std::sync::Arc;

use registry::{HttpConfig, Registry, StoreConfig};
use serde_json::Value;

/// A registry running in this process on 127.0.0.1, stopped when dropped.
pub struct Running {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Stops the server and waits until it has drained.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// Opens `store` and serves it with `cfg` on a free loopback port.
pub async fn start(store: StoreConfig, cfg: HttpConfig) -> Running {
    let reg: Arc<Registry> = registry::open(&store).await.expect("open store");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        registry::serve(listener, reg, cfg, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    Running {
        url,
        stop: Some(tx),
        task: Some(task),
    }
}

/// A memory registry with default settings.
pub async fn memory() -> Running {
    start(StoreConfig::Memory, HttpConfig::default()).await
}

/// One HTTP exchange: (status, parsed JSON body or the raw text as a JSON string).
pub async fn call(method: &str, url: &str, body: Option<Value>) -> (u16, Value) {
    let client = reqwest::Client::new();
    let mut req = client.request(method.parse().unwrap(), url);
    if let Some(b) = body {
        req = req
            .header("Content-Type", "application/vnd.schemaregistry.v1+json")
            .body(serde_json::to_vec(&b).unwrap());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, v)
}

/// An Avro record schema named `name` with the given `(field, type, default)` triples.
pub fn avro(name: &str, fields: &[(&str, &str, Option<Value>)]) -> String {
    let fields: Vec<Value> = fields
        .iter()
        .map(|(n, t, d)| {
            let mut f = serde_json::json!({"name": n, "type": t});
            if let Some(d) = d {
                f["default"] = d.clone();
            }
            f
        })
        .collect();
    serde_json::json!({"type": "record", "name": name, "fields": fields}).to_string()
}
