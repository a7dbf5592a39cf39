//! JSON Schema as Confluent's diff sees it: the schema model of the everit library, which
//! Confluent's registry uses. A schema object becomes one typed node (string, number, object,
//! array, ...), a combined node (`allOf`/`anyOf`/`oneOf`), or a synthetic `allOf` of several
//! when its keywords belong to several kinds; `"type": [..]` becomes an `anyOf`.
//!
//! Nodes live in an arena so `$ref` cycles are plain indexes.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

/// Index of a node in [`Model::nodes`].
pub(crate) type NodeId = usize;

/// Which combinator a combined node uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Criterion {
    All,
    Any,
    One,
}

impl Criterion {
    pub(crate) fn keyword(self) -> &'static str {
        match self {
            Criterion::All => "allOf",
            Criterion::Any => "anyOf",
            Criterion::One => "oneOf",
        }
    }
}

/// `additionalProperties` / `additionalItems`: forbidden, open, or constrained by a schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Additional {
    pub permits: bool,
    pub schema: Option<NodeId>,
}

impl Default for Additional {
    fn default() -> Self {
        Additional {
            permits: true,
            schema: None,
        }
    }
}

/// The kind-specific part of a node.
#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Empty,
    True,
    False,
    Null,
    Boolean,
    String {
        min_length: Option<u64>,
        max_length: Option<u64>,
        pattern: Option<String>,
    },
    Number {
        integer: bool,
        minimum: Option<f64>,
        maximum: Option<f64>,
        exclusive_minimum: Option<f64>,
        exclusive_maximum: Option<f64>,
        multiple_of: Option<f64>,
    },
    Object {
        properties: BTreeMap<String, NodeId>,
        required: BTreeSet<String>,
        additional: Additional,
        pattern_properties: Vec<(String, NodeId)>,
        property_dependencies: BTreeMap<String, BTreeSet<String>>,
        schema_dependencies: BTreeMap<String, NodeId>,
        min_properties: Option<u64>,
        max_properties: Option<u64>,
    },
    Array {
        all_items: Option<NodeId>,
        item_schemas: Vec<NodeId>,
        additional: Additional,
        min_items: Option<u64>,
        max_items: Option<u64>,
        unique_items: bool,
    },
    Enum(Vec<Value>),
    Const(Value),
    Not(NodeId),
    Combined(Criterion, Vec<NodeId>),
    Ref(NodeId),
}

impl Kind {
    /// Everit's class name; nodes of different classes are a type change.
    pub(crate) fn class(&self) -> &'static str {
        match self {
            Kind::Empty => "Empty",
            Kind::True => "True",
            Kind::False => "False",
            Kind::Null => "Null",
            Kind::Boolean => "Boolean",
            Kind::String { .. } => "String",
            Kind::Number { .. } => "Number",
            Kind::Object { .. } => "Object",
            Kind::Array { .. } => "Array",
            Kind::Enum(_) => "Enum",
            Kind::Const(_) => "Const",
            Kind::Not(_) => "Not",
            Kind::Combined(..) => "Combined",
            Kind::Ref(_) => "Ref",
        }
    }
}

/// One schema node with the annotations the diff compares.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub kind: Kind,
    pub id: Option<Value>,
    pub title: Option<Value>,
    pub description: Option<Value>,
    pub default: Option<Value>,
    /// The JSON this node was loaded from (combined subschemas are de-duplicated on it).
    pub raw: Value,
}

/// A loaded schema: its nodes and the root.
#[derive(Debug, Clone)]
pub(crate) struct Model {
    pub nodes: Vec<Node>,
    pub root: NodeId,
}

impl Model {
    /// The node behind any chain of `$ref`s.
    pub(crate) fn deref(&self, mut id: NodeId) -> NodeId {
        for _ in 0..64 {
            match self.nodes.get(id).map(|n| &n.kind) {
                Some(Kind::Ref(t)) => id = *t,
                _ => break,
            }
        }
        id
    }

    pub(crate) fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.min(self.nodes.len() - 1)]
    }
}

const OBJECT_KEYWORDS: &[&str] = &[
    "properties",
    "patternProperties",
    "additionalProperties",
    "required",
    "minProperties",
    "maxProperties",
    "dependencies",
    "dependentRequired",
    "dependentSchemas",
    "propertyNames",
];
const ARRAY_KEYWORDS: &[&str] = &[
    "items",
    "prefixItems",
    "additionalItems",
    "minItems",
    "maxItems",
    "uniqueItems",
    "contains",
];
const NUMBER_KEYWORDS: &[&str] = &[
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
];
const STRING_KEYWORDS: &[&str] = &["minLength", "maxLength", "pattern", "format"];

