//! The Kafka store against a real broker: the test run's shared three-node Apache Kafka cluster
//! (`SCHEMAGATE_KAFKA_BOOTSTRAP`, started by `scripts/test`), each test on topics of its own;
//! the broker-loss test starts a cluster of its own. These tests fail (never skip) without it.

mod common;

use std::time::Duration;

use common::{avro, call, start, Running};
use registry::{HttpConfig, KafkaConfig, StoreConfig};
use schemagate_tests::topics::unique;
use schemagate_tests::{Broker, KafkaCluster, KafkaConfig as ClusterConfig};
use serde_json::{json, Value};

fn shared() -> Broker {
    Broker::shared().unwrap_or_else(|e| panic!("{e}"))
}

/// A registry in this process whose store is `topic` on `broker`, replicated as widely as the
/// cluster allows.
async fn registry_on(broker: &Broker, topic: &str) -> Running {
    let store = StoreConfig::Kafka(KafkaConfig {
        bootstrap: broker.bootstrap(),
        topic: topic.to_string(),
        replication: broker.schemas_replication() as i32,
        overrides: Vec::new(),
    });
    start(store, HttpConfig::default()).await
}

/// Everything a client can observe about subjects, versions and ids.
async fn snapshot(url: &str) -> Value {
    let (_, subjects) = call("GET", &format!("{url}/subjects?deleted=true"), None).await;
    let mut out = serde_json::Map::new();
    for s in subjects.as_array().unwrap() {
        let s = s.as_str().unwrap();
        let (_, versions) = call(
            "GET",
            &format!("{url}/subjects/{s}/versions?deleted=true"),
            None,
        )
        .await;
        for v in versions.as_array().unwrap() {
            let (_, body) = call(
                "GET",
                &format!("{url}/subjects/{s}/versions/{v}?deleted=true"),
                None,
            )
            .await;
            out.insert(format!("{s}/{v}"), body);
        }
    }
    let (_, config) = call("GET", &format!("{url}/config"), None).await;
    out.insert("config".into(), config);
    Value::Object(out)
}

