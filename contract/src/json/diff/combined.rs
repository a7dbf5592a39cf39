//! Combined schemas (`allOf`/`anyOf`/`oneOf`): criteria, then a maximum matching of
//! compatible subschema pairs.

use std::collections::BTreeSet;

use super::{all_compatible, schema, Ctx, Difference};
use crate::json::model::{Criterion, Model, NodeId};

pub(super) fn combined(
    ctx: &mut Ctx,
    ac: Criterion,
    asubs: &[NodeId],
    bc: Criterion,
    bsubs: &[NodeId],
) {
    let changed = if ac == bc {
        false
    } else {
        let extended = match bc {
            Criterion::Any => true,
            Criterion::One => asubs.len() == 1 || bsubs.len() == 1,
            Criterion::All => asubs.len() == 1 && bsubs.len() == 1,
        };
        ctx.add(if extended {
            "COMBINED_TYPE_EXTENDED"
        } else {
            "COMBINED_TYPE_CHANGED"
        });
        !extended
    };
    if changed {
        return;
    }
    let dedup = |m: &Model, subs: &[NodeId]| -> Vec<NodeId> {
        let mut seen = BTreeSet::new();
        subs.iter()
            .copied()
            .filter(|s| seen.insert(m.node(*s).raw.to_string()))
            .collect()
    };
    let (a, b) = (dedup(ctx.o, asubs), dedup(ctx.u, bsubs));
    if a.len() < b.len() {
        ctx.add(if bc == Criterion::All {
            "PRODUCT_TYPE_EXTENDED"
        } else {
            "SUM_TYPE_EXTENDED"
        });
    } else if a.len() > b.len() {
        ctx.add(if ac == Criterion::All {
            "PRODUCT_TYPE_NARROWED"
        } else {
            "SUM_TYPE_NARROWED"
        });
    }
    // Compatible (original, update) pairs, then a maximum matching over them.
    let mut edges: Vec<Vec<(usize, Vec<Difference>)>> = Vec::new();
    for (i, &x) in a.iter().enumerate() {
        ctx.enter(&format!("{}/{i}", ac.keyword()));
        let mut row = Vec::new();
        for (j, &y) in b.iter().enumerate() {
            let d = ctx.sub(|c| schema(c, Some(x), Some(y)));
            if all_compatible(&d) {
                row.push((j, d));
            }
        }
        edges.push(row);
        ctx.leave();
    }
    let matched = max_matching(&edges, b.len());
    let mut count = 0;
    for (j, i) in matched.iter().enumerate() {
        if let Some(i) = i {
            count += 1;
            if let Some((_, d)) = edges
                .get(*i)
                .and_then(|r| r.iter().find(|(jj, _)| *jj == j))
            {
                ctx.diffs.extend(d.iter().cloned());
            }
        }
    }
    if count < a.len().min(b.len()) {
        ctx.add("COMBINED_TYPE_SUBSCHEMAS_CHANGED");
    }
}

/// Kuhn's augmenting paths; returns, for each right vertex, its matched left vertex.
fn max_matching<T>(edges: &[Vec<(usize, T)>], right: usize) -> Vec<Option<usize>> {
    fn augment<T>(
        i: usize,
        edges: &[Vec<(usize, T)>],
        seen: &mut [bool],
        owner: &mut [Option<usize>],
    ) -> bool {
        for (j, _) in edges.get(i).map(Vec::as_slice).unwrap_or(&[]) {
            if seen.get(*j).copied().unwrap_or(true) {
                continue;
            }
            seen[*j] = true;
            let free = match owner[*j] {
                None => true,
                Some(k) => augment(k, edges, seen, owner),
            };
            if free {
                owner[*j] = Some(i);
                return true;
            }
        }
        false
    }
    let mut owner = vec![None; right];
    for i in 0..edges.len() {
        let mut seen = vec![false; right];
        augment(i, edges, &mut seen, &mut owner);
    }
    owner
}
