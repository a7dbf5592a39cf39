//! JSON Schema: parsing (drafts 4, 6, 7, 2019-09, 2020-12), canonical form, payload
//! validation and Confluent's schema-diff compatibility.
//!
//! - validation uses the `jsonschema` crate with remote `$ref` fetching compiled out: only
//!   local references and the schema's resolved references are reachable;
//! - a fast path ([`fast`](self)) runs first when the schema only uses keywords it implements:
//!   the schema compiled into a flat program, checked in one scan over the body. It can only
//!   answer "valid"; whatever it declines (and every rejection) goes to the `jsonschema`
//!   validator, which words the error. Differential tests hold it to the crate's verdicts;
//! - [`model`](self) loads the schema the way Confluent's everit-based provider sees it, and
//!   [`diff`] compares two such models under Confluent's strict policy.

pub mod diff;
mod fast;
mod limits;
mod model;

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use crate::schema::{DecodeError, ResolvedReference, SchemaError, SchemaType};
use crate::verdict::Incompatibility;

/// Deepest object/array nesting accepted in a schema document.
pub const MAX_SCHEMA_DEPTH: usize = 64;

/// Largest schema text (and each reference) accepted, in bytes.
const MAX_SCHEMA_LEN: usize = 1 << 20;

/// Base URI that relative reference names resolve against when the schema has no `$id`.
const BASE_URI: &str = "json-schema:///";

/// A compiled JSON Schema: validator, diff model and canonical text.
#[derive(Clone)]
pub struct JsonSchema {
    validator: Arc<jsonschema::Validator>,
    /// The validate-while-parsing program, when the schema only uses what it implements.
    fast: Option<Arc<fast::Program>>,
    model: Arc<model::Model>,
    canonical: String,
    /// The root `title`, kept from parsing for the record-name subject strategies.
    title: Option<String>,
}

impl std::fmt::Debug for JsonSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonSchema")
            .field("canonical", &self.canonical)
            .finish_non_exhaustive()
    }
}

fn invalid(reason: impl Into<String>) -> SchemaError {
    SchemaError::Invalid {
        schema_type: SchemaType::Json,
        reason: reason.into(),
    }
}

/// Parses JSON text with the size and depth caps applied.
fn parse_document(what: &str, text: &str) -> Result<Value, SchemaError> {
    if text.len() > MAX_SCHEMA_LEN {
        return Err(invalid(format!("{what} exceeds {MAX_SCHEMA_LEN} bytes")));
    }
    // serde_json stops at 128 levels on its own; the schema cap is stricter.
    let value: Value = serde_json::from_str(text)
        .map_err(|e| invalid(format!("{what} is not valid JSON: {e}")))?;
    if depth(&value) > MAX_SCHEMA_DEPTH {
        return Err(invalid(format!(
            "{what} nests deeper than {MAX_SCHEMA_DEPTH} levels"
        )));
    }
    if !matches!(value, Value::Object(_) | Value::Bool(_)) {
        return Err(invalid(format!("{what} must be a JSON object or boolean")));
    }
    Ok(value)
}

