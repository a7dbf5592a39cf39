//! The Protobuf conformance cases that need schema references, run through the registry:
//! dependencies are registered as subjects, the existing versions reference them, and the
//! proposed schema is checked with `POST /compatibility/...` (Confluent's path for them).
//! Reads `protobuf_compat_with_references.json` from `SCHEMAGATE_CONFORMANCE_DIR` (default
//! `../shared/conformance` beside the workspace root); a missing file fails the test.

mod common;

use std::collections::HashMap;

use common::{call, memory};
use serde_json::{json, Value};

fn cases() -> Vec<Value> {
    // Default: `../shared/conformance` beside the workspace root.
    let dir = std::env::var("SCHEMAGATE_CONFORMANCE_DIR")
        .unwrap_or_else(|_| format!("{}/../../shared/conformance", env!("CARGO_MANIFEST_DIR")));
    let path = format!("{dir}/protobuf_compat_with_references.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// Makes `subject` hold `text` at `version`, padding with filler versions before it.
async fn place(url: &str, subject: &str, version: i64, text: &str) {
    loop {
        let (_, versions) = call("GET", &format!("{url}/subjects/{subject}/versions"), None).await;
        let next = versions.as_array().map_or(1, |v| v.len() as i64 + 1);
        if next > version {
            let (_, got) = call(
                "GET",
                &format!("{url}/subjects/{subject}/versions/{version}"),
                None,
            )
            .await;
            assert_eq!(
                got["schema"].as_str(),
                Some(text),
                "{subject} v{version} already differs"
            );
            return;
        }
        let schema = if next == version {
            text.to_string()
        } else {
            format!("syntax = \"proto3\";\npackage filler;\nmessage Filler{next} {{}}\n")
        };
        let body = json!({"schema": schema, "schemaType": "PROTOBUF"});
        let (s, v) = call(
            "POST",
            &format!("{url}/subjects/{subject}/versions"),
            Some(body),
        )
        .await;
        assert_eq!(s, 200, "registering {subject} v{next}: {v}");
    }
}

async fn register_deps(url: &str, refs: &Value, deps: &Value) {
    for r in refs.as_array().unwrap() {
        let name = r["name"].as_str().unwrap();
        let text = deps[name]
            .as_str()
            .unwrap_or_else(|| panic!("no dependency text for {name}"));
        place(
            url,
            r["subject"].as_str().unwrap(),
            r["version"].as_i64().unwrap(),
            text,
        )
        .await;
    }
}

#[tokio::test]
async fn protobuf_cases_with_references_agree_with_confluent() {
    let mut results = HashMap::new();
    for case in cases() {
        let r = memory().await;
        let url = &r.url;
        call(
            "PUT",
            &format!("{url}/config"),
            Some(json!({"compatibility": "NONE"})),
        )
        .await;
        register_deps(
            url,
            &case["existing_references"],
            &case["existing_dependencies"],
        )
        .await;
        register_deps(
            url,
            &case["proposed_references"],
            &case["proposed_dependencies"],
        )
        .await;
        for schema in case["existing"].as_array().unwrap() {
            let body = json!({"schema": schema, "schemaType": "PROTOBUF", "references": case["existing_references"]});
            let (s, v) = call("POST", &format!("{url}/subjects/case/versions"), Some(body)).await;
            assert_eq!(s, 200, "{}: registering existing: {v}", case["id"]);
        }
        call(
            "PUT",
            &format!("{url}/config/case"),
            Some(json!({"compatibility": case["mode"]})),
        )
        .await;
        let body = json!({"schema": case["proposed"], "schemaType": "PROTOBUF", "references": case["proposed_references"]});
        let (s, v) = call(
            "POST",
            &format!("{url}/compatibility/subjects/case/versions/latest?verbose=true"),
            Some(body),
        )
        .await;
        assert_eq!(s, 200, "{}: {v}", case["id"]);
        let got = v["is_compatible"].as_bool().unwrap();
        results.insert(
            case["id"].as_str().unwrap().to_string(),
            (
                got,
                case["expected_compatible"].as_bool().unwrap(),
                v["messages"].clone(),
            ),
        );
    }
    let wrong: Vec<_> = results
        .iter()
        .filter(|(_, (got, want, _))| got != want)
        .collect();
    assert!(
        wrong.is_empty(),
        "{} of {} disagree: {wrong:#?}",
        wrong.len(),
        results.len()
    );
    assert_eq!(results.len(), 7);
}
