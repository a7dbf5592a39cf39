//! The fast path of JSON Schema validation: the schema compiled into a flat program of nodes,
//! checked in one pass over the body's bytes (no `serde_json::Value` is built, nothing is
//! allocated for a body without delegated `pattern`/`format` checks).
//!
//! It only ever answers "valid": [`Program::accepts`] returning `false` means "not shown valid
//! here", and the caller then runs the `jsonschema` validator, which stays authoritative for
//! every rejection and its message. So the fast path must never accept what `jsonschema`
//! rejects, and is allowed to decline anything it is unsure of:
//!
//! - compilation gives up (`None`, every body takes the `jsonschema` path) on any keyword it
//!   does not implement (combinators, `if`, `dependencies`, `patternProperties`, `multipleOf`,
//!   `uniqueItems`, `minProperties`, tuple `items`, `unevaluated*`, non-local or anchor `$ref`s,
//!   `$ref` with sibling keywords, nested `$id`/`$schema`, `enum`/`const` holding numbers or
//!   containers, draft-4 boolean `exclusiveMinimum`/`exclusiveMaximum`, boolean subschemas in
//!   draft 4);
//! - a float passes `integer` only under a lone `"type": "integer"` in drafts 6 on and only
//!   without a fraction (`jsonschema` takes `1.0` there, but not under `["integer", ...]` nor in
//!   draft 4); elsewhere such a float is declined;
//! - the scan accepts only strict JSON text that serde_json reads to the same values: the body
//!   must be UTF-8; strings with escapes or control characters, nesting deeper than 100 and any
//!   syntax error are declined; floats and integers beyond 64 bits go through serde_json's own
//!   number parser, and so does `-0` (a float, -0.0, to serde_json);
//! - duplicate object keys: `Value` keeps the last; here every occurrence is checked, which can
//!   only decline more (no keyword kept here counts distinct keys from below);
//! - a `pattern` that is one anchored, repeated class of ASCII word characters (`^[A-Z]{3}$`,
//!   see [`ClassRepeat`]) is checked here; any other `pattern`, and `format`, are delegated to a
//!   `jsonschema` validator compiled from just those keywords with the same draft, so regex
//!   dialect, backtracking limits and format rules are the crate's own.
//!
//! The differential tests in `fast/tests.rs` hold it to the `jsonschema` crate's verdicts.

use std::collections::HashMap;

use num_cmp::NumCmp;
use serde_json::{Map, Value};

type NodeId = u32;

/// Accepts every JSON value.
const ANY: NodeId = 0;
/// Accepts nothing (the `false` schema).
const NEVER: NodeId = 1;

const T_NULL: u8 = 1;
const T_BOOL: u8 = 1 << 1;
const T_INT: u8 = 1 << 2;
const T_NUM: u8 = 1 << 3;
const T_STR: u8 = 1 << 4;
const T_ARR: u8 = 1 << 5;
const T_OBJ: u8 = 1 << 6;
/// A type set no value has.
const T_NONE: u8 = 1 << 7;

/// Most nodes a program may hold (a schema is at most 1 MiB, so this is generous).
const MAX_NODES: usize = 1 << 16;
/// Deepest compile recursion (the schema limits already cap nesting at 128 with `$ref` hops).
const MAX_COMPILE_DEPTH: usize = 256;

