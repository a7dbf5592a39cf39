//! The canonical text of a Protobuf schema: `.proto` source re-printed from the compiled
//! descriptor, so comments, whitespace, ordering of options and name qualification no longer
//! matter. Declarations keep their order (it gives messages their wire indexes).

use std::fmt::Write;

use prost_reflect::{
    DynamicMessage, EnumDescriptor, FieldDescriptor, FileDescriptor, Kind, MessageDescriptor,
    Syntax,
};

/// Prints `file` as normalized `.proto` text.
pub(crate) fn print(file: &FileDescriptor) -> String {
    let mut out = String::new();
    let syntax = match file.syntax() {
        Syntax::Proto2 => "proto2",
        _ => "proto3",
    };
    let _ = writeln!(out, "syntax = \"{syntax}\";");
    if !file.package_name().is_empty() {
        let _ = writeln!(out, "package {};", file.package_name());
    }
    let proto = file.file_descriptor_proto();
    let mut imports: Vec<(String, bool)> = proto
        .dependency
        .iter()
        .enumerate()
        .map(|(i, d)| (d.clone(), proto.public_dependency.contains(&(i as i32))))
        .collect();
    imports.sort();
    for (dep, public) in imports {
        let _ = writeln!(
            out,
            "import {}\"{dep}\";",
            if public { "public " } else { "" }
        );
    }
    options(&mut out, "", &file.options());
    for m in file.messages() {
        message(&mut out, 0, &m);
    }
    for e in file.enums() {
        enumeration(&mut out, 0, &e);
    }
    for ext in file.extensions() {
        let _ = writeln!(
            out,
            "extend .{} {{ {} {} = {}; }}",
            ext.containing_message().full_name(),
            type_name(&ext.kind()),
            ext.name(),
            ext.number()
        );
    }
    for s in file.services() {
        let _ = writeln!(out, "service {} {{", s.name());
        for m in s.methods() {
            let _ = writeln!(
                out,
                "  rpc {}({}.{}) returns ({}.{});",
                m.name(),
                if m.is_client_streaming() {
                    "stream ."
                } else {
                    ""
                },
                m.input().full_name(),
                if m.is_server_streaming() {
                    "stream ."
                } else {
                    ""
                },
                m.output().full_name()
            );
        }
        out.push_str("}\n");
    }
    out
}

fn options(out: &mut String, indent: &str, opts: &DynamicMessage) {
    for (f, v) in opts.fields() {
        let _ = writeln!(out, "{indent}option {} = {v};", f.name());
    }
    for (e, v) in opts.extensions() {
        let _ = writeln!(out, "{indent}option ({}) = {v};", e.full_name());
    }
}

fn inline_options(opts: &DynamicMessage) -> String {
    let mut parts: Vec<String> = opts
        .fields()
        .map(|(f, v)| format!("{} = {v}", f.name()))
        .collect();
    parts.extend(
        opts.extensions()
            .map(|(e, v)| format!("({}) = {v}", e.full_name())),
    );
    if parts.is_empty() {
        String::new()
    } else {
        format!(" [{}]", parts.join(", "))
    }
}

fn type_name(kind: &Kind) -> String {
    match kind {
        Kind::Double => "double".into(),
        Kind::Float => "float".into(),
        Kind::Int32 => "int32".into(),
        Kind::Int64 => "int64".into(),
        Kind::Uint32 => "uint32".into(),
        Kind::Uint64 => "uint64".into(),
        Kind::Sint32 => "sint32".into(),
        Kind::Sint64 => "sint64".into(),
        Kind::Fixed32 => "fixed32".into(),
        Kind::Fixed64 => "fixed64".into(),
        Kind::Sfixed32 => "sfixed32".into(),
        Kind::Sfixed64 => "sfixed64".into(),
        Kind::Bool => "bool".into(),
        Kind::String => "string".into(),
        Kind::Bytes => "bytes".into(),
        Kind::Message(m) => format!(".{}", m.full_name()),
        Kind::Enum(e) => format!(".{}", e.full_name()),
    }
}

