//! The parsed Avro schema as a graph: every type is a node in one arena, and a named type is
//! one node however often it is referenced, so recursive schemas are plain cycles of ids.

use std::collections::BTreeMap;

use serde_json::Value;

/// Index of a node in [`Model::nodes`].
pub(crate) type NodeId = usize;

/// Extra JSON attributes of a type or field (`logicalType`, `precision`, custom properties).
pub(crate) type Props = BTreeMap<String, Value>;

/// A whole schema: its nodes, the root, and the named types it can see.
#[derive(Debug, Clone)]
pub(crate) struct Model {
    /// Every type node; ids index this vector.
    pub nodes: Vec<Node>,
    /// The schema's own top-level type.
    pub root: NodeId,
}

impl Model {
    /// The node behind an id. Ids are only ever made by the parser, so they are in range.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id]
    }
}

/// One type with its extra properties.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// What kind of type this is.
    pub kind: Kind,
    /// Properties beyond the ones the kind itself defines, such as `logicalType`.
    pub props: Props,
}

/// The Avro types.
#[derive(Debug, Clone)]
pub(crate) enum Kind {
    /// A primitive type.
    Primitive(Primitive),
    /// A record and its fields.
    Record(Record),
    /// An enum and its symbols.
    Enum(Enum),
    /// A fixed-size byte string.
    Fixed(Fixed),
    /// An array of `items`.
    Array(NodeId),
    /// A map from string to `values`.
    Map(NodeId),
    /// A union of branches, in order.
    Union(Vec<NodeId>),
}

/// The eight primitive types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Primitive {
    /// `null`
    Null,
    /// `boolean`
    Boolean,
    /// `int`
    Int,
    /// `long`
    Long,
    /// `float`
    Float,
    /// `double`
    Double,
    /// `bytes`
    Bytes,
    /// `string`
    String,
}

impl Primitive {
    /// The primitive named `name`, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "null" => Primitive::Null,
            "boolean" => Primitive::Boolean,
            "int" => Primitive::Int,
            "long" => Primitive::Long,
            "float" => Primitive::Float,
            "double" => Primitive::Double,
            "bytes" => Primitive::Bytes,
            "string" => Primitive::String,
            _ => return None,
        })
    }

    /// The Avro spelling.
    pub fn name(self) -> &'static str {
        match self {
            Primitive::Null => "null",
            Primitive::Boolean => "boolean",
            Primitive::Int => "int",
            Primitive::Long => "long",
            Primitive::Float => "float",
            Primitive::Double => "double",
            Primitive::Bytes => "bytes",
            Primitive::String => "string",
        }
    }
}

/// A full name split into namespace (empty for the null namespace) and simple name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Name {
    /// Dotted namespace, `""` when none.
    pub namespace: String,
    /// The simple name.
    pub name: String,
}

impl Name {
    /// `namespace.name`, or just `name` in the null namespace.
    pub fn full(&self) -> String {
        if self.namespace.is_empty() {
            self.name.clone()
        } else {
            format!("{}.{}", self.namespace, self.name)
        }
    }
}

/// What every named type (record, enum, fixed) carries.
#[derive(Debug, Clone)]
pub(crate) struct Named {
    /// The type's name.
    pub name: Name,
    /// Alternative full names, as written after namespace resolution.
    pub aliases: Vec<String>,
    /// Documentation, kept because Confluent keeps it in the canonical string.
    pub doc: Option<String>,
    /// Defined in a referenced schema rather than in this one.
    pub external: bool,
}

/// A record type.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    /// Name, aliases, doc.
    pub named: Named,
    /// Fields in declaration (= encoding) order.
    pub fields: Vec<Field>,
}

impl Record {
    /// The field named `name`.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// A record field.
#[derive(Debug, Clone)]
pub(crate) struct Field {
    /// Field name.
    pub name: String,
    /// Field type.
    pub ty: NodeId,
    /// Default value as written; `Some(Value::Null)` for `"default": null`.
    pub default: Option<Value>,
    /// Sort order (`ascending` unless written otherwise).
    pub order: Order,
    /// Alternative names of the field.
    pub aliases: Vec<String>,
    /// Documentation.
    pub doc: Option<String>,
    /// Other field properties.
    pub props: Props,
}

/// A field's sort order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    /// The default.
    Ascending,
    /// Reverse order.
    Descending,
    /// Not compared.
    Ignore,
}

impl Order {
    /// The Avro spelling.
    pub fn name(self) -> &'static str {
        match self {
            Order::Ascending => "ascending",
            Order::Descending => "descending",
            Order::Ignore => "ignore",
        }
    }
}

/// An enum type.
#[derive(Debug, Clone)]
pub(crate) struct Enum {
    /// Name, aliases, doc.
    pub named: Named,
    /// Symbols; the encoded value is the index.
    pub symbols: Vec<String>,
    /// Symbol a reader uses for writer symbols it does not know.
    pub default: Option<String>,
}

/// A fixed type.
#[derive(Debug, Clone)]
pub(crate) struct Fixed {
    /// Name, aliases, doc.
    pub named: Named,
    /// Size in bytes.
    pub size: usize,
}

impl Kind {
    /// The Avro type name (`record`, `int`, `union`, ...), for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Kind::Primitive(p) => p.name(),
            Kind::Record(_) => "record",
            Kind::Enum(_) => "enum",
            Kind::Fixed(_) => "fixed",
            Kind::Array(_) => "array",
            Kind::Map(_) => "map",
            Kind::Union(_) => "union",
        }
    }

    /// Name, aliases and doc of a named type.
    pub fn named(&self) -> Option<&Named> {
        match self {
            Kind::Record(r) => Some(&r.named),
            Kind::Enum(e) => Some(&e.named),
            Kind::Fixed(f) => Some(&f.named),
            _ => None,
        }
    }

    /// Type name plus, for named types, the full name: `record Order`, `int`.
    pub fn describe(&self) -> String {
        match self.named() {
            Some(n) => format!("{} {}", self.type_name(), n.name.full()),
            None => self.type_name().to_string(),
        }
    }
}