/// Validation keywords (any draft) this compiler does not implement: their presence makes the
/// whole schema take the `jsonschema` path.
const UNSUPPORTED: &[&str] = &[
    "$dynamicRef",
    "$recursiveRef",
    "$anchor",
    "$dynamicAnchor",
    "$recursiveAnchor",
    "$vocabulary",
    "allOf",
    "anyOf",
    "oneOf",
    "not",
    "if",
    "then",
    "else",
    "dependentSchemas",
    "dependencies",
    "dependentRequired",
    "prefixItems",
    "additionalItems",
    "contains",
    "minContains",
    "maxContains",
    "patternProperties",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
    "multipleOf",
    "uniqueItems",
    "minProperties",
    "contentEncoding",
    "contentMediaType",
    "contentSchema",
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Draft {
    Four,
    Later,
}

#[derive(Clone, PartialEq)]
enum Scalar {
    Null,
    Bool(bool),
    Str(Box<str>),
}

#[derive(Clone, Copy)]
enum Num {
    U(u64),
    I(i64),
    F(f64),
}

#[derive(Clone, Copy)]
enum Bound {
    Ge,
    Le,
    Gt,
    Lt,
}

macro_rules! cmp_num {
    ($a:expr, $b:expr, $m:ident) => {
        match ($a, $b) {
            (Num::U(a), Num::U(b)) => a.$m(b),
            (Num::U(a), Num::I(b)) => a.$m(b),
            (Num::U(a), Num::F(b)) => a.$m(b),
            (Num::I(a), Num::U(b)) => a.$m(b),
            (Num::I(a), Num::I(b)) => a.$m(b),
            (Num::I(a), Num::F(b)) => a.$m(b),
            (Num::F(a), Num::U(b)) => a.$m(b),
            (Num::F(a), Num::I(b)) => a.$m(b),
            (Num::F(a), Num::F(b)) => a.$m(b),
        }
    };
}

impl Bound {
    /// Does `value` satisfy the bound `limit`? Exact across integer and float classes, with the
    /// same `num_cmp` comparisons `jsonschema` makes.
    fn holds(self, value: Num, limit: Num) -> bool {
        if let (Num::U(v), Num::U(l)) = (value, limit) {
            return match self {
                Bound::Ge => v >= l,
                Bound::Le => v <= l,
                Bound::Gt => v > l,
                Bound::Lt => v < l,
            };
        }
        match self {
            Bound::Ge => cmp_num!(value, limit, num_ge),
            Bound::Le => cmp_num!(value, limit, num_le),
            Bound::Gt => cmp_num!(value, limit, num_gt),
            Bound::Lt => cmp_num!(value, limit, num_lt),
        }
    }
}

struct Prop {
    name: Box<str>,
    /// The name's first byte (`"` for the empty name), for [`Scan::key`].
    first: u8,
    node: NodeId,
    /// This property's bit in the node's `required` mask, or 0.
    bit: u64,
}

struct Node {
    /// Allowed types; 0 when the schema has no `type`.
    types: u8,
    /// `"type": "integer"` alone (drafts 6 on): `jsonschema` takes a float with no fraction.
    int_floats: bool,
    /// Declared (and required-only) properties, sorted by name.
    props: Vec<Prop>,
    /// Keys are matched on their raw bytes ([`Scan::key`]), not scanned, then looked up.
    raw_keys: bool,
    required: u64,
    additional: NodeId,
    max_props: u64,
    items: NodeId,
    min_items: u64,
    max_items: u64,
    min_len: u64,
    max_len: u64,
    /// A `pattern` simple enough to be checked here ([`ClassRepeat`]).
    pattern: Option<ClassRepeat>,
    /// `format`, and any other `pattern`: delegated to the `jsonschema` crate.
    strings: Option<jsonschema::Validator>,
    /// `enum` and `const`: the value must be in every list.
    enums: Vec<Vec<Scalar>>,
    bounds: Vec<(Bound, Num)>,
    /// A `$ref`-only schema: this node is its target (resolved after compiling).
    alias: Option<NodeId>,
}

impl Node {
    fn any() -> Self {
        Node {
            types: 0,
            int_floats: false,
            props: Vec::new(),
            raw_keys: false,
            required: 0,
            additional: ANY,
            max_props: u64::MAX,
            items: ANY,
            min_items: 0,
            max_items: u64::MAX,
            min_len: 0,
            max_len: u64::MAX,
            pattern: None,
            strings: None,
            enums: Vec::new(),
            bounds: Vec::new(),
            alias: None,
        }
    }

    fn never() -> Self {
        Node {
            types: T_NONE,
            ..Node::any()
        }
    }
}

/// A schema compiled for validate-while-parsing.
pub(crate) struct Program {
    nodes: Vec<Node>,
    root: NodeId,
}

impl Program {
    /// Compiles `root` (already accepted by `jsonschema` under `draft`), or `None` when it uses
    /// anything the fast path does not implement.
    pub(crate) fn compile(root: &Value, draft: jsonschema::Draft) -> Option<Self> {
        let mut c = Compiler {
            root,
            jdraft: draft,
            draft: if matches!(draft, jsonschema::Draft::Draft4) {
                Draft::Four
            } else {
                Draft::Later
            },
            nodes: vec![Node::any(), Node::never()],
            refs: HashMap::new(),
        };
        let root_id = c.schema(root, true, 0)?;
        let mut nodes = c.nodes;
        // Resolve `$ref` aliases everywhere a node id is stored.
        let resolved: Vec<NodeId> = (0..nodes.len())
            .map(|i| resolve(&nodes, i as NodeId))
            .collect::<Option<_>>()?;
        for n in &mut nodes {
            n.additional = resolved[n.additional as usize];
            n.items = resolved[n.items as usize];
            for p in &mut n.props {
                p.node = resolved[p.node as usize];
            }
        }
        Some(Program {
            root: resolved[root_id as usize],
            nodes,
        })
    }

    /// Is `body` JSON that the schema accepts? `false` means "not shown here" (see the module
    /// docs); it never means `true` wrongly.
    pub(crate) fn accepts(&self, body: &[u8]) -> bool {
        // UTF-8 is checked inside strings only: the scan declines any other non-ASCII byte.
        let mut scan = Scan {
            b: body,
            pos: 0,
            prog: self,
        };
        scan.ws();
        if !scan.value(self.node(self.root), 0) {
            return false;
        }
        scan.ws();
        scan.pos == body.len()
    }

    fn node(&self, id: NodeId) -> &Node {
        // Every stored id was resolved against `nodes` at compile time.
        self.nodes.get(id as usize).unwrap_or(&self.nodes[0])
    }
}

/// Follows alias chains; `None` on a cycle of `$ref`-only schemas.
fn resolve(nodes: &[Node], mut id: NodeId) -> Option<NodeId> {
    for _ in 0..=nodes.len().min(MAX_COMPILE_DEPTH) {
        match nodes.get(id as usize)?.alias {
            Some(next) => id = next,
            None => return Some(id),
        }
    }
    None
}

struct Compiler<'a> {
    root: &'a Value,
    jdraft: jsonschema::Draft,
    draft: Draft,
    nodes: Vec<Node>,
    /// `$ref` pointer → node id, so recursive schemas compile to cycles.
    refs: HashMap<String, NodeId>,
}

