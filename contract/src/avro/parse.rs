//! Schema JSON to [`Model`], with Java Avro's rules: names and namespaces, references to named
//! types defined earlier (or in referenced schemas), and the checks Java's `Schema.Parser`
//! makes (valid names, no redefinition, no nested or duplicate union branches, enum defaults
//! among the symbols, and, for new schemas, field defaults that match their types).

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::defaults::check_defaults;
use super::json_text::parse_json;
use super::model::{
    Enum, Field, Fixed, Kind, Model, Name, Named, Node, NodeId, Order, Primitive, Props, Record,
};

/// Keys a type object defines itself; every other key is kept as a property.
const TYPE_RESERVED: &[&str] = &[
    "type",
    "name",
    "namespace",
    "doc",
    "aliases",
    "fields",
    "symbols",
    "items",
    "values",
    "size",
];

/// Keys a field object defines itself.
const FIELD_RESERVED: &[&str] = &["name", "type", "default", "doc", "order", "aliases"];

/// Builds a [`Model`] from a schema and the schemas it references.
pub(crate) struct Parser {
    nodes: Vec<Node>,
    names: HashMap<String, NodeId>,
    external: bool,
    /// Where the parser is, for error messages (`Order.items`).
    path: Vec<String>,
}

impl Parser {
    /// A parser that knows no named types yet.
    pub fn new() -> Self {
        Parser {
            nodes: Vec::new(),
            names: HashMap::new(),
            external: false,
            path: Vec::new(),
        }
    }

    /// Parses a referenced schema so that its named types can be used by later schemas.
    pub fn add_reference(&mut self, name: &str, text: &str) -> Result<(), String> {
        let json = parse_json(text).map_err(|e| format!("reference {name:?}: {e}"))?;
        self.external = true;
        let parsed = self.parse(&json, "");
        self.external = false;
        self.path.clear();
        parsed
            .map(|_| ())
            .map_err(|e| format!("reference {name:?}: {e}"))
    }

    /// Parses the schema itself and finishes the model.
    pub fn finish(mut self, text: &str, validate_defaults: bool) -> Result<Model, String> {
        let json = parse_json(text)?;
        let root = self.parse(&json, "")?;
        let model = Model {
            nodes: self.nodes,
            root,
        };
        if validate_defaults {
            check_defaults(&model)?;
        }
        Ok(model)
    }

    fn fail<T>(&self, msg: impl std::fmt::Display) -> Result<T, String> {
        if self.path.is_empty() {
            Err(msg.to_string())
        } else {
            Err(format!("{}: {msg}", self.path.join(".")))
        }
    }

    fn push(&mut self, kind: Kind, props: Props) -> NodeId {
        self.nodes.push(Node { kind, props });
        self.nodes.len() - 1
    }

    /// Parses any schema form in namespace `space`.
    fn parse(&mut self, json: &Value, space: &str) -> Result<NodeId, String> {
        match json {
            Value::String(name) => self.resolve(name, space),
            Value::Array(branches) => self.parse_union(branches, space),
            Value::Object(obj) => self.parse_object(obj, space),
            other => self.fail(format!(
                "{other} is not a schema (expected a type name, an array or an object)"
            )),
        }
    }

    /// A type name: a primitive, or a named type defined earlier.
    fn resolve(&mut self, name: &str, space: &str) -> Result<NodeId, String> {
        if let Some(p) = Primitive::from_name(name) {
            return Ok(self.push(Kind::Primitive(p), Props::new()));
        }
        let qualified = if name.contains('.') || space.is_empty() {
            name.to_string()
        } else {
            format!("{space}.{name}")
        };
        match self.names.get(&qualified).or_else(|| self.names.get(name)) {
            Some(&id) => Ok(id),
            None => self.fail(format!(
                "unknown type {name:?}: not a primitive, and no named type of that name is defined earlier or in a reference"
            )),
        }
    }

    fn parse_union(&mut self, branches: &[Value], space: &str) -> Result<NodeId, String> {
        let mut ids = Vec::with_capacity(branches.len());
        let mut seen: Vec<String> = Vec::with_capacity(branches.len());
        for branch in branches {
            let id = self.parse(branch, space)?;
            let kind = &self.nodes[id].kind;
            if matches!(kind, Kind::Union(_)) {
                return self.fail("a union may not directly contain another union");
            }
            let key = kind
                .named()
                .map(|n| n.name.full())
                .unwrap_or_else(|| kind.type_name().to_string());
            if seen.contains(&key) {
                return self.fail(format!("union contains {key} twice"));
            }
            seen.push(key);
            ids.push(id);
        }
        Ok(self.push(Kind::Union(ids), Props::new()))
    }

