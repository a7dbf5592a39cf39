//! What parses, what does not, and why.

use super::{invalid, reference, schema, ORDER};
use crate::avro::model::Kind;
use crate::avro::AvroSchema;

#[test]
fn top_level_primitives_unions_and_collections_are_schemas() {
    for text in [
        r#""int""#,
        r#"{"type":"string"}"#,
        r#"["null","string"]"#,
        r#"{"type":"array","items":"long"}"#,
        r#"{"type":"map","values":["null","double"]}"#,
        r#"{"type":"fixed","name":"md5","size":16}"#,
        r#"{"type":"enum","name":"Suit","symbols":["SPADES","HEARTS"]}"#,
        r#"{"type":"long","logicalType":"timestamp-millis"}"#,
    ] {
        schema(text);
    }
}

#[test]
fn order_schema_parses_with_its_names() {
    let s = schema(ORDER);
    assert_eq!(s.record_name().as_deref(), Some("shop.v1.Order"));
    let m = &s.inner.model;
    let Kind::Record(r) = &m.node(m.root).kind else {
        panic!("root is a record")
    };
    assert_eq!(r.fields.len(), 12);
    let status = r.field("status").unwrap();
    assert_eq!(
        m.node(status.ty).kind.named().unwrap().name.full(),
        "shop.v1.Status"
    );
}

#[test]
fn names_resolve_through_namespaces_and_the_null_namespace() {
    // `Inner` is defined in namespace a.b and referred to by simple name inside it; `Top` is in
    // the null namespace and found from inside a.b by the null-namespace fallback.
    let s = schema(
        r#"[{"type":"record","name":"Top","fields":[]},
            {"type":"record","name":"Outer","namespace":"a.b","fields":[
              {"name":"i","type":{"type":"record","name":"Inner","fields":[]}},
              {"name":"j","type":"Inner"},
              {"name":"k","type":"a.b.Inner"},
              {"name":"t","type":"Top"},
              {"name":"x","type":{"type":"record","name":"x.y.Other","fields":[{"name":"o","type":"Other"}]}}
            ]}]"#,
    );
    assert!(s
        .canonical()
        .contains(r#""name":"Other","namespace":"x.y""#));
}

#[test]
fn recursive_records_parse() {
    let s = schema(
        r#"{"type":"record","name":"Node","fields":[
            {"name":"value","type":"int"},
            {"name":"next","type":["null","Node"],"default":null}]}"#,
    );
    assert_eq!(s.record_name().as_deref(), Some("Node"));
}