impl Compiler<'_> {
    fn push(&mut self, node: Node) -> Option<NodeId> {
        if self.nodes.len() >= MAX_NODES {
            return None;
        }
        self.nodes.push(node);
        NodeId::try_from(self.nodes.len() - 1).ok()
    }

    fn schema(&mut self, v: &Value, is_root: bool, depth: usize) -> Option<NodeId> {
        if depth > MAX_COMPILE_DEPTH {
            return None;
        }
        let m = match v {
            Value::Bool(b) if self.draft == Draft::Later => {
                return Some(if *b { ANY } else { NEVER });
            }
            Value::Object(m) => m,
            _ => return None,
        };
        for k in m.keys() {
            if UNSUPPORTED.contains(&k.as_str()) {
                return None;
            }
            if !is_root && matches!(k.as_str(), "$id" | "id" | "$schema") {
                return None;
            }
        }
        if let Some(r) = m.get("$ref") {
            return self.reference(m, r, is_root, depth);
        }
        let mut node = Node::any();
        if let Some(t) = m.get("type") {
            node.types = types(t)?;
            node.int_floats = self.draft == Draft::Later && t.as_str() == Some("integer");
        }
        self.object_keywords(m, &mut node, depth)?;
        self.array_keywords(m, &mut node, depth)?;
        string_keywords(m, &mut node, self.jdraft)?;
        self.number_keywords(m, &mut node)?;
        for kw in ["enum", "const"] {
            if let Some(e) = m.get(kw) {
                let list = if kw == "enum" {
                    e.as_array()?.iter().map(scalar).collect::<Option<_>>()?
                } else {
                    vec![scalar(e)?]
                };
                node.enums.push(list);
            }
        }
        self.push(node)
    }

    /// A schema whose only validation keyword is `$ref` to a pointer in this document.
    fn reference(
        &mut self,
        m: &Map<String, Value>,
        r: &Value,
        is_root: bool,
        depth: usize,
    ) -> Option<NodeId> {
        const ANNOTATIONS: &[&str] = &[
            "$ref",
            "$comment",
            "title",
            "description",
            "default",
            "examples",
            "deprecated",
            "readOnly",
            "writeOnly",
            "definitions",
            "$defs",
        ];
        let root_only = |k: &str| is_root && matches!(k, "$schema" | "$id" | "id");
        if m.keys()
            .any(|k| !ANNOTATIONS.contains(&k.as_str()) && !root_only(k))
        {
            return None;
        }
        let r = r.as_str()?;
        let ptr = r.strip_prefix('#')?;
        if !(ptr.is_empty() || ptr.starts_with('/')) || ptr.contains('%') {
            return None;
        }
        if let Some(&id) = self.refs.get(ptr) {
            return Some(id);
        }
        let target = self.root.pointer(ptr)?;
        let id = self.push(Node::any())?;
        self.refs.insert(ptr.to_string(), id);
        let target_id = self.schema(target, ptr.is_empty(), depth + 1)?;
        let slot = self.nodes.get_mut(id as usize)?;
        slot.alias = Some(target_id);
        Some(id)
    }

    fn object_keywords(
        &mut self,
        m: &Map<String, Value>,
        node: &mut Node,
        depth: usize,
    ) -> Option<()> {
        if let Some(a) = m.get("additionalProperties") {
            node.additional = match a {
                Value::Bool(true) => ANY,
                Value::Bool(false) => NEVER,
                s => self.schema(s, false, depth + 1)?,
            };
        }
        if let Some(p) = m.get("properties") {
            for (name, s) in p.as_object()? {
                let id = self.schema(s, false, depth + 1)?;
                node.props.push(Prop {
                    name: name.as_str().into(),
                    first: first_byte(name),
                    node: id,
                    bit: 0,
                });
            }
        }
        if let Some(r) = m.get("required") {
            let mut bits = 0u32;
            for name in r.as_array()? {
                let name = name.as_str()?;
                let idx = match node.props.iter().position(|p| &*p.name == name) {
                    Some(i) => i,
                    None => {
                        // Required but not declared: its value is an additional property.
                        node.props.push(Prop {
                            name: name.into(),
                            first: first_byte(name),
                            node: node.additional,
                            bit: 0,
                        });
                        node.props.len() - 1
                    }
                };
                if node.props[idx].bit == 0 {
                    if bits >= 64 {
                        return None;
                    }
                    node.props[idx].bit = 1u64 << bits;
                    node.required |= 1u64 << bits;
                    bits += 1;
                }
            }
        }
        node.props.sort_by(|a, b| a.name.cmp(&b.name));
        // A name holding a quote, a backslash or a control character cannot be matched on the
        // raw bytes of a key (the bytes would not be that string); many names are looked up.
        node.raw_keys = !node.props.is_empty()
            && node.props.len() <= RAW_KEYS_MAX
            && node
                .props
                .iter()
                .all(|p| p.name.bytes().all(|c| c != b'"' && c != b'\\' && c >= 0x20));
        if let Some(n) = m.get("maxProperties") {
            node.max_props = n.as_u64()?;
        }
        Some(())
    }

    fn array_keywords(
        &mut self,
        m: &Map<String, Value>,
        node: &mut Node,
        depth: usize,
    ) -> Option<()> {
        if let Some(i) = m.get("items") {
            if !matches!(i, Value::Object(_) | Value::Bool(_)) {
                return None;
            }
            node.items = self.schema(i, false, depth + 1)?;
        }
        if let Some(n) = m.get("minItems") {
            node.min_items = n.as_u64()?;
        }
        if let Some(n) = m.get("maxItems") {
            node.max_items = n.as_u64()?;
        }
        Some(())
    }

    fn number_keywords(&mut self, m: &Map<String, Value>, node: &mut Node) -> Option<()> {
        let mut kws = vec![("minimum", Bound::Ge), ("maximum", Bound::Le)];
        match self.draft {
            Draft::Four => {
                if m.contains_key("exclusiveMinimum") || m.contains_key("exclusiveMaximum") {
                    return None;
                }
            }
            Draft::Later => {
                kws.push(("exclusiveMinimum", Bound::Gt));
                kws.push(("exclusiveMaximum", Bound::Lt));
            }
        }
        for (kw, bound) in kws {
            if let Some(v) = m.get(kw) {
                node.bounds.push((bound, number(v)?));
            }
        }
        Some(())
    }
}

