//! The fast path against the `jsonschema` crate: random documents (random trees, and valid
//! documents under random mutations, with repeated keys, number spellings and broken text)
//! must get the crate's verdict from `JsonSchema::validate`, and the fast path alone must never
//! accept what the crate rejects.

use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestRunner};

use super::Program;
use crate::json::{draft_of, JsonSchema};

include!("../../../benches/fixtures/json_order.rs");

/// A document as written: objects may repeat keys, numbers keep their spelling.
#[derive(Clone, Debug)]
enum Doc {
    Null,
    Bool(bool),
    Num(&'static str),
    Str(String),
    Arr(Vec<Doc>),
    Obj(Vec<(String, Doc)>),
}

const NUMS: &[&str] = &[
    "0",
    "1",
    "-1",
    "2",
    "3",
    "7",
    "-5",
    "-6",
    "64",
    "1000",
    "1001",
    "999.5",
    "0.5",
    "0.50001",
    "1.0",
    "-0",
    "-0.0",
    "1e2",
    "1E3",
    "2.5e-3",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775808",
    "-9223372036854775809",
    "1e308",
    "1e400",
    "1763000000000",
    "1234567",
];

const KEYS: &[&str] = &[
    "order_id",
    "account_id",
    "status",
    "amount_cents",
    "currency",
    "ts",
    "note",
    "gift",
    "items",
    "sku",
    "qty",
    "price_cents",
    "a",
    "b",
    "c",
    "n",
    "s",
    "e",
    "d",
    "tags",
    "child",
    "children",
    "value",
    "id",
    "é",
    // Near misses and unusual names, for the keys matched on their raw bytes.
    "",
    "ab",
    "abc",
    "a b",
    "a\"b",
    "order_idx",
    "orde",
    "p0",
    "p1",
    "p39",
    "p40",
];

fn strings() -> Vec<String> {
    let mut v: Vec<String> = [
        "",
        "NEW",
        "PAID",
        "SHIPPED",
        "new",
        "EUR",
        "eur",
        "EURO",
        "ab",
        "abc",
        "abcd",
        "abcde",
        "abc1",
        "abc12",
        "ñé",
        "ñéñé",
        "ñéñéñ",
        "😀😀😀",
        "a\"b\\c\n",
        "x@example.com",
        "not an email",
        "2026-12-07",
        "2026-13-07",
        "\u{0}",
        "SKU-000001-XL",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push("x".repeat(64));
    v.push("x".repeat(65));
    v
}

fn leaf() -> impl Strategy<Value = Doc> {
    prop_oneof![
        Just(Doc::Null),
        any::<bool>().prop_map(Doc::Bool),
        prop::sample::select(NUMS).prop_map(Doc::Num),
        prop::sample::select(strings()).prop_map(Doc::Str),
    ]
}

fn doc() -> impl Strategy<Value = Doc> {
    leaf().prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Doc::Arr),
            prop::collection::vec(
                (prop::sample::select(KEYS).prop_map(String::from), inner),
                0..7
            )
            .prop_map(Doc::Obj),
        ]
    })
}

fn write(d: &Doc, out: &mut String) {
    match d {
        Doc::Null => out.push_str("null"),
        Doc::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Doc::Num(n) => out.push_str(n),
        Doc::Str(s) => out.push_str(&serde_json::to_string(s).unwrap()),
        Doc::Arr(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(x, out);
            }
            out.push(']');
        }
        Doc::Obj(m) => {
            out.push_str("{ ");
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&serde_json::to_string(k).unwrap());
                out.push(':');
                write(x, out);
            }
            out.push('}');
        }
    }
}

fn from_value(v: &serde_json::Value) -> Doc {
    use serde_json::Value;
    match v {
        Value::Null => Doc::Null,
        Value::Bool(b) => Doc::Bool(*b),
        // Seeds only use numbers that appear in NUMS.
        Value::Number(n) => {
            let s = n.to_string();
            Doc::Num(NUMS.iter().find(|x| **x == s).copied().unwrap_or("0"))
        }
        Value::String(s) => Doc::Str(s.clone()),
        Value::Array(a) => Doc::Arr(a.iter().map(from_value).collect()),
        Value::Object(m) => Doc::Obj(m.iter().map(|(k, x)| (k.clone(), from_value(x))).collect()),
    }
}

