//! Confluent's JSON Schema diff (`JsonSchemaDiff`, strict policy) over the everit-style
//! [`Model`](super::model::Model).
//!
//! Each change gets one of Confluent's difference kinds at a path like
//! `#/properties/age/maximum`; kinds outside [`is_compatible`] make the pair incompatible.
//! Open content models (no `additionalProperties`/`patternProperties`) may lose properties
//! but not gain constrained ones; closed models the other way round.

use std::collections::HashSet;

use serde_json::Value;

mod array;
mod combined;
mod object;

use super::model::{Criterion, Kind, Model, NodeId};

/// Upper bound on schema-pair comparisons per check; hostile `oneOf` nesting cannot explode.
const MAX_STEPS: usize = 200_000;

/// Confluent's compatible changes (strict policy).
const COMPATIBLE: &[&str] = &[
    "ID_CHANGED",
    "DESCRIPTION_CHANGED",
    "TITLE_CHANGED",
    "DEFAULT_CHANGED",
    "SCHEMA_REMOVED",
    "TYPE_EXTENDED",
    "MAX_LENGTH_INCREASED",
    "MAX_LENGTH_REMOVED",
    "MIN_LENGTH_DECREASED",
    "MIN_LENGTH_REMOVED",
    "PATTERN_REMOVED",
    "MAXIMUM_INCREASED",
    "MAXIMUM_REMOVED",
    "MINIMUM_DECREASED",
    "MINIMUM_REMOVED",
    "EXCLUSIVE_MAXIMUM_INCREASED",
    "EXCLUSIVE_MAXIMUM_REMOVED",
    "EXCLUSIVE_MINIMUM_DECREASED",
    "EXCLUSIVE_MINIMUM_REMOVED",
    "MULTIPLE_OF_REDUCED",
    "MULTIPLE_OF_REMOVED",
    "REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED",
    "REQUIRED_ATTRIBUTE_REMOVED",
    "DEPENDENCY_ARRAY_NARROWED",
    "DEPENDENCY_ARRAY_REMOVED",
    "DEPENDENCY_SCHEMA_REMOVED",
    "MAX_PROPERTIES_INCREASED",
    "MAX_PROPERTIES_REMOVED",
    "MIN_PROPERTIES_DECREASED",
    "MIN_PROPERTIES_REMOVED",
    "ADDITIONAL_PROPERTIES_ADDED",
    "ADDITIONAL_PROPERTIES_EXTENDED",
    "PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL",
    "REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL",
    "OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL",
    "PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL",
    "PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL",
    "PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
    "PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
    "MAX_ITEMS_INCREASED",
    "MAX_ITEMS_REMOVED",
    "MIN_ITEMS_DECREASED",
    "MIN_ITEMS_REMOVED",
    "UNIQUE_ITEMS_REMOVED",
    "ADDITIONAL_ITEMS_ADDED",
    "ADDITIONAL_ITEMS_EXTENDED",
    "ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL",
    "ITEM_ADDED_TO_CLOSED_CONTENT_MODEL",
    "ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL",
    "ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL",
    "ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
    "ITEM_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
    "ENUM_ARRAY_EXTENDED",
    "COMBINED_TYPE_EXTENDED",
    "PRODUCT_TYPE_NARROWED",
    "SUM_TYPE_EXTENDED",
    "NOT_TYPE_NARROWED",
];

/// Whether Confluent's strict policy accepts a change of this kind.
pub fn is_compatible(kind: &str) -> bool {
    COMPATIBLE.contains(&kind)
}

/// One difference between two JSON schemas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// Confluent's `Difference.Type` name, e.g. `PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL`.
    pub kind: &'static str,
    /// JSON-pointer-like path into the schema, e.g. `#/properties/age`.
    pub path: String,
}

struct Ctx<'m> {
    o: &'m Model,
    u: &'m Model,
    path: Vec<String>,
    diffs: Vec<Difference>,
    in_progress: HashSet<(NodeId, NodeId)>,
    steps: usize,
    depth: usize,
}

/// Deepest recursion of the comparison (properties, items, branches, `$ref`s).
const MAX_DEPTH: usize = 128;

