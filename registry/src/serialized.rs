//! `?format=serialized` for Protobuf: the schema as a base64 `FileDescriptorProto`, which is
//! what Confluent's Python and Go deserializers ask for and decode.

use std::collections::HashMap;

use base64::Engine;
use contract::ResolvedReference;
use prost::Message;
use protox::file::{ChainFileResolver, File, FileResolver, GoogleFileResolver};

/// Name the schema is compiled under; clients rename the file they decode anyway.
const ROOT_FILE: &str = "schema.proto";

struct MemoryFiles(HashMap<String, String>);

impl FileResolver for MemoryFiles {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        match self.0.get(name) {
            Some(source) => File::from_source(name, source),
            None => Err(protox::Error::file_not_found(name)),
        }
    }
}

/// The base64 `FileDescriptorProto` of `.proto` text whose imports are `refs`; `None` when
/// the text does not compile (e.g. it already is a serialized descriptor).
pub fn protobuf_descriptor(text: &str, refs: &[ResolvedReference]) -> Option<String> {
    let mut files: HashMap<String, String> = refs
        .iter()
        .map(|r| (r.name.clone(), r.schema.clone()))
        .collect();
    files.insert(ROOT_FILE.to_string(), text.to_string());
    let mut chain = ChainFileResolver::new();
    chain.add(MemoryFiles(files));
    chain.add(GoogleFileResolver::new());
    let mut compiler = protox::Compiler::with_file_resolver(chain);
    compiler.include_imports(true).include_source_info(false);
    compiler.open_file(ROOT_FILE).ok()?;
    let file = compiler.descriptor_pool().get_file_by_name(ROOT_FILE)?;
    let bytes = file.file_descriptor_proto().encode_to_vec();
    Some(base64::engine::general_purpose::STANDARD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost_reflect::prost_types::FileDescriptorProto;

    #[test]
    fn encodes_a_decodable_descriptor_with_imports() {
        let dep = ResolvedReference {
            name: "money.proto".into(),
            schema: "syntax = \"proto3\"; package shop; message Money { int64 cents = 1; }".into(),
        };
        let text = "syntax = \"proto3\"; package shop; import \"money.proto\";\n\
                    message Order { Money total = 1; }";
        let b64 = protobuf_descriptor(text, &[dep]).unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        let fdp = FileDescriptorProto::decode(bytes.as_slice()).unwrap();
        assert_eq!(fdp.package.as_deref(), Some("shop"));
        assert_eq!(fdp.dependency, vec!["money.proto".to_string()]);
        assert_eq!(fdp.message_type[0].name.as_deref(), Some("Order"));
        assert!(protobuf_descriptor("not a proto", &[]).is_none());
    }
}
