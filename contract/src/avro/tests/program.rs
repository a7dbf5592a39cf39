//! The compiled validation program against the detailed walker: for every schema and every byte
//! string they must agree on valid or not (the walker only runs again, for the error path, when
//! the program rejects). Random schemas and datums with their truncations and mutations,
//! recursive schemas swept across the nesting limit, and a schema deep enough that compiling
//! leaves programs for later.

use proptest::prelude::*;

use super::random_schemas::random_schema;
use super::random_values::{value, Rng};
use super::validate::long;
use super::validate_props::SCHEMAS;
use super::{reference, schema};
use crate::avro::{validate, AvroSchema, MAX_NESTING, MAX_ZERO_SIZE_ITEMS};

/// The program's verdict on `body`, after checking that the walker's is the same.
fn agree(s: &AvroSchema, body: &[u8]) -> bool {
    let inner = &s.inner;
    let program = inner
        .program
        .as_ref()
        .unwrap_or_else(|| panic!("{} compiles", inner.canonical));
    let fast = program.accepts(body);
    let walked = validate::walk(&inner.model, &inner.zero_size, body);
    assert_eq!(
        fast,
        walked.is_ok(),
        "program and walker disagree on {body:02x?} under {}: walker says {walked:?}",
        inner.canonical
    );
    fast
}

/// apache-avro's encoding of a random value of `s` (written as `text`).
fn encode(text: &str, s: &AvroSchema, seed: u64) -> Vec<u8> {
    let theirs = match apache_avro::Schema::parse_str(text) {
        Ok(t) => t,
        Err(e) => panic!("apache-avro rejects {text}: {e}"),
    };
    let writer = apache_avro::writer::datum::GenericDatumWriter::builder(&theirs)
        .build()
        .unwrap();
    writer
        .write_value_to_vec(value(s, &mut Rng::new(seed)))
        .unwrap()
}

/// A valid datum, then every prefix, every byte nudged by a little (an index, count, length or
/// boolean off by one), the datum with bytes appended, the datum with a few bytes replaced, and
/// unrelated bytes.
fn agree_around(s: &AvroSchema, body: &[u8], flips: &[(usize, u8)], extra: &[u8], noise: &[u8]) {
    assert!(agree(s, body), "{body:02x?} should be valid");
    for cut in 0..body.len() {
        assert!(!agree(s, &body[..cut]), "prefix of {cut} bytes passed");
    }
    let mut nudged = body.to_vec();
    for i in 0..body.len() {
        for by in [-2, -1, 1, 2] {
            nudged[i] = body[i].wrapping_add_signed(by);
            agree(s, &nudged);
        }
        nudged[i] = body[i];
    }
    let mut longer = body.to_vec();
    longer.extend_from_slice(extra);
    agree(s, &longer);
    if !body.is_empty() {
        let mut mutated = body.to_vec();
        for &(at, byte) in flips {
            let i = at % mutated.len();
            mutated[i] = byte;
        }
        agree(s, &mutated);
        for cut in 0..mutated.len() {
            agree(s, &mutated[..cut]);
        }
    }
    agree(s, noise);
}

/// Bytes that often read as small counts, lengths and indexes, so random input goes deep.
fn datum_like_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            3 => 0u8..6,
            1 => any::<u8>(),
        ],
        0..max,
    )
}