    fn parse_object(&mut self, obj: &Map<String, Value>, space: &str) -> Result<NodeId, String> {
        let ty = match obj.get("type") {
            Some(Value::String(t)) => t.as_str(),
            Some(other) => {
                return self.fail(format!(
                    "\"type\" must be a type name string in a schema object, found {other}"
                ))
            }
            None => return self.fail("schema object has no \"type\""),
        };
        let props = props_of(obj, TYPE_RESERVED);
        if let Some(p) = Primitive::from_name(ty) {
            return Ok(self.push(Kind::Primitive(p), props));
        }
        match ty {
            "record" | "error" | "enum" | "fixed" => {
                let named = self.named(obj, space)?;
                match ty {
                    "enum" => self.parse_enum(obj, named, props),
                    "fixed" => self.parse_fixed(obj, named, props),
                    _ => self.parse_record(obj, named, props),
                }
            }
            "array" => {
                self.parse_container(obj, space, props, ["array", "items", "[]"], Kind::Array)
            }
            "map" => self.parse_container(obj, space, props, ["map", "values", "{}"], Kind::Map),
            // `{"type": "Foo"}` may name a type defined earlier, as Java allows.
            other => self.resolve(other, space),
        }
    }

    /// Name, aliases and doc of a named type, and registers the (not yet filled) node.
    fn named(&mut self, obj: &Map<String, Value>, space: &str) -> Result<Named, String> {
        let name = match obj.get("name") {
            Some(Value::String(n)) => n.as_str(),
            Some(other) => return self.fail(format!("name must be a string, found {other}")),
            None => return self.fail("named type has no \"name\""),
        };
        let name = match name.rsplit_once('.') {
            Some((ns, simple)) => Name {
                namespace: ns.to_string(),
                name: simple.to_string(),
            },
            None => {
                let namespace = match obj.get("namespace") {
                    None | Some(Value::Null) => space.to_string(),
                    Some(Value::String(ns)) => ns.clone(),
                    Some(other) => {
                        return self.fail(format!("namespace must be a string, found {other}"))
                    }
                };
                Name {
                    namespace,
                    name: name.to_string(),
                }
            }
        };
        self.check_full_name(&name)?;
        if Primitive::from_name(&name.full()).is_some() {
            return self.fail(format!(
                "a named type may not be called {:?}, that is a primitive type",
                name.full()
            ));
        }
        // An alias without a dot is relative to the type's own namespace.
        let aliases: Vec<String> = self
            .string_list(obj, "aliases")?
            .into_iter()
            .map(|a| {
                if a.contains('.') || name.namespace.is_empty() {
                    a
                } else {
                    format!("{}.{a}", name.namespace)
                }
            })
            .collect();
        for alias in &aliases {
            let (ns, simple) = alias.rsplit_once('.').unwrap_or(("", alias));
            self.check_full_name(&Name {
                namespace: ns.to_string(),
                name: simple.to_string(),
            })?;
        }
        Ok(Named {
            name,
            aliases,
            doc: obj.get("doc").and_then(Value::as_str).map(str::to_string),
            external: self.external,
        })
    }

    /// Adds a named node, refusing redefinitions.
    fn register(&mut self, kind: Kind, props: Props) -> Result<NodeId, String> {
        let full = kind.named().map(|n| n.name.full()).unwrap_or_default();
        if self.names.contains_key(&full) {
            return self.fail(format!("{full} is defined twice"));
        }
        let id = self.push(kind, props);
        self.names.insert(full, id);
        Ok(id)
    }

    fn parse_record(
        &mut self,
        obj: &Map<String, Value>,
        named: Named,
        props: Props,
    ) -> Result<NodeId, String> {
        let inner_space = named.name.namespace.clone();
        let label = named.name.name.clone();
        let raw_fields = match obj.get("fields") {
            Some(Value::Array(f)) => f,
            _ => return self.fail(format!("record {label} has no \"fields\" array")),
        };
        // Register before the fields so that they can refer to the record itself.
        let id = self.register(
            Kind::Record(Record {
                named,
                fields: Vec::new(),
            }),
            props,
        )?;
        let saved_path = std::mem::replace(&mut self.path, vec![label.clone()]);
        let mut fields: Vec<Field> = Vec::with_capacity(raw_fields.len());
        for raw in raw_fields {
            let field = self.parse_field(raw, &inner_space)?;
            if fields.iter().any(|f| f.name == field.name) {
                return self.fail(format!(
                    "record {label} has two fields named {}",
                    field.name
                ));
            }
            fields.push(field);
        }
        self.path = saved_path;
        if let Kind::Record(r) = &mut self.nodes[id].kind {
            r.fields = fields;
        }
        Ok(id)
    }

