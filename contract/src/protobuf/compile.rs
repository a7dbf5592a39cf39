//! Compiling `.proto` text at run time: protox parses, prost-reflect checks, and imports
//! come from the schema's resolved references plus the well-known and Confluent files.

use std::collections::HashMap;

use prost::Message;
use prost_reflect::prost_types::FileDescriptorProto;
use prost_reflect::{DescriptorPool, FileDescriptor};
use protox::file::{ChainFileResolver, File, FileResolver, GoogleFileResolver};

use crate::schema::{ResolvedReference, SchemaError, SchemaType};

/// Name the schema's own text is compiled under; chosen so no import can collide with it.
pub(crate) const ROOT_FILE: &str = "__schemagate__/root.proto";

/// Largest `.proto` text (schema or reference) accepted, in bytes.
const MAX_SOURCE_LEN: usize = 1 << 20;

/// Deepest `{`/`[`/`(`/`<` nesting accepted: protox parses recursively, so hostile nesting
/// would otherwise overflow the stack (an abort, not a recoverable error).
const MAX_NESTING: usize = 64;

/// Confluent's `confluent/meta.proto`, importable by every schema as Confluent's registry allows.
const CONFLUENT_META: &str = r#"syntax = "proto3";
package confluent;
import "google/protobuf/descriptor.proto";
option go_package = "../confluent";
message Meta {
  string doc = 1;
  map<string, string> params = 2;
  repeated string tags = 3;
}
extend google.protobuf.FileOptions { Meta file_meta = 1088; }
extend google.protobuf.MessageOptions { Meta message_meta = 1088; }
extend google.protobuf.FieldOptions { Meta field_meta = 1088; }
extend google.protobuf.EnumOptions { Meta enum_meta = 1088; }
extend google.protobuf.EnumValueOptions { Meta enum_value_meta = 1088; }
"#;

/// Confluent's `confluent/type/decimal.proto`.
const CONFLUENT_DECIMAL: &str = r#"syntax = "proto3";
package confluent.type;
option go_package = "../types";
message Decimal {
  bytes value = 1;
  uint32 precision = 2;
  int32 scale = 3;
}
"#;

/// Serves the root text, the references and Confluent's files from memory.
struct MemoryFiles {
    files: HashMap<String, String>,
}

impl FileResolver for MemoryFiles {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        match self.files.get(name) {
            Some(source) => File::from_source(name, source),
            None => Err(protox::Error::file_not_found(name)),
        }
    }
}

fn invalid(reason: String) -> SchemaError {
    SchemaError::Invalid {
        schema_type: SchemaType::Protobuf,
        reason,
    }
}

/// Compiles `text` with its references into a pool; returns the pool and the root file.
/// `text` is `.proto` source, or a base64 `FileDescriptorProto` as Confluent's serializers
/// send when they auto-register (both forms of one schema get the same canonical text).
pub(crate) fn compile(
    text: &str,
    refs: &[ResolvedReference],
) -> Result<(DescriptorPool, FileDescriptor), SchemaError> {
    if let Some(descriptor) = decode_descriptor(text) {
        return compile_descriptor(descriptor, refs);
    }
    reject_editions(text)?;
    if text.len() > MAX_SOURCE_LEN {
        return Err(invalid(format!(
            "schema text exceeds {MAX_SOURCE_LEN} bytes"
        )));
    }
    check_nesting("schema", text)?;
    let mut compiler = compiler_for(refs, Some(text))?;
    compiler
        .open_file(ROOT_FILE)
        .map_err(|e| describe_error(&e, text))?;
    let pool = compiler.descriptor_pool();
    let file = pool
        .get_file_by_name(ROOT_FILE)
        .ok_or_else(|| invalid("compiled pool lacks the schema file".into()))?;
    Ok((pool, file))
}

/// A compiler that resolves imports from `refs`, Confluent's files, the well-known Google
/// files and, when given, the root text under [`ROOT_FILE`].
fn compiler_for(
    refs: &[ResolvedReference],
    root: Option<&str>,
) -> Result<protox::Compiler, SchemaError> {
    let mut files = HashMap::new();
    files.insert(
        "confluent/meta.proto".to_string(),
        CONFLUENT_META.to_string(),
    );
    files.insert(
        "confluent/type/decimal.proto".to_string(),
        CONFLUENT_DECIMAL.to_string(),
    );
    for r in refs {
        if r.schema.len() > MAX_SOURCE_LEN {
            return Err(invalid(format!(
                "reference {:?} exceeds {MAX_SOURCE_LEN} bytes",
                r.name
            )));
        }
        reject_editions(&r.schema)?;
        check_nesting(&format!("reference {:?}", r.name), &r.schema)?;
        files.insert(r.name.clone(), r.schema.clone());
    }
    if let Some(text) = root {
        files.insert(ROOT_FILE.to_string(), text.to_string());
    }
    let mut chain = ChainFileResolver::new();
    chain.add(MemoryFiles { files });
    chain.add(GoogleFileResolver::new());
    let mut compiler = protox::Compiler::with_file_resolver(chain);
    compiler.include_imports(true).include_source_info(false);
    Ok(compiler)
}

