//! Compiling a Protobuf schema at run time: protox parses, prost-reflect checks, and imports
//! come from the schema's resolved references plus the well-known and Confluent files. The
//! schema and every reference may be `.proto` text or a base64 `FileDescriptorProto`.

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

/// One importable file as a client sent it: `.proto` source, or an encoded
/// `FileDescriptorProto` (decoded from base64, already renamed to the name it is imported by).
enum Source {
    Text(String),
    Descriptor(Vec<u8>),
}

impl Source {
    /// Reads `text` in either form Confluent accepts, as the file `name`; `what` names it in
    /// errors ("schema", "reference \"a.proto\"").
    fn read(what: &str, name: &str, text: &str) -> Result<Self, SchemaError> {
        if let Some((bytes, descriptor)) = decode_descriptor(text) {
            if descriptor.syntax.as_deref() == Some("editions") {
                return Err(invalid(format!(
                    "{what}: protobuf editions are not supported"
                )));
            }
            return Ok(Source::Descriptor(renamed(bytes, name)));
        }
        if text.len() > MAX_SOURCE_LEN {
            return Err(invalid(format!("{what} exceeds {MAX_SOURCE_LEN} bytes")));
        }
        reject_editions(text)?;
        check_nesting(what, text)?;
        Ok(Source::Text(text.to_string()))
    }

    fn open(&self, name: &str) -> Result<File, protox::Error> {
        match self {
            Source::Text(source) => File::from_source(name, source),
            // Decoding the bytes (not a prost_types copy) keeps extension options such as
            // Confluent's `(confluent.field_meta)`, which the canonical text prints.
            Source::Descriptor(bytes) => {
                File::decode_file_descriptor_proto(bytes.as_slice()).map_err(protox::Error::new)
            }
        }
    }
}

/// Serves the root, the references and Confluent's files from memory.
struct MemoryFiles {
    files: HashMap<String, Source>,
}

impl FileResolver for MemoryFiles {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        match self.files.get(name) {
            Some(source) => source.open(name),
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
///
/// The schema and each reference may be `.proto` source or a base64 `FileDescriptorProto`
/// (what Confluent's serializers send when they auto-register), mixed freely along the
/// reference graph: a reference is imported under its reference name whatever name its
/// descriptor carries. Both forms of one file get the same canonical text.
pub(crate) fn compile(
    text: &str,
    refs: &[ResolvedReference],
) -> Result<(DescriptorPool, FileDescriptor), SchemaError> {
    let root = Source::read("schema", ROOT_FILE, text)?;
    let mut compiler = compiler_for(refs, root)?;
    compiler
        .open_file(ROOT_FILE)
        .map_err(|e| describe_error(&e, text))?;
    let pool = compiler.descriptor_pool();
    let file = pool
        .get_file_by_name(ROOT_FILE)
        .ok_or_else(|| invalid("compiled pool lacks the schema file".into()))?;
    Ok((pool, file))
}

/// A compiler that resolves imports from `refs`, Confluent's files and the well-known Google
/// files, with `root` under [`ROOT_FILE`].
fn compiler_for(refs: &[ResolvedReference], root: Source) -> Result<protox::Compiler, SchemaError> {
    let mut files = HashMap::new();
    for (name, text) in [
        ("confluent/meta.proto", CONFLUENT_META),
        ("confluent/type/decimal.proto", CONFLUENT_DECIMAL),
    ] {
        files.insert(name.to_string(), Source::Text(text.to_string()));
    }
    for r in refs {
        let what = format!("reference {:?}", r.name);
        files.insert(r.name.clone(), Source::read(&what, &r.name, &r.schema)?);
    }
    files.insert(ROOT_FILE.to_string(), root);
    let mut chain = ChainFileResolver::new();
    chain.add(MemoryFiles { files });
    chain.add(GoogleFileResolver::new());
    let mut compiler = protox::Compiler::with_file_resolver(chain);
    compiler.include_imports(true).include_source_info(false);
    Ok(compiler)
}

/// The encoded `FileDescriptorProto` in `text` when it is base64 (never true of `.proto`
/// source, which always has spaces or semicolons) and decodes as one.
fn decode_descriptor(text: &str) -> Option<(Vec<u8>, FileDescriptorProto)> {
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
    let descriptor = FileDescriptorProto::decode(bytes.as_slice()).ok()?;
    Some((bytes, descriptor))
}

/// `descriptor` (an encoded `FileDescriptorProto`) with its `name` set to `name`.
///
/// Appends the field instead of re-encoding: a later occurrence of a singular field wins when
/// protobuf decodes, and re-encoding through `prost_types` would drop extension options.
pub(crate) fn renamed(mut descriptor: Vec<u8>, name: &str) -> Vec<u8> {
    prost::encoding::string::encode(1, &name.to_string(), &mut descriptor);
    descriptor
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
mod tests;
