use super::*;

fn schema(text: &str) -> JsonSchema {
    JsonSchema::parse(text, &[]).unwrap()
}

/// Can `proposed` read data of `existing` (what `compat::check` asks under BACKWARD).
fn backward(existing: &str, proposed: &str) -> Vec<Incompatibility> {
    can_read(&schema(proposed), &schema(existing))
}

#[test]
fn validate_reports_json_pointer_and_reason() {
    let s = schema(
        r#"{"type":"object","properties":{"items":{"type":"array","items":{"type":"object","properties":{"qty":{"type":"integer"}}}}}}"#,
    );
    s.validate(br#"{"items":[{"qty":1}]}"#).unwrap();
    let err = s
        .validate(br#"{"items":[{"qty":1},{"qty":"x"}]}"#)
        .unwrap_err();
    assert_eq!(err.path, "/items/1/qty");
    assert!(err.reason.contains("integer"), "{}", err.reason);
    let err = s.validate(b"{not json").unwrap_err();
    assert!(err.reason.contains("not valid JSON"));
}

#[test]
fn all_drafts_parse() {
    for uri in [
        "http://json-schema.org/draft-04/schema#",
        "http://json-schema.org/draft-06/schema#",
        "http://json-schema.org/draft-07/schema#",
        "https://json-schema.org/draft/2019-09/schema",
        "https://json-schema.org/draft/2020-12/schema",
    ] {
        let s = schema(&format!(
            r#"{{"$schema":"{uri}","type":"string","maxLength":3}}"#
        ));
        assert!(s.validate(br#""abcd""#).is_err(), "{uri}");
    }
}

#[test]
fn invalid_and_hostile_schemas_are_rejected() {
    assert!(JsonSchema::parse(r#"{"type": 5}"#, &[]).is_err());
    assert!(JsonSchema::parse("[1,2]", &[]).is_err());
    let deep = format!("{}{{}}{}", r#"{"not":"#.repeat(100), "}".repeat(100));
    let err = JsonSchema::parse(&deep, &[]).unwrap_err();
    assert!(err.to_string().contains("deeper"), "{err}");
}

#[test]
fn remote_refs_are_not_fetched_but_references_resolve() {
    assert!(JsonSchema::parse(r#"{"$ref":"http://example.com/x.json"}"#, &[]).is_err());
    let refs = [ResolvedReference {
        name: "customer.json".into(),
        schema: r#"{"type":"object","properties":{"id":{"type":"integer"}},"required":["id"]}"#
            .into(),
    }];
    let s = JsonSchema::parse(
        r#"{"type":"object","properties":{"c":{"$ref":"customer.json"}}}"#,
        &refs,
    )
    .unwrap();
    s.validate(br#"{"c":{"id":1}}"#).unwrap();
    let err = s.validate(br#"{"c":{}}"#).unwrap_err();
    assert_eq!(err.path, "/c");
}

#[test]
fn canonical_sorts_keys_and_drops_whitespace() {
    let a = schema(r#"{ "type": "object", "properties": { "b": {"type":"string"}, "a": {} } }"#);
    let b = schema(r#"{"properties":{"a":{},"b":{"type":"string"}},"type":"object"}"#);
    assert_eq!(a.canonical(), b.canonical());
    assert_eq!(
        b.canonical(),
        r#"{"properties":{"a":{},"b":{"type":"string"}},"type":"object"}"#
    );
}

#[test]
fn strict_policy_on_open_and_closed_models() {
    let open = r#"{"type":"object","properties":{"a":{"type":"string"}}}"#;
    let open_more =
        r#"{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string"}}}"#;
    let out = backward(open, open_more);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].path, "#/properties/b");
    assert!(out[0]
        .message
        .starts_with("PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL"));
    assert!(backward(open_more, open).is_empty());

    let closed =
        r#"{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false}"#;
    let closed_more = r#"{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string"}},"additionalProperties":false}"#;
    assert!(backward(closed, closed_more).is_empty());
    assert!(!backward(closed_more, closed).is_empty());
}

#[test]
fn type_widening_and_narrowing() {
    assert!(backward(r#"{"type":"integer"}"#, r#"{"type":"number"}"#).is_empty());
    assert!(!backward(r#"{"type":"number"}"#, r#"{"type":"integer"}"#).is_empty());
    assert!(backward(r#"{"type":"string"}"#, r#"{"type":["string","null"]}"#).is_empty());
    assert!(!backward(r#"{"type":"string"}"#, r#"{"type":"boolean"}"#).is_empty());
}

#[test]
fn self_referencing_unions_and_long_ref_chains_are_bounded() {
    let s = r##"{"$ref":"#/definitions/x","definitions":{"x":{"anyOf":[{"$ref":"#/definitions/x"},{"type":"null"}]}}}"##;
    assert!(JsonSchema::parse(s, &[]).is_err());
    let mut defs = serde_json::Map::new();
    for i in 0..300 {
        defs.insert(
            format!("d{i}"),
            serde_json::json!({"$ref": format!("#/definitions/d{}", i + 1)}),
        );
    }
    defs.insert("d300".into(), serde_json::json!({"type": "string"}));
    let chain = serde_json::json!({"$ref": "#/definitions/d0", "definitions": defs}).to_string();
    let err = JsonSchema::parse(&chain, &[]).unwrap_err();
    assert!(err.to_string().contains("deeper"), "{err}");
    // A chain well inside the limit still works.
    let mut defs = serde_json::Map::new();
    for i in 0..40 {
        defs.insert(
            format!("d{i}"),
            serde_json::json!({"$ref": format!("#/definitions/d{}", i + 1)}),
        );
    }
    defs.insert("d40".into(), serde_json::json!({"type": "string"}));
    let short = serde_json::json!({"$ref": "#/definitions/d0", "definitions": defs}).to_string();
    let s = JsonSchema::parse(&short, &[]).unwrap();
    assert!(can_read(&s, &s).is_empty());
}

#[test]
fn recursive_refs_terminate() {
    let s = r##"{"$ref":"#/definitions/n","definitions":{"n":{"type":"object","properties":{"next":{"$ref":"#/definitions/n"}}}}}"##;
    assert!(backward(s, s).is_empty());
}

#[test]
fn combined_schemas_follow_confluent() {
    // Adding a branch to a oneOf widens it; removing one narrows it.
    let one = r#"{"oneOf":[{"type":"string"},{"type":"integer"}]}"#;
    let more = r#"{"oneOf":[{"type":"string"},{"type":"integer"},{"type":"boolean"}]}"#;
    assert!(backward(one, more).is_empty());
    let out = backward(more, one);
    assert!(
        out.iter()
            .any(|i| i.message.starts_with("SUM_TYPE_NARROWED")),
        "{out:?}"
    );
    // Dropping a conjunct of an (implicit) allOf accepts more.
    assert!(backward(
        r#"{"type":"string","enum":["red"]}"#,
        r#"{"type":"string"}"#
    )
    .is_empty());
    // A plain type may become one branch of a union.
    assert!(backward(
        r#"{"type":"string"}"#,
        r#"{"anyOf":[{"type":"string"},{"type":"null"}]}"#
    )
    .is_empty());
}

#[test]
fn numeric_and_string_bounds() {
    assert!(backward(
        r#"{"type":"string","maxLength":5}"#,
        r#"{"type":"string","maxLength":9}"#
    )
    .is_empty());
    let out = backward(
        r#"{"type":"string","maxLength":9}"#,
        r#"{"type":"string","maxLength":5}"#,
    );
    assert_eq!(out[0].path, "#/maxLength");
    assert!(backward(
        r#"{"type":"number","multipleOf":10}"#,
        r#"{"type":"number","multipleOf":5}"#
    )
    .is_empty());
    assert!(!backward(
        r#"{"type":"number","multipleOf":5}"#,
        r#"{"type":"number","multipleOf":10}"#
    )
    .is_empty());
    assert!(backward(
        r#"{"type":"number","multipleOf":0.5}"#,
        r#"{"type":"number","multipleOf":0.25}"#
    )
    .is_empty());
}

proptest::proptest! {
    #[test]
    fn random_payloads_never_panic(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..128)) {
        let s = schema(r#"{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]}"#);
        let _ = s.validate(&body);
    }

    #[test]
    fn random_schema_text_never_panics(text in "\\PC{0,64}") {
        let _ = JsonSchema::parse(&text, &[]);
    }
}

#[test]
fn validating_against_a_self_referencing_union_terminates() {
    let s = r##"{"$ref":"#/definitions/x","definitions":{"x":{"anyOf":[{"$ref":"#/definitions/x"},{"type":"null"}]}}}"##;
    let err = JsonSchema::parse(s, &[]).unwrap_err();
    assert!(err.to_string().contains("left recursion"), "{err}");
    // Recursion that descends into the data is fine.
    let tree = r##"{"$ref":"#/definitions/n","definitions":{"n":{"anyOf":[{"type":"null"},{"type":"object","properties":{"next":{"$ref":"#/definitions/n"}}}]}}}"##;
    let t = JsonSchema::parse(tree, &[]).unwrap();
    t.validate(br#"{"next":{"next":null}}"#).unwrap();
}
