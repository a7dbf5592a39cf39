use proptest::prelude::*;
use prost::Message as _;
use prost_reflect::{DynamicMessage, Value};

use super::*;

include!("../../benches/fixtures/protobuf_order.rs");

fn schema(text: &str) -> ProtobufSchema {
    ProtobufSchema::parse(text, &[]).unwrap()
}

#[test]
fn valid_order_passes() {
    let s = schema(ORDER);
    let body = order_bytes(&s, 12);
    assert!(body.len() > 400, "{}", body.len());
    s.validate(&body).unwrap();
}

#[test]
fn golden_bytes_first_message() {
    // indexes [0]; field 1 "ab"; field 3 varint 1; field 7 { field 2 varint 5 }
    let s = schema(ORDER);
    s.validate(&[
        0x00, 0x0a, 0x02, b'a', b'b', 0x18, 0x01, 0x3a, 0x02, 0x10, 0x05,
    ])
    .unwrap();
}

#[test]
fn bad_nested_field_names_the_path() {
    let s = schema(ORDER);
    // items[0] ok, items[1].qty has wire type 2 instead of varint.
    let body = [0x00, 0x3a, 0x02, 0x10, 0x05, 0x3a, 0x03, 0x12, 0x01, 0x00];
    let err = s.validate(&body).unwrap_err();
    assert_eq!(err.path, "Order.items[1].qty");
    assert!(err.reason.contains("wire type 2"), "{}", err.reason);
}

#[test]
fn invalid_utf8_in_proto3_string_is_rejected() {
    let s = schema(ORDER);
    let err = s.validate(&[0x00, 0x0a, 0x02, 0xff, 0xfe]).unwrap_err();
    assert_eq!(err.path, "Order.order_id");
    assert!(err.reason.contains("UTF-8"));
}

#[test]
fn proto2_strings_are_not_utf8_checked() {
    let s = schema("syntax = \"proto2\"; message A { optional string s = 1; }");
    s.validate(&[0x00, 0x0a, 0x02, 0xff, 0xfe]).unwrap();
}

#[test]
fn truncated_length_is_rejected() {
    let s = schema(ORDER);
    let err = s.validate(&[0x00, 0x0a, 0x05, b'a']).unwrap_err();
    assert!(err.reason.contains("past the end"), "{}", err.reason);
}

#[test]
fn message_indexes_select_nested_and_second_messages() {
    let s = schema(ORDER);
    // [1] = Other (zigzag: count 1 -> 0x02, index 1 -> 0x02); sint32 field 1 varint.
    s.validate(&[0x02, 0x02, 0x08, 0x03]).unwrap();
    // [0, 0] = Order.LineItem (count 2 -> 0x04); field 1 string.
    s.validate(&[0x04, 0x00, 0x00, 0x0a, 0x01, b'x']).unwrap();
    let err = s.validate(&[0x02, 0x08]).unwrap_err();
    assert_eq!(err.path, "message-indexes");
}

#[test]
fn packed_and_unpacked_repeated_scalars_pass() {
    let s = schema(ORDER);
    s.validate(&[0x00, 0x62, 0x03, 0x01, 0xac, 0x02]).unwrap(); // packed [1, 300]
    s.validate(&[0x00, 0x60, 0x01, 0x60, 0x02]).unwrap(); // unpacked
    assert!(s.validate(&[0x00, 0x62, 0x02, 0x01, 0xac]).is_err());
}

#[test]
fn unknown_fields_follow_the_policy() {
    let body = [0x00, 0xf8, 0x06, 0x01]; // field 111 varint
    let s = schema(ORDER);
    s.validate(&body).unwrap();
    let strict = schema(ORDER).with_unknown_fields(UnknownFieldPolicy::Reject);
    let err = strict.validate(&body).unwrap_err();
    assert!(err.path.contains("<field 111>"), "{}", err.path);
}

#[test]
fn groups_are_walked() {
    let s =
        schema("syntax = \"proto2\"; message A { optional group G = 1 { optional int32 x = 2; } }");
    s.validate(&[0x00, 0x0b, 0x10, 0x01, 0x0c]).unwrap();
    assert!(s.validate(&[0x00, 0x0b, 0x10, 0x01]).is_err());
}

