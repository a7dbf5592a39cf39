use super::*;

#[test]
fn syntax_error_names_the_line() {
    let err = compile("syntax = \"proto3\";\nmessage A {\n  int32 x = ;\n}\n", &[]).unwrap_err();
    let SchemaError::Invalid { reason, .. } = err else {
        panic!("expected Invalid, got {err:?}");
    };
    assert!(reason.contains("line 3"), "{reason}");
}

#[test]
fn editions_get_a_clear_error() {
    let err = compile("edition = \"2023\";\nmessage A {}\n", &[]).unwrap_err();
    assert!(err.to_string().contains("editions"), "{err}");
}

#[test]
fn imports_resolve_from_references_and_builtins() {
    let dep = ResolvedReference {
        name: "common/money.proto".into(),
        schema: "syntax = \"proto3\"; package common; message Money { int64 cents = 1; }".into(),
    };
    let text = "syntax = \"proto3\";\nimport \"common/money.proto\";\nimport \"google/protobuf/timestamp.proto\";\nimport \"confluent/meta.proto\";\nimport \"confluent/type/decimal.proto\";\nmessage Order { common.Money total = 1; google.protobuf.Timestamp ts = 2; confluent.type.Decimal d = 3; }\n";
    let (_, file) = compile(text, &[dep]).unwrap();
    assert_eq!(file.messages().count(), 1);
}

#[test]
fn an_enum_value_named_edition_is_not_an_edition() {
    compile("syntax = \"proto3\";\nenum E {\n  edition = 0;\n}\n", &[]).unwrap();
}

#[test]
fn hostile_nesting_is_rejected_before_parsing() {
    let text = format!(
        "syntax = \"proto3\";{}{}",
        "message A { ".repeat(20_000),
        "}".repeat(20_000)
    );
    let err = compile(&text, &[]).unwrap_err();
    assert!(err.to_string().contains("nests deeper"), "{err}");
    // Brackets inside strings and comments do not count.
    let ok = format!(
        "syntax = \"proto3\";\n// {}\nmessage A {{ string s = 1 [json_name = \"{}\"]; }}",
        "{".repeat(100),
        "(".repeat(100)
    );
    compile(&ok, &[]).unwrap();
}

#[test]
fn a_base64_descriptor_compiles_to_the_same_canonical_text() {
    use base64::Engine;
    let text = "syntax = \"proto3\";\npackage shop;\nimport \"google/protobuf/timestamp.proto\";\nmessage Order { string id = 1; google.protobuf.Timestamp at = 2; }\n";
    let (pool, file) = compile(text, &[]).unwrap();
    let bytes = file.file_descriptor_proto().encode_to_vec();
    drop(pool);
    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
    let from_text = crate::protobuf::ProtobufSchema::parse(text, &[]).unwrap();
    let from_b64 = crate::protobuf::ProtobufSchema::parse(&b64, &[]).unwrap();
    assert_eq!(from_text.canonical(), from_b64.canonical());
    assert!(
        compile("bm90IGEgZGVzY3JpcHRvcg==", &[]).is_err(),
        "base64 of garbage"
    );
}

#[test]
fn missing_import_is_invalid() {
    let err = compile("syntax = \"proto3\";\nimport \"nope.proto\";\n", &[]).unwrap_err();
    assert!(err.to_string().contains("nope.proto"), "{err}");
}

// ---- references in either form -------------------------------------------------------

use crate::protobuf::tests::descriptor_form;
use crate::protobuf::ProtobufSchema;

fn reference(name: &str, schema: &str) -> ResolvedReference {
    ResolvedReference {
        name: name.into(),
        schema: schema.into(),
    }
}

const ADDRESS: &str = "syntax = \"proto3\";\npackage shop.common;\n\
    message Address { string city = 1; string zip = 2; }\n";