fn string_keywords(
    m: &Map<String, Value>,
    node: &mut Node,
    draft: jsonschema::Draft,
) -> Option<()> {
    if let Some(n) = m.get("minLength") {
        node.min_len = n.as_u64()?;
    }
    if let Some(n) = m.get("maxLength") {
        node.max_len = n.as_u64()?;
    }
    let mut delegated = Map::new();
    if let Some(v) = m.get("pattern") {
        match v.as_str().and_then(ClassRepeat::parse) {
            Some(p) => node.pattern = Some(p),
            None => {
                delegated.insert("pattern".to_string(), v.clone());
            }
        }
    }
    if let Some(v) = m.get("format") {
        delegated.insert("format".to_string(), v.clone());
    }
    if !delegated.is_empty() {
        let v = jsonschema::options()
            .with_draft(draft)
            .build(&Value::Object(delegated))
            .ok()?;
        node.strings = Some(v);
    }
    Some(())
}

/// A `pattern` that is one anchored, repeated character class of ASCII letters, digits and
/// `_` (single characters and ranges): `^[A-Z]{3}$`, `^[a-z0-9_]+$`, with `{n}`, `{n,m}`,
/// `{n,}`, `+`, `*`, `?` or no quantifier. Such a regex matches exactly the strings of
/// `min..=max` characters that are all in the class (`$` without the multi-line flag is the
/// end of the text in the `regex` crate). Anything else is not parsed, and goes to the
/// `jsonschema` crate's own regex.
#[derive(Clone, Copy)]
struct ClassRepeat {
    /// Bit `c` set: the ASCII byte `c` is in the class.
    set: u128,
    min: u64,
    max: u64,
}

