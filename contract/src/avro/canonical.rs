//! The canonical text of a schema: one JSON spelling per meaning, so one schema gets one id.
//!
//! It keeps everything that Confluent keeps in its canonical string (Java's
//! `Schema.toString()`): defaults, aliases, `order`, `doc`, enum defaults, logical types and
//! other properties. It is *not* Avro's Parsing Canonical Form, which drops defaults: two
//! schemas that differ only in a default read data differently and must get different ids.
//! What it drops is noise: whitespace, key order, `"int"` versus `{"type": "int"}`, relative
//! versus full names, duplicate aliases.
//!
//! Key order is fixed: `type`, `name`, `namespace`, `doc`, `aliases`, the type's own keys,
//! then other properties sorted by key (nested JSON objects are sorted too). A named type is
//! written in full where it first occurs and by full name afterwards; types defined in
//! referenced schemas are always written by name, as Confluent does.

use std::collections::BTreeSet;

use serde_json::Value;

use super::model::{Field, Kind, Model, Named, NodeId, Order, Props};

/// Writes the canonical JSON text of `model`.
pub(crate) fn canonical(model: &Model) -> String {
    let mut w = Writer {
        model,
        out: String::with_capacity(256),
        written: vec![false; model.nodes.len()],
    };
    w.node(model.root, "");
    w.out
}

struct Writer<'m> {
    model: &'m Model,
    out: String,
    written: Vec<bool>,
}

impl Writer<'_> {
    fn node(&mut self, id: NodeId, space: &str) {
        let node = self.model.node(id);
        match &node.kind {
            Kind::Primitive(p) if node.props.is_empty() => self.string(p.name()),
            Kind::Primitive(p) => {
                self.out.push_str("{\"type\":");
                self.string(p.name());
                self.props(&node.props);
                self.out.push('}');
            }
            Kind::Union(branches) => {
                self.out.push('[');
                for (i, b) in branches.iter().enumerate() {
                    if i > 0 {
                        self.out.push(',');
                    }
                    self.node(*b, space);
                }
                self.out.push(']');
            }
            Kind::Array(items) => {
                self.out.push_str("{\"type\":\"array\",\"items\":");
                self.node(*items, space);
                self.props(&node.props);
                self.out.push('}');
            }
            Kind::Map(values) => {
                self.out.push_str("{\"type\":\"map\",\"values\":");
                self.node(*values, space);
                self.props(&node.props);
                self.out.push('}');
            }
            kind => {
                let Some(named) = kind.named() else { return };
                let seen = self.written.get(id).copied().unwrap_or(true);
                if seen || named.external {
                    self.string(&named.name.full());
                    return;
                }
                if let Some(slot) = self.written.get_mut(id) {
                    *slot = true;
                }
                self.named_header(kind.type_name(), named, space);
                let inner = named.name.namespace.as_str();
                match kind {
                    Kind::Record(r) => {
                        self.out.push_str(",\"fields\":[");
                        for (i, f) in r.fields.iter().enumerate() {
                            if i > 0 {
                                self.out.push(',');
                            }
                            self.field(f, inner);
                        }
                        self.out.push(']');
                    }
                    Kind::Enum(e) => {
                        self.out.push_str(",\"symbols\":[");
                        for (i, s) in e.symbols.iter().enumerate() {
                            if i > 0 {
                                self.out.push(',');
                            }
                            self.string(s);
                        }
                        self.out.push(']');
                        if let Some(d) = &e.default {
                            self.out.push_str(",\"default\":");
                            self.string(d);
                        }
                    }
                    Kind::Fixed(f) => {
                        self.out.push_str(&format!(",\"size\":{}", f.size));
                    }
                    _ => {}
                }
                self.props(&node.props);
                self.out.push('}');
            }
        }
    }

    fn named_header(&mut self, type_name: &str, named: &Named, space: &str) {
        self.out.push_str("{\"type\":");
        self.string(type_name);
        self.out.push_str(",\"name\":");
        self.string(&named.name.name);
        if named.name.namespace != space {
            self.out.push_str(",\"namespace\":");
            self.string(&named.name.namespace);
        }
        if let Some(doc) = &named.doc {
            self.out.push_str(",\"doc\":");
            self.string(doc);
        }
        self.aliases(&named.aliases);
    }

    fn field(&mut self, f: &Field, space: &str) {
        self.out.push_str("{\"name\":");
        self.string(&f.name);
        self.out.push_str(",\"type\":");
        self.node(f.ty, space);
        if let Some(doc) = &f.doc {
            self.out.push_str(",\"doc\":");
            self.string(doc);
        }
        if let Some(d) = &f.default {
            self.out.push_str(",\"default\":");
            self.value(d);
        }
        if f.order != Order::Ascending {
            self.out.push_str(",\"order\":");
            self.string(f.order.name());
        }
        self.aliases(&f.aliases);
        self.props(&f.props);
        self.out.push('}');
    }

    fn aliases(&mut self, aliases: &[String]) {
        if aliases.is_empty() {
            return;
        }
        let sorted: BTreeSet<&String> = aliases.iter().collect();
        self.out.push_str(",\"aliases\":[");
        for (i, a) in sorted.into_iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            self.string(a);
        }
        self.out.push(']');
    }

    /// Writes `,"key":value` for each property, in key order.
    fn props(&mut self, props: &Props) {
        for (k, v) in props {
            self.out.push(',');
            self.string(k);
            self.out.push(':');
            self.value(v);
        }
    }

    /// JSON with object keys sorted, whatever order serde_json's map keeps.
    fn value(&mut self, v: &Value) {
        match v {
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                self.out.push('{');
                for (i, (k, v)) in entries.into_iter().enumerate() {
                    if i > 0 {
                        self.out.push(',');
                    }
                    self.string(k);
                    self.out.push(':');
                    self.value(v);
                }
                self.out.push('}');
            }
            Value::Array(items) => {
                self.out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.out.push(',');
                    }
                    self.value(item);
                }
                self.out.push(']');
            }
            Value::String(s) => self.string(s),
            other => self.out.push_str(&other.to_string()),
        }
    }

    fn string(&mut self, s: &str) {
        self.out.push_str(&Value::String(s.to_string()).to_string());
    }
}