impl<'m> Ctx<'m> {
    fn add(&mut self, kind: &'static str) {
        self.diffs.push(Difference {
            kind,
            path: format!("#/{}", self.path.join("/")),
        });
    }
    fn add_at(&mut self, attr: &str, kind: &'static str) {
        self.path.push(attr.to_string());
        self.add(kind);
        self.path.pop();
    }
    fn compatible(&self) -> bool {
        self.diffs.iter().all(|d| is_compatible(d.kind))
    }
    /// Runs `f` on a fresh difference list at the same path; returns that list.
    fn sub(&mut self, f: impl FnOnce(&mut Ctx<'m>)) -> Vec<Difference> {
        let saved = std::mem::take(&mut self.diffs);
        f(self);
        std::mem::replace(&mut self.diffs, saved)
    }
    fn enter(&mut self, seg: &str) {
        self.path.push(seg.to_string());
    }
    fn leave(&mut self) {
        self.path.pop();
    }
}

fn all_compatible(d: &[Difference]) -> bool {
    d.iter().all(|d| is_compatible(d.kind))
}

/// Every difference from `original` (writer) to `update` (reader).
pub(crate) fn compare(original: &Model, update: &Model) -> Vec<Difference> {
    let mut ctx = Ctx {
        o: original,
        u: update,
        path: Vec::new(),
        diffs: Vec::new(),
        in_progress: HashSet::new(),
        steps: 0,
        depth: 0,
    };
    schema(&mut ctx, Some(original.root), Some(update.root));
    ctx.diffs
}

/// Kafka Connect's Decimal (`"connect.type": "bytes"`) may be written as a string or a
/// number; Confluent ignores that type change.
fn connect_bytes(a: &Value, b: &Value) -> bool {
    let bytes = |v: &Value| v.get("connect.type").and_then(Value::as_str) == Some("bytes");
    bytes(a) && bytes(b)
}

fn is_empty_like(k: &Kind) -> bool {
    matches!(k, Kind::Empty | Kind::True)
}

fn schema(ctx: &mut Ctx, o: Option<NodeId>, u: Option<NodeId>) {
    if ctx.depth >= MAX_DEPTH {
        return ctx.add("SCHEMA_TOO_COMPLEX_TO_COMPARE");
    }
    ctx.depth += 1;
    compare_nodes(ctx, o, u);
    ctx.depth -= 1;
}

fn compare_nodes(ctx: &mut Ctx, o: Option<NodeId>, u: Option<NodeId>) {
    let (o, u) = match (o, u) {
        (None, None) => return,
        (None, Some(_)) => return ctx.add("SCHEMA_ADDED"),
        (Some(_), None) => return ctx.add("SCHEMA_REMOVED"),
        (Some(o), Some(u)) => (ctx.o.deref(o), ctx.u.deref(u)),
    };
    ctx.steps += 1;
    if ctx.steps > MAX_STEPS {
        return ctx.add("SCHEMA_TOO_COMPLEX_TO_COMPARE");
    }
    let (on, un) = (ctx.o.node(o), ctx.u.node(u));
    match (&on.kind, &un.kind) {
        (ok, Kind::Combined(crit, subs)) if !matches!(ok, Kind::Combined(..)) => {
            if subs.len() == 1 {
                let sub = subs[0];
                let d = ctx.sub(|c| schema(c, Some(o), Some(sub)));
                if all_compatible(&d) {
                    ctx.diffs.extend(d);
                    return;
                }
            } else if matches!(crit, Criterion::Any | Criterion::One) {
                for &sub in subs {
                    let d = ctx.sub(|c| schema(c, Some(o), Some(sub)));
                    if all_compatible(&d) {
                        ctx.diffs.extend(d);
                        ctx.add("SUM_TYPE_EXTENDED");
                        return;
                    }
                }
            }
        }
        (Kind::Combined(crit, subs), uk) if !matches!(uk, Kind::Combined(..)) => {
            if subs.len() == 1 {
                let sub = subs[0];
                let d = ctx.sub(|c| schema(c, Some(sub), Some(u)));
                if all_compatible(&d) {
                    ctx.diffs.extend(d);
                    return;
                }
            } else if *crit == Criterion::All {
                // Keeping one conjunct of an allOf accepts more than before.
                for &sub in subs {
                    let d = ctx.sub(|c| schema(c, Some(sub), Some(u)));
                    if all_compatible(&d) {
                        ctx.diffs.extend(d);
                        ctx.add("PRODUCT_TYPE_NARROWED");
                        return;
                    }
                }
            }
        }
        _ => {}
    }
    if on.kind.class() != un.kind.class() {
        if !(matches!(on.kind, Kind::False)
            || is_empty_like(&un.kind)
            || connect_bytes(&on.raw, &un.raw))
        {
            ctx.add("TYPE_CHANGED");
        }
        return;
    }
    if !ctx.in_progress.insert((o, u)) {
        return;
    }
    if on.id != un.id {
        ctx.add("ID_CHANGED");
    }
    if on.title != un.title {
        ctx.add("TITLE_CHANGED");
    }
    if on.description != un.description {
        ctx.add("DESCRIPTION_CHANGED");
    }
    if on.default != un.default {
        ctx.add("DEFAULT_CHANGED");
    }
    let (ok, uk) = (on.kind.clone(), un.kind.clone());
    match (&ok, &uk) {
        (
            Kind::String {
                min_length: a0,
                max_length: a1,
                pattern: ap,
            },
            Kind::String {
                min_length: b0,
                max_length: b1,
                pattern: bp,
            },
        ) => {
            limit(
                ctx,
                "maxLength",
                a1.map(|v| v as f64),
                b1.map(|v| v as f64),
                "MAX_LENGTH",
            );
            limit(
                ctx,
                "minLength",
                a0.map(|v| v as f64),
                b0.map(|v| v as f64),
                "MIN_LENGTH",
            );
            match (ap, bp) {
                (None, Some(_)) => ctx.add_at("pattern", "PATTERN_ADDED"),
                (Some(_), None) => ctx.add_at("pattern", "PATTERN_REMOVED"),
                (Some(a), Some(b)) if a != b => ctx.add_at("pattern", "PATTERN_CHANGED"),
                _ => {}
            }
        }
        (
            Kind::Number {
                integer: ai,
                minimum: amin,
                maximum: amax,
                exclusive_minimum: aemin,
                exclusive_maximum: aemax,
                multiple_of: am,
            },
            Kind::Number {
                integer: bi,
                minimum: bmin,
                maximum: bmax,
                exclusive_minimum: bemin,
                exclusive_maximum: bemax,
                multiple_of: bm,
            },
        ) => {
            limit(ctx, "maximum", *amax, *bmax, "MAXIMUM");
            limit(ctx, "minimum", *amin, *bmin, "MINIMUM");
            limit(ctx, "exclusiveMaximum", *aemax, *bemax, "EXCLUSIVE_MAXIMUM");
            limit(ctx, "exclusiveMinimum", *aemin, *bemin, "EXCLUSIVE_MINIMUM");
            multiple_of(ctx, *am, *bm);
            if ai != bi {
                ctx.add(if *ai {
                    "TYPE_EXTENDED"
                } else {
                    "TYPE_NARROWED"
                });
            }
        }
        (Kind::Enum(a), Kind::Enum(b)) => {
            let contains_all = |x: &[Value], y: &[Value]| y.iter().all(|v| x.contains(v));
            if !(contains_all(a, b) && contains_all(b, a)) {
                if contains_all(b, a) {
                    ctx.add_at("enum", "ENUM_ARRAY_EXTENDED");
                } else if contains_all(a, b) {
                    ctx.add_at("enum", "ENUM_ARRAY_NARROWED");
                } else {
                    ctx.add_at("enum", "ENUM_ARRAY_CHANGED");
                }
            }
        }
        (Kind::Const(a), Kind::Const(b)) if a != b => {
            ctx.add_at("const", "ENUM_ARRAY_CHANGED");
        }
        (Kind::Not(a), Kind::Not(b)) => {
            ctx.enter("not");
            let (a, b) = (*a, *b);
            // The wrapped schemas swap roles: narrowing what is forbidden widens the type.
            let mut rev = Ctx {
                o: ctx.u,
                u: ctx.o,
                path: ctx.path.clone(),
                diffs: Vec::new(),
                in_progress: HashSet::new(),
                steps: ctx.steps,
                depth: ctx.depth,
            };
            schema(&mut rev, Some(b), Some(a));
            ctx.steps = rev.steps;
            ctx.add(if rev.compatible() {
                "NOT_TYPE_NARROWED"
            } else {
                "NOT_TYPE_EXTENDED"
            });
            ctx.leave();
        }
        (Kind::Combined(ac, asubs), Kind::Combined(bc, bsubs)) => {
            combined::combined(ctx, *ac, asubs, *bc, bsubs)
        }
        (Kind::Object { .. }, Kind::Object { .. }) => object::object(ctx, &ok, &uk),
        (Kind::Array { .. }, Kind::Array { .. }) => array::array(ctx, &ok, &uk),
        _ => {}
    }
    ctx.in_progress.remove(&(o, u));
}

/// A numeric bound: `*_ADDED`, `*_REMOVED`, `*_INCREASED` or `*_DECREASED`.
fn limit(ctx: &mut Ctx, attr: &str, a: Option<f64>, b: Option<f64>, kind: &'static str) {
    let suffix = match (a, b) {
        (None, Some(_)) => "ADDED",
        (Some(_), None) => "REMOVED",
        (Some(x), Some(y)) if x < y => "INCREASED",
        (Some(x), Some(y)) if x > y => "DECREASED",
        _ => return,
    };
    ctx.add_at(attr, intern(kind, suffix));
}

/// Static names for the bound kinds (the compatible set is matched by name).
fn intern(kind: &str, suffix: &str) -> &'static str {
    const NAMES: &[&str] = &[
        "MAX_LENGTH_ADDED",
        "MAX_LENGTH_REMOVED",
        "MAX_LENGTH_INCREASED",
        "MAX_LENGTH_DECREASED",
        "MIN_LENGTH_ADDED",
        "MIN_LENGTH_REMOVED",
        "MIN_LENGTH_INCREASED",
        "MIN_LENGTH_DECREASED",
        "MAXIMUM_ADDED",
        "MAXIMUM_REMOVED",
        "MAXIMUM_INCREASED",
        "MAXIMUM_DECREASED",
        "MINIMUM_ADDED",
        "MINIMUM_REMOVED",
        "MINIMUM_INCREASED",
        "MINIMUM_DECREASED",
        "EXCLUSIVE_MAXIMUM_ADDED",
        "EXCLUSIVE_MAXIMUM_REMOVED",
        "EXCLUSIVE_MAXIMUM_INCREASED",
        "EXCLUSIVE_MAXIMUM_DECREASED",
        "EXCLUSIVE_MINIMUM_ADDED",
        "EXCLUSIVE_MINIMUM_REMOVED",
        "EXCLUSIVE_MINIMUM_INCREASED",
        "EXCLUSIVE_MINIMUM_DECREASED",
        "MAX_PROPERTIES_ADDED",
        "MAX_PROPERTIES_REMOVED",
        "MAX_PROPERTIES_INCREASED",
        "MAX_PROPERTIES_DECREASED",
        "MIN_PROPERTIES_ADDED",
        "MIN_PROPERTIES_REMOVED",
        "MIN_PROPERTIES_INCREASED",
        "MIN_PROPERTIES_DECREASED",
        "MAX_ITEMS_ADDED",
        "MAX_ITEMS_REMOVED",
        "MAX_ITEMS_INCREASED",
        "MAX_ITEMS_DECREASED",
        "MIN_ITEMS_ADDED",
        "MIN_ITEMS_REMOVED",
        "MIN_ITEMS_INCREASED",
        "MIN_ITEMS_DECREASED",
    ];
    let full = format!("{kind}_{suffix}");
    NAMES
        .iter()
        .find(|n| **n == full)
        .copied()
        .unwrap_or("UNKNOWN_CHANGE")
}

fn multiple_of(ctx: &mut Ctx, a: Option<f64>, b: Option<f64>) {
    let divides = |x: f64, y: f64| {
        // y is a multiple of x
        if x == 0.0 {
            return false;
        }
        let q = y / x;
        (q - q.round()).abs() < 1e-9
    };
    let kind = match (a, b) {
        (None, None) => return,
        (Some(x), Some(y)) if x == y => return,
        (None, Some(_)) => "MULTIPLE_OF_ADDED",
        (Some(_), None) => "MULTIPLE_OF_REMOVED",
        (Some(x), Some(y)) if divides(x, y) => "MULTIPLE_OF_EXPANDED",
        (Some(x), Some(y)) if divides(y, x) => "MULTIPLE_OF_REDUCED",
        _ => "MULTIPLE_OF_CHANGED",
    };
    ctx.add_at("multipleOf", kind);
}