    fn parse_field(&mut self, raw: &Value, space: &str) -> Result<Field, String> {
        let Value::Object(obj) = raw else {
            return self.fail(format!("field {raw} is not an object"));
        };
        let name = match obj.get("name") {
            Some(Value::String(n)) => n.clone(),
            _ => return self.fail("a field has no \"name\" string"),
        };
        check_name(&name).or_else(|e| self.fail(format!("field name: {e}")))?;
        self.path.push(name.clone());
        let ty = match obj.get("type") {
            Some(t) => self.parse(t, space)?,
            None => return self.fail("field has no \"type\""),
        };
        let order = match obj.get("order") {
            None => Order::Ascending,
            Some(Value::String(o)) => match o.to_ascii_lowercase().as_str() {
                "ascending" => Order::Ascending,
                "descending" => Order::Descending,
                "ignore" => Order::Ignore,
                _ => {
                    return self.fail(format!(
                        "order {o:?} is not ascending, descending or ignore"
                    ))
                }
            },
            Some(other) => return self.fail(format!("order must be a string, found {other}")),
        };
        let aliases = self.string_list(obj, "aliases")?;
        self.path.pop();
        Ok(Field {
            name,
            ty,
            default: obj.get("default").cloned(),
            order,
            aliases,
            doc: obj.get("doc").and_then(Value::as_str).map(str::to_string),
            props: props_of(obj, FIELD_RESERVED),
        })
    }

    fn parse_enum(
        &mut self,
        obj: &Map<String, Value>,
        named: Named,
        mut props: Props,
    ) -> Result<NodeId, String> {
        let label = named.name.full();
        let symbols = match obj.get("symbols") {
            Some(Value::Array(_)) => self.string_list(obj, "symbols")?,
            _ => return self.fail(format!("enum {label} has no \"symbols\" array")),
        };
        for (i, s) in symbols.iter().enumerate() {
            check_name(s).or_else(|e| self.fail(format!("enum {label} symbol: {e}")))?;
            if symbols.get(..i).is_some_and(|before| before.contains(s)) {
                return self.fail(format!("enum {label} lists symbol {s} twice"));
            }
        }
        // A non-string default is ignored, as Java does; it is not a property either.
        let default = props
            .remove("default")
            .and_then(|d| d.as_str().map(str::to_string));
        if let Some(d) = &default {
            if !symbols.contains(d) {
                return self.fail(format!(
                    "enum {label} default {d:?} is not one of its symbols"
                ));
            }
        }
        self.register(
            Kind::Enum(Enum {
                named,
                symbols,
                default,
            }),
            props,
        )
    }

    /// An array or map (`ty`): the schema under `field` (`items`, `values`), parsed with `step`
    /// (`[]`, `{}`) on the path, wrapped by `kind`.
    fn parse_container(
        &mut self,
        obj: &Map<String, Value>,
        space: &str,
        props: Props,
        [ty, field, step]: [&str; 3],
        kind: fn(NodeId) -> Kind,
    ) -> Result<NodeId, String> {
        let Some(inner) = obj.get(field).cloned() else {
            return self.fail(format!("{ty} has no \"{field}\""));
        };
        self.path.push(step.into());
        let id = self.parse(&inner, space)?;
        self.path.pop();
        Ok(self.push(kind(id), props))
    }

    fn parse_fixed(
        &mut self,
        obj: &Map<String, Value>,
        named: Named,
        props: Props,
    ) -> Result<NodeId, String> {
        let size = match obj.get("size").and_then(Value::as_i64) {
            Some(s) if (0..=i64::from(i32::MAX)).contains(&s) => s as usize,
            _ => {
                return self.fail(format!(
                    "fixed {} needs a \"size\" that is a non-negative 32-bit integer",
                    named.name.full()
                ))
            }
        };
        self.register(Kind::Fixed(Fixed { named, size }), props)
    }

    /// An optional array of strings (`aliases`, `symbols`).
    fn string_list(&self, obj: &Map<String, Value>, key: &str) -> Result<Vec<String>, String> {
        match obj.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    other => self.fail(format!("{key} must hold strings, found {other}")),
                })
                .collect(),
            Some(other) => self.fail(format!("{key} must be an array, found {other}")),
        }
    }

    fn check_full_name(&self, name: &Name) -> Result<(), String> {
        check_name(&name.name).or_else(|e| self.fail(e))?;
        if !name.namespace.is_empty() {
            for part in name.namespace.split('.') {
                check_name(part)
                    .or_else(|e| self.fail(format!("namespace {:?}: {e}", name.namespace)))?;
            }
        }
        Ok(())
    }
}

/// Every key of `obj` that is not reserved, as properties.
fn props_of(obj: &Map<String, Value>, reserved: &[&str]) -> Props {
    obj.iter()
        .filter(|(k, _)| !reserved.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Java's rule: a letter or `_`, then letters, digits or `_`.
fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    match chars.next() {
        None => return Err("empty name".into()),
        Some(c) if !(c.is_alphabetic() || c == '_') => {
            return Err(format!("{name:?} must start with a letter or _"))
        }
        Some(_) => {}
    }
    if chars.all(|c| c.is_alphanumeric() || c == '_') {
        Ok(())
    } else {
        Err(format!("{name:?} may hold only letters, digits and _"))
    }
}