impl ClassRepeat {
    /// Largest repetition count parsed here.
    const MAX_COUNT: u64 = 1000;

    fn parse(p: &str) -> Option<Self> {
        let inner = p.strip_prefix("^[")?.strip_suffix('$')?;
        let (class, quant) = inner.split_once(']')?;
        let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
        let cs = class.as_bytes();
        if cs.is_empty() {
            return None;
        }
        let mut set = 0u128;
        let mut i = 0;
        while let Some(&a) = cs.get(i) {
            if !word(a) {
                return None;
            }
            if cs.get(i + 1) == Some(&b'-') {
                let b = *cs.get(i + 2)?;
                if !word(b) || b < a {
                    return None;
                }
                for c in a..=b {
                    set |= 1u128 << c;
                }
                i += 3;
            } else {
                set |= 1u128 << a;
                i += 1;
            }
        }
        let count = |s: &str| -> Option<u64> {
            if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            s.parse().ok().filter(|&n| n <= Self::MAX_COUNT)
        };
        let (min, max) = match quant {
            "" => (1, 1),
            "+" => (1, u64::MAX),
            "*" => (0, u64::MAX),
            "?" => (0, 1),
            q => {
                let q = q.strip_prefix('{')?.strip_suffix('}')?;
                match q.split_once(',') {
                    None => (count(q)?, count(q)?),
                    Some((a, "")) => (count(a)?, u64::MAX),
                    Some((a, b)) => (count(a)?, count(b)?),
                }
            }
        };
        (min <= max).then_some(ClassRepeat { set, min, max })
    }

    /// Does the regex match `s` (UTF-8)? Every byte of a match is ASCII, so bytes are
    /// characters.
    fn matches(&self, s: &[u8]) -> bool {
        let n = s.len() as u64;
        n >= self.min && n <= self.max && s.iter().all(|&c| c < 128 && (self.set >> c) & 1 == 1)
    }
}

