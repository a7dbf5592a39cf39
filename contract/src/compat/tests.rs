//! Tests of [`check`] across formats: the conformance cases whose schemas need references.

use crate::parsed::ParsedSchema;
use crate::protobuf::tests::descriptor_form;
use crate::protobuf::ProtobufSchema;
use crate::schema::ResolvedReference;

use super::{check, CompatibilityMode};

/// Runs the conformance cases that need references (they normally go through the registry)
/// straight through [`check`]. Reads `protobuf_compat_with_references.json` from
/// `SCHEMAGATE_CONFORMANCE_DIR`, by default `../shared/conformance` beside the workspace root;
/// a missing file fails the test.
#[test]
fn conformance_cases_with_references() {
    let dir = std::env::var("SCHEMAGATE_CONFORMANCE_DIR")
        .unwrap_or_else(|_| format!("{}/../../shared/conformance", env!("CARGO_MANIFEST_DIR")));
    let path = format!("{dir}/protobuf_compat_with_references.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("reading {path}: {e} (set SCHEMAGATE_CONFORMANCE_DIR to the conformance folder)")
    });
    let cases: serde_json::Value = serde_json::from_str(&text).unwrap();
    let deps = |case: &serde_json::Value, key: &str| -> Vec<ResolvedReference> {
        case[key]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(n, s)| ResolvedReference {
                        name: n.clone(),
                        schema: s.as_str().unwrap().to_string(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let cases = cases.as_array().unwrap();
    assert_eq!(cases.len(), 7);
    // Each case twice: as written (text), then with every schema and dependency in the
    // descriptor form Confluent's serializers register.
    for as_descriptors in [false, true] {
        for case in cases {
            let form = |text: &str, refs: &[ResolvedReference]| {
                if as_descriptors {
                    descriptor_form(text, refs)
                } else {
                    text.to_string()
                }
            };
            let form_refs = |refs: Vec<ResolvedReference>| -> Vec<ResolvedReference> {
                // Each case's dependencies import only well-known files.
                refs.into_iter()
                    .map(|r| ResolvedReference {
                        schema: form(&r.schema, &[]),
                        name: r.name,
                    })
                    .collect()
            };
            let existing_text_refs = deps(case, "existing_dependencies");
            let existing_refs = form_refs(existing_text_refs.clone());
            let existing: Vec<ParsedSchema> = case["existing"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    let text = form(s.as_str().unwrap(), &existing_text_refs);
                    ParsedSchema::Protobuf(ProtobufSchema::parse(&text, &existing_refs).unwrap())
                })
                .collect();
            let proposed_text_refs = deps(case, "proposed_dependencies");
            let proposed = ProtobufSchema::parse(
                &form(case["proposed"].as_str().unwrap(), &proposed_text_refs),
                &form_refs(proposed_text_refs.clone()),
            )
            .unwrap();
            let mode: CompatibilityMode = case["mode"].as_str().unwrap().parse().unwrap();
            let out = check(mode, &existing, &ParsedSchema::Protobuf(proposed));
            assert_eq!(
                out.is_empty(),
                case["expected_compatible"].as_bool().unwrap(),
                "{} (descriptors: {as_descriptors}): {out:?}",
                case["id"]
            );
        }
    }
}
