//! How deep a decoder that recurses once per record, union, array and map value (as
//! apache-avro's does, with no limit of its own) can go on a datum of a given length.
//!
//! Our own readers are bounded (`MAX_NESTING` in the walker and the programs); apache-avro's
//! decoder, encoder, `Clone`, `Debug` and `Drop` of its values are not. The differential fuzz
//! target hands apache-avro hostile bytes under hostile schemas, and a deep enough datum
//! overflowed its stack (SIGSEGV, docs/RELIABILITY.md). This bound is what it checks first.
//!
//! Everything here is iterative: the schema graph itself is hostile too.

use super::model::{Kind, Model, NodeId};

/// The `i`-th child of `id` and whether stepping to it reads at least one byte of the datum:
/// a union's branch index, an array's or a map's block count (a map's key too) come before
/// the value; a record's field does not.
fn child(model: &Model, id: NodeId, i: usize) -> Option<(NodeId, bool)> {
    match &model.node(id).kind {
        Kind::Record(r) => r.fields.get(i).map(|f| (f.ty, false)),
        Kind::Union(branches) => branches.get(i).map(|b| (*b, true)),
        Kind::Array(items) | Kind::Map(items) => (i == 0).then_some((*items, true)),
        Kind::Primitive(_) | Kind::Enum(_) | Kind::Fixed(_) => None,
    }
}

/// The nodes reachable from the root.
fn reachable(model: &Model) -> Vec<NodeId> {
    let mut seen = vec![false; model.nodes.len()];
    let mut out = Vec::new();
    let mut stack = vec![model.root];
    while let Some(id) = stack.pop() {
        if std::mem::replace(&mut seen[id], true) {
            continue;
        }
        out.push(id);
        let mut i = 0;
        while let Some((c, _)) = child(model, id, i) {
            stack.push(c);
            i += 1;
        }
    }
    out
}

/// For every node reached from `starts` over the edges `follow` keeps, the most nodes on a
/// path starting there; `None` when those edges reach a cycle.
fn longest(model: &Model, starts: &[NodeId], follow: impl Fn(bool) -> bool) -> Option<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        New,
        Open,
        Done,
    }
    let mut state = vec![State::New; model.nodes.len()];
    let mut most = vec![0usize; model.nodes.len()];
    for &start in starts {
        if state[start] == State::Done {
            continue;
        }
        state[start] = State::Open;
        // (node, index of the next child to look at)
        let mut stack = vec![(start, 0usize)];
        while let Some((id, i)) = stack.last().copied() {
            match child(model, id, i) {
                Some((c, reads)) => {
                    if let Some(top) = stack.last_mut() {
                        top.1 += 1;
                    }
                    if !follow(reads) {
                        continue;
                    }
                    match state[c] {
                        State::Open => return None,
                        State::New => {
                            state[c] = State::Open;
                            stack.push((c, 0));
                        }
                        State::Done => {}
                    }
                }
                None => {
                    let mut deepest = 0;
                    let mut j = 0;
                    while let Some((c, reads)) = child(model, id, j) {
                        if follow(reads) {
                            deepest = deepest.max(most[c]);
                        }
                        j += 1;
                    }
                    most[id] = deepest + 1;
                    state[id] = State::Done;
                    stack.pop();
                }
            }
        }
    }
    Some(most)
}

/// The most levels (records, unions, arrays, maps and leaves on one path) a recursive decoder
/// can be inside at once while reading at most `len` bytes as one datum of `model`'s root.
///
/// - Without recursion it is the longest path through the schema, whatever `len` is (named
///   types used by name count in full: a chain of records defined one after another is deep
///   although its JSON is flat).
/// - With recursion every cycle must read a byte per turn (through a union, array or map);
///   then between two bytes there are at most as many levels as the longest path of records
///   alone, and the bound is that times `len + 1`.
/// - `None` when a cycle of records alone is reachable (a record holding itself with no union,
///   array or map between): such a decoder recurses forever without reading anything.
pub(crate) fn decode_depth_bound(model: &Model, len: usize) -> Option<usize> {
    if let Some(most) = longest(model, &[model.root], |_| true) {
        return Some(most[model.root]);
    }
    let reached = reachable(model);
    let most = longest(model, &reached, |reads| !reads)?;
    let between = reached.iter().map(|&id| most[id]).max().unwrap_or(1);
    Some(len.saturating_add(1).saturating_mul(between))
}