fn count(d: &Doc) -> usize {
    1 + match d {
        Doc::Arr(a) => a.iter().map(count).sum(),
        Doc::Obj(m) => m.iter().map(|(_, x)| count(x)).sum(),
        _ => 0,
    }
}

/// Applies mutation `op` at the `k`-th node (preorder); returns whether it was applied.
fn mutate(d: &mut Doc, k: &mut usize, op: u8, key: &str, repl: &Doc) -> bool {
    if *k == 0 {
        match (op % 6, &mut *d) {
            (0, _) => *d = repl.clone(),
            (1, Doc::Obj(m)) if !m.is_empty() => {
                let i = key.len() % m.len();
                m.remove(i);
            }
            (2, Doc::Obj(m)) if !m.is_empty() => {
                // A repeated key: `Value` keeps the last occurrence.
                let i = key.len() % m.len();
                let name = m[i].0.clone();
                m.push((name, repl.clone()));
            }
            (3, Doc::Obj(m)) => m.push((key.to_string(), repl.clone())),
            (4, Doc::Arr(a)) => a.push(repl.clone()),
            (5, Doc::Arr(a)) if !a.is_empty() => {
                a.pop();
            }
            _ => *d = repl.clone(),
        }
        return true;
    }
    *k -= 1;
    match d {
        Doc::Arr(a) => a.iter_mut().any(|x| mutate(x, k, op, key, repl)),
        Doc::Obj(m) => m.iter_mut().any(|(_, x)| mutate(x, k, op, key, repl)),
        _ => false,
    }
}

