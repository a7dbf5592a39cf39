//! The canonical form: same meaning, same text; different meaning, different text.

use super::{schema, ORDER};
use crate::parsed::ParsedSchema;
use crate::schema::SchemaType;

fn canonical(text: &str) -> String {
    schema(text).canonical()
}

#[test]
fn golden_canonical_text() {
    let c = canonical(
        r#"{ "fields": [ {"type": "int", "name": "a", "default": 1, "aliases": ["z", "b", "z"]},
                         {"name": "e", "type": {"symbols": ["X", "Y"], "name": "E", "type": "enum", "default": "Y"}},
                         {"name": "again", "type": "E", "order": "descending"} ],
             "name": "R", "namespace": "ns", "type": "record", "doc": "d", "x-team": {"b": 1, "a": 2} }"#,
    );
    assert_eq!(
        c,
        concat!(
            r#"{"type":"record","name":"R","namespace":"ns","doc":"d","fields":["#,
            r#"{"name":"a","type":"int","default":1,"aliases":["b","z"]},"#,
            r#"{"name":"e","type":{"type":"enum","name":"E","symbols":["X","Y"],"default":"Y"}},"#,
            r#"{"name":"again","type":"ns.E","order":"descending"}"#,
            r#"],"x-team":{"a":2,"b":1}}"#
        )
    );
}

#[test]
fn whitespace_key_order_and_spelling_do_not_matter() {
    let a = r#"{"type":"record","name":"shop.Order","fields":[{"name":"id","type":"string"},
               {"name":"tags","type":{"type":"array","items":"string"},"default":[]}]}"#;
    let b = r#"{
        "fields": [
            {"type": {"type": "string"}, "name": "id"},
            {"default": [], "name": "tags", "type": {"items": {"type":"string"}, "type": "array"}}
        ],
        "namespace": "shop",
        "name": "Order",
        "type": "record"
    }"#;
    assert_eq!(canonical(a), canonical(b));
    let pa = ParsedSchema::parse(SchemaType::Avro, a, &[]).unwrap();
    let pb = ParsedSchema::parse(SchemaType::Avro, b, &[]).unwrap();
    assert_eq!(pa.fingerprint(), pb.fingerprint());
}

#[test]
fn semantic_differences_change_the_canonical_form() {
    let base = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":1}]}"#;
    let variants = [
        // a different default (Parsing Canonical Form would drop it)
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":2}]}"#,
        // no default
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#,
        // an alias
        r#"{"type":"record","name":"R","aliases":["Q"],"fields":[{"name":"a","type":"int","default":1}]}"#,
        // a field alias
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":1,"aliases":["b"]}]}"#,
        // a logical type
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":{"type":"int","logicalType":"date"},"default":1}]}"#,
        // a sort order
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":1,"order":"ignore"}]}"#,
        // a namespace
        r#"{"type":"record","name":"R","namespace":"n","fields":[{"name":"a","type":"int","default":1}]}"#,
        // a doc, as Confluent keeps it
        r#"{"type":"record","name":"R","doc":"x","fields":[{"name":"a","type":"int","default":1}]}"#,
    ];
    let base_c = canonical(base);
    for v in variants {
        assert_ne!(canonical(v), base_c, "{v}");
    }
    // An enum default too.
    assert_ne!(
        canonical(r#"{"type":"enum","name":"E","symbols":["A","B"]}"#),
        canonical(r#"{"type":"enum","name":"E","symbols":["A","B"],"default":"A"}"#)
    );
}

#[test]
fn canonical_text_parses_back_to_itself() {
    let texts = [
        ORDER,
        r#"{"type":"record","name":"Node","namespace":"a","fields":[{"name":"next","type":["null","Node"]},
            {"name":"o","type":{"type":"record","name":"Other","namespace":"","fields":[{"name":"n","type":["null","a.Node"]}]}},
            {"name":"o2","type":"Other"}]}"#,
        r#"["null",{"type":"fixed","name":"F","size":2,"aliases":["G"]},{"type":"map","values":"F"}]"#,
    ];
    for text in texts {
        let once = canonical(text);
        assert_eq!(canonical(&once), once, "{text}");
    }
}