#[test]
fn deep_nesting_is_capped() {
    let s = schema("syntax = \"proto3\"; message R { R r = 1; }");
    let mut body = Vec::new();
    for _ in 0..100 {
        let mut outer = vec![0x0a];
        let mut len = body.len();
        loop {
            let b = (len & 0x7f) as u8;
            len >>= 7;
            if len == 0 {
                outer.push(b);
                break;
            }
            outer.push(b | 0x80);
        }
        outer.extend(body);
        body = outer;
    }
    let mut framed = vec![0];
    framed.extend(body);
    let err = s.validate(&framed).unwrap_err();
    assert!(err.reason.contains("nesting"), "{}", err.reason);
}

#[test]
fn canonical_ignores_formatting_and_qualification() {
    let a = schema("syntax = \"proto3\";\npackage p;\n// c\nmessage A { B b = 1; message B {} }");
    let b = schema(
        "syntax=\"proto3\"; package p; message A {\n  .p.A.B b = 1;\n  message B {\n  }\n}\n",
    );
    assert_eq!(a.canonical(), b.canonical());
    assert!(a.canonical().contains("message A {"), "{}", a.canonical());
    let c = schema("syntax = \"proto3\"; package p; message A { B b = 2; message B {} }");
    assert_ne!(a.canonical(), c.canonical());
}

#[test]
fn canonical_reparses_to_itself() {
    let s = schema(ORDER);
    let again = schema(&s.canonical());
    assert_eq!(s.canonical(), again.canonical());
}

/// Which way a schema change is checked (`compat::check`, with one existing version,
/// calls `can_read` the same way).
#[derive(Clone, Copy)]
enum Direction {
    /// The proposed schema reads data of the existing one.
    Backward,
    /// The existing schema reads data of the proposed one.
    Forward,
}

fn verdict(existing: &str, proposed: &str, direction: Direction) -> Vec<Incompatibility> {
    let (e, p) = (schema(existing), schema(proposed));
    match direction {
        Direction::Backward => can_read(&p, &e),
        Direction::Forward => can_read(&e, &p),
    }
}

#[test]
fn scalar_groups_follow_confluent() {
    let base = "syntax = \"proto3\"; message M { int32 a = 1; }";
    for (ty, ok) in [
        ("int64", true),
        ("bool", true),
        ("uint64", true),
        ("sint32", false),
        ("string", false),
        ("fixed32", false),
    ] {
        let p = format!("syntax = \"proto3\"; message M {{ {ty} a = 1; }}");
        assert_eq!(
            verdict(base, &p, Direction::Backward).is_empty(),
            ok,
            "{ty}"
        );
    }
}

#[test]
fn oneof_member_added_is_backward_only() {
    let old = "syntax = \"proto3\"; message M { oneof o { int32 a = 1; } }";
    let new = "syntax = \"proto3\"; message M { oneof o { int32 a = 1; string b = 2; } }";
    assert!(verdict(old, new, Direction::Backward).is_empty());
    let fwd = verdict(old, new, Direction::Forward);
    assert_eq!(fwd.len(), 1);
    assert_eq!(fwd[0].path, "#/M/o/2");
    assert!(
        fwd[0].message.starts_with("ONEOF_FIELD_REMOVED"),
        "{}",
        fwd[0].message
    );
}

#[test]
fn package_change_and_message_removal_are_reported() {
    let old = "syntax = \"proto3\"; package a; message M { int32 x = 1; } message N {}";
    let new = "syntax = \"proto3\"; package b; message M { int32 x = 1; }";
    let out = verdict(old, new, Direction::Backward);
    let paths: Vec<&str> = out.iter().map(|i| i.path.as_str()).collect();
    assert_eq!(paths, ["#/", "#/N"]);
}

fn refs(deps: &[(&str, &str)]) -> Vec<ResolvedReference> {
    deps.iter()
        .map(|(n, s)| ResolvedReference {
            name: (*n).to_string(),
            schema: (*s).to_string(),
        })
        .collect()
}

const GOOGLE: &str = "syntax = \"proto3\";\npackage io.confluent.cloud.demo.domain;\nmessage GoogleHome {\n  int32 deviceID = 1;\n  bool enabled = 2;\n}";
const GOOGLE2: &str = "syntax = \"proto3\";\npackage io.confluent.cloud.demo.domain;\nmessage GoogleHome {\n  string deviceID = 1;\n  bool enabled = 2;\n}";

