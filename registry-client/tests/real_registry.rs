//! The client against the real registry (`registry` crate, memory store) served over loopback
//! HTTP in this process: lookups, references, negative caching, coalescing, outage and
//! recovery, metrics. (Auth headers are checked in `failure_injection.rs`: this
//! registry only guards writes, which the client never makes.)

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use contract::{ParsedSchema, SchemaId, SchemaType};
use registry::{HttpConfig, StoreConfig};
use registry_client::{
    CallerAction, Missing, RegistryClient, RegistryConfig, RegistryError, RetryPolicy, Subject,
    VersionSpec,
};
use serde_json::{json, Value};
use tokio::net::TcpListener;

/// A real registry served on a fixed loopback address; it can stop and start again on the
/// same address with its state intact (the state lives in `registry`, not in the server).
struct Served {
    registry: Arc<registry::Registry>,
    addr: SocketAddr,
    http: HttpConfig,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Served {
    async fn start(http: HttpConfig) -> Served {
        let registry = registry::open(&StoreConfig::Memory)
            .await
            .expect("memory store");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut served = Served {
            registry,
            addr,
            http,
            stop: None,
            task: None,
        };
        served.serve(listener);
        served
    }

    fn serve(&mut self, listener: TcpListener) {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (registry, http) = (self.registry.clone(), self.http.clone());
        self.stop = Some(tx);
        self.task = Some(tokio::spawn(async move {
            let _ = registry::serve(listener, registry, http, async {
                let _ = rx.await;
            })
            .await;
        }));
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    async fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    async fn restart(&mut self) {
        let listener = TcpListener::bind(self.addr)
            .await
            .expect("rebind same port");
        self.serve(listener);
    }

    /// Registers through the REST API, as a producer's serializer would; returns the id.
    async fn register(&self, subject: &str, body: Value) -> SchemaId {
        let url = format!("{}/subjects/{subject}/versions", self.url());
        let request = reqwest::Client::new()
            .post(url)
            .header("content-type", "application/vnd.schemaregistry.v1+json")
            .body(body.to_string());
        let response = request.send().await.expect("registry answers");
        let status = response.status();
        let answer: Value = response.json().await.expect("json");
        assert!(status.is_success(), "register {subject}: {status} {answer}");
        SchemaId(answer["id"].as_u64().expect("id") as u32)
    }
}

fn config(url: &str) -> RegistryConfig {
    let mut c = RegistryConfig::new(url);
    c.connect_timeout = Duration::from_millis(300);
    c.request_timeout = Duration::from_secs(2);
    c.retry = RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        max_elapsed: Duration::from_secs(1),
    };
    c
}

const ORDER: &str = r#"{"type":"record","name":"Order","namespace":"com.acme","fields":[{"name":"id","type":"long"},{"name":"status","type":{"type":"enum","name":"Status","symbols":["NEW","PAID"]}}]}"#;

#[tokio::test]
async fn lookups_by_id_subject_version_and_schema_text() {
    let served = Served::start(HttpConfig::default()).await;
    let id = served
        .register("orders-value", json!({ "schema": ORDER }))
        .await;
    let client = RegistryClient::new(config(&served.url())).expect("client");
    let orders = Subject::new("orders-value");

    let schema = client.schema(id).await.expect("registered id");
    assert_eq!((schema.id, schema.schema_type), (id, SchemaType::Avro));
    // The parsed schema is the real Avro one: id=1 (zigzag 0x02), status=PAID (index 1).
    assert!(matches!(schema.parsed, ParsedSchema::Avro(_)));
    assert_eq!(schema.parsed.validate(&[0x02, 0x02]), Ok(()));
    assert!(
        schema.parsed.validate(&[0x02, 0x08]).is_err(),
        "enum index 4 is out of range"
    );

    assert_eq!(client.binding(&orders, id).await, Ok(1));
    let other = client.binding(&Subject::new("payments-value"), id).await;
    assert!(matches!(
        other,
        Err(RegistryError::NotFound {
            what: Missing::Binding,
            ..
        })
    ));

    let latest = client
        .subject_version(&orders, VersionSpec::Latest)
        .await
        .expect("latest");
    assert_eq!((latest.id, latest.version), (id, 1));
    let missing = client
        .subject_version(&Subject::new("nobody-value"), VersionSpec::Latest)
        .await;
    assert!(matches!(
        missing,
        Err(RegistryError::NotFound {
            what: Missing::Subject,
            ..
        })
    ));

    let found = client
        .lookup(&orders, SchemaType::Avro, ORDER, &[])
        .await
        .expect("registered text");
    assert_eq!((found.id, found.version), (id, 1));
    let unknown = client
        .lookup(
            &orders,
            SchemaType::Avro,
            r#"{"type":"fixed","name":"F","size":2}"#,
            &[],
        )
        .await;
    assert!(
        matches!(unknown, Err(RegistryError::NotFound { .. })),
        "{unknown:?}"
    );
    assert_eq!(
        unknown.map_err(|e| e.action()),
        Err(CallerAction::RecordInvalid)
    );

    // Everything again, from cache: no new request.
    let before = client.registry_requests();
    client.schema(id).await.expect("cached");
    client.binding(&orders, id).await.expect("cached");
    client
        .subject_version(&orders, VersionSpec::Latest)
        .await
        .expect("cached");
    client
        .lookup(&orders, SchemaType::Avro, ORDER, &[])
        .await
        .expect("cached");
    assert_eq!(client.registry_requests(), before);
}

#[tokio::test]
async fn avro_references_resolve_transitively() {
    let served = Served::start(HttpConfig::default()).await;
    let money = r#"{"type":"record","name":"Money","namespace":"com.acme","fields":[{"name":"cents","type":"long"}]}"#;
    let item = r#"{"type":"record","name":"LineItem","namespace":"com.acme","fields":[{"name":"price","type":"com.acme.Money"}]}"#;
    let order = r#"{"type":"record","name":"Order","namespace":"com.acme","fields":[{"name":"items","type":{"type":"array","items":"com.acme.LineItem"}},{"name":"total","type":"com.acme.Money"}]}"#;
    served.register("money", json!({ "schema": money })).await;
    let money_ref = json!({"name": "com.acme.Money", "subject": "money", "version": 1});
    served
        .register("item", json!({ "schema": item, "references": [money_ref] }))
        .await;
    let item_ref = json!({"name": "com.acme.LineItem", "subject": "item", "version": 1});
    let id = served
        .register(
            "orders-value",
            json!({ "schema": order, "references": [item_ref, money_ref] }),
        )
        .await;

    let client = RegistryClient::new(config(&served.url())).expect("client");
    let schema = client.schema(id).await.expect("resolvable");
    assert_eq!(schema.references.len(), 2);
    // One item of 5 cents, total 5 cents: [count=1, 10, end=0, 10].
    assert_eq!(schema.parsed.validate(&[0x02, 0x0a, 0x00, 0x0a]), Ok(()));
    // The id, then item (which pulls in money) — money is fetched once.
    assert_eq!(client.registry_requests(), 3);
}

#[tokio::test]
async fn protobuf_imports_resolve() {
    let served = Served::start(HttpConfig::default()).await;
    let common = "syntax = \"proto3\";\npackage acme;\nmessage Money { int64 cents = 1; }\n";
    let order = "syntax = \"proto3\";\npackage acme;\nimport \"acme/money.proto\";\nmessage Order { int64 id = 1; Money total = 2; }\n";
    served
        .register(
            "money.proto",
            json!({ "schemaType": "PROTOBUF", "schema": common }),
        )
        .await;
    let id = served
        .register(
            "orders-value",
            json!({
                "schemaType": "PROTOBUF",
                "schema": order,
                "references": [{"name": "acme/money.proto", "subject": "money.proto", "version": 1}]
            }),
        )
        .await;
    let client = RegistryClient::new(config(&served.url())).expect("client");
    let schema = client.schema(id).await.expect("resolvable");
    assert_eq!(schema.schema_type, SchemaType::Protobuf);
    // Message index list [0] (single zero byte), then id = 7.
    assert_eq!(schema.parsed.validate(&[0x00, 0x08, 0x07]), Ok(()));
}

#[tokio::test]
async fn unknown_ids_are_negatively_cached_for_the_ttl() {
    let served = Served::start(HttpConfig::default()).await;
    let mut c = config(&served.url());
    c.cache.negative_ttl = Duration::from_millis(400);
    let client = RegistryClient::new(c).expect("client");

    let first = client.schema(SchemaId(1)).await;
    assert!(matches!(
        first,
        Err(RegistryError::NotFound {
            what: Missing::SchemaId,
            error_code: 40403,
            ..
        })
    ));
    assert_eq!(client.registry_requests(), 1);
    // Within the TTL: answered from the negative entry, even once the id exists.
    let id = served
        .register("orders-value", json!({ "schema": ORDER }))
        .await;
    assert_eq!(id, SchemaId(1));
    assert!(client.schema(id).await.is_err());
    assert_eq!(client.registry_requests(), 1);
    // After the TTL: asks again and finds it.
    tokio::time::sleep(Duration::from_millis(600)).await;
    client.schema(id).await.expect("now registered");
    assert_eq!(client.registry_requests(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_first_lookups_make_one_request() {
    let served = Served::start(HttpConfig::default()).await;
    let id = served
        .register("orders-value", json!({ "schema": ORDER }))
        .await;
    let client = RegistryClient::new(config(&served.url())).expect("client");
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.schema(id).await.map(|s| s.id) })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.expect("task"), Ok(id));
    }
    assert_eq!(client.registry_requests(), 1);
    assert_eq!(
        client.metrics().cache_misses() + client.metrics().cache_hits(),
        1000
    );
}

