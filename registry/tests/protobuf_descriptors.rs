//! Protobuf schemas and references as base64 `FileDescriptorProto`s, the form Confluent's
//! serializers auto-register, mixed with `.proto` text along the reference graph: registration,
//! lookup, ids, `?format=serialized` and compatibility (transitive too), over real HTTP.

mod common;

use base64::Engine;
use common::{call, memory};
use contract::protobuf::ProtobufSchema;
use contract::ResolvedReference;
use prost::Message;
use prost_reflect::prost_types::FileDescriptorProto;
use serde_json::{json, Value};

const ADDRESS: &str = "syntax = \"proto3\";\npackage shop.common;\n\
    message Address { string city = 1; string zip = 2; }\n";
const CONTACT: &str = "syntax = \"proto3\";\npackage shop.common;\n\
    message Contact { string email = 1; }\n";
const MONEY: &str = "syntax = \"proto3\";\npackage shop.common;\n\
    import \"google/protobuf/descriptor.proto\";\n\
    extend google.protobuf.FieldOptions { string unit = 50001; }\n\
    message Money { int64 amount = 1; }\n";
const LINE: &str = "syntax = \"proto3\";\npackage shop.lines;\n\
    import \"shop/common/money.proto\";\nimport \"shop/common/address.proto\";\n\
    message Line { shop.common.Money price = 1 [(shop.common.unit) = \"cent\"]; shop.common.Address from = 2; }\n";

fn shipment(extra: &str) -> String {
    format!(
        "syntax = \"proto3\";\npackage shop;\nimport \"shop/common/address.proto\";\n\
         import \"shop/common/contact.proto\";\n\
         message Shipment {{ string id = 1; shop.common.Address to = 2; {extra} }}\n"
    )
}

/// `text` (whose imports are `deps`, as name/text pairs) as a base64 `FileDescriptorProto`.
fn descriptor(text: &str, deps: &[(&str, &str)]) -> String {
    let refs: Vec<ResolvedReference> = deps
        .iter()
        .map(|(name, schema)| ResolvedReference {
            name: (*name).into(),
            schema: (*schema).into(),
        })
        .collect();
    let schema = ProtobufSchema::parse(text, &refs).unwrap();
    base64::engine::general_purpose::STANDARD.encode(schema.serialized())
}

fn subject_path(subject: &str) -> String {
    subject.replace('/', "%2F")
}

/// Registers `schema` under `subject` with `references`; returns (status, body).
async fn register(url: &str, subject: &str, schema: &str, references: Value) -> (u16, Value) {
    let body = json!({"schema": schema, "schemaType": "PROTOBUF", "references": references});
    let path = format!("{url}/subjects/{}/versions", subject_path(subject));
    call("POST", &path, Some(body)).await
}

fn reference(name: &str, version: i64) -> Value {
    json!({"name": name, "subject": name, "version": version})
}

async fn registered_id(url: &str, subject: &str, schema: &str, references: Value) -> i64 {
    let (s, v) = register(url, subject, schema, references).await;
    assert_eq!(s, 200, "registering {subject}: {v}");
    v["id"].as_i64().unwrap()
}

/// Registers a file without imports under the subject named after it, as Confluent's Python
/// serializer does; returns its id.
async fn register_file(url: &str, name: &str, schema: &str) -> i64 {
    registered_id(url, name, schema, json!([])).await
}

#[tokio::test]
async fn references_registered_as_descriptors_resolve_and_keep_their_ids() {
    let r = memory().await;
    let url = r.url.as_str();
    // The imported files as Confluent's Python serializer sends them.
    let address_id =
        register_file(url, "shop/common/address.proto", &descriptor(ADDRESS, &[])).await;
    let contact_id = register_file(url, "shop/common/contact.proto", CONTACT).await;
    let refs = json!([
        reference("shop/common/address.proto", 1),
        reference("shop/common/contact.proto", 1)
    ]);
    // The top-level schema as text, then as a descriptor: one schema, one id, one version.
    let text = shipment("");
    let root_id = registered_id(url, "shipments-value", &text, refs.clone()).await;
    let as_descriptor = descriptor(
        &text,
        &[
            ("shop/common/address.proto", ADDRESS),
            ("shop/common/contact.proto", CONTACT),
        ],
    );
    assert_eq!(
        registered_id(url, "shipments-value", &as_descriptor, refs.clone()).await,
        root_id
    );
    // Identity of the imported files across forms, in both orders: address was registered as
    // a descriptor (now sent as text), contact as text (now sent as a descriptor).
    let again = register_file(url, "shop/common/address.proto", ADDRESS).await;
    assert_eq!(again, address_id);
    let again = register_file(url, "shop/common/contact.proto", &descriptor(CONTACT, &[])).await;
    assert_eq!(again, contact_id);
    for subject in [
        "shop/common/address.proto",
        "shop/common/contact.proto",
        "shipments-value",
    ] {
        let (_, v) = call(
            "GET",
            &format!("{url}/subjects/{}/versions", subject_path(subject)),
            None,
        )
        .await;
        assert_eq!(v, json!([1]), "{subject}");
    }
    // Lookup (POST /subjects/{s}) finds the text version from the descriptor form.
    let (s, v) = call(
        "POST",
        &format!("{url}/subjects/shipments-value"),
        Some(json!({"schema": as_descriptor, "schemaType": "PROTOBUF", "references": refs})),
    )
    .await;
    assert_eq!(
        (s, v["id"].as_i64(), v["version"].as_i64()),
        (200, Some(root_id), Some(1)),
        "{v}"
    );
    // The references are listed as registered.
    let (_, v) = call("GET", &format!("{url}/schemas/ids/{root_id}"), None).await;
    assert_eq!(v["references"], refs);
    r.stop().await;
}

