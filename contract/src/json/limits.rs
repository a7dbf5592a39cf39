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
