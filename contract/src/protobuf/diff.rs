//! Confluent's Protobuf schema diff (`SchemaDiff.compare(writer, reader)`), re-implemented
//! over prost-reflect descriptors.
//!
//! Messages and enums are matched by name within their scope, fields by tag. Each change gets
//! one of Confluent's difference kinds; the kinds outside [`DiffKind::is_compatible`] make
//! the pair incompatible. Scalar types are grouped as Confluent groups them (varint numbers
//! with bool and enums; zigzag; 32-bit fixed; 64-bit fixed; string with bytes).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use prost_reflect::{Cardinality, EnumDescriptor, FieldDescriptor, MessageDescriptor};

mod field;

use super::ProtobufSchema;
use field::compare_field;

/// Confluent's `Difference.Type` for Protobuf (plus the newer `ONEOF_FIELD_MOVED_TO_TOP_LEVEL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
pub enum DiffKind {
    /// The file's package differs.
    PACKAGE_CHANGED,
    /// A message exists only in the reader.
    MESSAGE_ADDED,
    /// A message exists only in the writer.
    MESSAGE_REMOVED,
    /// A message changed position (its message index).
    MESSAGE_MOVED,
    /// An enum exists only in the reader.
    ENUM_ADDED,
    /// An enum exists only in the writer.
    ENUM_REMOVED,
    /// An enum number exists only in the reader.
    ENUM_CONST_ADDED,
    /// An enum number changed its name.
    ENUM_CONST_CHANGED,
    /// An enum number exists only in the writer.
    ENUM_CONST_REMOVED,
    /// An optional field exists only in the reader.
    FIELD_ADDED,
    /// An optional field exists only in the writer.
    FIELD_REMOVED,
    /// A tag kept its type but changed its name.
    FIELD_NAME_CHANGED,
    /// A tag changed between scalar, message and map.
    FIELD_KIND_CHANGED,
    /// A scalar tag changed to another encoding group.
    FIELD_SCALAR_KIND_CHANGED,
    /// A message-typed tag refers to a different or incompatible type.
    FIELD_NAMED_TYPE_CHANGED,
    /// A numeric tag changed label (e.g. optional to repeated).
    FIELD_NUMERIC_LABEL_CHANGED,
    /// A string/bytes tag changed label.
    FIELD_STRING_OR_BYTES_LABEL_CHANGED,
    /// A proto2 required field exists only in the reader.
    REQUIRED_FIELD_ADDED,
    /// A proto2 required field exists only in the writer.
    REQUIRED_FIELD_REMOVED,
    /// A oneof exists only in the reader.
    ONEOF_ADDED,
    /// A oneof exists only in the writer.
    ONEOF_REMOVED,
    /// A oneof gained a member.
    ONEOF_FIELD_ADDED,
    /// A oneof member is gone from the reader entirely.
    ONEOF_FIELD_REMOVED,
    /// A oneof member became a plain field.
    ONEOF_FIELD_MOVED_TO_TOP_LEVEL,
    /// Several plain fields were gathered into one oneof.
    MULTIPLE_FIELDS_MOVED_TO_ONEOF,
    /// A oneof now joins fields that could be set together before.
    FIELD_MOVED_TO_EXISTING_ONEOF,
}

impl DiffKind {
    /// Whether Confluent lists this change among `SchemaDiff.COMPATIBLE_CHANGES`.
    pub fn is_compatible(self) -> bool {
        use DiffKind::*;
        matches!(
            self,
            MESSAGE_ADDED
                | MESSAGE_MOVED
                | ENUM_ADDED
                | ENUM_REMOVED
                | ENUM_CONST_ADDED
                | ENUM_CONST_CHANGED
                | ENUM_CONST_REMOVED
                | FIELD_ADDED
                | FIELD_REMOVED
                | FIELD_NAME_CHANGED
                | FIELD_STRING_OR_BYTES_LABEL_CHANGED
                | ONEOF_ADDED
                | ONEOF_REMOVED
                | ONEOF_FIELD_ADDED
                | ONEOF_FIELD_MOVED_TO_TOP_LEVEL
        )
    }