fn number(v: &Value) -> Option<Num> {
    let n = v.as_number()?;
    Some(if let Some(u) = n.as_u64() {
        Num::U(u)
    } else if let Some(i) = n.as_i64() {
        Num::I(i)
    } else {
        Num::F(n.as_f64()?)
    })
}

fn scalar(v: &Value) -> Option<Scalar> {
    match v {
        Value::Null => Some(Scalar::Null),
        Value::Bool(b) => Some(Scalar::Bool(*b)),
        Value::String(s) => Some(Scalar::Str(s.as_str().into())),
        _ => None,
    }
}

fn types(t: &Value) -> Option<u8> {
    fn one(s: &str) -> Option<u8> {
        Some(match s {
            "null" => T_NULL,
            "boolean" => T_BOOL,
            "integer" => T_INT,
            "number" => T_NUM,
            "string" => T_STR,
            "array" => T_ARR,
            "object" => T_OBJ,
            _ => return None,
        })
    }
    match t {
        Value::String(s) => one(s),
        Value::Array(a) => {
            let mut set = 0;
            for s in a {
                set |= one(s.as_str()?)?;
            }
            // An empty list is not a "no type keyword" 0.
            Some(if set == 0 { T_NONE } else { set })
        }
        _ => None,
    }
}

/// A property name's first byte, `"` for the empty name (no other name matched on raw bytes
/// starts with a quote).
fn first_byte(name: &str) -> u8 {
    name.as_bytes().first().copied().unwrap_or(b'"')
}

/// Most properties a node may have for its keys to be matched on their raw bytes.
const RAW_KEYS_MAX: usize = 32;

/// Deepest nesting the scanner follows (serde_json's own limit is 128; deeper is declined).
const MAX_DEPTH: usize = 100;

/// A single pass over the body that checks each value against its node as it reads it.
///
/// It is sound, not complete: it accepts only text serde_json parses to the same values, and
/// declines (returns `false`) anything else, including escapes in strings, deeper nesting than
/// [`MAX_DEPTH`], and every syntax error. Floats and integers beyond 64 bits are read by
/// serde_json's own number parser, so their values are the ones `Value` would hold.
struct Scan<'b, 'p> {
    b: &'b [u8],
    pos: usize,
    prog: &'p Program,
}