/// Recursive schemas, each with the datum nested `n` levels deep.
type Nested = (&'static str, fn(usize) -> Vec<u8>);

const NESTED: &[Nested] = &[
    // A list through a union.
    (
        r#"{"type":"record","name":"Node","fields":[{"name":"v","type":"int"},{"name":"next","type":["null","Node"]}]}"#,
        |n| [[0x02, 0x02].repeat(n), vec![0x02, 0x00]].concat(),
    ),
    // A tree through an array.
    (
        r#"{"type":"record","name":"T","fields":[{"name":"kids","type":{"type":"array","items":"T"}}]}"#,
        |n| [vec![0x02; n], vec![0x00; n + 1]].concat(),
    ),
    // Through a map (key "").
    (
        r#"{"type":"record","name":"M","fields":[{"name":"m","type":{"type":"map","values":"M"}}]}"#,
        |n| [[0x02, 0x00].repeat(n), vec![0x00; n + 1]].concat(),
    ),
    // Through a union inside a record that is copied inline.
    (
        r#"{"type":"record","name":"A","fields":[{"name":"b","type":{"type":"record","name":"B","fields":[{"name":"u","type":["null","A"]}]}}]}"#,
        |n| [vec![0x02; n], vec![0x00]].concat(),
    ),
    // Through an array of unions.
    (
        r#"{"type":"record","name":"Q","fields":[{"name":"a","type":{"type":"array","items":["null","Q"]}}]}"#,
        |n| [[0x02, 0x02].repeat(n), vec![0x00; n + 1]].concat(),
    ),
    // One empty record in an array at every level: zero-size items are counted, not walked.
    (
        r#"{"type":"record","name":"Z","fields":[{"name":"e","type":{"type":"array","items":{"type":"record","name":"Empty","fields":[]}}},{"name":"next","type":["null","Z"]}]}"#,
        |n| [[0x02, 0x00, 0x02].repeat(n), vec![0x02, 0x00, 0x00]].concat(),
    ),
    // One empty record in a map at every level: map values are walked.
    (
        r#"{"type":"record","name":"Y","fields":[{"name":"e","type":{"type":"map","values":{"type":"record","name":"Nothing","fields":[]}}},{"name":"next","type":["null","Y"]}]}"#,
        |n| {
            [
                [0x02, 0x00, 0x00, 0x02].repeat(n),
                vec![0x02, 0x00, 0x00, 0x00],
            ]
            .concat()
        },
    ),
    // A union branch that is an empty record, at every level: it still checks its depth.
    (
        r#"{"type":"record","name":"U","fields":[{"name":"e","type":["null",{"type":"record","name":"None","fields":[]}]},{"name":"next","type":["null","U"]}]}"#,
        |n| [[0x02, 0x02].repeat(n), vec![0x02, 0x00]].concat(),
    ),
    // A union branch that is a record of one int, at every level.
    (
        r#"{"type":"record","name":"V","fields":[{"name":"e","type":["null",{"type":"record","name":"One","fields":[{"name":"x","type":"int"}]}]},{"name":"next","type":["null","V"]}]}"#,
        |n| [[0x02, 0x02, 0x02].repeat(n), vec![0x02, 0x02, 0x00]].concat(),
    ),
    // Sized blocks all the way down (count -1, byte size, item, end).
    (
        r#"{"type":"record","name":"S","fields":[{"name":"kids","type":{"type":"array","items":"S"}}]}"#,
        |n| {
            let mut body = vec![0x00];
            for _ in 0..n {
                body = [long(-1), long(body.len() as i64), body, vec![0x00]].concat();
            }
            body
        },
    ),
];

#[test]
fn recursive_datums_agree_across_the_nesting_limit() {
    for &(text, nested) in NESTED {
        let s = schema(text);
        let (mut passed, mut failed) = (false, false);
        for n in 0..=MAX_NESTING + 8 {
            let body = nested(n);
            if agree(&s, &body) {
                passed = true;
            } else {
                failed = true;
            }
            for cut in [1, 2, 3] {
                if let Some(short) = body.len().checked_sub(cut) {
                    agree(&s, &body[..short]);
                }
            }
            agree(&s, &[body.as_slice(), &[0x00]].concat());
        }
        assert!(passed && failed, "{text}: the sweep should cross the limit");
    }
}

#[test]
fn zero_size_items_agree_around_the_cap() {
    let cap = MAX_ZERO_SIZE_ITEMS as i64;
    for text in [
        r#"{"type":"array","items":"null"}"#,
        r#"{"type":"array","items":{"type":"fixed","name":"F0","size":0}}"#,
        r#"{"type":"array","items":{"type":"record","name":"E","fields":[{"name":"n","type":"null"}]}}"#,
    ] {
        let s = schema(text);
        for count in [cap - 1, cap, cap + 1] {
            assert_eq!(agree(&s, &[long(count), long(0)].concat()), count <= cap);
            let sized = [long(-count), long(0), long(0)].concat();
            assert_eq!(agree(&s, &sized), count <= cap);
            let two_blocks = [long(count), long(1), long(0)].concat();
            assert_eq!(agree(&s, &two_blocks), count <= cap);
        }
    }
}

#[test]
fn a_record_that_contains_itself_has_no_valid_datum() {
    let s = schema(r#"{"type":"record","name":"R","fields":[{"name":"r","type":"R"}]}"#);
    for body in [&[][..], &[0x00], &[0x02; 300]] {
        assert!(!agree(&s, body));
    }
}

/// A chain of 200 named types through references, each holding the next in a union: longer
/// than compiling recurses, so some programs are compiled after the root's.
#[test]
fn a_deep_chain_of_named_types_compiles_and_agrees() {
    const N: usize = 200;
    let mut refs = vec![reference(
        "C0",
        r#"{"type":"record","name":"C0","fields":[{"name":"v","type":"int"}]}"#,
    )];
    for k in 1..N {
        let text = format!(
            r#"{{"type":"record","name":"C{k}","fields":[{{"name":"v","type":"int"}},{{"name":"next","type":["null","C{}"]}}]}}"#,
            k - 1
        );
        refs.push(reference(&format!("C{k}"), &text));
    }
    let root = format!(
        r#"{{"type":"record","name":"Root","fields":[{{"name":"c","type":"C{}"}}]}}"#,
        N - 1
    );
    let s = match AvroSchema::parse(&root, &refs) {
        Ok(s) => s,
        Err(e) => panic!("the chain should parse: {e}"),
    };
    let (mut passed, mut failed) = (false, false);
    for n in 0..N {
        // v = 1 and the union's second branch n times, then v = 1 and null.
        let mut body = [0x02, 0x02].repeat(n);
        body.extend([0x02, 0x00]);
        if agree(&s, &body) {
            passed = true;
        } else {
            failed = true;
        }
        agree(&s, &body[..body.len() - 1]);
    }
    assert!(passed && failed, "the sweep should cross the nesting limit");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn program_and_walker_agree_on_random_schemas(
        seed in any::<u64>(),
        vseed in any::<u64>(),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        extra in proptest::collection::vec(any::<u8>(), 1..4),
        noise in datum_like_bytes(64),
    ) {
        let text = random_schema(seed);
        let s = schema(&text);
        let body = encode(&text, &s, vseed);
        agree_around(&s, &body, &flips, &extra, &noise);
    }

    #[test]
    fn program_and_walker_agree_on_every_type(
        which in 0..SCHEMAS.len(),
        vseed in any::<u64>(),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        extra in proptest::collection::vec(any::<u8>(), 1..4),
        noise in datum_like_bytes(256),
    ) {
        let s = schema(SCHEMAS[which]);
        let body = encode(SCHEMAS[which], &s, vseed);
        agree_around(&s, &body, &flips, &extra, &noise);
    }

    #[test]
    fn program_and_walker_agree_on_random_recursive_datums(
        which in 0..NESTED.len(),
        noise in datum_like_bytes(512),
    ) {
        agree(&schema(NESTED[which].0), &noise);
    }

    /// Nested datums with a few bytes nudged by a little (sizes and counts off by one, a union
    /// branch or a boolean changed) or replaced.
    #[test]
    fn program_and_walker_agree_on_nudged_recursive_datums(
        which in 0..NESTED.len(),
        n in 0..MAX_NESTING + 8,
        nudges in proptest::collection::vec((any::<usize>(), -2i8..=2, any::<Option<u8>>()), 1..4),
    ) {
        let (text, nested) = NESTED[which];
        let s = schema(text);
        let mut body = nested(n);
        for (at, by, byte) in nudges {
            let i = at % body.len();
            body[i] = byte.unwrap_or(body[i].wrapping_add_signed(by));
        }
        agree(&s, &body);
    }
}