    /// Why an incompatible change breaks readers, in one line.
    pub fn explain(self) -> &'static str {
        use DiffKind::*;
        match self {
            PACKAGE_CHANGED => "package changed: every message gets a new full name",
            MESSAGE_REMOVED => "message removed: data written with it can no longer be read",
            FIELD_KIND_CHANGED => "field changed between scalar, message and map",
            FIELD_SCALAR_KIND_CHANGED => {
                "scalar type changed to one with a different wire encoding"
            }
            FIELD_NAMED_TYPE_CHANGED => {
                "field now refers to a different or incompatible message type"
            }
            FIELD_NUMERIC_LABEL_CHANGED => {
                "numeric field label changed (e.g. optional to repeated): packed encoding differs"
            }
            REQUIRED_FIELD_ADDED => "required field added: data written before it lacks the field",
            REQUIRED_FIELD_REMOVED => {
                "required field removed: readers of the old schema require it"
            }
            ONEOF_FIELD_REMOVED => "field removed from a oneof: its data can no longer be read",
            MULTIPLE_FIELDS_MOVED_TO_ONEOF => {
                "several existing fields moved into one oneof: old data may set more than one"
            }
            FIELD_MOVED_TO_EXISTING_ONEOF => {
                "existing field moved into an existing oneof: old data may set both"
            }
            _ => "compatible change",
        }
    }
}

/// One difference at a Confluent-style path such as `#/Order/3`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// What changed.
    pub kind: DiffKind,
    /// `#/` + message names, oneof names and field tags joined by `/`.
    pub path: String,
    /// Names and types involved, for humans.
    pub detail: String,
}

struct Ctx {
    path: Vec<String>,
    diffs: Vec<Difference>,
    entered: HashSet<String>,
    /// How many imported message types deep the comparison has gone.
    depth: usize,
}

/// Deepest chain of imported message types compared; beyond it the pair is flagged.
const MAX_TYPE_DEPTH: usize = 64;

impl Ctx {
    fn add(&mut self, kind: DiffKind, detail: String) {
        self.diffs.push(Difference {
            kind,
            path: format!("#/{}", self.path.join("/")),
            detail,
        });
    }
    fn compatible(&self) -> bool {
        self.diffs.iter().all(|d| d.kind.is_compatible())
    }
}

/// All differences from `original` (the writer) to `update` (the reader), Confluent's order
/// aside (names and tags are visited sorted, so the output is deterministic).
pub fn compare(original: &ProtobufSchema, update: &ProtobufSchema) -> Vec<Difference> {
    let mut ctx = Ctx {
        path: Vec::new(),
        diffs: Vec::new(),
        entered: HashSet::new(),
        depth: 0,
    };
    let (o, u) = (original.file(), update.file());
    if o.package_name() != u.package_name() {
        ctx.add(
            DiffKind::PACKAGE_CHANGED,
            format!(
                "package {:?} became {:?}",
                o.package_name(),
                u.package_name()
            ),
        );
    }
    compare_types(
        &mut ctx,
        &o.messages().collect::<Vec<_>>(),
        &o.enums().collect::<Vec<_>>(),
        &u.messages().collect::<Vec<_>>(),
        &u.enums().collect::<Vec<_>>(),
    );
    ctx.diffs
}

fn compare_types(
    ctx: &mut Ctx,
    o_msgs: &[MessageDescriptor],
    o_enums: &[EnumDescriptor],
    u_msgs: &[MessageDescriptor],
    u_enums: &[EnumDescriptor],
) {
    let index = |ms: &[MessageDescriptor]| -> BTreeMap<String, (usize, MessageDescriptor)> {
        ms.iter()
            .filter(|m| !m.is_map_entry())
            .enumerate()
            .map(|(i, m)| (m.name().to_string(), (i, m.clone())))
            .collect()
    };
    let (om, um) = (index(o_msgs), index(u_msgs));
    let names: BTreeSet<&String> = om.keys().chain(um.keys()).collect();
    for name in names {
        ctx.path.push(name.clone());
        match (om.get(name), um.get(name)) {
            (Some(_), None) => {
                ctx.add(DiffKind::MESSAGE_REMOVED, format!("message {name} removed"))
            }
            (None, Some(_)) => ctx.add(DiffKind::MESSAGE_ADDED, format!("message {name} added")),
            (Some((oi, o)), Some((ui, u))) => {
                compare_message(ctx, o, u);
                if oi != ui {
                    ctx.add(
                        DiffKind::MESSAGE_MOVED,
                        format!("message {name} moved from index {oi} to {ui}"),
                    );
                }
            }
            (None, None) => {}
        }
        ctx.path.pop();
    }
    let enums = |es: &[EnumDescriptor]| -> BTreeMap<String, EnumDescriptor> {
        es.iter()
            .map(|e| (e.name().to_string(), e.clone()))
            .collect()
    };
    let (oe, ue) = (enums(o_enums), enums(u_enums));
    let names: BTreeSet<&String> = oe.keys().chain(ue.keys()).collect();
    for name in names {
        ctx.path.push(name.clone());
        match (oe.get(name), ue.get(name)) {
            (Some(_), None) => ctx.add(DiffKind::ENUM_REMOVED, format!("enum {name} removed")),
            (None, Some(_)) => ctx.add(DiffKind::ENUM_ADDED, format!("enum {name} added")),
            (Some(o), Some(u)) => compare_enum(ctx, o, u),
            (None, None) => {}
        }
        ctx.path.pop();
    }
}

