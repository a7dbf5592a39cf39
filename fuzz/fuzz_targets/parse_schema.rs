//! The Avro, Protobuf and JSON schema parsers (the first byte picks the format): a schema that
//! parses has a canonical form that parses again to the same canonical form and fingerprint.
#![no_main]

use contract::ParsedSchema;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, text)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let schema_type = schemagate_fuzz::schema_type(selector);
    if schema_type == contract::SchemaType::Protobuf
        && schemagate_fuzz::trips_protox_octal_assertion(text)
    {
        return;
    }
    if let contract::SchemaType::Avro = schema_type {
        let _ = contract::avro::AvroSchema::parse_registered(text, &[]);
    }
    let Ok(schema) = ParsedSchema::parse(schema_type, text, &[]) else {
        return;
    };
    let canonical = schema.canonical();
    let again = ParsedSchema::parse(schema_type, &canonical, &[])
        .unwrap_or_else(|e| panic!("canonical form does not parse: {e}\n{canonical}"));
    assert_eq!(again.canonical(), canonical, "canonical form is not stable");
    assert_eq!(again.fingerprint(), schema.fingerprint());
    let _ = schema.record_name();
});