type Mutation = (Index, u8, &'static str, Doc);

/// A body: a seed document under mutations, or a random tree; sometimes with broken text.
fn body(seeds: Vec<Doc>) -> impl Strategy<Value = Vec<u8>> {
    let muts = prop::collection::vec(
        (
            any::<Index>(),
            any::<u8>(),
            prop::sample::select(KEYS),
            // Mostly leaves, so that single keywords get probed one value at a time.
            prop_oneof![3 => leaf(), 1 => doc()],
        ),
        0..3,
    );
    let tree = prop_oneof![
        2 => (prop::sample::select(seeds), muts).prop_map(|(mut d, muts): (Doc, Vec<Mutation>)| {
            for (at, op, key, repl) in muts {
                let mut k = at.index(count(&d));
                mutate(&mut d, &mut k, op, key, &repl);
            }
            d
        }),
        1 => doc(),
    ];
    // Bytes that matter to the JSON grammar, for single-byte damage.
    // The last ones break UTF-8 inside a string: lone lead and continuation bytes, a surrogate's
    // and an overlong form's lead bytes.
    const SYNTAX: &[u8] =
        b",:{}[]\"\\-+.eE0189 \t\n\x01\x7fnulltrfase\xc3\xa9\x80\xbf\xc0\xed\xf0\xf4\xf5";
    (tree, any::<Index>(), 0u8..20, prop::sample::select(SYNTAX)).prop_map(
        |(d, cut, damage, byte)| {
            let mut s = String::new();
            write(&d, &mut s);
            let mut b = s.into_bytes();
            let i = cut.index(b.len() + 1);
            match damage {
                0 => b.truncate(i),
                1 => b.extend_from_slice(b" x"),
                2 => b.extend_from_slice(b" \n"),
                3 if i < b.len() => b[i] = 0xff,
                4 if i < b.len() => b[i] = byte,
                5 => b.insert(i, byte),
                6 if i < b.len() => {
                    b.remove(i);
                }
                _ => {}
            }
            b
        },
    )
}

/// Runs `cases` random bodies through both paths; returns (crate-valid, fast-accepted) counts.
fn differential(schema: &str, seeds: &[&str], cases: u32) -> (usize, usize, usize) {
    let parsed: serde_json::Value = serde_json::from_str(schema).unwrap();
    let draft = draft_of(&parsed).unwrap();
    let reference = jsonschema::options()
        .with_draft(draft)
        .build(&parsed)
        .unwrap();
    let ours = JsonSchema::parse(schema, &[]).unwrap();
    let program = Program::compile(&parsed, draft);
    let seeds: Vec<Doc> = seeds
        .iter()
        .map(|s| {
            let v: serde_json::Value = serde_json::from_str(s).unwrap();
            assert!(reference.is_valid(&v), "seed {s} must be valid");
            from_value(&v)
        })
        .collect();
    let (valid, fast, total) = (
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    );
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&body(seeds), |b| {
        let truth = serde_json::from_slice::<serde_json::Value>(&b)
            .map(|v| reference.is_valid(&v))
            .unwrap_or(false);
        let accepted = program.as_ref().is_some_and(|p| p.accepts(&b));
        let text = String::from_utf8_lossy(&b);
        prop_assert!(
            !accepted || truth,
            "fast path accepted what jsonschema rejects: {text}"
        );
        prop_assert_eq!(
            ours.validate(&b).is_ok(),
            truth,
            "verdict differs on {}",
            text
        );
        total.fetch_add(1, Ordering::Relaxed);
        valid.fetch_add(usize::from(truth), Ordering::Relaxed);
        fast.fetch_add(usize::from(accepted), Ordering::Relaxed);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    (valid.into_inner(), fast.into_inner(), total.into_inner())
}

/// The fast path must compile this schema and take most of its valid bodies (it declines
/// floats under `["integer", ...]` and repeated keys whose first value fails).
fn covered(schema: &str, seeds: &[&str]) {
    let parsed: serde_json::Value = serde_json::from_str(schema).unwrap();
    assert!(
        Program::compile(&parsed, draft_of(&parsed).unwrap()).is_some(),
        "the fast path should compile {schema}"
    );
    let (valid, fast, total) = differential(schema, seeds, 1000);
    eprintln!("{total} bodies: {valid} valid, {fast} taken by the fast path");
    assert!(valid * 20 >= total, "too few valid bodies: {valid}/{total}");
    assert!(
        fast * 10 >= valid * 9,
        "the fast path took only {fast} of {valid} valid bodies"
    );
}

/// The fast path declines this schema; the verdicts must still be the crate's.
fn declined(schema: &str, seeds: &[&str]) {
    let parsed: serde_json::Value = serde_json::from_str(schema).unwrap();
    assert!(Program::compile(&parsed, draft_of(&parsed).unwrap()).is_none());
    let (valid, fast, _) = differential(schema, seeds, 200);
    assert!(valid > 0);
    assert_eq!(fast, 0);
}

#[test]
fn order_schema_matches_jsonschema() {
    let seed = String::from_utf8(json_order_body(3)).unwrap();
    let minimal = r#"{"order_id":"a","account_id":"b","status":"NEW","amount_cents":0,"currency":"EUR","ts":-5,"items":[]}"#;
    covered(JSON_ORDER, &[&seed, minimal]);
}

const NESTED: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "required": ["a", "child"],
  "additionalProperties": false,
  "properties": {
    "a": {"type": "integer", "minimum": -5, "exclusiveMaximum": 1000},
    "b": {"type": ["string", "null"], "minLength": 2, "maxLength": 4},
    "c": {"const": "abc"},
    "child": {
      "type": "object",
      "required": ["n", "s"],
      "properties": {"n": {"type": "number", "exclusiveMinimum": 0.5, "maximum": 18446744073709551615}},
      "additionalProperties": {"type": "boolean"},
      "maxProperties": 3
    },
    "tags": {"type": "array", "items": {"enum": ["NEW", "PAID", null, true]}, "minItems": 1, "maxItems": 3}
  }
}"#;

#[test]
fn nested_objects_arrays_enums_bounds_match_jsonschema() {
    covered(
        NESTED,
        &[
            r#"{"a":7,"child":{"n":1000,"s":true}}"#,
            r#"{"a":-5,"b":"ñéñé","c":"abc","child":{"n":0.50001,"s":false,"e":true},"tags":["NEW",null,true]}"#,
            r#"{"a":64,"b":null,"child":{"n":18446744073709551615,"s":true},"tags":["PAID"]}"#,
        ],
    );
}

const RECURSIVE: &str = r##"{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "definitions": {
    "tree": {
      "type": "object",
      "required": ["value"],
      "properties": {
        "value": {"type": "integer", "maximum": 64},
        "children": {"type": "array", "items": {"$ref": "#/definitions/tree"}}
      }
    }
  },
  "$ref": "#/definitions/tree"
}"##;