fn compare_enum(ctx: &mut Ctx, o: &EnumDescriptor, u: &EnumDescriptor) {
    let by_num = |e: &EnumDescriptor| -> BTreeMap<i32, String> {
        e.values()
            .map(|v| (v.number(), v.name().to_string()))
            .collect()
    };
    let (ov, uv) = (by_num(o), by_num(u));
    let nums: BTreeSet<i32> = ov.keys().chain(uv.keys()).copied().collect();
    for n in nums {
        ctx.path.push(n.to_string());
        match (ov.get(&n), uv.get(&n)) {
            (Some(a), None) => ctx.add(DiffKind::ENUM_CONST_REMOVED, format!("{a} = {n} removed")),
            (None, Some(b)) => ctx.add(DiffKind::ENUM_CONST_ADDED, format!("{b} = {n} added")),
            (Some(a), Some(b)) if a != b => {
                ctx.add(DiffKind::ENUM_CONST_CHANGED, format!("{a} renamed {b}"))
            }
            _ => {}
        }
        ctx.path.pop();
    }
}

/// Oneofs that exist in the source (proto3 `optional` makes synthetic ones, which do not).
fn real_oneof(f: &FieldDescriptor) -> Option<String> {
    f.containing_oneof()
        .filter(|o| !o.is_synthetic())
        .map(|o| o.name().to_string())
}

fn compare_message(ctx: &mut Ctx, o: &MessageDescriptor, u: &MessageDescriptor) {
    if ctx.entered.insert(o.full_name().to_string()) {
        compare_fields(ctx, o, u);
        ctx.entered.remove(o.full_name());
    }
    compare_types(
        ctx,
        &o.child_messages().collect::<Vec<_>>(),
        &o.child_enums().collect::<Vec<_>>(),
        &u.child_messages().collect::<Vec<_>>(),
        &u.child_enums().collect::<Vec<_>>(),
    );
}

