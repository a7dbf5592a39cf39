//! Property tests: datums written by apache-avro validate; any truncation or extra byte does
//! not; random and mutated bytes never panic, and what we accept apache-avro reads completely.

use proptest::prelude::*;

use super::random_values::{value, Rng};
use super::{schema, ORDER};

/// Schemas covering every type, recursion, top-level non-records and logical types.
pub(super) const SCHEMAS: &[&str] = &[
    ORDER,
    r#"{"type":"record","name":"Sink","namespace":"t","fields":[
        {"name":"n","type":"null"},{"name":"b","type":"boolean"},{"name":"i","type":"int"},
        {"name":"l","type":"long"},{"name":"f","type":"float"},{"name":"d","type":"double"},
        {"name":"by","type":"bytes"},{"name":"s","type":"string"},
        {"name":"fx","type":{"type":"fixed","name":"F4","size":4}},
        {"name":"e","type":{"type":"enum","name":"E","symbols":["A","B","C","D"]}},
        {"name":"m","type":{"type":"map","values":{"type":"array","items":"int"}}},
        {"name":"u","type":["null","string",{"type":"record","name":"In","fields":[{"name":"x","type":"F4"}]},"long"]},
        {"name":"nested","type":"In"},
        {"name":"empty","type":{"type":"record","name":"Empty","fields":[]}},
        {"name":"nulls","type":{"type":"array","items":"null"}},
        {"name":"date","type":{"type":"int","logicalType":"date"}}]}"#,
    r#"{"type":"record","name":"Node","fields":[{"name":"v","type":"int"},{"name":"kids","type":{"type":"array","items":"Node"}},{"name":"next","type":["null","Node"]}]}"#,
    r#"["null","string",{"type":"array","items":"long"},{"type":"map","values":"double"}]"#,
    r#""string""#,
    r#"{"type":"map","values":"boolean"}"#,
    r#"{"type":"fixed","name":"Z","size":0}"#,
    // Optional leaves of every kind, null first and last, also as array items and map values.
    r#"{"type":"record","name":"Opt","namespace":"t","fields":[
        {"name":"a","type":["null","string"]},{"name":"b","type":["long","null"]},
        {"name":"c","type":["null",{"type":"enum","name":"E2","symbols":["X","Y"]}]},
        {"name":"d","type":[{"type":"fixed","name":"F2","size":2},"null"]},
        {"name":"e","type":["null","boolean"]},{"name":"f","type":["double","null"]},
        {"name":"g","type":["null","bytes"]},{"name":"h","type":["int","null"]},
        {"name":"items","type":{"type":"array","items":{"type":"record","name":"It","fields":[
            {"name":"s","type":["string","null"]},{"name":"q","type":["null","int"]}]}}},
        {"name":"m","type":{"type":"map","values":["null","float"]}},
        {"name":"z","type":["null",{"type":"fixed","name":"Z0","size":0}]}]}"#,
];

/// apache-avro's encoding of a random value of `SCHEMAS[which]`.
fn datum(which: usize, seed: u64) -> Vec<u8> {
    let text = SCHEMAS[which];
    let ours = schema(text);
    let theirs = apache_avro::Schema::parse_str(text).unwrap();
    let v = value(&ours, &mut Rng::new(seed));
    let writer = apache_avro::writer::datum::GenericDatumWriter::builder(&theirs)
        .build()
        .unwrap();
    writer.write_value_to_vec(v).unwrap()
}

/// Does apache-avro read `body` as exactly one datum of `text`? Its reader alone is not
/// enough: it neither checks for trailing bytes nor, at the end of the input, for truncation
/// (see `apache_avro_reader_misses_truncation`), so the value read must also match the schema
/// and the input must be used up.
fn apache_reads_all(text: &str, body: &[u8]) -> bool {
    let theirs = apache_avro::Schema::parse_str(text).unwrap();
    let reader = apache_avro::reader::datum::GenericDatumReader::builder(&theirs)
        .build()
        .unwrap();
    let mut cursor = std::io::Cursor::new(body);
    match reader.read_value(&mut cursor) {
        Ok(v) => v.validate(&theirs) && cursor.position() as usize == body.len(),
        Err(_) => false,
    }
}

/// Why we do not validate with apache-avro 0.22: a truncated string at the end of the input
/// reads as `Ok(Null)`. If this starts failing, apache-avro has fixed it.
#[test]
fn apache_avro_reader_misses_truncation() {
    let text = r#""string""#;
    let truncated = [0x52]; // length 41, no bytes follow
    let theirs = apache_avro::Schema::parse_str(text).unwrap();
    let reader = apache_avro::reader::datum::GenericDatumReader::builder(&theirs)
        .build()
        .unwrap();
    let read = reader.read_value(&mut std::io::Cursor::new(&truncated[..]));
    assert!(
        matches!(read, Ok(apache_avro::types::Value::Null)),
        "{read:?}"
    );
    assert!(!apache_reads_all(text, &truncated));
    assert!(schema(text).validate(&truncated).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn datums_written_by_apache_avro_validate(which in 0..SCHEMAS.len(), seed in any::<u64>()) {
        let body = datum(which, seed);
        let s = schema(SCHEMAS[which]);
        prop_assert_eq!(s.validate(&body), Ok(()));
        for cut in 0..body.len() {
            prop_assert!(s.validate(&body[..cut]).is_err(), "prefix of {} bytes passed", cut);
        }
        let mut longer = body.clone();
        longer.push(0);
        prop_assert!(s.validate(&longer).is_err());
    }

    #[test]
    fn random_bytes_never_panic(which in 0..SCHEMAS.len(), body in proptest::collection::vec(any::<u8>(), 0..256)) {
        let s = schema(SCHEMAS[which]);
        if s.validate(&body).is_ok() && which != 1 {
            prop_assert!(apache_reads_all(SCHEMAS[which], &body));
        }
    }

    #[test]
    fn mutated_datums_never_panic_and_agree_with_apache_avro(
        which in 0..SCHEMAS.len(),
        seed in any::<u64>(),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
    ) {
        let mut body = datum(which, seed);
        if body.is_empty() {
            return Ok(());
        }
        for (at, byte) in flips {
            let i = at % body.len();
            body[i] = byte;
        }
        let s = schema(SCHEMAS[which]);
        // Schema 1 has a `date` logical type, which apache-avro reads differently from Java.
        if s.validate(&body).is_ok() && which != 1 {
            prop_assert!(apache_reads_all(SCHEMAS[which], &body), "we accepted what apache-avro cannot read");
        }
    }
}