/// Imports a well-known type and extends it, as option files do.
const MONEY: &str = "syntax = \"proto3\";\npackage shop.common;\n\
    import \"google/protobuf/descriptor.proto\";\n\
    extend google.protobuf.FieldOptions { string unit = 50001; }\n\
    message Money { int64 cents = 1; string currency = 2; }\n";
/// Imports both of the above.
const LINES: &str = "syntax = \"proto3\";\npackage shop.lines;\n\
    import \"shop/common/address.proto\";\nimport \"shop/common/money.proto\";\n\
    message Line { string sku = 1; shop.common.Money price = 2; shop.common.Address from = 3; }\n";
/// Imports one file directly and the others through it; uses an extension option and a
/// nested message.
const ORDER: &str = "syntax = \"proto3\";\npackage shop;\n\
    import \"shop/lines/line.proto\";\nimport \"shop/common/address.proto\";\n\
    import \"shop/common/money.proto\";\n\
    message Order {\n  string id = 1;\n  shop.common.Address ship_to = 2;\n\
      repeated shop.lines.Line lines = 3;\n  shop.common.Money total = 4 [(shop.common.unit) = \"cent\"];\n\
      Note note = 5;\n  message Note { string text = 1; shop.common.Address at = 2; }\n}\n";

/// The three project files as text, in dependency order.
fn text_refs() -> Vec<ResolvedReference> {
    vec![
        reference("shop/common/address.proto", ADDRESS),
        reference("shop/common/money.proto", MONEY),
        reference("shop/lines/line.proto", LINES),
    ]
}

#[test]
fn references_resolve_in_either_form_mixed_along_the_graph() {
    let refs = text_refs();
    let expected = ProtobufSchema::parse(ORDER, &refs).unwrap();
    assert!(
        expected
            .canonical()
            .contains("(shop.common.unit) = \"cent\""),
        "{}",
        expected.canonical()
    );
    // Each reference's descriptor form is compiled from its own references, as text.
    let descriptors: Vec<String> = refs
        .iter()
        .enumerate()
        .map(|(i, r)| descriptor_form(&r.schema, &refs[..i]))
        .collect();
    let root_descriptor = descriptor_form(ORDER, &refs);
    // Every mix: bit i set = reference i as a descriptor, bit 3 = the schema itself.
    for mix in 0u32..16 {
        let mixed: Vec<ResolvedReference> = refs
            .iter()
            .zip(&descriptors)
            .enumerate()
            .map(|(i, (r, d))| {
                let schema = if mix & (1 << i) != 0 { d } else { &r.schema };
                reference(&r.name, schema)
            })
            .collect();
        let root = if mix & 8 != 0 {
            &root_descriptor
        } else {
            ORDER
        };
        let got =
            ProtobufSchema::parse(root, &mixed).unwrap_or_else(|e| panic!("mix {mix:04b}: {e}"));
        assert_eq!(got.canonical(), expected.canonical(), "mix {mix:04b}");
        assert_eq!(got.serialized(), expected.serialized(), "mix {mix:04b}");
    }
}

#[test]
fn a_public_import_reexports_through_a_descriptor() {
    let facade =
        "syntax = \"proto3\";\npackage shop.api;\nimport public \"shop/common/address.proto\";\n\
                  message Marker {}\n";
    let root = "syntax = \"proto3\";\npackage shop;\nimport \"shop/api/facade.proto\";\n\
                message Parcel { shop.common.Address to = 1; }\n";
    let address = reference("shop/common/address.proto", ADDRESS);
    let as_text = [address.clone(), reference("shop/api/facade.proto", facade)];
    let expected = ProtobufSchema::parse(root, &as_text).unwrap();
    let as_descriptors = [
        reference(&address.name, &descriptor_form(ADDRESS, &[])),
        reference(
            "shop/api/facade.proto",
            &descriptor_form(facade, std::slice::from_ref(&address)),
        ),
    ];
    let got = ProtobufSchema::parse(root, &as_descriptors).unwrap();
    assert_eq!(got.canonical(), expected.canonical());
    let root_descriptor = descriptor_form(root, &as_text);
    let got = ProtobufSchema::parse(&root_descriptor, &as_descriptors).unwrap();
    assert_eq!(got.canonical(), expected.canonical());
    // The facade's descriptor still says the import is public.
    let facade_schema = ProtobufSchema::parse(facade, std::slice::from_ref(&address)).unwrap();
    assert!(facade_schema
        .canonical()
        .contains("import public \"shop/common/address.proto\";"));
}

