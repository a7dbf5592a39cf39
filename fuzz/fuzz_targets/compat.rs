//! The compatibility checkers of the three formats: two schemas split at a NUL (the first byte
//! picks the format) checked under every mode, and a schema always reads its own data.
#![no_main]

use contract::{compat, CompatibilityMode, ParsedSchema};
use libfuzzer_sys::fuzz_target;

const MODES: [CompatibilityMode; 7] = [
    CompatibilityMode::None,
    CompatibilityMode::Backward,
    CompatibilityMode::BackwardTransitive,
    CompatibilityMode::Forward,
    CompatibilityMode::ForwardTransitive,
    CompatibilityMode::Full,
    CompatibilityMode::FullTransitive,
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let (a, b) = schemagate_fuzz::split(rest);
    let (Ok(a), Ok(b)) = (std::str::from_utf8(a), std::str::from_utf8(b)) else {
        return;
    };
    let schema_type = schemagate_fuzz::schema_type(selector);
    if schema_type == contract::SchemaType::Protobuf
        && (schemagate_fuzz::trips_protox_octal_assertion(a)
            || schemagate_fuzz::trips_protox_octal_assertion(b))
    {
        return;
    }
    let Ok(old) = ParsedSchema::parse(schema_type, a, &[]) else {
        return;
    };
    let itself = compat::can_read(&old, &old);
    assert!(
        itself.is_empty(),
        "a schema cannot read its own data: {itself:?}\n{a}"
    );
    let Ok(new) = ParsedSchema::parse(schema_type, b, &[]) else {
        return;
    };
    for mode in MODES {
        let found = compat::check(mode, std::slice::from_ref(&old), &new);
        if mode == CompatibilityMode::None {
            assert!(found.is_empty());
        }
    }
});