/// Builds a [`Model`] from a schema document and its referenced documents.
pub(crate) struct Loader<'a> {
    docs: &'a HashMap<String, Value>,
    /// Drafts 2019-09 and later apply keywords beside `$ref`; earlier drafts ignore them.
    ref_siblings: bool,
    nodes: Vec<Node>,
    seen: HashMap<(String, String), NodeId>,
    depth: usize,
    too_deep: bool,
}

/// Deepest chain of nested loads (through properties and `$ref`s) before giving up.
pub(crate) const MAX_LOAD_DEPTH: usize = 128;

impl<'a> Loader<'a> {
    /// `docs` maps a document name (`""` for the root) to its JSON.
    pub(crate) fn new(docs: &'a HashMap<String, Value>, ref_siblings: bool) -> Self {
        Loader {
            docs,
            ref_siblings,
            nodes: Vec::new(),
            seen: HashMap::new(),
            depth: 0,
            too_deep: false,
        }
    }

    /// Loads the root document; `None` when `$ref` chains nest deeper than [`MAX_LOAD_DEPTH`].
    pub(crate) fn load(mut self) -> Option<Model> {
        let root = self.load_at("", "");
        (!self.too_deep).then_some(Model {
            nodes: self.nodes,
            root,
        })
    }

    fn push(&mut self, kind: Kind, raw: Value) -> NodeId {
        self.nodes.push(Node {
            kind,
            id: None,
            title: None,
            description: None,
            default: None,
            raw,
        });
        self.nodes.len() - 1
    }

    /// Loads the node at JSON pointer `ptr` of document `doc` (memoized: cycles close here).
    fn load_at(&mut self, doc: &str, ptr: &str) -> NodeId {
        let key = (doc.to_string(), ptr.to_string());
        if let Some(&id) = self.seen.get(&key) {
            return id;
        }
        let value = self
            .docs
            .get(doc)
            .and_then(|d| {
                if ptr.is_empty() {
                    Some(d)
                } else {
                    d.pointer(ptr)
                }
            })
            .cloned()
            .unwrap_or(Value::Bool(true));
        let id = self.push(Kind::Empty, value.clone());
        self.seen.insert(key, id);
        if self.depth >= MAX_LOAD_DEPTH {
            self.too_deep = true;
            return id;
        }
        self.depth += 1;
        let kind = self.load_value(doc, ptr, &value, id);
        self.depth -= 1;
        if let Some(node) = self.nodes.get_mut(id) {
            node.kind = kind;
        }
        id
    }

    /// Loads a child at `ptr/seg` of the current document.
    fn child(&mut self, doc: &str, ptr: &str, seg: &str) -> NodeId {
        let esc = seg.replace('~', "~0").replace('/', "~1");
        self.load_at(doc, &format!("{ptr}/{esc}"))
    }

    fn load_value(&mut self, doc: &str, ptr: &str, v: &Value, id: NodeId) -> Kind {
        let obj = match v {
            Value::Bool(true) => return Kind::True,
            Value::Bool(false) => return Kind::False,
            Value::Object(o) => o,
            _ => return Kind::Empty,
        };
        let mut parts: Vec<Kind> = Vec::new();
        if let Some(Value::String(r)) = obj.get("$ref") {
            let (d, p) = resolve_ref(self.docs, doc, r);
            let target = Kind::Ref(self.load_at(&d, &p));
            if !self.ref_siblings {
                return target;
            }
            parts.push(target);
        }
        if let Some(Value::Array(vals)) = obj.get("enum") {
            parts.push(Kind::Enum(vals.clone()));
        }
        for c in [Criterion::All, Criterion::Any, Criterion::One] {
            if let Some(Value::Array(subs)) = obj.get(c.keyword()) {
                let ids = (0..subs.len())
                    .map(|i| self.child(doc, &format!("{ptr}/{}", c.keyword()), &i.to_string()))
                    .collect();
                parts.push(Kind::Combined(c, ids));
            }
        }
        if obj.contains_key("not") {
            parts.push(Kind::Not(self.child(doc, ptr, "not")));
        }
        if let Some(c) = obj.get("const") {
            parts.push(Kind::Const(c.clone()));
        }
        match obj.get("type") {
            Some(Value::String(t)) => parts.push(self.typed(doc, ptr, obj, t, true)),
            Some(Value::Array(ts)) => {
                let mut subs = Vec::new();
                for t in ts.iter().filter_map(Value::as_str) {
                    let k = self.typed(doc, ptr, obj, t, true);
                    subs.push(self.push(k, Value::String(t.to_string())));
                }
                parts.push(Kind::Combined(Criterion::Any, subs));
            }
            _ => {
                for (kws, t) in [
                    (OBJECT_KEYWORDS, "object"),
                    (ARRAY_KEYWORDS, "array"),
                    (NUMBER_KEYWORDS, "number"),
                    (STRING_KEYWORDS, "string"),
                ] {
                    if kws.iter().any(|k| obj.contains_key(*k)) {
                        parts.push(self.typed(doc, ptr, obj, t, false));
                    }
                }
            }
        }
        let kind = match parts.len() {
            0 => Kind::Empty,
            1 => parts.pop().unwrap_or(Kind::Empty),
            _ => {
                let subs = parts.into_iter().map(|k| self.push(k, v.clone())).collect();
                Kind::Combined(Criterion::All, subs)
            }
        };
        if let Some(node) = self.nodes.get_mut(id) {
            node.id = obj.get("$id").or_else(|| obj.get("id")).cloned();
            node.title = obj.get("title").cloned();
            node.description = obj.get("description").cloned();
            node.default = obj.get("default").cloned();
        }
        kind
    }

