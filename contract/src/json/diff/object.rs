//! Object schemas: required, properties against open/closed/partially open content models,
//! dependencies, additionalProperties and property counts.

use std::collections::BTreeSet;

use super::{all_compatible, is_empty_like, limit, schema, Ctx};
use crate::json::model::{Additional, Kind, Model, NodeId};

fn pattern_matches(pattern: &str, key: &str) -> bool {
    regex::Regex::new(pattern).is_ok_and(|r| r.is_match(key))
}

pub(super) fn object(ctx: &mut Ctx, o: &Kind, u: &Kind) {
    let (
        Kind::Object {
            properties: op,
            required: or,
            additional: oa,
            pattern_properties: opp,
            property_dependencies: opd,
            schema_dependencies: osd,
            min_properties: omin,
            max_properties: omax,
        },
        Kind::Object {
            properties: up,
            required: ur,
            additional: ua,
            pattern_properties: upp,
            property_dependencies: upd,
            schema_dependencies: usd,
            min_properties: umin,
            max_properties: umax,
        },
    ) = (o, u)
    else {
        return;
    };
    let open =
        |a: &Additional, pp: &[(String, NodeId)]| pp.is_empty() && a.schema.is_none() && a.permits;
    let partial = |a: &Additional, pp: &[(String, NodeId)], key: &str| {
        pp.iter()
            .find(|(p, _)| pattern_matches(p, key))
            .map(|(_, s)| *s)
            .or(a.schema)
    };
    let has_default = |m: &Model, id: NodeId| {
        m.node(m.deref(id)).default.is_some() || m.node(id).default.is_some()
    };

    ctx.enter("required");
    for key in op.keys().filter(|k| up.contains_key(*k)) {
        let (was, is) = (or.contains(key), ur.contains(key));
        if was && !is {
            ctx.add_at(key, "REQUIRED_ATTRIBUTE_REMOVED");
        } else if !was && is {
            let d = up.get(key).is_some_and(|id| has_default(ctx.u, *id));
            ctx.add_at(
                key,
                if d {
                    "REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED"
                } else {
                    "REQUIRED_ATTRIBUTE_ADDED"
                },
            );
        }
    }
    ctx.leave();

    ctx.enter("properties");
    let keys: BTreeSet<&String> = op.keys().chain(up.keys()).collect();
    for key in keys {
        ctx.enter(key);
        match (op.get(key).copied(), up.get(key).copied()) {
            (Some(os), None) => {
                if open(ua, upp) {
                    ctx.add("PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL");
                } else if let Some(ps) = partial(ua, upp, key) {
                    let d = ctx.sub(|c| schema(c, Some(os), Some(ps)));
                    let ok = all_compatible(&d);
                    ctx.diffs.extend(d);
                    ctx.add(if ok {
                        "PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
                    } else {
                        "PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
                    });
                } else if matches!(ctx.o.node(ctx.o.deref(os)).kind, Kind::False) {
                    ctx.add("PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL");
                } else {
                    ctx.add("PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL");
                }
            }
            (None, Some(us)) => {
                if open(oa, opp) {
                    let empty = is_empty_like(&ctx.u.node(ctx.u.deref(us)).kind);
                    ctx.add(if empty {
                        "PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL"
                    } else {
                        "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL"
                    });
                } else {
                    if let Some(ps) = partial(oa, opp, key) {
                        let d = ctx.sub(|c| schema(c, Some(ps), Some(us)));
                        let ok = all_compatible(&d);
                        ctx.diffs.extend(d);
                        ctx.add(if ok {
                            "PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
                        } else {
                            "PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
                        });
                    }
                    if ur.contains(key) {
                        let d = has_default(ctx.u, us);
                        ctx.add(if d {
                            "REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL"
                        } else {
                            "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL"
                        });
                    } else {
                        ctx.add("OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL");
                    }
                }
            }
            (Some(os), Some(us)) => schema(ctx, Some(os), Some(us)),
            (None, None) => {}
        }
        ctx.leave();
    }
    ctx.leave();

    ctx.enter("dependencies");
    let keys: BTreeSet<&String> = opd.keys().chain(upd.keys()).collect();
    for key in keys {
        ctx.enter(key);
        match (opd.get(key), upd.get(key)) {
            (Some(_), None) => ctx.add("DEPENDENCY_ARRAY_REMOVED"),
            (None, Some(_)) => ctx.add("DEPENDENCY_ARRAY_ADDED"),
            (Some(a), Some(b)) if a != b => ctx.add(if b.is_superset(a) {
                "DEPENDENCY_ARRAY_EXTENDED"
            } else if a.is_superset(b) {
                "DEPENDENCY_ARRAY_NARROWED"
            } else {
                "DEPENDENCY_ARRAY_CHANGED"
            }),
            _ => {}
        }
        ctx.leave();
    }
    let keys: BTreeSet<&String> = osd.keys().chain(usd.keys()).collect();
    for key in keys {
        ctx.enter(key);
        match (osd.get(key), usd.get(key)) {
            (Some(_), None) => ctx.add("DEPENDENCY_SCHEMA_REMOVED"),
            (None, Some(_)) => ctx.add("DEPENDENCY_SCHEMA_ADDED"),
            (Some(a), Some(b)) => schema(ctx, Some(*a), Some(*b)),
            (None, None) => {}
        }
        ctx.leave();
    }
    ctx.leave();

    ctx.enter("additionalProperties");
    if oa.permits != ua.permits {
        ctx.add(if ua.permits {
            "ADDITIONAL_PROPERTIES_ADDED"
        } else {
            "ADDITIONAL_PROPERTIES_REMOVED"
        });
    } else {
        match (oa.schema, ua.schema) {
            (None, Some(_)) => ctx.add("ADDITIONAL_PROPERTIES_NARROWED"),
            (Some(_), None) => ctx.add("ADDITIONAL_PROPERTIES_EXTENDED"),
            (a, b) => schema(ctx, a, b),
        }
    }
    ctx.leave();

    let f = |v: &Option<u64>| v.map(|x| x as f64);
    limit(ctx, "maxProperties", f(omax), f(umax), "MAX_PROPERTIES");
    limit(ctx, "minProperties", f(omin), f(umin), "MIN_PROPERTIES");
}
