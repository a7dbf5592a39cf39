//! Deep schemas and datums (10,000 levels) against every recursive path: our parser,
//! canonical form, compiler, programs, walker and compatibility checker refuse them with an
//! error instead of overflowing the stack, and `decode_depth_bound` keeps them away from
//! apache-avro, whose decoder recurses without a limit (the `diff_avro_apache` SIGSEGV).

use crate::avro::{can_read, AvroSchema, APACHE_AVRO_SAFE_DEPTH, MAX_NESTING};

use super::{reference, schema};

const DEEP: usize = 10_000;

/// A list through a union: `n` levels are `2n + 2` bytes (v = 1, next = branch 1; then
/// v = 1, next = null).
const LIST: &str = r#"{"type":"record","name":"Node","fields":[{"name":"v","type":"int"},{"name":"next","type":["null","Node"]}]}"#;

fn list(n: usize) -> Vec<u8> {
    [[0x02, 0x02].repeat(n), vec![0x02, 0x00]].concat()
}

/// A record `Top` whose fields are `A0` .. `A{n-1}`, each `Ak` defined in place with one
/// field of type `A{k-1}` (by name; `A0` holds an int): no recursion and a flat JSON text,
/// yet field `k` nests `k + 2` levels deep.
fn chain(n: usize) -> String {
    let mut fields = Vec::with_capacity(n);
    for k in 0..n {
        let inner = if k == 0 {
            "\"int\"".to_string()
        } else {
            format!("\"A{}\"", k - 1)
        };
        fields.push(format!(
            r#"{{"name":"f{k}","type":{{"type":"record","name":"A{k}","fields":[{{"name":"x","type":{inner}}}]}}}}"#
        ));
    }
    format!(
        r#"{{"type":"record","name":"Top","fields":[{}]}}"#,
        fields.join(",")
    )
}

/// Runs `f` on a thread with a 2 MiB stack, the default of a test's (and a tokio worker's).
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    on_stack(2 << 20, f)
}

/// Runs `f` on a thread with a stack of `bytes`.
fn on_stack<T: Send + 'static>(bytes: usize, f: impl FnOnce() -> T + Send + 'static) -> T {
    match std::thread::Builder::new()
        .stack_size(bytes)
        .spawn(f)
        .map(|h| h.join())
    {
        Ok(Ok(v)) => v,
        Ok(Err(_)) => panic!("the thread panicked"),
        Err(e) => panic!("cannot spawn: {e}"),
    }
}