impl<'b> Scan<'b, '_> {
    fn ws(&mut self) {
        while let Some(&c) = self.b.get(self.pos) {
            if !matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                break;
            }
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn literal(&mut self, word: &[u8]) -> bool {
        let end = self.pos + word.len();
        if self.b.get(self.pos..end) == Some(word) {
            self.pos = end;
            true
        } else {
            false
        }
    }

    /// The bytes of a string with no escapes or control characters, checked to be UTF-8 (the
    /// only place the body may hold non-ASCII bytes: everything outside strings is ASCII
    /// punctuation, literals and digits, or the scan declines it).
    fn string(&mut self) -> Option<&'b [u8]> {
        if !self.eat(b'"') {
            return None;
        }
        let start = self.pos;
        let rest = self.b.get(start..)?;
        // Non-ASCII bytes stop the 8-byte skip only until the first one is seen: the string is
        // then checked as a whole once its end is found.
        let mut high = HIGH;
        let mut i = 0;
        let len = loop {
            if let Some(chunk) = rest.get(i..i + 8) {
                let mut word = [0u8; 8];
                word.copy_from_slice(chunk);
                let w = u64::from_le_bytes(word);
                let stop = stops(w) | (w & high);
                if stop == 0 {
                    i += 8;
                    continue;
                }
                // The lowest flagged byte is always a true match (see `stops`).
                i += (stop.trailing_zeros() / 8) as usize;
            } else {
                i += rest
                    .get(i..)?
                    .iter()
                    .position(|&c| c == b'"' || c == b'\\' || !(0x20..0x80).contains(&c))?;
            }
            match *rest.get(i)? {
                b'"' => break i,
                c if c >= 0x80 => {
                    high = 0;
                    i += 1;
                }
                _ => return None,
            }
        };
        let s = rest.get(..len)?;
        if high == 0 && std::str::from_utf8(s).is_err() {
            return None;
        }
        self.pos = start + len + 1;
        Some(s)
    }

    /// Reads an object key: the node that checks its value, and its `required` bit.
    ///
    /// With `raw_keys` set, the bytes after the opening quote are compared with each property
    /// name that starts with the same byte, no string scanned: a name followed by `"` in the
    /// body is that key exactly (names here hold no quote, backslash or control character, so
    /// those bytes are a whole escape-free string). A key that matches none is scanned as a
    /// string and is an additional property: had it been equal to a declared name, written
    /// without escapes (escapes are declined), that name would have matched.
    fn key(&mut self, node: &Node) -> Option<(NodeId, u64)> {
        if !node.raw_keys {
            let key = self.string()?;
            return Some(lookup(node, key));
        }
        if self.peek() != Some(b'"') {
            return None;
        }
        let after = self.pos + 1;
        let c = *self.b.get(after)?;
        for p in &node.props {
            if p.first != c {
                continue;
            }
            let end = after + p.name.len();
            if self.b.get(end) == Some(&b'"')
                && self
                    .b
                    .get(after..end)
                    .is_some_and(|k| same(k, p.name.as_bytes()))
            {
                self.pos = end + 1;
                return Some((p.node, p.bit));
            }
        }
        self.string()?;
        Some((node.additional, 0))
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Option<Num> {
        let b = self.b;
        let start = self.pos;
        let negative = b.get(start) == Some(&b'-');
        let int_start = start + usize::from(negative);
        let mut i = int_start;
        // Exact for up to 19 digits (all fit in a u64); longer integers take serde_json's
        // parser below, so wrapping past that is harmless.
        let mut magnitude: u64 = 0;
        while let Some(&c) = b.get(i) {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            magnitude = magnitude.wrapping_mul(10).wrapping_add(u64::from(d));
            i += 1;
        }
        self.pos = i;
        let n = i - int_start;
        if n == 0 || (n > 1 && b.get(int_start) == Some(&b'0')) {
            return None;
        }
        let mut float = false;
        if self.eat(b'.') {
            float = true;
            if self.digits() == 0 {
                return None;
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            float = true;
            if !self.eat(b'+') {
                self.eat(b'-');
            }
            if self.digits() == 0 {
                return None;
            }
        }
        if !float && n <= 19 {
            if !negative {
                return Some(Num::U(magnitude));
            }
            // `-0` is skipped: serde_json reads it as the float -0.0.
            if let Ok(v) = i64::try_from(-i128::from(magnitude)) {
                if v != 0 {
                    return Some(Num::I(v));
                }
            }
        }
        // Floats, and integers beyond `u64`/`i64` (which serde_json reads as floats): serde_json's
        // own number parser, so the value and its class are the ones `Value` holds.
        let text = std::str::from_utf8(self.b.get(start..self.pos)?).ok()?;
        let n: serde_json::Number = text.parse().ok()?;
        if let Some(u) = n.as_u64() {
            Some(Num::U(u))
        } else if let Some(i) = n.as_i64() {
            Some(Num::I(i))
        } else {
            n.as_f64().map(Num::F)
        }
    }

    fn value(&mut self, node: &Node, depth: usize) -> bool {
        match self.peek() {
            Some(b'{') => self.object(node, depth + 1),
            Some(b'[') => self.array(node, depth + 1),
            Some(b'"') => match self.string() {
                Some(s) => string_ok(node, s),
                None => false,
            },
            Some(b't') => self.literal(b"true") && scalar_ok(node, T_BOOL, &Scalar::Bool(true)),
            Some(b'f') => self.literal(b"false") && scalar_ok(node, T_BOOL, &Scalar::Bool(false)),
            Some(b'n') => self.literal(b"null") && scalar_ok(node, T_NULL, &Scalar::Null),
            Some(b'-' | b'0'..=b'9') => match self.number() {
                Some(n) => number_ok(node, n),
                None => false,
            },
            _ => false,
        }
    }

    fn array(&mut self, node: &Node, depth: usize) -> bool {
        if depth > MAX_DEPTH || !type_ok(node, T_ARR) || !node.enums.is_empty() {
            return false;
        }
        self.pos += 1;
        let item = self.prog.node(node.items);
        let mut n: u64 = 0;
        self.ws();
        if !self.eat(b']') {
            loop {
                self.ws();
                if !self.value(item, depth) {
                    return false;
                }
                n += 1;
                self.ws();
                if self.eat(b']') {
                    break;
                }
                if !self.eat(b',') {
                    return false;
                }
            }
        }
        n >= node.min_items && n <= node.max_items
    }

    fn object(&mut self, node: &Node, depth: usize) -> bool {
        if depth > MAX_DEPTH || !type_ok(node, T_OBJ) || !node.enums.is_empty() {
            return false;
        }
        self.pos += 1;
        let mut seen = 0u64;
        let mut n: u64 = 0;
        self.ws();
        if !self.eat(b'}') {
            loop {
                self.ws();
                let Some((id, bit)) = self.key(node) else {
                    return false;
                };
                self.ws();
                if !self.eat(b':') {
                    return false;
                }
                self.ws();
                if !self.value(self.prog.node(id), depth) {
                    return false;
                }
                seen |= bit;
                n += 1;
                self.ws();
                if self.eat(b'}') {
                    break;
                }
                if !self.eat(b',') {
                    return false;
                }
            }
        }
        seen & node.required == node.required && n <= node.max_props
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `w` that may equal `"` or `\\`, or fall below 0x20. The lowest
/// flagged byte always does (a borrow can only flag bytes above a true match), and a word with
/// no such byte gives 0.
fn stops(w: u64) -> u64 {
    let zero_byte = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let quote = zero_byte(w ^ (ONES * u64::from(b'"')));
    let backslash = zero_byte(w ^ (ONES * u64::from(b'\\')));
    let control = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
    quote | backslash | control
}

fn type_ok(node: &Node, t: u8) -> bool {
    node.types == 0 || node.types & t != 0
}

fn scalar_ok(node: &Node, t: u8, v: &Scalar) -> bool {
    type_ok(node, t) && node.enums.iter().all(|list| list.contains(v))
}

fn number_ok(node: &Node, n: Num) -> bool {
    let t = match n {
        Num::F(f) if node.int_floats && f.fract() == 0.0 => T_INT,
        Num::F(_) => T_NUM,
        _ => T_INT | T_NUM,
    };
    // `enum`/`const` here never hold numbers.
    type_ok(node, t)
        && node.enums.is_empty()
        && node.bounds.iter().all(|&(b, limit)| b.holds(n, limit))
}

fn string_ok(node: &Node, s: &[u8]) -> bool {
    if !type_ok(node, T_STR) {
        return false;
    }
    if node.min_len > 0 || node.max_len < u64::MAX {
        // Code points, as `jsonschema` counts them: in UTF-8, the bytes that are not
        // continuation bytes (0x80..=0xBF).
        let len = s.iter().filter(|&&c| !(0x80..0xC0).contains(&c)).count() as u64;
        if len < node.min_len || len > node.max_len {
            return false;
        }
    }
    let in_enums = node.enums.iter().all(|list| {
        list.iter()
            .any(|x| matches!(x, Scalar::Str(e) if same(e.as_bytes(), s)))
    });
    in_enums
        && node.pattern.is_none_or(|p| p.matches(s))
        && node.strings.as_ref().is_none_or(|v| {
            std::str::from_utf8(s).is_ok_and(|s| v.is_valid(&Value::String(s.to_owned())))
        })
}

/// Byte equality without a call into `memcmp` (keys and enum values are short).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// Which node checks the value under `key`, and the key's `required` bit.
fn lookup(node: &Node, key: &[u8]) -> (NodeId, u64) {
    let props = &node.props;
    let found = if props.len() <= 16 {
        props.iter().find(|p| same(p.name.as_bytes(), key))
    } else {
        // Byte order is `str` order.
        props
            .binary_search_by(|p| p.name.as_bytes().cmp(key))
            .ok()
            .and_then(|i| props.get(i))
    };
    match found {
        Some(p) => (p.node, p.bit),
        None => (node.additional, 0),
    }
}

#[cfg(test)]
mod tests;