#[test]
fn references_are_parsed_first_and_resolve() {
    let item = r#"{"type":"record","name":"Item","namespace":"shop","fields":[{"name":"sku","type":"string"}]}"#;
    let money = r#"{"type":"fixed","name":"shop.Money","size":8}"#;
    let order = r#"{"type":"record","name":"Order","namespace":"shop","fields":[
        {"name":"items","type":{"type":"array","items":"Item"}},
        {"name":"total","type":"shop.Money"}]}"#;
    let refs = [reference("shop.Item", item), reference("shop.Money", money)];
    let s = AvroSchema::parse(order, &refs).unwrap();
    // Referenced types appear by name only, as in Confluent's canonical string.
    assert!(s.canonical().contains(r#""items":"shop.Item""#));
    assert!(s.canonical().contains(r#""type":"shop.Money""#));
    // Without the references the names are unknown.
    let err = AvroSchema::parse(order, &[]).unwrap_err().to_string();
    assert!(err.contains("unknown type \"Item\""), "{err}");
    // A reference listed twice (a diamond) is fine.
    let twice = [reference("shop.Item", item), reference("shop.Item", item)];
    let with_twice = r#"{"type":"record","name":"B","fields":[{"name":"i","type":"shop.Item"}]}"#;
    AvroSchema::parse(with_twice, &twice).unwrap();
    // A broken reference says which one.
    let err = AvroSchema::parse(order, &[reference("shop.Item", "{")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("reference \"shop.Item\""), "{err}");
}

#[test]
fn invalid_schemas_say_why() {
    let cases = [
        ("{", "not valid JSON"),
        ("42", "is not a schema"),
        (r#""Nope""#, "unknown type \"Nope\""),
        (r#"{"type":"record","fields":[]}"#, "has no \"name\""),
        (r#"{"type":"record","name":"R"}"#, "no \"fields\" array"),
        (
            r#"{"type":"record","name":"1R","fields":[]}"#,
            "must start with a letter",
        ),
        (
            r#"{"type":"record","name":"R","namespace":"a-b","fields":[]}"#,
            "namespace",
        ),
        (r#"{"type":"record","name":"int","fields":[]}"#, "primitive"),
        (
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"a","type":"long"}]}"#,
            "two fields named a",
        ),
        (
            r#"{"type":"record","name":"R","fields":[{"name":"a"}]}"#,
            "R.a: field has no \"type\"",
        ),
        (
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int","order":"up"}]}"#,
            "order",
        ),
        (
            r#"[{"type":"record","name":"R","fields":[]},{"type":"record","name":"R","fields":[]}]"#,
            "R is defined twice",
        ),
        (
            r#"{"type":"enum","name":"E","symbols":["A","A"]}"#,
            "symbol A twice",
        ),
        (
            r#"{"type":"enum","name":"E","symbols":["A"],"default":"B"}"#,
            "not one of its symbols",
        ),
        (
            r#"{"type":"enum","name":"E","symbols":["a-b"]}"#,
            "letters, digits",
        ),
        (r#"{"type":"enum","name":"E"}"#, "no \"symbols\""),
        (r#"{"type":"fixed","name":"F","size":-1}"#, "size"),
        (r#"{"type":"fixed","name":"F"}"#, "size"),
        (r#"{"type":"array"}"#, "no \"items\""),
        (r#"{"type":"map"}"#, "no \"values\""),
        (r#"["int","int"]"#, "union contains int twice"),
        (r#"["null",["int"]]"#, "another union"),
        (r#"{"type":{"type":"int"}}"#, "type name string"),
        (r#"{"name":"x"}"#, "no \"type\""),
        (
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":"x"}]}"#,
            "R.a: default \"x\" is not a valid int",
        ),
        (
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":["null","int"],"default":"x"}]}"#,
            "not a valid union",
        ),
        (
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":3000000000}]}"#,
            "not a valid int",
        ),
    ];
    for (text, why) in cases {
        let err = invalid(text);
        assert!(err.starts_with("invalid AVRO schema: "), "{err}");
        assert!(err.contains(why), "{text}: {err:?} should mention {why:?}");
    }
}

#[test]
fn defaults_are_checked_like_java() {
    // Valid defaults of every kind, including a record default that falls back to a field's
    // own default, and union defaults matching the first and a later branch (Java 1.11+).
    schema(
        r#"{"type":"record","name":"R","fields":[
            {"name":"n","type":"null","default":null},
            {"name":"b","type":"boolean","default":true},
            {"name":"l","type":"long","default":9007199254740993},
            {"name":"d","type":"double","default":1},
            {"name":"s","type":"bytes","default":"\u00ff"},
            {"name":"e","type":{"type":"enum","name":"E","symbols":["A"]},"default":"A"},
            {"name":"a","type":{"type":"array","items":"int"},"default":[1,2]},
            {"name":"m","type":{"type":"map","values":"int"},"default":{"k":1}},
            {"name":"u","type":["string","null"],"default":"x"},
            {"name":"u2","type":["null","int"],"default":7},
            {"name":"r","type":{"type":"record","name":"In","fields":[
                {"name":"x","type":"int"},{"name":"y","type":"int","default":0}]},
             "default":{"x":1}}
        ]}"#,
    );
    // A record default lacking a field with no default of its own is refused.
    let err = invalid(
        r#"{"type":"record","name":"R","fields":[{"name":"r","type":{"type":"record","name":"In","fields":[{"name":"x","type":"int"}]},"default":{}}]}"#,
    );
    assert!(
        err.contains("R.r: default {} is not a valid record In"),
        "{err}"
    );
    // Stored schemas skip the check, as Confluent does for already registered schemas.
    AvroSchema::parse_registered(
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":"x"}]}"#,
        &[],
    )
    .unwrap();
}

#[test]
fn logical_types_and_custom_properties_are_kept_and_never_fatal() {
    // Java ignores a logical type it finds invalid; the schema stays valid.
    let s = schema(
        r#"{"type":"record","name":"R","fields":[
            {"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}},
            {"name":"broken","type":{"type":"bytes","logicalType":"decimal","scale":2}},
            {"name":"id","type":{"type":"string","logicalType":"uuid"},"x-owner":"payments"}]}"#,
    );
    let c = s.canonical();
    assert!(
        c.contains(r#""logicalType":"decimal","precision":10,"scale":2"#),
        "{c}"
    );
    assert!(c.contains(r#""x-owner":"payments""#), "{c}");
}

#[test]
fn comments_are_allowed_as_java_allows_them() {
    let s = schema(
        "// an order\n{\"type\": /* kind */ \"record\", \"name\": \"R\", \"doc\": \"a // b /* c */\",\n \"fields\": []}",
    );
    assert_eq!(
        s.canonical(),
        r#"{"type":"record","name":"R","doc":"a // b /* c */","fields":[]}"#
    );
    let err = invalid("{\"type\": \"int\"} /* never closed");
    assert!(err.contains("not valid JSON"), "{err}");
}