    /// A node of one explicit (or sniffed) type, reading that type's keywords from `obj`.
    fn typed(
        &mut self,
        doc: &str,
        ptr: &str,
        obj: &serde_json::Map<String, Value>,
        t: &str,
        _explicit: bool,
    ) -> Kind {
        let uint = |k: &str| uint_of(obj, k);
        let num = |k: &str| obj.get(k).and_then(Value::as_f64);
        match t {
            "string" => Kind::String {
                min_length: uint("minLength"),
                max_length: uint("maxLength"),
                pattern: obj
                    .get("pattern")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            },
            "integer" | "number" => Kind::Number {
                integer: t == "integer",
                minimum: num("minimum"),
                maximum: num("maximum"),
                exclusive_minimum: num("exclusiveMinimum"),
                exclusive_maximum: num("exclusiveMaximum"),
                multiple_of: num("multipleOf"),
            },
            "boolean" => Kind::Boolean,
            "null" => Kind::Null,
            "object" => self.object(doc, ptr, obj),
            "array" => self.array(doc, ptr, obj),
            _ => Kind::Empty,
        }
    }

    fn additional(&mut self, doc: &str, ptr: &str, v: Option<&Value>, kw: &str) -> Additional {
        match v {
            None => Additional::default(),
            Some(Value::Bool(b)) => Additional {
                permits: *b,
                schema: None,
            },
            Some(_) => Additional {
                permits: true,
                schema: Some(self.child(doc, ptr, kw)),
            },
        }
    }

    fn object(&mut self, doc: &str, ptr: &str, obj: &serde_json::Map<String, Value>) -> Kind {
        let mut properties = BTreeMap::new();
        if let Some(Value::Object(props)) = obj.get("properties") {
            for name in props.keys() {
                let id = self.child(doc, &format!("{ptr}/properties"), name);
                properties.insert(name.clone(), id);
            }
        }
        let required = obj
            .get("required")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let mut pattern_properties = Vec::new();
        if let Some(Value::Object(pats)) = obj.get("patternProperties") {
            for pat in pats.keys() {
                let id = self.child(doc, &format!("{ptr}/patternProperties"), pat);
                pattern_properties.push((pat.clone(), id));
            }
        }
        let mut property_dependencies = BTreeMap::new();
        let mut schema_dependencies = BTreeMap::new();
        for kw in ["dependencies", "dependentRequired", "dependentSchemas"] {
            if let Some(Value::Object(deps)) = obj.get(kw) {
                for (name, dep) in deps {
                    match dep {
                        Value::Array(names) => {
                            property_dependencies.insert(
                                name.clone(),
                                names
                                    .iter()
                                    .filter_map(Value::as_str)
                                    .map(str::to_string)
                                    .collect(),
                            );
                        }
                        _ => {
                            let id = self.child(doc, &format!("{ptr}/{kw}"), name);
                            schema_dependencies.insert(name.clone(), id);
                        }
                    }
                }
            }
        }
        let uint = |k: &str| uint_of(obj, k);
        Kind::Object {
            properties,
            required,
            additional: self.additional(
                doc,
                ptr,
                obj.get("additionalProperties"),
                "additionalProperties",
            ),
            pattern_properties,
            property_dependencies,
            schema_dependencies,
            min_properties: uint("minProperties"),
            max_properties: uint("maxProperties"),
        }
    }