async fn register(url: &str, subject: &str, schema: &str) -> (u16, Value) {
    call(
        "POST",
        &format!("{url}/subjects/{subject}/versions"),
        Some(json!({"schema": schema})),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restart_recovers_every_id_and_version() {
    let broker = shared();
    let topic = unique("_schemas");
    let a = registry_on(&broker, &topic).await;
    call(
        "PUT",
        &format!("{}/config/free", a.url),
        Some(json!({"compatibility": "NONE"})),
    )
    .await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let (s, v) = register(
            &a.url,
            "free",
            &avro(&format!("R{i}"), &[("x", "int", None)]),
        )
        .await;
        assert_eq!(s, 200, "{v}");
        ids.push(v["id"].as_i64().unwrap());
    }
    let (_, v) = register(&a.url, "other", &avro("R2", &[("x", "int", None)])).await;
    assert_eq!(
        v["id"].as_i64(),
        Some(ids[2]),
        "same schema, same id across subjects"
    );
    call(
        "DELETE",
        &format!("{}/subjects/free/versions/4", a.url),
        None,
    )
    .await;
    call(
        "PUT",
        &format!("{}/config", a.url),
        Some(json!({"compatibility": "FULL"})),
    )
    .await;
    let before = snapshot(&a.url).await;
    a.stop().await;

    let b = registry_on(&broker, &topic).await;
    assert_eq!(snapshot(&b.url).await, before);
    for (i, id) in ids.iter().enumerate() {
        let (s, v) = call("GET", &format!("{}/schemas/ids/{id}", b.url), None).await;
        assert_eq!(s, 200);
        assert_eq!(
            v["schema"].as_str().unwrap(),
            avro(&format!("R{i}"), &[("x", "int", None)])
        );
    }
    // A new schema after restart gets a fresh id, never a reused one.
    let (_, v) = register(&b.url, "free", &avro("R9", &[("x", "int", None)])).await;
    assert!(v["id"].as_i64().unwrap() > *ids.iter().max().unwrap());
    let (_, v) = call("GET", &format!("{}/subjects/free/versions", b.url), None).await;
    assert_eq!(v, json!([1, 2, 3, 5, 6]));
}

/// Waits until `url` shows `want` at `path` (another instance's reader may lag a moment).
async fn eventually(url: &str, path: &str, want: &Value) {
    // Generous: on a loaded CI machine the other instance's reader can lag seconds.
    for _ in 0..400 {
        let (_, got) = call("GET", &format!("{url}{path}"), None).await;
        if &got == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, got) = call("GET", &format!("{url}{path}"), None).await;
    panic!("{url}{path}: wanted {want}, got {got}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_registries_on_one_topic_serve_the_same_data() {
    let broker = shared();
    let topic = unique("shared");
    let a = registry_on(&broker, &topic).await;
    let b = registry_on(&broker, &topic).await;
    let (_, v) = register(&a.url, "s", &avro("A", &[("x", "int", None)])).await;
    let id_a = v["id"].clone();
    eventually(&b.url, "/subjects/s/versions", &json!([1])).await;
    let (_, v) = register(&b.url, "t", &avro("B", &[("y", "int", None)])).await;
    let id_b = v["id"].clone();
    assert_ne!(id_a, id_b);
    eventually(&a.url, "/subjects", &json!(["s", "t"])).await;
    // Registering on B what A registered returns A's id.
    let (_, v) = register(&b.url, "s", &avro("A", &[("x", "int", None)])).await;
    assert_eq!(v["id"], id_a);
    call(
        "PUT",
        &format!("{}/mode", b.url),
        Some(json!({"mode": "READONLY"})),
    )
    .await;
    eventually(&a.url, "/mode", &json!({"mode": "READONLY"})).await;
    let (s, v) = register(&a.url, "u", &avro("C", &[("z", "int", None)])).await;
    assert_eq!((s, v["error_code"].as_i64()), (422, Some(42205)));
    call(
        "PUT",
        &format!("{}/mode", a.url),
        Some(json!({"mode": "READWRITE"})),
    )
    .await;
    eventually(&b.url, "/mode", &json!({"mode": "READWRITE"})).await;
    assert_eq!(snapshot(&a.url).await, snapshot(&b.url).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_registrations_on_two_instances_never_share_an_id() {
    let broker = shared();
    let topic = unique("race");
    let a = registry_on(&broker, &topic).await;
    let b = registry_on(&broker, &topic).await;
    call(
        "PUT",
        &format!("{}/config", a.url),
        Some(json!({"compatibility": "NONE"})),
    )
    .await;
    eventually(&b.url, "/config", &json!({"compatibilityLevel": "NONE"})).await;
    // Both instances register different schemas at once, into distinct subjects and into
    // one shared subject (so versions race too).
    let mut tasks = Vec::new();
    for i in 0..12 {
        for (side, url) in [("a", a.url.clone()), ("b", b.url.clone())] {
            let schema = avro(&format!("{side}{i}"), &[("x", "int", None)]);
            let subject = if i % 2 == 0 {
                "shared".to_string()
            } else {
                format!("{side}-{i}")
            };
            tasks.push(tokio::spawn(async move {
                let (s, v) = register(&url, &subject, &schema).await;
                assert_eq!(s, 200, "{v}");
                (v["id"].as_i64().unwrap(), schema, subject)
            }));
        }
    }
    let mut seen = std::collections::HashMap::new();
    for t in tasks {
        let (id, schema, subject) = t.await.unwrap();
        if let Some(prev) = seen.insert(id, schema.clone()) {
            panic!("id {id} given to two schemas: {prev} and {schema} ({subject})");
        }
    }
    assert_eq!(seen.len(), 24);
    // Both instances agree on every id, and on the shared subject's versions.
    for (id, schema) in &seen {
        for url in [&a.url, &b.url] {
            let (s, v) = call("GET", &format!("{url}/schemas/ids/{id}"), None).await;
            assert_eq!((s, v["schema"].as_str()), (200, Some(schema.as_str())));
        }
    }
    let (_, versions) = call("GET", &format!("{}/subjects/shared/versions", a.url), None).await;
    assert_eq!(versions, json!((1..=12).collect::<Vec<_>>()));
    assert_eq!(snapshot(&a.url).await, snapshot(&b.url).await);
}

/// `_schemas` with three replicas and `min.insync.replicas=2` loses nothing when the broker
/// leading it is killed: registrations go on (two replicas are still in sync), and a fresh
/// instance replays every id and version from the survivors.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_store_survives_the_loss_of_one_broker() {
    let mut cluster = tokio::task::spawn_blocking(|| KafkaCluster::start(ClusterConfig::nodes(3)))
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("{e}"));
    let broker = Broker::of(&cluster);
    assert_eq!(broker.schemas_replication(), 3, "three copies of _schemas");
    let a = registry_on(&broker, "_schemas").await;
    call(
        "PUT",
        &format!("{}/config", a.url),
        Some(json!({"compatibility": "NONE"})),
    )
    .await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let (s, v) = register(&a.url, "s", &avro(&format!("A{i}"), &[("x", "int", None)])).await;
        assert_eq!(s, 200, "{v}");
        ids.push(v["id"].clone());
    }
    let view = cluster.view().unwrap_or_else(|e| panic!("{e}"));
    let part = view.topic("_schemas");
    assert_eq!(part.len(), 1, "{view:?}");
    assert_eq!(
        part[0].replicas.len(),
        3,
        "_schemas has 3 replicas: {view:?}"
    );
    let leader = part[0].leader;
    cluster.kill(leader).unwrap_or_else(|e| panic!("{e}"));

    // Writes go on against the two survivors (acks=all, min.insync.replicas=2).
    for i in 3..6 {
        let (s, v) = register(&a.url, "s", &avro(&format!("A{i}"), &[("x", "int", None)])).await;
        assert_eq!(
            s,
            200,
            "registration {i} after broker {leader} died: {v}\n{}",
            cluster.log_tails()
        );
        ids.push(v["id"].clone());
    }
    let before = snapshot(&a.url).await;
    a.stop().await;
    let b = registry_on(&broker, "_schemas").await;
    assert_eq!(
        snapshot(&b.url).await,
        before,
        "a fresh instance replays the survivors"
    );
    let (_, versions) = call("GET", &format!("{}/subjects/s/versions", b.url), None).await;
    assert_eq!(versions, json!([1, 2, 3, 4, 5, 6]));
    let distinct: std::collections::HashSet<String> = ids.iter().map(Value::to_string).collect();
    assert_eq!(distinct.len(), 6, "six schemas, six ids: {ids:?}");
}
