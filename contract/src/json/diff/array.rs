//! Array schemas: items (one schema or a tuple), additionalItems and item counts.

use super::{all_compatible, is_empty_like, limit, schema, Ctx};
use crate::json::model::{Additional, Kind};

pub(super) fn array(ctx: &mut Ctx, o: &Kind, u: &Kind) {
    let (
        Kind::Array {
            all_items: oi,
            item_schemas: ois,
            additional: oa,
            min_items: omin,
            max_items: omax,
            unique_items: ouq,
        },
        Kind::Array {
            all_items: ui,
            item_schemas: uis,
            additional: ua,
            min_items: umin,
            max_items: umax,
            unique_items: uuq,
        },
    ) = (o, u)
    else {
        return;
    };
    ctx.enter("items");
    schema(ctx, *oi, *ui);
    ctx.leave();

    let open = |a: &Additional| a.permits && a.schema.is_none();
    let common = ois.len().min(uis.len());
    for idx in 0..ois.len().max(uis.len()) {
        ctx.enter(&format!("items/{idx}"));
        match (ois.get(idx).copied(), uis.get(idx).copied()) {
            (Some(x), Some(y)) if idx < common => schema(ctx, Some(x), Some(y)),
            (Some(x), None) => {
                if open(ua) {
                    ctx.add("ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL");
                } else if let Some(ps) = ua.schema {
                    let d = ctx.sub(|c| schema(c, Some(x), Some(ps)));
                    let ok = all_compatible(&d);
                    ctx.diffs.extend(d);
                    ctx.add(if ok {
                        "ITEM_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
                    } else {
                        "ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
                    });
                } else if matches!(ctx.o.node(ctx.o.deref(x)).kind, Kind::False) {
                    ctx.add("ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL");
                } else {
                    ctx.add("ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL");
                }
            }
            (None, Some(y)) => {
                if open(oa) {
                    let empty = is_empty_like(&ctx.u.node(ctx.u.deref(y)).kind);
                    ctx.add(if empty {
                        "ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL"
                    } else {
                        "ITEM_ADDED_TO_OPEN_CONTENT_MODEL"
                    });
                } else if let Some(ps) = oa.schema {
                    let d = ctx.sub(|c| schema(c, Some(ps), Some(y)));
                    let ok = all_compatible(&d);
                    ctx.diffs.extend(d);
                    ctx.add(if ok {
                        "ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
                    } else {
                        "ITEM_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
                    });
                } else {
                    ctx.add("ITEM_ADDED_TO_CLOSED_CONTENT_MODEL");
                }
            }
            _ => {}
        }
        ctx.leave();
    }

    ctx.enter("additionalItems");
    if oa.permits != ua.permits {
        ctx.add(if oa.permits {
            "ADDITIONAL_ITEMS_REMOVED"
        } else {
            "ADDITIONAL_ITEMS_ADDED"
        });
    } else {
        match (oa.schema, ua.schema) {
            (None, Some(_)) => ctx.add("ADDITIONAL_ITEMS_NARROWED"),
            (Some(_), None) => ctx.add("ADDITIONAL_ITEMS_EXTENDED"),
            (a, b) => schema(ctx, a, b),
        }
    }
    ctx.leave();

    let f = |v: &Option<u64>| v.map(|x| x as f64);
    limit(ctx, "maxItems", f(omax), f(umax), "MAX_ITEMS");
    limit(ctx, "minItems", f(omin), f(umin), "MIN_ITEMS");
    if ouq != uuq {
        ctx.add_at(
            "uniqueItems",
            if *ouq {
                "UNIQUE_ITEMS_REMOVED"
            } else {
                "UNIQUE_ITEMS_ADDED"
            },
        );
    }
}
