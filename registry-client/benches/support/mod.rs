//! The real registry (`registry` crate, memory store) served on loopback for the benchmarks.

use contract::SchemaId;
use registry::{HttpConfig, StoreConfig};
use registry_client::Subject;
use tokio::net::TcpListener;

/// An Avro `Order` with a nested line-item array and a status enum, like loadgen's.
pub const ORDER: &str = r#"{"type":"record","name":"Order","namespace":"com.acme","fields":[
  {"name":"order_id","type":"string"},{"name":"customer_id","type":"string"},
  {"name":"created_at","type":{"type":"long","logicalType":"timestamp-millis"}},
  {"name":"status","type":{"type":"enum","name":"Status","symbols":["NEW","PAID","SHIPPED","CANCELLED"]}},
  {"name":"currency","type":"string"},{"name":"total_cents","type":"long"},
  {"name":"items","type":{"type":"array","items":{"type":"record","name":"LineItem","fields":[
    {"name":"sku","type":"string"},{"name":"qty","type":"int"},{"name":"price_cents","type":"long"}]}}},
  {"name":"coupon","type":["null","string"],"default":null}]}"#;

/// A registry served in this process until the process ends.
pub struct Registry {
    url: String,
}

impl Registry {
    /// Opens a memory registry and serves it on a free loopback port.
    pub async fn start() -> Self {
        let registry = registry::open(&StoreConfig::Memory)
            .await
            .expect("memory store");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(registry::serve(
            listener,
            registry,
            HttpConfig::default(),
            std::future::pending(),
        ));
        Registry { url }
    }

    /// The base URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Registers [`ORDER`] under `orders-value` over REST; returns the subject and id.
    pub async fn register_order(&self) -> (Subject, SchemaId) {
        let body = serde_json::json!({ "schema": ORDER }).to_string();
        let answer: serde_json::Value = reqwest::Client::new()
            .post(format!("{}/subjects/orders-value/versions", self.url))
            .header("content-type", "application/vnd.schemaregistry.v1+json")
            .body(body)
            .send()
            .await
            .expect("registry answers")
            .json()
            .await
            .expect("json");
        let id = answer["id"].as_u64().expect("registered id") as u32;
        (Subject::new("orders-value"), SchemaId(id))
    }
}