#[test]
fn recursive_refs_match_jsonschema() {
    covered(
        RECURSIVE,
        &[
            r#"{"value":1,"children":[{"value":2},{"value":3,"children":[{"value":-1,"children":[]}]}]}"#,
            r#"{"value":64}"#,
        ],
    );
}

const STRINGS: &str = r#"{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "properties": {
    "s": {"type": "string", "pattern": "^[a-z]+\\d?$", "maxLength": 4},
    "e": {"type": "string", "format": "email"},
    "d": {"type": "string", "format": "date", "minLength": 1},
    "n": {"type": ["integer", "string"], "minimum": 0}
  },
  "required": ["s"]
}"#;

#[test]
fn string_lengths_patterns_formats_match_jsonschema() {
    covered(
        STRINGS,
        &[
            r#"{"s":"abc1","e":"x@example.com","d":"2026-12-07","n":"abc"}"#,
            r#"{"s":"ab","n":7}"#,
        ],
    );
}

/// Property names matched on the raw key bytes: the empty name, prefixes of each other, a
/// space, non-ASCII.
const KEY_NAMES: &str = r#"{
  "type": "object",
  "additionalProperties": false,
  "required": ["", "ab"],
  "properties": {
    "": {"type": "integer"},
    "a": {"type": "string"},
    "ab": {"type": "boolean"},
    "abc": {"type": "null"},
    "a b": {"type": "integer"},
    "é": {"type": "integer"}
  }
}"#;

/// A name with a quote: this node's keys are scanned, then looked up (a body that holds that
/// key, necessarily escaped, is declined).
const QUOTED_NAME: &str = r#"{
  "type": "object",
  "required": ["a"],
  "properties": {"a\"b": {"type": "integer"}, "a": {"type": "string"}},
  "additionalProperties": {"type": "boolean"}
}"#;

