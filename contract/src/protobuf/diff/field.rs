//! Field-level comparison: labels, Confluent's scalar groups, maps, and message types
//! (imported message types are compared recursively, local ones where they are declared).

use prost_reflect::{Cardinality, FieldDescriptor, Kind, MessageDescriptor, Syntax};

use super::{compare_message, real_oneof, Ctx, DiffKind, MAX_TYPE_DEPTH};
use crate::protobuf::compile::ROOT_FILE;

/// A field as Confluent's diff sees it.
#[derive(Clone)]
enum FieldType {
    Scalar(&'static str, Kind),
    Message(MessageDescriptor),
    Map(Box<FieldType>, Box<FieldType>),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Label {
    Optional,
    Required,
    Repeated,
}

fn label(f: &FieldDescriptor) -> Option<Label> {
    if real_oneof(f).is_some() || f.is_map() {
        return None;
    }
    match f.cardinality() {
        Cardinality::Repeated => Some(Label::Repeated),
        Cardinality::Required => Some(Label::Required),
        Cardinality::Optional => {
            let explicit = f.parent_file().syntax() == Syntax::Proto2
                || f.field_descriptor_proto().proto3_optional();
            explicit.then_some(Label::Optional)
        }
    }
}

fn field_type(f: &FieldDescriptor) -> FieldType {
    if f.is_map() {
        if let Kind::Message(entry) = f.kind() {
            return FieldType::Map(
                Box::new(kind_type(entry.map_entry_key_field().kind())),
                Box::new(kind_type(entry.map_entry_value_field().kind())),
            );
        }
    }
    kind_type(f.kind())
}

fn kind_type(k: Kind) -> FieldType {
    let name = match &k {
        Kind::Double => "double",
        Kind::Float => "float",
        Kind::Int32 => "int32",
        Kind::Int64 => "int64",
        Kind::Uint32 => "uint32",
        Kind::Uint64 => "uint64",
        Kind::Sint32 => "sint32",
        Kind::Sint64 => "sint64",
        Kind::Fixed32 => "fixed32",
        Kind::Fixed64 => "fixed64",
        Kind::Sfixed32 => "sfixed32",
        Kind::Sfixed64 => "sfixed64",
        Kind::Bool => "bool",
        Kind::String => "string",
        Kind::Bytes => "bytes",
        Kind::Enum(_) => "enum",
        Kind::Message(m) => return FieldType::Message(m.clone()),
    };
    FieldType::Scalar(name, k)
}

/// Confluent's scalar groups: members of one group share a wire encoding.
fn scalar_group(name: &str) -> &'static str {
    match name {
        "int32" | "int64" | "uint32" | "uint64" | "bool" | "enum" => "GENERAL_NUMBER",
        "sint32" | "sint64" => "SIGNED_NUMBER",
        "string" | "bytes" => "STRING_OR_BYTES",
        "fixed32" | "sfixed32" => "FIXED32",
        "fixed64" | "sfixed64" => "FIXED64",
        "float" => "FLOAT",
        _ => "DOUBLE",
    }
}

fn type_label(t: &FieldType) -> String {
    match t {
        FieldType::Scalar("enum", Kind::Enum(e)) => e.full_name().to_string(),
        FieldType::Scalar(n, _) => (*n).to_string(),
        FieldType::Message(m) => m.full_name().to_string(),
        FieldType::Map(k, v) => format!("map<{}, {}>", type_label(k), type_label(v)),
    }
}

pub(super) fn compare_field(ctx: &mut Ctx, o: &FieldDescriptor, u: &FieldDescriptor) {
    if o.name() != u.name() {
        ctx.add(
            DiffKind::FIELD_NAME_CHANGED,
            format!("field {} renamed {}", o.name(), u.name()),
        );
    }
    let detail = format!("field {} ({})", u.name(), o.number());
    compare_type(
        ctx,
        &field_type(o),
        &field_type(u),
        label(o),
        label(u),
        &detail,
    );
}

fn compare_type(
    ctx: &mut Ctx,
    o: &FieldType,
    u: &FieldType,
    ol: Option<Label>,
    ul: Option<Label>,
    detail: &str,
) {
    let change = format!("{detail}: {} became {}", type_label(o), type_label(u));
    match (o, u) {
        (FieldType::Scalar(a, _), FieldType::Scalar(b, _)) => {
            let group = scalar_group(a);
            if group != scalar_group(b) {
                ctx.add(DiffKind::FIELD_SCALAR_KIND_CHANGED, change);
            } else if let (Some(x), Some(y)) = (ol, ul) {
                if x != y {
                    let kind = if group == "STRING_OR_BYTES" {
                        DiffKind::FIELD_STRING_OR_BYTES_LABEL_CHANGED
                    } else {
                        DiffKind::FIELD_NUMERIC_LABEL_CHANGED
                    };
                    ctx.add(kind, format!("{detail}: label changed"));
                }
            }
        }
        (FieldType::Message(a), FieldType::Message(b)) => compare_message_type(ctx, a, b, change),
        (FieldType::Map(ak, av), FieldType::Map(bk, bv)) => {
            compare_type(ctx, ak, bk, None, None, detail);
            compare_type(ctx, av, bv, None, None, detail);
        }
        _ => ctx.add(DiffKind::FIELD_KIND_CHANGED, change),
    }
}

fn local_name(m: &MessageDescriptor) -> String {
    let pkg = m.parent_file().package_name().to_string();
    let full = m.full_name();
    match full.strip_prefix(&format!("{pkg}.")) {
        Some(local) if !pkg.is_empty() => local.to_string(),
        _ => full.to_string(),
    }
}

fn compare_message_type(
    ctx: &mut Ctx,
    o: &MessageDescriptor,
    u: &MessageDescriptor,
    change: String,
) {
    let (ol, ul) = (local_name(o), local_name(u));
    if ol != ul {
        ctx.add(DiffKind::FIELD_NAMED_TYPE_CHANGED, change);
        return;
    }
    // Types local to both schemas are compared where they are declared.
    if o.parent_file().name() == ROOT_FILE && u.parent_file().name() == ROOT_FILE {
        return;
    }
    if ctx.depth >= MAX_TYPE_DEPTH {
        ctx.add(
            DiffKind::FIELD_NAMED_TYPE_CHANGED,
            format!("{change}: message types nest deeper than {MAX_TYPE_DEPTH}, not compared"),
        );
        return;
    }
    let mut sub = Ctx {
        path: ol.split('.').map(str::to_string).collect(),
        diffs: Vec::new(),
        entered: ctx.entered.clone(),
        depth: ctx.depth + 1,
    };
    compare_message(&mut sub, o, u);
    let compatible = sub.compatible();
    ctx.diffs.extend(sub.diffs);
    if !compatible {
        ctx.add(
            DiffKind::FIELD_NAMED_TYPE_CHANGED,
            format!("{change} (incompatible definition)"),
        );
    }
}