#[tokio::test]
async fn serialized_format_resolves_references_in_either_form() {
    let r = memory().await;
    let url = r.url.as_str();
    // money.proto as text (it imports a well-known file), address.proto as a descriptor,
    // line.proto as a descriptor that references both, the root as text.
    register_file(url, "shop/common/money.proto", MONEY).await;
    register_file(url, "shop/common/address.proto", &descriptor(ADDRESS, &[])).await;
    let line_refs = json!([
        reference("shop/common/money.proto", 1),
        reference("shop/common/address.proto", 1)
    ]);
    let line = descriptor(
        LINE,
        &[
            ("shop/common/money.proto", MONEY),
            ("shop/common/address.proto", ADDRESS),
        ],
    );
    registered_id(url, "shop/lines/line.proto", &line, line_refs).await;
    let root = "syntax = \"proto3\";\npackage shop;\nimport \"shop/lines/line.proto\";\n\
                message Order { repeated shop.lines.Line lines = 1; }\n";
    let id = registered_id(
        url,
        "orders-value",
        root,
        json!([reference("shop/lines/line.proto", 1)]),
    )
    .await;

    let decode = |v: &Value| {
        let b64 = v["schema"].as_str().unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap_or_else(|e| panic!("not base64 ({e}): {b64}"));
        FileDescriptorProto::decode(bytes.as_slice()).unwrap()
    };
    let (s, v) = call(
        "GET",
        &format!("{url}/schemas/ids/{id}?format=serialized"),
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let fdp = decode(&v);
    assert_eq!(fdp.dependency, ["shop/lines/line.proto"]);
    assert_eq!(fdp.message_type[0].name(), "Order");
    // What Confluent's Python deserializer asks for each reference.
    let (s, v) = call(
        "GET",
        &format!(
            "{url}/subjects/shop%2Flines%2Fline.proto/versions/1?deleted=true&format=serialized"
        ),
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let fdp = decode(&v);
    assert_eq!(
        fdp.dependency,
        ["shop/common/money.proto", "shop/common/address.proto"]
    );
    assert_eq!(fdp.package(), "shop.lines");
    // The option from money.proto survives on the field.
    let price = &fdp.message_type[0].field[0];
    assert!(price.options.is_some(), "{price:?}");
    let (s, v) = call(
        "GET",
        &format!("{url}/subjects/shop%2Fcommon%2Fmoney.proto/versions/1?format=serialized"),
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(decode(&v).dependency, ["google/protobuf/descriptor.proto"]);
    r.stop().await;
}

#[tokio::test]
async fn compatibility_checks_resolve_descriptor_references_transitively() {
    let r = memory().await;
    let url = r.url.as_str();
    register_file(url, "shop/common/address.proto", &descriptor(ADDRESS, &[])).await;
    register_file(url, "shop/common/contact.proto", &descriptor(CONTACT, &[])).await;
    let deps = [
        ("shop/common/address.proto", ADDRESS),
        ("shop/common/contact.proto", CONTACT),
    ];
    let refs = json!([
        reference("shop/common/address.proto", 1),
        reference("shop/common/contact.proto", 1)
    ]);
    let (s, _) = call(
        "PUT",
        &format!("{url}/config/shipments-value"),
        Some(json!({"compatibility": "BACKWARD_TRANSITIVE"})),
    )
    .await;
    assert_eq!(s, 200);
    // v1 as a descriptor, v2 (adds a field) as text.
    registered_id(
        url,
        "shipments-value",
        &descriptor(&shipment(""), &deps),
        refs.clone(),
    )
    .await;
    registered_id(
        url,
        "shipments-value",
        &shipment("string note = 3;"),
        refs.clone(),
    )
    .await;
    // v3 turns `to` from an imported Address into an imported Contact: incompatible with both.
    let v3 =
        shipment("string note = 3;").replace("shop.common.Address to", "shop.common.Contact to");
    for form in [v3.clone(), descriptor(&v3, &deps)] {
        let (s, v) = register(url, "shipments-value", &form, refs.clone()).await;
        assert_eq!((s, v["error_code"].as_i64()), (409, Some(409)), "{v}");
        let (s, v) = call(
            "POST",
            &format!("{url}/compatibility/subjects/shipments-value/versions?verbose=true"),
            Some(json!({"schema": form, "schemaType": "PROTOBUF", "references": refs})),
        )
        .await;
        assert_eq!((s, v["is_compatible"].as_bool()), (200, Some(false)), "{v}");
        let messages = v["messages"].to_string();
        assert!(messages.contains("Shipment"), "{messages}");
    }
    // The same change checked against version 1 alone (a descriptor).
    let (s, v) = call(
        "POST",
        &format!("{url}/compatibility/subjects/shipments-value/versions/1"),
        Some(
            json!({"schema": descriptor(&v3, &deps), "schemaType": "PROTOBUF", "references": refs}),
        ),
    )
    .await;
    assert_eq!((s, v["is_compatible"].as_bool()), (200, Some(false)), "{v}");
    r.stop().await;
}