fn compare_fields(ctx: &mut Ctx, o: &MessageDescriptor, u: &MessageDescriptor) {
    let mut o_top: BTreeMap<u32, FieldDescriptor> = BTreeMap::new();
    let mut u_top: BTreeMap<u32, FieldDescriptor> = BTreeMap::new();
    let mut o_all: BTreeMap<u32, (FieldDescriptor, Option<String>)> = BTreeMap::new();
    let mut u_all: BTreeMap<u32, (FieldDescriptor, Option<String>)> = BTreeMap::new();
    let mut o_oneofs: BTreeMap<String, Vec<FieldDescriptor>> = BTreeMap::new();
    let mut u_oneofs: BTreeMap<String, Vec<FieldDescriptor>> = BTreeMap::new();
    for (fields, top, all, oneofs) in [
        (
            o.fields().collect::<Vec<_>>(),
            &mut o_top,
            &mut o_all,
            &mut o_oneofs,
        ),
        (
            u.fields().collect::<Vec<_>>(),
            &mut u_top,
            &mut u_all,
            &mut u_oneofs,
        ),
    ] {
        for f in fields {
            let oneof = real_oneof(&f);
            match &oneof {
                Some(name) => oneofs.entry(name.clone()).or_default().push(f.clone()),
                None => {
                    top.insert(f.number(), f.clone());
                }
            }
            all.insert(f.number(), (f, oneof));
        }
    }

    // A oneof of the update may only gather fields that were mutually exclusive before:
    // at most one former top-level field, or members of one former oneof.
    for (name, fields) in &u_oneofs {
        ctx.path.push(name.clone());
        let mut moved = 0;
        let mut sources: BTreeSet<&String> = BTreeSet::new();
        for f in fields {
            if o_top.remove(&f.number()).is_some() {
                moved += 1;
            } else if let Some((_, Some(src))) = o_all.get(&f.number()) {
                sources.insert(src);
            }
        }
        if moved > 1 {
            ctx.add(
                DiffKind::MULTIPLE_FIELDS_MOVED_TO_ONEOF,
                format!("{moved} existing fields moved into oneof {name}"),
            );
        } else if moved + sources.len() > 1 {
            ctx.add(
                DiffKind::FIELD_MOVED_TO_EXISTING_ONEOF,
                format!("oneof {name} now joins fields that could be set together before"),
            );
        }
        ctx.path.pop();
    }

    let oneof_names: BTreeSet<&String> = o_oneofs.keys().chain(u_oneofs.keys()).collect();
    for name in oneof_names {
        ctx.path.push(name.clone());
        match (o_oneofs.get(name), u_oneofs.get(name)) {
            (Some(of), None) => {
                ctx.add(DiffKind::ONEOF_REMOVED, format!("oneof {name} removed"));
                for f in of.iter().filter(|f| !u_all.contains_key(&f.number())) {
                    ctx.path.push(f.number().to_string());
                    ctx.add(
                        DiffKind::ONEOF_FIELD_REMOVED,
                        format!("field {} removed with oneof {name}", f.name()),
                    );
                    ctx.path.pop();
                }
            }
            (None, Some(_)) => ctx.add(DiffKind::ONEOF_ADDED, format!("oneof {name} added")),
            (Some(of), Some(uf)) => {
                let ob: BTreeMap<u32, &FieldDescriptor> =
                    of.iter().map(|f| (f.number(), f)).collect();
                let ub: BTreeMap<u32, &FieldDescriptor> =
                    uf.iter().map(|f| (f.number(), f)).collect();
                let tags: BTreeSet<u32> = ob.keys().chain(ub.keys()).copied().collect();
                for tag in tags {
                    ctx.path.push(tag.to_string());
                    match (ob.get(&tag), ub.get(&tag)) {
                        (Some(f), None) if !u_all.contains_key(&tag) => ctx.add(
                            DiffKind::ONEOF_FIELD_REMOVED,
                            format!("field {} removed from oneof {name}", f.name()),
                        ),
                        (None, Some(f)) => ctx.add(
                            DiffKind::ONEOF_FIELD_ADDED,
                            format!("field {} added to oneof {name}", f.name()),
                        ),
                        (Some(a), Some(b)) => compare_field(ctx, a, b),
                        _ => {}
                    }
                    ctx.path.pop();
                }
            }
            (None, None) => {}
        }
        ctx.path.pop();
    }

    let tags: BTreeSet<u32> = o_top.keys().chain(u_top.keys()).copied().collect();
    for tag in tags {
        ctx.path.push(tag.to_string());
        match (o_top.get(&tag), u_top.get(&tag)) {
            (Some(f), None) => {
                let kind = if f.cardinality() == Cardinality::Required {
                    DiffKind::REQUIRED_FIELD_REMOVED
                } else {
                    DiffKind::FIELD_REMOVED
                };
                ctx.add(kind, format!("field {} = {tag} removed", f.name()));
            }
            (None, Some(f)) => {
                let kind = if f.cardinality() == Cardinality::Required {
                    DiffKind::REQUIRED_FIELD_ADDED
                } else if o_all.get(&tag).is_some_and(|(_, one)| one.is_some()) {
                    DiffKind::ONEOF_FIELD_MOVED_TO_TOP_LEVEL
                } else {
                    DiffKind::FIELD_ADDED
                };
                ctx.add(kind, format!("field {} = {tag} added", f.name()));
            }
            (Some(a), Some(b)) => compare_field(ctx, a, b),
            (None, None) => {}
        }
        ctx.path.pop();
    }

    // Fields whose oneof membership changed are compared by tag across the whole message.
    for (tag, (of, oo)) in &o_all {
        let Some((uf, uo)) = u_all.get(tag) else {
            continue;
        };
        let same_place = match (oo, uo) {
            (None, None) => true,
            (Some(a), Some(b)) => a == b,
            _ => false,
        };
        if !same_place {
            ctx.path.push(tag.to_string());
            compare_field(ctx, of, uf);
            ctx.path.pop();
        }
    }
}