fn nesting_error(s: &AvroSchema, body: &[u8]) -> String {
    match s.validate(body) {
        Ok(()) => panic!("a datum nested deeper than {MAX_NESTING} levels was accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_flat_schema_is_as_deep_as_its_longest_path_whatever_the_length() {
    assert_eq!(schema(r#""int""#).decode_depth_bound(1 << 20), Some(1));
    let nested = schema(r#"{"type":"array","items":{"type":"map","values":["null","int"]}}"#);
    for len in [0, 10, 1 << 20] {
        assert_eq!(nested.decode_depth_bound(len), Some(4));
    }
    assert_eq!(
        schema(&chain(3)).decode_depth_bound(0),
        Some(5),
        "Top, A2, A1, A0, int"
    );
}

#[test]
fn a_recursive_schema_is_bounded_by_the_datums_length() {
    let s = schema(LIST);
    // Between two bytes: Node then the union, at most.
    assert_eq!(s.decode_depth_bound(0), Some(2));
    for n in [0, 1, 10, 300] {
        let body = list(n);
        // The path: (Node, union) n + 1 times, then the null leaf.
        let actual = 2 * (n + 1) + 1;
        let bound = s.decode_depth_bound(body.len());
        assert!(
            bound.is_some_and(|b| b >= actual),
            "{n} levels: bound {bound:?} below {actual}"
        );
    }
}

#[test]
fn a_cycle_of_records_alone_is_unbounded_and_our_validator_refuses_it() {
    // A record that holds itself: every datum of it is infinite. A recursive decoder recurses
    // forever on any bytes (apache-avro parses this schema).
    let s = schema(r#"{"type":"record","name":"R","fields":[{"name":"r","type":"R"}]}"#);
    assert_eq!(s.decode_depth_bound(0), None);
    assert_eq!(s.decode_depth_bound(1 << 16), None);
    for body in [&[][..], &[0x00; 64]] {
        let e = nesting_error(&s, body);
        assert!(e.contains("nesting deeper than"), "{e}");
    }
    // Through a record that is copied inline, with a union elsewhere that does read a byte.
    let s = schema(
        r#"{"type":"record","name":"P","fields":[{"name":"u","type":["null","int"]},{"name":"q","type":{"type":"record","name":"Q","fields":[{"name":"p","type":"P"}]}}]}"#,
    );
    assert_eq!(s.decode_depth_bound(100), None);
}

#[test]
fn a_list_datum_ten_thousand_levels_deep_is_refused_not_overflowed() {
    let s = schema(LIST);
    let body = list(DEEP);
    assert!(s
        .decode_depth_bound(body.len())
        .is_some_and(|b| b > APACHE_AVRO_SAFE_DEPTH));
    let e = on_small_stack(move || nesting_error(&s, &body));
    assert!(
        e.contains(&format!("nesting deeper than {MAX_NESTING} levels")),
        "{e}"
    );
}

#[test]
fn array_and_map_datums_ten_thousand_levels_deep_are_refused_not_overflowed() {
    let tree = schema(
        r#"{"type":"record","name":"T","fields":[{"name":"kids","type":{"type":"array","items":"T"}}]}"#,
    );
    let map = schema(
        r#"{"type":"record","name":"M","fields":[{"name":"m","type":{"type":"map","values":"M"}}]}"#,
    );
    let bodies = [
        (tree, [vec![0x02; DEEP], vec![0x00; DEEP + 1]].concat()),
        (
            map,
            [[0x02, 0x00].repeat(DEEP), vec![0x00; DEEP + 1]].concat(),
        ),
    ];
    for (s, body) in bodies {
        let e = on_small_stack(move || nesting_error(&s, &body));
        assert!(e.contains("nesting deeper than"), "{e}");
    }
}

#[test]
fn a_chain_of_ten_thousand_named_records_parses_and_is_refused_not_overflowed() {
    let text = chain(DEEP);
    let (bound, error, compat) = on_small_stack(move || {
        // Parsing, the canonical form and compiling all walk the chain.
        let s = match AvroSchema::parse(&text, &[]) {
            Ok(s) => s,
            Err(e) => panic!("the chain should parse: {e}"),
        };
        let again = match AvroSchema::parse(&s.canonical(), &[]) {
            Ok(again) => again,
            Err(e) => panic!("the canonical form should parse: {e}"),
        };
        // One int (0) per field.
        let error = nesting_error(&s, &vec![0x00; DEEP]);
        // Field by field, each pair of records is compared once: shallow, and compatible.
        let compat = can_read(&again, &s).len();
        (s.decode_depth_bound(0), error, compat)
    });
    assert_eq!(bound, Some(DEEP + 2));
    assert!(error.contains("nesting deeper than"), "{error}");
    assert_eq!(compat, 0, "the chain cannot read itself");
}

/// The same depth through references, so that the comparison starts at the deep end.
#[test]
fn a_chain_of_ten_thousand_referenced_records_is_compared_to_a_limit() {
    let mut refs = vec![reference(
        "R0",
        r#"{"type":"record","name":"R0","fields":[{"name":"x","type":"int"}]}"#,
    )];
    for k in 1..DEEP {
        let text = format!(
            r#"{{"type":"record","name":"R{k}","fields":[{{"name":"x","type":"R{}"}}]}}"#,
            k - 1
        );
        refs.push(reference(&format!("R{k}"), &text));
    }
    let root = format!(
        r#"{{"type":"record","name":"Top","fields":[{{"name":"c","type":"R{}"}}]}}"#,
        DEEP - 1
    );
    let (bound, error, compat) = on_small_stack(move || {
        let s = match AvroSchema::parse(&root, &refs) {
            Ok(s) => s,
            Err(e) => panic!("the chain should parse: {e}"),
        };
        let error = nesting_error(&s, &[0x00]);
        let compat: Vec<String> = can_read(&s, &s)
            .into_iter()
            .map(|i| i.to_string())
            .collect();
        (s.decode_depth_bound(1), error, compat)
    });
    assert_eq!(bound, Some(DEEP + 2), "Top, R9999 .. R0, int");
    assert!(error.contains("nesting deeper than"), "{error}");
    assert!(
        compat
            .iter()
            .any(|m| m.contains("levels deep here; not compared")),
        "{compat:?}"
    );
}

#[test]
fn a_schema_text_nested_ten_thousand_levels_is_an_error_for_both_parsers() {
    let text = format!(
        "{}\"int\"{}",
        r#"{"type":"array","items":"#.repeat(DEEP),
        "}".repeat(DEEP)
    );
    let (ours, theirs) = on_small_stack(move || {
        (
            AvroSchema::parse(&text, &[]).map(|s| s.canonical()),
            apache_avro::Schema::parse_str(&text).map(|_| ()),
        )
    });
    match ours {
        Ok(c) => panic!("parsed as {}", &c[..80.min(c.len())]),
        Err(e) => assert!(e.to_string().contains("recursion limit"), "{e}"),
    }
    assert!(theirs.is_err(), "apache-avro parsed it");
}

/// apache-avro itself at the deepest datums `decode_depth_bound` lets through: decoding,
/// re-encoding, cloning, formatting and dropping fit in the stack of libFuzzer's main thread
/// (8 MiB) in a debug build, whose frames are far larger than the fuzz build's (release).
/// Measured here: a debug build's decoder overflows 8 MiB at 140 levels (about 57 KiB a
/// level). And our validator accepts them: the gate keeps only datums that our nesting limit
/// does not refuse, so depth cannot trip the differential check.
#[test]
#[allow(deprecated)] // `from_avro_datum`, `to_avro_datum`: the calls the fuzz target makes
fn apache_avro_handles_the_deepest_datums_let_through() {
    // Not recursive: the bound is exact. Field k nests k + 2 levels; the last is the deepest.
    let n = APACHE_AVRO_SAFE_DEPTH - 2;
    let flat = chain(n);
    assert_eq!(
        schema(&flat).decode_depth_bound(n),
        Some(APACHE_AVRO_SAFE_DEPTH)
    );
    // Recursive: the longest list whose length passes.
    let s = schema(LIST);
    let levels = (0..DEEP)
        .take_while(|&k| {
            s.decode_depth_bound(list(k).len())
                .is_some_and(|b| b <= APACHE_AVRO_SAFE_DEPTH)
        })
        .last()
        .unwrap_or(0);
    assert!(levels >= 16, "only {levels} list levels pass");
    let cases = vec![(flat, vec![0x00; n]), (LIST.to_string(), list(levels))];
    for (text, body) in &cases {
        if let Err(e) = schema(text).validate(body) {
            panic!("we refuse a datum the gate lets through: {e}");
        }
    }
    on_stack(8 << 20, move || {
        for (text, body) in cases {
            let theirs = match apache_avro::Schema::parse_str(&text) {
                Ok(t) => t,
                Err(e) => panic!("apache-avro rejects the schema: {e}"),
            };
            let mut reader = &body[..];
            let value = match apache_avro::from_avro_datum(&theirs, &mut reader, None) {
                Ok(v) => v,
                Err(e) => panic!("apache-avro cannot decode: {e}"),
            };
            assert!(reader.is_empty(), "apache-avro left bytes");
            let copy = value.clone();
            match apache_avro::to_avro_datum(&theirs, copy) {
                Ok(again) => assert_eq!(again, body),
                Err(e) => panic!("apache-avro cannot encode: {e}"),
            }
            assert!(format!("{value:?}").len() > body.len());
        }
    });
}