fn depth(v: &Value) -> usize {
    match v {
        Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// The draft named by `$schema`; draft 7 when absent, as Confluent assumes.
fn draft_of(v: &Value) -> Result<jsonschema::Draft, SchemaError> {
    use jsonschema::Draft;
    let Some(uri) = v.get("$schema") else {
        return Ok(Draft::Draft7);
    };
    let uri = uri
        .as_str()
        .ok_or_else(|| invalid("$schema must be a string"))?;
    Ok(if uri.contains("draft-04") {
        Draft::Draft4
    } else if uri.contains("draft-06") {
        Draft::Draft6
    } else if uri.contains("draft-07") {
        Draft::Draft7
    } else if uri.contains("2019-09") {
        Draft::Draft201909
    } else if uri.contains("2020-12") {
        Draft::Draft202012
    } else {
        return Err(invalid(format!("unsupported $schema {uri:?}")));
    })
}

/// Writes `v` with object keys sorted and no whitespace.
fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                if let Some(x) = m.get(k) {
                    write_canonical(x, out);
                }
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

impl JsonSchema {
    /// Parses and compiles a schema; `refs` are the documents its `$ref`s name.
    pub fn parse(text: &str, refs: &[ResolvedReference]) -> Result<Self, SchemaError> {
        let root = parse_document("schema", text)?;
        let draft = draft_of(&root)?;
        let mut docs: HashMap<String, Value> = HashMap::new();
        let mut options = jsonschema::options().with_draft(draft);
        let base = root
            .get("$id")
            .or_else(|| root.get("id"))
            .and_then(Value::as_str)
            .and_then(|id| id.rsplit_once('/').map(|(b, _)| format!("{b}/")));
        for r in refs {
            let doc = parse_document(&format!("reference {:?}", r.name), &r.schema)?;
            let ref_draft = draft_of(&doc).unwrap_or(draft);
            let mut uris = vec![r.name.clone()];
            if !r.name.contains(':') {
                uris.push(format!("{BASE_URI}{}", r.name.trim_start_matches('/')));
                if let Some(b) = &base {
                    uris.push(format!("{b}{}", r.name));
                }
            }
            for uri in uris {
                options = options.with_resource(uri, ref_draft.create_resource(doc.clone()));
            }
            docs.insert(r.name.clone(), doc);
        }
        docs.insert(String::new(), root);
        limits::check_effective_depth(&docs).map_err(invalid)?;
        limits::check_left_recursion(&docs).map_err(invalid)?;
        let root = docs.remove("").unwrap_or(Value::Null);
        let validator = options.build(&root).map_err(|e| {
            invalid(format!(
                "{e} (at {})",
                pointer_or_root(&e.schema_path.to_string())
            ))
        })?;
        let fast = fast::Program::compile(&root, draft).map(Arc::new);
        let mut canonical = String::new();
        write_canonical(&root, &mut canonical);
        let title = root
            .get("title")
            .and_then(Value::as_str)
            .map(str::to_string);
        docs.insert(String::new(), root);
        let ref_siblings = matches!(
            draft,
            jsonschema::Draft::Draft201909 | jsonschema::Draft::Draft202012
        );
        let model = model::Loader::new(&docs, ref_siblings)
            .load()
            .ok_or_else(|| {
                invalid(format!(
                    "schema nests deeper than {} levels through $ref chains",
                    model::MAX_LOAD_DEPTH
                ))
            })?;
        Ok(Self {
            validator: Arc::new(validator),
            fast,
            model: Arc::new(model),
            canonical,
            title,
        })
    }

    /// The schema as compact JSON with sorted keys.
    pub fn canonical(&self) -> String {
        self.canonical.clone()
    }

    /// The root `title`, which Confluent's JSON serializer uses as the record name.
    pub fn record_name(&self) -> Option<String> {
        self.title.clone()
    }

    /// The body must be JSON and valid; the error names the first failing instance location
    /// as a JSON pointer.
    pub fn validate(&self, body: &[u8]) -> Result<(), DecodeError> {
        // The fast path only ever says "valid"; everything else (including what it declines)
        // goes through the `jsonschema` validator below, which decides and words the error.
        if let Some(fast) = &self.fast {
            if fast.accepts(body) {
                return Ok(());
            }
        }
        self.validate_slow(body)
    }

    /// The `jsonschema` validator alone: parse into a `Value`, then check it.
    fn validate_slow(&self, body: &[u8]) -> Result<(), DecodeError> {
        let instance: Value = serde_json::from_slice(body).map_err(|e| DecodeError {
            path: "(payload)".into(),
            reason: format!("not valid JSON: {e}"),
        })?;
        // `is_valid` short-circuits without building errors (`iter_errors` collects each
        // keyword's errors into vectors even when there are none); the error walk runs only
        // for a body that fails, so the verdict and the error reported are unchanged.
        if self.validator.is_valid(&instance) {
            return Ok(());
        }
        let first = self
            .validator
            .iter_errors(&instance)
            .next()
            .map(|e| DecodeError {
                path: pointer_or_root(&e.instance_path.to_string()),
                reason: e.to_string(),
            });
        first.map_or(Ok(()), Err)
    }
}

fn pointer_or_root(p: &str) -> String {
    if p.is_empty() {
        "(root)".into()
    } else {
        p.to_string()
    }
}

/// Can `reader` read data written with `writer`? Confluent's `reader.isBackwardCompatible(writer)`
/// under the strict policy: every difference outside Confluent's compatible set. Empty means yes.
pub fn can_read(reader: &JsonSchema, writer: &JsonSchema) -> Vec<Incompatibility> {
    diff::compare(&writer.model, &reader.model)
        .into_iter()
        .filter(|d| !diff::is_compatible(d.kind))
        .map(|d| Incompatibility {
            path: d.path,
            message: format!("{}: {}", d.kind, explain(d.kind)),
        })
        .collect()
}

/// One line on why an incompatible JSON Schema change breaks readers.
fn explain(kind: &str) -> &'static str {
    match kind {
        "TYPE_CHANGED" => "the type changed; data of the old type no longer validates",
        "TYPE_NARROWED" => "the type narrowed (e.g. number to integer)",
        "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL" => {
            "property added to an open content model: old data may hold any value under that name"
        }
        "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL" => {
            "property removed from a closed content model: old data containing it is now rejected"
        }
        "REQUIRED_ATTRIBUTE_ADDED" | "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL" => {
            "property became required without a default: old data may lack it"
        }
        "ADDITIONAL_PROPERTIES_REMOVED" | "ADDITIONAL_PROPERTIES_NARROWED" => {
            "additional properties are now restricted"
        }
        "ENUM_ARRAY_NARROWED" | "ENUM_ARRAY_CHANGED" => "allowed values were removed or changed",
        "COMBINED_TYPE_CHANGED"
        | "COMBINED_TYPE_SUBSCHEMAS_CHANGED"
        | "SUM_TYPE_NARROWED"
        | "PRODUCT_TYPE_EXTENDED" => {
            "the combined schema (oneOf/anyOf/allOf) accepts less than before"
        }
        k if k.ends_with("_ADDED") => "a new constraint rejects some old data",
        k if k.ends_with("_DECREASED")
            || k.ends_with("_INCREASED")
            || k.ends_with("_CHANGED")
            || k.ends_with("_NARROWED")
            || k.ends_with("_EXTENDED")
            || k.ends_with("_EXPANDED") =>
        {
            "a constraint tightened; some old data no longer validates"
        }
        _ => "incompatible change",
    }
}

#[cfg(test)]
mod tests;