#[test]
fn incompatible_import_change_is_found_through_references() {
    // Conformance case cf-pb-diff-36.
    let e = ProtobufSchema::parse(
        "syntax = \"proto3\";\nimport \"google.proto\";\nmessage TestMessage {\n    .io.confluent.cloud.demo.domain.GoogleHome test_string = 1;\n    }",
        &refs(&[("google.proto", GOOGLE)]),
    )
    .unwrap();
    let p = ProtobufSchema::parse(
        "syntax = \"proto3\";\nimport \"google2.proto\";\nmessage TestMessage {\n    .io.confluent.cloud.demo.domain.GoogleHome test_string = 1;\n    }",
        &refs(&[("google2.proto", GOOGLE2)]),
    )
    .unwrap();
    let out = can_read(&p, &e);
    let paths: Vec<&str> = out.iter().map(|i| i.path.as_str()).collect();
    assert_eq!(paths, ["#/GoogleHome/1", "#/TestMessage/1"]);
}

#[test]
fn identical_imports_under_new_names_are_compatible() {
    let text = |imp: &str| {
        format!("syntax = \"proto3\";\nimport \"{imp}\";\nmessage T {{ .io.confluent.cloud.demo.domain.GoogleHome h = 1; }}")
    };
    let e = ProtobufSchema::parse(&text("a.proto"), &refs(&[("a.proto", GOOGLE)])).unwrap();
    let p = ProtobufSchema::parse(&text("b.proto"), &refs(&[("b.proto", GOOGLE)])).unwrap();
    assert!(can_read(&p, &e).is_empty());
}

#[test]
fn long_chains_of_imported_types_are_bounded() {
    let chain = |scalar: &str| {
        let mut dep = String::from("syntax = \"proto3\"; package d;\n");
        for i in 0..200 {
            dep.push_str(&format!("message M{i} {{ M{} next = 1; }}\n", i + 1));
        }
        dep.push_str(&format!("message M200 {{ {scalar} v = 1; }}\n"));
        dep
    };
    let text = "syntax = \"proto3\"; import \"d.proto\"; message T { d.M0 m = 1; }";
    let a = ProtobufSchema::parse(text, &refs(&[("d.proto", &chain("int32"))])).unwrap();
    let b = ProtobufSchema::parse(text, &refs(&[("d.proto", &chain("string"))])).unwrap();
    let out = can_read(&b, &a);
    assert!(!out.is_empty());
}

proptest! {
    #[test]
    fn random_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..256)) {
        let s = schema(ORDER);
        let _ = s.validate(&body);
    }

    #[test]
    fn truncations_of_a_valid_order_never_panic(cut in 0usize..600) {
        let s = schema(ORDER);
        let body = order_bytes(&s, 12);
        let _ = s.validate(&body[..cut.min(body.len())]);
    }
}

/// `text` compiled with `refs`, in the form Confluent's serializers send: a base64
/// `FileDescriptorProto` (named `default`, not after the file it will be imported as).
pub(crate) fn descriptor_form(text: &str, refs: &[ResolvedReference]) -> String {
    use base64::Engine;
    let schema = ProtobufSchema::parse(text, refs).unwrap();
    base64::engine::general_purpose::STANDARD.encode(schema.serialized())
}

/// Found by the `parse_schema` and `compat` fuzz targets: an invalid octal literal (`09`, a
/// leading zero then an 8 or 9) tripped a debug assertion in protox-parse 0.9.0, so debug
/// builds panicked; it must be an invalid schema, as in release builds (the workspace turns
/// that crate's debug assertions off).
#[test]
fn an_invalid_octal_literal_is_an_error_not_a_panic() {
    for text in [
        "syntax = \"proto3\"; message M { int32 a = 09; }",
        "syntax = \"proto3\";\nmessage M {\n 0000000000000000000000000000000001227731298417056882neof .oneof_x {\n int32 field_a = 1;\n }\n}",
        // The octal starts right after the float `0f` (found by parse_schema).
        "syntax = \"proto3\"; message M { int32 a = 0f00000055515622406616805; }",
    ] {
        assert!(ProtobufSchema::parse(text, &[]).is_err(), "{text}");
    }
}
