//! Schemas with references, auto-registered by Confluent's own Python serializers against
//! `schemagate registry`, produced through an enforcing proxy and read back with Confluent's
//! deserializers (tests/clients/python/references_roundtrip.py says what it checks). Protobuf
//! imports go to the registry as base64 `FileDescriptorProto`s; Avro named types and JSON
//! Schema `$ref`s come from other subjects. Also `schemagate check --reference` offline, with
//! referenced files as `.proto` text and as the descriptors Python's serializer sends.

use std::path::{Path, PathBuf};
use std::process::Command;

use schemagate_tests::{env, ClientRun, EnforcedStack, RegistryStore};
use serde_json::Value;

use crate::enforce_support::{
    metrics, number, policy, python, quarantined, records, run, start_enforced,
};
use crate::support::unique;

const RECORDS: u64 = 40;

/// Runs one case through a fresh stack and checks the proxy counted what the script saw;
/// returns the case's topic and the script's summary.
fn round_trip(case: &str) -> (String, Value) {
    let (_, topic, summary) = round_trip_on(case, RegistryStore::Memory);
    (topic, summary)
}

/// [`round_trip`] with the registry on `store`; the stack is returned still running.
fn round_trip_on(case: &str, store: RegistryStore) -> (EnforcedStack, String, Value) {
    let topic = unique(&format!("refs-{case}"));
    let mut stack = start_enforced(&policy("refs-*", "quarantine"), store);
    let client = python(&stack, "references_roundtrip.py")
        .args(["--case", case, "--topic", &topic])
        .args(["--records", &RECORDS.to_string()]);
    let summary = run(&mut stack, "references_roundtrip.py", client);
    let topics: Vec<String> = summary["topics"]
        .as_array()
        .unwrap_or_else(|| panic!("no topics in {summary}"))
        .iter()
        .filter_map(|t| t.as_str().map(str::to_string))
        .collect();
    assert!(topics.contains(&topic), "{summary}");
    assert_eq!(
        number(&summary, "records"),
        RECORDS * topics.len() as u64,
        "{summary}"
    );
    // Every good record and the one bad record per topic were acknowledged.
    assert_eq!(
        number(&summary, "acked"),
        (RECORDS + 1) * topics.len() as u64,
        "{summary}"
    );
    let m = metrics(&mut stack);
    for t in &topics {
        assert_eq!(records(&m, t, "valid"), RECORDS, "{t}\n{}", m.text());
        assert_eq!(records(&m, t, "quarantined"), 1, "{t}\n{}", m.text());
        assert_eq!(quarantined(&m, t, "decode-failed"), 1, "{t}\n{}", m.text());
    }
    (stack, topic, summary)
}

fn references(summary: &Value, topic: &str) -> Vec<String> {
    summary["references"][topic]
        .as_array()
        .unwrap_or_else(|| panic!("no references for {topic} in {summary}"))
        .iter()
        .filter_map(|r| r.as_str().map(str::to_string))
        .collect()
}

#[test]
fn protobuf_importing_one_file_and_its_nested_message_round_trip() {
    let (topic, summary) = round_trip("proto-one");
    assert_eq!(references(&summary, &topic), ["shop/common/address.proto"]);
    // The nested Shipment.Note (message indexes [0, 0]) is in the same file: the same id.
    assert_eq!(
        summary["schema_ids"].as_array().map(Vec::len),
        Some(1),
        "{summary}"
    );
    let detail = summary["details"][format!("{topic}-nested")]
        .as_str()
        .unwrap_or("");
    assert!(detail.contains("Note.at.city"), "{summary}");
}

#[test]
fn protobuf_importing_two_files_round_trips_and_text_and_descriptor_share_an_id() {
    // On the Kafka store, so that a restart replays descriptors whose references are
    // descriptors and text.
    let (mut stack, topic, summary) = round_trip_on("proto-two", RegistryStore::Kafka);
    assert_eq!(
        references(&summary, &topic),
        ["shop/common/address.proto", "shop/common/contact.proto"]
    );
    assert_eq!(
        summary["identity"]["versions"],
        serde_json::json!([1]),
        "{summary}"
    );
    let id = summary["schema_ids"][0].as_i64().unwrap_or(0);
    let serialized = format!("/schemas/ids/{id}?format=serialized");
    let before = stack.registry_mut().get(&serialized);
    stack
        .registry_mut()
        .restart()
        .unwrap_or_else(|e| panic!("registry restart: {e}"));
    let after = stack.registry_mut().get(&serialized);
    match (before, after) {
        (Ok((200, before)), Ok((200, after))) => {
            assert_eq!(before, after);
            assert!(after.contains("shop/common/contact.proto"), "{after}");
        }
        other => panic!("GET {serialized} around a restart: {other:?}"),
    }
    let versions = stack
        .registry_mut()
        .get("/subjects/shop%2Fcommon%2Fcontact.proto/versions");
    assert!(
        matches!(&versions, Ok((200, v)) if v.trim() == "[1]"),
        "{versions:?}"
    );
}

