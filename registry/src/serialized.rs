//! `?format=serialized` for Protobuf: the schema as a base64 `FileDescriptorProto`, which is
//! what Confluent's Python and Go deserializers ask for and decode.

use base64::Engine;
use contract::ParsedSchema;

/// The base64 `FileDescriptorProto` of a parsed Protobuf schema (registered as `.proto` text
/// or as a descriptor, with references in either form); `None` for other formats.
pub fn protobuf_descriptor(parsed: &ParsedSchema) -> Option<String> {
    match parsed {
        ParsedSchema::Protobuf(p) => {
            Some(base64::engine::general_purpose::STANDARD.encode(p.serialized()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use contract::{ResolvedReference, SchemaType};
    use prost::Message;
    use prost_reflect::prost_types::FileDescriptorProto;

    fn decode(b64: &str) -> FileDescriptorProto {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        FileDescriptorProto::decode(bytes.as_slice()).unwrap()
    }

    #[test]
    fn encodes_a_decodable_descriptor_with_imports_in_either_form() {
        let dep_text = "syntax = \"proto3\"; package shop; message Money { int64 cents = 1; }";
        let text = "syntax = \"proto3\"; package shop; import \"money.proto\";\n\
                    message Order { Money total = 1; }";
        let as_text = ResolvedReference {
            name: "money.proto".into(),
            schema: dep_text.into(),
        };
        let parsed = ParsedSchema::parse(SchemaType::Protobuf, text, &[as_text]).unwrap();
        let fdp = decode(&protobuf_descriptor(&parsed).unwrap());
        assert_eq!(fdp.name(), "default");
        assert_eq!(fdp.package(), "shop");
        assert_eq!(fdp.dependency, vec!["money.proto".to_string()]);
        assert_eq!(fdp.message_type[0].name(), "Order");

        // The dependency served as a descriptor under another name, and the root as one too.
        let dep = ParsedSchema::parse(SchemaType::Protobuf, dep_text, &[]).unwrap();
        let as_descriptor = ResolvedReference {
            name: "money.proto".into(),
            schema: protobuf_descriptor(&dep).unwrap(),
        };
        let root_b64 = protobuf_descriptor(&parsed).unwrap();
        let again = ParsedSchema::parse(SchemaType::Protobuf, &root_b64, &[as_descriptor]).unwrap();
        assert_eq!(again.canonical(), parsed.canonical());
        assert_eq!(decode(&protobuf_descriptor(&again).unwrap()), fdp);

        let avro = ParsedSchema::parse(SchemaType::Avro, "\"string\"", &[]).unwrap();
        assert!(protobuf_descriptor(&avro).is_none());
    }
}