    fn array(&mut self, doc: &str, ptr: &str, obj: &serde_json::Map<String, Value>) -> Kind {
        let mut all_items = None;
        let mut item_schemas = Vec::new();
        let mut additional =
            self.additional(doc, ptr, obj.get("additionalItems"), "additionalItems");
        if let Some(Value::Array(prefix)) = obj.get("prefixItems") {
            for i in 0..prefix.len() {
                item_schemas.push(self.child(doc, &format!("{ptr}/prefixItems"), &i.to_string()));
            }
            additional = self.additional(doc, ptr, obj.get("items"), "items");
        } else {
            match obj.get("items") {
                Some(Value::Array(items)) => {
                    for i in 0..items.len() {
                        item_schemas.push(self.child(doc, &format!("{ptr}/items"), &i.to_string()));
                    }
                }
                Some(_) => all_items = Some(self.child(doc, ptr, "items")),
                None => {}
            }
        }
        let uint = |k: &str| uint_of(obj, k);
        Kind::Array {
            all_items,
            item_schemas,
            additional,
            min_items: uint("minItems"),
            max_items: uint("maxItems"),
            unique_items: obj
                .get("uniqueItems")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        }
    }
}

/// Splits a `$ref` made in document `doc` into (document, JSON pointer).
pub(crate) fn resolve_ref(docs: &HashMap<String, Value>, doc: &str, r: &str) -> (String, String) {
    let (base, frag) = match r.split_once('#') {
        Some((b, f)) => (b, f),
        None => (r, ""),
    };
    let target = if base.is_empty() {
        doc.to_string()
    } else if docs.contains_key(base) {
        base.to_string()
    } else {
        // References are often named by their last path segment (a file name).
        let last = base.rsplit('/').next().unwrap_or(base);
        if docs.contains_key(last) {
            last.to_string()
        } else {
            base.to_string()
        }
    };
    (target, percent_decode(frag))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes.get(i), bytes.get(i + 1), bytes.get(i + 2)) {
            (Some(b'%'), Some(a), Some(b)) => {
                match u8::from_str_radix(&format!("{}{}", *a as char, *b as char), 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            (Some(c), _, _) => {
                out.push(*c);
                i += 1;
            }
            _ => break,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A count keyword of `obj` (`minLength`, `maxItems`...): a number, negative read as 0.
fn uint_of(obj: &serde_json::Map<String, Value>, k: &str) -> Option<u64> {
    obj.get(k)
        .and_then(Value::as_f64)
        .map(|f| f.max(0.0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Model {
        let docs = HashMap::from([(String::new(), serde_json::from_str(text).unwrap())]);
        Loader::new(&docs, false).load().unwrap()
    }

    fn root_kind(m: &Model) -> &Kind {
        &m.node(m.deref(m.root)).kind
    }

    #[test]
    fn type_arrays_become_any_of() {
        let m = load(r#"{"type":["string","null"]}"#);
        assert!(matches!(root_kind(&m), Kind::Combined(Criterion::Any, s) if s.len() == 2));
    }

    #[test]
    fn keywords_of_several_kinds_become_a_synthetic_all_of() {
        let m = load(r#"{"properties":{"a":{}},"minLength":2}"#);
        let Kind::Combined(Criterion::All, subs) = root_kind(&m) else {
            panic!("{:?}", root_kind(&m));
        };
        let classes: Vec<&str> = subs.iter().map(|s| m.node(*s).kind.class()).collect();
        assert_eq!(classes, ["Object", "String"]);
    }

    #[test]
    fn refs_and_cycles_resolve_to_nodes() {
        let m = load(
            r##"{"$ref":"#/definitions/n","definitions":{"n":{"type":"object","properties":{"next":{"$ref":"#/definitions/n"}}}}}"##,
        );
        let Kind::Object { properties, .. } = root_kind(&m) else {
            panic!("{:?}", root_kind(&m));
        };
        let next = properties["next"];
        assert_eq!(m.deref(next), m.deref(m.root));
    }

    #[test]
    fn empty_true_and_false() {
        assert!(matches!(root_kind(&load("{}")), Kind::Empty));
        assert!(matches!(root_kind(&load("true")), Kind::True));
        assert!(matches!(root_kind(&load("false")), Kind::False));
    }
}