fn field(out: &mut String, pad: &str, f: &FieldDescriptor) {
    let ty = match f.kind() {
        Kind::Message(entry) if f.is_map() => format!(
            "map<{}, {}>",
            type_name(&entry.map_entry_key_field().kind()),
            type_name(&entry.map_entry_value_field().kind())
        ),
        k => type_name(&k),
    };
    let proto = f.field_descriptor_proto();
    let label = if f.is_map() || f.containing_oneof().is_some_and(|o| !o.is_synthetic()) {
        ""
    } else if f.is_list() {
        "repeated "
    } else if f.is_required() {
        "required "
    } else if proto.proto3_optional() || f.parent_file().syntax() == Syntax::Proto2 {
        "optional "
    } else {
        ""
    };
    let mut opts = inline_options(&f.options());
    if let Some(d) = &proto.default_value {
        let d = format!("default = {d:?}");
        opts = if opts.is_empty() {
            format!(" [{d}]")
        } else {
            format!(" [{d}, {}", &opts[2..])
        };
    }
    let _ = writeln!(out, "{pad}{label}{ty} {} = {}{opts};", f.name(), f.number());
}

fn message(out: &mut String, depth: usize, m: &MessageDescriptor) {
    if m.is_map_entry() {
        return;
    }
    let pad = "  ".repeat(depth);
    let inner = "  ".repeat(depth + 1);
    let _ = writeln!(out, "{pad}message {} {{", m.name());
    options(out, &inner, &m.options());
    let mut printed_oneofs = Vec::new();
    for f in m.fields() {
        match f.containing_oneof().filter(|o| !o.is_synthetic()) {
            Some(o) if printed_oneofs.contains(&o.name().to_string()) => {}
            Some(o) => {
                printed_oneofs.push(o.name().to_string());
                let _ = writeln!(out, "{inner}oneof {} {{", o.name());
                for of in o.fields() {
                    field(out, &"  ".repeat(depth + 2), &of);
                }
                let _ = writeln!(out, "{inner}}}");
            }
            None => field(out, &inner, &f),
        }
    }
    let ranges: Vec<String> = m
        .reserved_ranges()
        .map(|r| format!("{} to {}", r.start, r.end.saturating_sub(1)))
        .collect();
    if !ranges.is_empty() {
        let _ = writeln!(out, "{inner}reserved {};", ranges.join(", "));
    }
    let names: Vec<String> = m.reserved_names().map(|n| format!("\"{n}\"")).collect();
    if !names.is_empty() {
        let _ = writeln!(out, "{inner}reserved {};", names.join(", "));
    }
    let ext: Vec<String> = m
        .extension_ranges()
        .map(|r| format!("{} to {}", r.start, r.end.saturating_sub(1)))
        .collect();
    if !ext.is_empty() {
        let _ = writeln!(out, "{inner}extensions {};", ext.join(", "));
    }
    for c in m.child_messages() {
        message(out, depth + 1, &c);
    }
    for e in m.child_enums() {
        enumeration(out, depth + 1, &e);
    }
    let _ = writeln!(out, "{pad}}}");
}

fn enumeration(out: &mut String, depth: usize, e: &EnumDescriptor) {
    let pad = "  ".repeat(depth);
    let inner = "  ".repeat(depth + 1);
    let _ = writeln!(out, "{pad}enum {} {{", e.name());
    options(out, &inner, &e.options());
    for v in e.values() {
        let _ = writeln!(
            out,
            "{inner}{} = {}{};",
            v.name(),
            v.number(),
            inline_options(&v.options())
        );
    }
    let ranges: Vec<String> = e
        .reserved_ranges()
        .map(|r| format!("{} to {}", r.start(), r.end()))
        .collect();
    if !ranges.is_empty() {
        let _ = writeln!(out, "{inner}reserved {};", ranges.join(", "));
    }
    let _ = writeln!(out, "{pad}}}");
}
