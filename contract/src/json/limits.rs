//! Limits on hostile schemas, checked before any recursive library sees them.
//!
//! Nesting is measured the way a validator walks it: into objects and arrays, and through
//! every `$ref` to its target. A long chain of `$ref`s is as deep as a deeply nested document
//! (the `jsonschema` crate, for one, follows such chains recursively and can overflow the
//! stack), so both count against the same budget.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::model::resolve_ref;

/// Deepest nesting (document levels plus `$ref` hops) a schema may reach.
pub(crate) const MAX_EFFECTIVE_DEPTH: usize = 128;

/// Checks that no path through the documents (`""` is the root) is deeper than the limit.
pub(crate) fn check_effective_depth(docs: &HashMap<String, Value>) -> Result<(), String> {
    let mut walk = Walk {
        docs,
        done: HashMap::new(),
        active: HashSet::new(),
    };
    let root = docs.get("").ok_or("schema document missing")?;
    walk.value("", root, 0).map(|_| ())
}

struct Walk<'a> {
    docs: &'a HashMap<String, Value>,
    /// Depth below each `$ref` target already measured.
    done: HashMap<(String, String), usize>,
    /// Targets being measured now: a cycle adds nothing (validators handle recursion lazily).
    active: HashSet<(String, String)>,
}

impl Walk<'_> {
    /// Returns the depth below `v`, failing as soon as `level + depth` exceeds the limit.
    fn value(&mut self, doc: &str, v: &Value, level: usize) -> Result<usize, String> {
        if level > MAX_EFFECTIVE_DEPTH {
            return Err(format!(
                "schema nests deeper than {MAX_EFFECTIVE_DEPTH} levels (counting $ref hops)"
            ));
        }
        let mut below = 0;
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    below = below.max(self.reference(doc, r, level)?);
                }
                for child in m.values() {
                    below = below.max(1 + self.value(doc, child, level + 1)?);
                }
            }
            Value::Array(a) => {
                for child in a {
                    below = below.max(1 + self.value(doc, child, level + 1)?);
                }
            }
            _ => {}
        }
        Ok(below)
    }

    fn reference(&mut self, doc: &str, r: &str, level: usize) -> Result<usize, String> {
        let key = resolve_ref(self.docs, doc, r);
        if let Some(&d) = self.done.get(&key) {
            if level + 1 + d > MAX_EFFECTIVE_DEPTH {
                return Err(format!(
                    "schema nests deeper than {MAX_EFFECTIVE_DEPTH} levels (counting $ref hops)"
                ));
            }
            return Ok(1 + d);
        }
        if !self.active.insert(key.clone()) {
            return Ok(0);
        }
        let target = self.docs.get(&key.0).and_then(|d| {
            if key.1.is_empty() {
                Some(d)
            } else {
                d.pointer(&key.1)
            }
        });
        let d = match target {
            Some(t) => self.value(&key.0, t, level + 1)?,
            None => 0,
        };
        self.active.remove(&key);
        self.done.insert(key, d);
        Ok(1 + d)
    }
}

/// Keywords whose subschemas apply to the same instance (no descent into the data).
const IN_PLACE: &[&str] = &[
    "allOf",
    "anyOf",
    "oneOf",
    "not",
    "if",
    "then",
    "else",
    "dependentSchemas",
    "dependencies",
];

/// Rejects a `$ref` cycle that never descends into the instance (`x = anyOf[x, ...]`): a
/// validator would recurse on the same value forever.
pub(crate) fn check_left_recursion(docs: &HashMap<String, Value>) -> Result<(), String> {
    let mut targets = Vec::new();
    for (name, doc) in docs {
        collect_refs(docs, name, doc, &mut targets, 0);
    }
    let mut state: HashMap<(String, String), bool> = HashMap::new(); // false = on stack
    targets.push((String::new(), String::new()));
    for t in targets {
        visit(docs, t, &mut state, 0)?;
    }
    Ok(())
}

fn collect_refs(
    docs: &HashMap<String, Value>,
    doc: &str,
    v: &Value,
    out: &mut Vec<(String, String)>,
    level: usize,
) {
    if level > MAX_EFFECTIVE_DEPTH {
        return;
    }
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.push(resolve_ref(docs, doc, r));
            }
            for c in m.values() {
                collect_refs(docs, doc, c, out, level + 1);
            }
        }
        Value::Array(a) => {
            for c in a {
                collect_refs(docs, doc, c, out, level + 1);
            }
        }
        _ => {}
    }
}

/// `$ref` targets reachable from `v` without descending into the instance.
fn in_place_refs(
    docs: &HashMap<String, Value>,
    doc: &str,
    v: &Value,
    out: &mut Vec<(String, String)>,
    level: usize,
) {
    let Value::Object(m) = v else {
        return;
    };
    if level > MAX_EFFECTIVE_DEPTH {
        return;
    }
    if let Some(Value::String(r)) = m.get("$ref") {
        out.push(resolve_ref(docs, doc, r));
    }
    for kw in IN_PLACE {
        match m.get(*kw) {
            Some(Value::Array(subs)) => {
                for s in subs {
                    in_place_refs(docs, doc, s, out, level + 1);
                }
            }
            Some(Value::Object(o)) if matches!(*kw, "dependentSchemas" | "dependencies") => {
                for s in o.values() {
                    in_place_refs(docs, doc, s, out, level + 1);
                }
            }
            Some(s @ Value::Object(_)) => in_place_refs(docs, doc, s, out, level + 1),
            _ => {}
        }
    }
}

fn visit(
    docs: &HashMap<String, Value>,
    key: (String, String),
    state: &mut HashMap<(String, String), bool>,
    level: usize,
) -> Result<(), String> {
    match state.get(&key) {
        Some(true) => return Ok(()),
        Some(false) => {
            return Err(format!(
                "$ref cycle through #{} never descends into the data (left recursion)",
                key.1
            ))
        }
        None => {}
    }
    if level > MAX_EFFECTIVE_DEPTH {
        return Err(format!(
            "schema nests deeper than {MAX_EFFECTIVE_DEPTH} levels (counting $ref hops)"
        ));
    }
    state.insert(key.clone(), false);
    let target = docs.get(&key.0).and_then(|d| {
        if key.1.is_empty() {
            Some(d)
        } else {
            d.pointer(&key.1)
        }
    });
    if let Some(t) = target {
        let mut next = Vec::new();
        in_place_refs(docs, &key.0, t, &mut next, 0);
        for n in next {
            visit(docs, n, state, level + 1)?;
        }
    }
    state.insert(key, true);
    Ok(())
}