/// The `FileDescriptorProto` in `text` when it is base64 (never true of `.proto` source,
/// which always has spaces or semicolons).
fn decode_descriptor(text: &str) -> Option<FileDescriptorProto> {
    use base64::Engine;
    let t = text.trim();
    if t.is_empty()
        || t.len() > MAX_SOURCE_LEN
        || !t
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
    {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD.decode(t).ok()?;
    FileDescriptorProto::decode(bytes.as_slice()).ok()
}

/// Builds the pool from a decoded descriptor: its imports are compiled from the references
/// and built-in files, then the descriptor itself is added under [`ROOT_FILE`].
fn compile_descriptor(
    mut descriptor: FileDescriptorProto,
    refs: &[ResolvedReference],
) -> Result<(DescriptorPool, FileDescriptor), SchemaError> {
    if descriptor.syntax.as_deref() == Some("editions") {
        return Err(invalid("protobuf editions are not supported".into()));
    }
    let mut compiler = compiler_for(refs, None)?;
    if !descriptor.dependency.is_empty() {
        compiler
            .open_files(descriptor.dependency.iter().map(String::as_str))
            .map_err(|e| invalid(format!("descriptor import: {e}")))?;
    }
    let mut pool = compiler.descriptor_pool();
    descriptor.name = Some(ROOT_FILE.to_string());
    pool.add_file_descriptor_proto(descriptor)
        .map_err(|e| invalid(format!("invalid file descriptor: {e}")))?;
    let file = pool
        .get_file_by_name(ROOT_FILE)
        .ok_or_else(|| invalid("descriptor pool lacks the schema file".into()))?;
    Ok((pool, file))
}

/// Rejects text whose bracket nesting (outside strings and comments) exceeds [`MAX_NESTING`].
fn check_nesting(what: &str, text: &str) -> Result<(), SchemaError> {
    let bytes = text.as_bytes();
    let (mut depth, mut i, mut line) = (0usize, 0usize, 1usize);
    while let Some(&c) = bytes.get(i) {
        match c {
            b'\n' => line += 1,
            b'"' | b'\'' => {
                i += 1;
                while let Some(&d) = bytes.get(i) {
                    if d == b'\\' {
                        i += 1;
                    } else if d == c || d == b'\n' {
                        break;
                    }
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while bytes.get(i).is_some_and(|&d| d != b'\n') {
                    i += 1;
                }
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while bytes.get(i).is_some()
                    && !(bytes.get(i) == Some(&b'*') && bytes.get(i + 1) == Some(&b'/'))
                {
                    if bytes.get(i) == Some(&b'\n') {
                        line += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'{' | b'[' | b'(' | b'<' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(invalid(format!(
                        "{what} nests deeper than {MAX_NESTING} levels (line {line})"
                    )));
                }
            }
            b'}' | b']' | b')' | b'>' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// protox 0.9 knows only proto2 and proto3; say so plainly instead of a parse error.
fn reject_editions(text: &str) -> Result<(), SchemaError> {
    let uses_editions = text
        .lines()
        .map(str::trim_start)
        .filter_map(|l| l.strip_prefix("edition"))
        .filter_map(|rest| rest.trim_start().strip_prefix('='))
        .any(|value| value.trim_start().starts_with('"'));
    if uses_editions {
        return Err(invalid(
            "protobuf editions (`edition = \"2023\"`) are not supported; use syntax = \"proto2\" or \"proto3\"".into(),
        ));
    }
    Ok(())
}

/// One human line: the compiler's message plus `line N` when it points into the schema text.
fn describe_error(err: &protox::Error, text: &str) -> SchemaError {
    use miette::Diagnostic;
    let mut reason = err.to_string();
    let in_root = err.file().is_none_or(|f| f == ROOT_FILE);
    let offset = err.labels().and_then(|mut l| l.next()).map(|l| l.offset());
    match (in_root, offset) {
        (true, Some(off)) => {
            let upto = text.get(..off.min(text.len())).unwrap_or(text);
            let line = upto.matches('\n').count() + 1;
            let col = upto.rsplit('\n').next().map_or(0, |s| s.chars().count()) + 1;
            reason = format!("{reason} (line {line}, column {col})");
        }
        (false, _) => {
            if let Some(f) = err.file() {
                reason = format!("{reason} (in import {f:?})");
            }
        }
        _ => {}
    }
    invalid(reason.replace(ROOT_FILE, "schema"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_error_names_the_line() {
        let err =
            compile("syntax = \"proto3\";\nmessage A {\n  int32 x = ;\n}\n", &[]).unwrap_err();
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
            schema: "syntax = \"proto3\"; package common; message Money { int64 cents = 1; }"
                .into(),
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
}