#[test]
fn key_names_match_jsonschema() {
    covered(
        KEY_NAMES,
        &[
            r#"{"":1,"ab":true}"#,
            r#"{"":0,"ab":false,"a":"x","abc":null,"a b":7,"é":3}"#,
        ],
    );
    covered(
        QUOTED_NAME,
        &[r#"{"a":"x"}"#, r#"{"a":"x","ab":true,"c":false}"#],
    );
    // More properties than are matched on raw bytes: binary search after the string scan.
    let props: Vec<String> = (0..40)
        .map(|i| format!(r#""p{i}":{{"type":"integer"}}"#))
        .collect();
    let many = format!(
        r#"{{"type":"object","additionalProperties":false,"required":["p0","p39"],"properties":{{{}}}}}"#,
        props.join(",")
    );
    covered(
        &many,
        &[r#"{"p0":1,"p39":2}"#, r#"{"p0":1,"p1":2,"p39":3}"#],
    );
    // A declared name written with an escape is declined (the crate decides), a longer or
    // shorter key is another property.
    let s = JsonSchema::parse(KEY_NAMES, &[]).unwrap();
    let p = s.fast.as_ref().unwrap();
    assert!(!p.accepts(br#"{"":1,"\u0061b":true}"#));
    assert!(s.validate(br#"{"":1,"\u0061b":true}"#).is_ok());
    for bad in [
        &br#"{"":1,"abd":true}"#[..],
        br#"{"":1,"ab ":true}"#,
        br#"{" ":1,"ab":true}"#,
        br#"{"":1,"ab":true,"abc":1}"#,
        br#"{"":1,"ab":true,"a":1}"#,
        br#"{"":1,"ab"#,
        br#"{"":1,"ab":"#,
    ] {
        assert!(!p.accepts(bad));
        assert!(s.validate(bad).is_err());
    }
    assert!(p.accepts(br#"{"" : 1 , "ab" :true,"abc":null}"#));
}

const DRAFT4: &str = r#"{
  "$schema": "http://json-schema.org/draft-04/schema#",
  "type": "object",
  "properties": {"n": {"type": "integer", "minimum": 0, "maximum": 10}, "s": {"type": "string"}},
  "required": ["n"],
  "additionalProperties": false
}"#;

const BOOLEANS: &str = r#"{
  "properties": {"a": false, "b": true, "items": {"items": false}},
  "additionalProperties": {"type": "string"},
  "maxProperties": 3
}"#;

#[test]
fn draft4_and_boolean_schemas_match_jsonschema() {
    covered(DRAFT4, &[r#"{"n":3,"s":"x"}"#, r#"{"n":10}"#]);
    covered(
        BOOLEANS,
        &[r#"{"b":[1,{"x":null}],"s":"abc","items":[]}"#, r#"{}"#],
    );
}

#[test]
fn combinators_and_unusual_keywords_fall_back() {
    declined(
        r#"{"type":"object","properties":{"a":{"oneOf":[{"type":"integer"},{"type":"string","maxLength":2}]},"b":{"anyOf":[{"type":"null"},{"minimum":3}]}}}"#,
        &[r#"{"a":1,"b":null}"#, r#"{"a":"ab","b":7}"#],
    );
    declined(
        r#"{"$schema":"http://json-schema.org/draft-04/schema#","properties":{"n":{"maximum":10,"exclusiveMaximum":true}}}"#,
        &[r#"{"n":3}"#],
    );
    declined(
        r##"{"properties":{"n":{"$ref":"#/definitions/x","maximum":3}},"definitions":{"x":{"type":"integer"}}}"##,
        &[r#"{"n":2}"#],
    );
    declined(
        r#"{"properties":{"n":{"enum":[1,2,"x"]}},"patternProperties":{"^s":{"type":"string"}}}"#,
        &[r#"{"n":1,"s":"a"}"#],
    );
}

#[test]
fn repeated_keys_keep_the_last_value_like_jsonschema() {
    let s = JsonSchema::parse(r#"{"properties":{"a":{"type":"integer"}}}"#, &[]).unwrap();
    let p = s.fast.as_ref().unwrap();
    // `Value` keeps the last `a`: valid, though the fast path (checking both) declines.
    assert!(!p.accepts(br#"{"a":"x","a":1}"#));
    s.validate(br#"{"a":"x","a":1}"#).unwrap();
    assert!(!p.accepts(br#"{"a":1,"a":"x"}"#));
    assert_eq!(s.validate(br#"{"a":1,"a":"x"}"#).unwrap_err().path, "/a");
}

#[test]
fn integer_floats_are_declined_not_misjudged() {
    // jsonschema takes 1.0 as an integer under a lone "integer" (drafts 6 on), not in a list.
    let s = JsonSchema::parse(r#"{"type":"integer"}"#, &[]).unwrap();
    let p = s.fast.as_ref().unwrap();
    assert!(p.accepts(b"5") && p.accepts(b"1.0") && p.accepts(b"1e2"));
    assert!(!p.accepts(b"1.5"));
    assert!(s.validate(b"1.5").is_err());
    let s = JsonSchema::parse(r#"{"type":["integer","null"]}"#, &[]).unwrap();
    let p = s.fast.as_ref().unwrap();
    assert!(p.accepts(b"5") && p.accepts(b"null"));
    assert!(!p.accepts(b"1.0"));
    assert!(s.validate(b"1.0").is_err());
    // serde_json reads `-0` as the float -0.0.
    assert!(!p.accepts(b"-0"));
    assert!(s.validate(b"-0").is_err());
    let s = JsonSchema::parse(
        r#"{"$schema":"http://json-schema.org/draft-04/schema#","type":"integer"}"#,
        &[],
    )
    .unwrap();
    let p = s.fast.as_ref().unwrap();
    assert!(!p.accepts(b"1.0"));
    assert!(s.validate(b"1.0").is_err());
}

#[test]
fn hostile_bodies_are_declined_without_panics() {
    let s = JsonSchema::parse(RECURSIVE, &[]).unwrap();
    let p = s.fast.as_ref().unwrap();
    let deep = format!(
        "{}{{\"value\":1}}{}",
        r#"{"value":1,"children":["#.repeat(5000),
        "]}".repeat(5000)
    );
    assert!(!p.accepts(deep.as_bytes()));
    assert!(s.validate(deep.as_bytes()).is_err());
    for bad in [
        &b""[..],
        b"{",
        b"{\"value\":1} {}",
        b"{\"value\":1e400}",
        b"\xff",
        // Broken UTF-8 inside strings: lone continuation, truncated sequence, surrogate,
        // overlong form, beyond U+10FFFF, and after valid non-ASCII text and a long ASCII run.
        b"{\"value\":1,\"x\":\"\x80\"}",
        b"{\"value\":1,\"x\":\"ab\xc3\"}",
        b"{\"value\":1,\"x\":\"\xed\xa0\x80\"}",
        b"{\"value\":1,\"x\":\"\xc0\xaf\"}",
        b"{\"value\":1,\"x\":\"\xf4\x90\x80\x80\"}",
        b"{\"value\":1,\"x\":\"\xc3\xa9 abcdefghijklmnop \xe9\"}",
        b"{\"value\":1,\"\xff\":2}",
    ] {
        assert!(!p.accepts(bad));
        assert!(s.validate(bad).is_err());
    }
    assert!(p.accepts(br#"{"value":1}"#));
    assert!(p.accepts(r#"{"value":1,"x":"é abcdefghijklmnop ñ😀","ü":"abcdefghé"}"#.as_bytes()));
}

#[test]
fn ref_cycles_without_descent_fall_back() {
    // A `$ref`-only cycle compiles to no program (the schema limits reject it earlier too).
    let v: serde_json::Value =
        serde_json::from_str(r##"{"definitions":{"a":{"$ref":"#/definitions/b"},"b":{"$ref":"#/definitions/a"}},"$ref":"#/definitions/a"}"##)
            .unwrap();
    assert!(Program::compile(&v, jsonschema::Draft::Draft7).is_none());
}

/// Every bound keyword at every limit against every number spelling, and the count keywords
/// at their edges: here the fast path must give exactly the crate's verdict (not just decline).
#[test]
fn keyword_boundaries_match_jsonschema_exactly() {
    const LIMITS: &[&str] = &[
        "0",
        "1",
        "-5",
        "1000",
        "0.5",
        "2.5",
        "1e3",
        "18446744073709551615",
        "-9223372036854775808",
    ];
    let mut schemas = Vec::new();
    for kw in ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"] {
        for limit in LIMITS {
            for ty in ["", r#""type":"number","#, r#""type":"integer","#] {
                schemas.push(format!("{{{ty}\"{kw}\":{limit}}}"));
            }
        }
    }
    for n in 0..4 {
        for kw in [
            "maxProperties",
            "minItems",
            "maxItems",
            "minLength",
            "maxLength",
        ] {
            schemas.push(format!("{{\"{kw}\":{n}}}"));
        }
    }
    let mut bodies: Vec<String> = NUMS.iter().map(|n| n.to_string()).collect();
    for n in 0..5 {
        let keys: Vec<String> = (0..n).map(|i| format!("\"k{i}\":{i}")).collect();
        bodies.push(format!("{{{}}}", keys.join(",")));
        let items: Vec<String> = (0..n).map(|i| i.to_string()).collect();
        bodies.push(format!("[{}]", items.join(",")));
        bodies.push(serde_json::to_string(&"é".repeat(n)).unwrap());
    }
    let mut checked = 0;
    for schema in &schemas {
        let parsed: serde_json::Value = serde_json::from_str(schema).unwrap();
        let reference = jsonschema::validator_for(&parsed).unwrap();
        let program = Program::compile(&parsed, jsonschema::Draft::Draft7).unwrap();
        for body in &bodies {
            let truth = serde_json::from_str::<serde_json::Value>(body)
                .map(|v| reference.is_valid(&v))
                .unwrap_or(false);
            assert_eq!(
                program.accepts(body.as_bytes()),
                truth,
                "{schema} on {body}"
            );
            checked += 1;
        }
    }
    assert!(checked > 2000);
}

proptest! {
    #![proptest_config(Config { cases: 2000, failure_persistence: None, ..Config::default() })]

    /// The 8-byte string skip agrees with the byte-wise test on every word: its lowest flagged
    /// byte is the first byte that is `"`, `\\` or a control character, and no byte is flagged
    /// when there is none.
    #[test]
    fn stop_words_match_the_bytewise_test(bytes in any::<[u8; 8]>(), pick in 0usize..8, special in prop::sample::select(vec![b'"', b'\\', 0u8, 0x1f, 0x20, 0x21, 0x7f, 0x80, 0xff])) {
        for w in [bytes, { let mut b = bytes; b[pick] = special; b }] {
            let bytewise = w.iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20);
            let stop = super::stops(u64::from_le_bytes(w));
            let first = (stop != 0).then(|| (stop.trailing_zeros() / 8) as usize);
            prop_assert_eq!(first, bytewise);
        }
    }

    /// The patterns checked here give the `jsonschema` crate's verdict on any string: ASCII
    /// and not, empty, long, with a newline before the end.
    #[test]
    fn class_repeat_patterns_match_jsonschema(
        class in prop::sample::select(vec!["A-Z", "a-z0-9_", "0-9", "A-Za-z", "x", "ab-d_", "A-z", "Z", "_0-9A-F"]),
        quant in prop::sample::select(vec!["", "+", "*", "?", "{3}", "{0}", "{2,4}", "{1,}", "{0,1}", "{10}", "{3,3}", "{0,}"]),
        chars in prop::collection::vec(prop::sample::select(vec!['A', 'B', 'Z', 'a', 'c', 'e', 'z', '0', '9', '_', 'x', '[', '\\', '^', '`', '-', ' ', '\n', 'é', 'Ａ', '😀', '\u{0}']), 0..40),
        run in prop::option::of((prop::sample::select(vec!['A', 'Q', 'a', '0', '_', 'é', '\n']), 0usize..12)),
    ) {
        let pattern = format!("^[{class}]{quant}$");
        let p = super::ClassRepeat::parse(&pattern).expect("a simple pattern");
        // Runs of one character reach the exact counts.
        let s: String = match run {
            Some((c, n)) => std::iter::repeat_n(c, n).collect(),
            None => chars.iter().collect(),
        };
        let schema = serde_json::json!({"pattern": pattern});
        let reference = jsonschema::validator_for(&schema).unwrap();
        prop_assert_eq!(
            p.matches(s.as_bytes()),
            reference.is_valid(&serde_json::Value::String(s.clone())),
            "{} on {:?}", pattern, s
        );
    }
}

/// Patterns outside the subset are left to the `jsonschema` crate's regex.
#[test]
fn other_patterns_are_delegated() {
    for p in [
        "[A-Z]{3}",
        "^[A-Z]{3}",
        "[A-Z]{3}$",
        "^[^A-Z]{3}$",
        "^[A-Z]{3}$|x",
        "^[A-Z]{3}x$",
        "^[A-Z]{3}?$",
        "^[A-Z]+?$",
        "^[A-Z]{,3}$",
        "^[A-Z]{+3}$",
        "^[A-Z]{3,1}$",
        "^[A-Z]{1001}$",
        "^[A-Z-]{3}$",
        "^[-A-Z]{3}$",
        "^[Z-A]{3}$",
        "^[\\d]{3}$",
        "^[.]$",
        "^[]$",
        "^[a-z]+\\d?$",
        "^[é]$",
        "^[A-Z]{3}$\n",
    ] {
        assert!(super::ClassRepeat::parse(p).is_none(), "{p}");
    }
    // A newline before the end, and other near misses, get the crate's verdict.
    let currency = super::ClassRepeat::parse("^[A-Z]{3}$").unwrap();
    let reference =
        jsonschema::validator_for(&serde_json::json!({"pattern": "^[A-Z]{3}$"})).unwrap();
    for s in [
        "EUR", "EUR\n", "\nEUR", "EU", "EURO", "eur", "E\u{0}R", "ÉUR", "",
    ] {
        assert_eq!(
            currency.matches(s.as_bytes()),
            reference.is_valid(&serde_json::Value::String(s.into())),
            "{s:?}"
        );
    }
    assert!(currency.matches(b"EUR") && !currency.matches(b"EUR\n"));
    // The Order schema's `currency` pattern is checked here.
    let order: serde_json::Value = serde_json::from_str(JSON_ORDER).unwrap();
    let program = Program::compile(&order, jsonschema::Draft::Draft7).unwrap();
    assert!(program
        .nodes
        .iter()
        .any(|n| n.pattern.is_some() && n.strings.is_none()));
}