#[test]
fn protobuf_importing_a_file_that_imports_a_well_known_type_round_trips() {
    let (topic, summary) = round_trip("proto-wkt");
    assert_eq!(references(&summary, &topic), ["shop/common/money.proto"]);
    let detail = summary["details"][&topic].as_str().unwrap_or("");
    assert!(detail.contains("Invoice.lines[1].currency"), "{summary}");
}

#[test]
fn protobuf_using_a_public_import_round_trips() {
    let (topic, summary) = round_trip("proto-public");
    assert_eq!(
        references(&summary, &topic),
        ["shop/api/facade.proto", "shop/common/address.proto"]
    );
}

#[test]
fn avro_named_types_from_other_subjects_round_trip() {
    let (topic, summary) = round_trip("avro");
    assert_eq!(
        references(&summary, &topic),
        ["shop.common.Address", "shop.common.Geo"]
    );
}

#[test]
fn json_schema_ref_to_another_subject_round_trips() {
    let (topic, summary) = round_trip("json");
    assert_eq!(references(&summary, &topic), ["address.schema.json"]);
}

/// `schemagate check` offline, exit code and stdout.
fn check(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let bin = env::schemagate_bin().unwrap_or_else(|e| panic!("{e}"));
    let out = Command::new(bin)
        .args(["check", "--type", "PROTOBUF"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("schemagate check runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (
        out.status.code(),
        format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)),
    )
}

#[test]
fn check_offline_takes_references_as_text_or_as_the_serializers_descriptors() {
    let work = tempfile::tempdir().expect("temp dir");
    let dir = work.path();
    // The descriptors Confluent's Python serializer would register, one `<path>.b64` per file.
    let out = ClientRun::python("references_roundtrip.py")
        .unwrap_or_else(|e| panic!("{e}"))
        .arg("--write-descriptors")
        .arg(dir)
        .run()
        .unwrap_or_else(|e| panic!("{e}"));
    let written = out
        .summary("references_roundtrip.py")
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(number(&written, "files") >= 8, "{written}");
    let refs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("clients/python/schemas/refs");
    let text = |p: &str| refs.join(p).display().to_string();
    let b64 = |p: &str| dir.join(format!("{p}.b64")).display().to_string();
    let v1 = text("shop/one_import.proto");
    let v1_text = std::fs::read_to_string(&v1).expect("one_import.proto");
    let compatible = dir.join("v2.proto");
    std::fs::write(
        &compatible,
        v1_text.replace(
            "repeated Note notes = 3;",
            "repeated Note notes = 3;\n  string carrier = 4;",
        ),
    )
    .unwrap();
    let breaking = dir.join("v3.proto");
    std::fs::write(
        &breaking,
        v1_text
            .replace(
                "import \"shop/common/address.proto\";",
                "import \"shop/common/address.proto\";\nimport \"shop/common/contact.proto\";",
            )
            .replace("shop.common.Address to = 2;", "shop.common.Contact to = 2;"),
    )
    .unwrap();
    for (address, contact, existing) in [
        (
            text("shop/common/address.proto"),
            text("shop/common/contact.proto"),
            v1.clone(),
        ),
        (
            b64("shop/common/address.proto"),
            b64("shop/common/contact.proto"),
            b64("shop/one_import.proto"),
        ),
        (
            b64("shop/common/address.proto"),
            text("shop/common/contact.proto"),
            v1.clone(),
        ),
    ] {
        let a = format!("shop/common/address.proto={address}");
        let c = format!("shop/common/contact.proto={contact}");
        let common = [
            "--reference",
            &a,
            "--reference",
            &c,
            "--mode",
            "BACKWARD",
            "--existing",
            &existing,
        ];
        let (code, out) = check(
            dir,
            &[
                &common[..],
                &["--proposed", &compatible.display().to_string()],
            ]
            .concat(),
        );
        assert_eq!(code, Some(0), "{existing} with {address}: {out}");
        let (code, out) = check(
            dir,
            &[
                &common[..],
                &["--proposed", &breaking.display().to_string()],
            ]
            .concat(),
        );
        assert_eq!(code, Some(1), "{existing} with {address}: {out}");
        assert!(out.contains("Shipment"), "{out}");
    }
    // Without the reference the import cannot resolve: an error (2), not a verdict.
    let (code, out) = check(
        dir,
        &[
            "--existing",
            &v1,
            "--proposed",
            &compatible.display().to_string(),
        ],
    );
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("shop/common/address.proto"), "{out}");
    let (code, out) = check(
        dir,
        &[
            "--reference",
            "no-equals-sign",
            "--existing",
            &v1,
            "--proposed",
            &v1,
        ],
    );
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("NAME=FILE"), "{out}");
}
