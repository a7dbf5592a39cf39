//! REST semantics against the in-memory store, over real HTTP on loopback.

mod common;

use common::{avro, call, memory, start};
use registry::{BasicAuth, HttpConfig, StoreConfig};
use serde_json::{json, Value};

fn body(schema: &str) -> Value {
    json!({ "schema": schema })
}

/// POSTs `{"schema": schema}` to `path` under the registry at `url`.
async fn post(url: &str, path: &str, schema: &str) -> (u16, Value) {
    call("POST", &format!("{url}{path}"), Some(body(schema))).await
}

#[tokio::test]
async fn ids_are_global_and_one_content_gets_one_id() {
    let r = memory().await;
    let a = avro("A", &[("x", "int", None)]);
    let b = avro("B", &[("y", "string", None)]);
    let (s, v) = post(&r.url, "/subjects/s1/versions", &a).await;
    assert_eq!((s, v["id"].as_i64()), (200, Some(1)));
    // Same schema again: same id, no new version.
    let (_, v) = post(&r.url, "/subjects/s1/versions", &a).await;
    assert_eq!(v["id"], 1);
    // Same schema in another subject: same id.
    let (_, v) = post(&r.url, "/subjects/s2/versions", &a).await;
    assert_eq!(v["id"], 1);
    // Another schema: a new id.
    let (_, v) = post(&r.url, "/subjects/s3/versions", &b).await;
    assert_eq!(v["id"], 2);
    let (_, v) = call("GET", &format!("{}/subjects", r.url), None).await;
    assert_eq!(v, json!(["s1", "s2", "s3"]));
    let (_, v) = call("GET", &format!("{}/subjects/s1/versions", r.url), None).await;
    assert_eq!(v, json!([1]));
    let (_, v) = call("GET", &format!("{}/schemas/ids/1/versions", r.url), None).await;
    assert_eq!(
        v,
        json!([{"subject":"s1","version":1},{"subject":"s2","version":1}])
    );
    let (_, v) = call("GET", &format!("{}/schemas/ids/1/subjects", r.url), None).await;
    assert_eq!(v, json!(["s1", "s2"]));
    let (s, v) = call("GET", &format!("{}/schemas/ids/2", r.url), None).await;
    assert_eq!((s, v["schema"].as_str()), (200, Some(b.as_str())));
    assert!(
        v.get("schemaType").is_none(),
        "AVRO is implied, as Confluent does"
    );
    let (s, _) = call("GET", &format!("{}/schemas/ids/2?subject=s3", r.url), None).await;
    assert_eq!(s, 200);
    let (s, v) = call("GET", &format!("{}/schemas/ids/2?subject=s1", r.url), None).await;
    assert_eq!((s, v["error_code"].as_i64()), (404, Some(40403)));
    let (s, v) = call("GET", &format!("{}/schemas/ids/99", r.url), None).await;
    assert_eq!((s, v["error_code"].as_i64()), (404, Some(40403)));
    let (_, v) = call("GET", &format!("{}/schemas/types", r.url), None).await;
    assert_eq!(v, json!(["JSON", "PROTOBUF", "AVRO"]));
}

#[tokio::test]
async fn versions_latest_raw_and_lookup() {
    let r = memory().await;
    let v1 = avro("Order", &[("id", "long", None)]);
    let v2 = avro(
        "Order",
        &[("id", "long", None), ("note", "string", Some(json!("")))],
    );
    post(&r.url, "/subjects/orders-value/versions", &v1).await;
    let (s, v) = post(&r.url, "/subjects/orders-value/versions", &v2).await;
    assert_eq!((s, v["id"].as_i64()), (200, Some(2)), "{v}");
    for latest in ["latest", "-1", "2"] {
        let (s, v) = call(
            "GET",
            &format!("{}/subjects/orders-value/versions/{latest}", r.url),
            None,
        )
        .await;
        assert_eq!(s, 200);
        assert_eq!(
            (
                v["subject"].as_str(),
                v["version"].as_i64(),
                v["id"].as_i64()
            ),
            (Some("orders-value"), Some(2), Some(2))
        );
        assert_eq!(v["schema"].as_str(), Some(v2.as_str()));
    }
    let (_, v) = call(
        "GET",
        &format!("{}/subjects/orders-value/versions/1/schema", r.url),
        None,
    )
    .await;
    assert_eq!(
        v,
        serde_json::from_str::<Value>(&v1).unwrap(),
        "raw schema text"
    );
    let (s, v) = post(&r.url, "/subjects/orders-value", &v1).await;
    assert_eq!(
        (s, v["version"].as_i64(), v["id"].as_i64()),
        (200, Some(1), Some(1))
    );
    let other = avro("Other", &[("z", "int", None)]);
    let (s, v) = post(&r.url, "/subjects/orders-value", &other).await;
    assert_eq!((s, v["error_code"].as_i64()), (404, Some(40403)));
    let (s, v) = post(&r.url, "/subjects/nope", &other).await;
    assert_eq!((s, v["error_code"].as_i64()), (404, Some(40401)));
    let (s, v) = call("GET", &format!("{}/subjects/nope/versions", r.url), None).await;
    assert_eq!((s, v["error_code"].as_i64()), (404, Some(40401)));
    let (s, v) = call(
        "GET",
        &format!("{}/subjects/orders-value/versions/7", r.url),
        None,
    )
    .await;
    assert_eq!((s, v["error_code"].as_i64()), (404, Some(40402)));
    for bad in ["0", "abc", "-2"] {
        let (s, v) = call(
            "GET",
            &format!("{}/subjects/orders-value/versions/{bad}", r.url),
            None,
        )
        .await;
        assert_eq!((s, v["error_code"].as_i64()), (422, Some(42202)), "{bad}");
    }
}

