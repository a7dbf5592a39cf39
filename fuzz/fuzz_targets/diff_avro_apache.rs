//! Differential: our Avro validator against apache-avro's decoder. The input is a schema (text
//! before the first NUL) and bytes (after it). Where apache-avro decodes the bytes, it encodes
//! the value again: that datum, which apache-avro itself wrote, must pass our validator.
//!
//! Not asserted the other way (our accepting ⇒ apache-avro decodes): apache-avro's reader
//! differs from Java's on purpose-irrelevant details (e.g. it checks logical-type contents
//! such as uuid strings), which our validator, like Confluent's Java one, does not.
#![no_main]

use std::sync::Once;

use contract::avro::AvroSchema;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    static LIMIT: Once = Once::new();
    // apache-avro trusts wire counts up to its allocation cap (512 MiB by default).
    LIMIT.call_once(|| {
        apache_avro::max_allocation_bytes(1 << 20);
    });
    let (text, bytes) = schemagate_fuzz::split(data);
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let (Ok(ours), Ok(theirs)) = (
        AvroSchema::parse_registered(text, &[]),
        apache_avro::Schema::parse_str(text),
    ) else {
        return;
    };
    let mut reader = bytes;
    let Ok(value) = apache_avro::from_avro_datum(&theirs, &mut reader, None) else {
        return;
    };
    let Ok(datum) = apache_avro::to_avro_datum(&theirs, value.clone()) else {
        return;
    };
    if let Err(e) = ours.validate(&datum) {
        panic!("apache-avro wrote {datum:02x?} for {value:?} under {text}; we reject it: {e}");
    }
});