#[test]
fn payloads_validate_through_imported_and_nested_types_in_descriptor_form() {
    let refs = text_refs();
    let descriptors: Vec<ResolvedReference> = refs
        .iter()
        .enumerate()
        .map(|(i, r)| reference(&r.name, &descriptor_form(&r.schema, &refs[..i])))
        .collect();
    let schema = ProtobufSchema::parse(&descriptor_form(ORDER, &refs), &descriptors).unwrap();
    // [0]: Order { lines[0] = Line { price = Money { cents = 5 } } }
    schema
        .validate(&[0x00, 0x1a, 0x04, 0x12, 0x02, 0x08, 0x05])
        .unwrap();
    // Money.currency (field 2) sent as a varint instead of a string.
    let err = schema
        .validate(&[0x00, 0x1a, 0x04, 0x12, 0x02, 0x10, 0x05])
        .unwrap_err();
    assert_eq!(err.path, "Order.lines[0].price.currency", "{err}");
    // Indexes [0, 0] (zigzag count 2 = 0x04): the nested Order.Note, whose `at` is an
    // imported Address.
    schema
        .validate(&[0x04, 0x00, 0x00, 0x12, 0x03, 0x0a, 0x01, b'x'])
        .unwrap();
    let err = schema
        .validate(&[0x04, 0x00, 0x00, 0x12, 0x03, 0x0a, 0x01, 0xff])
        .unwrap_err();
    assert_eq!(err.path, "Note.at.city", "{err}");
}

#[test]
fn a_descriptor_is_imported_under_its_reference_name() {
    use base64::Engine;
    let b64 = descriptor_form(ADDRESS, &[]);
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&b64)
        .unwrap();
    assert_eq!(
        FileDescriptorProto::decode(bytes.as_slice())
            .unwrap()
            .name(),
        "default"
    );
    let renamed = renamed(bytes, "shop/common/address.proto");
    let fdp = FileDescriptorProto::decode(renamed.as_slice()).unwrap();
    assert_eq!(fdp.name(), "shop/common/address.proto");
    assert_eq!(fdp.package(), "shop.common");
    assert_eq!(fdp.message_type.len(), 1);
    let root = "syntax = \"proto3\";\nimport \"shop/common/address.proto\";\n\
                message P { shop.common.Address a = 1; }\n";
    compile(root, &[reference("shop/common/address.proto", &b64)]).unwrap();
}

#[test]
fn errors_in_descriptor_references_name_the_file() {
    let lines_alone = descriptor_form(LINES, &text_refs()[..2]);
    let root = "syntax = \"proto3\";\nimport \"shop/lines/line.proto\";\n\
                message P { shop.lines.Line l = 1; }\n";
    // The descriptor's own import of address.proto is not supplied.
    let err = compile(
        root,
        &[
            reference("shop/common/money.proto", MONEY),
            reference("shop/lines/line.proto", &lines_alone),
        ],
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("shop/common/address.proto"),
        "{err}"
    );

    use base64::Engine;
    let editions = FileDescriptorProto {
        name: Some("e.proto".into()),
        syntax: Some("editions".into()),
        ..Default::default()
    };
    let b64 = base64::engine::general_purpose::STANDARD.encode(editions.encode_to_vec());
    let err = compile(
        "syntax = \"proto3\";\nimport \"e.proto\";\n",
        &[reference("e.proto", &b64)],
    )
    .unwrap_err();
    assert!(err.to_string().contains("reference \"e.proto\""), "{err}");
    assert!(err.to_string().contains("editions"), "{err}");
}