#[tokio::test]
async fn incompatible_is_409_with_the_field_and_compat_endpoint_explains() {
    let r = memory().await;
    let v1 = avro("Order", &[("id", "long", None)]);
    let bad = avro("Order", &[("id", "long", None), ("priority", "int", None)]);
    post(&r.url, "/subjects/o/versions", &v1).await;
    let (s, v) = post(&r.url, "/subjects/o/versions", &bad).await;
    assert_eq!((s, v["error_code"].as_i64()), (409, Some(409)), "{v}");
    assert!(v["message"].as_str().unwrap().contains("priority"), "{v}");
    let url = format!(
        "{}/compatibility/subjects/o/versions/latest?verbose=true",
        r.url
    );
    let (s, v) = call("POST", &url, Some(body(&bad))).await;
    assert_eq!((s, v["is_compatible"].as_bool()), (200, Some(false)));
    assert!(
        v["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m.as_str().unwrap().contains("priority")),
        "{v}"
    );
    let (_, v) = post(&r.url, "/compatibility/subjects/o/versions/latest", &v1).await;
    assert_eq!(v, json!({"is_compatible": true}));
    // NONE lets it through.
    let (s, _) = call(
        "PUT",
        &format!("{}/config/o", r.url),
        Some(json!({"compatibility": "NONE"})),
    )
    .await;
    assert_eq!(s, 200);
    let (s, v) = post(&r.url, "/subjects/o/versions", &bad).await;
    assert_eq!((s, v["id"].as_i64()), (200, Some(2)));
}

#[tokio::test]
async fn bad_input_is_4xx_never_500() {
    let r = memory().await;
    let url = format!("{}/subjects/s/versions", r.url);
    let client = reqwest::Client::new();
    let resp = client
        .post(&url)
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error_code"], 400);
    let (s, v) = call("POST", &url, Some(json!({"schemaa": "x"}))).await;
    assert_eq!((s, v["error_code"].as_i64()), (422, Some(422)));
    let (s, v) = call(
        "POST",
        &url,
        Some(json!({"schema": "{\"type\": \"recrod\"}"})),
    )
    .await;
    assert_eq!((s, v["error_code"].as_i64()), (422, Some(42201)), "{v}");
    let (s, v) = call(
        "POST",
        &url,
        Some(json!({"schema": "\"int\"", "schemaType": "XML"})),
    )
    .await;
    assert_eq!((s, v["error_code"].as_i64()), (422, Some(42201)));
    let huge = "x".repeat(2 * 1024 * 1024);
    let resp = client.post(&url).body(huge).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 413);
    // Confluent accepts these request content types too.
    for ct in [
        "application/json",
        "application/octet-stream",
        "application/vnd.schemaregistry.v1+json",
    ] {
        let resp = client
            .post(&url)
            .header("Content-Type", ct)
            .body(r#"{"schema":"\"string\""}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{ct}");
        assert_eq!(
            resp.headers()["content-type"],
            "application/vnd.schemaregistry.v1+json"
        );
    }
    let (s, v) = call("GET", &format!("{}/no/such/path", r.url), None).await;
    assert_eq!((s, v["error_code"].as_i64()), (404, Some(404)));
}

#[tokio::test]
async fn config_levels_global_and_per_subject() {
    let r = memory().await;
    let (_, v) = call("GET", &format!("{}/config", r.url), None).await;
    assert_eq!(v, json!({"compatibilityLevel": "BACKWARD"}));
    let (s, v) = call(
        "PUT",
        &format!("{}/config", r.url),
        Some(json!({"compatibility": "full_transitive"})),
    )
    .await;
    assert_eq!((s, v), (200, json!({"compatibility": "FULL_TRANSITIVE"})));
    let (s, v) = call(
        "PUT",
        &format!("{}/config", r.url),
        Some(json!({"compatibility": "SIDEWAYS"})),
    )
    .await;
    assert_eq!((s, v["error_code"].as_i64()), (422, Some(42203)));
    let (s, v) = call("GET", &format!("{}/config/x", r.url), None).await;
    assert_eq!((s, v["error_code"].as_i64()), (404, Some(40408)));
    let (_, v) = call(
        "GET",
        &format!("{}/config/x?defaultToGlobal=true", r.url),
        None,
    )
    .await;
    assert_eq!(v, json!({"compatibilityLevel": "FULL_TRANSITIVE"}));
    call(
        "PUT",
        &format!("{}/config/x", r.url),
        Some(json!({"compatibilityLevel": "FORWARD"})),
    )
    .await;
    let (_, v) = call("GET", &format!("{}/config/x", r.url), None).await;
    assert_eq!(v, json!({"compatibilityLevel": "FORWARD"}));
    let (s, v) = call("DELETE", &format!("{}/config/x", r.url), None).await;
    assert_eq!((s, v), (200, json!({"compatibilityLevel": "FORWARD"})));
    call("DELETE", &format!("{}/config", r.url), None).await;
    let (_, v) = call("GET", &format!("{}/config", r.url), None).await;
    assert_eq!(v, json!({"compatibilityLevel": "BACKWARD"}));
}

#[tokio::test]
async fn readonly_mode_refuses_writes() {
    let r = memory().await;
    let (s, v) = call(
        "PUT",
        &format!("{}/mode", r.url),
        Some(json!({"mode": "READONLY"})),
    )
    .await;
    assert_eq!((s, v), (200, json!({"mode": "READONLY"})));
    let (s, v) = call(
        "POST",
        &format!("{}/subjects/s/versions", r.url),
        Some(body("\"string\"")),
    )
    .await;
    assert_eq!((s, v["error_code"].as_i64()), (422, Some(42205)));
    let (s, v) = call(
        "PUT",
        &format!("{}/config", r.url),
        Some(json!({"compatibility": "NONE"})),
    )
    .await;
    assert_eq!((s, v["error_code"].as_i64()), (422, Some(42205)));
    let (s, v) = call(
        "PUT",
        &format!("{}/mode", r.url),
        Some(json!({"mode": "SOMETIMES"})),
    )
    .await;
    assert_eq!((s, v["error_code"].as_i64()), (422, Some(42204)));
    call(
        "PUT",
        &format!("{}/mode", r.url),
        Some(json!({"mode": "READWRITE"})),
    )
    .await;
    let (s, _) = call(
        "POST",
        &format!("{}/subjects/s/versions", r.url),
        Some(body("\"string\"")),
    )
    .await;
    assert_eq!(s, 200);
    // Per-subject READONLY.
    call(
        "PUT",
        &format!("{}/mode/s", r.url),
        Some(json!({"mode": "READONLY"})),
    )
    .await;
    let (s, v) = call(
        "POST",
        &format!("{}/subjects/s/versions", r.url),
        Some(body("\"int\"")),
    )
    .await;
    assert_eq!((s, v["error_code"].as_i64()), (422, Some(42205)));
    let (s, _) = call(
        "POST",
        &format!("{}/subjects/t/versions", r.url),
        Some(body("\"int\"")),
    )
    .await;
    assert_eq!(s, 200);
    let (_, v) = call("GET", &format!("{}/mode/s", r.url), None).await;
    assert_eq!(v, json!({"mode": "READONLY"}));
}

#[tokio::test]
async fn soft_and_permanent_deletes() {
    let r = memory().await;
    call(
        "PUT",
        &format!("{}/config", r.url),
        Some(json!({"compatibility": "NONE"})),
    )
    .await;
    for t in ["\"string\"", "\"int\"", "\"long\""] {
        call(
            "POST",
            &format!("{}/subjects/s/versions", r.url),
            Some(body(t)),
        )
        .await;
    }
    let (s, v) = call(
        "DELETE",
        &format!("{}/subjects/s/versions/2?permanent=true", r.url),
        None,
    )
    .await;
    assert_eq!((s, v["error_code"].as_i64()), (404, Some(40407)));
    let (s, v) = call("DELETE", &format!("{}/subjects/s/versions/2", r.url), None).await;
    assert_eq!((s, v), (200, json!(2)));
    let (s, v) = call("DELETE", &format!("{}/subjects/s/versions/2", r.url), None).await;
    assert_eq!((s, v["error_code"].as_i64()), (404, Some(40406)));
    let (_, v) = call("GET", &format!("{}/subjects/s/versions", r.url), None).await;
    assert_eq!(v, json!([1, 3]));
    let (_, v) = call(
        "GET",
        &format!("{}/subjects/s/versions?deleted=true", r.url),
        None,
    )
    .await;
    assert_eq!(v, json!([1, 2, 3]));
    let (s, _) = call(
        "DELETE",
        &format!("{}/subjects/s/versions/2?permanent=true", r.url),
        None,
    )
    .await;
    assert_eq!(s, 200);
    let (_, v) = call(
        "GET",
        &format!("{}/subjects/s/versions?deleted=true", r.url),
        None,
    )
    .await;
    assert_eq!(v, json!([1, 3]));
    // Ids stay stable: the deleted schema's id still resolves.
    let (s, _) = call("GET", &format!("{}/schemas/ids/2", r.url), None).await;
    assert_eq!(s, 200);
    let (s, v) = call(
        "DELETE",
        &format!("{}/subjects/s?permanent=true", r.url),
        None,
    )
    .await;
    assert_eq!((s, v["error_code"].as_i64()), (404, Some(40405)));
    let (s, v) = call("DELETE", &format!("{}/subjects/s", r.url), None).await;
    assert_eq!((s, v), (200, json!([1, 3])));
    let (s, v) = call("DELETE", &format!("{}/subjects/s", r.url), None).await;
    assert_eq!((s, v["error_code"].as_i64()), (404, Some(40404)));
    let (_, v) = call("GET", &format!("{}/subjects", r.url), None).await;
    assert_eq!(v, json!([]));
    let (_, v) = call("GET", &format!("{}/subjects?deleted=true", r.url), None).await;
    assert_eq!(v, json!(["s"]));
    let (s, v) = call(
        "DELETE",
        &format!("{}/subjects/s?permanent=true", r.url),
        None,
    )
    .await;
    assert_eq!((s, v), (200, json!([1, 3])));
    let (_, v) = call("GET", &format!("{}/subjects?deleted=true", r.url), None).await;
    assert_eq!(v, json!([]));
    // Re-registering a permanently deleted schema gets its old id back, as version 1.
    let (_, v) = call(
        "POST",
        &format!("{}/subjects/s/versions", r.url),
        Some(body("\"long\"")),
    )
    .await;
    assert_eq!(v["id"], 3);
    let (_, v) = call("GET", &format!("{}/subjects/s/versions", r.url), None).await;
    assert_eq!(v, json!([1]));
}

#[tokio::test]
async fn references_resolve_and_protect_what_they_point_at() {
    let r = memory().await;
    let money = json!({"type":"record","name":"Money","namespace":"shop","fields":[{"name":"cents","type":"long"}]}).to_string();
    let order = json!({"type":"record","name":"Order","namespace":"shop","fields":[{"name":"total","type":"shop.Money"}]}).to_string();
    let (s, v) = post(&r.url, "/subjects/money/versions", &money).await;
    assert_eq!(s, 200, "{v}");
    let refs = json!([{"name": "shop.Money", "subject": "money", "version": 1}]);
    let (s, v) = call(
        "POST",
        &format!("{}/subjects/order/versions", r.url),
        Some(json!({"schema": order, "references": refs})),
    )
    .await;
    assert_eq!((s, v["id"].as_i64()), (200, Some(2)), "{v}");
    let (_, v) = call(
        "GET",
        &format!("{}/subjects/order/versions/latest", r.url),
        None,
    )
    .await;
    assert_eq!(v["references"], refs);
    let (_, v) = call("GET", &format!("{}/schemas/ids/2", r.url), None).await;
    assert_eq!(v["references"], refs);
    let (_, v) = call(
        "GET",
        &format!("{}/subjects/money/versions/1/referencedby", r.url),
        None,
    )
    .await;
    assert_eq!(v, json!([2]));
    let (s, v) = call(
        "DELETE",
        &format!("{}/subjects/money/versions/1", r.url),
        None,
    )
    .await;
    assert_eq!((s, v["error_code"].as_i64()), (422, Some(42206)));
    let missing = json!([{"name": "shop.Money", "subject": "money", "version": 9}]);
    let (s, v) = call(
        "POST",
        &format!("{}/subjects/order2/versions", r.url),
        Some(json!({"schema": order, "references": missing})),
    )
    .await;
    assert_eq!((s, v["error_code"].as_i64()), (422, Some(42201)), "{v}");
}

#[tokio::test]
async fn basic_auth_guards_writes_only() {
    let cfg = HttpConfig {
        basic_auth: BasicAuth::parse("ci:hunter2"),
        ..HttpConfig::default()
    };
    let r = start(StoreConfig::Memory, cfg).await;
    let client = reqwest::Client::new();
    let url = format!("{}/subjects/s/versions", r.url);
    for (credentials, expected) in [(None, 401), (Some("wrong"), 401), (Some("hunter2"), 200)] {
        let mut request = client.post(&url).body(r#"{"schema":"\"string\""}"#);
        if let Some(password) = credentials {
            request = request.basic_auth("ci", Some(password));
        }
        let status = request.send().await.unwrap().status().as_u16();
        assert_eq!(status, expected, "password {credentials:?}");
    }
    let resp = client
        .put(format!("{}/config", r.url))
        .body(r#"{"compatibility":"NONE"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    // Reads, lookups and compatibility tests need no credentials.
    let (s, _) = call("GET", &format!("{}/schemas/ids/1", r.url), None).await;
    assert_eq!(s, 200);
    let (s, _) = call(
        "POST",
        &format!("{}/subjects/s", r.url),
        Some(body("\"string\"")),
    )
    .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn requests_are_counted_by_route_template_and_state_is_gauged() {
    let mut prom = prometheus_client::registry::Registry::default();
    let http = registry::metrics::HttpMetrics::register(&mut prom);
    let reg = registry::open(&StoreConfig::Memory).await.unwrap();
    registry::metrics::StateCollector::register(&mut prom, reg.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let cfg = HttpConfig {
        metrics: Some(http),
        ..HttpConfig::default()
    };
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(registry::serve(listener, reg, cfg, async {
        let _ = rx.await;
    }));

    let schema = serde_json::json!({"schema": avro("A", &[("a", "string", None)])});
    for subject in ["s1", "s2"] {
        let (s, _) = call(
            "POST",
            &format!("{url}/subjects/{subject}/versions"),
            Some(schema.clone()),
        )
        .await;
        assert_eq!(s, 200);
    }
    assert_eq!(
        call("GET", &format!("{url}/subjects/s1/versions/1"), None)
            .await
            .0,
        200
    );
    assert_eq!(
        call("GET", &format!("{url}/subjects/nope/versions/1"), None)
            .await
            .0,
        404
    );
    assert_eq!(
        call("GET", &format!("{url}/no/such/path"), None).await.0,
        404
    );
    assert_eq!(
        call("DELETE", &format!("{url}/subjects/s2"), None).await.0,
        200
    );

    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &prom).unwrap();
    let has = |line: &str| text.lines().any(|l| l == line);
    let route = "/subjects/{subject}/versions";
    assert!(
        has(&format!(
            "schemagate_registry_http_requests_total{{route=\"{route}\",method=\"POST\",status=\"200\"}} 2"
        )),
        "{text}"
    );
    let version = "/subjects/{subject}/versions/{version}";
    for status in [200, 404] {
        assert!(
            has(&format!(
                "schemagate_registry_http_requests_total{{route=\"{version}\",method=\"GET\",status=\"{status}\"}} 1"
            )),
            "{text}"
        );
    }
    assert!(
        has("schemagate_registry_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"} 1"),
        "{text}"
    );
    assert!(
        has(&format!(
            "schemagate_registry_http_request_seconds_count{{route=\"{route}\",method=\"POST\"}} 2"
        )),
        "{text}"
    );
    // No raw path ever becomes a label.
    assert!(!text.contains("s1") && !text.contains("/no/such"), "{text}");
    // One schema (both subjects registered the same text), one live subject after the delete.
    assert!(has("schemagate_registry_schemas 1"), "{text}");
    assert!(has("schemagate_registry_subjects 1"), "{text}");
    // The memory store has no lag to report.
    assert!(!text.contains("store_lag"), "{text}");
    let _ = tx.send(());
    server.await.unwrap().unwrap();
}