#[tokio::test]
async fn outage_serves_cached_entries_fails_transiently_and_recovers() {
    let mut served = Served::start(HttpConfig::default()).await;
    let cached = served
        .register("orders-value", json!({ "schema": ORDER }))
        .await;
    let uncached = served
        .register("other-value", json!({ "schema": "\"string\"" }))
        .await;
    let client = RegistryClient::new(config(&served.url())).expect("client");
    let orders = Subject::new("orders-value");
    client.schema(cached).await.expect("warm");
    client.binding(&orders, cached).await.expect("warm");

    served.stop().await;
    let before = client.registry_requests();
    client
        .schema(cached)
        .await
        .expect("cached entries keep flowing");
    client
        .binding(&orders, cached)
        .await
        .expect("cached binding");
    assert_eq!(client.registry_requests(), before);

    let err = client.schema(uncached).await.expect_err("registry is down");
    assert!(matches!(err, RegistryError::Unavailable { .. }), "{err:?}");
    assert_eq!(err.action(), CallerAction::RetryLater);
    let err = client.binding(&orders, uncached).await.expect_err("down");
    assert!(err.is_transient(), "{err:?}");

    // A burst of lookups for the uncached id shares one retry sequence (3 attempts).
    let before = client.registry_requests();
    let burst: Vec<_> = (0..100)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.schema(uncached).await })
        })
        .collect();
    for task in burst {
        let result = task.await.expect("task");
        assert!(
            matches!(result, Err(RegistryError::Unavailable { .. })),
            "{result:?}"
        );
    }
    assert_eq!(client.registry_requests() - before, 3);

    served.restart().await;
    let schema = client.schema(uncached).await.expect("recovered");
    assert_eq!(schema.id, uncached);
    served.stop().await;
}

