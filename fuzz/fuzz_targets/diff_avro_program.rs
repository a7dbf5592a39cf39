//! Differential: the compiled Avro validation program against the detailed walker, on an
//! arbitrary schema (text before the first NUL) and datum (after it). They must agree.
#![no_main]

use contract::avro::AvroSchema;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (text, datum) = schemagate_fuzz::split(data);
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let Ok(schema) = AvroSchema::parse_registered(text, &[]) else {
        return;
    };
    let (program, walker) = schema.program_and_walker(datum);
    if let Some(program) = program {
        assert_eq!(
            program,
            walker.is_ok(),
            "program and walker disagree on {datum:02x?} under {text}: walker says {walker:?}"
        );
    }
});