#[tokio::test]
async fn cache_off_sends_every_lookup() {
    let served = Served::start(HttpConfig::default()).await;
    let id = served
        .register("orders-value", json!({ "schema": ORDER }))
        .await;
    let mut c = config(&served.url());
    c.cache.enabled = false;
    let client = RegistryClient::new(c).expect("client");
    for _ in 0..5 {
        client.schema(id).await.expect("fetched");
    }
    assert_eq!(client.registry_requests(), 5);
}

#[tokio::test]
async fn metrics_count_hits_misses_and_requests_by_template() {
    let served = Served::start(HttpConfig::default()).await;
    let id = served
        .register("orders-value", json!({ "schema": ORDER }))
        .await;
    let client = RegistryClient::new(config(&served.url())).expect("client");
    let mut registry = prometheus_client::registry::Registry::default();
    client.register_metrics(&mut registry);
    client.schema(id).await.expect("miss");
    client.schema(id).await.expect("hit");
    let _ = client.schema(SchemaId(4242)).await;

    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
    for line in [
        "schemagate_schema_cache_hits_total{cache=\"schema\"} 1",
        "schemagate_schema_cache_misses_total{cache=\"schema\"} 2",
        "schemagate_registry_requests_total{endpoint=\"/schemas/ids/{id}\",status=\"200\"} 1",
        "schemagate_registry_requests_total{endpoint=\"/schemas/ids/{id}\",status=\"404\"} 1",
        "schemagate_registry_request_seconds_count{endpoint=\"/schemas/ids/{id}\"} 2",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    assert!(!text.contains("4242"), "an id leaked into a label");
}

/// Version 2 of `ORDER` (an optional field added): a second id under the same subject.
const ORDER_V2: &str = r#"{"type":"record","name":"Order","namespace":"com.acme","fields":[{"name":"id","type":"long"},{"name":"status","type":{"type":"enum","name":"Status","symbols":["NEW","PAID"]}},{"name":"note","type":["null","string"],"default":null}]}"#;

const PAYMENT: &str =
    r#"{"type":"record","name":"Payment","fields":[{"name":"cents","type":"long"}]}"#;

/// Three ids: two under `orders-value`, one under `payments-value`.
async fn three_ids(served: &Served) -> (SchemaId, SchemaId, SchemaId) {
    let v1 = served
        .register("orders-value", json!({ "schema": ORDER }))
        .await;
    let v2 = served
        .register("orders-value", json!({ "schema": ORDER_V2 }))
        .await;
    let pay = served
        .register("payments-value", json!({ "schema": PAYMENT }))
        .await;
    (v1, v2, pay)
}

fn is_missing(
    r: &Result<Arc<registry_client::RegisteredSchema>, RegistryError>,
    what: Missing,
) -> bool {
    matches!(r, Err(RegistryError::NotFound { what: w, .. }) if *w == what)
}

#[tokio::test]
async fn bound_schema_is_one_request_per_id_after_one_probe() {
    let served = Served::start(HttpConfig::default()).await;
    let (v1, v2, pay) = three_ids(&served).await;
    let client = RegistryClient::new(config(&served.url())).expect("client");
    let orders = Subject::new("orders-value");

    // First lookup: the schema under the subject, then the one-time probe.
    let s1 = client.bound_schema(&orders, v1).await.expect("v1 is bound");
    assert_eq!(s1.id, v1);
    assert_eq!(client.registry_requests(), 2);
    // Every later new id: one request.
    let s2 = client.bound_schema(&orders, v2).await.expect("v2 is bound");
    assert_eq!(s2.id, v2);
    assert_eq!(client.registry_requests(), 3);
    client.bound_schema(&orders, v1).await.expect("cached");
    assert_eq!(client.registry_requests(), 3);
    // The schema came into the id cache too.
    client.schema(v2).await.expect("cached by id");
    assert_eq!(client.registry_requests(), 3);

    // An id of another subject: 404 under the subject, then the id alone proves it exists.
    let other = client.bound_schema(&orders, pay).await;
    assert!(is_missing(&other, Missing::Binding), "{other:?}");
    assert_eq!(client.registry_requests(), 5);
    // No such id at all.
    let none = client.bound_schema(&orders, SchemaId(4242)).await;
    assert!(is_missing(&none, Missing::SchemaId), "{none:?}");
    // Both "no" answers are remembered for the negative TTL.
    let before = client.registry_requests();
    assert!(is_missing(
        &client.bound_schema(&orders, pay).await,
        Missing::Binding
    ));
    assert!(is_missing(
        &client.bound_schema(&orders, SchemaId(4242)).await,
        Missing::SchemaId
    ));
    assert_eq!(client.registry_requests(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_bound_lookups_share_requests_and_one_probe() {
    let served = Served::start(HttpConfig::default()).await;
    let (v1, v2, _) = three_ids(&served).await;
    let orders = Subject::new("orders-value");
    for (mode, expected) in [
        (registry_client::BindingCheck::Auto, 3),
        (registry_client::BindingCheck::SubjectParam, 2),
        (registry_client::BindingCheck::IdVersions, 4),
    ] {
        let mut c = config(&served.url());
        c.binding_check = mode;
        let client = RegistryClient::new(c).expect("client");
        let lookups = (0..200).map(|i| {
            let (client, orders) = (client.clone(), orders.clone());
            let id = if i % 2 == 0 { v1 } else { v2 };
            async move { client.bound_schema(&orders, id).await.map(|s| s.id) }
        });
        let answers = futures_join_all(lookups).await;
        assert!(answers.iter().all(Result::is_ok), "{mode:?}: {answers:?}");
        // Auto: 2 ids + 1 probe; subject-param: 2 ids; id-versions: 2 × (schema + versions).
        assert_eq!(client.registry_requests(), expected, "{mode:?}");
    }
}

/// Runs every future as its own task and collects the answers in order.
async fn futures_join_all<F>(futs: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.expect("lookup task"));
    }
    out
}

/// A registry that ignores `?subject=` (as older registries do): a relay in front of the real
/// one that strips the parameter from every request line.
async fn ignoring_subject_param(upstream: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                    return;
                };
                let (mut sr, mut sw) = server.into_split();
                let (mut cr, mut cw) = client.split();
                let up = async {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match cr.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                        let stripped = match (text.find("?subject="), text.find(" HTTP/1.1")) {
                            (Some(q), Some(end)) if q < end => {
                                format!("{}{}", &text[..q], &text[end..])
                            }
                            _ => text,
                        };
                        if sw.write_all(stripped.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                };
                let down = async {
                    let _ = tokio::io::copy(&mut sr, &mut cw).await;
                };
                tokio::join!(up, down);
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_registry_that_ignores_the_subject_parameter_is_detected() {
    let served = Served::start(HttpConfig::default()).await;
    let (v1, v2, pay) = three_ids(&served).await;
    let relay = ignoring_subject_param(served.addr).await;
    let client = RegistryClient::new(config(&format!("http://{relay}"))).expect("client");
    let orders = Subject::new("orders-value");

    // Lookup (200, the parameter ignored), probe (200: it ignores it), then /versions.
    client.bound_schema(&orders, v1).await.expect("v1 is bound");
    assert_eq!(client.registry_requests(), 3);
    // From now on: schema by id plus /versions, no more probes.
    client.bound_schema(&orders, v2).await.expect("v2 is bound");
    assert_eq!(client.registry_requests(), 5);
    // The point of the probe: an id of another subject is still caught.
    let other = client.bound_schema(&orders, pay).await;
    assert!(is_missing(&other, Missing::Binding), "{other:?}");
    let none = client.bound_schema(&orders, SchemaId(4242)).await;
    assert!(is_missing(&none, Missing::SchemaId), "{none:?}");
}

#[tokio::test]
async fn a_soft_deleted_version_still_binds_its_id_in_every_mode() {
    let served = Served::start(HttpConfig::default()).await;
    let (v1, _, _) = three_ids(&served).await;
    let url = format!("{}/subjects/orders-value/versions/1", served.url());
    let deleted = reqwest::Client::new()
        .delete(url)
        .send()
        .await
        .expect("delete");
    assert!(deleted.status().is_success(), "{}", deleted.status());
    let orders = Subject::new("orders-value");
    for mode in [
        registry_client::BindingCheck::Auto,
        registry_client::BindingCheck::SubjectParam,
        registry_client::BindingCheck::IdVersions,
    ] {
        let mut c = config(&served.url());
        c.binding_check = mode;
        let client = RegistryClient::new(c).expect("client");
        let r = client.bound_schema(&orders, v1).await;
        assert_eq!(r.map(|s| s.id), Ok(v1), "{mode:?}");
    }
}

#[tokio::test]
async fn writes_and_checks_register_configure_and_ask_for_compatibility() {
    let served = Served::start(HttpConfig::default()).await;
    let client = RegistryClient::new(config(&served.url())).expect("client");
    let orders = Subject::new("orders/value");

    // No subject yet: not found, and the level is the global default.
    assert!(matches!(
        client.version_schema(&orders, VersionSpec::Latest).await,
        Err(RegistryError::NotFound {
            what: Missing::Subject,
            ..
        })
    ));
    assert_eq!(
        client.compatibility_level(&orders).await,
        Ok("BACKWARD".to_string())
    );

    let id = client
        .register(&orders, SchemaType::Avro, ORDER, &[])
        .await
        .expect("registered");
    let again = client.register(&orders, SchemaType::Avro, ORDER, &[]).await;
    assert_eq!(again, Ok(id), "registering the same schema again finds it");
    let latest = client
        .version_schema(&orders, VersionSpec::Latest)
        .await
        .expect("latest");
    assert_eq!(
        (latest.version, latest.id, latest.schema_type),
        (1, id, SchemaType::Avro)
    );
    assert_eq!(latest.subject, orders);
    assert!(latest.schema.contains("Order"), "{}", latest.schema);
    assert!(latest.references.is_empty());

    // A new required field breaks BACKWARD: the check says why, the registration is refused.
    let breaking = ORDER.replace(
        r#"{"name":"id","type":"long"}"#,
        r#"{"name":"id","type":"long"},{"name":"qty","type":"int"}"#,
    );
    let check_breaking = || {
        client.check_compatibility(
            &orders,
            VersionSpec::Latest,
            SchemaType::Avro,
            &breaking,
            &[],
        )
    };
    client
        .set_compatibility(&orders, "BACKWARD")
        .await
        .expect("level set");
    let report = check_breaking().await.expect("checked");
    assert!(!report.is_compatible);
    assert!(!report.messages.is_empty(), "{report:?}");
    let refused = client
        .register(&orders, SchemaType::Avro, &breaking, &[])
        .await;
    match refused {
        Err(e @ RegistryError::Refused { status: 409, .. }) => {
            assert_eq!(e.action(), CallerAction::RecordInvalid)
        }
        other => panic!("expected a 409 refusal: {other:?}"),
    }
    let invalid = client
        .register(&orders, SchemaType::Avro, "{not avro", &[])
        .await;
    assert!(
        matches!(invalid, Err(RegistryError::Refused { status: 422, .. })),
        "{invalid:?}"
    );

    // With NONE the same change passes the check and registers as version 2.
    client
        .set_compatibility(&orders, "NONE")
        .await
        .expect("level set");
    assert_eq!(
        client.compatibility_level(&orders).await,
        Ok("NONE".to_string())
    );
    let report = check_breaking().await.expect("checked");
    assert_eq!(
        report,
        registry_client::CompatibilityReport {
            is_compatible: true,
            messages: vec![]
        }
    );
    let second = client
        .register(&orders, SchemaType::Avro, &breaking, &[])
        .await
        .expect("registered under NONE");
    assert_ne!(second, id);
    let latest = client
        .version_schema(&orders, VersionSpec::Latest)
        .await
        .expect("latest");
    assert_eq!((latest.version, latest.id), (2, second));
    // A level the registry does not know is refused.
    let bad = client.set_compatibility(&orders, "SIDEWAYS").await;
    assert!(
        matches!(bad, Err(RegistryError::Refused { status: 422, .. })),
        "{bad:?}"
    );
}
